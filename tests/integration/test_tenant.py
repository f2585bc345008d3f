"""Hostile tenants of a shared node: each attack runs as an unprivileged
user against discovery and the exposition, while a real cluster's figures
stay exact against etcd's own, a real Prometheus keeps scraping, the
agent's memory stays bounded and SIGTERM still ends it within 2 s."""

import os
import shutil
import subprocess
import tempfile
import time
import unittest

from kvtest import (PLAIN_KVSCOPE, Agent, Cluster, delta, etcd_requests, free_port, has,
                    in_written_order, kvscope_requests, quiet_counts, value, wait_for)
from kvtest.tenant import (ETCD, REDIS_SERVER, RSS_LIMIT, TENANT, Prometheus, rss_bytes,
                           stop_and_remove, stop_within, tenant_etcd, tenant_redis,
                           tenant_uid)

load_tests = in_written_order
MIB = 1024 * 1024


def targets_of(m, prefix):
    """{target: attached} of the targets whose name starts with prefix."""
    return {dict(ls)["target"]: v for (n, ls), v in m.items()
            if n == "kvscope_target_attached" and dict(ls)["target"].startswith(prefix)}


def series_of(m, target):
    return [n for (n, ls) in m if dict(ls).get("target") == target]


class TenantSuite(unittest.TestCase):
    """The attacks of a shared node's tenants on discovery and the exposition.
    Two agents watch this cluster's names (its tag) and whatever a tenant
    starts under them: the plain build, whose memory and stop time are the
    DaemonSet's, and the sanitized build, which catches memory errors on the
    same attacks. Prometheus scrapes both. Attacks that need other settings
    get an agent of their own."""

    RECLAIM_S = 12  # the watching agents' --target.reclaim-after

    @classmethod
    def setUpClass(cls):
        self = cls
        self.closed = False
        self.tenants = []
        self.agents = []
        self.prom = None
        self.cluster = Cluster()
        try:
            self.tag = self.cluster.names[0].rsplit("-", 1)[0]
            flags = ("--target.name=%s*" % self.tag, "--target.reclaim-after=%ds" % self.RECLAIM_S)
            self.agent = Agent((), *flags, binary=PLAIN_KVSCOPE)
            self.agents.append(self.agent)
            self.san = self.start_agent(*flags)
            self.watching = [self.agent, self.san]
            for a in self.watching:
                a.wait_attached(self.cluster.names, timeout=20)
            self.prom = Prometheus(self.agent.port, self.san.port)
            self.prom.assert_up()
        except Exception:
            self.close(self)
            raise
        print("  tenant: %s (uid %d); cluster %s" % (TENANT, tenant_uid(), self.tag))

    @classmethod
    def start_agent(cls, *flags):
        agent = Agent([], *flags)
        cls.agents.append(agent)
        return agent

    def stop_agent(self, agent):
        assert agent.stop() == 0, "kvscope exit: %s" % agent.logtext()[-3000:]
        self.agents.remove(agent)

    def scrape_all(self):
        return [a.scrape() for a in self.watching]

    def tenant(self, proc):
        self.tenants.append(proc)
        return proc

    def end_tenant(self, proc):
        proc.stop()
        self.tenants.remove(proc)

    def assert_cluster_exact(self, prefix):
        """Known puts on every member: kvscope's counts equal what was sent
        and what etcd itself counted."""
        c = self.cluster

        def read(k, e):
            return tuple((tuple(sorted(kvscope_requests(k, n).items())),
                          tuple(sorted(etcd_requests(e[i]).items())))
                         for i, n in enumerate(c.names))
        k0, e0 = quiet_counts(self.agent, c, [0, 1, 2], read)
        s0 = self.san.scrape()
        for m in range(3):
            for i in range(3 + m):
                c.etcdctl(m, "put", "%s/%d-%d" % (prefix, m, i), "v")
        k1, e1 = quiet_counts(self.agent, c, [0, 1, 2], read)
        s1 = self.san.scrape()
        for m, n in enumerate(c.names):
            want = {("Put", "200"): 3 + m}
            got = delta(kvscope_requests(k1, n), kvscope_requests(k0, n))
            san = delta(kvscope_requests(s1, n), kvscope_requests(s0, n))
            etcd = delta(etcd_requests(e1[m]), etcd_requests(e0[m]))
            assert got == want, "%s: kvscope %s, sent %s" % (n, got, want)
            assert san == want, "%s: sanitized kvscope %s, sent %s" % (n, san, want)
            assert etcd == want, "%s: etcd %s, sent %s" % (n, etcd, want)

    def check_through(self, what, since):
        """What must hold through every attack."""
        for agent in self.watching:
            assert agent.proc.poll() is None, "kvscope exited: %s" % agent.logtext()[-3000:]
        agent = self.agent
        self.assert_cluster_exact("hostile-" + what)
        self.prom.assert_up(since)
        rss, hwm = rss_bytes(agent.proc.pid)
        assert hwm < RSS_LIMIT, "kvscope peak RSS %.0f MiB" % (hwm / MIB)
        print("  %s: cluster exact, Prometheus up, RSS %.1f MiB (peak %.1f)" % (
            what, rss / MIB, hwm / MIB))

    def on_every_agent(self, pred, timeout, what):
        """Waits until pred(metrics) holds on every watching agent."""
        wait_for(lambda: all(pred(m) for m in self.scrape_all()), timeout, what=what)

    def test_two_long_names(self):
        """etcd --name mmmm... twice: names of 63+ bytes once sent discovery
        into endless recursion, deaf to new stores and to SIGTERM."""
        t0 = time.time()
        name = self.tag + "m" * 70
        a = self.tenant(tenant_etcd(name))
        b = self.tenant(tenant_etcd(name))

        def both(m):
            got = targets_of(m, self.tag + "mmm")
            return len(got) == 2 and all(got.values())
        self.on_every_agent(both, 15, "both long-named etcds attached")
        for m in self.scrape_all():
            got = targets_of(m, self.tag + "mmm")
            print("  targets: %s" % sorted(got))
            assert all(len(n.encode()) <= 63 for n in got), got
            assert any(n.endswith("-%d" % p.pid) for n in got for p in (a, b)), got
        # discovery still works: a store started afterwards is attached
        c = self.tenant(tenant_etcd(self.tag + "-after"))
        self.on_every_agent(lambda m: value(m, "kvscope_target_attached",
                                            target=self.tag + "-after") == 1, 15,
                            "a store started after the attack attached")
        for p in (a, b, c):
            self.end_tenant(p)
        self.check_through("long-names", t0)

    def test_invalid_utf8_name(self):
        """etcd --name $'bad\\xffname': Prometheus rejects a whole scrape with
        one invalid byte; the name must reach it valid, and the gone target
        must leave once its slot is reclaimed."""
        t0 = time.time()
        raw = self.tag.encode() + b"-bad\xffname"
        shown = self.tag + "-bad\ufffdname"
        p = self.tenant(tenant_etcd(raw))
        self.on_every_agent(lambda m: value(m, "kvscope_target_attached", target=shown) == 1, 15,
                            "the bad-named etcd attached")
        self.prom.assert_up(time.time())
        # PromQL itself refuses U+FFFD in a string: match it with "."
        res = self.prom.query('kvstore_target_up{target=~"%s-bad.name"}' % self.tag)
        assert len(res) == 2 and all(r["value"][1] == "1" and r["metric"]["target"] == shown
                                     for r in res), res
        self.end_tenant(p)
        t_stop = time.time()
        self.on_every_agent(lambda m: has(m, "kvstore_target_up", target=shown) and
                            value(m, "kvstore_target_up", target=shown) == 0, 3,
                            "target_up 0 for the stopped etcd")
        # visible while within --target.reclaim-after, gone after it
        time.sleep(max(0, t_stop + self.RECLAIM_S - 3 - time.time()))
        for m in self.scrape_all():
            assert has(m, "kvstore_target_up", target=shown), \
                "series gone before --target.reclaim-after"
        self.on_every_agent(lambda m: not series_of(m, shown), 8,
                            "the gone target's series removed after reclaim")
        print("  gone target removed %.1fs after it stopped (reclaim after %ds)" % (
            time.time() - t_stop, self.RECLAIM_S))
        self.check_through("bad-utf8", t0)

    def test_slots_given_back(self):
        """--max-targets=2 and two etcds that came and went: a third is
        watched once their slots are reclaimed. Then Redis, named
        comm-pid, restarted more times than there are slots."""
        t0 = time.time()
        agent = self.start_agent("--max-targets=2", "--target.name=%s-solo*" % self.tag,
                                 "--target.reclaim-after=3s")
        first = [self.tenant(tenant_etcd("%s-solo%d" % (self.tag, i))) for i in (1, 2)]
        wait_for(lambda: len([v for v in targets_of(agent.scrape(), self.tag + "-solo").values()
                              if v == 1]) == 2, 20, what="two etcds attached")
        for p in first:
            self.end_tenant(p)
        third = self.tenant(tenant_etcd(self.tag + "-solo3"))
        wait_for(lambda: value(agent.scrape(), "kvscope_target_attached",
                               target=self.tag + "-solo3") == 1, 10,
                 what="the third etcd attached once slots were given back")
        m = agent.scrape()
        assert set(targets_of(m, self.tag + "-solo")) == {self.tag + "-solo3"}, targets_of(m, "")
        assert value(m, "kvscope_targets_reclaimed_total") == 2, value(
            m, "kvscope_targets_reclaimed_total")
        self.end_tenant(third)
        self.stop_agent(agent)
        self.redis_restarts()
        self.check_through("slots", t0)

    def redis_restarts(self, slots=3, restarts=8):
        """Redis's targets are comm-pid: every restart is a new target."""
        work = tempfile.mkdtemp(prefix="kvscope-hostile-redis-")
        os.chmod(work, 0o755)
        binary = os.path.join(work, "redis-server")
        shutil.copy(REDIS_SERVER, binary)  # a path only this test runs
        agent = self.start_agent("--max-targets=%d" % slots, "--target.exe=" + binary,
                                 "--target.reclaim-after=2s")
        try:
            for i in range(restarts):
                r = self.tenant(tenant_redis(binary))
                target = "redis-server-%d" % r.pid
                wait_for(lambda: value(agent.scrape(), "kvscope_target_attached",
                                       target=target) == 1, 20 if i == 0 else 10,
                         what="restart %d of %d attached" % (i + 1, restarts))
                self.end_tenant(r)
            m = agent.scrape()
            listed = targets_of(m, "redis-server-")
            print("  %d Redis restarts on %d slots: attached each; %d listed, %d reclaimed" % (
                restarts, slots, len(listed), value(m, "kvscope_targets_reclaimed_total")))
            assert len(listed) <= slots
            assert value(m, "kvscope_targets_reclaimed_total") >= restarts - slots
            self.stop_agent(agent)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def test_squatting_refused_by_policy(self):
        """Two copies of the packaged etcd, started by the tenant, must not
        take the slots the operator meant for the store's owner."""
        t0 = time.time()
        agent = self.start_agent("--max-targets=2", "--target.uid=0",
                                 "--target.name=%s-sq*" % self.tag)
        squat = [self.tenant(tenant_etcd("%s-sq%d" % (self.tag, i))) for i in (1, 2)]
        for p in squat:
            assert p.uid() == tenant_uid()
        real = RootEtcd(self.tag + "-sq-real")
        try:
            wait_for(lambda: value(agent.scrape(), "kvscope_target_attached",
                                   target=self.tag + "-sq-real") == 1, 20,
                     what="the owner's etcd attached")
            time.sleep(1.0)  # the squatters had every chance
            m = agent.scrape()
            assert set(targets_of(m, self.tag)) == {self.tag + "-sq-real"}, targets_of(m, "")
            assert value(m, "kvscope_attach_errors_total") == 0, [
                (n, dict(ls), v) for (n, ls), v in m.items()
                if n == "kvscope_attach_errors_total" and v]
            for p in squat:
                assert ("pid=%d " % p.pid) not in agent.logtext()
        finally:
            real.stop()
            for p in squat:
                self.end_tenant(p)
        self.stop_agent(agent)
        self.check_through("squatting", t0)

    def test_impersonation_kept_apart(self):
        """While a member is down, the tenant starts etcd under its name: it
        must get a target of its own, and the member, back, its own series."""
        t0 = time.time()
        c = self.cluster
        st = c.status()
        victim = [i for i, n in enumerate(c.names) if not st[n][2]][-1]
        name = c.names[victim]

        def puts(m, n):
            return value(m, "kvstore_requests_total", target=n, method="Put")
        before = [puts(m, name) for m in self.scrape_all()]
        c.kill(victim)
        self.on_every_agent(lambda m: value(m, "kvstore_target_up", target=name) == 0, 3,
                            "the member's target_up 0")
        fake = self.tenant(tenant_etcd(name))
        own = "%s-%d" % (name, fake.pid)
        self.on_every_agent(lambda m: value(m, "kvscope_target_attached", target=own) == 1, 10,
                            "the impostor under a name of its own")
        for i in range(4):
            subprocess.run(["etcdctl", "--endpoints", fake.client_url, "put", "imp/%d" % i, "x"],
                           env=dict(os.environ, ETCDCTL_API="3"), check=True,
                           capture_output=True, timeout=30)
        for m, b in zip(self.scrape_all(), before):
            assert puts(m, own) == 4, puts(m, own)
            assert puts(m, name) == b and value(m, "kvstore_target_up", target=name) == 0
            assert value(m, "kvstore_target_info", target=own, exe=ETCD) == 1
        c.restart(victim)
        self.on_every_agent(lambda m: value(m, "kvstore_target_info", target=name,
                                            pid=str(c.pids[victim])) == 1, 10,
                            "the member back in its own slot")
        for i in range(3):
            c.etcdctl(victim, "put", "imp/member%d" % i, "v")
        for m, b in zip(self.scrape_all(), before):
            assert puts(m, name) == b + 3, (puts(m, name), b)
            assert puts(m, own) == 4
        self.end_tenant(fake)
        self.check_through("impersonation", t0)

    def test_exec_storm(self):
        """3,000 short-lived processes from the tenant: discovery acts on the
        events alone, so the agent's CPU barely moves (printed, not timed)."""
        t0 = time.time()
        cpu0, forks0 = cpu_seconds(self.agent.proc.pid), host_forks()
        r = subprocess.run(["runuser", "-u", TENANT, "--", "sh", "-c",
                            "i=0; while [ $i -lt 3000 ]; do /bin/true; i=$((i+1)); done"],
                           timeout=300)
        assert r.returncode == 0
        took = time.time() - t0
        cpu, forks = cpu_seconds(self.agent.proc.pid) - cpu0, host_forks() - forks0
        # everything else on the host and the cluster's own load count too
        print("  3000 execs in %.1fs: kvscope used %.3fs CPU meanwhile, while the host forked "
              "%d times" % (took, cpu, forks))
        self.check_through("exec-storm", t0)

    def test_sigterm_within_2s_after_all_that(self):
        self.close(type(self))

    @classmethod
    def tearDownClass(cls):
        if not cls.closed:
            cls.close(cls)

    @staticmethod
    def close(self):
        """SIGTERM ends the plain agent within 2 s, the sanitized one cleanly;
        everything else is stopped by PID."""
        self.closed = True
        try:
            if getattr(self, "agent", None) and self.agent.proc.poll() is None:
                took = stop_within(self.agent)
                print("  SIGTERM: kvscope exited in %.2fs" % took)
            if getattr(self, "san", None) and self.san.proc.poll() is None:
                assert self.san.stop() == 0, self.san.logtext()[-3000:]
        finally:
            for p in list(self.tenants):
                p.stop()
            for a in self.agents:
                if a.proc.poll() is None:
                    a.proc.kill()
                    a.proc.wait()
            if self.prom:
                self.prom.stop()
            self.cluster.stop()


def host_forks():
    """Processes the host has created since boot (/proc/stat)."""
    with open("/proc/stat") as f:
        return int([l for l in f if l.startswith("processes ")][0].split()[1])


def cpu_seconds(pid):
    """utime + stime of pid, from /proc/PID/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RootEtcd:
    """A one-member etcd run by root: the store the operator means to watch."""

    def __init__(self, name):
        self.dir = tempfile.mkdtemp(prefix="kvscope-owner-")
        client, peer = free_port(), free_port()
        curl, purl = "http://127.0.0.1:%d" % client, "http://127.0.0.1:%d" % peer
        self.log = open(os.path.join(self.dir, "etcd.log"), "w")
        self.proc = subprocess.Popen(
            [ETCD, "--name", name, "--data-dir", os.path.join(self.dir, "data"),
             "--listen-client-urls", curl, "--advertise-client-urls", curl,
             "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
             "--initial-cluster", "%s=%s" % (name, purl)],
            stdout=self.log, stderr=subprocess.STDOUT)

    def stop(self):
        stop_and_remove(self.proc, self.log, self.dir)

