//! A Compose service as a host process: Compose's own fields, read the way they mean the same
//! thing for a process as for a container.
//!
//! | Compose field            | for a process                                                |
//! |--------------------------|--------------------------------------------------------------|
//! | `command`, `entrypoint`  | argv = entrypoint + command (exec form; a string is split as |
//! |                          | Compose splits it); `x-skiff.command` replaces both          |
//! | `working_dir`            | relative to the project directory; default the project dir   |
//! | `environment`, `env_file`| the process's environment (the loader merged them), plus a   |
//! |                          | few variables of skiff's own environment ([`INHERITED_ENV`]) |
//! | `healthcheck`            | `CMD` and `CMD-SHELL` run on the host, Docker's semantics     |
//! | `restart`                | the supervisor's [`RestartPolicy`]                           |
//! | `stop_signal`,           | sent to the process group, then SIGKILL after the grace      |
//! | `stop_grace_period`      |                                                              |
//! | `deploy.replicas`/`scale`| the number of instances                                      |
//! | `container_name`         | the instance's name                                          |
//! | `ports`                  | informational: where the process listens                     |
//!
//! `image`, `build`, `networks`, `labels`, `pull_policy`, `profiles`, `depends_on` and `x-*`
//! keys are accepted (the last three are the planner's and the loader's); any other field is
//! something only a container can do and is refused by [`unsupported_fields`], before anything
//! runs.
//!
//! Environment values are secrets until proven otherwise: [`ProcessService::config`] (what
//! records keep and plans compare) holds a keyed digest of each value, never the value, and
//! the [`Debug`] output of a [`ProcessService`] leaves them out.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use skiff_model::compose::ServiceConfig;
use skiff_model::xskiff::{Native, ServiceExtension};

use crate::health::{HealthTest, Healthcheck};
use crate::supervisor::RestartPolicy;
use crate::{Signal, parse_signal};

/// Variables of skiff's own environment that every process gets (unless its `environment`
/// sets them): what a program needs to behave as it does in the user's shell. Anything else
/// is named in `environment` (a bare `- NAME` passes skiff's value, as in Compose).
pub const INHERITED_ENV: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "TERM",
    "TZ",
    "TMPDIR",
    "XDG_RUNTIME_DIR",
];

/// Compose's default grace period.
const DEFAULT_GRACE: Duration = Duration::from_secs(10);

/// Fields a declared process service may carry besides those it runs with.
const ACCEPTED: &[&str] = &[
    "name",
    "command",
    "entrypoint",
    "working_dir",
    "environment",
    "env_file",
    "healthcheck",
    "restart",
    "depends_on",
    "stop_signal",
    "stop_grace_period",
    "deploy",
    "scale",
    "profiles",
    "container_name",
    "ports",
    "expose",
    "image",
    "build",
    "pull_policy",
    "networks",
    "labels",
    "annotations",
    "develop",
];

/// Fields of `deploy` a process service may set.
const ACCEPTED_DEPLOY: &[&str] = &["replicas", "mode", "labels"];

/// How a service came to run as a process.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// `x-skiff: {runtime: process}`.
    Declared(&'a ServiceExtension),
    /// `skiff up --native SERVICE`: a container service run by its `x-skiff.native` command.
    Native(&'a Native),
}

/// A field of a service that a host process cannot honour, or a value it cannot use.
pub use skiff_runtime::Unsupported;

/// A service resolved to run as host processes.
#[derive(Clone)]
pub struct ProcessService {
    pub name: String,
    pub replicas: u32,
    pub argv: Vec<String>,
    pub working_dir: PathBuf,
    /// The environment as declared; values are never printed or recorded.
    pub environment: BTreeMap<String, String>,
    pub healthcheck: Option<Healthcheck>,
    pub restart: RestartPolicy,
    pub stop_signal: Signal,
    pub stop_grace_period: Duration,
    /// `container_name`, if set.
    pub fixed_name: Option<String>,
    /// Where it listens, from `ports` (informational).
    pub ports: Vec<u16>,
    /// Run by `--native`.
    pub native: bool,
    /// What the planner compares and records keep: every field above that changes the
    /// process, environment values as digests.
    pub config: Value,
    /// SHA-256 of `config`.
    pub hash: String,
}

impl fmt::Debug for ProcessService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessService")
            .field("name", &self.name)
            .field("replicas", &self.replicas)
            .field("argv", &self.argv)
            .field("working_dir", &self.working_dir)
            .field("environment", &self.environment.keys().collect::<Vec<_>>())
            .field("healthcheck", &self.healthcheck)
            .field("restart", &self.restart)
            .field("stop_signal", &self.stop_signal)
            .field("stop_grace_period", &self.stop_grace_period)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// The fields a declared process service sets that only a container can do, as paths under
/// the service (`cap_add`, `deploy.resources`), sorted.
#[must_use]
pub fn unsupported_fields(service: &ServiceConfig) -> Vec<String> {
    let Ok(Value::Object(json)) = serde_json::to_value(service) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in &json {
        if key.starts_with("x-") || ACCEPTED.contains(&key.as_str()) {
            if key == "deploy"
                && let Some(deploy) = value.as_object()
            {
                out.extend(
                    deploy
                        .iter()
                        .filter(|(k, v)| !ACCEPTED_DEPLOY.contains(&k.as_str()) && !is_empty(v))
                        .map(|(k, _)| format!("deploy.{k}")),
                );
            }
            continue;
        }
        if !is_empty(value) {
            out.push(key.clone());
        }
    }
    out.sort();
    out
}

/// Go prints some structs even when nothing in them is set (`deploy.placement: {}`).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(m) => m.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

impl ProcessService {
    /// Resolves a service to run as processes. `project_dir` anchors relative working
    /// directories.
    ///
    /// # Errors
    /// No command, an unknown stop signal or restart policy, a healthcheck test that is not
    /// `CMD`, `CMD-SHELL` or `NONE`.
    pub fn from_compose(
        service: &ServiceConfig,
        origin: Origin<'_>,
        project_dir: &Path,
    ) -> Result<ProcessService, Vec<Unsupported>> {
        let name = service.name.clone();
        let mut errors = Vec::new();
        let unsupported = |field: &str, message: String| Unsupported {
            service: name.clone(),
            field: field.to_owned(),
            message,
        };
        let (argv, working_dir, environment) = match origin {
            Origin::Declared(ext) => {
                let argv = if ext.command.is_empty() {
                    let mut argv = service.entrypoint.clone().unwrap_or_default();
                    argv.extend(service.command.clone().unwrap_or_default());
                    argv
                } else {
                    ext.command.clone()
                };
                (
                    argv,
                    resolve_dir(project_dir, &service.working_dir),
                    declared_env(service),
                )
            }
            Origin::Native(native) => {
                let mut env = declared_env(service);
                env.extend(native.environment.clone());
                (
                    native.command.clone(),
                    resolve_dir(project_dir, native.working_dir.as_deref().unwrap_or("")),
                    env,
                )
            }
        };
        if argv.is_empty() {
            errors.push(unsupported(
                "command",
                "a process service needs a command (`command:`, `entrypoint:` or \
                 `x-skiff.command`)"
                    .into(),
            ));
        }
        let stop_signal = if service.stop_signal.is_empty() {
            Signal::SIGTERM
        } else {
            parse_signal(&service.stop_signal).unwrap_or_else(|e| {
                errors.push(unsupported("stop_signal", e.to_string()));
                Signal::SIGTERM
            })
        };
        let restart = service
            .restart
            .parse::<RestartPolicy>()
            .unwrap_or_else(|e| {
                errors.push(unsupported("restart", e.to_string()));
                RestartPolicy::No
            });
        let healthcheck = healthcheck(service).unwrap_or_else(|message| {
            errors.push(unsupported("healthcheck.test", message));
            None
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        let stop_grace_period = service
            .stop_grace_period
            .map_or(DEFAULT_GRACE, skiff_model::compose::Duration::to_std);
        let replicas = service
            .deploy
            .as_ref()
            .and_then(|d| d.replicas)
            .or(service.scale)
            .and_then(|r| u32::try_from(r).ok())
            .unwrap_or(1);
        let ports = service
            .ports
            .iter()
            .filter_map(|p| {
                p.published
                    .parse::<u16>()
                    .ok()
                    .or_else(|| u16::try_from(p.target).ok())
            })
            .collect();
        let mut resolved = ProcessService {
            name,
            replicas,
            argv,
            working_dir,
            environment,
            healthcheck,
            restart,
            stop_signal,
            stop_grace_period,
            fixed_name: Some(service.container_name.clone()).filter(|n| !n.is_empty()),
            ports,
            native: matches!(origin, Origin::Native(_)),
            config: Value::Null,
            hash: String::new(),
        };
        resolved.config = resolved.planned_config();
        resolved.hash = hex::encode(Sha256::digest(resolved.config.to_string().as_bytes()));
        Ok(resolved)
    }

    /// The configuration as the planner compares it: no environment value, only digests.
    fn planned_config(&self) -> Value {
        let environment: serde_json::Map<String, Value> = self
            .environment
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(env_digest(&self.name, k, v))))
            .collect();
        let healthcheck = self.healthcheck.as_ref().map(|h| {
            let test = match &h.test {
                HealthTest::Cmd(argv) => {
                    let mut t = vec!["CMD".to_owned()];
                    t.extend(argv.iter().cloned());
                    t
                }
                HealthTest::Shell(script) => vec!["CMD-SHELL".to_owned(), script.clone()],
            };
            json!({
                "test": test,
                "interval": go(h.interval),
                "timeout": go(h.timeout),
                "retries": h.retries,
                "start_period": go(h.start_period),
                "start_interval": go(h.start_interval),
            })
        });
        json!({
            "runtime": if self.native { "native" } else { "process" },
            "command": self.argv,
            "working_dir": self.working_dir,
            "environment": environment,
            "healthcheck": healthcheck,
            "restart": self.restart.to_string(),
            "stop_signal": self.stop_signal.as_str(),
            "stop_grace_period": go(self.stop_grace_period),
        })
    }
}

fn go(d: Duration) -> String {
    skiff_model::xskiff::format_go_duration(d)
}

fn resolve_dir(project_dir: &Path, dir: &str) -> PathBuf {
    if dir.is_empty() {
        project_dir.to_path_buf()
    } else {
        project_dir.join(dir)
    }
}

/// `environment` (with `env_file` merged in by the loader); a variable without a value is
/// unset, as Compose leaves it.
fn declared_env(service: &ServiceConfig) -> BTreeMap<String, String> {
    service
        .environment
        .iter()
        .filter(|(k, _)| !k.starts_with('#'))
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect()
}

/// The healthcheck, `None` when there is none or it is disabled.
fn healthcheck(service: &ServiceConfig) -> Result<Option<Healthcheck>, String> {
    let Some(config) = service.healthcheck.as_ref() else {
        return Ok(None);
    };
    if config.disable {
        return Ok(None);
    }
    let test = match config.test.split_first() {
        None => return Ok(None),
        Some((kind, _)) if kind == "NONE" => return Ok(None),
        Some((kind, rest)) if kind == "CMD" => {
            if rest.is_empty() {
                return Err("`CMD` needs a command after it".into());
            }
            HealthTest::Cmd(rest.to_vec())
        }
        Some((kind, rest)) if kind == "CMD-SHELL" => HealthTest::Shell(rest.join(" ")),
        Some((kind, _)) => {
            return Err(format!(
                "a test starts with CMD, CMD-SHELL or NONE, not {kind:?}"
            ));
        }
    };
    let mut check = Healthcheck::new(test);
    let d = |v: Option<skiff_model::compose::Duration>, default: Duration| {
        v.map_or(default, skiff_model::compose::Duration::to_std)
    };
    check.interval = d(config.interval, check.interval);
    check.timeout = d(config.timeout, check.timeout);
    check.start_period = d(config.start_period, check.start_period);
    check.start_interval = d(config.start_interval, check.start_interval);
    if let Some(r) = config.retries {
        check.retries = u32::try_from(r).unwrap_or(u32::MAX);
    }
    Ok(Some(check))
}

/// A digest of one environment value, keyed by this machine's id, the service and the
/// variable: equal values give equal digests on this machine (so plans see which variable
/// changed), and a digest says nothing elsewhere.
#[must_use]
pub fn env_digest(service: &str, key: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"skiff-env/1\0");
    h.update(machine_key().as_bytes());
    for part in [service, key, value] {
        h.update([0]);
        h.update(part.as_bytes());
    }
    format!("sha256:{}", &hex::encode(h.finalize())[..16])
}

fn machine_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|p| std::fs::read_to_string(p).ok())
            .map(|s| s.trim().to_owned())
            .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service(yaml: serde_json::Value) -> ServiceConfig {
        let mut project = json!({"name": "p", "services": {"s": yaml}});
        if let Some(s) = project.pointer_mut("/services/s")
            && s.get("image").is_none()
        {
            s["image"] = json!("unused");
        }
        skiff_model::compose::project_from_value(project)
            .expect("valid")
            .services
            .remove("s")
            .expect("service")
    }

    fn declared(yaml: serde_json::Value) -> Result<ProcessService, Vec<Unsupported>> {
        let ext = ServiceExtension::default();
        ProcessService::from_compose(&service(yaml), Origin::Declared(&ext), Path::new("/p"))
    }

    #[test]
    fn compose_fields_become_the_process() {
        let s = declared(json!({
            "entrypoint": ["/bin/sh", "-c"],
            "command": ["echo hi"],
            "working_dir": "sub",
            "environment": {"A": "1", "UNSET": null},
            "restart": "on-failure:3",
            "stop_signal": "INT",
            "stop_grace_period": "3s",
            "deploy": {"replicas": 2},
            "healthcheck": {"test": ["CMD-SHELL", "true"], "interval": "1s", "retries": 5},
        }))
        .expect("ok");
        assert_eq!(s.argv, ["/bin/sh", "-c", "echo hi"]);
        assert_eq!(s.working_dir, Path::new("/p/sub"));
        assert_eq!(s.environment, BTreeMap::from([("A".into(), "1".into())]));
        assert_eq!(
            s.restart,
            RestartPolicy::OnFailure {
                max_retries: Some(3)
            }
        );
        assert_eq!(s.stop_signal, Signal::SIGINT);
        assert_eq!(s.stop_grace_period, Duration::from_secs(3));
        assert_eq!(s.replicas, 2);
        let h = s.healthcheck.expect("healthcheck");
        assert_eq!(h.test, HealthTest::Shell("true".into()));
        assert_eq!((h.interval, h.retries), (Duration::from_secs(1), 5));
    }

    #[test]
    fn string_commands_are_split_as_compose_splits_them() {
        let s = declared(json!({"command": "sh -c 'echo a b'"})).expect("ok");
        assert_eq!(s.argv, ["sh", "-c", "echo a b"]);
    }

    #[test]
    fn environment_values_never_reach_the_config() {
        let s =
            declared(json!({"command": ["x"], "environment": {"TOKEN": "hunter2"}})).expect("ok");
        let text = s.config.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!format!("{s:?}").contains("hunter2"));
        assert!(text.contains("TOKEN"));
        let other =
            declared(json!({"command": ["x"], "environment": {"TOKEN": "hunter3"}})).expect("ok");
        assert_ne!(s.hash, other.hash);
        assert_eq!(
            skiff_plan::changed_fields(&s.config, &other.config),
            ["environment.TOKEN"]
        );
        let same =
            declared(json!({"command": ["x"], "environment": {"TOKEN": "hunter2"}})).expect("ok");
        assert_eq!(s.hash, same.hash);
    }

    #[test]
    fn replicas_do_not_change_the_hash() {
        let one = declared(json!({"command": ["x"]})).expect("ok");
        let three = declared(json!({"command": ["x"], "deploy": {"replicas": 3}})).expect("ok");
        assert_eq!(one.hash, three.hash);
    }

    #[test]
    fn bad_values_are_reported_by_field() {
        let errors =
            declared(json!({"restart": "sometimes", "stop_signal": "NOPE"})).expect_err("invalid");
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["command", "stop_signal", "restart"]);
    }

    #[test]
    fn container_only_fields_are_listed() {
        let s = service(json!({
            "command": ["x"],
            "cap_add": ["NET_ADMIN"],
            "volumes": [{"type": "bind", "source": "/a", "target": "/b"}],
            "deploy": {"replicas": 2, "resources": {"limits": {"cpus": "1"}}},
            "environment": {"A": "1"},
        }));
        assert_eq!(
            unsupported_fields(&s),
            ["cap_add", "deploy.resources", "volumes"]
        );
    }

    #[test]
    fn native_uses_its_own_command_and_adds_environment() {
        let native = Native {
            command: vec!["cargo".into(), "run".into()],
            working_dir: Some("api".into()),
            environment: BTreeMap::from([("B".into(), "2".into())]),
        };
        let s = ProcessService::from_compose(
            &service(json!({"command": ["serve"], "environment": {"A": "1"}})),
            Origin::Native(&native),
            Path::new("/p"),
        )
        .expect("ok");
        assert_eq!(s.argv, ["cargo", "run"]);
        assert_eq!(s.working_dir, Path::new("/p/api"));
        assert_eq!(s.environment.len(), 2);
        assert!(s.native);
    }
}
