#!/usr/bin/env bash
# A local 3-member etcd cluster on 127.0.0.1 for tests and the demo.
#   cluster.sh start DIR [extra etcd flags...]   start, wait until healthy, write DIR/members.env
#   cluster.sh stop DIR                          stop the members this script started (by PID)
#   cluster.sh kill DIR N                        SIGKILL member N (1-3)
#   cluster.sh restart DIR N                     start member N again, same name and data
# Ports are picked free at start; names are unique per cluster so other
# etcd processes on the host are never confused with ours.
set -euo pipefail

cmd=${1:?usage: cluster.sh start|stop|kill|restart DIR}
dir=${2:?usage: cluster.sh start|stop|kill|restart DIR}
ETCD=${ETCD:-/usr/bin/etcd}
ETCDCTL=${ETCDCTL:-/usr/bin/etcdctl}
export ETCDCTL_API=3

free_ports() {
	python3 - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

start_member() {
	local i=$1 state=$2
	# shellcheck disable=SC1091
	. "$dir/members.env"
	local name_var="NAME_$i" client_var="CLIENT_$i" peer_var="PEER_$i"
	local name=${!name_var} client=${!client_var} peer=${!peer_var}
	# shellcheck disable=SC2086
	setsid "$ETCD" --name "$name" --data-dir "$dir/$name" \
		--listen-client-urls "$client" --advertise-client-urls "$client" \
		--listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
		--initial-cluster "$INITIAL_CLUSTER" --initial-cluster-state "$state" \
		--initial-cluster-token "$TOKEN" $EXTRA_FLAGS \
		>>"$dir/$name.log" 2>&1 </dev/null &
	local pid=$!
	sed -i "/^PID_$i=/d" "$dir/members.env"
	echo "PID_$i=$pid" >>"$dir/members.env"
}

# Summary lines for other tools: client URLs and PIDs in member order.
write_summary() {
	# shellcheck disable=SC1091
	. "$dir/members.env"
	sed -i '/^ETCD_ENDPOINTS=/d; /^ETCD_PIDS=/d' "$dir/members.env"
	echo "ETCD_ENDPOINTS=$ENDPOINTS" >>"$dir/members.env"
	echo "ETCD_PIDS=\"$PID_1 $PID_2 $PID_3\"" >>"$dir/members.env"
}

wait_healthy() {
	# shellcheck disable=SC1091
	. "$dir/members.env"
	for _ in $(seq 1 150); do
		if "$ETCDCTL" --endpoints "$ENDPOINTS" --command-timeout=2s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	echo "cluster.sh: cluster in $dir did not become healthy in 30s" >&2
	return 1
}

do_start() {
	shift 2
	mkdir -p "$dir"
	read -r -a ports <<<"$(free_ports 6)"
	local tag=${CLUSTER_TAG:-kvs$$}
	{
		echo "TOKEN=$tag-$RANDOM"
		echo "EXTRA_FLAGS=\"$*\""
		local cluster="" endpoints=""
		for i in 1 2 3; do
			local c=${ports[$(((i - 1) * 2))]} p=${ports[$(((i - 1) * 2 + 1))]}
			echo "NAME_$i=$tag-$i"
			echo "CLIENT_$i=http://127.0.0.1:$c"
			echo "PEER_$i=http://127.0.0.1:$p"
			cluster+="${cluster:+,}$tag-$i=http://127.0.0.1:$p"
			endpoints+="${endpoints:+,}http://127.0.0.1:$c"
		done
		echo "INITIAL_CLUSTER=$cluster"
		echo "ENDPOINTS=$endpoints"
	} >"$dir/members.env"
	for i in 1 2 3; do start_member "$i" new; done
	write_summary
	wait_healthy
}

# True while pid runs (a zombie no longer does: its reaper may be slow).
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

member_pid() {
	# shellcheck disable=SC1091
	. "$dir/members.env"
	local v="PID_$1"
	echo "${!v:-}"
}

do_stop() {
	[ -f "$dir/members.env" ] || return 0
	local pids=()
	for i in 1 2 3; do
		local pid
		pid=$(member_pid "$i")
		if [ -n "$pid" ] && alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null || true
			pids+=("$pid")
		fi
	done
	for pid in "${pids[@]}"; do
		for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
}

case "$cmd" in
start) do_start "$@" ;;
stop) do_stop ;;
kill)
	pid=$(member_pid "${3:?member number}")
	kill -KILL "$pid"
	while alive "$pid"; do sleep 0.05; done
	;;
restart)
	start_member "${3:?member number}" existing
	write_summary
	wait_healthy
	;;
*) echo "cluster.sh: unknown command $cmd" >&2; exit 2 ;;
esac
