//! `skiff daemon`, `skiff daemon install`, `skiff status`, `skiff events`, and how the
//! other commands find the daemon ([`client`]).
#![expect(
    clippy::print_stderr,
    reason = "the terminal edge: status lines and notes go to stderr"
)]

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use comfy_table::{Table, presets::NOTHING};
use miette::{IntoDiagnostic, miette};
use skiff_daemon::{
    Client, DaemonConfig, EventsQuery, LogFormat, RestartConfig, ServiceStatus, TcpListen,
};
use skiff_store::Recorded;

use crate::cli::{
    DaemonArgs, DaemonCommand, DaemonTarget, EventsArgs, InstallArgs, OutputFormat, ProjectArgs,
    StatusArgs,
};
use crate::commands::write_stdout;
use skiff_host::history::{DaemonPaths as Paths, History};
use skiff_host::world::HostWorld;

/// Where the daemon keeps its socket, history and deployments, from `--socket`.
///
/// # Errors
/// No state directory can be worked out and no socket was named.
pub fn paths(target: &DaemonTarget) -> miette::Result<Paths> {
    Ok(Paths::new(target.socket.as_deref())?)
}

/// The daemon's history: from the daemon, else from its file (saying so on stderr).
pub(crate) async fn history(paths: &Paths) -> miette::Result<History> {
    let history = History::open(paths).await?;
    if matches!(history, History::File(_)) {
        eprintln!(
            "No daemon answers at {}; from its history:",
            paths.socket.display()
        );
    }
    Ok(history)
}

/// The daemon, when one answers on its socket; `None` when none runs there (the CLI then
/// works alone). `SKIFF_NO_DAEMON=1` makes the CLI work alone even when one runs.
///
/// # Errors
/// A socket is there but cannot be reached (permissions): working alone would then run the
/// stack beside the daemon that keeps it.
pub async fn client() -> miette::Result<Option<Client>> {
    if std::env::var_os("SKIFF_NO_DAEMON").is_some_and(|v| !v.is_empty() && v != "0") {
        return Ok(None);
    }
    let Ok(paths) = paths(&DaemonTarget::default()) else {
        return Ok(None);
    };
    match Client::connect(&paths.socket).await {
        Ok(client) => Ok(Some(client)),
        Err(e) if e.is_not_running() => Ok(None),
        Err(e) => Err(miette!(
            help = "run skiff as the daemon's user (the socket is 0600), point SKIFF_DAEMON_SOCKET elsewhere, or set SKIFF_NO_DAEMON=1 to work without it",
            "{e}"
        )),
    }
}

/// Hands a stack to the daemon (`up -d`): it converges it and keeps it so.
///
/// # Errors
/// The daemon refused or failed the deploy.
pub async fn deploy(
    client: &Client,
    stack: &skiff_host::stack::Stack,
    remove_orphans: bool,
) -> miette::Result<skiff_daemon::DeployOutcome> {
    let request = skiff_daemon::DeployRequest {
        project: stack.source.clone(),
        daemon: stack.daemon.clone(),
        remove_orphans,
        alerts: stack.alerts.clone(),
    };
    client.deploy(&stack.name, &request).await.map_err(|e| {
        miette!(
            help = format!("`skiff events -p {}` shows what the daemon did", stack.name),
            "{e}"
        )
    })
}

/// Takes a stack back from the daemon (`down`, `stop`, `start`, `restart`), if it keeps it:
/// from here on it is no longer restarted or repaired. Returns the daemon when it kept the
/// stack (to hand it back).
///
/// # Errors
/// The daemon answered with an error.
pub async fn release(name: &str, announce: bool) -> miette::Result<Option<Client>> {
    let Some(client) = client().await? else {
        return Ok(None);
    };
    if !client.release(name).await.map_err(|e| miette!("{e}"))? {
        return Ok(None);
    }
    if announce {
        eprintln!("The skiff daemon no longer keeps {name} (`skiff up -d` hands it back).");
    }
    Ok(Some(client))
}

fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .into_diagnostic()
}

pub fn run(args: &DaemonArgs) -> miette::Result<ExitCode> {
    if let Some(DaemonCommand::Install(install)) = &args.command {
        return self::install(install);
    }
    let paths = paths(&args.target)?;
    let format = match args.log_format {
        OutputFormat::Text => LogFormat::Text,
        OutputFormat::Json => LogFormat::Json,
    };
    let level = if args.verbose {
        tracing::Level::DEBUG
    } else {
        tracing::Level::INFO
    };
    skiff_daemon::init_logging(format, level).map_err(|e| miette!("{e}"))?;
    let mut config = DaemonConfig::new(&paths.socket, &paths.store);
    config.deployments = Some(paths.deployments.clone());
    config.reconcile_every = args.reconcile_every;
    let mut restart = RestartConfig::default();
    restart.backoff.initial = args.backoff_initial;
    restart.backoff.max = args.backoff_max;
    config.restart = restart;
    if let Some(addr) = args.listen {
        config.listen = Some(TcpListen {
            addr,
            token: token(args.token_file.as_deref())?,
        });
    }
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let world = HostWorld::new(env).with_history(&paths.store);
    runtime()?.block_on(async move {
        let shutdown = async {
            use tokio::signal::unix::{SignalKind, signal};
            match (
                signal(SignalKind::terminate()),
                signal(SignalKind::interrupt()),
            ) {
                (Ok(mut term), Ok(mut int)) => {
                    tokio::select! {
                        _ = term.recv() => {}
                        _ = int.recv() => {}
                    }
                }
                _ => std::future::pending::<()>().await,
            }
            tracing::info!("asked to stop: the stacks keep running");
        };
        skiff_daemon::run(config, world, shutdown)
            .await
            .map_err(|e| {
                let help = match &e {
                    skiff_daemon::DaemonError::AlreadyRunning { .. } => {
                        "`skiff status` asks the daemon that runs".to_owned()
                    }
                    skiff_daemon::DaemonError::Store(s) if s.is_too_new() => format!(
                        "a newer skiff wrote {}: run that version, or move the file aside",
                        paths.store.display()
                    ),
                    _ => "nothing was started".to_owned(),
                };
                miette!(help = help, "{e}")
            })
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The TCP token (see [`skiff_daemon::read_token`]).
fn token(file: Option<&Path>) -> miette::Result<String> {
    skiff_daemon::read_token(file, std::env::var("SKIFF_DAEMON_TOKEN").ok()).map_err(|e| {
        miette!(
            help = "generate one: `head -c 32 /dev/urandom | base64 > token && chmod 600 token`, then --token-file token",
            "{e}"
        )
    })
}

fn install(args: &InstallArgs) -> miette::Result<ExitCode> {
    let exe =
        std::env::current_exe().map_err(|e| miette!("cannot find skiff's own executable: {e}"))?;
    let text = skiff_daemon::systemd_unit(
        &exe,
        &skiff_daemon::UnitSettings {
            listen: args.listen,
            token_file: args.token_file.clone(),
            json_logs: args.json_logs,
            state_dir: args.state_dir.clone(),
        },
    );
    if args.dry_run {
        write_stdout(&text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let path = args.unit_dir.join("skiff.service");
    let temp = args.unit_dir.join(".skiff.service.tmp");
    std::fs::write(&temp, &text)
        .and_then(|()| std::fs::rename(&temp, &path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&temp);
            miette!(
                help = "run it as root, or pass --unit-dir (~/.config/systemd/user for a user unit), or --dry-run to print it",
                "cannot write {}: {e}",
                path.display()
            )
        })?;
    eprintln!(
        "Wrote {}. Start it with:\n  systemctl daemon-reload && systemctl enable --now skiff",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn status(project: &ProjectArgs, args: &StatusArgs) -> miette::Result<ExitCode> {
    let paths = paths(&args.target)?;
    let name = project.project_name.as_deref();
    let (services, backup_events, job_events) = runtime()?.block_on(async {
        let history = history(&paths).await?;
        let services = history.services(name).await?;
        let events = history
            .events(&EventsQuery {
                project: name.map(str::to_owned),
                kind: Some("backup_succeeded,backup_failed,verified,verify_failed".to_owned()),
                ..EventsQuery::default()
            })
            .await?;
        let jobs = history
            .events(&crate::commands::jobs::status_query(name))
            .await?;
        Ok::<_, miette::Report>((services, events, jobs))
    })?;
    let backups = skiff_store::summarize_backups(&backup_events);
    let failing_jobs = crate::commands::jobs::failing(&job_events);
    if args.format == OutputFormat::Json {
        let out = serde_json::json!({
            "services": services,
            "backups": backups,
            "failing_jobs": failing_jobs,
        });
        write_stdout(&serde_json::to_string_pretty(&out).into_diagnostic()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let now = Utc::now();
    let ago = |t: DateTime<Utc>| human((now - t).to_std().unwrap_or_default());
    if !backups.is_empty() {
        let mut table = Table::new();
        table.load_preset(NOTHING).set_header([
            "PROJECT",
            "BACKUP",
            "LAST SUCCESS",
            "SIZE",
            "LAST VERIFIED",
            "LAST FAILURE",
        ]);
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_owned());
        for b in &backups {
            table.add_row([
                b.project.clone(),
                b.backup.clone(),
                or_dash(b.last_success.map(|t| format!("{} ago", ago(t)))),
                or_dash(b.size.map(crate::commands::size)),
                or_dash(b.last_verified.map(|t| format!("{} ago", ago(t)))),
                or_dash(b.last_failure.clone()),
            ]);
        }
        write_stdout(&table.to_string())?;
    }
    if !failing_jobs.is_empty() {
        let mut table = Table::new();
        table
            .load_preset(NOTHING)
            .set_header(["PROJECT", "JOB", "FAILING", "LAST RUN", "OUTCOME"]);
        for j in &failing_jobs {
            table.add_row([
                j.project.clone(),
                j.job.clone(),
                format!(
                    "{} run{} in a row",
                    j.failing,
                    if j.failing == 1 { "" } else { "s" }
                ),
                j.last_run
                    .map_or_else(|| "-".to_owned(), |t| format!("{} ago", ago(t))),
                j.last_outcome.unwrap_or_default().to_owned(),
            ]);
        }
        write_stdout(&table.to_string())?;
        eprintln!("`skiff jobs logs JOB` shows a run's output.");
    }
    if services.is_empty() {
        eprintln!("The daemon keeps no stack. `skiff up -d` hands one to it.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header([
        "PROJECT",
        "SERVICE",
        "STATE",
        "HEALTH",
        "RESTARTS",
        "UP",
        "LAST ERROR",
    ]);
    for ServiceStatus {
        summary: s,
        next_restart,
    } in &services
    {
        let state = s.state.as_str();
        let state = match next_restart {
            Some(at) => format!(
                "{state} (next restart in {})",
                human((*at - now).to_std().unwrap_or_default())
            ),
            None => format!("{state} {}/{}", s.running, s.instances),
        };
        table.add_row([
            s.project.clone(),
            s.service.clone(),
            state,
            s.health.map_or("-", skiff_store::Health::as_str).to_owned(),
            s.restarts.to_string(),
            s.up_since.map_or_else(|| "-".to_owned(), ago),
            s.last_error.as_ref().map_or_else(
                || "-".to_owned(),
                |e| format!("{} ago: {}", ago(e.time), e.message),
            ),
        ]);
    }
    write_stdout(&table.to_string())?;
    Ok(ExitCode::SUCCESS)
}

/// Records an event of the CLI's own (a backup or drill run by hand) in the daemon's history
/// when a daemon runs, through its loop (so its alerts follow it too); `skiff status` and
/// `skiff events` then show it beside the scheduled ones. Without a daemon nothing is
/// recorded (nobody keeps a history then). A failure is said and otherwise ignored: the
/// command's own result stands.
pub fn record_history(event: skiff_store::Event) {
    let recorded = runtime().map_err(|e| e.to_string()).and_then(|rt| {
        rt.block_on(async {
            match client().await {
                Ok(Some(client)) => client.record(&event).await.map_err(|e| e.to_string()),
                Ok(None) => Ok(()),
                Err(e) => Err(e.to_string()),
            }
        })
    });
    if let Err(e) = recorded {
        eprintln!("note: not recorded in the daemon's history: {e}");
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{}s", s / 60, s % 60),
        3600..86_400 => format!("{}h{}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{}h", s / 86_400, (s % 86_400) / 3600),
    }
}

pub fn events(project: &ProjectArgs, args: &EventsArgs) -> miette::Result<ExitCode> {
    let paths = paths(&args.target)?;
    let mut query = EventsQuery {
        since: args
            .since
            .as_deref()
            .map(|t| crate::commands::parse_time("--since", t, Utc::now()))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|t| crate::commands::parse_time("--until", t, Utc::now()))
            .transpose()?,
        project: project.project_name.clone(),
        service: args.service.clone(),
        kind: args.kind.clone(),
        limit: args.limit,
        after: None,
    };
    // Check the kinds here, so that a typo is an error before anything is opened.
    query.filter().map_err(|e| miette!("--kind: {e}"))?;
    let json = args.format == OutputFormat::Json;
    runtime()?.block_on(async {
        let history = history(&paths).await?;
        loop {
            let batch = history.events(&query).await?;
            if let Some(r) = batch.last() {
                query.after = Some(r.id);
            }
            print_events(&batch, json)?;
            if !args.follow {
                return Ok(ExitCode::SUCCESS);
            }
            // Following: everything that comes next, however few `--limit` asked for first.
            query.limit = None;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    })
}

fn print_events(events: &[Recorded], json: bool) -> miette::Result<()> {
    if events.is_empty() {
        return Ok(());
    }
    let mut out = String::new();
    for r in events {
        if json {
            out.push_str(&serde_json::to_string(r).into_diagnostic()?);
            out.push('\n');
            continue;
        }
        let e = &r.event;
        let mut line = format!(
            "{} {:<17} {}",
            e.time.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            e.kind.as_str(),
            e.instance
                .as_deref()
                .or(e.service.as_deref())
                .or(e.project.as_deref())
                .unwrap_or("daemon")
        );
        if let Some(code) = e.exit_code {
            line.push_str(&format!(" code={code}"));
        }
        if let Some(h) = e.health {
            line.push_str(&format!(" {}", h.as_str()));
        }
        if let Some(t) = &e.trigger {
            line.push_str(&format!(" ({t})"));
        }
        if !e.detail.is_null() {
            line.push_str(&format!(" {}", e.detail));
        }
        out.push_str(&line);
        out.push('\n');
    }
    write_stdout(out.trim_end())
}
