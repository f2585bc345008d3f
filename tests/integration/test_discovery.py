"""Discovery that follows the host, and the disk syscall layer: members that
come, go and come back; a member inside its own mount and pid namespaces;
WAL fsyncs against etcd's own count; `kvscope check` on this kernel."""

import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest

from kvtest import (Agent, Cluster, free_port, in_written_order, value, wait_for, KVSCOPE,
                    TIME_SCALE)

load_tests = in_written_order

CLK_TCK = os.sysconf("SC_CLK_TCK")


def boot_time():
    with open("/proc/stat") as f:
        return int([l for l in f if l.startswith("btime")][0].split()[1])


def start_time_of(pid):
    """Wall-clock start of a process, from /proc (10 ms resolution)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return boot_time() + int(fields[19]) / CLK_TCK


def attach_time(log, pid):
    """Wall-clock time of kvscope's 'target attached' line for pid."""
    m = re.search(r'ts=(\S+) level=info msg="target attached" \S+ pid=%d ' % pid, log)
    if not m:
        return None
    t = time.strptime(m.group(1)[:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) - time.timezone + float("0." + m.group(1)[20:23])


class CheckTests(unittest.TestCase):
    """kvscope check on this kernel."""

    def test_check_on_this_kernel(self):
        r = subprocess.run([KVSCOPE, "check"], capture_output=True, text=True, timeout=60)
        out = r.stdout
        assert r.returncode == 0, out + r.stderr
        assert re.search(r"uprobe\s+yes", out), out
        assert re.search(r"verdict: kvscope can run here", out), out
        assert re.search(r"BPF objects load and attach:\s+yes", out), out
        # this kernel has syscall tracepoints but no kprobes and refuses fentry
        expect = "fentry" if re.search(r"fentry / fexit\s+yes", out) else \
            "ksyscall" if re.search(r"kprobe / ksyscall\s+yes", out) else "tracepoint"
        assert re.search(r"disk syscalls\s+%s" % expect, out), out


class DiscoverySuite(unittest.TestCase):
    """One cluster and one agent for all the tests, in the order written."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = Cluster()
        cls.addClassCleanup(cls.cluster.stop)
        cls.tag = cls.cluster.names[0].rsplit("-", 1)[0]
        cls.agent = Agent([], "--target.name=%s-*" % cls.tag)
        cls.addClassCleanup(cls.agent.stop)
        cls.agent.wait_attached(cls.cluster.names)

    def puts(self, m, member):
        # Puts only: cluster.sh's health checks read from every member
        return value(m, "kvstore_requests_total", target=self.cluster.names[member], method="Put")

    def test_logs_the_chosen_hook(self):
        wait_for(lambda: "syscall hook chosen" in self.agent.logtext(), 10, what="hook log line")
        lines = [l for l in self.agent.logtext().splitlines() if "syscall hook chosen" in l]
        assert len(lines) == 1 and re.search(r"hook=(fentry|ksyscall|tracepoint|raw_tracepoint)",
                                             lines[0]), lines

    def test_wal_fsyncs_match_etcd(self):
        c = self.cluster
        wait_for(lambda: "disk probes attached" in self.agent.logtext(), 10, what="disk probes")
        before_k = self.agent.scrape()
        before_e = [value(c.own_metrics(i), "etcd_disk_wal_fsync_duration_seconds_count")
                    for i in range(3)]
        for i in range(12):
            c.etcdctl(i % 3, "put", "disc/w%d" % i, "v" * 100)

        def agree():
            m = self.agent.scrape()
            for i, n in enumerate(c.names):
                mine = value(m, "kvstore_disk_sync_duration_seconds_count", target=n, file="wal",
                             syscall="fdatasync") - \
                    value(before_k, "kvstore_disk_sync_duration_seconds_count", target=n,
                          file="wal", syscall="fdatasync")
                theirs = value(c.own_metrics(i), "etcd_disk_wal_fsync_duration_seconds_count") - \
                    before_e[i]
                if mine != theirs or mine == 0:
                    return False
            return True
        wait_for(agree, 5, step=0.3, what="WAL fdatasyncs equal to etcd's own count")
        m = self.agent.scrape()
        for n in c.names:
            assert value(m, "kvstore_disk_written_bytes_total", target=n, file="wal") > 0
            assert value(m, "kvstore_disk_sync_duration_seconds_count", target=n, file="db") > 0

    def test_kill_restart_continues(self):
        c = self.cluster
        # a follower: the two others keep a quorum and a leader while it is down
        st = c.status()
        victim = [i for i, n in enumerate(c.names) if not st[n][2]][-1]
        others = [i for i in range(3) if i != victim]
        for i in range(5):
            c.etcdctl(victim, "put", "disc/k%d" % i, "v")
        before = self.agent.scrape()
        n_before = self.puts(before, victim)
        assert n_before >= 5
        old_pid = c.pids[victim]
        c.kill(victim)
        t_kill = time.time()
        wait_for(lambda: value(self.agent.scrape(), "kvstore_target_up",
                               target=c.names[victim]) == 0, 1.0, step=0.05,
                 what="the killed member's target_up 0")
        assert time.time() - t_kill <= 1.0 * TIME_SCALE
        m = self.agent.scrape()
        assert value(m, "kvscope_target_attached", target=c.names[victim]) == 0
        # its series stop but stay; the others are untouched
        assert self.puts(m, victim) == n_before
        for other in others:
            assert self.puts(m, other) == self.puts(before, other)
            assert value(m, "kvstore_target_up", target=c.names[other]) == 1
        c.etcdctl(others[0], "put", "disc/while-down", "v")
        c.restart(victim)
        new_pid = c.pids[victim]
        assert new_pid != old_pid
        wait_for(lambda: attach_time(self.agent.logtext(), new_pid), 5,
                 what="the restarted member attached")
        delay = attach_time(self.agent.logtext(), new_pid) - start_time_of(new_pid)
        assert delay <= 1.0 * TIME_SCALE, "attached %.2fs after it started" % delay
        for i in range(3):
            c.etcdctl(victim, "put", "disc/again%d" % i, "v")
        m = self.agent.scrape()
        assert value(m, "kvstore_target_up", target=c.names[victim]) == 1
        assert self.puts(m, victim) == n_before + 3, (self.puts(m, victim), n_before)
        assert value(m, "kvstore_target_info", target=c.names[victim], pid=str(new_pid)) == 1


CONTAINER_SCRIPT = """
set -e
mount -t tmpfs kvscope-ctr "$BIN_DIR"
cp /usr/bin/etcd "$BIN_DIR/etcd-in-container"
exec "$BIN_DIR/etcd-in-container" --name "$NAME" --data-dir "$DATA" \
  --listen-client-urls "$URL" --advertise-client-urls "$URL" \
  --listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
  --initial-cluster "$NAME=$PEER"
"""


class NamespaceTests(unittest.TestCase):
    """A member inside its own mount and pid namespaces."""

    def test_member_in_its_own_namespaces(self):
        """etcd started under unshare from a path that exists only in its mount
        namespace: kvscope resolves it through /proc/PID/exe and counts it by
        its host pid."""
        work = tempfile.mkdtemp(prefix="kvscope-ctr-")
        bin_dir = os.path.join(work, "bin")
        os.mkdir(bin_dir)
        port, peer = free_port(), free_port()
        name = "ctr%d" % os.getpid()
        url = "http://127.0.0.1:%d" % port
        env = dict(os.environ, BIN_DIR=bin_dir, NAME=name, DATA=os.path.join(work, "data"), URL=url,
                   PEER="http://127.0.0.1:%d" % peer)
        agent = Agent([], "--target.name=%s" % name)
        proc = subprocess.Popen(["unshare", "--mount", "--pid", "--fork", "--propagation", "private",
                                 "sh", "-c", CONTAINER_SCRIPT], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ctl = ["etcdctl", "--endpoints", url, "--command-timeout=5s"]
            cenv = dict(os.environ, ETCDCTL_API="3")
            wait_for(lambda: subprocess.run(ctl + ["endpoint", "health"], env=cenv,
                                            capture_output=True).returncode == 0, 30,
                     what="etcd in its namespaces")
            assert not os.path.exists(os.path.join(bin_dir, "etcd-in-container")), \
                "the binary must exist only inside the container's mount namespace"
            wait_for(lambda: value(agent.scrape(), "kvscope_target_attached", target=name) == 1, 5,
                     what="the namespaced member attached")
            for i in range(7):
                subprocess.run(ctl + ["put", "ctr/k%d" % i, "v"], env=cenv, check=True,
                               capture_output=True, timeout=30)
            m = agent.scrape()
            assert value(m, "kvstore_requests_total", target=name, method="Put", status="200") == 7
            exe = [dict(ls)["exe"] for (n, ls) in m if n == "kvstore_target_info"
                   and dict(ls)["target"] == name]
            assert exe == [os.path.join(bin_dir, "etcd-in-container")], exe
        finally:
            agent.stop()
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            shutil.rmtree(work, ignore_errors=True)


