#!/usr/bin/env bash
# Sourced by the scenario runners (fidelity, soak): on exit, stop by PID the
# agent and the cluster members a scenario recorded in $state, even when the
# scenario was interrupted, and remove what it left behind.
# shellcheck disable=SC2317 # (called from the EXIT trap)

scenario_cluster_sh=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster.sh

# True when process $1 runs with argument $2 on its command line.
has_arg() {
	tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | grep -qxF -- "$2"
}

stop_recorded_agent() {
	[ -f "$state/agent_pid" ] || return 0
	local pid
	pid=$(cat "$state/agent_pid")
	grep -qa kvscope "/proc/$pid/cmdline" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
}

stop_recorded_cluster() {
	[ -f "$state/cluster_dir" ] || return 0
	local dir pid
	dir=$(cat "$state/cluster_dir")
	[ -f "$dir/members.env" ] && { "$scenario_cluster_sh" stop "$dir" || true; }
	# A member being restarted at an interruption may not be in
	# members.env yet: find it by its data directory, stop it by PID.
	for proc in /proc/[0-9]*; do
		pid=${proc#/proc/}
		for name in "$dir"/*/; do
			[ -d "$name" ] && has_arg "$pid" "${name%/}" && kill -KILL "$pid" 2>/dev/null
		done
	done
	rm -rf "$dir"
}

scenario_cleanup() {
	stop_recorded_agent
	stop_recorded_cluster
	rm -rf "$state"
}
