//! The labels Compose puts on what it creates; skiff writes and reads the same ones, so that
//! `docker compose` and skiff can take over each other's stacks.

pub const PROJECT: &str = "com.docker.compose.project";
pub const SERVICE: &str = "com.docker.compose.service";
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
pub const ONEOFF: &str = "com.docker.compose.oneoff";
pub const NETWORK: &str = "com.docker.compose.network";
pub const VOLUME: &str = "com.docker.compose.volume";
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
pub const VERSION: &str = "com.docker.compose.version";
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
pub const IMAGE: &str = "com.docker.compose.image";
pub const REPLACE: &str = "com.docker.compose.replace";
/// The Compose version skiff reports itself as, for tools that read this label.
pub const COMPOSE_VERSION: &str = "2.40.3";
/// skiff's own record of the configuration a container was created with (JSON), so that a
/// plan can say which fields changed.
pub const SKIFF_CONFIG: &str = "dev.skiff.config";
