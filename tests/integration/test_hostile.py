#!/usr/bin/env python3
"""Hostile clients and hostile tenants.

The metrics endpoint against hostile clients on loopback: idle sockets,
huge headers, slow senders, a scrape storm and malformed requests. The
agent must stay up, keep serving other clients, and keep its file
descriptors and memory bounded (limits in agent/http.c: 64 connections,
16 per client address, 10 s timeout, 32 KiB per connection).

Then a shared node's tenants: each attack runs as an unprivileged user
(runuser), as any tenant could. Through every attack the real cluster's
request counts stay exact against etcd's own, a real Prometheus scraping the
agent keeps it "up", the agent's memory stays under the DaemonSet's limit,
and SIGTERM still ends it within 2 s."""

import http.client
import os
import random
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

from kvtest import (PLAIN_KVSCOPE, Agent, BinaryAgent, Cluster, Runner, delta, etcd_requests,
                    free_port, has, kvscope_requests, parse_metrics, quiet_counts, scrape_from,
                    value, wait_for)
from tenant import (ETCD, REDIS_SERVER, RSS_LIMIT, TENANT, Prometheus, rss_bytes, stop_within,
                    tenant_etcd, tenant_redis, tenant_uid)

TIMEOUT_S = 10  # the agent's connection timeout
PER_IP = 16  # the agent's per-address connection limit
ATTACKER = "127.0.0.1"
BYSTANDER = "127.0.0.2"  # another client address: per-address limits spare it
MIB = 1024 * 1024


def raw_exchange(port, data, source=ATTACKER, timeout=15):
    """Send `data` on a fresh connection, read until the server closes or
    `timeout`. Returns (reply bytes, how it ended): the server may close or
    reset while we still send, which is a clean refusal."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(source, 0))
    reply, ended = b"", "closed"
    try:
        try:
            s.sendall(data)
        except OSError as e:  # refused mid-send: read what it answered
            ended = "send: %s" % type(e).__name__
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return reply, "timeout"
            except OSError as e:
                return reply, "recv: %s" % type(e).__name__
            if not chunk:
                return reply, ended
            reply += chunk
        return reply, "timeout"
    finally:
        s.close()


def status_of(reply):
    """HTTP status of a raw reply, 0 when there is none."""
    line = reply.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[0].startswith(b"HTTP/") and \
        line[1].isdigit() else 0


def assert_refused(what, reply, ended, allowed):
    """An error status from `allowed`, or a close/reset with no answer at all."""
    st = status_of(reply)
    if st:
        assert st in allowed, "%s: answered %d, wanted one of %s" % (what, st, sorted(allowed))
    else:
        assert not reply, "%s: a reply that is not HTTP: %r" % (what, reply[:80])
        assert ended != "timeout", "%s: the server neither answered nor closed" % what


def complete_exposition(body):
    """The exposition parses and holds exactly as many samples as it says
    (kvscope_series), so a cut body cannot pass."""
    m = parse_metrics(body)
    assert body.endswith("\n"), "body does not end with a newline"
    n = value(m, "kvscope_series")
    assert n == len(m), "kvscope_series %d but %d samples" % (n, len(m))
    return m


def note_closed(pending, closed_at, t0, wait):
    """Move the sockets of `pending` ({fd: socket}) that the server closed
    within `wait` seconds into closed_at ({fd: seconds after t0})."""
    if not pending:
        return
    ep = select.epoll()
    try:
        for fd in pending:
            ep.register(fd, select.EPOLLIN | select.EPOLLRDHUP)
        events = ep.poll(wait)
    finally:
        ep.close()
    for fd, _ in events:
        try:
            data = pending[fd].recv(1)
        except OSError:
            data = b""
        assert not data, "the server sent %r to an idle socket" % data
        closed_at[fd] = time.time() - t0
        del pending[fd]


class HostileSuite:
    def __init__(self):
        self.cluster = Cluster()
        try:
            self.agent = Agent(self.cluster.pids)
            self.agent.wait_attached(self.cluster.names)
            # the disk probes attach last and add their own fds: settle first
            wait_for(lambda: "disk probes attached" in self.agent.logtext() or
                     "disk metrics off" in self.agent.logtext(), 15, what="disk probes")
        except Exception:
            self.stop_all()
            raise
        for i in range(6):  # some traffic, so the exposition has request series
            self.cluster.etcdctl(i % 3, "put", "hostile/k%d" % i, "v")

    def bystander_scrape(self, limit=1.0):
        """A scrape from another address answers completely within `limit` s."""
        st, body, took = scrape_from(self.agent.port, BYSTANDER, timeout=5)
        assert st == 200, "bystander scrape: HTTP %d" % st
        assert took < limit, "bystander scrape took %.2fs" % took
        return complete_exposition(body)

    def assert_up(self):
        assert self.agent.proc.poll() is None, "kvscope exited: %s\n%s" % (
            self.agent.proc.returncode, self.agent.logtext()[-3000:])
        self.bystander_scrape(limit=2.0)

    def test_idle_connections(self):
        fds_before = value(self.bystander_scrape(), "process_open_fds")
        socks = []
        try:
            t_open = time.time()
            for _ in range(300):
                socks.append(socket.create_connection(("127.0.0.1", self.agent.port), timeout=5,
                                                      source_address=(ATTACKER, 0)))
            pending = {s.fileno(): s for s in socks}
            closed_at = {}
            fds_held = []
            for _ in range(6):  # while the idle sockets are held
                note_closed(pending, closed_at, t_open, 0.5)
                fds_held.append(value(self.bystander_scrape(), "process_open_fds"))
            held = len(pending)
            assert max(fds_held) - fds_before <= PER_IP + 8, \
                "open fds grew from %d to %d with 300 idle sockets" % (fds_before, max(fds_held))
            limit = TIMEOUT_S + 6
            while pending and time.time() - t_open < limit:
                note_closed(pending, closed_at, t_open, 0.5)
            late = sorted(t for t in closed_at.values() if t > 3)
            print("  300 idle sockets: %d closed at once, %d held until %.1f-%.1fs; fds %d -> %d"
                  % (300 - held, held, min(late or [0]), max(late or [0]), fds_before,
                     max(fds_held)))
            assert not pending, "%d idle sockets still open %ds after they were opened" % (
                len(pending), limit)
            # the held ones lasted until the timeout, not dropped at random
            assert all(t >= TIMEOUT_S - 1 for t in late), late
        finally:
            for s in socks:
                s.close()
        wait_for(lambda: value(self.bystander_scrape(), "process_open_fds") <= fds_before + 2, 5,
                 what="open fds back to %d" % fds_before)
        self.assert_up()

    def test_huge_headers(self):
        for size in (64 * 1024, MIB):
            req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
            reply, ended = raw_exchange(self.agent.port, req)
            assert_refused("%d-byte header" % size, reply, ended, {431})
            self.assert_up()
        # many headers adding up past the connection's memory
        req = b"GET /metrics HTTP/1.1\r\nHost: x\r\n" + \
            b"".join(b"X-H%d: %s\r\n" % (i, b"b" * 100) for i in range(1000)) + b"\r\n"
        reply, ended = raw_exchange(self.agent.port, req)
        assert_refused("1000 headers", reply, ended, {431})
        self.assert_up()

    def test_slow_clients_cut_off(self):
        """Slowloris: the request line, then one header byte every 0.5 s.
        The timeout must end them; other clients are served meanwhile."""
        slow = []
        for _ in range(3):
            s = socket.create_connection(("127.0.0.1", self.agent.port), timeout=5,
                                         source_address=("127.0.0.3", 0))
            s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            s.setblocking(False)
            slow.append(s)
        t0 = time.time()
        limit = 2 * TIMEOUT_S
        cut = {}
        try:
            while len(cut) < len(slow) and time.time() - t0 < limit:
                for i, s in enumerate(slow):
                    if i in cut:
                        continue
                    try:
                        if s.recv(4096) == b"":
                            cut[i] = time.time() - t0
                            continue
                    except BlockingIOError:
                        pass
                    except OSError:
                        cut[i] = time.time() - t0
                        continue
                    try:
                        s.send(b"a")
                    except OSError:
                        cut[i] = time.time() - t0
                self.bystander_scrape()
                time.sleep(0.5)
        finally:
            for s in slow:
                s.close()
        print("  slow clients cut after: %s (of %d, within %ds)" % (
            ["%.1fs" % t for t in sorted(cut.values())], len(slow), limit))
        assert len(cut) == len(slow), \
            "%d of %d slow clients still connected after %ds (timeout %ds): the timeout only " \
            "counts idle time, so a trickle of bytes keeps a connection forever" % (
                len(slow) - len(cut), len(slow), limit, TIMEOUT_S)
        self.assert_up()

    def scrape_storm(self, port, total=1000, threads=50):
        """`total` scrapes from `threads` threads; {outcome: n}. Outcomes:
        ok (complete exposition), refused (connection error, no reply),
        bad (anything else: a status, a cut or unparsable body)."""
        outcomes = {"ok": 0, "refused": 0, "bad": 0}
        bad = []
        lock = threading.Lock()
        todo = iter(range(total))
        deadline = time.time() + 120

        def one():
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                              source_address=(ATTACKER, 0))
            try:
                conn.request("GET", "/metrics")
                r = conn.getresponse()
            except (ConnectionError, http.client.RemoteDisconnected, socket.timeout) as e:
                conn.close()
                return "refused", repr(e)
            try:
                body = r.read()
                if r.status != 200:
                    return "bad", "HTTP %d" % r.status
                length = int(r.headers.get("Content-Length", -1))
                if length != len(body):
                    return "bad", "Content-Length %d, body %d" % (length, len(body))
                complete_exposition(body.decode())
                return "ok", None
            except Exception as e:  # a cut body is what this looks for
                return "bad", repr(e)
            finally:
                conn.close()

        def worker():
            while time.time() < deadline:
                with lock:
                    if next(todo, None) is None:
                        return
                kind, why = one()
                with lock:
                    outcomes[kind] += 1
                    if why and kind == "bad":
                        bad.append(why)
        ts = [threading.Thread(target=worker) for _ in range(threads)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(130)
        return outcomes, bad

    def test_scrape_storm_bounded(self):
        """1,000 scrapes from 50 threads, on this agent (sanitizers watch for
        memory errors) and on the plain build (resident memory)."""
        outcomes, bad = self.scrape_storm(self.agent.port)
        print("  sanitized agent: %s" % outcomes)
        assert not bad, "cut or wrong replies: %s" % bad[:5]
        assert outcomes["ok"] > 500, outcomes
        self.assert_up()
        plain = BinaryAgent(PLAIN_KVSCOPE, "--target.pid=" + ",".join(
            str(p) for p in self.cluster.pids))
        try:
            plain.wait_attached(self.cluster.names)
            for _ in range(20):  # the exposition buffer grows to its size once
                plain.scrape()
            rss_before = value(plain.scrape(), "process_resident_memory_bytes")
            outcomes, bad = self.scrape_storm(plain.port)
            rss_after = value(plain.scrape(), "process_resident_memory_bytes")
            print("  plain agent: %s; RSS %.1f -> %.1f MiB" % (outcomes, rss_before / MIB,
                                                              rss_after / MIB))
            assert not bad, "cut or wrong replies: %s" % bad[:5]
            assert outcomes["ok"] > 500, outcomes
            assert rss_after - rss_before <= 4 * MIB, "RSS grew by %.1f MiB" % (
                (rss_after - rss_before) / MIB)
        finally:
            plain.stop()

    def test_malformed_requests(self):
        rnd = random.Random(7)
        cases = [
            ("garbage bytes", bytes(rnd.randrange(256) for _ in range(4096)), {400}),
            ("NUL bytes", b"\0" * 512 + b"\r\n\r\n", {400}),
            ("HTTP/0.9", b"GET /metrics\r\n", {400, 505}),
            ("HTTP/9.9", b"GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n", {400, 505}),
            ("absurd method", b"BREW /metrics HTTP/1.1\r\nHost: x\r\n\r\n", {405}),
            ("8 KiB method", b"M" * 8192 + b" /metrics HTTP/1.1\r\nHost: x\r\n\r\n",
             {400, 405, 414, 431}),
            ("header without colon", b"GET /metrics HTTP/1.1\r\nHost: x\r\nnocolon\r\n\r\n",
             {400}),
            ("negative length", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
             {400, 405, 413}),
            ("bad chunk", b"POST /metrics HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
             b"\r\nzzzz\r\n\r\n", {400, 405}),
            ("10 MiB POST", b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
             % (10 * MIB) + b"x" * (10 * MIB), {405, 413}),
        ]
        for what, data, allowed in cases:
            reply, ended = raw_exchange(self.agent.port, data)
            print("  %-20s -> %s (%s)" % (what, status_of(reply) or "no reply", ended))
            assert_refused(what, reply, ended, allowed)
            self.assert_up()

    def stop_all(self):
        """After a failure: stop what still runs, by PID."""
        agent = getattr(self, "agent", None)
        if agent and agent.proc.poll() is None:
            agent.proc.kill()
            agent.proc.wait()
        self.cluster.stop()

    def close(self):
        try:
            if self.agent.proc.poll() is None:
                rc = self.agent.stop()
                assert rc == 0, "kvscope exit %s: %s" % (rc, self.agent.logtext()[-3000:])
        finally:
            self.cluster.stop()


def targets_of(m, prefix):
    """{target: attached} of the targets whose name starts with prefix."""
    return {dict(ls)["target"]: v for (n, ls), v in m.items()
            if n == "kvscope_target_attached" and dict(ls)["target"].startswith(prefix)}


def series_of(m, target):
    return [n for (n, ls) in m if dict(ls).get("target") == target]


class TenantSuite:
    """The attacks of a shared node's tenants on discovery and the exposition.
    Two agents watch this cluster's names (its tag) and whatever a tenant
    starts under them: the plain build, whose memory and stop time are the
    DaemonSet's, and the sanitized build, which catches memory errors on the
    same attacks. Prometheus scrapes both. Attacks that need other settings
    get an agent of their own."""

    RECLAIM_S = 12  # the watching agents' --target.reclaim-after

    def __init__(self):
        self.tenants = []
        self.agents = []
        self.prom = None
        self.cluster = Cluster()
        try:
            self.tag = self.cluster.names[0].rsplit("-", 1)[0]
            flags = ("--target.name=%s*" % self.tag, "--target.reclaim-after=%ds" % self.RECLAIM_S)
            self.agent = BinaryAgent(PLAIN_KVSCOPE, *flags)
            self.agents.append(self.agent)
            self.san = self.start_agent(*flags)
            self.watching = [self.agent, self.san]
            for a in self.watching:
                a.wait_attached(self.cluster.names, timeout=20)
            self.prom = Prometheus(self.agent.port, self.san.port)
            self.prom.assert_up()
        except Exception:
            self.close()
            raise
        print("  tenant: %s (uid %d); cluster %s" % (TENANT, tenant_uid(), self.tag))

    def start_agent(self, *flags):
        agent = Agent([], *flags)
        self.agents.append(agent)
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

    def close(self):
        """SIGTERM ends the plain agent within 2 s, the sanitized one cleanly;
        everything else is stopped by PID."""
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
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def main():
    runner = Runner("integration hostile")
    suite = HostileSuite()
    try:
        for name in ["idle_connections", "huge_headers", "slow_clients_cut_off",
                     "scrape_storm_bounded", "malformed_requests"]:
            runner.run(name.replace("_", " "), getattr(suite, "test_" + name))
        runner.run("clean exit after all that", suite.close)
    finally:
        suite.stop_all()
    tenants = TenantSuite()
    try:
        for name in ["two_long_names", "invalid_utf8_name", "slots_given_back",
                     "squatting_refused_by_policy", "impersonation_kept_apart", "exec_storm"]:
            runner.run("tenant: " + name.replace("_", " "), getattr(tenants, "test_" + name))
    finally:
        runner.run("tenant: SIGTERM within 2s after all that", tenants.close)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
