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
export SOAK_SECONDS=$seconds SOAK_STATE=$state PYTHONDONTWRITEBYTECODE=1

# shellcheck disable=SC2317 # (called from the EXIT trap)
# True when process $1 runs with argument $2 on its command line.
has_arg() {
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"
}

# shellcheck disable=SC2317
cleanup() {
	if [ -f "$state/agent_pid" ]; then
		pid=$(cat "$state/agent_pid")
		if grep -qa kvscope "/proc/$pid/cmdline" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	if [ -f "$state/cluster_dir" ]; then
		dir=$(cat "$state/cluster_dir")
		[ -f "$dir/members.env" ] && { ../integration/cluster.sh stop "$dir" || true; }
		# A member being restarted at an interruption may not be in
		# members.env yet: find it by its data directory, stop it by PID.
		for proc in /proc/[0-9]*; do
			pid=${proc#/proc/}
			for name in "$dir"/*/; do
				[ -d "$name" ] && has_arg "$pid" "${name%/}" && kill -KILL "$pid" 2>/dev/null
			done
		done
		rm -rf "$dir"
	fi
	rm -rf "$state"
}
trap cleanup EXIT

timeout --kill-after=10 $((seconds + 180)) python3 -u soak.py | tee "$state/out"
rc=${PIPESTATUS[0]}
if ! tail -1 "$state/out" | grep -q '^soak: [0-9]* passed, [0-9]* failed$'; then
	echo "soak: 0 passed, 1 failed (the run ended without its table, exit $rc)"
	rc=1
fi
exit "$rc"
