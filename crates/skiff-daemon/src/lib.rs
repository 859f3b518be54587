//! The skiff daemon as a library: Kubernetes' reconcile loop on one machine.
//!
//! [`run`] owns the projects handed to it (`skiff up -d` through [`Client::deploy`]) and keeps
//! them converged while nobody watches:
//!
//! - **One loop owns the state.** Everything that happens is an [`Input`] (the world's
//!   reports, a reconcile tick, a deploy, a shutdown, and the loop's own timers and jobs
//!   reporting back). The pure core decides what to do about each one; a thin shell records
//!   events, arms timers and runs jobs (observe, execute a plan, restart an instance) as
//!   tasks that report back by message. Nothing else mutates the daemon's state.
//! - **Restarts with backoff.** A crashed or unhealthy instance whose `restart` policy asks
//!   for it is restarted at once, then after 10 s doubling to 5 min (configurable, per
//!   project through `x-skiff.daemon`), back to immediate once it stayed up for a minute.
//!   Too many restarts within a window is a crash loop: recorded once, then restarts are
//!   throttled (or held until the next deploy). Time is an input: the loop follows tokio's
//!   clock, so tests run hours of backoff under `tokio::time::pause`.
//! - **Drift.** Every tick observes each project and plans it against what was deployed: an
//!   instance removed or recreated by hand, or a replica started by hand, is repaired or
//!   only reported (`x-skiff.daemon.drift`). Level-triggered: after every plan the project
//!   is observed afresh.
//! - **History.** Every event, with what triggered it, goes to `skiff-store` (and the log).
//! - **API.** JSON over HTTP on a unix socket (mode 0600), optionally on TCP with a bearer
//!   token; Prometheus metrics on `/metrics` (routes: `GET /v1/status`, `GET /v1/events`,
//!   `POST /v1/projects/{name}/deploy`, `DELETE /v1/projects/{name}`, `GET /metrics`).
//! - **Ownership survives restarts.** Each deployment is kept on disk ([`DaemonConfig::deployments`])
//!   before its plan runs; a daemon started again deploys them again, which adopts what still
//!   runs and converges the rest. A release (`skiff down`) forgets it.
//!
//! The world is a trait ([`World`]): the binary implements it over `skiff-docker` and
//! `skiff-process`; [`fake::FakeWorld`] records what the loop asks, for tests.
//!
//! Non-goals: no clap, no terminal; no Docker or process specifics (they are the world's);
//! nothing about the world is persisted here but the history and the deployments (a
//! restarted daemon observes).

mod alerts;
mod api;
mod client;
mod config;
mod core;
mod error;
mod event_loop;
pub mod fake;
mod install;
mod logging;
mod metrics;
mod persist;
mod restart;
mod wire;
mod world;

use std::future::Future;
use std::time::Duration;

use skiff_store::Store;
use tokio::net::TcpListener;
use tokio::sync::watch;

pub use client::{Client, ClientError};
pub use config::{
    Clock, CrashLoopAction, CrashLoopConfig, DaemonConfig, Policy, RestartConfig, TcpListen,
};
pub use core::{Cause, DeployReply, DeployTrigger, Executed, Input, ObserveCause, ReleaseReply};
pub use error::DaemonError;
pub use install::{TokenError, UnitSettings, read_token, systemd_unit};
pub use logging::{LogFormat, init_logging};
pub use metrics::CONTENT_TYPE as METRICS_CONTENT_TYPE;
pub use skiff_plan::BackoffConfig;
pub use wire::{
    DeployOutcome, DeployRequest, ErrorBody, EventsQuery, EventsResponse, ServiceStatus,
    StackSource, StatusResponse,
};
pub use world::{
    Change, Deployment, InstanceRef, InstanceUsage, ProjectRuntime, Sink, World, WorldEvent,
};

/// How long the API may take to finish its answers once the loop has stopped.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs the daemon until `shutdown` completes: opens the history, binds the API (the unix
/// socket, and the TCP listener when configured), and runs the loop. On shutdown the
/// services keep running; the socket is removed.
///
/// # Errors
/// Before anything runs: the store cannot be opened, another daemon runs on the socket, the
/// socket or the TCP address cannot be bound, the TCP token is empty.
pub async fn run<W: World>(
    config: DaemonConfig,
    world: W,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), DaemonError> {
    if let Some(listen) = &config.listen
        && listen.token.is_empty()
    {
        return Err(DaemonError::EmptyToken { addr: listen.addr });
    }
    let store = Store::open(&config.store)?;
    let reader = Store::open(&config.store)?;
    let (unix, socket) = api::bind_unix(&config.socket).await?;
    let tcp = match &config.listen {
        Some(listen) => Some((
            TcpListener::bind(listen.addr)
                .await
                .map_err(|source| DaemonError::Listen {
                    addr: listen.addr,
                    source,
                })?,
            listen.token.clone(),
        )),
        None => None,
    };

    let (event_loop, handle) = event_loop::EventLoop::new(&config, world, store);
    let world = event_loop.world();
    let state = api::ApiState::new(
        handle.clone(),
        reader,
        std::sync::Arc::new(move || world.usage()),
    );
    let (stop, stopped) = watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    let mut servers = tokio::task::JoinSet::new();
    let unix_server =
        axum::serve(unix, api::router(state.clone())).with_graceful_shutdown(until_stopped());
    servers.spawn(async move { unix_server.await });
    if let Some((listener, token)) = tcp {
        tracing::info!(addr = ?listener.local_addr().ok(), "API on TCP (bearer token required)");
        let router = api::with_token(api::router(state), &token);
        let tcp_server = axum::serve(listener, router).with_graceful_shutdown(until_stopped());
        servers.spawn(async move { tcp_server.await });
    }
    let inputs = handle.inputs.clone();
    let signal = tokio::spawn(async move {
        shutdown.await;
        let _ = inputs.send(Input::Shutdown);
    });
    tracing::info!(socket = %config.socket.display(), store = %config.store.display(), "daemon started");

    event_loop.run().await;

    signal.abort();
    let _ = stop.send(true);
    let drained = tokio::time::timeout(DRAIN, async {
        while let Some(served) = servers.join_next().await {
            if let Ok(Err(error)) = served {
                tracing::warn!(%error, "API server ended with an error");
            }
        }
    })
    .await;
    if drained.is_err() {
        servers.abort_all();
    }
    drop(socket);
    tracing::info!("daemon stopped; services keep running");
    Ok(())
}
