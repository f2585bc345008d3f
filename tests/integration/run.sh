#!/usr/bin/env bash
# Runs every integration test file (tests/integration/test_*.py, or those in
# INTEGRATION_TESTS), each in its own process through the unittest runner of
# tests/lib, and sums their closing lines into one. Needs root (BPF), etcd
# and a built agent.
set -u
cd "$(dirname "$0")" || exit 1
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
export PYTHONPATH=$PWD/../lib PYTHONDONTWRITEBYTECODE=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
passed=0 failed=0 skipped=0
for t in ${INTEGRATION_TESTS:-test_*.py}; do
	echo "== $t"
	name=${t%.py}
	timeout 600 python3 -u -m kvtest.runner "integration ${name#test_}" . "$t" 2>&1 | tee "$log"
	out=$(tail -1 "$log")
	re='.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped$'
	if [[ $out =~ $re ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		skipped=$((skipped + BASH_REMATCH[3]))
	else
		echo "$t: no closing line (crashed or timed out)"
		failed=$((failed + 1))
	fi
done
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
