//! Loading a stack for a command: the flags to a loader request, the files to a
//! [`skiff_host::stack::Stack`], and its errors rendered (file, line, column, hint).

use skiff_host::stack::{LoadOptions, Stack, StackError};

use crate::cli::ProjectArgs;
use crate::commands::config::request;
use crate::diagnostic::report;

/// Loads the compose files the flags name and splits the services by runtime.
///
/// # Errors
/// Every loader error and every check of [`Stack::from_loaded`], rendered.
pub fn load_stack(project: &ProjectArgs, opts: LoadOptions<'_>) -> miette::Result<Stack> {
    let mut req = request(project)?;
    req.services = opts.services.to_vec();
    req.consistency = opts.consistency;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    // A stack of containers only works without a state directory (no HOME in a CI job).
    let state = skiff_process::state_dir(|k| std::env::var(k).ok());
    Stack::from_loaded(&loaded, opts.native, state).map_err(|e| match e {
        StackError::Invalid(e) => report(e, &loaded.sources),
        other => stack_error(&other),
    })
}

/// A stack error without the files at hand, with its help apart.
#[must_use]
pub fn stack_error(e: &StackError) -> miette::Report {
    match e.help() {
        Some(help) => miette::miette!(help = help.to_owned(), "{e}"),
        None => miette::miette!("{e}"),
    }
}
