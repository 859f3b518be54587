//! `/metrics`: the loop's view in the Prometheus exposition format (OpenMetrics text), every
//! name prefixed `skiff_`. The loop writes (after each input); the API reads.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::core::LiveService;

/// The content type of `GET /metrics` (the OpenMetrics text format, which Prometheus reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct ServiceLabels {
    project: String,
    service: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct InstanceLabels {
    project: String,
    service: String,
    instance: String,
}

/// The daemon's metrics.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    up: Family<ServiceLabels, Gauge>,
    healthy: Family<ServiceLabels, Gauge>,
    running: Family<ServiceLabels, Gauge>,
    crash_loop: Family<ServiceLabels, Gauge>,
    restarts: Family<ServiceLabels, Counter>,
    reconcile: Histogram,
    cpu: Family<InstanceLabels, Gauge<f64, AtomicU64>>,
    memory: Family<InstanceLabels, Gauge>,
    /// The services last published, to drop the ones no longer deployed.
    published: Mutex<BTreeSet<ServiceLabels>>,
    /// The instances whose usage was last published.
    measured: Mutex<BTreeSet<InstanceLabels>>,
}

impl Metrics {
    pub(crate) fn new() -> Metrics {
        let mut registry = Registry::with_prefix("skiff");
        let up = Family::<ServiceLabels, Gauge>::default();
        let healthy = Family::<ServiceLabels, Gauge>::default();
        let running = Family::<ServiceLabels, Gauge>::default();
        let crash_loop = Family::<ServiceLabels, Gauge>::default();
        let restarts = Family::<ServiceLabels, Counter>::default();
        // 1 ms to about 16 s.
        let reconcile = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "service_up",
            "1 when every instance of the service runs",
            up.clone(),
        );
        registry.register(
            "service_healthy",
            "1 when the service runs and every running instance is healthy or has no healthcheck",
            healthy.clone(),
        );
        registry.register(
            "service_instances_running",
            "Instances of the service that run",
            running.clone(),
        );
        registry.register(
            "service_crash_loop",
            "1 while an instance of the service is in a crash loop",
            crash_loop.clone(),
        );
        registry.register(
            "service_restarts",
            "Restarts the daemon made",
            restarts.clone(),
        );
        registry.register_with_unit(
            "reconcile_duration",
            "Time from the start of an observation to the end of its reconcile pass",
            Unit::Seconds,
            reconcile.clone(),
        );
        let cpu = Family::<InstanceLabels, Gauge<f64, AtomicU64>>::default();
        let memory = Family::<InstanceLabels, Gauge>::default();
        registry.register_with_unit(
            "instance_cpu",
            "CPU time an instance (container or process group) has used since it started",
            Unit::Seconds,
            cpu.clone(),
        );
        registry.register_with_unit(
            "instance_memory",
            "Memory an instance uses now (a container's cgroup, a process group's resident set)",
            Unit::Bytes,
            memory.clone(),
        );
        Metrics {
            registry,
            cpu,
            memory,
            measured: Mutex::new(BTreeSet::new()),
            up,
            healthy,
            running,
            crash_loop,
            restarts,
            reconcile,
            published: Mutex::new(BTreeSet::new()),
        }
    }

    /// Publishes what every instance uses now, dropping those gone.
    pub(crate) fn usage(&self, rows: &[crate::InstanceUsage]) {
        let mut now = BTreeSet::new();
        for r in rows {
            let labels = InstanceLabels {
                project: r.project.clone(),
                service: r.service.clone(),
                instance: r.instance.clone(),
            };
            self.cpu.get_or_create(&labels).set(r.cpu_seconds);
            self.memory
                .get_or_create(&labels)
                .set(i64::try_from(r.memory_bytes).unwrap_or(i64::MAX));
            now.insert(labels);
        }
        let mut measured = self
            .measured
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in measured.difference(&now) {
            self.cpu.remove(gone);
            self.memory.remove(gone);
        }
        *measured = now;
    }

    /// Publishes the loop's view of every service.
    pub(crate) fn publish(&self, live: &[LiveService]) {
        let mut now = BTreeSet::new();
        for s in live {
            let labels = ServiceLabels {
                project: s.project.clone(),
                service: s.service.clone(),
            };
            let flag = |b: bool| i64::from(b);
            self.up
                .get_or_create(&labels)
                .set(flag(s.instances > 0 && s.running == s.instances));
            self.healthy.get_or_create(&labels).set(flag(s.healthy));
            self.running
                .get_or_create(&labels)
                .set(i64::from(s.running));
            self.crash_loop
                .get_or_create(&labels)
                .set(flag(s.crash_loop));
            // Present at 0 from the start, so that rates work from the first restart.
            let _ = self.restarts.get_or_create(&labels);
            now.insert(labels);
        }
        let mut published = self
            .published
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for gone in published.difference(&now) {
            self.up.remove(gone);
            self.healthy.remove(gone);
            self.running.remove(gone);
            self.crash_loop.remove(gone);
            self.restarts.remove(gone);
        }
        *published = now;
    }

    pub(crate) fn restarted(&self, project: &str, service: &str) {
        self.restarts
            .get_or_create(&ServiceLabels {
                project: project.to_owned(),
                service: service.to_owned(),
            })
            .inc();
    }

    pub(crate) fn reconciled(&self, took: Duration) {
        self.reconcile.observe(took.as_secs_f64());
    }

    /// The exposition text, ending with `# EOF`.
    pub(crate) fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(service: &str, running: u32, crash_loop: bool) -> LiveService {
        LiveService {
            project: "shop".into(),
            service: service.into(),
            instances: 1,
            running,
            healthy: running == 1,
            crash_loop,
            next_restart: None,
        }
    }

    #[test]
    fn names_are_prefixed_and_gone_services_dropped() {
        let m = Metrics::new();
        m.publish(&[live("web", 1, false), live("db", 0, true)]);
        m.restarted("shop", "db");
        m.reconciled(Duration::from_millis(3));
        let text = m.encode();
        for line in [
            "skiff_service_up{project=\"shop\",service=\"web\"} 1",
            "skiff_service_up{project=\"shop\",service=\"db\"} 0",
            "skiff_service_crash_loop{project=\"shop\",service=\"db\"} 1",
            "skiff_service_restarts_total{project=\"shop\",service=\"db\"} 1",
            "skiff_reconcile_duration_seconds_count 1",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        m.publish(&[live("web", 1, false)]);
        let text = m.encode();
        assert!(!text.contains("service=\"db\""), "{text}");
        assert!(text.ends_with("# EOF\n"), "{text}");
    }

    #[test]
    fn instance_usage_is_published_and_dropped_when_gone() {
        let m = Metrics::new();
        let row = |instance: &str| crate::InstanceUsage {
            project: "shop".into(),
            service: "web".into(),
            instance: instance.into(),
            cpu_seconds: 1.5,
            memory_bytes: 2048,
        };
        m.usage(&[row("shop-web-1"), row("shop-web-2")]);
        let text = m.encode();
        for line in [
            "skiff_instance_cpu_seconds{project=\"shop\",service=\"web\",instance=\"shop-web-1\"} 1.5",
            "skiff_instance_memory_bytes{project=\"shop\",service=\"web\",instance=\"shop-web-2\"} 2048",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing from:\n{text}"
            );
        }
        m.usage(&[row("shop-web-1")]);
        assert!(!m.encode().contains("shop-web-2"));
    }
}
