//! The engine calls the CLI makes on running containers: `exec`, logs, and removing what
//! `down` leaves behind. Output comes back as skiff's own types, never bollard's.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::query_parameters::{LogsOptionsBuilder, RemoveVolumeOptions};
use futures_util::{Stream, StreamExt};

use crate::{Engine, EngineError};

/// Which stream a piece of output came on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Channel {
    Stdout,
    Stderr,
}

impl Channel {
    fn of(out: LogOutput) -> (Channel, Vec<u8>) {
        match out {
            LogOutput::StdErr { message } => (Channel::Stderr, message.to_vec()),
            LogOutput::StdOut { message }
            | LogOutput::Console { message }
            | LogOutput::StdIn { message } => (Channel::Stdout, message.to_vec()),
        }
    }
}

/// A command to run in a container.
#[derive(Debug, Clone, Default)]
pub struct ExecSpec {
    pub command: Vec<String>,
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub user: Option<String>,
}

/// Which of a container's logs to read.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsSpec {
    pub follow: bool,
    /// Lines since this long after the epoch.
    pub since: Option<Duration>,
    /// The last this many lines.
    pub tail: Option<usize>,
}

impl Engine {
    /// Runs a command in a running container, handing its output to `output` as it comes;
    /// returns its exit code.
    ///
    /// # Errors
    /// The engine refuses the exec (no such container, not running).
    pub async fn exec(
        &self,
        id: &str,
        spec: ExecSpec,
        output: &mut dyn FnMut(Channel, &[u8]),
    ) -> Result<i64, EngineError> {
        let exec = self
            .docker
            .create_exec(
                id,
                CreateExecOptions::<String> {
                    cmd: Some(spec.command),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    env: (!spec.env.is_empty()).then_some(spec.env),
                    working_dir: spec.workdir,
                    user: spec.user,
                    ..CreateExecOptions::default()
                },
            )
            .await
            .map_err(EngineError::call(format!("exec in {id}")))?;
        if let StartExecResults::Attached {
            output: mut out, ..
        } = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(EngineError::call(format!("start exec in {id}")))?
        {
            while let Some(Ok(chunk)) = out.next().await {
                let (channel, bytes) = Channel::of(chunk);
                output(channel, &bytes);
            }
        }
        Ok(self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(EngineError::call(format!("inspect exec in {id}")))?
            .exit_code
            .unwrap_or(0))
    }

    /// A container's output with the engine's timestamps (each line starts with one), as it
    /// comes; the stream ends at the first error.
    pub fn logs(&self, id: &str, spec: LogsSpec) -> impl Stream<Item = (Channel, Vec<u8>)> + use<> {
        let mut opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(spec.follow)
            .timestamps(true);
        if let Some(since) = spec.since {
            opts = opts.since(i32::try_from(since.as_secs()).unwrap_or(i32::MAX));
        }
        if let Some(n) = spec.tail {
            opts = opts.tail(&n.to_string());
        }
        self.docker
            .logs(id, Some(opts.build()))
            .take_while(|item| std::future::ready(item.is_ok()))
            .filter_map(|item| std::future::ready(item.ok().map(Channel::of)))
    }

    /// Removes a network.
    ///
    /// # Errors
    /// The engine refuses (a container still uses it).
    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .remove_network(name)
            .await
            .map_err(EngineError::call(format!("remove network {name}")))
    }

    /// Removes a volume.
    ///
    /// # Errors
    /// The engine refuses (a container still uses it).
    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        self.docker
            .remove_volume(name, None::<RemoveVolumeOptions>)
            .await
            .map_err(EngineError::call(format!("remove volume {name}")))
    }

    /// Whether the engine has this image.
    pub async fn has_image(&self, image: &str) -> bool {
        self.docker.inspect_image(image).await.is_ok()
    }
}
