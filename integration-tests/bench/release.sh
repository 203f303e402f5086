#!/usr/bin/env bash
# Builds the release binaries, then runs `bench-<name>` with the remaining arguments; the
# per-benchmark scripts beside this one call it. `release.sh encryption --help` lists a
# benchmark's options.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
name="${1:?usage: release.sh <benchmark name> [arguments...]}"
shift

echo "==> building the release binaries"
cargo build --release --bins --locked

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
echo "==> running bench-$name $*"
exec "$target/release/bench-$name" "$@"
