//! skiff's `x-skiff` extension (placeholder until the typed model lands).

/// The JSON schema of the `x-skiff` extension.
#[must_use]
pub fn json_schema() -> serde_json::Value {
    serde_json::json!({"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "x-skiff"})
}
