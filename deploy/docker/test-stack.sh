#!/usr/bin/env bash
# The live compose stack test, as a user would run it from a clean checkout:
#
#   deploy/docker/build-images.sh
#   lodestar compose -z 3 -a 3 -r 3 --acl --encryption --minio -O docker-compose.yml
#   docker-compose up -d
#
# then integration-tests/python/compose_stack.py against the running stack (pydgraph through the
# published ports, the seeds' ACL workflow through /admin, a backup to the SeaweedFS container
# and a restore, docker kill of the zero leader and of the group leader under a write load,
# docker network disconnect/connect of an alpha, docker-compose down/up), and down -v at the end.
# Prints the image sizes, the time from `up` to every service healthy, and the failover times.
#
#   deploy/docker/test-stack.sh            # LODESTAR_PYTHON: a Python with the test clients
#   LODESTAR_STACK_KEEP=1 deploy/docker/test-stack.sh   # leave the stack up afterwards
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
python="${LODESTAR_PYTHON:-$root/.venv/bin/python}"
for tool in docker docker-compose "$python"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "error: $tool is required for the compose stack test" >&2
    exit 1
  fi
done

echo "==> building the images (deploy/docker/build-images.sh)"
deploy/docker/build-images.sh
target="${CARGO_TARGET_DIR:-$root/target}"
case "$target" in /*) ;; *) target="$root/$target" ;; esac
lodestar="$target/release/lodestar"

work="$(mktemp -d)"
project="lodestar-stack-$$"
compose=(docker-compose -p "$project" -f "$work/docker-compose.yml")
finish() {
  local rc=$?
  if [ "$rc" -ne 0 ]; then
    echo "==> the stack test failed; the services' last logs:" >&2
    "${compose[@]}" ps >&2 || true
    "${compose[@]}" logs --no-color --tail=60 >&2 || true
  fi
  if [ -z "${LODESTAR_STACK_KEEP:-}" ]; then
    "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true
    rm -rf "$work"
  else
    echo "==> left running: ${compose[*]}"
  fi
  exit "$rc"
}
trap finish EXIT

cd "$work"
echo "==> lodestar compose -z 3 -a 3 -r 3 --acl --encryption --minio -O docker-compose.yml"
"$lodestar" compose -z 3 -a 3 -r 3 --acl --encryption --minio -O docker-compose.yml

# The file names its containers after its services (--names, as Dgraph's): containers of
# another stack by those names would make `up` fail half-way. Say which, and stop.
names="$("${compose[@]}" config --services | sort)"
clash="$(docker ps -a --format '{{.Names}}' | sort | comm -12 - <(echo "$names"))"
if [ -n "$clash" ]; then
  echo "error: containers named like this stack's services exist already (another compose stack?): $(echo $clash); remove them (docker rm -f ...) or stop that stack first" >&2
  exit 1
fi

echo "==> docker-compose up -d"
start=$(date +%s%3N)
"${compose[@]}" up -d
returned=$(date +%s%3N)
# `up -d` returns when each service's dependencies are healthy; then wait for the last ones.
while true; do
  # Running services must be healthy; the one-shot init must have exited with 0.
  states="$(docker inspect -f '{{.Name}} {{.State.Status}} {{.State.ExitCode}} {{if .State.Health}}{{.State.Health.Status}}{{end}}' $("${compose[@]}" ps -q))"
  if grep -E '^/init exited [1-9]' <<<"$states" >/dev/null; then
    echo "error: the init service failed: $states" >&2
    exit 1
  fi
  if ! grep -v -E ' (running 0 healthy|exited 0 )$' <<<"$states" >/dev/null; then break; fi
  if [ $(($(date +%s%3N) - start)) -gt 300000 ]; then
    echo "error: the stack is not healthy after 300 s:" >&2
    echo "$states" >&2
    exit 1
  fi
  sleep 0.5
done
healthy=$(date +%s%3N)
seconds() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
echo "measured: up_returned_s = $(seconds $((returned - start)))"
echo "measured: up_to_every_service_healthy_s = $(seconds $((healthy - start)))"

echo "==> integration-tests/python/compose_stack.py"
"$python" "$root/integration-tests/python/compose_stack.py" "$work" "$project"
echo "==> the compose stack test passed"
