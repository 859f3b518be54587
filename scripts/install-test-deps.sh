#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine of the project's kind, and
# builds the local test images when a Docker Engine answers. Idempotent. Needs root for apt.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v python3 >/dev/null || need+=(python3)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
scripts/install-k8s-tools.sh >/dev/null
scripts/install-backup-deps.sh >/dev/null
if docker info >/dev/null 2>&1; then
  scripts/build-test-images.sh
  scripts/build-postgres-image.sh
else
  echo "no Docker Engine answers: engine tests will skip (or fail under CI=true)"
fi
