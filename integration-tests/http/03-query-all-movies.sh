#!/usr/bin/env bash
# Step 4 (Run Queries): every movie with a starring edge.
# The curl command of Dgraph's "Get Started - Quickstart Guide" as published, but for the
# address ($DGRAPH instead of localhost:8080) and the pretty-printing pipe after it: the
# answer goes to standard output. See README.md.
set -euo pipefail
DGRAPH=${DGRAPH:-localhost:8080}

curl "$DGRAPH/query" --silent --request POST \
  --header "Content-Type: application/dql" \
  --data $'
{
 me(func: has(starring)) {
   name
  }
}
'
