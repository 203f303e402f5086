#!/usr/bin/env bash
# Checks the Kubernetes manifests offline, with no cluster:
#   1. renders base/ and every overlay with `kubectl kustomize`;
#   2. validates every rendered document against the OpenAPI schema of one pinned Kubernetes
#      version (kubernetes-validate, strict), the ServiceMonitor against schemas/, and the
#      rules of check_rendered.py (secret file modes, mesh port names, $(VAR) references,
#      selectors and named ports that connect);
#   3. runs checkov (framework kubernetes) on the rendered output and fails on any failed
#      check that is not on the skip list below.
# The tools come from PyPI, pinned in requirements.txt, into deploy/kubernetes/.venv; the
# virtualenv is made again only when requirements.txt changes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# The Kubernetes version the schemas are checked for: the oldest release the manifests
# support (StatefulSet PVC retention is GA from 1.32).
kubernetes_version=1.33.0

# What is rendered and checked: each a directory holding a kustomization.
targets=(base overlays/dev overlays/production overlays/production-restore)

# Failed checkov checks that are accepted, as "CHECK_ID RESOURCE_GLOB" (the resource as
# checkov names it: Kind.namespace.name). Each needs its reason.
skips=(
  # Image digest: the image is built locally (deploy/docker/build-images.sh) and loaded into
  # the nodes; there is no registry, so there is no digest to pin. Pin one when you push to a
  # registry.
  "CKV_K8S_43 *"
  # Pull policy Always: there is no registry to pull from, so Always would fail every start;
  # IfNotPresent uses the image loaded on the node.
  "CKV_K8S_15 *"
  # Secrets in environment variables: the backup worker and the offline restore read
  # object-store credentials from the environment only (AWS_*), as Dgraph does; no flag takes
  # them from a file yet.
  "CKV_K8S_35 Deployment.lodestar.lodestar-backup-worker"
  "CKV_K8S_35 Job.lodestar.lodestar-restore"
)

if ! command -v kubectl >/dev/null 2>&1; then
  echo "error: kubectl is not installed: it renders the Kustomize overlays (kubectl kustomize," >&2
  echo "no cluster needed). Install kubectl and run this again; nothing was checked." >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "error: python3 is not installed: the checkers run in a Python virtualenv" >&2
  exit 1
fi

venv="$here/.venv"
req="$here/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating the checkers' virtualenv (kubernetes-validate, checkov) in $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "==> rendering with kubectl kustomize"
for target in "${targets[@]}"; do
  name="${target##*/}"
  if ! kubectl kustomize "$target" > "$out/$name.yaml"; then
    echo "error: kubectl kustomize $target failed" >&2
    exit 1
  fi
  echo "  $target -> $(grep -c '^kind:' "$out/$name.yaml") objects"
done

echo "==> validating against Kubernetes $kubernetes_version (strict) and the deployment's rules"
"$venv/bin/python" check_rendered.py manifests \
  --kubernetes-version "$kubernetes_version" --schemas "$here/schemas" "$out"/*.yaml

echo "==> checkov (framework kubernetes)"
skip_args=()
for s in "${skips[@]}"; do
  skip_args+=(--skip "$s")
done
# checkov exits non-zero whenever a check fails; the report decides, with the skip list.
# --skip-download: nothing is fetched from checkov's vendor (there is no network here).
"$venv/bin/checkov" --directory "$out" --framework kubernetes --skip-download \
  --output json --quiet > "$out/checkov.json" || true
"$venv/bin/python" check_rendered.py checkov --report "$out/checkov.json" "${skip_args[@]}"

echo "==> all manifests passed"
