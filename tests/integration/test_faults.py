"""Faults around the agent: a member SIGKILLed under load (again and
again), kvscope itself SIGKILLed, more members than --max-targets, a
profile whose offsets fault, and the number of series a mixed load makes."""

import base64
import http.client
import json
import os
import random
import shutil
import signal
import tempfile
import threading
import time
import unittest

from kvtest import (ROOT, GRPC_TO_STATUS, Agent, Cluster, bpf_fds, bpf_ids_alive, delta,
                    etcd_requests, in_written_order, kvscope_links, kvscope_requests,
                    quiet_counts, value, wait_for)

load_tests = in_written_order

METHODS = ["Range", "Put", "DeleteRange", "Txn", "Compact"]
MAX_REQUEST_BYTES = 4096
LOST_REASONS = ["inflight_full", "read_fault", "stale", "unmatched_end", "ring_full"]


def b64(s):
    return base64.b64encode(s.encode()).decode()


def gateway(client_url, path, body, timeout=3):
    """POST a JSON body to etcd's gRPC gateway; the HTTP status, 0 when the
    member did not answer."""
    host = client_url[len("http://"):]
    conn = http.client.HTTPConnection(host, timeout=timeout)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        r = conn.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException):
        return 0
    finally:
        conn.close()


class Load:
    """Threads sending puts and reads through the gateway to chosen members
    until stopped; bounded in count per thread and in time."""

    def __init__(self, cluster, members, threads=6, max_per_thread=3000, max_seconds=30):
        self.cluster, self.members = cluster, members
        self.stop_event = threading.Event()
        self.sent = self.failed = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self.worker, args=(i, max_per_thread,
                                                                   max_seconds))
                        for i in range(threads)]

    def worker(self, n, max_count, max_seconds):
        rnd = random.Random(n)
        deadline = time.time() + max_seconds
        for i in range(max_count):
            if self.stop_event.is_set() or time.time() > deadline:
                return
            url = self.cluster.clients[self.members[(n + i) % len(self.members)]]
            key = b64("faults/k%d" % rnd.randrange(200))
            if i % 3:
                st = gateway(url, "/v3/kv/put", {"key": key, "value": b64("v%d" % i)})
            else:
                st = gateway(url, "/v3/kv/range", {"key": key})
            with self.lock:
                self.sent += 1
                self.failed += st != 200
            if st == 0:
                time.sleep(0.05)  # a dead member: do not spin

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop_event.set()
        for t in self.threads:
            t.join(10)


def leader_index(cluster):
    st = cluster.status()
    leaders = [i for i, n in enumerate(cluster.names) if st[n][2]]
    return leaders[0] if leaders else None


def move_leader_off(cluster, member):
    """Leadership away from `member`, so killing it starts no election."""
    wait_for(lambda: leader_index(cluster) is not None, 10, what="a leader")
    if leader_index(cluster) != member:
        return
    ids = {m["name"]: m["ID"] for m in
           json.loads(cluster.etcdctl(member, "member", "list", "-w", "json").stdout)["members"]}
    target = (member + 1) % 3
    cluster.etcdctl(member, "move-leader", "%x" % ids[cluster.names[target]])
    wait_for(lambda: leader_index(cluster) not in (None, member), 10, what="leader moved")


class FaultSuite(unittest.TestCase):
    """One cluster for all the tests, in the order written; the agents they
    start are killed at the end."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster("--max-request-bytes=%d" % MAX_REQUEST_BYTES, "--metrics=extensive")
        cls.addClassCleanup(cls.cluster.stop)
        cls.tag = cls.cluster.names[0].rsplit("-", 1)[0]
        cls.agents = []
        cls.addClassCleanup(lambda: [a.kill() for a in cls.agents])

    def start_named(self, *flags):
        agent = Agent([], "--target.name=" + self.tag + "-*", *flags)
        self.agents.append(agent)
        agent.wait_attached(self.cluster.names)
        return agent

    def start_pids(self, *flags):
        agent = Agent(self.cluster.pids, *flags)
        self.agents.append(agent)
        return agent

    def quiet(self, agent, members):
        """kvscope's and etcd's request counts of `members` once settled."""
        c = self.cluster

        def read(k, e):
            return [(kvscope_requests(k, c.names[m]), etcd_requests(e[m])) for m in members]
        k, e = quiet_counts(agent, c, members, read)
        return read(k, e), k

    def test_member_killed_mid_load(self):
        c, victim, survivors = self.cluster, 2, [0, 1]
        agent = self.start_named("--inflight.max-age=2s")
        before, _ = self.quiet(agent, survivors)
        for rnd in range(3):
            move_leader_off(c, victim)
            with Load(c, [0, 1, 2, 2]) as load:  # half the load on the victim
                time.sleep(1.5)
                c.kill(victim)
                time.sleep(1.0)
            c.restart(victim)
            wait_for(lambda: value(agent.scrape(), "kvstore_target_info", target=c.names[victim],
                                   pid=str(c.pids[victim])) == 1, 10, what="victim re-attached")
            # the sweep runs every 5 s; entries older than 2 s go
            wait_for(lambda: value(agent.scrape(), "kvscope_inflight_requests") <= 2, 15,
                     step=0.5, what="in-flight requests back to ~0 after round %d" % (rnd + 1))
            m = agent.scrape()
            print("  round %d: %d requests sent (%d failed); in flight %d, stale %d" % (
                rnd + 1, load.sent, load.failed, value(m, "kvscope_inflight_requests"),
                value(m, "kvscope_events_lost_total", reason="stale")))
            assert load.sent > 100, "the load did not run: %d requests" % load.sent
        after, m = self.quiet(agent, survivors)
        for i, member in enumerate(survivors):
            got = delta(after[i][0], before[i][0])
            etcd = delta(after[i][1], before[i][1])
            assert got and got == etcd, "%s: kvscope %s != etcd %s" % (c.names[member], got, etcd)
        assert value(m, "kvscope_events_lost_total", reason="inflight_full") == 0
        assert agent.proc.poll() is None

    def test_label_cardinality(self):
        """Series a mixed load makes stay within what 3 targets can have,
        whatever the keys: keys never become labels."""
        c = self.cluster
        agent = self.agents[0]
        for i in range(600):  # 600 distinct keys, every method, some errors
            url = c.clients[i % 3]
            key = b64("card/%d-%s" % (i, "x" * (i % 50)))
            gateway(url, "/v3/kv/put", {"key": key, "value": b64("v")})
            if i % 5 == 0:
                gateway(url, "/v3/kv/range", {"key": key})
            if i % 7 == 0:
                gateway(url, "/v3/kv/deleterange", {"key": key})
            if i % 11 == 0:
                gateway(url, "/v3/kv/txn", {"success": [{"requestPut": {"key": key,
                                                                        "value": b64("t")}}]})
            if i % 50 == 0:
                gateway(url, "/v3/kv/put", {"key": key, "value": b64("y" * MAX_REQUEST_BYTES)})
                gateway(url, "/v3/kv/range", {"key": key, "revision": 1})
        c.etcdctl(0, "compact", "2", check=False)
        m = agent.scrape()
        bound = series_bound(3)
        n = value(m, "kvscope_series")
        print("  kvscope_series %d, bound for 3 targets %d" % (n, bound))
        assert n == len(m), (n, len(m))
        assert n <= bound, "%d series, more than %d for 3 targets" % (n, bound)
        statuses = set(GRPC_TO_STATUS.values())
        for (name, labels), _ in m.items():
            ls = dict(labels)
            if "target" in ls:
                assert ls["target"] in c.names, (name, ls)
            if name.startswith("kvstore_request") and "method" in ls:
                assert ls["method"] in METHODS, (name, ls)
            if "status" in ls and name == "kvstore_requests_total":
                assert ls["status"] in statuses, (name, ls)

    def test_kvscope_sigkill(self):
        c = self.cluster
        old = self.agents[0]
        pid = old.proc.pid
        links, progs, _ = bpf_fds(pid)
        assert links and progs and kvscope_links(progs), "no links held: %s %s" % (links, progs)
        old.proc.send_signal(signal.SIGKILL)
        old.proc.wait(10)
        old.stop()

        def released():
            alive = bpf_ids_alive(links, progs)
            return not alive[0] and not alive[1] and not kvscope_links(progs)
        wait_for(released, 5, step=0.2, what="programs and links of the killed kvscope released")
        agent = self.start_pids()
        agent.wait_attached(c.names)
        self.assert_exact_puts(agent, [0, 1, 2], "sigkill")

    def assert_exact_puts(self, agent, members, prefix, counted=None):
        """Known puts on each member; kvscope counts them exactly (on
        `counted` members, the others not at all), as etcd does."""
        c = self.cluster
        counted = members if counted is None else counted
        before, _ = self.quiet(agent, members)
        for m in members:
            for i in range(5 + m):
                c.etcdctl(m, "put", "%s/%d-%d" % (prefix, m, i), "v")
        after, _ = self.quiet(agent, members)
        for i, m in enumerate(members):
            got = delta(after[i][0], before[i][0])
            etcd = delta(after[i][1], before[i][1])
            want = {("Put", "200"): 5 + m} if m in counted else {}
            assert got == want, "%s: kvscope %s, sent %s" % (c.names[m], got, want)
            assert etcd.get(("Put", "200")) == 5 + m, "%s: etcd %s" % (c.names[m], etcd)

    def test_max_targets(self):
        c = self.cluster
        agent = self.start_pids("--max-targets=2")

        def listed():
            m = agent.scrape()
            return sum(value(m, "kvscope_target_attached", target=n) for n in c.names) == 2 and \
                value(m, "kvscope_attach_errors_total", reason="too_many_targets") == 1
        wait_for(listed, 10, what="two attached, one refused")
        time.sleep(5)  # discovery runs again meanwhile: reported once only
        m = agent.scrape()
        attached = [i for i, n in enumerate(c.names)
                    if value(m, "kvscope_target_attached", target=n) == 1]
        assert len(attached) == 2, attached
        assert value(m, "kvscope_attach_errors_total", reason="too_many_targets") == 1
        lines = [l for l in agent.logtext().splitlines() if "too_many_targets" in l]
        assert len(lines) == 1, lines
        self.assert_exact_puts(agent, [0, 1, 2], "maxtargets", counted=attached)
        agent.stop()

    def test_profile_with_wrong_offsets(self):
        c = self.cluster
        pdir = tempfile.mkdtemp(prefix="kvscope-badprofile-")
        try:
            with open(os.path.join(ROOT, "profiles", "etcd-3.4.yaml")) as f:
                text = f.read()
            # raft.Term's offset, far past the struct: every term read faults
            broken = text.replace("    Term: 0x8\n", "    Term: 0x7fff0000\n")
            assert broken != text, "raft.Term was not found in the profile's structs"
            with open(os.path.join(pdir, "etcd-3.4.yaml"), "w") as f:
                f.write(broken)
            agent = self.start_pids("--profile.dir=" + pdir)
            agent.wait_attached(c.names)
            log = agent.logtext()
            assert "profile replaced" in log and pdir in log, log
            first = value(agent.scrape(), "kvscope_events_lost_total", reason="read_fault")
            time.sleep(1.0)  # ticks every 100 ms on every member
            m = agent.scrape()
            faults = value(m, "kvscope_events_lost_total", reason="read_fault")
            print("  read_fault %d -> %d in 1 s" % (first, faults))
            assert faults > first > 0, (first, faults)
            self.assert_exact_puts(agent, [0, 1, 2], "badprofile")
            assert agent.proc.poll() is None
            assert value(agent.scrape(), "kvstore_raft_commit_index", target=c.names[0]) > 0
            assert agent.stop() == 0
        finally:
            shutil.rmtree(pdir, ignore_errors=True)


def series_bound(targets):
    """Most series `targets` etcd targets can make, from etcd's profile and
    the agent's fixed families:
      requests_total          5 methods x 12 distinct statuses       60
      request_duration        5 methods x (16 buckets + sum + count) 90
      request_disk_wait       5 methods                               5
      storage_operations      6 operations x (ok, error)             12
      target/raft gauges      up, info, attached, size, in-use size,
                              term, commit, applied, leader,
                              has-leader, elections                  11
      process_*               cpu, resident memory, open fds          3
      disk_sync_duration      3 syscalls x 4 file classes x 20       240
      disk read/written bytes 2 x 4 file classes                      8
    plus the agent's own: 5 lost reasons, 7 attach errors, build info,
    series, scrape success and duration, in-flight, reclaimed slots,
    6 process_* = 24."""
    per_target = 60 + 90 + 5 + 12 + 11 + 3 + 240 + 8
    return targets * per_target + 24
