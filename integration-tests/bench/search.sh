#!/usr/bin/env bash
# The full-text and regexp benchmark in one command: builds the release binaries, then runs
# `bench-search` (a generated text corpus loaded into one alpha, then anyofterms, alloftext,
# anyoftext and regexp queries against an eq() lookup in the same run). Arguments are passed on:
#
#   integration-tests/bench/search.sh                    # 1M nodes
#   integration-tests/bench/search.sh --nodes 100000     # a quick check
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" search "$@"
