//! The API client the CLI uses: one HTTP/1.1 exchange per call, over the unix socket (or
//! TCP with the token).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::de::DeserializeOwned;
use skiff_store::Recorded;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::wire::{
    DeployOutcome, DeployRequest, ErrorBody, EventsQuery, EventsResponse, StatusResponse,
};

/// A connection target of the daemon's API.
#[derive(Clone)]
pub struct Client {
    target: Target,
}

#[derive(Clone)]
enum Target {
    Unix(PathBuf),
    Tcp { addr: SocketAddr, token: String },
}

impl std::fmt::Debug for Client {
    /// Never prints the token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::Unix(path) => write!(f, "Client(unix:{})", path.display()),
            Target::Tcp { addr, .. } => write!(f, "Client(tcp:{addr})"),
        }
    }
}

impl Client {
    /// The daemon on this socket, if one answers.
    ///
    /// # Errors
    /// [`ClientError::NotRunning`] when nothing listens there (the CLI then works alone).
    pub async fn connect(socket: impl AsRef<Path>) -> Result<Client, ClientError> {
        let path = socket.as_ref().to_owned();
        match UnixStream::connect(&path).await {
            Ok(_) => Ok(Client {
                target: Target::Unix(path),
            }),
            Err(source) => Err(ClientError::NotRunning { path, source }),
        }
    }

    /// The daemon's TCP listener, with its token. Connects on each call.
    #[must_use]
    pub fn tcp(addr: SocketAddr, token: impl Into<String>) -> Client {
        Client {
            target: Target::Tcp {
                addr,
                token: token.into(),
            },
        }
    }

    /// Every service's state, health, restarts, uptime and last error.
    ///
    /// # Errors
    /// The exchange failed or the daemon answered with an error.
    pub async fn status(&self, project: Option<&str>) -> Result<StatusResponse, ClientError> {
        let path = match project {
            Some(p) => format!(
                "/v1/status?{}",
                serde_urlencoded::to_string([("project", p)]).map_err(|e| ClientError::Encode {
                    what: "the status query",
                    message: e.to_string(),
                })?
            ),
            None => "/v1/status".to_owned(),
        };
        let (status, body) = self.send(Method::GET, &path, None).await?;
        decode(status, &body, "status")
    }

    /// The history the query selects, in the order it happened.
    ///
    /// # Errors
    /// The exchange failed or the daemon answered with an error (an unknown kind, say).
    pub async fn events(&self, query: &EventsQuery) -> Result<Vec<Recorded>, ClientError> {
        let query = serde_urlencoded::to_string(query).map_err(|e| ClientError::Encode {
            what: "the events query",
            message: e.to_string(),
        })?;
        let path = if query.is_empty() {
            "/v1/events".to_owned()
        } else {
            format!("/v1/events?{query}")
        };
        let (status, body) = self.send(Method::GET, &path, None).await?;
        decode::<EventsResponse>(status, &body, "events").map(|r| r.events)
    }

    /// Hands a project to the daemon and waits for its plan to run. An outcome with
    /// `errors` is returned as such: some actions failed, the others ran.
    ///
    /// # Errors
    /// The exchange failed; the project is being deployed already (409) or cannot be
    /// planned (422).
    pub async fn deploy(
        &self,
        name: &str,
        request: &DeployRequest,
    ) -> Result<DeployOutcome, ClientError> {
        let body = serde_json::to_vec(request).map_err(|e| ClientError::Encode {
            what: "the deploy request",
            message: e.to_string(),
        })?;
        // A deploy or repair of the project under way (a daemon that just started takes
        // its projects up again) ends soon: wait for it, as long as a minute.
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        let (status, answer) = loop {
            let (status, answer) = self
                .send(
                    Method::POST,
                    &format!("/v1/projects/{name}/deploy"),
                    Some(body.clone()),
                )
                .await?;
            if status != StatusCode::CONFLICT || tokio::time::Instant::now() >= deadline {
                break (status, answer);
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR
            && let Ok(outcome) = serde_json::from_slice::<DeployOutcome>(&answer)
        {
            return Ok(outcome);
        }
        decode(status, &answer, "deploy")
    }

    /// Records an event the caller made (a backup or drill run by hand) in the history.
    ///
    /// # Errors
    /// The exchange failed or the daemon answered with an error.
    pub async fn record(&self, event: &skiff_store::Event) -> Result<(), ClientError> {
        let body = serde_json::to_vec(event).map_err(|e| ClientError::Encode {
            what: "the event",
            message: e.to_string(),
        })?;
        let (status, answer) = self.send(Method::POST, "/v1/events", Some(body)).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(api_error(status, &answer))
        }
    }

    /// Hands a project back: the daemon stops supervising it (what runs keeps running).
    /// `Ok(false)` when the daemon did not own it. Waits for a deploy of it under way to end.
    ///
    /// # Errors
    /// The exchange failed, or a deploy of it kept running for a minute.
    pub async fn release(&self, name: &str) -> Result<bool, ClientError> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let (status, body) = self
                .send(Method::DELETE, &format!("/v1/projects/{name}"), None)
                .await?;
            match status {
                StatusCode::NO_CONTENT => return Ok(true),
                StatusCode::NOT_FOUND => return Ok(false),
                StatusCode::CONFLICT if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                _ => return Err(api_error(status, &body)),
            }
        }
    }

    /// The Prometheus text.
    ///
    /// # Errors
    /// The exchange failed or the daemon answered with an error.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, body) = self.send(Method::GET, "/metrics", None).await?;
        if !status.is_success() {
            return Err(api_error(status, &body));
        }
        Ok(String::from_utf8_lossy(&body).into_owned())
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, "skiff");
        if let Target::Tcp { token, .. } = &self.target {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if body.is_some() {
            request = request.header(CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| ClientError::Encode {
                what: "the request",
                message: e.to_string(),
            })?;
        match &self.target {
            Target::Unix(path) => {
                let stream =
                    UnixStream::connect(path)
                        .await
                        .map_err(|source| ClientError::NotRunning {
                            path: path.clone(),
                            source,
                        })?;
                exchange(stream, request).await
            }
            Target::Tcp { addr, .. } => {
                let stream =
                    TcpStream::connect(addr)
                        .await
                        .map_err(|source| ClientError::Connect {
                            addr: *addr,
                            source,
                        })?;
                exchange(stream, request).await
            }
        }
    }
}

async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<(StatusCode, Bytes), ClientError>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|source| ClientError::Http { source })?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let response = sender
            .send_request(request)
            .await
            .map_err(|source| ClientError::Http { source })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|source| ClientError::Http { source })?
            .to_bytes();
        Ok((status, body))
    }
    .await;
    driver.abort();
    result
}

fn decode<T: DeserializeOwned>(
    status: StatusCode,
    body: &[u8],
    what: &'static str,
) -> Result<T, ClientError> {
    if !status.is_success() {
        return Err(api_error(status, body));
    }
    serde_json::from_slice(body).map_err(|e| ClientError::Decode {
        what,
        message: e.to_string(),
    })
}

fn api_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<ErrorBody>(body)
        .map_or_else(|_| String::from_utf8_lossy(body).into_owned(), |b| b.error);
    ClientError::Api {
        status: status.as_u16(),
        message,
    }
}

/// What failed when talking to the daemon.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("reach the daemon at {}: {source}", path.display())]
    NotRunning {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("connect to the daemon at {addr}: {source}")]
    Connect {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("talk to the daemon: {source}")]
    Http { source: hyper::Error },
    #[error("encode {what}: {message}")]
    Encode { what: &'static str, message: String },
    #[error("read the daemon's {what} answer: {message}")]
    Decode { what: &'static str, message: String },
    #[error("ask the daemon: it answered {status}: {message}")]
    Api { status: u16, message: String },
}

impl ClientError {
    /// Whether no daemon listens (the CLI then does the work itself).
    #[must_use]
    pub fn is_not_running(&self) -> bool {
        matches!(
            self,
            ClientError::NotRunning { source, .. }
                if matches!(
                    source.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
                )
        )
    }
}
