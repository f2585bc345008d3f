#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.py) and sums their
# closing lines into one. Needs root (BPF), etcd and a built agent.
set -u
cd "$(dirname "$0")"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
passed=0 failed=0
for t in ${INTEGRATION_TESTS:-test_*.py}; do
	echo "== $t"
	out=$(timeout 600 python3 -u "$t" 2>&1 | tee /dev/stderr | tail -1)
	p=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$out")
	f=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$out")
	[ -n "$p" ] || { p=0; f=1; echo "$t: no closing line (crashed or timed out)"; }
	passed=$((passed + p))
	failed=$((failed + f))
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
