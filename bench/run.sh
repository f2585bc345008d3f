#!/usr/bin/env bash
# What kvscope costs etcd: alternating rounds of no agent, kvscope, a
# hand-written bpftrace script and a no-op floor under the same load, then
# scrape latency and how cost grows. Needs root, bpftrace, bpftool, etcd and
# build/kvscope. BENCH_QUICK=1 runs a smoke of a few seconds per round and
# writes build/bench/RESULTS-quick.md instead of bench/RESULTS.md.
# Other parameters (env): BENCH_REPEATS, BENCH_REQUESTS, BENCH_CONCURRENCY,
# BENCH_MAX_SECONDS, BENCH_SCRAPES, BENCH_SCALE, BENCH_SIZES, BENCH_DATA_DIR.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

for tool in bpftrace bpftool etcd etcdctl taskset objdump readelf go python3; do
	command -v "$tool" >/dev/null || { echo "bench: $tool not found (make deps)" >&2; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "bench: needs root (uprobes, bpf stats)" >&2; exit 1; }
[ -x "${KVSCOPE:-build/kvscope}" ] || { echo "bench: build/kvscope missing (make build/kvscope)" >&2; exit 1; }
[ "$(nproc)" -ge 2 ] || { echo "bench: needs 2 CPUs (etcd on CPU 1, load on CPU 0)" >&2; exit 1; }

# The load generator: a small gRPC client, built offline against Debian's
# Go packages.
loadgen=build/bench/loadgen
if [ ! -x "$loadgen" ] || [ bench/loadgen/main.go -nt "$loadgen" ]; then
	mkdir -p build/bench
	(cd bench/loadgen && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0 \
		GOCACHE="$root/build/gocache" go build -o "$root/$loadgen" .)
fi

mountpoint -q /sys/kernel/tracing 2>/dev/null || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true

# bench.py stops, by PID, every process it started, whichever way it ends.
export PYTHONPATH=$root/tests/lib
exec python3 bench/bench.py
