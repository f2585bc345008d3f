"""The processes a bench run starts: etcd clusters and members, the agents
under test, and the load generator. Every one is recorded so that cleanup
stops it by PID, whatever way the run ends."""

import json
import os
import signal
import subprocess
import time

from kvtest import Fatal, bpf_fds, free_ports, wait_for
from measure import Scraper, cpu_seconds, metric_sum

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
CLUSTER_SH = os.path.join(ROOT, "tests", "integration", "cluster.sh")
ETCD_CPU, LOAD_CPU = "1", "0"


class Registry:
    """PIDs and cluster dirs to stop at the end."""

    def __init__(self):
        self.procs, self.clusters = [], []

    def popen(self, args, **kw):
        p = subprocess.Popen(args, **kw)
        self.procs.append(p)
        return p

    def cleanup(self):
        for d in reversed(self.clusters):
            subprocess.run([CLUSTER_SH, "stop", d], timeout=120)
        self.clusters.clear()
        for p in reversed(self.procs):
            stop_process(p)
        self.procs.clear()


def stop_process(p, sig=signal.SIGTERM, timeout=15):
    if p.poll() is None:
        p.send_signal(sig)
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.returncode


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            env[k] = v.strip('"')
    return env


def start_cluster(reg, workdir, tag):
    """A 3-member etcd cluster pinned to ETCD_CPU; (endpoints, pids)."""
    d = os.path.join(workdir, tag)
    reg.clusters.append(d)
    subprocess.run(["taskset", "-c", ETCD_CPU, CLUSTER_SH, "start", d], check=True, timeout=120,
                   env=dict(os.environ, CLUSTER_TAG=tag), stdout=subprocess.DEVNULL)
    env = read_env(os.path.join(d, "members.env"))
    return env["ENDPOINTS"].split(","), [int(env["PID_%d" % i]) for i in (1, 2, 3)]


def start_single_members(reg, workdir, etcd, count, tag):
    """`count` independent one-member etcds pinned to ETCD_CPU; (endpoints, pids)."""
    endpoints, pids = [], []
    ports = free_ports(2 * count)
    for i in range(count):
        name = "%s-%d" % (tag, i)
        client = "http://127.0.0.1:%d" % ports[2 * i]
        peer = "http://127.0.0.1:%d" % ports[2 * i + 1]
        log = open(os.path.join(workdir, name + ".log"), "w")
        p = reg.popen(["taskset", "-c", ETCD_CPU, etcd, "--name", name,
                       "--data-dir", os.path.join(workdir, name),
                       "--listen-client-urls", client, "--advertise-client-urls", client,
                       "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                       "--initial-cluster", "%s=%s" % (name, peer)],
                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        endpoints.append(client)
        pids.append(p.pid)
    return endpoints, pids


def run_load(loadgen, endpoints, requests, put_percent, max_seconds, concurrency,
             all_methods=False):
    """One bounded load run on LOAD_CPU; the load generator's JSON result."""
    args = ["taskset", "-c", LOAD_CPU, loadgen, "-endpoints", ",".join(endpoints),
            "-requests", str(requests), "-put-percent", str(put_percent),
            "-max-seconds", str(max_seconds), "-concurrency", str(concurrency)]
    if all_methods:
        args.append("-all-methods")
    out = subprocess.run(args, capture_output=True, text=True, timeout=max_seconds + 60)
    if out.returncode != 0:
        raise RuntimeError("loadgen failed: %s" % out.stderr.strip())
    return json.loads(out.stdout.strip().splitlines()[-1])


def died(p, what, log_path):
    tail = ""
    try:
        with open(log_path) as f:
            tail = "".join(l for l in f.readlines() if "WARNING" not in l)[-800:]
    except OSError:
        pass
    return Fatal("%s exited %s:\n%s" % (what, p.returncode, tail))


def wait_settled(pid, timeout=20.0, window=0.5, busy_pct=5.0):
    """Waits (bounded) until an agent's start-up work is done, so rounds
    measure a running agent, not one still resolving symbols; returns the
    seconds waited."""
    t0 = time.time()
    while time.time() - t0 < timeout:
        c0 = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - c0) / window * 100 < busy_pct:
            break
    return time.time() - t0


def start_kvscope(reg, kvscope, pids, workdir, tag):
    """kvscope watching `pids`, on LOAD_CPU; (process, port) once all attached."""
    port = free_ports(1)[0]
    log = open(os.path.join(workdir, tag + ".kvscope.log"), "w")
    p = reg.popen(["taskset", "-c", LOAD_CPU, kvscope,
                   "--web.listen-address=127.0.0.1:%d" % port,
                   "--target.pid=" + ",".join(map(str, pids))],
                  stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    log.close()
    sc = Scraper(port)

    def attached():
        if p.poll() is not None:
            raise died(p, "kvscope", log.name)
        return metric_sum(sc.get()[1], "kvscope_target_attached") >= len(pids)

    try:
        wait_for(attached, 60, what="kvscope to attach to %d targets" % len(pids))
    except AssertionError as e:  # timed out
        with open(log.name) as f:
            raise Fatal("%s; kvscope's log ends:\n%s" % (e, "".join(f.readlines()[-8:])))
    finally:
        sc.close()
    wait_settled(p.pid)
    return p, port


def start_bpftrace(reg, script_path, workdir, tag, expected_probes):
    """bpftrace running a script on LOAD_CPU, once all its programs are loaded."""
    out_path = os.path.join(workdir, tag + ".bpftrace.out")
    out = open(out_path, "w")
    p = reg.popen(["taskset", "-c", LOAD_CPU, "bpftrace", "--unsafe", script_path],
                  stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    out.close()

    def loaded():
        if p.poll() is not None:
            raise died(p, "bpftrace", out_path)
        with open(out_path) as f:
            started = "Attaching" in f.read()
        return started and len(bpf_fds(p.pid).progs) >= expected_probes

    wait_for(loaded, 120, what="bpftrace to attach %d probes" % expected_probes)
    wait_settled(p.pid)  # also lets the last uprobe land: attach follows load
    return p, out_path
