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

# The core suite also runs against every other etcd build kvscope supports
# (fetched and cached by scripts/fetch-builds.sh); INTEGRATION_BUILDS names
# them, "" for bookworm's /usr/bin/etcd only.
builds=${INTEGRATION_BUILDS-etcd-3.5.16 etcd-3.5.30}

run_one() {
	local t=$1 name=${1%.py} out
	echo "== $t${ETCD:+ (ETCD=$ETCD)}"
	[ -z "${ETCD:-}" ] || python3 -c 'import kvtest; print(kvtest.build_line())'
	timeout 600 python3 -u -m kvtest.runner "integration ${name#test_}${2:+ $2}" . "$t" 2>&1 |
		tee "$log"
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
		ETCD=$etcd run_one "$t" "$b"
	done
done
echo "integration: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
