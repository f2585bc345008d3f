#!/usr/bin/env bash
# The README's run command. kvscope on this host, on :2112. When no store
# runs here, it first starts a local 3-member etcd cluster on 127.0.0.1 with
# a small bounded load so the metrics move. Ctrl-C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

KVSCOPE=${KVSCOPE:-build/kvscope}
LISTEN=${LISTEN:-:2112}
demo_dir=""
load_pid=""

cleanup() {
	trap - INT TERM EXIT
	set +e # everything here must run, whatever fails
	if [ -n "$load_pid" ]; then
		kill "$load_pid" 2>/dev/null
		wait "$load_pid" 2>/dev/null
	fi
	if [ -n "$demo_dir" ]; then
		echo "stopping the demo cluster"
		tests/integration/cluster.sh stop "$demo_dir"
		rm -rf "$demo_dir"
	fi
}
trap cleanup INT TERM EXIT

if [ "$(id -u)" -ne 0 ]; then
	echo "kvscope needs root (BPF and uprobes): run it with sudo" >&2
	exit 1
fi

# DEMO=1 starts the demo cluster even when a store already runs here.
if [ "${DEMO:-0}" = 1 ] || { ! pgrep -x etcd >/dev/null && ! pgrep -x redis-server >/dev/null; }; then
	demo_dir=$(mktemp -d /tmp/kvscope-demo.XXXXXX)
	echo "no store runs on this host: starting a 3-member etcd demo cluster in $demo_dir"
	CLUSTER_TAG=demo tests/integration/cluster.sh start "$demo_dir" --max-request-bytes=65536
	scripts/demo-load.sh "$demo_dir" &
	load_pid=$!
fi

echo "kvscope serves metrics on http://localhost:${LISTEN##*:}/metrics (Ctrl-C to stop)"
"$KVSCOPE" --web.listen-address="$LISTEN" &
agent_pid=$!
# forward Ctrl-C to the agent, then clean up after it
trap 'kill -TERM $agent_pid 2>/dev/null; wait $agent_pid; cleanup; exit 0' INT TERM
wait $agent_pid
