//! Stub until the real module lands.
#[derive(Debug, thiserror::Error)]
#[error("invalid port {0:?}")]
pub struct PortSpecError(pub String);
pub fn parse_port(
    spec: &serde_json::Value,
) -> Result<Vec<serde_json::Map<String, serde_json::Value>>, PortSpecError> {
    match spec {
        serde_json::Value::Object(m) => Ok(vec![m.clone()]),
        other => Err(PortSpecError(other.to_string())),
    }
}
