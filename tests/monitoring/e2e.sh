#!/usr/bin/env bash
# End-to-end test of the monitoring stack against a live 3-member etcd
# cluster watched by kvscope, all on loopback with free ports:
#
#   tests/integration/cluster.sh start DIR   3 etcd members; DIR/members.env
#                                            sets ETCD_ENDPOINTS (client URLs,
#                                            comma-separated) and ETCD_PIDS
#                                            (space-separated, same order)
#   build/kvscope                            started here
#   prometheus-node-exporter                 started here
#   2 prometheus replicas                    the highly available shape of
#   2 prometheus-alertmanager peers          deploy/: the shipped files as they
#                                            are, flags from deploy/default/
#   webhook recorder                         stands in for both receivers
#
# Shipped configs are the tested configs: Prometheus reads deploy/prometheus.yml
# and the repository's rules through symlinks; only its file_sd target files
# are written here. Alertmanager reads deploy/alertmanager.yml itself; its
# receivers' host name resolves to the recorder through a private /etc/hosts
# (its own mount namespace), a random 127.x.y.z. The flags are the ARGS of
# deploy/default/* with the addresses replaced by loopback ones.
#
# Then checks, in order: every scrape target up on both replicas; oversized
# values make KVStoreHighErrorRate reach web.hook; every dashboard query
# returns data; killing the etcd leader makes KVStoreLeaderElection reach
# web.hook and the lost member KVStoreNodeDown reach critical-alerts; killing
# one Prometheus and the Alertmanager peer that sends while that alert fires
# leaves it firing and active throughout; stopping kvscope then makes
# KVStoreNodeDown reach critical-alerts through the survivors; and no
# notification came twice. Rules are loaded unchanged, so each wait covers
# the rule's `for:`. Everything started here is stopped by PID on exit.
# Needs root (kvscope loads BPF programs; the recorder listens on port 80 of
# its own loopback address).
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
prom_pids=()
am_pids=()
lost_target=
cluster_tag=e2e$$
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
	CLUSTER_TAG=$cluster_tag tests/integration/cluster.sh start "$work/cluster" >"$work/cluster.log" 2>&1 ||
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

# Prometheus as installed: the shipped config and rules (symlinks, so they
# are the files in the repository), target files written for loopback.
install_prometheus() {
	local dir=$work/prom rule
	mkdir -p "$dir/rules"
	ln -s "$repo/deploy/prometheus.yml" "$dir/prometheus.yml"
	for rule in rules/*.yml; do
		ln -s "$repo/$rule" "$dir/rules/"
	done
	tool prom-targets "$dir/prometheus.yml" --kvstore "$kvscope_addr" \
		--node-exporter "127.0.0.1:$ne_port" \
		--alertmanagers "127.0.0.1:${am_ports[0]},127.0.0.1:${am_ports[1]}" ||
		die "prometheus target files"
}

# The flags of a deploy/default/ file (tool flags arguments) into the array
# named by $1.
read_flags() {
	local -n into=$1
	local text
	shift
	text=$(tool flags "$@") || die "flags of $1"
	into=()
	# shellcheck disable=SC2034 # a nameref: sets the caller's array
	[ -z "$text" ] || mapfile -t into <<<"$text"
}

# Replica N (1, 2) of Prometheus, named by its replica label.
start_prometheus() {
	local n=$1 flags
	read_flags flags deploy/default/prometheus
	start "prometheus-$n" env PROMETHEUS_REPLICA="prometheus-$n" prometheus "${flags[@]}" \
		--config.file="$work/prom/prometheus.yml" --storage.tsdb.path="$work/prom-data-$n" \
		--web.listen-address="127.0.0.1:${prom_ports[$((n - 1))]}"
	prom_pids+=("${pids[-1]}")
}

# Peer N (1, 2) of the Alertmanager cluster, in a mount namespace whose
# /etc/hosts names the recorder.
start_alertmanager() {
	local n=$1 i flags peers=""
	for i in 0 1; do
		peers+="${peers:+,}127.0.0.1:${am_cluster_ports[$i]}"
	done
	read_flags flags deploy/default/prometheus-alertmanager \
		--set="--cluster.listen-address=127.0.0.1:${am_cluster_ports[$((n - 1))]}" --peers "$peers"
	# shellcheck disable=SC2016 # expanded by the inner shell
	start "alertmanager-$n" unshare --mount --propagation private -- \
		sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$work/hosts" \
		prometheus-alertmanager "${flags[@]}" --config.file="$repo/deploy/alertmanager.yml" \
		--storage.path="$work/am-data-$n" --web.listen-address="127.0.0.1:${am_ports[$((n - 1))]}"
	am_pids+=("${pids[-1]}")
}

start_stack() {
	local ports wh_ip wh_host wh_port
	read -r -a ports <<<"$(tool ports 8)" || die "no free ports"
	kv_port=${ports[0]} ne_port=${ports[1]}
	prom_ports=("${ports[2]}" "${ports[3]}")
	am_ports=("${ports[4]}" "${ports[5]}")
	am_cluster_ports=("${ports[6]}" "${ports[7]}")
	proms=("http://127.0.0.1:${prom_ports[0]}" "http://127.0.0.1:${prom_ports[1]}")
	ams=("http://127.0.0.1:${am_ports[0]}" "http://127.0.0.1:${am_ports[1]}")
	prom=${proms[0]}
	kvscope_addr=127.0.0.1:$kv_port

	read -r wh_host wh_port <<<"$(tool receiver-host deploy/alertmanager.yml)" ||
		die "receiver host of deploy/alertmanager.yml"
	wh_ip=$(tool loopback-ip "$wh_port") || die "no loopback address with port $wh_port free"
	printf '127.0.0.1\tlocalhost\n%s\t%s\n' "$wh_ip" "$wh_host" >"$work/hosts"
	start webhook python3 "$here/e2e_tool.py" serve-webhook --host "$wh_ip" "$wh_port" \
		"$work/webhook.jsonl"
	log "receivers: $wh_host resolves to $wh_ip:$wh_port for Alertmanager"
	start_alertmanager 1
	start_alertmanager 2
	start node-exporter prometheus-node-exporter --web.listen-address="127.0.0.1:$ne_port"
	# Only this cluster's members: other etcd processes on the host are not ours.
	start kvscope build/kvscope --web.listen-address="$kvscope_addr" --target.name="$cluster_tag-*"
	kvscope_pid=${pids[-1]}
	install_prometheus
	start_prometheus 1
	start_prometheus 2
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
	expect "every target is up on prometheus-1" 90 tool targets-up "${proms[0]}"
	expect "every target is up on prometheus-2" 90 tool targets-up "${proms[1]}"
	expect "the Alertmanager peers form one cluster" 60 tool am-sender "${ams[@]}"
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
	# etcd reads its database file with read() only for a snapshot: take a
	# backup, as operators do, so the disk-read panel has data to show.
	log "backing up one member: etcd reads its database file"
	ETCDCTL_API=3 etcdctl --endpoints="${member_endpoints[0]}" --command-timeout=30s \
		snapshot save "$work/backup.db" >>"$work/backup.log" 2>&1 || fail "etcdctl snapshot save"
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
	lost_target=$target
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

# High availability: kill prometheus-1 and the Alertmanager peer that sends
# (the first in the peers' order) while the lost member's KVStoreNodeDown
# fires. The survivors keep it firing and active without a gap; the next
# check's alert goes out through them.
check_ha_failover() {
	local sender i victim=
	sender=$(tool am-sender "${ams[@]}") || {
		fail "find the sending Alertmanager peer"
		return
	}
	for i in 0 1; do
		[ "${ams[$i]}" = "$sender" ] && victim=$i
	done
	local survivor=$((1 - victim))
	log "killing prometheus-1 (pid ${prom_pids[0]}) and alertmanager-$((victim + 1)) (pid ${am_pids[$victim]}, the sender)"
	kill -KILL "${prom_pids[0]}" "${am_pids[$victim]}"
	wait "${prom_pids[0]}" "${am_pids[$victim]}" 2>/dev/null
	prom=${proms[1]}
	# One run, not retried: a retry could skip over the gap it looks for.
	local what="KVStoreNodeDown stays firing on prometheus-2 and active on alertmanager-$((survivor + 1)) for 60 s"
	if tool alert-continuous 60 "$prom" "${ams[$survivor]}" KVStoreNodeDown \
		${lost_target:+--label "target=$lost_target"} >"$work/last-check.out" 2>&1; then
		pass "$what"
	else
		fail "$what"
		sed 's/^/    /' "$work/last-check.out"
	fi
}

# Every notification reached its receiver once: no peer sent what another
# had sent, before or after the kills.
check_exactly_once() {
	if tool webhook-duplicates "$work/webhook.jsonl" deploy/alertmanager.yml >"$work/last-check.out" 2>&1; then
		pass "every notification arrived exactly once ($(tail -1 "$work/last-check.out"))"
	else
		fail "every notification arrived exactly once"
		sed 's/^/    /' "$work/last-check.out"
	fi
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

need prometheus prometheus-alertmanager prometheus-node-exporter etcdctl python3 unshare
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
check_ha_failover
check_kvscope_loss
check_exactly_once

[ "$failed" -eq 0 ]
