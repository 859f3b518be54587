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
