//! One stack on two runtimes: containers on the Docker Engine and host processes.
//!
//! [`Stack::from_loaded`] takes the compose files as loaded once and splits the services:
//! those marked `x-skiff: {runtime: process}` (and those named by `--native`) become
//! [`ProcessService`]s; the others stay in the Docker project. [`Stack::desired`] joins both
//! into one planner input, so one `plan` and one `execute` drive the whole stack, through
//! [`crate::hybrid::Hybrid`].
//!
//! Where each side reaches the other is worked out here too ([`Reach`]): a process reaches a
//! container through its published ports on the host (`SKIFF_<SERVICE>_HOST`/`_PORT`), a
//! container reaches a process through the host gateway (`extra_hosts:
//! ["<service>:host-gateway"]`, added to the containers that depend on it, so they keep
//! using the service name).
//!
//! Without container services the Docker Engine is never contacted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};
use skiff_compose::LoadError;
use skiff_docker::project::Project;
use skiff_model::compose::ServiceConfig;
use skiff_model::xskiff::{RestartDefault, Runtime as RuntimeKind};
use skiff_plan::{Condition, Dependency, Desired, Restart, ServiceSpec};
use skiff_process::{Origin, ProcessService};

/// Why a stack cannot be made of what was loaded. [`StackError::Invalid`] carries where in the
/// files (render it with the load's sources); the others are in words.
#[derive(Debug, thiserror::Error)]
pub enum StackError {
    /// A check of the services failed (located in the files when they were read).
    #[error("{}", .0.message)]
    Invalid(LoadError),
    #[error(
        "cannot tell where to keep process state: SKIFF_STATE_DIR, XDG_STATE_HOME and HOME are unset"
    )]
    NoStateDir,
    #[error("--scale: no service {0:?}")]
    NoSuchService(String),
    #[error("the stack cannot run on the Docker Engine as written:\n  {}", .0.join("\n  "))]
    Unrunnable(Vec<String>),
    /// A stack handed over (to the daemon) that does not bind.
    #[error("invalid project: {0}")]
    Source(String),
}

impl StackError {
    /// What to do about it.
    #[must_use]
    pub fn help(&self) -> Option<&str> {
        match self {
            StackError::Invalid(e) => e.help.as_deref(),
            StackError::NoStateDir => Some("set SKIFF_STATE_DIR to a directory skiff may write"),
            StackError::NoSuchService(_) => Some("`skiff config --services` lists them"),
            StackError::Unrunnable(_) => Some("nothing was changed"),
            StackError::Source(_) => None,
        }
    }

    /// The error and its help in one line (for the daemon's answers and history).
    #[must_use]
    pub fn in_words(&self) -> String {
        match self.help() {
            Some(help) => format!("{self} ({help})"),
            None => self.to_string(),
        }
    }
}

/// What to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// Services named on the command line (with what they depend on); empty for all.
    pub services: &'a [String],
    /// Container services to run natively (`--native`).
    pub native: &'a [String],
    /// Run the loader's consistency checks (off for `down`, `ps`, `logs`, as Compose does).
    pub consistency: bool,
}

/// A published port of a container service, as declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub host_ip: String,
    /// `None` when the engine picks the host port.
    pub published: Option<u16>,
    pub target: u32,
}

/// A loaded stack, split by runtime.
pub struct Stack {
    pub name: String,
    /// The container services only (process services are not in its JSON).
    pub docker: Project,
    pub processes: Vec<ProcessService>,
    /// Every declared service (both runtimes).
    pub declared: BTreeSet<String>,
    /// Where process records and logs live.
    pub state_dir: PathBuf,
    /// Whether `state_dir` could be worked out (a stack of containers needs none).
    state_known: bool,
    pub(crate) depends_on: BTreeMap<String, Vec<Dependency>>,
    /// Each service's declared restart policy; `None` when it declares none.
    restart: BTreeMap<String, Option<Restart>>,
    pub(crate) published: BTreeMap<String, Vec<Published>>,
    /// The project's `x-skiff.daemon` section.
    pub daemon: Option<skiff_model::xskiff::Daemon>,
    /// The project's `x-skiff.alerts`.
    pub alerts: BTreeMap<String, skiff_model::xskiff::Alert>,
    /// What it was made from, for the daemon (scaling included).
    pub source: StackSource,
}

pub use skiff_daemon::StackSource;

impl Stack {
    /// The stack of a loaded project, its services split by runtime.
    ///
    /// # Errors
    /// `--native` naming a service without `x-skiff.native`; a process service using a field
    /// only a container can honour (located in the file); no state directory for processes.
    pub fn from_loaded(
        loaded: &skiff_compose::Loaded,
        native: &[String],
        state: Option<PathBuf>,
    ) -> Result<Stack, StackError> {
        let located = |service: &str, field: &str, message: String, help: &str| {
            let mut node = loaded.model.get("services").and_then(|s| s.get(service));
            let mut span = node.map(|n| n.span);
            for part in field.split('.') {
                node = node.and_then(|n| n.get(part));
                if let Some(n) = node {
                    span = Some(n.span);
                }
            }
            let err = match span {
                Some(span) => LoadError::at(span, message),
                None => LoadError::new(message),
            };
            err.with_help(help.to_owned())
        };
        let source = StackSource {
            name: loaded.name.clone(),
            working_dir: loaded.working_dir.clone(),
            config_files: loaded.config_files.clone(),
            canonical: skiff_compose::compose_json(&loaded.model),
            native: native.to_vec(),
            scale: BTreeMap::new(),
            state_dir: state.clone(),
            left_out: loaded.disabled.keys().map(|k| k.name.clone()).collect(),
        };
        Stack::assemble(source, &loaded.project, &loaded.extensions, &located)
    }

    /// The stack as `skiff up -d` handed it to the daemon.
    ///
    /// # Errors
    /// The source does not bind (it was not made by [`Stack::load`] of this version), or a
    /// check of [`Stack::load`] fails, in words.
    pub fn from_source(source: StackSource) -> Result<Stack, StackError> {
        let project = skiff_model::compose::project_from_value(source.canonical.clone())
            .map_err(|e| StackError::Source(e.to_string()))?;
        let extensions = skiff_compose::extension::decode_json(&source.canonical, &source.left_out)
            .map_err(StackError::Source)?;
        let plain = |service: &str, field: &str, message: String, help: &str| {
            let at = if field.is_empty() {
                format!("services.{service}")
            } else {
                format!("services.{service}.{field}")
            };
            LoadError::new(format!("{at}: {message}")).with_help(help.to_owned())
        };
        let scale = source.scale.clone();
        let mut stack = Stack::assemble(source, &project, &extensions, &plain)?;
        for (service, replicas) in scale {
            stack.scale(&service, replicas)?;
        }
        Ok(stack)
    }

    /// The stack from a loaded project: services split by runtime and checked.
    fn assemble(
        source: StackSource,
        project: &skiff_model::compose::Project,
        extensions: &skiff_compose::extension::Extensions,
        located: &dyn Fn(&str, &str, String, &str) -> LoadError,
    ) -> Result<Stack, StackError> {
        for name in &source.native {
            let Some(service) = project.services.get(name) else {
                return Err(StackError::Invalid(
                    LoadError::new(format!(
                        "--native {name}: no such service (or its profile is not active)"
                    ))
                    .with_help("`skiff config --services` lists them"),
                ));
            };
            let ext = extensions.services.get(name);
            if ext.is_some_and(|e| e.runtime == RuntimeKind::Process) {
                return Err(StackError::Invalid(LoadError::new(format!(
                    "--native {name}: it already runs as a process"
                ))));
            }
            if ext.and_then(|e| e.native.as_ref()).is_none() {
                return Err(StackError::Invalid(located(
                    &service.name,
                    "",
                    format!("--native {name}: the service has no `x-skiff.native` command"),
                    "add `x-skiff: {native: {command: [\"./run-it\", \"--here\"]}}` to the service",
                )));
            }
        }
        let project_dir = PathBuf::from(&source.working_dir);
        let mut processes = Vec::new();
        for (name, service) in &project.services {
            let ext = extensions.services.get(name);
            let origin = match ext {
                Some(e) if e.runtime == RuntimeKind::Process => {
                    let unsupported = skiff_process::service::unsupported_fields(service);
                    if let Some(first) = unsupported.first() {
                        return Err(StackError::Invalid(located(
                            name,
                            first,
                            format!(
                                "services.{name}: {} cannot apply to a host process",
                                unsupported.join(", ")
                            ),
                            "remove them, or drop `x-skiff: {runtime: process}` to run the \
                             service in a container",
                        )));
                    }
                    Origin::Declared(e)
                }
                Some(e) if source.native.contains(name) => match e.native.as_ref() {
                    Some(native) => Origin::Native(native),
                    None => continue,
                },
                _ => continue,
            };
            let resolved =
                ProcessService::from_compose(service, origin, &project_dir).map_err(|errors| {
                    let first = &errors[0];
                    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                    StackError::Invalid(located(
                        name,
                        &first.field,
                        lines.join("; "),
                        "fix the field; nothing was started",
                    ))
                })?;
            processes.push(resolved);
        }
        let (state_dir, state_known) = match &source.state_dir {
            Some(dir) => (dir.clone(), true),
            _ if processes.is_empty() => (PathBuf::new(), false),
            _ => (state_dir()?, true),
        };
        let process_names: BTreeSet<&str> = processes.iter().map(|p| p.name.as_str()).collect();
        let mut json = project.to_json_value();
        if let Some(services) = json.get_mut("services").and_then(Value::as_object_mut) {
            services.retain(|name, _| !process_names.contains(name.as_str()));
            for (name, svc) in services.iter_mut() {
                let Some(config) = project.services.get(name) else {
                    continue;
                };
                for dep in config.depends_on.keys() {
                    if process_names.contains(dep.as_str()) {
                        add_host_gateway(svc, dep);
                    }
                }
            }
        }
        let docker = Project::new(
            &source.name,
            &source.working_dir,
            source.config_files.clone(),
            json,
        )
        .map_err(|e| StackError::Source(e.to_string()))?;
        if let Err(errors) = docker.check() {
            return Err(StackError::Unrunnable(
                errors.iter().map(ToString::to_string).collect(),
            ));
        }
        let services = &project.services;
        Ok(Stack {
            name: source.name.clone(),
            declared: services.keys().cloned().collect(),
            depends_on: services
                .iter()
                .map(|(n, s)| (n.clone(), dependencies(s)))
                .collect(),
            restart: services
                .iter()
                .map(|(n, s)| (n.clone(), declared_restart(s)))
                .collect(),
            published: services
                .iter()
                .map(|(n, s)| (n.clone(), published(s)))
                .collect(),
            docker,
            processes,
            state_dir,
            state_known,
            daemon: extensions.project.daemon.clone(),
            alerts: extensions.project.alerts.clone(),
            source,
        })
    }

    /// The jobs of `x-skiff.jobs` (checked when the file loaded).
    #[must_use]
    pub fn jobs(&self) -> BTreeMap<String, skiff_model::xskiff::Job> {
        skiff_compose::extension::decode_json(&self.source.canonical, &self.source.left_out)
            .map(|e| e.project.jobs)
            .unwrap_or_default()
    }

    /// Whether any service runs in a container (else Docker is never contacted).
    #[must_use]
    pub fn has_containers(&self) -> bool {
        !self.docker.services().is_empty()
    }

    #[must_use]
    pub fn is_process(&self, service: &str) -> bool {
        self.processes.iter().any(|p| p.name == service)
    }

    /// Whether process records of this project may exist (they are read even when no
    /// service is a process any more: they are then recreated or orphans).
    #[must_use]
    pub fn has_process_state(&self) -> bool {
        !self.processes.is_empty() || (self.state_known && self.state_dir.join(&self.name).is_dir())
    }

    /// Scales a service (`--scale`), whichever runtime runs it.
    ///
    /// # Errors
    /// No such service.
    pub fn scale(&mut self, service: &str, replicas: u32) -> Result<(), StackError> {
        self.source.scale.insert(service.to_owned(), replicas);
        if let Some(p) = self.processes.iter_mut().find(|p| p.name == service) {
            p.replicas = replicas;
            return Ok(());
        }
        if self.docker.scale(service, replicas) {
            Ok(())
        } else {
            Err(StackError::NoSuchService(service.to_owned()))
        }
    }

    /// The planner's view: the container services as the Docker driver sees them, and the
    /// process services with their digested configuration.
    #[must_use]
    pub fn desired(&self) -> Desired {
        let mut desired = self.docker.desired();
        if !self.has_containers() {
            desired.networks.clear();
            desired.volumes.clear();
        }
        for p in &self.processes {
            desired.services.push(ServiceSpec {
                name: p.name.clone(),
                replicas: p.replicas,
                hash: p.hash.clone(),
                config: p.config.clone(),
                fixed_name: p.fixed_name.clone(),
                depends_on: self.depends_on.get(&p.name).cloned().unwrap_or_default(),
                restart: Restart::No,
                image_id: None,
            });
        }
        for spec in &mut desired.services {
            spec.restart = self
                .restart
                .get(&spec.name)
                .copied()
                .flatten()
                .unwrap_or_default();
        }
        desired.services.sort_by(|a, b| a.name.cmp(&b.name));
        desired
    }

    /// The services that declare no restart policy (no `restart:`, no
    /// `deploy.restart_policy`) and that the daemon heals by default: restarted after a
    /// non-zero exit, a kill, or turning unhealthy; a clean exit stays completed. Empty when
    /// the stack says `x-skiff.daemon.restart_default: no` (Compose's own default).
    #[must_use]
    pub fn healed_by_default(&self) -> Vec<&str> {
        let default = self
            .daemon
            .as_ref()
            .map(|d| d.restart_default)
            .unwrap_or_default();
        if default == RestartDefault::No {
            return Vec::new();
        }
        self.restart
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(n, _)| n.as_str())
            .collect()
    }

    /// The planner's view for the daemon: [`Self::desired`], with the services that declare
    /// no restart policy healed ([`Self::healed_by_default`]).
    #[must_use]
    pub fn daemon_desired(&self) -> Desired {
        let mut desired = self.desired();
        let healed = self.healed_by_default();
        for spec in &mut desired.services {
            if healed.contains(&spec.name.as_str()) {
                spec.restart = Restart::OnFailure { max_retries: None };
            }
        }
        desired
    }

    /// One line naming the services the daemon heals by default, if any.
    #[must_use]
    pub fn healing_note(&self) -> Option<String> {
        let healed = self.healed_by_default();
        (!healed.is_empty()).then(|| {
            format!(
                "The daemon heals {} by default (no restart policy declared: restarted on failure or when unhealthy); `restart: \"no\"` or `x-skiff.daemon.restart_default: no` opts out.",
                healed.join(", ")
            )
        })
    }

    /// How process services reach the containers they depend on, and how containers reach
    /// the process services they depend on, as declared.
    #[must_use]
    pub fn reach(&self) -> Vec<Reach> {
        let mut out = Vec::new();
        for p in &self.processes {
            for dep in self.depends_on.get(&p.name).into_iter().flatten() {
                if self.is_process(&dep.service) || !self.declared.contains(&dep.service) {
                    continue;
                }
                out.push(Reach::ProcessToContainer {
                    process: p.name.clone(),
                    container: dep.service.clone(),
                    ports: self
                        .published
                        .get(&dep.service)
                        .cloned()
                        .unwrap_or_default(),
                });
            }
        }
        for (service, deps) in &self.depends_on {
            if self.is_process(service) || !self.declared.contains(service) {
                continue;
            }
            for dep in deps {
                if let Some(p) = self.processes.iter().find(|p| p.name == dep.service) {
                    out.push(Reach::ContainerToProcess {
                        container: service.clone(),
                        process: p.name.clone(),
                        ports: p.ports.clone(),
                    });
                }
            }
        }
        out
    }
}

/// Where skiff keeps process records and logs (see [`skiff_process::state_dir`]).
///
/// # Errors
/// None of `SKIFF_STATE_DIR`, `XDG_STATE_HOME` and `HOME` is set.
pub fn state_dir() -> Result<PathBuf, StackError> {
    skiff_process::state_dir(|k| std::env::var(k).ok()).ok_or(StackError::NoStateDir)
}

/// One edge between the runtimes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    ProcessToContainer {
        process: String,
        container: String,
        ports: Vec<Published>,
    },
    ContainerToProcess {
        container: String,
        process: String,
        ports: Vec<u16>,
    },
}

/// `SKIFF_<SERVICE>_` for a service name: upper case, anything else than letters and digits
/// as `_`.
#[must_use]
pub fn env_prefix(service: &str) -> String {
    let name: String = service
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SKIFF_{name}_")
}

/// The host address a published port is reached at.
pub(crate) fn host_address(host_ip: &str) -> String {
    match host_ip {
        "" | "0.0.0.0" | "::" | "[::]" => "127.0.0.1".to_owned(),
        ip => ip.to_owned(),
    }
}

/// The text lines that say where each side reaches the other.
#[must_use]
pub fn reach_lines(reach: &[Reach]) -> Vec<String> {
    reach
        .iter()
        .map(|r| match r {
            Reach::ProcessToContainer {
                process,
                container,
                ports,
            } => {
                let prefix = env_prefix(container);
                match ports.first() {
                    None => format!(
                        "{process} -> {container}: not reachable from the host (no published port; \
                         add `ports: [\"<port>:<port>\"]` to {container})"
                    ),
                    Some(p) => {
                        let port = p
                            .published
                            .map_or_else(|| "<chosen at start>".to_owned(), |n| n.to_string());
                        format!(
                            "{process} -> {container}: {}:{port} (published){}  [{prefix}HOST, {prefix}PORT]",
                            host_address(&p.host_ip),
                            if ports.len() > 1 {
                                format!(", and {} more: {prefix}PORT_<container port>", ports.len() - 1)
                            } else {
                                String::new()
                            }
                        )
                    }
                }
            }
            Reach::ContainerToProcess {
                container,
                process,
                ports,
            } => {
                let at = ports
                    .first()
                    .map_or_else(|| process.clone(), |p| format!("{process}:{p}"));
                format!(
                    "{container} -> {process}: {at} through the host gateway \
                     (extra_hosts {process}:host-gateway; the process must listen on 0.0.0.0)"
                )
            }
        })
        .collect()
}

fn add_host_gateway(svc: &mut Value, host: &str) {
    let Some(m) = svc.as_object_mut() else { return };
    let hosts = m.entry("extra_hosts").or_insert_with(|| json!({}));
    if let Some(h) = hosts.as_object_mut() {
        h.entry(host.to_owned())
            .or_insert_with(|| json!(["host-gateway"]));
    }
}

fn dependencies(service: &ServiceConfig) -> Vec<Dependency> {
    service
        .depends_on
        .iter()
        .map(|(name, d)| Dependency {
            service: name.clone(),
            condition: match d.condition.as_str() {
                "service_healthy" => Condition::ServiceHealthy,
                "service_completed_successfully" => Condition::ServiceCompletedSuccessfully,
                _ => Condition::ServiceStarted,
            },
            required: d.required,
            restart: d.restart,
        })
        .collect()
}

fn published(service: &ServiceConfig) -> Vec<Published> {
    service
        .ports
        .iter()
        .filter(|p| p.protocol.is_empty() || p.protocol == "tcp")
        .map(|p| Published {
            host_ip: p.host_ip.clone(),
            published: p.published.parse().ok(),
            target: p.target,
        })
        .collect()
}

/// A service's declared restart policy, as docker compose reads it; an invalid one counts as
/// `no` here (the runtimes report it).
fn declared_restart(s: &ServiceConfig) -> Option<Restart> {
    let deploy = s
        .deploy
        .as_ref()
        .and_then(|d| d.restart_policy.as_ref())
        .map(|p| (p.condition.as_str(), p.max_attempts));
    Restart::declared(&s.restart, deploy).unwrap_or(Some(Restart::No))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_prefixes_are_shell_names() {
        assert_eq!(env_prefix("db"), "SKIFF_DB_");
        assert_eq!(env_prefix("my-cache.v2"), "SKIFF_MY_CACHE_V2_");
    }

    #[test]
    fn reach_lines_say_where_and_how() {
        let lines = reach_lines(&[
            Reach::ProcessToContainer {
                process: "api".into(),
                container: "db".into(),
                ports: vec![Published {
                    host_ip: String::new(),
                    published: Some(5432),
                    target: 5432,
                }],
            },
            Reach::ProcessToContainer {
                process: "api".into(),
                container: "cache".into(),
                ports: Vec::new(),
            },
            Reach::ContainerToProcess {
                container: "worker".into(),
                process: "api".into(),
                ports: vec![8080],
            },
        ]);
        assert_eq!(
            lines[0],
            "api -> db: 127.0.0.1:5432 (published)  [SKIFF_DB_HOST, SKIFF_DB_PORT]"
        );
        assert!(lines[1].starts_with("api -> cache: not reachable from the host"));
        assert!(lines[2].starts_with("worker -> api: api:8080 through the host gateway"));
    }

    #[test]
    fn host_gateway_is_added_once() {
        let mut svc = json!({"image": "x", "extra_hosts": {"other": ["10.0.0.1"]}});
        add_host_gateway(&mut svc, "api");
        add_host_gateway(&mut svc, "api");
        assert_eq!(
            svc["extra_hosts"],
            json!({"other": ["10.0.0.1"], "api": ["host-gateway"]})
        );
    }
}
