//! The daemon's API for real: a unix socket (and a TCP listener) in a temporary directory,
//! the fake world behind it.

use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::json;
use skiff_daemon::fake::FakeWorld;
use skiff_daemon::{
    Client, ClientError, DaemonConfig, DaemonError, DeployRequest, EventsQuery, TcpListen, run,
};
use skiff_store::{Kind, ServiceState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

struct Daemon {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), DaemonError>>,
    socket: PathBuf,
}

impl Daemon {
    /// Starts a daemon and waits until its socket answers.
    async fn start(config: DaemonConfig, world: FakeWorld) -> Daemon {
        let socket = config.socket.clone();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(config, world, async {
            let _ = stopped.await;
        }));
        for _ in 0..500 {
            if Client::connect(&socket).await.is_ok() {
                return Daemon { stop, task, socket };
            }
            assert!(!task.is_finished(), "the daemon ended: {:?}", task.await);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the daemon did not answer on {}", socket.display());
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.task.await.expect("join").expect("daemon");
        assert!(!self.socket.exists(), "the socket is removed on shutdown");
    }
}

fn config(dir: &Path) -> DaemonConfig {
    DaemonConfig::new(dir.join("run/skiff.sock"), dir.join("state/events.db"))
}

fn project() -> serde_json::Value {
    json!({"services": {"web": {"restart": "always", "replicas": 2}}})
}

fn deploy_request() -> DeployRequest {
    DeployRequest {
        project: skiff_daemon::StackSource::new("shop", project()),
        daemon: None,
        remove_orphans: false,
        alerts: std::collections::BTreeMap::new(),
    }
}

/// One HTTP/1.1 exchange written by hand: the status line and the whole answer.
async fn raw<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    request: &str,
) -> String {
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

#[tokio::test]
async fn the_unix_socket_is_private_and_serves_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let world = FakeWorld::new();
    let daemon = Daemon::start(config(dir.path()), world.clone()).await;

    let meta = std::fs::metadata(&daemon.socket).expect("socket");
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let client = Client::connect(&daemon.socket).await.expect("connect");
    let outcome = client
        .deploy("shop", &deploy_request())
        .await
        .expect("deploy");
    assert!(outcome.errors.is_empty(), "{outcome:?}");
    assert_eq!(outcome.actions.len(), 2, "{outcome:?}");
    assert_eq!(world.instances("shop").len(), 2);

    // The observation after the deploy records the starts; wait for it.
    let mut status = client.status(None).await.expect("status");
    for _ in 0..200 {
        if status
            .services
            .first()
            .is_some_and(|s| s.summary.running == 2)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        status = client.status(None).await.expect("status");
    }
    assert_eq!(status.services.len(), 1, "{status:?}");
    let web = &status.services[0].summary;
    assert_eq!(
        (web.project.as_str(), web.service.as_str()),
        ("shop", "web")
    );
    assert_eq!(web.state, ServiceState::Running);
    assert_eq!((web.running, web.instances), (2, 2));
    assert!(web.up_since.is_some());
    // Narrowed to a project: this one, or nothing.
    assert_eq!(
        client
            .status(Some("shop"))
            .await
            .expect("status")
            .services
            .len(),
        1
    );
    assert!(
        client
            .status(Some("other"))
            .await
            .expect("status")
            .services
            .is_empty()
    );

    let started = client
        .events(&EventsQuery {
            service: Some("web".into()),
            kind: Some("started".into()),
            ..EventsQuery::default()
        })
        .await
        .expect("events");
    assert_eq!(started.len(), 2);
    assert!(started.iter().all(|r| r.event.kind == Kind::Started));
    let all = client
        .events(&EventsQuery::default())
        .await
        .expect("events");
    assert_eq!(all[0].event.kind, Kind::DaemonStarted);
    let since_last = client
        .events(&EventsQuery {
            since: Some(all[all.len() - 1].event.time),
            ..EventsQuery::default()
        })
        .await
        .expect("events since");
    assert!(!since_last.is_empty() && since_last.len() < all.len());
    match client
        .events(&EventsQuery {
            kind: Some("exploded".into()),
            ..EventsQuery::default()
        })
        .await
    {
        Err(ClientError::Api {
            status: 400,
            message,
        }) => {
            assert!(message.starts_with("unknown event kind"), "{message}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }

    // A client that is not ours: plain HTTP/1.1 on the socket.
    let answer = raw(
        UnixStream::connect(&daemon.socket).await.expect("connect"),
        "GET /v1/status HTTP/1.1\r\nHost: skiff\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("\"service\":\"web\""), "{answer}");
    let answer = raw(
        UnixStream::connect(&daemon.socket).await.expect("connect"),
        "POST /v1/projects/Bad!/deploy HTTP/1.1\r\nHost: skiff\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    assert!(answer.contains("invalid project name"), "{answer}");

    check_metrics(&client.metrics().await.expect("metrics"));
    daemon.stop().await;
    assert!(
        Client::connect(dir.path().join("run/skiff.sock"))
            .await
            .is_err_and(|e| e.is_not_running())
    );
}

/// The text parses as OpenMetrics: descriptors, samples `name{labels} value`, `# EOF` last;
/// every name prefixed `skiff_`; the daemon's families present.
fn check_metrics(text: &str) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.last(), Some(&"# EOF"), "{text}");
    let mut families = Vec::new();
    for line in &lines[..lines.len() - 1] {
        if let Some(descriptor) = line.strip_prefix("# ") {
            let mut parts = descriptor.splitn(3, ' ');
            let keyword = parts.next().unwrap_or_default();
            let name = parts.next().unwrap_or_default();
            assert!(
                matches!(keyword, "HELP" | "TYPE" | "UNIT"),
                "unknown descriptor: {line}"
            );
            assert!(name.starts_with("skiff_"), "{line}");
            if keyword == "TYPE" {
                families.push(name.to_owned());
            }
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("`series value`");
        value
            .parse::<f64>()
            .unwrap_or_else(|_| panic!("value of {line}"));
        let name = match series.split_once('{') {
            Some((name, labels)) => {
                let labels = labels.strip_suffix('}').expect("closing brace");
                for pair in labels.split(',').filter(|p| !p.is_empty()) {
                    let (key, quoted) = pair.split_once('=').expect("key=value");
                    assert!(
                        key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "{line}"
                    );
                    assert!(quoted.starts_with('"') && quoted.ends_with('"'), "{line}");
                }
                name
            }
            None => series,
        };
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && name.starts_with("skiff_"),
            "{line}"
        );
    }
    for family in [
        "skiff_service_up",
        "skiff_service_healthy",
        "skiff_service_restarts",
        "skiff_service_crash_loop",
        "skiff_reconcile_duration_seconds",
    ] {
        assert!(
            families.iter().any(|f| f == family),
            "{family} missing:\n{text}"
        );
    }
    assert!(
        lines.contains(&"skiff_service_up{project=\"shop\",service=\"web\"} 1"),
        "{text}"
    );
}

fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

#[tokio::test]
async fn tcp_answers_401_without_the_token_and_200_with_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let addr = free_port();
    let mut config = config(dir.path());
    config.listen = Some(TcpListen {
        addr,
        token: "correct horse".into(),
    });
    let daemon = Daemon::start(config, FakeWorld::new()).await;

    for (request, what) in [
        (
            "GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "no token",
        ),
        (
            "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer wrong\r\nConnection: close\r\n\r\n",
            "a wrong token",
        ),
        (
            "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer correct horsE\r\nConnection: close\r\n\r\n",
            "a token differing in its last byte",
        ),
        (
            "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic Y29ycmVjdCBob3JzZQ==\r\nConnection: close\r\n\r\n",
            "another scheme",
        ),
        (
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "metrics without a token",
        ),
        (
            "GET /nowhere HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            "an unknown path",
        ),
        (
            "POST /v1/projects/shop/deploy HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
            "a deploy",
        ),
    ] {
        let answer = raw(TcpStream::connect(addr).await.expect("connect"), request).await;
        assert!(answer.starts_with("HTTP/1.1 401 "), "{what}: {answer}");
        assert!(
            answer.contains("www-authenticate: Bearer"),
            "{what}: {answer}"
        );
    }

    let answer = raw(
        TcpStream::connect(addr).await.expect("connect"),
        "GET /v1/status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer correct horse\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");

    let client = Client::tcp(addr, "correct horse");
    client
        .deploy("shop", &deploy_request())
        .await
        .expect("deploy over TCP");
    assert!(client.status(None).await.is_ok());
    assert!(client.metrics().await.is_ok());
    match Client::tcp(addr, "nope").status(None).await {
        Err(ClientError::Api { status: 401, .. }) => {}
        other => panic!("expected a 401, got {other:?}"),
    }
    // The unix socket needs no token.
    let local = Client::connect(dir.path().join("run/skiff.sock"))
        .await
        .expect("connect");
    assert!(local.status(None).await.is_ok());
    daemon.stop().await;
}

#[tokio::test]
async fn an_empty_token_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut config = config(dir.path());
    config.listen = Some(TcpListen {
        addr: free_port(),
        token: String::new(),
    });
    let err = run(config, FakeWorld::new(), async {})
        .await
        .expect_err("empty token");
    assert!(matches!(err, DaemonError::EmptyToken { .. }), "{err}");
}

#[tokio::test]
async fn a_second_daemon_is_refused_and_a_stale_socket_replaced() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = Daemon::start(config(dir.path()), FakeWorld::new()).await;
    let err = run(config(dir.path()), FakeWorld::new(), async {})
        .await
        .expect_err("a daemon runs already");
    assert!(matches!(err, DaemonError::AlreadyRunning { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        format!(
            "start the daemon: another daemon runs on {}",
            dir.path().join("run/skiff.sock").display()
        )
    );
    // The refused start left the running daemon's socket alone.
    assert!(Client::connect(&first.socket).await.is_ok());
    first.stop().await;

    // A socket nobody listens on (a daemon killed with SIGKILL leaves one) is replaced.
    let socket = dir.path().join("run/skiff.sock");
    drop(std::os::unix::net::UnixListener::bind(&socket).expect("stale socket"));
    assert!(socket.exists());
    let second = Daemon::start(config(dir.path()), FakeWorld::new()).await;
    let meta = std::fs::metadata(&socket).expect("socket");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    second.stop().await;

    // Anything else at the path is left alone.
    std::fs::write(&socket, "not a socket").expect("write");
    let err = run(config(dir.path()), FakeWorld::new(), async {})
        .await
        .expect_err("not a socket");
    assert!(matches!(err, DaemonError::NotASocket { .. }), "{err}");
    assert_eq!(
        std::fs::read_to_string(&socket).expect("read"),
        "not a socket"
    );
}

#[tokio::test]
async fn a_deploy_that_cannot_be_planned_is_422() {
    let dir = tempfile::tempdir().expect("tempdir");
    let daemon = Daemon::start(config(dir.path()), FakeWorld::new()).await;
    let client = Client::connect(&daemon.socket).await.expect("connect");
    let bad = DeployRequest {
        project: skiff_daemon::StackSource::new(
            "shop",
            json!({"services": {"web": {"restart": "sometimes"}}}),
        ),
        daemon: None,
        remove_orphans: false,
        alerts: std::collections::BTreeMap::new(),
    };
    match client.deploy("shop", &bad).await {
        Err(ClientError::Api {
            status: 422,
            message,
        }) => {
            assert!(
                message.starts_with("read project shop: invalid restart policy \"sometimes\""),
                "{message}"
            );
        }
        other => panic!("expected a 422, got {other:?}"),
    }
    daemon.stop().await;
}
