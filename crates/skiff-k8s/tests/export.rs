//! Golden tests of the export: fixtures under `tests/fixtures/NAME/compose.yaml` are loaded with
//! the real loader, exported, rendered, and compared with snapshots in `tests/snapshots/`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use skiff_compose::fs::OsFiles;
use skiff_compose::{Loaded, Request};
use skiff_k8s::{
    Export, ExportOptions, Layout, NoteKind, Object, SecretValues, Stack, export, render,
    wanted_files,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn load_file(path: &Path) -> Result<Loaded, String> {
    let dir = path
        .parent()
        .map(|d| d.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut req = Request::new(dir, indexmap::IndexMap::new());
    req.files = vec![path.to_string_lossy().into_owned()];
    skiff_compose::load(&req, &OsFiles).map_err(|(e, _)| e.to_string())
}

fn load(name: &str) -> Loaded {
    let path = fixture(name).join("compose.yaml");
    match load_file(&path) {
        Ok(l) => l,
        Err(e) => panic!("fixture {name} does not load: {e}"),
    }
}

fn stack(loaded: &Loaded) -> Stack<'_> {
    Stack::new(
        &loaded.project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    )
}

/// The contents of the files the export asks for, read as the binary would.
fn files_for(stack: &Stack<'_>) -> BTreeMap<String, Vec<u8>> {
    wanted_files(stack)
        .into_iter()
        .filter_map(|p| std::fs::read(&p).ok().map(|b| (p, b)))
        .collect()
}

fn exported(loaded: &Loaded, environment: Option<&str>) -> Export {
    let stack = stack(loaded);
    let options = ExportOptions {
        environment: environment.map(str::to_owned),
        files: files_for(&stack),
        ..ExportOptions::default()
    };
    export(&stack, &options).expect("export")
}

/// Paths are machine-specific: keep them out of snapshots.
fn portable(text: &str) -> String {
    text.replace(env!("CARGO_MANIFEST_DIR"), "$CRATE")
}

fn single_file(export: &Export) -> String {
    let rendered = render(Layout::SingleFile, export, &[]).expect("render");
    portable(&rendered.files[0].contents)
}

fn find<'a>(export: &'a Export, kind: &str, name: &str) -> &'a Object {
    export
        .objects
        .iter()
        .find(|o| o.kind() == kind && o.name() == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
}

#[test]
fn webapp_manifests() {
    let loaded = load("webapp");
    let export = exported(&loaded, None);
    insta::assert_snapshot!("webapp_manifests", single_file(&export));
    insta::assert_snapshot!("webapp_report", portable(&export.report.to_string()));
}

#[test]
fn webapp_objects_by_kind() {
    let loaded = load("webapp");
    let export = exported(&loaded, Some("production"));
    let kinds: Vec<String> = export
        .objects
        .iter()
        .map(|o| format!("{}/{}", o.kind(), o.name()))
        .collect();
    insta::assert_yaml_snapshot!("webapp_objects", kinds);
    assert_eq!(export.namespace, "webapp-production");
    // the database owns a volume: a StatefulSet; the others are Deployments
    find(&export, "StatefulSet", "db");
    find(&export, "Deployment", "web");
    find(&export, "Deployment", "worker");
    assert!(
        export
            .objects
            .iter()
            .all(|o| matches!(o, Object::Namespace(_))
                || o.metadata().namespace.as_deref() == Some("webapp-production"))
    );
}

#[test]
fn secret_values_only_when_asked() {
    let loaded = load("webapp");
    let stack = stack(&loaded);
    let value = |options: &ExportOptions| {
        let export = export(&stack, options).expect("export");
        let Object::Secret(s) = find(&export, "Secret", "web-env") else {
            unreachable!()
        };
        let data = s.string_data.clone().unwrap_or_default();
        (
            data.get("SESSION_SECRET").cloned(),
            data.get("DATABASE_URL").cloned(),
            export
                .report
                .notes
                .iter()
                .any(|n| n.path == "services.web.environment"),
        )
    };
    let omitted = value(&ExportOptions::default());
    assert_eq!(omitted.0.as_deref(), Some(""));
    assert_eq!(
        omitted.1.as_deref(),
        Some(""),
        "a URL with a password is secret"
    );
    assert!(omitted.2, "the report says which secrets are empty");

    let included = value(&ExportOptions {
        secret_values: SecretValues::Include,
        files: files_for(&stack),
        ..ExportOptions::default()
    });
    assert_eq!(included.0.as_deref(), Some("change-me"));
    assert_eq!(
        included.1.as_deref(),
        Some("postgres://app:s3cret@db:5432/app")
    );
    assert!(!included.2);

    let export = export(
        &stack,
        &ExportOptions {
            secret_values: SecretValues::Include,
            files: files_for(&stack),
            ..ExportOptions::default()
        },
    )
    .expect("export");
    let Object::Secret(file_secret) = find(&export, "Secret", "api-key") else {
        unreachable!()
    };
    assert_eq!(
        file_secret
            .string_data
            .as_ref()
            .and_then(|d| d.get("api_key"))
            .map(String::as_str),
        Some("not-a-real-key\n")
    );
}

#[test]
fn unknown_environment_is_an_error() {
    let loaded = load("webapp");
    let err = export(
        &stack(&loaded),
        &ExportOptions {
            environment: Some("qa".to_owned()),
            ..ExportOptions::default()
        },
    )
    .expect_err("qa is not declared");
    assert_eq!(
        err.to_string(),
        "unknown environment \"qa\": x-skiff.environments declares production, staging"
    );
}

/// Production runs more web replicas on a newer image: what its overlay (or values file) holds.
fn production(loaded: &Loaded) -> Export {
    let mut project = loaded.project.clone();
    if let Some(web) = project.services.get_mut("web") {
        web.image = "registry.example.com/webapp/web:1.5.0".to_owned();
        if let Some(deploy) = &mut web.deploy {
            deploy.replicas = Some(6);
        }
        web.environment
            .insert("LOG_LEVEL".to_owned(), Some("warning".to_owned()));
    }
    let stack = Stack::new(
        &project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    );
    export(
        &stack,
        &ExportOptions {
            environment: Some("production".to_owned()),
            files: files_for(&stack),
            ..ExportOptions::default()
        },
    )
    .expect("export")
}

fn listing(files: &[skiff_k8s::OutputFile], show: impl Fn(&str) -> bool) -> String {
    let mut out = String::new();
    for f in files {
        out.push_str(&format!("=== {}\n", f.path));
        if show(&f.path) {
            out.push_str(&portable(&f.contents));
        }
    }
    out
}

#[test]
fn webapp_kustomize() {
    let loaded = load("webapp");
    let base = exported(&loaded, None);
    let staging = exported(&loaded, Some("staging"));
    let production = production(&loaded);
    let rendered = render(Layout::Kustomize, &base, &[staging, production]).expect("render");
    assert!(rendered.report.is_empty());
    insta::assert_snapshot!(
        "webapp_kustomize",
        listing(&rendered.files, |p| p.contains("overlays/")
            || p == "base/kustomization.yaml")
    );
}

#[test]
fn webapp_helm() {
    let loaded = load("webapp");
    let base = exported(&loaded, None);
    let production = production(&loaded);
    let rendered = render(Layout::Helm, &base, &[production]).expect("render");
    insta::assert_snapshot!(
        "webapp_helm",
        listing(&rendered.files, |p| !p.starts_with("templates/")
            && p != "REPORT.md"
            || p == "templates/deployment-web.yaml"
            || p == "templates/cronjob-cleanup.yaml")
    );
    // production changes an environment variable too, which values cannot hold
    let notes: Vec<&str> = rendered
        .report
        .of_kind(NoteKind::NotCarried)
        .map(|n| n.message.as_str())
        .collect();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains("ConfigMap/web-env"), "{}", notes[0]);
    // a value that looks like a template is escaped, so Helm prints it back unchanged
    let configmap = rendered
        .files
        .iter()
        .find(|f| f.path == "templates/configmap-web-env.yaml")
        .expect("web's environment");
    assert!(
        configmap
            .contents
            .contains(r#"GREETING: Hello {{ "{{" }} name }}"#),
        "{}",
        configmap.contents
    );
}

#[test]
fn webapp_manifest_files() {
    let loaded = load("webapp");
    let base = exported(&loaded, None);
    let rendered = render(Layout::Manifests, &base, &[]).expect("render");
    let paths: Vec<&str> = rendered.files.iter().map(|f| f.path.as_str()).collect();
    insta::assert_yaml_snapshot!("webapp_manifest_paths", paths);
    // one file per object, and the report
    assert_eq!(rendered.files.len(), base.objects.len() + 1);
}

#[test]
fn legacy_report() {
    let loaded = load("legacy");
    let export = exported(&loaded, None);
    insta::assert_snapshot!("legacy_report", portable(&export.report.to_string()));
    insta::assert_snapshot!("legacy_manifests", single_file(&export));
    // a process without an image and the job-only service it routes to leave no workload
    assert!(
        !export
            .objects
            .iter()
            .any(|o| o.name() == "agent" && o.kind() != "Ingress")
    );
    // nothing in the stack is dropped silently: every service with an unportable setting has
    // a note naming it
    for (service, field) in [
        ("monitor", "network_mode"),
        ("monitor", "privileged"),
        ("monitor", "pid"),
        ("monitor", "volumes[1]"),
        ("app", "devices"),
        ("app", "user"),
        ("app", "ulimits"),
        ("app", "depends_on"),
        ("app", "dns"),
        ("app", "logging"),
        ("app", "stop_signal"),
        ("app", "volumes_from"),
        ("app", "command"),
        ("app", "build"),
        ("migrate", "build"),
        ("cache", "networks.backend"),
        ("sidecar", "network_mode"),
        ("agent", "x-skiff.runtime"),
    ] {
        let path = format!("services.{service}.{field}");
        assert!(
            export.report.notes.iter().any(|n| n.path == path),
            "no note for {path}"
        );
    }
}

/// A service a profile disables is not exported, but its jobs still run as it.
#[test]
fn disabled_services() {
    let loaded = load("webapp");
    let mut project = loaded.project.clone();
    for name in ["worker", "web"] {
        if let Some(service) = project.services.remove(name) {
            project.disabled_services.insert(name.to_owned(), service);
        }
    }
    let stack = Stack::new(
        &project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    );
    let export = export(&stack, &ExportOptions::default()).expect("export");
    assert!(!export.objects.iter().any(|o| o.kind() == "Deployment"));
    let Object::CronJob(job) = find(&export, "CronJob", "cleanup") else {
        unreachable!()
    };
    let pod = job
        .spec
        .as_ref()
        .and_then(|s| s.job_template.spec.as_ref())
        .and_then(|s| s.template.spec.as_ref())
        .expect("pod");
    assert_eq!(
        pod.containers[0].args.as_deref(),
        Some(
            &[
                "python".to_owned(),
                "manage.py".to_owned(),
                "cleanup".to_owned()
            ][..]
        )
    );
    find(&export, "ConfigMap", "worker-env");
    let notes: Vec<&str> = export
        .report
        .notes
        .iter()
        .filter(|n| n.message.contains("disabled by its profiles"))
        .map(|n| n.path.as_str())
        .collect();
    // worker runs the cleanup job, so only web is reported as left out
    assert_eq!(notes, ["services.web"]);
    // and the route to web has nothing to route to
    assert!(
        export
            .report
            .notes
            .iter()
            .any(|n| n.path == "x-skiff.routes.web" && n.kind == NoteKind::NotCarried)
    );
}

/// The bundled example, once the loader reads it (interpolation is still being finished).
#[test]
fn shop_example() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/shop/compose.yaml");
    let loaded = load_file(&path).expect("examples/shop loads");
    let export = exported(&loaded, None);
    insta::assert_snapshot!("shop_manifests", single_file(&export));
    insta::assert_snapshot!("shop_report", portable(&export.report.to_string()));
}

/// Regression: names Compose accepts that the schemas accept too, but the API server refuses
/// (a Service named `1api`) or cannot use (a StatefulSet whose pods' `controller-revision-hash`
/// label would pass 63 characters, a CronJob name past 52).
#[test]
fn names_the_api_server_accepts() {
    let loaded = load("names");
    let export = exported(&loaded, None);
    let dns1035 = |s: &str| {
        s.len() <= 63
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && !s.ends_with('-')
            && s.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let mut services = Vec::new();
    for object in &export.objects {
        let name = object.name();
        match object.kind() {
            "Service" => {
                assert!(dns1035(name), "Service {name}");
                services.push(name);
            }
            "StatefulSet" | "CronJob" => {
                assert!(name.len() <= 52, "{} {name}", object.kind());
            }
            _ => assert!(name.len() <= 63, "{} {name}", object.kind()),
        }
    }
    assert_eq!(
        services,
        [
            "a-very-long-service-name-that-goes-on-and-on-and-on",
            "api-internal",
            "svc-1api",
            "svc-2nd-api",
            "upper"
        ]
    );
    find(&export, "Deployment", "svc-1api");
    find(
        &export,
        "StatefulSet",
        "a-very-long-service-name-that-goes-on-and-on-and-on",
    );
    // every renamed service and alias is reported with the name to use instead
    for (path, new_name) in [
        ("services.1api", "svc-1api"),
        ("services.UPPER", "upper"),
        ("services.1api.networks", "svc-2nd-api"),
        ("services.1api.networks", "api-internal"),
    ] {
        assert!(
            export
                .report
                .notes
                .iter()
                .any(|n| n.path == path && n.message.contains(new_name)),
            "no note at {path} naming {new_name}:\n{}",
            export.report
        );
    }
}

/// A job's rules become its CronJob's: overlap, timeout, retries, and the time zone skiff
/// reads the schedule in (UTC when none is given, as on the host).
#[test]
fn job_rules_carry_over_to_the_cron_job() {
    let spec = |export: &Export| {
        let Object::CronJob(job) = find(export, "CronJob", "cleanup") else {
            unreachable!()
        };
        job.spec.clone().expect("spec")
    };
    let mut loaded = load("webapp");
    let s = spec(&export(&stack(&loaded), &ExportOptions::default()).expect("export"));
    assert_eq!(s.concurrency_policy.as_deref(), Some("Forbid"));
    assert_eq!(s.time_zone.as_deref(), Some("Etc/UTC"));
    let job = s.job_template.spec.expect("job");
    assert_eq!(job.backoff_limit, Some(0));
    assert_eq!(job.active_deadline_seconds, Some(600));

    let cleanup = loaded
        .extensions
        .project
        .jobs
        .get_mut("cleanup")
        .expect("cleanup");
    cleanup.overlap = skiff_model::xskiff::Overlap::Replace;
    cleanup.retries = 2;
    cleanup.timezone = Some(skiff_model::xskiff::TimeZone(chrono_tz::Europe::Berlin));
    let s = spec(&export(&stack(&loaded), &ExportOptions::default()).expect("export"));
    assert_eq!(s.concurrency_policy.as_deref(), Some("Replace"));
    assert_eq!(s.time_zone.as_deref(), Some("Europe/Berlin"));
    assert_eq!(s.job_template.spec.expect("job").backoff_limit, Some(2));
}
