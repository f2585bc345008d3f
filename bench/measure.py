"""What the bench reads: process CPU and memory from /proc, BPF run time and
map memory from bpftool, and /metrics scrapes with their latency."""

import http.client
import json
import os
import statistics
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_total(pids):
    return sum(cpu_seconds(p) for p in pids)


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def bpftool_json(*args):
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=30)
    return json.loads(out.stdout or "[]") if out.returncode == 0 else []


def prog_stats(prog_ids, name=None):
    """(run_cnt, run_time_ns) summed over the given programs."""
    cnt = ns = 0
    for p in bpftool_json("prog", "show"):
        if p.get("id") in prog_ids and (name is None or p.get("name") == name):
            cnt += p.get("run_cnt", 0)
            ns += p.get("run_time_ns", 0)
    return cnt, ns


def map_memlock(map_ids):
    return sum(m.get("bytes_memlock", 0) for m in bpftool_json("map", "show")
               if m.get("id") in map_ids)


def set_bpf_stats(on):
    """Enables kernel.bpf_stats_enabled; returns the previous value."""
    path = "/proc/sys/kernel/bpf_stats_enabled"
    with open(path) as f:
        prev = f.read().strip()
    with open(path, "w") as f:
        f.write("1" if on else "0")
    return prev


def restore_bpf_stats(prev):
    with open("/proc/sys/kernel/bpf_stats_enabled", "w") as f:
        f.write(prev)


class Scraper:
    """Keep-alive GETs of a metrics URL on loopback, timing each one."""

    def __init__(self, port, path="/metrics"):
        self.port, self.path = port, path
        self.conn = None

    def get(self):
        """(seconds, body) of one scrape; reconnects once if the server closed."""
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
            try:
                t0 = time.perf_counter()
                self.conn.request("GET", self.path)
                body = self.conn.getresponse().read()
                return time.perf_counter() - t0, body.decode()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()


def metric_sum(text, name):
    """Sum of all samples of one metric name in a text exposition."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name):len(name) + 1] in ("{", " "):
            total += float(line.rsplit(None, 1)[1])
    return total


def series_count(text):
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def percentile(values, p):
    if not values:
        return 0.0
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p * (len(s) - 1))))]


def scrape_latency(port, count):
    """{p50_ms, p99_ms, bytes, series} over `count` back-to-back scrapes."""
    sc = Scraper(port)
    times, body = [], ""
    try:
        for _ in range(count):
            dt, body = sc.get()
            times.append(dt)
    finally:
        sc.close()
    return {"p50_ms": percentile(times, 0.5) * 1e3, "p99_ms": percentile(times, 0.99) * 1e3,
            "bytes": len(body), "series": series_count(body), "scrapes": len(times)}


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def foreign_uprobes(binary, own_pids):
    """Uprobes on `binary` held by processes other than ours: another tool's
    probes tax every process of that binary, ours included."""
    try:
        target = os.stat(binary)
    except OSError:
        return 0
    count = 0
    for e in bpftool_json("perf", "show"):
        if e.get("fd_type") not in ("uprobe", "uretprobe") or e.get("pid") in own_pids:
            continue
        try:
            st = os.stat(e.get("filename", ""))
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (target.st_dev, target.st_ino):
            count += 1
    return count
