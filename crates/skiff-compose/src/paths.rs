//! Relative paths in a file are resolved against the directory that file belongs to.

use crate::canonical::clean_path;
use crate::error::{LoadError, Result};
use crate::node::{Node, Value};
use crate::treepath::TreePath;

/// Where relative paths point, and the home directory for `~`.
pub struct Resolver<'a> {
    pub working_dir: &'a str,
    pub home: Option<&'a str>,
}

#[derive(Clone, Copy)]
enum Kind {
    Context,
    MaybeUnix,
    Abs,
    Extends,
    Symlink,
    VolumeMount,
    DriverOpts,
}

const RESOLVERS: &[(&str, Kind)] = &[
    ("services.*.build.context", Kind::Context),
    ("services.*.build.additional_contexts.*", Kind::Context),
    ("services.*.build.ssh.*", Kind::MaybeUnix),
    ("services.*.env_file.*.path", Kind::Abs),
    ("services.*.label_file.*", Kind::Abs),
    ("services.*.extends.file", Kind::Extends),
    ("services.*.develop.watch.*.path", Kind::Symlink),
    ("services.*.volumes.*", Kind::VolumeMount),
    ("configs.*.file", Kind::MaybeUnix),
    ("secrets.*.file", Kind::MaybeUnix),
    ("include.path", Kind::Abs),
    ("include.project_directory", Kind::Abs),
    ("include.env_file", Kind::Abs),
    ("volumes.*", Kind::DriverOpts),
];

static RESOLVER_INDEX: std::sync::LazyLock<crate::treepath::Compiled<Kind>> =
    std::sync::LazyLock::new(|| crate::treepath::Compiled::new(RESOLVERS));

/// `filepath.Join` for Unix paths.
#[must_use]
pub fn join(base: &str, rel: &str) -> String {
    if base.is_empty() {
        return clean_path(rel);
    }
    clean_path(&format!("{base}/{rel}"))
}

/// The directory part of a path, as `filepath.Dir`.
#[must_use]
pub fn dir(p: &str) -> String {
    match p.rfind('/') {
        Some(0) => "/".to_owned(),
        Some(i) => clean_path(&p[..i]),
        None => ".".to_owned(),
    }
}

/// The last element of a path, as `filepath.Base`.
#[must_use]
pub fn base(p: &str) -> String {
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return if p.is_empty() { ".".into() } else { "/".into() };
    }
    t.rsplit('/').next().unwrap_or(t).to_owned()
}

impl Resolver<'_> {
    /// Resolves every path field of a document in place.
    ///
    /// # Errors
    /// A bind mount without a source.
    pub fn resolve(&self, node: &mut Node) -> Result<()> {
        self.walk(node, &TreePath::root())
    }

    fn walk(&self, node: &mut Node, path: &TreePath<'_>) -> Result<()> {
        if let Some(kind) = RESOLVER_INDEX.find(path) {
            return self.apply(kind, node);
        }
        match &mut node.value {
            Value::Map(m) => {
                for (k, v) in m.iter_mut() {
                    self.walk(v, &path.next(&k.name))?;
                }
            }
            Value::Seq(items) => {
                let next = path.next("[]");
                for item in items {
                    self.walk(item, &next)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// `~` expansion as Compose does it.
    #[must_use]
    pub fn expand_user(&self, p: &str) -> String {
        if let Some(rest) = p.strip_prefix('~')
            && let Some(home) = self.home
        {
            return join(home, rest);
        }
        p.to_owned()
    }

    /// An absolute version of `p`.
    #[must_use]
    pub fn abs(&self, p: &str) -> String {
        let p = self.expand_user(p);
        if p.starts_with('/') || p.is_empty() {
            return p;
        }
        join(self.working_dir, &p)
    }

    fn set_string(node: &mut Node, f: impl Fn(&str) -> String) {
        if let Value::String(s) = &node.value {
            node.value = Value::String(f(s));
        }
    }

    fn apply(&self, kind: Kind, node: &mut Node) -> Result<()> {
        match kind {
            Kind::Context => Self::set_string(node, |v| {
                if v.contains("://")
                    || v.starts_with("service:")
                    || [
                        "https://",
                        "http://",
                        "git://",
                        "ssh://",
                        "github.com/",
                        "git@",
                    ]
                    .iter()
                    .any(|p| v.starts_with(p))
                {
                    v.to_owned()
                } else {
                    self.abs(v)
                }
            }),
            Kind::MaybeUnix | Kind::Symlink => Self::set_string(node, |v| self.maybe_unix(v)),
            Kind::Abs | Kind::Extends => match &mut node.value {
                Value::Seq(items) => {
                    for i in items {
                        Self::set_string(i, |v| self.abs(v));
                    }
                }
                _ => Self::set_string(node, |v| self.abs(v)),
            },
            Kind::VolumeMount => {
                let span = node.span;
                if let Some(m) = node.as_map_mut()
                    && m.get("type").and_then(Node::as_str) == Some("bind")
                {
                    let Some(src) = m.get_mut("source") else {
                        return Err(LoadError::at(
                            span,
                            "invalid mount config for type \"bind\": field Source must not be empty",
                        ));
                    };
                    Self::set_string(src, |v| self.maybe_unix(v));
                }
            }
            Kind::DriverOpts => {
                let Some(m) = node.as_map_mut() else {
                    return Ok(());
                };
                if m.get("driver").and_then(Node::as_str) != Some("local") {
                    return Ok(());
                }
                if let Some(opts) = m.get_mut("driver_opts").and_then(Node::as_map_mut)
                    && opts.get("o").and_then(Node::as_str) == Some("bind")
                    && let Some(dev) = opts.get_mut("device")
                {
                    Self::set_string(dev, |v| self.maybe_unix(v));
                }
            }
        }
        Ok(())
    }

    fn maybe_unix(&self, p: &str) -> String {
        let p = self.expand_user(p);
        if p.starts_with('/') || is_windows_abs(&p) {
            return p;
        }
        join(self.working_dir, &p)
    }
}

fn is_windows_abs(p: &str) -> bool {
    let b = p.as_bytes();
    (b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/'))
        || p.starts_with("\\\\")
}
