#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine of the project's kind, and
# builds the local test images when a Docker Engine answers. Idempotent. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
# The PostgreSQL tests and the PostgreSQL test image use version 15 (Debian 12's).
[[ -x /usr/lib/postgresql/15/bin/postgres ]] || need+=(postgresql-15)
if ((${#need[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "missing Debian packages: ${need[*]} (run this script as root, or install them)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/install-k8s-tools.sh >/dev/null
scripts/install-backup-deps.sh >/dev/null
bench/reference.sh >/dev/null
if docker info >/dev/null 2>&1; then
  scripts/build-test-images.sh
  scripts/build-postgres-image.sh
else
  echo "no Docker Engine answers: engine tests will skip (or fail under CI=true)"
fi
