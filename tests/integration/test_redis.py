"""kvscope against a real redis-server 7.0 (Debian's): counts per command equal
Redis's own INFO commandstats (calls + rejected_calls), errors equal INFO
errorstats, a redis-benchmark run is counted exactly, RDB saves and the dump
size are seen, disk syncs land in the rdb class, no Raft series exist, the
exposition passes promtool, and `kvscope trace --pid` draws Redis histograms
with disk and off-CPU time per slow request."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from kvtest import (Agent, RedisError, Resp, by_method, delta, free_port, has, in_written_order,
                    requests_by, value, wait_for, KVSCOPE)

load_tests = in_written_order

REDIS_SERVER = os.environ.get("REDIS_SERVER", "/usr/bin/redis-server")
REDIS_BENCHMARK = os.environ.get("REDIS_BENCHMARK", "/usr/bin/redis-benchmark")
ROW_HEAD_RE = re.compile(r"^(\S+) (\S+): count (\d+) \(status([^)]*)\)  p50 ")
HIST_ROW_RE = re.compile(r"^\s+(\d+) -> (\d+|inf)\s+: (\d+)\s+\|(\**)\s*\|$")
SLOW_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} (\S+)\s+(\d+)\s+(\S+)\s+(\d+)\s+(\S+)\s+(\S+)\s+(\S+)$")


class Redis:
    """redis-server on a free loopback port, its own directory, no saves of its own."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kvscope-redis-")
        self.port = free_port()
        self.log = open(os.path.join(self.dir, "redis.log"), "w")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
             "--enable-debug-command", "yes"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        self.target = "redis-server-%d" % self.pid
        self.conn = wait_for(self._connect, 10, what="redis-server to answer PING")

    def _connect(self):
        c = Resp(self.port)
        if c.call("PING") != "PONG":
            c.close()
            return None
        return c

    def info(self, section):
        text = self.conn.call("INFO", section)
        out = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, _, v = line.partition(":")
                out[k] = v
        return out

    def commandstats(self):
        """{command: calls + rejected_calls}, subcommands (config|get) folded into theirs."""
        out = {}
        for k, v in self.info("commandstats").items():
            fields = dict(f.split("=") for f in v.split(","))
            cmd = k[len("cmdstat_"):].split("|")[0]
            out[cmd] = out.get(cmd, 0) + int(fields["calls"]) + int(fields["rejected_calls"])
        return out

    def errorstats(self):
        return {k[len("errorstat_"):]: int(v.split("=")[1])
                for k, v in self.info("errorstats").items()}

    def stop(self):
        self.conn.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class RedisSuite(unittest.TestCase):
    """One redis-server and one agent for all the tests, in the order written."""

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(REDIS_SERVER):
            raise AssertionError("redis-server missing: apt-get install redis-server redis-tools")
        cls.redis = Redis()
        cls.addClassCleanup(cls.redis.stop)
        cls.agent = Agent([cls.redis.pid])
        cls.addClassCleanup(cls.agent.stop)

    def scrape(self):
        return self.agent.scrape()

    def settle(self):
        """kvscope counts a command when processCommand returns, before INFO sees it: wait
        until the counters stop moving."""
        time.sleep(0.3)

    def test_attached(self):
        self.agent.wait_attached([self.redis.target])
        # syscall probes load after the targets are attached
        wait_for(lambda: "disk probes attached" in self.agent.logtext(), 20,
                 what="disk probes attached")
        m = self.scrape()
        assert value(m, "kvstore_target_info", target=self.redis.target, store="redis",
                     profile="redis-7.0", version="7.0.15") == 1

    def compare_commandstats(self, work):
        """Runs work(); kvscope's per-command deltas equal INFO commandstats' deltas."""
        r = self.redis
        before_r, before_k = r.commandstats(), by_method(requests_by(self.scrape(),
                                                                      r.target))
        extra = work() or {}
        self.settle()
        after_r, after_k = r.commandstats(), by_method(requests_by(self.scrape(), r.target))
        got, want = delta(after_k, before_k), delta(after_r, before_r)
        # kvscope counts an INFO as processCommand returns, Redis after its reply is built:
        # the delta of both holds one INFO (the first for Redis, the second for kvscope)
        for k, v in extra.items():
            want[k] = want.get(k, 0) + v
        got = {k: v for k, v in got.items() if v}
        assert got == want, (got, want)
        return got

    def test_commands_match_commandstats(self):
        c = self.redis.conn

        def work():
            for i in range(25):
                c.call("SET", "k%d" % i, i)
            for i in range(17):
                c.call("GET", "k%d" % i)
            c.call("MSET", "a", 1, "b", 2)
            for _ in range(3):
                c.call("INCR", "counter")
            c.call("DEL", "k0", "k1")
            c.call("HSET", "h", "f", "v")
            c.call("CONFIG", "GET", "maxmemory")
            return {}
        got = self.compare_commandstats(work)
        assert got["set"] == 25 and got["get"] == 17 and got["incr"] == 3, got

    def test_errors_match_errorstats(self):
        r, c = self.redis, self.redis.conn
        before_e, before_k = r.errorstats(), requests_by(self.scrape(), r.target)

        def work():
            c.call("SET", "str", "x")
            assert isinstance(c.call("LPUSH", "str", "y"), RedisError)  # WRONGTYPE
            assert isinstance(c.call("INCR", "str"), RedisError)  # ERR not an integer
            assert isinstance(c.call("GET"), RedisError)  # ERR wrong number: rejected
            for _ in range(2):
                assert isinstance(c.call("NOSUCHCOMMAND", "x"), RedisError)  # ERR unknown
            # unknown commands have no commandstats line: kvscope counts them as "other"
            return {"other": 2}
        self.compare_commandstats(work)
        after_e, after_k = r.errorstats(), requests_by(self.scrape(), r.target)
        errs, reqs = delta(after_e, before_e), delta(after_k, before_k)
        assert errs == {"WRONGTYPE": 1, "ERR": 4}, errs
        assert reqs[("lpush", "400")] == 1 and reqs[("incr", "400")] == 1, reqs
        assert reqs[("get", "400")] == 1 and reqs[("other", "400")] == 2, reqs
        failed = sum(v for (m, s), v in reqs.items() if s != "200")
        assert failed == sum(errs.values()), (reqs, errs)

    def test_benchmark_exact(self):
        def work():
            r = subprocess.run([REDIS_BENCHMARK, "-p", str(self.redis.port), "-n", "2000",
                                "-c", "4", "-t", "set,get,incr,lpush", "-q"],
                               capture_output=True, text=True, timeout=120)
            assert r.returncode == 0, r.stderr
        got = self.compare_commandstats(work)
        for cmd in ("set", "get", "incr", "lpush"):
            assert got[cmd] == 2000, (cmd, got)

    def test_rdb_saves_and_size(self):
        r, c = self.redis, self.redis.conn
        m0 = self.scrape()
        assert c.call("SAVE") == "OK"
        assert c.call("BGSAVE").startswith("Background saving started")
        wait_for(lambda: r.info("persistence")["rdb_bgsave_in_progress"] == "0", 30,
                 what="BGSAVE to finish")
        assert c.call("SAVE") == "OK"  # the dump the size is compared with
        self.settle()
        m1 = self.scrape()

        def ops(m, op, status):
            return value(m, "kvstore_storage_operations_total", target=r.target, operation=op,
                         status=status)
        assert ops(m1, "rdb_save", "ok") - ops(m0, "rdb_save", "ok") == 2
        assert ops(m1, "rdb_bgsave", "ok") - ops(m0, "rdb_bgsave", "ok") == 1
        assert ops(m1, "rdb_save", "error") == ops(m0, "rdb_save", "error") == 0
        size = os.path.getsize(os.path.join(r.dir, "dump.rdb"))
        assert value(m1, "kvstore_storage_size_bytes", target=r.target) == size, size
        # SAVE fsyncs the new dump: a sync of the rdb class
        syncs = value(m1, "kvstore_disk_sync_duration_seconds_count", target=r.target,
                      file="rdb") - value(m0, "kvstore_disk_sync_duration_seconds_count",
                                          target=r.target, file="rdb")
        assert syncs >= 2, syncs
        assert value(m1, "kvstore_disk_written_bytes_total", target=r.target, file="rdb") >= size

    def test_no_raft_series(self):
        m = self.scrape()
        for name in ("kvstore_raft_term", "kvstore_raft_commit_index", "kvstore_raft_leader",
                     "kvstore_raft_leader_elections_total"):
            assert not has(m, name, target=self.redis.target), name

    def test_promtool_check_metrics(self):
        text = self.agent.scrape_text()
        r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True,
                           text=True)
        assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), \
            r.stdout + r.stderr

    def test_trace_histograms(self):
        r = self.redis
        r.conn.call("DEBUG", "POPULATE", "200000", "pop")  # so that SAVE takes > 20 ms
        out_path = tempfile.mktemp(prefix="kvscope-trace-", suffix=".out")
        err_path = tempfile.mktemp(prefix="kvscope-trace-", suffix=".err")
        with open(out_path, "w") as out, open(err_path, "w") as err:
            proc = subprocess.Popen([KVSCOPE, "trace", "--pid", str(r.pid), "--interval", "1s",
                                     "--duration", "4s", "--slow", "20ms"],
                                    stdout=out, stderr=err)
        try:
            wait_for(lambda: "kvscope trace: tracing 1 target" in open(err_path).read(), 30,
                     what="trace to start")
            c = Resp(r.port)
            for i in range(40):
                c.call("SET", "t%d" % i, i)
            for i in range(30):
                c.call("GET", "t%d" % i)
            c.call("DEBUG", "SLEEP", "0.05")  # 50 ms asleep inside the command: off CPU
            c.call("SAVE")  # writes and fsyncs dump.rdb inside the command
            c.close()
            assert proc.wait(30) == 0, open(err_path).read()
            text = open(out_path).read()
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        os.unlink(err_path)
        os.unlink(out_path)
        counts, hist_rows, slow = {}, 0, {}
        for line in text.splitlines():
            m = ROW_HEAD_RE.match(line)
            if m:
                assert m.group(1) == r.target, line
                counts[m.group(2)] = counts.get(m.group(2), 0) + int(m.group(3))
            hist_rows += bool(HIST_ROW_RE.match(line))
            s = SLOW_RE.match(line)
            if s:
                slow[s.group(3)] = s.groups()
        assert counts.get("set") == 40 and counts.get("get") == 30, (counts, text)
        assert hist_rows >= 2 and "usecs" in text, text
        assert "rdb" in text and "fsync" in text, text  # SAVE's sync in the disk lines
        assert "debug" in slow and "save" in slow, (slow, text)

        def us(s):
            n = float(re.match(r"[\d.]+", s).group(0))
            return n * {"us": 1, "ms": 1e3, "s": 1e6}[re.sub(r"[\d.]+", "", s)]
        target, pid, method, status, lat, disk, off = slow["debug"]
        assert target == r.target and int(pid) == r.pid and status == "200"
        assert us(lat) >= 50000 and us(off) >= 40000, slow["debug"]
        assert us(slow["save"][5]) > 0, slow["save"]  # disk sync time inside SAVE
