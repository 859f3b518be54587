//! The command line's view of a project, resolved as `docker compose` resolves it: which
//! files (`-f`, `COMPOSE_FILE`, the default names up the directory tree), which environment
//! (the process, `--env-file` or `.env`), which name and profiles.

use indexmap::IndexMap;

use crate::error::{LoadError, Result};
use crate::loader::{self, ConfigDetails, ConfigFile, Files, Loader, Options};
use crate::node::{Key, Node, Value};
use crate::paths;
use crate::project::{Finish, finish};

/// Compose file names looked for, in order of preference.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
/// Override files looked for beside the default file.
pub const DEFAULT_OVERRIDE_FILE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// What the user asked for, before anything is resolved.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The process's current directory (absolute).
    pub cwd: String,
    /// The process environment.
    pub os_env: IndexMap<String, String>,
    /// `-f` files; `-` is standard input, whose text is `stdin`.
    pub files: Vec<String>,
    pub stdin: Option<String>,
    pub project_name: Option<String>,
    pub project_directory: Option<String>,
    pub profiles: Vec<String>,
    pub env_files: Vec<String>,
    /// Services named on the command line.
    pub services: Vec<String>,
    pub interpolate: bool,
    pub normalize: bool,
    pub resolve_paths: bool,
    pub consistency: bool,
    pub resolve_environment: bool,
    /// Reads `env_file`s into `environment` (off for `config --hash`: compose hashes the
    /// entries as written, so editing an env file does not change the printed hash).
    pub read_env_files: bool,
    /// Stops after the model (compose-go's `LoadModel`, what `config --no-interpolate`
    /// prints): no profiles, env files, checks or binding; `Loaded::project` is empty.
    pub model_only: bool,
}

impl Request {
    /// A request with every phase on, as `docker compose config` runs by default.
    #[must_use]
    pub fn new(cwd: String, os_env: IndexMap<String, String>) -> Request {
        Request {
            cwd,
            os_env,
            interpolate: true,
            normalize: true,
            resolve_paths: true,
            consistency: true,
            resolve_environment: true,
            read_env_files: true,
            ..Request::default()
        }
    }
}

/// A loaded project: the merged tree, the files it came from, and its environment.
pub struct Loaded {
    pub model: Node,
    pub sources: loader::Sources,
    pub name: String,
    pub working_dir: String,
    pub config_files: Vec<String>,
    pub environment: IndexMap<String, String>,
    /// Services that the active profiles leave out.
    pub disabled: crate::node::Map,
    /// skiff's `x-skiff` settings, typed.
    pub extensions: crate::extension::Extensions,
    /// The project bound to Compose's types: what `config` prints and what runtimes run.
    pub project: skiff_model::compose::Project,
}

fn abs(cwd: &str, p: &str) -> String {
    if p.starts_with('/') {
        paths::join("/", p)
    } else {
        paths::join(cwd, p)
    }
}

/// Resolves the request and loads the project.
///
/// # Errors
/// No compose file found, unreadable files, and every loader error.
pub fn load(
    req: &Request,
    files: &dyn Files,
) -> std::result::Result<Loaded, (LoadError, loader::Sources)> {
    let mut sources = loader::Sources::default();
    match load_inner(req, files, &mut sources) {
        Ok(l) => Ok(l),
        Err(e) => Err((where_to_define(e, req, files), sources)),
    }
}

/// For a required variable without a value: where it could be defined.
fn where_to_define(e: LoadError, req: &Request, files: &dyn Files) -> LoadError {
    let Some(variable) = e.missing_variable.clone() else {
        return e;
    };
    if e.help.is_some() {
        return e;
    }
    let wd = working_dir(req, &req.files);
    let read = env_files_for(req, files, &wd);
    let place = if read.is_empty() {
        format!(
            "in {} (the project's env file; it does not exist yet)",
            paths::join(&wd, ".env")
        )
    } else {
        format!("in {} (read, but it does not set it)", read.join(", "))
    };
    e.with_help(format!(
        "set {variable} in the environment (`export {variable}=...`) or {place}"
    ))
}

fn working_dir(req: &Request, config_paths: &[String]) -> String {
    if let Some(d) = &req.project_directory {
        return abs(&req.cwd, d);
    }
    for p in config_paths {
        if p != "-" {
            return paths::dir(&abs(&req.cwd, p));
        }
    }
    req.cwd.clone()
}

fn env_files_for(req: &Request, files: &dyn Files, wd: &str) -> Vec<String> {
    if !req.env_files.is_empty() {
        return req.env_files.iter().map(|f| abs(&req.cwd, f)).collect();
    }
    if let Some(v) = req.os_env.get("COMPOSE_DISABLE_ENV_FILE")
        && matches!(v.as_str(), "1" | "t" | "T" | "true" | "TRUE" | "True")
    {
        return Vec::new();
    }
    let default = paths::join(wd, ".env");
    if files.is_file(&default) {
        vec![default]
    } else {
        Vec::new()
    }
}

fn merge_env(env: &mut IndexMap<String, String>, extra: IndexMap<String, String>) {
    for (k, v) in extra {
        env.entry(k).or_insert(v);
    }
}

#[expect(
    clippy::too_many_lines,
    reason = "the resolution order is easiest to check in one place"
)]
fn load_inner(req: &Request, files: &dyn Files, sources: &mut loader::Sources) -> Result<Loaded> {
    let mut env = req.os_env.clone();
    if !env.contains_key("PWD") {
        env.insert("PWD".to_owned(), req.cwd.clone());
    }
    let mut config_paths: Vec<String> = req.files.clone();

    // .env from the first working directory guess.
    let wd = working_dir(req, &config_paths);
    let env_files = env_files_for(req, files, &wd);
    let from_files = crate::envfile::read_env_files(files, &env, &env_files)?;
    merge_env(&mut env, from_files);

    if config_paths.is_empty()
        && let Some(f) = env.get("COMPOSE_FILE")
    {
        let sep = env
            .get("COMPOSE_PATH_SEPARATOR")
            .filter(|s| !s.is_empty())
            .cloned()
            .unwrap_or_else(|| ":".to_owned());
        config_paths = f.split(sep.as_str()).map(|p| abs(&req.cwd, p)).collect();
    }
    if config_paths.is_empty() {
        let mut dir = working_dir(req, &config_paths);
        loop {
            let found: Vec<String> = DEFAULT_FILE_NAMES
                .iter()
                .map(|n| paths::join(&dir, n))
                .filter(|p| files.is_file(p))
                .collect();
            if let Some(winner) = found.first() {
                config_paths.push(winner.clone());
                if let Some(o) = DEFAULT_OVERRIDE_FILE_NAMES
                    .iter()
                    .map(|n| paths::join(&dir, n))
                    .find(|p| files.is_file(p))
                {
                    config_paths.push(o);
                }
                break;
            }
            let parent = paths::dir(&dir);
            if parent == dir {
                break;
            }
            dir = parent;
        }
    }
    if config_paths.is_empty() {
        return Err(LoadError::new("no configuration file provided: not found")
            .with_help("run skiff in a directory with a compose.yaml, or pass one with -f FILE"));
    }
    let wd = working_dir(req, &config_paths);
    let env_files = env_files_for(req, files, &wd);
    let from_files = crate::envfile::read_env_files(files, &env, &env_files)?;
    merge_env(&mut env, from_files);

    let profiles: Vec<String> = if req.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| p.split(',').map(|s| s.trim().to_owned()).collect())
            .unwrap_or_default()
    } else {
        req.profiles.clone()
    };
    if let Some(n) = &req.project_name
        && loader::normalize_project_name(n) != *n
    {
        return Err(loader::invalid_project_name(n));
    }

    let mut config_files = Vec::new();
    for p in &config_paths {
        if p == "-" {
            config_files.push(ConfigFile {
                path: paths::join(&wd, "-"),
                content: Some(req.stdin.clone().unwrap_or_default()),
            });
        } else {
            let path = abs(&req.cwd, p);
            if !files.is_file(&path) {
                return Err(LoadError::new(format!(
                    "open {path}: no such file or directory"
                )));
            }
            config_files.push(ConfigFile {
                path,
                content: None,
            });
        }
    }

    // The name: flag, then COMPOSE_PROJECT_NAME, then `name:` in a file, then the directory.
    let mut opts = Options {
        interpolate: req.interpolate,
        normalize: req.normalize,
        resolve_paths: req.resolve_paths,
        consistency: req.consistency,
        home: env.get("HOME").cloned(),
        ..Options::default()
    };
    if let Some(n) = &req.project_name {
        opts.project_name.clone_from(n);
        opts.project_name_explicit = true;
    } else if let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty()) {
        opts.project_name.clone_from(n);
        opts.project_name_explicit = true;
    }
    let mut loader = Loader::new(files, opts.home.clone());
    if !opts.project_name_explicit && loader.declared_name(&config_files).is_none() {
        opts.project_name = loader::normalize_project_name(&paths::base(&wd));
    }

    let details = ConfigDetails {
        working_dir: wd.clone(),
        files: config_files,
        // compose-go's LoadModel reads the files with no environment: only an include's own
        // env_file resolves anything in the model.
        environment: if req.model_only {
            IndexMap::new()
        } else {
            env.clone()
        },
    };
    let result = loader.load_model(&details, &mut opts);
    *sources = loader.sources.clone();
    let mut model = result?;
    if model.get("name").is_none()
        && let Some(m) = model.as_map_mut()
    {
        m.insert(Key::from("name"), Node::string(opts.project_name.clone()));
    }
    if opts.project_name.is_empty() {
        return Err(LoadError::new(
            "project name can't be empty. Use `--project-name` to set a valid name",
        ));
    }
    if req.model_only {
        return Ok(Loaded {
            project: skiff_model::compose::Project::default(),
            extensions: crate::extension::Extensions::default(),
            disabled: crate::node::Map::default(),
            model,
            sources: loader.sources,
            name: opts.project_name,
            working_dir: wd,
            config_files: details.files.iter().map(|f| f.path.clone()).collect(),
            environment: env,
        });
    }
    let mut fin_env = env.clone();
    fin_env.insert("COMPOSE_PROJECT_NAME".to_owned(), opts.project_name.clone());
    let disabled = finish(
        &mut model,
        &Finish {
            files,
            environment: &fin_env,
            profiles: &profiles,
            consistency: req.consistency,
            resolve_environment: req.resolve_environment,
            read_env_files: req.read_env_files,
            selected: &req.services,
        },
    )?;
    if let Some(m) = model.as_map_mut()
        && !m.contains_key("services")
    {
        m.insert(
            Key::from("services"),
            Node::synthetic(Value::Map(crate::node::Map::default())),
        );
    }
    // A backup may concern a service the active profiles leave out: it is still declared.
    let left_out: Vec<String> = disabled.keys().map(|k| k.name.clone()).collect();
    let extensions = crate::extension::decode_with(&model, &left_out)?;
    let project = bind(&model, req.interpolate)?;
    Ok(Loaded {
        project,
        extensions,
        disabled,
        model,
        sources: loader.sources,
        name: opts.project_name,
        working_dir: wd,
        config_files: details.files.iter().map(|f| f.path.clone()).collect(),
        environment: fin_env,
    })
}

/// Binds the finished tree to Compose's types, as compose-go decodes its dict into
/// `types.Project`. Without interpolation a field may still hold `${VAR}` where a number is
/// due; the reference prints such trees as they are, so binding failures are not errors then.
fn bind(model: &Node, interpolated: bool) -> Result<skiff_model::compose::Project> {
    let json = crate::compose_json(model);
    match skiff_model::compose::project_from_value(json) {
        Ok(p) => {
            check_bound(&p)?;
            Ok(p)
        }
        // Once more, tracking the path, only to say where it failed (the tracking costs).
        Err(e) if interpolated => Err(
            match skiff_model::compose::project_from_value_at(crate::compose_json(model)) {
                Err((path, e)) => located(model, &path, &e.to_string()),
                Ok(_) => LoadError::new(format!("invalid project: {e}")),
            },
        ),
        Err(_) => Ok(skiff_model::compose::Project::default()),
    }
}

/// A binding error at the node the path leads to (as deep as the model goes), naming the
/// field as compose does.
fn located(model: &Node, path: &[String], message: &str) -> LoadError {
    let mut node = model;
    for p in path {
        let next = match &node.value {
            Value::Map(m) => m.get(p.as_str()),
            Value::Seq(items) => p.parse::<usize>().ok().and_then(|i| items.get(i)),
            _ => None,
        };
        match next {
            Some(n) => node = n,
            None => break,
        }
    }
    if path.is_empty() {
        return LoadError::new(format!("invalid project: {message}"));
    }
    LoadError::at(node.span, format!("{}: {message}", path.join(".")))
}

/// Checks compose-go makes on the bound project. In a service's `networks`, a key starting
/// with `x-` is an extension, not a network: compose-go sets it aside and then finds the
/// service attached to a network it cannot know.
fn check_bound(p: &skiff_model::compose::Project) -> Result<()> {
    for (name, service) in &p.services {
        if service
            .networks
            .contains_key(skiff_model::compose::PARKED_KEY)
        {
            return Err(LoadError::new(format!(
                "service {name:?} refers to undefined network #extensions: invalid compose project"
            ))
            .with_help(
                "names starting with `x-` are extensions in Compose, not networks: rename the network",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    /// One compose file in memory, counting how often it is read.
    struct OneFile {
        path: &'static str,
        text: &'static str,
        reads: Cell<usize>,
    }

    impl Files for OneFile {
        fn read(&self, path: &str) -> std::io::Result<String> {
            if path != self.path {
                return Err(std::io::ErrorKind::NotFound.into());
            }
            self.reads.set(self.reads.get() + 1);
            Ok(self.text.to_owned())
        }
        fn is_dir(&self, path: &str) -> bool {
            path == "/p"
        }
        fn is_file(&self, path: &str) -> bool {
            path == self.path
        }
    }

    #[test]
    fn a_file_that_names_its_project_is_read_and_parsed_once() {
        let files = OneFile {
            path: "/p/compose.yaml",
            text: "name: shop\nservices:\n  web: {image: nginx}\n",
            reads: Cell::new(0),
        };
        let req = Request::new("/p".to_owned(), IndexMap::new());
        let loaded = load(&req, &files).map_err(|(e, _)| e).expect("loads");
        assert_eq!(loaded.name, "shop");
        // Its name is read from the same tree the phases then use: one read, one parse.
        assert_eq!(files.reads.get(), 1);
    }
}
