//! Kubernetes naming rules, applied to names that Compose allows more freely.

/// Turns a Compose name into an RFC 1123 label (`[a-z0-9-]`, at most 63 characters, starting
/// and ending with an alphanumeric): lower case, other characters become `-`.
pub(crate) fn dns_label(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    truncate_label(out.trim_matches('-'), 63)
}

/// Cuts a label to `max` characters without leaving a trailing `-`; an empty result becomes `x`.
pub(crate) fn truncate_label(s: &str, max: usize) -> String {
    let cut: String = s.chars().take(max).collect();
    let cut = cut.trim_end_matches('-');
    if cut.is_empty() {
        "x".to_owned()
    } else {
        cut.to_owned()
    }
}

/// A name derived from a label and a suffix (`api` + `env` = `api-env`) that stays a label.
pub(crate) fn suffixed(base: &str, suffix: &str) -> String {
    let room = 63usize.saturating_sub(suffix.len() + 1);
    format!("{}-{suffix}", truncate_label(base, room))
}

/// Longest name of a StatefulSet (its pods are labelled `controller-revision-hash:
/// <name>-<hash>`, a label value of at most 63 characters) and of a CronJob (the API server
/// refuses more, to name its Jobs `<name>-<time>`). Services' names are kept within it, since
/// all of a service's objects share its name.
pub(crate) const WORKLOAD_NAME_MAX: usize = 52;

/// The name of a service's objects: a DNS-1035 label (a Service's name must start with a
/// letter, so `1api` becomes `svc-1api`) of at most [`WORKLOAD_NAME_MAX`] characters.
pub(crate) fn service_name(name: &str) -> String {
    let label = dns_label(name);
    let label = if label.starts_with(|c: char| c.is_ascii_digit()) {
        format!("svc-{label}")
    } else {
        label
    };
    truncate_label(&label, WORKLOAD_NAME_MAX)
}

/// The longest name an object of a kind may have.
pub(crate) fn max_name_len(kind: &str) -> usize {
    match kind {
        "CronJob" | "StatefulSet" => WORKLOAD_NAME_MAX,
        _ => 63,
    }
}

/// [`suffixed`], within `max` characters.
pub(crate) fn suffixed_within(base: &str, suffix: &str, max: usize) -> String {
    let room = max.saturating_sub(suffix.len() + 1);
    format!("{}-{suffix}", truncate_label(base, room))
}

/// Whether a string is a valid ConfigMap or Secret key (`[-._a-zA-Z0-9]+`, at most 253).
pub(crate) fn is_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && key != "."
        && key != ".."
}

/// Turns any string into a ConfigMap or Secret key.
pub(crate) fn data_key(key: &str) -> String {
    if is_data_key(key) {
        return key.to_owned();
    }
    let mut out: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(253)
        .collect();
    if out.is_empty() || out == "." || out == ".." {
        out = "key".to_owned();
    }
    out
}

/// Whether a string is a valid label or annotation key: an optional DNS-subdomain prefix and
/// `/`, then a name of at most 63 characters of `[-._a-zA-Z0-9]` starting and ending with an
/// alphanumeric.
pub(crate) fn is_qualified_name(key: &str) -> bool {
    let (prefix, name) = match key.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= 253
            && p.split('.').all(|part| {
                !part.is_empty()
                    && part
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                    && !part.starts_with('-')
                    && !part.ends_with('-')
            })
    });
    name_ok && prefix_ok
}

/// A port name for a Service or container port (IANA service name: at most 15 characters of
/// `[a-z0-9-]` with at least one letter), from the Compose port's name or its protocol and number.
pub(crate) fn port_name(declared: &str, protocol: &str, port: u32) -> String {
    let candidate = dns_label(declared);
    if !declared.is_empty()
        && candidate.len() <= 15
        && candidate.chars().any(|c| c.is_ascii_lowercase())
        && !candidate.contains("--")
    {
        return candidate;
    }
    format!("{}-{port}", protocol.to_ascii_lowercase())
}

/// FNV-1a, 64 bits: a stable hash for the config-hash annotation (not for security).
pub(crate) fn fnv1a(bytes: impl IntoIterator<Item = u8>, mut state: u64) -> u64 {
    for b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    state
}

/// FNV-1a's offset basis.
pub(crate) const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_follow_rfc1123() {
        for (input, want) in [
            ("api", "api"),
            ("My_Service", "my-service"),
            ("web.v2", "web-v2"),
            ("__x__", "x"),
            ("a__b", "a-b"),
            ("", "x"),
            (&"a".repeat(70), &"a".repeat(63)),
        ] {
            assert_eq!(dns_label(input), want, "{input}");
        }
        assert_eq!(suffixed(&"b".repeat(63), "env").len(), 63);
    }

    /// Regression: a Service named `1api` and a StatefulSet named with 63 characters pass the
    /// schema check, but the API server refuses the first and cannot label the second's pods.
    #[test]
    fn service_names_start_with_a_letter_and_leave_room_for_pod_labels() {
        for (input, want) in [
            ("api", "api".to_owned()),
            ("1api", "svc-1api".to_owned()),
            ("2_FA", "svc-2-fa".to_owned()),
            (&"a".repeat(70), "a".repeat(52)),
        ] {
            assert_eq!(service_name(input), want, "{input}");
        }
        assert_eq!(suffixed_within(&"b".repeat(52), "2", 52).len(), 52);
        assert_eq!(max_name_len("CronJob"), 52);
        assert_eq!(max_name_len("Deployment"), 63);
    }

    #[test]
    fn qualified_names() {
        assert!(is_qualified_name("com.example.description"));
        assert!(is_qualified_name("example.com/owner"));
        assert!(!is_qualified_name("Example.com/owner"));
        assert!(!is_qualified_name("has space"));
        assert!(!is_qualified_name(&"a".repeat(64)));
    }

    #[test]
    fn port_names() {
        assert_eq!(port_name("", "tcp", 8080), "tcp-8080");
        assert_eq!(port_name("http", "tcp", 80), "http");
        assert_eq!(port_name("12345", "udp", 53), "udp-53");
        assert_eq!(port_name("a-very-long-port-name", "tcp", 1), "tcp-1");
    }

    #[test]
    fn data_keys() {
        assert_eq!(data_key("app.conf"), "app.conf");
        assert_eq!(data_key("my key/x"), "my_key_x");
    }
}
