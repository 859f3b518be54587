//! `skiff apply` against a mocked Kubernetes API (wiremock): no API server can run where skiff
//! is built, so these tests pin the requests the client sends (server-side apply PATCHes under
//! the field manager `skiff`, label-selected lists and DELETEs for pruning, GETs polling a
//! rollout) and how it reads the answers. Whether a real API server accepts the objects is
//! checked elsewhere, with the real schemas and tools (crates/skiff/tests/k8s.rs).

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::{Client, Config};
use serde_json::{Value, json};
use skiff_compose::fs::OsFiles;
use skiff_compose::{Loaded, Request};
use skiff_k8s::{Export, ExportOptions, Object, Stack, export};
use skiff_kube::{
    ApplyError, ApplyOptions, Conflicts, Event, FIELD_MANAGER, Prune, Secrets, Wait, apply,
};
use wiremock::matchers::{header, method, path, path_regex, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

const NS: &str = "webapp-production";

fn webapp() -> Loaded {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../skiff-k8s/tests/fixtures/webapp");
    let mut req = Request::new(
        dir.to_string_lossy().into_owned(),
        indexmap::IndexMap::new(),
    );
    req.files = vec![dir.join("compose.yaml").to_string_lossy().into_owned()];
    match skiff_compose::load(&req, &OsFiles) {
        Ok(l) => l,
        Err((e, _)) => panic!("the webapp fixture does not load: {e}"),
    }
}

fn production(loaded: &Loaded) -> Export {
    let stack = Stack::new(
        &loaded.project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    );
    export(
        &stack,
        &ExportOptions {
            environment: Some("production".to_owned()),
            ..ExportOptions::default()
        },
    )
    .expect("export")
}

fn client(server: &MockServer) -> Client {
    let uri: http::Uri = server.uri().parse().expect("uri");
    // As `skiff_kube::connect` does: ring, whatever else the workspace links.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Client::try_from(Config::new(uri)).expect("client")
}

/// The URL path an object is applied at.
fn object_path(object: &Object) -> String {
    let plural = match object.kind() {
        "Namespace" => return format!("/api/v1/namespaces/{}", object.name()),
        "NetworkPolicy" => "networkpolicies".to_owned(),
        "Ingress" => "ingresses".to_owned(),
        kind => format!("{}s", kind.to_ascii_lowercase()),
    };
    let group = match object.kind() {
        "Deployment" | "StatefulSet" | "DaemonSet" => "/apis/apps/v1",
        "CronJob" => "/apis/batch/v1",
        "Ingress" | "NetworkPolicy" => "/apis/networking.k8s.io/v1",
        _ => "/api/v1",
    };
    format!("{group}/namespaces/{NS}/{plural}/{}", object.name())
}

/// Server-side apply answers with the object it stored: here, the one it was sent.
async fn mount_apply(server: &MockServer, expected: u64) {
    Mock::given(method("PATCH"))
        .and(query_param("fieldManager", FIELD_MANAGER))
        .and(header("content-type", "application/apply-patch+yaml"))
        .respond_with(|req: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_raw(req.body.clone(), "application/json")
        })
        .expect(expected)
        .named("server-side apply")
        .mount(server)
        .await;
}

fn metadata_list(names: &[&str]) -> Value {
    json!({
        "apiVersion": "meta.k8s.io/v1",
        "kind": "PartialObjectMetadataList",
        "metadata": {},
        "items": names.iter().map(|n| json!({
            "apiVersion": "meta.k8s.io/v1",
            "kind": "PartialObjectMetadata",
            "metadata": {"name": n, "namespace": NS},
        })).collect::<Vec<_>>(),
    })
}

const SELECTOR: &str = "app.kubernetes.io/managed-by=skiff,app.kubernetes.io/part-of=webapp";

/// What skiff applied earlier: lists by skiff's labels, per kind; other kinds list nothing.
async fn mount_listed(server: &MockServer, listed: &[(&str, &[&str])]) {
    for (collection, names) in listed {
        Mock::given(method("GET"))
            .and(path(*collection))
            .and(query_param("labelSelector", SELECTOR))
            .respond_with(ResponseTemplate::new(200).set_body_json(metadata_list(names)))
            .with_priority(1)
            .mount(server)
            .await;
    }
    Mock::given(method("GET"))
        .and(path_regex(
            r"^/apis?/.*/namespaces/webapp-production/[a-z]+$",
        ))
        .and(query_param("labelSelector", SELECTOR))
        .respond_with(ResponseTemplate::new(200).set_body_json(metadata_list(&[])))
        .with_priority(5)
        .mount(server)
        .await;
}

async fn mount_delete(server: &MockServer, object_path: &str) {
    Mock::given(method("DELETE"))
        .and(path(object_path))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"kind": "Status", "apiVersion": "v1", "status": "Success"})),
        )
        .expect(1)
        .named(format!("delete {object_path}"))
        .mount(server)
        .await;
}

fn deployment(name: &str, replicas: i32, updated: i32, available: i32) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS, "generation": 2},
        "spec": {"replicas": replicas, "selector": {}, "template": {}},
        "status": {"observedGeneration": 2, "replicas": replicas,
                   "updatedReplicas": updated, "availableReplicas": available},
    })
}

fn stateful_set(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "StatefulSet",
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {"replicas": 1, "selector": {}, "serviceName": name, "template": {}},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1,
                   "updatedReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"},
    })
}

/// GETs of a workload answer with each of `states` once, then with the last for good.
async fn mount_rollout(server: &MockServer, object_path: &str, states: &[Value]) {
    for (i, state) in states.iter().enumerate() {
        let mock = Mock::given(method("GET"))
            .and(path(object_path))
            .respond_with(ResponseTemplate::new(200).set_body_json(state));
        let last = i + 1 == states.len();
        let priority = u8::try_from(i + 1).expect("few states");
        let mock = if last {
            mock.with_priority(priority)
        } else {
            mock.up_to_n_times(1).with_priority(priority)
        };
        mock.mount(server).await;
    }
}

fn recorder() -> (Arc<Mutex<Vec<Event>>>, impl FnMut(Event)) {
    let events = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&events);
    (events, move |e| sink.lock().expect("events").push(e))
}

fn quick_wait() -> Wait {
    Wait::Rollouts {
        timeout: Duration::from_secs(10),
        interval: Duration::from_millis(10),
    }
}

#[tokio::test]
async fn applies_every_object_prunes_what_is_gone_and_waits_for_rollouts() {
    let loaded = webapp();
    let export = production(&loaded);
    let secrets = export
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Secret(_)))
        .count();
    assert!(secrets > 0, "the fixture exports Secrets");
    let server = MockServer::start().await;
    let applied = export.objects.len() - secrets;
    mount_apply(&server, applied as u64).await;
    mount_listed(
        &server,
        &[
            (
                "/api/v1/namespaces/webapp-production/configmaps",
                &["web-env", "old-env"],
            ),
            // Secrets are left alone without their values: neither applied nor pruned, even
            // one the stack no longer declares (no DELETE is mounted for it).
            (
                "/api/v1/namespaces/webapp-production/secrets",
                &["web-env", "old-secret"],
            ),
            (
                "/api/v1/namespaces/webapp-production/persistentvolumeclaims",
                &["pgdata", "olddata"],
            ),
            (
                "/apis/apps/v1/namespaces/webapp-production/deployments",
                &["web", "legacy-api"],
            ),
        ],
    )
    .await;
    mount_delete(
        &server,
        "/api/v1/namespaces/webapp-production/configmaps/old-env",
    )
    .await;
    mount_delete(
        &server,
        "/apis/apps/v1/namespaces/webapp-production/deployments/legacy-api",
    )
    .await;
    let web = "/apis/apps/v1/namespaces/webapp-production/deployments/web";
    mount_rollout(
        &server,
        web,
        &[
            deployment("web", 3, 1, 0),
            deployment("web", 3, 3, 2),
            deployment("web", 3, 3, 3),
        ],
    )
    .await;
    mount_rollout(
        &server,
        "/apis/apps/v1/namespaces/webapp-production/deployments/worker",
        &[deployment("worker", 2, 2, 2)],
    )
    .await;
    mount_rollout(
        &server,
        "/apis/apps/v1/namespaces/webapp-production/statefulsets/db",
        &[stateful_set("db")],
    )
    .await;

    let (events, mut sink) = recorder();
    let options = ApplyOptions {
        prune: Prune::Delete,
        wait: quick_wait(),
        ..ApplyOptions::default()
    };
    let summary = apply(&client(&server), &export, &options, &mut sink)
        .await
        .expect("apply");
    assert_eq!(summary.applied, applied);
    assert_eq!(summary.skipped, secrets);
    assert_eq!(summary.pruned, 2);
    assert_eq!(summary.kept, 2, "the PVC and the undeclared Secret");
    assert_eq!(summary.rolled_out, 3);

    let requests = server.received_requests().await.expect("recorded");
    // every object but the Secrets, in the export's order, as server-side apply
    let patches: Vec<&wiremock::Request> = requests
        .iter()
        .filter(|r| r.method == wiremock::http::Method::PATCH)
        .collect();
    let expected: Vec<&Object> = export
        .objects
        .iter()
        .filter(|o| !matches!(o, Object::Secret(_)))
        .collect();
    assert_eq!(patches.len(), expected.len());
    for (request, object) in patches.iter().zip(&expected) {
        assert_eq!(request.url.path(), object_path(object));
        let query: Vec<(String, String)> = request.url.query_pairs().into_owned().collect();
        assert_eq!(
            query,
            [("fieldManager".to_owned(), "skiff".to_owned())],
            "no force unless asked"
        );
        assert_eq!(
            request
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/apply-patch+yaml")
        );
        let body: Value = request.body_json().expect("a JSON body, which is YAML");
        assert_eq!(body, object.to_json(), "{}", object_path(object));
    }
    assert_eq!(
        patches[0].url.path(),
        "/api/v1/namespaces/webapp-production"
    );

    // the rollout of web was polled until it finished: 3 reads
    let polls = requests
        .iter()
        .filter(|r| r.method == wiremock::http::Method::GET && r.url.path() == web)
        .count();
    assert_eq!(polls, 3);

    let events = events.lock().expect("events").clone();
    let pruned: Vec<String> = events
        .iter()
        .filter_map(|e| match e {
            Event::Pruned { kind, name } => Some(format!("{kind}/{name}")),
            _ => None,
        })
        .collect();
    // pruning walks the kinds backwards: workloads before their configuration
    assert_eq!(pruned, ["Deployment/legacy-api", "ConfigMap/old-env"]);
    assert!(events.iter().any(|e| matches!(e,
        Event::Kept { kind, name, .. } if kind == "PersistentVolumeClaim" && name == "olddata")));
    let waits: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Waiting { name, status, .. } if name == "web" => Some(status.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(
        waits,
        [
            "1 of 3 new replicas updated",
            "2 of 3 updated replicas available"
        ]
    );
    // wiremock checks the `expect`ed counts (applies, the two DELETEs) when the server drops
}

#[tokio::test]
async fn secrets_are_applied_only_with_their_values_and_without_pruning_nothing_is_listed() {
    let loaded = webapp();
    let export = production(&loaded);
    let server = MockServer::start().await;
    mount_apply(&server, export.objects.len() as u64).await;
    let (_, mut sink) = recorder();
    let options = ApplyOptions {
        secrets: Secrets::Apply,
        ..ApplyOptions::default()
    };
    let summary = apply(&client(&server), &export, &options, &mut sink)
        .await
        .expect("apply");
    assert_eq!(summary.applied, export.objects.len());
    let requests = server.received_requests().await.expect("recorded");
    assert!(
        requests
            .iter()
            .all(|r| r.method == wiremock::http::Method::PATCH),
        "no list, delete or poll without --prune and --wait"
    );
}

#[tokio::test]
async fn a_conflict_stops_with_the_servers_message_and_force_takes_over() {
    let loaded = webapp();
    let export = production(&loaded);
    let server = MockServer::start().await;
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Conflict",
        "code": 409,
        "message": "Apply failed with 1 conflict: conflict with \"kubectl-edit\": .spec.replicas",
    });
    Mock::given(method("PATCH"))
        .and(query_param("force", "true"))
        .respond_with(|req: &wiremock::Request| {
            ResponseTemplate::new(200).set_body_raw(req.body.clone(), "application/json")
        })
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(409).set_body_json(status))
        .with_priority(2)
        .mount(&server)
        .await;

    let (_, mut sink) = recorder();
    let err = apply(
        &client(&server),
        &export,
        &ApplyOptions::default(),
        &mut sink,
    )
    .await
    .expect_err("conflict");
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        err.to_string(),
        "failed to apply Namespace/webapp-production: Apply failed with 1 conflict: conflict \
         with \"kubectl-edit\": .spec.replicas (409)"
    );

    let forced = ApplyOptions {
        conflicts: Conflicts::Force,
        ..ApplyOptions::default()
    };
    apply(&client(&server), &export, &forced, &mut sink)
        .await
        .expect("forced apply");
}

#[tokio::test]
async fn a_rollout_that_does_not_finish_times_out_with_its_status() {
    let loaded = webapp();
    let export = production(&loaded);
    let server = MockServer::start().await;
    let secrets = export
        .objects
        .iter()
        .filter(|o| matches!(o, Object::Secret(_)))
        .count();
    mount_apply(&server, (export.objects.len() - secrets) as u64).await;
    mount_rollout(
        &server,
        "/apis/apps/v1/namespaces/webapp-production/deployments/web",
        &[deployment("web", 3, 3, 1)],
    )
    .await;
    let (_, mut sink) = recorder();
    let options = ApplyOptions {
        wait: Wait::Rollouts {
            timeout: Duration::from_millis(200),
            interval: Duration::from_millis(20),
        },
        ..ApplyOptions::default()
    };
    let err = apply(&client(&server), &export, &options, &mut sink)
        .await
        .expect_err("times out");
    assert!(
        matches!(&err, ApplyError::Timeout { name, status, .. }
            if name == "web" && status == "1 of 3 updated replicas available"),
        "{err}"
    );
}
