//! The loader's outputs besides `config --format json`, against docker compose v2.40.3:
//! skiff's own cases with recorded expectations (`tests/corpus/`), and the shared corpus's
//! inputs run through both tools for the columns whose logic is skiff's own.

#![expect(clippy::print_stderr, reason = "a skipped test says why")]

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum How {
    Json,
    Lines,
    Exact,
}

struct Column {
    args: Vec<String>,
    how: How,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn columns() -> BTreeMap<String, Column> {
    let text = std::fs::read_to_string(corpus_dir().join("COLUMNS")).expect("COLUMNS");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, rest) = line.split_once(':').expect("column: command | how");
        let (command, how) = rest.rsplit_once('|').expect("column: command | how");
        let how = match how.trim() {
            "json" => How::Json,
            "lines" => How::Lines,
            "exact" => How::Exact,
            other => panic!("COLUMNS: unknown comparison {other}"),
        };
        out.insert(
            name.trim().to_owned(),
            Column {
                args: command.split_whitespace().map(str::to_owned).collect(),
                how,
            },
        );
    }
    out
}

/// `KEY=VALUE` lines, the case's whole environment besides PATH and HOME.
fn case_env(dir: &Path) -> Vec<(String, String)> {
    let mut env = vec![
        ("PATH".to_owned(), "/usr/bin:/bin".to_owned()),
        ("HOME".to_owned(), "/root".to_owned()),
    ];
    if let Ok(text) = std::fs::read_to_string(dir.join("env")) {
        for line in text.lines() {
            if let Some((k, v)) = line.split_once('=') {
                env.push((k.to_owned(), v.to_owned()));
            }
        }
    }
    env
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read case") {
        let entry = entry.expect("entry");
        let name = entry.file_name();
        if name == "expected" || name == "expected.json" || name == "expected-error.txt" {
            continue;
        }
        let kind = entry.file_type().expect("type");
        let target = to.join(&name);
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).expect("link");
            std::os::unix::fs::symlink(link, target).expect("symlink");
        } else if kind.is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// Runs `tool ARGS COLUMN` in a fresh copy of the case at `run_dir`; `None` when it fails.
fn run(tool: &Path, case: &Path, run_dir: &Path, column: &Column) -> Option<String> {
    let _ = std::fs::remove_dir_all(run_dir);
    copy_tree(case, run_dir);
    let args = std::fs::read_to_string(case.join("args")).unwrap_or_default();
    let out = Command::new(tool)
        .args(args.split_whitespace())
        .args(&column.args)
        .current_dir(run_dir)
        .env_clear()
        .envs(case_env(case))
        .stdin(Stdio::null())
        .output()
        .expect("the tool runs");
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout).replace(&*run_dir.to_string_lossy(), "${CASE_DIR}")
    })
}

fn same(how: How, want: &str, got: &str) -> bool {
    match how {
        How::Exact => want == got,
        How::Lines => {
            fn sorted(s: &str) -> Vec<&str> {
                let mut l: Vec<&str> = s.lines().collect();
                l.sort_unstable();
                l
            }
            sorted(want) == sorted(got) && want.ends_with('\n') == got.ends_with('\n')
        }
        How::Json => {
            let parse = |s: &str| serde_json::from_str::<serde_json::Value>(s).ok();
            parse(want).is_some() && parse(want) == parse(got)
        }
    }
}

#[test]
fn every_recorded_column_of_our_cases_matches_docker_compose() {
    let cols = columns();
    let skiff = Path::new(env!("CARGO_BIN_EXE_skiff"));
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("corpus")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected").is_dir())
        .collect();
    cases.sort();
    for case in &cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let mut expected: Vec<PathBuf> = std::fs::read_dir(case.join("expected"))
            .expect("expected")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        expected.sort();
        for file in expected {
            let col_name = file
                .file_name()
                .expect("name")
                .to_string_lossy()
                .into_owned();
            let column = cols
                .get(&col_name)
                .unwrap_or_else(|| panic!("{name}: no column {col_name} in COLUMNS"));
            let want = std::fs::read_to_string(&file).expect("expected");
            let run_dir = PathBuf::from("/tmp/skiff-corpus").join(&name);
            let got = run(skiff, case, &run_dir, column);
            checked += 1;
            match got {
                Some(got) if same(column.how, &want, &got) => {}
                Some(got) => failures.push(format!(
                    "{name} {col_name}:\n--- docker compose\n{want}\n--- skiff\n{got}"
                )),
                None => failures.push(format!("{name} {col_name}: skiff failed")),
            }
        }
    }
    assert!(checked >= 8, "only {checked} recorded outputs found");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Shared-corpus cases where skiff differs from docker compose on purpose, with the reason.
const DIFFERS_ON_PURPOSE: &[(&str, &str, &str)] = &[(
    "dc-e2e-0809-env-secret-compose-yaml",
    "no-interpolate",
    "compose prints the secret's value read from an included env_file (x-#value); skiff never prints a secret",
)];

#[test]
fn hash_yaml_and_no_interpolate_match_docker_compose_on_the_shared_corpus() {
    let Some(reference) = support::reference_compose() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/cases");
    if !root.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI=true but ../shared/conformance is missing"
        );
        eprintln!("skipping: ../shared/conformance not found beside the repository");
        return;
    }
    let cols = columns();
    let skiff = PathBuf::from(env!("CARGO_BIN_EXE_skiff"));
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("cases")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    cases.sort();
    let work: Vec<(PathBuf, &str)> = cases
        .iter()
        .flat_map(|c| ["hash", "no-interpolate", "yaml"].map(|col| (c.clone(), col)))
        .collect();
    let workers = 4;
    let results: Vec<Vec<String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (work, cols, reference, skiff) = (&work, &cols, &reference, &skiff);
                scope.spawn(move || {
                    let mut bad = Vec::new();
                    for (case, col) in work.iter().skip(w).step_by(workers) {
                        let name = case.file_name().expect("name").to_string_lossy();
                        if DIFFERS_ON_PURPOSE
                            .iter()
                            .any(|(c, k, _)| *c == name && k == col)
                        {
                            continue;
                        }
                        let column = &cols[*col];
                        // The same directory for both: hashes cover absolute paths.
                        let run_dir = PathBuf::from(format!("/tmp/skiff-columns-{w}")).join(&*name);
                        let want = run(reference, case, &run_dir, column);
                        let got = run(skiff, case, &run_dir, column);
                        let ok = match (&want, &got) {
                            (Some(w), Some(g)) => same(column.how, w, g),
                            (None, None) => true,
                            _ => false,
                        };
                        if !ok {
                            bad.push(format!(
                                "{name} {col}:\n  compose: {want:?}\n  skiff:   {got:?}"
                            ));
                        }
                    }
                    bad
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("worker"))
            .collect()
    });
    let failures: Vec<String> = results.into_iter().flatten().collect();
    assert!(
        failures.is_empty(),
        "{} of {} differ:\n{}",
        failures.len(),
        work.len(),
        failures.join("\n")
    );
}
