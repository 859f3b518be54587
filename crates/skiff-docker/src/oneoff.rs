//! One-off containers of a service, as `docker compose run` makes them and as the daemon runs
//! jobs: the service's configuration with another command, without its published ports or
//! its network aliases (so they never take the service's traffic or host ports), and
//! labelled `com.docker.compose.oneoff=True`, so that no plan, observation or event takes
//! them for the service's own instances.

use std::collections::{BTreeMap, HashMap};

use bollard::container::LogOutput;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, WaitContainerOptions,
};
use futures_util::StreamExt;
use serde_json::{Value, json};
use skiff_runtime::RuntimeError;

use crate::engine::{Engine, EngineError, container_name};
use crate::labels;
use crate::project::{DockerRuntime, create_error};

/// A one-off container to make.
#[derive(Debug, Clone)]
pub struct OneOff<'a> {
    pub service: &'a str,
    /// Its container name.
    pub name: &'a str,
    /// The command; the service's own when `None`.
    pub command: Option<&'a [String]>,
    /// Labels added to Compose's (e.g. which job and due time it runs).
    pub labels: BTreeMap<String, String>,
}

/// A one-off container found on the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundOneOff {
    pub id: String,
    pub name: String,
    pub labels: HashMap<String, String>,
    pub running: bool,
}

impl DockerRuntime<'_> {
    /// As `docker compose run`: the networks and named volumes the service uses exist before
    /// its one-off does (a job due before the first deploy converged, a stack not up).
    /// External ones are the user's to create; both creations are no-ops when they exist.
    async fn ensure_resources(&self, service: &str) -> Result<(), EngineError> {
        let project = self.project;
        let Some(svc) = project.model.services.get(service) else {
            return Ok(());
        };
        for key in svc.networks.keys() {
            let external = project.model.networks.get(key).is_some_and(|n| n.external);
            if let Some(name) = project.networks.get(key).filter(|_| !external) {
                self.create_network(key, name).await?;
            }
        }
        let volumes = svc
            .volumes
            .iter()
            .filter(|v| v.kind == "volume" && !v.source.is_empty());
        for v in volumes {
            let key = &v.source;
            let external = project.model.volumes.get(key).is_some_and(|c| c.external);
            if let Some(name) = project.volumes.get(key).filter(|_| !external) {
                self.create_volume(key, name).await?;
            }
        }
        Ok(())
    }

    /// Creates and starts a one-off container of a service; returns its ID.
    ///
    /// # Errors
    /// The service cannot be converted, or the engine refuses.
    pub async fn start_oneoff(&self, o: &OneOff<'_>) -> Result<String, RuntimeError> {
        let what = || format!("run {}", o.name);
        self.ensure_resources(o.service)
            .await
            .map_err(|e| RuntimeError::new(what(), e.to_string()))?;
        let mut req = self.request(o.service, 1, o.name)?;
        let body = req
            .body
            .as_object_mut()
            .ok_or_else(|| RuntimeError::new(what(), "not a container request"))?;
        if let Some(command) = o.command {
            body.insert("Cmd".into(), json!(command));
        }
        if let Some(Value::Object(l)) = body.get_mut("Labels") {
            l.insert(labels::ONEOFF.into(), json!("True"));
            l.remove(labels::REPLACE);
            for (k, v) in &o.labels {
                l.insert(k.clone(), json!(v));
            }
        }
        if let Some(Value::Object(host)) = body.get_mut("HostConfig") {
            host.remove("PortBindings");
            host.insert(
                "RestartPolicy".into(),
                json!({"Name": "no", "MaximumRetryCount": 0}),
            );
        }
        strip_aliases(body.get_mut("NetworkingConfig"));
        for (_, endpoint) in &mut req.extra_networks {
            if let Some(e) = endpoint.as_object_mut() {
                e.remove("Aliases");
            }
        }
        let body: ContainerCreateBody = serde_json::from_value(req.body)
            .map_err(|e| RuntimeError::new(what(), e.to_string()))?;
        let created = self
            .engine
            .docker
            .create_container(
                Some(
                    CreateContainerOptionsBuilder::default()
                        .name(o.name)
                        .build(),
                ),
                body,
            )
            .await
            .map_err(|e| create_error(o.name, e))?;
        let started = match self
            .connect_networks(&created.id, o.name, req.extra_networks)
            .await
        {
            Ok(()) => self
                .engine
                .start(&created.id)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(message) = started {
            // Nothing is left behind by a run that could not start.
            let _ = self.engine.remove(&created.id, false).await;
            let hint = if message.contains("network") && message.contains("not found") {
                " (is the stack up? `skiff up -d` creates its networks)"
            } else {
                ""
            };
            return Err(RuntimeError::new(what(), format!("{message}{hint}")));
        }
        Ok(created.id)
    }
}

fn strip_aliases(networking: Option<&mut Value>) {
    if let Some(Value::Object(endpoints)) = networking.and_then(|n| n.get_mut("EndpointsConfig")) {
        for endpoint in endpoints.values_mut() {
            if let Some(e) = endpoint.as_object_mut() {
                e.remove("Aliases");
            }
        }
    }
}

impl Engine {
    /// Waits for a container to end; its exit code.
    ///
    /// # Errors
    /// The engine refuses, or the container is gone.
    pub async fn wait_exit(&self, id: &str) -> Result<i64, EngineError> {
        let mut waits = self.docker.wait_container(id, None::<WaitContainerOptions>);
        match waits.next().await {
            Some(Ok(r)) => Ok(r.status_code),
            // A non-zero exit arrives as an error carrying the code.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(EngineError::call(format!("wait for container {id}"))(e)),
            None => {
                let (_, _, code) = self.health(id).await?;
                Ok(code)
            }
        }
    }

    /// A container's output, stdout and stderr as they came: `follow` streams it to `each`
    /// until the container ends; otherwise what there is now.
    ///
    /// # Errors
    /// The engine refuses.
    pub async fn output(
        &self,
        id: &str,
        follow: bool,
        mut each: impl FnMut(&[u8]),
    ) -> Result<(), EngineError> {
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .build();
        let mut logs = self.docker.logs(id, Some(opts));
        while let Some(chunk) = logs.next().await {
            match chunk {
                Ok(
                    LogOutput::StdOut { message }
                    | LogOutput::StdErr { message }
                    | LogOutput::Console { message },
                ) => each(&message),
                Ok(LogOutput::StdIn { .. }) => {}
                Err(e) => return Err(EngineError::call(format!("read the output of {id}"))(e)),
            }
        }
        Ok(())
    }

    /// The project's one-off containers that carry `label`.
    ///
    /// # Errors
    /// The engine refuses the listing.
    pub async fn oneoffs(
        &self,
        project: &str,
        label: &str,
    ) -> Result<Vec<FoundOneOff>, EngineError> {
        let list = self
            .list_labelled(vec![
                format!("{}={project}", labels::PROJECT),
                format!("{}=True", labels::ONEOFF),
                label.to_owned(),
            ])
            .await?;
        Ok(list
            .iter()
            .map(|c| FoundOneOff {
                id: c.id.clone().unwrap_or_default(),
                name: container_name(c),
                labels: c.labels.clone().unwrap_or_default(),
                running: c.state.as_ref().is_some_and(|s| s.to_string() == "running"),
            })
            .collect())
    }
}
