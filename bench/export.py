#!/usr/bin/env python3
"""Benchmark: `skiff export kubernetes` of a generated 1000-service stack (target: < 150 ms, the whole command).

The stack has what exports into many objects: every service with ports or expose, environment
(with secret-looking variables), a healthcheck with start_period, resources, replicas and a
security context; every tenth owns a named volume (a StatefulSet and a claim); plus jobs,
routes and data boundaries. Each layout is exported into a fresh directory, and beside it,
in the same run, the floor: writing the very same bytes, measured two ways:

  cp -r     one process copying the export's files into a new directory (reads + writes);
  write     this Python process writing the bytes, already in memory, into new files.

`skiff config -q` (the loader alone: parse, interpolate, validate, bind) is printed too, to
show how much of the export is loading the compose file. Then the phases in one process
(crates/skiff-k8s/examples/export_phases.rs): load, export (typed objects) and render (YAML and
layout), beside the floor of serialising the same objects, and the time to write the layout's
bytes (the same for any exporter, so shown, not compared; the table above compares writing).
Times are medians of --runs runs after one warm-up; ratios are skiff / floor.

Usage: python3 bench/export.py [--skiff target/release/skiff] [--services 1000] [--runs 7]
                               [--scratch /dev/shm]
(builds target/release/skiff with cargo when it is missing or --build is given)
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_MS = 150.0


def generate(n, d):
    lines = ["name: bench", "services:"]
    for i in range(n):
        lines += [
            f"  svc{i}:",
            f"    image: registry.example.com/bench/svc{i}:1.{i % 7}",
            f"    command: [\"serve\", \"--port\", \"{8000 + i % 100}\"]",
        ]
        if i % 10 == 0:
            lines += [f"    volumes: [\"data{i}:/var/lib/data\"]", f"    expose: [\"{5000 + i % 100}\"]"]
        else:
            lines += [f"    ports: [\"{8000 + i % 100}\"]"]
        lines += [
            "    environment:",
            f"      INDEX: \"{i}\"",
            f"      PEER: http://svc{(i + 1) % n}:8000",
            f"      API_TOKEN: token-{i}",
            "    healthcheck:",
            "      test: [\"CMD\", \"wget\", \"-qO-\", \"http://localhost:8000/health\"]",
            "      interval: 10s",
            "      timeout: 2s",
            "      retries: 3",
            "      start_period: 20s",
            "    deploy:",
            f"      replicas: {1 + i % 3}",
            "      resources:",
            "        limits: {cpus: \"0.5\", memory: 256M}",
            "        reservations: {cpus: \"0.1\", memory: 64M}",
            "    user: \"1000:1000\"",
            "    read_only: true",
            "    cap_drop: [ALL]",
        ]
    lines.append("volumes:")
    lines += [f"  data{i}: {{}}" for i in range(0, n, 10)]
    lines += ["x-skiff:", "  jobs:"]
    lines += [f"    job{j}: {{schedule: \"{j % 60} * * * *\", service: svc{j * 7 % n}, command: [\"run\", \"{j}\"]}}"
              for j in range(n // 20)]
    lines.append("  routes:")
    lines += [f"    r{j}: {{host: r{j}.example.com, service: svc{j * 3 % n}, port: {8000 + (j * 3 % n) % 100}}}"
              for j in range(1, n // 10) if (j * 3 % n) % 10 != 0]
    lines.append("  boundaries:")
    for b in range(n // 100):
        members = ", ".join(f"svc{b * 100 + k}" for k in range(0, 100, 10))
        lines += [f"    zone{b}:", f"      services: [{members}]", "      egress: deny",
                  f"      allow_from: [svc{(b * 100 + 1) % n}]"]
    path = os.path.join(d, "compose.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def run(cmd, cwd):
    """Wall time in seconds and max RSS in MiB of one command."""
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.execv(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, usage = os.wait4(pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        subprocess.run(cmd, cwd=cwd)
        sys.exit(f"failed: {' '.join(cmd)}")
    return elapsed, usage.ru_maxrss / 1024


def median_of(runs, fn):
    fn()  # warm-up: page cache, binary loaded
    samples = [fn() for _ in range(runs)]
    return statistics.median(s[0] for s in samples), max(s[1] for s in samples)


def files_of(d):
    out = []
    for base, _, names in os.walk(d):
        for n in names:
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out.append((os.path.relpath(p, d), f.read()))
    return out


def write_floor(files, scratch):
    d = tempfile.mkdtemp(dir=scratch)
    start = time.perf_counter()
    for rel, data in files:
        p = os.path.join(d, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
    return time.perf_counter() - start, 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--skiff", default=os.path.join(ROOT, "target/release/skiff"))
    ap.add_argument("--services", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--build", action="store_true", help="cargo build --release -p skiff first")
    ap.add_argument("--scratch", default=None,
                    help="where outputs are written (default: the system's temporary directory; "
                         "/dev/shm takes the disk out of the figures)")
    args = ap.parse_args()
    if args.build or not os.path.exists(args.skiff):
        subprocess.run(["cargo", "build", "--release", "-p", "skiff"], cwd=ROOT, check=True)
    skiff = os.path.abspath(args.skiff)
    phases = os.path.join(ROOT, "target/release/examples/export_phases")
    if args.build or not os.path.exists(phases):
        subprocess.run(["cargo", "build", "--release", "-p", "skiff-k8s", "--example", "export_phases"],
                       cwd=ROOT, check=True)
    cp = shutil.which("cp")

    with tempfile.TemporaryDirectory(dir=args.scratch) as work:
        stack = os.path.join(work, "stack")
        scratch = os.path.join(work, "scratch")
        os.makedirs(stack)
        os.makedirs(scratch)
        generate(args.services, stack)

        load_t, load_m = median_of(args.runs, lambda: run([skiff, "config", "-q"], stack))
        print(f"stack: {args.services} services; skiff {skiff}; median of {args.runs} runs")
        print(f"skiff config -q (loading alone): {load_t * 1000:.1f} ms, {load_m:.0f} MiB\n")
        print("the command, as a user runs it (wall time):")
        header = (f"{'layout':<12} {'files':>6} {'MiB':>5} {'skiff ms':>9} {'cp -r ms':>9} "
                  f"{'write ms':>9} {'/cp':>6} {'/write':>7} {'skiff MiB':>10} {'< 150 ms':>9}")
        print(header)
        ok = True
        for layout in ["manifests", "single-file", "kustomize", "helm"]:
            sample = os.path.join(work, f"sample-{layout}")
            run([skiff, "export", "kubernetes", "--format", layout, "-o", sample], stack)
            files = files_of(sample)
            size = sum(len(b) for _, b in files) / (1 << 20)

            def export():
                out = tempfile.mkdtemp(dir=scratch)
                return run([skiff, "export", "kubernetes", "--format", layout, "-o",
                            os.path.join(out, "k8s")], stack)

            def copy():
                out = tempfile.mkdtemp(dir=scratch)
                return run([cp, "-r", sample, os.path.join(out, "k8s")], stack)

            s_t, s_m = median_of(args.runs, export)
            c_t, _ = median_of(args.runs, copy)
            w_t, _ = median_of(args.runs, lambda: write_floor(files, scratch))
            within = s_t * 1000 < TARGET_MS
            ok &= within
            print(f"{layout:<12} {len(files):>6} {size:>5.1f} {s_t * 1000:>9.1f} {c_t * 1000:>9.1f} "
                  f"{w_t * 1000:>9.1f} {s_t / c_t:>5.1f}x {s_t / w_t:>6.1f}x {s_m:>10.0f} "
                  f"{'yes' if within else 'NO':>9}")
            shutil.rmtree(scratch)
            os.makedirs(scratch)

        # In one process: where the time goes, and the floor of serialising the same objects
        # (one YAML document each); writing the bytes is shown beside, not compared.
        print(f"\nin one process (crates/skiff-k8s/examples/export_phases.rs), ms:")
        print(f"{'layout':<12} {'load':>6} {'export':>7} {'render':>7} {'e+r':>6} "
              f"{'floor ser':>10} {'ratio':>6} {'write':>6}")
        compose = os.path.join(stack, "compose.yaml")
        for layout in ["manifests", "single-file", "kustomize", "helm"]:
            out = subprocess.run([phases, compose, layout, str(args.runs)], check=True,
                                 capture_output=True, text=True,
                                 env=dict(os.environ, TMPDIR=scratch)).stdout
            f = json.loads(out)
            work_ms = f["export_ms"] + f["render_ms"]
            print(f"{layout:<12} {f['load_ms']:>6.1f} {f['export_ms']:>7.1f} {f['render_ms']:>7.1f} "
                  f"{work_ms:>6.1f} {f['floor_serialise_ms']:>10.1f} "
                  f"{work_ms / f['floor_serialise_ms']:>5.1f}x {f['floor_write_ms']:>6.1f}")
        print(f"({f['objects']} objects; e+r = export + render, the work after loading and before "
              f"writing; floor ser = serialising the objects; write = writing the layout's bytes)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
