//! Times the loader on a directory (the fastest of RUNS): `cargo run --release -p skiff-compose --example
//! load_timing -- DIR [RUNS]`. A profiling aid (with `perf record`), not a benchmark: the
//! benchmark against the reference is `bench/config.py`.
#![expect(clippy::print_stdout, reason = "a command-line aid")]

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| ".".to_owned());
    let runs: usize = args.next().and_then(|r| r.parse().ok()).unwrap_or(20);
    let env: indexmap::IndexMap<String, String> = std::env::vars().collect();
    let mut times = Vec::new();
    for _ in 0..runs {
        let start = Instant::now();
        let req = skiff_compose::Request::new(dir.clone(), env.clone());
        let Ok(loaded) = skiff_compose::load(&req, &skiff_compose::fs::OsFiles) else {
            println!("load failed");
            return;
        };
        let t_load = start.elapsed();
        let json = loaded.project.to_json_value();
        let t_json = start.elapsed();
        let text =
            serde_json::to_string_pretty(&skiff_compose::escape_dollars(json)).unwrap_or_default();
        let t_print = start.elapsed();
        times.push((t_load, t_json, t_print, text.len()));
    }
    times.sort();
    let (l, j, p, n) = times[0];
    println!(
        "load {:.1} ms, +to_json {:.1} ms, +print {:.1} ms ({n} bytes)",
        l.as_secs_f64() * 1e3,
        j.as_secs_f64() * 1e3,
        p.as_secs_f64() * 1e3
    );
}
