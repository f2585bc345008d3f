#!/usr/bin/env bash
# End-to-end test of the monitoring stack against a live 3-member etcd
# cluster watched by kvscope, all on loopback with free ports:
#
#   tests/integration/cluster.sh start DIR   3 etcd members; DIR/members.env
#                                            sets ETCD_ENDPOINTS (client URLs,
#                                            comma-separated) and ETCD_PIDS
#                                            (space-separated, same order)
#   build/kvscope                            started here
#   prometheus, prometheus-alertmanager,     started here with loopback copies
#   prometheus-node-exporter                 of deploy/*.yml and rules/*.yml
#   webhook recorder                         stands in for both receivers
#
# Then checks, in order: every scrape target up; oversized values make
# KVStoreHighErrorRate reach web.hook; every dashboard query returns data;
# killing the etcd leader makes KVStoreLeaderElection reach web.hook and
# the lost member KVStoreNodeDown reach critical-alerts; stopping kvscope
# makes KVStoreNodeDown reach critical-alerts. Rules are loaded unchanged,
# so each wait covers the rule's `for:`. Everything started here is
# stopped by PID on exit. Needs root (kvscope loads BPF programs).
#
# Environment: E2E_TIMEOUT (s, default 1500) bounds the whole run;
# E2E_KEEP=1 keeps the work directory with every log.
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
repo=$PWD
here=tests/monitoring
export PYTHONPATH=$repo/tests/lib # e2e_tool.py uses the shared test library
deadline=$((SECONDS + ${E2E_TIMEOUT:-1500}))
work=$(mktemp -d /tmp/kvscope-e2e.XXXXXX)
passed=0
failed=0
pids=()
cluster_started=0
traffic_pid=
errors_pid=

tool() { python3 "$here/e2e_tool.py" "$@"; }
log() { printf '%s %s\n' "$(date +%T)" "$*"; }
pass() { passed=$((passed + 1)); log "PASS: $*"; }
fail() { failed=$((failed + 1)); log "FAIL: $*"; }
die() {
	fail "$*"
	exit 1
}

# ---------------------------------------------------------------- processes

# Starts a command in the background, logging to $work/<name>.log.
start() {
	local name=$1
	shift
	"$@" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	log "started $name (pid $!)"
}

# Stops one process we started: TERM, then KILL after 10 s.
stop_pid() {
	local pid=$1 i
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null
	for i in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.2
	done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local pid
	stop_pid "$errors_pid"
	stop_pid "$traffic_pid"
	for pid in "${pids[@]}"; do
		stop_pid "$pid"
	done
	if [ "$cluster_started" = 1 ]; then
		tests/integration/cluster.sh stop "$work/cluster" >>"$work/cluster.log" 2>&1
	fi
	if [ "${E2E_KEEP:-0}" = 1 ] || [ "$failed" -gt 0 ]; then
		log "logs kept in $work"
	else
		rm -rf "$work"
	fi
	echo "monitoring e2e: $passed passed, $failed failed"
}
trap cleanup EXIT
trap 'fail "interrupted"; exit 1' INT TERM

# Retries a command every 2 s until it succeeds, for at most $1 seconds
# (and never past the overall deadline).
wait_for() {
	local limit=$((SECONDS + $1))
	shift
	[ "$limit" -gt "$deadline" ] && limit=$deadline
	until "$@" >"$work/last-check.out" 2>&1; do
		[ "$SECONDS" -ge "$limit" ] && return 1
		sleep 2
	done
}

# One expectation: passes or fails with the last output of the check.
expect() {
	local what=$1
	shift
	if wait_for "$@"; then
		pass "$what"
	else
		fail "$what"
		sed 's/^/    /' "$work/last-check.out"
	fi
}

# ------------------------------------------------------------------- checks

need() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || die "$c not installed"
	done
}

start_cluster() {
	[ -x tests/integration/cluster.sh ] || die "tests/integration/cluster.sh missing"
	log "starting the etcd cluster"
	cluster_started=1
	tests/integration/cluster.sh start "$work/cluster" >"$work/cluster.log" 2>&1 ||
		die "cluster.sh start failed (see $work/cluster.log)"
	# shellcheck disable=SC1091
	source "$work/cluster/members.env"
	if [ -z "${ETCD_ENDPOINTS:-}" ] || [ -z "${ETCD_PIDS:-}" ]; then
		die "members.env lacks ETCD_ENDPOINTS or ETCD_PIDS"
	fi
	read -r -a member_pids <<<"$ETCD_PIDS"
	IFS=, read -r -a member_endpoints <<<"$ETCD_ENDPOINTS"
	[ "${#member_pids[@]}" -eq "${#member_endpoints[@]}" ] ||
		die "members.env: ${#member_pids[@]} PIDs for ${#member_endpoints[@]} endpoints"
}

start_stack() {
	read -r kv_port prom_port am_port ne_port wh_port <<<"$(tool ports 5)" ||
		die "no free ports"
	prom=http://127.0.0.1:$prom_port
	kvscope_addr=127.0.0.1:$kv_port

	start webhook python3 "$here/e2e_tool.py" serve-webhook "$wh_port" "$work/webhook.jsonl"
	tool am-config --out "$work/alertmanager.yml" --webhook "http://127.0.0.1:$wh_port" ||
		die "alertmanager config"
	start alertmanager prometheus-alertmanager --config.file="$work/alertmanager.yml" \
		--storage.path="$work/am-data" --web.listen-address="127.0.0.1:$am_port" \
		--cluster.listen-address=
	start node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port"
	start kvscope build/kvscope --web.listen-address="$kvscope_addr"
	kvscope_pid=${pids[-1]}
	tool prom-config --out "$work/prometheus.yml" --kvscope "$kvscope_addr" \
		--node-exporter "127.0.0.1:$ne_port" --alertmanager "127.0.0.1:$am_port" ||
		die "prometheus config"
	start prometheus prometheus --config.file="$work/prometheus.yml" \
		--storage.tsdb.path="$work/prom-data" --web.listen-address="127.0.0.1:$prom_port"
}

etcdctl_all() {
	ETCDCTL_API=3 etcdctl --endpoints="$ETCD_ENDPOINTS" --command-timeout=5s "$@"
}

# Ordinary reads and writes, a few per second, until stopped.
traffic_loop() {
	local i=0
	while :; do
		i=$(((i + 1) % 100))
		etcdctl_all put "e2e/key$i" "value$i" >/dev/null 2>&1
		etcdctl_all get "e2e/key$i" >/dev/null 2>&1
		[ $((i % 20)) = 0 ] && etcdctl_all del "e2e/key$((i + 1))" >/dev/null 2>&1
		sleep 0.2
	done
}

# Values over etcd's 1.5 MiB request limit but under the gRPC limit
# (1.5 MiB + 512 KiB): they reach the server, which refuses them.
oversize_loop() {
	head -c 1700000 /dev/zero | tr '\0' x >"$work/oversize.value"
	while :; do
		etcdctl_all put e2e/oversize <"$work/oversize.value" >/dev/null 2>&1
		sleep 0.1
	done
}

check_targets() {
	expect "every Prometheus target is up" 90 tool targets-up "$prom"
	expect "recording rules produce request rates" 120 \
		tool query "$prom" 'target_method:kvstore_requests:rate5m > 0'
}

check_error_rate() {
	local since
	since=$(date +%s)
	oversize_loop &
	errors_pid=$!
	# 5m rate window, then the rule's 2m `for:`.
	expect "KVStoreHighErrorRate fires" 480 tool alert-firing "$prom" KVStoreHighErrorRate
	expect "KVStoreHighErrorRate reaches web.hook" 60 \
		tool webhook-seen "$work/webhook.jsonl" web.hook KVStoreHighErrorRate --since "$since"
	stop_pid "$errors_pid"
	errors_pid=
}

check_panels() {
	expect "every dashboard query returns data" 120 tool panels "$prom"
	sed -n 's/^\(FAIL\|SKIP\): /    &/p' "$work/last-check.out"
}

# Kills the leader: a new election, and one member less.
check_leader_loss() {
	local leader pid target i since
	leader=$(tool leader "$ETCD_ENDPOINTS") || {
		fail "find the etcd leader"
		return
	}
	for i in "${!member_endpoints[@]}"; do
		[ "${member_endpoints[$i]}" = "$leader" ] && pid=${member_pids[$i]}
	done
	[ -n "${pid:-}" ] || {
		fail "leader $leader is not in members.env"
		return
	}
	target=$(tool query "$prom" "kvstore_target_info{pid=\"$pid\"}" |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["target"])' 2>/dev/null)
	since=$(date +%s)
	log "killing the leader $leader (pid $pid, target ${target:-unknown})"
	kill -KILL "$pid"
	expect "KVStoreLeaderElection reaches web.hook" 180 \
		tool webhook-seen "$work/webhook.jsonl" web.hook KVStoreLeaderElection --since "$since"
	# The rule's 1m `for:` after kvscope sees the member gone.
	expect "KVStoreNodeDown for the lost member reaches critical-alerts" 240 \
		tool webhook-seen "$work/webhook.jsonl" critical-alerts KVStoreNodeDown \
		${target:+--label "target=$target"} --since "$since"
}

check_kvscope_loss() {
	local since
	since=$(date +%s)
	log "stopping kvscope (pid $kvscope_pid)"
	stop_pid "$kvscope_pid"
	expect "KVStoreNodeDown for kvscope reaches critical-alerts" 240 \
		tool webhook-seen "$work/webhook.jsonl" critical-alerts KVStoreNodeDown \
		--label "instance=$kvscope_addr" --no-label target --since "$since"
}

# --------------------------------------------------------------------- main

need prometheus prometheus-alertmanager prometheus-node-exporter etcdctl python3
[ -x build/kvscope ] || die "build/kvscope missing: make build/kvscope first"
python3 -c 'import yaml' 2>/dev/null || die "python3 yaml module missing (python3-yaml)"
log "work directory $work (repository $repo)"

start_cluster
start_stack
traffic_loop &
traffic_pid=$!

check_targets
check_error_rate
check_panels
check_leader_loss
check_kvscope_loss

[ "$failed" -eq 0 ]
