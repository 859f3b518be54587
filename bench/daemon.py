#!/usr/bin/env python3
"""Benchmark: the skiff daemon keeping a stack converged on the real engine and host.

The daemon (`skiff daemon`, its own state directory) is handed a stack of N services
(default 50): half containers (skiff-test/app:1, HTTP-less healthcheck run by the engine),
half host processes (busybox httpd with a busybox wget healthcheck run by the daemon). Every
service has `restart: always` and a healthcheck (interval --interval, default 10s; start_period
30s and start_interval 100ms, so a fresh instance is probed every 100 ms until it passes).

Measured:
- recovery: SIGKILL one instance (a container with `docker kill`, a process with kill -9),
  K times each (default 10), each on a different service so every kill meets the first,
  immediate restart of the backoff. From the daemon's history: kill -> `restart_scheduled`
  (death detected, restart decided) and kill -> `restarted` (the restart carried out); from
  the engine / the records: kill -> replacement running and healthy again.
- footprint: the daemon's resident memory (VmRSS, peak VmHWM) and CPU while idle
  supervising the N services for --idle seconds (default 30).

The work directory (state, daemon.log, compose file) is removed at the end; SKIFF_BENCH_KEEP=1
keeps it. Needs the Docker Engine, busybox and the test images (scripts/build-test-images.sh).
Usage:
  python3 bench/daemon.py [--skiff target/release/skiff] [--services 50] [--kills 10]
"""
import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import time
from datetime import datetime

import measure

HERE = os.path.dirname(os.path.abspath(__file__))
PROJECT = "benchdaemon"


def compose_file(n_containers, ports, interval):
    lines = ["services:"]
    for i in range(n_containers):
        lines += [
            f"  c{i}:",
            "    image: skiff-test/app:1",
            "    restart: always",
            "    healthcheck:",
            '      test: ["CMD", "/bin/skiff-testapp", "check", "health"]',
        ] + measure.healthcheck_timing(interval)
    for i, port in enumerate(ports):
        lines += measure.httpd_service(f"p{i}", port, interval)
    return "\n".join(lines) + "\n"


def container(name):
    out = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.Status}} {{.State.StartedAt}} {{.State.FinishedAt}} {{if .State.Health}}{{.State.Health.Status}}{{end}}", name],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    ).stdout.decode().split()
    return out + [""] * (4 - len(out))


def events(skiff, env, cwd, instance, after_id):
    out = measure.run([skiff, "-p", PROJECT, "events", "--format", "json", "--kind", "exited,restart_scheduled,restarted"], env, cwd)
    found = []
    for line in out.stdout.decode().splitlines():
        e = json.loads(line)
        if e["id"] > after_id and e.get("instance") == instance:
            found.append(e)
    return found


def last_id(skiff, env, cwd):
    out = measure.run([skiff, "-p", PROJECT, "events", "--format", "json", "--limit", "1"], env, cwd)
    lines = out.stdout.decode().splitlines()
    return json.loads(lines[-1])["id"] if lines else 0


def ts(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def kill_container(instance):
    """`docker kill` the container and wait until a new one runs and is healthy. Returns when
    it died by the engine's own record (time.time() scale) and the seconds from the kill to
    the healthy replacement."""
    _, started_before, _, _ = container(instance)
    killed = time.time()
    subprocess.run(["docker", "kill", instance], stdout=subprocess.DEVNULL, check=True)

    def replaced():
        status, started, finished, health = container(instance)
        if status == "running" and started != started_before and health == "healthy":
            # The engine's own record of the death.
            return ts(finished[:26] + "Z") if finished else killed

    died = measure.wait_for(replaced, 60, 0.005, f"{instance} was not replaced and healthy")
    return died, time.time() - killed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", default=os.path.join(HERE, "..", "target", "release", "skiff"))
    ap.add_argument("--services", type=int, default=50)
    ap.add_argument("--kills", type=int, default=10, help="kills per runtime")
    ap.add_argument("--interval", default="10s", help="healthcheck interval")
    ap.add_argument("--idle", type=int, default=30, help="seconds of idle measurement")
    o = ap.parse_args()
    skiff = os.path.abspath(o.skiff)
    with measure.work_dir("daemon") as work:
        state = os.path.join(work, "state")
        measure.write_www(work)
        env = dict(os.environ, SKIFF_STATE_DIR=state, NO_COLOR="1")
        env.pop("SKIFF_DAEMON_SOCKET", None)
        n_containers = o.services // 2
        n_processes = o.services - n_containers
        with open(os.path.join(work, "compose.yaml"), "w") as f:
            f.write(compose_file(n_containers, measure.free_ports(n_processes), o.interval))
        log = open(os.path.join(work, "daemon.log"), "w")
        daemon = subprocess.Popen([skiff, "daemon"], env=env, cwd=work, stdout=subprocess.DEVNULL, stderr=log)
        try:
            sock = os.path.join(state, "daemon.sock")
            for _ in range(200):
                if os.path.exists(sock):
                    break
                time.sleep(0.05)
            t = time.perf_counter()
            measure.run([skiff, "-p", PROJECT, "up", "-d", "--wait", "--timeout", "120"], env, work)
            up = time.perf_counter() - t

            # Idle: let the start settle, then measure.
            time.sleep(5)
            idle_cpu = measure.cpu_percent(daemon.pid, o.idle)
            idle = measure.proc_status(daemon.pid)

            rng = random.Random(7)
            results = {"container": [], "process": []}
            for kind, names in (("container", [f"c{i}" for i in rng.sample(range(n_containers), min(o.kills, n_containers))]),
                                ("process", [f"p{i}" for i in rng.sample(range(n_processes), min(o.kills, n_processes))])):
                for svc in names:
                    instance = f"{PROJECT}-{svc}-1"
                    after = last_id(skiff, env, work)
                    if kind == "container":
                        died, healthy = kill_container(instance)
                    else:
                        # A process's death is the kill itself.
                        died, healthy = measure.kill_and_await_replacement(state, PROJECT, svc, timeout=60, interval=0.005)
                    evs = events(skiff, env, work, instance, after)
                    sched = next(e for e in evs if e["kind"] == "restart_scheduled")
                    done = next(e for e in evs if e["kind"] == "restarted")
                    results[kind].append({
                        "detected": ts(sched["time"]) - died,
                        "restarted": ts(done["time"]) - died,
                        "healthy": healthy,
                    })
                    time.sleep(0.5)
            after_kills = measure.proc_status(daemon.pid)
        finally:
            measure.run([skiff, "-p", PROJECT, "down"], env, work, check=False)
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=30)
            log.close()

    ms = lambda s: f"{s * 1000:7.0f} ms"
    print(f"skiff: {skiff}")
    print(f"{o.services} services ({n_containers} containers, {n_processes} processes), restart: always, healthcheck interval {o.interval}")
    print(f"  up -d --wait through the daemon, to all healthy: {up:.2f} s")
    for kind, rows in results.items():
        if not rows:
            continue
        for key, label in (("detected", "kill -> restart decided"), ("restarted", "kill -> restart carried out"), ("healthy", "kill -> replacement healthy")):
            v = [r[key] for r in rows]
            print(f"  {kind:9} {label:28} median {ms(statistics.median(v))}  p99 {ms(measure.pct(v, 0.99))}  ({len(v)} kills)")
    print(f"  daemon (pid {daemon.pid}) idle: VmRSS {idle['VmRSS']} (anonymous {idle['RssAnon']}, file {idle['RssFile']}), peak VmHWM {after_kills['VmHWM']}, threads {idle['Threads']}")
    print(f"  daemon CPU while idle supervising {o.services} ({o.idle} s): {idle_cpu:.2f}% of one core")


if __name__ == "__main__":
    main()
