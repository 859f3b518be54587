//! The input: a loaded stack.

use std::collections::BTreeMap;

use skiff_model::compose::Project;
use skiff_model::xskiff::{Extension, ServiceExtension};

/// A loaded stack: the Compose project and skiff's extension, as the loader returns them
/// (`Loaded { project, extensions: { project, services }, .. }`).
#[derive(Debug, Clone, Copy)]
pub struct Stack<'a> {
    pub project: &'a Project,
    /// The top-level `x-skiff` section.
    pub skiff: &'a Extension,
    /// Each service's `x-skiff` key, by service name.
    pub services: &'a BTreeMap<String, ServiceExtension>,
}

impl<'a> Stack<'a> {
    #[must_use]
    pub fn new(
        project: &'a Project,
        skiff: &'a Extension,
        services: &'a BTreeMap<String, ServiceExtension>,
    ) -> Stack<'a> {
        Stack {
            project,
            skiff,
            services,
        }
    }

    /// Whether a service runs as a host process under skiff rather than in a container.
    pub(crate) fn is_process(&self, service: &str) -> bool {
        self.services
            .get(service)
            .is_some_and(|x| x.runtime == skiff_model::xskiff::Runtime::Process)
    }
}
