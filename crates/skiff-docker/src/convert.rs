//! A Compose service (in the form `docker compose config --format json` prints) to the
//! engine's container-create request. Every field the engine can do is carried over; a field
//! it cannot do is an error before anything changes, never silently ignored.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};
use skiff_model::xskiff::parse_go_duration;

use crate::labels;

/// What the project contributes to every container: names, paths, labels.
#[derive(Debug, Clone)]
pub struct ProjectContext<'a> {
    pub project: &'a str,
    pub working_dir: &'a str,
    pub config_files: &'a [String],
    /// Top-level networks: compose key -> engine name.
    pub networks: &'a BTreeMap<String, String>,
    /// Top-level volumes: compose key -> engine name.
    pub volumes: &'a BTreeMap<String, String>,
    /// Top-level secrets and configs: key -> file on the host.
    pub secret_files: &'a BTreeMap<String, String>,
    pub config_files_by_key: &'a BTreeMap<String, String>,
    /// Services' image IDs as the engine knows them (Compose's `com.docker.compose.image`).
    pub image_ids: &'a BTreeMap<String, String>,
}

/// A field of a service the engine cannot carry out.
pub use skiff_runtime::Unsupported;

/// The container request for instance `number` of a service, and the extra networks to
/// connect after creation (the engine takes one network at create time on old API versions).
#[derive(Debug, Clone)]
pub struct ContainerRequest {
    pub name: String,
    pub body: Value,
    pub extra_networks: Vec<(String, Value)>,
}

const IGNORED: &[&str] = &[
    // Planning and build-time fields, handled elsewhere.
    "build",
    "depends_on",
    "profiles",
    "pull_policy",
    "scale",
    "develop",
    "x-skiff",
    "extends",
    "container_name",
    "name",
    "annotations",
    "post_start",
    "pre_stop",
    "attach",
    "label_file",
    "env_file",
];

/// Converts a service. `hash` and `config` are recorded as labels.
///
/// # Errors
/// A field the engine cannot carry out, or a malformed value.
#[expect(
    clippy::too_many_lines,
    reason = "one field after another, in the spec's order"
)]
pub fn container_request(
    ctx: &ProjectContext<'_>,
    service: &str,
    svc: &Value,
    number: u32,
    name: &str,
    hash: &str,
) -> Result<ContainerRequest, Unsupported> {
    let err = |field: &str, message: String| Unsupported {
        service: service.to_owned(),
        field: field.to_owned(),
        message,
    };
    let Some(s) = svc.as_object() else {
        return Err(err("", "service is not a mapping".to_owned()));
    };
    let mut body = Map::new();
    let mut host = Map::new();
    let mut labels_out: Map<String, Value> = Map::new();
    let mut mounts: Vec<Value> = Vec::new();

    for (key, value) in s {
        let k = key.as_str();
        if IGNORED.contains(&k) || k.starts_with("x-") {
            continue;
        }
        match k {
            "image" => {
                body.insert("Image".into(), value.clone());
            }
            "command" if !value.is_null() => {
                body.insert("Cmd".into(), value.clone());
            }
            "entrypoint" if !value.is_null() => {
                body.insert("Entrypoint".into(), value.clone());
            }
            "command" | "entrypoint" => {}
            "environment" => {
                let env: Vec<Value> = value
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .filter_map(|(k, v)| {
                                v.as_str().map(|v| Value::String(format!("{k}={v}")))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                body.insert("Env".into(), Value::Array(env));
            }
            "working_dir" => {
                body.insert("WorkingDir".into(), value.clone());
            }
            "user" => {
                body.insert("User".into(), value.clone());
            }
            "hostname" => {
                body.insert("Hostname".into(), value.clone());
            }
            "domainname" => {
                body.insert("Domainname".into(), value.clone());
            }
            "tty" => {
                body.insert("Tty".into(), value.clone());
            }
            "stdin_open" => {
                body.insert("OpenStdin".into(), value.clone());
            }
            "stop_signal" => {
                body.insert("StopSignal".into(), value.clone());
            }
            "stop_grace_period" => {
                let d = duration(value).map_err(|m| err(k, m))?;
                body.insert("StopTimeout".into(), json!(d.as_secs()));
            }
            "labels" => {
                if let Some(m) = value.as_object() {
                    for (lk, lv) in m {
                        labels_out.insert(lk.clone(), lv.clone());
                    }
                }
            }
            "healthcheck" => {
                body.insert(
                    "Healthcheck".into(),
                    healthcheck(value).map_err(|m| err(k, m))?,
                );
            }
            "expose" => {
                let mut exposed = body
                    .remove("ExposedPorts")
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                for p in value.as_array().into_iter().flatten() {
                    let p = p.as_str().map_or_else(|| p.to_string(), str::to_owned);
                    let key = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    exposed.insert(key, json!({}));
                }
                body.insert("ExposedPorts".into(), Value::Object(exposed));
            }
            "ports" => {
                let mut exposed = body
                    .remove("ExposedPorts")
                    .and_then(|v| v.as_object().cloned())
                    .unwrap_or_default();
                let mut bindings: Map<String, Value> = Map::new();
                for p in value.as_array().into_iter().flatten() {
                    let target = p
                        .get("target")
                        .and_then(Value::as_u64)
                        .ok_or_else(|| err(k, "a port without a target".into()))?;
                    let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("tcp");
                    let key = format!("{target}/{proto}");
                    exposed.insert(key.clone(), json!({}));
                    if p.get("mode").and_then(Value::as_str) == Some("host")
                        && p.get("published").is_none()
                    {
                        continue;
                    }
                    let published = p
                        .get("published")
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                        .unwrap_or_default();
                    let host_ip = p.get("host_ip").and_then(Value::as_str).unwrap_or_default();
                    let entry = bindings.entry(key).or_insert_with(|| json!([]));
                    if let Some(list) = entry.as_array_mut() {
                        list.push(json!({"HostIp": host_ip, "HostPort": published}));
                    }
                }
                body.insert("ExposedPorts".into(), Value::Object(exposed));
                host.insert("PortBindings".into(), Value::Object(bindings));
            }
            "volumes" => {
                for v in value.as_array().into_iter().flatten() {
                    mounts.push(mount(ctx, v).map_err(|m| err(k, m))?);
                }
            }
            "tmpfs" => {
                let mut t = Map::new();
                for entry in value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    let (path, opts) = entry.split_once(':').unwrap_or((entry, ""));
                    t.insert(path.to_owned(), Value::String(opts.to_owned()));
                }
                host.insert("Tmpfs".into(), Value::Object(t));
            }
            "secrets" | "configs" => {
                let files = if k == "secrets" {
                    ctx.secret_files
                } else {
                    ctx.config_files_by_key
                };
                for r in value.as_array().into_iter().flatten() {
                    let source = r.get("source").and_then(Value::as_str).unwrap_or_default();
                    let Some(file) = files.get(source) else {
                        return Err(err(
                            k,
                            format!(
                                "{source:?} is not a file-backed {k} entry (external or environment-backed ones need a swarm)"
                            ),
                        ));
                    };
                    let target = r.get("target").and_then(Value::as_str).map_or_else(
                        || {
                            if k == "secrets" {
                                format!("/run/secrets/{source}")
                            } else {
                                format!("/{source}")
                            }
                        },
                        |t| {
                            if t.starts_with('/') {
                                t.to_owned()
                            } else if k == "secrets" {
                                format!("/run/secrets/{t}")
                            } else {
                                format!("/{t}")
                            }
                        },
                    );
                    mounts.push(
                        json!({"Type": "bind", "Source": file, "Target": target, "ReadOnly": true}),
                    );
                }
            }
            "restart" => {
                let text = value.as_str().unwrap_or("no");
                let (name, count) = text.split_once(':').unwrap_or((text, "0"));
                let count: i64 = count
                    .parse()
                    .map_err(|_| err(k, format!("invalid restart policy {text:?}")))?;
                if !matches!(name, "no" | "always" | "on-failure" | "unless-stopped") {
                    return Err(err(
                        k,
                        format!(
                            "invalid restart policy {text:?}: expected no, always, on-failure[:N] or unless-stopped"
                        ),
                    ));
                }
                host.insert(
                    "RestartPolicy".into(),
                    json!({"Name": name, "MaximumRetryCount": count}),
                );
            }
            "cap_add" => {
                host.insert("CapAdd".into(), value.clone());
            }
            "cap_drop" => {
                host.insert("CapDrop".into(), value.clone());
            }
            "privileged" => {
                host.insert("Privileged".into(), value.clone());
            }
            "read_only" => {
                host.insert("ReadonlyRootfs".into(), value.clone());
            }
            "init" => {
                host.insert("Init".into(), value.clone());
            }
            "security_opt" => {
                host.insert("SecurityOpt".into(), value.clone());
            }
            "sysctls" => {
                host.insert("Sysctls".into(), stringify_map(value));
            }
            "ulimits" => {
                let mut out = Vec::new();
                for (name, l) in value.as_object().into_iter().flatten() {
                    let (soft, hard) = match l {
                        Value::Number(n) => (n.as_i64(), n.as_i64()),
                        other => (
                            other.get("soft").and_then(Value::as_i64),
                            other.get("hard").and_then(Value::as_i64),
                        ),
                    };
                    out.push(json!({"Name": name, "Soft": soft, "Hard": hard}));
                }
                host.insert("Ulimits".into(), Value::Array(out));
            }
            "dns" => {
                host.insert("Dns".into(), value.clone());
            }
            "dns_search" => {
                host.insert("DnsSearch".into(), value.clone());
            }
            "dns_opt" => {
                host.insert("DnsOptions".into(), value.clone());
            }
            "extra_hosts" => {
                let list: Vec<Value> = match value {
                    Value::Object(m) => m
                        .iter()
                        .flat_map(|(h, ips)| match ips {
                            Value::Array(a) => a
                                .iter()
                                .map(|ip| {
                                    Value::String(format!(
                                        "{h}:{}",
                                        ip.as_str().unwrap_or_default()
                                    ))
                                })
                                .collect::<Vec<_>>(),
                            other => vec![Value::String(format!(
                                "{h}:{}",
                                other.as_str().unwrap_or_default()
                            ))],
                        })
                        .collect(),
                    Value::Array(a) => a
                        .iter()
                        .map(|e| {
                            Value::String(e.as_str().unwrap_or_default().replacen('=', ":", 1))
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                host.insert("ExtraHosts".into(), Value::Array(list));
            }
            "shm_size" => {
                host.insert("ShmSize".into(), bytes(value));
            }
            "mem_limit" => {
                host.insert("Memory".into(), bytes(value));
            }
            "mem_reservation" => {
                host.insert("MemoryReservation".into(), bytes(value));
            }
            "memswap_limit" => {
                host.insert("MemorySwap".into(), bytes(value));
            }
            "mem_swappiness" => {
                host.insert("MemorySwappiness".into(), bytes(value));
            }
            "cpus" => {
                let cpus = value
                    .as_f64()
                    .ok_or_else(|| err(k, "expected a number".into()))?;
                #[expect(
                    clippy::cast_possible_truncation,
                    reason = "nano-CPUs of a realistic CPU count fit"
                )]
                host.insert("NanoCpus".into(), json!((cpus * 1e9).round() as i64));
            }
            "cpu_shares" => {
                host.insert("CpuShares".into(), value.clone());
            }
            "cpu_quota" => {
                host.insert("CpuQuota".into(), value.clone());
            }
            "cpu_period" => {
                host.insert("CpuPeriod".into(), value.clone());
            }
            "cpuset" => {
                host.insert("CpusetCpus".into(), value.clone());
            }
            "pids_limit" => {
                host.insert("PidsLimit".into(), value.clone());
            }
            "oom_score_adj" => {
                host.insert("OomScoreAdj".into(), value.clone());
            }
            "oom_kill_disable" => {
                host.insert("OomKillDisable".into(), value.clone());
            }
            "group_add" => {
                host.insert("GroupAdd".into(), value.clone());
            }
            "ipc" => {
                host.insert("IpcMode".into(), value.clone());
            }
            "pid" => {
                host.insert("PidMode".into(), value.clone());
            }
            "uts" => {
                host.insert("UTSMode".into(), value.clone());
            }
            "userns_mode" => {
                host.insert("UsernsMode".into(), value.clone());
            }
            "cgroup_parent" => {
                host.insert("CgroupParent".into(), value.clone());
            }
            "runtime" => {
                host.insert("Runtime".into(), value.clone());
            }
            "devices" => {
                let list: Vec<Value> = value
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| json!({"PathOnHost": d.get("source"), "PathInContainer": d.get("target"), "CgroupPermissions": d.get("permissions").cloned().unwrap_or(json!("rwm"))}))
                    .collect();
                host.insert("Devices".into(), Value::Array(list));
            }
            "logging" => {
                let driver = value.get("driver").cloned().unwrap_or(json!(""));
                host.insert("LogConfig".into(), json!({"Type": driver, "Config": stringify_map(value.get("options").unwrap_or(&json!({})))}));
            }
            "network_mode" => {
                let mode = value.as_str().unwrap_or_default();
                if mode.starts_with("service:") {
                    return Err(err(
                        k,
                        "network_mode: service:NAME is resolved at start time; not supported yet"
                            .into(),
                    ));
                }
                host.insert("NetworkMode".into(), value.clone());
            }
            "networks" => {}
            "deploy" => {
                deploy(value, &mut host).map_err(|m| err(k, m))?;
            }
            "volumes_from" => {
                return Err(err(k, "volumes_from is not supported yet; mount the same named volume in both services".into()));
            }
            "links" | "external_links" => {
                // Service names resolve through the project network's DNS; links add nothing.
            }
            "platform" | "mac_address" | "stop_timeout" | "isolation" => {
                return Err(err(k, "not supported by skiff's engine driver yet".into()));
            }
            other => {
                return Err(err(
                    other,
                    "the Docker Engine driver cannot carry out this field".into(),
                ));
            }
        }
    }

    if !body.contains_key("Image") {
        body.insert(
            "Image".into(),
            Value::String(default_image(ctx.project, service)),
        );
    }

    // Networks: the first at create time, the rest connected afterwards.
    let mut extra_networks = Vec::new();
    if !s.contains_key("network_mode") {
        let mut nets: Vec<(&String, &Value)> = s
            .get("networks")
            .and_then(Value::as_object)
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        nets.sort_by_key(|(k, v)| {
            (
                std::cmp::Reverse(v.get("priority").and_then(Value::as_i64).unwrap_or(0)),
                (*k).clone(),
            )
        });
        for (i, (key, cfg)) in nets.into_iter().enumerate() {
            let Some(net_name) = ctx.networks.get(key) else {
                return Err(err("networks", format!("network {key:?} is not declared")));
            };
            let mut aliases = vec![Value::String(service.to_owned())];
            for a in cfg
                .get("aliases")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                aliases.push(a.clone());
            }
            let mut endpoint = json!({"Aliases": aliases});
            let mut ipam = Map::new();
            if let Some(ip) = cfg.get("ipv4_address") {
                ipam.insert("IPv4Address".into(), ip.clone());
            }
            if let Some(ip) = cfg.get("ipv6_address") {
                ipam.insert("IPv6Address".into(), ip.clone());
            }
            if !ipam.is_empty() {
                endpoint["IPAMConfig"] = Value::Object(ipam);
            }
            if i == 0 {
                host.insert("NetworkMode".into(), Value::String(net_name.clone()));
                body.insert(
                    "NetworkingConfig".into(),
                    json!({"EndpointsConfig": {net_name.clone(): endpoint}}),
                );
            } else {
                extra_networks.push((net_name.clone(), endpoint));
            }
        }
    }

    labels_out.insert(labels::PROJECT.into(), json!(ctx.project));
    labels_out.insert(labels::SERVICE.into(), json!(service));
    labels_out.insert(labels::CONTAINER_NUMBER.into(), json!(number.to_string()));
    labels_out.insert(labels::CONFIG_HASH.into(), json!(hash));
    labels_out.insert(labels::ONEOFF.into(), json!("False"));
    labels_out.insert(labels::VERSION.into(), json!(labels::COMPOSE_VERSION));
    labels_out.insert(labels::WORKING_DIR.into(), json!(ctx.working_dir));
    labels_out.insert(
        labels::CONFIG_FILES.into(),
        json!(ctx.config_files.join(",")),
    );
    labels_out.insert(labels::SKIFF_CONFIG.into(), json!(svc.to_string()));
    if let Some(id) = ctx.image_ids.get(service) {
        labels_out.insert(labels::IMAGE.into(), json!(id));
    }
    // Compose always writes this label, empty when the service depends on nothing.
    labels_out.insert(labels::DEPENDS_ON.into(), json!(""));
    if let Some(deps) = s.get("depends_on").and_then(Value::as_object) {
        let text: Vec<String> = deps
            .iter()
            .map(|(d, c)| {
                let cond = c
                    .get("condition")
                    .and_then(Value::as_str)
                    .unwrap_or("service_started");
                let restart = c.get("restart").and_then(Value::as_bool).unwrap_or(false);
                let required = c.get("required").and_then(Value::as_bool).unwrap_or(true);
                format!(
                    "{d}:{cond}:{restart}{}",
                    if required { "" } else { ":false" }
                )
            })
            .collect();
        labels_out.insert(labels::DEPENDS_ON.into(), json!(text.join(",")));
    }
    body.insert("Labels".into(), Value::Object(labels_out));
    if !mounts.is_empty() {
        host.insert("Mounts".into(), Value::Array(mounts));
    }
    body.insert("HostConfig".into(), Value::Object(host));
    Ok(ContainerRequest {
        name: name.to_owned(),
        body: Value::Object(body),
        extra_networks,
    })
}

/// The image name of a service that has `build:` but no `image:`, as Compose names it.
#[must_use]
pub fn default_image(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

fn stringify_map(v: &Value) -> Value {
    let mut out = Map::new();
    for (k, v) in v.as_object().into_iter().flatten() {
        out.insert(
            k.clone(),
            Value::String(v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
        );
    }
    Value::Object(out)
}

fn duration(v: &Value) -> Result<std::time::Duration, String> {
    match v {
        Value::String(s) => parse_go_duration(s),
        other => Err(format!("expected a duration, found {other}")),
    }
}

fn nanos(v: Option<&Value>) -> Result<Option<i64>, String> {
    v.map(|v| duration(v).map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)))
        .transpose()
}

fn healthcheck(v: &Value) -> Result<Value, String> {
    if v.get("disable").and_then(Value::as_bool) == Some(true) {
        return Ok(json!({"Test": ["NONE"]}));
    }
    let mut h = Map::new();
    if let Some(t) = v.get("test") {
        h.insert("Test".into(), t.clone());
    }
    for (from, to) in [
        ("interval", "Interval"),
        ("timeout", "Timeout"),
        ("start_period", "StartPeriod"),
        ("start_interval", "StartInterval"),
    ] {
        if let Some(n) = nanos(v.get(from))? {
            h.insert(to.into(), json!(n));
        }
    }
    if let Some(r) = v.get("retries") {
        h.insert("Retries".into(), r.clone());
    }
    Ok(Value::Object(h))
}

fn mount(ctx: &ProjectContext<'_>, v: &Value) -> Result<Value, String> {
    let typ = v.get("type").and_then(Value::as_str).unwrap_or("volume");
    let target = v
        .get("target")
        .and_then(Value::as_str)
        .ok_or("a volume without a target")?;
    let mut m = json!({"Type": typ, "Target": target});
    if v.get("read_only").and_then(Value::as_bool) == Some(true) {
        m["ReadOnly"] = json!(true);
    }
    match typ {
        "bind" => {
            let source = v
                .get("source")
                .and_then(Value::as_str)
                .ok_or("a bind mount without a source")?;
            m["Source"] = json!(source);
            let mut opts = Map::new();
            if let Some(p) = v.pointer("/bind/propagation") {
                opts.insert("Propagation".into(), p.clone());
            }
            if v.pointer("/bind/create_host_path").and_then(Value::as_bool) == Some(false) {
                // Compose checks the path exists; the engine fails cleanly when it does not.
            }
            if !opts.is_empty() {
                m["BindOptions"] = Value::Object(opts);
            }
            if v.pointer("/bind/selinux").is_some() {
                return Err("bind.selinux relabelling is not supported yet".into());
            }
        }
        "volume" => {
            if let Some(source) = v
                .get("source")
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
            {
                let name = ctx
                    .volumes
                    .get(source)
                    .ok_or_else(|| format!("volume {source:?} is not declared"))?;
                m["Source"] = json!(name);
            }
            let mut opts = Map::new();
            if let Some(n) = v.pointer("/volume/nocopy") {
                opts.insert("NoCopy".into(), n.clone());
            }
            if let Some(sp) = v.pointer("/volume/subpath") {
                opts.insert("Subpath".into(), sp.clone());
            }
            if !opts.is_empty() {
                m["VolumeOptions"] = Value::Object(opts);
            }
        }
        "tmpfs" => {
            let mut opts = Map::new();
            if let Some(size) = v.pointer("/tmpfs/size") {
                opts.insert("SizeBytes".into(), bytes(size));
            }
            if let Some(mode) = v.pointer("/tmpfs/mode") {
                opts.insert("Mode".into(), mode.clone());
            }
            if !opts.is_empty() {
                m["TmpfsOptions"] = Value::Object(opts);
            }
        }
        other => return Err(format!("volume type {other:?} is not supported")),
    }
    Ok(m)
}

/// A byte size as the engine takes it. Compose's encoding prints byte sizes as strings of
/// digits (`"268435456"`); the engine wants integers.
fn bytes(v: &Value) -> Value {
    match v {
        Value::String(s) => s.parse::<i64>().map_or_else(|_| v.clone(), Value::from),
        other => other.clone(),
    }
}

fn deploy(v: &Value, host: &mut Map<String, Value>) -> Result<(), String> {
    if let Some(limits) = v.pointer("/resources/limits") {
        if let Some(cpus) = limits.get("cpus").and_then(|c| {
            c.as_f64()
                .or_else(|| c.as_str().and_then(|s| s.parse().ok()))
        }) {
            #[expect(
                clippy::cast_possible_truncation,
                reason = "nano-CPUs of a realistic CPU count fit"
            )]
            host.insert("NanoCpus".into(), json!((cpus * 1e9).round() as i64));
        }
        if let Some(m) = limits.get("memory") {
            host.insert("Memory".into(), bytes(m));
        }
        if let Some(p) = limits.get("pids") {
            host.insert("PidsLimit".into(), p.clone());
        }
    }
    if let Some(r) = v.pointer("/resources/reservations/memory") {
        host.insert("MemoryReservation".into(), bytes(r));
    }
    if v.pointer("/resources/reservations/devices").is_some() {
        return Err("device reservations (GPUs) are not supported yet".into());
    }
    if let Some(p) = v.get("restart_policy") {
        let cond = p.get("condition").and_then(Value::as_str).unwrap_or("any");
        let name = match cond {
            "none" => "no",
            "on-failure" => "on-failure",
            _ => "always",
        };
        host.insert("RestartPolicy".into(), json!({"Name": name, "MaximumRetryCount": p.get("max_attempts").cloned().unwrap_or(json!(0))}));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_maps() -> (
        BTreeMap<String, String>,
        BTreeMap<String, String>,
        BTreeMap<String, String>,
    ) {
        (
            BTreeMap::from([
                ("default".to_owned(), "p_default".to_owned()),
                ("back".to_owned(), "p_back".to_owned()),
            ]),
            BTreeMap::from([("data".to_owned(), "p_data".to_owned())]),
            BTreeMap::new(),
        )
    }

    #[test]
    fn converts_the_common_fields() {
        let (nets, vols, files) = ctx_maps();
        let ctx = ProjectContext {
            project: "p",
            working_dir: "/w",
            config_files: &[],
            networks: &nets,
            volumes: &vols,
            secret_files: &files,
            config_files_by_key: &files,
            image_ids: &files,
        };
        let svc = json!({
            "image": "skiff-test/app:1",
            "command": ["serve"],
            "entrypoint": null,
            "environment": {"A": "1", "B": null},
            "ports": [{"mode": "ingress", "target": 8080, "published": "18080", "protocol": "tcp", "host_ip": "127.0.0.1"}],
            "volumes": [{"type": "volume", "source": "data", "target": "/data"}, {"type": "bind", "source": "/w/conf", "target": "/conf", "read_only": true}],
            "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
            "restart": "on-failure:3",
            "networks": {"back": {"aliases": ["api"]}, "default": null},
            "stop_grace_period": "1m30s",
            "ulimits": {"nofile": {"soft": 1024, "hard": 2048}, "nproc": 512},
        });
        let r = container_request(&ctx, "web", &svc, 1, "p-web-1", "abc").expect("converts");
        let b = &r.body;
        assert_eq!(b["Image"], "skiff-test/app:1");
        assert_eq!(b["Env"], json!(["A=1"]));
        assert_eq!(b["StopTimeout"], 90);
        assert_eq!(b["Healthcheck"]["Interval"], 1_000_000_000_i64);
        assert_eq!(
            b["HostConfig"]["PortBindings"]["8080/tcp"],
            json!([{"HostIp": "127.0.0.1", "HostPort": "18080"}])
        );
        assert_eq!(b["HostConfig"]["Mounts"][0]["Source"], "p_data");
        assert_eq!(
            b["HostConfig"]["RestartPolicy"],
            json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(b["HostConfig"]["NetworkMode"], "p_back");
        assert_eq!(
            b["NetworkingConfig"]["EndpointsConfig"]["p_back"]["Aliases"],
            json!(["web", "api"])
        );
        assert_eq!(r.extra_networks[0].0, "p_default");
        assert_eq!(b["Labels"]["com.docker.compose.config-hash"], "abc");
        assert_eq!(
            b["HostConfig"]["Ulimits"][1],
            json!({"Name": "nproc", "Soft": 512, "Hard": 512})
        );
        // The request deserialises into the engine's own type.
        let _: bollard::models::ContainerCreateBody =
            serde_json::from_value(r.body.clone()).expect("valid request");
    }

    #[test]
    fn unknown_fields_are_refused_before_anything_runs() {
        let (nets, vols, files) = ctx_maps();
        let ctx = ProjectContext {
            project: "p",
            working_dir: "/w",
            config_files: &[],
            networks: &nets,
            volumes: &vols,
            secret_files: &files,
            config_files_by_key: &files,
            image_ids: &files,
        };
        let e = container_request(
            &ctx,
            "web",
            &json!({"image": "x", "volumes_from": ["db"]}),
            1,
            "n",
            "h",
        )
        .expect_err("refused");
        assert_eq!(e.field, "volumes_from");
    }
}
