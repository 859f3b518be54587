//! Stub until the real module lands.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TemplateError {
    #[error("invalid template: {template:?}")]
    Invalid { template: String },
    #[error("required variable {variable} is missing a value: {message}")]
    Required { variable: String, message: String },
}
pub struct VariableRef {
    pub name: String,
    pub has_default: bool,
}
pub fn substitute(template: &str, lookup: Lookup<'_>) -> Result<String, TemplateError> {
    let _ = lookup;
    Ok(template.to_owned())
}
pub fn variables(_template: &str) -> Vec<VariableRef> {
    Vec::new()
}
