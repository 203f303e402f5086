#!/usr/bin/env bash
# Step 3 (Alter Schema): indexes and types.
# The curl command of Dgraph's "Get Started - Quickstart Guide" as published, but for the
# address ($DGRAPH instead of localhost:8080) and the pretty-printing pipe after it: the
# answer goes to standard output. See README.md.
set -euo pipefail
DGRAPH=${DGRAPH:-localhost:8080}

curl "$DGRAPH/alter" --silent --request POST \
  --data $'
name: string @index(term) .
release_date: datetime @index(year) .
revenue: float .
running_time: int .
starring: [uid] .
director: [uid] .

type Person {
  name
}

type Film {
  name
  release_date
  revenue
  running_time
  starring
  director
}
'
