//! What `skiff ps` lists: one row per container and per process of the stack, with the same
//! keys for both (`name`, `service`, `runtime`, `state`, `status`, `ports`), as JSON values
//! the terminal prints as a table or as they are.

use std::time::Duration;

use skiff_docker::Engine;

use crate::stack::Stack;

/// The engine or the process records could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PsError(String);

/// Every instance of the stack, containers first, in no particular order.
///
/// # Errors
/// The engine or the state directory cannot be read.
pub async fn rows(
    stack: &Stack,
    engine: Option<&Engine>,
) -> Result<Vec<serde_json::Value>, PsError> {
    let mut rows: Vec<serde_json::Value> = Vec::new();
    if let Some(engine) = &engine {
        let containers = engine
            .containers(&stack.name)
            .await
            .map_err(|e| PsError(e.to_string()))?;
        rows.extend(containers.iter().map(|c| {
            let ports: Vec<String> = c
                .ports
                .iter()
                .map(|p| match (p.host_ip.as_deref(), p.published) {
                    (Some(ip), Some(published)) => {
                        format!("{ip}:{published}->{}/{}", p.target, p.protocol)
                    }
                    _ => format!("{}/{}", p.target, p.protocol),
                })
                .collect();
            serde_json::json!({
                "name": c.name,
                "service": c.service,
                "runtime": "container",
                "image": c.image,
                "state": c.state,
                "status": c.status,
                "ports": ports,
            })
        }));
    }
    if stack.has_process_state() {
        let observed = skiff_process::observe(&stack.state_dir, &stack.name)
            .map_err(|e| PsError(e.to_string()))?;
        rows.extend(observed.iter().map(process_row));
    }
    Ok(rows)
}

/// A process instance as a `ps` row (the same keys as a container's).
fn process_row(o: &skiff_process::Observation) -> serde_json::Value {
    use skiff_process::ObservedState;
    let r = &o.record;
    let (state, status) = match o.state {
        ObservedState::Running => {
            let up = chrono::DateTime::parse_from_rfc3339(&r.started_at)
                .ok()
                .and_then(|t| std::time::SystemTime::from(t).elapsed().ok())
                .map_or_else(String::new, |d| format!(" {}", human(d)));
            let health = match r.health {
                Some(h) => format!(
                    " ({})",
                    serde_json::to_value(h)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default()
                ),
                None => String::new(),
            };
            let unsupervised = if o.supervised { "" } else { " (unsupervised)" };
            ("running", format!("Up{up}{health}{unsupervised}"))
        }
        ObservedState::Restarting { last_exit } => (
            "restarting",
            format!("Restarting ({})", last_exit.code().unwrap_or(-1)),
        ),
        ObservedState::Exited(exit) => {
            ("exited", format!("Exited ({})", exit.code().unwrap_or(-1)))
        }
    };
    serde_json::json!({
        "name": r.name,
        "service": r.service,
        "runtime": "process",
        "pid": if state == "exited" { None } else { Some(r.pid) },
        "state": state,
        "status": status,
        "health": r.health,
        "restarts": r.restarts,
        "supervised": o.supervised,
        "command": r.argv,
        "ports": Vec::<String>::new(),
    })
}

/// Docker's way of saying how long: `5 seconds`, `3 minutes`, `2 hours`, `4 days`.
fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = match s {
        0..60 => (s, "second"),
        60..3600 => (s / 60, "minute"),
        3600..86_400 => (s / 3600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_docker_says_them() {
        assert_eq!(human(Duration::from_secs(1)), "1 second");
        assert_eq!(human(Duration::from_secs(59)), "59 seconds");
        assert_eq!(human(Duration::from_secs(120)), "2 minutes");
        assert_eq!(human(Duration::from_secs(7200)), "2 hours");
    }
}
