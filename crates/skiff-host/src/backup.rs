//! The host side of backups: the declaration of `x-skiff.backups` resolved against the stack
//! (paths against the project directory, a volume to its mountpoint, a database service to its
//! running container or its port), volumes kept consistent (services paused while archived),
//! PostgreSQL's tools run in the service's container (`docker exec`), and the runs the daemon
//! makes on a backup's schedule, as history events. The work itself is `skiff-backup`'s; the
//! binary draws progress and asks before overwriting live data.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use skiff_backup::{
    BackupError, CommandRunner, Connection, Job, Kind, LocalRunner, Opener, Postgres, Reporter,
    Repository, Scratch, Sealer, Silent, Snapshot,
};
use skiff_compose::extension::{BackupSource, Extensions};
use skiff_model::xskiff::{Backup, Consistency, Runtime};

/// A backup operation that failed: what happened, and what to do about it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
pub struct Failure {
    pub message: String,
    #[help]
    pub help: Option<String>,
}

/// A [`Failure`] from a format string, with `help = ...` first when there is a fix.
macro_rules! failure {
    (help = $help:expr, $($fmt:tt)+) => {
        Failure { message: format!($($fmt)+), help: Some(($help).to_string()) }
    };
    ($($fmt:tt)+) => {
        Failure { message: format!($($fmt)+), help: None }
    };
}

/// What backups return.
pub type Result<T> = std::result::Result<T, Failure>;

/// What the daemon runs on a backup's own schedule: the backup (`drill: false`) or its
/// restore drill (`drill: true`), for a stack handed to it, as the history event that says
/// how it went. Runs on a thread of its own (it drives the engine with its own runtime).
#[must_use]
pub fn scheduled(
    source: &crate::stack::StackSource,
    name: &str,
    drill: bool,
) -> skiff_store::Event {
    let stack = Stack::from_source(source);
    if drill {
        let result = stack.and_then(|s| drill_one(&s, name, &Silent));
        drill_event(&source.name, name, &result, "schedule")
    } else {
        let result = stack.and_then(|s| run_one(&s, name, s.backup(name)?, &Silent));
        backup_event(&source.name, name, &result, "schedule")
    }
}

/// The history event of a backup run.
pub fn backup_event(
    project: &str,
    name: &str,
    result: &Result<Vec<Snapshot>>,
    trigger: &str,
) -> skiff_store::Event {
    use skiff_store::{Event, Kind};
    let (kind, detail) = match result {
        Ok(snaps) => (
            Kind::BackupSucceeded,
            serde_json::json!({
                "backup": name,
                "snapshots": snaps.iter().map(|s| serde_json::json!({"id": s.id, "size": s.size, "added": s.added})).collect::<Vec<_>>(),
                "size": snaps.first().map_or(0, |s| s.size),
            }),
        ),
        Err(e) => (
            Kind::BackupFailed,
            serde_json::json!({"backup": name, "error": e.to_string()}),
        ),
    };
    Event::new(chrono::Utc::now(), kind)
        .project(project)
        .trigger(trigger)
        .detail(detail)
}

/// The history event of a restore drill.
pub fn drill_event(
    project: &str,
    name: &str,
    result: &Result<skiff_backup::DrillReport>,
    trigger: &str,
) -> skiff_store::Event {
    use skiff_store::{Event, Kind};
    let (kind, detail) = match result {
        Ok(report) if report.passed => (
            Kind::Verified,
            serde_json::json!({"backup": name, "snapshot": report.snapshot, "checks": report.checks, "restored_bytes": report.restored_bytes}),
        ),
        Ok(report) => (
            Kind::VerifyFailed,
            serde_json::json!({"backup": name, "snapshot": report.snapshot, "checks": report.checks}),
        ),
        Err(e) => (
            Kind::VerifyFailed,
            serde_json::json!({"backup": name, "error": e.to_string()}),
        ),
    };
    Event::new(chrono::Utc::now(), kind)
        .project(project)
        .trigger(trigger)
        .detail(detail)
}

/// How long a backup waits for a prune that is deleting unreferenced data in a destination.
pub const PRUNE_WAIT: Duration = Duration::from_secs(15 * 60);

/// The loaded stack, and the engine once a volume or a container needs it.
pub struct Stack {
    pub name: String,
    /// The project directory: relative paths of the file are relative to it.
    pub working_dir: String,
    /// What `~` means in a path.
    pub home: Option<String>,
    pub backups: BTreeMap<String, Backup>,
    services: BTreeMap<String, skiff_model::xskiff::ServiceExtension>,
    pub project: skiff_model::compose::Project,
    engine: Mutex<Option<(tokio::runtime::Runtime, skiff_docker::Engine)>>,
}

impl Stack {
    /// The stack the command line loaded.
    pub fn from_loaded(loaded: skiff_compose::Loaded) -> Stack {
        Stack::new(
            loaded.name,
            loaded.working_dir,
            loaded.extensions,
            loaded.project,
        )
    }

    /// The stack the daemon was handed (checked when it was loaded; checked again here).
    pub fn from_source(source: &crate::stack::StackSource) -> Result<Stack> {
        let project = skiff_model::compose::project_from_value(source.canonical.clone())
            .map_err(|e| failure!("the stack {} does not decode: {e}", source.name))?;
        let extensions = skiff_compose::extension::decode_json(&source.canonical, &source.left_out)
            .map_err(|e| failure!("{e}"))?;
        Ok(Stack::new(
            source.name.clone(),
            source.working_dir.clone(),
            extensions,
            project,
        ))
    }

    fn new(
        name: String,
        working_dir: String,
        extensions: Extensions,
        project: skiff_model::compose::Project,
    ) -> Stack {
        Stack {
            name,
            working_dir,
            home: std::env::var("HOME").ok(),
            backups: extensions.project.backups,
            services: extensions.services,
            project,
            engine: Mutex::new(None),
        }
    }

    pub fn backup(&self, name: &str) -> Result<&Backup> {
        self.backups.get(name).ok_or_else(|| self.undeclared(name))
    }

    pub fn undeclared(&self, name: &str) -> Failure {
        let known: Vec<&str> = self.backups.keys().map(String::as_str).collect();
        failure!(
            help = if known.is_empty() {
                "declare backups under x-skiff.backups".to_owned()
            } else {
                format!("declared: {}", known.join(", "))
            },
            "no backup {name:?} in x-skiff.backups"
        )
    }

    pub fn selected(&self, name: Option<&str>) -> Result<Vec<(&String, &Backup)>> {
        match name {
            Some(n) => self
                .backups
                .get_key_value(n)
                .map(|found| vec![found])
                .ok_or_else(|| self.undeclared(n)),
            None if self.backups.is_empty() => Err(failure!(
                help = "declare backups under x-skiff.backups",
                "this stack declares no backups"
            )),
            None => Ok(self.backups.iter().collect()),
        }
    }

    /// A path of the file, resolved against the project directory.
    pub fn resolve(&self, p: &str) -> PathBuf {
        absolute(&self.working_dir, self.home.as_deref(), p)
    }

    /// Runs an engine call, connecting on first use.
    pub fn engine<T>(
        &self,
        f: impl AsyncFnOnce(&skiff_docker::Engine) -> std::result::Result<T, skiff_docker::EngineError>,
    ) -> Result<T> {
        let mut slot = self
            .engine
            .lock()
            .map_err(|_| failure!("the engine connection was poisoned"))?;
        let (rt, engine) = match slot.take() {
            Some(connected) => connected,
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| failure!("{e}"))?;
                let engine = rt.block_on(connect())?;
                (rt, engine)
            }
        };
        let result = rt.block_on(f(&engine));
        *slot = Some((rt, engine));
        result.map_err(|e| failure!("{e}"))
    }

    /// The engine's name of a volume of the stack.
    pub fn volume_name(&self, volume: &str) -> Result<String> {
        self.project
            .volumes
            .get(volume)
            .map(|v| v.name.clone())
            .ok_or_else(|| {
                failure!(
                    help = "a `volume:` backup names a key of the top-level `volumes:`",
                    "the stack declares no volume {volume:?}"
                )
            })
    }

    pub fn sealer(&self, name: &str, b: &Backup) -> Result<Sealer> {
        match &b.encrypt {
            Some(e) => {
                Sealer::encrypted(&e.recipients).map_err(|e| diag(&format!("backup {name}"), e))
            }
            None => Ok(Sealer::plain()),
        }
    }

    pub fn opener(&self, name: &str, b: &Backup, snap: &Snapshot) -> Result<Opener> {
        if !snap.encrypted {
            return Ok(Opener::none());
        }
        let Some(file) = b.encrypt.as_ref().and_then(|e| e.identity_file.as_ref()) else {
            return Err(failure!(
                help = "set x-skiff.backups.{name}.encrypt.identity_file to the age identity (kept off the backup host when you can)",
                "backup {name} is encrypted and no identity file is declared"
            ));
        };
        Opener::from_file(&self.resolve(file)).map_err(|e| diag(&format!("backup {name}"), e))
    }

    pub fn s3(b: &Backup) -> skiff_backup::S3Settings {
        let s = b.s3.clone().unwrap_or_default();
        skiff_backup::S3Settings {
            credentials: None,
            endpoint: s.endpoint,
            region: s.region,
            allow_http: s.allow_http,
            virtual_hosted: s.virtual_hosted,
        }
    }

    pub fn destination(&self, d: &str) -> String {
        if d.contains("://") {
            d.to_owned()
        } else {
            self.resolve(d).display().to_string()
        }
    }

    /// Opens a destination to read; errors start with `context`.
    pub fn open(&self, context: &str, b: &Backup, d: &str) -> Result<Repository> {
        let fail = |e| diag(context, e);
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(fail)?;
        Repository::open(store).map_err(fail)
    }

    pub fn open_for_backup(
        &self,
        name: &str,
        b: &Backup,
        d: &str,
        sealer: &Sealer,
    ) -> Result<Repository> {
        let fail = |e| diag(&format!("backup {name}"), e);
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(fail)?;
        Repository::open_for_backup(store, sealer).map_err(fail)
    }

    /// The database a backup's `postgres:` names, and how its tools run.
    pub fn postgres(&self, name: &str, b: &Backup) -> Result<Postgres> {
        self.postgres_at(name, source(name, b)?)
    }

    pub fn postgres_at(&self, name: &str, source: BackupSource<'_>) -> Result<Postgres> {
        match source {
            BackupSource::PostgresUrl(url) => Ok(Postgres {
                connection: Connection::from_url(url)
                    .map_err(|e| diag(&format!("backup {name}"), e))?,
                runner: Box::new(LocalRunner::default()),
            }),
            BackupSource::PostgresService {
                service,
                database,
                user,
            } => self.postgres_service(name, service, database, user),
            BackupSource::Volume(_) | BackupSource::Path(_) => Err(failure!(
                help =
                    "restore its PostgreSQL backups with --into postgres://... or --into SERVICE",
                "backup {name} is declared as a directory backup, not a PostgreSQL one"
            )),
        }
    }

    pub fn postgres_service(
        &self,
        name: &str,
        service: &str,
        database: Option<&str>,
        user: Option<&str>,
    ) -> Result<Postgres> {
        let svc = self.project.services.get(service).ok_or_else(|| {
            failure!(
                help = format!(
                    "services: {}",
                    self.project
                        .services
                        .keys()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                "backup {name}: the stack has no service {service:?}"
            )
        })?;
        let env = |k: &str| svc.environment.get(k).cloned().flatten();
        let user = user.map(str::to_owned).or_else(|| env("POSTGRES_USER"));
        let database = database
            .map(str::to_owned)
            .or_else(|| env("POSTGRES_DB"))
            .or_else(|| user.clone())
            .unwrap_or_else(|| "postgres".to_owned());
        let is_process = self
            .services
            .get(service)
            .is_some_and(|x| x.runtime == Runtime::Process);
        if is_process {
            let port = svc
                .ports
                .first()
                .and_then(|p| {
                    p.published
                        .parse::<u16>()
                        .ok()
                        .or(u16::try_from(p.target).ok())
                })
                .unwrap_or(5432);
            let password = env("PGPASSWORD").or_else(|| env("POSTGRES_PASSWORD"));
            return Ok(Postgres {
                connection: Connection::from_parts(
                    &database,
                    user.as_deref(),
                    Some("127.0.0.1"),
                    Some(port),
                )
                .with_password(password),
                runner: Box::new(LocalRunner::default()),
            });
        }
        // The service's own running container: not a one-off (`skiff run`) of it.
        let (observed, host) =
            self.engine(async |e| Ok((e.observe(&self.name).await?, e.host.clone())))?;
        let running = observed
            .instances
            .into_iter()
            .find(|i| i.service == service && i.state == skiff_plan::State::Running)
            .ok_or_else(|| {
                failure!(
                    help = format!("start it: skiff up -d {service}"),
                    "backup {name}: service {service} has no running container"
                )
            })?;
        Ok(Postgres {
            connection: Connection::from_parts(&database, user.as_deref(), None, None),
            runner: Box::new(DockerExec {
                container: running.id,
                name: running.name,
                docker: PathBuf::from("docker"),
                host,
            }),
        })
    }

    /// Pauses (or stops) the running containers that use a volume, runs `f`, and resumes
    /// them whatever `f` returned.
    pub fn with_volume_quiet<T>(
        &self,
        volume: &str,
        how: Quiet,
        f: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        let users = self.engine(async |e| e.volume_users(&self.name, volume).await)?;
        let running: Vec<_> = users.into_iter().filter(|c| c.state == "running").collect();
        let mut done = Vec::new();
        let mut failed = None;
        for c in &running {
            let r = match how {
                Quiet::Pause => self.engine(async |e| e.pause(&c.id).await),
                Quiet::Stop => self.engine(async |e| e.stop(&c.id, None).await),
            };
            match r {
                Ok(()) => done.push(c),
                Err(e) => {
                    failed = Some(e);
                    break;
                }
            }
        }
        let result = match failed {
            Some(e) => Err(e),
            None => f(),
        };
        let mut resume_errors = Vec::new();
        for c in done {
            let r = match how {
                Quiet::Pause => self.engine(async |e| e.unpause(&c.id).await),
                Quiet::Stop => self.engine(async |e| e.start(&c.id).await),
            };
            if let Err(e) = r {
                resume_errors.push(format!("{}: {e}", c.name));
            }
        }
        if !resume_errors.is_empty() {
            return Err(failure!(
                "could not resume the containers using volume {volume}: {}",
                resume_errors.join("; ")
            ));
        }
        result
    }
}

/// `p` as an absolute path, as Compose resolves the paths of a file: `~` is the home
/// directory, a relative path is relative to `working_dir`; `.` and `..` are applied.
pub fn absolute(working_dir: &str, home: Option<&str>, p: &str) -> PathBuf {
    PathBuf::from(skiff_compose::paths::Resolver { working_dir, home }.abs(p))
}

/// What a backup reads. The loader refuses a declaration that names no source or several,
/// so this fails only for a stack that bypassed it.
fn source<'a>(name: &str, b: &'a Backup) -> Result<BackupSource<'a>> {
    BackupSource::of(b).ok_or_else(|| {
        failure!(
            help = "write exactly one of postgres: (with a url or a service), volume: or path:",
            "backup {name} does not name exactly one thing to back up"
        )
    })
}

/// Runs PostgreSQL's tools inside a running container with `docker exec -i`, on the engine
/// skiff itself talks to.
#[derive(Debug, Clone)]
struct DockerExec {
    /// The container's id, which the tools run in.
    container: String,
    /// Its name, for messages.
    name: String,
    /// The docker CLI.
    docker: PathBuf,
    /// The engine skiff connected to, given to the CLI as `DOCKER_HOST`: the container is
    /// there, whatever the CLI's own context says.
    host: String,
}

impl CommandRunner for DockerExec {
    fn command(&self, program: &str, args: &[String], env: &[(String, String)]) -> Command {
        let mut c = Command::new(&self.docker);
        c.env("DOCKER_HOST", &self.host);
        c.arg("exec").arg("-i");
        for (k, v) in env {
            // `-e NAME` without a value passes the variable from docker's own environment:
            // a secret never appears in an argument list.
            c.arg("-e").arg(k);
            c.env(k, v);
        }
        c.arg(&self.container).arg(program).args(args);
        c
    }

    fn place(&self) -> String {
        format!(" in container {}", self.name)
    }

    fn spawned_program(&self, _program: &str) -> String {
        self.docker.display().to_string()
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Quiet {
    Pause,
    Stop,
}

/// A library error as a diagnostic: `context: error`, with the likely fix, and whether
/// retrying can help.
pub fn diag(context: &str, e: BackupError) -> Failure {
    let fix = match &e {
        BackupError::MissingProgram { .. } => {
            Some("install the PostgreSQL client tools (Debian: apt-get install postgresql-client)")
        }
        BackupError::WrongIdentity { .. } => {
            Some("encrypt.identity_file must hold the identity of one of encrypt.recipients")
        }
        BackupError::NoSpace { .. } => {
            Some("free space there (skiff backup prune), or back up elsewhere")
        }
        BackupError::Corrupt { .. } | BackupError::Mismatch { .. } => Some(
            "restore an older backup (--at ID) or from another destination; run skiff backup verify to check the others",
        ),
        BackupError::Remote { .. } => Some("check the endpoint and the AWS_* credentials"),
        BackupError::Pruning { .. } => Some(
            "a lock left by a prune that died on another host is ignored an hour after it was written",
        ),
        _ => None,
    };
    let help = match (e.is_retryable(), fix) {
        (true, Some(fix)) => Some(format!("retrying may help; {fix}")),
        (true, None) => Some("retrying may help".to_owned()),
        (false, fix) => fix.map(str::to_owned),
    };
    Failure {
        message: format!("{context}: {e}"),
        help,
    }
}

pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|d| d.join("skiff/backup"))
}

pub fn run_one(
    stack: &Stack,
    name: &str,
    b: &Backup,
    reporter: &dyn Reporter,
) -> Result<Vec<Snapshot>> {
    let context = format!("backup {name}");
    let fail = |e: BackupError| diag(&context, e);
    let source = source(name, b)?;
    let sealer = stack.sealer(name, b)?;
    let repos =
        b.to.iter()
            .map(|d| stack.open_for_backup(name, b, d, &sealer))
            .collect::<Result<Vec<_>>>()?;
    let mut job = Job {
        name,
        source: String::new(),
        sealer: &sealer,
        repos: &repos,
        reporter,
        now: chrono::Utc::now(),
        cache_dir: cache_dir(),
        prune_wait: PRUNE_WAIT,
    };
    match source {
        BackupSource::PostgresUrl(_) | BackupSource::PostgresService { .. } => {
            let pg = stack.postgres_at(name, source)?;
            job.source = format!("{}{}", pg.connection.label(), pg.runner.place());
            skiff_backup::backup_postgres(&job, &pg).map_err(fail)
        }
        BackupSource::Volume(volume) => {
            let engine_name = stack.volume_name(volume)?;
            let mountpoint = stack.engine(async |e| e.volume_mountpoint(&engine_name).await)?;
            job.source = format!("volume {engine_name}");
            // The library sees a directory: the volume's mountpoint (the engine's host).
            let archive =
                || skiff_backup::backup_directory(&job, Path::new(&mountpoint)).map_err(fail);
            match b.consistency.unwrap_or_default() {
                Consistency::Pause => stack.with_volume_quiet(&engine_name, Quiet::Pause, archive),
                Consistency::Snapshot => archive(),
            }
        }
        BackupSource::Path(path) => {
            let dir = stack.resolve(path);
            job.source = dir.display().to_string();
            skiff_backup::backup_directory(&job, &dir).map_err(fail)
        }
    }
}

/// Each destination's snapshots of one backup (or an error for that destination).
pub fn listing(stack: &Stack, name: &str, b: &Backup) -> Vec<(String, Result<Vec<Snapshot>>)> {
    let context = format!("list {name}");
    b.to.iter()
        .map(|d| {
            let snaps = stack
                .open(&context, b, d)
                .and_then(|r| r.snapshots(Some(name)).map_err(|e| diag(&context, e)));
            (stack.destination(d), snaps)
        })
        .collect()
}

pub fn find(
    stack: &Stack,
    name: &str,
    b: &Backup,
    at: Option<&str>,
) -> Result<(Repository, Snapshot)> {
    let context = format!("backup {name}");
    let mut errors = Vec::new();
    for d in &b.to {
        let found = stack.open(&context, b, d).and_then(|repo| {
            let snap = repo.snapshot(name, at).map_err(|e| diag(&context, e))?;
            Ok((repo, snap))
        });
        match found {
            Ok(found) => return Ok(found),
            Err(e) => errors.push(e),
        }
    }
    // One destination: its own error, with its help. Several: what each said.
    if errors.len() == 1 {
        return Err(errors.remove(0));
    }
    Err(failure!(
        "no destination of backup {name} has it:\n  {}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// Restores the newest backup into a scratch target and runs the declared checks.
pub fn drill_one(
    stack: &Stack,
    name: &str,
    reporter: &dyn Reporter,
) -> Result<skiff_backup::DrillReport> {
    let b = stack.backup(name)?;
    let (repo, snap) = find(stack, name, b, None)?;
    let opener = stack.opener(name, b, &snap)?;
    let checks = b
        .verify
        .as_ref()
        .map(|v| v.checks.clone())
        .unwrap_or_default();
    let pg;
    let scratch = match snap.kind {
        Kind::Postgres => {
            pg = stack.postgres(name, b)?;
            Scratch::Postgres(&pg)
        }
        Kind::Directory => Scratch::Directory(std::env::temp_dir()),
    };
    skiff_backup::drill(&repo, &snap, &opener, &checks, &scratch, reporter)
        .map_err(|e| diag(&format!("restore drill of {name}"), e))
}

/// The Docker Engine, as skiff finds it (DOCKER_HOST, the current context).
async fn connect() -> Result<skiff_docker::Engine> {
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    skiff_docker::Engine::connect(&env).await.map_err(|e| {
        failure!(
            help = "start the Docker Engine, or point DOCKER_HOST (or `docker context use`) at one",
            "{e}"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use miette::Diagnostic;

    #[test]
    fn paths_resolve_as_compose_resolves_them() {
        let home = Some("/home/ann");
        for (p, want) in [
            ("~/backups", "/home/ann/backups"),
            ("~", "/home/ann"),
            ("./data", "/srv/shop/data"),
            ("data/../uploads/.", "/srv/shop/uploads"),
            ("../elsewhere", "/srv/elsewhere"),
            ("/var/backups/skiff", "/var/backups/skiff"),
        ] {
            assert_eq!(absolute("/srv/shop", home, p), Path::new(want), "{p}");
        }
        // Without a home directory `~` is an ordinary name, as in Compose.
        assert_eq!(
            absolute("/srv/shop", None, "~/x"),
            Path::new("/srv/shop/~/x")
        );
    }

    #[test]
    fn docker_exec_passes_secrets_by_environment_to_skiffs_engine() {
        let r = DockerExec {
            container: "0123abcd".to_owned(),
            name: "shop-db-1".to_owned(),
            docker: "docker".into(),
            host: "unix:///run/user/1000/docker.sock".to_owned(),
        };
        let cmd = r.command(
            "pg_dump",
            &["--format=custom".to_owned()],
            &[("PGPASSWORD".to_owned(), "pw".to_owned())],
        );
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "exec",
                "-i",
                "-e",
                "PGPASSWORD",
                "0123abcd",
                "pg_dump",
                "--format=custom"
            ]
        );
        let envs: BTreeMap<String, String> = cmd
            .get_envs()
            .filter_map(|(k, v)| {
                Some((
                    k.to_string_lossy().into_owned(),
                    v?.to_string_lossy().into_owned(),
                ))
            })
            .collect();
        assert_eq!(
            envs,
            BTreeMap::from([
                (
                    "DOCKER_HOST".to_owned(),
                    "unix:///run/user/1000/docker.sock".to_owned()
                ),
                ("PGPASSWORD".to_owned(), "pw".to_owned()),
            ])
        );
        assert_eq!(r.place(), " in container shop-db-1");
    }

    #[test]
    fn a_library_error_is_one_line_with_its_help_apart() {
        let remote = diag(
            "backup files",
            BackupError::Remote {
                action: "write",
                key: "chunks/ab/abcd".to_owned(),
                location: "s3://b/p".to_owned(),
                message: "connection reset".to_owned(),
            },
        );
        assert_eq!(
            remote.to_string(),
            "backup files: object store s3://b/p: cannot write chunks/ab/abcd: connection reset"
        );
        let help = remote.help().map(|h| h.to_string());
        assert_eq!(
            help.as_deref(),
            Some("retrying may help; check the endpoint and the AWS_* credentials")
        );
        let corrupt = diag(
            "restore files",
            BackupError::Corrupt {
                what: "chunk",
                key: "chunks/ab/abcd".to_owned(),
                location: "/r".to_owned(),
                reason: "its checksum does not match".to_owned(),
            },
        );
        let help = corrupt.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(help.starts_with("restore an older backup"), "{help}");
        let missing = diag(
            "backup db",
            BackupError::NotFound {
                what: "of db".to_owned(),
                location: "/r".to_owned(),
            },
        );
        assert_eq!(missing.to_string(), "backup db: no backup of db in /r");
        assert!(missing.help().is_none());
    }
}
