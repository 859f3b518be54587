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

Needs busybox. Usage:
  python3 bench/processes.py [--skiff target/release/skiff] [--services 50] [--kills 20] [--runs 3]
"""
import argparse
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_ports(n):
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def compose_file(ports):
    lines = ["services:"]
    for i, port in enumerate(ports):
        lines += [
            f"  s{i}:",
            f"    command: [busybox, httpd, -f, -p, '127.0.0.1:{port}', -h, www]",
            "    healthcheck:",
            f"      test: [CMD, busybox, wget, -q, -O, /dev/null, 'http://127.0.0.1:{port}/']",
            "      interval: 1s",
            "      timeout: 2s",
            "      start_period: 30s",
            "      start_interval: 100ms",
            "    restart: always",
            "    x-skiff: {runtime: process}",
        ]
    return "\n".join(lines) + "\n"


def run(cmd, env, cwd, check=True):
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr.decode()[-1500:]}")
    return p


def timed(cmd, env, cwd):
    start = time.perf_counter()
    run(cmd, env, cwd)
    return time.perf_counter() - start


def record(state, project, service):
    try:
        with open(os.path.join(state, project, f"{service}-1.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def pct(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


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
    work = tempfile.mkdtemp(prefix="skiff-bench-processes-")
    state = os.path.join(work, "state")
    os.makedirs(os.path.join(work, "www"))
    with open(os.path.join(work, "www", "index.html"), "w") as f:
        f.write("ok\n")
    env = dict(os.environ, SKIFF_STATE_DIR=state, DOCKER_HOST="unix:///nonexistent/docker.sock", NO_COLOR="1")
    project = "benchproc"
    base = [skiff, "-p", project]
    n = o.services
    with open(os.path.join(work, "compose.yaml"), "w") as f:
        f.write(compose_file(free_ports(n)))

    try:
        cold = []
        for _ in range(o.runs):
            run(base + ["down"], env, work)
            cold.append(timed(base + ["up", "-d", "--wait"], env, work))
        noop = min(timed(base + ["up", "-d"], env, work) for _ in range(3))

        supervisor = record(state, project, "s0")["supervisor"]["pid"]
        # Idle supervision: CPU over 10 s, memory after it.
        t0, c0 = time.perf_counter(), cpu_ticks(supervisor)
        time.sleep(10)
        hz = os.sysconf("SC_CLK_TCK")
        idle_cpu = (cpu_ticks(supervisor) - c0) / hz / (time.perf_counter() - t0) * 100
        idle = proc_status(supervisor)

        recovery = []
        services = random.Random(7).sample(range(n), min(o.kills, n))
        for i in services:
            svc = f"s{i}"
            before = record(state, project, svc)
            old = before["pid"]
            os.kill(old, signal.SIGKILL)
            start = time.perf_counter()
            deadline = start + 30
            while True:
                r = record(state, project, svc)
                if r and r["pid"] != old and r.get("health") == "healthy" and r["status"]["state"] == "running":
                    recovery.append(time.perf_counter() - start)
                    break
                if time.perf_counter() > deadline:
                    sys.exit(f"{svc} was not replaced and healthy within 30 s: {r}")
                time.sleep(0.002)
        after = proc_status(supervisor)
        down = timed(base + ["down"], env, work)
    finally:
        run(base + ["down"], env, work, check=False)

    ms = lambda s: f"{s * 1000:8.0f} ms"
    print(f"skiff: {skiff}")
    print(f"{n} process services, busybox httpd + HTTP healthcheck each; no Docker Engine")
    print(f"  up -d --wait, cold, to all healthy   median {ms(statistics.median(cold))}  (runs: {', '.join(f'{c:.2f}s' for c in cold)})")
    print(f"  up -d, nothing to do                 best   {ms(noop)}")
    print(f"  down (SIGTERM, all {n})                     {ms(down)}")
    print(f"  SIGKILL -> replacement healthy       median {ms(statistics.median(recovery))}  p99 {ms(pct(recovery, 0.99))}  min {ms(min(recovery))}  ({len(recovery)} kills)")
    print(f"  supervisor (pid {supervisor}) VmRSS idle {idle['VmRSS']}, after the kills {after['VmRSS']}, peak VmHWM {after['VmHWM']}, threads {after['Threads']}")
    print(f"  supervisor CPU while supervising {n} (probes every 1 s each): {idle_cpu:.1f}% of one core")


if __name__ == "__main__":
    main()
