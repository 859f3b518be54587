//! Whether a workload has rolled out, by the rules of `kubectl rollout status`
//! (`k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go`). Pure: the caller polls.

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};

/// Where a rollout stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rollout {
    /// Every replica runs the current template and is available.
    Done,
    /// Still going, and what it waits for.
    Progressing(String),
    /// It will not finish by waiting (a Deployment past its progress deadline).
    Failed(String),
}

/// The rollout of a Deployment.
#[must_use]
pub fn deployment(d: &Deployment) -> Rollout {
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = &d.status else {
        return Rollout::Progressing("waiting for the deployment to be observed".to_owned());
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return Rollout::Progressing(
            "waiting for the deployment spec update to be observed".to_owned(),
        );
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return Rollout::Failed("exceeded its progress deadline".to_owned());
    }
    let updated = status.updated_replicas.unwrap_or(0);
    let current = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if let Some(wanted) = d.spec.as_ref().and_then(|s| s.replicas)
        && updated < wanted
    {
        return Rollout::Progressing(format!("{updated} of {wanted} new replicas updated"));
    }
    if current > updated {
        return Rollout::Progressing(format!(
            "{} old replicas pending termination",
            current - updated
        ));
    }
    if available < updated {
        return Rollout::Progressing(format!(
            "{available} of {updated} updated replicas available"
        ));
    }
    Rollout::Done
}

/// The rollout of a StatefulSet.
#[must_use]
pub fn stateful_set(s: &StatefulSet) -> Rollout {
    let generation = s.metadata.generation.unwrap_or(0);
    let Some(status) = &s.status else {
        return Rollout::Progressing("waiting for the statefulset to be observed".to_owned());
    };
    let observed = status.observed_generation.unwrap_or(0);
    if observed == 0 || generation > observed {
        return Rollout::Progressing(
            "waiting for the statefulset spec update to be observed".to_owned(),
        );
    }
    let spec = s.spec.as_ref();
    let wanted = spec.and_then(|s| s.replicas).unwrap_or(1);
    let ready = status.ready_replicas.unwrap_or(0);
    if ready < wanted {
        return Rollout::Progressing(format!("{ready} of {wanted} pods ready"));
    }
    let strategy = spec.and_then(|s| s.update_strategy.as_ref());
    if strategy.and_then(|u| u.type_.as_deref()) == Some("OnDelete") {
        return Rollout::Done;
    }
    let partition = strategy
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0);
    if partition > 0 {
        let updated = status.updated_replicas.unwrap_or(0);
        return if updated < wanted - partition {
            Rollout::Progressing(format!(
                "{updated} of {} pods updated (partitioned rollout)",
                wanted - partition
            ))
        } else {
            Rollout::Done
        };
    }
    if status.update_revision != status.current_revision {
        return Rollout::Progressing(format!(
            "{} pods at revision {}",
            status.updated_replicas.unwrap_or(0),
            status.update_revision.as_deref().unwrap_or("?")
        ));
    }
    Rollout::Done
}

/// The rollout of a DaemonSet.
#[must_use]
pub fn daemon_set(d: &DaemonSet) -> Rollout {
    let on_delete = d
        .spec
        .as_ref()
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.type_.as_deref())
        == Some("OnDelete");
    if on_delete {
        return Rollout::Done;
    }
    let generation = d.metadata.generation.unwrap_or(0);
    let Some(status) = &d.status else {
        return Rollout::Progressing("waiting for the daemonset to be observed".to_owned());
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return Rollout::Progressing(
            "waiting for the daemonset spec update to be observed".to_owned(),
        );
    }
    let desired = status.desired_number_scheduled;
    let updated = status.updated_number_scheduled.unwrap_or(0);
    if updated < desired {
        return Rollout::Progressing(format!("{updated} of {desired} updated pods scheduled"));
    }
    let available = status.number_available.unwrap_or(0);
    if available < desired {
        return Rollout::Progressing(format!("{available} of {desired} updated pods available"));
    }
    Rollout::Done
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check<T: serde::de::DeserializeOwned>(
        status: fn(&T) -> Rollout,
        object: serde_json::Value,
        expect: &Rollout,
    ) {
        let typed: T = serde_json::from_value(object).expect("object");
        assert_eq!(&status(&typed), expect);
    }

    fn progressing(s: &str) -> Rollout {
        Rollout::Progressing(s.to_owned())
    }

    #[test]
    fn deployments() {
        let d = |generation: i64, replicas: i32, status: serde_json::Value| {
            json!({"metadata": {"name": "web", "generation": generation},
                   "spec": {"replicas": replicas, "selector": {}, "template": {}},
                   "status": status})
        };
        for (object, expect) in [
            (
                d(2, 3, json!({"observedGeneration": 1})),
                progressing("waiting for the deployment spec update to be observed"),
            ),
            (
                d(
                    2,
                    3,
                    json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 1}),
                ),
                progressing("1 of 3 new replicas updated"),
            ),
            (
                d(
                    2,
                    3,
                    json!({"observedGeneration": 2, "replicas": 4, "updatedReplicas": 3}),
                ),
                progressing("1 old replicas pending termination"),
            ),
            (
                d(
                    2,
                    3,
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                           "availableReplicas": 2}),
                ),
                progressing("2 of 3 updated replicas available"),
            ),
            (
                d(
                    2,
                    3,
                    json!({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 3,
                           "availableReplicas": 3}),
                ),
                Rollout::Done,
            ),
            (
                d(
                    2,
                    3,
                    json!({"observedGeneration": 2, "conditions": [{"type": "Progressing",
                           "status": "False", "reason": "ProgressDeadlineExceeded"}]}),
                ),
                Rollout::Failed("exceeded its progress deadline".to_owned()),
            ),
        ] {
            check(deployment, object, &expect);
        }
    }

    #[test]
    fn stateful_sets() {
        let s = |status: serde_json::Value, partition: i32| {
            json!({"metadata": {"name": "db", "generation": 3},
                   "spec": {"replicas": 2, "selector": {}, "serviceName": "db", "template": {},
                            "updateStrategy": {"type": "RollingUpdate",
                                               "rollingUpdate": {"partition": partition}}},
                   "status": status})
        };
        for (object, expect) in [
            (
                s(json!({"replicas": 0, "observedGeneration": 0}), 0),
                progressing("waiting for the statefulset spec update to be observed"),
            ),
            (
                s(
                    json!({"replicas": 2, "observedGeneration": 3, "readyReplicas": 1}),
                    0,
                ),
                progressing("1 of 2 pods ready"),
            ),
            (
                s(
                    json!({"replicas": 2, "observedGeneration": 3, "readyReplicas": 2,
                           "updatedReplicas": 1, "currentRevision": "db-1",
                           "updateRevision": "db-2"}),
                    0,
                ),
                progressing("1 pods at revision db-2"),
            ),
            (
                s(
                    json!({"replicas": 2, "observedGeneration": 3, "readyReplicas": 2,
                           "updatedReplicas": 1, "currentRevision": "db-1",
                           "updateRevision": "db-2"}),
                    1,
                ),
                Rollout::Done,
            ),
            (
                s(
                    json!({"replicas": 2, "observedGeneration": 3, "readyReplicas": 2,
                           "updatedReplicas": 2, "currentRevision": "db-2",
                           "updateRevision": "db-2"}),
                    0,
                ),
                Rollout::Done,
            ),
        ] {
            check(stateful_set, object, &expect);
        }
    }

    #[test]
    fn daemon_sets() {
        let d = |status: serde_json::Value| {
            json!({"metadata": {"name": "agent", "generation": 1},
                   "spec": {"selector": {}, "template": {}}, "status": status})
        };
        let base = json!({"observedGeneration": 1, "currentNumberScheduled": 2,
                          "numberMisscheduled": 0, "numberReady": 0,
                          "desiredNumberScheduled": 2});
        let with = |extra: serde_json::Value| {
            let mut v = base.clone();
            if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
                v.extend(extra.clone());
            }
            v
        };
        for (object, expect) in [
            (
                d(with(json!({"updatedNumberScheduled": 1}))),
                progressing("1 of 2 updated pods scheduled"),
            ),
            (
                d(with(
                    json!({"updatedNumberScheduled": 2, "numberAvailable": 1}),
                )),
                progressing("1 of 2 updated pods available"),
            ),
            (
                d(with(
                    json!({"updatedNumberScheduled": 2, "numberAvailable": 2}),
                )),
                Rollout::Done,
            ),
        ] {
            check(daemon_set, object, &expect);
        }
    }
}
