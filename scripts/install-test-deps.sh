#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine of the project's kind.
# Idempotent; safe to run on a developer machine. Needs root for apt-get.
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need[@]}"
fi
