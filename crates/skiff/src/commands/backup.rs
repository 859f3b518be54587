//! `skiff backup`: run, list, restore, verify and prune the backups declared in
//! `x-skiff.backups`. The work is `skiff-backup`'s; this module resolves the declaration
//! against the stack (paths against the project directory, a volume to its mountpoint, a
//! database service to its running container or its port), keeps volumes consistent
//! (services paused while archived, stopped while restored), asks before overwriting live
//! data, and draws progress.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Mutex;

use miette::{IntoDiagnostic, miette};
use skiff_backup::{
    BackupError, Connection, Kind, LocalRunner, Postgres, Progress, Reporter, RestoreMode, Silent,
};
use skiff_model::xskiff::Backup;

use skiff_host::backup::{
    Quiet, Stack, absolute, backup_event, diag, drill_event, drill_one, find, listing, run_one,
};

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
        1 => Err(failures.remove(0).1.into()),
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
