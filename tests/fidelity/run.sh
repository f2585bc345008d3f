#!/usr/bin/env bash
# kvscope's figures against etcd's own books (see README.md here). Needs root
# (BPF), etcd, etcdctl, bpftool and a built agent. Bounded: the scenario
# spends at most 170 s; it is stopped at 200 s and killed 10 s later, and
# whatever it started is then stopped by PID from the state it left.
set -u
cd "$(dirname "$0")" || exit 1
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
state=$(mktemp -d /tmp/kvscope-fidelity.XXXXXX)
export SCENARIO_STATE=$state PYTHONPATH=$PWD/../lib PYTHONDONTWRITEBYTECODE=1

# shellcheck source=../integration/scenario-cleanup.sh
. ../integration/scenario-cleanup.sh
trap scenario_cleanup EXIT

# bookworm's etcd (build/fidelity.md), then every other build kvscope
# supports (build/fidelity-etcd-VERSION.md), fetched by scripts/fetch-builds.sh;
# FIDELITY_BUILDS names them, "" for bookworm's only.
builds=${FIDELITY_BUILDS-etcd-3.5.16 etcd-3.5.30}
passed=0 failed=0 rc=0

run_one() {
	local p f
	timeout --kill-after=10 200 python3 -u fidelity.py | tee "$state/out"
	local code=${PIPESTATUS[0]}
	if ! tail -1 "$state/out" | grep -q '^fidelity: [0-9]* passed, [0-9]* failed$'; then
		echo "fidelity: 0 passed, 1 failed (the scenario ended without its table, exit $code)" |
			tee -a "$state/out"
		code=1
	fi
	p=$(tail -1 "$state/out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	f=$(tail -1 "$state/out" | sed -n 's/.*: \([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$code" -eq 0 ] || rc=1
	# what a stopped scenario left is stopped before the next one starts
	stop_recorded_agent
	stop_recorded_cluster
	rm -f "$state/agent_pid" "$state/cluster_dir"
}

run_one
for b in $builds; do
	if ! etcd=$(../../scripts/fetch-builds.sh path "$b"); then
		echo "fidelity: cannot fetch $b"
		failed=$((failed + 1))
		rc=1
		continue
	fi
	ETCD=$etcd FIDELITY_TABLE=$(realpath -m "../../build/fidelity-$b.md") run_one
done
echo "fidelity: $passed passed, $failed failed"
exit "$rc"
