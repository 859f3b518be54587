//! Exports -> files: plain manifests, a kustomize base with overlays, or a Helm chart.
//!
//! Every layout takes the stack as declared (`base`) and the same stack exported per
//! environment (`environments`, possibly none). The objects are serialized as they are;
//! templates appear only where a layout needs them (Helm's values), substituted after
//! serialization for placeholders the typed objects carried.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Value, json};

use crate::export::{Export, Object, labels};
use crate::names;
use crate::report::{NoteKind, Report};

/// How the files are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Layout {
    /// One YAML file per object, prefixed so that `kubectl apply -f DIR` creates the namespace
    /// first; a directory per environment when there are environments.
    Manifests,
    /// One multi-document YAML file per environment.
    SingleFile,
    /// `base/` (the stack as declared, without namespace) and `overlays/ENV/` per environment:
    /// the namespace, and patches for what the environment changes.
    Kustomize,
    /// A chart: templates from the stack as declared, `values.yaml` holding each service's image
    /// and replicas, and `values-ENV.yaml` per environment.
    Helm,
}

/// A file to write, relative to the output directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutputFile {
    pub path: String,
    pub contents: String,
}

/// The files of a layout, and what the layout itself could not carry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rendered {
    pub files: Vec<OutputFile>,
    /// Notes of the layout (e.g. environment differences a Helm values file cannot hold);
    /// the exports' own reports are in `REPORT.md`.
    pub report: Report,
}

/// Why rendering failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("failed to serialize {what} as YAML: {message}")]
    Yaml { what: String, message: String },
}

/// The Helm release name of a project: a DNS label (`helm install` refuses `_` and capitals).
#[must_use]
pub fn helm_release(project: &str) -> String {
    names::dns_label(project)
}

/// Lays out the objects of the base export and of each environment's export.
///
/// # Errors
/// Only if an object cannot be serialized as YAML, which would be a bug.
pub fn render(
    layout: Layout,
    base: &Export,
    environments: &[Export],
) -> Result<Rendered, RenderError> {
    let mut report = Report::default();
    let mut files = match layout {
        Layout::Manifests => manifests(base, environments)?,
        Layout::SingleFile => single_files(base, environments)?,
        Layout::Kustomize => kustomize(base, environments)?,
        Layout::Helm => helm(base, environments, &mut report)?,
    };
    files.push(OutputFile {
        path: "REPORT.md".to_owned(),
        contents: report_file(base, environments, &report),
    });
    Ok(Rendered { files, report })
}

fn yaml(what: &str, value: &impl Serialize) -> Result<String, RenderError> {
    serde_saphyr::to_string(value).map_err(|e| RenderError::Yaml {
        what: what.to_owned(),
        message: e.to_string(),
    })
}

fn file_name(object: &Object) -> String {
    format!(
        "{}-{}.yaml",
        object.kind().to_ascii_lowercase(),
        object.name()
    )
}

/// The exports whose objects are written: the environments, or the base alone.
fn targets<'a>(base: &'a Export, environments: &'a [Export]) -> Vec<(&'a Export, String)> {
    if environments.is_empty() {
        vec![(base, String::new())]
    } else {
        environments
            .iter()
            .map(|e| (e, format!("{}/", env_dir(e))))
            .collect()
    }
}

fn env_dir(export: &Export) -> String {
    names::dns_label(export.environment.as_deref().unwrap_or("default"))
}

fn manifests(base: &Export, environments: &[Export]) -> Result<Vec<OutputFile>, RenderError> {
    let mut files = Vec::new();
    for (export, dir) in targets(base, environments) {
        for object in &export.objects {
            let name = format!("{:02}-{}", object.rank(), file_name(object));
            files.push(OutputFile {
                contents: yaml(&name, object)?,
                path: format!("{dir}{name}"),
            });
        }
    }
    Ok(files)
}

fn single_files(base: &Export, environments: &[Export]) -> Result<Vec<OutputFile>, RenderError> {
    let mut files = Vec::new();
    for (export, _) in targets(base, environments) {
        let mut contents = String::new();
        for object in &export.objects {
            contents.push_str("---\n");
            contents.push_str(&yaml(&file_name(object), object)?);
        }
        files.push(OutputFile {
            path: format!("{}.yaml", export.namespace),
            contents,
        });
    }
    Ok(files)
}

/// An object as JSON without its namespace, for layouts that set the namespace elsewhere.
fn namespaceless(object: &Object) -> Value {
    let mut v = object.to_json();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.shift_remove("namespace");
    }
    v
}

/// Objects of an export by (kind, name), without the Namespace.
fn by_key(export: &Export) -> BTreeMap<(&'static str, String), (&Object, Value)> {
    export
        .objects
        .iter()
        .filter(|o| !matches!(o, Object::Namespace(_)))
        .map(|o| ((o.kind(), o.name().to_owned()), (o, namespaceless(o))))
        .collect()
}

fn kustomization(fields: Value) -> Value {
    let mut out = json!({
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
    });
    if let (Some(out), Value::Object(fields)) = (out.as_object_mut(), fields) {
        out.extend(fields);
    }
    out
}

fn kustomize(base: &Export, environments: &[Export]) -> Result<Vec<OutputFile>, RenderError> {
    let mut files = Vec::new();
    let base_objects = by_key(base);
    let mut resources = Vec::new();
    for (object, value) in base_objects.values() {
        let name = file_name(object);
        files.push(OutputFile {
            path: format!("base/{name}"),
            contents: yaml(&name, value)?,
        });
        resources.push(name);
    }
    files.push(OutputFile {
        path: "base/kustomization.yaml".to_owned(),
        contents: yaml(
            "base/kustomization.yaml",
            &kustomization(json!({ "resources": resources })),
        )?,
    });

    let overlays: Vec<&Export> = if environments.is_empty() {
        vec![base]
    } else {
        environments.iter().collect()
    };
    for env in overlays {
        let dir = format!("overlays/{}", env_dir(env));
        let mut resources = vec!["../../base".to_owned()];
        let mut patches = Vec::new();
        if let Some(ns) = env
            .objects
            .iter()
            .find(|o| matches!(o, Object::Namespace(_)))
        {
            files.push(OutputFile {
                path: format!("{dir}/namespace.yaml"),
                contents: yaml("namespace", ns)?,
            });
            resources.insert(0, "namespace.yaml".to_owned());
        }
        // The overlay of the stack as declared (no environments) patches nothing: skip
        // converting and comparing every object with itself.
        let unpatched = std::ptr::eq(env, base);
        let env_objects = if unpatched {
            BTreeMap::new()
        } else {
            by_key(env)
        };
        for (key, (object, value)) in &env_objects {
            match base_objects.get(key) {
                None => {
                    let name = file_name(object);
                    files.push(OutputFile {
                        path: format!("{dir}/{name}"),
                        contents: yaml(&name, value)?,
                    });
                    resources.push(name);
                }
                Some((_, base_value)) => {
                    let ops = json_patch(base_value, value);
                    if ops.is_empty() {
                        continue;
                    }
                    let name = format!("patch-{}", file_name(object));
                    files.push(OutputFile {
                        path: format!("{dir}/{name}"),
                        contents: yaml(&name, &ops)?,
                    });
                    patches.push(json!({
                        "path": name,
                        "target": { "kind": key.0, "name": key.1 },
                    }));
                }
            }
        }
        for (key, (object, value)) in &base_objects {
            if unpatched || env_objects.contains_key(key) {
                continue;
            }
            let name = format!("delete-{}", file_name(object));
            let delete = json!({
                "apiVersion": value.get("apiVersion"),
                "kind": key.0,
                "metadata": { "name": key.1 },
                "$patch": "delete",
            });
            files.push(OutputFile {
                path: format!("{dir}/{name}"),
                contents: yaml(&name, &delete)?,
            });
            patches.push(json!({ "path": name }));
        }
        let mut fields = json!({
            "namespace": env.namespace,
            "resources": resources,
        });
        if !patches.is_empty() {
            fields["patches"] = Value::Array(patches);
        }
        let path = format!("{dir}/kustomization.yaml");
        files.push(OutputFile {
            contents: yaml(&path, &kustomization(fields))?,
            path,
        });
    }
    Ok(files)
}

/// JSON6902 operations turning `base` into `target`, as deep as the two agree in shape:
/// mappings are compared key by key, lists of the same length item by item; anything else that
/// differs is replaced whole.
fn json_patch(base: &Value, target: &Value) -> Vec<Value> {
    let mut ops = Vec::new();
    diff("", base, target, &mut ops);
    ops
}

fn pointer_segment(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn diff(path: &str, a: &Value, b: &Value, ops: &mut Vec<Value>) {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            let keys: BTreeSet<&String> = x.keys().chain(y.keys()).collect();
            for key in keys {
                if path.is_empty() && (key == "apiVersion" || key == "kind") {
                    continue;
                }
                let child = format!("{path}/{}", pointer_segment(key));
                match (x.get(key), y.get(key)) {
                    (Some(a), Some(b)) => diff(&child, a, b, ops),
                    (None, Some(b)) => ops.push(json!({ "op": "add", "path": child, "value": b })),
                    (Some(_), None) => ops.push(json!({ "op": "remove", "path": child })),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            for (i, (a, b)) in x.iter().zip(y).enumerate() {
                diff(&format!("{path}/{i}"), a, b, ops);
            }
        }
        _ if a != b => ops.push(json!({ "op": "replace", "path": path, "value": b })),
        _ => {}
    }
}

/// Per service: its image and replicas, as a Helm values file holds them.
fn service_values(export: &Export) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for object in &export.objects {
        let v = object.to_json();
        let replicas = match object {
            Object::Deployment(_) | Object::StatefulSet(_) => v["spec"]["replicas"].clone(),
            Object::DaemonSet(_) => Value::Null,
            _ => continue,
        };
        let image = v["spec"]["template"]["spec"]["containers"][0]["image"].clone();
        let mut entry = serde_json::Map::new();
        entry.insert("image".to_owned(), image);
        if !replicas.is_null() {
            entry.insert("replicas".to_owned(), replicas);
        }
        out.insert(object.name().to_owned(), Value::Object(entry));
    }
    out
}

/// Placeholders the typed objects carry where a Helm template goes.
struct Placeholders {
    expressions: Vec<String>,
}

impl Placeholders {
    fn token(&mut self, expression: String) -> Value {
        self.expressions.push(expression);
        Value::String(format!("SKIFF-HELM-VALUE-{:06}", self.expressions.len()))
    }

    /// Escapes what Helm would read as template actions, then puts the templates in.
    fn apply(&self, text: &str) -> String {
        let mut out = text.replace("{{", "{{ \"{{\" }}");
        for (i, expression) in self.expressions.iter().enumerate() {
            let token = format!("SKIFF-HELM-VALUE-{:06}", i + 1);
            for quoted in [format!("\"{token}\""), format!("'{token}'"), token] {
                out = out.replace(&quoted, expression);
            }
        }
        out
    }
}

fn values_ref(service: &str, field: &str) -> String {
    format!("(index .Values.services {service:?}).{field}")
}

/// Replaces images equal to a service's image in a pod spec's containers.
fn template_images(pod: &mut Value, service: &str, image: &Value, placeholders: &mut Placeholders) {
    if let Some(containers) = pod.get_mut("containers").and_then(Value::as_array_mut) {
        for c in containers {
            if c.get("image") == Some(image) {
                c["image"] = placeholders.token(format!(
                    "{{{{ {} | quote }}}}",
                    values_ref(service, "image")
                ));
            }
        }
    }
}

fn helm(
    base: &Export,
    environments: &[Export],
    report: &mut Report,
) -> Result<Vec<OutputFile>, RenderError> {
    let mut files = Vec::new();
    let values = service_values(base);
    let chart = json!({
        "apiVersion": "v2",
        "name": names::dns_label(&base.project),
        "description": format!("{} exported by skiff", base.project),
        "type": "application",
        "version": "0.1.0",
    });
    files.push(OutputFile {
        path: "Chart.yaml".to_owned(),
        contents: yaml("Chart.yaml", &chart)?,
    });
    files.push(OutputFile {
        path: "values.yaml".to_owned(),
        contents: format!(
            "# Each service's image and replicas; everything else is in templates/.\n{}",
            yaml("values.yaml", &json!({ "services": values }))?
        ),
    });
    for object in &base.objects {
        if matches!(object, Object::Namespace(_)) {
            continue;
        }
        let mut placeholders = Placeholders {
            expressions: Vec::new(),
        };
        let mut v = namespaceless(object);
        let name = object.name().to_owned();
        match object {
            Object::Deployment(_) | Object::StatefulSet(_) | Object::DaemonSet(_) => {
                if let Some(service) = values.get(&name) {
                    if service.get("replicas").is_some() {
                        v["spec"]["replicas"] = placeholders
                            .token(format!("{{{{ {} }}}}", values_ref(&name, "replicas")));
                    }
                    template_images(
                        &mut v["spec"]["template"]["spec"],
                        &name,
                        &service["image"],
                        &mut placeholders,
                    );
                }
            }
            Object::CronJob(_) => {
                let pod = &mut v["spec"]["jobTemplate"]["spec"]["template"];
                let service = pod["metadata"]["labels"][labels::SERVICE]
                    .as_str()
                    .map(str::to_owned);
                if let Some(service) = service
                    && let Some(values) = values.get(&service)
                {
                    template_images(
                        &mut pod["spec"],
                        &service,
                        &values["image"],
                        &mut placeholders,
                    );
                }
            }
            _ => {}
        }
        let file = file_name(object);
        files.push(OutputFile {
            path: format!("templates/{file}"),
            contents: placeholders.apply(&yaml(&file, &v)?),
        });
    }
    for env in environments {
        let env_name = env_dir(env);
        files.push(OutputFile {
            path: format!("values-{env_name}.yaml"),
            contents: format!(
                "# helm install {} . -f values-{env_name}.yaml --namespace {} --create-namespace\n{}",
                helm_release(&base.project),
                env.namespace,
                yaml("values", &json!({ "services": service_values(env) }))?
            ),
        });
        let differing = beyond_values(base, env);
        if !differing.is_empty() {
            report.add(
                NoteKind::NotCarried,
                format!(
                    "x-skiff.environments.{}",
                    env.environment.as_deref().unwrap_or("default")
                ),
                format!(
                    "differs from the stack as declared beyond images and replicas ({}); the \
                     chart's values hold only images and replicas",
                    differing.join(", ")
                ),
                "use the kustomize layout, whose overlays carry every difference",
            );
        }
    }
    Ok(files)
}

/// Objects that differ between two exports once images and replicas are set aside.
fn beyond_values(base: &Export, env: &Export) -> Vec<String> {
    fn blank(mut v: Value) -> Value {
        if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
            spec.shift_remove("replicas");
        }
        blank_images(&mut v);
        v
    }
    fn blank_images(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if m.contains_key("containers")
                    && let Some(Value::Array(cs)) = m.get_mut("containers")
                {
                    for c in cs {
                        if let Some(c) = c.as_object_mut() {
                            c.shift_remove("image");
                        }
                    }
                }
                for (_, child) in m.iter_mut() {
                    blank_images(child);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(blank_images),
            _ => {}
        }
    }
    let a = by_key(base);
    let b = by_key(env);
    let keys: BTreeSet<&(&str, String)> = a.keys().chain(b.keys()).collect();
    keys.into_iter()
        .filter(|k| {
            a.get(*k).map(|(_, v)| blank(v.clone())) != b.get(*k).map(|(_, v)| blank(v.clone()))
        })
        .map(|(kind, name)| format!("{kind}/{name}"))
        .collect()
}

fn report_file(base: &Export, environments: &[Export], layout: &Report) -> String {
    let mut out = format!(
        "# {}: what the export to Kubernetes could not carry over as is\n",
        base.project
    );
    for (export, _) in targets(base, environments) {
        let _ = write!(
            out,
            "\n## namespace {}\n\n{}",
            export.namespace, export.report
        );
    }
    if !layout.is_empty() {
        let _ = write!(out, "\n## layout\n\n{layout}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_go_as_deep_as_the_shapes_agree() {
        let a = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {"a/b": "1"}},
            "data": {"k": "1"}, "list": [{"image": "a:1"}, {"image": "b:1"}], "short": [1]});
        let b = json!({"apiVersion": "v1", "kind": "X", "metadata": {"name": "x", "labels": {"a/b": "2"}},
            "binaryData": {"k": "AA=="}, "list": [{"image": "a:2"}, {"image": "b:1"}], "short": [1, 2]});
        let ops = json_patch(&a, &b);
        assert_eq!(
            ops,
            vec![
                json!({"op": "add", "path": "/binaryData", "value": {"k": "AA=="}}),
                json!({"op": "remove", "path": "/data"}),
                json!({"op": "replace", "path": "/list/0/image", "value": "a:2"}),
                json!({"op": "replace", "path": "/metadata/labels/a~1b", "value": "2"}),
                json!({"op": "replace", "path": "/short", "value": [1, 2]}),
            ]
        );
        assert!(json_patch(&a, &a).is_empty());
    }

    #[test]
    fn helm_escapes_braces_before_templating() {
        let mut p = Placeholders {
            expressions: Vec::new(),
        };
        let token = p.token("{{ .Values.x }}".to_owned());
        let text = format!(
            "a: \"{{{{ not a template }}}}\"\nb: {}\n",
            token.as_str().unwrap_or_default()
        );
        assert_eq!(
            p.apply(&text),
            "a: \"{{ \"{{\" }} not a template }}\"\nb: {{ .Values.x }}\n"
        );
    }
}
