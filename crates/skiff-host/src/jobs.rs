//! Jobs on this host: each run of an `x-skiff.jobs` entry is a one-off instance of its
//! service — a container from the service's configuration with the job's command (as
//! `docker compose run --rm` makes it: labelled one-off, without the service's published
//! ports or network aliases), or a process with the service's environment — removed when it
//! ends, its last 64 KiB of output kept in the history. Runs are never instances of the
//! service, so a deploy neither stops nor doubles them.
//!
//! [`Runner`] starts, waits for, stops and reads one run (`skiff jobs run` uses it in the
//! foreground). [`schedule`] is the daemon's task per project: the pure
//! [`skiff_jobs::Scheduler`] decides, this carries its decisions out and records them. Both
//! reach the stack through [`JobHost`], which the binary's loaded stack implements.
//!
//! Crash safety: before a run starts, its due time is written to the project's job state
//! (`<state>/<project>/jobs/state.json`, written under a temporary name and renamed), and a
//! container run carries its job, due time and attempt as labels, a process run a record
//! file. A daemon started again reads all three: a due time is never started twice, runs
//! still going are waited for, and those that ended meanwhile are recorded (a process's exit
//! status is then unknown: recorded as lost).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde_json::json;
use skiff_daemon::Sink;
use skiff_docker::Engine;
use skiff_docker::oneoff::OneOff;
use skiff_docker::project::DockerRuntime;
use skiff_jobs::{Decision, Outcome, RunKey, Scheduler, StopReason, Trigger};
use skiff_model::xskiff::Job;
use skiff_process::{InstanceId, Process, ProcessRuntime};
use skiff_store::{Event, Kind};
use tokio::sync::{mpsc, oneshot};

/// What jobs need of a stack on this host.
pub trait JobHost: Send + Sync + 'static {
    /// The Compose project name.
    fn project(&self) -> &str;
    /// Where process records and logs live (the project's directory is beneath).
    fn state_dir(&self) -> &Path;
    /// Whether the stack declares `service`.
    fn declares(&self, service: &str) -> bool;
    /// Whether `service` runs as host processes.
    fn is_process(&self, service: &str) -> bool;
    /// The container services, as the Docker driver has them.
    fn docker(&self) -> &skiff_docker::project::Project;
    /// The process services' runtime.
    fn processes(&self) -> &ProcessRuntime;
    /// The jobs of `x-skiff.jobs`.
    fn jobs(&self) -> BTreeMap<String, Job>;
    /// Before a process of `service` starts: how it reaches the containers it depends on.
    fn prepare_process<'a>(
        &'a self,
        engine: Option<&'a Engine>,
        service: &'a str,
    ) -> impl std::future::Future<Output = ()> + Send + 'a;
}

/// Output kept per run, from its end.
pub const OUTPUT_KEPT: usize = 64 * 1024;
/// The label naming a run's job (its due time and attempt are beside it).
pub const JOB_LABEL: &str = "dev.skiff.job";
const DUE_LABEL: &str = "dev.skiff.job.due";
const ATTEMPT_LABEL: &str = "dev.skiff.job.attempt";
/// How often a process run adopted from an earlier daemon (not our child) is looked at.
const CHECK_EVERY: Duration = Duration::from_millis(250);

/// A run that was started.
pub enum Handle {
    Container {
        id: String,
        name: String,
        service: String,
    },
    Process {
        /// `None` when adopted from an earlier daemon (not our child).
        process: Option<Box<Process>>,
        pid: i32,
        start_time: u64,
        log: PathBuf,
        record: PathBuf,
    },
}

/// Where a project's job state, records and process logs live.
#[must_use]
pub fn jobs_dir(host: &impl JobHost) -> PathBuf {
    host.state_dir().join(host.project()).join("jobs")
}

/// A name safe in a container name and a file name.
fn safe(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The last [`OUTPUT_KEPT`] bytes of `text`, cut at a character boundary.
#[must_use]
pub fn tail(text: &str) -> &str {
    if text.len() <= OUTPUT_KEPT {
        return text;
    }
    let mut at = text.len() - OUTPUT_KEPT;
    while !text.is_char_boundary(at) {
        at += 1;
    }
    &text[at..]
}

/// Writes `bytes` under a temporary name, syncs, and renames it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

/// Starts, waits for, stops and reads runs of one stack's jobs.
pub struct Runner<'a, H: JobHost> {
    pub host: &'a H,
    pub engine: Option<&'a Engine>,
}

impl<H: JobHost> Runner<'_, H> {
    fn docker(&self) -> Result<DockerRuntime<'_>, String> {
        let engine = self
            .engine
            .ok_or_else(|| "no Docker Engine answers".to_owned())?;
        Ok(DockerRuntime::new(
            engine,
            self.host.docker(),
            Duration::from_secs(10),
            false,
        ))
    }

    /// Starts a run of `job`.
    ///
    /// # Errors
    /// The service is not declared or cannot run; the engine or the host refuses.
    pub async fn launch(&self, name: &str, job: &Job, run: &RunKey) -> Result<Handle, String> {
        let command = (!job.command.is_empty()).then_some(job.command.as_slice());
        if !self.host.declares(&job.service) {
            return Err(format!("service {:?} is not declared", job.service));
        }
        if self.host.is_process(&job.service) {
            let dir = jobs_dir(self.host);
            let base = format!("{}@{}", safe(name), run.id());
            let log = dir.join(format!("{base}.log"));
            let record = dir.join(format!("{base}.json"));
            let mut data = json!({
                "job": name,
                "due": run.due,
                "attempt": run.attempt,
                "service": job.service,
            });
            // Written before the process exists: a daemon killed in between still knows
            // this due time was taken.
            write_atomic(&record, data.to_string().as_bytes())
                .map_err(|e| format!("write {}: {e}", record.display()))?;
            self.host.prepare_process(self.engine, &job.service).await;
            let spec = self
                .host
                .processes()
                .oneoff_spec(&job.service, command, log.clone())
                .ok_or_else(|| format!("{:?} is not a process service", job.service))?;
            let process = Process::spawn(
                &InstanceId::new(self.host.project(), &job.service, 0),
                &spec,
            )
            .map_err(|e| e.to_string())?;
            data["pid"] = json!(process.pid());
            data["start_time"] = json!(process.start_time());
            write_atomic(&record, data.to_string().as_bytes())
                .map_err(|e| format!("write {}: {e}", record.display()))?;
            return Ok(Handle::Process {
                pid: process.pid(),
                start_time: process.start_time(),
                process: Some(Box::new(process)),
                log,
                record,
            });
        }
        let docker = self.docker()?;
        let container = format!(
            "{}-{}-job-{}-{}",
            self.host.project(),
            job.service,
            safe(name),
            run.id()
        );
        let labels = BTreeMap::from([
            (JOB_LABEL.to_owned(), name.to_owned()),
            (DUE_LABEL.to_owned(), run.due.to_rfc3339()),
            (ATTEMPT_LABEL.to_owned(), run.attempt.to_string()),
        ]);
        let id = docker
            .start_oneoff(&OneOff {
                service: &job.service,
                name: &container,
                command,
                labels,
            })
            .await
            .map_err(|e| e.to_string())?;
        Ok(Handle::Container {
            id,
            name: container,
            service: job.service.clone(),
        })
    }

    /// Waits for a run to end: its exit code (`None`: unknown, for a process adopted from
    /// an earlier daemon). Cancel-safe.
    ///
    /// # Errors
    /// The engine or the host cannot say.
    pub async fn wait(&self, handle: &mut Handle) -> Result<Option<i64>, String> {
        match handle {
            Handle::Container { id, .. } => self
                .docker()?
                .engine
                .wait_exit(id)
                .await
                .map(Some)
                .map_err(|e| e.to_string()),
            Handle::Process {
                process: Some(p), ..
            } => p.wait().await.map(|e| e.code()).map_err(|e| e.to_string()),
            Handle::Process {
                process: None,
                pid,
                start_time,
                ..
            } => {
                while skiff_process::is_live_process(*pid, *start_time) {
                    tokio::time::sleep(CHECK_EVERY).await;
                }
                Ok(None)
            }
        }
    }

    /// Stops a run within its service's grace period.
    ///
    /// # Errors
    /// The engine or the host refuses.
    pub async fn stop(&self, handle: &mut Handle) -> Result<(), String> {
        match handle {
            Handle::Container { id, name, service } => self
                .docker()?
                .stop_instance(service, id, name, false)
                .await
                .map_err(|e| e.to_string()),
            Handle::Process {
                process: Some(p), ..
            } => p.stop().await.map(|_| ()).map_err(|e| e.to_string()),
            Handle::Process {
                process: None,
                pid,
                record,
                ..
            } => skiff_process::stop_process_group(
                &record.display().to_string(),
                *pid,
                skiff_process::Signal::SIGTERM,
                Duration::from_secs(10),
            )
            .await
            .map_err(|e| e.to_string()),
        }
    }

    /// What the run printed (stdout and stderr as they came), its last [`OUTPUT_KEPT`]
    /// bytes.
    pub async fn output(&self, handle: &Handle) -> String {
        let mut text = String::new();
        match handle {
            Handle::Container { id, .. } => {
                let mut bytes = Vec::new();
                if let Ok(docker) = self.docker() {
                    let _ = docker
                        .engine
                        .output(id, false, |chunk| {
                            bytes.extend_from_slice(chunk);
                            if bytes.len() > 2 * OUTPUT_KEPT {
                                bytes.drain(..bytes.len() - OUTPUT_KEPT);
                            }
                        })
                        .await;
                }
                text = String::from_utf8_lossy(&bytes).into_owned();
            }
            Handle::Process { log, .. } => {
                if let Ok(lines) =
                    skiff_process::logs::read_logs(log, &skiff_process::LogQuery::default())
                {
                    for l in lines {
                        text.push_str(&l.text);
                        text.push('\n');
                    }
                }
            }
        }
        tail(&text).to_owned()
    }

    /// Removes what is left of a run: its container, or its record and log.
    pub async fn remove(&self, handle: &Handle) {
        match handle {
            Handle::Container { id, .. } => {
                if let Ok(docker) = self.docker() {
                    let _ = docker.engine.remove(id, false).await;
                }
            }
            Handle::Process { log, record, .. } => {
                let _ = skiff_process::logs::remove_logs(log);
                let _ = std::fs::remove_file(record);
            }
        }
    }

    /// Runs an earlier daemon left: containers by their labels, processes by their records.
    /// Each with its run, and whether it still runs.
    pub async fn found(&self) -> Vec<(RunKey, Handle, bool)> {
        let mut out = Vec::new();
        if let Ok(docker) = self.docker()
            && let Ok(list) = docker.engine.oneoffs(self.host.project(), JOB_LABEL).await
        {
            for c in list {
                let (Some(job), Some(due), attempt) = (
                    c.labels.get(JOB_LABEL),
                    c.labels
                        .get(DUE_LABEL)
                        .and_then(|d| DateTime::parse_from_rfc3339(d).ok()),
                    c.labels
                        .get(ATTEMPT_LABEL)
                        .and_then(|a| a.parse().ok())
                        .unwrap_or(0),
                ) else {
                    continue;
                };
                let service = c
                    .labels
                    .get(skiff_docker::labels::SERVICE)
                    .cloned()
                    .unwrap_or_default();
                out.push((
                    RunKey {
                        job: job.clone(),
                        due: due.with_timezone(&Utc),
                        attempt,
                    },
                    Handle::Container {
                        id: c.id,
                        name: c.name,
                        service,
                    },
                    c.running,
                ));
            }
        }
        let dir = jobs_dir(self.host);
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json")
                || path.file_name().is_some_and(|n| n == "state.json")
            {
                continue;
            }
            let Some(r) = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            else {
                continue;
            };
            let (Some(job), Some(due)) = (
                r["job"].as_str(),
                r["due"]
                    .as_str()
                    .and_then(|d| d.parse::<DateTime<Utc>>().ok()),
            ) else {
                continue;
            };
            let pid = r["pid"]
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .unwrap_or(0);
            let start_time = r["start_time"].as_u64().unwrap_or(0);
            let running = pid > 0 && skiff_process::is_live_process(pid, start_time);
            out.push((
                RunKey {
                    job: job.to_owned(),
                    due,
                    attempt: r["attempt"]
                        .as_u64()
                        .and_then(|a| u32::try_from(a).ok())
                        .unwrap_or(0),
                },
                Handle::Process {
                    process: None,
                    pid,
                    start_time,
                    log: path.with_extension("log"),
                    record: path,
                },
                running,
            ));
        }
        out
    }
}

/// The latest due time started per job, as the job state keeps it.
fn read_state(dir: &Path) -> BTreeMap<String, DateTime<Utc>> {
    std::fs::read(dir.join("state.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// A run that ended, as its task reports it.
type Finished = (RunKey, Outcome);
type Done = mpsc::UnboundedSender<Finished>;

/// The daemon's jobs task of one project: told of each new deploy; dropped to stop
/// scheduling (runs going then finish and are recorded).
pub struct Jobs<H> {
    tx: mpsc::UnboundedSender<Arc<H>>,
}

impl<H> Jobs<H> {
    /// The project was deployed again: its jobs and configuration from now on.
    pub fn update(&self, hosted: Arc<H>) {
        let _ = self.tx.send(hosted);
    }
}

/// What a run reports with.
#[derive(Clone)]
struct Recorder {
    project: String,
    sink: Arc<Mutex<Option<Sink>>>,
}

impl Recorder {
    fn record(&self, event: Event) {
        if let Some(s) = self
            .sink
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            s.record(event.project(&self.project));
        }
    }
}

/// Starts the daemon's jobs task of a project.
pub fn schedule<H: JobHost>(
    hosted: Arc<H>,
    engine: Option<Engine>,
    sink: Arc<Mutex<Option<Sink>>>,
) -> Jobs<H> {
    let (tx, rx) = mpsc::unbounded_channel();
    let recorder = Recorder {
        project: hosted.project().to_owned(),
        sink,
    };
    tokio::spawn(task(hosted, engine.map(Arc::new), recorder, rx));
    Jobs { tx }
}

fn specs(jobs: &BTreeMap<String, Job>) -> Vec<skiff_jobs::JobSpec> {
    jobs.iter()
        .filter_map(|(name, job)| match skiff_jobs::spec(name, job) {
            Ok(s) => Some(s),
            Err(error) => {
                tracing::warn!(job = name, %error, "job not scheduled");
                None
            }
        })
        .collect()
}

async fn task<H: JobHost>(
    mut hosted: Arc<H>,
    engine: Option<Arc<Engine>>,
    recorder: Recorder,
    mut updates: mpsc::UnboundedReceiver<Arc<H>>,
) {
    let (tx, mut done) = mpsc::unbounded_channel::<Finished>();
    let mut jobs = hosted.jobs();
    let dir = jobs_dir(hosted.as_ref());
    let mut state = read_state(&dir);
    let found = {
        let runner = Runner {
            host: hosted.as_ref(),
            engine: engine.as_deref(),
        };
        runner.found().await
    };
    let mut going = Vec::new();
    for (run, _, running) in &found {
        let last = state.entry(run.job.clone()).or_insert(run.due);
        *last = (*last).max(run.due);
        if *running {
            going.push((run.clone(), Utc::now()));
        }
    }
    let (mut scheduler, decisions) = Scheduler::new(specs(&jobs), Utc::now(), &state, going);
    if !jobs.is_empty() {
        tracing::info!(
            project = recorder.project,
            jobs = jobs.len(),
            "jobs scheduled"
        );
    }
    let mut stops: HashMap<RunKey, oneshot::Sender<StopReason>> = HashMap::new();
    // Runs an earlier daemon left: waited for (or recorded at once when they ended).
    for (run, handle, _) in found {
        let (stop, stopped) = oneshot::channel();
        stops.insert(run.clone(), stop);
        let service = jobs
            .get(&run.job)
            .map(|j| j.service.clone())
            .unwrap_or_default();
        tokio::spawn(follow(
            Arc::clone(&hosted),
            engine.clone(),
            recorder.clone(),
            tx.clone(),
            run,
            service,
            handle,
            stopped,
            true,
        ));
    }
    let mut pending = decisions;
    loop {
        for decision in pending.drain(..) {
            match decision {
                Decision::Start { run, trigger } => {
                    let Some(job) = jobs.get(&run.job).cloned() else {
                        continue;
                    };
                    state.insert(run.job.clone(), run.due);
                    if let Err(e) = write_atomic(
                        &dir.join("state.json"),
                        serde_json::to_string(&state).unwrap_or_default().as_bytes(),
                    ) {
                        // Not started without it: a restarted daemon could start it again.
                        tracing::error!(error = %e, job = run.job, "cannot keep the job state");
                        scheduler.finished(&run, Outcome::Failed, Utc::now());
                        continue;
                    }
                    let (stop, stopped) = oneshot::channel();
                    stops.insert(run.clone(), stop);
                    tokio::spawn(start(
                        Arc::clone(&hosted),
                        engine.clone(),
                        recorder.clone(),
                        tx.clone(),
                        run,
                        job,
                        trigger,
                        stopped,
                    ));
                }
                Decision::Skip { job, due, running } => recorder.record(
                    Event::new(Utc::now(), Kind::JobSkipped)
                        .trigger("schedule")
                        .detail(json!({"job": job, "due": due, "running": running.id()})),
                ),
                Decision::Stop { run, why } => {
                    if let Some(stop) = stops.remove(&run) {
                        let _ = stop.send(why);
                    }
                }
                Decision::Missed { job, count, last } => recorder.record(
                    Event::new(Utc::now(), Kind::JobMissed)
                        .trigger("daemon restart")
                        .detail(json!({"job": job, "count": count, "last": last})),
                ),
            }
        }
        let wait = scheduler
            .next_wake()
            .map_or(Duration::from_secs(60), |at| {
                (at - Utc::now()).to_std().unwrap_or_default()
            })
            // The wall clock may jump: look again at least every minute.
            .min(Duration::from_secs(60));
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            Some((run, outcome)) = done.recv() => {
                stops.remove(&run);
                scheduler.finished(&run, outcome, Utc::now());
            }
            update = updates.recv() => match update {
                Some(new) => {
                    hosted = new;
                    jobs = hosted.jobs();
                    scheduler.update(specs(&jobs), Utc::now());
                }
                // Released: no more runs; those going finish and are recorded.
                None => return,
            },
        }
        pending = scheduler.tick(Utc::now());
    }
}

/// Starts a run and follows it to its end.
#[expect(clippy::too_many_arguments, reason = "one run's whole context")]
async fn start<H: JobHost>(
    hosted: Arc<H>,
    engine: Option<Arc<Engine>>,
    recorder: Recorder,
    tx: Done,
    run: RunKey,
    job: Job,
    trigger: Trigger,
    stopped: oneshot::Receiver<StopReason>,
) {
    recorder.record(
        Event::new(Utc::now(), Kind::JobStarted)
            .service(&job.service)
            .trigger(trigger.as_str())
            .detail(json!({
                "job": run.job, "run": run.id(), "due": run.due, "attempt": run.attempt,
            })),
    );
    let launched = {
        let runner = Runner {
            host: hosted.as_ref(),
            engine: engine.as_deref(),
        };
        runner.launch(&run.job, &job, &run).await
    };
    match launched {
        Ok(handle) => {
            follow(
                hosted,
                engine,
                recorder,
                tx,
                run,
                job.service,
                handle,
                stopped,
                false,
            )
            .await;
        }
        Err(error) => {
            recorder.record(
                Event::new(Utc::now(), Kind::JobFailed)
                    .service(&job.service)
                    .trigger(trigger.as_str())
                    .detail(json!({"job": run.job, "run": run.id(), "error": error})),
            );
            let _ = tx.send((run, Outcome::Failed));
        }
    }
}

/// Waits for a run (stopping it when told), records how it ended, removes what is left.
#[expect(clippy::too_many_arguments, reason = "one run's whole context")]
async fn follow<H: JobHost>(
    hosted: Arc<H>,
    engine: Option<Arc<Engine>>,
    recorder: Recorder,
    tx: Done,
    run: RunKey,
    service: String,
    mut handle: Handle,
    mut stopped: oneshot::Receiver<StopReason>,
    adopted: bool,
) {
    let runner = Runner {
        host: hosted.as_ref(),
        engine: engine.as_deref(),
    };
    let began = Instant::now();
    let mut why = None;
    let code = tokio::select! {
        code = runner.wait(&mut handle) => code,
        reason = &mut stopped => {
            why = reason.ok();
            if let Err(error) = runner.stop(&mut handle).await {
                tracing::warn!(job = run.job, %error, "could not stop a run");
            }
            runner.wait(&mut handle).await
        }
    };
    let output = runner.output(&handle).await;
    let seconds = began.elapsed().as_secs_f64();
    let mut detail = json!({
        "job": run.job, "run": run.id(), "due": run.due, "attempt": run.attempt,
        "seconds": seconds, "output": output,
    });
    let (kind, outcome) = match (why, &code) {
        (Some(StopReason::TimedOut), _) => (Kind::JobTimedOut, Outcome::TimedOut),
        (Some(StopReason::Replaced), _) => {
            detail["error"] = json!("stopped: a new run replaced it");
            (Kind::JobFailed, Outcome::Replaced)
        }
        (None, Ok(Some(0))) => (Kind::JobSucceeded, Outcome::Succeeded),
        (None, Ok(Some(_))) => (Kind::JobFailed, Outcome::Failed),
        (None, Ok(None)) => {
            detail["error"] = json!("its daemon stopped while it ran: exit status unknown");
            detail["lost"] = json!(true);
            (Kind::JobFailed, Outcome::Lost)
        }
        (None, Err(e)) => {
            detail["error"] = json!(e);
            (Kind::JobFailed, Outcome::Failed)
        }
    };
    let mut event = Event::new(Utc::now(), kind)
        .service(&service)
        .trigger(if adopted {
            "daemon restart"
        } else {
            "schedule"
        })
        .detail(detail);
    if let Ok(Some(code)) = code {
        event = event.exit_code(code);
    }
    recorder.record(event);
    runner.remove(&handle).await;
    let _ = tx.send((run, outcome));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_kept_from_its_end_at_a_character_boundary() {
        let text = format!("{}é{}", "a".repeat(10), "b".repeat(OUTPUT_KEPT - 1));
        let kept = tail(&text);
        assert!(kept.len() <= OUTPUT_KEPT);
        assert!(kept.ends_with('b'));
        assert_eq!(tail("short"), "short");
    }

    #[test]
    fn names_are_safe_in_containers_and_files() {
        assert_eq!(safe("nightly-report"), "nightly-report");
        assert_eq!(safe("a/b c"), "a_b_c");
    }
}
