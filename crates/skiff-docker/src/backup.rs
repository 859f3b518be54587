//! What backups need from the engine: a volume's mountpoint, and the containers that use it
//! (to pause or stop them while it is archived or restored). A service's running container
//! (to run `pg_dump` in it) is found by [`Engine::observe`].

use crate::engine::{Engine, EngineError, container_name};

/// A container of the project, as backups see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    pub id: String,
    pub name: String,
    /// `running`, `paused`, `exited`...
    pub state: String,
}

impl Engine {
    /// The host path holding a volume's data.
    ///
    /// # Errors
    /// No such volume, or the engine refuses.
    pub async fn volume_mountpoint(&self, name: &str) -> Result<String, EngineError> {
        self.docker
            .inspect_volume(name)
            .await
            .map(|v| v.mountpoint)
            .map_err(EngineError::call(format!("inspect volume {name}")))
    }

    /// The project's containers that mount the volume `volume` (its engine name).
    ///
    /// # Errors
    /// The engine refuses the listing.
    pub async fn volume_users(
        &self,
        project: &str,
        volume: &str,
    ) -> Result<Vec<ContainerRef>, EngineError> {
        Ok(self
            .summaries(project)
            .await?
            .iter()
            .filter(|c| {
                c.mounts
                    .iter()
                    .flatten()
                    .any(|m| m.name.as_deref() == Some(volume))
            })
            .map(container_ref)
            .collect())
    }

    /// Pauses a container (its processes are frozen; its files stop changing).
    ///
    /// # Errors
    /// The engine refuses.
    pub async fn pause(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .pause_container(id)
            .await
            .map_err(EngineError::call(format!("pause container {id}")))
    }

    /// Unpauses a container.
    ///
    /// # Errors
    /// The engine refuses.
    pub async fn unpause(&self, id: &str) -> Result<(), EngineError> {
        self.docker
            .unpause_container(id)
            .await
            .map_err(EngineError::call(format!("unpause container {id}")))
    }
}

fn container_ref(c: &bollard::models::ContainerSummary) -> ContainerRef {
    ContainerRef {
        id: c.id.clone().unwrap_or_default(),
        name: container_name(c),
        state: c
            .state
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
    }
}
