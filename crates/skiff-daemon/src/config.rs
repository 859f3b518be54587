//! What the daemon is told when it starts, and what each deployed project may override.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use chrono::{DateTime, Utc};
use skiff_model::xskiff;
use skiff_plan::BackoffConfig;
use skiff_store::Retention;

/// Everything [`crate::run`] needs besides the world.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// The API's unix socket (mode 0600).
    pub socket: PathBuf,
    /// The event history (SQLite).
    pub store: PathBuf,
    /// Where the projects it owns are kept (one file each, mode 0600: they hold the
    /// projects' environment values), so that a restarted daemon takes them up again.
    /// `None`: a restarted daemon owns nothing until the next deploy.
    pub deployments: Option<PathBuf>,
    /// An optional TCP listener, every request of which must carry the token.
    pub listen: Option<TcpListen>,
    /// How often every project is observed and compared with what was deployed, besides
    /// the world's own reports.
    pub reconcile_every: Duration,
    /// Restart backoff and crash loops, unless a project's `x-skiff.daemon` says otherwise.
    pub restart: RestartConfig,
    pub retention: Retention,
    /// How often retention runs.
    pub retain_every: Duration,
    /// Where event times come from.
    pub clock: Clock,
}

impl DaemonConfig {
    /// The defaults, with these paths.
    #[must_use]
    pub fn new(socket: impl Into<PathBuf>, store: impl Into<PathBuf>) -> DaemonConfig {
        DaemonConfig {
            socket: socket.into(),
            store: store.into(),
            deployments: None,
            listen: None,
            reconcile_every: Duration::from_secs(30),
            restart: RestartConfig::default(),
            retention: Retention::default(),
            retain_every: Duration::from_secs(3600),
            clock: Clock::System,
        }
    }
}

/// A TCP listener and the bearer token its requests must carry.
#[derive(Clone)]
pub struct TcpListen {
    pub addr: SocketAddr,
    pub token: String,
}

impl fmt::Debug for TcpListen {
    /// Never prints the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListen")
            .field("addr", &self.addr)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// How an instance that keeps failing is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RestartConfig {
    /// 0, then `initial` doubling to `max`; back to 0 once up for `reset_after`.
    pub backoff: BackoffConfig,
    pub crash_loop: CrashLoopConfig,
}

impl RestartConfig {
    /// These defaults with a project's `x-skiff.daemon` overrides.
    #[must_use]
    pub fn with_overrides(mut self, ext: Option<&xskiff::Daemon>) -> RestartConfig {
        if let Some(ext) = ext {
            if let Some(d) = ext.backoff_initial {
                self.backoff.initial = d.0;
            }
            if let Some(d) = ext.backoff_max {
                self.backoff.max = d.0;
            }
        }
        self
    }
}

/// When restarts count as a crash loop, and what happens then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrashLoopConfig {
    /// This many restarts within `window`, and the next failure enters the crash loop.
    pub restarts: u32,
    pub window: Duration,
    pub then: CrashLoopAction,
}

impl Default for CrashLoopConfig {
    /// 5 restarts within 10 minutes; then restart at most every 5 minutes.
    fn default() -> CrashLoopConfig {
        CrashLoopConfig {
            restarts: 5,
            window: Duration::from_secs(600),
            then: CrashLoopAction::Throttle(Duration::from_secs(300)),
        }
    }
}

/// What a crash loop does to restarts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashLoopAction {
    /// Keep restarting, never sooner than this after a failure (as Kubernetes'
    /// `CrashLoopBackOff`): a dependency that comes back heals the service by itself.
    Throttle(Duration),
    /// Stop restarting until the next deploy.
    Hold,
}

/// Where event times come from. The loop's timing always follows tokio's clock; this is
/// only the wall-clock time written into the history.
#[derive(Debug, Clone, Copy)]
pub enum Clock {
    /// The system's clock.
    System,
    /// `base` plus the tokio time elapsed since `start`: under `tokio::time::pause`, event
    /// times advance exactly as the paused clock does.
    Tokio {
        base: DateTime<Utc>,
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that reads `base` now and follows tokio's time from here.
    #[must_use]
    pub fn following_tokio(base: DateTime<Utc>) -> Clock {
        Clock::Tokio {
            base,
            start: tokio::time::Instant::now(),
        }
    }

    /// The wall-clock time now.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Tokio { base, start } => {
                let elapsed = chrono::Duration::from_std(start.elapsed()).unwrap_or_default();
                *base + elapsed
            }
        }
    }

    /// The wall-clock time of a tokio instant, given the pair (`now`, `wall`) read together.
    #[must_use]
    pub fn wall_of(
        at: tokio::time::Instant,
        now: tokio::time::Instant,
        wall: DateTime<Utc>,
    ) -> DateTime<Utc> {
        let ahead =
            chrono::Duration::from_std(at.saturating_duration_since(now)).unwrap_or_default();
        let behind =
            chrono::Duration::from_std(now.saturating_duration_since(at)).unwrap_or_default();
        wall + ahead - behind
    }
}

/// A project's policy, from the daemon's defaults and its `x-skiff.daemon` section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// What to do when what runs differs from what was deployed.
    pub drift: xskiff::Drift,
    pub restart: RestartConfig,
}

impl Policy {
    #[must_use]
    pub fn new(defaults: RestartConfig, ext: Option<&xskiff::Daemon>) -> Policy {
        Policy {
            drift: ext.map(|d| d.drift).unwrap_or_default(),
            restart: defaults.with_overrides(ext),
        }
    }
}

#[cfg(test)]
mod tests {
    use skiff_model::xskiff::{Daemon, Drift, GoDuration};

    use super::*;

    #[test]
    fn project_overrides_only_what_it_sets() {
        let defaults = RestartConfig::default();
        assert_eq!(Policy::new(defaults, None).restart, defaults);
        assert_eq!(Policy::new(defaults, None).drift, Drift::Repair);
        let ext = Daemon {
            backoff_initial: Some(GoDuration(Duration::from_secs(1))),
            backoff_max: None,
            drift: Drift::Report,
            restart_default: skiff_model::xskiff::RestartDefault::No,
        };
        let p = Policy::new(defaults, Some(&ext));
        assert_eq!(p.drift, Drift::Report);
        assert_eq!(p.restart.backoff.initial, Duration::from_secs(1));
        assert_eq!(p.restart.backoff.max, Duration::from_secs(300));
    }

    #[test]
    fn the_token_is_never_printed() {
        let l = TcpListen {
            addr: "127.0.0.1:1".parse().expect("addr"),
            token: "s3cret".into(),
        };
        assert!(!format!("{l:?}").contains("s3cret"));
    }

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_follows_paused_time() {
        let base = DateTime::from_timestamp(1_000, 0).expect("time");
        let clock = Clock::following_tokio(base);
        tokio::time::advance(Duration::from_secs(90)).await;
        assert_eq!(
            clock.now(),
            DateTime::from_timestamp(1_090, 0).expect("time")
        );
        let now = tokio::time::Instant::now();
        assert_eq!(
            Clock::wall_of(now + Duration::from_secs(10), now, clock.now()),
            DateTime::from_timestamp(1_100, 0).expect("time")
        );
    }
}
