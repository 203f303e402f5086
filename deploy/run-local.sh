#!/usr/bin/env bash
# Starts the whole suite on this machine with embedded defaults (fjall storage, data and backups
# under ./data): builds the workspace once, then runs the launcher. Extra arguments go to the
# launcher, for example `--zeros 3`, `--alphas 3 --replicas 3` or `--port_offset 100`. Ctrl-C
# stops everything.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo build --workspace --bins
# The binaries are where cargo put them: CARGO_TARGET_DIR (relative to the root) if set.
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
exec "$target/debug/lodestar-local" "$@"
