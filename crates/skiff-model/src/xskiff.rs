//! skiff's `x-skiff` extension: what a team needs beyond what Compose describes.
//!
//! One top-level section, `x-skiff`, and one per-service key, `services.NAME.x-skiff`. Both are
//! versioned (`version: 1`, the default) and strict: an unknown key is an error, so a typo never
//! silently disables a backup. Later capabilities extend these types; the JSON schema that
//! editors use is generated from them ([`json_schema`]).
//!
//! ```yaml
//! x-skiff:
//!   backups:
//!     appdb:
//!       postgres: {service: db, database: app, user: app}
//!       schedule: "0 3 * * *"
//!       to: ["/var/backups/skiff"]
//!       keep: {last: 7, daily: 7}
//! services:
//!   api:
//!     build: .
//!     x-skiff: {runtime: process, command: ["./target/debug/api"]}
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The only version of the extension so far.
pub const VERSION: u32 = 1;

/// The top-level `x-skiff` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
pub struct Extension {
    /// Version of this section's format. Only `1` exists.
    #[serde(default = "version_one")]
    pub version: u32,
    /// Named environments (staging, production, ...) and what differs between them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environments: BTreeMap<String, Environment>,
    /// How new versions are rolled out and rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub releases: Option<Releases>,
    /// Backups, and the restore drills that prove them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub backups: BTreeMap<String, Backup>,
    /// Uptime checks run by the daemon.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, Check>,
    /// Where alerts go, and on which events.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub alerts: BTreeMap<String, Alert>,
    /// Data boundaries: which services may talk to what.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub boundaries: BTreeMap<String, Boundary>,
    /// Encrypted secrets, decrypted only when a service starts.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub secrets: BTreeMap<String, Secret>,
    /// Scheduled jobs (cron).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub jobs: BTreeMap<String, Job>,
    /// HTTP routes served by skiff's reverse proxy.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub routes: BTreeMap<String, Route>,
    /// How the daemon keeps the stack converged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub daemon: Option<Daemon>,
}

fn version_one() -> u32 {
    VERSION
}

/// One environment: extra compose files and variables layered on the base stack.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Environment {
    /// Compose files merged on top of the base files, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Env file used for interpolation in this environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env_file: Option<String>,
    /// Variables for interpolation in this environment.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// Kubernetes context this environment graduates to (`skiff apply`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_context: Option<String>,
}

/// Release settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Releases {
    /// How containers are replaced.
    #[serde(default)]
    pub strategy: Strategy,
    /// How many past releases are kept for rollback.
    #[serde(default = "default_keep_releases")]
    pub keep: u32,
    /// How long a new release may take to become healthy before it is rolled back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_timeout: Option<GoDuration>,
}

fn default_keep_releases() -> u32 {
    5
}

/// How a release replaces running containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// Start the new container, wait for it to be healthy, then stop the old one.
    #[default]
    StartFirst,
    /// Stop the old container first (for services that cannot run twice).
    StopFirst,
}

/// A declared backup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backup {
    /// A PostgreSQL database, dumped with `pg_dump`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<PostgresSource>,
    /// A named volume of the stack.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume: Option<String>,
    /// A directory on the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// When to run, in cron syntax (`0 3 * * *`), in the daemon's scheduler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CronSchedule>,
    /// Destinations: a directory, or `s3://bucket/prefix`.
    pub to: Vec<String>,
    /// Settings of the S3-compatible server for `s3://` destinations. Credentials come from
    /// the environment (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s3: Option<S3Endpoint>,
    /// Retention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep: Option<Keep>,
    /// Encryption to age recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encrypt: Option<Encrypt>,
    /// Restore drills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// How a running service's volume is archived consistently.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
}

/// An S3-compatible object store (AWS S3, MinIO, Garage, R2...).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct S3Endpoint {
    /// `https://host:port` of a server other than AWS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// The region (default: `AWS_REGION`, else `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Allow an `http://` endpoint.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_http: bool,
    /// Address buckets as `bucket.host` rather than `host/bucket`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub virtual_hosted: bool,
}

/// Where a PostgreSQL database is reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PostgresSource {
    /// A connection URL (`postgres://user@host:port/db`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// A service of the stack running PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
}

/// Retention: how many backups to keep per period. The newest good backup is always kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Keep {
    #[serde(default)]
    pub last: u32,
    #[serde(default)]
    pub daily: u32,
    #[serde(default)]
    pub weekly: u32,
    #[serde(default)]
    pub monthly: u32,
}

/// Encryption settings; the repository never holds plaintext.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Encrypt {
    /// age recipients (`age1...`).
    pub recipients: Vec<String>,
    /// The identity that decrypts, needed only to restore.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<String>,
}

/// Restore drills.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// When to run the drill.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CronSchedule>,
    /// SQL queries that must return true, or files that must exist (`file:PATH`).
    #[serde(default)]
    pub checks: Vec<String>,
}

/// How a volume of a running service is archived without tearing it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// Pause the services using the volume while it is archived.
    #[default]
    Pause,
    /// The user takes a snapshot; skiff archives it as it is.
    Snapshot,
}

/// An uptime check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// URL to GET; success is a 2xx (or `expect_status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// `host:port` that must accept a TCP connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tcp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// Show this check on the status page.
    #[serde(default)]
    pub public: bool,
}

/// An alert destination.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// Webhook URL that receives a JSON body per alert.
    pub webhook: String,
    /// Events that trigger it; empty means all.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<AlertEvent>,
}

/// Events an alert can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    ServiceDown,
    CrashLoop,
    CheckFailed,
    BackupFailed,
    BackupStale,
    DrillFailed,
    DeployFailed,
    /// A job's run failed or timed out.
    JobFailed,
    /// A job's due times passed while no daemon ran.
    JobMissed,
}

/// A data boundary: what a group of services may reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Boundary {
    pub services: Vec<String>,
    /// Whether these services may reach the internet.
    #[serde(default)]
    pub egress: Egress,
    /// Services outside the boundary that may reach into it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_from: Vec<String>,
}

/// Internet egress policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Egress {
    #[default]
    Allow,
    Deny,
}

/// An encrypted secret.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Secret {
    /// File holding the age-encrypted value.
    pub file: String,
}

/// A scheduled job: a one-off run of a service's image or process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// Cron, with optional seconds (`*/10 * * * * *`), or `@hourly`, `@daily`, `@weekly`...
    pub schedule: CronSchedule,
    /// The IANA time zone the schedule is read in (`Europe/Berlin`); UTC when not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<TimeZone>,
    /// The service whose image (or process) runs the job, with its configuration.
    pub service: String,
    /// The command of each run; the service's own when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// A run still going after this long is stopped (with the service's grace period) and
    /// recorded as timed out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<GoDuration>,
    /// What happens when a run is due while the previous one still runs.
    #[serde(default)]
    pub overlap: Overlap,
    /// A failed run is tried again this many times, after 10 s doubling.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub retries: u32,
    /// Runs that fell due while no daemon ran: `run_once` (one catch-up run at start, if
    /// the last due time is less than one period old) or `skip`.
    #[serde(default)]
    pub missed: Missed,
}

#[expect(clippy::trivially_copy_pass_by_ref, reason = "serde's signature")]
fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A job's rule for a run that falls due while the previous one still runs (Kubernetes'
/// `concurrencyPolicy`). `true` and `false` are read as `allow` and `forbid`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Overlap {
    /// The new run is skipped, and recorded as skipped.
    #[default]
    Forbid,
    /// Both run.
    Allow,
    /// The running one is stopped, and the new one starts.
    Replace,
}

impl<'de> Deserialize<'de> for Overlap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Overlap::Allow),
            Raw::Bool(false) => Ok(Overlap::Forbid),
            Raw::Text(t) => match t.as_str() {
                "forbid" => Ok(Overlap::Forbid),
                "allow" => Ok(Overlap::Allow),
                "replace" => Ok(Overlap::Replace),
                other => Err(serde::de::Error::custom(format!(
                    "invalid overlap {other:?}: expected forbid, allow or replace"
                ))),
            },
        }
    }
}

/// A job's rule for runs that fell due while no daemon ran.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Missed {
    #[default]
    RunOnce,
    Skip,
}

/// An IANA time zone name, checked when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeZone(pub chrono_tz::Tz);

impl Serialize for TimeZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.0.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<chrono_tz::Tz>().map(TimeZone).map_err(|_| {
            serde::de::Error::custom(format!(
                "unknown time zone {s:?}: expected an IANA name such as \"Europe/Berlin\" or \"UTC\""
            ))
        })
    }
}

impl JsonSchema for TimeZone {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "TimeZone".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An IANA time zone name, e.g. \"Europe/Berlin\""
        })
    }
}

/// An HTTP route on the reverse proxy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub host: String,
    #[serde(default = "default_route_path")]
    pub path: String,
    pub service: String,
    pub port: u16,
    #[serde(default)]
    pub tls: Tls,
}

fn default_route_path() -> String {
    "/".to_owned()
}

/// TLS for a route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Tls {
    /// ACME certificates.
    #[default]
    Auto,
    /// A self-signed certificate (development).
    SelfSigned,
    Off,
}

/// Daemon policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Daemon {
    /// First delay before a restart is retried after the immediate one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_initial: Option<GoDuration>,
    /// Longest delay between restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_max: Option<GoDuration>,
    /// What to do when a container is changed or removed by hand.
    #[serde(default)]
    pub drift: Drift,
    /// The restart policy of services that declare none (no `restart`, no
    /// `deploy.restart_policy`) while the daemon keeps the stack: `on-failure` (the default)
    /// restarts them after a non-zero exit, a kill, or turning unhealthy, and leaves a clean
    /// exit alone; `no` is Compose's own default.
    #[serde(default)]
    pub restart_default: RestartDefault,
}

/// The daemon's restart policy for services that declare none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RestartDefault {
    #[default]
    OnFailure,
    No,
}

/// Drift policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Drift {
    #[default]
    Repair,
    Report,
}

/// The per-service `x-skiff` key.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceExtension {
    /// Where the service runs.
    #[serde(default)]
    pub runtime: Runtime,
    /// For `runtime: process`: the command, if not the service's `command`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// The command used by `skiff up --native SERVICE` for a containerised service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native: Option<Native>,
}

/// Where a service runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Runtime {
    #[default]
    Container,
    /// A host process, supervised by skiff.
    Process,
}

/// A native (host process) way to run a containerised service during development.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Native {
    pub command: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
}

/// A duration written the Go way Compose uses (`1m30s`, `500ms`, `2h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GoDuration(pub Duration);

impl FromStr for GoDuration {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        parse_go_duration(s).map(GoDuration)
    }
}

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_go_duration(self.0))
    }
}

impl Serialize for GoDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for GoDuration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$",
            "description": "A duration such as 30s, 1m30s or 500ms"
        })
    }
}

/// Parses a Go duration string (`1h2m3.5s`, `300ms`).
///
/// # Errors
/// A string that is not a sequence of number-unit pairs.
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration {s:?}: expected something like 30s, 1m30s or 500ms");
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body == "0" {
        return Ok(Duration::ZERO);
    }
    if body.is_empty() || neg {
        return Err(err());
    }
    let mut total = 0f64;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += n * factor;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Formats a duration as Go's `time.Duration.String` does (`1m30s`, `500ms`, `0s`).
#[must_use]
pub fn format_go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_owned();
    }
    if nanos < 1_000 {
        return format!("{nanos}ns");
    }
    if nanos < 1_000_000 {
        return format!("{}µs", trim_fraction(nanos, 1_000));
    }
    if nanos < 1_000_000_000 {
        return format!("{}ms", trim_fraction(nanos, 1_000_000));
    }
    let mut out = String::new();
    let total_secs = nanos / 1_000_000_000;
    let h = total_secs / 3600;
    let m = (total_secs % 3600) / 60;
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let sec_nanos = nanos % 60_000_000_000;
    out.push_str(&format!("{}s", trim_fraction(sec_nanos, 1_000_000_000)));
    out
}

fn trim_fraction(value: u128, unit: u128) -> String {
    let whole = value / unit;
    let frac = value % unit;
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

/// A cron schedule, checked when the file is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule(pub String);

impl Serialize for CronSchedule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for CronSchedule {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        croner::parser::CronParser::builder()
            .build()
            .parse(&s)
            .map_err(|e| serde::de::Error::custom(format!("invalid cron schedule {s:?}: {e}")))?;
        Ok(CronSchedule(s))
    }
}

impl JsonSchema for CronSchedule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CronSchedule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A cron schedule: minute hour day-of-month month day-of-week, e.g. \"0 3 * * *\""
        })
    }
}

/// The JSON schema of the top-level `x-skiff` section, with the per-service key under
/// `$defs/ServiceExtension`.
#[must_use]
pub fn json_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(Extension);
    let service = schemars::schema_for!(ServiceExtension);
    if let Some(defs) = schema.as_object_mut().and_then(|o| {
        o.entry("$defs")
            .or_insert_with(|| serde_json::json!({}))
            .as_object_mut()
    }) {
        defs.insert("ServiceExtension".to_owned(), service.to_value());
    }
    schema.to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_round_trip() {
        for (text, want) in [
            ("1m30s", "1m30s"),
            ("90s", "1m30s"),
            ("500ms", "500ms"),
            ("2h", "2h0m0s"),
            ("1.5s", "1.5s"),
            ("0", "0s"),
        ] {
            let d: GoDuration = text.parse().expect(text);
            assert_eq!(d.to_string(), want, "{text}");
        }
        assert!("10".parse::<GoDuration>().is_err());
        assert!("1x".parse::<GoDuration>().is_err());
    }

    #[test]
    fn unknown_keys_are_rejected() {
        let err = serde_json::from_value::<Extension>(serde_json::json!({"backup": {}}))
            .expect_err("typo");
        assert!(err.to_string().contains("unknown field `backup`"), "{err}");
    }

    #[test]
    fn cron_is_checked() {
        let ok: Result<Job, _> =
            serde_json::from_value(serde_json::json!({"schedule": "0 3 * * *", "service": "w"}));
        assert!(ok.is_ok());
        let bad: Result<Job, _> =
            serde_json::from_value(serde_json::json!({"schedule": "every day", "service": "w"}));
        assert!(bad.is_err());
    }

    #[test]
    fn schema_lists_sections() {
        let s = json_schema();
        let props = &s["properties"];
        for k in [
            "backups",
            "environments",
            "releases",
            "checks",
            "alerts",
            "boundaries",
            "secrets",
            "jobs",
            "routes",
        ] {
            assert!(props.get(k).is_some(), "{k} missing from schema");
        }
        assert!(s["$defs"]["ServiceExtension"].is_object());
    }
}
