#!/usr/bin/env bash
# kvscope on Debian's stock kernel (bookworm, 6.1) in qemu: boots the cached
# guest (tests/kernels/build-root.sh) with this checkout shared read-only over
# 9p at the same path, runs tests/kernels/guest.sh inside, and closes with
#   kernels: N passed, N failed
#   run.sh COMMAND...   runs only COMMAND (a shell line, from the checkout)
#                       in the guest instead of the suite
# Environment:
#   KVSCOPE_KERNELS_TIMEOUT  seconds the VM may run (default 420); over it fails
#   KVSCOPE_KERNELS_AGENT    agent binary inside the guest, relative to the
#                            checkout (default build/san/kvscope)
#   KVSCOPE_KERNELS_TIME_SCALE  how much slower the guest runs than a host, for
#                            the tests' wall-clock limits (default 4 under TCG, 1 with KVM)
#   KVSCOPE_KERNELS_APPEND   more kernel command line
#   KVSCOPE_KERNELS_CACHE    where the guest root is cached (/var/cache/kvscope-kernels)
set -u
cd "$(dirname "$0")/../.." || exit 1
REPO=$(pwd -P)
TIMEOUT=${KVSCOPE_KERNELS_TIMEOUT:-420}
AGENT=${KVSCOPE_KERNELS_AGENT:-build/san/kvscope}
MEMORY_MB=1536

tmp=
qemu_pid=
tail_pid=

cleanup() {
	[ -n "$qemu_pid" ] && kill "$qemu_pid" 2>/dev/null
	[ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail_early() {
	echo "kernels: $*" >&2
	echo "kernels: 0 passed, 1 failed"
	exit 1
}

need() {
	command -v "$1" >/dev/null || fail_early "$1 is missing (apt-get install $2)"
}

# What the guest runs from the checkout: the agent and the integration
# tests' Go fixture.
prepare_checkout() {
	[ -x "$AGENT" ] || fail_early "$AGENT is not built (make agent)"
	if [ ! -x build/fixtures/goserver ]; then
		make --no-print-directory build/fixtures/goserver >&2 || fail_early "cannot build the Go fixture"
	fi
	# the unknown-version stand-in test_core probes, built here: the guest may have no Go
	(cd tests/integration && PYTHONPATH=../lib python3 -c \
		'import test_core; test_core.unknown_version_etcd()') >&2 ||
		fail_early "cannot build the unknown-version etcd stand-in"
}

have_kvm() {
	[ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo
}

# KVM when the host really has it; TCG (multi-threaded) otherwise.
accel_flags() {
	if have_kvm; then echo "-accel kvm -cpu host"; else echo "-accel tcg,thread=multi -cpu max"; fi
}

time_scale() {
	if [ -n "${KVSCOPE_KERNELS_TIME_SCALE:-}" ]; then
		echo "$KVSCOPE_KERNELS_TIME_SCALE"
	elif have_kvm; then echo 1; else echo 4; fi
}

# The host's Go toolchain, shared read-only for `go version -m` in the guest.
goroot_share() {
	local go goroot
	go=$(command -v go) || return 0
	goroot=$(dirname "$(dirname "$(readlink -f "$go")")")
	[ -x "$goroot/bin/go" ] || return 0
	echo "$goroot"
}

start_vm() {
	local root=$1 goroot append
	goroot=$(goroot_share)
	# TCG's TSC follows the host clock, so it is safe to trust; without this
	# the guest falls back to HPET and every clock read in etcd traps.
	append="console=ttyS0 root=/dev/vda rw init=/kvscope-init panic=-1 quiet loglevel=4 tsc=reliable"
	append+=" ${KVSCOPE_KERNELS_APPEND:-}"
	append+=" kvscope.repo=$REPO kvscope.agent=$AGENT kvscope.time_scale=$(time_scale)"
	local share_go=() share_job=()
	if [ -s "$tmp/job/command" ]; then
		share_job=(-virtfs "local,path=$tmp/job,mount_tag=job,security_model=none,readonly=on")
	fi
	if [ -n "$goroot" ]; then
		append+=" kvscope.goroot=$goroot"
		share_go=(-virtfs "local,path=$goroot,mount_tag=hostgo,security_model=none,readonly=on")
	fi
	# shellcheck disable=SC2046
	TMPDIR=$tmp timeout --kill-after=10 "$TIMEOUT" \
		qemu-system-x86_64 -nographic -no-reboot -monitor none $(accel_flags) \
		-smp 2 -m "$MEMORY_MB" -nic none -device virtio-rng-pci \
		-kernel "$root/vmlinuz" -initrd "$root/initrd.img" -append "$append" \
		-drive "file=$root/root.img,if=virtio,format=raw,snapshot=on,cache=unsafe" \
		-virtfs "local,path=$REPO,mount_tag=repo,security_model=none,readonly=on" \
		"${share_go[@]}" "${share_job[@]}" \
		-serial "file:$tmp/console.log" -serial "file:$tmp/results.log" \
		</dev/null >"$tmp/qemu.log" 2>&1 &
	qemu_pid=$!
}

# Follows the guest console while the VM runs.
follow_console() {
	touch "$tmp/console.log"
	tail -n +1 -F --pid="$qemu_pid" "$tmp/console.log" 2>/dev/null | sed -u 's/\x1b[[0-9;?]*[a-zA-Z]//g; s/\r$//; s/^/  guest| /' &
	tail_pid=$!
}

report() {
	local rc=$1 elapsed=$2 passed=0 failed=0 skipped=0 status what p f done=0
	echo "--- results (VM ran ${elapsed}s)"
	while read -r kind status what; do
		case $kind in
		RESULT)
			echo "  $status $what"
			case $status in
			PASS) passed=$((passed + 1)) ;;
			SKIP) skipped=$((skipped + 1)) ;;
			*) failed=$((failed + 1)) ;;
			esac
			;;
		INTEGRATION)
			p=$status f=${what%% *}
			echo "  integration ${what#* }: $p passed, $f failed"
			passed=$((passed + p)) failed=$((failed + f))
			;;
		DONE) done=1 ;;
		esac
	done < <(tr -d '\r' <"$tmp/results.log")
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		echo "  FAIL the VM did not finish within ${TIMEOUT}s (killed)"
		failed=$((failed + 1))
	elif [ "$done" -ne 1 ]; then
		echo "  FAIL the guest stopped before finishing (qemu exit $rc)"
		sed 's/^/  qemu| /' "$tmp/qemu.log"
		failed=$((failed + 1))
	fi
	[ "$skipped" -eq 0 ] || echo "kernels: $skipped skipped"
	echo "kernels: $passed passed, $failed failed"
	[ "$failed" -eq 0 ]
}

main() {
	local root rc start
	need qemu-system-x86_64 qemu-system-x86
	need debootstrap debootstrap
	need mkfs.ext4 e2fsprogs
	prepare_checkout
	start=$SECONDS
	root=$(tests/kernels/build-root.sh) || fail_early "cannot build the guest root"
	echo "kernels: guest root $root (kernel $(cat "$root/kernel-release"), ready in $((SECONDS - start))s)"
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/kvscope-kernels.XXXXXX")
	if [ "$#" -gt 0 ]; then
		mkdir "$tmp/job"
		echo "$*" >"$tmp/job/command"
	fi
	start=$SECONDS
	start_vm "$root"
	follow_console
	wait "$qemu_pid"
	rc=$?
	qemu_pid=
	wait "$tail_pid" 2>/dev/null
	tail_pid=
	report "$rc" "$((SECONDS - start))"
}

main "$@"
