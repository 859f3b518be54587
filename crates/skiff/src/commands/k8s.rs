//! `skiff assess`, `skiff export kubernetes`, `skiff apply`: graduation to Kubernetes.
//!
//! skiff-k8s decides, without I/O; this module does the I/O around it: it loads the stack as
//! declared and once per environment (the environment's files over the base files), reads the
//! host's resources and the files the export asks for, and hands writing the output and `apply` to
//! skiff-kube.

use std::path::Path;
use std::process::ExitCode;

use skiff_compose::{Loaded, Request};
use skiff_k8s::{Export, ExportOptions, Host, Layout, SecretValues, Stack};

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
    skiff_kube::output::write_output(&args.output, &rendered.files, args.force)?;

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
    for line in skiff_k8s::next_steps(
        layout,
        &args.output.display().to_string(),
        &base,
        &exports,
        &rendered.files,
    ) {
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
    let cpus = args.host_cpus.unwrap_or_else(skiff_host::facts::cpus);
    let memory = match &args.host_memory {
        Some(size) => {
            let bytes = skiff_model::compose::ram_in_bytes(size)
                .map_err(|e| miette::miette!("--host-memory {size}: {e}"))?;
            u64::try_from(bytes).map_err(|_| miette::miette!("--host-memory {size}: negative"))?
        }
        None => skiff_host::facts::memory()?,
    };
    Ok(Host { cpus, memory })
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
