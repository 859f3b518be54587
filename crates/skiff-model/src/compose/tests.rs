#![allow(clippy::unwrap_used, clippy::print_stderr)]

use std::path::PathBuf;

use serde_json::{Value, json};

use super::*;

fn corpus_dir() -> PathBuf {
    std::env::var_os("SKIFF_CONFORMANCE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/work/shared/conformance/cases"))
}

/// Every `expected.json` of the conformance corpus must survive
/// decode -> encode unchanged.
#[test]
fn conformance_expected_json_round_trips() {
    let dir = corpus_dir();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!(
            "skipping: conformance corpus not found at {}",
            dir.display()
        );
        return;
    };
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path().join("expected.json"))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path).unwrap();
        let original: Value = serde_json::from_str(&text).unwrap();
        checked += 1;
        match project_from_value(original.clone()) {
            Ok(project) => {
                let back = project.to_json_value();
                if back != original {
                    failures.push(format!(
                        "{}: mismatch\n  want: {}\n  got:  {}",
                        path.display(),
                        original,
                        back
                    ));
                }
            }
            Err(e) => failures.push(format!("{}: decode error: {e}", path.display())),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("{checked} conformance cases round-tripped");
}

fn service(v: Value) -> ServiceConfig {
    let p = project_from_value(json!({"name": "p", "services": {"s": v}})).unwrap();
    p.services["s"].clone()
}

fn service_err(v: Value) -> String {
    project_from_value(json!({"name": "p", "services": {"s": v}}))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default()
}

#[test]
fn service_name_comes_from_key() {
    assert_eq!(service(json!({"image": "x"})).name, "s");
}

#[test]
fn durations_decode_and_encode() {
    let s = service(json!({
        "stop_grace_period": "1m30s",
        "healthcheck": {"interval": "90s", "timeout": "1.5s", "start_period": "0"}
    }));
    assert_eq!(s.stop_grace_period, Some(Duration(90_000_000_000)));
    let hc = s.healthcheck.as_ref().unwrap();
    assert_eq!(hc.interval, Some(Duration(90_000_000_000)));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["stop_grace_period"], json!("1m30s"));
    assert_eq!(out["healthcheck"]["interval"], json!("1m30s"));
    assert_eq!(out["healthcheck"]["timeout"], json!("1.5s"));
    assert_eq!(out["healthcheck"]["start_period"], json!("0s"));
    assert!(service_err(json!({"stop_grace_period": "10"})).contains("missing unit"));
    assert!(service_err(json!({"stop_grace_period": 10})).contains("missing unit"));
}

#[test]
fn byte_sizes_decode_and_encode_as_strings() {
    let s = service(
        json!({"mem_limit": "1gb", "shm_size": "512m", "memswap_limit": 1024,
        "mem_reservation": "1.5k"}),
    );
    assert_eq!(s.mem_limit, UnitBytes(1 << 30));
    assert_eq!(s.shm_size, UnitBytes(512 << 20));
    assert_eq!(s.memswap_limit, UnitBytes(1024));
    assert_eq!(s.mem_reservation, UnitBytes(1536));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["mem_limit"], json!("1073741824"));
    assert!(service_err(json!({"mem_limit": "1zb"})).contains("invalid suffix"));
}

#[test]
fn environment_list_and_map() {
    let s = service(json!({"environment": ["A=1", "B", "C=", "D=x=y"]}));
    let want: MappingWithEquals = [
        ("A".to_owned(), Some("1".to_owned())),
        ("B".to_owned(), None),
        ("C".to_owned(), Some(String::new())),
        ("D".to_owned(), Some("x=y".to_owned())),
    ]
    .into_iter()
    .collect();
    assert_eq!(s.environment, want);
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["environment"]["B"], Value::Null);

    let s = service(json!({"environment": {"N": 1, "F": 1.5, "T": true, "U": null, "S": "x"}}));
    assert_eq!(s.environment["N"].as_deref(), Some("1"));
    assert_eq!(s.environment["F"].as_deref(), Some("1.5"));
    assert_eq!(s.environment["T"].as_deref(), Some("true"));
    assert_eq!(s.environment["U"], None);
    assert!(service_err(json!({"environment": ["A =1"]})).contains("trailing space"));
}

#[test]
fn labels_and_mappings() {
    let s = service(json!({
        "labels": ["a=1", "b"],
        "sysctls": {"net.core.somaxconn": 1024, "x": null},
        "annotations": ["k=v=w"]
    }));
    assert_eq!(s.labels["a"], "1");
    assert_eq!(s.labels["b"], "");
    assert_eq!(s.sysctls["net.core.somaxconn"], "1024");
    assert_eq!(s.sysctls["x"], "");
    assert_eq!(s.annotations["k"], "v=w");
    let s = service(json!({"labels": {"n": null, "f": 2.0, "b": false}}));
    assert_eq!(s.labels["n"], "");
    assert_eq!(s.labels["f"], "2");
    assert_eq!(s.labels["b"], "false");
}

#[test]
fn commands_are_shell_split() {
    let s = service(json!({
        "command": "sh -c 'echo \"hello world\"'",
        "entrypoint": ["/bin/tini", "--"]
    }));
    assert_eq!(
        s.command,
        Some(vec![
            "sh".to_owned(),
            "-c".to_owned(),
            "echo \"hello world\"".to_owned()
        ])
    );
    assert_eq!(
        s.entrypoint,
        Some(vec!["/bin/tini".to_owned(), "--".to_owned()])
    );
    let s = service(json!({"command": ""}));
    assert_eq!(s.command, Some(vec![]));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["command"], json!([]));
    assert_eq!(out["entrypoint"], Value::Null);
    assert!(service_err(json!({"command": "echo 'oops"})).contains("invalid command line"));
}

#[test]
fn extra_hosts_forms() {
    let s = service(json!({"extra_hosts": ["a:1.2.3.4", "b=::1", "c=[::2]", "a=5.6.7.8,9.9.9.9"]}));
    assert_eq!(s.extra_hosts["a"], ["1.2.3.4", "5.6.7.8", "9.9.9.9"]);
    assert_eq!(s.extra_hosts["b"], ["::1"]);
    assert_eq!(s.extra_hosts["c"], ["::2"]);
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(
        out["extra_hosts"],
        json!(["a=1.2.3.4", "a=5.6.7.8", "a=9.9.9.9", "b=::1", "c=::2"])
    );
    let s = service(json!({"extra_hosts": {"h": "10.0.0.1", "m": ["1.1.1.1", "2.2.2.2"]}}));
    assert_eq!(s.extra_hosts["m"], ["1.1.1.1", "2.2.2.2"]);
    assert!(service_err(json!({"extra_hosts": ["nohost"]})).contains("missing IP"));
}

#[test]
fn cpus_and_numbers_from_strings() {
    let s = service(json!({
        "cpus": "0.5",
        "cpu_shares": "512",
        "privileged": "true",
        "tty": "yes",
        "deploy": {"resources": {"limits": {"cpus": "1.5", "memory": "1g", "pids": "10"}}}
    }));
    assert_eq!(s.cpus, 0.5);
    assert_eq!(s.cpu_shares, 512);
    assert!(s.privileged);
    assert!(s.tty);
    let limits = s
        .deploy
        .as_ref()
        .unwrap()
        .resources
        .limits
        .as_ref()
        .unwrap();
    assert_eq!(limits.cpus, 1.5);
    assert_eq!(limits.memory, UnitBytes(1 << 30));
    assert_eq!(limits.pids, 10);
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["cpus"], json!(0.5));
    assert_eq!(out["deploy"]["placement"], json!({}));
    let s = service(json!({"cpus": 0.1}));
    assert_eq!(serde_json::to_value(&s).unwrap()["cpus"], json!(0.1));
}

#[test]
fn ulimits_single_or_pair() {
    let s = service(json!({"ulimits": {"nproc": 65535, "nofile": {"soft": 1, "hard": 2}}}));
    assert_eq!(s.ulimits["nproc"].as_ref().unwrap().single, 65535);
    assert_eq!(s.ulimits["nofile"].as_ref().unwrap().hard, 2);
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(
        out["ulimits"],
        json!({"nproc": 65535, "nofile": {"soft": 1, "hard": 2}})
    );
}

#[test]
fn file_modes_and_refs() {
    let s = service(
        json!({"secrets": [{"source": "a", "mode": "0440"}, {"source": "b", "mode": 292}]}),
    );
    assert_eq!(s.secrets[0].mode, Some(FileMode(0o440)));
    assert_eq!(s.secrets[1].mode, Some(FileMode(0o444)));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["secrets"][1]["mode"], json!("0444"));
}

#[test]
fn env_files_print_path_when_required() {
    let s = service(json!({"env_file": [
        {"path": "a.env", "required": true},
        {"path": "b.env", "required": false, "format": "raw"}
    ]}));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(
        out["env_file"],
        json!(["a.env", {"path": "b.env", "required": false, "format": "raw"}])
    );
}

#[test]
fn device_count_and_ssh() {
    let s = service(json!({
        "gpus": [{"count": "all"}, {"count": 2}, {"count": "3"}],
        "build": {"context": ".", "ssh": {"default": null, "key": "/path"}}
    }));
    assert_eq!(s.gpus[0].count, -1);
    assert_eq!(s.gpus[2].count, 3);
    let build = s.build.as_ref().unwrap();
    assert_eq!(
        build.ssh[1],
        SshKey {
            id: "key".into(),
            path: "/path".into()
        }
    );
    assert!(service_err(json!({"gpus": [{"count": "many"}]})).contains("'all' or a number"));
}

#[test]
fn extensions_and_unknown_fields() {
    let p = project_from_value(json!({
        "name": "p",
        "x-top": {"a": 1},
        "services": {"s": {"image": "x", "x-foo": "bar", "pull_refresh_after": "1h"}},
        "networks": {"n": {"ipam": {"options": {"a": "b"}, "x-i": 1}}}
    }))
    .unwrap();
    assert_eq!(p.services["s"].extensions.get("x-foo"), Some(&json!("bar")));
    let out = p.to_json_value();
    assert_eq!(out["x-top"], json!({"a": 1}));
    assert!(out["services"]["s"].get("x-foo").is_none());
    assert!(service_err(json!({"image": "x", "bogus": 1})).contains("unknown field `bogus`"));
}

#[test]
fn secrets_and_configs_content() {
    let p = project_from_value(json!({
        "name": "p",
        "services": {},
        "secrets": {"s": {"environment": "SECRET", "x-#value": "hidden"}},
        "configs": {
            "c": {"content": "shown"},
            "e": {"environment": "CONF", "content": "from-env"}
        },
        "networks": {"n": null},
        "volumes": {"v": {"external": {"name": "legacy"}}}
    }))
    .unwrap();
    assert_eq!(p.secrets["s"].content, "hidden");
    assert!(p.secrets["s"].extensions.is_empty());
    assert!(p.volumes["v"].external);
    let out = p.to_json_value();
    assert_eq!(out["secrets"]["s"], json!({"environment": "SECRET"}));
    assert_eq!(out["configs"]["c"], json!({"content": "shown"}));
    assert_eq!(out["configs"]["e"], json!({"environment": "CONF"}));
    assert_eq!(out["networks"]["n"], json!({"ipam": {}}));
    assert_eq!(out["volumes"]["v"], json!({"external": true}));
}

#[test]
fn healthcheck_string_test_and_nulls() {
    let s = service(json!({
        "healthcheck": {"test": "curl -f http://localhost"},
        "networks": {"default": null, "front": {"aliases": ["a"]}},
        "develop": {"watch": [{"path": ".", "action": "sync"}]}
    }));
    assert_eq!(
        s.healthcheck.as_ref().unwrap().test,
        ["CMD-SHELL", "curl -f http://localhost"]
    );
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["networks"]["default"], Value::Null);
    assert_eq!(
        out["develop"]["watch"][0],
        json!({"path": ".", "action": "sync", "exec": {"command": null}})
    );
}

#[test]
fn string_lists_and_expose() {
    let s = service(json!({"dns": "8.8.8.8", "tmpfs": ["/run"], "expose": [80, "443"]}));
    assert_eq!(s.dns, ["8.8.8.8"]);
    assert_eq!(s.tmpfs, ["/run"]);
    assert_eq!(s.expose, ["80", "443"]);
    assert!(service_err(json!({"dns": [1]})).contains("string list"));
}

#[test]
fn ports_published_from_int() {
    let s = service(json!({"ports": [{"target": 80, "published": 8080, "protocol": "tcp"}]}));
    assert_eq!(s.ports[0].published, "8080");
    assert_eq!(s.ports[0].target, 80);
}

#[test]
fn x_keys_inside_plain_maps_behave_like_compose_go() {
    let s = service(json!({
        "image": "x",
        "labels": {"a": "1", "x-foo": "bar", "x-n": 2},
        "networks": {"front": null, "x-net": null},
        "ports": [{"target": 80, "x-metrics": true}]
    }));
    assert_eq!(s.labels["#extensions"], "map[x-foo:bar x-n:2]");
    assert_eq!(
        s.networks["#extensions"],
        Some(ServiceNetworkConfig {
            extensions: Extensions([("x-net".to_owned(), Value::Null)].into_iter().collect()),
            ..ServiceNetworkConfig::default()
        })
    );
    assert_eq!(s.ports[0].extensions.get("x-metrics"), Some(&json!(true)));
    let out = serde_json::to_value(&s).unwrap();
    assert_eq!(out["networks"], json!({"front": null, "#extensions": {}}));

    // user-named maps keep x- names as names
    let p = project_from_value(json!({
        "name": "p",
        "services": {"x-svc": {"image": "x", "depends_on": {"x-dep": {"condition": "service_started", "required": true}}}},
        "networks": {"x-net": {}}
    }))
    .unwrap();
    assert!(p.services["x-svc"].depends_on.contains_key("x-dep"));
    assert!(p.networks.contains_key("x-net"));
    assert!(p.extensions.is_empty());
}
