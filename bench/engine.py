#!/usr/bin/env python3
"""Benchmark: skiff against the reference docker-compose v2.40.3 on the same engine, same
files, same run: cold `up -d --wait` of 10 and 50 services, `up -d` with nothing to do, and
`down`, on two stacks: `plain` (every fifth service waits for the one before to start) and
`chains` (db -> api pairs, every service with a healthcheck every 2 s, each api waiting for its
db to be healthy: the critical path is the health gates, so creating every container up front
is what wins). Prints median wall times and ratios (reference / skiff: above 1 means skiff is faster), and
the engine's own floor for a cold start: the same containers started with `docker run -d`,
16 at a time, with no orchestration at all.

Needs a Docker Engine and the local test images (scripts/build-test-images.sh).
Usage: python3 bench/engine.py [--skiff target/release/skiff] [--runs 3] [--sizes 10,50]
                              [--stacks plain,chains]
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

import measure

HERE = os.path.dirname(os.path.abspath(__file__))


def compose_file(n, stack="plain"):
    if stack == "chains":
        return chains_file(n)
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", "    image: skiff-test/app:1", "    environment:", f"      INDEX: '{i}'"]
        if i > 0 and i % 5 == 0:
            lines += ["    depends_on:", f"      s{i - 1}: {{condition: service_started}}"]
    return "\n".join(lines) + "\n"


def chains_file(n):
    health = ["    healthcheck:", "      test: [\"CMD\", \"true\"]", "      interval: 2s", "      timeout: 2s",
              "      retries: 3"]
    lines = ["services:"]
    for i in range(n // 2):
        lines += [f"  db{i}:", "    image: skiff-test/app:1", "    environment:", f"      INDEX: 'db{i}'"] + health
        lines += [f"  api{i}:", "    image: skiff-test/app:1", "    environment:", f"      INDEX: 'api{i}'",
                  "    depends_on:", f"      db{i}: {{condition: service_healthy}}"] + health
    return "\n".join(lines) + "\n"


def run_tool(name, base, n, runs, d):
    project = f"bench-{name}-{n}"
    cold, noop, down = [], [], []
    for _ in range(runs):
        measure.timed(base + ["-p", project, "down", "--remove-orphans"], cwd=d)
        cold.append(measure.timed(base + ["-p", project, "up", "-d", "--wait"], cwd=d))
        noop.append(min(measure.timed(base + ["-p", project, "up", "-d"], cwd=d) for _ in range(3)))
        down.append(measure.timed(base + ["-p", project, "down"], cwd=d))
    return statistics.median(cold), statistics.median(noop), statistics.median(down)


FLOOR = "bench-floor"


def engine_floor(n, runs):
    """Seconds for the engine alone to create and start n containers, 16 at a time."""
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        subprocess.run(["docker", "run", "-d", "--network", FLOOR, "--name", f"{FLOOR}-{i}",
                        "-e", f"INDEX={i}", "skiff-test/app:1"], check=True, stdout=subprocess.DEVNULL)

    times = []
    try:
        for _ in range(runs):
            # Also what an interrupted run (of any size) left behind.
            remove_floor()
            subprocess.run(["docker", "network", "create", FLOOR], stdout=subprocess.DEVNULL, check=True)
            start = time.perf_counter()
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(one, range(n)))
            times.append(time.perf_counter() - start)
    finally:
        remove_floor()
    return statistics.median(times)


def remove_floor():
    """Remove engine_floor's containers and network, whichever exist."""
    # Not checked: in a `finally`, a failure here would hide the one being unwound.
    leftover = subprocess.run(["docker", "ps", "-aq", "--filter", f"name=^{FLOOR}-"],
                              stdout=subprocess.PIPE).stdout.decode().split()
    if leftover:
        subprocess.run(["docker", "rm", "-f"] + leftover, stdout=subprocess.DEVNULL)
    subprocess.run(["docker", "network", "rm", FLOOR], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", default=os.path.join(HERE, "..", "target", "release", "skiff"))
    ap.add_argument("--reference", default=None)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10,50")
    ap.add_argument("--stacks", default="plain,chains")
    o = ap.parse_args()
    ref = o.reference or subprocess.run([os.path.join(HERE, "reference.sh")], capture_output=True, text=True, check=True).stdout.strip()
    skiff = os.path.abspath(o.skiff)
    print(f"{'stack':>6} {'services':>8} {'step':>10} {'skiff ms':>9} {'compose ms':>10} {'ratio':>7}")
    for n in [int(x) for x in o.sizes.split(",")]:
        for stack in o.stacks.split(","):
            with tempfile.TemporaryDirectory() as d:
                with open(os.path.join(d, "compose.yaml"), "w") as f:
                    f.write(compose_file(n, stack))
                s = run_tool("skiff", [skiff], n, o.runs, d)
                r = run_tool("compose", [ref], n, o.runs, d)
                for step, a, b in zip(["cold up", "no-op up", "down"], s, r):
                    print(f"{stack:>6} {n:>8} {step:>10} {a * 1000:>9.0f} {b * 1000:>10.0f} {b / a:>6.1f}x")
        floor = engine_floor(n, o.runs)
        print(f"{'':>6} {n:>8} {'floor':>10} {floor * 1000:>9.0f} {'':>10} (engine alone: docker run -d, 16 at a time)")


if __name__ == "__main__":
    main()
