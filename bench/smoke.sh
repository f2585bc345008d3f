#!/usr/bin/env bash
# A short bench run (BENCH_QUICK=1): every round must run and produce
# numbers; the goals are not judged. Ends with "bench smoke: N passed, N failed".
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
json="$root/build/bench/smoke.json"
rm -f "$json"
BENCH_QUICK=1 BENCH_JSON="$json" BENCH_RESULTS="$root/build/bench/RESULTS-smoke.md" \
	timeout 300 "$root/bench/run.sh"
rc=$?
python3 "$root/bench/smoke_check.py" "$json" "$rc"
