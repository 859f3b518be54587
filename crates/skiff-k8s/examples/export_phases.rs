//! The phases of `skiff export kubernetes` (load, export, render), timed in one process, with
//! the floor beside them: serialising the same objects (each to YAML, as the manifests hold
//! them), and writing the layout's bytes to as many new files, which any exporter pays.
//! Writing is not timed as a phase of its own: here it would call the floor's `write_all`, a
//! ratio of 1 by construction; `bench/export.py` times the real binary, writing included,
//! against `cp -r` of the same files. That script runs this example too; by hand:
//!
//! ```sh
//! cargo run --release -p skiff-k8s --example export_phases -- DIR/compose.yaml manifests 7
//! ```
//!
//! Prints one JSON object of medians in milliseconds.
#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::path::Path;
use std::time::{Duration, Instant};

use skiff_compose::Request;
use skiff_compose::fs::OsFiles;
use skiff_k8s::{ExportOptions, Layout, Stack, export, render};

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1000.0
}

fn write_all(dir: &Path, files: &[(String, Vec<u8>)]) -> std::io::Result<()> {
    for (path, bytes) in files {
        let path = dir.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(compose), Some(layout)) = (args.get(1), args.get(2)) else {
        return Err(
            "usage: export_phases COMPOSE_FILE manifests|single-file|kustomize|helm [RUNS]".into(),
        );
    };
    let runs: usize = args.get(3).map_or(Ok(7), |r| r.parse())?;
    let layout = match layout.as_str() {
        "manifests" => Layout::Manifests,
        "single-file" => Layout::SingleFile,
        "kustomize" => Layout::Kustomize,
        "helm" => Layout::Helm,
        other => return Err(format!("unknown layout {other}").into()),
    };
    let compose = std::fs::canonicalize(compose)?;
    let dir = compose.parent().ok_or("no directory")?;
    let mut req = Request::new(
        dir.to_string_lossy().into_owned(),
        indexmap::IndexMap::new(),
    );
    req.files = vec![compose.to_string_lossy().into_owned()];
    let scratch = scratch_dir()?;

    let (mut load, mut exp, mut ren) = (vec![], vec![], vec![]);
    let (mut ser_floor, mut write_floor) = (vec![], vec![]);
    let mut counts = (0, 0, 0);
    for run in 0..=runs {
        let t = Instant::now();
        let loaded = skiff_compose::load(&req, &OsFiles).map_err(|(e, _)| e.to_string())?;
        let t_load = t.elapsed();
        let stack = Stack::new(
            &loaded.project,
            &loaded.extensions.project,
            &loaded.extensions.services,
        );
        let t = Instant::now();
        let exported = export(&stack, &ExportOptions::default())?;
        let t_export = t.elapsed();
        let t = Instant::now();
        let rendered = render(layout, &exported, &[])?;
        let t_render = t.elapsed();
        let files: Vec<(String, Vec<u8>)> = rendered
            .files
            .into_iter()
            .map(|f| (f.path, f.contents.into_bytes()))
            .collect();

        // the floor: the same objects serialised (one YAML document each), and the layout's
        // bytes written to as many new files
        let t = Instant::now();
        let mut serialised = 0;
        for object in &exported.objects {
            serialised += serde_saphyr::to_string(object)?.len();
        }
        let t_ser = t.elapsed();
        std::hint::black_box(serialised);
        let floor_out = scratch.join(format!("floor-{run}"));
        let t = Instant::now();
        write_all(&floor_out, &files)?;
        let t_floor_write = t.elapsed();

        counts = (
            exported.objects.len(),
            files.len(),
            files.iter().map(|f| f.1.len()).sum::<usize>(),
        );
        if run > 0 {
            load.push(t_load);
            exp.push(t_export);
            ren.push(t_render);
            ser_floor.push(t_ser);
            write_floor.push(t_floor_write);
        }
    }
    std::fs::remove_dir_all(&scratch)?;
    let figures = serde_json::json!({
        "objects": counts.0,
        "files": counts.1,
        "bytes": counts.2,
        "load_ms": median(load),
        "export_ms": median(exp),
        "render_ms": median(ren),
        "floor_serialise_ms": median(ser_floor),
        "floor_write_ms": median(write_floor),
    });
    println!("{figures}");
    Ok(())
}

/// A new directory under `TMPDIR` (bench/export.py points it at its scratch directory).
fn scratch_dir() -> std::io::Result<std::path::PathBuf> {
    let dir = std::env::temp_dir().join(format!("skiff-export-phases-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
