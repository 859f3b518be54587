//! From the merged model to the project `docker compose config` prints: profiles, consistency
//! checks, environment and label files resolved, unused resources dropped.

use indexmap::IndexMap;

use crate::error::{LoadError, Result};
use crate::loader::Files;
use crate::node::{Key, Map, Node, Value};

/// What to do after loading the model.
pub struct Finish<'a> {
    pub files: &'a dyn Files,
    pub environment: &'a IndexMap<String, String>,
    pub profiles: &'a [String],
    pub consistency: bool,
    pub resolve_environment: bool,
    pub read_env_files: bool,
    /// Services named on the command line (they enable their profiles).
    pub selected: &'a [String],
}

/// Applies profiles and the checks and resolutions Compose performs on a loaded model.
/// Returns the services the profiles disabled.
///
/// # Errors
/// Inconsistent references, dependency cycles, missing env or label files.
pub fn finish(dict: &mut Node, f: &Finish<'_>) -> Result<Map> {
    // The services are moved out and back in, never copied.
    let mut services = dict
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(|n| match std::mem::replace(&mut n.value, Value::Null) {
            Value::Map(m) => Some(m),
            other => {
                n.value = other;
                None
            }
        })
        .unwrap_or_default();
    // Environment mappings are decoded to `name -> string | null` first: later steps need them.
    for (_, s) in services.iter_mut() {
        if let Some(m) = s.as_map_mut() {
            for key in ["environment", "labels"] {
                if let Some(e) = m.get_mut(key) {
                    *e = mapping_with_equals(e)?;
                }
            }
        }
    }
    // A service named on the command line enables its profiles.
    let mut profiles: Vec<String> = f.profiles.to_vec();
    let named: Vec<String> = f
        .selected
        .iter()
        .filter_map(|n| services.get(n.as_str()))
        .filter(|s| !has_profile(s, f.profiles))
        .flat_map(|s| string_list(s.get("profiles")))
        .collect();
    profiles.extend(named);
    let mut enabled = Map::default();
    let mut disabled = Map::default();
    for (k, s) in services {
        if has_profile(&s, &profiles) {
            enabled.insert(k, s);
        } else {
            disabled.insert(k, s);
        }
    }
    if let Some(top) = dict.as_map_mut() {
        let span = top
            .get("services")
            .map(|s| s.span)
            .unwrap_or(crate::node::Span::SYNTHETIC);
        top.insert(Key::from("services"), Node::new(Value::Map(enabled), span));
    }
    if f.consistency {
        check_consistency(dict, &disabled)?;
    }
    resolve_env_files(dict, f)?;
    resolve_label_files(dict, f)?;
    drop_unused_resources(dict);
    if f.consistency {
        check_container_names(dict)?;
    }
    Ok(disabled)
}

fn string_list(node: Option<&Node>) -> Vec<String> {
    node.and_then(Node::as_seq)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn has_profile(service: &Node, profiles: &[String]) -> bool {
    let own = string_list(service.get("profiles"));
    own.is_empty() || profiles.iter().any(|p| p == "*" || own.contains(p))
}

/// `["A=1", "B"]` or `{A: 1, B: null}` into `{A: "1", B: null}`.
fn mapping_with_equals(node: &Node) -> Result<Node> {
    let mut out = Map::default();
    match &node.value {
        Value::Seq(items) => {
            for i in items {
                let Some(s) = i.as_str() else {
                    return Err(LoadError::at(
                        i.span,
                        format!("unexpected value {i}, expected KEY=VALUE"),
                    ));
                };
                match s.split_once('=') {
                    Some((k, v)) => out.insert(
                        Key {
                            name: k.to_owned(),
                            span: i.span,
                        },
                        Node::new(Value::String(v.to_owned()), i.span),
                    ),
                    None => out.insert(
                        Key {
                            name: s.to_owned(),
                            span: i.span,
                        },
                        Node::new(Value::Null, i.span),
                    ),
                };
            }
        }
        Value::Map(m) => {
            for (k, v) in m {
                let value = match &v.value {
                    Value::Null => Value::Null,
                    Value::Map(_) | Value::Seq(_) => {
                        return Err(LoadError::at(
                            v.span,
                            format!("{}: expected a string, found {}", k.name, v.kind()),
                        ));
                    }
                    _ => Value::String(v.to_string()),
                };
                out.insert(k.clone(), Node::new(value, v.span));
            }
        }
        Value::Null => {}
        _ => {
            return Err(LoadError::at(
                node.span,
                format!("expected a list or a mapping, found {}", node.kind()),
            ));
        }
    }
    Ok(Node::new(Value::Map(out), node.span))
}

fn names(dict: &Node, key: &str) -> Vec<String> {
    dict.get(key)
        .and_then(Node::as_map)
        .map(|m| m.keys().map(|k| k.name.clone()).collect())
        .unwrap_or_default()
}

/// Whether a service says `x-skiff: {runtime: process}`: a host process needs no image.
fn runs_as_process(service: &Node) -> bool {
    service
        .get("x-skiff")
        .and_then(|x| x.get("runtime"))
        .and_then(Node::as_str)
        == Some("process")
}

#[expect(
    clippy::too_many_lines,
    reason = "one check after another, in Compose's order"
)]
fn check_consistency(dict: &Node, disabled: &Map) -> Result<()> {
    let networks = names(dict, "networks");
    let volumes = names(dict, "volumes");
    let secrets = names(dict, "secrets");
    let configs = names(dict, "configs");
    let models = names(dict, "models");
    let Some(services) = dict.get("services").and_then(Node::as_map) else {
        return Ok(());
    };
    for (key, s) in services {
        let name = &key.name;
        let at = |n: &Node, msg: String| LoadError::at(n.span, msg);
        let build = s.get("build");
        if build.is_none()
            && s.get("image").is_none()
            && s.get("provider").is_none()
            && !runs_as_process(s)
        {
            return Err(LoadError::at(
                key.span,
                format!("service {name:?} has neither an image nor a build context specified: invalid compose project"),
            )
            .with_help("add `image:` or `build:` to the service"));
        }
        if let Some(b) = build {
            if b.get("dockerfile_inline")
                .and_then(Node::as_str)
                .is_some_and(|s| !s.is_empty())
                && b.get("dockerfile")
                    .and_then(Node::as_str)
                    .is_some_and(|s| !s.is_empty())
            {
                return Err(at(
                    b,
                    format!(
                        "service {name:?} declares mutualy exclusive dockerfile and dockerfile_inline: invalid compose project"
                    ),
                ));
            }
            if let Some(ctx) = b.get("additional_contexts").and_then(Node::as_map) {
                for (add, c) in ctx {
                    if let Some(target) = c.as_str().and_then(|c| c.strip_prefix("service:")) {
                        match services.get(target) {
                            None => {
                                return Err(at(
                                    c,
                                    format!(
                                        "service {name:?} declares unknown service {target:?} as additional contexts {}",
                                        add.name
                                    ),
                                ));
                            }
                            Some(t) if t.get("build").is_none() => {
                                return Err(at(
                                    c,
                                    format!(
                                        "service {name:?} declares non-buildable service {target:?} as additional contexts {}",
                                        add.name
                                    ),
                                ));
                            }
                            Some(_) => {}
                        }
                    }
                }
            }
            let platforms = string_list(b.get("platforms"));
            if let Some(p) = s.get("platform").and_then(Node::as_str)
                && !platforms.is_empty()
                && !platforms.iter().any(|x| x == p)
            {
                return Err(at(
                    b,
                    format!(
                        "service.build.platforms MUST include service.platform {p:?}: invalid compose project"
                    ),
                ));
            }
        }
        let service_networks = s.get("networks").and_then(Node::as_map);
        if s.get("network_mode")
            .and_then(Node::as_str)
            .is_some_and(|m| !m.is_empty())
            && service_networks.is_some_and(|n| !n.is_empty())
        {
            return Err(LoadError::at(
                key.span,
                format!(
                    "service {name} declares mutually exclusive `network_mode` and `networks`: invalid compose project"
                ),
            ));
        }
        if let Some(nets) = service_networks {
            for n in nets.keys() {
                if !networks.contains(&n.name) {
                    let mut err = LoadError::at(
                        n.span,
                        format!(
                            "service {name:?} refers to undefined network {}: invalid compose project",
                            n.name
                        ),
                    );
                    if let Some(c) =
                        crate::suggest::closest(&n.name, networks.iter().map(String::as_str))
                    {
                        err = err.with_help(format!("did you mean {c:?}?"));
                    } else {
                        err = err.with_help(format!("declare it under the top-level `networks:` key: `networks: {{{}: {{}}}}`", n.name));
                    }
                    return Err(err);
                }
            }
        }
        if let Some(test) = s
            .get("healthcheck")
            .and_then(|h| h.get("test"))
            .and_then(Node::as_seq)
            && let Some(first) = test.first()
            && !matches!(first.as_str(), Some("CMD" | "CMD-SHELL" | "NONE"))
        {
            return Err(at(
                first,
                "healthcheck.test must start either by \"CMD\", \"CMD-SHELL\" or \"NONE\""
                    .to_owned(),
            ));
        }
        if let Some(deps) = s.get("depends_on").and_then(Node::as_map) {
            for (dep, cfg) in deps {
                if services.contains_key(dep.name.as_str()) {
                    continue;
                }
                let required = !matches!(
                    cfg.get("required").map(|r| &r.value),
                    Some(Value::Bool(false))
                );
                if disabled.contains_key(dep.name.as_str()) && !required {
                    continue;
                }
                let mut err = LoadError::at(
                    dep.span,
                    format!(
                        "service {name:?} depends on undefined service {:?}: invalid compose project",
                        dep.name
                    ),
                );
                if let Some(c) =
                    crate::suggest::closest(&dep.name, services.keys().map(|k| k.name.as_str()))
                {
                    err = err.with_help(format!("did you mean {c:?}?"));
                } else if disabled.contains_key(dep.name.as_str()) {
                    err = err.with_help(format!(
                        "{:?} is disabled by its profiles; enable one with --profile",
                        dep.name
                    ));
                }
                return Err(err);
            }
        }
        if let Some(target) = s
            .get("network_mode")
            .and_then(Node::as_str)
            .and_then(|m| m.strip_prefix("service:"))
            && !services.contains_key(target)
        {
            return Err(LoadError::at(
                key.span,
                format!("service {target:?} not found for network_mode 'service:{target}'"),
            ));
        }
        if let Some(vols) = s.get("volumes").and_then(Node::as_seq) {
            for v in vols {
                if v.get("type").and_then(Node::as_str) == Some("volume")
                    && let Some(src) = v
                        .get("source")
                        .and_then(Node::as_str)
                        .filter(|s| !s.is_empty())
                    && !volumes.iter().any(|x| x == src)
                {
                    return Err(at(v, format!("service {name:?} refers to undefined volume {src}: invalid compose project"))
                                .with_help(format!("declare it under the top-level `volumes:` key, or use a path (./{src}) for a bind mount")));
                }
            }
        }
        let refs = |list: Option<&Node>, known: &[String], what: &str| -> Result<()> {
            if let Some(items) = list.and_then(Node::as_seq) {
                for i in items {
                    let src = i.get("source").map(ToString::to_string).unwrap_or_default();
                    if !known.contains(&src) {
                        return Err(LoadError::at(
                            i.span,
                            format!(
                                "service {name:?} refers to undefined {what} {src}: invalid compose project"
                            ),
                        ));
                    }
                }
            }
            Ok(())
        };
        refs(
            build.and_then(|b| b.get("secrets")),
            &secrets,
            "build secret",
        )?;
        refs(s.get("configs"), &configs, "config")?;
        if let Some(ms) = s.get("models").and_then(Node::as_map) {
            for m in ms.keys() {
                if !models.contains(&m.name) {
                    return Err(LoadError::at(
                        m.span,
                        format!(
                            "service {name:?} refers to undefined model {}: invalid compose project",
                            m.name
                        ),
                    ));
                }
            }
        }
        refs(s.get("secrets"), &secrets, "secret")?;
        let scale = s.get("scale").and_then(|n| match n.value {
            Value::Int(i) => Some(i),
            _ => None,
        });
        let replicas = s
            .get("deploy")
            .and_then(|d| d.get("replicas"))
            .and_then(|n| match n.value {
                Value::Int(i) => Some(i),
                _ => None,
            });
        if let (Some(sc), Some(r)) = (scale, replicas)
            && sc != r
        {
            return Err(LoadError::at(
                key.span,
                format!(
                    "services.{name}: can't set distinct values on 'scale' and 'deploy.replicas': invalid compose project"
                ),
            ));
        }
        if scale.is_some_and(|s| s < 0) {
            return Err(LoadError::at(
                key.span,
                format!("services.{name}.scale: must be greater than or equal to 0"),
            ));
        }
        if replicas.is_some_and(|s| s < 0) {
            return Err(LoadError::at(
                key.span,
                format!("services.{name}.deploy.replicas: must be greater than or equal to 0"),
            ));
        }
        let effective = scale.or(replicas).unwrap_or(1);
        if effective > 1 && s.get("container_name").is_some() {
            let attr = if scale.is_some() {
                "scale"
            } else {
                "deploy.replicas"
            };
            return Err(LoadError::at(
                key.span,
                format!(
                    "services.{attr}: can't set container_name and {name} as container name must be unique: invalid compose project"
                ),
            ));
        }
        if let Some(watch) = s
            .get("develop")
            .and_then(|d| d.get("watch"))
            .and_then(Node::as_seq)
        {
            for w in watch {
                let target = w.get("target").and_then(Node::as_str).unwrap_or_default();
                let action = w.get("action").and_then(Node::as_str).unwrap_or_default();
                if target.is_empty() && action != "rebuild" && action != "restart" {
                    return Err(at(
                        w,
                        format!(
                            "services.{name}.develop.watch: target is required for non-rebuild actions: invalid compose project"
                        ),
                    ));
                }
            }
        }
        let mut mounts: IndexMap<String, String> = IndexMap::new();
        for (i, t) in string_list(s.get("tmpfs")).iter().enumerate() {
            let loc = format!("services.{name}.tmpfs[{i}]");
            let p = t.split(':').next().unwrap_or_default().to_owned();
            if let Some(prev) = mounts.get(&p) {
                return Err(LoadError::at(
                    key.span,
                    format!("{loc}: target {p} already mounted as {prev}"),
                ));
            }
            mounts.insert(p, loc);
        }
        if let Some(vols) = s.get("volumes").and_then(Node::as_seq) {
            for (i, v) in vols.iter().enumerate() {
                let loc = format!("services.{name}.volumes[{i}]");
                let t = v
                    .get("target")
                    .and_then(Node::as_str)
                    .unwrap_or_default()
                    .to_owned();
                if let Some(prev) = mounts.get(&t) {
                    return Err(at(
                        v,
                        format!("{loc}: target {t} already mounted as {prev}"),
                    ));
                }
                mounts.insert(t, loc);
            }
        }
    }
    if let Some(top) = dict.get("secrets").and_then(Node::as_map) {
        for (k, s) in top {
            let external = matches!(s.get("external").map(|e| &e.value), Some(Value::Bool(true)));
            if !external && s.get("file").is_none() && s.get("environment").is_none() {
                return Err(LoadError::at(
                    k.span,
                    format!(
                        "secret {:?} must declare either `file` or `environment`: invalid compose project",
                        k.name
                    ),
                ));
            }
        }
    }
    check_cycles(services)
}

fn check_cycles(services: &Map) -> Result<()> {
    fn deps(services: &Map, name: &str) -> Vec<String> {
        let mut d: Vec<String> = services
            .get(name)
            .and_then(|s| s.get("depends_on"))
            .and_then(Node::as_map)
            .map(|m| {
                m.keys()
                    .map(|k| k.name.clone())
                    .filter(|k| services.contains_key(k.as_str()))
                    .collect()
            })
            .unwrap_or_default();
        d.sort();
        d
    }
    fn search(
        services: &Map,
        path: &mut Vec<String>,
        done: &mut std::collections::HashSet<String>,
    ) -> Result<()> {
        let Some(current) = path.last().cloned() else {
            return Ok(());
        };
        for child in deps(services, &current) {
            if let Some(i) = path.iter().position(|p| *p == child) {
                // Point at the `depends_on` entry that closes the cycle.
                let entry = services
                    .get(current.as_str())
                    .and_then(|s| s.get("depends_on"))
                    .and_then(Node::as_map)
                    .and_then(|m| m.get_key_value(child.as_str()))
                    .map(|(k, _)| k.span);
                let err = LoadError::new(format!(
                    "dependency cycle detected: {} -> {child}",
                    path[i..].join(" -> ")
                ))
                .with_help(format!(
                    "remove one of these depends_on entries; if {current} only needs {child} at run time, let it retry its connection instead"
                ));
                return Err(match entry {
                    Some(span) => err.or_at(span),
                    None => err,
                });
            }
            if done.contains(&child) {
                continue;
            }
            path.push(child);
            search(services, path, done)?;
            path.pop();
        }
        done.insert(current);
        Ok(())
    }
    let mut names: Vec<String> = services.keys().map(|k| k.name.clone()).collect();
    names.sort();
    let mut done = std::collections::HashSet::new();
    for n in names {
        search(services, &mut vec![n], &mut done)?;
    }
    Ok(())
}

fn resolve_env_files(dict: &mut Node, f: &Finish<'_>) -> Result<()> {
    let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) else {
        return Ok(());
    };
    for (_, s) in services.iter_mut() {
        let Some(m) = s.as_map_mut() else { continue };
        let mut service_env = match m.get("environment") {
            Some(Node {
                value: Value::Map(e),
                ..
            }) => e.clone(),
            _ => Map::default(),
        };
        if f.resolve_environment {
            for (k, v) in service_env.iter_mut() {
                if v.is_null()
                    && let Some(found) = f.environment.get(&k.name)
                {
                    v.value = Value::String(found.clone());
                }
            }
        }
        if !f.read_env_files {
            if let Some(slot) = m.get_mut("environment") {
                slot.value = Value::Map(service_env);
            }
            continue;
        }
        // As compose-go: env files are read into a map that starts as the service's own
        // environment, so a later file sees what earlier ones (and the service) defined.
        let mut from_files: IndexMap<String, String> = service_env
            .iter()
            .filter_map(|(k, v)| Some((k.name.clone(), v.as_str()?.to_owned())))
            .collect();
        if let Some(env_files) = m.get("env_file").and_then(Node::as_seq) {
            for ef in env_files {
                let Some(path) = ef.get("path").and_then(Node::as_str) else {
                    continue;
                };
                let required = !matches!(
                    ef.get("required").map(|r| &r.value),
                    Some(Value::Bool(false))
                );
                if !f.files.is_file(path) && !f.files.is_dir(path) {
                    if required {
                        return Err(LoadError::at(
                            ef.span,
                            format!(
                                "env file {path} not found: stat {path}: no such file or directory"
                            ),
                        ));
                    }
                    continue;
                }
                let text = f
                    .files
                    .read(path)
                    .map_err(|e| LoadError::at(ef.span, format!("failed to read {path}: {e}")))?;
                let lookup = |k: &str| {
                    f.environment.get(k).cloned().or_else(|| {
                        service_env
                            .get(k)
                            .and_then(|v| v.as_str().map(str::to_owned))
                    })
                };
                let format = ef.get("format").and_then(Node::as_str).unwrap_or_default();
                let parsed = match format {
                    "" | "dotenv" => crate::dotenv::parse_into(&text, &lookup, &mut from_files),
                    "raw" => crate::dotenv::parse_raw(&text, &lookup).map(|vars| {
                        from_files.extend(vars);
                    }),
                    other => {
                        return Err(LoadError::at(
                            ef.span,
                            format!("unsupported env_file format {other:?}"),
                        )
                        .with_help("use `dotenv` (the default) or `raw`"));
                    }
                };
                parsed
                    .map_err(|e| LoadError::at(ef.span, format!("failed to read {path}: {e}")))?;
            }
        }
        if m.contains_key("env_file") || m.contains_key("environment") {
            let mut merged = Map::default();
            for (k, v) in from_files {
                merged.insert(Key::from(k), Node::string(v));
            }
            for (k, v) in service_env {
                merged.insert(k, v);
            }
            m.shift_remove("env_file");
            if merged.is_empty() {
                m.shift_remove("environment");
            } else {
                m.insert(Key::from("environment"), Node::map(merged));
            }
        }
    }
    Ok(())
}

fn resolve_label_files(dict: &mut Node, f: &Finish<'_>) -> Result<()> {
    let Some(services) = dict.get_mut("services").and_then(Node::as_map_mut) else {
        return Ok(());
    };
    for (_, s) in services.iter_mut() {
        let Some(m) = s.as_map_mut() else { continue };
        let mut labels = Map::default();
        for lf in string_list(m.get("label_file")) {
            if !f.files.is_file(&lf) {
                return Err(LoadError::new(format!(
                    "label file {lf} not found: stat {lf}: no such file or directory"
                )));
            }
            let text = f
                .files
                .read(&lf)
                .map_err(|e| LoadError::new(format!("failed to read {lf}: {e}")))?;
            let parsed = {
                let lookup = |k: &str| {
                    labels
                        .get(k)
                        .and_then(|v: &Node| v.as_str().map(str::to_owned))
                };
                crate::dotenv::parse(&text, &lookup)
                    .map_err(|e| LoadError::new(format!("failed to read {lf}: {e}")))?
            };
            for (k, v) in parsed {
                labels.insert(Key::from(k), Node::string(v));
            }
        }
        if let Some(Node {
            value: Value::Map(own),
            ..
        }) = m.get("labels")
        {
            for (k, v) in own {
                labels.insert(k.clone(), v.clone());
            }
        }
        m.shift_remove("label_file");
        if !labels.is_empty() {
            m.insert(Key::from("labels"), Node::map(labels));
        }
    }
    Ok(())
}

fn drop_unused_resources(dict: &mut Node) {
    let mut used: IndexMap<&'static str, Vec<String>> = IndexMap::new();
    for k in ["networks", "volumes", "secrets", "configs", "models"] {
        used.insert(k, Vec::new());
    }
    if let Some(services) = dict.get("services").and_then(Node::as_map) {
        for (_, s) in services {
            if let Some(n) = s.get("networks").and_then(Node::as_map) {
                used["networks"].extend(n.keys().map(|k| k.name.clone()));
            }
            if let Some(vols) = s.get("volumes").and_then(Node::as_seq) {
                for v in vols {
                    if v.get("type").and_then(Node::as_str) == Some("volume")
                        && let Some(src) = v
                            .get("source")
                            .and_then(Node::as_str)
                            .filter(|s| !s.is_empty())
                    {
                        used["volumes"].push(src.to_owned());
                    }
                }
            }
            let sources = |n: Option<&Node>| -> Vec<String> {
                n.and_then(Node::as_seq)
                    .map(|items| {
                        items
                            .iter()
                            .filter_map(|i| i.get("source").map(ToString::to_string))
                            .collect()
                    })
                    .unwrap_or_default()
            };
            used["secrets"].extend(sources(s.get("secrets")));
            used["secrets"].extend(sources(s.get("build").and_then(|b| b.get("secrets"))));
            used["configs"].extend(sources(s.get("configs")));
            if let Some(ms) = s.get("models").and_then(Node::as_map) {
                used["models"].extend(ms.keys().map(|k| k.name.clone()));
            }
        }
    }
    let Some(top) = dict.as_map_mut() else { return };
    for (kind, keep) in used {
        if let Some(m) = top.get_mut(kind).and_then(Node::as_map_mut) {
            m.retain(|k, _| keep.contains(&k.name));
        }
    }
}

fn check_container_names(dict: &Node) -> Result<()> {
    let mut seen: IndexMap<String, String> = IndexMap::new();
    if let Some(services) = dict.get("services").and_then(Node::as_map) {
        for (k, s) in services {
            if let Some(c) = s.get("container_name").and_then(Node::as_str) {
                if let Some(other) = seen.get(c) {
                    return Err(LoadError::at(
                        k.span,
                        format!(
                            "services.{}: container name {c:?} is already in use by service {other}",
                            k.name
                        ),
                    ));
                }
                seen.insert(c.to_owned(), k.name.clone());
            }
        }
    }
    Ok(())
}
