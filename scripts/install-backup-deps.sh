#!/usr/bin/env bash
# Installs what the backup tests (crates/skiff-backup/tests) and bench/backup.py need beyond
# what scripts/install-test-deps.sh installs (PostgreSQL's server and client tools):
#
#   bin/moto_server   moto's standalone S3-compatible server (PyPI `moto[server]`), in its
#                     own venv under target/backup-tools (or $SKIFF_BACKUP_TOOLS)
#
# Idempotent: a stamp file records the pinned version; a second run does nothing. Needs
# python3 with venv (Debian: python3-venv, which scripts/install-test-deps.sh installs).
# Prints the directory holding the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

moto_version=5.2.1
root="${SKIFF_BACKUP_TOOLS:-$PWD/target/backup-tools}"
bin="$root/bin"
stamp="$root/installed"
want="moto[server]==$moto_version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$bin/moto_server" ]]; then
  echo "$bin"
  exit 0
fi

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python3 venv is missing: scripts/install-test-deps.sh installs python3-venv" >&2
  exit 1
fi

rm -f "$stamp"
python3 -m venv "$root"
"$bin/pip" install --quiet --disable-pip-version-check "$want"
"$bin/moto_server" --help >/dev/null
echo "$want" >"$stamp"
echo "$bin"
