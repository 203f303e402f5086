#!/usr/bin/env bash
# Step 4 (Run Queries): the Star Wars movies released after 1980.
# The curl command of Dgraph's "Get Started - Quickstart Guide" as published, but for the
# address ($DGRAPH instead of localhost:8080) and the pretty-printing pipe after it: the
# answer goes to standard output. See README.md.
set -euo pipefail
DGRAPH=${DGRAPH:-localhost:8080}

curl "$DGRAPH/query" --silent --request POST \
  --header "Content-Type: application/dql" \
  --data $'
{
  me(func: allofterms(name, "Star Wars"), orderasc: release_date) @filter(ge(release_date, "1980")) {
    name
    release_date
    revenue
    running_time
    director {
     name
    }
    starring (orderasc: name) {
     name
    }
  }
}
'
