//! `skiff backup`: run, list, restore, verify and prune the backups declared in
//! `x-skiff.backups`. The work is `skiff-backup`'s; this module resolves the declaration
//! against the stack (paths against the project directory, a volume to its mountpoint, a
//! database service to its running container or its port), keeps volumes consistent
//! (services paused while archived, stopped while restored), asks before overwriting live
//! data, and draws progress.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;

use miette::{IntoDiagnostic, miette};
use skiff_backup::{
    BackupError, Connection, DockerExecRunner, Job, Kind, LocalRunner, Opener, Postgres, Progress,
    Reporter, Repository, RestoreMode, Scratch, Sealer, Silent, Snapshot,
};
use skiff_model::xskiff::{Backup, Consistency, Runtime};

use crate::cli::{OutputFormat, ProjectArgs};
use crate::commands::write_stdout;
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
    let stack = Stack {
        name: loaded.name.clone(),
        working_dir: PathBuf::from(&loaded.working_dir),
        backups: loaded.extensions.project.backups.clone(),
        services: loaded.extensions.services.clone(),
        project: loaded.project,
        engine: Mutex::new(None),
    };
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
    use skiff_store::{Event, Kind};
    let now = chrono::Utc::now();
    let stack = skiff_model::compose::project_from_value(source.canonical.clone())
        .map_err(|e| e.to_string())
        .and_then(|project| {
            let extensions = skiff_compose::extension::decode_json(&source.canonical)?;
            Ok(Stack {
                name: source.name.clone(),
                working_dir: PathBuf::from(&source.working_dir),
                backups: extensions.project.backups.clone(),
                services: extensions.services.clone(),
                project,
                engine: Mutex::new(None),
            })
        });
    let event = |kind: Kind, detail: serde_json::Value| {
        Event::new(now, kind)
            .project(&source.name)
            .trigger("schedule")
            .detail(detail)
    };
    let stack = match stack {
        Ok(s) => s,
        Err(e) => {
            let kind = if drill {
                Kind::VerifyFailed
            } else {
                Kind::BackupFailed
            };
            return event(kind, serde_json::json!({"backup": name, "error": e}));
        }
    };
    let silent = skiff_backup::Silent;
    if drill {
        drill_event(
            &source.name,
            name,
            &drill_one(&stack, name, &silent),
            "schedule",
        )
    } else {
        let result = stack
            .backup(name)
            .and_then(|b| run_one(&stack, name, b, &silent));
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
            serde_json::json!({"backup": name, "error": format!("{e}")}),
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
            serde_json::json!({"backup": name, "error": format!("{e}")}),
        ),
    };
    Event::new(chrono::Utc::now(), kind)
        .project(project)
        .trigger(trigger)
        .detail(detail)
}

/// The loaded stack, and the engine once a volume or a container needs it.
struct Stack {
    name: String,
    working_dir: PathBuf,
    backups: BTreeMap<String, Backup>,
    services: BTreeMap<String, skiff_model::xskiff::ServiceExtension>,
    project: skiff_model::compose::Project,
    engine: Mutex<Option<(tokio::runtime::Runtime, skiff_docker::Engine)>>,
}

impl Stack {
    fn backup(&self, name: &str) -> miette::Result<&Backup> {
        self.backups.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.backups.keys().map(String::as_str).collect();
            miette!(
                help = if known.is_empty() {
                    "declare backups under x-skiff.backups".to_owned()
                } else {
                    format!("declared: {}", known.join(", "))
                },
                "no backup {name:?} in x-skiff.backups"
            )
        })
    }

    fn selected(&self, name: Option<&str>) -> miette::Result<Vec<(&String, &Backup)>> {
        match name {
            Some(n) => {
                let b = self.backup(n)?;
                Ok(self
                    .backups
                    .iter()
                    .filter(|(k, _)| *k == n)
                    .map(|(k, _)| (k, b))
                    .collect())
            }
            None => {
                if self.backups.is_empty() {
                    return Err(miette!(
                        help = "declare backups under x-skiff.backups",
                        "this stack declares no backups"
                    ));
                }
                Ok(self.backups.iter().collect())
            }
        }
    }

    /// A path of the file, resolved against the project directory.
    fn resolve(&self, p: &str) -> PathBuf {
        lexical(&self.working_dir.join(p))
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
        if slot.is_none() {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .into_diagnostic()?;
            let env = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect();
            let engine = rt
                .block_on(skiff_docker::Engine::connect(&env))
                .map_err(|e| {
                    miette!(
                        help = "start the Docker Engine, or point DOCKER_HOST (or `docker context use`) at one",
                        "{e}"
                    )
                })?;
            *slot = Some((rt, engine));
        }
        let Some((rt, engine)) = slot.as_ref() else {
            return Err(miette!("no engine"));
        };
        rt.block_on(f(engine)).map_err(|e| miette!("{e}"))
    }

    /// The engine's name of a volume of the stack.
    fn volume_name(&self, volume: &str) -> miette::Result<String> {
        let v = self.project.volumes.get(volume).ok_or_else(|| {
            miette!(
                help = "a `volume:` backup names a key of the top-level `volumes:`",
                "the stack declares no volume {volume:?}"
            )
        })?;
        Ok(if v.name.is_empty() {
            format!("{}_{volume}", self.name)
        } else {
            v.name.clone()
        })
    }

    fn sealer(&self, name: &str, b: &Backup) -> miette::Result<Sealer> {
        match &b.encrypt {
            Some(e) => Sealer::encrypted(&e.recipients).map_err(|e| miette!("backup {name}: {e}")),
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
        Opener::from_file(&self.resolve(file)).map_err(diag)
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

    fn open(&self, b: &Backup, d: &str) -> miette::Result<Repository> {
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(diag)?;
        Repository::open(store).map_err(diag)
    }

    fn open_for_backup(&self, b: &Backup, d: &str, sealer: &Sealer) -> miette::Result<Repository> {
        let store = skiff_backup::store::open(&self.destination(d), &Self::s3(b)).map_err(diag)?;
        Repository::open_for_backup(store, sealer).map_err(diag)
    }

    /// The database a `postgres:` source names, and how its tools run.
    fn postgres(&self, name: &str, b: &Backup) -> miette::Result<Postgres> {
        let Some(src) = &b.postgres else {
            return Err(miette!("backup {name} is not a PostgreSQL backup"));
        };
        if let Some(url) = &src.url {
            return Ok(Postgres {
                connection: Connection::from_url(url).map_err(diag)?,
                runner: Box::new(LocalRunner::default()),
            });
        }
        let Some(service) = &src.service else {
            return Err(miette!(
                help = "write postgres: {{url: postgres://user@host:port/db}} or postgres: {{service: db, database: app, user: app}}",
                "backup {name}: postgres needs a url or a service"
            ));
        };
        self.postgres_service(name, service, src.database.as_deref(), src.user.as_deref())
    }

    fn postgres_service(
        &self,
        name: &str,
        service: &str,
        database: Option<&str>,
        user: Option<&str>,
    ) -> miette::Result<Postgres> {
        let svc = self
            .project
            .services
            .get(service)
            .ok_or_else(|| miette!("backup {name}: the stack has no service {service:?}"))?;
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
        let containers = self.engine(async |e| e.service_containers(&self.name, service).await)?;
        let running = containers
            .into_iter()
            .find(|c| c.state == "running")
            .ok_or_else(|| {
                miette!(
                    help = format!("start it: skiff up -d {service}"),
                    "backup {name}: service {service} has no running container"
                )
            })?;
        Ok(Postgres {
            connection: Connection::from_parts(&database, user.as_deref(), None, None),
            runner: Box::new(DockerExecRunner {
                container: running.name,
                docker: PathBuf::from("docker"),
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

/// A path without `.` components and with `..` applied (`/a/./b/../c` -> `/a/c`), so that
/// destinations read as written.
fn lexical(p: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

#[derive(Debug, Clone, Copy)]
enum Quiet {
    Pause,
    Stop,
}

/// A library error as a diagnostic, with the likely fix.
fn diag(e: BackupError) -> miette::Report {
    let help = match &e {
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
        BackupError::Remote { .. } => {
            Some("retrying may help; check the endpoint and the AWS_* credentials")
        }
        _ => None,
    };
    match help {
        Some(h) => miette!(help = h, "{e}"),
        None => miette!("{e}"),
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
            live: std::io::stderr().is_terminal()
                && std::env::var("TERM").map_or(true, |t| t != "dumb")
                && std::env::var_os("CI").is_none(),
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

/// `1.2 GB`.
fn human(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    #[expect(clippy::cast_precision_loss, reason = "a display figure")]
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
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
                "failed": failures.iter().map(|(n, e)| serde_json::json!({"name": n, "error": format!("{e}")})).collect::<Vec<_>>(),
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
                    human(s.size),
                    human(s.added)
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
                .map(|(n, e)| format!("{n}: {e}"))
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
    if b.to.is_empty() {
        return Err(miette!("backup {name}: `to:` names no destination"));
    }
    let sealer = stack.sealer(name, b)?;
    let repos =
        b.to.iter()
            .map(|d| stack.open_for_backup(b, d, &sealer))
            .collect::<miette::Result<Vec<_>>>()?;
    let mut job = Job {
        name,
        source: String::new(),
        sealer: &sealer,
        repos: &repos,
        reporter,
        now: chrono::Utc::now(),
        cache_dir: cache_dir(),
    };
    let fail = |e: BackupError| miette!("backup {name}: {:?}", diag(e));
    match (&b.postgres, &b.volume, &b.path) {
        (Some(_), None, None) => {
            let pg = stack.postgres(name, b)?;
            job.source = format!("{}{}", pg.connection.label(), pg.runner.place());
            skiff_backup::backup_postgres(&job, &pg).map_err(fail)
        }
        (None, Some(volume), None) => {
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
        (None, None, Some(path)) => {
            let dir = stack.resolve(path);
            job.source = dir.display().to_string();
            skiff_backup::backup_directory(&job, &dir).map_err(fail)
        }
        _ => Err(miette!(
            help = "write exactly one of postgres:, volume: or path:",
            "backup {name} must back up exactly one thing"
        )),
    }
}

/// Each destination's snapshots of one backup (or an error for that destination).
fn listing(stack: &Stack, name: &str, b: &Backup) -> Vec<(String, miette::Result<Vec<Snapshot>>)> {
    b.to.iter()
        .map(|d| {
            let snaps = stack
                .open(b, d)
                .and_then(|r| r.snapshots(Some(name)).map_err(diag));
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
                Err(e) => errors.push(format!("{name} in {dest}: {e}")),
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
                    human(s.size),
                    human(s.stored),
                    human(s.added),
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

/// The snapshot to use (newest, or `at`) and the destination that has it.
fn find(
    stack: &Stack,
    name: &str,
    b: &Backup,
    at: Option<&str>,
) -> miette::Result<(Repository, Snapshot)> {
    let mut last_error = None;
    for d in &b.to {
        let repo = match stack.open(b, d) {
            Ok(r) => r,
            Err(e) => {
                last_error = Some(e);
                continue;
            }
        };
        match repo.snapshot(name, at) {
            Ok(s) => return Ok((repo, s)),
            Err(e) => last_error = Some(diag(e)),
        }
    }
    Err(last_error.unwrap_or_else(|| miette!("backup {name}: `to:` names no destination")))
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
    let fail = |e: BackupError| miette!("restore {name}: {:?}", diag(e));
    let target = match snap.kind {
        Kind::Postgres => {
            let source = stack.postgres(name, b);
            let (pg, target) = match into {
                Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                    let conn = Connection::from_url(url).map_err(diag)?;
                    let pg = Postgres {
                        connection: conn.clone(),
                        runner: Box::new(LocalRunner::default()),
                    };
                    (pg, conn)
                }
                Some(service) => {
                    let src = b.postgres.as_ref();
                    let pg = stack.postgres_service(
                        name,
                        service,
                        src.and_then(|s| s.database.as_deref()),
                        src.and_then(|s| s.user.as_deref()),
                    )?;
                    let conn = pg.connection.clone();
                    (pg, conn)
                }
                None => {
                    let pg = source?;
                    let conn = pg.connection.clone();
                    (pg, conn)
                }
            };
            let label = format!("database {}{}", target.label(), pg.runner.place());
            confirm(&label, yes)?;
            skiff_backup::restore_postgres(
                &repo,
                &snap,
                &opener,
                &pg,
                &target,
                RestoreMode::Replace,
                reporter.as_ref(),
            )
            .map_err(fail)?;
            label
        }
        Kind::Directory => {
            let volume = match into {
                Some(v) if stack.project.volumes.contains_key(v) => Some(v.to_owned()),
                Some(_) => None,
                None => b.volume.clone(),
            };
            if let Some(volume) = volume {
                let engine_name = stack.volume_name(&volume)?;
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
                    (Some(p), _) => lexical(&std::env::current_dir().into_diagnostic()?.join(p)),
                    (None, Some(p)) => stack.resolve(p),
                    (None, None) => return Err(miette!("backup {name}: give --into PATH")),
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
            human(snap.size),
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
        .map_err(|e| miette!("restore drill of {name} failed: {:?}", diag(e)))
}

fn verify(stack: &Stack, name: &str, format: OutputFormat) -> miette::Result<ExitCode> {
    let checks = stack
        .backup(name)?
        .verify
        .as_ref()
        .map(|v| v.checks.clone())
        .unwrap_or_default();
    let reporter = reporter(format);
    let result = drill_one(stack, name, reporter.as_ref());
    crate::commands::daemon::record_history(drill_event(&stack.name, name, &result, "cli"));
    let report = result?;
    match format {
        OutputFormat::Json => {
            write_stdout(&serde_json::to_string_pretty(&report).into_diagnostic()?)?
        }
        OutputFormat::Text => {
            let mut text = format!(
                "{name}: {} restored from {} ({}) in {:.1}s: {}",
                report.snapshot,
                report.location,
                human(report.restored_bytes),
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
            if checks.is_empty() {
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
        let repo = stack.open(b, dest)?;
        let plan = skiff_backup::prune::plan(&repo, policies, now).map_err(diag)?;
        let done = if dry_run {
            None
        } else {
            Some(skiff_backup::prune::apply(&repo, &plan, now).map_err(diag)?)
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
                    human(p.reclaim)
                ));
                for (name, id) in &p.remove {
                    text.push(format!("  - {name} {id}"));
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
