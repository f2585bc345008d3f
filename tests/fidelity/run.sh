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

timeout --kill-after=10 200 python3 -u fidelity.py | tee "$state/out"
rc=${PIPESTATUS[0]}
if ! tail -1 "$state/out" | grep -q '^fidelity: [0-9]* passed, [0-9]* failed$'; then
	echo "fidelity: 0 passed, 1 failed (the scenario ended without its table, exit $rc)"
	rc=1
fi
exit "$rc"
