"""What the hostile-tenant tests share: store processes started the way an
unprivileged user on the node would start them (runuser), a real Prometheus
scraping the agent, and the agent's own limits (memory, clean stop).
Standard library only."""

import calendar
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from .net import free_port
from .wait import wait_for

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
PROMETHEUS = os.environ.get("PROMETHEUS", "/usr/bin/prometheus")
# An unprivileged account every Debian has; override with KVSCOPE_TENANT.
TENANT = os.environ.get("KVSCOPE_TENANT", "nobody")
# The DaemonSet's memory limit (deploy/kubernetes/daemonset.yaml).
RSS_LIMIT = 256 * 1024 * 1024


def stop_and_remove(proc, log, directory):
    """Ends a server this test started (by its PID: TERM, then KILL after
    15 s), closes its log and removes its directory."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    log.close()
    shutil.rmtree(directory, ignore_errors=True)


def tenant_uid():
    return pwd.getpwnam(TENANT).pw_uid


def children_of(pid):
    """Pids of the direct children of pid."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


class TenantProcess:
    """argv run as the tenant through `runuser -u TENANT --`, in a scratch
    directory the tenant owns. runuser stays as the parent: self.pid is the
    store process itself."""

    def __init__(self, argv_of_dir, label, binary):
        self.dir = tempfile.mkdtemp(prefix="kvscope-tenant-")
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, user=TENANT)
        self.log = open(os.path.join(self.dir, "out.log"), "wb")
        argv = argv_of_dir(self.dir)
        self.runuser = subprocess.Popen(["runuser", "-u", TENANT, "--", *argv], stdout=self.log,
                                        stderr=subprocess.STDOUT, cwd=self.dir)
        self.binary = os.path.realpath(binary)
        self.pid = wait_for(self._store_pid, 10, step=0.05, what="%s to start" % label)

    def _store_pid(self):
        """runuser's child, once it has become the tenant and exec'd the store."""
        if self.runuser.poll() is not None:
            raise AssertionError("runuser exited %s: %s" % (self.runuser.returncode,
                                                              self.output()[-2000:]))
        for kid in children_of(self.runuser.pid):
            try:
                if os.readlink("/proc/%d/exe" % kid) == self.binary and \
                        os.stat("/proc/%d" % kid).st_uid == tenant_uid():
                    return kid
            except OSError:
                pass
        return None

    def output(self):
        with open(os.path.join(self.dir, "out.log"), "rb") as f:
            return f.read().decode(errors="replace")

    def uid(self):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
        return None

    def stop(self, sig=signal.SIGTERM):
        if self.runuser.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.runuser.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.runuser.wait(15)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def tenant_etcd(name, binary=ETCD):
    """A one-member etcd cluster named `name` (any bytes), run by the tenant
    on free loopback ports, with its own data directory."""
    client, peer = free_port(), free_port()
    curl, purl = "http://127.0.0.1:%d" % client, "http://127.0.0.1:%d" % peer
    bname = name.encode("utf-8", "surrogateescape") if isinstance(name, str) else name

    def argv(d):
        return [binary.encode(), b"--name", bname, b"--data-dir", os.path.join(d, "data").encode(),
                b"--listen-client-urls", curl.encode(), b"--advertise-client-urls", curl.encode(),
                b"--listen-peer-urls", purl.encode(), b"--initial-advertise-peer-urls",
                purl.encode(), b"--initial-cluster", bname + b"=" + purl.encode()]
    p = TenantProcess(argv, "tenant etcd", binary)
    p.client_url = curl
    return p


def tenant_redis(binary=REDIS_SERVER):
    port = free_port()

    def argv(d):
        return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", d, "--daemonize", "no"]
    p = TenantProcess(argv, "tenant redis-server", binary)
    p.port = port
    return p


def rfc3339(text):
    """Seconds since the epoch of Go's RFC 3339 time ("...05.123456789Z",
    or with a +hh:mm offset)."""
    m = re.match(r"(\d+-\d+-\d+T\d+:\d+:\d+)(\.\d+)?(Z|[+-]\d\d:\d\d)$", text)
    assert m, "not an RFC 3339 time: %r" % text
    t = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
    t += float(m.group(2) or 0)
    if m.group(3) != "Z":
        sign = 1 if m.group(3)[0] == "+" else -1
        t -= sign * (int(m.group(3)[1:3]) * 3600 + int(m.group(3)[4:6]) * 60)
    return t


class Prometheus:
    """A real Prometheus scraping one agent every second, on a free loopback
    port, with its own scratch storage: it rejects a scrape whose text it
    cannot parse (invalid UTF-8 included), which promtool does not check."""

    def __init__(self, *agent_ports):
        self.dir = tempfile.mkdtemp(prefix="kvscope-prom-")
        self.port = free_port()
        self.ntargets = len(agent_ports)
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "scrape_configs:\n  - job_name: kvscope\n    static_configs:\n"
                    "      - targets: [%s]\n" % ", ".join("'127.0.0.1:%d'" % p
                                                     for p in agent_ports))
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, "--config.file=" + os.path.join(self.dir, "prometheus.yml"),
             "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
             "--web.listen-address=127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d" % self.port
        wait_for(lambda: len(self.targets()) == self.ntargets, 30,
                 what="Prometheus to list its targets")

    def api(self, path):
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as r:
                return json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            raise AssertionError("Prometheus %s: HTTP %d %s" % (path, e.code,
                                                                 e.read().decode()[:500]))

    def targets(self):
        """The agents' scrape targets: [{health, lastError, lastScrape, ...}]."""
        return self.api("/api/v1/targets")["data"]["activeTargets"]

    def assert_up(self, since=None):
        """A scrape of every agent that started after `since` (default: now) succeeded."""
        since = time.time() if since is None else since

        def fresh():
            ts = self.targets()
            return ts if len(ts) == self.ntargets and all(
                rfc3339(t["lastScrape"]) > since for t in ts) else None
        for t in wait_for(fresh, 10, step=0.2, what="Prometheus scrapes after the attack"):
            assert t["health"] == "up" and not t["lastError"], \
                "Prometheus: %s %s, last error %r" % (t["scrapeUrl"], t["health"],
                                                      t["lastError"])

    def query(self, expr):
        q = urllib.request.quote(expr)
        return self.api("/api/v1/query?query=" + q)["data"]["result"]

    def stop(self):
        stop_and_remove(self.proc, self.log, self.dir)


def rss_bytes(pid):
    """(VmRSS, VmHWM) of pid in bytes."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM"):
                out[k] = int(v.split()[0]) * 1024
    return out["VmRSS"], out["VmHWM"]


def stop_within(agent, seconds=2.0):
    """SIGTERM ends the agent, cleanly, within `seconds`; returns how long it took."""
    t0 = time.time()
    agent.proc.send_signal(signal.SIGTERM)
    try:
        rc = agent.proc.wait(seconds)
    except subprocess.TimeoutExpired:
        agent.proc.kill()
        agent.proc.wait()
        raise AssertionError("kvscope still ran %.1fs after SIGTERM" % seconds)
    took = time.time() - t0
    agent.log.close()
    assert rc == 0, "kvscope exited %s after SIGTERM: %s" % (rc, agent.logtext()[-3000:])
    return took
