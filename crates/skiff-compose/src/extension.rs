//! Decoding skiff's `x-skiff` extension from a loaded model, with positions and suggestions,
//! and the checks a declaration must pass before anything runs it: a backup names exactly one
//! source that the stack has, at least one destination, recipients when it encrypts, and
//! drill checks of its own kind. A mistake there is a load error pointing at the line, not a
//! failure of the nightly backup.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use skiff_model::xskiff::{Backup, Extension, ServiceExtension};

use crate::error::{LoadError, Result};
use crate::node::{Node, Value};

/// The top-level `x-skiff` section and each service's `x-skiff` key.
#[derive(Debug, Clone, Default)]
pub struct Extensions {
    pub project: Extension,
    pub services: BTreeMap<String, ServiceExtension>,
}

/// Decodes every `x-skiff` key of the model.
///
/// # Errors
/// Unknown keys (with the closest known one), wrong types, invalid schedules or durations,
/// located in the file.
pub fn decode(model: &Node) -> Result<Extensions> {
    decode_with(model, &[])
}

/// As [`decode`], knowing the services the active profiles left out of the model (a backup
/// may name one).
///
/// # Errors
/// As [`decode`].
pub fn decode_with(model: &Node, left_out: &[String]) -> Result<Extensions> {
    let mut out = Extensions::default();
    if let Some(x) = model.get("x-skiff") {
        out.project = typed(x, "x-skiff")?;
        let names = |key: &str| -> Vec<String> {
            model
                .get(key)
                .and_then(Node::as_map)
                .map(|m| m.keys().map(|k| k.name.clone()).collect())
                .unwrap_or_default()
        };
        let mut services = names("services");
        services.extend(left_out.iter().cloned());
        let stack = Declared {
            services,
            volumes: names("volumes"),
        };
        if let Err(p) = check_backups(&out.project, &stack) {
            return Err(LoadError::at(span_at(x, &p.at), p.message()).with_help(p.help));
        }
    }
    if let Some(services) = model.get("services").and_then(Node::as_map) {
        for (name, s) in services {
            if let Some(x) = s.get("x-skiff") {
                let ext: ServiceExtension = typed(x, &format!("services.{}.x-skiff", name.name))?;
                out.services.insert(name.name.clone(), ext);
            }
        }
    }
    Ok(out)
}

/// Decodes every `x-skiff` key of a canonical Compose dict (a project already loaded and
/// checked: errors are in words, without positions). `left_out`: the services the loading
/// profiles left out (a backup may name one).
///
/// # Errors
/// A key that does not decode, with its path.
pub fn decode_json(
    model: &serde_json::Value,
    left_out: &[String],
) -> std::result::Result<Extensions, String> {
    fn one<T: DeserializeOwned>(v: &serde_json::Value, at: &str) -> std::result::Result<T, String> {
        serde_path_to_error::deserialize::<_, T>(v.clone()).map_err(|e| format!("{at}: {e}"))
    }
    let mut out = Extensions::default();
    if let Some(x) = model.get("x-skiff") {
        out.project = one(x, "x-skiff")?;
        let names = |key: &str| -> Vec<String> {
            model
                .get(key)
                .and_then(serde_json::Value::as_object)
                .map(|m| m.keys().cloned().collect())
                .unwrap_or_default()
        };
        let mut services = names("services");
        services.extend(left_out.iter().cloned());
        let stack = Declared {
            services,
            volumes: names("volumes"),
        };
        check_backups(&out.project, &stack)
            .map_err(|p| format!("{} (help: {})", p.message(), p.help))?;
    }
    if let Some(services) = model.get("services").and_then(serde_json::Value::as_object) {
        for (name, s) in services {
            if let Some(x) = s.get("x-skiff") {
                out.services
                    .insert(name.clone(), one(x, &format!("services.{name}.x-skiff"))?);
            }
        }
    }
    Ok(out)
}

/// What a declared backup reads: exactly one of `postgres:` (by URL, or by a service of the
/// stack), `volume:` or `path:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupSource<'a> {
    /// `postgres: {url: postgres://user@host:port/db}`.
    PostgresUrl(&'a str),
    /// `postgres: {service: db, database: app, user: app}`.
    PostgresService {
        service: &'a str,
        database: Option<&'a str>,
        user: Option<&'a str>,
    },
    /// `volume: NAME`, a key of the top-level `volumes:`.
    Volume(&'a str),
    /// `path: DIR`, a directory on the host.
    Path(&'a str),
}

impl<'a> BackupSource<'a> {
    /// The one source a declaration names; `None` when it names none or several, which
    /// [`decode`] and [`decode_json`] refuse.
    #[must_use]
    pub fn of(b: &'a Backup) -> Option<BackupSource<'a>> {
        match (&b.postgres, &b.volume, &b.path) {
            (Some(pg), None, None) => match (&pg.url, &pg.service) {
                (Some(url), None) => Some(BackupSource::PostgresUrl(url)),
                (None, Some(service)) => Some(BackupSource::PostgresService {
                    service,
                    database: pg.database.as_deref(),
                    user: pg.user.as_deref(),
                }),
                _ => None,
            },
            (None, Some(volume), None) => Some(BackupSource::Volume(volume)),
            (None, None, Some(path)) => Some(BackupSource::Path(path)),
            _ => None,
        }
    }
}

/// The names in the stack that a backup may refer to.
struct Declared {
    services: Vec<String>,
    volumes: Vec<String>,
}

/// One step of a path under `x-skiff`.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// A declaration that cannot run: where under `x-skiff`, what is wrong, the likely fix.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Problem {
    at: Vec<Step>,
    what: String,
    help: String,
}

impl Problem {
    /// `x-skiff.backups.appdb.to: names no destination`.
    fn message(&self) -> String {
        let mut path = "x-skiff".to_owned();
        for step in &self.at {
            match step {
                Step::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        format!("{path}: {}", self.what)
    }
}

/// Checks every `x-skiff.backups` entry; the first problem found, in name order.
fn check_backups(ext: &Extension, stack: &Declared) -> std::result::Result<(), Problem> {
    for (name, b) in &ext.backups {
        check_backup(name, b, stack)?;
    }
    Ok(())
}

fn check_backup(name: &str, b: &Backup, stack: &Declared) -> std::result::Result<(), Problem> {
    let problem = |at: &[&str], what: String, help: String| {
        let mut path = vec![Step::Key("backups".to_owned()), Step::Key(name.to_owned())];
        path.extend(at.iter().map(|k| Step::Key((*k).to_owned())));
        Problem {
            at: path,
            what,
            help,
        }
    };
    let named: Vec<&str> = [
        ("postgres:", b.postgres.is_some()),
        ("volume:", b.volume.is_some()),
        ("path:", b.path.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect();
    if named.len() != 1 {
        return Err(problem(
            &[],
            format!(
                "a backup backs up exactly one thing (postgres:, volume: or path:), and this one names {}",
                if named.is_empty() {
                    "none".to_owned()
                } else {
                    named.join(" and ")
                }
            ),
            "write exactly one of postgres:, volume: or path:; declare one backup per source"
                .to_owned(),
        ));
    }
    if b.to.is_empty() {
        return Err(problem(
            &["to"],
            "names no destination".to_owned(),
            "add a directory (relative to the project directory) or s3://bucket/prefix".to_owned(),
        ));
    }
    if let Some(pg) = &b.postgres {
        let how = "write postgres: {url: postgres://user@host:port/db} or postgres: {service: db, database: app, user: app}";
        match (&pg.url, &pg.service) {
            (None, None) => {
                return Err(problem(
                    &["postgres"],
                    "needs a url or a service".to_owned(),
                    how.to_owned(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err(problem(
                    &["postgres"],
                    "names both a url and a service; give one".to_owned(),
                    how.to_owned(),
                ));
            }
            (None, Some(service)) if !stack.services.contains(service) => {
                return Err(problem(
                    &["postgres", "service"],
                    format!("the stack has no service {service:?}"),
                    format!(
                        "name one of the stack's services ({}); a service the active profiles leave out is not part of the stack",
                        listing(&stack.services)
                    ),
                ));
            }
            _ => {}
        }
    }
    if let Some(volume) = &b.volume
        && !stack.volumes.contains(volume)
    {
        return Err(problem(
            &["volume"],
            format!("the stack has no volume {volume:?}"),
            format!(
                "name a key of the top-level volumes: that a service mounts ({})",
                listing(&stack.volumes)
            ),
        ));
    }
    if let Some(e) = &b.encrypt
        && e.recipients.is_empty()
    {
        return Err(problem(
            &["encrypt", "recipients"],
            "is empty: an encrypted backup needs at least one age recipient".to_owned(),
            "list the age public keys (age1...) that may read the backups, or remove encrypt: to store them unencrypted".to_owned(),
        ));
    }
    let database = b.postgres.is_some();
    for (i, check) in b.verify.iter().flat_map(|v| v.checks.iter()).enumerate() {
        let file = check.starts_with("file:");
        if file == database {
            let mut p = problem(
                &["verify", "checks"],
                if database {
                    format!(
                        "{check:?} checks for a restored file, and a PostgreSQL backup restores a database"
                    )
                } else {
                    format!(
                        "{check:?} is an SQL check, and a {} backup restores files",
                        if b.volume.is_some() {
                            "volume"
                        } else {
                            "directory"
                        }
                    )
                },
                if database {
                    "write an SQL query that returns true, such as SELECT count(*) > 0 FROM users"
                        .to_owned()
                } else {
                    "write file:PATH to check that a file is in the restored tree".to_owned()
                },
            );
            p.at.push(Step::Index(i));
            return Err(p);
        }
    }
    Ok(())
}

/// `a, b` or `none`.
fn listing(names: &[String]) -> String {
    if names.is_empty() {
        "it declares none".to_owned()
    } else {
        names.join(", ")
    }
}

/// The span of what `path` leads to under `root`: a scalar's own span (a misnamed volume),
/// else the last key's (an entry, a list).
fn span_at(root: &Node, path: &[Step]) -> crate::node::Span {
    let mut node = root;
    let mut best = root.span;
    for step in path {
        let next = match (step, &node.value) {
            (Step::Key(k), Value::Map(m)) => m.get_key_value(k.as_str()).map(|(key, v)| {
                if !key.span.is_synthetic() {
                    best = key.span;
                }
                v
            }),
            (Step::Index(i), Value::Seq(items)) => items.get(*i).inspect(|v| {
                if !v.span.is_synthetic() {
                    best = v.span;
                }
            }),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => return best,
        }
    }
    match node.value {
        Value::String(_) if !node.span.is_synthetic() => node.span,
        _ => best,
    }
}

fn typed<T: DeserializeOwned>(node: &Node, at: &str) -> Result<T> {
    let json = node.to_json();
    serde_path_to_error::deserialize::<_, T>(json).map_err(|e| {
        let (target, key_span) = locate(node, e.path());
        let inner = e.inner().to_string();
        let path = e.path().to_string();
        let where_ = if path == "." {
            at.to_owned()
        } else {
            format!("{at}.{path}")
        };
        let mut err = LoadError::at(
            key_span.unwrap_or(target.span),
            format!("{where_}: {inner}"),
        );
        if let Some(help) = suggestion(&inner) {
            err = err.with_help(help);
        }
        err
    })
}

/// The node a serde path leads to, and the span of the last key on the way.
fn locate<'a>(
    root: &'a Node,
    path: &serde_path_to_error::Path,
) -> (&'a Node, Option<crate::node::Span>) {
    use serde_path_to_error::Segment;
    let mut node = root;
    let mut key_span = None;
    for seg in path.iter() {
        match (seg, &node.value) {
            (Segment::Map { key }, Value::Map(m)) => match m.get_key_value(key.as_str()) {
                Some((k, v)) => {
                    key_span = Some(k.span);
                    node = v;
                }
                None => break,
            },
            (Segment::Seq { index }, Value::Seq(items)) => match items.get(*index) {
                Some(v) => {
                    key_span = None;
                    node = v;
                }
                None => break,
            },
            _ => break,
        }
    }
    (node, key_span.filter(|s| !s.is_synthetic()))
}

/// "unknown field `backup`, expected one of `backups`, ..." -> "did you mean `backups`?"
fn suggestion(message: &str) -> Option<String> {
    let rest = message.strip_prefix("unknown field `")?;
    let (field, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    crate::suggest::closest(field, expected.iter().copied())
        .map(|s| format!("did you mean `{s}`?"))
        .or_else(|| Some(format!("known keys: {}", expected.join(", "))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::FileId;

    fn model(text: &str) -> Node {
        crate::yaml::parse(text, FileId(0)).expect("yaml").remove(0)
    }

    #[test]
    fn typo_in_section_suggests_the_key() {
        let err = decode(&model("x-skiff:\n  backup:\n    db: {}\n")).expect_err("typo");
        assert_eq!(err.help.as_deref(), Some("did you mean `backups`?"));
        let span = err.span.expect("located");
        assert_eq!((span.line, span.col), (2, 3));
    }

    #[test]
    fn service_extension_decodes() {
        let ext = decode(&model(
            "services:\n  api:\n    x-skiff: {runtime: process, command: [./api]}\n",
        ))
        .expect("ok");
        assert_eq!(
            ext.services["api"].runtime,
            skiff_model::xskiff::Runtime::Process
        );
    }

    #[test]
    fn bad_schedule_is_located() {
        let err = decode(&model(
            "x-skiff:\n  jobs:\n    nightly: {schedule: sometimes, service: w}\n",
        ))
        .expect_err("cron");
        assert!(
            err.message.contains("invalid cron schedule"),
            "{}",
            err.message
        );
        assert_eq!(err.span.map(|s| s.line), Some(3));
    }

    /// The stack every backup test declares its backups in: services `db` and `app`, volume
    /// `uploads`; `x-skiff.backups` is on line 7, its first entry's key on line 8.
    fn stack(backups: &str) -> String {
        format!(
            "services:\n  db: {{image: pg}}\n  app: {{image: app}}\nvolumes:\n  uploads: {{}}\nx-skiff:\n  backups:\n{backups}"
        )
    }

    /// Decoding refuses the stack with `message`, pointing at `line`:`col`, with a help line.
    fn refused(backups: &str, message: &str, (line, col): (u32, u32)) {
        let text = stack(backups);
        let err = decode(&model(&text)).expect_err("refused");
        assert_eq!(err.message, message);
        let span = err.span.expect("located");
        assert_eq!((span.line, span.col), (line, col), "{message}");
        assert!(err.help.is_some(), "{message}: no help");
        // The daemon's path, from the canonical dict: the same words, no position.
        let json = model(&text).to_json();
        let words = decode_json(&json, &[]).expect_err("refused from JSON too");
        assert!(words.starts_with(message), "{words}");
        assert!(
            words.contains(err.help.as_deref().unwrap_or_default()),
            "{words}"
        );
    }

    #[test]
    fn a_backup_names_exactly_one_source() {
        refused(
            "    appdb:\n      path: ./data\n      volume: uploads\n      to: [./repo]\n",
            "x-skiff.backups.appdb: a backup backs up exactly one thing (postgres:, volume: or path:), and this one names volume: and path:",
            (8, 5),
        );
        refused(
            "    appdb:\n      to: [./repo]\n",
            "x-skiff.backups.appdb: a backup backs up exactly one thing (postgres:, volume: or path:), and this one names none",
            (8, 5),
        );
    }

    #[test]
    fn a_backup_needs_a_destination() {
        refused(
            "    files:\n      path: ./data\n      to: []\n",
            "x-skiff.backups.files.to: names no destination",
            (10, 7),
        );
    }

    #[test]
    fn postgres_is_reached_by_url_or_by_a_service_of_the_stack() {
        refused(
            "    appdb:\n      postgres: {database: app}\n      to: [./repo]\n",
            "x-skiff.backups.appdb.postgres: needs a url or a service",
            (9, 7),
        );
        refused(
            "    appdb:\n      postgres: {url: 'postgres://a@h/app', service: db}\n      to: [./repo]\n",
            "x-skiff.backups.appdb.postgres: names both a url and a service; give one",
            (9, 7),
        );
        refused(
            "    appdb:\n      postgres:\n        service: dbx\n      to: [./repo]\n",
            "x-skiff.backups.appdb.postgres.service: the stack has no service \"dbx\"",
            (10, 18),
        );
    }

    #[test]
    fn a_volume_backup_names_a_volume_of_the_stack() {
        refused(
            "    uploads:\n      volume: upload\n      to: [./repo]\n",
            "x-skiff.backups.uploads.volume: the stack has no volume \"upload\"",
            (9, 15),
        );
    }

    #[test]
    fn encryption_needs_recipients() {
        refused(
            "    files:\n      path: ./data\n      to: [./repo]\n      encrypt:\n        recipients: []\n",
            "x-skiff.backups.files.encrypt.recipients: is empty: an encrypted backup needs at least one age recipient",
            (12, 9),
        );
    }

    #[test]
    fn drill_checks_are_of_the_backups_kind() {
        refused(
            "    appdb:\n      postgres: {service: db}\n      to: [./repo]\n      verify:\n        checks:\n          - SELECT true\n          - file:dump.sql\n",
            "x-skiff.backups.appdb.verify.checks[1]: \"file:dump.sql\" checks for a restored file, and a PostgreSQL backup restores a database",
            (14, 13),
        );
        refused(
            "    uploads:\n      volume: uploads\n      to: [./repo]\n      verify: {checks: [SELECT true]}\n",
            "x-skiff.backups.uploads.verify.checks[0]: \"SELECT true\" is an SQL check, and a volume backup restores files",
            (11, 25),
        );
    }

    #[test]
    fn backups_that_can_run_decode() {
        let text = stack(
            "    appdb:\n      postgres: {service: db, database: app}\n      to: [./repo, 's3://b/p']\n      verify: {checks: [SELECT true]}\n    files:\n      path: ~/data\n      to: [./repo]\n      encrypt: {recipients: [age1xyz]}\n      verify: {checks: ['file:a.txt']}\n    ext:\n      postgres: {url: 'postgres://a@h/app'}\n      to: [./repo]\n    uploads: {volume: uploads, to: [./repo]}\n",
        );
        let ext = decode(&model(&text)).expect("valid");
        assert_eq!(ext.project.backups.len(), 4);
        assert_eq!(
            BackupSource::of(&ext.project.backups["appdb"]),
            Some(BackupSource::PostgresService {
                service: "db",
                database: Some("app"),
                user: None
            })
        );
        assert_eq!(
            BackupSource::of(&ext.project.backups["ext"]),
            Some(BackupSource::PostgresUrl("postgres://a@h/app"))
        );
        assert_eq!(
            BackupSource::of(&ext.project.backups["uploads"]),
            Some(BackupSource::Volume("uploads"))
        );
        decode_json(&model(&text).to_json(), &[]).expect("valid from JSON too");
    }

    #[test]
    fn a_backup_may_name_a_service_the_profiles_leave_out() {
        let text = stack(
            "    appdb:\n      postgres: {service: reports, database: app}\n      to: [./repo]\n",
        );
        let left_out = ["reports".to_owned()];
        assert!(decode(&model(&text)).is_err(), "not declared at all");
        decode_with(&model(&text), &left_out).expect("declared, only left out");
        decode_json(&model(&text).to_json(), &left_out).expect("from JSON too");
    }
}
