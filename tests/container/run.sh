#!/usr/bin/env bash
# The container suite: kvscope's image (make image) run by
# scripts/run-container.sh exactly as deploy/kubernetes/daemonset.yaml says,
# watching etcd members that each run in a container of their own.
# Builds what it needs with podman, from cached layers when nothing changed:
# the Debian bases (scripts/container-base.sh), kvscope's image
# (scripts/build-image.sh), the etcd image (etcd.Containerfile, bookworm)
# and the Redis 8.0 image (redis.Containerfile, trixie).
# The tests (test_container.py, unittest classes) run through kvtest.runner
# of tests/lib. Skipped, and said so in the closing line, only where podman
# cannot run a container at all. Prints `container: N passed, N failed,
# N skipped`. Needs root.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

finish() {
	echo "container: 0 passed, $1 failed${2:+ ($2)}"
	exit "$1"
}

[ "$(id -u)" -eq 0 ] || finish 1 "needs root: podman's images here are root's, kvscope loads BPF"
command -v podman >/dev/null || finish 1 "podman not installed: make deps installs it"
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

base=$(scripts/container-base.sh bookworm) || finish 1 "no bookworm base image"
if ! out=$(scripts/podman.sh run --rm "$base" true 2>&1); then
	echo "$out" | tail -3
	echo "container: 0 passed, 0 failed (skipped: podman cannot run a container on this host)"
	exit 0
fi

kvscope_image=$(scripts/build-image.sh | tail -1 | cut -d: -f1-2) || finish 1 "make image failed"
etcd_image=localhost/kvscope-test-etcd:bookworm
echo "building $etcd_image on $base" >&2
scripts/podman.sh build --quiet --layers --build-arg BASE="$base" -f tests/container/etcd.Containerfile \
	-t "$etcd_image" tests/container >/dev/null || finish 1 "etcd image build failed"

trixie=$(scripts/container-base.sh trixie) || finish 1 "no trixie base image"
redis_image=localhost/kvscope-test-redis:trixie
echo "building $redis_image on $trixie" >&2
scripts/podman.sh build --quiet --layers --build-arg BASE="$trixie" -f tests/container/redis.Containerfile \
	-t "$redis_image" tests/container >/dev/null || finish 1 "redis image build failed"

export PYTHONPATH=$PWD/tests/lib PYTHONDONTWRITEBYTECODE=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
KVSCOPE_IMAGE=$kvscope_image ETCD_IMAGE=$etcd_image REDIS_IMAGE=$redis_image timeout 900 \
	python3 -u -m kvtest.runner container tests/container test_container.py 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}
[ "$rc" -eq 124 ] && finish 1 "timed out after 900 s"
re='^container: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$'
[[ $(tail -1 "$log") =~ $re ]] || finish 1 "no closing line from the runner (exit $rc)"
exit "$rc"
