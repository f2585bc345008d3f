"""The metrics endpoint against hostile clients on loopback: idle sockets,
huge headers, slow senders, a scrape storm and malformed requests. The
agent must stay up, keep serving other clients, and keep its file
descriptors and memory bounded (limits in agent/http.c: 64 connections,
16 per client address, 10 s timeout, 32 KiB per connection)."""

import http.client
import random
import select
import socket
import threading
import time
import unittest

from kvtest import (PLAIN_KVSCOPE, Agent, Cluster, in_written_order, parse_metrics, scrape_from,
                    value, wait_for)

load_tests = in_written_order

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


class HostileSuite(unittest.TestCase):
    """One cluster and one agent for all the tests, in the order written;
    the last checks that the agent exits cleanly after all that."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.stop)
        cls.agent = Agent(cls.cluster.pids)
        cls.addClassCleanup(cls.agent.kill)  # after a failure: stop what still runs
        cls.agent.wait_attached(cls.cluster.names)
        # the disk probes attach last and add their own fds: settle first
        wait_for(lambda: "disk probes attached" in cls.agent.logtext() or
                 "disk metrics off" in cls.agent.logtext(), 15, what="disk probes")
        for i in range(6):  # some traffic, so the exposition has request series
            cls.cluster.etcdctl(i % 3, "put", "hostile/k%d" % i, "v")

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
        plain = Agent(self.cluster.pids, binary=PLAIN_KVSCOPE)
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

    def test_clean_exit_after_all_that(self):
        if self.agent.proc.poll() is None:
            rc = self.agent.stop()
            assert rc == 0, "kvscope exit %s: %s" % (rc, self.agent.logtext()[-3000:])
