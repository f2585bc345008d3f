#!/usr/bin/env bash
# kvscope over a long, bounded run (see soak.py): SOAK_SECONDS (default 600)
# of steady load, leader kills every minute and a kvscope restart, then the
# agent's memory, lost events and counts against etcd's own. Needs root
# (BPF), etcd, etcdctl, bpftool and the plain build (build/kvscope, or
# $SOAK_KVSCOPE). The scenario is stopped 180 s after its length, killed
# 10 s later, and whatever it started is then stopped by PID.
set -u
cd "$(dirname "$0")" || exit 1
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
seconds=${SOAK_SECONDS:-600}
state=$(mktemp -d /tmp/kvscope-soak.XXXXXX)
export SOAK_SECONDS=$seconds SCENARIO_STATE=$state PYTHONPATH=$PWD/../lib PYTHONDONTWRITEBYTECODE=1

# shellcheck source=../integration/scenario-cleanup.sh
. ../integration/scenario-cleanup.sh
trap scenario_cleanup EXIT

timeout --kill-after=10 $((seconds + 180)) python3 -u soak.py | tee "$state/out"
rc=${PIPESTATUS[0]}
if ! tail -1 "$state/out" | grep -q '^soak: [0-9]* passed, [0-9]* failed$'; then
	echo "soak: 0 passed, 1 failed (the run ended without its table, exit $rc)"
	rc=1
fi
exit "$rc"
