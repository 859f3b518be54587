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
    #[arg(
        short = 'f',
        long = "file",
        id = "file",
        global = true,
        value_name = "FILE"
    )]
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
    /// Compares the compose files with what runs on the Docker Engine. Changes nothing.
    Plan(PlanArgs),
    /// Converge the stack: create, recreate and start what the plan says, in dependency order,
    /// independent services in parallel.
    ///
    /// A second `up` with nothing changed does nothing and says so. Interrupted, it resumes
    /// from what runs.
    Up(UpArgs),
    /// Stop and remove the stack's containers and networks (and volumes with -v).
    Down(DownArgs),
    /// List the stack's containers.
    Ps(PsArgs),
    /// Show (and follow) the stack's logs, merged, one prefix per container.
    Logs(LogsArgs),
    /// Start the stack's stopped containers.
    Start(ServicesArgs),
    /// Stop the stack's containers (they keep their state; `start` resumes them).
    Stop(ServicesArgs),
    /// Restart the stack's containers.
    Restart(ServicesArgs),
    /// Run a command in a running container of a service.
    Exec(ExecArgs),
    /// Build the images of services that have `build:` (through the engine's build API).
    Build(ServicesArgs),
    /// Print the project as docker compose reads it: merged, interpolated, normalised.
    ///
    /// The output is the same as `docker compose config`, so it can be diffed against it.
    Config(ConfigArgs),
    /// Print the JSON schema of skiff's `x-skiff` extension (for editor completion).
    Schema,
    /// Print shell completions.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
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
    /// Only output since this long ago (10m, 1h) or this UNIX timestamp.
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
