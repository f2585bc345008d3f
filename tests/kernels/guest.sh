#!/bin/bash
# Runs inside the test VM (Debian's stock kernel) as PID 1's only child:
#   guest.sh REPO
# Each check prints one result line to the second serial port (/dev/ttyS1),
# which run.sh reads on the host:
#   RESULT PASS|FAIL|SKIP <what>
#   INTEGRATION <passed> <failed>
#   DONE
# Everything else goes to the console (ttyS0) for the log.
# With a job shared as 9p tag "job" (run.sh COMMAND...), runs only that
# command from the checkout and reports its exit status.
set -u
repo=${1:?usage: guest.sh REPO}
results=/dev/ttyS1
agent=build/san/kvscope
goroot=
time_scale=1

read -ra cmdline </proc/cmdline
for arg in "${cmdline[@]}"; do
	case $arg in
	kvscope.agent=*) agent=${arg#kvscope.agent=} ;;
	kvscope.goroot=*) goroot=${arg#kvscope.goroot=} ;;
	kvscope.time_scale=*) time_scale=${arg#kvscope.time_scale=} ;;
	esac
done
case $agent in /*) ;; *) agent=$repo/$agent ;; esac

uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

result() {
	echo "RESULT $1 $2" >"$results"
	echo "--- $1: $2 (at $(uptime_s)s)"
}

# PASS when the command succeeds, FAIL otherwise; its output goes to the log.
check() {
	local what=$1
	shift
	echo "--- $what"
	if "$@"; then result PASS "$what"; else result FAIL "$what"; fi
}

setup() {
	mount -t tracefs tracefs /sys/kernel/tracing
	mount -t debugfs debugfs /sys/kernel/debug
	mount -t bpf bpf /sys/fs/bpf
	ip link set lo up
	# The host's Go toolchain, read-only, for `go version -m` in the tests.
	if [ -n "$goroot" ] && mkdir -p "$goroot" &&
		mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro hostgo "$goroot"; then
		ln -sf "$goroot/bin/go" /usr/local/bin/go
	fi
	export HOME=/root GOCACHE=/tmp/gocache PYTHONDONTWRITEBYTECODE=1 LC_ALL=C.UTF-8
	# How much slower than a real host this guest runs; tests that hold the
	# agent to wall-clock limits stretch them by this factor.
	export KVSCOPE_TIME_SCALE=$time_scale
}

kernel_is_6_1() {
	uname -r
	case $(uname -r) in 6.1.*) return 0 ;; *) return 1 ;; esac
}

agent_version() {
	local out
	out=$("$agent" --version) || return 1
	echo "$out"
	case $out in "kvscope, version "*) return 0 ;; *) return 1 ;; esac
}

agent_probes_etcd() {
	local out
	out=$("$agent" probes /usr/bin/etcd) || { echo "$out"; return 1; }
	echo "$out" | head -5
	grep -q '^profile: etcd-3.4' <<<"$out"
}

# What the kernel offers kvscope's kprobe and fentry paths, from its build
# configuration and from bpftool's probe of the running kernel.
kernel_features() {
	local config ok=0 opt
	config=/boot/config-$(uname -r)
	for opt in CONFIG_BPF_SYSCALL CONFIG_DEBUG_INFO_BTF CONFIG_KPROBES CONFIG_KPROBE_EVENTS \
		CONFIG_UPROBE_EVENTS CONFIG_DYNAMIC_FTRACE_WITH_DIRECT_CALLS CONFIG_BPF_JIT; do
		if grep -q "^$opt=y" "$config"; then echo "$opt=y"; else echo "$opt missing" && ok=1; fi
	done
	if [ -r /sys/kernel/btf/vmlinux ]; then echo "BTF: /sys/kernel/btf/vmlinux"; else
		echo "no kernel BTF" && ok=1
	fi
	bpftool -j feature probe kernel 2>/dev/null | python3 -c "$BPFTOOL_REPORT" || ok=1
	return $ok
}

# Reads bpftool's JSON feature probe; fails when a program type or helper
# the kprobe and fentry paths use is missing.
BPFTOOL_REPORT='
import json, sys
probe = json.load(sys.stdin)
types, helpers = probe["program_types"], probe["helpers"]
want = [("program type kprobe", types.get("have_kprobe_prog_type")),
        ("program type tracing (fentry)", types.get("have_tracing_prog_type"))]
# bpftool cannot probe tracing helpers (they need a BTF attach target).
have = helpers.get("kprobe_available_helpers", [])
for h in ("bpf_probe_read_kernel", "bpf_get_func_ip", "bpf_get_attach_cookie"):
    want.append(("kprobe helper " + h, h in have))
for what, ok in want:
    print("bpftool: %s %s" % (what, "available" if ok else "MISSING"))
sys.exit(0 if all(ok for _, ok in want) else 1)
'

# A real kprobe on a syscall path through tracefs: registered, hit, removed.
kprobe_attach() {
	local t=/sys/kernel/tracing rc=1
	echo 'p:kvscope_trial/openat do_sys_openat2' >>"$t/kprobe_events" || return 1
	echo 1 >"$t/events/kvscope_trial/openat/enable"
	cat /etc/hostname >/dev/null
	echo 0 >"$t/events/kvscope_trial/openat/enable"
	grep -m1 'openat:' "$t/trace" && rc=0
	echo >"$t/trace"
	echo '-:kvscope_trial/openat' >>"$t/kprobe_events"
	return $rc
}

# The agent's own kprobe/fentry trial, once it has one.
agent_check() {
	local what="kvscope check (kprobe and fentry trial)"
	if ! "$agent" --help 2>&1 | grep -q 'kvscope check'; then
		result SKIP "$what: the agent has no check command yet"
		return
	fi
	check "$what" "$agent" check
}

# An integration suite (tests/integration/test_<name>.py). Its output goes to
# a file the console follows, not through a pipe: a process the test leaves
# behind must not keep the guest from finishing.
integration_suite() {
	local name=$1 log=/tmp/test_$1.log line pid
	echo "--- integration $name (KVSCOPE=$agent)"
	(cd "$repo/tests/integration" && KVSCOPE=$agent PYTHONPATH=$repo/tests/lib exec timeout 600 \
		python3 -u -m kvtest.runner "integration $name" . "test_$name.py") >"$log" 2>&1 &
	pid=$!
	tail -n +1 -f --pid="$pid" "$log"
	wait "$pid"
	echo "--- integration $name finished (at $(uptime_s)s)"
	line=$(grep -E "^integration $name: [0-9]+ passed, [0-9]+ failed" "$log" | tail -1)
	if [ -n "$line" ]; then
		sed -E "s/^integration $name: ([0-9]+) passed, ([0-9]+) failed.*/INTEGRATION \\1 \\2 $name/" \
			<<<"$line" >"$results"
	else
		result FAIL "integration $name: no closing line (crashed or timed out)"
	fi
}

# A one-off command from run.sh instead of the suite, for looking into a
# kernel-specific failure by hand.
run_job() {
	mkdir -p /run/job
	mount -t 9p -o trans=virtio,version=9p2000.L,ro job /run/job 2>/dev/null || return 1
	# shellcheck disable=SC2016 # expanded by the inner shell
	check "job: $(head -n1 /run/job/command | cut -c1-120)" bash -c 'cd "$1" && bash /run/job/command' job "$repo"
	return 0
}

main() {
	setup
	if run_job; then
		echo DONE >"$results"
		return
	fi
	check "kernel is 6.1.x (uname -r)" kernel_is_6_1
	check "kvscope --version" agent_version
	check "kvscope probes /usr/bin/etcd" agent_probes_etcd
	check "kernel features: BTF, kprobes, fentry (config and bpftool probe)" kernel_features
	check "kprobe attach through tracefs (do_sys_openat2)" kprobe_attach
	agent_check
	integration_suite core
	# the syscall probes on this kernel's hook (fentry), WAL fsyncs vs etcd's own
	integration_suite discovery
	echo DONE >"$results"
}

main
