#!/usr/bin/env python3
"""Benchmark: skiff backups against the bare tools, on the same data in the same run.

1. PostgreSQL: a database of about --size GB (pgbench -i at the matching scale) in a throwaway
   cluster. Timed: bare `pg_dump -Fc` to a file, then `pg_restore` of it into an empty
   database; against `skiff backup run` (chunked, zstd, age-encrypted into a local
   repository) and `skiff backup restore --into` an empty database. Ratios: skiff / bare
   (target: at most 1.15). Both restores are compared by row counts and a checksum of
   pgbench_accounts.
2. A directory of --size GB (random, incompressible files) backed up twice unchanged: the
   second backup's added bytes and time against the first's (target: under 5% of both).
   The second is timed twice: with skiff's files cache (the normal case) and with the cache
   removed (every byte read and chunked again; only deduplication saves the writes).

Needs PostgreSQL (server binaries in /usr/lib/postgresql/*/bin, pg_dump/pg_restore/psql/
pgbench) and a release build of skiff. Runs the server as `postgres` when run as root.
Usage:
  python3 bench/backup.py [--skiff target/release/skiff] [--size 1.0] [--runs 3] [--keep DIR]
"""
import argparse
import glob
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import measure

HERE = os.path.dirname(os.path.abspath(__file__))

# --- an age key pair without external tools: X25519 (RFC 7748) and bech32 (BIP 173) ---

P = 2**255 - 19


def x25519(k, u):
    k = bytearray(k)
    k[0] &= 248
    k[31] &= 127
    k[31] |= 64
    k = int.from_bytes(k, "little")
    x1, x2, z2, x3, z3, swap = u, 1, 0, u, 1, 0
    for t in reversed(range(255)):
        kt = (k >> t) & 1
        swap ^= kt
        if swap:
            x2, x3, z2, z3 = x3, x2, z3, z2
        swap = kt
        a, b = x2 + z2, x2 - z2
        aa, bb = a * a % P, b * b % P
        e = aa - bb
        c, d = x3 + z3, x3 - z3
        da, cb = d * a % P, c * b % P
        x3 = (da + cb) ** 2 % P
        z3 = x1 * (da - cb) ** 2 % P
        x2 = aa * bb % P
        z2 = e * (aa + 121665 * e) % P
    if swap:
        x2, z2 = x3, z3
    return (x2 * pow(z2, P - 2, P) % P).to_bytes(32, "little")


CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def bech32(hrp, data):
    def polymod(values):
        gen = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
        chk = 1
        for v in values:
            b = chk >> 25
            chk = (chk & 0x1FFFFFF) << 5 ^ v
            for i in range(5):
                chk ^= gen[i] if ((b >> i) & 1) else 0
        return chk

    acc, bits, five = 0, 0, []
    for byte in data:
        acc = (acc << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            five.append((acc >> bits) & 31)
    if bits:
        five.append((acc << (5 - bits)) & 31)
    h = hrp.lower()
    expanded = [ord(c) >> 5 for c in h] + [0] + [ord(c) & 31 for c in h]
    pm = polymod(expanded + five + [0] * 6) ^ 1
    checksum = [(pm >> 5 * (5 - i)) & 31 for i in range(6)]
    return h + "1" + "".join(CHARSET[d] for d in five + checksum)


def age_keypair():
    secret = os.urandom(32)
    public = x25519(secret, 9)
    return bech32("AGE-SECRET-KEY-", secret).upper(), bech32("age", public)


# --- commands and sizes ---


def timed(cmd, env=None, cwd=None):
    """Wall-clock seconds and standard output of CMD, which must succeed."""
    # Earlier steps' dirty pages would otherwise be written back during this one.
    os.sync()
    start = time.perf_counter()
    out = output(cmd, env, cwd)
    return time.perf_counter() - start, out


def output(cmd, env=None, cwd=None):
    """Standard output of CMD, which must succeed."""
    return measure.run(cmd, env, cwd).stdout.decode()


def du(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size
    return total


def gb(n):
    return f"{n / 1e9:.2f} GB" if n >= 1e8 else f"{n / 1e6:.1f} MB"


def as_postgres(cmd):
    return ["runuser", "-u", "postgres", "--"] + cmd if os.geteuid() == 0 else cmd


class Cluster:
    def __init__(self, base):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            sys.exit("PostgreSQL server binaries not found in /usr/lib/postgresql/*/bin")
        self.bin = os.path.dirname(bins[-1])
        self.dir = os.path.join(base, "pg")
        os.makedirs(self.dir)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.port = measure.free_port()
        measure.run(as_postgres([f"{self.bin}/initdb", "-U", "postgres", "--auth=trust", "-D", self.data]))
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.dir}"
                " -c shared_buffers=256MB -c max_wal_size=4GB -c checkpoint_timeout=30min")
        measure.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-o", opts, "-w", "-l",
                                 os.path.join(self.dir, "log"), "start"]))

    def stop(self):
        subprocess.run(as_postgres([f"{self.bin}/pg_ctl", "-D", self.data, "-m", "fast", "stop"]),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def url(self, db):
        return f"postgres://postgres@127.0.0.1:{self.port}/{db}"

    def tool(self, name):
        return os.path.join(self.bin, name)

    def sql(self, db, q):
        return output([self.tool("psql"), "-X", "-tA", "-v", "ON_ERROR_STOP=1", "-d", self.url(db),
                       "-c", q]).strip()


def fingerprint(cluster, db):
    return cluster.sql(db, "SELECT count(*) || ':' || sum(abalance) || ':' || "
                           "md5(string_agg(aid::text, ',' ORDER BY aid)) FROM pgbench_accounts")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--skiff", default=os.path.join(HERE, "..", "target", "release", "skiff"))
    ap.add_argument("--size", type=float, default=1.0, help="GB of database and of directory")
    ap.add_argument("--keep", help="work in this directory and keep it")
    ap.add_argument("--runs", type=int, default=3, help="PostgreSQL runs (medians are reported)")
    ap.add_argument("--skip-postgres", action="store_true")
    ap.add_argument("--skip-directory", action="store_true")
    args = ap.parse_args()
    skiff = os.path.abspath(args.skiff)
    if not os.access(skiff, os.X_OK):
        sys.exit(f"no skiff binary at {skiff}: cargo build --release -p skiff")
    base = args.keep or tempfile.mkdtemp(prefix="skiff-bench-backup-")
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    secret, public = age_keypair()
    with open(os.path.join(base, "backup.key"), "w") as f:
        f.write(secret + "\n")
    os.chmod(os.path.join(base, "backup.key"), 0o600)
    env = dict(os.environ, XDG_CACHE_HOME=os.path.join(base, "cache"))
    cluster = None
    try:
        if not args.skip_postgres:
            cluster = Cluster(base)
            bench_postgres(cluster, skiff, base, public, env, args.size, args.runs)
        if not args.skip_directory:
            bench_directory(skiff, base, public, env, args.size)
    finally:
        if cluster:
            cluster.stop()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)


def write_compose(base, public, backups):
    lines = [
        "name: benchbackup",
        "services:",
        "  idle:",
        "    command: [sleep, infinity]",
        "    x-skiff: {runtime: process}",
        "x-skiff:",
        "  backups:",
    ]
    for name, source in backups.items():
        lines += [
            f"    {name}:",
            f"      {source}",
            f"      to: [./repo-{name}]",
            f"      encrypt: {{recipients: [{public}], identity_file: ./backup.key}}",
        ]
    path = os.path.join(base, "compose.yaml")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def bench_postgres(cluster, skiff, base, public, env, size, runs):
    # pgbench: about 15.6 MB of database per unit of scale (tables and indexes).
    scale = max(1, round(size * 1000 / 15.6))
    cluster.sql("postgres", "CREATE DATABASE bench")
    print(f"building the database: pgbench -i -s {scale} ...", flush=True)
    measure.run([cluster.tool("pgbench"), "-i", "-q", "-s", str(scale), cluster.url("bench")])
    dbsize = int(cluster.sql("bench", "SELECT pg_database_size('bench')"))
    want = fingerprint(cluster, "bench")
    compose = write_compose(base, public, {"db": f'postgres: {{url: "{cluster.url("bench")}"}}'})
    dump = os.path.join(base, "bare.dump")
    repo = os.path.join(base, "repo-db")
    times = {"dump": [], "backup": [], "restore": [], "srestore": []}
    # Interleaved, each run from scratch (a fresh repository: a second skiff backup into the
    # same one would deduplicate and write nothing), medians reported: this machine's noise
    # between identical runs is itself about 10%.
    for r in range(runs):
        shutil.rmtree(repo, ignore_errors=True)
        if os.path.exists(dump):
            os.remove(dump)
        t, _ = timed([cluster.tool("pg_dump"), "-Fc", "-f", dump, "-d", cluster.url("bench")])
        times["dump"].append(t)
        t, out = timed([skiff, "-f", compose, "backup", "run", "db", "--format", "json"], env)
        times["backup"].append(t)
        snap = json.loads(out)["snapshots"][0]
        for db in ("bare_restore", "skiff_restore"):
            cluster.sql("postgres", f"CREATE DATABASE {db}")
        t, _ = timed([cluster.tool("pg_restore"), "-d", cluster.url("bare_restore"), dump])
        times["restore"].append(t)
        t, _ = timed([skiff, "-f", compose, "backup", "restore", "db", "--into",
                      cluster.url("skiff_restore"), "--yes", "--format", "json"], env)
        times["srestore"].append(t)
        assert fingerprint(cluster, "bare_restore") == want, "bare restore differs"
        assert fingerprint(cluster, "skiff_restore") == want, "skiff restore differs"
        for db in ("bare_restore", "skiff_restore"):
            cluster.sql("postgres", f"DROP DATABASE {db}")
        cluster.sql("postgres", "CHECKPOINT")
        print(f"  run {r + 1}: dump {times['dump'][-1]:.2f}s, skiff backup {times['backup'][-1]:.2f}s, "
              f"pg_restore {times['restore'][-1]:.2f}s, skiff restore {times['srestore'][-1]:.2f}s", flush=True)
    m = {k: statistics.median(v) for k, v in times.items()}
    print(f"\nPostgreSQL: database {gb(dbsize)} (pgbench scale {scale}), dump {gb(snap['size'])} uncompressed; "
          f"medians of {runs} runs")
    print(f"  {'':28} {'bare':>10} {'skiff':>10} {'ratio':>7}")
    print(f"  {'backup time (s)':28} {m['dump']:10.2f} {m['backup']:10.2f} {m['backup'] / m['dump']:7.2f}")
    print(f"  {'restore time (s)':28} {m['restore']:10.2f} {m['srestore']:10.2f} {m['srestore'] / m['restore']:7.2f}")
    print(f"  {'backup + restore (s)':28} {m['dump'] + m['restore']:10.2f} {m['backup'] + m['srestore']:10.2f} "
          f"{(m['backup'] + m['srestore']) / (m['dump'] + m['restore']):7.2f}")
    print(f"  {'stored bytes':28} {gb(os.path.getsize(dump)):>10} {gb(du(repo)):>10} "
          f"{du(repo) / os.path.getsize(dump):7.2f}")
    print("  (skiff: pg_dump --compress=0 | FastCDC | zstd -3 | age, published atomically, restored in one "
          "transaction; bare: pg_dump -Fc (gzip), pg_restore)", flush=True)


def bench_directory(skiff, base, public, env, size):
    data = os.path.join(base, "data")
    os.makedirs(data)
    total = int(size * 1e9)
    per = 16 * 1024 * 1024
    i = 0
    while i * per < total:
        n = min(per, total - i * per)
        with open(os.path.join(data, f"f{i:04d}.bin"), "wb") as f:
            f.write(os.urandom(n))
        i += 1
    compose = write_compose(base, public, {"files": "path: ./data"})
    repo = os.path.join(base, "repo-files")

    def backup():
        before = du(repo) if os.path.exists(repo) else 0
        t, out = timed([skiff, "-f", compose, "backup", "run", "files", "--format", "json"], env)
        return t, du(repo) - before, json.loads(out)["snapshots"][0]["added"]

    t1, d1, a1 = backup()
    t2, d2, a2 = backup()
    shutil.rmtree(os.path.join(base, "cache"), ignore_errors=True)
    t3, d3, a3 = backup()
    print(f"\nDirectory: {gb(total)} in {i} random files, encrypted")
    print(f"  {'':34} {'time (s)':>9} {'added':>10} {'time %':>7} {'added %':>8}")
    print(f"  {'first backup':34} {t1:9.2f} {gb(d1):>10}")
    print(f"  {'second, unchanged (files cache)':34} {t2:9.2f} {gb(d2):>10} {100 * t2 / t1:6.1f}% {100 * d2 / d1:7.3f}%")
    print(f"  {'second, unchanged (no cache)':34} {t3:9.2f} {gb(d3):>10} {100 * t3 / t1:6.1f}% {100 * d3 / d1:7.3f}%")
    # The first backup also wrote the repository's configuration file, which no manifest counts.
    assert (a2, a3) == (d2, d3) and 0 <= d1 - a1 < 1024, f"manifests count {a1, a2, a3}, disk says {d1, d2, d3}"
    t4, _ = timed([skiff, "-f", compose, "backup", "restore", "files", "--into",
                   os.path.join(base, "restored"), "--yes", "--format", "json"], env)
    h = lambda p: hashlib.sha256(open(p, "rb").read()).hexdigest()
    for name in sorted(os.listdir(data))[:3] + sorted(os.listdir(data))[-1:]:
        assert h(os.path.join(data, name)) == h(os.path.join(base, "restored", name)), name
    print(f"  {'restore':34} {t4:9.2f}", flush=True)


if __name__ == "__main__":
    main()
