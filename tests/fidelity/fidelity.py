#!/usr/bin/env python3
"""kvscope's figures against etcd's own books, through errors, a leader
failover, a member restart, a restart of kvscope and auth denials.

One bounded scenario on loopback (see README.md in this folder); it prints
one table, a row per (run, member, quantity), writes it to
build/fidelity.md, and exits non-zero when any row fails."""

import base64
import http.client
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from kvtest import (CLUSTER, ETCDCTL, KVSCOPE, ROOT, Cluster, NamedAgent, bpf_fd_ids,  # noqa: E402
                    bpf_ids_alive, build_line, kvscope_links, uprobe_events, value, wait_for)

MAX_REQUEST_BYTES = 8192
MAX_TXN_OPS = 128  # etcd's default --max-txn-ops
BUDGET_SECONDS = 170  # the whole scenario; run.sh kills it a little later
THREADS = 4
KEYS = 400
ROOT_PW, READER_PW = "fidelity-root", "fidelity-reader"
TABLE_PATH = os.environ.get("FIDELITY_TABLE") or os.path.join(ROOT, "build", "fidelity.md")

# gRPC code number -> HTTP-style status, as profiles/etcd-3.4.yaml maps them.
CODE_TO_STATUS = {0: "200", 1: "499", 2: "500", 3: "400", 4: "504", 5: "404", 6: "409",
                  7: "403", 8: "429", 9: "400", 10: "409", 11: "400", 12: "501", 13: "500",
                  14: "503", 15: "500", 16: "401"}
CODE_NAMES = ["OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
              "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
              "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
              "Unauthenticated"]
NAME_TO_STATUS = {n: CODE_TO_STATUS[i] for i, n in enumerate(CODE_NAMES)}
GATEWAY_PATH = {"Range": "/v3/kv/range", "Put": "/v3/kv/put", "DeleteRange": "/v3/kv/deleterange",
                "Txn": "/v3/kv/txn", "Compact": "/v3/kv/compaction"}

DEADLINE = [0.0]


def check_budget(what):
    if time.time() > DEADLINE[0]:
        raise TimeoutError("time budget of %ds spent before %s" % (BUDGET_SECONDS, what))


def log(msg):
    print("  [%6.1fs] %s" % (time.time() - (DEADLINE[0] - BUDGET_SECONDS), msg), flush=True)


def b64(s):
    return base64.b64encode(s.encode()).decode()


# ---------------------------------------------------------------- the load

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
                key = (method, CODE_TO_STATUS.get(code, "500"))
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


# ---------------------------------------------------------------- snapshots

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
        if ls.get("grpc_service") != "etcdserverpb.KV":
            continue
        if name == "grpc_server_handled_total":
            key = ("req", ls["grpc_method"], NAME_TO_STATUS.get(ls["grpc_code"], "500"))
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


# ---------------------------------------------------------------- quantiles

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


# ---------------------------------------------------------------- the table

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


def compare_gateway(table, run, name, etcd_increase, client):
    """The requests the client got answers for are the ones etcd counted."""
    theirs = {k[1:]: v for k, v in etcd_increase.items() if k[0] == "req" and v}
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


# ---------------------------------------------------------------- the cluster

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


def enable_auth(cluster):
    """root (all) and reader (may read fid/, not write it); then auth on."""
    for args in (["user", "add", "root:" + ROOT_PW], ["role", "add", "root"],
                 ["user", "grant-role", "root", "root"], ["role", "add", "reader"],
                 ["role", "grant-permission", "reader", "read", "fid/", "--prefix=true"],
                 ["user", "add", "reader:" + READER_PW], ["user", "grant-role", "reader", "reader"],
                 ["auth", "enable"]):
        cluster.etcdctl(0, *args)


def wait_reattached(agent, name, pid):
    def ok():
        m = agent.scrape()
        return value(m, "kvstore_target_info", target=name, pid=str(pid)) == 1 and \
            value(m, "kvscope_target_attached", target=name) == 1
    wait_for(ok, 10, step=0.1, what="%s re-attached with pid %d" % (name, pid))


def note_state(key, val):
    """Tell run.sh what to clean up if this process is killed."""
    state = os.environ.get("FIDELITY_STATE")
    if state:
        with open(os.path.join(state, key), "w") as f:
            f.write(str(val))


class FidelityCluster(Cluster):
    """The test cluster, its directory known (and told to run.sh) before
    any member starts, so an interrupted start is cleaned up too."""

    def __init__(self):  # members start in start()
        self.dir = tempfile.mkdtemp(prefix="kvscope-fidelity-")
        note_state("cluster_dir", self.dir)

    def start(self, *flags):
        subprocess.run([CLUSTER, "start", self.dir, *flags], check=True, timeout=60)
        self.reload()


def start_agent(cluster):
    tag = cluster.names[0].rsplit("-", 1)[0]
    agent = NamedAgent(tag + "-*")
    note_state("agent_pid", agent.proc.pid)
    agent.wait_attached(cluster.names)
    return agent


# ---------------------------------------------------------------- the scenario

class Scenario:
    def __init__(self):
        self.table = Table()
        self.cluster = None
        self.agent = None
        self.logs = []  # agent logs, shown on failure

    def run(self):
        self.cluster = FidelityCluster()
        self.cluster.start("--max-request-bytes=%d" % MAX_REQUEST_BYTES, "--metrics=extensive")
        c = self.cluster
        log("cluster %s up: %s" % (c.names[0].rsplit("-", 1)[0], ", ".join(c.clients)))
        self.gw = Gateway(c)
        self.load = Load(self.gw)
        self.agent = start_agent(c)
        log("kvscope (first run, pid %d) attached" % self.agent.proc.pid)
        self.first_run()
        self.restart_kvscope()
        self.second_run()

    def prime(self):
        """A first compaction, so reads at revision 1 are below it from the start."""
        for i in range(5):
            self.load.send(i % 3, "Put", {"key": b64("fid/k%04d" % i), "value": b64("p")}, None)
        rev = self.load.revision(0, None)
        self.load.send(0, "Compact", {"revision": rev}, None, expect={0})

    def first_run(self):
        c, load, all3 = self.cluster, self.load, [0, 1, 2]
        s0 = quiet_snapshot(self.agent, c, all3)
        load.reset()
        self.prime()
        load.run(all3, 1200)
        log("load 1: 1200 requests on every member")
        check_budget("the leader kill")
        s1 = quiet_snapshot(self.agent, c, all3)
        wait_for(lambda: leader_of(c, all3) is not None, 10, what="a leader")
        killed = leader_of(c, all3)
        survivors = [m for m in all3 if m != killed]
        c.kill(killed)
        log("SIGKILL of the leader %s" % c.names[killed])
        during = threading.Thread(target=load.run, args=(survivors, 500), kwargs={"start": 5000},
                                  daemon=True)
        during.start()
        wait_for(lambda: leader_of(c, survivors) is not None, 15, step=0.2, what="a new leader")
        log("new leader %s" % c.names[leader_of(c, survivors)])
        during.join()
        log("load 2: 500 requests on the survivors through the failover")
        s1b = quiet_snapshot(self.agent, c, survivors)
        mark_down = copy_tally(load.tally)
        c.restart(killed)
        wait_reattached(self.agent, c.names[killed], c.pids[killed])
        log("%s restarted (pid %d), kvscope re-attached" % (c.names[killed], c.pids[killed]))
        s2 = quiet_snapshot(self.agent, c, all3)
        mark_up = copy_tally(load.tally)
        load.run(all3, 300, start=10000)
        self.move_leader()
        load.run(all3, 300, start=10300)
        log("load 3: 600 requests on every member")
        check_budget("the first comparison")
        s3 = quiet_snapshot(self.agent, c, all3)
        for m in all3:
            # etcd's books restart with the process: one window per lifetime.
            down = s1 if m == killed else s1b
            windows = [(s0.per_member[m], s1.per_member[m]), (s2.per_member[m], s3.per_member[m])] \
                if m == killed else [(s0.per_member[m], s3.per_member[m])]
            name = c.names[m] + (" (killed, restarted)" if m == killed else "")
            compare_counters(self.table, "1", name, windows)
            # cluster.sh restart's health checks read through etcdctl, not the
            # gateway: the client's view leaves out the restart.
            gw_windows = [(s0.per_member[m], down.per_member[m]),
                          (s2.per_member[m], s3.per_member[m])]
            client = add_tallies(mark_down.get(m, {}),
                                 sub_tallies(load.tally.get(m, {}), mark_up.get(m, {})))
            compare_gateway(self.table, "1", name, increase(gw_windows, 1), client)
        compare_gauges(self.table, "1", self.agent, c, all3)
        self.scenario_row("1", load)

    def restart_kvscope(self):
        agent = self.agent
        pid = agent.proc.pid
        links, progs = bpf_fd_ids(pid)
        held = [l for l in kvscope_links() if l.get("prog_id") in progs]
        rc = agent.stop()
        others = other_kvscopes(pid)

        def leftovers():
            # With no other kvscope on the host, no kvs_site_hit link may be
            # left at all; otherwise (other suites running) none of ours.
            left = [l for l in kvscope_links() if not others or l.get("prog_id") in progs]
            alive_links, alive_progs = bpf_ids_alive(links, progs)
            legacy = "libbpf_%d_" % pid in uprobe_events()
            return left, alive_links | {l["id"] for l in left}, alive_progs, legacy
        try:  # the kernel frees a closed program after an RCU grace period
            wait_for(lambda: not any(leftovers()[1:]), 3, step=0.2, what="probes released")
        except AssertionError:
            pass
        _, left_links, left_progs, legacy = leftovers()
        scope = "ours (other kvscope pids %s run)" % sorted(others) if others else "any kvscope"
        log("kvscope (first run) stopped: exit %s, held %d links and %d programs; left %d/%d" %
            (rc, len(held), len(progs), len(left_links), len(left_progs)))
        self.table.add("1->2", "kvscope", "exit code on SIGTERM", rc, 0, rc, rc == 0)
        self.table.add("1->2", "kvscope", "uprobe links held while running (kvs_site_hit)",
                       len(held), ">0", "-", bool(held))
        self.table.add("1->2", "kvscope", "uprobe links left after exit, " + scope,
                       len(left_links), 0, len(left_links), not left_links)
        self.table.add("1->2", "kvscope", "BPF programs and legacy uprobe events left after exit",
                       len(left_progs) + int(legacy), 0, len(left_progs) + int(legacy),
                       not left_progs and not legacy)
        self.logs.append(agent.log_path)
        self.agent = start_agent(self.cluster)
        log("kvscope (second run, pid %d) attached" % self.agent.proc.pid)

    def second_run(self):
        c, load, all3 = self.cluster, self.load, [0, 1, 2]
        s4 = quiet_snapshot(self.agent, c, all3)
        load.reset()
        enable_auth(c)
        for m in all3:
            self.gw.authenticate(m, "root", ROOT_PW)
            self.gw.authenticate(m, "reader", READER_PW)
        STATUS_AUTH[0] = (self.gw, "root")
        log("auth enabled; root and reader authenticated on every member")
        load.run(all3, 700, user="root", denied=True, start=20000)
        self.move_leader("root:" + ROOT_PW)
        load.run(all3, 500, user="root", denied=True, start=30000)
        log("load 4: 1200 requests as root and reader")
        check_budget("the second comparison")
        s5 = quiet_snapshot(self.agent, c, all3)
        for m in all3:
            inc = compare_counters(self.table, "2", c.names[m],
                                   [(s4.per_member[m], s5.per_member[m])])
            compare_gateway(self.table, "2", c.names[m], inc, load.tally.get(m, {}))
        compare_gauges(self.table, "2", self.agent, c, all3)
        self.scenario_row("2", load)

    def move_leader(self, user=None):
        """Hand leadership to the next member: a leader change every member sees."""
        c, all3 = self.cluster, [0, 1, 2]
        wait_for(lambda: leader_of(c, all3) is not None, 10, step=0.2, what="a leader")
        leader = leader_of(c, all3)
        target = (leader + 1) % 3
        st = member_status(c, all3)
        auth = ["--user=" + user] if user else []
        c.etcdctl(leader, *auth, "move-leader", "%x" % int(st[target]["id"]))
        wait_for(lambda: leader_of(c, all3) == target, 10, step=0.2, what="the moved leader")
        log("leader moved %s -> %s" % (c.names[leader], c.names[target]))

    def scenario_row(self, run, load):
        """The designed failures failed as designed and every request got an answer."""
        bad = len(load.surprises) + load.unanswered
        for s in load.surprises[:5]:
            log("unexpected answer: " + s)
        self.table.add(run, "scenario", "designed failures as designed, all answered (client)",
                       "%d designed, %d unanswered" % (load.designed, load.unanswered),
                       "-", bad, bad == 0)

    def close(self, show_logs):
        if self.agent:
            if self.agent.proc.poll() is None:
                self.agent.stop()
            self.logs.append(self.agent.log_path)
        if self.cluster:
            stop_cluster(self.cluster)
        for path in self.logs:
            try:
                with open(path) as f:
                    tail = f.read().splitlines()[-15:]
                os.unlink(path)
            except OSError:
                continue
            if show_logs:
                print("--- last lines of %s" % path)
                print("\n".join(tail))


def copy_tally(tally):
    return {m: dict(v) for m, v in tally.items()}


def other_kvscopes(own_pid):
    """Pids of other kvscope processes on the host (other suites may run one,
    perhaps from a binary rebuilt since, which /proc shows as deleted)."""
    out = set()
    names = {"kvscope", os.path.basename(KVSCOPE)}
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == own_pid:
            continue
        try:
            with open("/proc/%s/comm" % entry) as f:
                comm = f.read().strip()
            exe = os.readlink("/proc/%s/exe" % entry)
        except OSError:
            continue
        exe = exe[:-len(" (deleted)")] if exe.endswith(" (deleted)") else exe
        if comm in names or os.path.basename(exe) in names:
            out.add(int(entry))
    return out


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


def add_tallies(a, b):
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def sub_tallies(a, b):
    return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}


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


def main():
    DEADLINE[0] = time.time() + BUDGET_SECONDS
    build = build_line()
    print(build)
    return run_and_report(Scenario(), "fidelity", TABLE_PATH, "# kvscope fidelity\n\n" + build)


if __name__ == "__main__":
    sys.exit(main())
