//! Commands that run the stack on the Docker Engine: plan, up, down, ps, logs, start, stop,
//! restart, exec.
#![expect(
    clippy::print_stderr,
    reason = "the terminal edge: progress and status lines go to standard error"
)]

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use miette::{IntoDiagnostic, miette};
use skiff_docker::Engine;
use skiff_docker::project::{DockerRuntime, Project};
use skiff_plan::{Action, Plan, PlanOptions, Reason, Removal};
use skiff_runtime::{ExecOptions, execute};

use crate::cli::{
    DownArgs, ExecArgs, LogsArgs, OutputFormat, PlanArgs, ProjectArgs, PsArgs, ServicesArgs, UpArgs,
};
use crate::commands::config::request;
use crate::commands::write_stdout;
use crate::diagnostic::report;

/// The loaded project, for the engine.
pub fn load(project: &ProjectArgs, services: &[String]) -> miette::Result<Project> {
    let mut req = request(project)?;
    req.services = services.to_vec();
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    // The typed project, as `docker compose config` prints it (before `$` escaping): the form
    // the driver converts and hashes, so hashes match what docker compose computes.
    let json = loaded.project.to_json_value();
    let p = Project::new(
        &loaded.name,
        &loaded.working_dir,
        loaded.config_files.clone(),
        json,
    )
    .map_err(|e| miette!("{e}"))?;
    if let Err(errors) = p.check() {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        return Err(miette!(
            help = "nothing was changed",
            "the stack cannot run on the Docker Engine as written:\n  {}",
            lines.join("\n  ")
        ));
    }
    Ok(p)
}

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

fn runtime() -> miette::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .into_diagnostic()
}

fn describe(action: &Action) -> (String, String) {
    match action {
        Action::CreateNetwork { name, .. } => (format!("network {name}"), "create".into()),
        Action::CreateVolume { name, .. } => (format!("volume {name}"), "create".into()),
        Action::Create { name, .. } => (format!("container {name}"), "create".into()),
        Action::Recreate { name, reason, .. } => (
            format!("container {name}"),
            match reason {
                Reason::ConfigChanged { fields } => {
                    format!("recreate ({} changed)", fields.join(", "))
                }
                Reason::HashChanged => "recreate (configuration changed)".into(),
                Reason::ImageChanged { from, to } => {
                    format!(
                        "recreate (image moved: {} -> {})",
                        short_id(from),
                        short_id(to)
                    )
                }
            },
        ),
        Action::Start { name, .. } => (format!("container {name}"), "start (stopped)".into()),
        Action::Remove { name, reason, .. } => (
            format!("container {name}"),
            match reason {
                Removal::Orphan => "remove (orphan: service no longer declared)".into(),
                Removal::ScaleDown => "remove (scale down)".into(),
            },
        ),
    }
}

/// `sha256:87bdc8186171…` -> `87bdc8186171`, as `docker images` shows IDs.
fn short_id(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.get(..12).unwrap_or(hex)
}

fn print_plan(plan: &Plan, format: OutputFormat) -> miette::Result<()> {
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
            Action::Remove { .. } => '-',
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

pub fn plan(project: &ProjectArgs, args: &PlanArgs) -> miette::Result<ExitCode> {
    let mut p = load(project, &args.services)?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        p.resolve_images(&engine).await;
        let observed = engine.observe(&p.name).await.map_err(|e| miette!("{e}"))?;
        let plan = skiff_plan::plan(
            &p.desired(),
            &observed,
            &PlanOptions {
                remove_orphans: args.remove_orphans,
                only: args.services.clone(),
            },
        )
        .map_err(|e| miette!("{e}"))?;
        print_plan(&plan, args.format)?;
        Ok(if args.detailed_exitcode && !plan.is_empty() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        })
    })
}

pub fn up(project: &ProjectArgs, args: &UpArgs) -> miette::Result<ExitCode> {
    let mut p = load(project, &args.services)?;
    for s in &args.scale {
        let (name, n) = s
            .split_once('=')
            .ok_or_else(|| miette!("--scale takes SERVICE=N, got {s:?}"))?;
        let n: u64 = n
            .parse()
            .map_err(|_| miette!("--scale {name}: {n:?} is not a number"))?;
        let svc = p
            .json
            .pointer_mut(&format!("/services/{name}"))
            .ok_or_else(|| miette!("--scale: no service {name:?}"))?;
        if let Some(m) = svc.as_object_mut() {
            m.remove("scale");
            let deploy = m.entry("deploy").or_insert_with(|| serde_json::json!({}));
            deploy["replicas"] = serde_json::json!(n);
        }
    }
    let rt = runtime()?;
    rt.block_on(async {
        let engine = connect().await?;
        let started = Instant::now();
        build_images(&engine, &p, &args.services, args.build).await?;
        p.resolve_images(&engine).await;
        let mut observed = engine.observe(&p.name).await.map_err(|e| miette!("{e}"))?;
        let mut names = observed.networks.clone();
        names.sort();
        names.dedup();
        if names.len() != observed.networks.len() {
            engine.dedupe_networks(&p.name).await.map_err(|e| miette!("{e}"))?;
            observed = engine.observe(&p.name).await.map_err(|e| miette!("{e}"))?;
        }
        let desired = p.desired();
        let plan = skiff_plan::plan(&desired, &observed, &PlanOptions { remove_orphans: args.remove_orphans, only: args.services.clone() })
            .map_err(|e| miette!("{e}"))?;
        let json = args.format == OutputFormat::Json;
        if plan.is_empty() {
            if !json {
                eprintln!("Nothing to do: the stack runs as declared ({:.0} ms).", started.elapsed().as_secs_f64() * 1000.0);
            }
        } else {
            let runtime = DockerRuntime { engine: &engine, project: &p, stop_timeout: Duration::from_secs(10) };
            let opts = ExecOptions { dependency_timeout: Duration::from_secs(args.timeout), ..ExecOptions::default() };
            let shown = crate::progress::Progress::new(json, describe);
            let result = execute(&runtime, &desired, &plan, &opts, &|e| shown.event(&e)).await;
            shown.finish();
            if let Err(errors) = result {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                return Err(miette!(
                    help = "run `skiff up` again to resume: it continues from what is running; `skiff logs SERVICE` shows why a container failed",
                    "the stack did not converge:\n  {}",
                    lines.join("\n  ")
                ));
            }
            if !json {
                eprintln!("Converged in {:.2}s.", started.elapsed().as_secs_f64());
            }
        }
        if args.wait {
            let runtime = DockerRuntime { engine: &engine, project: &p, stop_timeout: Duration::from_secs(10) };
            wait_all(&runtime, &desired, Duration::from_secs(args.timeout)).await?;
        }
        if !args.detach && !args.wait {
            let names: Vec<String> = if args.services.is_empty() { desired.services.iter().map(|s| s.name.clone()).collect() } else { args.services.clone() };
            eprintln!("Attaching to logs; Ctrl-C stops following (the stack keeps running; `skiff down` stops it).");
            tokio::select! {
                r = follow_logs(&engine, &p.name, &names, true, None, None) => r?,
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

async fn wait_all(
    runtime: &DockerRuntime<'_>,
    desired: &skiff_plan::Desired,
    timeout: Duration,
) -> miette::Result<()> {
    use skiff_runtime::{Readiness, Runtime};
    let deadline = Instant::now() + timeout;
    for s in desired.services.iter().filter(|s| s.replicas > 0) {
        loop {
            let (r, has_hc) = runtime
                .readiness(&s.name)
                .await
                .map_err(|e| miette!("{e}"))?;
            match r {
                Readiness::Healthy => break,
                Readiness::Started if !has_hc => break,
                Readiness::Exited(0) => break,
                Readiness::Exited(code) => {
                    return Err(miette!("service {} exited with code {code}", s.name));
                }
                Readiness::Unhealthy => {
                    return Err(miette!(
                        help = "`skiff logs {}` shows its output",
                        "service {} is unhealthy",
                        s.name
                    ));
                }
                _ => {}
            }
            if Instant::now() > deadline {
                return Err(miette!(
                    "service {} did not become ready within {timeout:?}",
                    s.name
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("All services are ready.");
    Ok(())
}

pub fn down(project: &ProjectArgs, args: &DownArgs) -> miette::Result<ExitCode> {
    let mut req = request(project)?;
    req.consistency = false;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    let json = loaded.project.to_json_value();
    let name = loaded.name.clone();
    runtime()?.block_on(async {
        let engine = connect().await?;
        let containers = engine.containers(&name).await.map_err(|e| miette!("{e}"))?;
        let declared: Vec<&str> = json
            .get("services")
            .and_then(|s| s.as_object())
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut tasks = Vec::new();
        for c in &containers {
            let labels = c.labels.clone().unwrap_or_default();
            let service = labels
                .get(skiff_docker::labels::SERVICE)
                .cloned()
                .unwrap_or_default();
            if !args.remove_orphans && !declared.contains(&service.as_str()) && !declared.is_empty()
            {
                continue;
            }
            let id = c.id.clone().unwrap_or_default();
            let cname = c
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default();
            let grace = json
                .pointer(&format!("/services/{service}/stop_grace_period"))
                .and_then(|v| v.as_str())
                .and_then(|d| skiff_model::xskiff::parse_go_duration(d).ok())
                .unwrap_or(Duration::from_secs(10));
            let engine = engine.clone();
            tasks.push(async move {
                eprintln!("container {cname}: stopping");
                engine.stop(&id, Some(grace)).await?;
                engine.remove(&id, false).await?;
                eprintln!("container {cname}: removed");
                Ok::<(), skiff_docker::EngineError>(())
            });
        }
        for r in futures_util::future::join_all(tasks).await {
            r.map_err(|e| miette!("{e}"))?;
        }
        let observed = engine.observe(&name).await.map_err(|e| miette!("{e}"))?;
        for n in observed.networks {
            match engine.docker.remove_network(&n).await {
                Ok(()) => eprintln!("network {n}: removed"),
                Err(e) => eprintln!("network {n}: not removed: {e}"),
            }
        }
        if args.volumes {
            for v in observed.volumes {
                engine
                    .docker
                    .remove_volume(&v, None::<bollard_options::RemoveVolumeOptions>)
                    .await
                    .map_err(|e| miette!("remove volume {v}: {e}"))?;
                eprintln!("volume {v}: removed");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}

mod bollard_options {
    pub use skiff_docker::bollard::query_parameters::RemoveVolumeOptions;
}

pub fn ps(project: &ProjectArgs, args: &PsArgs) -> miette::Result<ExitCode> {
    let mut req = request(project)?;
    req.consistency = false;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        let mut containers = engine.containers(&loaded.name).await.map_err(|e| miette!("{e}"))?;
        containers.sort_by_key(|c| c.names.clone().unwrap_or_default());
        let rows: Vec<serde_json::Value> = containers
            .iter()
            .filter(|c| args.all || c.state.as_ref().map(ToString::to_string).as_deref() == Some("running"))
            .map(|c| {
                let labels = c.labels.clone().unwrap_or_default();
                let ports: Vec<String> = c
                    .ports
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|p| match (p.ip.as_deref(), p.public_port) {
                        (Some(ip), Some(pub_)) => format!("{ip}:{pub_}->{}/{}", p.private_port, p.typ.map(|t| t.to_string()).unwrap_or_default()),
                        _ => format!("{}/{}", p.private_port, p.typ.map(|t| t.to_string()).unwrap_or_default()),
                    })
                    .collect();
                serde_json::json!({
                    "name": c.names.as_ref().and_then(|n| n.first()).map(|n| n.trim_start_matches('/')),
                    "service": labels.get(skiff_docker::labels::SERVICE),
                    "image": c.image,
                    "state": c.state.as_ref().map(ToString::to_string),
                    "status": c.status,
                    "ports": ports,
                    "runtime": "container",
                })
            })
            .collect();
        if args.format == OutputFormat::Json {
            write_stdout(&serde_json::to_string_pretty(&rows).into_diagnostic()?)?;
        } else {
            let mut table = comfy_table::Table::new();
            table.load_preset(comfy_table::presets::NOTHING);
            table.set_header(["NAME", "SERVICE", "RUNTIME", "STATUS", "PORTS"]);
            for r in &rows {
                let s = |k: &str| r.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                let ports = r["ports"].as_array().map(|a| a.iter().filter_map(|p| p.as_str()).collect::<Vec<_>>().join(", ")).unwrap_or_default();
                table.add_row([s("name"), s("service"), s("runtime"), s("status"), ports]);
            }
            write_stdout(&table.to_string())?;
        }
        Ok(ExitCode::SUCCESS)
    })
}

const COLORS: [&str; 6] = [
    "\x1b[36m", "\x1b[33m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[31m",
];

async fn follow_logs(
    engine: &Engine,
    project: &str,
    services: &[String],
    follow: bool,
    since: Option<i32>,
    tail: Option<String>,
) -> miette::Result<()> {
    use skiff_docker::bollard::container::LogOutput;
    use skiff_docker::bollard::query_parameters::LogsOptionsBuilder;
    use std::io::IsTerminal;
    let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let containers = engine
        .containers(project)
        .await
        .map_err(|e| miette!("{e}"))?;
    let mut streams = Vec::new();
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for c in containers {
        let labels = c.labels.clone().unwrap_or_default();
        let service = labels
            .get(skiff_docker::labels::SERVICE)
            .cloned()
            .unwrap_or_default();
        if !services.is_empty() && !services.contains(&service) {
            continue;
        }
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_owned())
            .unwrap_or_default();
        let n = names.len();
        names.insert(name.clone(), n);
        let mut opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(follow)
            .timestamps(false);
        if let Some(s) = since {
            opts = opts.since(s);
        }
        if let Some(t) = &tail {
            opts = opts.tail(t);
        }
        let id = c.id.clone().unwrap_or_default();
        let prefix = if color {
            format!("{}{name}\x1b[0m | ", COLORS[n % COLORS.len()])
        } else {
            format!("{name} | ")
        };
        let s = engine
            .docker
            .logs(&id, Some(opts.build()))
            .map(move |item| (prefix.clone(), item));
        streams.push(Box::pin(s));
    }
    let width = names.keys().map(String::len).max().unwrap_or(0);
    let _ = width;
    let mut merged = futures_util::stream::select_all(streams);
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    while let Some((prefix, item)) = merged.next().await {
        let Ok(out) = item else { continue };
        let bytes = match out {
            LogOutput::StdOut { message }
            | LogOutput::StdErr { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => message,
        };
        let buf = pending.entry(prefix.clone()).or_default();
        buf.push_str(&String::from_utf8_lossy(&bytes));
        let mut stdout = std::io::stdout().lock();
        while let Some(pos) = buf.find('\n') {
            let line: String = buf.drain(..=pos).collect();
            let _ = write!(stdout, "{prefix}{line}");
        }
        let _ = stdout.flush();
    }
    Ok(())
}

pub fn logs(project: &ProjectArgs, args: &LogsArgs) -> miette::Result<ExitCode> {
    let mut req = request(project)?;
    req.consistency = false;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    let since = args.since.as_deref().map(parse_since).transpose()?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        tokio::select! {
            r = follow_logs(&engine, &loaded.name, &args.services, args.follow, since, args.tail.clone()) => r?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok(ExitCode::SUCCESS)
    })
}

/// `--since 10m` or a UNIX timestamp.
fn parse_since(s: &str) -> miette::Result<i32> {
    if let Ok(ts) = s.parse::<i32>() {
        return Ok(ts);
    }
    let d = skiff_model::xskiff::parse_go_duration(s).map_err(|e| miette!("--since: {e}"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .into_diagnostic()?;
    i32::try_from(now.saturating_sub(d).as_secs()).map_err(|_| miette!("--since: out of range"))
}

pub fn lifecycle(
    project: &ProjectArgs,
    args: &ServicesArgs,
    verb: &str,
) -> miette::Result<ExitCode> {
    let mut req = request(project)?;
    req.consistency = false;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        let observed = engine
            .observe(&loaded.name)
            .await
            .map_err(|e| miette!("{e}"))?;
        for i in observed
            .instances
            .iter()
            .filter(|i| args.services.is_empty() || args.services.contains(&i.service))
        {
            match verb {
                "stop" => engine.stop(&i.id, None).await,
                "start" => engine.start(&i.id).await,
                _ => match engine.stop(&i.id, None).await {
                    Ok(()) => engine.start(&i.id).await,
                    Err(e) => Err(e),
                },
            }
            .map_err(|e| miette!("{e}"))?;
            let done = match verb {
                "stop" => "stopped",
                "start" => "started",
                _ => "restarted",
            };
            eprintln!("container {}: {done}", i.name);
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn exec(project: &ProjectArgs, args: &ExecArgs) -> miette::Result<ExitCode> {
    use skiff_docker::bollard::exec::{CreateExecOptions, StartExecResults};
    let mut req = request(project)?;
    req.consistency = false;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        let observed = engine
            .observe(&loaded.name)
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
        let exec = engine
            .docker
            .create_exec(
                &target.id,
                CreateExecOptions::<String> {
                    cmd: Some(args.command.clone()),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    env: if args.env.is_empty() {
                        None
                    } else {
                        Some(args.env.clone())
                    },
                    working_dir: args.workdir.clone(),
                    user: args.user.clone(),
                    ..CreateExecOptions::default()
                },
            )
            .await
            .map_err(|e| miette!("exec in {}: {e}", target.name))?;
        if let StartExecResults::Attached { mut output, .. } = engine
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(|e| miette!("{e}"))?
        {
            while let Some(Ok(chunk)) = output.next().await {
                use skiff_docker::bollard::container::LogOutput;
                match chunk {
                    LogOutput::StdErr { message } => {
                        let _ = std::io::stderr().write_all(&message);
                    }
                    other => {
                        let _ = std::io::stdout().write_all(other.as_ref());
                        let _ = std::io::stdout().flush();
                    }
                }
            }
        }
        let code = engine
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(|e| miette!("{e}"))?
            .exit_code
            .unwrap_or(0);
        Ok(ExitCode::from(
            u8::try_from(code.clamp(0, 255)).unwrap_or(1),
        ))
    })
}

/// Builds the images of services with `build:` (all of them when `force`, else only those
/// whose image is missing).
async fn build_images(
    engine: &Engine,
    p: &Project,
    only: &[String],
    force: bool,
) -> miette::Result<()> {
    for (name, svc) in p.services() {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let Some(build) = svc.get("build") else {
            continue;
        };
        let image = svc.get("image").and_then(|i| i.as_str()).map_or_else(
            || skiff_docker::convert::default_image(&p.name, name),
            str::to_owned,
        );
        if !force && engine.docker.inspect_image(&image).await.is_ok() {
            continue;
        }
        eprintln!("service {name}: building {image}");
        let prefix = format!("service {name}: ");
        skiff_docker::build::build(engine, &image, build, &|line| eprintln!("{prefix}{line}"))
            .await
            .map_err(|e| {
                miette!(
                    help = "fix the Dockerfile or the build context; nothing was started",
                    "{e}"
                )
            })?;
    }
    Ok(())
}

pub fn build(project: &ProjectArgs, args: &ServicesArgs) -> miette::Result<ExitCode> {
    let p = load(project, &args.services)?;
    runtime()?.block_on(async {
        let engine = connect().await?;
        build_images(&engine, &p, &args.services, true).await?;
        Ok(ExitCode::SUCCESS)
    })
}
