//! Stub until the real module lands.
use crate::template::Lookup;
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DotenvError {
    #[error("line {line}: {message}")]
    Syntax { line: usize, message: String },
}
pub fn parse(
    content: &str,
    lookup: Lookup<'_>,
) -> Result<indexmap::IndexMap<String, String>, DotenvError> {
    let _ = lookup;
    let mut m = indexmap::IndexMap::new();
    for l in content.lines() {
        if let Some((k, v)) = l.split_once('=') {
            m.insert(k.trim().to_owned(), v.to_owned());
        }
    }
    Ok(m)
}
