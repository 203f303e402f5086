#!/usr/bin/env bash
# The sharded-cluster benchmark in one command: builds the release binaries, then runs
# `bench-groups`, which prints its results as markdown tables. Arguments are passed on:
#
#   integration-tests/bench/groups.sh                                # the full run
#   integration-tests/bench/groups.sh --nodes 20000 --secs 2   # a quick check
#   integration-tests/bench/groups.sh --help
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" groups "$@"
