#!/usr/bin/env bash
# The replicated-group benchmark in one command: builds the release binaries, then runs
# `bench-replicas`, which prints its results as markdown tables. Arguments are passed on:
#
#   integration-tests/bench/replicas.sh                                # the full run
#   integration-tests/bench/replicas.sh --nodes 50000 --kills 5 --catchup-mb 100   # a quick check
#   integration-tests/bench/replicas.sh --help
set -euo pipefail
exec "$(dirname "${BASH_SOURCE[0]}")/release.sh" replicas "$@"
