//! The HTTP API: JSON on a unix socket (mode 0600), and optionally on TCP where every
//! request must carry `Authorization: Bearer <token>`.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/status[?project=]` | [`StatusResponse`] |
//! | `GET /v1/events?since=&until=&after=&project=&service=&kind=&limit=` | [`EventsResponse`] |
//! | `POST /v1/projects/{name}/deploy` with a [`DeployRequest`] | [`DeployOutcome`]: 200, or 500 when actions failed; 409 while another deploy of it runs; 422 when it cannot be planned |
//! | `POST /v1/events` with an `Event` | 202: recorded through the loop (a backup or drill the CLI ran) |
//! | `DELETE /v1/projects/{name}` | 204 once released (no longer supervised); 404 when not owned; 409 while a deploy of it runs |
//! | `GET /metrics` | Prometheus (OpenMetrics) text |
//!
//! Errors are `{"error": "..."}`.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::Router;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use skiff_store::{Store, StoreError};
use subtle::ConstantTimeEq;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::oneshot;

use crate::DaemonError;
use crate::core::{DeployReply, DeployTrigger, Input, ReleaseReply};
use crate::event_loop::LoopHandle;
use crate::metrics::CONTENT_TYPE;
use crate::wire::{
    DeployOutcome, DeployRequest, ErrorBody, EventsQuery, EventsResponse, ServiceStatus,
    StatusResponse,
};

/// The largest request body: a deploy carries a whole project.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Reads what every instance uses (the world's [`crate::World::usage`]).
pub(crate) type Usage = Arc<dyn Fn() -> Vec<crate::InstanceUsage> + Send + Sync>;

#[derive(Clone)]
pub(crate) struct ApiState {
    handle: LoopHandle,
    /// A reading connection of its own: WAL lets it read while the loop writes.
    store: Arc<Mutex<Store>>,
    usage: Usage,
}

impl ApiState {
    pub(crate) fn new(handle: LoopHandle, store: Store, usage: Usage) -> ApiState {
        ApiState {
            handle,
            store: Arc::new(Mutex::new(store)),
            usage,
        }
    }
}

/// Every route, without authentication (the unix socket's mode is its protection).
pub(crate) fn router(state: ApiState) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/events", get(events).post(record))
        .route("/v1/projects/{name}/deploy", post(deploy))
        .route("/v1/projects/{name}", delete(release))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no such route") })
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// The same routes, each request (unknown routes too) refused with 401 without the token.
pub(crate) fn with_token(router: Router, token: &str) -> Router {
    let token: Arc<[u8]> = Arc::from(token.as_bytes());
    router.layer(middleware::from_fn_with_state(token, require_token))
}

async fn require_token(State(token): State<Arc<[u8]>>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    // Constant time over the token's bytes (only its length can leak).
    let ok = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(&token)));
    if ok {
        return next.run(request).await;
    }
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "missing or wrong bearer token").into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    response
}

#[derive(Debug, Deserialize)]
struct StatusQuery {
    project: Option<String>,
}

async fn status(
    State(state): State<ApiState>,
    query: Result<Query<StatusQuery>, QueryRejection>,
) -> Result<Json<StatusResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let project = query.project.clone();
    let summaries = read(&state, move |store| store.summary(project.as_deref())).await?;
    let next: BTreeMap<(String, String), DateTime<Utc>> = state
        .handle
        .live
        .borrow()
        .iter()
        .filter_map(|s| {
            s.next_restart
                .map(|at| ((s.project.clone(), s.service.clone()), at))
        })
        .collect();
    let services = summaries
        .into_iter()
        .map(|summary| {
            let key = (summary.project.clone(), summary.service.clone());
            ServiceStatus {
                next_restart: next.get(&key).copied(),
                summary,
            }
        })
        .collect();
    Ok(Json(StatusResponse { services }))
}

async fn events(
    State(state): State<ApiState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<Json<EventsResponse>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let filter = query
        .filter()
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e))?;
    let events = read(&state, move |store| store.query(&filter)).await?;
    Ok(Json(EventsResponse { events }))
}

async fn deploy(
    State(state): State<ApiState>,
    UrlPath(name): UrlPath<String>,
    body: Result<Json<DeployRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !valid_project_name(&name) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "invalid project name {name:?}: lowercase letters, digits, `-` and `_`, starting with a letter or digit"
            ),
        ));
    }
    let Json(request) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    let (reply, answer) = oneshot::channel();
    let gone = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    state
        .handle
        .inputs
        .send(Input::Deploy {
            name: name.clone(),
            request,
            trigger: DeployTrigger::Api,
            reply,
        })
        .map_err(|_| gone())?;
    match answer.await.map_err(|_| gone())? {
        DeployReply::Done(outcome) => {
            let code = if outcome.errors.is_empty() {
                StatusCode::OK
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            };
            Ok((code, Json::<DeployOutcome>(outcome)).into_response())
        }
        DeployReply::Busy => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a deploy or drift repair of {name} is under way; try again when it ends"),
        )),
        DeployReply::Failed(error) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, error)),
    }
}

/// An event the CLI made (a backup or drill run by hand): recorded by the loop like the
/// world's own, alerts included.
async fn record(
    State(state): State<ApiState>,
    body: Result<Json<skiff_store::Event>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let Json(event) = body.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.body_text()))?;
    state
        .handle
        .inputs
        .send(Input::Record(event))
        .map_err(|_| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping"))?;
    Ok(StatusCode::ACCEPTED)
}

async fn release(
    State(state): State<ApiState>,
    UrlPath(name): UrlPath<String>,
) -> Result<Response, ApiError> {
    let (reply, answer) = oneshot::channel();
    let gone = || ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "the daemon is stopping");
    state
        .handle
        .inputs
        .send(Input::Release {
            name: name.clone(),
            reply,
        })
        .map_err(|_| gone())?;
    match answer.await.map_err(|_| gone())? {
        ReleaseReply::Released => Ok(StatusCode::NO_CONTENT.into_response()),
        ReleaseReply::NotOwned => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the daemon does not own project {name}"),
        )),
        ReleaseReply::Busy => Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("a deploy or drift repair of {name} is under way; try again when it ends"),
        )),
    }
}

async fn metrics(State(state): State<ApiState>) -> Response {
    let usage = Arc::clone(&state.usage);
    let rows = tokio::task::spawn_blocking(move || usage())
        .await
        .unwrap_or_default();
    state.handle.metrics.usage(&rows);
    (
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.handle.metrics.encode(),
    )
        .into_response()
}

/// Runs a store read where blocking is fine.
async fn read<T: Send + 'static>(
    state: &ApiState,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = Arc::clone(&state.store);
    tokio::task::spawn_blocking(move || {
        let store = store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&store)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// Compose's rule for project names.
fn valid_project_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// An error answer: a status and `{"error": "..."}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response()
    }
}

/// The unix socket while the daemon runs: removed when dropped. The lock file beside it
/// (`<socket>.lock`, held for the daemon's life) keeps a second daemon out.
#[derive(Debug)]
pub(crate) struct SocketGuard {
    path: PathBuf,
    _lock: std::fs::File,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds the API's unix socket at `path`, mode 0600 from its first moment: bound under a
/// temporary name, restricted, then renamed into place.
///
/// # Errors
/// Another daemon holds the lock or answers on the socket; the path exists and is not a
/// socket; the directory, the lock, the bind or the rename failed.
pub(crate) async fn bind_unix(path: &Path) -> Result<(UnixListener, SocketGuard), DaemonError> {
    let io = |action: &'static str| {
        let path = path.to_owned();
        move |source| DaemonError::Socket {
            action,
            path,
            source,
        }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(io("create the directory of"))?;
    }
    let lock_path = sibling(path, ".lock", false);
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io("open the lock file of"))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            return Err(DaemonError::AlreadyRunning {
                path: path.to_owned(),
            });
        }
        Err(std::fs::TryLockError::Error(source)) => return Err(io("lock")(source)),
    }
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(DaemonError::NotASocket {
                path: path.to_owned(),
            });
        }
        Ok(_) => {
            if UnixStream::connect(path).await.is_ok() {
                return Err(DaemonError::AlreadyRunning {
                    path: path.to_owned(),
                });
            }
            tracing::info!(path = %path.display(), "removing a stale socket");
            std::fs::remove_file(path).map_err(io("remove the stale socket"))?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io("inspect")(e)),
    }
    let temporary = sibling(path, &format!(".{}.tmp", std::process::id()), true);
    let _ = std::fs::remove_file(&temporary);
    let listener = UnixListener::bind(&temporary).map_err(io("bind"))?;
    let placed = std::fs::set_permissions(&temporary, std::fs::Permissions::from_mode(0o600))
        .map_err(io("restrict"))
        .and_then(|()| std::fs::rename(&temporary, path).map_err(io("move into place")));
    if let Err(e) = placed {
        let _ = std::fs::remove_file(&temporary);
        return Err(e);
    }
    Ok((
        listener,
        SocketGuard {
            path: path.to_owned(),
            _lock: lock,
        },
    ))
}

/// `dir/name<suffix>`, hidden (`dir/.name<suffix>`) when asked.
fn sibling(path: &Path, suffix: &str, hidden: bool) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dot = if hidden { "." } else { "" };
    path.with_file_name(format!("{dot}{name}{suffix}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_names_follow_compose() {
        for ok in ["shop", "my-app_2", "1st"] {
            assert!(valid_project_name(ok), "{ok}");
        }
        for bad in ["", "Shop", "-x", "a/b", "a b", "..", "_x"] {
            assert!(!valid_project_name(bad), "{bad}");
        }
    }
}
