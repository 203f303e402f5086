#!/usr/bin/env bash
# What `overflow-checks = true` in the release profile costs: builds the release binaries
# twice (as the workspace sets them, with the checks, and with
# CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=false into target/no-overflow-checks), runs bench-alpha
# and bench-zero from each build in this one script, and prints each measurement side by side
# with its ratio (checked / unchecked).
#
#   integration-tests/bench/overflow.sh                 # 200,000 nodes, 3 s per measurement
#   NODES=1000000 SECS=5 integration-tests/bench/overflow.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
nodes="${NODES:-200000}"
secs="${SECS:-3}"

echo "==> building the release binaries, unchecked and checked"
cargo build --release --bins --locked
CARGO_PROFILE_RELEASE_OVERFLOW_CHECKS=false \
  cargo build --release --bins --locked --target-dir target/no-overflow-checks

out="$(mktemp -d)"
for pair in no-overflow-checks/release:unchecked release:checked; do
  build="${pair%%:*}"
  name="${pair##*:}"
  echo "==> running the benchmarks from target/$build"
  "target/$build/bench-alpha" --nodes "$nodes" --secs "$secs" 2>/dev/null | tee "$out/$name-alpha.txt"
  "target/$build/bench-zero" --secs "$secs" 2>/dev/null | tee "$out/$name-zero.txt"
done

# Pairs the measurements of the two runs: each result line is a name, then its number.
python3 - "$out" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
def rows(path):
    got = []
    for line in path.read_text().splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 2 and re.match(r"^[0-9][0-9.]*", parts[1]):
            got.append((parts[0], float(re.match(r"^[0-9.]+", parts[1]).group())))
    return got
print("\n| measurement | unchecked | overflow-checks | checked / unchecked |")
print("|---|---:|---:|---:|")
for part in ("alpha", "zero"):
    a, b = rows(out / f"unchecked-{part}.txt"), rows(out / f"checked-{part}.txt")
    for (name, x), (_, y) in zip(a, b):
        ratio = y / x if x else float('nan')
        print(f"| {part}: {name} | {x:,.1f} | {y:,.1f} | {ratio:.3f} |")
PY
