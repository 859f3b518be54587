//! `skiff assess`, `skiff export kubernetes`, `skiff apply`: graduation to Kubernetes.
//!
//! skiff-k8s decides, without I/O; this module does the I/O around it: it loads the stack as
//! declared and once per environment (the environment's files over the base files), reads the
//! host's resources and the files the export asks for, writes the output atomically, and hands
//! `apply` to skiff-kube.

use std::io::Write as _;
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use skiff_compose::{Loaded, Request};
use skiff_k8s::{Export, ExportOptions, Host, Layout, OutputFile, SecretValues, Stack};

use crate::cli::{
    ApplyArgs, AssessArgs, ExportArgs, ExportTarget, K8sLayout, K8sObjectArgs, OutputFormat,
    ProjectArgs,
};
use crate::commands::config::request;
use crate::commands::write_stdout;
use crate::diagnostic::report;

/// What `assess` says about history while no daemon records one.
const NO_HISTORY: &str = "history: none yet (no skiff daemon has recorded this stack's deploys, \
                          restarts and peak use); deploy frequency and restarts score 0 until one does";

pub fn assess(project: &ProjectArgs, args: &AssessArgs) -> miette::Result<ExitCode> {
    let (_, loaded) = load_declared(project)?;
    let host = host(args)?;
    let assessment = skiff_k8s::assess(&stack(&loaded), None, &host);
    let text = match args.format {
        OutputFormat::Text => format!("{assessment}\n{NO_HISTORY}"),
        OutputFormat::Json => {
            let mut value =
                serde_json::to_value(&assessment).map_err(|e| miette::miette!("{e}"))?;
            if let Some(object) = value.as_object_mut() {
                let host = serde_json::to_value(host).map_err(|e| miette::miette!("{e}"))?;
                object.insert("project".to_owned(), loaded.project.name.clone().into());
                object.insert("host".to_owned(), host);
                object.insert("history".to_owned(), serde_json::Value::Null);
                object.insert("history_note".to_owned(), NO_HISTORY.into());
            }
            serde_json::to_string_pretty(&value).map_err(|e| miette::miette!("{e}"))?
        }
    };
    write_stdout(&text)?;
    Ok(ExitCode::SUCCESS)
}

pub fn export(project: &ProjectArgs, args: &ExportArgs) -> miette::Result<ExitCode> {
    let ExportTarget::Kubernetes(args) = &args.target;
    let (req, declared) = load_declared(project)?;
    let names = environments(&declared, args.env.as_deref())?;
    let secret_values = secret_values(args.include_secret_values);
    let base = export_loaded(&declared, None, secret_values, &args.objects)?;
    let mut exports = Vec::new();
    for name in &names {
        let loaded = load_environment(&req, &declared, name)?;
        exports.push(export_loaded(
            &loaded,
            Some(name),
            secret_values,
            &args.objects,
        )?);
    }
    let layout = layout(args.format);
    let rendered = skiff_k8s::render(layout, &base, &exports)
        .map_err(|e| miette::miette!("{e}: this is a bug in skiff"))?;
    write_output(&args.output, &rendered.files, args.force)?;

    let dir = args.output.display();
    let mut out = format!(
        "exported {} to {dir}/ as {}: {} files\n",
        base.project,
        layout_name(layout),
        rendered.files.len()
    );
    let targets: Vec<&Export> = if exports.is_empty() {
        vec![&base]
    } else {
        exports.iter().collect()
    };
    for export in &targets {
        out.push_str(&format!(
            "  namespace {}: {} objects\n",
            export.namespace,
            export.objects.len()
        ));
    }
    out.push_str("next:\n");
    for line in next_steps(layout, &args.output, &base, &exports, &rendered.files) {
        out.push_str(&format!("  {line}\n"));
    }
    if let Some(report) = rendered.files.iter().find(|f| f.path == "REPORT.md") {
        out.push_str(&format!("\n(also in {dir}/REPORT.md)\n{}", report.contents));
    }
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

pub fn apply(project: &ProjectArgs, args: &ApplyArgs) -> miette::Result<ExitCode> {
    let (req, declared) = load_declared(project)?;
    let (loaded, kube_context) = match &args.env {
        Some(name) => {
            let context = environment(&declared, name)?.kube_context.clone();
            (load_environment(&req, &declared, name)?, context)
        }
        None => (declared, None),
    };
    let Some(context) = args.context.clone().or(kube_context) else {
        return Err(miette::miette!(
            help = "pass --context NAME (see `kubectl config get-contexts`), or set \
                    x-skiff.environments.ENV.kube_context and pass --env ENV",
            "no Kubernetes context to apply to"
        ));
    };
    let export = export_loaded(
        &loaded,
        args.env.as_deref(),
        secret_values(args.include_secret_values),
        &args.objects,
    )?;
    let options = skiff_kube::ApplyOptions {
        prune: if args.prune {
            skiff_kube::Prune::Delete
        } else {
            skiff_kube::Prune::Keep
        },
        wait: if args.wait {
            skiff_kube::Wait::Rollouts {
                timeout: std::time::Duration::from_secs(args.timeout),
                interval: std::time::Duration::from_secs(2),
            }
        } else {
            skiff_kube::Wait::No
        },
        conflicts: if args.force_conflicts {
            skiff_kube::Conflicts::Force
        } else {
            skiff_kube::Conflicts::Fail
        },
        secrets: if args.include_secret_values {
            skiff_kube::Secrets::Apply
        } else {
            skiff_kube::Secrets::LeaveAlone
        },
    };
    write_stdout(&format!(
        "applying {} to namespace {} of context {context} (server-side apply, field manager {})",
        export.project,
        export.namespace,
        skiff_kube::FIELD_MANAGER
    ))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| miette::miette!("cannot start the async runtime: {e}"))?;
    let mut print = |event: skiff_kube::Event| {
        let _ = write_stdout(&event_line(&event));
    };
    let summary = runtime
        .block_on(async {
            let client = skiff_kube::connect(&context).await?;
            skiff_kube::apply(&client, &export, &options, &mut print).await
        })
        .map_err(|e| apply_error(&e, &export))?;
    let mut out = format!(
        "applied {} objects, skipped {}, pruned {}, kept {}",
        summary.applied, summary.skipped, summary.pruned, summary.kept
    );
    if args.wait {
        out.push_str(&format!(", {} rolled out", summary.rolled_out));
    }
    out.push_str(&format!("\n\n{}", export.report));
    write_stdout(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn event_line(event: &skiff_kube::Event) -> String {
    use skiff_kube::Event;
    match event {
        Event::Applied { kind, name } => format!("  applied {kind}/{name}"),
        Event::Skipped { kind, name, why } => format!("  skipped {kind}/{name}: {why}"),
        Event::Pruned { kind, name } => format!("  pruned {kind}/{name}"),
        Event::Kept { kind, name, why } => format!("  kept {kind}/{name}: {why}"),
        Event::Waiting { kind, name, status } => format!("  waiting for {kind}/{name}: {status}"),
        Event::RolledOut { kind, name } => format!("  rolled out {kind}/{name}"),
    }
}

fn apply_error(e: &skiff_kube::ApplyError, export: &Export) -> miette::Report {
    use skiff_kube::ApplyError;
    let ns = &export.namespace;
    let help = match e {
        _ if e.is_conflict() => "another field manager owns fields skiff sets; \
                                 `--force-conflicts` takes them over"
            .to_owned(),
        ApplyError::Kubeconfig { .. } | ApplyError::Client { .. } => {
            "check `kubectl config get-contexts` (KUBECONFIG, else ~/.kube/config)".to_owned()
        }
        ApplyError::Timeout { kind, name, .. } | ApplyError::Rollout { kind, name, .. } => {
            format!(
                "what was applied stays applied; see `kubectl -n {ns} describe {} {name}`, fix, \
                 and run `skiff apply` again",
                kind.to_ascii_lowercase()
            )
        }
        _ => {
            "what was applied before stays applied; running `skiff apply` again is safe".to_owned()
        }
    };
    miette::miette!(help = help, "{e}")
}

/// Loads the stack as the global flags say.
fn load_declared(project: &ProjectArgs) -> miette::Result<(Request, Loaded)> {
    let req = request(project)?;
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    Ok((req, loaded))
}

/// Loads the stack as an environment runs it: the base files, then the environment's files
/// (relative to the project directory); its env file after the project's; its variables over
/// the process environment.
fn load_environment(req: &Request, declared: &Loaded, name: &str) -> miette::Result<Loaded> {
    let env = environment(declared, name)?;
    let wd = Path::new(&declared.working_dir);
    let resolve = |p: &str| wd.join(p).to_string_lossy().into_owned();
    let mut req = req.clone();
    if req.files.is_empty() {
        req.files.clone_from(&declared.config_files);
    }
    req.files.extend(env.files.iter().map(|f| resolve(f)));
    req.project_directory = Some(declared.working_dir.clone());
    req.project_name = Some(declared.name.clone());
    if let Some(env_file) = &env.env_file {
        if req.env_files.is_empty() && wd.join(".env").is_file() {
            req.env_files.push(resolve(".env"));
        }
        req.env_files.push(resolve(env_file));
    }
    for (k, v) in &env.variables {
        req.os_env.insert(k.clone(), v.clone());
    }
    skiff_compose::load(&req, &skiff_compose::fs::OsFiles).map_err(|(e, sources)| {
        report(e, &sources).wrap_err(format!("failed to load environment {name}"))
    })
}

/// The environments to export: the one asked for, else every one the stack declares.
fn environments(declared: &Loaded, asked: Option<&str>) -> miette::Result<Vec<String>> {
    let declared_envs = &declared.extensions.project.environments;
    match asked {
        Some(name) => environment(declared, name).map(|_| vec![name.to_owned()]),
        None => Ok(declared_envs.keys().cloned().collect()),
    }
}

/// A declared environment, or an error naming the ones there are.
fn environment<'a>(
    declared: &'a Loaded,
    name: &str,
) -> miette::Result<&'a skiff_model::xskiff::Environment> {
    declared
        .extensions
        .project
        .environments
        .get(name)
        .ok_or_else(|| unknown_environment(declared, name))
}

fn unknown_environment(declared: &Loaded, name: &str) -> miette::Report {
    let error = skiff_k8s::ExportError::UnknownEnvironment {
        name: name.to_owned(),
        known: declared
            .extensions
            .project
            .environments
            .keys()
            .cloned()
            .collect(),
    };
    miette::miette!(
        help = "declare it under x-skiff.environments (`files:`, `env_file:`, `variables:`), \
                or leave out --env",
        "{error}"
    )
}

fn stack(loaded: &Loaded) -> Stack<'_> {
    Stack::new(
        &loaded.project,
        &loaded.extensions.project,
        &loaded.extensions.services,
    )
}

fn secret_values(include: bool) -> SecretValues {
    if include {
        SecretValues::Include
    } else {
        SecretValues::Omit
    }
}

/// Exports a loaded stack, reading the config and secret files it refers to.
fn export_loaded(
    loaded: &Loaded,
    environment: Option<&str>,
    secret_values: SecretValues,
    objects: &K8sObjectArgs,
) -> miette::Result<Export> {
    let stack = stack(loaded);
    let mut files = std::collections::BTreeMap::new();
    for path in skiff_k8s::wanted_files(&stack) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                files.insert(path, bytes);
            }
            // The export notes a missing file and leaves its value empty.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(miette::miette!("cannot read {path}: {e}")),
        }
    }
    let options = ExportOptions {
        environment: environment.map(str::to_owned),
        secret_values,
        files,
        volume_size: objects.volume_size.clone(),
        storage_class: objects.storage_class.clone(),
        ingress_class: objects.ingress_class.clone(),
        cluster_issuer: objects.cluster_issuer.clone(),
    };
    skiff_k8s::export(&stack, &options).map_err(|e| miette::miette!("{e}"))
}

/// The machine skiff runs on: the CPUs this process may use and the memory in /proc/meminfo,
/// unless the flags say otherwise.
fn host(args: &AssessArgs) -> miette::Result<Host> {
    let cpus = match args.host_cpus {
        Some(cpus) => cpus,
        None => {
            let n = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
            f64::from(u32::try_from(n).unwrap_or(u32::MAX))
        }
    };
    let memory = match &args.host_memory {
        Some(size) => {
            let bytes = skiff_model::compose::ram_in_bytes(size)
                .map_err(|e| miette::miette!("--host-memory {size}: {e}"))?;
            u64::try_from(bytes).map_err(|_| miette::miette!("--host-memory {size}: negative"))?
        }
        None => {
            let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| {
                miette::miette!(
                    help = "pass the host's memory with --host-memory (e.g. 32GiB)",
                    "cannot read /proc/meminfo: {e}"
                )
            })?;
            mem_total(&meminfo).ok_or_else(|| {
                miette::miette!(
                    help = "pass the host's memory with --host-memory (e.g. 32GiB)",
                    "/proc/meminfo has no MemTotal line"
                )
            })?
        }
    };
    Ok(Host { cpus, memory })
}

/// `MemTotal:       24576000 kB` -> bytes.
fn mem_total(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line.split_whitespace().skip(1);
    let n: u64 = words.next()?.parse().ok()?;
    match words.next() {
        Some("kB") => n.checked_mul(1024),
        None => Some(n),
        Some(_) => None,
    }
}

fn layout(format: K8sLayout) -> Layout {
    match format {
        K8sLayout::Manifests => Layout::Manifests,
        K8sLayout::SingleFile => Layout::SingleFile,
        K8sLayout::Kustomize => Layout::Kustomize,
        K8sLayout::Helm => Layout::Helm,
    }
}

fn layout_name(layout: Layout) -> &'static str {
    match layout {
        Layout::Manifests => "manifests",
        Layout::SingleFile => "single files",
        Layout::Kustomize => "a kustomize base and overlays",
        Layout::Helm => "a Helm chart",
    }
}

/// The commands that deploy what was written.
fn next_steps(
    layout: Layout,
    dir: &Path,
    base: &Export,
    environments: &[Export],
    files: &[OutputFile],
) -> Vec<String> {
    let dir = dir.display();
    let firsts = |prefix: &str| -> Vec<String> {
        let mut found: Vec<String> = files
            .iter()
            .filter_map(|f| f.path.strip_prefix(prefix))
            .filter_map(|rest| rest.split_once('/').map(|(first, _)| first.to_owned()))
            .collect();
        found.sort();
        found.dedup();
        found
    };
    match layout {
        Layout::Manifests if environments.is_empty() => vec![format!("kubectl apply -f {dir}/")],
        Layout::Manifests => firsts("")
            .into_iter()
            .map(|env| format!("kubectl apply -f {dir}/{env}/"))
            .collect(),
        Layout::SingleFile => files
            .iter()
            .filter(|f| f.path != "REPORT.md")
            .map(|f| format!("kubectl apply -f {dir}/{}", f.path))
            .collect(),
        Layout::Kustomize => firsts("overlays/")
            .into_iter()
            .map(|env| format!("kubectl apply -k {dir}/overlays/{env}"))
            .collect(),
        Layout::Helm => {
            let release = skiff_k8s::helm_release(&base.project);
            if environments.is_empty() {
                return vec![format!(
                    "helm install {release} {dir} --namespace {} --create-namespace",
                    base.namespace
                )];
            }
            let values: Vec<&str> = files
                .iter()
                .filter(|f| f.path.starts_with("values-"))
                .map(|f| f.path.as_str())
                .collect();
            environments
                .iter()
                .zip(values)
                .map(|(env, values)| {
                    format!(
                        "helm install {release} {dir} -f {dir}/{values} --namespace {} \
                         --create-namespace",
                        env.namespace
                    )
                })
                .collect()
        }
    }
}

/// Marks a directory skiff wrote an export into, and lists what it wrote.
const MARKER: &str = ".skiff-export";

/// Writes the files into `dir`, each under a temporary name renamed into place, so that a
/// reader never sees half a file. Into a directory skiff wrote before, files of the previous
/// export that this one no longer has are removed; into a non-empty directory skiff did not
/// create, only with `--force` (and then nothing else in it is touched).
fn write_output(dir: &Path, files: &[OutputFile], force: bool) -> miette::Result<()> {
    let previous = prepare_dir(dir, force)?;
    for file in files {
        let relative = safe_relative(&file.path).ok_or_else(|| {
            miette::miette!("refusing to write outside {}: {}", dir.display(), file.path)
        })?;
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| miette::miette!("cannot create {}: {e}", parent.display()))?;
        }
        write_atomically(&path, file.contents.as_bytes())?;
    }
    let current: std::collections::BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for stale in previous.iter().filter(|p| !current.contains(p.as_str())) {
        let Some(relative) = safe_relative(stale) else {
            continue;
        };
        let path = dir.join(&relative);
        match std::fs::remove_file(&path) {
            Ok(()) => remove_empty_parents(dir, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(miette::miette!("cannot remove {}: {e}", path.display())),
        }
    }
    let marker = serde_json::json!({
        "written_by": "skiff export kubernetes",
        "files": current,
    });
    let text = serde_json::to_string_pretty(&marker).map_err(|e| miette::miette!("{e}"))?;
    write_atomically(&dir.join(MARKER), text.as_bytes())
}

/// Makes sure `dir` may be written and returns the files a previous export wrote there.
fn prepare_dir(dir: &Path, force: bool) -> miette::Result<Vec<String>> {
    match std::fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|e| miette::miette!("cannot create {}: {e}", dir.display()))?;
            Ok(Vec::new())
        }
        Err(e) => Err(miette::miette!("cannot read {}: {e}", dir.display())),
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Ok(Vec::new());
            }
            let marker = dir.join(MARKER);
            if let Ok(text) = std::fs::read_to_string(&marker) {
                let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                    miette::miette!(
                        help = format!("remove {} and export again", marker.display()),
                        "{} is not skiff's record of an export: {e}",
                        marker.display()
                    )
                })?;
                let files = value["files"]
                    .as_array()
                    .map(|files| {
                        files
                            .iter()
                            .filter_map(|f| f.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(files);
            }
            if force {
                return Ok(Vec::new());
            }
            Err(miette::miette!(
                help = "choose a new or empty directory, or pass --force to write into it \
                        anyway (files of the same name are replaced, nothing else is touched)",
                "{} is not empty and was not written by `skiff export`: writing into it could \
                 mix the export with files that are not part of it",
                dir.display()
            ))
        }
    }
}

/// A relative path made only of normal components.
fn safe_relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let normal = p.components().all(|c| matches!(c, Component::Normal(_)));
    (normal && !path.is_empty()).then(|| p.to_path_buf())
}

fn write_atomically(path: &Path, contents: &[u8]) -> miette::Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.skiff-tmp"));
    // No fsync per file: thousands of them would cost more than the export itself. The rename
    // keeps readers from seeing half a file; after a crash, exporting again rewrites all.
    let written = std::fs::File::create(&tmp).and_then(|mut f| f.write_all(contents));
    let renamed = written.and_then(|()| std::fs::rename(&tmp, path));
    renamed.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        miette::miette!("cannot write {}: {e}", path.display())
    })
}

/// Removes the directories between `path` and `root` that are left empty.
fn remove_empty_parents(root: &Path, path: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_helm_hint_names_a_release_helm_accepts() {
        let base = Export {
            project: "My_App".into(),
            environment: None,
            namespace: "my-app".into(),
            objects: Vec::new(),
            report: skiff_k8s::Report::default(),
        };
        assert_eq!(
            next_steps(Layout::Helm, Path::new("chart"), &base, &[], &[]),
            ["helm install my-app chart --namespace my-app --create-namespace"]
        );
    }

    #[test]
    fn mem_total_reads_kilobytes() {
        assert_eq!(
            mem_total("MemTotal:       24576000 kB\nMemFree: 1 kB\n"),
            Some(24_576_000 * 1024)
        );
        assert_eq!(mem_total("MemFree: 1 kB\n"), None);
        assert_eq!(mem_total("MemTotal: 12 MB\n"), None);
    }

    #[test]
    fn only_plain_relative_paths_are_written_or_removed() {
        assert!(safe_relative("overlays/prod/kustomization.yaml").is_some());
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "./x"] {
            assert!(safe_relative(bad).is_none(), "{bad}");
        }
    }
}
