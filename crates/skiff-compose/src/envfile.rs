//! Reading env files (`.env`, `--env-file`, `include.env_file`, a service's `env_file`).

use indexmap::IndexMap;

use crate::error::{LoadError, Result};
use crate::loader::Files;

/// Reads env files in order; a later file sees the variables of the earlier ones, and the
/// current environment takes precedence in lookups.
///
/// # Errors
/// A file that is missing, a directory, or malformed.
pub fn read_env_files(
    files: &dyn Files,
    current: &IndexMap<String, String>,
    names: &[String],
) -> Result<IndexMap<String, String>> {
    let mut out: IndexMap<String, String> = IndexMap::new();
    for name in names {
        if files.is_dir(name) {
            return Err(LoadError::new(format!("{name} is a directory")));
        }
        let text = files
            .read(name)
            .map_err(|_| LoadError::new(format!("couldn't find env file: {name}")))?;
        // Earlier files' variables are in `out`, which the parser consults itself; the current
        // environment is the lookup.
        crate::dotenv::parse_into(&text, &|k: &str| current.get(k).cloned(), &mut out)
            .map_err(|e| LoadError::new(format!("failed to read {name}: {e}")))?;
    }
    Ok(out)
}
