#!/usr/bin/env bash
# The loading benchmark in one command: builds the release binaries, then runs `bench-loaders`
# (a generated N-Quad file loaded by `live`, then exported), which prints a markdown table.
# Arguments are passed on:
#
#   integration-tests/bench/loaders.sh                      # 1M N-Quads
#   integration-tests/bench/loaders.sh --triples 100000     # a quick check
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" loaders "$@"
