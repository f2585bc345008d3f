"""A kvscope daemon on a free loopback port."""

import signal
import subprocess
import tempfile
import time

from .metrics import parse_metrics, value
from .net import free_port, http_get
from .paths import KVSCOPE, TIME_SCALE
from .wait import wait_for


class Agent:
    """kvscope serving on a free loopback port with the given flags, watching
    only `pids` when given (otherwise what the flags choose, e.g.
    --target.name). binary picks the build: the sanitizer one by default,
    PLAIN_KVSCOPE for memory figures without shadow memory and quarantine.
    log_dir keeps the log beside the test's other files."""

    def __init__(self, pids=(), *flags, binary=KVSCOPE, log_dir=None):
        self.port = free_port()
        self.log_path = tempfile.mktemp(prefix="kvscope-", suffix=".log", dir=log_dir)
        self.log = open(self.log_path, "w")
        args = [binary, "--web.listen-address=127.0.0.1:%d" % self.port, *flags]
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
        """Signals the agent and waits for it; its exit code. AssertionError
        (after SIGKILL) when it outlives the timeout. Stopping again is
        harmless."""
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

    def kill(self):
        """SIGKILL, for cleanup after a failure."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()

    def logtext(self):
        with open(self.log_path) as f:
            return f.read()


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
