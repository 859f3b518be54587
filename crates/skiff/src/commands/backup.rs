//! `skiff backup`: run, list, restore, verify and prune the backups declared in
//! `x-skiff.backups`. The work is `skiff-backup`'s; this module resolves the declaration
//! against the stack (paths against the project directory, a volume to its mountpoint, a
//! database service to its running container or its port), keeps volumes consistent
//! (services paused while archived, stopped while restored), asks before overwriting live
//! data, and draws progress.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Mutex;
use std::time::Duration;

use miette::{IntoDiagnostic, miette};
use skiff_backup::{
    BackupError, CommandRunner, Connection, Job, Kind, LocalRunner, Opener, Postgres, Progress,
    Reporter, Repository, RestoreMode, Scratch, Sealer, Silent, Snapshot,
};
use skiff_compose::extension::{BackupSource, Extensions};
use skiff_model::xskiff::{Backup, Consistency, Runtime};

use crate::cli::{OutputFormat, ProjectArgs};
use crate::commands::{size, write_stdout};
use crate::diagnostic::report;

const EXAMPLES: &str = "\
Examples:
  skiff backup run                     back up everything declared in x-skiff.backups
  skiff backup run appdb               one backup
  skiff backup list                    every backup in every destination
  skiff backup restore appdb           restore the newest appdb backup over the live database
  skiff backup restore uploads --at 20250102T030000Z --into ./restored
  skiff backup verify appdb            restore drill: scratch database, checks, dropped
  skiff backup prune --dry-run         what retention (keep:) would remove

Credentials: s3:// destinations read AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; a database
password comes from its URL or PGPASSWORD; restores and drills of encrypted backups need
encrypt.identity_file.";

/// Backups declared in `x-skiff.backups`: run, list, restore, verify (restore drills), prune.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupCommand {
    /// Back up now: every declared backup, or NAME.
    ///
    /// A backup is published only once all its data is stored; an interrupted or failed one
    /// never appears in `list` and never removes an older one. A volume of a running service
    /// is archived with the services using it paused (`consistency: pause`, the default).
    Run {
        /// The backup to run (a key of x-skiff.backups); all when omitted.
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// List the backups stored in every destination.
    List {
        /// Only this backup.
        name: Option<String>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Restore a backup: the newest, or --at ID; over its source, or --into another target.
    ///
    /// Overwriting live data asks for confirmation on a terminal; without a terminal it is
    /// refused unless --yes is given. A database is restored in one transaction (a failure
    /// leaves it as it was); a directory is restored and checked beside the target, then
    /// swapped in; the services using a volume are stopped while it is restored.
    #[command(
        after_help = "Examples:\n  skiff backup restore appdb\n  skiff backup restore appdb --at 20250102 --into postgres://app@127.0.0.1:5433/app_copy\n  skiff backup restore uploads --into ./uploads-restored --yes"
    )]
    Restore {
        /// The backup to restore.
        name: String,
        /// The snapshot id (or a unique prefix, such as a date `20250102`); default: newest.
        #[arg(long, value_name = "ID")]
        at: Option<String>,
        /// Where to restore: a service of the stack or a postgres:// URL (databases), a
        /// volume of the stack or a directory (files). Default: the backup's own source.
        #[arg(long, value_name = "SERVICE|PATH")]
        into: Option<String>,
        /// Do not ask before overwriting live data (for scripts).
        #[arg(long, short = 'y')]
        yes: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Restore drill: restore the newest backup into a scratch database or directory (never
    /// the live one), run the declared checks (verify.checks), remove the scratch.
    ///
    /// Exits 1 when a check fails.
    Verify {
        /// The backup to verify.
        name: String,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Apply retention (keep:) in every destination, then remove data no backup references.
    ///
    /// The newest backup of each name is always kept; backups without keep: are never pruned.
    Prune {
        /// Show what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
}

/// Runs `skiff backup ...`.
///
/// # Errors
/// The project does not load, a backup is not declared, or the operation fails.
pub fn run(project: &ProjectArgs, args: &BackupArgs) -> miette::Result<ExitCode> {
    let req = crate::commands::config::request(project)?;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    let stack = Stack::from_loaded(loaded);
    match &args.command {
        BackupCommand::Run { name, format } => run_backups(&stack, name.as_deref(), *format),
        BackupCommand::List { name, format } => list(&stack, name.as_deref(), *format),
        BackupCommand::Restore {
            name,
            at,
            into,
            yes,
            format,
        } => restore(&stack, name, at.as_deref(), into.as_deref(), *yes, *format),
        BackupCommand::Verify { name, format } => verify(&stack, name, *format),
        BackupCommand::Prune { dry_run, format } => prune(&stack, *dry_run, *format),
    }
}

/// What the daemon runs on a backup's own schedule: the backup (`drill: false`) or its
/// restore drill (`drill: true`), for a stack handed to it, as the history event that says
/// how it went. Runs on a thread of its own (it drives the engine with its own runtime).
#[must_use]
pub fn scheduled(
    source: &crate::hybrid::StackSource,
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
fn backup_event(
    project: &str,
    name: &str,
    result: &miette::Result<Vec<Snapshot>>,
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
fn drill_event(
    project: &str,
    name: &str,
    result: &miette::Result<skiff_backup::DrillReport>,
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
const PRUNE_WAIT: Duration = Duration::from_secs(15 * 60);

/// The loaded stack, and the engine once a volume or a container needs it.
struct Stack {
    name: String,
    /// The project directory: relative paths of the file are relative to it.
    working_dir: String,
    /// What `~` means in a path.
    home: Option<String>,
    backups: BTreeMap<String, Backup>,
    services: BTreeMap<String, skiff_model::xskiff::ServiceExtension>,
    project: skiff_model::compose::Project,
    engine: Mutex<Option<(tokio::runtime::Runtime, skiff_docker::Engine)>>,
}

impl Stack {
    /// The stack the command line loaded.
    fn from_loaded(loaded: skiff_compose::Loaded) -> Stack {
        Stack::new(
            loaded.name,
            loaded.working_dir,
            loaded.extensions,
            loaded.project,
        )
    }

    /// The stack the daemon was handed (checked when it was loaded; checked again here).
    fn from_source(source: &crate::hybrid::StackSource) -> miette::Result<Stack> {
        let project = skiff_model::compose::project_from_value(source.canonical.clone())
            .map_err(|e| miette!("the stack {} does not decode: {e}", source.name))?;
        let extensions = skiff_compose::extension::decode_json(&source.canonical, &source.left_out)
            .map_err(|e| miette!("{e}"))?;
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

    fn backup(&self, name: &str) -> miette::Result<&Backup> {
        self.backups.get(name).ok_or_else(|| self.undeclared(name))
    }

    fn undeclared(&self, name: &str) -> miette::Report {
        let known: Vec<&str> = self.backups.keys().map(String::as_str).collect();
        miette!(
            help = if known.is_empty() {
                "declare backups under x-skiff.backups".to_owned()
            } else {
                format!("declared: {}", known.join(", "))
            },
            "no backup {name:?} in x-skiff.backups"
        )
    }

    fn selected(&self, name: Option<&str>) -> miette::Result<Vec<(&String, &Backup)>> {
        match name {
            Some(n) => self
                .backups
                .get_key_value(n)
                .map(|found| vec![found])
                .ok_or_else(|| self.undeclared(n)),
            None if self.backups.is_empty() => Err(miette!(
                help = "declare backups under x-skiff.backups",
                "this stack declares no backups"
            )),
            None => Ok(self.backups.iter().collect()),
        }
    }

    /// A path of the file, resolved against the project directory.
    fn resolve(&self, p: &str) -> PathBuf {
        absolute(&self.working_dir, self.home.as_deref(), p)
    }

    /// Runs an engine call, connecting on first use.
    fn engine<T>(
        &self,
        f: impl AsyncFnOnce(&skiff_docker::Engine) -> Result<T, skiff_docker::EngineError>,
    ) -> miette::Result<T> {
        let mut slot = self
            .engine
            .lock()
            .map_err(|_| miette!("the engine connection was poisoned"))?;
        let (rt, engine) = match slot.take() {
            Some(connected) => connected,
            None => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .into_diagnostic()?;
                let engine = rt.block_on(crate::commands::stack::connect())?;
                (rt, engine)
            }
        };
        let result = rt.block_on(f(&engine));
        *slot = Some((rt, engine));
        result.map_err(|e| miette!("{e}"))
    }

    /// The engine's name of a volume of the stack.
    fn volume_name(&self, volume: &str) -> miette::Result<String> {
        self.project
            .volumes
            .get(volume)
            .map(|v| v.name.clone())
            .ok_or_else(|| {
                miette!(
                    help = "a `volume:` backup names a key of the top-level `volumes:`",
                    "the stack declares no volume {volume:?}"
                )
            })
    }

    fn sealer(&self, name: &str, b: &Backup) -> miette::Result<Sealer> {
        match &b.encrypt {
            Some(e) => {
                Sealer::encrypted(&e.recipients).map_err(|e| diag(&format!("backup {name}"), e))
            }
            None => Ok(Sealer::plain()),
        }
    }

    fn opener(&self, name: &str, b: &Backup, snap: &Snapshot) -> miette::Result<Opener> {
        if !snap.encrypted {
            return Ok(Opener::none());
        }
        let Some(file) = b.encrypt.as_ref().and_then(|e| e.identity_file.as_ref()) else {
            return Err(miette!(
                help = "set x-skiff.backups.{name}.encrypt.identity_file to the age identity (kept off the backup host when you can)",
                "backup {name} is encrypted and no identity file is declared"
            ));
        };
        Opener::from_file(&self.resolve(file)).map_err(|e| diag(&format!("backup {name}"), e))
    }

    fn s3(b: &Backup) -> skiff_backup::S3Settings {
        let s = b.s3.clone().unwrap_or_default();
        skiff_backup::S3Settings {
            credentials: None,
            endpoint: s.endpoint,
            region: s.region,
            allow_http: s.allow_http,
            virtual_hosted: s.virtual_hosted,
        }
    }

    fn destination(&self, d: &str) -> String {
        if d.contains("://") {
            d.to_owned()
        } else {
            self.resolve(d).display().to_string()
        }
    }

    /// Opens a destination to read; errors start with `context`.
    fn open(&self, context: &str, b: &Backup, d: &str) -> miette::Result<Repository> {
        let fail = |e| diag(context, e);
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(fail)?;
        Repository::open(store).map_err(fail)
    }

    fn open_for_backup(
        &self,
        name: &str,
        b: &Backup,
        d: &str,
        sealer: &Sealer,
    ) -> miette::Result<Repository> {
        let fail = |e| diag(&format!("backup {name}"), e);
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(fail)?;
        Repository::open_for_backup(store, sealer).map_err(fail)
    }

    /// The database a backup's `postgres:` names, and how its tools run.
    fn postgres(&self, name: &str, b: &Backup) -> miette::Result<Postgres> {
        self.postgres_at(name, source(name, b)?)
    }

    fn postgres_at(&self, name: &str, source: BackupSource<'_>) -> miette::Result<Postgres> {
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
            BackupSource::Volume(_) | BackupSource::Path(_) => Err(miette!(
                help =
                    "restore its PostgreSQL backups with --into postgres://... or --into SERVICE",
                "backup {name} is declared as a directory backup, not a PostgreSQL one"
            )),
        }
    }

    fn postgres_service(
        &self,
        name: &str,
        service: &str,
        database: Option<&str>,
        user: Option<&str>,
    ) -> miette::Result<Postgres> {
        let svc = self.project.services.get(service).ok_or_else(|| {
            miette!(
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
                miette!(
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
    fn with_volume_quiet<T>(
        &self,
        volume: &str,
        how: Quiet,
        f: impl FnOnce() -> miette::Result<T>,
    ) -> miette::Result<T> {
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
            return Err(miette!(
                "could not resume the containers using volume {volume}: {}",
                resume_errors.join("; ")
            ));
        }
        result
    }
}

/// `p` as an absolute path, as Compose resolves the paths of a file: `~` is the home
/// directory, a relative path is relative to `working_dir`; `.` and `..` are applied.
fn absolute(working_dir: &str, home: Option<&str>, p: &str) -> PathBuf {
    PathBuf::from(skiff_compose::paths::Resolver { working_dir, home }.abs(p))
}

/// What a backup reads. The loader refuses a declaration that names no source or several,
/// so this fails only for a stack that bypassed it.
fn source<'a>(name: &str, b: &'a Backup) -> miette::Result<BackupSource<'a>> {
    BackupSource::of(b).ok_or_else(|| {
        miette!(
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
enum Quiet {
    Pause,
    Stop,
}

/// A library error as a diagnostic: `context: error`, with the likely fix, and whether
/// retrying can help.
fn diag(context: &str, e: BackupError) -> miette::Report {
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
    match help {
        Some(help) => miette!(help = help, "{context}: {e}"),
        None => miette!("{context}: {e}"),
    }
}

/// Progress on standard error: a bar on a terminal, plain lines otherwise.
struct Bars {
    live: bool,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Bars {
    fn new() -> Bars {
        Bars {
            live: crate::progress::redraws(),
            bar: Mutex::new(None),
        }
    }

    fn line(&self, text: &str) {
        if let Ok(b) = self.bar.lock()
            && let Some(bar) = b.as_ref()
        {
            bar.println(text);
            return;
        }
        let _ = writeln!(std::io::stderr().lock(), "{text}");
    }
}

impl Reporter for Bars {
    fn report(&self, p: Progress) {
        match p {
            Progress::Start { phase, total } => {
                if self.live {
                    let bar = match total {
                        Some(t) => indicatif::ProgressBar::new(t),
                        None => indicatif::ProgressBar::new_spinner(),
                    };
                    let template = if total.is_some() {
                        "{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"
                    } else {
                        "{msg} {spinner} {bytes} {bytes_per_sec}"
                    };
                    if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
                        bar.set_style(style.progress_chars("=> "));
                    }
                    bar.set_message(phase);
                    bar.enable_steady_tick(std::time::Duration::from_millis(200));
                    if let Ok(mut b) = self.bar.lock() {
                        *b = Some(bar);
                    }
                } else {
                    self.line(&format!("{phase}..."));
                }
            }
            Progress::Bytes(n) => {
                if let Ok(b) = self.bar.lock()
                    && let Some(bar) = b.as_ref()
                {
                    bar.inc(n);
                }
            }
            Progress::Note(text) => self.line(&text),
            Progress::Finish => {
                if let Ok(mut b) = self.bar.lock()
                    && let Some(bar) = b.take()
                {
                    bar.finish_and_clear();
                }
            }
        }
    }
}

fn reporter(format: OutputFormat) -> Box<dyn Reporter> {
    match format {
        OutputFormat::Json => Box::new(Silent),
        OutputFormat::Text => Box::new(Bars::new()),
    }
}

fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .map(|d| d.join("skiff/backup"))
}

fn run_backups(
    stack: &Stack,
    name: Option<&str>,
    format: OutputFormat,
) -> miette::Result<ExitCode> {
    let reporter = reporter(format);
    let mut results = Vec::new();
    let mut failures = Vec::new();
    for (name, b) in stack.selected(name)? {
        let result = run_one(stack, name, b, reporter.as_ref());
        crate::commands::daemon::record_history(backup_event(&stack.name, name, &result, "cli"));
        match result {
            Ok(snaps) => results.extend(snaps),
            Err(e) => failures.push((name.clone(), e)),
        }
    }
    match format {
        OutputFormat::Json => {
            let out = serde_json::json!({
                "snapshots": results,
                "failed": failures.iter().map(|(n, e)| serde_json::json!({"name": n, "error": e.to_string()})).collect::<Vec<_>>(),
            });
            write_stdout(&serde_json::to_string_pretty(&out).into_diagnostic()?)?;
        }
        OutputFormat::Text => {
            for s in &results {
                write_stdout(&format!(
                    "{}: {} {} ({}, {} added)",
                    s.name,
                    s.id,
                    s.kind,
                    size(s.size),
                    size(s.added)
                ))?;
            }
        }
    }
    match failures.len() {
        0 => Ok(ExitCode::SUCCESS),
        1 => Err(failures.remove(0).1),
        _ => Err(miette!(
            "{} backups failed:\n  {}",
            failures.len(),
            failures
                .iter()
                // Each error names its backup already.
                .map(|(_, e)| e.to_string())
                .collect::<Vec<_>>()
                .join("\n  ")
        )),
    }
}

fn run_one(
    stack: &Stack,
    name: &str,
    b: &Backup,
    reporter: &dyn Reporter,
) -> miette::Result<Vec<Snapshot>> {
    let context = format!("backup {name}");
    let fail = |e: BackupError| diag(&context, e);
    let source = source(name, b)?;
    let sealer = stack.sealer(name, b)?;
    let repos =
        b.to.iter()
            .map(|d| stack.open_for_backup(name, b, d, &sealer))
            .collect::<miette::Result<Vec<_>>>()?;
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
fn listing(stack: &Stack, name: &str, b: &Backup) -> Vec<(String, miette::Result<Vec<Snapshot>>)> {
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

fn list(stack: &Stack, name: Option<&str>, format: OutputFormat) -> miette::Result<ExitCode> {
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (name, b) in stack.selected(name)? {
        for (dest, snaps) in listing(stack, name, b) {
            match snaps {
                Ok(snaps) => rows.extend(snaps.into_iter().map(|s| (dest.clone(), s))),
                Err(e) => errors.push(e.to_string()),
            }
        }
    }
    match format {
        OutputFormat::Json => {
            let out: Vec<serde_json::Value> = rows
                .iter()
                .map(|(d, s)| {
                    serde_json::json!({
                        "name": s.name, "id": s.id, "kind": s.kind, "created": s.created,
                        "source": s.source, "size": s.size, "stored": s.stored, "added": s.added,
                        "files": s.files, "encrypted": s.encrypted, "destination": d,
                    })
                })
                .collect();
            write_stdout(&serde_json::to_string_pretty(&out).into_diagnostic()?)?;
        }
        OutputFormat::Text => {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            table.set_header([
                "NAME",
                "ID",
                "CREATED",
                "KIND",
                "SIZE",
                "STORED",
                "ADDED",
                "DESTINATION",
            ]);
            for (d, s) in &rows {
                table.add_row([
                    s.name.clone(),
                    s.id.clone(),
                    s.created.format("%Y-%m-%d %H:%M:%S").to_string(),
                    s.kind.to_string(),
                    size(s.size),
                    size(s.stored),
                    size(s.added),
                    d.clone(),
                ]);
            }
            if rows.is_empty() {
                write_stdout("no backups yet")?;
            } else {
                write_stdout(&table.to_string())?;
            }
        }
    }
    if errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Err(miette!(
            "cannot list every destination:\n  {}",
            errors.join("\n  ")
        ))
    }
}

/// The snapshot to use (newest, or `at`) and the first destination that has it.
fn find(
    stack: &Stack,
    name: &str,
    b: &Backup,
    at: Option<&str>,
) -> miette::Result<(Repository, Snapshot)> {
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
    Err(miette!(
        "no destination of backup {name} has it:\n  {}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    ))
}

/// Asks before overwriting live data: a terminal answers, `--yes` answers for scripts, and
/// without either the answer is no.
fn confirm(what: &str, yes: bool) -> miette::Result<()> {
    if yes {
        return Ok(());
    }
    if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
        return Err(miette!(
            help = "pass --yes to restore without asking",
            "refusing to overwrite {what} without confirmation (no terminal to ask on)"
        ));
    }
    let mut err = std::io::stderr().lock();
    let _ = write!(
        err,
        "This replaces the current data of {what}. Continue? [y/N] "
    );
    let _ = err.flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).into_diagnostic()?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        Err(miette!("restore cancelled"))
    }
}

fn restore(
    stack: &Stack,
    name: &str,
    at: Option<&str>,
    into: Option<&str>,
    yes: bool,
    format: OutputFormat,
) -> miette::Result<ExitCode> {
    let b = stack.backup(name)?;
    let (repo, snap) = find(stack, name, b, at)?;
    let opener = stack.opener(name, b, &snap)?;
    let reporter = reporter(format);
    let context = format!("restore {name}");
    let fail = |e: BackupError| diag(&context, e);
    let target = match snap.kind {
        Kind::Postgres => {
            let pg = match into {
                Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                    Postgres {
                        connection: Connection::from_url(url).map_err(fail)?,
                        runner: Box::new(LocalRunner::default()),
                    }
                }
                Some(service) => {
                    let src = b.postgres.as_ref();
                    stack.postgres_service(
                        name,
                        service,
                        src.and_then(|s| s.database.as_deref()),
                        src.and_then(|s| s.user.as_deref()),
                    )?
                }
                None => stack.postgres(name, b)?,
            };
            let label = format!("database {}{}", pg.connection.label(), pg.runner.place());
            confirm(&label, yes)?;
            skiff_backup::restore_postgres(
                &repo,
                &snap,
                &opener,
                &pg,
                &pg.connection,
                RestoreMode::Replace,
                reporter.as_ref(),
            )
            .map_err(fail)?;
            label
        }
        Kind::Directory => {
            let volume = match into {
                Some(v) if stack.project.volumes.contains_key(v) => Some(v),
                Some(_) => None,
                None => b.volume.as_deref(),
            };
            if let Some(volume) = volume {
                let engine_name = stack.volume_name(volume)?;
                let mountpoint = stack.engine(async |e| e.volume_mountpoint(&engine_name).await)?;
                let label = format!("volume {engine_name}");
                confirm(&label, yes)?;
                stack.with_volume_quiet(&engine_name, Quiet::Stop, || {
                    skiff_backup::restore_directory(
                        &repo,
                        &snap,
                        &opener,
                        Path::new(&mountpoint),
                        reporter.as_ref(),
                    )
                    .map_err(fail)
                })?;
                label
            } else {
                let dir = match (into, &b.path) {
                    // --into is typed on the command line: relative to where it is typed.
                    (Some(p), _) => {
                        let cwd = std::env::current_dir().into_diagnostic()?;
                        let cwd = cwd.to_str().ok_or_else(|| {
                            miette!(
                                help = "give --into as an absolute path",
                                "the current directory {} is not UTF-8",
                                cwd.display()
                            )
                        })?;
                        absolute(cwd, stack.home.as_deref(), p)
                    }
                    (None, Some(p)) => stack.resolve(p),
                    (None, None) => {
                        return Err(miette!(
                            help = "give --into PATH (a directory) or --into VOLUME",
                            "backup {name} declares no directory to restore {} into",
                            snap.id
                        ));
                    }
                };
                let occupied = std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some());
                let label = format!("directory {}", dir.display());
                if occupied {
                    confirm(&label, yes)?;
                }
                skiff_backup::restore_directory(&repo, &snap, &opener, &dir, reporter.as_ref())
                    .map_err(fail)?;
                label
            }
        }
    };
    match format {
        OutputFormat::Json => write_stdout(
            &serde_json::to_string_pretty(&serde_json::json!({
                "name": name, "snapshot": snap.id, "from": repo.location(), "into": target, "size": snap.size,
            }))
            .into_diagnostic()?,
        )?,
        OutputFormat::Text => write_stdout(&format!(
            "restored {name} {} ({}) from {} into {target}",
            snap.id,
            size(snap.size),
            repo.location()
        ))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// Restores the newest backup into a scratch target and runs the declared checks.
fn drill_one(
    stack: &Stack,
    name: &str,
    reporter: &dyn Reporter,
) -> miette::Result<skiff_backup::DrillReport> {
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

fn verify(stack: &Stack, name: &str, format: OutputFormat) -> miette::Result<ExitCode> {
    let reporter = reporter(format);
    let result = drill_one(stack, name, reporter.as_ref());
    crate::commands::daemon::record_history(drill_event(&stack.name, name, &result, "cli"));
    let report = result?;
    match format {
        OutputFormat::Json => {
            write_stdout(&serde_json::to_string_pretty(&report).into_diagnostic()?)?;
        }
        OutputFormat::Text => {
            let mut text = format!(
                "{name}: {} restored from {} ({}) in {:.1}s: {}",
                report.snapshot,
                report.location,
                size(report.restored_bytes),
                std::time::Duration::from_millis(report.duration_ms).as_secs_f64(),
                if report.passed { "passed" } else { "FAILED" }
            );
            for c in &report.checks {
                text.push_str(&format!(
                    "\n  {} {}: {}",
                    if c.passed { "ok  " } else { "FAIL" },
                    c.check,
                    c.detail
                ));
            }
            if report.checks.is_empty() {
                text.push_str(
                    "\n  (no checks declared: the restore itself was checked; add verify.checks)",
                );
            }
            write_stdout(&text)?;
        }
    }
    Ok(if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn prune(stack: &Stack, dry_run: bool, format: OutputFormat) -> miette::Result<ExitCode> {
    // Destinations, each with the policies of the backups that write there.
    let mut by_destination: BTreeMap<
        String,
        (&Backup, BTreeMap<String, skiff_model::xskiff::Keep>),
    > = BTreeMap::new();
    for (name, b) in &stack.backups {
        for d in &b.to {
            let entry = by_destination
                .entry(stack.destination(d))
                .or_insert_with(|| (b, BTreeMap::new()));
            if let Some(k) = b.keep {
                entry.1.insert(name.clone(), k);
            }
        }
    }
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for (dest, (b, policies)) in &by_destination {
        let context = format!("prune {dest}");
        let fail = |e| diag(&context, e);
        let repo = stack.open(&context, b, dest)?;
        let plan = skiff_backup::prune::plan(&repo, policies, now).map_err(fail)?;
        let done = if dry_run {
            None
        } else {
            Some(skiff_backup::prune::apply(&repo, &plan, now).map_err(fail)?)
        };
        out.push((plan, done));
    }
    match format {
        OutputFormat::Json => {
            let v: Vec<serde_json::Value> = out
                .iter()
                .map(|(p, d)| serde_json::json!({"plan": p, "done": d}))
                .collect();
            write_stdout(&serde_json::to_string_pretty(&v).into_diagnostic()?)?;
        }
        OutputFormat::Text => {
            let mut text = Vec::new();
            for (p, d) in &out {
                let verb = if d.is_some() {
                    "removed"
                } else {
                    "would remove"
                };
                text.push(format!(
                    "{}: {verb} {} backups, {} unreferenced chunks ({})",
                    p.location,
                    p.remove.len(),
                    p.unreferenced.len(),
                    size(p.reclaim)
                ));
                for (name, id) in &p.remove {
                    text.push(format!("  - {name} {id}"));
                }
                if !p.stale_locks.is_empty() {
                    text.push(format!(
                        "  {verb} {} stale locks of backups or prunes that are gone",
                        p.stale_locks.len()
                    ));
                }
                if let Some(lock) = &p.blocked_by {
                    text.push(format!("  chunks left for later: {lock}"));
                }
            }
            write_stdout(&text.join("\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

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
