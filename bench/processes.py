#!/usr/bin/env python3
"""Benchmark: skiff supervising host processes (no Docker Engine involved).

- cold start: `skiff up -d --wait` of N process services (default 50), each a small HTTP
  server (busybox httpd) with an HTTP healthcheck (busybox wget), until all are healthy;
- recovery: SIGKILL one service's process, time until its replacement is running *and*
  healthy again (read from skiff's records, as `skiff ps` reads them); K kills (default 20),
  each on a different service, so every one meets the first, immediate restart of the
  backoff (a crash loop waits 1 s, 2 s, 4 s ... by design and is not what is measured);
- footprint: resident memory (VmRSS, and its peak VmHWM) of the detached skiff supervisor
  that supervises all N, and its CPU use while idle-supervising (healthchecks every second).

Healthchecks: interval 1s, start_period 30s, start_interval 100ms (probes every 100 ms until
the first pass). Prints medians and p99 (with 20 samples p99 is the maximum).

The work directory (state, records, compose file) is removed at the end; SKIFF_BENCH_KEEP=1
keeps it. Needs busybox. Usage:
  python3 bench/processes.py [--skiff target/release/skiff] [--services 50] [--kills 20] [--runs 3]
"""
import argparse
import os
import random
import statistics
import subprocess
import sys

import measure

HERE = os.path.dirname(os.path.abspath(__file__))


def compose_file(ports):
    lines = ["services:"]
    for i, port in enumerate(ports):
        lines += measure.httpd_service(f"s{i}", port, "1s")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", default=os.path.join(HERE, "..", "target", "release", "skiff"))
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--runs", type=int, default=3)
    o = ap.parse_args()
    skiff = os.path.abspath(o.skiff)
    if subprocess.run(["busybox", "true"]).returncode != 0:
        sys.exit("busybox is needed")
    with measure.work_dir("processes") as work:
        state = os.path.join(work, "state")
        measure.write_www(work)
        env = dict(os.environ, SKIFF_STATE_DIR=state, DOCKER_HOST="unix:///nonexistent/docker.sock", NO_COLOR="1")
        project = "benchproc"
        base = [skiff, "-p", project]
        n = o.services
        with open(os.path.join(work, "compose.yaml"), "w") as f:
            f.write(compose_file(measure.free_ports(n)))

        try:
            cold = []
            for _ in range(o.runs):
                measure.run(base + ["down"], env, work)
                cold.append(measure.timed(base + ["up", "-d", "--wait"], env, work))
            noop = min(measure.timed(base + ["up", "-d"], env, work) for _ in range(3))

            supervisor = measure.record(state, project, "s0")["supervisor"]["pid"]
            # Idle supervision: CPU over 10 s, memory after it.
            idle_cpu = measure.cpu_percent(supervisor, 10)
            idle = measure.proc_status(supervisor)

            recovery = []
            for i in random.Random(7).sample(range(n), min(o.kills, n)):
                _, healthy = measure.kill_and_await_replacement(state, project, f"s{i}", timeout=30, interval=0.002)
                recovery.append(healthy)
            after = measure.proc_status(supervisor)
            down = measure.timed(base + ["down"], env, work)
        finally:
            measure.run(base + ["down"], env, work, check=False)

    ms = lambda s: f"{s * 1000:8.0f} ms"
    print(f"skiff: {skiff}")
    print(f"{n} process services, busybox httpd + HTTP healthcheck each; no Docker Engine")
    print(f"  up -d --wait, cold, to all healthy   median {ms(statistics.median(cold))}  (runs: {', '.join(f'{c:.2f}s' for c in cold)})")
    print(f"  up -d, nothing to do                 best   {ms(noop)}")
    print(f"  down (SIGTERM, all {n})                     {ms(down)}")
    print(f"  SIGKILL -> replacement healthy       median {ms(statistics.median(recovery))}  p99 {ms(measure.pct(recovery, 0.99))}  min {ms(min(recovery))}  ({len(recovery)} kills)")
    print(f"  supervisor (pid {supervisor}) VmRSS idle {idle['VmRSS']}, after the kills {after['VmRSS']}, peak VmHWM {after['VmHWM']}, threads {after['Threads']}")
    print(f"  supervisor CPU while supervising {n} (probes every 1 s each): {idle_cpu:.1f}% of one core")


if __name__ == "__main__":
    main()
