//! Commands that run the stack: plan, up, down, ps, logs, start, stop, restart, exec, build.
//!
//! Containers run on the Docker Engine, process services (`x-skiff: {runtime: process}`, and
//! `up --native SERVICE`) as host processes; [`crate::hybrid`] joins both into one plan and
//! one executor, and the commands below treat both alike. A stack without container services
//! never contacts the Docker Engine.
//!
//! Who supervises processes: the foreground `skiff up` itself; after `up -d`, `start` or
//! `restart`, a detached skiff supervisor ([`supervision`]), which runs until all its
//! processes are stopped (`down`, `stop`, or their own end).
#![expect(
    clippy::print_stderr,
    reason = "the terminal edge: progress and status lines go to standard error"
)]

mod logs;
mod supervision;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use miette::{IntoDiagnostic, miette};
use skiff_docker::Engine;
use skiff_plan::{Action, Desired, Instance, Plan, PlanOptions, Planned, Reason, Removal, State};
use skiff_process::{AfterStop, ProcessRuntime};
use skiff_runtime::{Event, ExecOptions, Runtime, execute};

use crate::cli::{
    Cli, Command, DownArgs, ExecArgs, LogsArgs, OutputFormat, PlanArgs, ProjectArgs, PsArgs,
    ServicesArgs, SuperviseArgs, UpArgs,
};
use crate::commands::write_stdout;
use crate::loading::load_stack;
use crate::progress::{Describe, Progress};
use skiff_host::hybrid::{Hybrid, Side, side_of_id};
use skiff_host::stack::{self as host_stack, LoadOptions, Stack};

use supervision::Role;

fn env_map() -> HashMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

pub async fn connect() -> miette::Result<Engine> {
    Engine::connect(&env_map()).await.map_err(|e| {
        miette!(
            help = "start the Docker Engine, or point DOCKER_HOST (or `docker context use`) at one",
            "{e}"
        )
    })
}

/// The engine, when the stack has container services; `None` otherwise (never connects).
async fn engine_for(stack: &Stack) -> miette::Result<Option<Engine>> {
    if stack.has_containers() {
        connect().await.map(Some)
    } else {
        Ok(None)
    }
}

pub(crate) fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()
}

/// The process runtime of a stack; `reports` receives its supervisors' events.
fn processes(
    stack: &Stack,
    reports: tokio::sync::mpsc::UnboundedSender<skiff_process::Report>,
) -> ProcessRuntime {
    ProcessRuntime::new(
        &stack.name,
        &stack.state_dir,
        stack.processes.clone(),
        reports,
    )
}

/// Both runtimes' instances (process records only when the project has any).
async fn observe(
    stack: &Stack,
    engine: Option<&Engine>,
    processes: &ProcessRuntime,
) -> miette::Result<skiff_plan::Observed> {
    Hybrid::new(stack, engine, processes)
        .observe()
        .await
        .map_err(|e| miette::miette!("{e}"))
}

/// How actions are shown, knowing which services run as processes.
fn describe_for(stack: &Stack) -> Describe {
    let processes: BTreeSet<String> = stack.processes.iter().map(|p| p.name.clone()).collect();
    Box::new(move |action| describe(action, &processes))
}

fn kind(side: Side) -> &'static str {
    match side {
        Side::Container => "container",
        Side::Process => "process",
    }
}

fn describe(action: &Action, processes: &BTreeSet<String>) -> (String, String) {
    let side_of_service = |s: &str| {
        if processes.contains(s) {
            Side::Process
        } else {
            Side::Container
        }
    };
    match action {
        Action::CreateNetwork { name, .. } => (format!("network {name}"), "create".into()),
        Action::CreateVolume { name, .. } => (format!("volume {name}"), "create".into()),
        Action::Create { service, name, .. } => (
            format!("{} {name}", kind(side_of_service(service))),
            "create".into(),
        ),
        Action::Recreate {
            service,
            id,
            name,
            reason,
            ..
        } => {
            let (from, to) = (side_of_id(id), side_of_service(service));
            let how = if from == to {
                match reason {
                    Reason::ConfigChanged { fields } => {
                        format!("recreate ({} changed)", fields.join(", "))
                    }
                    Reason::HashChanged => "recreate (configuration changed)".into(),
                    Reason::ImageChanged { from, to } => format!(
                        "recreate (image moved: {} -> {})",
                        short_id(from),
                        short_id(to)
                    ),
                }
            } else {
                format!("recreate ({} -> {})", kind(from), kind(to))
            };
            (format!("{} {name}", kind(to)), how)
        }
        Action::Start { id, name, .. } => (
            format!("{} {name}", kind(side_of_id(id))),
            "start (stopped)".into(),
        ),
        Action::Remove {
            id, name, reason, ..
        } => (
            format!("{} {name}", kind(side_of_id(id))),
            match reason {
                Removal::Orphan => "remove (orphan: service no longer declared)".into(),
                Removal::ScaleDown => "remove (scale down)".into(),
                Removal::Down => "remove (down)".into(),
            },
        ),
        Action::Stop { id, name, .. } => {
            (format!("{} {name}", kind(side_of_id(id))), "stop".into())
        }
    }
}

/// `sha256:87bdc8186171…` -> `87bdc8186171`, as `docker images` shows IDs.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn print_plan(plan: &Plan, format: OutputFormat, describe: &Describe) -> miette::Result<()> {
    if format == OutputFormat::Json {
        return write_stdout(&serde_json::to_string_pretty(plan).into_diagnostic()?);
    }
    if plan.is_empty() {
        return write_stdout("No changes: the stack runs as declared.");
    }
    let mut out = String::new();
    for p in &plan.actions {
        let (what, how) = describe(&p.action);
        let sign = match p.action {
            Action::Remove { .. } | Action::Stop { .. } => '-',
            Action::Recreate { .. } => '~',
            Action::Start { .. } => '>',
            _ => '+',
        };
        out.push_str(&format!("{sign} {what}: {how}\n"));
    }
    let count = |f: fn(&Action) -> bool| plan.actions.iter().filter(|p| f(&p.action)).count();
    out.push_str(&format!(
        "\nPlan: {} to create, {} to recreate, {} to start, {} to remove.",
        count(|a| matches!(
            a,
            Action::Create { .. } | Action::CreateNetwork { .. } | Action::CreateVolume { .. }
        )),
        count(|a| matches!(a, Action::Recreate { .. })),
        count(|a| matches!(a, Action::Start { .. })),
        count(|a| matches!(a, Action::Remove { .. })),
    ));
    write_stdout(&out)
}

/// Prints where services reach each other across runtimes, when some do.
fn print_reach(stack: &Stack) {
    let lines = host_stack::reach_lines(&stack.reach());
    if lines.is_empty() {
        return;
    }
    eprintln!("Across runtimes:");
    for l in lines {
        eprintln!("  {l}");
    }
}

pub fn plan(project: &ProjectArgs, args: &PlanArgs) -> miette::Result<ExitCode> {
    let mut stack = load_stack(
        project,
        LoadOptions {
            services: &args.services,
            native: &args.native,
            consistency: true,
        },
    )?;
    runtime()?.block_on(async {
        let engine = engine_for(&stack).await?;
        if let Some(engine) = &engine {
            stack.docker.resolve_images(engine).await;
        }
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let processes = processes(&stack, tx);
        let observed = observe(&stack, engine.as_ref(), &processes).await?;
        let plan = skiff_plan::plan(
            &stack.desired(),
            &observed,
            &PlanOptions {
                remove_orphans: args.remove_orphans,
                only: args.services.clone(),
                rerun_completed: true,
            },
        )
        .map_err(|e| miette!("{e}"))?;
        print_plan(&plan, args.format, &describe_for(&stack))?;
        if args.format == OutputFormat::Text {
            print_reach(&stack);
            if let Some(note) = stack.healing_note() {
                eprintln!("{note}");
            }
        }
        Ok(if args.detailed_exitcode && !plan.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    })
}

/// Whether carrying out the plan starts processes (which then need a supervisor).
fn starts_processes(plan: &Plan, stack: &Stack) -> bool {
    plan.actions.iter().any(|p| match &p.action {
        Action::Create { service, .. } | Action::Recreate { service, .. } => {
            stack.is_process(service)
        }
        Action::Start { id, .. } => side_of_id(id) == Side::Process,
        _ => false,
    })
}

pub fn up(project: &ProjectArgs, args: &UpArgs) -> miette::Result<ExitCode> {
    up_as(project, args, Role::Cli)
}

#[expect(
    clippy::too_many_lines,
    reason = "the order of an up, from loading to supervision, reads best in one place"
)]
fn up_as(project: &ProjectArgs, args: &UpArgs, role: Role) -> miette::Result<ExitCode> {
    let up_started = std::time::SystemTime::now();
    let mut stack = load_stack(
        project,
        LoadOptions {
            services: &args.services,
            native: &args.native,
            consistency: true,
        },
    )?;
    for s in &args.scale {
        let (name, n) = s
            .split_once('=')
            .ok_or_else(|| miette!("--scale takes SERVICE=N, got {s:?}"))?;
        let n: u32 = n
            .parse()
            .map_err(|_| miette!("--scale {name}: {n:?} is not a number"))?;
        stack
            .scale(name, n)
            .map_err(|e| crate::loading::stack_error(&e))?;
    }
    let rt = runtime()?;
    rt.block_on(async {
        let engine = engine_for(&stack).await?;
        let started = Instant::now();
        if let Some(engine) = &engine {
            build_images(engine, &stack.docker, &args.services, args.build).await?;
            stack.docker.resolve_images(engine).await;
        }
        let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
        let processes = processes(&stack, tx);
        let json = args.format == OutputFormat::Json;
        if role == Role::Cli
            && args.detach
            && let Some(client) = super::daemon::client().await?
        {
            // A daemon runs: it converges the stack and keeps it so.
            hand_to_daemon(&client, &stack, args.remove_orphans, json).await?;
            if args.wait {
                let hybrid = Hybrid::new(&stack, engine.as_ref(), &processes);
                wait_all(&hybrid, &stack.desired(), Duration::from_secs(args.timeout)).await?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let lock = if stack.has_process_state() {
            let lock = supervision::lock(&stack).await?;
            processes.sweep().await.map_err(|e| miette!("{e}"))?;
            Some(lock)
        } else {
            None
        };
        let mut observed = observe(&stack, engine.as_ref(), &processes).await?;
        if let Some(engine) = &engine {
            let mut names = observed.networks.clone();
            names.sort();
            names.dedup();
            if names.len() != observed.networks.len() {
                engine
                    .dedupe_networks(&stack.name)
                    .await
                    .map_err(|e| miette!("{e}"))?;
                observed = observe(&stack, Some(engine), &processes).await?;
            }
        }
        let desired = stack.desired();
        let plan = skiff_plan::plan(
            &desired,
            &observed,
            &PlanOptions {
                remove_orphans: args.remove_orphans,
                only: args.services.clone(),
                rerun_completed: true,
            },
        )
        .map_err(|e| miette!("{e}"))?;
        if role == Role::Cli && !json {
            print_reach(&stack);
        }
        let hybrid = Hybrid::new(&stack, engine.as_ref(), &processes);
        let timeout = Duration::from_secs(args.timeout);
        // Processes whose supervisor was killed need one again.
        let orphaned = stack.has_process_state()
            && !processes.unsupervised().unwrap_or_default().is_empty();
        if role == Role::Cli
            && (args.detach || args.wait)
            && (starts_processes(&plan, &stack) || orphaned)
        {
            // Processes need a supervisor that outlives this command: a detached skiff
            // carries out the plan and keeps them running.
            drop(lock);
            supervision::delegate(&stack, describe_for(&stack), json).await?;
            if args.wait {
                wait_all(&hybrid, &desired, timeout).await?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        let result = if plan.is_empty() {
            if role == Role::Cli && !json {
                eprintln!(
                    "Nothing to do: the stack runs as declared ({:.0} ms).",
                    started.elapsed().as_secs_f64() * 1000.0
                );
            }
            Ok(())
        } else {
            let opts = ExecOptions {
                dependency_timeout: timeout,
                ..ExecOptions::default()
            };
            match role {
                Role::Cli => {
                    let shown = Progress::new(json, describe_for(&stack));
                    let result = execute(&hybrid, &desired, &plan, &opts, &|e| shown.event(&e)).await;
                    shown.finish();
                    result
                }
                Role::Supervisor => {
                    execute(&hybrid, &desired, &plan, &opts, &|e| {
                        supervision::emit(&supervision::Message::Event { event: e });
                    })
                    .await
                }
            }
        };
        if orphaned {
            for name in processes.adopt_unsupervised().await {
                if role == Role::Cli && !json {
                    eprintln!("process {name}: supervised again (its supervisor had died)");
                }
            }
        }
        drop(lock);
        if role == Role::Supervisor {
            supervision::run_detached(&processes, reports, result).await;
            return Ok(ExitCode::SUCCESS);
        }
        if let Err(errors) = result {
            // Nothing this command started may run on without a supervisor.
            supervision::stop_owned(&processes).await;
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return Err(miette!(
                help = "run `skiff up` again to resume: it continues from what is running; `skiff logs SERVICE` shows why a service failed",
                "the stack did not converge:\n  {}",
                lines.join("\n  ")
            ));
        }
        if !plan.is_empty() && !json {
            eprintln!("Converged in {:.2}s.", started.elapsed().as_secs_f64());
        }
        if args.wait {
            wait_all(&hybrid, &desired, timeout).await?;
        }
        if !args.detach && !args.wait {
            let services: Vec<String> = if args.services.is_empty() {
                desired.services.iter().map(|s| s.name.clone()).collect()
            } else {
                args.services.clone()
            };
            supervision::foreground(&stack, engine.as_ref(), &processes, reports, &services, up_started)
                .await?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// Hands a stack to the daemon (`up -d`, and `start`/`restart` of a stack it kept) and shows
/// what it did; an error when an action failed.
async fn hand_to_daemon(
    client: &skiff_daemon::Client,
    stack: &Stack,
    remove_orphans: bool,
    json: bool,
) -> miette::Result<()> {
    let started = Instant::now();
    let outcome = super::daemon::deploy(client, stack, remove_orphans).await?;
    if json {
        let text = serde_json::to_string(&serde_json::json!({
            "daemon": true,
            "project": outcome.project,
            "actions": outcome.actions,
            "errors": outcome.errors,
        }))
        .into_diagnostic()?;
        crate::commands::write_stdout(&text)?;
    } else {
        print_reach(stack);
        let describe = describe_for(stack);
        for action in &outcome.actions {
            let (what, how) = describe(action);
            eprintln!("{what}: done ({how})");
        }
        eprintln!(
            "Handed to the skiff daemon ({} action{}, {:.2}s): it restarts what crashes and repairs drift; `skiff status`, `skiff events`.",
            outcome.actions.len(),
            if outcome.actions.len() == 1 { "" } else { "s" },
            started.elapsed().as_secs_f64()
        );
        if let Some(note) = stack.healing_note() {
            eprintln!("{note}");
        }
        let desired = stack.daemon_desired();
        let never_restarted: Vec<&str> = desired
            .services
            .iter()
            .filter(|s| s.restart == skiff_plan::Restart::No)
            .map(|s| s.name.as_str())
            .collect();
        if !never_restarted.is_empty() {
            eprintln!(
                "Not restarted when they exit (restart policy `no`): {}.",
                never_restarted.join(", ")
            );
        }
    }
    if outcome.errors.is_empty() {
        return Ok(());
    }
    Err(miette!(
        help = format!(
            "`skiff events -p {}` and `skiff logs SERVICE` show why; the daemon keeps trying per each service's restart policy",
            stack.name
        ),
        "the stack did not converge:\n  {}",
        outcome.errors.join("\n  ")
    ))
}

/// Says a step of a stop on standard error.
fn say(line: String) {
    eprintln!("{line}");
}

/// `up --wait`: every service ready, or why not.
async fn wait_all(
    runtime: &impl Runtime,
    desired: &Desired,
    timeout: Duration,
) -> miette::Result<()> {
    skiff_host::hybrid::wait_ready(runtime, desired, timeout)
        .await
        .map_err(|e| match &e {
            skiff_host::hybrid::WaitError::Unhealthy(service) => {
                miette!(
                    help = format!("`skiff logs {service}` shows its output"),
                    "{e}"
                )
            }
            _ => miette!("{e}"),
        })?;
    eprintln!("All services are ready.");
    Ok(())
}

/// Builds the images of container services (see [`skiff_docker::build::build_missing`]).
async fn build_images(
    engine: &Engine,
    p: &skiff_docker::project::Project,
    only: &[String],
    force: bool,
) -> miette::Result<()> {
    skiff_docker::build::build_missing(engine, p, only, force, &|line| eprintln!("{line}"))
        .await
        .map_err(|e| {
            miette!(
                help = "fix the Dockerfile or the build context; nothing was started",
                "{e}"
            )
        })
}

pub fn down(project: &ProjectArgs, args: &DownArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(project, LoadOptions::default())?;
    runtime()?.block_on(async {
        // The daemon would otherwise put back what `down` removes.
        super::daemon::release(&stack.name, true).await?;
        let engine = engine_for(&stack).await?;
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let processes = processes(&stack, tx);
        let lock = if stack.has_process_state() {
            Some(supervision::lock(&stack).await?)
        } else {
            None
        };
        let observed = observe(&stack, engine.as_ref(), &processes).await?;
        let instances: Vec<Instance> = observed
            .instances
            .iter()
            .filter(|i| args.remove_orphans || stack.declared.contains(&i.service))
            .cloned()
            .collect();
        let errors = Hybrid::new(&stack, engine.as_ref(), &processes)
            .stop_instances(&instances, AfterStop::RemoveRecord, &say)
            .await;
        if !errors.is_empty() {
            return Err(miette!("down did not finish:\n  {}", errors.join("\n  ")));
        }
        if let Some(engine) = &engine {
            for n in &observed.networks {
                match engine.remove_network(n).await {
                    Ok(()) => eprintln!("network {n}: removed"),
                    Err(e) => eprintln!("network {n}: not removed: {e}"),
                }
            }
            if args.volumes {
                for v in &observed.volumes {
                    engine.remove_volume(v).await.map_err(|e| miette!("{e}"))?;
                    eprintln!("volume {v}: removed");
                }
            }
        }
        if stack.has_process_state() {
            processes.sweep().await.map_err(|e| miette!("{e}"))?;
            supervision::forget_project_if_empty(&stack);
        }
        drop(lock);
        Ok(ExitCode::SUCCESS)
    })
}

pub fn ps(project: &ProjectArgs, args: &PsArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(project, LoadOptions::default())?;
    runtime()?.block_on(async {
        let engine = engine_for(&stack).await?;
        let mut rows = skiff_host::ps::rows(&stack, engine.as_ref())
            .await
            .map_err(|e| miette!("{e}"))?;
        rows.retain(|r| args.all || matches!(r["state"].as_str(), Some("running" | "restarting")));
        rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        if args.format == OutputFormat::Json {
            write_stdout(&serde_json::to_string_pretty(&rows).into_diagnostic()?)?;
        } else {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            table.set_header(["NAME", "SERVICE", "RUNTIME", "STATUS", "PORTS"]);
            for r in &rows {
                let s = |k: &str| {
                    r.get(k)
                        .and_then(|v| v.as_str())
                        .unwrap_or_default()
                        .to_owned()
                };
                let ports = r["ports"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|p| p.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    })
                    .unwrap_or_default();
                table.add_row([s("name"), s("service"), s("runtime"), s("status"), ports]);
            }
            write_stdout(&table.to_string())?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn logs(project: &ProjectArgs, args: &LogsArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(project, LoadOptions::default())?;
    let since = args
        .since
        .as_deref()
        .map(|t| {
            super::parse_time("--since", t, chrono::Utc::now()).map(std::time::SystemTime::from)
        })
        .transpose()?;
    let tail = match args.tail.as_deref() {
        None | Some("all") => None,
        Some(n) => Some(
            n.parse::<usize>()
                .map_err(|_| miette!("--tail takes a number or \"all\", got {n:?}"))?,
        ),
    };
    runtime()?.block_on(async {
        let engine = engine_for(&stack).await?;
        let options = logs::Options {
            services: args.services.clone(),
            follow: args.follow,
            since,
            tail,
        };
        tokio::select! {
            r = logs::print(&stack, engine.as_ref(), &options) => r?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `start`, `stop` and `restart`, for containers and processes alike.
pub fn lifecycle(
    project: &ProjectArgs,
    args: &ServicesArgs,
    verb: &str,
) -> miette::Result<ExitCode> {
    lifecycle_as(project, args, verb, Role::Cli)
}

fn lifecycle_as(
    project: &ProjectArgs,
    args: &ServicesArgs,
    verb: &str,
    role: Role,
) -> miette::Result<ExitCode> {
    let stack = load_stack(project, LoadOptions::default())?;
    for s in &args.services {
        if !stack.declared.contains(s) {
            return Err(miette!(
                help = "`skiff config --services` lists them",
                "no such service: {s}"
            ));
        }
    }
    let selected =
        |service: &str| args.services.is_empty() || args.services.iter().any(|s| s == service);
    runtime()?.block_on(async {
        let engine = engine_for(&stack).await?;
        let (tx, reports) = tokio::sync::mpsc::unbounded_channel();
        let processes = processes(&stack, tx);
        // A stack the daemon keeps is taken back while it is stopped (it would restart
        // it); `start` and `restart` hand it back, and the daemon starts what is stopped.
        let kept = match role {
            Role::Cli => super::daemon::release(&stack.name, verb == "stop").await?,
            Role::Supervisor => None,
        };
        if role == Role::Cli && matches!(verb, "stop" | "restart") {
            let lock = if stack.has_process_state() {
                Some(supervision::lock(&stack).await?)
            } else {
                None
            };
            let observed = observe(&stack, engine.as_ref(), &processes).await?;
            let running: Vec<Instance> = observed
                .instances
                .into_iter()
                .filter(|i| selected(&i.service))
                .filter(|i| matches!(i.state, State::Running | State::Restarting | State::Paused))
                .collect();
            let errors = Hybrid::new(&stack, engine.as_ref(), &processes)
                .stop_instances(&running, AfterStop::KeepRecord, &say)
                .await;
            drop(lock);
            if !errors.is_empty() {
                return Err(miette!("{verb} did not finish:\n  {}", errors.join("\n  ")));
            }
        }
        if verb == "stop" {
            return Ok(ExitCode::SUCCESS);
        }
        if let Some(client) = kept {
            hand_to_daemon(&client, &stack, false, false).await?;
            return Ok(ExitCode::SUCCESS);
        }
        let observed = observe(&stack, engine.as_ref(), &processes).await?;
        let actions: Vec<Planned> = observed
            .instances
            .iter()
            .filter(|i| selected(&i.service) && stack.declared.contains(&i.service))
            .filter(|i| !matches!(i.state, State::Running | State::Restarting | State::Paused))
            .map(|i| Planned {
                wave: 1,
                action: Action::Start {
                    service: i.service.clone(),
                    id: i.id.clone(),
                    name: i.name.clone(),
                },
            })
            .collect();
        let plan = Plan { actions };
        if plan.is_empty() {
            if role == Role::Cli {
                eprintln!("Nothing to start.");
            }
            return Ok(ExitCode::SUCCESS);
        }
        if role == Role::Cli && starts_processes(&plan, &stack) {
            supervision::delegate(&stack, describe_for(&stack), false).await?;
            return Ok(ExitCode::SUCCESS);
        }
        let desired = stack.desired();
        let hybrid = Hybrid::new(&stack, engine.as_ref(), &processes);
        let opts = ExecOptions::default();
        let lock = if role == Role::Supervisor {
            Some(supervision::lock(&stack).await?)
        } else {
            None
        };
        let result = match role {
            Role::Cli => {
                let shown = Progress::new(false, describe_for(&stack));
                let result = execute(&hybrid, &desired, &plan, &opts, &|e| shown.event(&e)).await;
                shown.finish();
                result
            }
            Role::Supervisor => {
                execute(&hybrid, &desired, &plan, &opts, &|e: Event| {
                    supervision::emit(&supervision::Message::Event { event: e });
                })
                .await
            }
        };
        drop(lock);
        if role == Role::Supervisor {
            supervision::run_detached(&processes, reports, result).await;
            return Ok(ExitCode::SUCCESS);
        }
        result.map_err(|errors| {
            let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
            miette!("{verb} did not finish:\n  {}", lines.join("\n  "))
        })?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The hidden `supervise` command: carries out `up`, `start` or `restart` as the detached
/// supervisor of their processes.
pub fn supervise(args: &SuperviseArgs) -> miette::Result<ExitCode> {
    if let Err(e) = skiff_process::new_session() {
        eprintln!("supervisor: {e} (continuing in the caller's session)");
    }
    let cli = <Cli as clap::Parser>::try_parse_from(
        std::iter::once(std::ffi::OsString::from("skiff")).chain(args.args.iter().cloned()),
    )
    .map_err(|e| miette!("supervise: {e}"))?;
    match &cli.command {
        Command::Up(up) => up_as(&cli.project, up, Role::Supervisor),
        Command::Start(a) | Command::Restart(a) => {
            lifecycle_as(&cli.project, a, "start", Role::Supervisor)
        }
        _ => Err(miette!(
            "supervise: only up, start and restart run under a detached supervisor"
        )),
    }
}

pub fn exec(project: &ProjectArgs, args: &ExecArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(project, LoadOptions::default())?;
    if stack.is_process(&args.service) {
        return Err(miette!(
            help = "run the command on the host, in the service's working directory",
            "service {:?} runs as a host process: there is no container to exec into",
            args.service
        ));
    }
    runtime()?.block_on(async {
        let engine = connect().await?;
        let observed = engine
            .observe(&stack.name)
            .await
            .map_err(|e| miette!("{e}"))?;
        let target = observed
            .instances
            .iter()
            .find(|i| {
                i.service == args.service
                    && i.number == args.index
                    && matches!(i.state, skiff_plan::State::Running)
            })
            .ok_or_else(|| {
                miette!(
                    help = "`skiff ps` lists what runs",
                    "service {:?} has no running container #{}",
                    args.service,
                    args.index
                )
            })?;
        let spec = skiff_docker::ExecSpec {
            command: args.command.clone(),
            env: args.env.clone(),
            workdir: args.workdir.clone(),
            user: args.user.clone(),
        };
        let code = engine
            .exec(&target.id, spec, &mut |channel, bytes| match channel {
                skiff_docker::Channel::Stderr => {
                    let _ = std::io::stderr().write_all(bytes);
                }
                skiff_docker::Channel::Stdout => {
                    let _ = std::io::stdout().write_all(bytes);
                    let _ = std::io::stdout().flush();
                }
            })
            .await
            .map_err(|e| miette!("{e}"))?;
        Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(1),
        ))
    })
}

pub fn build(project: &ProjectArgs, args: &ServicesArgs) -> miette::Result<ExitCode> {
    let stack = load_stack(
        project,
        LoadOptions {
            services: &args.services,
            native: &[],
            consistency: true,
        },
    )?;
    if !stack.has_containers() {
        eprintln!("Nothing to build: every service runs as a host process.");
        return Ok(ExitCode::SUCCESS);
    }
    runtime()?.block_on(async {
        let engine = connect().await?;
        build_images(&engine, &stack.docker, &args.services, true).await?;
        Ok(ExitCode::SUCCESS)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_name_their_runtime() {
        let processes = BTreeSet::from(["api".to_owned()]);
        let create = Action::Create {
            service: "api".into(),
            number: 1,
            name: "p-api-1".into(),
        };
        assert_eq!(describe(&create, &processes).0, "process p-api-1");
        let moved = Action::Recreate {
            service: "api".into(),
            number: 1,
            id: "4f2a9c0e11d2".into(),
            name: "p-api-1".into(),
            reason: Reason::HashChanged,
        };
        assert_eq!(
            describe(&moved, &processes),
            (
                "process p-api-1".to_owned(),
                "recreate (container -> process)".to_owned()
            )
        );
        let removed = Action::Remove {
            service: "old".into(),
            id: "process:old-1".into(),
            name: "p-old-1".into(),
            reason: Removal::Orphan,
        };
        assert_eq!(describe(&removed, &processes).0, "process p-old-1");
    }
}
