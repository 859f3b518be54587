//! The parts of a stack Kubernetes has no place for, each with its suggested equivalent.
//!
//! What *is* carried over is built elsewhere; this module only reports, so that nothing is
//! dropped without a word.

use skiff_model::compose::ServiceConfig;

use super::Context;
use crate::report::NoteKind;

/// Top-level settings: networks, models, and the `x-skiff` sections that have no objects.
pub(super) fn project(cx: &mut Context<'_>) {
    let project = cx.stack.project;
    for (key, network) in &project.networks {
        if key == "default" && !network.external {
            continue;
        }
        cx.note(
            NoteKind::Approximated,
            format!("networks.{key}"),
            "networks are not carried over: every pod of the namespace can reach every other",
            "declare x-skiff boundaries for the separations that matter (exported as \
             NetworkPolicies)",
        );
    }
    for key in project.models.keys() {
        cx.note(
            NoteKind::NotCarried,
            format!("models.{key}"),
            "Docker Model Runner models are not carried over",
            "serve the model from a workload of its own (vLLM, Ollama) and point the services at it",
        );
    }
    let skiff = cx.stack.skiff;
    for name in project.disabled_services.keys() {
        if skiff.jobs.values().any(|j| j.service == *name) {
            continue;
        }
        cx.note(
            NoteKind::NotCarried,
            format!("services.{name}"),
            "disabled by its profiles, so not exported",
            "export with the profile active to include it",
        );
    }
    for key in skiff.checks.keys() {
        cx.note(
            NoteKind::NotCarried,
            format!("x-skiff.checks.{key}"),
            "uptime checks run in skiff's daemon, which a cluster does not have",
            "a blackbox exporter probe (Prometheus) or an external uptime monitor",
        );
    }
    for key in skiff.alerts.keys() {
        cx.note(
            NoteKind::NotCarried,
            format!("x-skiff.alerts.{key}"),
            "alerts are sent by skiff's daemon, which a cluster does not have",
            "Alertmanager with a webhook receiver for the same URL",
        );
    }
    if let Some(daemon) = &skiff.daemon {
        if daemon.backoff_initial.is_some() || daemon.backoff_max.is_some() {
            cx.note(
                NoteKind::NotCarried,
                "x-skiff.daemon",
                "restart backoff is the kubelet's: 10s doubling up to 5 minutes",
                "nothing to set per workload; make the services start quickly and idempotently",
            );
        }
        cx.note(
            NoteKind::Approximated,
            "x-skiff.daemon.drift",
            "controllers repair drift of pods, not of the objects themselves",
            "re-run skiff apply from CI, or let a GitOps controller (Argo CD, Flux) keep the \
             objects as declared",
        );
    }
}

/// One service's settings with no Kubernetes equivalent.
pub(super) fn service(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    let path = format!("services.{name}");
    let mut not_carried = |field: &str, message: String, suggestion: &str| {
        cx.report.add(
            NoteKind::NotCarried,
            format!("{path}.{field}"),
            message,
            suggestion,
        );
    };

    for (field, mode) in [("network_mode", &svc.network_mode), ("net", &svc.net)] {
        match mode.as_str() {
            "" | "bridge" | "default" => {}
            "host" => not_carried(
                field,
                "network_mode: host shares the host's network".to_owned(),
                "reach it through a Service; hostNetwork: true on the pod only if it must bind \
                 node ports (it needs privileges and allows one pod per node per port)",
            ),
            "none" => not_carried(
                field,
                "network_mode: none cuts the container off the network".to_owned(),
                "a NetworkPolicy selecting the pod with no ingress or egress rules",
            ),
            other if other.starts_with("service:") || other.starts_with("container:") => {
                not_carried(
                    field,
                    format!("{other} shares another container's network namespace"),
                    "run both containers in one pod (a sidecar): they share localhost",
                );
            }
            other => not_carried(
                field,
                format!("network mode {other:?} is not carried over"),
                "pods join the cluster network; use a Service",
            ),
        }
    }
    if !svc.devices.is_empty() {
        let list: Vec<String> = svc
            .devices
            .iter()
            .map(|d| {
                if d.target.is_empty() || d.target == d.source {
                    d.source.clone()
                } else {
                    format!("{}:{}", d.source, d.target)
                }
            })
            .collect();
        not_carried(
            "devices",
            format!("device mounts ({}) are not carried over", list.join(", ")),
            "a device plugin that advertises the device as a resource (e.g. squat/generic-device-plugin); \
             or a privileged pod with a hostPath volume, pinned to the node",
        );
    }
    if !svc.device_cgroup_rules.is_empty() {
        not_carried(
            "device_cgroup_rules",
            "device cgroup rules are not carried over".to_owned(),
            "a device plugin",
        );
    }
    if !svc.gpus.is_empty() {
        not_carried(
            "gpus",
            "GPU requests are not carried over".to_owned(),
            "install the vendor's device plugin and set resources.limits (nvidia.com/gpu: 1)",
        );
    }
    if svc.privileged {
        not_carried(
            "privileged",
            "privileged mode is not carried over".to_owned(),
            "grant the capabilities it needs (cap_add); securityContext.privileged: true only \
             if the namespace's Pod Security level is privileged",
        );
    }
    for (field, value, host_equivalent) in [
        ("pid", &svc.pid, "hostPID: true"),
        ("ipc", &svc.ipc, "hostIPC: true"),
        ("uts", &svc.uts, "no equivalent"),
    ] {
        if value.is_empty() || value == "private" {
            continue;
        }
        let suggestion = if value == "host" {
            format!("{host_equivalent} on the pod, if the Pod Security level admits it")
        } else {
            "run the containers in one pod (shareProcessNamespace: true shares PIDs)".to_owned()
        };
        not_carried(
            field,
            format!("{field}: {value} is not carried over"),
            &suggestion,
        );
    }
    if !svc.userns_mode.is_empty() {
        not_carried(
            "userns_mode",
            format!("userns_mode {:?} is not carried over", svc.userns_mode),
            "hostUsers: false runs the pod in a user namespace (beta in 1.33)",
        );
    }
    if !svc.cgroup.is_empty() || !svc.cgroup_parent.is_empty() {
        not_carried(
            "cgroup",
            "cgroup settings are not carried over".to_owned(),
            "the kubelet places pods in cgroups by QoS class",
        );
    }
    let cpu_tuning = [
        ("cpu_count", svc.cpu_count != 0),
        ("cpu_percent", svc.cpu_percent != 0.0),
        ("cpu_period", svc.cpu_period != 0),
        ("cpu_quota", svc.cpu_quota != 0),
        ("cpu_rt_period", svc.cpu_rt_period != 0),
        ("cpu_rt_runtime", svc.cpu_rt_runtime != 0),
        ("cpuset", !svc.cpuset.is_empty()),
        ("cpu_shares", svc.cpu_shares != 0),
    ];
    for (field, set) in cpu_tuning {
        if set {
            not_carried(
                field,
                format!("{field} is not carried over"),
                "express it as resources.requests.cpu and limits.cpu; for pinned CPUs, the \
                 kubelet's static CPU manager policy with Guaranteed QoS",
            );
        }
    }
    if svc.blkio_config.is_some() {
        not_carried(
            "blkio_config",
            "block I/O weights and limits are not carried over".to_owned(),
            "a StorageClass with provisioned IOPS, where the storage offers it",
        );
    }
    if svc.oom_kill_disable || svc.oom_score_adj != 0 {
        not_carried(
            if svc.oom_kill_disable {
                "oom_kill_disable"
            } else {
                "oom_score_adj"
            },
            "OOM tuning is not carried over: the kubelet sets OOM scores from the QoS class"
                .to_owned(),
            "set requests equal to limits (Guaranteed QoS) for the services that must survive \
             memory pressure",
        );
    }
    if svc.pids_limit != 0 {
        not_carried(
            "pids_limit",
            format!(
                "a limit of {} processes is not carried over",
                svc.pids_limit
            ),
            "the kubelet's --pod-max-pids, node-wide",
        );
    }
    if svc.mem_swappiness.0 != 0 || svc.memswap_limit.0 != 0 {
        not_carried(
            "memswap_limit",
            "swap settings are not carried over".to_owned(),
            "swap is a node setting (NodeSwap, LimitedSwap)",
        );
    }
    if !svc.ulimits.is_empty() {
        let names: Vec<&str> = svc.ulimits.keys().map(String::as_str).collect();
        not_carried(
            "ulimits",
            format!("ulimits ({}) are not carried over", names.join(", ")),
            "raise them in the entrypoint (ulimit -n ...) up to the node's limits, or in the \
             container runtime's defaults on the nodes",
        );
    }
    if !svc.runtime.is_empty() {
        not_carried(
            "runtime",
            format!("OCI runtime {:?} is not carried over", svc.runtime),
            "a RuntimeClass for that runtime, named in runtimeClassName",
        );
    }
    if !svc.isolation.is_empty() {
        not_carried(
            "isolation",
            "isolation is not carried over".to_owned(),
            "a RuntimeClass",
        );
    }
    if !svc.mac_address.is_empty() {
        not_carried(
            "mac_address",
            "a fixed MAC address is not carried over".to_owned(),
            "reach the service by its Service name",
        );
    }
    for (network, attachment) in &svc.networks {
        let Some(a) = attachment else { continue };
        if !a.ipv4_address.is_empty()
            || !a.ipv6_address.is_empty()
            || !a.link_local_ips.is_empty()
            || !a.mac_address.is_empty()
        {
            not_carried(
                &format!("networks.{network}"),
                "fixed addresses are not carried over: pods get addresses from the cluster"
                    .to_owned(),
                "reach the service by its Service name",
            );
        }
    }
    if !svc.links.is_empty() {
        not_carried(
            "links",
            format!("links ({}) are not carried over", svc.links.join(", ")),
            "reach services by their Service names; a link alias needs a Service of that name",
        );
    }
    if !svc.external_links.is_empty() {
        not_carried(
            "external_links",
            "external links are not carried over".to_owned(),
            "an ExternalName Service, or a Service without selector and an EndpointSlice",
        );
    }
    if !svc.volumes_from.is_empty() {
        not_carried(
            "volumes_from",
            format!(
                "volumes_from ({}) is not carried over",
                svc.volumes_from.join(", ")
            ),
            "run the containers in one pod and mount the same volume in both",
        );
    }
    if svc.logging.is_some() || !svc.log_driver.is_empty() || !svc.log_opt.is_empty() {
        not_carried(
            "logging",
            "log drivers are not carried over: containers log to stdout".to_owned(),
            "the cluster's log collector (Fluent Bit, Vector, Grafana Alloy) ships the logs",
        );
    }
    if svc.credential_spec.is_some() {
        not_carried(
            "credential_spec",
            "credential specs are not carried over".to_owned(),
            "securityContext.windowsOptions.gmsaCredentialSpec on Windows nodes",
        );
    }
    if !svc.domainname.is_empty() {
        not_carried(
            "domainname",
            format!("domainname {:?} is not carried over", svc.domainname),
            "a pod subdomain with a headless Service of that name",
        );
    }
    if !svc.dns.is_empty() {
        not_carried(
            "dns",
            format!("DNS servers ({}) are not carried over", svc.dns.join(", ")),
            "dnsPolicy: None with dnsConfig.nameservers, at the cost of cluster DNS (Service \
             names stop resolving); better, forward the zone in CoreDNS",
        );
    }
    if !svc.stop_signal.is_empty() && svc.stop_signal != "SIGTERM" {
        not_carried(
            "stop_signal",
            format!(
                "Kubernetes stops containers with SIGTERM, not {}",
                svc.stop_signal
            ),
            "handle SIGTERM in the process, or send the signal from a preStop hook \
             (lifecycle.stopSignal is alpha in 1.33)",
        );
    }
    if !svc.storage_opt.is_empty() {
        not_carried(
            "storage_opt",
            "storage driver options are not carried over".to_owned(),
            "resources.limits.ephemeral-storage limits the container's writable layer",
        );
    }
    if svc.use_api_socket {
        not_carried(
            "use_api_socket",
            "the Docker API socket is not carried over".to_owned(),
            "talk to the Kubernetes API with a ServiceAccount and RBAC",
        );
    }
    if svc.provider.is_some() {
        not_carried(
            "provider",
            "provider services are not carried over".to_owned(),
            "the provider's Kubernetes integration (an operator or a managed service)",
        );
    }
    if !svc.models.is_empty() {
        not_carried(
            "models",
            "model bindings are not carried over".to_owned(),
            "set the endpoint and model variables in the environment",
        );
    }
    if svc.develop.is_some() {
        not_carried(
            "develop",
            "develop.watch is for local development".to_owned(),
            "keep developing with skiff or Compose; Tilt or Skaffold give the same loop on a cluster",
        );
    }
    if !svc.container_name.is_empty() {
        cx.report.add(
            NoteKind::Approximated,
            format!("{path}.container_name"),
            format!(
                "container_name {:?} is not carried over: pods get generated names",
                svc.container_name
            ),
            "reach the service by its Service name",
        );
    }

    depends_on(cx, name, svc);
    restart(cx, name, svc);
    deploy(cx, name, svc);
    healthcheck(cx, name, svc);
}

fn depends_on(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    if svc.depends_on.is_empty() {
        return;
    }
    let deps: Vec<String> = svc
        .depends_on
        .iter()
        .map(|(dep, d)| {
            if d.condition.is_empty() || d.condition == "service_started" {
                dep.clone()
            } else {
                format!("{dep} ({})", d.condition)
            }
        })
        .collect();
    let completed = svc
        .depends_on
        .values()
        .any(|d| d.condition == "service_completed_successfully");
    let mut suggestion = format!(
        "make {name} retry its connections until they succeed (readiness probes keep traffic \
         away meanwhile), or add an initContainer that waits for them"
    );
    if completed {
        suggestion.push_str(
            "; a dependency that must complete first becomes an initContainer or a Job run \
             before the rollout",
        );
    }
    cx.report.add(
        NoteKind::Approximated,
        format!("services.{name}.depends_on"),
        format!(
            "Kubernetes starts every workload at once; {name} waits for {} under Compose",
            deps.join(", ")
        ),
        suggestion,
    );
}

fn restart(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    let (policy, condition) = (
        svc.restart.as_str(),
        svc.deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
            .map(|r| r.condition.as_str()),
    );
    if matches!(policy, "no") || policy.starts_with("on-failure") {
        cx.report.add(
            NoteKind::Approximated,
            format!("services.{name}.restart"),
            format!("restart: {policy}: the pods of a workload are always restarted"),
            "a service that runs to completion is a Job (or an x-skiff job)",
        );
    }
    if let Some(deploy) = &svc.deploy
        && let Some(rp) = &deploy.restart_policy
    {
        cx.report.add(
            NoteKind::NotCarried,
            format!("services.{name}.deploy.restart_policy"),
            format!(
                "restart policy{} is not carried over: the kubelet restarts with its own \
                 backoff",
                condition
                    .filter(|c| !c.is_empty())
                    .map(|c| format!(" {c:?}"))
                    .unwrap_or_default()
            ),
            if rp.condition == "none" || rp.condition == "on-failure" {
                "a service that runs to completion is a Job"
            } else {
                "nothing to set: pods of a workload always restart"
            },
        );
    }
}

fn deploy(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    let Some(deploy) = &svc.deploy else { return };
    let path = format!("services.{name}.deploy");
    if let Some(u) = &deploy.update_config {
        let mut dropped = Vec::new();
        if !u.delay.is_zero() {
            dropped.push("delay");
        }
        if !u.monitor.is_zero() {
            dropped.push("monitor");
        }
        if !u.failure_action.is_empty() {
            dropped.push("failure_action");
        }
        if u.max_failure_ratio != 0.0 {
            dropped.push("max_failure_ratio");
        }
        if !dropped.is_empty() {
            cx.report.add(
                NoteKind::NotCarried,
                format!("{path}.update_config"),
                format!("{} not carried over", dropped.join(", ")),
                "minReadySeconds delays the next step; progressDeadlineSeconds marks a stuck \
                 rollout; kubectl rollout undo rolls back",
            );
        }
    }
    if deploy.rollback_config.is_some() {
        cx.report.add(
            NoteKind::NotCarried,
            format!("{path}.rollback_config"),
            "rollback settings are not carried over",
            "kubectl rollout undo uses the rollout strategy",
        );
    }
}

fn healthcheck(cx: &mut Context<'_>, name: &str, svc: &ServiceConfig) {
    let path = format!("services.{name}.healthcheck");
    match &svc.healthcheck {
        None => {
            if cx.ports.get(name).is_some_and(|p| !p.is_empty()) {
                cx.report.add(
                    NoteKind::NotCarried,
                    path,
                    "no healthcheck, so no readiness probe: a HEALTHCHECK in the image is \
                     ignored by Kubernetes, and traffic arrives as soon as the container starts",
                    "declare a healthcheck (exported as probes)",
                );
            }
        }
        Some(hc) if hc.test.is_empty() && !hc.disable => {
            cx.report.add(
                NoteKind::NotCarried,
                path,
                "the healthcheck uses the image's HEALTHCHECK test, which Kubernetes ignores",
                "write the test in the compose file",
            );
        }
        Some(_) => {}
    }
}
