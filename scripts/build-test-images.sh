#!/usr/bin/env bash
# Builds the images the engine tests use, from scratch, with no registry:
#   skiff-test/busybox:1   Debian's static busybox with its applet links
#   skiff-test/app:1       the same plus skiff-testapp (static), entrypoint skiff-testapp
# Rebuilds only when the inputs changed (the image carries a label with their digest).
set -euo pipefail
cd "$(dirname "$0")/.."
busybox=/bin/busybox
[[ -x $busybox ]] && file_is_static=$(ldd "$busybox" 2>&1 | grep -c "not a dynamic" || true)
if [[ ! -x $busybox || ${file_is_static:-0} == 0 ]]; then
  busybox=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)
fi
[[ -n $busybox && -x $busybox ]] || { echo "busybox-static is not installed (scripts/install-test-deps.sh installs it)" >&2; exit 1; }

target_dir=target/testapp
RUSTFLAGS="-C target-feature=+crt-static" cargo build --quiet --release -p skiff-testapp \
  --target x86_64-unknown-linux-gnu --target-dir "$target_dir"
app="$target_dir/x86_64-unknown-linux-gnu/release/skiff-testapp"

digest=$(cat "$busybox" "$app" "$0" | sha256sum | cut -c1-16)
current=$(docker image inspect skiff-test/app:1 --format '{{ index .Config.Labels "skiff.test.inputs" }}' 2>/dev/null || true)
if [[ $current == "$digest" ]]; then
  echo "test images are up to date ($digest)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/rootfs/bin" "$work/rootfs/tmp" "$work/rootfs/data" "$work/rootfs/etc"
cp "$busybox" "$work/rootfs/bin/busybox"
for applet in $("$busybox" --list); do
  [[ $applet == busybox ]] || ln -sf busybox "$work/rootfs/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$work/rootfs/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/sh" >> "$work/rootfs/etc/passwd"
echo "root:x:0:" > "$work/rootfs/etc/group"
echo "nogroup:x:65534:" >> "$work/rootfs/etc/group"
chmod 1777 "$work/rootfs/tmp"

tar -C "$work/rootfs" -c . | docker import \
  --change 'ENV PATH=/bin' --change 'CMD ["sh"]' \
  --change "LABEL skiff.test.inputs=$digest" - skiff-test/busybox:1 >/dev/null
cp "$app" "$work/rootfs/bin/skiff-testapp"
tar -C "$work/rootfs" -c . | docker import \
  --change 'ENV PATH=/bin' --change 'ENTRYPOINT ["/bin/skiff-testapp"]' --change 'EXPOSE 8080' \
  --change "LABEL skiff.test.inputs=$digest" - skiff-test/app:1 >/dev/null
echo "built skiff-test/busybox:1 and skiff-test/app:1 ($digest)"
