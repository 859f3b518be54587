//! `x-skiff.jobs` and `x-skiff.backups` -> CronJobs.

use std::collections::BTreeMap;

use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    Affinity, Container, EnvVar, EnvVarSource, PersistentVolumeClaim, PersistentVolumeClaimSpec,
    PersistentVolumeClaimVolumeSource, PodAffinity, PodAffinityTerm, PodSpec, PodTemplateSpec,
    SecretKeySelector, Volume, VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use skiff_model::xskiff::{Backup, Consistency, Overlap};

use super::{Context, Object, SecretValues, config, labels, workload};
use crate::names;
use crate::report::NoteKind;

/// Image that archives a volume (it needs `tar`, `gzip`, `date` and a shell).
const ARCHIVER_IMAGE: &str = "busybox:1.37";
/// Image of `pg_dump` for a database reached by URL.
const PG_DUMP_IMAGE: &str = "postgres:17";

/// One CronJob per job, running the service's pod with the job's command.
pub(super) fn jobs(cx: &mut Context<'_>) {
    for (key, job) in &cx.stack.skiff.jobs {
        let path = format!("x-skiff.jobs.{key}");
        let Some(mut template) = service_pod(cx, &job.service) else {
            cx.note(
                NoteKind::NotCarried,
                &path,
                format!(
                    "runs as {:?}, which is not exported as a container",
                    job.service
                ),
                "give the service an image",
            );
            continue;
        };
        let name = cx.unique("CronJob", &names::dns_label(key));
        let service = cx.name(&job.service);
        let mut pod_labels = cx.common_labels();
        pod_labels.insert(labels::SERVICE.to_owned(), service.clone());
        pod_labels.insert(labels::JOB.to_owned(), name.clone());
        if let Some(meta) = &mut template.metadata {
            meta.labels = Some(pod_labels.clone());
        }
        if let Some(spec) = &mut template.spec {
            spec.restart_policy = Some("Never".to_owned());
            for c in &mut spec.containers {
                c.readiness_probe = None;
                c.liveness_probe = None;
                c.startup_probe = None;
                c.lifecycle = None;
                c.ports = None;
                if !job.command.is_empty() {
                    c.args = Some(job.command.clone());
                }
            }
            if has_claims(spec) {
                spec.affinity = Some(beside(&service));
                cx.note(
                    NoteKind::Approximated,
                    &path,
                    format!(
                        "mounts {service}'s volume: the job's pods are placed on the node of a \
                         {service} pod so that a ReadWriteOnce claim can be shared"
                    ),
                    "drop the affinity if the claim is ReadWriteMany",
                );
            }
        }
        let timeout = job
            .timeout
            .map(|t| i64::try_from(t.0.as_secs().max(1)).unwrap_or(i64::MAX));
        let timing = Timing {
            schedule: job.schedule.0.clone(),
            suspend: false,
            overlap: job.overlap,
            timeout,
            retries: job.retries,
            // As skiff runs them: in the job's zone, UTC when none is given.
            time_zone: Some(
                job.timezone
                    .as_ref()
                    .map_or("Etc/UTC", |t| t.0.name())
                    .to_owned(),
            ),
        };
        let cron = cron_job(cx, &name, timing, pod_labels, template);
        cx.push(Object::CronJob(cron));
    }
}

/// The pod template of a service, built on demand for a service a profile disables.
fn service_pod(cx: &mut Context<'_>, service: &str) -> Option<PodTemplateSpec> {
    if let Some(t) = cx.pods.get(service) {
        return Some(t.clone());
    }
    let config = cx.stack.project.disabled_services.get(service)?;
    if cx.stack.is_process(service) && config.image.is_empty() {
        return None;
    }
    Some(workload::pod_template(cx, service, config))
}

fn has_claims(spec: &PodSpec) -> bool {
    spec.volumes
        .iter()
        .flatten()
        .any(|v| v.persistent_volume_claim.is_some())
}

/// Required affinity to the node of a service's pods.
fn beside(service: &str) -> Affinity {
    Affinity {
        pod_affinity: Some(PodAffinity {
            required_during_scheduling_ignored_during_execution: Some(vec![PodAffinityTerm {
                label_selector: Some(LabelSelector {
                    match_labels: Some(BTreeMap::from([(
                        labels::NAME.to_owned(),
                        service.to_owned(),
                    )])),
                    ..LabelSelector::default()
                }),
                topology_key: "kubernetes.io/hostname".to_owned(),
                ..PodAffinityTerm::default()
            }]),
            ..PodAffinity::default()
        }),
        ..Affinity::default()
    }
}

/// When and how a CronJob runs.
struct Timing {
    schedule: String,
    /// Created suspended: runs only when asked (`kubectl create job --from=cronjob/...`).
    suspend: bool,
    /// What a run due while the previous one still runs does.
    overlap: Overlap,
    /// Seconds after which a run is stopped.
    timeout: Option<i64>,
    /// Attempts after a failed one.
    retries: u32,
    /// The IANA zone the schedule is read in; `None` leaves it to the cluster.
    time_zone: Option<String>,
}

fn cron_job(
    cx: &Context<'_>,
    name: &str,
    timing: Timing,
    pod_labels: BTreeMap<String, String>,
    template: PodTemplateSpec,
) -> CronJob {
    let Timing {
        schedule,
        suspend,
        overlap,
        timeout,
        retries,
        time_zone,
    } = timing;
    CronJob {
        metadata: cx.meta(name, &[]),
        spec: Some(CronJobSpec {
            schedule,
            suspend: suspend.then_some(true),
            concurrency_policy: Some(
                match overlap {
                    Overlap::Forbid => "Forbid",
                    Overlap::Allow => "Allow",
                    Overlap::Replace => "Replace",
                }
                .to_owned(),
            ),
            time_zone,
            job_template: JobTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(pod_labels),
                    ..ObjectMeta::default()
                }),
                spec: Some(JobSpec {
                    backoff_limit: Some(i32::try_from(retries).unwrap_or(i32::MAX)),
                    active_deadline_seconds: timeout,
                    template,
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}

fn time_zone_note(cx: &mut Context<'_>, path: &str) {
    cx.note(
        NoteKind::Approximated,
        path,
        "CronJobs without spec.timeZone follow the controller manager's time zone, UTC on most \
         clusters",
        "set spec.timeZone (e.g. Europe/Paris) where a schedule assumed the host's local time",
    );
}

/// Quotes a word for `sh`.
fn sh_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | ':' | '='))
    {
        return s.to_owned();
    }
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// One CronJob per backup of a PostgreSQL database or a named volume, writing to a claim of
/// its own.
pub(super) fn backups(cx: &mut Context<'_>) {
    let mut any = false;
    for (key, backup) in &cx.stack.skiff.backups {
        let path = format!("x-skiff.backups.{key}");
        let name = cx.unique("CronJob", &names::dns_label(&format!("backup-{key}")));
        let Some(source) = source(cx, &path, &name, key, backup) else {
            continue;
        };
        any = true;
        let claim = cx.unique("PersistentVolumeClaim", &name);
        cx.push(Object::PersistentVolumeClaim(PersistentVolumeClaim {
            metadata: cx.meta(&claim, &[(labels::BACKUP, &names::dns_label(key))]),
            spec: Some(PersistentVolumeClaimSpec {
                access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
                resources: Some(VolumeResourceRequirements {
                    requests: Some(BTreeMap::from([(
                        "storage".to_owned(),
                        Quantity(cx.options.volume_size.clone()),
                    )])),
                    ..VolumeResourceRequirements::default()
                }),
                storage_class_name: cx.options.storage_class.clone(),
                ..PersistentVolumeClaimSpec::default()
            }),
            ..PersistentVolumeClaim::default()
        }));
        destinations(cx, &path, &claim, backup);
        unsupported(cx, &path, backup);

        let mut volumes = vec![Volume {
            name: "backup".to_owned(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: claim,
                read_only: None,
            }),
            ..Volume::default()
        }];
        let mut mounts = vec![VolumeMount {
            name: "backup".to_owned(),
            mount_path: "/backup".to_owned(),
            ..VolumeMount::default()
        }];
        if let Some((claim, _)) = &source.data {
            volumes.push(Volume {
                name: "data".to_owned(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                    claim_name: claim.clone(),
                    read_only: Some(true),
                }),
                ..Volume::default()
            });
            mounts.push(VolumeMount {
                name: "data".to_owned(),
                mount_path: "/data".to_owned(),
                read_only: Some(true),
                ..VolumeMount::default()
            });
        }
        let mut pod_labels = cx.common_labels();
        pod_labels.insert(labels::BACKUP.to_owned(), names::dns_label(key));
        if let Some(service) = &source.runs_as {
            pod_labels.insert(labels::SERVICE.to_owned(), service.clone());
        }
        let affinity = source
            .data
            .as_ref()
            .and_then(|(_, owner)| owner.as_deref())
            .map(beside);
        let template = PodTemplateSpec {
            metadata: Some(ObjectMeta {
                labels: Some(pod_labels.clone()),
                ..ObjectMeta::default()
            }),
            spec: Some(PodSpec {
                restart_policy: Some("Never".to_owned()),
                enable_service_links: Some(false),
                affinity,
                containers: vec![Container {
                    name: "backup".to_owned(),
                    image: Some(source.image),
                    command: Some(vec!["/bin/sh".to_owned(), "-c".to_owned(), source.script]),
                    env: (!source.env.is_empty()).then_some(source.env),
                    volume_mounts: Some(mounts),
                    ..Container::default()
                }],
                volumes: Some(volumes),
                ..PodSpec::default()
            }),
        };
        let (schedule, suspend) = match &backup.schedule {
            Some(s) => (s.0.clone(), false),
            None => {
                cx.note(
                    NoteKind::Approximated,
                    format!("{path}.schedule"),
                    format!(
                        "no schedule: the CronJob {name:?} is suspended and runs only when asked"
                    ),
                    format!("run it with kubectl create job --from=cronjob/{name} {name}-manual"),
                );
                ("0 0 * * *".to_owned(), true)
            }
        };
        let timing = Timing {
            schedule,
            suspend,
            overlap: Overlap::Forbid,
            timeout: None,
            retries: 0,
            time_zone: None,
        };
        let cron = cron_job(cx, &name, timing, pod_labels, template);
        cx.push(Object::CronJob(cron));
    }
    if any {
        time_zone_note(cx, "x-skiff.backups");
    }
}

/// What a backup's pod runs.
struct Source {
    image: String,
    script: String,
    env: Vec<EnvVar>,
    /// The service whose network identity the pod takes (so boundaries admit it).
    runs_as: Option<String>,
    /// A claim to archive, and the service whose node it must run on.
    data: Option<(String, Option<String>)>,
}

fn source(
    cx: &mut Context<'_>,
    path: &str,
    name: &str,
    key: &str,
    backup: &Backup,
) -> Option<Source> {
    let file = |ext: &str| {
        format!(
            "/backup/{}-$(date -u +%Y%m%dT%H%M%SZ).{ext}",
            names::dns_label(key)
        )
    };
    if let Some(pg) = &backup.postgres {
        if let Some(service) = &pg.service {
            let Some(config) = cx.stack.project.services.get(service) else {
                cx.note(
                    NoteKind::NotCarried,
                    format!("{path}.postgres.service"),
                    format!("{service:?} is not an enabled service of the stack"),
                    "name the service that runs PostgreSQL",
                );
                return None;
            };
            let host = cx.name(service);
            let user = pg.user.clone().unwrap_or_else(|| "postgres".to_owned());
            let database = pg.database.clone().unwrap_or_else(|| user.clone());
            let mut env = Vec::new();
            if let Some((object, keys)) = cx.env_secrets.get(service)
                && keys.iter().any(|k| k == "POSTGRES_PASSWORD")
            {
                env.push(EnvVar {
                    name: "PGPASSWORD".to_owned(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: object.clone(),
                            key: "POSTGRES_PASSWORD".to_owned(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                });
            }
            return Some(Source {
                image: workload::image(&cx.stack.project.name, service, config),
                script: format!(
                    "pg_dump --host={} --username={} --dbname={} --format=custom --file={}",
                    sh_quote(&host),
                    sh_quote(&user),
                    sh_quote(&database),
                    file("dump")
                ),
                env,
                runs_as: Some(host),
                data: None,
            });
        }
        if let Some(url) = &pg.url {
            let secret = cx.unique("Secret", &names::suffixed(name, "url"));
            let value = match cx.options.secret_values {
                SecretValues::Include => url.clone().into_bytes(),
                SecretValues::Omit => {
                    cx.note(
                        NoteKind::ActionNeeded,
                        format!("{path}.postgres.url"),
                        format!("the URL may hold a password: Secret {secret:?} carries it empty"),
                        format!("fill it: kubectl create secret generic {secret} --from-literal=url=URL --dry-run=client -o yaml | kubectl apply -f -"),
                    );
                    Vec::new()
                }
            };
            let object =
                config::secret_object(cx, &secret, BTreeMap::from([("url".to_owned(), value)]));
            cx.push(Object::Secret(object));
            cx.note(
                NoteKind::Approximated,
                format!("{path}.postgres"),
                format!("pg_dump runs from the image {PG_DUMP_IMAGE}"),
                "use the image of the server's major version",
            );
            return Some(Source {
                image: PG_DUMP_IMAGE.to_owned(),
                script: format!(
                    "pg_dump --dbname=\"$DATABASE_URL\" --format=custom --file={}",
                    file("dump")
                ),
                env: vec![EnvVar {
                    name: "DATABASE_URL".to_owned(),
                    value_from: Some(EnvVarSource {
                        secret_key_ref: Some(SecretKeySelector {
                            name: secret,
                            key: "url".to_owned(),
                            optional: None,
                        }),
                        ..EnvVarSource::default()
                    }),
                    ..EnvVar::default()
                }],
                runs_as: None,
                data: None,
            });
        }
    }
    if let Some(volume) = &backup.volume {
        let Some(claim) = cx.claims.get(volume).cloned() else {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.volume"),
                format!("{volume:?} is not a named volume of the stack"),
                "name a volume declared under `volumes`",
            );
            return None;
        };
        let owner = cx.volume_users.get(volume).and_then(|u| u.first()).cloned();
        if backup.consistency.unwrap_or_default() == Consistency::Pause {
            cx.note(
                NoteKind::Approximated,
                format!("{path}.consistency"),
                "pause: Kubernetes cannot pause the services using the volume; it is archived \
                 while they run",
                "take a VolumeSnapshot (CSI snapshots) and archive the snapshot, or use Velero",
            );
        }
        let owner_k8s = owner.as_ref().map(|o| cx.name(o));
        return Some(Source {
            image: ARCHIVER_IMAGE.to_owned(),
            script: format!("tar -czf {} -C /data .", file("tar.gz")),
            env: Vec::new(),
            runs_as: owner_k8s.clone(),
            data: Some((claim, owner_k8s)),
        });
    }
    if let Some(host_path) = &backup.path {
        cx.note(
            NoteKind::NotCarried,
            format!("{path}.path"),
            format!("backs up the host directory {host_path:?}, which pods do not see"),
            "move the data into a named volume, or back the host up outside Kubernetes",
        );
        return None;
    }
    cx.note(
        NoteKind::NotCarried,
        path,
        "the backup names no source that can be carried over",
        "back up a PostgreSQL service or a named volume",
    );
    None
}

fn destinations(cx: &mut Context<'_>, path: &str, claim: &str, backup: &Backup) {
    for (i, to) in backup.to.iter().enumerate() {
        if to.starts_with("s3://") {
            cx.note(
                NoteKind::NotCarried,
                format!("{path}.to[{i}]"),
                format!("the upload to {to} is not carried over; backups stay in the claim {claim:?}"),
                "add an upload step (rclone, aws s3 cp) to the CronJob, or use Velero with object storage",
            );
        } else {
            cx.note(
                NoteKind::Approximated,
                format!("{path}.to[{i}]"),
                format!("backups are written to the claim {claim:?} instead of {to:?}"),
                "copy them out with kubectl cp, or send them to object storage",
            );
        }
    }
}

fn unsupported(cx: &mut Context<'_>, path: &str, backup: &Backup) {
    if backup.keep.is_some() {
        cx.note(
            NoteKind::NotCarried,
            format!("{path}.keep"),
            "retention is not carried over: old backups are never deleted",
            "prune in the CronJob's script, or use the object store's lifecycle rules",
        );
    }
    if backup.encrypt.is_some() {
        cx.note(
            NoteKind::NotCarried,
            format!("{path}.encrypt"),
            "encryption to age recipients is not carried over: backups are written in clear",
            "pipe the dump through age in an image that has it, or encrypt the storage",
        );
    }
    if backup.verify.is_some() {
        cx.note(
            NoteKind::NotCarried,
            format!("{path}.verify"),
            "restore drills are not carried over",
            "a second CronJob that restores the latest backup into a scratch database and runs \
             the checks",
        );
    }
}
