"""Shared pieces of kvscope's integration tests: a test cluster, the agent,
scraping and parsing metrics, and a tiny runner that prints one closing line.
Standard library only."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import traceback
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLUSTER = os.path.join(ROOT, "tests", "integration", "cluster.sh")
KVSCOPE = os.environ.get("KVSCOPE", os.path.join(ROOT, "build", "san", "kvscope"))
ETCDCTL = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
# The etcd build under test: bookworm's by default, or one of
# scripts/fetch-builds.sh's (ETCD=/var/cache/kvscope/builds/etcd-3.5.16/usr/bin/etcd).
ETCD = os.environ.get("ETCD", "/usr/bin/etcd")


def etcd_build(binary=None):
    """{'path', 'version', 'go', 'profile'} of an etcd binary, from its --version."""
    binary = binary or ETCD
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    version = re.search(r"etcd Version: (\S+)", out).group(1)
    go = re.search(r"Go Version: (\S+)", out).group(1)
    return {"path": binary, "version": version, "go": go,
            "profile": "etcd-" + ".".join(version.split(".")[:2])}


def build_line(binary=None):
    """The line a suite prints first: which etcd build it runs against."""
    b = etcd_build(binary)
    return "build: etcd %s (%s) %s, profile %s" % (b["version"], b["go"], b["path"],
                                                   b["profile"])

# Under emulation (qemu without KVM) everything is slower: limits scale by this.
TIME_SCALE = float(os.environ.get("KVSCOPE_TIME_SCALE", "1"))

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise ValueError("unparsable metrics line: %r" % line)
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def has(metrics, name, **labels):
    want = set(labels.items())
    return any(n == name and want <= set(ls) for (n, ls) in metrics)


def http_get(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_for(pred, timeout, step=0.1, what="condition"):
    timeout *= TIME_SCALE
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # the thing waited for may not answer yet
            last = e
        time.sleep(step)
    raise AssertionError("timed out after %.1fs waiting for %s (last: %r)" % (timeout, what, last))


class Cluster:
    """Three etcd members on loopback, started and stopped by cluster.sh."""

    def __init__(self, *extra_flags):
        self.dir = tempfile.mkdtemp(prefix="kvscope-it-")
        subprocess.run([CLUSTER, "start", self.dir, *extra_flags], check=True, timeout=60)
        self.reload()

    def reload(self):
        env = {}
        with open(os.path.join(self.dir, "members.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v.strip('"')
        self.env = env
        self.names = [env["NAME_%d" % i] for i in (1, 2, 3)]
        self.clients = [env["CLIENT_%d" % i] for i in (1, 2, 3)]
        self.pids = [int(env["PID_%d" % i]) for i in (1, 2, 3)]

    def etcdctl(self, member, *args, check=True, input=None):
        cmd = [ETCDCTL, "--endpoints", self.clients[member], "--command-timeout=5s", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"), input=input)
        if check and r.returncode != 0:
            raise AssertionError("%s failed: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def status(self):
        """{name: (raft_term, raft_index, is_leader)} from etcdctl endpoint status."""
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(self.clients), "endpoint", "status",
                            "-w", "json"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"), check=True)
        out = {}
        for entry in json.loads(r.stdout):
            st = entry["Status"]
            name = self.names[self.clients.index(entry["Endpoint"])]
            out[name] = (st["raftTerm"], st["raftIndex"],
                         st["leader"] == st["header"]["member_id"])
        return out

    def own_metrics(self, member):
        return parse_metrics(http_get(self.clients[member] + "/metrics"))

    def kill(self, member):
        subprocess.run([CLUSTER, "kill", self.dir, str(member + 1)], check=True, timeout=30)

    def restart(self, member):
        subprocess.run([CLUSTER, "restart", self.dir, str(member + 1)], check=True, timeout=60)
        self.reload()

    def stop(self):
        subprocess.run([CLUSTER, "stop", self.dir], timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)


class Agent:
    """A kvscope daemon watching only the given pids, on a free loopback port."""

    def __init__(self, pids, *extra):
        self.port = free_port()
        self.log_path = tempfile.mktemp(prefix="kvscope-", suffix=".log")
        self.log = open(self.log_path, "w")
        args = [KVSCOPE, "--web.listen-address=127.0.0.1:%d" % self.port, *extra]
        if pids:
            args.append("--target.pid=" + ",".join(str(p) for p in pids))
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d/metrics" % self.port

    def scrape_text(self):
        return http_get(self.url)

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def wait_attached(self, names, timeout=10):
        def ok():
            m = self.scrape()
            return all(value(m, "kvscope_target_attached", target=n) == 1 for n in names)
        wait_for(ok, timeout, what="targets %s attached" % names)
        return time.time() - self.started

    def stop(self, sig=signal.SIGTERM, timeout=15):
        timeout *= TIME_SCALE
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("kvscope did not exit within %ds of %s" % (timeout, sig))
        self.log.close()
        return self.proc.returncode

    def logtext(self):
        with open(self.log_path) as f:
            return f.read()


# gRPC code name -> HTTP-style status, as profiles/etcd-3.4.yaml maps them
GRPC_TO_STATUS = {"OK": "200", "Canceled": "499", "Unknown": "500", "InvalidArgument": "400",
                  "DeadlineExceeded": "504", "NotFound": "404", "AlreadyExists": "409",
                  "PermissionDenied": "403", "ResourceExhausted": "429",
                  "FailedPrecondition": "400", "Aborted": "409", "OutOfRange": "400",
                  "Unimplemented": "501", "Internal": "500", "Unavailable": "503",
                  "DataLoss": "500", "Unauthenticated": "401"}


def etcd_requests(metrics):
    """{(method, status): n} from etcd's own grpc_server_handled_total (KV service)."""
    out = {}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if name == "grpc_server_handled_total" and ls.get("grpc_service") == "etcdserverpb.KV":
            key = (ls["grpc_method"], GRPC_TO_STATUS[ls["grpc_code"]])
            out[key] = out.get(key, 0) + v
    return out


def kvscope_requests(metrics, target):
    """{(method, status): n} from kvscope's kvstore_requests_total for one target."""
    out = {}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if name == "kvstore_requests_total" and ls["target"] == target:
            key = (ls["method"], ls["status"])
            out[key] = out.get(key, 0) + v
    return out


def delta(after, before):
    """What changed between two {key: count} readings."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) != before.get(k, 0)}


def bpf_prog_ids_of(pid):
    """IDs of the BPF programs process `pid` holds, from its fds' fdinfo."""
    ids = set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                for line in f:
                    if line.startswith("prog_id:"):
                        ids.add(int(line.split()[1]))
        except OSError:
            pass
    return ids


def kvscope_links(prog_ids=None):
    """bpftool's links of kvscope's uprobe program: of the given program IDs
    (one agent's), or of any kvscope when None."""
    r = subprocess.run(["bpftool", "-j", "link", "show"], capture_output=True, text=True)
    if r.returncode != 0:
        return []
    if prog_ids is None:
        progs = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
        prog_ids = {p["id"] for p in json.loads(progs.stdout or "[]")
                    if p.get("name") == "kvs_site_hit"}
    return [l for l in json.loads(r.stdout or "[]") if l.get("prog_id") in prog_ids]


def uprobe_events():
    try:
        with open("/sys/kernel/tracing/uprobe_events") as f:
            return f.read().strip()
    except OSError:
        return ""


class Runner:
    """Runs named test functions in order; prints 'N passed, N failed' last."""

    def __init__(self, suite):
        self.suite = suite
        self.passed = 0
        self.failed = 0

    def run(self, name, fn, *args):
        t0 = time.time()
        try:
            fn(*args)
        except Exception:
            self.failed += 1
            print("FAIL %s (%.1fs)" % (name, time.time() - t0))
            traceback.print_exc()
        else:
            self.passed += 1
            print("ok   %s (%.1fs)" % (name, time.time() - t0))

    def run_suite(self, suite, names):
        """Runs suite.test_<name> for each name in order, then closes the suite."""
        try:
            for name in names:
                self.run(name.replace("_", " "), getattr(suite, "test_" + name))
        finally:
            suite.close()

    def finish(self):
        print("%s: %d passed, %d failed" % (self.suite, self.passed, self.failed))
        return 1 if self.failed else 0


class NamedAgent(Agent):
    """A kvscope daemon watching the targets whose name matches a glob: a
    member restarted under the same name (new pid) stays watched."""

    def __init__(self, name_glob, *extra):
        self.port = free_port()
        self.log_path = tempfile.mktemp(prefix="kvscope-", suffix=".log")
        self.log = open(self.log_path, "w")
        args = [KVSCOPE, "--web.listen-address=127.0.0.1:%d" % self.port,
                "--target.name=" + name_glob, *extra]
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d/metrics" % self.port


def bpf_fd_ids(pid):
    """(link ids, prog ids) of the BPF links and programs process pid holds
    open, from /proc/PID/fdinfo."""
    links, progs = set(), set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                text = f.read()
        except OSError:  # closed between listdir and open
            continue
        fields = dict(l.split(":", 1) for l in text.splitlines() if ":" in l)
        if "link_id" in fields:
            links.add(int(fields["link_id"]))
        elif "prog_id" in fields:
            progs.add(int(fields["prog_id"]))
    return links, progs


def bpf_ids_alive(links, progs):
    """The subset of the given link and program ids the kernel still has."""
    def ids(kind):
        r = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True)
        return {x["id"] for x in json.loads(r.stdout or "[]")} if r.returncode == 0 else set()
    return set(links) & ids("link"), set(progs) & ids("prog")


PLAIN_KVSCOPE = os.environ.get("KVSCOPE_PLAIN", os.path.join(ROOT, "build", "kvscope"))


class BinaryAgent(Agent):
    """A kvscope daemon from a chosen binary with the given flags only (no
    target filter added): the plain build gives memory figures without the
    sanitizers' shadow memory and quarantine."""

    def __init__(self, binary, *flags):
        self.port = free_port()
        self.log_path = tempfile.mktemp(prefix="kvscope-", suffix=".log")
        self.log = open(self.log_path, "w")
        args = [binary, "--web.listen-address=127.0.0.1:%d" % self.port, *flags]
        self.started = time.time()
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        self.url = "http://127.0.0.1:%d/metrics" % self.port


def scrape_from(port, source="127.0.0.1", path="/metrics", timeout=5):
    """(HTTP status, body, seconds taken) of one GET from a chosen loopback
    source address (127.0.0.0/8 all routes to lo)."""
    import http.client
    t0 = time.time()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                      source_address=(source, 0))
    try:
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read().decode()
        return r.status, body, time.time() - t0
    finally:
        conn.close()


def quiet_counts(agent, cluster, members, read, timeout=8):
    """(kvscope metrics, {member: etcd metrics}) once `read(kvscope, etcd)`
    gives the same answer twice 0.4 s apart: no request in flight, followers
    applied. The last reading when it never settles within `timeout`."""
    def snap():
        k = agent.scrape()
        e = {m: cluster.own_metrics(m) for m in members}
        return k, e, read(k, e)
    time.sleep(0.3)
    prev = snap()
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.4)
        cur = snap()
        if cur[2] == prev[2]:
            return cur[0], cur[1]
        prev = cur
    return prev[0], prev[1]
