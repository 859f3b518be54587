//! Command-line flags. Global flags sit where `docker compose` puts them, so muscle memory and
//! scripts carry over.

use clap::{Args, Parser, Subcommand, ValueEnum};

/// skiff: run the compose stack you already have, with the operating discipline around it.
#[derive(Debug, Parser)]
#[command(name = "skiff", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub project: ProjectArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Which project: the same flags, environment variables and defaults as `docker compose`.
#[derive(Debug, Args, Clone, Default)]
pub struct ProjectArgs {
    /// Compose file(s); later files override earlier ones. `-` reads standard input.
    /// Default: COMPOSE_FILE, else compose.yaml (and compose.override.yaml) found in the
    /// current directory or a parent.
    // Not global: as with docker compose, `-f` goes before the command, which leaves
    // `logs -f` free to mean follow.
    #[arg(short = 'f', long = "file", id = "file", value_name = "FILE")]
    pub files: Vec<String>,
    /// Project name. Default: COMPOSE_PROJECT_NAME, else `name:` in the file, else the
    /// project directory's name.
    #[arg(short = 'p', long = "project-name", global = true, value_name = "NAME")]
    pub project_name: Option<String>,
    /// Enable services of this profile (repeatable). Default: COMPOSE_PROFILES.
    #[arg(
        long = "profile",
        id = "profile",
        global = true,
        value_name = "PROFILE"
    )]
    pub profiles: Vec<String>,
    /// Variables for interpolation from this file instead of ./.env (repeatable).
    #[arg(long = "env-file", global = true, value_name = "FILE")]
    pub env_files: Vec<String>,
    /// Directory relative paths resolve against. Default: the first compose file's directory.
    #[arg(long = "project-directory", global = true, value_name = "DIR")]
    pub project_directory: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what `up` would change: create, recreate (and which fields changed), start, remove.
    ///
    /// Compares the compose files with what runs: containers on the Docker Engine, and host
    /// processes (services with `x-skiff: {runtime: process}`). Changes nothing.
    Plan(PlanArgs),
    /// Converge the stack: create, recreate and start what the plan says, in dependency order,
    /// independent services in parallel.
    ///
    /// A second `up` with nothing changed does nothing and says so. Interrupted, it resumes
    /// from what runs.
    ///
    /// In the foreground, skiff supervises the stack's processes itself (restarts with
    /// backoff), shows every service's output, and Ctrl-C (or SIGTERM) stops the stack's
    /// containers and processes, each within its grace period, as docker compose does. With
    /// -d, a detached skiff supervisor keeps the processes running; `down` or `stop` ends it.
    Up(UpArgs),
    /// Stop and remove the stack's containers, processes and networks (and volumes with -v).
    Down(DownArgs),
    /// List the stack's containers and processes.
    Ps(PsArgs),
    /// Show (and follow) the stack's logs, containers and processes merged by time, one
    /// prefix per instance.
    Logs(LogsArgs),
    /// Start the stack's stopped containers and processes.
    Start(ServicesArgs),
    /// Stop the stack's containers and processes (they keep their state; `start` resumes them).
    Stop(ServicesArgs),
    /// Restart the stack's containers and processes.
    Restart(ServicesArgs),
    /// Run a command in a running container of a service.
    Exec(ExecArgs),
    /// Build the images of services that have `build:` (through the engine's build API).
    Build(ServicesArgs),
    /// Print the project as docker compose reads it: merged, interpolated, normalised.
    ///
    /// The output is the same as `docker compose config`, so it can be diffed against it.
    Config(ConfigArgs),
    /// Weigh whether the stack has outgrown one machine: a verdict, the reasons with their
    /// evidence, and what to postpone.
    ///
    /// Signals: independent lifecycles, workers and jobs, replicas, declared resources against
    /// this host (CPUs and /proc/meminfo), environments, data boundaries; deploy and restart
    /// frequency once a skiff daemon records history (none does yet). Changes nothing.
    #[command(after_help = ASSESS_EXAMPLES)]
    Assess(AssessArgs),
    /// Write the stack as files for another platform (`skiff export kubernetes`).
    Export(ExportArgs),
    /// Apply the stack to a Kubernetes cluster: server-side apply as field manager `skiff`,
    /// optionally pruning what skiff applied before and no longer declares, and waiting for
    /// rollouts.
    ///
    /// The objects are those `skiff export kubernetes` writes, for one environment. Secrets
    /// are applied only with --include-secret-values (otherwise they are left as they are in
    /// the cluster). PersistentVolumeClaims are never pruned.
    #[command(after_help = APPLY_EXAMPLES)]
    Apply(ApplyArgs),
    /// Run the skiff daemon: it keeps the stacks handed to it by `skiff up -d` converged.
    ///
    /// It watches the engine's events, process exits and healthchecks, restarts what crashed
    /// or turned unhealthy (at once, then after 10 s doubling to 5 min; a crash loop slows
    /// down to one restart per 5 min), repairs or reports drift (a container removed or
    /// changed by hand), runs the jobs of x-skiff.jobs on their schedules (`skiff jobs`), and
    /// records every event (`skiff events`, `skiff status`). Restarts follow each service's
    /// `restart:` policy; a service that declares none is restarted on failure (a non-zero
    /// exit, a kill, unhealthy) unless the stack sets `x-skiff.daemon.restart_default: no`.
    ///
    /// The API listens on a unix socket (mode 0600); `--listen` adds TCP, where every request
    /// must carry the token. SIGTERM stops the daemon and leaves the stacks running; started
    /// again, it takes up the stacks it owned. `skiff down` and `skiff stop` hand a stack back.
    #[command(after_help = DAEMON_EXAMPLES)]
    Daemon(DaemonArgs),
    /// Per service of the stacks the daemon keeps: state, health, restarts, uptime, last
    /// error. Read from the daemon, or from its history when none runs. Every project, or
    /// the one named with -p.
    Status(StatusArgs),
    /// The daemon's history: deploys, starts, exits with their codes, health changes,
    /// restarts and what triggered them, drift, crash loops. Every project, or the one named
    /// with -p.
    #[command(after_help = EVENTS_EXAMPLES)]
    Events(EventsArgs),
    /// Backups declared in x-skiff.backups: run, list, restore, verify (restore drills), prune.
    Backup(crate::commands::backup::BackupArgs),
    /// Cron jobs declared in x-skiff.jobs, run by the daemon: list, run now, history, logs.
    Jobs(crate::commands::jobs::JobsArgs),
    /// Print the JSON schema of skiff's `x-skiff` extension (for editor completion).
    Schema,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Internal: the detached supervisor of `up -d` and `start` (runs the given command line
    /// in its own session, then keeps its processes running until they are stopped).
    #[command(hide = true)]
    Supervise(SuperviseArgs),
}

const DAEMON_EXAMPLES: &str = "Examples:
  skiff daemon                                   # in the foreground, logs on stderr
  skiff daemon --log-format json                 # one JSON object per log line
  SKIFF_DAEMON_TOKEN=$(cat /etc/skiff/token) skiff daemon --listen 0.0.0.0:7077
  skiff daemon install --dry-run                 # print the systemd unit
  sudo skiff daemon install                      # write it to /etc/systemd/system/skiff.service

Then `skiff up -d` hands stacks to it; `skiff status`, `skiff events -f`.";

const EVENTS_EXAMPLES: &str = "Examples:
  skiff events --since 1h
  skiff events --service web --kind exited,restarted
  skiff events --since 2026-11-24T08:00:00Z --format json | jq .
  skiff events -f                                # follow";

/// Where the daemon listens, for every command that talks to it.
#[derive(Debug, Args, Clone, Default)]
pub struct DaemonTarget {
    /// The daemon's unix socket. Default: `$SKIFF_STATE_DIR/daemon.sock` (the state
    /// directory is `$XDG_STATE_HOME/skiff` or `~/.local/state/skiff` otherwise).
    #[arg(long, env = "SKIFF_DAEMON_SOCKET", value_name = "PATH", global = true)]
    pub socket: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct DaemonArgs {
    #[command(subcommand)]
    pub command: Option<DaemonCommand>,
    #[command(flatten)]
    pub target: DaemonTarget,
    /// Also listen on TCP at HOST:PORT. Every request must carry `Authorization: Bearer
    /// <token>`, the token read from --token-file, else SKIFF_DAEMON_TOKEN (never an argument:
    /// arguments show in `ps`).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// A file holding the TCP token (its first line).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<std::path::PathBuf>,
    /// Log lines as text or JSON (one object per line).
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub log_format: OutputFormat,
    /// How often every stack is observed and compared with what was deployed, besides the
    /// engine's events and process reports (Go duration: 30s, 1m).
    #[arg(long, default_value = "30s", value_name = "DURATION", value_parser = parse_duration)]
    pub reconcile_every: std::time::Duration,
    /// The delay before the second restart of a failing instance (the first is immediate);
    /// it doubles up to --backoff-max. A stack's `x-skiff.daemon` may set its own.
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_duration)]
    pub backoff_initial: std::time::Duration,
    #[arg(long, default_value = "5m", value_name = "DURATION", value_parser = parse_duration)]
    pub backoff_max: std::time::Duration,
    /// Log debug lines too.
    #[arg(long)]
    pub verbose: bool,
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Write a systemd unit that runs `skiff daemon` (with the flags given after `install`).
    ///
    /// The unit stops only the daemon (`KillMode=process`): stopping or restarting it leaves
    /// the stacks running, and the daemon takes them up again when it starts.
    Install(InstallArgs),
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// Print the unit instead of writing it.
    #[arg(long)]
    pub dry_run: bool,
    /// Where to write `skiff.service`.
    #[arg(long, default_value = "/etc/systemd/system", value_name = "DIR")]
    pub unit_dir: std::path::PathBuf,
    /// The daemon's state directory (history, socket, deployments, process records).
    #[arg(long, default_value = "/var/lib/skiff", value_name = "DIR")]
    pub state_dir: std::path::PathBuf,
    /// Also listen on TCP (the token is read from --token-file).
    #[arg(long, value_name = "HOST:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    #[arg(long, value_name = "FILE", requires = "listen")]
    pub token_file: Option<std::path::PathBuf>,
    /// Logs as JSON lines in the journal.
    #[arg(long)]
    pub json_logs: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: DaemonTarget,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub target: DaemonTarget,
    /// Only events at or after this time: RFC 3339 (2026-11-24T08:00:00Z), a UNIX timestamp,
    /// or a duration ago (90s, 15m, 2h, 7d).
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Only events before this time (same forms as --since).
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Only this service's events.
    #[arg(long, value_name = "SERVICE")]
    pub service: Option<String>,
    /// Only these kinds, comma-separated (deploy, started, exited, health, restarted,
    /// crash_loop, drift, ...).
    #[arg(long, value_name = "KINDS")]
    pub kind: Option<String>,
    /// Keep printing new events as they happen.
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// At most this many (the newest).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    skiff_model::xskiff::parse_go_duration(text)
        .map_err(|e| format!("{e} (examples: 30s, 1m30s, 5m)"))
}

#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The command line to carry out, as given to skiff.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub args: Vec<std::ffi::OsString>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Yaml,
    Json,
}

#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "mirrors docker compose config's switches"
)]
pub struct ConfigArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Yaml)]
    pub format: Format,
    /// Print the service names, one per line.
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line.
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line.
    #[arg(long)]
    pub networks: bool,
    /// Print the profile names, one per line.
    #[arg(long)]
    pub profiles: bool,
    /// Print the image names, one per line.
    #[arg(long)]
    pub images: bool,
    /// Print the configuration hash of these services ("*" for all).
    #[arg(long, value_name = "SERVICES")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables.
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't normalise the model.
    #[arg(long)]
    pub no_normalize: bool,
    /// Don't resolve file paths.
    #[arg(long)]
    pub no_path_resolution: bool,
    /// Don't check the model's consistency.
    #[arg(long)]
    pub no_consistency: bool,
    /// Don't resolve service env files.
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Only validate; print nothing.
    #[arg(short, long)]
    pub quiet: bool,
    /// Write to this file instead of standard output.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<String>,
    /// Services to include (with what they depend on).
    pub service_names: Vec<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Remove containers of services no longer in the files.
    #[arg(long)]
    pub remove_orphans: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Exit 2 when there are changes (0 when none), for scripts.
    #[arg(long)]
    pub detailed_exitcode: bool,
    /// Plan as `up --native SERVICE` would run it (repeatable).
    #[arg(long, value_name = "SERVICE")]
    pub native: Vec<String>,
    /// Only these services (and what they depend on).
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct UpArgs {
    /// Return once converged instead of following the logs.
    #[arg(short, long)]
    pub detach: bool,
    /// Wait until every service runs (and is healthy, when it has a healthcheck).
    #[arg(long)]
    pub wait: bool,
    /// Remove containers of services no longer in the files.
    #[arg(long)]
    pub remove_orphans: bool,
    /// Run N instances of a service (SERVICE=N), overriding deploy.replicas.
    #[arg(long, value_name = "SERVICE=N")]
    pub scale: Vec<String>,
    /// Build images even when they exist already.
    #[arg(long)]
    pub build: bool,
    /// Seconds to wait for a dependency's condition (and for --wait).
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
    /// Progress as plain lines (text) or JSON events, on standard error.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Run this container service as a host process with its `x-skiff.native` command, the
    /// rest of the stack as declared (repeatable). skiff prints where it reaches its
    /// dependencies (SKIFF_<SERVICE>_HOST/_PORT) and lets the containers that depend on it
    /// reach it by its name through the host gateway.
    #[arg(long, value_name = "SERVICE")]
    pub native: Vec<String>,
    /// Only these services (and what they depend on).
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Also remove the stack's named volumes (their data is lost).
    #[arg(short, long)]
    pub volumes: bool,
    /// Also remove containers of services no longer in the files.
    #[arg(long)]
    pub remove_orphans: bool,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Include stopped containers.
    #[arg(short, long)]
    pub all: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep following new output.
    #[arg(short, long)]
    pub follow: bool,
    /// Only output since then: an RFC 3339 time, a UNIX timestamp, or a duration ago (10m,
    /// 1h, 7d).
    #[arg(long)]
    pub since: Option<String>,
    /// Number of lines from the end of each log ("all" for everything).
    #[arg(long, short = 'n')]
    pub tail: Option<String>,
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ServicesArgs {
    pub services: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Which instance of the service (1 = the first).
    #[arg(long, default_value_t = 1)]
    pub index: u32,
    /// Extra environment variables (KEY=VALUE).
    #[arg(short, long)]
    pub env: Vec<String>,
    #[arg(short, long)]
    pub workdir: Option<String>,
    #[arg(short, long)]
    pub user: Option<String>,
    pub service: String,
    /// The command and its arguments.
    #[arg(trailing_var_arg = true, required = true)]
    pub command: Vec<String>,
}

const ASSESS_EXAMPLES: &str = "Examples:
  skiff assess                          # the verdict, each signal with its evidence
  skiff assess --format json | jq .verdict
  skiff assess --host-cpus 4 --host-memory 16GiB   # against another machine";

#[derive(Debug, Args)]
pub struct AssessArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// CPUs of the host to weigh the stack against. Default: the CPUs skiff may use here.
    #[arg(long, value_name = "N")]
    pub host_cpus: Option<f64>,
    /// Memory of the host (e.g. 32GiB, 512m). Default: MemTotal in /proc/meminfo.
    #[arg(long, value_name = "SIZE")]
    pub host_memory: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(subcommand)]
    pub target: ExportTarget,
}

#[derive(Debug, Subcommand)]
pub enum ExportTarget {
    /// Typed Kubernetes objects: a namespace per environment, Deployments (StatefulSets for
    /// services that own volumes), Services, claims, ConfigMaps and Secrets, probes, resources,
    /// CronJobs for jobs and backups, Ingresses for routes, NetworkPolicies for boundaries.
    ///
    /// Everything that cannot be carried over (host networking, devices, depends_on, ...) is
    /// listed in REPORT.md and printed, with the Kubernetes equivalent to use. Secret values
    /// are written only with --include-secret-values. The directory must be new, empty, or
    /// one skiff exported into before (its stale files are removed), unless --force.
    #[command(visible_alias = "k8s", after_help = EXPORT_EXAMPLES)]
    Kubernetes(ExportKubernetesArgs),
}

const EXPORT_EXAMPLES: &str = "Examples:
  skiff export kubernetes -o k8s                   # one YAML file per object
  kubectl apply -f k8s/
  skiff export kubernetes --format kustomize -o k8s   # base/ and overlays/ENV/
  kubectl apply -k k8s/overlays/production
  skiff export kubernetes --format helm -o chart   # values.yaml: images and replicas
  helm install shop chart -f chart/values-production.yaml -n shop-production --create-namespace
  skiff export kubernetes --env staging --format single-file -o out";

#[derive(Debug, Clone, Copy, ValueEnum, Default, PartialEq, Eq)]
pub enum K8sLayout {
    /// One YAML file per object, numbered in apply order; a directory per environment.
    #[default]
    Manifests,
    /// One multi-document YAML file per namespace.
    SingleFile,
    /// A kustomize base (the stack as declared) and an overlay per environment.
    Kustomize,
    /// A Helm chart whose values files hold images and replicas.
    Helm,
}

#[derive(Debug, Args)]
pub struct ExportKubernetesArgs {
    /// Only this environment (a key of x-skiff.environments). Default: every environment the
    /// stack declares, or the stack as declared when it declares none.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// How the files are laid out.
    #[arg(long, value_enum, default_value_t = K8sLayout::Manifests)]
    pub format: K8sLayout,
    /// Directory to write into.
    #[arg(short, long, value_name = "DIR")]
    pub output: std::path::PathBuf,
    /// Write secret values (from environment variables, inline content and secret files)
    /// into the Secrets. Without it, Secrets carry their keys with empty values.
    #[arg(long)]
    pub include_secret_values: bool,
    /// Write into a non-empty directory that skiff did not export into.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub objects: K8sObjectArgs,
}

/// Choices the stack does not make for the cluster.
#[derive(Debug, Args)]
pub struct K8sObjectArgs {
    /// Requested size of each PersistentVolumeClaim (Compose volumes have no size).
    #[arg(long, value_name = "QUANTITY", default_value = "1Gi", value_parser = storage_quantity)]
    pub volume_size: String,
    /// StorageClass of the claims. Default: the cluster's default.
    #[arg(long, value_name = "NAME")]
    pub storage_class: Option<String>,
    /// IngressClass of the Ingresses. Default: the cluster's default.
    #[arg(long, value_name = "NAME")]
    pub ingress_class: Option<String>,
    /// cert-manager ClusterIssuer for routes with `tls: auto`.
    #[arg(long, value_name = "NAME", default_value = "letsencrypt")]
    pub cluster_issuer: String,
}

const APPLY_EXAMPLES: &str = "Examples:
  skiff apply --context kind-dev                     # the stack as declared
  skiff apply --env production --prune --wait       # context from x-skiff.environments
  skiff apply --context prod --env production --include-secret-values --timeout 600 --wait";

#[derive(Debug, Args)]
#[expect(
    clippy::struct_excessive_bools,
    reason = "independent switches, as kubectl apply has them"
)]
pub struct ApplyArgs {
    /// Kubeconfig context to apply to. Default: the environment's `kube_context`.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// The environment (a key of x-skiff.environments). Default: the stack as declared.
    #[arg(long, value_name = "NAME")]
    pub env: Option<String>,
    /// Delete objects skiff applied before (by its labels) that the stack no longer declares.
    /// PersistentVolumeClaims are kept: they hold data.
    #[arg(long)]
    pub prune: bool,
    /// Wait until Deployments, StatefulSets and DaemonSets have rolled out.
    #[arg(long)]
    pub wait: bool,
    /// Seconds --wait waits for all rollouts together.
    #[arg(long, value_name = "SECONDS", default_value_t = 300)]
    pub timeout: u64,
    /// Take over fields another field manager owns instead of failing.
    #[arg(long)]
    pub force_conflicts: bool,
    /// Apply Secrets with their values; without it Secrets are not touched.
    #[arg(long)]
    pub include_secret_values: bool,
    #[command(flatten)]
    pub objects: K8sObjectArgs,
}

/// A Kubernetes storage quantity: a number with an optional binary (`Ki`..`Ei`) or decimal
/// (`k`, `M`..`E`) suffix, as a claim's `storage` request takes it.
fn storage_quantity(s: &str) -> Result<String, String> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let suffix = &s[digits.len()..];
    let number_ok = !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit() || c == '.')
        && digits.matches('.').count() <= 1
        && !digits.starts_with('.')
        && !digits.ends_with('.');
    let suffix_ok = matches!(
        suffix,
        "" | "Ki" | "Mi" | "Gi" | "Ti" | "Pi" | "Ei" | "k" | "M" | "G" | "T" | "P" | "E"
    );
    if number_ok && suffix_ok {
        Ok(s.to_owned())
    } else {
        Err("a Kubernetes quantity such as 10Gi, 500Mi or 1T".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::{Cli, Command};

    /// clap checks a command line's definition only when that subcommand is built: a clash
    /// such as `-f` (file) against `logs -f` (follow) panicked at run time. Check them all.
    #[test]
    fn every_subcommand_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn logs_dash_f_follows_and_file_goes_before_the_command() {
        let cli = Cli::parse_from(["skiff", "-f", "a.yaml", "logs", "-f", "web"]);
        assert_eq!(cli.project.files, vec!["a.yaml"]);
        assert!(matches!(cli.command, Command::Logs(ref l) if l.follow && l.services == ["web"]));
    }
}
