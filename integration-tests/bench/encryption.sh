#!/usr/bin/env bash
# The encryption-at-rest benchmark in one command: builds the release binaries, then runs
# `bench-encryption`, which prints its results as markdown tables. Arguments are passed on:
#
#   integration-tests/bench/encryption.sh                                # the full run
#   integration-tests/bench/encryption.sh --keys 100000 --nodes 20000 --secs 2 --large_mb 100   # a quick check
#   integration-tests/bench/encryption.sh --help
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

echo "==> building the release binaries"
cargo build --release --bins --locked

target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
echo "==> running bench-encryption $*"
exec "$target/release/bench-encryption" "$@"
