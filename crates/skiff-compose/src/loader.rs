//! The phases in order: parse each file, interpolate, apply `extends`, `!reset`, `include`,
//! merge onto the earlier files, canonical forms; then defaults, validation, paths,
//! normalisation. Files are read only through [`Files`], so the loader itself stays pure.

use indexmap::IndexMap;

use crate::canonical::{canonical, omit_empty, set_defaults};
use crate::error::{LoadError, Result};
use crate::interpolate::interpolate;
use crate::merge::{enforce_unicity, merge_documents, merge_service};
use crate::node::{FileId, Key, Map, MergeTag, Node, Value};
use crate::normalize::{normalize, resolve_environment};
use crate::paths::{self, Resolver};

/// Read access to files: the loader's only window on the world.
pub trait Files {
    /// The whole text of a file.
    ///
    /// # Errors
    /// When the file cannot be read.
    fn read(&self, path: &str) -> std::io::Result<String>;
    fn is_dir(&self, path: &str) -> bool;
    fn is_file(&self, path: &str) -> bool;
}

/// Every file the loader read, by [`FileId`], for diagnostics.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    files: Vec<(String, String)>,
}

impl Sources {
    /// The id the next added file will get.
    #[must_use]
    pub fn next_id(&self) -> FileId {
        FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX - 1))
    }

    pub fn add(&mut self, name: &str, text: &str) -> FileId {
        let id = self.next_id();
        self.files.push((name.to_owned(), text.to_owned()));
        id
    }

    /// The name and text of a file.
    #[must_use]
    pub fn get(&self, id: FileId) -> Option<(&str, &str)> {
        self.files
            .get(id.0 as usize)
            .map(|(n, t)| (n.as_str(), t.as_str()))
    }
}

/// One compose file: a path, and its text when the caller already has it (stdin).
#[derive(Debug, Clone)]
pub struct ConfigFile {
    pub path: String,
    pub content: Option<String>,
}

/// What to load and with which environment.
#[derive(Debug, Clone)]
pub struct ConfigDetails {
    pub working_dir: String,
    pub files: Vec<ConfigFile>,
    pub environment: IndexMap<String, String>,
}

/// Switches for the phases, as `docker compose config` exposes them.
#[derive(Debug, Clone)]
pub struct Options {
    pub interpolate: bool,
    pub normalize: bool,
    pub resolve_paths: bool,
    pub consistency: bool,
    pub validate: bool,
    pub extends: bool,
    pub include: bool,
    pub default_values: bool,
    /// The project name and whether the user set it (flag or `COMPOSE_PROJECT_NAME`).
    pub project_name: String,
    pub project_name_explicit: bool,
    pub home: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            interpolate: true,
            normalize: true,
            resolve_paths: true,
            consistency: true,
            validate: true,
            extends: true,
            include: true,
            default_values: true,
            project_name: String::new(),
            project_name_explicit: false,
            home: None,
        }
    }
}

/// Paths a file marked `!reset` or `!override`; applied to what earlier files defined.
#[derive(Debug, Clone, Default)]
struct ResetPaths(Vec<Vec<String>>);

impl ResetPaths {
    fn collect(node: &mut Node, path: &mut Vec<String>, out: &mut ResetPaths) {
        match &mut node.value {
            Value::Map(m) => {
                let keys: Vec<String> = m.keys().map(|k| k.name.clone()).collect();
                for k in keys {
                    path.push(k.clone());
                    let tag = m.get(k.as_str()).map(|n| n.tag);
                    match tag {
                        Some(MergeTag::Reset) => {
                            out.0.push(path.clone());
                            m.shift_remove(k.as_str());
                        }
                        Some(MergeTag::Override) => {
                            out.0.push(path.clone());
                            if let Some(v) = m.get_mut(k.as_str()) {
                                Self::collect(v, path, out);
                            }
                        }
                        _ => {
                            if let Some(v) = m.get_mut(k.as_str()) {
                                Self::collect(v, path, out);
                            }
                        }
                    }
                    path.pop();
                }
            }
            Value::Seq(items) => {
                let old = std::mem::take(items);
                for (i, mut item) in old.into_iter().enumerate() {
                    path.push(i.to_string());
                    match item.tag {
                        MergeTag::Reset => out.0.push(path.clone()),
                        MergeTag::Override => {
                            out.0.push(path.clone());
                            Self::collect(&mut item, path, out);
                            items.push(item);
                        }
                        MergeTag::None | MergeTag::Timestamp => {
                            Self::collect(&mut item, path, out);
                            items.push(item);
                        }
                    }
                    path.pop();
                }
            }
            _ => {}
        }
    }

    /// Removes the marked paths from `target` (list entries are never removed, as in Compose).
    fn apply(&self, target: &mut Node) {
        fn walk(node: &mut Node, path: &mut Vec<String>, patterns: &[Vec<String>]) {
            if let Value::Map(m) = &mut node.value {
                let keys: Vec<String> = m.keys().map(|k| k.name.clone()).collect();
                for k in keys {
                    path.push(k.clone());
                    let hit = patterns.iter().any(|p| {
                        p.len() == path.len()
                            && p.iter().zip(path.iter()).all(|(a, b)| a == "*" || a == b)
                    });
                    if hit {
                        m.shift_remove(k.as_str());
                    } else if let Some(v) = m.get_mut(k.as_str()) {
                        walk(v, path, patterns);
                    }
                    path.pop();
                }
            } else if let Value::Seq(items) = &mut node.value {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(format!("[{i}]"));
                    walk(item, path, patterns);
                    path.pop();
                }
            }
        }
        if !self.0.is_empty() {
            walk(target, &mut Vec::new(), &self.0);
        }
    }
}

/// Tracks the chain of `extends` to report cycles.
#[derive(Debug, Clone, Default)]
struct Tracker(Vec<(String, String)>);

impl Tracker {
    fn add(&self, file: &str, service: &str) -> Result<Tracker> {
        let entry = (file.to_owned(), service.to_owned());
        if self.0.contains(&entry) {
            let mut lines = vec!["Circular reference:".to_owned()];
            if let Some((f, s)) = self.0.first() {
                lines.push(format!("  {s} in {f}"));
            }
            for (f, s) in self.0.iter().skip(1).chain(std::iter::once(&entry)) {
                lines.push(format!("  extends {s} in {f}"));
            }
            return Err(LoadError::new(lines.join("\n")));
        }
        let mut next = self.0.clone();
        next.push(entry);
        Ok(Tracker(next))
    }
}

/// Per-file switches (`extends` and `include` load files with some phases off).
#[derive(Debug, Clone)]
struct FileOptions {
    interpolate: bool,
    extends: bool,
    include: bool,
    validate: bool,
    resolve_paths: bool,
    default_values: bool,
    /// Absolute directory that relative `extends.file` and `include` paths are read from.
    loader_dir: String,
}

/// Loads projects; holds the sources it read for diagnostics.
pub struct Loader<'f> {
    files: &'f dyn Files,
    pub sources: Sources,
    home: Option<String>,
    /// Top-level files parsed ahead of their phases (to read `name:`), so that each is
    /// parsed once: taken by the phases when they reach the file.
    parsed: Vec<(String, FileId, Vec<Node>)>,
}

type Env = IndexMap<String, String>;

impl<'f> Loader<'f> {
    #[must_use]
    pub fn new(files: &'f dyn Files, home: Option<String>) -> Loader<'f> {
        Loader {
            files,
            sources: Sources::default(),
            home,
            parsed: Vec::new(),
        }
    }

    fn read_text(&self, file: &ConfigFile) -> std::io::Result<String> {
        match &file.content {
            Some(t) => Ok(t.clone()),
            None => self.files.read(&file.path),
        }
    }

    /// The `name:` the files declare (the last non-empty one), read as compose reads it
    /// before any phase: uninterpolated. Stops at the first file that does not parse (the
    /// phases report it). The parsed files are kept for the phases.
    pub fn declared_name(&mut self, files: &[ConfigFile]) -> Option<String> {
        let mut name = None;
        for f in files {
            let at = match self.parsed.iter().position(|(p, _, _)| *p == f.path) {
                Some(at) => at,
                None => {
                    let Ok(text) = self.read_text(f) else { break };
                    let id = self.sources.next_id();
                    let Ok(docs) = crate::yaml::parse(&text, id) else {
                        break;
                    };
                    self.sources.add(&f.path, &text);
                    self.parsed.push((f.path.clone(), id, docs));
                    self.parsed.len() - 1
                }
            };
            for d in &self.parsed[at].2 {
                if let Some(n) = d.get("name").and_then(Node::as_str)
                    && !n.is_empty()
                {
                    name = Some(n.to_owned());
                }
            }
        }
        name
    }

    /// Loads and merges the files into one normalised document (the "model").
    ///
    /// # Errors
    /// Any failure of any phase, located where possible.
    pub fn load_model(&mut self, details: &ConfigDetails, opts: &mut Options) -> Result<Node> {
        if details.files.is_empty() {
            return Err(LoadError::new("no compose file specified"));
        }
        let mut env = details.environment.clone();
        self.project_name(details, opts, &env)?;
        env.insert("COMPOSE_PROJECT_NAME".to_owned(), opts.project_name.clone());
        let file_opts = FileOptions {
            interpolate: opts.interpolate,
            extends: opts.extends,
            include: opts.include,
            validate: opts.validate,
            resolve_paths: opts.resolve_paths,
            default_values: opts.default_values,
            loader_dir: details.working_dir.clone(),
        };
        let mut dict =
            self.load_yaml_model(&details.working_dir, &details.files, &env, &file_opts, &[])?;
        if dict.as_map().is_none_or(Map::is_empty) {
            return Err(LoadError::new("empty compose file"));
        }
        if opts.validate && opts.project_name.is_empty() {
            return Err(LoadError::new("project name must not be empty"));
        }
        if opts.normalize {
            if let Some(m) = dict.as_map_mut() {
                m.insert(Key::from("name"), Node::string(opts.project_name.clone()));
            }
            let lookup = |k: &str| env.get(k).cloned();
            normalize(&mut dict, &lookup);
        }
        Ok(dict)
    }

    fn project_name(
        &mut self,
        details: &ConfigDetails,
        opts: &mut Options,
        env: &Env,
    ) -> Result<()> {
        if opts.project_name_explicit {
            if normalize_project_name(&opts.project_name) != opts.project_name {
                return Err(invalid_project_name(&opts.project_name));
            }
            return Ok(());
        }
        let mut from_file = self.declared_name(&details.files).unwrap_or_default();
        if opts.interpolate {
            let lookup = |k: &str| env.get(k).cloned();
            from_file = crate::template::substitute(&from_file, &lookup)
                .map_err(|e| LoadError::new(format!("error while interpolating name: {e}")))?;
        }
        if opts.normalize {
            from_file = normalize_project_name(&from_file);
        }
        if !from_file.is_empty() {
            opts.project_name = from_file;
        }
        Ok(())
    }

    fn load_yaml_model(
        &mut self,
        working_dir: &str,
        files: &[ConfigFile],
        env: &Env,
        opts: &FileOptions,
        included: &[String],
    ) -> Result<Node> {
        let mut dict = Node::map(Map::default());
        for f in files {
            (dict, _) = self.load_yaml_file(
                f,
                opts,
                working_dir,
                env,
                &Tracker::default(),
                dict,
                included,
            )?;
        }
        if opts.default_values {
            set_defaults(&mut dict)?;
        }
        if opts.validate {
            crate::validate::check_model(&dict)?;
        }
        if opts.resolve_paths {
            let r = Resolver {
                working_dir,
                home: self.home.as_deref(),
            };
            r.resolve(&mut dict)?;
        }
        let lookup = |k: &str| env.get(k).cloned();
        resolve_environment(&mut dict, &lookup);
        Ok(dict)
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the phases' inputs one to one"
    )]
    fn load_yaml_file(
        &mut self,
        file: &ConfigFile,
        opts: &FileOptions,
        working_dir: &str,
        env: &Env,
        tracker: &Tracker,
        mut dict: Node,
        included: &[String],
    ) -> Result<(Node, ResetPaths)> {
        let docs = if let Some(i) = self.parsed.iter().position(|(p, _, _)| *p == file.path) {
            self.parsed.swap_remove(i).2
        } else {
            let text = self
                .read_text(file)
                .map_err(|e| LoadError::new(format!("failed to read {}: {e}", file.path)))?;
            let id = self.sources.add(&file.path, &text);
            crate::yaml::parse(&text, id).map_err(|e| {
                LoadError::at(
                    e.span,
                    format!("failed to parse {}: {}", file.path, e.message),
                )
            })?
        };
        let mut last_resets = ResetPaths::default();
        for mut cfg in docs {
            if cfg.as_map().is_none() {
                return Err(LoadError::at(
                    cfg.span,
                    "top-level object must be a mapping",
                ));
            }
            let mut resets = ResetPaths::default();
            ResetPaths::collect(&mut cfg, &mut Vec::new(), &mut resets);
            if opts.interpolate {
                let lookup = |k: &str| env.get(k).cloned();
                interpolate(&mut cfg, &lookup)?;
            }
            if opts.extends {
                self.apply_extends(&mut cfg, &file.path, opts, env, tracker, &resets)?;
            }
            resets.apply(&mut dict);
            if opts.include {
                let mut inc = included.to_vec();
                inc.push(file.path.clone());
                self.apply_include(&mut cfg, working_dir, env, opts, &inc)?;
            }
            dict = merge_documents(dict, cfg)?;
            enforce_unicity(&mut dict)?;
            if opts.validate {
                crate::validate::check_schema(&dict, &self.sources)?;
                if let Some(m) = dict.as_map_mut() {
                    m.shift_remove("version");
                }
            }
            canonical(&mut dict, !opts.interpolate)?;
            omit_empty(&mut dict);
            enforce_unicity(&mut dict)?;
            last_resets = resets;
        }
        Ok((dict, last_resets))
    }

    fn apply_extends(
        &mut self,
        cfg: &mut Node,
        filename: &str,
        opts: &FileOptions,
        env: &Env,
        tracker: &Tracker,
        post: &ResetPaths,
    ) -> Result<()> {
        let Some(slot) = cfg.get_mut("services") else {
            return Ok(());
        };
        let span = slot.span;
        if slot.is_null() {
            return Ok(());
        }
        // The services are moved out while extends are applied, and back in after.
        let mut services = match std::mem::replace(&mut slot.value, Value::Null) {
            Value::Map(m) => m,
            other => {
                slot.value = other;
                return Err(LoadError::at(span, "services must be a mapping"));
            }
        };
        let names: Vec<String> = services.keys().map(|k| k.name.clone()).collect();
        let mut result = Ok(());
        for name in names {
            result = self.service_extends(&name, &mut services, filename, opts, env, tracker, post);
            if result.is_err() {
                break;
            }
        }
        if let Some(slot) = cfg.get_mut("services") {
            slot.value = Value::Map(services);
        }
        result
    }

    /// Applies the service's `extends` in place (its base first, which is then done too).
    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the phases' inputs one to one"
    )]
    fn service_extends(
        &mut self,
        name: &str,
        services: &mut Map,
        filename: &str,
        opts: &FileOptions,
        env: &Env,
        tracker: &Tracker,
        post: &ResetPaths,
    ) -> Result<()> {
        let Some(service) = services.get(name) else {
            return Ok(());
        };
        if service.is_null() {
            return Ok(());
        }
        if service.as_map().is_none() {
            return Err(LoadError::at(
                service.span,
                format!("services.{name} must be a mapping"),
            ));
        }
        let Some(extends) = service.get("extends").cloned() else {
            return Ok(());
        };
        let (reference, file) = match &extends.value {
            Value::Map(m) => {
                let Some(r) = m.get("service").and_then(Node::as_str) else {
                    return Err(LoadError::at(
                        extends.span,
                        format!("extends.{name}.service is required"),
                    ));
                };
                (r.to_owned(), m.get("file").cloned())
            }
            Value::String(s) => (s.clone(), None),
            _ => {
                return Err(LoadError::at(
                    extends.span,
                    format!("services.{name}.extends must be a string or a mapping"),
                ));
            }
        };
        let mut base_services;
        let mut base_file = filename.to_owned();
        let mut processor = ResetPaths::default();
        let services_ref: &mut Map = if let Some(file) = file {
            let Some(ref_path) = file.as_str() else {
                return Err(LoadError::at(file.span, "extends.file must be a string"));
            };
            let (s, p) = self
                .extends_base_from_file(name, &reference, filename, ref_path, opts, env, tracker)
                .map_err(|e| e.or_at(file.span))?;
            base_services = s;
            processor = p;
            base_file = ref_path.to_owned();
            &mut base_services
        } else {
            if !services.contains_key(reference.as_str()) {
                let suggestion =
                    crate::suggest::closest(&reference, services.keys().map(|k| k.name.as_str()));
                let mut err = LoadError::at(
                    extends.span,
                    format!(
                        "cannot extend service {name:?} in {filename}: service {reference:?} not found"
                    ),
                );
                if let Some(s) = suggestion {
                    err = err.with_help(format!("did you mean {s:?}?"));
                }
                return Err(err);
            }
            services
        };
        let tracker = tracker.add(&base_file, name)?;
        self.service_extends(
            &reference,
            services_ref,
            &base_file,
            opts,
            env,
            &tracker,
            &processor,
        )?;
        // The base stays where it is (others may extend it too): merged from a copy.
        let Some(base) = services_ref
            .get(reference.as_str())
            .filter(|b| !b.is_null())
            .cloned()
        else {
            return Ok(());
        };
        let mut source = base;
        // This file's `!reset`s apply to what the base contributes.
        let mut wrapper = Map::default();
        let mut svc = Map::default();
        svc.insert(Key::from(name), source);
        wrapper.insert(Key::from("services"), Node::map(svc));
        let mut wrapper = Node::map(wrapper);
        post.apply(&mut wrapper);
        source = wrapper
            .get_mut("services")
            .and_then(|s| s.get_mut(name))
            .map(|n| std::mem::replace(n, Node::null()))
            .unwrap_or_else(|| Node::map(Map::default()));
        let Some(slot) = services.get_mut(name) else {
            return Ok(());
        };
        let service = std::mem::replace(slot, Node::null());
        let mut merged = merge_service(source, service)?;
        if let Some(m) = merged.as_map_mut() {
            m.shift_remove("extends");
        }
        *slot = merged;
        Ok(())
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "mirrors the phases' inputs one to one"
    )]
    fn extends_base_from_file(
        &mut self,
        name: &str,
        reference: &str,
        path: &str,
        ref_path: &str,
        opts: &FileOptions,
        env: &Env,
        tracker: &Tracker,
    ) -> Result<(Map, ResetPaths)> {
        let local = if ref_path.starts_with('/') {
            ref_path.to_owned()
        } else {
            paths::join(&opts.loader_dir, ref_path)
        };
        let local_dir = paths::dir(&local);
        let rel_working_dir = self.rel_dir(&opts.loader_dir, &local);
        let file_opts = FileOptions {
            interpolate: opts.interpolate,
            extends: false,
            include: false,
            validate: false,
            resolve_paths: false,
            default_values: false,
            loader_dir: local_dir.clone(),
        };
        let (mut source, processor) = self.load_yaml_file(
            &ConfigFile {
                path: local.clone(),
                content: None,
            },
            &file_opts,
            &local_dir,
            env,
            tracker,
            Node::map(Map::default()),
            &[],
        )?;
        let Some(services) = source.get("services") else {
            return Err(LoadError::new(format!(
                "cannot extend service {name:?} in {local}: no services section"
            )));
        };
        let Some(map) = services.as_map() else {
            return Err(LoadError::new(format!(
                "cannot extend service {name:?} in {local}: services must be a mapping"
            )));
        };
        if !map.contains_key(reference) {
            return Err(LoadError::new(format!(
                "cannot extend service {name:?} in {path}: service {reference:?} not found in {ref_path}"
            )));
        }
        let r = Resolver {
            working_dir: &rel_working_dir,
            home: self.home.as_deref(),
        };
        r.resolve(&mut source)?;
        let map = source
            .get("services")
            .and_then(Node::as_map)
            .cloned()
            .unwrap_or_default();
        Ok((map, processor))
    }

    fn apply_include(
        &mut self,
        cfg: &mut Node,
        working_dir: &str,
        env: &Env,
        opts: &FileOptions,
        included: &[String],
    ) -> Result<()> {
        let Some(include) = cfg.get("include").cloned() else {
            return Ok(());
        };
        if include.is_null() {
            if let Some(m) = cfg.as_map_mut() {
                m.shift_remove("include");
            }
            return Ok(());
        }
        let Some(entries) = include.as_seq() else {
            return Err(LoadError::at(
                include.span,
                format!("`include` must be a list, got {include}"),
            ));
        };
        for entry in entries {
            let (paths_list, project_directory, env_files) = match &entry.value {
                Value::String(s) => (vec![s.clone()], None, Vec::new()),
                Value::Map(m) => {
                    let p = match m.get("path") {
                        Some(Node {
                            value: Value::String(s),
                            ..
                        }) => vec![s.clone()],
                        Some(Node {
                            value: Value::Seq(items),
                            ..
                        }) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect(),
                        _ => {
                            return Err(LoadError::at(entry.span, "include entry requires a path"));
                        }
                    };
                    let pd = m
                        .get("project_directory")
                        .and_then(Node::as_str)
                        .map(str::to_owned);
                    let ef = match m.get("env_file") {
                        Some(Node {
                            value: Value::String(s),
                            ..
                        }) => vec![s.clone()],
                        Some(Node {
                            value: Value::Seq(items),
                            ..
                        }) => items
                            .iter()
                            .filter_map(|i| i.as_str().map(str::to_owned))
                            .collect(),
                        _ => Vec::new(),
                    };
                    (p, pd, ef)
                }
                _ => {
                    return Err(LoadError::at(
                        entry.span,
                        "include entry must be a string or a mapping",
                    ));
                }
            };
            let mut project_directory = project_directory;
            let mut rel_working_dir = String::new();
            let mut resolved_paths = Vec::new();
            for (i, p) in paths_list.iter().enumerate() {
                let abs = if p.starts_with('/') {
                    p.clone()
                } else {
                    paths::join(&opts.loader_dir, p)
                };
                if i == 0 {
                    match &project_directory {
                        None => {
                            rel_working_dir = self.rel_dir(&opts.loader_dir, &abs);
                            project_directory = Some(paths::dir(&abs));
                        }
                        Some(pd) if !pd.starts_with('/') => {
                            rel_working_dir =
                                self.rel_dir(&opts.loader_dir, &paths::join(&opts.loader_dir, pd));
                            project_directory = Some(paths::join(working_dir, pd));
                        }
                        Some(pd) => rel_working_dir = pd.clone(),
                    }
                    if included.contains(&abs) {
                        let mut chain = included.to_vec();
                        chain.push(abs.clone());
                        return Err(LoadError::at(
                            entry.span,
                            format!(
                                "include cycle detected:\n{}\n include {}",
                                chain[0],
                                chain[1..].join("\n include ")
                            ),
                        ));
                    }
                }
                resolved_paths.push(abs);
            }
            let project_directory = project_directory.unwrap_or_default();
            let env_files: Vec<String> = if env_files.is_empty() {
                let f = paths::join(&project_directory, ".env");
                if self.files.is_file(&f) {
                    vec![f]
                } else {
                    Vec::new()
                }
            } else {
                let mut out = Vec::new();
                for f in env_files {
                    let f = if f.starts_with('/') {
                        f
                    } else {
                        let f = paths::join(working_dir, &f);
                        if self.files.is_dir(&f) {
                            return Err(LoadError::at(entry.span, format!("{f} is not a file")));
                        }
                        if !self.files.is_file(&f) {
                            return Err(LoadError::at(
                                entry.span,
                                format!("stat {f}: no such file or directory"),
                            ));
                        }
                        f
                    };
                    out.push(f);
                }
                out
            };
            // The including environment wins: an include's env files only fill in variables
            // that are not set already (compose-go merges, it does not override).
            let mut include_env = env.clone();
            let from_files = crate::envfile::read_env_files(self.files, env, &env_files)?;
            for (k, v) in from_files {
                include_env.entry(k).or_insert(v);
            }
            let include_opts = FileOptions {
                resolve_paths: true,
                loader_dir: project_directory.clone(),
                ..opts.clone()
            };
            let files: Vec<ConfigFile> = resolved_paths
                .iter()
                .map(|p| ConfigFile {
                    path: p.clone(),
                    content: None,
                })
                .collect();
            let imported = self
                .load_yaml_model(
                    &rel_working_dir,
                    &files,
                    &include_env,
                    &include_opts,
                    included,
                )
                .map_err(|e| e.or_at(entry.span))?;
            import_resources(&imported, cfg)?;
        }
        if let Some(m) = cfg.as_map_mut() {
            m.shift_remove("include");
        }
        Ok(())
    }

    /// The directory of an included file relative to the including working directory, as
    /// Compose's local resource loader computes it.
    fn rel_dir(&self, working_dir: &str, abs: &str) -> String {
        let dir = if self.files.is_dir(abs) {
            abs.to_owned()
        } else {
            paths::dir(abs)
        };
        relative(working_dir, &dir).unwrap_or(dir)
    }
}

fn relative(base: &str, target: &str) -> Option<String> {
    if !base.starts_with('/') || !target.starts_with('/') {
        return None;
    }
    let b: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    let t: Vec<&str> = target.split('/').filter(|s| !s.is_empty()).collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", b.len() - common).collect();
    parts.extend(&t[common..]);
    Some(if parts.is_empty() {
        ".".to_owned()
    } else {
        parts.join("/")
    })
}

fn import_resources(source: &Node, target: &mut Node) -> Result<()> {
    let Some(tm) = target.as_map_mut() else {
        return Ok(());
    };
    for key in [
        "services", "volumes", "networks", "secrets", "configs", "models",
    ] {
        let Some(from) = source.get(key).and_then(Node::as_map) else {
            continue;
        };
        let to = tm
            .entry(Key::from(key))
            .or_insert_with(|| Node::map(Map::default()));
        if to.is_null() {
            *to = Node::map(Map::default());
        }
        let Some(to) = to.as_map_mut() else {
            continue;
        };
        for (name, value) in from {
            if let Some(conflict) = to.get(name.name.as_str()) {
                if conflict.same_value(value) {
                    continue;
                }
                return Err(LoadError::at(
                    conflict.span,
                    format!("{key}.{} conflicts with imported resource", name.name),
                ));
            }
            to.insert(name.clone(), value.clone());
        }
    }
    Ok(())
}

/// Compose's project name rule: lowercase letters, digits, `-` and `_`, not starting with a
/// separator.
#[must_use]
pub fn normalize_project_name(s: &str) -> String {
    let lower = s.to_lowercase();
    let kept: String = lower
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    kept.trim_start_matches(['_', '-']).to_owned()
}

#[must_use]
pub fn invalid_project_name(v: &str) -> LoadError {
    LoadError::new(format!(
        "invalid project name {v:?}: must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number"
    ))
}
