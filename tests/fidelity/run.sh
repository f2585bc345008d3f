#!/usr/bin/env bash
# kvscope's figures against etcd's own books (see README.md here). Needs root
# (BPF), etcd, etcdctl, bpftool and a built agent. Bounded: the scenario
# spends at most 200 s; it is stopped at 230 s and killed 15 s later, and
# whatever it started is then stopped by PID from the state it left.
set -u
cd "$(dirname "$0")"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
state=$(mktemp -d /tmp/kvscope-fidelity.XXXXXX)
export FIDELITY_STATE=$state

cleanup() {
	if [ -f "$state/agent_pid" ]; then
		pid=$(cat "$state/agent_pid")
		if kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -f "$state/cluster_dir" ]; then
		dir=$(cat "$state/cluster_dir")
		if [ -f "$dir/members.env" ]; then
			../integration/cluster.sh stop "$dir" || true
			rm -rf "$dir"
		fi
	fi
	rm -rf "$state"
}
trap cleanup EXIT

timeout --kill-after=15 230 python3 -u fidelity.py
rc=$?
if [ "$rc" -ge 124 ]; then
	echo "fidelity: 0 passed, 1 failed (scenario killed after its time budget, exit $rc)"
	rc=1
fi
exit "$rc"
