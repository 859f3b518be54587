//! `skiff config`: the project as docker compose reads it.

use std::process::ExitCode;

use skiff_compose::{Request, escape_dollars};

use crate::cli::{ConfigArgs, Format, ProjectArgs};
use crate::commands::write_stdout;
use crate::diagnostic::report;

/// Builds a loader request from the global flags and the process's environment.
pub fn request(project: &ProjectArgs) -> miette::Result<Request> {
    let cwd = std::env::current_dir()
        .map_err(|e| miette::miette!("cannot read the current directory: {e}"))?
        .to_string_lossy()
        .into_owned();
    let os_env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let mut req = Request::new(cwd, os_env);
    req.files.clone_from(&project.files);
    req.project_name.clone_from(&project.project_name);
    req.profiles = project
        .profiles
        .iter()
        .flat_map(|p| p.split(',').map(str::to_owned).collect::<Vec<_>>())
        .collect();
    req.env_files.clone_from(&project.env_files);
    req.project_directory.clone_from(&project.project_directory);
    if req.files.iter().any(|f| f == "-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).map_err(|e| {
            miette::miette!("cannot read the compose file from standard input: {e}")
        })?;
        req.stdin = Some(text);
    }
    Ok(req)
}

pub fn run(project: &ProjectArgs, args: &ConfigArgs) -> miette::Result<ExitCode> {
    let mut req = request(project)?;
    req.interpolate = !args.no_interpolate;
    req.normalize = !args.no_normalize;
    req.resolve_paths = !args.no_path_resolution;
    req.consistency = !args.no_consistency;
    req.resolve_environment = !args.no_env_resolution;
    req.services.clone_from(&args.service_names);
    // Compose hashes a service with its env_file entries as written, not what they hold:
    // `config --hash` changes when an entry is renamed, not when a file is edited. (The
    // label on a container carries the hash of the resolved service, so editing the file
    // still recreates it on `up`, in both tools.)
    req.read_env_files = args.hash.is_none();
    // Without interpolation compose prints the model, before the project is made of it.
    req.model_only = args.no_interpolate
        && args.hash.is_none()
        && !(args.volumes || args.networks || args.profiles || args.images);
    let loaded = skiff_compose::load(&req, &skiff_compose::fs::OsFiles)
        .map_err(|(e, sources)| report(e, &sources))?;
    // Without interpolation the tree may not bind to Compose's types (`replicas: ${N}`), so it
    // is printed as loaded, as the reference does.
    let project_json = if req.model_only {
        skiff_compose::model_json(&loaded.model)
    } else {
        loaded.project.to_json_value()
    };

    let list = |key: &str| -> Vec<String> {
        project_json
            .get(key)
            .and_then(|v| v.as_object())
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let text = if let Some(wanted) = &args.hash {
        config_hashes(&project_json, wanted)?
    } else if args.services {
        list("services").join("\n")
    } else if args.volumes {
        list("volumes").join("\n")
    } else if args.networks {
        list("networks").join("\n")
    } else if args.profiles {
        let mut profiles: Vec<String> = loaded
            .model
            .get("services")
            .and_then(|s| s.as_map())
            .map(|m| {
                m.values()
                    .chain(loaded.disabled.values())
                    .filter_map(|s| s.get("profiles").and_then(|p| p.as_seq()))
                    .flatten()
                    .filter_map(|p| p.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        profiles.sort();
        profiles.dedup();
        profiles.join("\n")
    } else if args.images {
        let services = project_json.get("services").and_then(|v| v.as_object());
        services
            .map(|m| {
                m.iter()
                    .map(|(name, s)| {
                        s.get("image")
                            .and_then(|i| i.as_str())
                            .map_or_else(|| format!("{}-{name}", loaded.name), str::to_owned)
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            })
            .unwrap_or_default()
    } else {
        match args.format {
            Format::Json => {
                refuse_ssh_paths_in_json(&loaded.project)?;
                let mut out = project_json;
                if !args.no_interpolate {
                    skiff_compose::escape_dollars_in_place(&mut out);
                }
                serde_json::to_string_pretty(&out).map_err(|e| miette::miette!("{e}"))?
            }
            Format::Yaml if args.no_interpolate => skiff_compose::goyaml::to_string(&project_json),
            Format::Yaml => {
                let view = skiff_compose::goyaml::compose_yaml_view(
                    &project_json,
                    &loaded.model.to_json(),
                );
                skiff_compose::goyaml::to_string(&escape_dollars(view))
            }
        }
    };
    if args.quiet {
        return Ok(ExitCode::SUCCESS);
    }
    // An empty list (`--volumes` of a stack without volumes) prints nothing, as compose does.
    let text = if text.is_empty() || text.ends_with('\n') {
        text
    } else {
        format!("{text}\n")
    };
    if let Some(path) = &args.output {
        std::fs::write(path, &text).map_err(|e| miette::miette!("cannot write {path}: {e}"))?;
    } else if !text.is_empty() {
        write_stdout(&text)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// docker compose v2.40.3 cannot print a `build.ssh` key that has a path as JSON (its encoder
/// writes `"id": path`, which is not JSON) and fails; skiff fails the same way, so a script
/// sees the same outcome from either tool, and says what would work.
fn refuse_ssh_paths_in_json(project: &skiff_model::compose::Project) -> miette::Result<()> {
    for (name, service) in &project.services {
        let Some(build) = &service.build else {
            continue;
        };
        if let Some(key) = build.ssh.iter().find(|k| !k.path.is_empty()) {
            return Err(miette::miette!(
                help = "`--format yaml` prints it; docker compose v2.40.3 fails here too",
                "services.{name}.build.ssh: the key {:?} has a path, which cannot be printed as JSON",
                key.id
            ));
        }
    }
    Ok(())
}

/// `--hash SERVICES`: each service's configuration hash, the value docker compose writes in
/// `com.docker.compose.config-hash` (so a script can tell whether a container is current).
fn config_hashes(project: &serde_json::Value, wanted: &str) -> miette::Result<String> {
    let services = project
        .get("services")
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let names: Vec<String> = if wanted.trim() == "*" {
        services.keys().cloned().collect()
    } else {
        wanted.split(',').map(|n| n.trim().to_owned()).collect()
    };
    let mut lines = Vec::new();
    for name in names {
        let service = services.get(&name).ok_or_else(|| {
            miette::miette!(
                help = format!(
                    "services in this project: {}",
                    services.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
                "no such service: {name}"
            )
        })?;
        lines.push(format!(
            "{name} {}",
            skiff_docker::hash::service_hash(service)
        ));
    }
    Ok(lines.join("\n"))
}
