//! The daemon's world on this host: containers on the Docker Engine and host processes,
//! through the same [`Hybrid`] runtime the CLI uses ([`skiff_daemon::World`]).
//!
//! A deployment arrives as a [`StackSource`] (what `skiff up -d` loaded). Restarts are the
//! daemon's: containers it creates carry the engine restart policy `no`, and containers it
//! takes over get it through `docker update`; process supervisors report exits and never
//! restart on their own. What happens is reported into the loop from two sources: the
//! engine's event stream (start, die with the exit code, health, destroy; reconnected when it
//! breaks) and the process supervisors' reports.
//!
//! Processes hold their output pipes to the daemon: a daemon that is killed leaves its
//! processes running until they next write; the next daemon takes over those still running
//! (same configuration) and restarts the others, never starting a second copy (records and
//! the planner decide, as for the CLI).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::StreamExt;
use skiff_daemon::{Change, Deployment, InstanceRef, Sink, World, WorldEvent};
use skiff_docker::{ContainerChange, Engine};
use skiff_plan::{Action, Desired, Observed};
use skiff_process::{ProcessRuntime, Report, Supervisor, parse_instance_id};
use skiff_runtime::{Readiness, Runtime, RuntimeError};
use tokio::sync::mpsc;

use crate::hybrid::{Hybrid, Side, side_of_id};
use crate::stack::{Stack, StackSource};

/// One deployed project: its stack and the process runtime that supervises its processes.
pub struct Hosted {
    pub stack: Stack,
    pub processes: ProcessRuntime,
}

impl crate::jobs::JobHost for Hosted {
    fn project(&self) -> &str {
        &self.stack.name
    }
    fn state_dir(&self) -> &std::path::Path {
        &self.stack.state_dir
    }
    fn declares(&self, service: &str) -> bool {
        self.stack.declared.contains(service)
    }
    fn is_process(&self, service: &str) -> bool {
        self.stack.is_process(service)
    }
    fn docker(&self) -> &skiff_docker::project::Project {
        &self.stack.docker
    }
    fn processes(&self) -> &ProcessRuntime {
        &self.processes
    }
    fn jobs(&self) -> BTreeMap<String, skiff_model::xskiff::Job> {
        self.stack.jobs()
    }
    async fn prepare_process(&self, engine: Option<&Engine>, service: &str) {
        Hybrid::new(&self.stack, engine, &self.processes)
            .prepare_process(service)
            .await;
    }
}

pub struct HostWorld {
    env: std::collections::HashMap<String, String>,
    engine: tokio::sync::OnceCell<Engine>,
    projects: Mutex<BTreeMap<String, Arc<Hosted>>>,
    /// Supervisors of projects deployed again: kept running until a plan stops them
    /// (through their records' stop markers, as any skiff process stops them).
    retired: Mutex<Vec<Supervisor>>,
    sink: Arc<Mutex<Option<Sink>>>,
    /// The containers each project had at its last observation, for usage metrics.
    containers: Mutex<BTreeMap<String, Vec<Seen>>>,
    /// Each project's backup scheduler, stopped by setting its flag.
    schedulers: Mutex<BTreeMap<String, Arc<AtomicBool>>>,
    /// Each project's jobs task (`x-skiff.jobs`), stopped by dropping it.
    jobs: Mutex<BTreeMap<String, crate::jobs::Jobs<Hosted>>>,
    /// The daemon's history file, read for what the backup timers remember.
    history: Option<std::path::PathBuf>,
}

/// A container as last observed: (service, name, ID).
type Seen = (String, String, String);

impl HostWorld {
    #[must_use]
    pub fn new(env: std::collections::HashMap<String, String>) -> HostWorld {
        HostWorld {
            env,
            engine: tokio::sync::OnceCell::new(),
            projects: Mutex::new(BTreeMap::new()),
            retired: Mutex::new(Vec::new()),
            sink: Arc::new(Mutex::new(None)),
            containers: Mutex::new(BTreeMap::new()),
            schedulers: Mutex::new(BTreeMap::new()),
            jobs: Mutex::new(BTreeMap::new()),
            history: None,
        }
    }

    /// Reads the daemon's history at `path` when backups are scheduled, so that staleness
    /// is measured from the last success recorded there, across restarts of the daemon.
    #[must_use]
    pub fn with_history(mut self, path: &std::path::Path) -> HostWorld {
        self.history = Some(path.to_path_buf());
        self
    }

    /// The project's backup events in the history (none without one, or when it cannot be
    /// read: then staleness is measured from now, and the daemon's log says why).
    fn backup_history(&self, project: &str) -> Vec<skiff_store::Recorded> {
        let Some(path) = &self.history else {
            return Vec::new();
        };
        let filter = skiff_store::Filter {
            project: Some(project.to_owned()),
            kinds: crate::backup_timers::BackupTimers::REMEMBERS.to_vec(),
            ..skiff_store::Filter::default()
        };
        match skiff_store::Store::open(path).and_then(|store| store.query(&filter)) {
            Ok(events) => events,
            Err(e) => {
                tracing::warn!(error = %e, "backup staleness is measured from now: the history cannot be read");
                Vec::new()
            }
        }
    }

    /// The engine, connected on first need (a daemon of process-only stacks never needs it).
    async fn engine(&self) -> Result<&Engine, RuntimeError> {
        self.engine
            .get_or_try_init(|| Engine::connect(&self.env))
            .await
            .map_err(|e| RuntimeError::new("connect to the Docker Engine", e.to_string()))
    }

    async fn engine_for(&self, stack: &Stack) -> Result<Option<&Engine>, RuntimeError> {
        if stack.has_containers() {
            self.engine().await.map(Some)
        } else {
            Ok(None)
        }
    }

    /// Runs the project's backups and restore drills on their `schedule:`s (replacing the
    /// scheduler of an earlier deploy), recording each outcome in the history.
    fn schedule_backups(&self, source: &StackSource) {
        let backups = skiff_compose::extension::decode_json(&source.canonical, &source.left_out)
            .map(|e| e.project.backups)
            .unwrap_or_default();
        let cancel = Arc::new(AtomicBool::new(false));
        let previous = self
            .schedulers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(source.name.clone(), Arc::clone(&cancel));
        if let Some(previous) = previous {
            previous.store(true, Ordering::Relaxed);
        }
        if backups.is_empty() {
            return;
        }
        let history = self.backup_history(&source.name);
        let mut timers =
            crate::backup_timers::BackupTimers::new(&backups, chrono::Utc::now(), &history);
        if timers.is_empty() {
            return;
        }
        let sink = Arc::clone(&self.sink);
        let source = source.clone();
        tracing::info!(
            project = source.name,
            jobs = timers.len(),
            "backups scheduled"
        );
        // A thread of its own: backups are long, blocking work that drives the engine with
        // a runtime of their own; one runs at a time. When and what is `timers`' to say.
        let spawned = std::thread::Builder::new()
            .name(format!("backups-{}", source.name))
            .spawn(move || {
                loop {
                    let Some(at) = timers.next_wake() else {
                        return;
                    };
                    while chrono::Utc::now() < at {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                        std::thread::sleep(left.min(Duration::from_millis(250)));
                    }
                    for due in timers.due(chrono::Utc::now()) {
                        if cancel.load(Ordering::Relaxed) {
                            return;
                        }
                        let event = crate::backup::scheduled(&source, &due.backup, due.drill);
                        let succeeded = matches!(
                            event.kind,
                            skiff_store::Kind::BackupSucceeded | skiff_store::Kind::Verified
                        );
                        let now = chrono::Utc::now();
                        let stale = timers.finished(&due, succeeded, now).map(|stale| {
                            skiff_store::Event::new(now, skiff_store::Kind::BackupStale)
                                .project(&source.name)
                                .trigger("schedule")
                                .detail(serde_json::json!({
                                    "backup": stale.backup,
                                    "last_success": stale.last_success,
                                }))
                        });
                        let recorded = std::iter::once(event).chain(stale).all(|event| {
                            sink.lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .as_ref()
                                .is_some_and(|s| s.record(event))
                        });
                        if !recorded {
                            return;
                        }
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the backup scheduler");
        }
    }

    /// Starts the project's jobs task, or tells the running one of this deploy (its runs
    /// and retries carry on).
    async fn schedule_jobs(&self, hosted: &Arc<Hosted>) {
        let name = hosted.stack.name.clone();
        if let Some(jobs) = self
            .jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name)
        {
            jobs.update(Arc::clone(hosted));
            return;
        }
        if hosted.stack.jobs().is_empty() {
            return;
        }
        let engine = match self.engine_for(&hosted.stack).await {
            Ok(engine) => engine.cloned(),
            Err(error) => {
                tracing::warn!(project = name, %error, "jobs of containers cannot run");
                None
            }
        };
        let jobs = crate::jobs::schedule(Arc::clone(hosted), engine, Arc::clone(&self.sink));
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, jobs);
    }

    fn hosted(&self, name: &str) -> Result<Arc<Hosted>, RuntimeError> {
        self.projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(name)
            .cloned()
            .ok_or_else(|| RuntimeError::new(format!("act on project {name}"), "not deployed here"))
    }

    fn hybrid<'a>(&self, hosted: &'a Hosted, engine: Option<&'a Engine>) -> Hybrid<'a> {
        Hybrid::new(&hosted.stack, engine, &hosted.processes)
    }

    /// Forwards a project's supervisor reports into the loop.
    fn forward(&self, stack: &Stack, mut reports: mpsc::UnboundedReceiver<Report>) {
        let sink = Arc::clone(&self.sink);
        let fixed: BTreeMap<String, String> = stack
            .processes
            .iter()
            .filter_map(|p| Some((p.name.clone(), p.fixed_name.clone()?)))
            .collect();
        tokio::spawn(async move {
            while let Some(report) = reports.recv().await {
                let Some(change) = process_change(&report.event) else {
                    continue;
                };
                let id = &report.instance;
                let name = fixed
                    .get(&id.service)
                    .cloned()
                    .unwrap_or_else(|| format!("{}-{}-{}", id.project, id.service, id.number));
                let event = WorldEvent {
                    project: id.project.clone(),
                    service: id.service.clone(),
                    instance: name,
                    id: skiff_process::instance_id(&id.service, id.number),
                    change,
                };
                let sent = sink
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .as_ref()
                    .is_some_and(|s| s.send(event));
                if !sent {
                    tracing::debug!("a process report found no loop to go to");
                }
            }
        });
    }
}

impl Drop for HostWorld {
    /// The daemon stops and the stacks keep running: its supervisors let go of their
    /// processes instead of stopping them; the next daemon adopts them.
    fn drop(&mut self) {
        let projects =
            std::mem::take(&mut *self.projects.lock().unwrap_or_else(PoisonError::into_inner));
        for hosted in projects.values() {
            for s in hosted.processes.take_supervisors() {
                s.detach();
            }
        }
        for s in self
            .retired
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            s.detach();
        }
    }
}

/// What a supervisor's report means to the loop; `None` for its own bookkeeping.
fn process_change(event: &skiff_process::Event) -> Option<Change> {
    use skiff_process::Event as E;
    Some(match event {
        E::Started { .. } | E::Adopted { .. } => Change::Started,
        E::Exited { exit, .. } => Change::Exited {
            code: exit.code().unwrap_or(-1),
        },
        E::SpawnFailed { .. } => Change::Exited { code: -1 },
        E::HealthChanged { health, .. } => Change::HealthChanged {
            health: match health {
                skiff_process::Health::Starting => skiff_store::Health::Starting,
                skiff_process::Health::Healthy => skiff_store::Health::Healthy,
                skiff_process::Health::Unhealthy => skiff_store::Health::Unhealthy,
            },
        },
        E::Restarting { .. } | E::Error { .. } | E::Finished { .. } => return None,
    })
}

fn container_change(change: ContainerChange) -> Change {
    match change {
        ContainerChange::Started => Change::Started,
        ContainerChange::Died { exit_code } => Change::Exited { code: exit_code },
        ContainerChange::Healthy => Change::HealthChanged {
            health: skiff_store::Health::Healthy,
        },
        ContainerChange::Unhealthy => Change::HealthChanged {
            health: skiff_store::Health::Unhealthy,
        },
        ContainerChange::Destroyed => Change::Removed,
    }
}

impl World for HostWorld {
    async fn desired(&self, name: &str, project: &StackSource) -> Result<Desired, RuntimeError> {
        let what = format!("read project {name}");
        let mut stack = Stack::from_source(project.clone())
            .map_err(|e| RuntimeError::new(what.clone(), e.in_words()))?;
        let engine = self.engine_for(&stack).await?;
        if let Some(engine) = engine {
            stack.docker.resolve_images(engine).await;
            // Restarts are the daemon's from now on, not the engine's as well.
            for c in engine.containers(&stack.name).await.unwrap_or_default() {
                if let Err(e) = engine.set_restart_policy(&c.id, "no").await {
                    tracing::warn!(error = %e, "could not take over a container's restarts");
                }
            }
        }
        let (tx, reports) = mpsc::unbounded_channel();
        let processes =
            ProcessRuntime::new(&stack.name, &stack.state_dir, stack.processes.clone(), tx)
                .with_caller_restarts();
        self.forward(&stack, reports);
        if stack.has_process_state() {
            processes
                .sweep()
                .await
                .map_err(|e| RuntimeError::new(what.clone(), e.to_string()))?;
        }
        // Services without a restart policy are healed by the daemon by default.
        let desired = stack.daemon_desired();
        self.schedule_backups(&stack.source);
        let hosted = Arc::new(Hosted { stack, processes });
        let previous = self
            .projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name.to_owned(), Arc::clone(&hosted));
        if let Some(previous) = previous {
            self.retired
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .extend(previous.processes.take_supervisors());
        }
        // Processes whose supervisor died with an earlier daemon: supervised again.
        for adopted in hosted.processes.adopt_unsupervised().await {
            tracing::info!(
                instance = adopted,
                "process taken over from an earlier supervisor"
            );
        }
        self.schedule_jobs(&hosted).await;
        Ok(desired)
    }

    async fn observe(&self, deployment: &Deployment) -> Result<Observed, RuntimeError> {
        let hosted = self.hosted(&deployment.name)?;
        let engine = self.engine_for(&hosted.stack).await?;
        let observed = Hybrid::new(&hosted.stack, engine, &hosted.processes)
            .observe()
            .await
            .map_err(|e| {
                RuntimeError::new(format!("observe {}", deployment.name), e.to_string())
            })?;
        let containers = observed
            .instances
            .iter()
            .filter(|i| side_of_id(&i.id) == Side::Container)
            .map(|i| (i.service.clone(), i.name.clone(), i.id.clone()))
            .collect();
        self.containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(deployment.name.clone(), containers);
        Ok(observed)
    }

    async fn apply(&self, deployment: &Deployment, action: &Action) -> Result<(), RuntimeError> {
        let hosted = self.hosted(&deployment.name)?;
        let engine = self.engine_for(&hosted.stack).await?;
        self.hybrid(&hosted, engine).apply(action).await
    }

    async fn readiness(
        &self,
        deployment: &Deployment,
        service: &str,
    ) -> Result<(Readiness, bool), RuntimeError> {
        let hosted = self.hosted(&deployment.name)?;
        let engine = self.engine_for(&hosted.stack).await?;
        self.hybrid(&hosted, engine).readiness(service).await
    }

    async fn prepare(&self, deployment: &Deployment, action: &Action) {
        let Ok(hosted) = self.hosted(&deployment.name) else {
            return;
        };
        if let Ok(engine) = self.engine_for(&hosted.stack).await {
            self.hybrid(&hosted, engine).prepare(action).await;
        }
    }

    async fn restart(
        &self,
        deployment: &Deployment,
        instance: &InstanceRef,
    ) -> Result<(), RuntimeError> {
        let hosted = self.hosted(&deployment.name)?;
        match side_of_id(&instance.id) {
            Side::Process => {
                let (service, number) = parse_instance_id(&instance.id).ok_or_else(|| {
                    RuntimeError::new(format!("restart {}", instance.name), "not a process")
                })?;
                self.hybrid(&hosted, None).prepare_process(service).await;
                hosted
                    .processes
                    .restart_instance(service, number, &instance.name)
                    .await
            }
            Side::Container => {
                let engine = self.engine().await?;
                let hybrid = self.hybrid(&hosted, Some(engine));
                let docker = hybrid.docker.as_ref().ok_or_else(|| {
                    RuntimeError::new(format!("restart {}", instance.name), "no engine")
                })?;
                docker
                    .restart_instance(&instance.service, &instance.id, &instance.name)
                    .await
            }
        }
    }

    fn released(&self, project: &str) {
        self.jobs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(project);
        if let Some(cancel) = self
            .schedulers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(project)
        {
            cancel.store(true, Ordering::Relaxed);
        }
    }

    fn usage(&self) -> Vec<skiff_daemon::InstanceUsage> {
        let mut out = Vec::new();
        let containers = self
            .containers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for (project, list) in containers {
            for (service, instance, id) in list {
                if let Some((cpu_seconds, memory_bytes)) = usage::container(&id) {
                    out.push(skiff_daemon::InstanceUsage {
                        project: project.clone(),
                        service,
                        instance,
                        cpu_seconds,
                        memory_bytes,
                    });
                }
            }
        }
        let projects: Vec<Arc<Hosted>> = self
            .projects
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        for hosted in projects {
            let Ok(records) =
                skiff_process::record::observe(&hosted.stack.state_dir, &hosted.stack.name)
            else {
                continue;
            };
            for o in records {
                if o.state != skiff_process::ObservedState::Running {
                    continue;
                }
                let (cpu_seconds, memory_bytes) = usage::process_group(o.record.pgid);
                out.push(skiff_daemon::InstanceUsage {
                    project: o.record.project.clone(),
                    service: o.record.service.clone(),
                    instance: o.record.name.clone(),
                    cpu_seconds,
                    memory_bytes,
                });
            }
        }
        out
    }

    fn watch(&self, sink: Sink) {
        *self.sink.lock().unwrap_or_else(PoisonError::into_inner) = Some(sink.clone());
        let env = self.env.clone();
        tokio::spawn(async move {
            let mut announced = false;
            loop {
                let engine = match Engine::connect(&env).await {
                    Ok(engine) => engine,
                    Err(e) => {
                        if !announced {
                            tracing::info!(error = %e, "no Docker Engine to follow (yet); retrying");
                            announced = true;
                        }
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        continue;
                    }
                };
                announced = false;
                let mut events = std::pin::pin!(engine.container_events());
                tracing::info!("following the Docker Engine's events");
                while let Some(event) = events.next().await {
                    match event {
                        Ok(e) => {
                            let sent = sink.send(WorldEvent {
                                project: e.project,
                                service: e.service,
                                instance: e.name,
                                id: e.id,
                                change: container_change(e.change),
                            });
                            if !sent {
                                return;
                            }
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "the engine's event stream broke; reconnecting");
                            break;
                        }
                    }
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }
}

/// CPU and memory from the kernel's own accounting: cgroups for containers (v1 or v2, either
/// cgroup driver), `/proc` for process groups. No engine call.
mod usage {
    use std::path::Path;

    /// Linux reports `/proc/<pid>/stat` times in USER_HZ, which is 100 for userspace.
    const USER_HZ: f64 = 100.0;

    fn read_u64(path: &Path) -> Option<u64> {
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// (CPU seconds, memory bytes) of a container, by its full ID.
    pub fn container(id: &str) -> Option<(f64, u64)> {
        let root = Path::new("/sys/fs/cgroup");
        // cgroup v1 (cgroupfs, then systemd driver).
        for group in [
            format!("docker/{id}"),
            format!("system.slice/docker-{id}.scope"),
        ] {
            let cpu = read_u64(&root.join("cpuacct").join(&group).join("cpuacct.usage"));
            let mem = read_u64(
                &root
                    .join("memory")
                    .join(&group)
                    .join("memory.usage_in_bytes"),
            );
            if let (Some(cpu), Some(mem)) = (cpu, mem) {
                #[expect(clippy::cast_precision_loss, reason = "nanoseconds as seconds")]
                return Some((cpu as f64 / 1e9, mem));
            }
        }
        // cgroup v2.
        for group in [
            format!("system.slice/docker-{id}.scope"),
            format!("docker/{id}"),
        ] {
            let dir = root.join(&group);
            let Ok(stat) = std::fs::read_to_string(dir.join("cpu.stat")) else {
                continue;
            };
            let usec: u64 = stat
                .lines()
                .find_map(|l| l.strip_prefix("usage_usec "))
                .and_then(|v| v.trim().parse().ok())?;
            let mem = read_u64(&dir.join("memory.current")).unwrap_or(0);
            #[expect(clippy::cast_precision_loss, reason = "microseconds as seconds")]
            return Some((usec as f64 / 1e6, mem));
        }
        None
    }

    /// (CPU seconds, resident bytes) summed over the live members of a process group.
    pub fn process_group(pgid: i32) -> (f64, u64) {
        let mut ticks = 0u64;
        let mut rss_kb = 0u64;
        let Ok(entries) = std::fs::read_dir("/proc") else {
            return (0.0, 0);
        };
        for e in entries.filter_map(Result::ok) {
            if !e
                .file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
            {
                continue;
            }
            let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
                continue;
            };
            // After the command's closing parenthesis: state, ppid, pgrp, ... utime (11),
            // stime (12) counting from state as 0.
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map(|(_, rest)| rest.split_whitespace().collect())
                .unwrap_or_default();
            if fields.get(2).and_then(|g| g.parse::<i32>().ok()) != Some(pgid) {
                continue;
            }
            let field = |i: usize| {
                fields
                    .get(i)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            ticks += field(11) + field(12);
            rss_kb += std::fs::read_to_string(e.path().join("status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                })
                .unwrap_or(0);
        }
        #[expect(clippy::cast_precision_loss, reason = "clock ticks as seconds")]
        (ticks as f64 / USER_HZ, rss_kb * 1024)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::CommandExt;

    use super::*;

    #[test]
    fn a_process_group_is_measured_from_proc() {
        let mut child = std::process::Command::new("sh")
            .args([
                "-c",
                "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5",
            ])
            .process_group(0)
            .spawn()
            .expect("sh");
        std::thread::sleep(Duration::from_millis(300));
        let pgid = i32::try_from(child.id()).expect("pid");
        let (cpu, rss) = usage::process_group(pgid);
        let _ = child.kill();
        let _ = child.wait();
        assert!(cpu > 0.0, "{cpu}");
        assert!(rss > 100 * 1024, "{rss}");
        assert_eq!(usage::process_group(-7), (0.0, 0));
        assert_eq!(usage::container("no-such-container"), None);
    }

    #[test]
    fn process_reports_map_onto_changes() {
        use skiff_process::{Event as E, Exit};
        assert_eq!(
            process_change(&E::Exited {
                exit: Exit::Code(3),
                ran_for: Duration::ZERO
            }),
            Some(Change::Exited { code: 3 })
        );
        assert_eq!(
            process_change(&E::Started {
                pid: 1,
                restarts: 0
            }),
            Some(Change::Started)
        );
        assert_eq!(
            process_change(&E::Restarting {
                after: Duration::ZERO,
                attempt: 1
            }),
            None
        );
        assert_eq!(
            container_change(ContainerChange::Died { exit_code: 137 }),
            Change::Exited { code: 137 }
        );
    }
}
