#!/usr/bin/env bash
# Runs every integration test (tests/integration/test_*.py) and sums their
# closing lines into one. Needs root (BPF), etcd and a built agent.
set -u
cd "$(dirname "$0")"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
passed=0 failed=0

# The core suite also runs against every other etcd build kvscope supports
# (fetched and cached by scripts/fetch-builds.sh); INTEGRATION_BUILDS names
# them, "" for bookworm's /usr/bin/etcd only.
builds=${INTEGRATION_BUILDS-etcd-3.5.16 etcd-3.5.30}

run_one() {
	local t=$1 out p f
	echo "== $t${ETCD:+ (ETCD=$ETCD)}"
	out=$(timeout 600 python3 -u "$t" 2>&1 | tee /dev/stderr | tail -1)
	p=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p' <<<"$out")
	f=$(sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p' <<<"$out")
	[ -n "$p" ] || { p=0; f=1; echo "$t: no closing line (crashed or timed out)"; }
	passed=$((passed + p))
	failed=$((failed + f))
}

for t in ${INTEGRATION_TESTS:-test_*.py}; do
	run_one "$t"
	[ "$t" = test_core.py ] || continue
	for b in $builds; do
		if ! etcd=$(../../scripts/fetch-builds.sh path "$b"); then
			echo "$t: cannot fetch $b"
			failed=$((failed + 1))
			continue
		fi
		ETCD=$etcd run_one "$t"
	done
done
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
