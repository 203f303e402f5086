#!/usr/bin/env bash
# The test command: builds the workspace once (debug), prepares the Python clients in a
# virtualenv from pinned versions, then runs every Rust and Python test against the built binaries.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

echo "==> building the workspace (debug)"
cargo build --workspace --all-targets --locked

venv="$root/.venv"
req="$root/integration-tests/python/requirements.txt"
stamp="$venv/.requirements.sha256"
want="$(sha256sum "$req" | cut -d' ' -f1)"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "==> creating the Python virtualenv for test clients"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
export LODESTAR_PYTHON="$venv/bin/python"
# The partition tests put alphas in network namespaces: iproute2 and iptables (Debian's).
missing=()
command -v ip >/dev/null 2>&1 || missing+=(iproute2)
command -v iptables >/dev/null 2>&1 || missing+=(iptables)
# lodestar compose's tests check its files with docker-compose (Debian's, 1.29).
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The peers are installed above: from here a test whose peer is missing fails, never skips.
export LODESTAR_REQUIRE_PEERS=1

# The Kubernetes manifests, rendered and validated offline (no cluster runs here): schemas of
# a pinned Kubernetes version, the deployment rules of check_rendered.py, and checkov.
echo "==> validating the Kubernetes manifests (deploy/kubernetes/validate.sh)"
"$root/deploy/kubernetes/validate.sh"

# The fault suite (kill -9, client deadlines, retries, hostile input against the real binaries)
# runs as its own stage after everything else.
faults='package(lodestar-integration-tests) & binary(~faults)'
if command -v cargo-nextest >/dev/null 2>&1; then
  echo "==> running the tests"
  cargo nextest run --workspace --no-fail-fast -E "not ($faults)" "$@"
  echo "==> running the fault suite"
  cargo nextest run --workspace --no-fail-fast -E "$faults" "$@"
  # The acceptance of backups, restores and ACL (the alpha's and `lodestar acl`) again, every
  # cluster a group of three replicated alphas, encrypted at rest (zero, every alpha and the
  # backup worker under a key), with the leader-kill fault test (SIGKILL under a write load,
  # replicas compared) encrypted too.
  echo "==> running the backup, restore, export, ACL and leader-kill tests against encrypted three-replica groups"
  acceptance='package(lodestar-integration-tests) & (binary(backup) | binary(backup_schedule) | binary(backup_stores) | binary(restore) | binary(export) | binary(alpha_acl) | binary(lodestar_acl))'
  LODESTAR_TEST_REPLICAS=3 LODESTAR_TEST_ENCRYPTION=1 cargo nextest run --workspace --no-fail-fast \
    -E "$acceptance | (package(lodestar-integration-tests) & binary(faults_replicas))" "$@"
  # And again on two groups of three (predicates spread over both, the ACL's data in group 1),
  # with the pydgraph end-to-end tests, the DQL features and search functions through pydgraph
  # (reading another group's indexes) and the HTTP API through curl.
  echo "==> running the backup, restore, export, ACL, pydgraph, DQL and HTTP API tests against two groups of three replicas"
  LODESTAR_TEST_GROUPS=2 LODESTAR_TEST_REPLICAS=3 cargo nextest run --workspace --no-fail-fast \
    -E "$acceptance | (package(lodestar-integration-tests) & (binary(alpha_pydgraph) | binary(alpha_tls) | binary(dql_clients) | binary(dql_search) | binary(http_api)))" "$@"
else
  echo "==> running the tests (the fault suite among them; cargo-nextest runs it as its own stage)"
  cargo test --workspace --no-fail-fast "$@"
fi

# The compose stack, live: the images built by deploy/docker/build-images.sh (a release build),
# `lodestar compose -z 3 -a 3 -r 3 --acl --encryption --minio`, docker-compose up, then pydgraph,
# /admin, a backup to the SeaweedFS container and a restore, docker kill of the zero leader and
# of the group leader under writes, a partition of the group leader, a crash, down and up.
echo "==> the compose stack test (deploy/docker/test-stack.sh)"
"$root/deploy/docker/test-stack.sh"
