//! Building service images through the engine's build API: the context is tarred in-process,
//! honouring `.dockerignore`; `args`, `target`, `labels`, `dockerfile` (or `dockerfile_inline`)
//! are passed on.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::query_parameters::BuildImageOptionsBuilder;
use futures_util::StreamExt;
use skiff_model::compose::BuildConfig;

use crate::engine::{Engine, EngineError};

/// One `.dockerignore` rule.
#[derive(Debug, Clone)]
struct Rule {
    pattern: Vec<String>,
    exclude: bool,
}

/// `.dockerignore` rules: Go `filepath.Match` patterns with `**`, later rules win, `!`
/// re-includes.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    rules: Vec<Rule>,
}

impl Ignore {
    #[must_use]
    pub fn parse(text: &str) -> Ignore {
        let rules = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(|l| {
                let (exclude, p) = match l.strip_prefix('!') {
                    Some(rest) => (false, rest.trim()),
                    None => (true, l),
                };
                let p = p.trim_start_matches('/').trim_end_matches('/');
                Rule {
                    pattern: p
                        .split('/')
                        .filter(|s| !s.is_empty() && *s != ".")
                        .map(str::to_owned)
                        .collect(),
                    exclude,
                }
            })
            .collect();
        Ignore { rules }
    }

    /// Whether a context-relative path (slash-separated) is left out of the context.
    #[must_use]
    pub fn excluded(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for r in &self.rules {
            // A rule matching a parent directory matches everything below it.
            let hit = (1..=parts.len()).any(|n| match_parts(&r.pattern, &parts[..n]));
            if hit {
                excluded = r.exclude;
            }
        }
        excluded
    }
}

fn match_parts(pattern: &[String], parts: &[&str]) -> bool {
    match (pattern.first(), parts.first()) {
        (None, None) => true,
        (Some(p), _) if p == "**" => {
            (0..=parts.len()).any(|skip| match_parts(&pattern[1..], &parts[skip..]))
        }
        (Some(p), Some(s)) => {
            glob(p.as_bytes(), s.as_bytes()) && match_parts(&pattern[1..], &parts[1..])
        }
        _ => false,
    }
}

/// `*`, `?` and `[...]` within one path element.
fn glob(p: &[u8], s: &[u8]) -> bool {
    match p.first() {
        None => s.is_empty(),
        Some(b'*') => (0..=s.len()).any(|i| glob(&p[1..], &s[i..])),
        Some(b'?') => !s.is_empty() && glob(&p[1..], &s[1..]),
        Some(b'[') => {
            let Some(end) = p.iter().position(|c| *c == b']') else {
                return false;
            };
            let Some(c) = s.first() else { return false };
            let class = &p[1..end];
            let (negate, class) = match class.first() {
                Some(b'^' | b'!') => (true, &class[1..]),
                _ => (false, class),
            };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != negate && glob(&p[end + 1..], &s[1..])
        }
        Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && glob(&p[2..], &s[1..]),
        Some(c) => s.first() == Some(c) && glob(&p[1..], &s[1..]),
    }
}

/// Tars a build context, leaving out what `.dockerignore` excludes (the Dockerfile and
/// `.dockerignore` themselves are always sent, as the engine needs them).
///
/// # Errors
/// An unreadable file in the context.
pub fn context_tar(dir: &Path, dockerfile: &str) -> std::io::Result<Vec<u8>> {
    let ignore = std::fs::read_to_string(dir.join(".dockerignore"))
        .map(|t| Ignore::parse(&t))
        .unwrap_or_default();
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let mut entries: Vec<_> = std::fs::read_dir(&abs)?.collect::<Result<_, _>>()?;
        entries.sort_by_key(std::fs::DirEntry::file_name);
        for e in entries {
            let rel_path = rel.join(e.file_name());
            let text = rel_path.to_string_lossy().replace('\\', "/");
            let keep_always = text == dockerfile || text == ".dockerignore";
            if !keep_always && ignore.excluded(&text) {
                continue;
            }
            let ft = e.file_type()?;
            if ft.is_dir() {
                builder.append_dir(&rel_path, e.path())?;
                stack.push(rel_path);
            } else {
                builder.append_path_with_name(e.path(), &rel_path)?;
            }
        }
    }
    builder.into_inner()
}

/// Builds a service's image, streaming the engine's output lines to `on_line`.
///
/// # Errors
/// An unreadable context, or a failed build (with the engine's message).
pub async fn build(
    engine: &Engine,
    image: &str,
    build: &BuildConfig,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    let context = if build.context.is_empty() {
        "."
    } else {
        &build.context
    };
    if context.contains("://") {
        return Err(EngineError::Other(format!(
            "remote build context {context:?} is not supported; clone it and point `context` at the directory"
        )));
    }
    let dockerfile = if build.dockerfile.is_empty() {
        "Dockerfile"
    } else {
        &build.dockerfile
    };
    let mut tar_bytes = context_tar(Path::new(context), dockerfile)
        .map_err(|e| EngineError::Other(format!("cannot read build context {context}: {e}")))?;
    let mut dockerfile_name = dockerfile.to_owned();
    if !build.dockerfile_inline.is_empty() {
        let inline = &build.dockerfile_inline;
        // Append the inline Dockerfile to the context under a name no user file has.
        let mut b = tar::Builder::new(Vec::new());
        let mut archive = tar::Archive::new(tar_bytes.as_slice());
        for entry in archive
            .entries()
            .map_err(|e| EngineError::Other(e.to_string()))?
        {
            let mut entry = entry.map_err(|e| EngineError::Other(e.to_string()))?;
            let header = entry.header().clone();
            b.append(&header, &mut entry)
                .map_err(|e| EngineError::Other(e.to_string()))?;
        }
        let mut header = tar::Header::new_gnu();
        header.set_size(inline.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        b.append_data(&mut header, ".skiff.Dockerfile.inline", inline.as_bytes())
            .map_err(|e| EngineError::Other(e.to_string()))?;
        tar_bytes = b
            .into_inner()
            .map_err(|e| EngineError::Other(e.to_string()))?;
        dockerfile_name = ".skiff.Dockerfile.inline".to_owned();
    }
    let args: HashMap<String, String> = build
        .args
        .iter()
        .filter_map(|(k, v)| Some((k.clone(), v.clone()?)))
        .collect();
    let labels: HashMap<String, String> = build.labels.clone().into_iter().collect();
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(&dockerfile_name)
        .t(image)
        .rm(true)
        .buildargs(&args)
        .labels(&labels);
    if !build.target.is_empty() {
        opts = opts.target(&build.target);
    }
    if !build.network.is_empty() {
        opts = opts.networkmode(&build.network);
    }
    let mut stream = engine.docker.build_image(
        opts.build(),
        None,
        Some(bollard::body_full(tar_bytes.into())),
    );
    while let Some(item) = stream.next().await {
        let info = item.map_err(EngineError::call(format!("build {image}")))?;
        if let Some(detail) = info.error_detail.and_then(|d| d.message) {
            return Err(EngineError::Other(format!(
                "build {image} failed: {detail}"
            )));
        }
        if let Some(line) = info.stream {
            for l in line.lines().filter(|l| !l.trim().is_empty()) {
                on_line(l);
            }
        }
    }
    Ok(())
}

/// Builds the images of a project's services with `build:`, `only` those (all when empty):
/// every one when `force`, else only those whose image the engine lacks. Says what it builds
/// and the build's output lines through `say`.
///
/// # Errors
/// A build fails (the first failure ends it).
pub async fn build_missing(
    engine: &Engine,
    project: &crate::project::Project,
    only: &[String],
    force: bool,
    say: &(dyn Fn(&str) + Sync),
) -> Result<(), EngineError> {
    for (name, svc) in project.services() {
        if !only.is_empty() && !only.contains(name) {
            continue;
        }
        let Some(build) = &svc.build else {
            continue;
        };
        let image = project.image(name, svc);
        if !force && engine.has_image(&image).await {
            continue;
        }
        say(&format!("service {name}: building {image}"));
        let prefix = format!("service {name}: ");
        self::build(engine, &image, build, &|line| {
            say(&format!("{prefix}{line}"))
        })
        .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_rules() {
        let ig = Ignore::parse(
            "# comment\nnode_modules\n*.log\n!keep.log\ntarget/**\n**/secret.txt\n/build\n",
        );
        assert!(ig.excluded("node_modules"));
        assert!(ig.excluded("node_modules/x/y.js"));
        assert!(ig.excluded("app.log"));
        assert!(!ig.excluded("keep.log"));
        assert!(ig.excluded("target/release/app"));
        assert!(ig.excluded("a/b/secret.txt"));
        assert!(ig.excluded("secret.txt"));
        assert!(ig.excluded("build/out"));
        assert!(!ig.excluded("src/main.rs"));
        assert!(
            !ig.excluded("sub/app.log"),
            "*.log matches the top level only, as in Docker"
        );
    }

    #[test]
    fn context_leaves_out_ignored_files() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").expect("write");
        std::fs::write(dir.path().join(".dockerignore"), "*.secret\nDockerfile\n").expect("write");
        std::fs::write(dir.path().join("a.secret"), "x").expect("write");
        std::fs::create_dir(dir.path().join("src")).expect("mkdir");
        std::fs::write(dir.path().join("src/app"), "y").expect("write");
        let bytes = context_tar(dir.path(), "Dockerfile").expect("tar");
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut names: Vec<String> = archive
            .entries()
            .expect("entries")
            .map(|e| {
                e.expect("entry")
                    .path()
                    .expect("path")
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        names.sort();
        assert_eq!(names, vec![".dockerignore", "Dockerfile", "src", "src/app"]);
    }
}
