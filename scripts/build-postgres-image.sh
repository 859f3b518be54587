#!/usr/bin/env bash
# Builds skiff-test/postgres:15, a PostgreSQL image for the backup tests, from the host's
# Debian PostgreSQL 15 (no registry): its binaries with the shared libraries they load, its
# share directory, static busybox for a shell, and an entrypoint that initialises /data on
# first start (user `app`, password from POSTGRES_PASSWORD, database `app`; the socket in /tmp
# appears only once that is done, so a pg_isready healthcheck waits for it) and runs the
# server on 0.0.0.0:5432 as uid 70.
# Rebuilds only when the inputs changed. Needs postgresql and busybox-static
# (scripts/install-test-deps.sh installs both).
set -euo pipefail
cd "$(dirname "$0")/.."
pg=/usr/lib/postgresql/15
[[ -x $pg/bin/postgres ]] || { echo "PostgreSQL 15 is not installed" >&2; exit 1; }
busybox=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)
[[ -n $busybox && -x $busybox ]] || { echo "busybox-static is not installed" >&2; exit 1; }

digest=$(cat "$pg/bin/postgres" "$busybox" "$0" | sha256sum | cut -c1-16)
current=$(docker image inspect skiff-test/postgres:15 --format '{{ index .Config.Labels "skiff.test.inputs" }}' 2>/dev/null || true)
if [[ $current == "$digest" ]]; then
  echo "skiff-test/postgres:15 is up to date ($digest)"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/tmp" "$root/data" "$root/etc" "$root/run/postgresql"
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
for applet in sh cat echo mkdir rm ls sleep test; do ln -s busybox "$root/bin/$applet"; done
mkdir -p "$root$pg" "$root/usr/share/postgresql"
cp -a "$pg/bin" "$pg/lib" "$root$pg/"
cp -a /usr/share/postgresql/15 "$root/usr/share/postgresql/"
# Every shared library the binaries and the server's modules load, with the loader.
{
  for f in "$pg"/bin/* "$pg"/lib/*.so; do ldd "$f" 2>/dev/null || true; done
} | awk '/=> \//{print $3} /^\t\/lib64/{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$root$(dirname "$lib")"
  cp -L "$lib" "$root$lib"
done
mkdir -p "$root/lib64"
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
# gconv and locale data are not needed with the C locale.
cat > "$root/etc/passwd" <<'EOF'
root:x:0:0:root:/:/bin/sh
postgres:x:70:70:postgres:/data:/bin/sh
EOF
cat > "$root/etc/group" <<'EOF'
root:x:0:
postgres:x:70:
EOF
cat > "$root/bin/entrypoint" <<EOF
#!/bin/sh
set -e
export PATH=$pg/bin:/bin LANG=C
if [ ! -s /data/PG_VERSION ]; then
  echo "\${POSTGRES_PASSWORD:-app}" > /tmp/pw
  initdb -D /data -U postgres --auth-local=trust --auth-host=scram-sha-256 --pwfile=/tmp/pw --locale=C -E UTF8 >/dev/null
  rm -f /tmp/pw
  postgres -D /data -c listen_addresses= -k /run/postgresql &
  until pg_isready -h /run/postgresql -q; do sleep 0.1; done
  PGPASSWORD="\${POSTGRES_PASSWORD:-app}" psql -h /run/postgresql -U postgres -q -c "CREATE ROLE app LOGIN SUPERUSER PASSWORD '\${POSTGRES_PASSWORD:-app}'" -c "CREATE DATABASE app OWNER app"
  kill %1; wait
  echo "host all all 0.0.0.0/0 scram-sha-256" >> /data/pg_hba.conf
fi
exec postgres -D /data -c listen_addresses='*' -k /tmp
EOF
chmod 755 "$root/bin/entrypoint"
chown -R 0:0 "$root"
# The server's directories belong to uid 70 when built as root (as the test scripts run);
# otherwise they are left writable by everyone.
if [[ $(id -u) == 0 ]]; then
  chown 70:70 "$root/data" "$root/run/postgresql"
  tar -C "$root" --numeric-owner -cf "$work/rootfs.tar" .
else
  chmod 777 "$root/data" "$root/run/postgresql"
  tar -C "$root" --numeric-owner --owner=0 --group=0 -cf "$work/rootfs.tar" .
fi
docker import \
  --change 'USER 70' \
  --change "ENV PATH=$pg/bin:/bin" \
  --change 'ENV PGHOST=/tmp' \
  --change 'ENTRYPOINT ["/bin/entrypoint"]' \
  --change "LABEL skiff.test.inputs=$digest" \
  "$work/rootfs.tar" skiff-test/postgres:15 >/dev/null
echo "built skiff-test/postgres:15 ($digest)"
