//! A loaded compose project (its `config --format json` form) as the planner's desired state,
//! and the Docker runtime that carries out plan actions for it.

use std::collections::BTreeMap;
use std::time::Duration;

use bollard::models::{
    ContainerCreateBody, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest,
    VolumeCreateRequest,
};
use bollard::query_parameters::{CreateContainerOptionsBuilder, RenameContainerOptionsBuilder};
use serde_json::{Value, json};
use skiff_plan::{
    Action, Condition, Dependency, Desired, Instance, ResourceSpec, ServiceSpec, State,
};
use skiff_runtime::{Readiness, Runtime, RuntimeError};

use skiff_model::compose::{Project as ComposeProject, ServiceConfig};

use crate::convert::{
    ContainerRequest, ProjectContext, ServiceInput, Unsupported, container_request,
};
use crate::engine::{Engine, EngineError};
use crate::labels;

/// A project ready to run on the engine.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    pub working_dir: String,
    pub config_files: Vec<String>,
    /// The project as `docker compose config --format json` prints it: what the config
    /// hashes are computed from and what containers record.
    pub json: Value,
    /// The same, bound to Compose's types: what containers, networks and volumes are made of.
    pub model: ComposeProject,
    pub networks: BTreeMap<String, String>,
    pub volumes: BTreeMap<String, String>,
    pub secret_files: BTreeMap<String, String>,
    pub config_files_by_key: BTreeMap<String, String>,
    /// Services' image IDs, once [`Project::resolve_images`] asked the engine.
    pub image_ids: BTreeMap<String, String>,
}

impl Project {
    /// # Errors
    /// A project without services, or one that does not bind to Compose's types.
    pub fn new(
        name: &str,
        working_dir: &str,
        config_files: Vec<String>,
        json: Value,
    ) -> Result<Project, String> {
        if json.get("services").and_then(Value::as_object).is_none() {
            return Err("the project has no services".into());
        }
        let model = skiff_model::compose::project_from_value(json.clone())
            .map_err(|e| format!("the project does not bind: {e}"))?;
        let named = |key: &str, given: &str| -> String {
            if given.is_empty() {
                format!("{name}_{key}")
            } else {
                given.to_owned()
            }
        };
        let files = |objects: &BTreeMap<String, skiff_model::compose::FileObjectConfig>| {
            objects
                .iter()
                .filter(|(_, o)| !o.file.is_empty())
                .map(|(k, o)| (k.clone(), o.file.clone()))
                .collect()
        };
        Ok(Project {
            name: name.to_owned(),
            working_dir: working_dir.to_owned(),
            config_files,
            networks: model
                .networks
                .iter()
                .map(|(k, n)| (k.clone(), named(k, &n.name)))
                .collect(),
            volumes: model
                .volumes
                .iter()
                .map(|(k, v)| (k.clone(), named(k, &v.name)))
                .collect(),
            secret_files: files(&model.secrets),
            config_files_by_key: files(&model.configs),
            image_ids: BTreeMap::new(),
            json,
            model,
        })
    }

    pub(crate) fn ctx(&self) -> ProjectContext<'_> {
        ProjectContext {
            project: &self.name,
            working_dir: &self.working_dir,
            config_files: &self.config_files,
            networks: &self.networks,
            volumes: &self.volumes,
            secret_files: &self.secret_files,
            config_files_by_key: &self.config_files_by_key,
            image_ids: &self.image_ids,
        }
    }

    /// The image a service runs: its `image:`, else the name Compose gives what it builds.
    #[must_use]
    pub fn image(&self, service: &str, config: &ServiceConfig) -> String {
        if config.image.is_empty() {
            crate::convert::default_image(&self.name, service)
        } else {
            config.image.clone()
        }
    }

    /// Asks the engine for the ID of every service's image, so that containers record it and
    /// the plan sees an image that moved under the same name. An image the engine does not
    /// have yet is left out (creating the container will say so).
    pub async fn resolve_images(&mut self, engine: &Engine) {
        let wanted: Vec<(String, String)> = self
            .services()
            .into_iter()
            .map(|(name, svc)| (name.clone(), self.image(name, svc)))
            .collect();
        // One inspection per image, however many services share it.
        let images: std::collections::BTreeSet<&String> = wanted.iter().map(|(_, i)| i).collect();
        let lookups = images.into_iter().map(|image| async move {
            let id = engine.docker.inspect_image(image).await.ok()?.id?;
            Some((image.clone(), id))
        });
        let ids: BTreeMap<String, String> = futures_util::future::join_all(lookups)
            .await
            .into_iter()
            .flatten()
            .collect();
        self.image_ids = wanted
            .into_iter()
            .filter_map(|(service, image)| Some((service, ids.get(&image)?.clone())))
            .collect();
    }

    /// The services, by name.
    #[must_use]
    pub fn services(&self) -> Vec<(&String, &ServiceConfig)> {
        self.model.services.iter().collect()
    }

    /// A service as the canonical document has it (what its hash is computed from).
    #[must_use]
    pub fn document(&self, service: &str) -> Option<&Value> {
        self.json.get("services")?.get(service)
    }

    /// A service, to convert.
    fn input<'p>(&'p self, service: &'p str) -> Option<ServiceInput<'p>> {
        Some(ServiceInput {
            name: service,
            config: self.model.services.get(service)?,
            document: self.document(service)?,
        })
    }

    /// Runs `replicas` instances of a service (`--scale`): `deploy.replicas`, and no
    /// `scale:`, in both forms of the project. Returns whether the service is declared.
    pub fn scale(&mut self, service: &str, replicas: u32) -> bool {
        let (Some(doc), Some(config)) = (
            self.json
                .get_mut("services")
                .and_then(|s| s.get_mut(service))
                .and_then(Value::as_object_mut),
            self.model.services.get_mut(service),
        ) else {
            return false;
        };
        doc.remove("scale");
        let deploy = doc.entry("deploy").or_insert_with(|| json!({}));
        deploy["replicas"] = json!(replicas);
        config.scale = None;
        config.deploy.get_or_insert_with(Default::default).replicas = Some(i64::from(replicas));
        true
    }

    /// Checks every service converts to a container request, before anything changes.
    ///
    /// # Errors
    /// Every field the engine cannot carry out.
    pub fn check(&self) -> Result<(), Vec<Unsupported>> {
        let errors: Vec<Unsupported> = self
            .model
            .services
            .keys()
            .filter_map(|name| {
                let input = self.input(name)?;
                container_request(&self.ctx(), input, 1, "check", "check").err()
            })
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// The planner's view of the project.
    #[must_use]
    pub fn desired(&self) -> Desired {
        let services = self
            .services()
            .into_iter()
            .map(|(name, svc)| {
                let document = self.document(name).cloned().unwrap_or_default();
                ServiceSpec {
                    name: name.clone(),
                    replicas: replicas(svc),
                    hash: service_hash(&document),
                    config: document,
                    fixed_name: (!svc.container_name.is_empty())
                        .then(|| svc.container_name.clone()),
                    depends_on: svc
                        .depends_on
                        .iter()
                        .map(|(d, c)| Dependency {
                            service: d.clone(),
                            condition: match c.condition.as_str() {
                                "service_healthy" => Condition::ServiceHealthy,
                                "service_completed_successfully" => {
                                    Condition::ServiceCompletedSuccessfully
                                }
                                _ => Condition::ServiceStarted,
                            },
                            required: c.required,
                            restart: c.restart,
                        })
                        .collect(),
                    image_id: self.image_ids.get(name).cloned(),
                    // Checked when the container request is made (`convert`).
                    restart: svc.restart.parse().unwrap_or_default(),
                }
            })
            .collect();
        let resources = |names: &BTreeMap<String, String>, external: &dyn Fn(&str) -> bool| {
            names
                .iter()
                .map(|(k, n)| ResourceSpec {
                    key: k.clone(),
                    name: n.clone(),
                    external: external(k),
                })
                .collect()
        };
        let model = &self.model;
        Desired {
            project: self.name.clone(),
            services,
            networks: resources(&self.networks, &|k| {
                model.networks.get(k).is_some_and(|c| c.external)
            }),
            volumes: resources(&self.volumes, &|k| {
                model.volumes.get(k).is_some_and(|c| c.external)
            }),
        }
    }
}

/// `deploy.replicas`, else `scale`, else 1.
#[must_use]
pub fn replicas(svc: &ServiceConfig) -> u32 {
    svc.deploy
        .as_ref()
        .and_then(|d| d.replicas)
        .or(svc.scale)
        .and_then(|r| u32::try_from(r).ok())
        .unwrap_or(1)
}

pub use crate::hash::service_hash;

/// Carries out plan actions on the engine for one project.
pub struct DockerRuntime<'a> {
    pub engine: &'a Engine,
    pub project: &'a Project,
    /// Grace period when stopping containers that do not set `stop_grace_period`.
    pub stop_timeout: Duration,
    /// Whether the engine restarts containers per their `restart` policy (as docker
    /// compose leaves it to), or never because a supervisor (the skiff daemon) does.
    pub engine_restarts: bool,
    /// Containers created ahead of their start ([`Runtime::prepare`]), by name: id.
    prepared: std::sync::Mutex<BTreeMap<String, String>>,
    /// The project's instances as last listed, shared by every service's readiness in this
    /// runtime (one `up`): fifty services waiting on their dependencies ask the engine once
    /// per [`SNAPSHOT_AGE`], not fifty times. (The daemon's world makes a runtime per call,
    /// so there each readiness still lists on its own.)
    snapshot: tokio::sync::Mutex<Option<(tokio::time::Instant, std::sync::Arc<Vec<Instance>>)>>,
}

/// How old a listing [`DockerRuntime::readiness`] may answer from: under the executor's poll.
const SNAPSHOT_AGE: Duration = Duration::from_millis(50);

impl<'a> DockerRuntime<'a> {
    #[must_use]
    pub fn new(
        engine: &'a Engine,
        project: &'a Project,
        stop_timeout: Duration,
        engine_restarts: bool,
    ) -> DockerRuntime<'a> {
        DockerRuntime {
            engine,
            project,
            stop_timeout,
            engine_restarts,
            prepared: std::sync::Mutex::default(),
            snapshot: tokio::sync::Mutex::default(),
        }
    }

    /// The project's instances, listed at most [`SNAPSHOT_AGE`] ago. One caller lists while
    /// the others wait for its answer.
    async fn instances(&self) -> Result<std::sync::Arc<Vec<Instance>>, RuntimeError> {
        let mut snapshot = self.snapshot.lock().await;
        if let Some((at, instances)) = snapshot.as_ref()
            && at.elapsed() < SNAPSHOT_AGE
        {
            return Ok(std::sync::Arc::clone(instances));
        }
        let instances = std::sync::Arc::new(
            self.engine
                .instances(&self.project.name)
                .await
                .map_err(|e| RuntimeError::new("observe", e.to_string()))?,
        );
        *snapshot = Some((
            tokio::time::Instant::now(),
            std::sync::Arc::clone(&instances),
        ));
        Ok(instances)
    }
    fn service<'s>(&'s self, name: &'s str) -> Result<ServiceInput<'s>, RuntimeError> {
        self.project
            .input(name)
            .ok_or_else(|| RuntimeError::new(format!("create {name}"), "service is not declared"))
    }

    /// Stops an instance of `service` within its grace period, and removes it when asked.
    ///
    /// # Errors
    /// The engine refuses (a container already gone is not an error).
    pub async fn stop_instance(
        &self,
        service: &str,
        id: &str,
        name: &str,
        remove: bool,
    ) -> Result<(), RuntimeError> {
        self.engine
            .stop(id, Some(self.stop_timeout(service)))
            .await
            .map_err(|e| RuntimeError::new(format!("stop {name}"), e.to_string()))?;
        if remove {
            self.engine
                .remove(id, false)
                .await
                .map_err(|e| RuntimeError::new(format!("remove {name}"), e.to_string()))?;
        }
        Ok(())
    }

    /// Runs an instance afresh, as the engine's own restart does: stops it within its grace
    /// period if it still runs (unhealthy), then starts the same container again.
    ///
    /// # Errors
    /// The engine refuses.
    pub async fn restart_instance(
        &self,
        service: &str,
        id: &str,
        name: &str,
    ) -> Result<(), RuntimeError> {
        self.stop_instance(service, id, name, false).await?;
        self.engine
            .start(id)
            .await
            .map_err(|e| RuntimeError::new(format!("start {name}"), e.to_string()))
    }

    /// The grace period of a service's containers: `stop_grace_period`, else the runtime's.
    #[must_use]
    pub fn stop_timeout(&self, service: &str) -> Duration {
        self.project
            .model
            .services
            .get(service)
            .and_then(|s| s.stop_grace_period)
            .map_or(self.stop_timeout, |d| d.to_std())
    }

    pub(crate) async fn create_network(&self, key: &str, name: &str) -> Result<(), EngineError> {
        let cfg = self
            .project
            .model
            .networks
            .get(key)
            .cloned()
            .unwrap_or_default();
        let existing = self.engine.docker.list_networks(Some(
            bollard::query_parameters::ListNetworksOptionsBuilder::default()
                .filters(&std::collections::HashMap::from([(
                    "name".to_owned(),
                    vec![format!("^{name}$")],
                )]))
                .build(),
        ));
        if existing
            .await
            .map_err(EngineError::call("list networks"))?
            .iter()
            .any(|n| n.name.as_deref() == Some(name))
        {
            return Ok(());
        }
        let mut labels = std::collections::HashMap::from([
            (labels::PROJECT.to_owned(), self.project.name.clone()),
            (labels::NETWORK.to_owned(), key.to_owned()),
            (
                labels::VERSION.to_owned(),
                labels::COMPOSE_VERSION.to_owned(),
            ),
        ]);
        labels.extend(cfg.labels.clone());
        let ipam = (!cfg.ipam.config.is_empty()).then(|| Ipam {
            driver: Some(if cfg.ipam.driver.is_empty() {
                "default".to_owned()
            } else {
                cfg.ipam.driver.clone()
            }),
            config: Some(
                cfg.ipam
                    .config
                    .iter()
                    .map(|p| {
                        let given = |s: &String| (!s.is_empty()).then(|| s.clone());
                        IpamConfig {
                            subnet: given(&p.subnet),
                            gateway: given(&p.gateway),
                            ip_range: given(&p.ip_range),
                            ..IpamConfig::default()
                        }
                    })
                    .collect(),
            ),
            ..Ipam::default()
        });
        let req = NetworkCreateRequest {
            name: name.to_owned(),
            driver: (!cfg.driver.is_empty()).then(|| cfg.driver.clone()),
            internal: cfg.internal.then_some(true),
            attachable: cfg.attachable.then_some(true),
            enable_ipv6: cfg.enable_ipv6,
            options: (!cfg.driver_opts.is_empty())
                .then(|| cfg.driver_opts.clone().into_iter().collect()),
            ipam,
            labels: Some(labels),
            ..NetworkCreateRequest::default()
        };
        self.engine.create_network(req).await?;
        // Engines before API 1.44 accept a second network of the same name: a killed run's
        // create that the engine finished after this run looked can leave one. Settle it
        // before any container refers to the name.
        self.engine.dedupe_networks(&self.project.name).await?;
        Ok(())
    }

    pub(crate) async fn create_volume(&self, key: &str, name: &str) -> Result<(), EngineError> {
        let cfg = self
            .project
            .model
            .volumes
            .get(key)
            .cloned()
            .unwrap_or_default();
        let mut labels = std::collections::HashMap::from([
            (labels::PROJECT.to_owned(), self.project.name.clone()),
            (labels::VOLUME.to_owned(), key.to_owned()),
            (
                labels::VERSION.to_owned(),
                labels::COMPOSE_VERSION.to_owned(),
            ),
        ]);
        labels.extend(cfg.labels.clone());
        self.engine
            .create_volume(VolumeCreateRequest {
                name: Some(name.to_owned()),
                driver: (!cfg.driver.is_empty()).then(|| cfg.driver.clone()),
                driver_opts: (!cfg.driver_opts.is_empty())
                    .then(|| cfg.driver_opts.clone().into_iter().collect()),
                labels: Some(labels),
                ..VolumeCreateRequest::default()
            })
            .await
    }

    pub(crate) fn request(
        &self,
        service: &str,
        number: u32,
        name: &str,
    ) -> Result<ContainerRequest, RuntimeError> {
        let svc = self.service(service)?;
        container_request(
            &self.project.ctx(),
            svc,
            number,
            name,
            &service_hash(svc.document),
        )
        .map_err(|e| RuntimeError::new(format!("create {name}"), e.to_string()))
    }

    /// Creates and starts a container (or only starts it, when it was created ahead).
    async fn create_and_start(
        &self,
        service: &str,
        number: u32,
        name: &str,
    ) -> Result<(), RuntimeError> {
        let prepared = self.prepared.lock().map_or(None, |mut p| p.remove(name));
        let id = match prepared {
            Some(id) => id,
            None => self.create(service, number, name).await?,
        };
        self.engine
            .start(&id)
            .await
            .map_err(|e| RuntimeError::new(format!("start {name}"), e.to_string()))
    }

    /// Creates a container, connected to its networks, not started; returns its id. A
    /// leftover container of the same name from an interrupted run (same project, same
    /// service) is removed first.
    async fn create(&self, service: &str, number: u32, name: &str) -> Result<String, RuntimeError> {
        let mut req = self.request(service, number, name)?;
        if !self.engine_restarts
            && let Some(host) = req
                .body
                .get_mut("HostConfig")
                .and_then(Value::as_object_mut)
        {
            host.insert(
                "RestartPolicy".into(),
                json!({"Name": "no", "MaximumRetryCount": 0}),
            );
        }
        let body: ContainerCreateBody = serde_json::from_value(req.body.clone())
            .map_err(|e| RuntimeError::new(format!("create {name}"), e.to_string()))?;
        let opts = CreateContainerOptionsBuilder::default().name(name).build();
        let created = match self
            .engine
            .docker
            .create_container(Some(opts.clone()), body.clone())
            .await
        {
            Ok(c) => c,
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                let hash = req
                    .body
                    .pointer(&format!(
                        "/Labels/{}",
                        labels::CONFIG_HASH.replace('/', "~1")
                    ))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let networks: Vec<&str> =
                    req.extra_networks.iter().map(|(n, _)| n.as_str()).collect();
                if let Some(id) = self
                    .reuse_or_remove_leftover(service, name, hash, &networks)
                    .await?
                {
                    return Ok(id);
                }
                self.engine
                    .docker
                    .create_container(Some(opts), body)
                    .await
                    .map_err(|e| RuntimeError::new(format!("create {name}"), e.to_string()))?
            }
            Err(e) => return Err(create_error(name, e)),
        };
        self.connect_networks(&created.id, name, req.extra_networks)
            .await?;
        Ok(created.id)
    }

    /// Connects a created container to the networks beyond its first.
    pub(crate) async fn connect_networks(
        &self,
        id: &str,
        name: &str,
        extra: Vec<(String, Value)>,
    ) -> Result<(), RuntimeError> {
        for (net, endpoint) in extra {
            let endpoint = serde_json::from_value(endpoint)
                .map_err(|e| RuntimeError::new(format!("connect {name}"), e.to_string()))?;
            self.engine
                .docker
                .connect_network(
                    &net,
                    NetworkConnectRequest {
                        container: id.to_owned(),
                        endpoint_config: Some(endpoint),
                    },
                )
                .await
                .map_err(|e| {
                    RuntimeError::new(format!("connect {name} to {net}"), e.to_string())
                })?;
        }
        Ok(())
    }

    /// A container of this name exists: one of this service, created and never started,
    /// with this configuration and attached to every network it needs (created ahead by
    /// another caller, or by a run interrupted before its start) is used as it is; another of
    /// this service is removed; one of anything else is an error.
    async fn reuse_or_remove_leftover(
        &self,
        service: &str,
        name: &str,
        hash: &str,
        networks: &[&str],
    ) -> Result<Option<String>, RuntimeError> {
        let info = self
            .engine
            .docker
            .inspect_container(
                name,
                None::<bollard::query_parameters::InspectContainerOptions>,
            )
            .await
            .map_err(|e| RuntimeError::new(format!("create {name}"), e.to_string()))?;
        let l = info.config.and_then(|c| c.labels).unwrap_or_default();
        if l.get(labels::PROJECT) != Some(&self.project.name)
            || l.get(labels::SERVICE).map(String::as_str) != Some(service)
        {
            return Err(RuntimeError::new(
                format!("create {name}"),
                "a container with this name exists and does not belong to this project; remove or rename it",
            ));
        }
        let never_started = info
            .state
            .as_ref()
            .is_some_and(|s| s.status == Some(bollard::models::ContainerStateStatusEnum::CREATED));
        let attached = info
            .network_settings
            .as_ref()
            .and_then(|n| n.networks.as_ref())
            .is_some_and(|on| networks.iter().all(|n| on.contains_key(*n)));
        if never_started
            && attached
            && !hash.is_empty()
            && l.get(labels::CONFIG_HASH).map(String::as_str) == Some(hash)
            && let Some(id) = info.id
        {
            return Ok(Some(id));
        }
        self.engine
            .remove(name, false)
            .await
            .map_err(|e| RuntimeError::new(format!("remove {name}"), e.to_string()))?;
        Ok(None)
    }
}

impl Runtime for DockerRuntime<'_> {
    /// Creates a new container ahead of its start. A failure is left for `apply`, which
    /// creates it again and reports why.
    async fn prepare(&self, action: &Action) {
        if let Action::Create {
            service,
            number,
            name,
        } = action
            && let Ok(id) = self.create(service, *number, name).await
            && let Ok(mut prepared) = self.prepared.lock()
        {
            prepared.insert(name.clone(), id);
        }
    }

    async fn observe(&self) -> Result<skiff_plan::Observed, RuntimeError> {
        self.engine
            .observe(&self.project.name)
            .await
            .map_err(|e| RuntimeError::new("observe the containers", e.to_string()))
    }

    async fn apply(&self, action: &Action) -> Result<(), RuntimeError> {
        match action {
            Action::CreateNetwork { key, name } => self
                .create_network(key, name)
                .await
                .map_err(|e| RuntimeError::new(format!("create network {name}"), e.to_string())),
            Action::CreateVolume { key, name } => self
                .create_volume(key, name)
                .await
                .map_err(|e| RuntimeError::new(format!("create volume {name}"), e.to_string())),
            Action::Create {
                service,
                number,
                name,
            } => self.create_and_start(service, *number, name).await,
            Action::Recreate {
                service,
                number,
                id,
                name,
                ..
            } => {
                // Stop and set the old container aside under a temporary name, so the new one can
                // take its name; an interrupted recreate leaves an obsolete instance that the next
                // plan removes.
                self.engine
                    .stop(id, Some(self.stop_timeout(service)))
                    .await
                    .map_err(|e| RuntimeError::new(format!("stop {name}"), e.to_string()))?;
                let short: String = id.chars().take(12).collect();
                let aside = format!("{short}_{name}");
                match self
                    .engine
                    .docker
                    .rename_container(
                        id,
                        RenameContainerOptionsBuilder::default()
                            .name(&aside)
                            .build(),
                    )
                    .await
                {
                    Ok(())
                    | Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => {}
                    // Set aside already, by a recreate that was killed before it created the
                    // new container.
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 400,
                        message,
                    }) if message.contains("same name as its current name") => {}
                    Err(e) => {
                        return Err(RuntimeError::new(format!("rename {name}"), e.to_string()));
                    }
                }
                self.create_and_start(service, *number, name).await?;
                self.engine
                    .remove(id, false)
                    .await
                    .map_err(|e| RuntimeError::new(format!("remove old {name}"), e.to_string()))
            }
            Action::Start { id, name, .. } => self
                .engine
                .start(id)
                .await
                .map_err(|e| RuntimeError::new(format!("start {name}"), e.to_string())),
            Action::Remove {
                service, id, name, ..
            } => self.stop_instance(service, id, name, true).await,
            Action::Stop { service, id, name } => {
                self.stop_instance(service, id, name, false).await
            }
        }
    }

    async fn readiness(&self, service: &str) -> Result<(Readiness, bool), RuntimeError> {
        let instances = self.instances().await?;
        let mine: Vec<_> = instances.iter().filter(|i| i.service == service).collect();
        let has_healthcheck = self
            .project
            .model
            .services
            .get(service)
            .and_then(|s| s.healthcheck.as_ref())
            .is_some_and(|h| !h.disable && !h.test.is_empty());
        if mine.is_empty() {
            return Ok((Readiness::Pending, has_healthcheck));
        }
        if mine
            .iter()
            .all(|i| matches!(i.state, State::Exited(_) | State::Dead))
        {
            let worst = mine
                .iter()
                .map(|i| {
                    if let State::Exited(c) = i.state {
                        c
                    } else {
                        -1
                    }
                })
                .max_by_key(|c| c.abs())
                .unwrap_or(0);
            return Ok((Readiness::Exited(worst), has_healthcheck));
        }
        if mine.iter().any(|i| !matches!(i.state, State::Running)) {
            return Ok((Readiness::Pending, has_healthcheck));
        }
        if !has_healthcheck {
            return Ok((Readiness::Started, false));
        }
        let mut all_healthy = true;
        for i in &mine {
            let (health, _, _) = self
                .engine
                .health(&i.id)
                .await
                .map_err(|e| RuntimeError::new("inspect", e.to_string()))?;
            match health.as_deref() {
                Some("healthy") => {}
                Some("unhealthy") => return Ok((Readiness::Unhealthy, true)),
                _ => all_healthy = false,
            }
        }
        Ok((
            if all_healthy {
                Readiness::Healthy
            } else {
                Readiness::Started
            },
            true,
        ))
    }
}

/// A create the engine refused, with what to do when the image is missing.
pub(crate) fn create_error(name: &str, e: bollard::errors::Error) -> RuntimeError {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            message,
        } if message.contains("image") => RuntimeError::new(
            format!("create {name}"),
            format!(
                "{message}: no registry is reachable from skiff's point of view here; build or load the image first (docker load, or `build:` in the service)"
            ),
        ),
        e => RuntimeError::new(format!("create {name}"), e.to_string()),
    }
}
