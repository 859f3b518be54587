//! `skiff assess`, and `skiff export kubernetes` checked with the real Kubernetes tools.
//!
//! The bundled example and the skiff-k8s fixtures are exported by the built binary in every
//! layout, then:
//! * every manifest goes through `kubernetes-validate --strict`, against Kubernetes 1.33 (what
//!   the objects target) and the newest release the package knows;
//! * every kustomize overlay is built with `kubectl kustomize` (kubectl 1.33), validated, and
//!   must hold exactly the objects of the plain manifests of its environment;
//! * the Helm chart goes through `helm lint --strict` and `helm template` (helm 4) with each
//!   values file, validated; without a values file it must render the kustomize base, and with
//!   an environment's values file that environment's objects (when the export says the chart
//!   can hold the difference);
//! * every set of objects (an environment's manifests, an overlay's build, a chart's
//!   rendering) obeys the API server's rules that no schema holds: names per kind, label
//!   syntax, selectors that select their pods, and references (volumes, ConfigMaps, Secrets,
//!   claims, Services) to objects that are exported.
//!
//! `scripts/install-k8s-tools.sh` installs the tools (from PyPI) under target/k8s-tools;
//! without them these tests skip with a message, and fail under `CI=true`.
#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;
use support::files_under;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding kubectl, helm and kubernetes-validate, when they all run.
fn tools() -> Option<PathBuf> {
    let bin = std::env::var_os("SKIFF_K8S_TOOLS").map_or_else(
        || workspace().join("target/k8s-tools/bin"),
        |d| PathBuf::from(d).join("bin"),
    );
    let runs = |tool: &str, args: &[&str]| {
        Command::new(bin.join(tool))
            .args(args)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let ok = runs("kubectl", &["version", "--client"])
        && runs("helm", &["version"])
        && runs("kubernetes-validate", &["--version"]);
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but the Kubernetes tools are missing from {}: run scripts/install-k8s-tools.sh",
            bin.display()
        );
        eprintln!(
            "skipping: kubectl, helm or kubernetes-validate missing from {} \
             (scripts/install-k8s-tools.sh installs them)",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

fn skiff(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_skiff"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .expect("skiff runs")
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A stack the export is checked on: a directory with a compose.yaml.
fn stack_dir(name: &str) -> PathBuf {
    if name == "shop" {
        workspace().join("examples/shop")
    } else {
        workspace()
            .join("crates/skiff-k8s/tests/fixtures")
            .join(name)
    }
}

const LAYOUTS: [&str; 4] = ["manifests", "single-file", "kustomize", "helm"];

/// Objects by (kind, name), as JSON.
type Objects = BTreeMap<(String, String), Value>;

fn parse_objects(yaml: &str, what: &str) -> Objects {
    let docs: Vec<Value> = serde_saphyr::from_multiple(yaml)
        .unwrap_or_else(|e| panic!("{what} is not YAML: {e}\n{yaml}"));
    docs.into_iter()
        .filter(|d| !d.is_null())
        .map(|d| {
            let kind = d["kind"].as_str().unwrap_or_default().to_owned();
            let name = d["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            ((kind, name), d)
        })
        .collect()
}

/// The YAML files under `dir`, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    files_under(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect()
}

fn read_objects(files: &[PathBuf]) -> Objects {
    let mut objects = Objects::new();
    for f in files {
        let text = std::fs::read_to_string(f).expect("read");
        objects.extend(parse_objects(&text, &f.display().to_string()));
    }
    objects
}

fn without_namespace(mut objects: Objects) -> Objects {
    objects.retain(|(kind, _), _| kind != "Namespace");
    for v in objects.values_mut() {
        if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.remove("namespace");
        }
    }
    objects
}

/// Per workload (kind, name): its replicas and its containers' images (init containers first),
/// all that a chart's values file sets.
fn images_and_replicas(objects: &Objects) -> Objects {
    objects
        .iter()
        .filter_map(|(key, object)| {
            let pod = match key.0.as_str() {
                "Deployment" | "StatefulSet" | "DaemonSet" | "Job" => {
                    &object["spec"]["template"]["spec"]
                }
                "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
                _ => return None,
            };
            let images: Vec<Value> = ["initContainers", "containers"]
                .into_iter()
                .flat_map(|field| pod[field].as_array().into_iter().flatten())
                .map(|container| container["image"].clone())
                .collect();
            let summary = serde_json::json!({
                "replicas": object["spec"]["replicas"],
                "images": images,
            });
            Some((key.clone(), summary))
        })
        .collect()
}

/// Differences between two sets of objects, for a failure message.
fn differences(a: &Objects, b: &Objects) -> Vec<String> {
    let mut out = Vec::new();
    for key in a.keys().chain(b.keys()) {
        match (a.get(key), b.get(key)) {
            (Some(x), Some(y)) if x != y => out.push(format!(
                "{}/{} differs:\n{}\nvs\n{}",
                key.0,
                key.1,
                serde_json::to_string(x).unwrap_or_default(),
                serde_json::to_string(y).unwrap_or_default()
            )),
            (Some(_), None) => out.push(format!("{}/{} only in the first", key.0, key.1)),
            (None, Some(_)) => out.push(format!("{}/{} only in the second", key.0, key.1)),
            _ => {}
        }
    }
    out.dedup();
    out
}

/// Checks the export of one stack in every layout; returns what went wrong.
struct Check {
    bin: PathBuf,
    out: tempfile::TempDir,
    problems: Vec<String>,
    /// Files for the schema check, with what produced them.
    to_validate: Vec<PathBuf>,
}

impl Check {
    fn tool(&mut self, tool: &str, args: &[&str]) -> Option<String> {
        let out = Command::new(self.bin.join(tool))
            .args(args)
            .output()
            .expect("tool runs");
        if out.status.success() {
            Some(String::from_utf8_lossy(&out.stdout).into_owned())
        } else {
            self.problems.push(format!(
                "{tool} {}:\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
            None
        }
    }

    /// Keeps a tool's output for the schema check and returns its objects.
    fn rendered(&mut self, name: &str, yaml: &str) -> Objects {
        let path = self.out.path().join(format!("rendered-{name}.yaml"));
        std::fs::write(&path, yaml).expect("write");
        self.to_validate.push(path);
        parse_objects(yaml, name)
    }

    fn server_rules(&mut self, what: &str, objects: &Objects) {
        for problem in api_server_rules(objects) {
            self.problems.push(format!("{what}: {problem}"));
        }
    }

    fn same(&mut self, what: &str, a: &Objects, b: &Objects) {
        if a.is_empty() {
            self.problems.push(format!("{what}: no objects"));
        }
        let diff = differences(a, b);
        if !diff.is_empty() {
            self.problems
                .push(format!("{what}:\n  {}", diff.join("\n  ")));
        }
    }

    fn validate(&mut self) {
        let files: Vec<String> = self
            .to_validate
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        assert!(!files.is_empty());
        for version in [&["-k", "1.33.0"][..], &[]] {
            let mut args = vec!["--strict", "--quiet"];
            args.extend_from_slice(version);
            args.extend(files.iter().map(String::as_str));
            if let Some(out) = self.tool("kubernetes-validate", &args)
                && out.contains("ERROR")
            {
                self.problems.push(out);
            }
        }
    }
}

fn check_stack(name: &str, extra: &[&str]) {
    let Some(bin) = tools() else {
        return;
    };
    let dir = stack_dir(name);
    let mut check = Check {
        bin,
        out: tempfile::tempdir().expect("tempdir"),
        problems: Vec::new(),
        to_validate: Vec::new(),
    };
    let root = check.out.path().to_path_buf();
    for layout in LAYOUTS {
        let target = root.join(layout);
        let target_str = target.to_string_lossy().into_owned();
        let mut args = vec![
            "export",
            "kubernetes",
            "--format",
            layout,
            "-o",
            &target_str,
        ];
        args.extend_from_slice(extra);
        let stdout = ok(&skiff(&dir, &args), &format!("export {name} as {layout}"));
        assert!(stdout.contains("REPORT.md"), "{stdout}");
        assert!(target.join("REPORT.md").is_file());
    }

    // plain manifests and single files: validated as written
    let manifests = root.join("manifests");
    let manifest_files = yaml_files(&manifests);
    let single_files = yaml_files(&root.join("single-file"));
    check.to_validate.extend(manifest_files.iter().cloned());
    check.to_validate.extend(single_files.iter().cloned());
    check.same(
        "single files hold the manifests",
        &read_objects(&manifest_files),
        &read_objects(&single_files),
    );
    // per environment directory, or the top level when the stack declares none
    let mut environments: BTreeMap<String, Objects> = BTreeMap::new();
    let mut declared = false;
    for f in &manifest_files {
        let rel = f.strip_prefix(&manifests).expect("under");
        let env = match rel.parent().and_then(|p| p.to_str()) {
            Some("") | None => "default".to_owned(),
            Some(dir) => {
                declared = true;
                dir.to_owned()
            }
        };
        environments
            .entry(env)
            .or_default()
            .extend(read_objects(std::slice::from_ref(f)));
    }

    for (env, objects) in &environments {
        check.server_rules(&format!("manifests of {env}"), objects);
    }

    // kustomize: the base and every overlay build, and each overlay is its environment
    let kustomize = root.join("kustomize");
    let base_dir = kustomize.join("base").to_string_lossy().into_owned();
    let base = check
        .tool("kubectl", &["kustomize", &base_dir])
        .map(|yaml| check.rendered("kustomize-base", &yaml))
        .unwrap_or_default();
    let overlays: Vec<PathBuf> = std::fs::read_dir(kustomize.join("overlays"))
        .expect("overlays")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(
        overlays.len(),
        environments.len(),
        "an overlay per environment"
    );
    for overlay in overlays {
        let env = overlay
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_owned();
        let path = overlay.to_string_lossy().into_owned();
        if let Some(yaml) = check.tool("kubectl", &["kustomize", &path]) {
            let built = check.rendered(&format!("kustomize-{env}"), &yaml);
            check.server_rules(&format!("overlays/{env}"), &built);
            let expected = environments.get(&env).cloned().unwrap_or_default();
            check.same(
                &format!("overlays/{env} builds environment {env}'s manifests"),
                &built,
                &expected,
            );
        }
    }

    // helm: lint, and template with each values file
    let chart = root.join("helm");
    let chart_str = chart.to_string_lossy().into_owned();
    let report = std::fs::read_to_string(chart.join("REPORT.md")).expect("report");
    check.tool("helm", &["lint", "--strict", &chart_str]);
    if let Some(yaml) = check.tool("helm", &["template", name, &chart_str]) {
        let templated = check.rendered("helm-default", &yaml);
        check.same("the chart's defaults render the base", &templated, &base);
    }
    // a stack that declares no environments has no values file: its chart's defaults are
    // its one environment, checked above
    for (env, expected) in environments.iter().filter(|_| declared) {
        let values = chart.join(format!("values-{env}.yaml"));
        assert!(
            values.is_file(),
            "{name}: the chart has no values-{env}.yaml for environment {env}"
        );
        let values = values.to_string_lossy().into_owned();
        check.tool("helm", &["lint", "--strict", &chart_str, "-f", &values]);
        let Some(yaml) = check.tool("helm", &["template", name, &chart_str, "-f", &values]) else {
            continue;
        };
        let templated = check.rendered(&format!("helm-{env}"), &yaml);
        check.server_rules(&format!("helm template -f values-{env}.yaml"), &templated);
        // where the export says the values cannot hold an environment's differences, only
        // images and replicas are compared, of the workloads the chart and the environment share
        if report.contains(&format!("x-skiff.environments.{env}:")) {
            let in_chart = images_and_replicas(&base);
            let want: Objects = images_and_replicas(expected)
                .into_iter()
                .filter(|(key, _)| in_chart.contains_key(key))
                .collect();
            let got: Objects = images_and_replicas(&templated)
                .into_iter()
                .filter(|(key, _)| want.contains_key(key))
                .collect();
            check.same(
                &format!("values-{env}.yaml sets environment {env}'s images and replicas"),
                &got,
                &want,
            );
        } else {
            check.same(
                &format!("values-{env}.yaml renders environment {env}"),
                &templated,
                &without_namespace(expected.clone()),
            );
        }
    }

    check.validate();
    assert!(
        check.problems.is_empty(),
        "{name}:\n{}",
        check.problems.join("\n\n")
    );
}

#[test]
fn shop_example_in_every_layout() {
    check_stack("shop", &[]);
}

#[test]
fn webapp_in_every_layout() {
    check_stack("webapp", &[]);
}

#[test]
fn webapp_one_environment_with_secret_values() {
    check_stack(
        "webapp",
        &["--env", "production", "--include-secret-values"],
    );
}

#[test]
fn legacy_in_every_layout() {
    check_stack("legacy", &[]);
}

#[test]
fn small_in_every_layout() {
    check_stack("small", &[]);
}

#[test]
fn names_in_every_layout() {
    check_stack("names", &[]);
}

#[test]
fn large_in_every_layout() {
    check_stack(
        "large",
        &["--volume-size", "20Gi", "--storage-class", "fast"],
    );
}

// What follows needs no Kubernetes tool.

// The API server's rules that the schemas do not hold: names, label syntax, and references
// between the objects (a selector that selects nothing, a mount of a volume that is not there).
// kubernetes-validate cannot see them and no API server runs here, so they are checked here.

fn dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn dns1035_label(s: &str) -> bool {
    dns1123_label(s) && s.starts_with(|c: char| c.is_ascii_lowercase())
}

fn dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(dns1123_label)
}

fn qualified_name(key: &str) -> bool {
    let (prefix, name) = key
        .rsplit_once('/')
        .map_or((None, key), |(p, n)| (Some(p), n));
    prefix.is_none_or(dns1123_subdomain) && label_value(name) && !name.is_empty()
}

fn label_value(v: &str) -> bool {
    v.len() <= 63
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && (v.is_empty()
            || (v.starts_with(|c: char| c.is_ascii_alphanumeric())
                && v.ends_with(|c: char| c.is_ascii_alphanumeric())))
}

fn iana_port_name(n: &str) -> bool {
    n.len() <= 15
        && dns1123_label(n)
        && n.chars().any(|c| c.is_ascii_lowercase())
        && !n.contains("--")
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn pod_spec(object: &Value) -> Option<(&Value, &Value)> {
    let template = match object["kind"].as_str()? {
        "Deployment" | "StatefulSet" | "DaemonSet" => &object["spec"]["template"],
        "CronJob" => &object["spec"]["jobTemplate"]["spec"]["template"],
        _ => return None,
    };
    Some((&template["metadata"], &template["spec"]))
}

fn api_server_rules(objects: &Objects) -> Vec<String> {
    let mut problems = Vec::new();
    let has = |kind: &str, name: &str| objects.contains_key(&(kind.to_owned(), name.to_owned()));
    let templates: Vec<BTreeMap<String, String>> = objects
        .values()
        .filter(|o| o["kind"] != "CronJob")
        .filter_map(pod_spec)
        .map(|(meta, _)| string_map(&meta["labels"]))
        .collect();
    for ((kind, name), object) in objects {
        let at = format!("{kind}/{name}");
        let name_ok = match kind.as_str() {
            "Service" => dns1035_label(name),
            "Namespace" | "Deployment" | "DaemonSet" => dns1123_label(name),
            "StatefulSet" | "CronJob" => dns1123_label(name) && name.len() <= 52,
            _ => dns1123_subdomain(name),
        };
        if !name_ok {
            problems.push(format!("{at}: the name is not valid for a {kind}"));
        }
        let meta = &object["metadata"];
        let pod_meta = pod_spec(object).map(|(m, _)| m);
        for labels in [Some(&meta["labels"]), pod_meta.map(|m| &m["labels"])]
            .into_iter()
            .flatten()
        {
            for (k, v) in string_map(labels) {
                if !qualified_name(&k) || !label_value(&v) {
                    problems.push(format!("{at}: invalid label {k}={v:?}"));
                }
            }
        }
        for annotations in [
            Some(&meta["annotations"]),
            pod_meta.map(|m| &m["annotations"]),
        ]
        .into_iter()
        .flatten()
        {
            for k in string_map(annotations).keys() {
                if !qualified_name(k) {
                    problems.push(format!("{at}: invalid annotation key {k}"));
                }
            }
        }
        if let Some((template, spec)) = pod_spec(object) {
            let labels = string_map(&template["labels"]);
            let selector = string_map(&object["spec"]["selector"]["matchLabels"]);
            if selector.iter().any(|(k, v)| labels.get(k) != Some(v)) {
                problems.push(format!("{at}: the selector does not select its own pods"));
            }
            if kind == "StatefulSet" {
                let service = object["spec"]["serviceName"].as_str().unwrap_or_default();
                if !has("Service", service) {
                    problems.push(format!("{at}: serviceName {service:?} is not exported"));
                }
            }
            pod_rules(&at, spec, &has, &mut problems);
        }
        if kind == "Service"
            && let Some(selector) = object["spec"]["selector"].as_object()
        {
            let selector = string_map(&Value::Object(selector.clone()));
            if !templates
                .iter()
                .any(|t| selector.iter().all(|(k, v)| t.get(k) == Some(v)))
            {
                problems.push(format!("{at}: selects no exported pod"));
            }
            for port in object["spec"]["ports"].as_array().into_iter().flatten() {
                if let Some(n) = port["name"].as_str()
                    && !iana_port_name(n)
                {
                    problems.push(format!("{at}: invalid port name {n}"));
                }
            }
        }
        if kind == "Ingress" {
            for rule in object["spec"]["rules"].as_array().into_iter().flatten() {
                for path in rule["http"]["paths"].as_array().into_iter().flatten() {
                    let backend = &path["backend"]["service"];
                    let service = backend["name"].as_str().unwrap_or_default();
                    let Some(target) = objects.get(&("Service".to_owned(), service.to_owned()))
                    else {
                        problems.push(format!("{at}: routes to Service {service:?}, not exported"));
                        continue;
                    };
                    let port = &backend["port"]["number"];
                    let served = target["spec"]["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|p| p["port"] == *port);
                    if !served {
                        problems.push(format!("{at}: Service {service} has no port {port}"));
                    }
                }
            }
        }
    }
    problems
}

fn pod_rules(at: &str, spec: &Value, has: &dyn Fn(&str, &str) -> bool, problems: &mut Vec<String>) {
    let optional = |v: &Value| v["optional"] == Value::Bool(true);
    let mut volumes = Vec::new();
    for volume in spec["volumes"].as_array().into_iter().flatten() {
        let name = volume["name"].as_str().unwrap_or_default();
        if !dns1123_label(name) || volumes.contains(&name) {
            problems.push(format!("{at}: volume name {name:?} invalid or repeated"));
        }
        volumes.push(name);
        for (field, kind, key) in [
            ("configMap", "ConfigMap", "name"),
            ("secret", "Secret", "secretName"),
            (
                "persistentVolumeClaim",
                "PersistentVolumeClaim",
                "claimName",
            ),
        ] {
            let source = &volume[field];
            if let Some(target) = source[key].as_str()
                && !optional(source)
                && !has(kind, target)
            {
                problems.push(format!(
                    "{at}: volume {name} needs {kind} {target}, not exported"
                ));
            }
        }
    }
    let containers = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .chain(spec["initContainers"].as_array().into_iter().flatten());
    let mut names = Vec::new();
    for c in containers {
        let name = c["name"].as_str().unwrap_or_default();
        if !dns1123_label(name) || names.contains(&name) {
            problems.push(format!("{at}: container name {name:?} invalid or repeated"));
        }
        names.push(name);
        let mut ports = Vec::new();
        for p in c["ports"].as_array().into_iter().flatten() {
            if let Some(n) = p["name"].as_str() {
                if !iana_port_name(n) || ports.contains(&n) {
                    problems.push(format!("{at}: container {name}: port name {n:?}"));
                }
                ports.push(n);
            }
        }
        for m in c["volumeMounts"].as_array().into_iter().flatten() {
            let v = m["name"].as_str().unwrap_or_default();
            if !volumes.contains(&v) {
                problems.push(format!(
                    "{at}: container {name} mounts {v:?}, which is no volume"
                ));
            }
        }
        for from in c["envFrom"].as_array().into_iter().flatten() {
            for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
                let source = &from[field];
                if let Some(target) = source["name"].as_str()
                    && !optional(source)
                    && !has(kind, target)
                {
                    problems.push(format!(
                        "{at}: container {name} reads {kind} {target}, not exported"
                    ));
                }
            }
        }
        for env in c["env"].as_array().into_iter().flatten() {
            for (field, kind) in [("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")] {
                let source = &env["valueFrom"][field];
                if let Some(target) = source["name"].as_str()
                    && !optional(source)
                    && !has(kind, target)
                {
                    problems.push(format!(
                        "{at}: container {name} reads {kind} {target}, not exported"
                    ));
                }
            }
        }
    }
}

#[test]
fn api_server_rules_catch_what_the_schemas_miss() {
    let objects = parse_objects(
        "apiVersion: v1\nkind: Service\nmetadata: {name: 1api}\n\
         spec: {selector: {app: api}, ports: [{name: a-very-long-port-name, port: 80}]}\n---\n\
         apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: db}\n\
         spec:\n  serviceName: db\n  selector: {matchLabels: {app: db}}\n  template:\n    \
         metadata: {labels: {app: db-x}}\n    spec:\n      containers:\n      - name: db\n        \
         volumeMounts: [{name: data, mountPath: /d}]\n        envFrom: [{configMapRef: {name: db-env}}]\n",
        "bad objects",
    );
    let problems = api_server_rules(&objects);
    for expected in [
        "Service/1api: the name is not valid for a Service",
        "Service/1api: selects no exported pod",
        "Service/1api: invalid port name a-very-long-port-name",
        "StatefulSet/db: the selector does not select its own pods",
        "StatefulSet/db: serviceName \"db\" is not exported",
        "StatefulSet/db: container db mounts \"data\", which is no volume",
        "StatefulSet/db: container db reads ConfigMap db-env, not exported",
    ] {
        assert!(
            problems.iter().any(|p| p == expected),
            "{expected} not in {problems:#?}"
        );
    }
}

fn export_into(dir: &Path, extra: &[&str]) -> Output {
    let target = dir.to_string_lossy().into_owned();
    let mut args = vec!["export", "kubernetes", "-o", &target];
    args.extend_from_slice(extra);
    skiff(&stack_dir("webapp"), &args)
}

#[test]
fn export_refuses_a_directory_it_did_not_write_unless_forced() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("notes.txt"), "mine").expect("write");
    let out = export_into(dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not empty and was not written by `skiff export`"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        1,
        "nothing written"
    );

    ok(&export_into(dir.path(), &["--force"]), "export --force");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("notes.txt")).expect("kept"),
        "mine"
    );
    assert!(
        dir.path()
            .join("production/40-deployment-web.yaml")
            .is_file()
    );
}

#[test]
fn export_again_replaces_its_own_files_and_removes_stale_ones() {
    let parent = tempfile::tempdir().expect("tempdir");
    let dir = parent.path().join("k8s");
    ok(&export_into(&dir, &[]), "first export");
    assert!(dir.join("staging/40-deployment-web.yaml").is_file());
    // the same directory, another layout: the old files go, no leftovers or temporary files
    ok(
        &export_into(&dir, &["--format", "kustomize", "--env", "production"]),
        "second export",
    );
    assert!(!dir.join("staging").exists(), "stale directory removed");
    assert!(!dir.join("production").exists(), "stale directory removed");
    assert!(dir.join("overlays/production/kustomization.yaml").is_file());
    assert!(!dir.join("overlays/staging").exists());
    let names: Vec<String> = files_under(&dir)
        .iter()
        .filter_map(|p| p.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    assert!(
        names.iter().all(|n| !n.ends_with(".skiff-tmp")),
        "{names:?}"
    );
}

#[test]
fn export_of_an_undeclared_environment_names_the_declared_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = export_into(&dir.path().join("x"), &["--env", "qa"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(
            "unknown environment \"qa\": x-skiff.environments declares production, staging"
        ),
        "{err}"
    );
}

#[test]
fn environment_files_and_variables_are_layered_on_the_base() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("compose.yaml"),
        "name: layered\nservices:\n  web:\n    image: example/web:${TAG:-dev}\n\
         x-skiff:\n  environments:\n    production:\n      files: [compose.prod.yaml]\n      \
         variables: {TAG: \"2.0\"}\n",
    )
    .expect("write");
    std::fs::write(
        dir.path().join("compose.prod.yaml"),
        "services:\n  web:\n    deploy:\n      replicas: 4\n",
    )
    .expect("write");
    let out_dir = dir.path().join("out");
    let out = skiff(
        dir.path(),
        &[
            "export",
            "kubernetes",
            "--format",
            "single-file",
            "-o",
            &out_dir.to_string_lossy(),
        ],
    );
    ok(&out, "export");
    let text = std::fs::read_to_string(out_dir.join("layered-production.yaml")).expect("file");
    let objects = parse_objects(&text, "production");
    let web = &objects[&("Deployment".to_owned(), "web".to_owned())];
    assert_eq!(web["spec"]["replicas"], 4);
    assert_eq!(
        web["spec"]["template"]["spec"]["containers"][0]["image"],
        "example/web:2.0"
    );
    assert_eq!(web["metadata"]["namespace"], "layered-production");
}

#[test]
fn assess_text_and_json() {
    let dir = stack_dir("large");
    let text = ok(
        &skiff(
            &dir,
            &["assess", "--host-cpus", "8", "--host-memory", "32GiB"],
        ),
        "assess",
    );
    assert!(text.starts_with("verdict: graduate"), "{text}");
    assert!(text.contains("history: none yet"), "{text}");
    let json = ok(
        &skiff(
            &dir,
            &[
                "assess",
                "--format",
                "json",
                "--host-cpus",
                "8",
                "--host-memory",
                "32GiB",
            ],
        ),
        "assess --format json",
    );
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(v["verdict"], "graduate");
    assert_eq!(v["host"]["cpus"], 8.0);
    assert_eq!(v["host"]["memory"], 32_u64 << 30);
    assert!(v["history"].is_null());
    assert!(v["reasons"].as_array().is_some_and(|r| r.len() == 8));

    // this machine's own resources, read from /proc/meminfo and the CPU count
    let here = ok(
        &skiff(&stack_dir("small"), &["assess", "--format", "json"]),
        "assess here",
    );
    let v: Value = serde_json::from_str(&here).expect("json");
    assert!(v["host"]["cpus"].as_f64().is_some_and(|c| c >= 1.0), "{v}");
    assert!(
        v["host"]["memory"].as_u64().is_some_and(|m| m > 1 << 20),
        "{v}"
    );
}

#[test]
fn apply_without_a_context_says_where_to_name_one() {
    let out = skiff(&stack_dir("small"), &["apply"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no Kubernetes context to apply to"), "{err}");
    assert!(err.contains("--context"), "{err}");
}

/// The binary end to end against a mocked API server: the kubeconfig context, its token, the
/// server-side apply of every object, the prune lists and the rollout reads. (No real API
/// server can run here; crates/skiff-kube/tests pins the requests in detail.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_through_a_kubeconfig_context_to_a_mocked_api() {
    use wiremock::matchers::{header, method, query_param};
    use wiremock::{Mock, MockServer, Request, ResponseTemplate};

    let server = MockServer::start().await;
    Mock::given(method("PATCH"))
        .and(query_param("fieldManager", "skiff"))
        .and(header("authorization", "Bearer not-a-real-token"))
        .respond_with(|req: &Request| {
            ResponseTemplate::new(200).set_body_raw(req.body.clone(), "application/json")
        })
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(wiremock::matchers::query_param_contains(
            "labelSelector",
            "managed-by=skiff",
        ))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "apiVersion": "meta.k8s.io/v1", "kind": "PartialObjectMetadataList",
            "metadata": {}, "items": [{"metadata": {"name": "gone", "namespace": "small"}}],
        })))
        .mount(&server)
        .await;
    Mock::given(method("DELETE"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
        ))
        .mount(&server)
        .await;
    // every workload has rolled out
    Mock::given(method("GET"))
        .and(wiremock::matchers::path_regex(
            "/(deployments|statefulsets)/[a-z-]+$",
        ))
        .respond_with(|req: &Request| {
            let segments: Vec<&str> = req.url.path().split('/').collect();
            let (plural, name) = (segments[segments.len() - 2], segments[segments.len() - 1]);
            let kind = if plural == "deployments" {
                "Deployment"
            } else {
                "StatefulSet"
            };
            ResponseTemplate::new(200).set_body_json(serde_json::json!({
                "apiVersion": "apps/v1", "kind": kind,
                "metadata": {"name": name, "generation": 1},
                "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": name},
                "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                           "availableReplicas": 1, "readyReplicas": 1,
                           "currentRevision": "r", "updateRevision": "r"},
            }))
        })
        .mount(&server)
        .await;

    let home = tempfile::tempdir().expect("tempdir");
    let kubeconfig = home.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\n\
             clusters:\n- name: mock\n  cluster: {{server: \"{}\"}}\n\
             users:\n- name: mock\n  user: {{token: not-a-real-token}}\n\
             contexts:\n- name: mock\n  context: {{cluster: mock, user: mock}}\n",
            server.uri()
        ),
    )
    .expect("kubeconfig");
    let dir = stack_dir("small");
    let out = tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_skiff"))
            .args(["apply", "--context", "mock", "--prune", "--wait"])
            .current_dir(dir)
            .env("KUBECONFIG", &kubeconfig)
            .env("NO_COLOR", "1")
            .output()
            .expect("skiff runs")
    })
    .await
    .expect("joined");
    let stdout = ok(&out, "skiff apply");
    for line in [
        "applying small to namespace small of context mock",
        "  applied Namespace/small",
        "  applied Deployment/app",
        "  applied StatefulSet/db",
        "  applied CronJob/digest",
        "  pruned ConfigMap/gone",
        "  kept PersistentVolumeClaim/gone: it holds data",
        "  rolled out Deployment/app",
        "  rolled out StatefulSet/db",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    let requests = server.received_requests().await.expect("recorded");
    let patches = requests
        .iter()
        .filter(|r| r.method == wiremock::http::Method::PATCH)
        .count();
    assert!(patches >= 5, "{patches} PATCHes");
}
