#!/usr/bin/env python3
"""kvscope over a long, bounded run against a 3-member etcd cluster on
loopback: a steady load through the gRPC gateway, the leader SIGKILLed
every minute (and restarted), kvscope restarted half-way. At the end: the
agent's resident memory after warm-up, the events it lost, and its request,
leader-change and storage counts against etcd's own over every window in
which neither a member nor kvscope restarted. SOAK_SECONDS sets the length
(default 600); it prints one table and `soak: N passed, N failed`."""

import os
import sys
import threading
import time

from kvtest import PLAIN_KVSCOPE, ROOT, Agent, bpf_fds, bpf_ids_alive, value, wait_for
from kvtest.scenario import (MAX_REQUEST_BYTES, STARTED, Gateway, Load, ScenarioCluster, Table,
                             compare_counters, leader_of, log, note_state, quiet_snapshot,
                             run_and_report, stop_cluster)

SOAK_SECONDS = int(os.environ.get("SOAK_SECONDS", "600"))
KVSCOPE_BIN = os.environ.get("SOAK_KVSCOPE", PLAIN_KVSCOPE)
RATE = 200  # requests per second at most, all threads together
THREADS = 4
KILL_EVERY = 60
RSS_EVERY = 10
RSS_GROWTH_MAX = 1024 * 1024
LOST_REASONS = ["inflight_full", "read_fault", "stale", "unmatched_end", "ring_full"]
MIB = 1024 * 1024
T0 = STARTED  # log() times from the same start


class SteadyLoad:
    """fidelity's mixed requests (with their designed failures) at a bounded
    rate on the members that are up; pause() waits until none is in flight,
    so both books can be read at a quiet moment."""

    def __init__(self, load):
        self.load = load
        self.up = {0, 1, 2}
        self.cond = threading.Condition()
        self.paused = self.stopped = False
        self.active = 0
        self.sent = 0
        self.threads = [threading.Thread(target=self.worker, args=(n,), daemon=True)
                        for n in range(THREADS)]

    def start(self):
        for t in self.threads:
            t.start()

    def next_member(self, i):
        with self.cond:
            while (self.paused or not self.up) and not self.stopped:
                self.cond.wait(0.5)
            if self.stopped:
                return None
            self.active += 1
            self.sent += 1
            members = sorted(self.up)
            return members[i % len(members)]

    def worker(self, n):
        interval, i = THREADS / RATE, n
        next_at = time.time()
        while True:
            member = self.next_member(i)
            if member is None:
                return
            try:
                self.load.one(100000 + i, member, None, False)
            except Exception as e:  # reported; the load goes on
                log("load: %r" % e)
            finally:
                with self.cond:
                    self.active -= 1
                    self.cond.notify_all()
            i += THREADS
            next_at = max(next_at + interval, time.time() - 1)
            time.sleep(max(0.0, next_at - time.time()))

    def pause(self, timeout=30):
        with self.cond:
            self.paused = True
            deadline = time.time() + timeout
            while self.active and time.time() < deadline:
                self.cond.wait(0.2)
            if self.active:
                raise AssertionError("%d requests still in flight after %ds" % (self.active,
                                                                                 timeout))

    def resume(self):
        with self.cond:
            self.paused = False
            self.cond.notify_all()

    def stop(self):
        with self.cond:
            self.stopped = True
            self.cond.notify_all()
        for t in self.threads:
            t.join(30)


class RssSampler:
    """process_resident_memory_bytes of the current agent every RSS_EVERY s."""

    def __init__(self, soak, start_at):
        self.soak, self.start_at = soak, start_at
        self.samples = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        next_at = self.start_at
        while not self.done.wait(max(0.0, next_at - time.time())):
            try:
                rss = value(self.soak.agent.scrape(), "process_resident_memory_bytes")
                self.samples.append((time.time() - T0[0], rss))
            except Exception as e:  # a missed sample shows in the count
                log("rss sample: %r" % e)
            next_at += RSS_EVERY

    def stop(self):
        self.done.set()
        self.thread.join(15)


class Soak:
    def __init__(self):
        self.table = Table()
        self.cluster = None
        self.agent = None
        self.snaps = []  # (Snap, {member: pid}, agent pid)
        self.logs = []
        self.kills = 0
        self.sampler = None

    def start_agent(self):
        tag = self.cluster.names[0].rsplit("-", 1)[0]
        self.agent = Agent([], "--target.name=%s-*" % tag, binary=KVSCOPE_BIN)
        note_state("agent_pid", self.agent.proc.pid)
        self.agent.wait_attached(self.cluster.names)
        self.logs.append(self.agent.log_path)

    def snapshot(self):
        """A quiet snapshot of every member, the load paused meanwhile."""
        self.steady.pause()
        try:
            all3 = [0, 1, 2]
            s = quiet_snapshot(self.agent, self.cluster, all3)
            self.snaps.append((s, dict(enumerate(self.cluster.pids)), self.agent.proc.pid))
            return s
        finally:
            self.steady.resume()

    def run(self):
        self.cluster = ScenarioCluster("kvscope-soak-")
        self.cluster.start("--max-request-bytes=%d" % MAX_REQUEST_BYTES, "--metrics=extensive")
        c = self.cluster
        log("cluster up: %s" % ", ".join(c.clients))
        self.start_agent()
        log("kvscope %s (pid %d) attached" % (KVSCOPE_BIN, self.agent.proc.pid))
        self.steady = SteadyLoad(Load(Gateway(c)))
        self.snapshot()
        self.steady.start()
        end = T0[0] + SOAK_SECONDS
        restart_at = T0[0] + SOAK_SECONDS * 0.4
        next_kill = T0[0] + min(15, SOAK_SECONDS / 4)
        restarted = False
        while time.time() < end - 10:
            now = time.time()
            if not restarted and now >= restart_at:
                self.restart_kvscope(end)
                restarted = True
            elif now >= next_kill:
                self.kill_leader()
                next_kill += KILL_EVERY
            else:
                time.sleep(min(1.0, max(0.0, min(next_kill, end - 10) - now)))
        if not restarted:
            self.restart_kvscope(end)
        time.sleep(max(0.0, end - time.time()))
        self.steady.pause()
        final = quiet_snapshot(self.agent, c, [0, 1, 2])
        self.snaps.append((final, dict(enumerate(c.pids)), self.agent.proc.pid))
        self.steady.stop()
        if self.sampler:
            self.sampler.stop()
        self.report(final)

    def kill_leader(self):
        c, all3 = self.cluster, [0, 1, 2]
        wait_for(lambda: leader_of(c, all3) is not None, 15, step=0.2, what="a leader")
        self.snapshot()
        leader = leader_of(c, all3)
        survivors = [m for m in all3 if m != leader]
        with self.steady.cond:
            self.steady.up.discard(leader)
        c.kill(leader)
        self.kills += 1
        log("SIGKILL of the leader %s" % c.names[leader])
        wait_for(lambda: leader_of(c, survivors) is not None, 20, step=0.2, what="a new leader")
        log("new leader %s" % c.names[leader_of(c, survivors)])
        time.sleep(3)  # the load runs on the survivors
        c.restart(leader)
        wait_for(lambda: value(self.agent.scrape(), "kvstore_target_info", target=c.names[leader],
                               pid=str(c.pids[leader])) == 1 and
                 value(self.agent.scrape(), "kvscope_target_attached",
                       target=c.names[leader]) == 1, 10, step=0.1,
                 what="%s re-attached" % c.names[leader])
        with self.steady.cond:
            self.steady.up.add(leader)
        log("%s restarted (pid %d) and re-attached" % (c.names[leader], c.pids[leader]))
        self.snapshot()

    def restart_kvscope(self, end):
        s = self.snapshot()
        self.run1_metrics = s.kvscope_metrics
        pid = self.agent.proc.pid
        links, progs, _ = bpf_fds(pid)
        rc = self.agent.stop()
        try:  # the kernel frees a closed program after an RCU grace period
            wait_for(lambda: not any(bpf_ids_alive(links, progs)), 3, step=0.2,
                     what="probes released")
        except AssertionError:
            pass
        left = bpf_ids_alive(links, progs)
        self.table.add("1->2", "kvscope", "exit code on SIGTERM", rc, 0, rc, rc == 0)
        self.table.add("1->2", "kvscope", "links and programs left after exit",
                       len(left[0]) + len(left[1]), 0, "-", not any(left))
        self.start_agent()
        log("kvscope restarted (pid %d) and attached" % self.agent.proc.pid)
        self.snapshot()
        warm = min(30.0, max(0.0, end - time.time()) / 3)
        self.sampler = RssSampler(self, time.time() + warm)
        self.rss_warm = warm

    def windows(self, m):
        """Consecutive snapshot pairs in which member m kept its process and
        kvscope its run."""
        out = []
        for (a, pids_a, ag_a), (b, pids_b, ag_b) in zip(self.snaps, self.snaps[1:]):
            if pids_a[m] == pids_b[m] and ag_a == ag_b:
                out.append((a.per_member[m], b.per_member[m]))
        return out

    def report(self, final):
        c = self.cluster
        for m in range(3):
            wins = self.windows(m)
            compare_counters(self.table, "1+2", "%s (%d windows)" % (c.names[m], len(wins)), wins)
        for run, metrics in (("1", self.run1_metrics), ("2", final.kvscope_metrics)):
            for reason in LOST_REASONS:
                n = int(value(metrics, "kvscope_events_lost_total", reason=reason))
                if reason == "stale":  # requests the killed members had started
                    self.table.add(run, "kvscope", "events lost: stale (requests in flight in a "
                                   "killed member)", n, "any", "-", True)
                else:
                    self.table.add(run, "kvscope", "events lost: " + reason, n, 0, n, n == 0)
        samples = self.sampler.samples if self.sampler else []
        log("RSS samples (s: MiB): " + ", ".join("%.0f: %.2f" % (t, r / MIB) for t, r in samples))
        if len(samples) >= 2:
            growth = samples[-1][1] - samples[0][1]
            peak = max(r for _, r in samples) - samples[0][1]
            self.table.add("2", "kvscope", "RSS growth after %.0f s warm-up, %d samples (peak %+.2f "
                           "MiB)" % (self.rss_warm, len(samples), peak / MIB),
                           "%+.2f MiB" % (growth / MIB), "<= 1 MiB", "%.1f -> %.1f MiB" % (
                               samples[0][1] / MIB, samples[-1][1] / MIB),
                           growth <= RSS_GROWTH_MAX)
        else:
            self.table.add("2", "kvscope", "RSS samples after warm-up", len(samples), ">= 2", "-",
                           False)
        ld = self.steady.load
        self.table.add("-", "scenario", "leader kills; requests sent (unanswered, unexpected "
                       "answers)", self.kills, ">= %d" % max(1, SOAK_SECONDS // KILL_EVERY - 1),
                       "%d (%d, %d)" % (self.steady.sent, ld.unanswered, len(ld.surprises)),
                       self.kills >= max(1, SOAK_SECONDS // KILL_EVERY - 1))
        ok = self.agent.proc.poll() is None
        self.table.add("2", "kvscope", "running at the end", "yes" if ok else "no", "yes", "-", ok)

    def close(self, show_logs):
        if self.agent and self.agent.proc.poll() is None:
            rc = self.agent.stop()
            self.table.add("2", "kvscope", "exit code on SIGTERM", rc, 0, rc, rc == 0)
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


def main():
    T0[0] = time.time()
    return run_and_report(Soak(), "soak", os.path.join(ROOT, "build", "soak.md"),
                          "# kvscope soak (%d s)" % SOAK_SECONDS)


if __name__ == "__main__":
    sys.exit(main())
