"""Core agent against a real 3-member etcd cluster: kvscope's figures must
equal what was sent and what etcd itself counts."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

from kvtest import (Agent, Cluster, bpf_fds, delta, drive_load, etcd_build, ETCD, etcd_requests, free_port, has,
                    in_written_order, kvscope_links, kvscope_requests, parse_metrics,
                    uprobe_events, value, wait_for, KVSCOPE, MAX_REQUEST_BYTES, ROOT)

load_tests = in_written_order

METHODS = ["Range", "Put", "DeleteRange", "Txn", "Compact"]


def etcd_handled(cluster, member):
    """{(method, status): count} from etcd's own grpc_server_handled_total."""
    return etcd_requests(cluster.own_metrics(member))


class CoreSuite(unittest.TestCase):
    """One cluster and one agent for all the tests, in the order written."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster("--max-request-bytes=%d" % MAX_REQUEST_BYTES, "--metrics=extensive")
        cls.addClassCleanup(cls.cluster.stop)
        cls.agent = Agent(cls.cluster.pids)
        cls.addClassCleanup(cls.agent.stop)

    def test_attaches(self):
        # How fast it attaches is the bench's to measure; here it must attach.
        self.agent.wait_attached(self.cluster.names)
        m = self.agent.scrape()
        for name, pid in zip(self.cluster.names, self.cluster.pids):
            build = etcd_build()
            assert value(m, "kvstore_target_info", target=name, pid=str(pid),
                         version=build["version"], store="etcd",
                         profile=build["profile"]) == 1, name
            assert value(m, "kvstore_target_up", target=name) == 1

    def test_raft_gauges_present(self):
        def present():
            m = self.agent.scrape()
            return all(value(m, "kvstore_raft_term", target=n) > 0 and
                       value(m, "kvstore_raft_commit_index", target=n) > 0
                       for n in self.cluster.names)
        wait_for(present, 5, what="term and commit index for every member")

    def test_request_counts_exact(self):
        c = self.cluster
        before_k = self.agent.scrape()
        before_e = [etcd_handled(c, m) for m in range(3)]
        expected = drive_load(c)
        time.sleep(0.3)
        after_k = self.agent.scrape()
        for m, name in enumerate(c.names):
            got = delta(kvscope_requests(after_k, name), kvscope_requests(before_k, name))
            etcd = delta(etcd_handled(c, m), before_e[m])
            assert got == expected[m], "%s: kvscope %s != sent %s" % (name, got, expected[m])
            assert got == etcd, "%s: kvscope %s != etcd %s" % (name, got, etcd)
        self.after_load = after_k

    def test_histogram_count_matches_counter(self):
        m = self.agent.scrape()
        for name in self.cluster.names:
            for method in METHODS:
                total = value(m, "kvstore_requests_total", target=name, method=method)
                count = value(m, "kvstore_request_duration_seconds_count", target=name, method=method)
                inf = value(m, "kvstore_request_duration_seconds_bucket", target=name, method=method,
                            le="+Inf")
                s = value(m, "kvstore_request_duration_seconds_sum", target=name, method=method)
                assert total == count == inf, (name, method, total, count, inf)
                assert (s > 0) == (count > 0), (name, method, s, count)
                first = value(m, "kvstore_request_duration_seconds_bucket", target=name,
                              method=method, le="0.0001")
                assert first <= count

    def test_raft_matches_endpoint_status(self):
        c = self.cluster

        def agree():
            st = c.status()
            m = self.agent.scrape()
            mine = {n: (value(m, "kvstore_raft_term", target=n),
                        value(m, "kvstore_raft_commit_index", target=n),
                        value(m, "kvstore_raft_leader", target=n) == 1) for n in c.names}
            return mine == st
        wait_for(agree, 5, step=0.3, what="term/commit/leader equal to etcdctl endpoint status")

    def test_leader_changes_match(self):
        c = self.cluster
        st = c.status()
        leader = [i for i, n in enumerate(c.names) if st[n][2]][0]
        follower = (leader + 1) % 3
        ids = {}
        out = c.etcdctl(leader, "member", "list", "-w", "json").stdout
        for mem in json.loads(out)["members"]:
            ids[mem["name"]] = mem["ID"]
        before_k = self.agent.scrape()
        before_e = [value(c.own_metrics(m), "etcd_server_leader_changes_seen_total") for m in range(3)]
        c.etcdctl(leader, "move-leader", "%x" % ids[c.names[follower]])

        def agree():
            m = self.agent.scrape()
            for i, n in enumerate(c.names):
                mine = value(m, "kvstore_raft_leader_elections_total", target=n) - \
                    value(before_k, "kvstore_raft_leader_elections_total", target=n)
                theirs = value(c.own_metrics(i), "etcd_server_leader_changes_seen_total") - before_e[i]
                if mine != theirs or mine < 1:
                    return False
            return True
        wait_for(agree, 5, step=0.3, what="leader changes equal to etcd's own")

    def test_storage_matches_etcd(self):
        c = self.cluster
        before_k = self.agent.scrape()
        before_e = [c.own_metrics(m) for m in range(3)]
        for i in range(10):
            c.etcdctl(i % 3, "put", "it/s%d" % i, "v" * 200)

        def agree():
            m = self.agent.scrape()
            for i, n in enumerate(c.names):
                e = c.own_metrics(i)
                pairs = [
                    ("wal_sync", "etcd_disk_wal_fsync_duration_seconds_count"),
                    ("backend_commit", "etcd_disk_backend_commit_duration_seconds_count"),
                ]
                for op, theirs in pairs:
                    mine = value(m, "kvstore_storage_operations_total", target=n, operation=op) - \
                        value(before_k, "kvstore_storage_operations_total", target=n, operation=op)
                    if mine != value(e, theirs) - value(before_e[i], theirs) or mine == 0:
                        print("  waiting: %s %s kvscope %d etcd %d" % (n, op, mine, value(e, theirs) - value(before_e[i], theirs)))
                        return False
                if value(m, "kvstore_storage_size_bytes", target=n) != \
                        value(e, "etcd_mvcc_db_total_size_in_bytes"):
                    print("  waiting: %s size kvscope %d etcd %d" % (n, value(m, "kvstore_storage_size_bytes", target=n), value(e, "etcd_mvcc_db_total_size_in_bytes")))
                    return False
            return True
        wait_for(agree, 5, step=0.3, what="WAL syncs, backend commits and db size equal to etcd's")

    def test_member_signals_match_etcd(self):
        """Leader known, applied index, in-use size and the cluster ID: each
        equal to what the same member says of itself once the cluster rests."""
        c = self.cluster
        c.etcdctl(0, "put", "it/signals", "v")
        cluster_ids = {n: "%x" % st for n, st in c.cluster_ids().items()}
        # the cluster ID is read in etcd 3.4's profile; 3.5's does not read it yet
        with_cluster = etcd_build()["profile"] == "etcd-3.4"

        def agree():
            m = self.agent.scrape()
            for i, n in enumerate(c.names):
                e = c.own_metrics(i)
                pairs = [("kvstore_raft_has_leader", "etcd_server_has_leader"),
                         ("kvstore_raft_applied_index", "etcd_server_proposals_applied_total"),
                         ("kvstore_storage_size_in_use_bytes",
                          "etcd_mvcc_db_total_size_in_use_in_bytes")]
                for mine, theirs in pairs:
                    if value(m, mine, target=n) != value(e, theirs):
                        print("  waiting: %s %s %s != %s" % (n, mine, value(m, mine, target=n),
                                                           value(e, theirs)))
                        return False
                if with_cluster and \
                        not has(m, "kvstore_target_info", target=n, cluster=cluster_ids[n]):
                    print("  waiting: %s cluster label %s" % (n, cluster_ids[n]))
                    return False
            return True
        wait_for(agree, 10, step=0.3, what="has_leader, applied index, in-use size and cluster")

    def test_process_metrics_match_etcd(self):
        """The store's own process_* metrics, read by kvscope from /proc."""
        c = self.cluster
        m = self.agent.scrape()
        for i, n in enumerate(c.names):
            e = c.own_metrics(i)
            mine_rss = value(m, "kvstore_process_resident_memory_bytes", target=n)
            assert abs(mine_rss - value(e, "process_resident_memory_bytes")) < 8 << 20, n
            # etcd counts its own scrape's connection and the listing's descriptor
            mine_fds = value(m, "kvstore_process_open_fds", target=n)
            assert 0 < value(e, "process_open_fds") - mine_fds <= 4, (n, mine_fds)
            cpu0 = value(m, "kvstore_process_cpu_seconds_total", target=n)
            cpu = value(self.agent.scrape(), "kvstore_process_cpu_seconds_total", target=n)
            assert 0 < cpu0 <= cpu <= value(c.own_metrics(i), "process_cpu_seconds_total"), n

    def test_other_etcd_not_counted(self):
        """A fourth etcd runs the same binary, so kvscope's uprobes trap in it
        too; the kernel-side filter must leave its requests uncounted."""
        port, peer = free_port(), free_port()
        data = tempfile.mkdtemp(prefix="kvscope-other-")
        url = "http://127.0.0.1:%d" % port
        other = subprocess.Popen(
            [ETCD, "--name", "other", "--data-dir", data,
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-advertise-peer-urls", "http://127.0.0.1:%d" % peer,
             "--initial-cluster", "other=http://127.0.0.1:%d" % peer],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            env = dict(os.environ, ETCDCTL_API="3")
            ctl = ["etcdctl", "--endpoints", url, "--command-timeout=5s"]
            wait_for(lambda: subprocess.run(ctl + ["endpoint", "health"], env=env,
                                            capture_output=True).returncode == 0, 20,
                     what="the other etcd")
            before = self.agent.scrape()
            for i in range(20):
                subprocess.run(ctl + ["put", "other/k%d" % i, "v"], env=env, check=True,
                               capture_output=True, timeout=30)
            after = self.agent.scrape()
            assert value(after, "kvstore_requests_total") == value(before, "kvstore_requests_total")
            assert not any(dict(ls).get("target") == "other" for (_, ls) in after)
        finally:
            other.terminate()
            other.wait(15)
            shutil.rmtree(data, ignore_errors=True)

    def test_promtool_check_metrics(self):
        text = self.agent.scrape_text()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
            r.stdout + r.stderr

    def test_gzip_scrape(self):
        import gzip
        import urllib.request
        req = urllib.request.Request(self.agent.url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(req, timeout=5) as r:
            assert r.headers.get("Content-Encoding") == "gzip"
            body = gzip.decompress(r.read()).decode()
        assert parse_metrics(body)
        assert "kvstore_requests_total" in body

    def test_no_probe_left_after_sigterm(self):
        pid = self.agent.proc.pid
        ours = bpf_fds(pid).progs
        assert kvscope_links(ours), "kvscope's links should be visible while it runs"
        rc = self.agent.stop()
        assert rc == 0, "exit code %s; log:\n%s" % (rc, self.agent.logtext())
        assert not kvscope_links(ours), "links left: %s" % kvscope_links(ours)
        assert "libbpf_%d_" % pid not in uprobe_events()
        log = self.agent.logtext()
        assert "detaching every probe" in log, log
        assert "level=error" not in log, log


def go_module_of(binary):
    out = subprocess.run(["go", "version", "-m", binary], capture_output=True, text=True,
                         check=True).stdout
    return [l.split("\t")[2] for l in out.splitlines() if l.startswith("\tpath\t")][0]


class CommandLineTests(unittest.TestCase):
    """The command line and the probes listing, no cluster needed."""

    def test_bad_flag_exits_2(self):
        r = subprocess.run([KVSCOPE, "--no-such-flag"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 2, r.returncode
        assert "usage:" in r.stderr and "no-such-flag" in r.stderr, r.stderr

    def test_version_and_help(self):
        r = subprocess.run([KVSCOPE, "--version"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and r.stdout.startswith("kvscope, version "), r.stdout
        r = subprocess.run([KVSCOPE, "--help"], capture_output=True, text=True, timeout=10)
        assert r.returncode == 0 and "--web.listen-address" in r.stdout

    def test_probes_lists_cheap_sites(self):
        r = subprocess.run([KVSCOPE, "probes", ETCD], capture_output=True, text=True,
                           timeout=30)
        assert r.returncode == 0, r.stdout + r.stderr
        assert "profile: %s " % etcd_build()["profile"] in r.stdout, r.stdout
        rows = [l for l in r.stdout.splitlines() if l.startswith(("go.etcd.io", "github.com"))]
        assert len(rows) >= 16, r.stdout
        per_request = [l for l in rows if "request" in l]
        assert per_request and all("single-step" not in l for l in per_request), r.stdout

    def test_probes_unsupported_binary(self):
        r = subprocess.run([KVSCOPE, "probes", "/bin/true"], capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "unsupported:" in r.stdout, r.stdout

    def test_probes_unknown_version(self):
        """An etcd of a version no profile is for (the 3.5 stand-in built as
        3.6.0, its WAL sync renamed): the nearest profile and its first failure."""
        binary = unknown_version_etcd()
        r = subprocess.run([KVSCOPE, "probes", binary], capture_output=True, text=True,
                           timeout=30)
        print("  " + r.stdout.strip().splitlines()[-1])
        assert r.returncode == 1, r.stdout
        assert "etcd 3.6.0: no profile for this version; nearest etcd-3.5" in r.stdout, \
            r.stdout
        assert "etcd-3.5: function go.etcd.io/etcd/server/wal.(*WAL).sync " \
            "(nor its other spellings) not found" in r.stdout, r.stdout

    def test_unsupported_binary_and_broken_profile(self):
        """A store binary no profile fits: one log line, attached 0, an attach
        error; a broken profile in --profile.dir: rejected with file and line,
        and the agent serves on."""
        fixture = os.path.join(ROOT, "build", "fixtures", "goserver")
        pdir = tempfile.mkdtemp(prefix="kvscope-profiles-")
        with open(os.path.join(pdir, "toystore.yaml"), "w") as f:
            f.write(TOY_PROFILE % go_module_of(fixture))
        with open(os.path.join(pdir, "broken.yaml"), "w") as f:
            f.write("format: 1\nname: broken\nstore: x\nlanguage: go\nmatch: [\n")
        proc = subprocess.Popen([fixture])
        try:
            agent = Agent([proc.pid], "--profile.dir=" + pdir)
        except Exception:
            proc.kill()
            raise
        try:
            name = "goserver-%d" % proc.pid
            wait_for(lambda: has(agent.scrape(), "kvscope_target_attached", target=name), 5,
                     what="the toy store listed")
            m = agent.scrape()
            assert value(m, "kvscope_target_attached", target=name) == 0
            assert value(m, "kvscope_attach_errors_total", reason="unsupported_version") == 1
            assert value(m, "kvscope_attach_errors_total", reason="unsupported_binary") == 0
            log = agent.logtext()
            skipped = [l for l in log.splitlines() if "target skipped" in l]
            assert len(skipped) == 1 and "no profile for this version" in skipped[0] and \
                "nearest toystore-1" in skipped[0], log
            assert "broken.yaml:" in log and "profile rejected" in log, log
        finally:
            try:
                agent.stop()
            finally:
                proc.terminate()
                proc.wait(10)
                shutil.rmtree(pdir, ignore_errors=True)


def unknown_version_etcd():
    """The etcd 3.5 stand-in built as 3.6.0 with its WAL sync renamed, under
    build/fixtures; built once (a stock-kernel guest without Go finds it)."""
    binary = os.path.join(ROOT, "build", "fixtures", "etcd-3.6.0-standin")
    if os.path.exists(binary):
        return binary
    tmp = tempfile.mkdtemp(prefix="kvscope-etcd36-")
    try:
        shutil.copytree(os.path.join(ROOT, "tests", "fixtures", "etcdv3"),
                        os.path.join(tmp, "src"))
        wal = os.path.join(tmp, "src", "wal", "wal.go")
        with open(wal) as f:
            text = f.read()
        with open(wal, "w") as f:
            f.write(text.replace("sync()", "fsync()"))
        env = dict(os.environ, GOFLAGS="-mod=mod", GOPROXY="off", CGO_ENABLED="0",
                   GOCACHE=os.path.join(ROOT, "build", "fixtures", ".gocache", "it"))
        subprocess.run(["go", "build", "-trimpath", "-ldflags",
                        "-s -w -X go.etcd.io/etcd/api/v3/version.Version=3.6.0", "-o",
                        binary + ".tmp", "."], cwd=os.path.join(tmp, "src"), env=env,
                       check=True, timeout=300)
        os.rename(binary + ".tmp", binary)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return binary


TOY_PROFILE = """format: 1
name: toystore-1
store: toystore
language: go
match:
  go_module: %s
  version_regex: '^1\\.'
version:
  go_string: '^[0-9]+\\.[0-9]+\\.[0-9]+$'
methods: [Get]
probes:
  - function: main.handleGet
    role: request_start
    method: Get
"""
