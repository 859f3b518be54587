//! Whether a stack is past the Kubernetes tipping point.
//!
//! Each [`Signal`] is worth a few points, with the evidence that earned them; the verdict
//! follows the total, except that a stack whose declared resources exceed the host graduates
//! on that alone (it needs a second node, and skiff does not grow a cluster).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use skiff_model::compose::ServiceConfig;
use skiff_model::xskiff::Egress;

use crate::stack::Stack;

/// The machine the stack runs on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Host {
    pub cpus: f64,
    /// Bytes of memory.
    pub memory: u64,
}

/// What the daemon recorded, over some days.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct History {
    /// Days the figures cover.
    pub days: u32,
    /// Releases deployed.
    pub deploys: u32,
    /// Unplanned restarts: crashes, OOM kills, restarts after failed healthchecks.
    pub restarts: u32,
    /// Highest CPU use of the whole stack, in CPUs.
    pub peak_cpus: Option<f64>,
    /// Highest memory use of the whole stack, in bytes.
    pub peak_memory: Option<u64>,
}

/// The outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// One machine and skiff are the right size.
    NotNow,
    /// Close: export the stack and try it on a cluster, keep running on skiff.
    Prepare,
    /// Past the tipping point: move.
    Graduate,
}

/// What is weighed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// Services released on their own schedule (distinct images the team builds).
    IndependentLifecycles,
    /// Workers and scheduled jobs.
    AsyncWork,
    /// Services that run more than one replica.
    Replicas,
    /// Resource totals against the host: the need for more than one node.
    Capacity,
    /// Environments to keep apart.
    Environments,
    /// How often the team deploys.
    DeployFrequency,
    /// How often services restart unplanned.
    Restarts,
    /// Declared data boundaries, which call for network policy.
    DataBoundaries,
}

impl Signal {
    fn label(self) -> &'static str {
        match self {
            Signal::IndependentLifecycles => "independent lifecycles",
            Signal::AsyncWork => "asynchronous work",
            Signal::Replicas => "replicas",
            Signal::Capacity => "capacity",
            Signal::Environments => "environments",
            Signal::DeployFrequency => "deploy frequency",
            Signal::Restarts => "restarts",
            Signal::DataBoundaries => "data boundaries",
        }
    }
}

/// One weighed signal.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub signal: Signal,
    /// Points earned, out of `max`.
    pub points: u32,
    pub max: u32,
    /// One sentence.
    pub finding: String,
    /// The facts behind it.
    pub evidence: Vec<String>,
}

/// Something to postpone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Postpone {
    pub what: String,
    pub why: String,
}

/// The assessment of a stack.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Assessment {
    pub verdict: Verdict,
    pub score: u32,
    pub max_score: u32,
    /// Score from which the verdict is [`Verdict::Prepare`].
    pub prepare_at: u32,
    /// Score from which the verdict is [`Verdict::Graduate`].
    pub graduate_at: u32,
    /// Every signal weighed, strongest first.
    pub reasons: Vec<Reason>,
    pub not_now: Vec<Postpone>,
}

/// Score from which a stack should prepare to move.
pub const PREPARE_AT: u32 = 4;
/// Score from which a stack should move.
pub const GRADUATE_AT: u32 = 7;

/// Images of backing services (databases, caches, brokers, proxies): not the team's own code.
const BACKING_IMAGES: &[&str] = &[
    "postgres",
    "postgresql",
    "postgis",
    "mysql",
    "mariadb",
    "percona",
    "redis",
    "valkey",
    "keydb",
    "mongo",
    "mongodb",
    "memcached",
    "rabbitmq",
    "nats",
    "kafka",
    "zookeeper",
    "elasticsearch",
    "opensearch",
    "clickhouse-server",
    "minio",
    "nginx",
    "httpd",
    "caddy",
    "traefik",
    "haproxy",
    "envoy",
];

fn image_repo(image: &str) -> &str {
    let without_digest = image.split('@').next().unwrap_or(image);
    let last = without_digest.rsplit('/').next().unwrap_or(without_digest);
    last.split(':').next().unwrap_or(last)
}

fn is_backing(service: &ServiceConfig) -> bool {
    service.build.is_none() && BACKING_IMAGES.contains(&image_repo(&service.image))
}

fn replicas(service: &ServiceConfig) -> i64 {
    crate::export::replicas_of(service)
}

/// Weighs a stack (and its history, where a daemon recorded one) against the host it runs on.
#[must_use]
pub fn assess(stack: &Stack<'_>, history: Option<&History>, host: &Host) -> Assessment {
    let mut reasons = vec![
        lifecycles(stack),
        async_work(stack),
        replica_signal(stack),
        capacity(stack, history, host),
        environments(stack),
        deploy_frequency(history),
        restarts(history),
        boundaries(stack),
    ];
    reasons.sort_by(|a, b| b.points.cmp(&a.points).then(a.signal.cmp(&b.signal)));
    let score: u32 = reasons.iter().map(|r| r.points).sum();
    let max_score: u32 = reasons.iter().map(|r| r.max).sum();
    let beyond_host = reasons
        .iter()
        .any(|r| r.signal == Signal::Capacity && r.points == r.max);
    let verdict = if beyond_host || score >= GRADUATE_AT {
        Verdict::Graduate
    } else if score >= PREPARE_AT {
        Verdict::Prepare
    } else {
        Verdict::NotNow
    };
    let not_now = not_now(stack, verdict, &reasons, score);
    Assessment {
        verdict,
        score,
        max_score,
        prepare_at: PREPARE_AT,
        graduate_at: GRADUATE_AT,
        reasons,
        not_now,
    }
}

fn reason(signal: Signal, points: u32, max: u32, finding: String, evidence: Vec<String>) -> Reason {
    Reason {
        signal,
        points: points.min(max),
        max,
        finding,
        evidence,
    }
}

fn lifecycles(stack: &Stack<'_>) -> Reason {
    // Services that share an image are released together: count images, not services.
    let mut images: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for (name, s) in &stack.project.services {
        if is_backing(s) {
            continue;
        }
        let image = if s.image.is_empty() {
            format!("{name} (built)")
        } else {
            without_tag(&s.image).to_owned()
        };
        images.entry(image).or_default().push(name);
    }
    let n = images.len();
    let points = match n {
        0..=2 => 0,
        3 | 4 => 1,
        _ => 2,
    };
    let evidence = images
        .iter()
        .map(|(image, services)| format!("{image}: {}", services.join(", ")))
        .collect();
    reason(
        Signal::IndependentLifecycles,
        points,
        2,
        format!(
            "{n} independently released image{} of the team's own code",
            plural(n)
        ),
        evidence,
    )
}

fn async_work(stack: &Stack<'_>) -> Reason {
    let routed: BTreeSet<&str> = stack
        .skiff
        .routes
        .values()
        .map(|r| r.service.as_str())
        .collect();
    let workers: Vec<&str> = stack
        .project
        .services
        .iter()
        .filter(|(name, s)| {
            !is_backing(s)
                && s.ports.is_empty()
                && s.expose.is_empty()
                && !routed.contains(name.as_str())
        })
        .map(|(n, _)| n.as_str())
        .collect();
    let jobs = stack.skiff.jobs.len();
    let total = workers.len() + jobs;
    let points = match total {
        0 | 1 => 0,
        2..=4 => 1,
        _ => 2,
    };
    let mut evidence = Vec::new();
    if !workers.is_empty() {
        evidence.push(format!("workers (no port): {}", workers.join(", ")));
    }
    for (name, job) in &stack.skiff.jobs {
        evidence.push(format!(
            "job {name}: {:?} on {}",
            job.schedule.0, job.service
        ));
    }
    reason(
        Signal::AsyncWork,
        points,
        2,
        format!(
            "{} worker{} and {jobs} scheduled job{}",
            workers.len(),
            plural(workers.len()),
            plural(jobs)
        ),
        evidence,
    )
}

fn replica_signal(stack: &Stack<'_>) -> Reason {
    let replicated: Vec<(&str, i64)> = stack
        .project
        .services
        .iter()
        .map(|(n, s)| (n.as_str(), replicas(s)))
        .filter(|(_, r)| *r > 1)
        .collect();
    let points = if replicated.is_empty() {
        0
    } else if replicated.len() >= 3 || replicated.iter().any(|(_, r)| *r >= 3) {
        2
    } else {
        1
    };
    reason(
        Signal::Replicas,
        points,
        2,
        format!(
            "{} service{} with more than one replica",
            replicated.len(),
            plural(replicated.len())
        ),
        replicated
            .iter()
            .map(|(n, r)| format!("{n}: {r} replicas"))
            .collect(),
    )
}

/// What a service reserves (or, failing that, is limited to), per replica.
fn demand(service: &ServiceConfig) -> (f64, i64) {
    let res = service
        .deploy
        .as_ref()
        .map(|d| d.resources.clone())
        .unwrap_or_default();
    let limits = res.limits.unwrap_or_default();
    let reservations = res.reservations.unwrap_or_default();
    let pick_cpu = |a: f32, b: f32, c: f32| {
        [a, b, c]
            .into_iter()
            .find(|v| *v > 0.0)
            .map_or(0.0, f64::from)
    };
    let cpu = pick_cpu(reservations.cpus, limits.cpus, service.cpus);
    let memory = [
        reservations.memory.0,
        service.mem_reservation.0,
        limits.memory.0,
        service.mem_limit.0,
    ]
    .into_iter()
    .find(|v| *v > 0)
    .unwrap_or(0);
    (cpu, memory)
}

fn gib(bytes: i64) -> String {
    if bytes < 1 << 30 {
        return format!("{} MiB", bytes >> 20);
    }
    format!("{:.1} GiB", bytes as f64 / f64::from(1u32 << 30))
}

/// CPUs with at most two decimals (`0.5`, `34`, `0.1`).
fn cpus(n: f64) -> String {
    let text = format!("{n:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// An image reference without its tag or digest (`registry:5000/team/app`).
fn without_tag(image: &str) -> &str {
    let image = image.split('@').next().unwrap_or(image);
    let name_start = image.rfind('/').map_or(0, |i| i + 1);
    match image[name_start..].find(':') {
        Some(i) => &image[..name_start + i],
        None => image,
    }
}

fn capacity(stack: &Stack<'_>, history: Option<&History>, host: &Host) -> Reason {
    let mut total_cpus = 0.0;
    let mut memory: i64 = 0;
    let mut evidence = Vec::new();
    for (name, s) in &stack.project.services {
        let (cpu, mem) = demand(s);
        if cpu == 0.0 && mem == 0 {
            continue;
        }
        let n = replicas(s).max(0);
        total_cpus += cpu * n as f64;
        memory = memory.saturating_add(mem.saturating_mul(n));
        evidence.push(format!("{name}: {n} × ({} CPU, {})", cpus(cpu), gib(mem)));
    }
    let host_memory = host.memory as f64;
    let mut ratio: f64 = 0.0;
    let mut parts = Vec::new();
    if !evidence.is_empty() {
        let cpu_ratio = if host.cpus > 0.0 {
            total_cpus / host.cpus
        } else {
            0.0
        };
        let mem_ratio = if host_memory > 0.0 {
            memory as f64 / host_memory
        } else {
            0.0
        };
        ratio = ratio.max(cpu_ratio).max(mem_ratio);
        parts.push(format!(
            "the services declare {} CPU and {} ({:.0}% and {:.0}% of the host)",
            cpus(total_cpus),
            gib(memory),
            cpu_ratio * 100.0,
            mem_ratio * 100.0
        ));
    }
    if let Some(h) = history {
        if let Some(peak) = h.peak_cpus.filter(|_| host.cpus > 0.0) {
            ratio = ratio.max(peak / host.cpus);
            evidence.push(format!("peak use: {} CPU", cpus(peak)));
        }
        if let Some(peak) = h.peak_memory.filter(|_| host.memory > 0) {
            ratio = ratio.max(peak as f64 / host_memory);
            evidence.push(format!("peak use: {}", gib(peak as i64)));
        }
    }
    evidence.push(format!(
        "host: {} CPU, {}",
        cpus(host.cpus),
        gib(host.memory as i64)
    ));
    let points = if ratio >= 1.0 {
        4
    } else if ratio >= 0.7 {
        2
    } else {
        u32::from(ratio >= 0.5)
    };
    let finding = if parts.is_empty()
        && history.is_none_or(|h| h.peak_memory.is_none() && h.peak_cpus.is_none())
    {
        "no service declares deploy.resources and no use was recorded: the need for a second \
         node is unknown"
            .to_owned()
    } else if ratio >= 1.0 {
        format!(
            "the stack needs more than this host ({:.0}% of its capacity): a second node",
            ratio * 100.0
        )
    } else {
        format!("the stack uses up to {:.0}% of the host", ratio * 100.0)
    };
    let mut evidence_all = parts;
    evidence_all.extend(evidence);
    reason(Signal::Capacity, points, 4, finding, evidence_all)
}

fn environments(stack: &Stack<'_>) -> Reason {
    let n = stack.skiff.environments.len();
    let points = match n {
        0 | 1 => 0,
        2 => 1,
        _ => 2,
    };
    reason(
        Signal::Environments,
        points,
        2,
        format!("{n} environment{} declared", plural(n)),
        stack.skiff.environments.keys().cloned().collect(),
    )
}

fn per_week(count: u32, days: u32) -> f64 {
    f64::from(count) * 7.0 / f64::from(days.max(1))
}

fn deploy_frequency(history: Option<&History>) -> Reason {
    let Some(h) = history else {
        return reason(
            Signal::DeployFrequency,
            0,
            2,
            "no history: deploy frequency unknown".to_owned(),
            Vec::new(),
        );
    };
    let rate = per_week(h.deploys, h.days);
    let points = if rate >= 20.0 {
        2
    } else {
        u32::from(rate >= 5.0)
    };
    reason(
        Signal::DeployFrequency,
        points,
        2,
        format!("{rate:.1} deploys a week"),
        vec![format!("{} deploys in {} days", h.deploys, h.days)],
    )
}

fn restarts(history: Option<&History>) -> Reason {
    let Some(h) = history else {
        return reason(
            Signal::Restarts,
            0,
            1,
            "no history: restart frequency unknown".to_owned(),
            Vec::new(),
        );
    };
    let rate = per_week(h.restarts, h.days);
    reason(
        Signal::Restarts,
        u32::from(rate >= 7.0),
        1,
        format!("{rate:.1} unplanned restarts a week"),
        vec![format!("{} restarts in {} days", h.restarts, h.days)],
    )
}

fn boundaries(stack: &Stack<'_>) -> Reason {
    let b = &stack.skiff.boundaries;
    let strict: Vec<&String> = b
        .iter()
        .filter(|(_, b)| b.egress == Egress::Deny || !b.allow_from.is_empty())
        .map(|(k, _)| k)
        .collect();
    let points = if b.len() >= 2 {
        2
    } else {
        u32::from(!strict.is_empty())
    };
    reason(
        Signal::DataBoundaries,
        points,
        2,
        format!(
            "{} data boundar{} declared",
            b.len(),
            if b.len() == 1 { "y" } else { "ies" }
        ),
        b.iter()
            .map(|(k, v)| {
                format!(
                    "{k}: {}{}{}",
                    v.services.join(", "),
                    if v.egress == Egress::Deny {
                        "; no internet egress"
                    } else {
                        ""
                    },
                    if v.allow_from.is_empty() {
                        String::new()
                    } else {
                        format!("; reachable from {}", v.allow_from.join(", "))
                    }
                )
            })
            .collect(),
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn not_now(stack: &Stack<'_>, verdict: Verdict, reasons: &[Reason], score: u32) -> Vec<Postpone> {
    let mut out = Vec::new();
    if verdict == Verdict::NotNow {
        let missing: Vec<&str> = reasons
            .iter()
            .filter(|r| r.points < r.max)
            .take(3)
            .map(|r| r.signal.label())
            .collect();
        out.push(Postpone {
            what: "Kubernetes".to_owned(),
            why: format!(
                "{score} of {GRADUATE_AT} points: one machine and skiff run this stack with less \
                 to operate; assess again when {} grow",
                missing.join(", ")
            ),
        });
        return out;
    }
    let stateful: Vec<&str> = stack
        .project
        .services
        .iter()
        .filter(|(_, s)| {
            is_backing(s)
                && s.volumes
                    .iter()
                    .any(|v| v.kind == "volume" && !v.source.is_empty())
        })
        .map(|(n, _)| n.as_str())
        .collect();
    if !stateful.is_empty() {
        out.push(Postpone {
            what: format!("running {} inside the cluster", stateful.join(", ")),
            why: "move the stateless services first; keep the data where it is (or on a managed \
                  service) until backups, storage and failover are proven on the cluster"
                .to_owned(),
        });
    }
    out.push(Postpone {
        what: "autoscaling (HorizontalPodAutoscaler)".to_owned(),
        why: "start with the declared replicas; add autoscaling when the history shows load \
              that varies"
            .to_owned(),
    });
    out.push(Postpone {
        what: "a service mesh".to_owned(),
        why: if stack.skiff.boundaries.is_empty() {
            "nothing declared needs mutual TLS or traffic splitting".to_owned()
        } else {
            "NetworkPolicies carry the declared boundaries".to_owned()
        },
    });
    if stack.skiff.environments.len() >= 2 {
        out.push(Postpone {
            what: "a cluster per environment".to_owned(),
            why: "one cluster with a namespace per environment is enough until production needs \
                  its own failure domain"
                .to_owned(),
        });
    }
    out.push(Postpone {
        what: "a GitOps controller".to_owned(),
        why: "skiff apply from CI is enough until several teams deploy to the cluster".to_owned(),
    });
    if verdict == Verdict::Prepare {
        out.insert(
            0,
            Postpone {
                what: "moving production".to_owned(),
                why: format!(
                    "{score} of {GRADUATE_AT} points: export the stack and run it in a staging \
                     namespace first, while production stays on skiff"
                ),
            },
        );
    }
    out
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::NotNow => "not now",
            Verdict::Prepare => "prepare",
            Verdict::Graduate => "graduate",
        })
    }
}

impl fmt::Display for Assessment {
    /// The assessment as text for a terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "verdict: {} ({} of {} points; prepare at {}, graduate at {})",
            self.verdict, self.score, self.max_score, self.prepare_at, self.graduate_at
        )?;
        writeln!(f)?;
        writeln!(f, "reasons:")?;
        for r in &self.reasons {
            writeln!(
                f,
                "  {} {} ({}/{}): {}",
                if r.points > 0 { "+" } else { " " },
                r.signal.label(),
                r.points,
                r.max,
                r.finding
            )?;
            for e in &r.evidence {
                writeln!(f, "      {e}")?;
            }
        }
        writeln!(f)?;
        writeln!(f, "not now:")?;
        for p in &self.not_now {
            writeln!(f, "  - {}: {}", p.what, p.why)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_without_tags() {
        assert_eq!(without_tag("postgres:16"), "postgres");
        assert_eq!(
            without_tag("registry:5000/team/app:1.2"),
            "registry:5000/team/app"
        );
        assert_eq!(
            without_tag("registry:5000/team/app"),
            "registry:5000/team/app"
        );
        assert_eq!(without_tag("app@sha256:abc"), "app");
        assert_eq!(cpus(0.1_f32.into()), "0.1");
        assert_eq!(cpus(34.0), "34");
    }
}
