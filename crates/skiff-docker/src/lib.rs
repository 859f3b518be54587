//! The Docker Engine driver: observes a project's containers, networks and volumes through
//! Compose's labels, and carries out plan actions. The only crate that knows bollard.

pub mod attach;
pub mod backup;
pub mod build;
pub mod convert;
pub mod engine;
pub mod events;
pub mod hash;
pub mod labels;
pub mod oneoff;
pub mod project;

pub use attach::{Channel, ExecSpec, LogsSpec};
pub use engine::{Engine, EngineError};
pub use events::{ContainerChange, ContainerEvent};
