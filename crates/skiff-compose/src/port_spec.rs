//! The short syntax of a service's `ports:` entries: `[[HOST_IP:]HOST_PORTS:]CONTAINER_PORTS[/PROTO]`.
//!
//! `parse_port` turns one entry (a string or a bare number) into the long-syntax objects compose
//! builds for it, one per container port: a container range expands into several objects. The
//! rules are docker's (the `nat` port-spec parser that compose-go relies on): the host IP is what
//! precedes the last two colons, optionally in brackets; port numbers are plain decimal up to
//! 65535; a host range facing a single container port is kept whole as `published`; the objects
//! come out sorted by their `PORT/PROTO` text, so `8-10` yields 10, 8, 9.

use serde_json::{Map, Value};

/// Why a short-syntax port entry was rejected. `reason` is docker compose's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid port {spec:?}: {reason}")]
pub struct PortSpecError {
    pub spec: String,
    pub reason: String,
}

/// Parses one short-syntax entry (a JSON string or integer) into long-syntax port objects.
pub fn parse_port(spec: &Value) -> Result<Vec<Map<String, Value>>, PortSpecError> {
    let text = match spec {
        Value::String(s) => s.clone(),
        Value::Number(n) if n.is_i64() || n.is_u64() => n.to_string(),
        other => {
            let kind = match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a fractional number",
                Value::Array(_) => "a sequence",
                Value::Object(_) => "a mapping",
                Value::String(_) => "a string",
            };
            return Err(PortSpecError {
                spec: other.to_string(),
                reason: format!("expected a string or an integer, got {kind}"),
            });
        }
    };
    parse_short(&text).map_err(|reason| PortSpecError { spec: text, reason })
}

/// One container port and what it is bound to on the host.
struct Mapping {
    /// `PORT/PROTO`, the order key.
    key: String,
    target: u16,
    published: String,
}

fn parse_short(raw: &str) -> Result<Vec<Map<String, Value>>, String> {
    let (ip, host_ports, container) = split_parts(raw);
    let (proto, container) = split_proto(container);
    let proto = proto.to_lowercase();
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }

    let ip = if ip.starts_with('[') {
        unbracket(ip).map_err(|why| format!("invalid IP address {ip}: {why}"))?
    } else {
        ip
    };
    if !ip.is_empty() && !is_ip(ip) {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }

    let (start, end) =
        port_range(container).ok_or_else(|| format!("invalid containerPort: {container}"))?;
    let mut host = None;
    if !host_ports.is_empty() {
        let (host_start, host_end) =
            port_range(host_ports).ok_or_else(|| format!("invalid hostPort: {host_ports}"))?;
        // A host range may face a container range of the same length, or a single port.
        if end - start != host_end - host_start && end != start {
            return Err(format!(
                "invalid ranges specified for container and host Ports: {container} and {host_ports}"
            ));
        }
        host = Some((host_start, host_end));
    }

    let single = start == end;
    let mut mappings: Vec<Mapping> = (start..=end)
        .map(|port| {
            let offset = port - start;
            let published = match host {
                None => String::new(),
                Some((host_start, host_end)) if single && host_start != host_end => {
                    format!("{host_start}-{host_end}")
                }
                Some((host_start, _)) => (u32::from(host_start) + u32::from(offset)).to_string(),
            };
            Mapping {
                key: format!("{port}/{proto}"),
                target: port,
                published,
            }
        })
        .collect();
    mappings.sort_by(|a, b| a.key.cmp(&b.key));

    Ok(mappings
        .into_iter()
        .map(|m| {
            let mut out = Map::default();
            out.insert("mode".into(), "ingress".into());
            if !ip.is_empty() {
                out.insert("host_ip".into(), ip.into());
            }
            // Empty fields are left out, as compose does (so a target of 0 disappears).
            if m.target != 0 {
                out.insert("target".into(), m.target.into());
            }
            if !m.published.is_empty() {
                out.insert("published".into(), m.published.into());
            }
            out.insert("protocol".into(), proto.clone().into());
            out
        })
        .collect())
}

/// Splits at colons: the last part is the container side, the one before it the host ports, and
/// everything before those (colons included) the host IP.
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let Some((rest, container)) = raw.rsplit_once(':') else {
        return ("", "", raw);
    };
    match rest.rsplit_once(':') {
        Some((ip, host)) => (ip, host, container),
        None => ("", rest, container),
    }
}

/// Splits `PORTS/PROTO` at the first slash; the protocol defaults to tcp, and both are empty when
/// there is no port.
fn split_proto(raw: &str) -> (&str, &str) {
    let (port, proto) = raw.split_once('/').unwrap_or((raw, ""));
    if port.is_empty() {
        ("", "")
    } else if proto.is_empty() {
        ("tcp", port)
    } else {
        (proto, port)
    }
}

/// `START[-END]`: decimal numbers up to 65535 (digits only), END not below START. Text after a
/// second dash is ignored.
fn port_range(text: &str) -> Option<(u16, u16)> {
    let mut parts = text.split('-');
    let start = port_number(parts.next()?)?;
    let end = match parts.next() {
        None => start,
        Some(end) => port_number(end)?,
    };
    (end >= start).then_some((start, end))
}

fn port_number(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The address inside `[...]`: the first `]` must end the text and no other `[` may appear.
fn unbracket(ip: &str) -> Result<&str, String> {
    let with_port = format!("{ip}:");
    let why = match ip.find(']') {
        None => "missing ']' in address",
        Some(close) if close + 1 == ip.len() => {
            let inner = &ip[1..close];
            if inner.contains('[') {
                "unexpected '[' in address"
            } else {
                return Ok(inner);
            }
        }
        Some(close) if ip.as_bytes().get(close + 1) == Some(&b':') => "too many colons in address",
        Some(_) => "missing port in address",
    };
    Err(format!("address {with_port}: {why}"))
}

/// An IPv4 or IPv6 address as Go's `net.ParseIP` accepts it: dotted quads without leading
/// zeros, IPv6 with at most one `::` and an optional trailing IPv4 part, no zone.
fn is_ip(text: &str) -> bool {
    for b in text.bytes() {
        match b {
            b'.' => return is_ipv4(text.as_bytes()),
            b':' => return is_ipv6(text.as_bytes()),
            b'%' => return false,
            _ => {}
        }
    }
    false
}

fn is_ipv4(text: &[u8]) -> bool {
    let mut fields = 0;
    for field in text.split(|&b| b == b'.') {
        fields += 1;
        let valid = !field.is_empty()
            && field.iter().all(u8::is_ascii_digit)
            && (field.len() == 1 || field[0] != b'0')
            && field.len() <= 3
            && field
                .iter()
                .fold(0u32, |acc, d| acc * 10 + u32::from(d - b'0'))
                <= 255;
        if !valid {
            return false;
        }
    }
    fields == 4
}

fn is_ipv6(text: &[u8]) -> bool {
    // A zone (`%...`) is never accepted.
    if text.contains(&b'%') {
        return false;
    }
    let mut rest = text;
    // Byte offset (0..=16) where the `::` sits, if any.
    let mut ellipsis = None;
    if rest.starts_with(b"::") {
        ellipsis = Some(0);
        rest = &rest[2..];
        if rest.is_empty() {
            return true;
        }
    }
    let mut filled = 0usize;
    while filled < 16 {
        let digits = rest.iter().take_while(|b| b.is_ascii_hexdigit()).count();
        if digits == 0 || digits > 4 {
            return false;
        }
        if rest.get(digits) == Some(&b'.') {
            // An IPv4 tail takes the last four bytes.
            if (ellipsis.is_none() && filled != 12) || filled + 4 > 16 || !is_ipv4(rest) {
                return false;
            }
            filled += 4;
            rest = &[];
            break;
        }
        filled += 2;
        rest = &rest[digits..];
        let Some((&first, after)) = rest.split_first() else {
            break;
        };
        if first != b':' || after.is_empty() {
            return false;
        }
        rest = after;
        if let Some(after) = rest.strip_prefix(b":") {
            if ellipsis.is_some() {
                return false;
            }
            ellipsis = Some(filled);
            rest = after;
            if rest.is_empty() {
                break;
            }
        }
    }
    // The `::` must stand for at least one group, and without it all eight are needed.
    rest.is_empty() && (filled < 16) == ellipsis.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A long-syntax object; `ip` and `published` are left out when empty, `target` when 0.
    fn port(ip: &str, target: u16, published: &str, proto: &str) -> Value {
        let mut m = Map::default();
        m.insert("mode".into(), "ingress".into());
        if !ip.is_empty() {
            m.insert("host_ip".into(), ip.into());
        }
        if target != 0 {
            m.insert("target".into(), target.into());
        }
        if !published.is_empty() {
            m.insert("published".into(), published.into());
        }
        m.insert("protocol".into(), proto.into());
        Value::Object(m)
    }

    fn tcp(target: u16, published: &str) -> Value {
        port("", target, published, "tcp")
    }

    fn udp(target: u16, published: &str) -> Value {
        port("", target, published, "udp")
    }

    enum Want {
        Ports(Vec<Value>),
        /// The reason docker compose gives.
        Error(&'static str),
    }
    use Want::{Error, Ports};

    fn cases() -> Vec<(&'static str, Want)> {
        vec![
            // compose-go types.TestParsePortConfig (errors as docker compose v2.40.3 words them)
            ("80", Ports(vec![tcp(80, "")])),
            ("80:8080", Ports(vec![tcp(8080, "80")])),
            ("80-90:8080", Ports(vec![tcp(8080, "80-90")])),
            ("8080:80/tcp", Ports(vec![tcp(80, "8080")])),
            ("80:8080/udp", Ports(vec![udp(8080, "80")])),
            (
                "80-81:8080-8081/tcp",
                Ports(vec![tcp(8080, "80"), tcp(8081, "81")]),
            ),
            (
                "80-82:8080-8082/udp",
                Ports(vec![udp(8080, "80"), udp(8081, "81"), udp(8082, "82")]),
            ),
            ("80-82:8080/udp", Ports(vec![udp(8080, "80-82")])),
            ("80-80:8080/tcp", Ports(vec![tcp(8080, "80")])),
            ("9999999", Error("invalid containerPort: 9999999")),
            ("80/xyz", Error("invalid proto: xyz")),
            ("tcp", Error("invalid containerPort: tcp")),
            ("udp", Error("invalid containerPort: udp")),
            ("", Error("invalid proto: ")),
            (
                "1.1.1.1:80:80",
                Ports(vec![port("1.1.1.1", 80, "80", "tcp")]),
            ),
            // compose-go transform.Test_transformPorts and the cg-ports corpus
            (
                "127.0.0.1:8080:80",
                Ports(vec![port("127.0.0.1", 80, "8080", "tcp")]),
            ),
            (
                "127.0.0.1:8081:81",
                Ports(vec![port("127.0.0.1", 81, "8081", "tcp")]),
            ),
            ("127.0.1:8080:80", Error("invalid IP address: 127.0.1")),
            ("127.0.0.1", Error("invalid containerPort: 127.0.0.1")),
            ("1.1.1.1", Error("invalid containerPort: 1.1.1.1")),
            ("8080", Ports(vec![tcp(8080, "")])),
            ("8081", Ports(vec![tcp(8081, "")])),
            ("81", Ports(vec![tcp(81, "")])),
            ("82", Ports(vec![tcp(82, "")])),
            ("80-82", Ports(vec![tcp(80, ""), tcp(81, ""), tcp(82, "")])),
            ("80-90", Ports((80..=90).map(|p| tcp(p, "")).collect())),
            // full-example.yml
            (
                "3001-3005",
                Ports((3001..=3005).map(|p| tcp(p, "")).collect()),
            ),
            ("8000:8000", Ports(vec![tcp(8000, "8000")])),
            (
                "9090-9091:8080-8081",
                Ports(vec![tcp(8080, "9090"), tcp(8081, "9091")]),
            ),
            ("49100:22", Ports(vec![tcp(22, "49100")])),
            (
                "127.0.0.1:5000-5002:5000-5002",
                Ports(
                    (5000..=5002)
                        .map(|p| port("127.0.0.1", p, &p.to_string(), "tcp"))
                        .collect(),
                ),
            ),
            ("6005-6015:80", Ports(vec![tcp(80, "6005-6015")])),
            ("9080:6060/udp", Ports(vec![udp(6060, "9080")])),
            // objects come out in the order of their "PORT/PROTO" text
            ("8-10", Ports(vec![tcp(10, ""), tcp(8, ""), tcp(9, "")])),
            (
                "1099-1101:99-101",
                Ports(vec![tcp(100, "1100"), tcp(101, "1101"), tcp(99, "1099")]),
            ),
            // protocols
            ("80/UDP", Ports(vec![udp(80, "")])),
            ("80/sctp", Ports(vec![port("", 80, "", "sctp")])),
            ("80/", Ports(vec![tcp(80, "")])),
            ("/udp", Error("invalid proto: ")),
            ("80/tcp/x", Error("invalid proto: tcp/x")),
            ("80/XYZ", Error("invalid proto: xyz")),
            // numbers
            ("0", Ports(vec![tcp(0, "")])),
            ("0080:080", Ports(vec![tcp(80, "80")])),
            ("65535", Ports(vec![tcp(65535, "")])),
            ("65536", Error("invalid containerPort: 65536")),
            ("+80", Error("invalid containerPort: +80")),
            ("-80", Error("invalid containerPort: -80")),
            ("80-", Error("invalid containerPort: 80-")),
            ("90-80", Error("invalid containerPort: 90-80")),
            ("8 0", Error("invalid containerPort: 8 0")),
            (
                "80-82-99",
                Ports(vec![tcp(80, ""), tcp(81, ""), tcp(82, "")]),
            ),
            ("abc:80", Error("invalid hostPort: abc")),
            ("90-80:80", Error("invalid hostPort: 90-80")),
            (
                "80:8080-8081",
                Error("invalid ranges specified for container and host Ports: 8080-8081 and 80"),
            ),
            (
                "80-82:8080-8081",
                Error("invalid ranges specified for container and host Ports: 8080-8081 and 80-82"),
            ),
            (":80", Ports(vec![tcp(80, "")])),
            ("::80", Ports(vec![tcp(80, "")])),
            (
                "127.0.0.1::80",
                Ports(vec![port("127.0.0.1", 80, "", "tcp")]),
            ),
            // host IPs
            (
                "0.0.0.0:80:80",
                Ports(vec![port("0.0.0.0", 80, "80", "tcp")]),
            ),
            ("[::1]:80:80", Ports(vec![port("::1", 80, "80", "tcp")])),
            ("::1:80:80", Ports(vec![port("::1", 80, "80", "tcp")])),
            (
                "[1.2.3.4]:80:80/udp",
                Ports(vec![port("1.2.3.4", 80, "80", "udp")]),
            ),
            ("[]:80:80", Ports(vec![tcp(80, "80")])),
            (
                "[::ffff:10.0.0.1]:8080-8081:80-81",
                Ports(vec![
                    port("::ffff:10.0.0.1", 80, "8080", "tcp"),
                    port("::ffff:10.0.0.1", 81, "8081", "tcp"),
                ]),
            ),
            (
                "[::1:80:80",
                Error("invalid IP address [::1: address [::1:: missing ']' in address"),
            ),
            (
                "[::1]x:80:80",
                Error("invalid IP address [::1]x: address [::1]x:: missing port in address"),
            ),
            (
                "[::1]:1:80:80",
                Error("invalid IP address [::1]:1: address [::1]:1:: too many colons in address"),
            ),
            (
                "[[::1]:80:80",
                Error("invalid IP address [[::1]: address [[::1]:: unexpected '[' in address"),
            ),
            ("[1.2.3]:80:80", Error("invalid IP address: 1.2.3")),
            ("80:80:80:80", Error("invalid IP address: 80:80")),
            ("127.0.0.01:80:80", Error("invalid IP address: 127.0.0.01")),
            (
                "fe80::1%eth0:80:80",
                Error("invalid IP address: fe80::1%eth0"),
            ),
            ("localhost:80:80", Error("invalid IP address: localhost")),
            (
                "${HOST_IP}:${HOST_PORT}:80",
                Error("invalid IP address: ${HOST_IP}"),
            ),
        ]
    }

    #[test]
    fn short_syntax_table() {
        for (spec, want) in cases() {
            let got = parse_port(&json!(spec));
            match want {
                Ports(expected) => {
                    let got: Vec<Value> = got
                        .unwrap_or_else(|e| panic!("{spec:?}: unexpected error {e}"))
                        .into_iter()
                        .map(Value::Object)
                        .collect();
                    assert_eq!(got, expected, "{spec:?}");
                }
                Error(reason) => {
                    let err = got.expect_err(spec);
                    assert_eq!(err.reason, reason, "{spec:?}");
                    assert_eq!(err.spec, spec);
                }
            }
        }
    }

    #[test]
    fn key_order_is_composes() {
        let got = parse_port(&json!("127.0.0.1:8080:80/udp")).expect("valid");
        let keys: Vec<&str> = got[0].keys().map(String::as_str).collect();
        assert_eq!(keys, ["mode", "host_ip", "target", "published", "protocol"]);
    }

    #[test]
    fn numbers() {
        assert_eq!(
            parse_port(&json!(3000)).expect("valid"),
            parse_port(&json!("3000")).expect("valid")
        );
        let err = parse_port(&json!(-1)).expect_err("negative");
        assert_eq!(err.reason, "invalid containerPort: -1");
        let err = parse_port(&json!(99_999_999_999_u64)).expect_err("too big");
        assert_eq!(err.reason, "invalid containerPort: 99999999999");
        assert!(parse_port(&json!(80.5)).is_err());
        assert!(parse_port(&json!(true)).is_err());
        assert!(parse_port(&Value::Null).is_err());
    }

    #[test]
    fn error_message() {
        let err = parse_port(&json!("127.0.1:8080:80")).expect_err("bad ip");
        assert_eq!(
            err.to_string(),
            r#"invalid port "127.0.1:8080:80": invalid IP address: 127.0.1"#
        );
    }

    #[test]
    fn ip_addresses_as_go_reads_them() {
        let valid = [
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "::",
            "::1",
            "1::",
            "fe80::1",
            "2001:db8::ff00:42:8329",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "::1.2.3.4",
            "::ffff:1.2.3.4",
            "1:2:3:4:5:6:1.2.3.4",
            "1::1.2.3.4",
            "ABCD:ef01::",
        ];
        for ip in valid {
            assert!(is_ip(ip), "{ip} should be valid");
        }
        let invalid = [
            "",
            "1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.256",
            "01.2.3.4",
            "1.2.3.4 ",
            "1..2.3",
            ".1.2.3",
            "1.2.3.",
            ":",
            ":::",
            "1:2",
            "1::2::3",
            "12345::1",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8::",
            "::1:2:3:4:5:6:7:8",
            "1:2:3:4:5:1.2.3.4",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3",
            "::01.2.3.4",
            "::a.2.3.4",
            "1:",
            ":1",
            "1:2:3:4:5:6:7:",
            "fe80::1%eth0",
            "%eth0",
            "g::1",
            "1.2.3.4:",
        ];
        for ip in invalid {
            assert!(!is_ip(ip), "{ip} should be invalid");
        }
    }

    /// Tiny deterministic generator, so that the no-panic sweep needs no extra crate.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    #[test]
    fn never_panics() {
        const ALPHABET: &[char] = &[
            '0', '1', '8', '9', '6', '5', ':', ':', '-', '/', '[', ']', '.', 't', 'u', 'c', 'p',
            'a', 'f', '%', ' ', 'é', '\0',
        ];
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        for _ in 0..20_000 {
            let len = usize::try_from(rng.next() % 24).unwrap_or(0);
            let spec: String = (0..len)
                .map(|_| ALPHABET[usize::try_from(rng.next()).unwrap_or(0) % ALPHABET.len()])
                .collect();
            if let Ok(ports) = parse_port(&json!(spec)) {
                assert!(!ports.is_empty(), "{spec:?}");
            }
        }
    }
}
