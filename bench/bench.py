"""kvscope's bench: what it costs the store, side by side with no agent, a
hand-written bpftrace script and a no-op floor. Parameters come from the
environment (see bench/run.sh); results go to a JSON file and, for a full
run, bench/RESULTS.md."""

import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

import measure
import probesites
import procs
import render
import rounds


class Script:
    def __init__(self, path, text, probes):
        self.path, self.probes = path, probes
        with open(path, "w") as f:
            f.write(text)


class Context:
    """Everything a round needs: binaries, parameters, the cluster."""

    def __init__(self):
        env = os.environ.get
        self.quick = env("BENCH_QUICK", "0") == "1"
        self.root = procs.ROOT
        self.etcd = env("ETCD", "/usr/bin/etcd")
        self.kvscope = env("KVSCOPE", os.path.join(self.root, "build", "kvscope"))
        self.loadgen = env("LOADGEN", os.path.join(self.root, "build", "bench", "loadgen"))
        self.repeats = int(env("BENCH_REPEATS", "1" if self.quick else "5"))
        self.requests = int(env("BENCH_REQUESTS", "800" if self.quick else "10000"))
        self.max_seconds = float(env("BENCH_MAX_SECONDS", "10" if self.quick else "40"))
        self.concurrency = int(env("BENCH_CONCURRENCY", "16"))
        self.quiet_wait = float(env("BENCH_QUIET_WAIT", "0" if self.quick else "10"))
        self.scrapes = int(env("BENCH_SCRAPES", "20" if self.quick else "200"))
        self.scale = [int(x) for x in env("BENCH_SCALE", "" if self.quick else "1 3 10 30").split()]
        self.sizes = [int(x) for x in env("BENCH_SIZES", "" if self.quick else "10000 100000").split()]
        out_dir = os.path.join(self.root, "build", "bench")
        os.makedirs(out_dir, exist_ok=True)
        self.json_out = env("BENCH_JSON", os.path.join(out_dir, "quick.json" if self.quick
                                                       else "results.json"))
        self.md_out = env("BENCH_RESULTS", os.path.join(out_dir, "RESULTS-quick.md")
                          if self.quick else os.path.join(self.root, "bench", "RESULTS.md"))
        base = env("BENCH_DATA_DIR", "/dev/shm" if os.path.isdir("/dev/shm") else None)
        self.workdir = tempfile.mkdtemp(prefix="kvscope-bench-", dir=base)
        self.reg = procs.Registry()
        self.endpoints, self.pids = [], []


def log(msg):
    print("bench: " + msg, flush=True)


def prepare_scripts(ctx):
    sites = probesites.kvscope_sites(ctx.kvscope, ctx.etcd)
    points = probesites.handler_points(ctx.etcd, sites)
    hand = probesites.handwritten_script(ctx.etcd, points, ctx.pids)
    n_hand = sum(1 + len(rets) for _, rets in points.values())
    ctx.handwritten = Script(os.path.join(ctx.workdir, "handwritten.bt"), hand, n_hand)
    floor = probesites.floor_script(ctx.etcd, sites)
    ctx.floor = Script(os.path.join(ctx.workdir, "floor.bt"), floor,
                       len({s["offset"] for s in sites}))
    return {"kvscope_sites": len(sites), "handwritten_probes": n_hand,
            "floor_probes": ctx.floor.probes, "handwritten_script": hand}


def main_rounds(ctx):
    """Alternating rounds: none, kvscope, bpftrace, floor; repeated."""
    out = {kind: [] for kind in rounds.AGENTS}
    for rep in range(ctx.repeats):
        for kind in rounds.AGENTS:
            res = rounds.run_round(ctx, kind, rep)
            out[kind].append(res)
            log("round %d %-8s " % (rep + 1, kind) + "  ".join(
                "%s %.0f req/s p99 %.2f ms" % (load, r["throughput"], r["p99_ms"])
                for load, r in res.items()))
    return out


def scrape_phase(ctx):
    """Scrape latency with the 3 cluster members watched, every method seen."""
    p, port = procs.start_kvscope(ctx.reg, ctx.kvscope, ctx.pids, ctx.workdir, "scrape")
    try:
        procs.run_load(ctx.loadgen, ctx.endpoints, 2000, 50, ctx.max_seconds, ctx.concurrency,
                       all_methods=True)
        res = measure.scrape_latency(port, ctx.scrapes)
        res["targets"] = len(ctx.pids)
    finally:
        procs.stop_process(p)
    log("scrape, %d targets: p50 %.2f ms p99 %.2f ms, %d series" % (
        res["targets"], res["p50_ms"], res["p99_ms"], res["series"]))
    return res


def kvscope_run(ctx, pids, endpoints, requests, tag, put_percent=90, all_methods=False):
    """kvscope watching `pids` through one load; what it cost, and a scrape check."""
    p, port = procs.start_kvscope(ctx.reg, ctx.kvscope, pids, ctx.workdir, tag)
    try:
        agent = rounds.Agent("kvscope", p)
        cpu0, bpf0, t0 = agent.cpu(), agent.bpf(), time.time()
        r = procs.run_load(ctx.loadgen, endpoints, requests, put_percent,
                           max(ctx.max_seconds, requests / 1000.0), ctx.concurrency, all_methods)
        wall = time.time() - t0
        cpu1, bpf1 = agent.cpu(), agent.bpf()
        hits = bpf1[0] - bpf0[0]
        r.update({"targets": len(pids), "agent_cpu_pct": (cpu1 - cpu0) / wall * 100,
                  "agent_cpu_us_per_req": (cpu1 - cpu0) / max(r["requests"], 1) * 1e6,
                  "bpf_ns_per_hit": (bpf1[1] - bpf0[1]) / hits if hits else None,
                  "hits_per_req": hits / max(r["requests"], 1),
                  "rss_hwm_kib": measure.status_kib(p.pid, "VmHWM"),
                  "map_bytes": measure.map_memlock(agent.maps)})
        r["scrape"] = measure.scrape_latency(port, min(ctx.scrapes, 100))
        r["events_lost"] = measure.metric_sum(measure.Scraper(port).get()[1],
                                              "kvscope_events_lost_total")
    finally:
        procs.stop_process(p)
    return r


def size_phase(ctx):
    out = []
    for n in ctx.sizes:
        r = kvscope_run(ctx, ctx.pids, ctx.endpoints, n, "size%d" % n)
        out.append(r)
        log("%d requests: %.0f req/s, kvscope %.1f%% CPU, RSS %d KiB" % (
            n, r["throughput"], r["agent_cpu_pct"], r["rss_hwm_kib"]))
        rounds.compact(ctx)
    return out


def process_phase(ctx):
    """kvscope watching 1, 3, 10, ... single-member etcds."""
    if not ctx.scale:
        return []
    eps, pids = procs.start_single_members(ctx.reg, ctx.workdir, ctx.etcd, max(ctx.scale),
                                           "kvsb%d" % os.getpid())
    for ep in eps:
        procs.wait_for(lambda ep=ep: subprocess.run(
            ["etcdctl", "--endpoints", ep, "endpoint", "health"], capture_output=True,
            env=dict(os.environ, ETCDCTL_API="3"), timeout=10).returncode == 0,
            60, what="etcd at %s" % ep)
    out = []
    for n in ctx.scale:
        r = kvscope_run(ctx, pids[:n], eps[:n], 10000, "proc%d" % n, 50, True)
        out.append(r)
        log("%d processes: kvscope %.1f%% CPU, RSS %d KiB, maps %d B, scrape p99 %.2f ms" % (
            n, r["agent_cpu_pct"], r["rss_hwm_kib"], r["map_bytes"], r["scrape"]["p99_ms"]))
    return out


def system_info(ctx):
    def first_line(args):
        try:
            out = subprocess.run(args, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "unknown"
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "kernel": platform.release(),
            "cpu": cpu, "cpus": os.cpu_count(), "etcd": first_line([ctx.etcd, "--version"]),
            "kvscope": first_line([ctx.kvscope, "--version"]),
            "bpftrace": first_line(["bpftrace", "--version"]), "loadavg_start": os.getloadavg()}


def guarded(res, name, phase, ctx):
    """Runs a growth phase; a failure is recorded, not fatal, so the main
    rounds still get reported."""
    try:
        return phase(ctx)
    except (AssertionError, RuntimeError, OSError, subprocess.SubprocessError) as e:
        log("%s phase failed: %s" % (name, e))
        res.setdefault("failures", []).append("%s: %s" % (name, e))
        return []


def keep_logs(ctx):
    """Agent and etcd logs outlive the (tmpfs) work dir, for post-mortems."""
    dest = os.path.join(os.path.dirname(ctx.json_out), "logs")
    subprocess.run(["rm", "-rf", dest])
    os.makedirs(dest)
    for name in os.listdir(ctx.workdir):
        if name.endswith((".log", ".out", ".bt")):
            subprocess.run(["cp", os.path.join(ctx.workdir, name), dest])


def run(ctx):
    t0 = time.time()
    res = {"params": {k: getattr(ctx, k) for k in ("quick", "repeats", "requests", "concurrency",
                                                     "scrapes", "scale", "sizes")}}
    res["params"]["loads"] = rounds.LOADS
    res["system"] = system_info(ctx)
    ctx.endpoints, ctx.pids = procs.start_cluster(ctx.reg, ctx.workdir, "kvsb%d" % os.getpid())
    res["scripts"] = prepare_scripts(ctx)
    procs.run_load(ctx.loadgen, ctx.endpoints, 2000, 50, ctx.max_seconds, ctx.concurrency,
                   all_methods=True)  # warm up
    res["rounds"] = main_rounds(ctx)
    res["scrape"] = scrape_phase(ctx)
    res["sizes"] = guarded(res, "sizes", size_phase, ctx)
    subprocess.run([procs.CLUSTER_SH, "stop", ctx.reg.clusters.pop()], timeout=120)
    res["processes"] = guarded(res, "processes", process_phase, ctx)
    res["elapsed_s"] = time.time() - t0
    res["system"]["loadavg_end"] = os.getloadavg()
    return res


def on_signal(signum, _frame):
    raise SystemExit(128 + signum)


def main():
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    ctx = Context()
    prev_stats = measure.set_bpf_stats(True)
    try:
        res = run(ctx)
    finally:
        ctx.reg.cleanup()
        measure.restore_bpf_stats(prev_stats)
        keep_logs(ctx)
        subprocess.run(["rm", "-rf", ctx.workdir])
    with open(ctx.json_out, "w") as f:
        json.dump(res, f, indent=1)
    text = render.markdown(res)
    with open(ctx.md_out, "w") as f:
        f.write(text)
    print(render.summary(res), flush=True)
    log("results in %s and %s (%.0f s)" % (ctx.json_out, ctx.md_out, res["elapsed_s"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
