#!/usr/bin/env python3
"""kvscope's figures against etcd's own books, through errors, a leader
failover, a member restart, a restart of kvscope and auth denials.

One bounded scenario on loopback (see README.md in this folder); it prints
one table, a row per (run, member, quantity), writes it to
build/fidelity.md, and exits non-zero when any row fails."""

import os
import sys
import threading
import time

from kvtest import (KVSCOPE, ROOT, Agent, bpf_fds, bpf_ids_alive, kvscope_links, uprobe_events,
                    value, wait_for)
from kvtest.scenario import (MAX_REQUEST_BYTES, STARTED, STATUS_AUTH, Gateway, Load,
                             ScenarioCluster, Table, b64, compare_counters, compare_gateway,
                             compare_gauges, increase, leader_of, log, member_status, note_state,
                             quiet_snapshot, run_and_report, stop_cluster)

BUDGET_SECONDS = 170  # the whole scenario; run.sh kills it a little later
ROOT_PW, READER_PW = "fidelity-root", "fidelity-reader"
TABLE_PATH = os.environ.get("FIDELITY_TABLE") or os.path.join(ROOT, "build", "fidelity.md")

DEADLINE = [0.0]


def check_budget(what):
    if time.time() > DEADLINE[0]:
        raise TimeoutError("time budget of %ds spent before %s" % (BUDGET_SECONDS, what))


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


def start_agent(cluster):
    tag = cluster.names[0].rsplit("-", 1)[0]
    agent = Agent([], "--target.name=" + tag + "-*")
    note_state("agent_pid", agent.proc.pid)
    agent.wait_attached(cluster.names)
    return agent


class Scenario:
    def __init__(self):
        self.table = Table()
        self.cluster = None
        self.agent = None
        self.logs = []  # agent logs, shown on failure

    def run(self):
        self.cluster = ScenarioCluster("kvscope-fidelity-")
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
        links, progs, _ = bpf_fds(pid)
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


def add_tallies(a, b):
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def sub_tallies(a, b):
    return {k: a.get(k, 0) - b.get(k, 0) for k in set(a) | set(b)}


def main():
    STARTED[0] = time.time()
    DEADLINE[0] = STARTED[0] + BUDGET_SECONDS
    return run_and_report(Scenario(), "fidelity", TABLE_PATH, "# kvscope fidelity")


if __name__ == "__main__":
    sys.exit(main())
