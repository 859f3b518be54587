//! Connecting to the Docker Engine, and the calls skiff makes on it.

use std::collections::HashMap;

use sha2::Digest;
use std::time::Duration;

use bollard::Docker;
use bollard::models::{ContainerSummary, NetworkCreateRequest, VolumeCreateRequest};
use bollard::query_parameters::{
    InspectContainerOptions, ListContainersOptionsBuilder, ListNetworksOptionsBuilder,
    ListVolumesOptionsBuilder, RemoveContainerOptionsBuilder, StartContainerOptions,
    StopContainerOptionsBuilder,
};
use skiff_plan::{Instance, Observed, State};

use crate::labels;

/// A failure talking to the engine, with what skiff was doing.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("cannot connect to the Docker Engine at {host}: {source}")]
    Connect {
        host: String,
        source: bollard::errors::Error,
    },
    #[error("failed to {what}: {source}")]
    Call {
        what: String,
        source: bollard::errors::Error,
    },
    #[error("{0}")]
    Other(String),
}

impl EngineError {
    pub(crate) fn call(
        what: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> EngineError {
        let what = what.into();
        move |source| EngineError::Call { what, source }
    }

    /// Whether the engine said the object does not exist.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            EngineError::Call {
                source: bollard::errors::Error::DockerResponseServerError {
                    status_code: 404,
                    ..
                },
                ..
            }
        )
    }
}

/// A connected engine, with the API version negotiated.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    pub host: String,
}

/// Where the engine is: `DOCKER_HOST`, else the current docker context, else the local socket.
#[must_use]
pub fn engine_host(env: &HashMap<String, String>) -> Option<String> {
    if let Some(h) = env.get("DOCKER_HOST").filter(|h| !h.is_empty()) {
        return Some(h.clone());
    }
    let home = env.get("HOME")?;
    let config_dir = env
        .get("DOCKER_CONFIG")
        .cloned()
        .unwrap_or_else(|| format!("{home}/.docker"));
    let context = env.get("DOCKER_CONTEXT").cloned().or_else(|| {
        let text = std::fs::read_to_string(format!("{config_dir}/config.json")).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        v.get("currentContext")?.as_str().map(str::to_owned)
    })?;
    if context == "default" {
        return None;
    }
    let digest = hex::encode(sha2::Sha256::digest(context.as_bytes()));
    let text =
        std::fs::read_to_string(format!("{config_dir}/contexts/meta/{digest}/meta.json")).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v.pointer("/Endpoints/docker/Host")?
        .as_str()
        .map(str::to_owned)
}

impl Engine {
    /// Connects and negotiates the API version with the engine found.
    ///
    /// # Errors
    /// No engine answers at the configured address.
    pub async fn connect(env: &HashMap<String, String>) -> Result<Engine, EngineError> {
        let host = engine_host(env).unwrap_or_else(|| "unix:///var/run/docker.sock".to_owned());
        let cache = env
            .get("XDG_CACHE_HOME")
            .cloned()
            .or_else(|| env.get("HOME").map(|h| format!("{h}/.cache")))
            .map(|d| {
                format!(
                    "{d}/skiff/engine-api-{}",
                    hex::encode(sha2::Sha256::digest(host.as_bytes()))
                        .get(..16)
                        .unwrap_or_default()
                )
            });
        let cached = cache
            .as_ref()
            .and_then(|c| std::fs::read_to_string(c).ok())
            .and_then(|t| {
                let (major, minor) = t.trim().split_once('.')?;
                Some(bollard::ClientVersion {
                    major_version: major.parse().ok()?,
                    minor_version: minor.parse().ok()?,
                })
            });
        let connect = |version: &bollard::ClientVersion| {
            if let Some(path) = host.strip_prefix("unix://") {
                Docker::connect_with_unix(path, 120, version)
            } else if host.starts_with("tcp://") || host.starts_with("http://") {
                Docker::connect_with_http(&host, 120, version)
            } else {
                Docker::connect_with_local_defaults()
            }
            .map_err(|source| EngineError::Connect {
                host: host.clone(),
                source,
            })
        };
        // Negotiating costs a round trip to the engine's slowest endpoint; the version it
        // agreed last time is cached per host and re-negotiated when the engine refuses it.
        if let Some(v) = cached {
            let docker = connect(&v)?;
            match docker.ping().await {
                Ok(_) => return Ok(Engine { docker, host }),
                Err(bollard::errors::Error::DockerResponseServerError {
                    status_code: 400, ..
                }) => {}
                Err(source) => {
                    return Err(EngineError::Connect {
                        host: host.clone(),
                        source,
                    });
                }
            }
        }
        let docker = connect(bollard::API_DEFAULT_VERSION)?
            .negotiate_version()
            .await
            .map_err(|source| EngineError::Connect {
                host: host.clone(),
                source,
            })?;
        if let Some(c) = &cache {
            let v = docker.client_version();
            let tmp = format!("{c}.tmp{}", std::process::id());
            if let Some(dir) = std::path::Path::new(c).parent() {
                let _ = std::fs::create_dir_all(dir);
            }
            if std::fs::write(&tmp, format!("{}.{}", v.major_version, v.minor_version)).is_ok() {
                let _ = std::fs::rename(&tmp, c);
            }
        }
        Ok(Engine { docker, host })
    }

    /// Everything of the project that runs: containers, networks, volumes (by Compose labels).
    ///
    /// # Errors
    /// The engine refuses a listing.
    pub async fn observe(&self, project: &str) -> Result<Observed, EngineError> {
        let filter = HashMap::from([(
            "label".to_owned(),
            vec![format!("{}={project}", labels::PROJECT)],
        )]);
        // The three listings are independent: ask for them at once.
        let (containers, networks, volumes) = tokio::join!(
            self.docker.list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build()
            )),
            self.docker.list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build()
            )),
            self.docker.list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filter)
                    .build()
            )),
        );
        let containers = containers.map_err(EngineError::call("list containers"))?;
        let instances = containers
            .iter()
            .filter(|c| !is_oneoff(c))
            .filter_map(instance)
            .collect();
        let networks: Vec<String> = networks
            .map_err(EngineError::call("list networks"))?
            .into_iter()
            .filter_map(|n| n.name)
            .collect();
        let volumes = volumes
            .map_err(EngineError::call("list volumes"))?
            .volumes
            .unwrap_or_default()
            .into_iter()
            .map(|v| v.name)
            .collect();
        Ok(Observed {
            instances,
            networks,
            volumes,
        })
    }

    /// The project's instances (its containers, one-offs left out): the containers part of
    /// [`Engine::observe`], one engine call.
    ///
    /// # Errors
    /// The engine refuses the listing.
    pub async fn instances(&self, project: &str) -> Result<Vec<Instance>, EngineError> {
        Ok(self
            .summaries(project)
            .await?
            .iter()
            .filter(|c| !is_oneoff(c))
            .filter_map(instance)
            .collect())
    }

    /// Removes duplicate project networks. Engines before API 1.44 accept two networks of one
    /// name; a run killed between its network check and create can leave a second one, which
    /// makes the name ambiguous. Keeps the network with containers attached, else the oldest.
    ///
    /// # Errors
    /// The engine refuses the listing or a removal.
    pub async fn dedupe_networks(&self, project: &str) -> Result<Vec<String>, EngineError> {
        let filter = HashMap::from([(
            "label".to_owned(),
            vec![format!("{}={project}", labels::PROJECT)],
        )]);
        let networks = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(EngineError::call("list networks"))?;
        let mut by_name: HashMap<String, Vec<bollard::models::Network>> = HashMap::new();
        for n in networks {
            by_name
                .entry(n.name.clone().unwrap_or_default())
                .or_default()
                .push(n);
        }
        let mut removed = Vec::new();
        for (name, mut group) in by_name {
            if group.len() < 2 {
                continue;
            }
            let mut detailed = Vec::new();
            for n in &group {
                let id = n.id.clone().unwrap_or_default();
                let info = self
                    .docker
                    .inspect_network(
                        &id,
                        None::<bollard::query_parameters::InspectNetworkOptions>,
                    )
                    .await
                    .map_err(EngineError::call(format!("inspect network {name}")))?;
                let attached = info.containers.as_ref().is_some_and(|c| !c.is_empty());
                detailed.push((
                    std::cmp::Reverse(attached),
                    info.created.clone().unwrap_or_default(),
                    id,
                ));
            }
            detailed.sort();
            group.clear();
            for (_, _, id) in detailed.into_iter().skip(1) {
                match self.docker.remove_network(&id).await {
                    Ok(())
                    | Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => removed.push(id),
                    Err(e) => {
                        return Err(EngineError::call(format!(
                            "remove duplicate network {name}"
                        ))(e));
                    }
                }
            }
        }
        Ok(removed)
    }

    /// Containers of the project (running or not), as `ps` and `logs` show them.
    ///
    /// # Errors
    /// The engine refuses the listing.
    pub async fn containers(&self, project: &str) -> Result<Vec<Container>, EngineError> {
        Ok(self
            .summaries(project)
            .await?
            .iter()
            .map(Container::from_summary)
            .collect())
    }

    /// Containers of the project, as the engine lists them.
    pub(crate) async fn summaries(
        &self,
        project: &str,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        self.list_labelled(vec![format!("{}={project}", labels::PROJECT)])
            .await
    }

    /// Every container (running or not) carrying all of these labels (`key` or `key=value`).
    ///
    /// # Errors
    /// The engine refuses the listing.
    pub(crate) async fn list_labelled(
        &self,
        labels: Vec<String>,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let filter = HashMap::from([("label".to_owned(), labels)]);
        self.docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filter)
                    .build(),
            ))
            .await
            .map_err(EngineError::call("list containers"))
    }

    /// Creates a network labelled for the project.
    ///
    /// # Errors
    /// The engine refuses it.
    pub async fn create_network(&self, req: NetworkCreateRequest) -> Result<(), EngineError> {
        let name = req.name.clone();
        match self.docker.create_network(req).await {
            Ok(_) => Ok(()),
            // Created meanwhile (another run, or a crash after the call): adopt it.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::call(format!("create network {name}"))(e)),
        }
    }

    /// Creates a volume labelled for the project.
    ///
    /// # Errors
    /// The engine refuses it.
    pub async fn create_volume(&self, req: VolumeCreateRequest) -> Result<(), EngineError> {
        let name = req.name.clone().unwrap_or_default();
        self.docker
            .create_volume(req)
            .await
            .map(|_| ())
            .map_err(EngineError::call(format!("create volume {name}")))
    }

    /// Starts a container.
    ///
    /// # Errors
    /// The engine refuses it.
    pub async fn start(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .start_container(id, None::<StartContainerOptions>)
            .await
            .map_err(EngineError::call(format!("start container {id}")))
    }

    /// Sets a container's restart policy (`no`, `always`, `on-failure[:N]`,
    /// `unless-stopped`), as `docker update --restart` does.
    ///
    /// # Errors
    /// The engine refuses it (a container already gone is not an error).
    pub async fn set_restart_policy(&self, id: &str, policy: &str) -> Result<(), EngineError> {
        let (name, count) = policy.split_once(':').unwrap_or((policy, "0"));
        let name = match name {
            "always" => bollard::models::RestartPolicyNameEnum::ALWAYS,
            "on-failure" => bollard::models::RestartPolicyNameEnum::ON_FAILURE,
            "unless-stopped" => bollard::models::RestartPolicyNameEnum::UNLESS_STOPPED,
            _ => bollard::models::RestartPolicyNameEnum::NO,
        };
        let body = bollard::models::ContainerUpdateBody {
            restart_policy: Some(bollard::models::RestartPolicy {
                name: Some(name),
                maximum_retry_count: count.parse().ok().filter(|n: &i64| *n > 0),
            }),
            ..bollard::models::ContainerUpdateBody::default()
        };
        match self.docker.update_container(id, body).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(e) => Err(EngineError::call(format!("update container {id}"))(e)),
        }
    }

    /// Stops a container (the engine sends its stop signal, then kills after `timeout`).
    ///
    /// # Errors
    /// The engine refuses it (a container already gone is not an error).
    pub async fn stop(&self, id: &str, timeout: Option<Duration>) -> Result<(), EngineError> {
        let mut opts = StopContainerOptionsBuilder::default();
        if let Some(t) = timeout {
            opts = opts.t(i32::try_from(t.as_secs()).unwrap_or(i32::MAX));
        }
        match self.docker.stop_container(id, Some(opts.build())).await {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304 | 404,
                ..
            }) => Ok(()),
            Err(e) => Err(EngineError::call(format!("stop container {id}"))(e)),
        }
    }

    /// Removes a container (forcefully: it is stopped first by the caller when it matters).
    ///
    /// # Errors
    /// The engine refuses it (a container already gone is not an error).
    pub async fn remove(&self, id: &str, volumes: bool) -> Result<(), EngineError> {
        match self
            .docker
            .remove_container(
                id,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(volumes)
                        .build(),
                ),
            )
            .await
        {
            Ok(()) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("already in progress") => Ok(()),
            Err(e) => Err(EngineError::call(format!("remove container {id}"))(e)),
        }
    }

    /// The container's health (`healthy`, `unhealthy`, `starting`), if it has a healthcheck,
    /// its state, and its exit code.
    ///
    /// # Errors
    /// The engine cannot inspect it.
    pub async fn health(&self, id: &str) -> Result<(Option<String>, String, i64), EngineError> {
        let c = self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
            .map_err(EngineError::call(format!("inspect container {id}")))?;
        let state = c.state.unwrap_or_default();
        let health = state
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none");
        let status = state.status.map(|s| s.to_string()).unwrap_or_default();
        Ok((health, status, state.exit_code.unwrap_or(0)))
    }
}

/// A container's name as users write it (the engine lists `/name`).
#[must_use]
pub(crate) fn container_name(c: &ContainerSummary) -> String {
    c.names
        .as_ref()
        .and_then(|n| n.first())
        .map(|n| n.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

/// A container of a project, in skiff's words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Container {
    pub id: String,
    pub name: String,
    /// The Compose service it belongs to (its `com.docker.compose.service` label).
    pub service: Option<String>,
    pub image: Option<String>,
    /// `running`, `exited`, ... as the engine says.
    pub state: Option<String>,
    /// `Up 3 minutes (healthy)`, ... as the engine says.
    pub status: Option<String>,
    pub ports: Vec<PortMapping>,
}

/// One port of a container, published on the host or not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub target: u16,
    pub published: Option<u16>,
    /// The host address it is published on (`0.0.0.0`, `::`, `127.0.0.1`).
    pub host_ip: Option<String>,
    /// `tcp`, `udp`, `sctp`.
    pub protocol: String,
}

impl Container {
    fn from_summary(c: &ContainerSummary) -> Container {
        Container {
            id: c.id.clone().unwrap_or_default(),
            name: container_name(c),
            service: c
                .labels
                .as_ref()
                .and_then(|l| l.get(labels::SERVICE))
                .cloned(),
            image: c.image.clone(),
            state: c.state.as_ref().map(ToString::to_string),
            status: c.status.clone(),
            ports: c
                .ports
                .iter()
                .flatten()
                .map(|p| PortMapping {
                    target: p.private_port,
                    published: p.public_port,
                    host_ip: p.ip.clone(),
                    protocol: p.typ.map(|t| t.to_string()).unwrap_or_default(),
                })
                .collect(),
        }
    }
}

fn is_oneoff(c: &ContainerSummary) -> bool {
    c.labels
        .as_ref()
        .and_then(|l| l.get(labels::ONEOFF))
        .is_some_and(|v| v == "True")
}

fn instance(c: &ContainerSummary) -> Option<Instance> {
    let l = c.labels.as_ref()?;
    let service = l.get(labels::SERVICE)?.clone();
    let number = l
        .get(labels::CONTAINER_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1);
    let hash = l.get(labels::CONFIG_HASH).cloned().unwrap_or_default();
    let config = l
        .get(labels::SKIFF_CONFIG)
        .and_then(|c| serde_json::from_str(c).ok());
    let name = container_name(c);
    let state = match c.state.as_ref().map(ToString::to_string).as_deref() {
        Some("running") => State::Running,
        Some("restarting") => State::Restarting,
        Some("paused") => State::Paused,
        Some("created") => State::Created,
        Some("dead" | "removing") => State::Dead,
        _ => State::Exited(exit_code(c.status.as_deref().unwrap_or_default())),
    };
    Some(Instance {
        id: c.id.clone().unwrap_or_default(),
        name,
        service,
        number,
        hash,
        config,
        state,
        image_id: l.get(labels::IMAGE).cloned(),
    })
}

/// `Exited (137) 3 seconds ago` -> 137.
fn exit_code(status: &str) -> i64 {
    status
        .split_once('(')
        .and_then(|(_, rest)| rest.split_once(')'))
        .and_then(|(code, _)| code.parse().ok())
        .unwrap_or(0)
}
