//! Stub until the real module lands.
#[derive(Debug, thiserror::Error)]
#[error("invalid volume spec {0:?}")]
pub struct VolumeSpecError(pub String);
pub fn parse_volume(
    spec: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, VolumeSpecError> {
    let mut m = serde_json::Map::new();
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [t] => {
            m.insert("type".into(), "volume".into());
            m.insert("target".into(), (*t).into());
        }
        [s, t, ..] => {
            let bind = s.starts_with('.') || s.starts_with('/') || s.starts_with('~');
            m.insert("type".into(), if bind { "bind" } else { "volume" }.into());
            m.insert("source".into(), (*s).into());
            m.insert("target".into(), (*t).into());
            if bind {
                m.insert("bind".into(), serde_json::json!({"create_host_path": true}));
            } else {
                m.insert("volume".into(), serde_json::json!({}));
            }
        }
        [] => return Err(VolumeSpecError(spec.to_owned())),
    }
    Ok(m)
}
