#!/usr/bin/env bash
# Runs every suite of `make test` and closes with one line for all of them:
# `all: N passed, N failed, N skipped`, summed from each suite's closing line
# (`NAME: N passed, N failed[, N skipped]`). Only tests that tests/SKIPS
# allows to skip are counted skipped; any other skip is a failure.
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0 skipped=0 broken=()
run_suite() {
	local name=$1
	shift
	echo "=== $name"
	local log
	log=$(mktemp)
	"$@" 2>&1 | tee "$log"
	local rc=${PIPESTATUS[0]}
	local line
	line=$(grep -E '[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
	rm -f "$log"
	local p f s
	p=$(sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$line")
	f=$(sed -n 's/.* \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$line")
	s=$(sed -n 's/.* failed, \([0-9]*\) skipped.*/\1/p' <<<"$line")
	passed=$((passed + ${p:-0}))
	failed=$((failed + ${f:-0}))
	skipped=$((skipped + ${s:-0}))
	if [ "$rc" -ne 0 ]; then
		broken+=("$name")
		[ "${f:-0}" -gt 0 ] || failed=$((failed + 1))
	fi
}
run_suite house tests/house/run.sh
run_suite unit make --no-print-directory unit
run_suite integration make --no-print-directory integration
run_suite monitoring tests/monitoring/run.sh
run_suite fidelity make --no-print-directory fidelity
run_suite container tests/container/run.sh
FUZZ_SECONDS=${FUZZ_SECONDS:-5} run_suite fuzz tests/fuzz/run.sh
[ -x bench/smoke.sh ] && run_suite "bench smoke" bench/smoke.sh
[ -x tests/kernels/run.sh ] && run_suite kernels tests/kernels/run.sh
[ -x tests/soak/run.sh ] && SOAK_SECONDS=${SOAK_SECONDS:-60} run_suite soak tests/soak/run.sh
[ "${#broken[@]}" -eq 0 ] || echo "suites with failures: ${broken[*]}"
echo "all: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ] && [ "${#broken[@]}" -eq 0 ]
