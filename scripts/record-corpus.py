#!/usr/bin/env python3
"""Records expected outputs of skiff's own loader cases from the reference docker compose.

Usage: python3 scripts/record-corpus.py CASE COLUMN [COLUMN...]
Runs the case from /tmp/skiff-corpus/CASE (as tests/corpus.rs does) and writes
crates/skiff/tests/corpus/CASE/expected/COLUMN (the run directory written ${CASE_DIR}).
A column the reference fails on is refused.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, 'crates', 'skiff', 'tests', 'corpus')
RUNROOT = '/tmp/skiff-corpus'


def columns():
    out = {}
    with open(os.path.join(CORPUS, 'COLUMNS'), encoding='utf-8') as f:
        for line in f:
            if not line.strip() or line.startswith('#'):
                continue
            name, rest = line.split(':', 1)
            command, _how = rest.rsplit('|', 1)
            out[name.strip()] = command.split()
    return out


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    case, wanted = sys.argv[1], sys.argv[2:]
    cols = columns()
    reference = subprocess.run(['bash', os.path.join(ROOT, 'bench', 'reference.sh')],
                               check=True, capture_output=True, text=True).stdout.strip()
    src = os.path.join(CORPUS, case)
    env = {'PATH': '/usr/bin:/bin', 'HOME': '/root'}
    env_file = os.path.join(src, 'env')
    if os.path.exists(env_file):
        for line in open(env_file, encoding='utf-8').read().splitlines():
            if '=' in line:
                k, v = line.split('=', 1)
                env[k] = v
    args = open(os.path.join(src, 'args'), encoding='utf-8').read().split()
    os.makedirs(os.path.join(src, 'expected'), exist_ok=True)
    for col in wanted:
        if col not in cols:
            sys.exit(f'unknown column {col}: see {CORPUS}/COLUMNS')
        dst = os.path.join(RUNROOT, case)
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst, symlinks=True, ignore=shutil.ignore_patterns('expected'))
        p = subprocess.run([reference] + args + cols[col], cwd=dst, env=env,
                           stdin=subprocess.DEVNULL, capture_output=True)
        if p.returncode != 0:
            sys.exit(f'{case} {col}: the reference failed: {p.stderr.decode(errors="replace")}')
        out = p.stdout.decode('utf-8').replace(dst, '${CASE_DIR}')
        with open(os.path.join(src, 'expected', col), 'w', encoding='utf-8') as f:
            f.write(out)
        print(f'{case}/expected/{col}: {len(p.stdout)} bytes')


if __name__ == '__main__':
    main()
