"""One round of the bench: an agent configuration (none, kvscope, hand-written
bpftrace, no-op floor) running while each load runs, with what it cost."""

import json
import os
import subprocess
import threading
import time

import measure
import procs
from kvtest import bpf_fds

AGENTS = ("none", "kvscope", "bpftrace", "floor")
LOADS = {"put-heavy": 90, "range-heavy": 10}  # share of puts; the rest are ranges


class PeriodicScrape(threading.Thread):
    """Scrapes kvscope every `interval` seconds, as Prometheus would."""

    def __init__(self, port, interval=5.0):
        super().__init__(daemon=True)
        self.port, self.interval = port, interval
        self.stop_event = threading.Event()
        self.latencies, self.errors, self.last = [], 0, ""

    def run(self):
        sc = measure.Scraper(self.port)
        try:
            while not self.stop_event.wait(self.interval):
                try:
                    dt, self.last = sc.get()
                    self.latencies.append(dt)
                except OSError:
                    self.errors += 1
        finally:
            sc.close()

    def stop(self):
        self.stop_event.set()
        self.join()


class Agent:
    """The agent of one round: its process, its BPF programs and maps."""

    def __init__(self, kind, proc=None, port=None, out=None):
        self.kind, self.proc, self.port, self.out = kind, proc, port, out
        self.progs, self.maps = set(), set()
        self.scraper = None
        if proc is not None:
            _, self.progs, self.maps = bpf_fds(proc.pid)
        if port is not None:
            self.scraper = PeriodicScrape(port)
            self.scraper.start()

    def cpu(self):
        return measure.cpu_seconds(self.proc.pid) if self.proc else 0.0

    def bpf(self):
        name = "kvs_site_hit" if self.kind == "kvscope" else None
        return measure.prog_stats(self.progs, name) if self.progs else (0, 0)


def start_agent(ctx, kind, tag):
    if kind == "none":
        return Agent(kind)
    if kind == "kvscope":
        p, port = procs.start_kvscope(ctx.reg, ctx.kvscope, ctx.pids, ctx.workdir, tag)
        return Agent(kind, p, port)
    script = ctx.handwritten if kind == "bpftrace" else ctx.floor
    p, out = procs.start_bpftrace(ctx.reg, script.path, ctx.workdir, tag, script.probes)
    return Agent(kind, p, out=out)


def measure_load(ctx, agent, load, requests):
    """Runs one load under `agent`; the load's result plus what it cost."""
    etcd0, agent0, bpf0, t0 = measure.cpu_total(ctx.pids), agent.cpu(), agent.bpf(), time.time()
    r = procs.run_load(ctx.loadgen, ctx.endpoints, requests, LOADS[load], ctx.max_seconds,
                       ctx.concurrency)
    wall = time.time() - t0
    etcd1, agent1, bpf1 = measure.cpu_total(ctx.pids), agent.cpu(), agent.bpf()
    hits, run_ns = bpf1[0] - bpf0[0], bpf1[1] - bpf0[1]
    n = max(r["requests"], 1)
    r.update({"etcd_cpu_us_per_req": (etcd1 - etcd0) / n * 1e6,
              "agent_cpu_pct": (agent1 - agent0) / wall * 100 if agent.proc else None,
              "bpf_hits": hits, "bpf_ns_per_hit": run_ns / hits if hits else None,
              "hits_per_req": hits / n if agent.progs else None})
    return r


def stop_agent(agent):
    """Stops the agent; what it held at the end (memory, lost events, scrapes)."""
    extra = {}
    if agent.proc is None:
        return extra
    extra["rss_hwm_kib"] = measure.status_kib(agent.proc.pid, "VmHWM")
    extra["rss_now_kib"] = measure.status_kib(agent.proc.pid, "VmRSS")
    extra["map_bytes"] = measure.map_memlock(agent.maps)
    if agent.scraper is not None:
        agent.scraper.stop()
        text = measure.Scraper(agent.port).get()[1]
        extra["events_lost"] = measure.metric_sum(text, "kvscope_events_lost_total")
        extra["periodic_scrapes"] = len(agent.scraper.latencies)
        extra["scrape_errors"] = agent.scraper.errors
    rc = procs.stop_process(agent.proc, sig=2 if agent.kind != "kvscope" else 15)
    extra["exit_code"] = rc
    return extra


def compact(ctx):
    """Compacts the cluster between rounds so its history does not grow."""
    env = dict(os.environ, ETCDCTL_API="3")
    st = subprocess.run(["etcdctl", "--endpoints", ctx.endpoints[0], "endpoint", "status",
                         "-w", "json"], capture_output=True, text=True, env=env, timeout=30)
    rev = json.loads(st.stdout)[0]["Status"]["header"]["revision"]
    subprocess.run(["etcdctl", "--endpoints", ctx.endpoints[0], "compact", str(rev)],
                   capture_output=True, env=env, timeout=30)
    time.sleep(1.0)  # compaction runs in the background; let it finish


def wait_quiet(ctx):
    """Waits (bounded) until no other tool has uprobes on the store binary;
    returns how many there still are."""
    deadline = time.time() + ctx.quiet_wait
    while True:
        n = measure.foreign_uprobes(ctx.etcd, set())
        if n == 0 or time.time() >= deadline:
            return n
        time.sleep(1.0)


def run_round(ctx, kind, rep):
    """One agent configuration through every load; {load: result}."""
    tag = "r%d-%s" % (rep, kind)
    foreign = wait_quiet(ctx)
    extra = {"foreign_uprobes": foreign, "loadavg": os.getloadavg()[0]}
    agent = start_agent(ctx, kind, tag)
    own = {agent.proc.pid} if agent.proc else set()
    try:
        results = {load: measure_load(ctx, agent, load, ctx.requests) for load in LOADS}
        extra["foreign_uprobes"] = max(foreign, measure.foreign_uprobes(ctx.etcd, own))
    finally:
        extra.update(stop_agent(agent))
    for r in results.values():
        r.update(extra)
    compact(ctx)
    return results
