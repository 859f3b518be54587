//! Compose scalars -> Kubernetes quantities and seconds.

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use skiff_model::compose::Duration;

/// CPUs as a quantity: whole CPUs (`2`) or millicores (`500m`).
pub(crate) fn cpus(cpus: f32) -> Option<Quantity> {
    if cpus <= 0.0 || !cpus.is_finite() {
        return None;
    }
    let millis = (f64::from(cpus) * 1000.0).round();
    // Saturating float-to-int conversion is what we want for absurd inputs.
    let millis = millis.max(1.0) as u64;
    Some(Quantity(if millis.is_multiple_of(1000) {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }))
}

/// Bytes as a quantity in the largest binary unit that divides them exactly (`512Mi`).
pub(crate) fn bytes(bytes: i64) -> Option<Quantity> {
    if bytes <= 0 {
        return None;
    }
    Some(Quantity(bytes_text(bytes)))
}

pub(crate) fn bytes_text(bytes: i64) -> String {
    for (unit, size) in [
        ("Ti", 1i64 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ] {
        if bytes % size == 0 {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

/// A duration in whole seconds, rounded up, at least `min`.
pub(crate) fn seconds(d: Duration, min: i64) -> i64 {
    let nanos = d.0.max(0);
    let secs = nanos / 1_000_000_000 + i64::from(nanos % 1_000_000_000 != 0);
    secs.max(min)
}

/// Parses a size such as `64m` or `1g` (a `tmpfs` option) into bytes.
pub(crate) fn parse_size(text: &str) -> Option<i64> {
    skiff_model::compose::ram_in_bytes(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_quantities() {
        assert_eq!(cpus(0.5), Some(Quantity("500m".into())));
        assert_eq!(cpus(2.0), Some(Quantity("2".into())));
        assert_eq!(cpus(0.25), Some(Quantity("250m".into())));
        assert_eq!(cpus(1.5), Some(Quantity("1500m".into())));
        assert_eq!(cpus(0.0), None);
    }

    #[test]
    fn byte_quantities() {
        assert_eq!(bytes(512 << 20), Some(Quantity("512Mi".into())));
        assert_eq!(bytes(1 << 30), Some(Quantity("1Gi".into())));
        assert_eq!(bytes(1000), Some(Quantity("1000".into())));
        assert_eq!(bytes(0), None);
    }

    #[test]
    fn seconds_round_up() {
        assert_eq!(seconds(Duration(1_500_000_000), 1), 2);
        assert_eq!(seconds(Duration(0), 1), 1);
        assert_eq!(seconds(Duration(30_000_000_000), 1), 30);
    }
}
