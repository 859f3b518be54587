//! `skiff jobs`: the jobs declared in `x-skiff.jobs` with their schedules and the outcomes
//! of their runs (from the daemon's history), a run by hand in the foreground, a job's
//! history, and a run's output.
#![expect(
    clippy::print_stderr,
    reason = "the terminal edge: status lines and notes go to stderr"
)]

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Instant;

use chrono::{DateTime, SecondsFormat, Utc};
use comfy_table::{Table, presets::NOTHING};
use miette::{IntoDiagnostic, miette};
use serde_json::json;
use skiff_daemon::EventsQuery;
use skiff_host::jobs::{Handle, Runner};
use skiff_jobs::RunKey;
use skiff_model::xskiff::Job;
use skiff_process::ProcessRuntime;
use skiff_store::{Event, JOB_OUTCOMES, JobSummary, Kind, Recorded, outcome_name, summarize_jobs};

use crate::cli::{DaemonTarget, OutputFormat, ProjectArgs};
use crate::commands::daemon::record_history;
use crate::commands::write_stdout;
use crate::loading::load_stack;
use skiff_host::stack::{LoadOptions, Stack};
use skiff_host::world::Hosted;

const EXAMPLES: &str = "\
Examples:
  skiff jobs                           every job: schedule, next run, last outcome, success rate
  skiff jobs run nightly-report        run it now, here: output streamed, its exit code returned
  skiff jobs history nightly-report    its runs, newest last
  skiff jobs logs nightly-report       the output of its last run (the last 64 KiB)
  skiff jobs logs nightly-report --run 1764990000000-0

The daemon runs jobs on their schedules (`skiff daemon`, then `skiff up -d`); each run is a
one-off container or process of the job's service, removed when it ends.";

/// Cron jobs declared in x-skiff.jobs, run by the daemon: list, run now, history, logs.
#[derive(Debug, clap::Args)]
#[command(after_help = EXAMPLES)]
pub struct JobsArgs {
    #[command(subcommand)]
    pub command: Option<JobsCommand>,
    #[command(flatten)]
    pub target: DaemonTarget,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text, global = true)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Subcommand)]
pub enum JobsCommand {
    /// Every job: service, schedule and time zone, next run, last run and its outcome,
    /// success rate (the default).
    List,
    /// Run a job now, in the foreground: its output streamed, its exit code returned, the
    /// run recorded as run by hand when a daemon runs. Ctrl-C stops it (with the service's
    /// grace period).
    Run {
        /// The job (a key of x-skiff.jobs).
        name: String,
    },
    /// A job's runs: when, outcome, exit code, duration, what started it.
    History { name: String },
    /// The output of a job's last run, or of --run ID (IDs are in `skiff jobs history`).
    Logs {
        name: String,
        #[arg(long, value_name = "ID")]
        run: Option<String>,
    },
}

pub fn run(project: &ProjectArgs, args: &JobsArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(
        project,
        LoadOptions {
            services: &[],
            native: &[],
            consistency: true,
        },
    )?;
    let jobs = stack.jobs();
    let find = |name: &str| -> miette::Result<Job> {
        jobs.get(name).cloned().ok_or_else(|| {
            miette!(
                help = if jobs.is_empty() {
                    "declare one under x-skiff.jobs".to_owned()
                } else {
                    format!(
                        "declared: {}",
                        jobs.keys().cloned().collect::<Vec<_>>().join(", ")
                    )
                },
                "no job {name:?} in x-skiff.jobs"
            )
        })
    };
    match &args.command {
        None | Some(JobsCommand::List) => list(&stack, &jobs, args),
        Some(JobsCommand::Run { name }) => run_now(stack, name, &find(name)?),
        Some(JobsCommand::History { name }) => {
            find(name)?;
            history(&stack, name, args)
        }
        Some(JobsCommand::Logs { name, run }) => {
            find(name)?;
            logs(&stack, name, run.as_deref(), &args.target)
        }
    }
}

/// The runs' outcomes in the history (none when no daemon ever kept one), oldest first.
fn outcomes(target: &DaemonTarget, project: &str) -> miette::Result<Vec<Recorded>> {
    let paths = super::daemon::paths(target)?;
    if !paths.store.exists() && !paths.socket.exists() {
        return Ok(Vec::new());
    }
    super::stack::runtime()?.block_on(async {
        let history = super::daemon::history(&paths).await?;
        history
            .events(&EventsQuery {
                project: Some(project.to_owned()),
                kind: Some(JOB_OUTCOMES.to_owned()),
                ..EventsQuery::default()
            })
            .await
            .map_err(miette::Report::new)
    })
}

/// One job as `skiff jobs` shows it: its declaration beside what its runs did.
#[derive(Debug, serde::Serialize)]
struct JobRow {
    #[serde(flatten)]
    runs: JobSummary,
    service: String,
    schedule: String,
    timezone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_run: Option<DateTime<Utc>>,
}

/// The jobs that failed their last runs, for `skiff status`: from the history alone.
pub fn failing(events: &[Recorded]) -> Vec<JobSummary> {
    summarize_jobs(events)
        .into_values()
        .filter(|r| r.failing > 0)
        .collect()
}

/// The history query `skiff status` uses for jobs.
#[must_use]
pub fn status_query(project: Option<&str>) -> EventsQuery {
    EventsQuery {
        project: project.map(str::to_owned),
        kind: Some(JOB_OUTCOMES.to_owned()),
        ..EventsQuery::default()
    }
}

fn list(stack: &Stack, jobs: &BTreeMap<String, Job>, args: &JobsArgs) -> miette::Result<ExitCode> {
    let mut past = summarize_jobs(&outcomes(&args.target, &stack.name)?);
    let now = Utc::now();
    let rows: Vec<JobRow> = jobs
        .iter()
        .map(|(name, job)| JobRow {
            runs: past
                .remove(&(stack.name.clone(), name.clone()))
                .unwrap_or_else(|| JobSummary {
                    project: stack.name.clone(),
                    job: name.clone(),
                    ..JobSummary::default()
                }),
            service: job.service.clone(),
            schedule: job.schedule.0.clone(),
            timezone: job
                .timezone
                .as_ref()
                .map_or_else(|| "UTC".to_owned(), |t| t.0.name().to_owned()),
            next_run: skiff_jobs::spec(name, job)
                .ok()
                .and_then(|s| s.schedule.next_after(now)),
        })
        .collect();
    if args.format == OutputFormat::Json {
        write_stdout(&serde_json::to_string_pretty(&rows).into_diagnostic()?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        eprintln!("No jobs: declare them under x-skiff.jobs.");
        return Ok(ExitCode::SUCCESS);
    }
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header([
        "JOB", "SERVICE", "SCHEDULE", "NEXT RUN", "LAST RUN", "OUTCOME", "SUCCESS",
    ]);
    for r in &rows {
        let runs = &r.runs;
        table.add_row([
            runs.job.clone(),
            r.service.clone(),
            format!("{} ({})", r.schedule, r.timezone),
            r.next_run.map_or_else(|| "-".to_owned(), time),
            runs.last_run.map_or_else(|| "-".to_owned(), time),
            match (runs.last_outcome, runs.failing) {
                (Some(o), n) if n > 1 => format!("{o} ({n} in a row)"),
                (Some(o), _) => o.to_owned(),
                (None, _) => "-".to_owned(),
            },
            if runs.runs == 0 {
                "-".to_owned()
            } else {
                format!(
                    "{}/{} ({:.0}%)",
                    runs.succeeded,
                    runs.runs,
                    f64::from(runs.succeeded) * 100.0 / f64::from(runs.runs)
                )
            },
        ]);
    }
    write_stdout(&table.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn history(stack: &Stack, name: &str, args: &JobsArgs) -> miette::Result<ExitCode> {
    let runs: Vec<Recorded> = outcomes(&args.target, &stack.name)?
        .into_iter()
        .filter(|r| r.event.detail["job"] == name)
        .collect();
    if args.format == OutputFormat::Json {
        let mut out = String::new();
        for r in &runs {
            let mut e = r.event.clone();
            // The output is `skiff jobs logs`'s.
            if let Some(d) = e.detail.as_object_mut() {
                d.remove("output");
            }
            out.push_str(&serde_json::to_string(&e).into_diagnostic()?);
            out.push('\n');
        }
        write_stdout(out.trim_end())?;
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        eprintln!("No runs of {name} recorded yet.");
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new();
    table.load_preset(NOTHING).set_header([
        "RUN", "ENDED", "OUTCOME", "EXIT", "SECONDS", "TRIGGER", "ERROR",
    ]);
    for r in &runs {
        let e = &r.event;
        table.add_row([
            e.detail["run"].as_str().unwrap_or("-").to_owned(),
            e.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            outcome_name(e.kind).to_owned(),
            e.exit_code
                .map_or_else(|| "-".to_owned(), |c| c.to_string()),
            e.detail["seconds"]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |s| format!("{s:.1}")),
            e.trigger.clone().unwrap_or_default(),
            e.detail["error"].as_str().unwrap_or("").to_owned(),
        ]);
    }
    write_stdout(&table.to_string())?;
    Ok(ExitCode::SUCCESS)
}

fn logs(
    stack: &Stack,
    name: &str,
    run: Option<&str>,
    target: &DaemonTarget,
) -> miette::Result<ExitCode> {
    let runs = outcomes(target, &stack.name)?;
    let found = runs.iter().rev().find(|r| {
        r.event.detail["job"] == name && run.is_none_or(|id| r.event.detail["run"] == id)
    });
    let Some(found) = found else {
        return Err(miette!(
            help = format!("`skiff jobs history {name}` lists its runs"),
            "no recorded run of {name}{}",
            run.map(|id| format!(" with ID {id}")).unwrap_or_default()
        ));
    };
    let output = found.event.detail["output"].as_str().unwrap_or_default();
    let mut out = std::io::stdout().lock();
    out.write_all(output.as_bytes()).into_diagnostic()?;
    out.flush().into_diagnostic()?;
    Ok(ExitCode::SUCCESS)
}

/// `skiff jobs run NAME`.
fn run_now(stack: Stack, name: &str, job: &Job) -> miette::Result<ExitCode> {
    let project = stack.name.clone();
    let run = RunKey {
        job: name.to_owned(),
        due: Utc::now(),
        attempt: 0,
    };
    record_history(
        Event::new(Utc::now(), Kind::JobStarted)
            .project(&project)
            .service(&job.service)
            .trigger("cli")
            .detail(json!({"job": name, "run": run.id(), "due": run.due, "attempt": 0})),
    );
    let began = Instant::now();
    let (code, output, error) = super::stack::runtime()?.block_on(async {
        let engine = if stack.is_process(&job.service) {
            None
        } else {
            Some(super::stack::connect().await?)
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let processes =
            ProcessRuntime::new(&stack.name, &stack.state_dir, stack.processes.clone(), tx);
        let host = Hosted { stack, processes };
        let runner = Runner {
            host: &host,
            engine: engine.as_ref(),
        };
        let mut handle = match runner.launch(name, job, &run).await {
            Ok(h) => h,
            Err(e) => return Ok::<_, miette::Report>((None, String::new(), Some(e))),
        };
        let streamed = stream(&runner, &mut handle).await;
        let output = runner.output(&handle).await;
        runner.remove(&handle).await;
        Ok(match streamed {
            Ok(code) => (code, output, None),
            Err(e) => (None, output, Some(e)),
        })
    })?;
    let mut detail = json!({
        "job": name, "run": run.id(), "due": run.due, "attempt": 0,
        "seconds": began.elapsed().as_secs_f64(), "output": output,
    });
    if let Some(e) = &error {
        detail["error"] = json!(e);
    }
    let kind = if code == Some(0) {
        Kind::JobSucceeded
    } else {
        Kind::JobFailed
    };
    let mut event = Event::new(Utc::now(), kind)
        .project(&project)
        .service(&job.service)
        .trigger("cli")
        .detail(detail);
    if let Some(c) = code {
        event = event.exit_code(c);
    }
    record_history(event);
    if let Some(e) = error {
        return Err(miette!("job {name}: {e}"));
    }
    Ok(match code {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1).max(1)),
        None => ExitCode::FAILURE,
    })
}

/// Streams a run's output to stdout until it ends (Ctrl-C stops it); its exit code.
async fn stream(runner: &Runner<'_, Hosted>, handle: &mut Handle) -> Result<Option<i64>, String> {
    match handle {
        Handle::Container { id, .. } => {
            let id = id.clone();
            let engine = runner.engine.ok_or("no Docker Engine")?;
            let follow = engine.output(&id, true, |chunk| {
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(chunk);
                let _ = out.flush();
            });
            tokio::select! {
                _ = follow => {}
                _ = tokio::signal::ctrl_c() => {
                    eprintln!("Stopping the run...");
                    runner.stop(handle).await?;
                }
            }
            runner.wait(handle).await
        }
        Handle::Process { log, .. } => {
            let mut follower = skiff_process::logs::Follower::open(
                log.clone(),
                &skiff_process::LogQuery::default(),
            )
            .map_err(|e| e.to_string())?;
            let print = |line: &skiff_process::LogLine| {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{}", line.text);
                let _ = out.flush();
            };
            let code = loop {
                tokio::select! {
                    line = follower.next() => {
                        if let Ok(line) = line {
                            print(&line);
                        }
                    }
                    code = runner.wait(handle) => break code,
                    _ = tokio::signal::ctrl_c() => {
                        eprintln!("Stopping the run...");
                        runner.stop(handle).await?;
                    }
                }
            };
            // What was written before the end.
            while let Ok(Ok(line)) =
                tokio::time::timeout(std::time::Duration::from_millis(150), follower.next()).await
            {
                print(&line);
            }
            code
        }
    }
}
