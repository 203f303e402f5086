#!/usr/bin/env bash
# The encryption-at-rest benchmark in one command: builds the release binaries, then runs
# `bench-encryption`, which prints its results as markdown tables. Arguments are passed on:
#
#   integration-tests/bench/encryption.sh                                # the full run
#   integration-tests/bench/encryption.sh --keys 100000 --nodes 20000 --secs 2 --large_mb 100   # a quick check
#   integration-tests/bench/encryption.sh --help
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" encryption "$@"
