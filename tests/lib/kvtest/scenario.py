"""Two books side by side: the pieces the fidelity and soak scenarios share.
A mixed load through etcd's gRPC gateway, quiet snapshots of kvscope's and
etcd's counters, their comparison into a table of PASS/FAIL rows, and the
run that prints that table and the scenario's closing line."""

import base64
import http.client
import json
import math
import os
import random
import shutil
import signal
import subprocess
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

from .cluster import Cluster
from .grpc import CODE_TO_STATUS, DEFAULT_STATUS, GRPC_TO_STATUS
from .metrics import COUNTED_SERVICES, value
from .paths import CLUSTER, ETCDCTL
from .wait import wait_for

MAX_REQUEST_BYTES = 8192  # the clusters' --max-request-bytes: the designed failures assume it
MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
THREADS = 4
KEYS = 400
GATEWAY_PATH = {"Range": "/v3/kv/range", "Put": "/v3/kv/put", "DeleteRange": "/v3/kv/deleterange",
                "Txn": "/v3/kv/txn", "Compact": "/v3/kv/compaction"}

STARTED = [time.time()]  # log() times from here; a scenario's main resets it


def log(msg):
    print("  [%6.1fs] %s" % (time.time() - STARTED[0], msg), flush=True)


def note_state(key, val):
    """Tell the scenario's run.sh what to clean up if this process is killed."""
    state = os.environ.get("SCENARIO_STATE")
    if state:
        with open(os.path.join(state, key), "w") as f:
            f.write(str(val))


class ScenarioCluster(Cluster):
    """The test cluster, its directory told to run.sh before any member
    starts, so an interrupted start is cleaned up too."""

    def __init__(self, prefix):
        super().__init__(prefix=prefix, start=False)
        note_state("cluster_dir", self.dir)


def b64(s):
    return base64.b64encode(s.encode()).decode()


class Gateway:
    """etcd's gRPC-gateway (JSON over HTTP) on each member: the gateway calls
    the member's own gRPC server, so every request passes the same handlers
    and interceptors kvscope probes and etcd counts."""

    def __init__(self, cluster):
        self.hosts = [u[len("http://"):] for u in cluster.clients]
        self.local = threading.local()
        self.tokens = {}  # (member, user) -> token

    def post(self, member, path, body, user=None):
        """(HTTP status, gRPC code, decoded body); gRPC code -1 when etcd did
        not answer (or something else did, without a gRPC code)."""
        conns = self.local.__dict__.setdefault("conns", {})
        headers = {"Content-Type": "application/json"}
        if user:
            headers["Authorization"] = self.tokens[(member, user)]
        while True:
            reused = member in conns
            if not reused:
                conns[member] = http.client.HTTPConnection(self.hosts[member], timeout=20)
            conn = conns[member]
            try:
                conn.request("POST", path, json.dumps(body), headers)
                r = conn.getresponse()
                data = json.loads(r.read() or b"{}")
            except (OSError, http.client.HTTPException, ValueError):
                conn.close()
                del conns[member]
                # A kept-alive connection the server closed meanwhile: send
                # again on a fresh one. Otherwise the request may have reached
                # etcd; it is reported, never sent twice.
                if reused:
                    continue
                return 0, -1, {}
            return r.status, 0 if r.status == 200 else int(data.get("code", -1)), data

    def authenticate(self, member, user, password):
        status, _, data = self.post(member, "/v3/auth/authenticate",
                                    {"name": user, "password": password})
        if status != 200:
            raise AssertionError("authenticate %s on member %d: HTTP %d %s" %
                                 (user, member + 1, status, data))
        self.tokens[(member, user)] = data["token"]


class Load:
    """A mixed, bounded load; tallies what the client saw per member as
    {(method, status): n} so the gateway's path into etcd is checked too."""

    def __init__(self, gateway):
        self.gw = gateway
        self.lock = threading.Lock()
        self.tally = {}
        self.unanswered = 0
        self.surprises = []  # designed failures that did not fail as designed
        self.designed = 0

    def reset(self):
        with self.lock:
            self.tally, self.unanswered, self.surprises, self.designed = {}, 0, [], 0

    def send(self, member, method, body, user, expect=None):
        status, code, data = self.gw.post(member, GATEWAY_PATH[method], body, user)
        with self.lock:
            if code < 0:
                self.unanswered += 1
            else:
                per = self.tally.setdefault(member, {})
                key = (method, CODE_TO_STATUS.get(code, DEFAULT_STATUS))
                per[key] = per.get(key, 0) + 1
            if expect is not None:
                self.designed += 1
                if code not in expect:
                    self.surprises.append("%s on member %d: code %d, wanted %s (%s)" %
                                          (method, member + 1, code, expect,
                                           data.get("error", "")))
        return code, data

    def revision(self, member, user):
        _, data = self.send(member, "Range", {"key": b64("fid/k0000")}, user)
        return int(data.get("header", {}).get("revision", 0))

    def one(self, i, member, user, denied):
        """Request number i of a phase: mostly ordinary traffic, with one of
        each designed failure in every hundred."""
        rnd = random.Random(i)
        key = b64("fid/k%04d" % rnd.randrange(KEYS))
        slot = i % 100
        if slot == 7:  # a value over --max-request-bytes: InvalidArgument
            big = b64("x" * (MAX_REQUEST_BYTES + 64))
            return self.send(member, "Put", {"key": key, "value": big}, user, expect={3})
        if slot == 17:  # more operations than --max-txn-ops: InvalidArgument
            ops = [{"requestPut": {"key": b64("fid/t%d" % n), "value": b64("v")}}
                   for n in range(MAX_TXN_OPS + 1)]
            return self.send(member, "Txn", {"success": ops}, user, expect={3})
        if slot == 27:  # a read below the compacted revision: OutOfRange
            return self.send(member, "Range", {"key": key, "revision": 1}, user, expect={11})
        if slot == 37:  # compacting an already compacted revision: OutOfRange
            return self.send(member, "Compact", {"revision": 1}, user, expect={11})
        if slot == 47:  # an ordinary compaction a little behind the head
            rev = self.revision(member, user)
            return self.send(member, "Compact", {"revision": max(rev - 20, 2)}, user,
                             expect={0, 11})
        if denied and slot in (57, 58):  # a reader writing: PermissionDenied
            return self.send(member, "Put", {"key": key, "value": b64("r")}, "reader", expect={7})
        if denied and slot == 67:  # a reader reading what it may read
            return self.send(member, "Range", {"key": key}, "reader", expect={0})
        kind = i % 10
        if kind < 4:
            return self.send(member, "Range", {"key": key, "range_end": b64("fid/k9")
                                               if kind == 0 else ""}, user)
        if kind < 7:
            val = b64("v" * rnd.randrange(8, 300))
            return self.send(member, "Put", {"key": key, "value": val}, user)
        if kind == 7:
            return self.send(member, "DeleteRange", {"key": key}, user)
        txn = {"compare": [{"key": key, "target": "VERSION", "result": "GREATER", "version": "0"}],
               "success": [{"requestPut": {"key": key, "value": b64("t%d" % i)}}],
               "failure": [{"requestRange": {"key": key}}]}
        return self.send(member, "Txn", txn, user)

    def run(self, members, count, user=None, denied=False, start=0):
        """count requests spread round-robin over members, THREADS at a time."""
        pool = ThreadPoolExecutor(THREADS)
        try:
            futures = [pool.submit(self.one, start + i, members[i % len(members)], user, denied)
                       for i in range(count)]
            for f in futures:
                f.result()
        finally:  # when interrupted, only the requests in flight finish
            pool.shutdown(wait=True, cancel_futures=True)


def kvscope_counters(metrics, target):
    """kvscope's counters of one target as {key: value}, keys shared with etcd_counters."""
    out = {}

    def add(key, v):
        out[key] = out.get(key, 0) + v
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if ls.get("target") != target:
            continue
        if name == "kvstore_requests_total":
            add(("req", ls["method"], ls["status"]), v)
        elif name == "kvstore_request_duration_seconds_bucket":
            add(("lat", float(ls["le"])), v)
        elif name == "kvstore_raft_leader_elections_total":
            add(("leader_changes",), v)
        elif name == "kvstore_storage_operations_total" and \
                ls["operation"] in ("wal_sync", "backend_commit"):
            add((ls["operation"],), v)
    return out


def etcd_counters(metrics):
    """etcd's own counters of one member, keyed as kvscope_counters."""
    out = {("leader_changes",): value(metrics, "etcd_server_leader_changes_seen_total"),
           ("wal_sync",): value(metrics, "etcd_disk_wal_fsync_duration_seconds_count"),
           ("backend_commit",): value(metrics, "etcd_disk_backend_commit_duration_seconds_count")}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if ls.get("grpc_service") not in COUNTED_SERVICES or ls.get("grpc_type") != "unary":
            continue
        if name == "grpc_server_handled_total":
            key = ("req", ls["grpc_method"], GRPC_TO_STATUS.get(ls["grpc_code"], DEFAULT_STATUS))
        elif name == "grpc_server_handling_seconds_bucket":
            key = ("lat", float(ls["le"]))
        else:
            continue
        out[key] = out.get(key, 0) + v
    return out


class Snap:
    """Both books at one quiet moment: {member: (kvscope counters, etcd counters)}."""

    def __init__(self, agent, cluster, members):
        self.kvscope_metrics = agent.scrape()
        self.etcd_metrics = {m: cluster.own_metrics(m) for m in members}
        self.at = time.time()
        self.per_member = {m: (kvscope_counters(self.kvscope_metrics, cluster.names[m]),
                               etcd_counters(self.etcd_metrics[m])) for m in members}


def quiet_snapshot(agent, cluster, members, timeout=8):
    """A snapshot taken once neither book has moved for 0.4 s: requests are
    over, followers have applied, the backend has committed."""
    time.sleep(0.3)
    prev = Snap(agent, cluster, members)
    deadline = time.time() + timeout
    while time.time() < deadline:
        time.sleep(0.4)
        cur = Snap(agent, cluster, members)
        if cur.per_member == prev.per_member:
            return cur
        prev = cur
    log("warning: still moving after %ds; using the last snapshot" % timeout)
    return prev


def increase(windows, side):
    """Sum over windows [(before, after)] of after - before, one side (0 kvscope, 1 etcd)."""
    out = {}
    for before, after in windows:
        b, a = before[side], after[side]
        for k in set(a) | set(b):
            out[k] = out.get(k, 0) + a.get(k, 0) - b.get(k, 0)
    return out


def histogram_quantile(q, cumulative):
    """Prometheus' histogram_quantile over {upper bound: cumulative count}."""
    bounds = sorted(cumulative)
    if len(bounds) < 2 or not math.isinf(bounds[-1]):
        return math.nan
    counts = [cumulative[b] for b in bounds]
    for i in range(1, len(counts)):  # as Prometheus does, never let a count go down
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if total <= 0:
        return math.nan
    rank = q * total
    b = next(i for i, c in enumerate(counts) if c >= rank)
    if b == len(bounds) - 1:
        return bounds[-2]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    start = 0.0 if b == 0 else bounds[b - 1]
    below = 0 if b == 0 else counts[b - 1]
    in_bucket = counts[b] - below
    return start + (bounds[b] - start) * ((rank - below) / in_bucket if in_bucket else 0)


def bucket_index(v, bounds):
    """Index of the bucket (lower, upper] of the sorted bounds that holds v."""
    return next(i for i, b in enumerate(bounds) if v <= b)


def compare_quantile(q, mine, theirs):
    """(kvscope q, etcd q, bucket distance in the coarser layout)."""
    a = histogram_quantile(q, {k[1]: v for k, v in mine.items() if k[0] == "lat"})
    b = histogram_quantile(q, {k[1]: v for k, v in theirs.items() if k[0] == "lat"})
    layouts = [sorted(k[1] for k in side if k[0] == "lat") for side in (mine, theirs)]
    coarse = min(layouts, key=len)
    if math.isnan(a) or math.isnan(b) or not coarse:
        return a, b, None
    return a, b, abs(bucket_index(a, coarse) - bucket_index(b, coarse))


class Table:
    def __init__(self):
        self.rows = []

    def add(self, run, member, quantity, mine, theirs, diff, ok):
        self.rows.append((run, member, quantity, str(mine), str(theirs), str(diff),
                          "PASS" if ok else "FAIL"))

    def exact(self, run, member, quantity, mine, theirs):
        self.add(run, member, quantity, fmt(mine), fmt(theirs), fmt(mine - theirs),
                 mine == theirs)

    def failed(self):
        return any(r[-1] == "FAIL" for r in self.rows)

    def render(self):
        head = ("run", "member", "quantity", "kvscope", "etcd", "difference", "result")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(r) + " |" for r in self.rows]
        failed = sum(r[-1] == "FAIL" for r in self.rows)
        return "\n".join(lines), len(self.rows) - failed, failed


def fmt(v):
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def fmt_seconds(v):
    return "nan" if math.isnan(v) else "%.6f" % v


def compare_counters(table, run, name, windows):
    mine, theirs = increase(windows, 0), increase(windows, 1)
    reqs = sorted(k for k in set(mine) | set(theirs)
                  if k[0] == "req" and (mine.get(k, 0) or theirs.get(k, 0)))
    for k in reqs:
        table.exact(run, name, "requests %s %s" % (k[1], k[2]), mine.get(k, 0), theirs.get(k, 0))
    if not reqs:
        table.add(run, name, "requests", 0, 0, "no requests in the window", False)
    for q in (0.5, 0.99):
        a, b, dist = compare_quantile(q, mine, theirs)
        diff = "%s s, %s" % (fmt_seconds(a - b) if dist is not None else "nan",
                             "%d bucket(s) apart" % dist if dist is not None else "not comparable")
        table.add(run, name, "latency p%d" % round(q * 100), fmt_seconds(a), fmt_seconds(b), diff,
                  dist is not None and dist <= 1)
    for key, label in ((("leader_changes",), "leader changes"), (("wal_sync",), "WAL fsyncs"),
                       (("backend_commit",), "backend commits")):
        table.exact(run, name, label, mine.get(key, 0), theirs.get(key, 0))
    return theirs


# What the gateway forwards: the KV service (the tests' own etcdctl calls
# reach Maintenance and Cluster directly).
GATEWAY_METHODS = ("Range", "Put", "DeleteRange", "Txn", "Compact")


def compare_gateway(table, run, name, etcd_increase, client):
    """The requests the client got answers for are the ones etcd counted."""
    theirs = {k[1:]: v for k, v in etcd_increase.items()
              if k[0] == "req" and k[1] in GATEWAY_METHODS and v}
    mine = {k: v for k, v in client.items() if v}
    diff = {k: mine.get(k, 0) - theirs.get(k, 0) for k in set(mine) | set(theirs)
            if mine.get(k, 0) != theirs.get(k, 0)}
    table.add(run, name, "gateway: client-seen requests (client figure)", fmt(sum(mine.values())),
              fmt(sum(theirs.values())), diff or 0, not diff)


def compare_gauges(table, run, agent, cluster, members):
    """Term, commit index and db size once quiet, read until they agree (3 s)."""
    def read():
        st = member_status(cluster, members)
        m = agent.scrape()
        rows = {}
        for i in members:
            n = cluster.names[i]
            e = cluster.own_metrics(i)
            rows[i] = [("raft term", value(m, "kvstore_raft_term", target=n), st[i]["term"]),
                       ("raft commit index", value(m, "kvstore_raft_commit_index", target=n),
                        st[i]["index"]),
                       ("backend db size", value(m, "kvstore_storage_size_bytes", target=n),
                        value(e, "etcd_mvcc_db_total_size_in_bytes"))]
        return rows
    last = [None]

    def agree():
        last[0] = read()
        return all(a == b for rows in last[0].values() for _, a, b in rows)
    try:
        wait_for(agree, 3, step=0.3, what="gauges equal to etcd's")
    except AssertionError:
        pass
    for i in members:
        if last[0] is None:
            table.add(run, cluster.names[i], "raft and db size gauges", "-", "-", "unreadable",
                      False)
            continue
        for quantity, a, b in last[0][i]:
            table.exact(run, cluster.names[i], quantity, a, b)


# With auth on, etcd 3.5 answers a status request only from an authenticated
# user; etcdctl --user would authenticate on every call, itself a raft entry
# that moves the commit index being compared. So the status is then asked
# through the gateway with the token root already holds: (gateway, user).
STATUS_AUTH = [None]


def field(d, *names):
    for n in names:
        if n in d:
            return d[n]
    raise KeyError(names[0])


def gateway_status(members):
    gw, user = STATUS_AUTH[0]
    out = {}
    for m in members:
        status, _, st = gw.post(m, "/v3/maintenance/status", {}, user=user)
        if status != 200:
            raise AssertionError("status of member %d: HTTP %d %s" % (m + 1, status, st))
        out[m] = {"term": int(field(st, "raft_term", "raftTerm")),
                  "index": int(field(st, "raft_index", "raftIndex")),
                  "leader_id": int(st["leader"]),
                  "id": int(field(st["header"], "member_id", "memberId"))}
    return out


def member_status(cluster, members):
    """{member: {term, index, leader_id, id}} from etcdctl endpoint status."""
    if STATUS_AUTH[0]:
        return gateway_status(members)
    cmd = [ETCDCTL, "--endpoints", ",".join(cluster.clients[m] for m in members),
           "--command-timeout=3s", "endpoint", "status", "-w", "json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=20,
                       env=dict(os.environ, ETCDCTL_API="3"), check=True)
    out = {}
    for entry in json.loads(r.stdout):
        st = entry["Status"]
        out[cluster.clients.index(entry["Endpoint"])] = {
            "term": st["raftTerm"], "index": st["raftIndex"], "leader_id": st["leader"],
            "id": st["header"]["member_id"]}
    return out


def leader_of(cluster, members):
    st = member_status(cluster, members)
    leaders = [m for m in members if st[m]["leader_id"] == st[m]["id"]]
    return leaders[0] if leaders else None


def stop_cluster(cluster):
    """cluster.sh stop, then SIGKILL by PID any member process of this
    cluster's data directory still running: a member being restarted when
    the scenario was interrupted may not be in members.env yet."""
    subprocess.run([CLUSTER, "stop", cluster.dir], timeout=60)
    for pid in pids_with_arg("--data-dir", cluster.dir + "/"):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(cluster.dir, ignore_errors=True)


def pids_with_arg(flag, prefix):
    """Pids of processes with `flag VALUE` on their command line, VALUE
    starting with prefix."""
    out = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % entry, "rb") as f:
                args = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        if any(a == flag and b.startswith(prefix) for a, b in zip(args, args[1:])):
            out.append(int(entry))
    return out


def on_sigterm(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def run_and_report(scenario, name, path, heading):
    """Runs a scenario with .run(), .close(show_logs) and .table; prints its
    table (a failure that stopped it is a row too), writes it to path, and
    returns the exit code. Shared by the fidelity and soak scenarios."""
    signal.signal(signal.SIGTERM, on_sigterm)
    error = None
    try:
        scenario.run()
    except (Exception, KeyboardInterrupt) as e:  # the table still prints, with the failure
        error = "%s: %s" % (type(e).__name__, e)
        log("%s aborted: %s" % (name, error))
        traceback.print_exc()
    finally:
        try:
            scenario.close(show_logs=error is not None or scenario.table.failed())
        except Exception as e:  # cleanup trouble is reported, the table still prints
            log("cleanup: %s" % e)
    if error:
        scenario.table.add("-", "scenario", "ran to the end", "no", "-", error.replace("|", "/"),
                           False)
    text, passed, failed = scenario.table.render()
    print(text)
    closing = "%s: %d passed, %d failed" % (name, passed, failed)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write("%s\n\n%s\n\n%s\n" % (heading, text, closing))
    print(closing)
    return 1 if failed else 0
