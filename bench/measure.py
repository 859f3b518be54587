"""What the benchmarks in bench/ measure with: commands run and timed, a process's memory
and CPU read from /proc, percentiles, skiff's instance records, and a SIGKILL followed by the
wait for a healthy replacement.

Imported by the scripts beside it (`import measure`: Python puts a script's own directory first
on its module path). Nothing here prints; a command that fails ends the benchmark with its
standard error.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

KEEP = "SKIFF_BENCH_KEEP"
"""Set to 1 to keep a benchmark's work directory (state, logs, compose file) after it ends."""


@contextlib.contextmanager
def work_dir(name):
    """A new directory skiff-bench-NAME-XXXX under the system's temporary directory, removed
    when the block ends, however it ends, unless SKIFF_BENCH_KEEP=1 (then its path is written
    to standard error)."""
    path = tempfile.mkdtemp(prefix=f"skiff-bench-{name}-")
    try:
        yield path
    finally:
        if os.environ.get(KEEP) == "1":
            print(f"{KEEP}=1: kept {path}", file=sys.stderr)
        else:
            shutil.rmtree(path, ignore_errors=True)


def free_ports(n):
    """N distinct TCP ports on 127.0.0.1 that were free a moment ago (all bound at once, so no
    two are the same, then released for the services to take)."""
    socks, ports = [], []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
        ports.append(s.getsockname()[1])
    for s in socks:
        s.close()
    return ports


def free_port():
    """One TCP port on 127.0.0.1 that was free a moment ago."""
    return free_ports(1)[0]


def run(cmd, env=None, cwd=None, check=True):
    """Run CMD to completion with its output captured; the CompletedProcess (stdout and stderr
    as bytes). With check, a non-zero exit ends the benchmark with the end of its stderr."""
    p = subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if check and p.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{p.stderr.decode()[-2000:]}")
    return p


def timed(cmd, env=None, cwd=None):
    """Wall-clock seconds of `run(cmd, env, cwd)`, which must succeed."""
    start = time.perf_counter()
    run(cmd, env, cwd)
    return time.perf_counter() - start


def pct(values, q):
    """The Q-quantile (0 to 1) of VALUES, nearest rank: with 20 samples, pct(v, 0.99) is the
    maximum."""
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q * (len(s) - 1))))]


def proc_status(pid):
    """/proc/PID/status as a dict of strings: VmRSS, VmHWM, RssAnon, RssFile, Threads ..."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def cpu_ticks(pid):
    """User plus system CPU time of PID so far, in clock ticks (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name, in parentheses, may hold spaces: split after its closing one.
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def cpu_percent(pid, seconds):
    """Sleep SECONDS and return PID's CPU use over them, in percent of one core."""
    t0, c0 = time.perf_counter(), cpu_ticks(pid)
    time.sleep(seconds)
    hz = os.sysconf("SC_CLK_TCK")
    return (cpu_ticks(pid) - c0) / hz / (time.perf_counter() - t0) * 100


def record(state, project, service):
    """skiff's record of a process service's first instance (STATE/PROJECT/SERVICE-1.json, as
    `skiff ps` reads it), or None while it is missing or half written."""
    try:
        with open(os.path.join(state, project, f"{service}-1.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def wait_for(ready, timeout, interval, what):
    """Call READY every INTERVAL seconds until it returns something true, and return that;
    after TIMEOUT seconds, end the benchmark saying WHAT did not happen."""
    deadline = time.perf_counter() + timeout
    while True:
        found = ready()
        if found:
            return found
        if time.perf_counter() > deadline:
            sys.exit(f"{what} within {timeout:g} s")
        time.sleep(interval)


def kill_and_await_replacement(state, project, service, timeout, interval):
    """SIGKILL the process of SERVICE's first instance and wait, reading its record every
    INTERVAL seconds, until a new process runs in its place and its healthcheck has passed.
    Returns the wall-clock time of the kill (time.time()) and the seconds from the kill to
    the healthy replacement."""
    old = record(state, project, service)["pid"]

    def replaced():
        r = record(state, project, service)
        return r and r["pid"] != old and r.get("health") == "healthy" and r["status"]["state"] == "running"

    killed = time.time()
    os.kill(old, signal.SIGKILL)
    start = time.perf_counter()
    wait_for(replaced, timeout, interval,
             f"{project}-{service}-1 was not replaced and healthy: {record(state, project, service)}")
    return killed, time.perf_counter() - start


def healthcheck_timing(interval):
    """Compose lines (under `healthcheck:`) for a check every INTERVAL, 2 s timeout, and every
    100 ms during a 30 s start period until it first passes, so a fresh instance is found
    healthy within about 100 ms."""
    return [
        f"      interval: {interval}",
        "      timeout: 2s",
        "      start_period: 30s",
        "      start_interval: 100ms",
    ]


def httpd_service(name, port, interval):
    """Compose lines for a host-process service NAME: busybox httpd serving ./www on
    127.0.0.1:PORT, restart: always, with an HTTP healthcheck (busybox wget) timed by
    healthcheck_timing(INTERVAL). Serve a directory written by `write_www`."""
    return [
        f"  {name}:",
        f"    command: [busybox, httpd, -f, -p, '127.0.0.1:{port}', -h, www]",
        "    restart: always",
        "    x-skiff: {runtime: process}",
        "    healthcheck:",
        f"      test: [CMD, busybox, wget, -q, -O, /dev/null, 'http://127.0.0.1:{port}/']",
    ] + healthcheck_timing(interval)


def write_www(work):
    """WORK/www/index.html, the page httpd_service's servers serve to their healthchecks."""
    os.makedirs(os.path.join(work, "www"))
    with open(os.path.join(work, "www", "index.html"), "w") as f:
        f.write("ok\n")
