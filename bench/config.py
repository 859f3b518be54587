#!/usr/bin/env python3
"""Benchmark: `skiff config --format json` against the reference `docker-compose config`.

Generates stacks of 50, 200 and 1000 services (healthchecks, depends_on, networks, volumes,
interpolation, extends), runs both tools on the same files in the same run, and prints the
median wall time, peak memory (max RSS) and the ratios. Checks that both outputs are equal
as JSON before timing, so the comparison is of the same work.

Usage: python3 bench/config.py [--skiff target/release/skiff] [--runs 5] [--sizes 50,200,1000]
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def generate(n, d):
    lines = ["name: bench", "x-base: &base", "  restart: unless-stopped", "  labels:", "    team: ${TEAM:-core}", "services:"]
    lines += ["  base:", "    image: busybox:${TAG:-latest}", "    environment:", "      LEVEL: ${LEVEL:-info}",
              "    healthcheck:", "      test: [\"CMD\", \"true\"]", "      interval: 10s", "      timeout: 2s", "      retries: 3"]
    for i in range(n):
        lines.append(f"  svc{i}:")
        lines.append("    <<: *base")
        lines.append("    extends: {service: base}")
        lines.append(f"    image: registry.local/app{i}:${{TAG:-latest}}")
        lines.append(f"    command: [\"serve\", \"--port\", \"{8000 + i}\"]")
        lines.append(f"    ports: [\"{20000 + i}:{8000 + i}\"]")
        lines.append(f"    networks: [net{i % 10}]")
        lines.append(f"    volumes: [\"data{i % 20}:/data\", \"./conf/{i}:/etc/app:ro\"]")
        lines.append("    environment:")
        lines.append(f"      INDEX: \"{i}\"")
        lines.append(f"      PEER: svc{(i + 1) % n}")
        if i > 0:
            lines.append("    depends_on:")
            lines.append(f"      svc{i - 1}: {{condition: service_healthy}}")
    lines.append("networks:")
    lines += [f"  net{j}: {{}}" for j in range(10)]
    lines.append("volumes:")
    lines += [f"  data{j}: {{}}" for j in range(20)]
    path = os.path.join(d, "compose.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def measure(cmd, cwd, runs):
    times, peaks, output = [], [], None
    for _ in range(runs):
        start = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            os.chdir(cwd)
            fd = os.open(os.devnull, os.O_WRONLY)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.execvp(cmd[0], cmd)
        _, status, usage = os.wait4(pid, 0)
        times.append(time.perf_counter() - start)
        if status != 0:
            sys.exit(f"{' '.join(cmd)} exited with {status}")
        peaks.append(usage.ru_maxrss / 1024)
    output = subprocess.run(cmd, cwd=cwd, capture_output=True, check=True).stdout
    return statistics.median(times), max(peaks), output


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", default=os.path.join(HERE, "..", "target", "release", "skiff"))
    ap.add_argument("--reference", default=None)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--sizes", default="50,200,1000")
    opts = ap.parse_args()
    ref = opts.reference or subprocess.run([os.path.join(HERE, "reference.sh")], capture_output=True, text=True, check=True).stdout.strip()
    skiff = os.path.abspath(opts.skiff)
    print(f"{'services':>8} {'skiff ms':>9} {'ref ms':>9} {'speedup':>8} {'skiff MiB':>10} {'ref MiB':>9} {'mem ratio':>9}")
    for n in [int(s) for s in opts.sizes.split(",")]:
        with tempfile.TemporaryDirectory() as d:
            generate(n, d)
            s_t, s_m, s_out = measure([skiff, "config", "--format", "json"], d, opts.runs)
            r_t, r_m, r_out = measure([ref, "config", "--format", "json"], d, opts.runs)
            if json.loads(s_out) != json.loads(r_out):
                sys.exit(f"outputs differ at {n} services: the benchmark would compare different work")
            print(f"{n:>8} {s_t * 1000:>9.1f} {r_t * 1000:>9.1f} {r_t / s_t:>7.1f}x {s_m:>10.1f} {r_m:>9.1f} {r_m / s_m:>8.1f}x")


if __name__ == "__main__":
    main()
