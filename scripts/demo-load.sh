#!/usr/bin/env bash
# A small, bounded mixed load on the demo cluster: puts, gets, deletes, txns,
# an occasional compaction and a few requests that fail (a value over the
# request limit), spread over all members. Stops after MAX_OPS operations
# or MAX_SECONDS, whichever comes first.
set -u
dir=${1:?usage: demo-load.sh CLUSTER_DIR}
MAX_OPS=${MAX_OPS:-20000}
MAX_SECONDS=${MAX_SECONDS:-3600}
# shellcheck disable=SC1091
. "$dir/members.env"
export ETCDCTL_API=3
IFS=, read -r -a endpoints <<<"$ENDPOINTS"
big=$(head -c 70000 /dev/zero | tr '\0' x)
start=$SECONDS
for ((i = 0; i < MAX_OPS && SECONDS - start < MAX_SECONDS; i++)); do
	ep=${endpoints[$((i % 3))]}
	ctl=(etcdctl --endpoints "$ep" --command-timeout=3s)
	case $((i % 10)) in
	0 | 1 | 2) "${ctl[@]}" put "demo/key$((i % 100))" "value-$i" ;;
	3 | 4 | 5) "${ctl[@]}" get "demo/key$((i % 100))" ;;
	6) "${ctl[@]}" del "demo/key$(((i + 50) % 100))" ;;
	7) printf '\nput demo/txn%d v\n\n\n' "$((i % 10))" | "${ctl[@]}" txn ;;
	8) [ $((i % 200)) -eq 8 ] && "${ctl[@]}" put demo/big "$big" ;;
	9) if [ $((i % 500)) -eq 9 ]; then
		rev=$("${ctl[@]}" get demo/key0 -w json | sed -n 's/.*"revision":\([0-9]*\).*/\1/p')
		[ -n "$rev" ] && "${ctl[@]}" compact "$rev"
	fi ;;
	esac >/dev/null 2>&1
	sleep 0.05
done
