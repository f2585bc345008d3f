#!/usr/bin/env bash
# A small, bounded mixed load on the demo cluster: puts, gets, deletes, txns,
# an occasional compaction, a few requests that fail (a value over the
# request limit) and now and then a leader handover, spread over all members. Stops after MAX_OPS operations
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

# Hands leadership to the next member, so the Raft metrics move too.
move_leader() {
	etcdctl --endpoints "$ENDPOINTS" endpoint status -w json | python3 -c '
import json, sys
st = json.load(sys.stdin)
ids = sorted(e["Status"]["header"]["member_id"] for e in st)
lead = st[0]["Status"]["leader"]
leader_ep = [e["Endpoint"] for e in st if e["Status"]["header"]["member_id"] == lead][0]
print(leader_ep, "%x" % ids[(ids.index(lead) + 1) % len(ids)])' | {
		read -r ep id && etcdctl --endpoints "$ep" move-leader "$id"
	}
}
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
	elif [ $((i % 300)) -eq 299 ]; then
		move_leader
	fi ;;
	esac >/dev/null 2>&1
	sleep 0.05
done
