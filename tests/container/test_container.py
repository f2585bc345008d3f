"""kvscope's image run the way deploy/kubernetes/daemonset.yaml runs it
(scripts/run-container.sh), watching a 3-member etcd cluster whose members
each run in their own container: podman with runc, overlay roots, cgroups,
the default seccomp profile and dropped capabilities, as on a node.

Environment (tests/container/run.sh sets them): KVSCOPE_IMAGE, ETCD_IMAGE,
REDIS_IMAGE (trixie's Redis 8.0 in a trixie root).
Run by tests/container/run.sh through kvtest.runner; the tests of a class
share its containers and run in the order written.
Everything is named ctr<pid>-*: other containers and etcd processes on the
host are never touched, and kvscope watches only ours (--target.name).
"""

import ipaddress
import os
import subprocess
import tempfile
import threading
import time
import unittest

import yaml

from kvtest import (MAX_REQUEST_BYTES, ROOT, Cluster, RedisError, Resp, bpf_fds, bpf_ids_alive,
                    by_method, delta, drive_load, etcd_requests, free_port, http_get,
                    in_written_order, kvscope_requests, parse_metrics, requests_by, uprobe_events,
                    value, wait_for)

load_tests = in_written_order

PODMAN = os.path.join(ROOT, "scripts", "podman.sh")
RUN_CONTAINER = os.path.join(ROOT, "scripts", "run-container.sh")
MANIFEST = os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml")
KVSCOPE_IMAGE = os.environ.get("KVSCOPE_IMAGE", "")
ETCD_IMAGE = os.environ.get("ETCD_IMAGE", "")
REDIS_IMAGE = os.environ.get("REDIS_IMAGE", "")
ETCD_EXE = "/opt/kvstore/bin/etcd"  # where tests/container/etcd.Containerfile puts it
TAG = "ctr%d" % os.getpid()
# A member's container waits this long before etcd starts, as a real
# start-up (an init step, a slow volume) does: a restart's gap is then
# always longer than the 0.1 s the tests poll at.
START_DELAY_S = 2


def podman(*args, check=True, timeout=120):
    r = subprocess.run([PODMAN, *args], capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError("podman %s: %s" % (" ".join(args[:2]), r.stderr.strip()))
    return r


def inspect(name, fmt):
    return podman("inspect", "--format", fmt, name).stdout.strip()


def host_pid(name):
    return int(inspect(name, "{{.State.Pid}}"))


def container_id(name):
    return inspect(name, "{{.Id}}")


class EtcdContainers(Cluster):
    """Three etcd members, one per container, on a podman network of their
    own with fixed addresses (a restarted member keeps its address, as a
    StatefulSet's does). Same interface as kvtest.Cluster. Construction
    only names them; create() makes them, so that stop() can be registered
    first and clears whatever a failed creation left."""

    def __init__(self):
        self.network = TAG + "-net"
        self.names = ["%s-%d" % (TAG, i + 1) for i in range(3)]

    def create(self):
        podman("network", "create", self.network)
        subnet = ipaddress.ip_network(inspect(self.network, "{{range .Subnets}}{{.Subnet}}{{end}}"))
        self.ips = [str(subnet[10 + i]) for i in range(3)]
        self.clients = ["http://%s:2379" % ip for ip in self.ips]
        self.peers = ",".join("%s=http://%s:2380" % (n, ip) for n, ip in zip(self.names, self.ips))
        for i in range(3):
            self.run(i)
        wait_for(self.healthy, 60, step=0.5, what="the containerised cluster healthy")

    def run(self, i):
        flags = ["--name", self.names[i], "--data-dir", "/var/lib/etcd/member",
                 "--listen-client-urls", "http://0.0.0.0:2379", "--advertise-client-urls", self.clients[i],
                 "--listen-peer-urls", "http://0.0.0.0:2380",
                 "--initial-advertise-peer-urls", "http://%s:2380" % self.ips[i],
                 "--initial-cluster", self.peers, "--initial-cluster-token", TAG,
                 "--max-request-bytes=%d" % MAX_REQUEST_BYTES]
        podman("run", "--detach", "--name", self.names[i], "--network", self.network,
               "--ip", self.ips[i], "--entrypoint", "/bin/sh", ETCD_IMAGE,
               "-c", 'sleep %d; exec %s "$@"' % (START_DELAY_S, ETCD_EXE), "etcd", *flags)

    def healthy(self):
        return all(self.etcdctl(m, "endpoint", "health", check=False).returncode == 0 for m in range(3))

    @property
    def pids(self):
        return [host_pid(n) for n in self.names]

    def restart(self, member):
        podman("restart", "--time", "10", self.names[member])

    def kill(self, member):
        podman("kill", self.names[member])

    def start(self, member):
        podman("start", self.names[member])

    def stop(self):
        podman("rm", "--force", "--time", "5", *self.names, check=False)
        podman("network", "rm", self.network, check=False)


class KvscopeContainer:
    """kvscope started by scripts/run-container.sh, detached, published on a
    free loopback port, watching our members only. Construction only
    names it; create() runs it (remove() clears a failed creation too)."""

    def __init__(self, name, manifest=MANIFEST, flags=None):
        self.name = name
        self.port = free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        self.manifest = manifest
        self.flags = flags or ["--target.name=%s-*" % TAG]

    def create(self):
        env = dict(os.environ, KVSCOPE_IMAGE=KVSCOPE_IMAGE, KVSCOPE_CONTAINER=self.name, KVSCOPE_DETACH="1",
                   KVSCOPE_PUBLISH="127.0.0.1:%d" % self.port, KVSCOPE_MANIFEST=self.manifest)
        self.started = time.time()
        r = subprocess.run([RUN_CONTAINER, *self.flags], env=env, capture_output=True, text=True, timeout=120)
        self.command = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
        if r.returncode != 0:
            raise AssertionError("run-container.sh: %s" % r.stderr.strip())

    def scrape_text(self):
        return http_get(self.url + "/metrics")

    def scrape(self):
        return parse_metrics(self.scrape_text())

    def pid(self):
        return host_pid(self.name)

    def status(self):
        return inspect(self.name, "{{.State.Status}} {{.State.ExitCode}}")

    def logs(self):
        r = podman("logs", self.name, check=False)
        return r.stdout + r.stderr

    def wait_log(self, text, timeout):
        wait_for(lambda: text in self.logs(), timeout, step=0.3, what="%r in kvscope's log" % text)

    def wait_attached(self, names, timeout=20):
        wait_for(lambda: all(value(self.scrape(), "kvscope_target_attached", target=n) == 1 for n in names),
                 timeout, step=0.2, what="targets %s attached" % names)

    def remove(self):
        podman("rm", "--force", "--time", "10", self.name, check=False)


class Poller(threading.Thread):
    """Scrapes every 0.1 s and keeps what kvstore_target_up said of one target."""

    def __init__(self, agent, target):
        super().__init__(daemon=True)
        self.agent, self.target = agent, target
        self.seen = []
        self.done = threading.Event()

    def run(self):
        while not self.done.is_set():
            try:
                m = self.agent.scrape()
                up = [v for (n, ls), v in m.items() if n == "kvstore_target_up" and dict(ls)["target"] == self.target]
                self.seen.append(up[0] if up else None)
            except OSError:
                self.seen.append("no answer")
            time.sleep(0.1)

    def stop(self):
        self.done.set()
        self.join(5)
        return self.seen


def info_of(metrics, target):
    """The labels of kvstore_target_info for one target."""
    found = [dict(ls) for (n, ls) in metrics if n == "kvstore_target_info" and dict(ls)["target"] == target]
    assert len(found) == 1, "kvstore_target_info for %s: %s" % (target, found)
    return found[0]


def counts_exact(agent, cluster, members=(0, 1, 2)):
    """A known load per member; kvscope's counts equal what was sent and
    what each member's own grpc_server_handled_total says."""
    before_k = agent.scrape()
    before_e = [etcd_requests(cluster.own_metrics(m)) for m in range(3)]
    expected = drive_load(cluster)
    time.sleep(0.3)
    after_k = agent.scrape()
    for m in members:
        name = cluster.names[m]
        got = delta(kvscope_requests(after_k, name), kvscope_requests(before_k, name))
        etcd = delta(etcd_requests(cluster.own_metrics(m)), before_e[m])
        assert got == expected[m], "%s: kvscope %s != sent %s" % (name, got, expected[m])
        assert got == etcd, "%s: kvscope %s != etcd %s" % (name, got, etcd)


def proc_status(pid):
    with open("/proc/%d/status" % pid) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


CAP_NAMES = {"CAP_SYS_ADMIN": 21, "CAP_SYS_PTRACE": 19, "CAP_DAC_READ_SEARCH": 2, "CAP_BPF": 39,
             "CAP_PERFMON": 38, "CAP_SYS_RESOURCE": 24, "CAP_NET_BIND_SERVICE": 10}


def cap_mask(names):
    return sum(1 << CAP_NAMES["CAP_" + n.upper()] for n in names)


def manifest_container():
    with open(MANIFEST) as f:
        ds = [d for d in yaml.safe_load_all(f) if isinstance(d, dict) and d.get("kind") == "DaemonSet"][0]
    return ds["spec"]["template"]["spec"], ds["spec"]["template"]["spec"]["containers"][0]


def variant_manifest(change):
    """A copy of the DaemonSet manifest with one thing changed by `change`."""
    with open(MANIFEST) as f:
        docs = list(yaml.safe_load_all(f))
    for d in docs:
        if isinstance(d, dict) and d.get("kind") == "DaemonSet":
            change(d["spec"]["template"]["spec"])
    fd, path = tempfile.mkstemp(prefix="kvscope-ds-", suffix=".yaml")
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump_all(docs, f)
    return path


def setUpModule():
    if not KVSCOPE_IMAGE or not ETCD_IMAGE or not REDIS_IMAGE:
        raise AssertionError("KVSCOPE_IMAGE, ETCD_IMAGE and REDIS_IMAGE must name the images "
                             "(tests/container/run.sh sets them)")


class ImageTests(unittest.TestCase):
    def test_image_is_runtime_only(self):
        """The image holds kvscope and its shared libraries: no compiler, no
        headers; it runs and says its version."""
        size = int(podman("image", "inspect", "--format", "{{.Size}}", KVSCOPE_IMAGE).stdout)
        print("image %s: %.1f MB" % (KVSCOPE_IMAGE, size / 1e6))
        r = podman("run", "--rm", "--entrypoint", "/bin/sh", KVSCOPE_IMAGE, "-c",
                   "for t in gcc cc clang ld as make pkg-config; do command -v $t; done; "
                   "ls /usr/include 2>/dev/null | head -3; true")
        assert r.stdout.strip() == "", "build tools in the image: %s" % r.stdout
        with open(os.path.join(ROOT, "VERSION")) as f:
            version = f.read().strip()
        out = podman("run", "--rm", KVSCOPE_IMAGE, "--version").stdout
        assert version in out, out


class ContainerSuite(unittest.TestCase):
    """Three etcd members in containers and kvscope in its own, shared by
    the tests below in the order written."""

    @classmethod
    def setUpClass(cls):
        cls.cluster = EtcdContainers()
        cls.addClassCleanup(cls.cluster.stop)
        cls.cluster.create()
        cls.agent = KvscopeContainer(TAG + "-kvscope")
        cls.addClassCleanup(cls.agent.remove)
        cls.agent.create()
        print("derived: " + cls.agent.command)

    def test_ready_only_once_bpf_loaded(self):
        """The kubelet's probes: nothing answers before the BPF objects are
        loaded (the listener opens after loading), then /metrics and /healthz
        answer 200."""
        def answers():
            try:
                return http_get(self.agent.url + "/metrics", timeout=2)
            except OSError:
                return None
        wait_for(answers, 30, step=0.05, what="the first answer on /metrics")
        fds = bpf_fds(self.agent.pid())
        links, progs = fds.links, fds.progs
        assert progs and links, "answered before its BPF programs and links were in place"
        assert "kvstore_target_up" in answers()
        assert http_get(self.agent.url + "/healthz").strip() == "ok"

    def test_runs_as_the_manifest_says(self):
        """What the kernel reports of the running container equals the
        manifest: capabilities, seccomp, no_new_privs, host PID namespace,
        read-only root and mounts, arguments."""
        spec, c = manifest_container()
        sc = c["securityContext"]
        pid = self.agent.pid()
        st = proc_status(pid)
        want = cap_mask(sc["capabilities"]["add"])
        assert int(st["CapBnd"], 16) == want, "bounding set %s, want %x" % (st["CapBnd"], want)
        assert int(st["CapEff"], 16) == want, "effective set %s, want %x" % (st["CapEff"], want)
        assert st["Seccomp"] == "2", "seccomp mode %s, want 2 (filter)" % st["Seccomp"]
        assert st["NoNewPrivs"] == "1"
        assert st["NSpid"].split() == [str(pid)], "not in the host PID namespace: NSpid %s" % st["NSpid"]
        with open("/proc/%d/mountinfo" % pid) as f:
            mounts = {line.split()[4]: line.split()[5].split(",") for line in f}
        assert "ro" in mounts["/"], "root is %s" % mounts["/"]
        for m in c["volumeMounts"]:
            assert m["mountPath"] in mounts, "%s not mounted" % m["mountPath"]
            assert ("ro" in mounts[m["mountPath"]]) == bool(m.get("readOnly")), (m, mounts[m["mountPath"]])
        with open("/proc/%d/cmdline" % pid) as f:
            argv = f.read().split("\0")[:-1]
        assert argv == ["/usr/local/bin/kvscope", *c["args"], "--target.name=%s-*" % TAG], argv

    def test_members_found_through_their_roots(self):
        """Each member's binary exists only inside its container; kvscope
        resolves it through /proc/PID/root and knows the host PID."""
        assert not os.path.exists(ETCD_EXE), "%s must not exist on the host" % ETCD_EXE
        self.agent.wait_attached(self.cluster.names)
        m = self.agent.scrape()
        for name, pid in zip(self.cluster.names, self.cluster.pids):
            info = info_of(m, name)
            assert info["exe"] == ETCD_EXE and info["pid"] == str(pid), info
            assert info["version"] == "3.4.23" and info["profile"] == "etcd-3.4", info
            assert value(m, "kvstore_target_up", target=name) == 1

    def test_container_id_label(self):
        """kvstore_target_info names each member's container (from its
        cgroup path), so containers are recognisable without the API."""
        m = self.agent.scrape()
        for name in self.cluster.names:
            info = info_of(m, name)
            assert "container_id" in info, "kvstore_target_info has no container_id label: %s" % info
            assert info["container_id"] == container_id(name), (info, container_id(name))

    def test_request_counts_exact(self):
        counts_exact(self.agent, self.cluster)

    def test_raft_and_disk_metrics(self):
        c = self.cluster

        def agree():
            st = c.status()
            m = self.agent.scrape()
            return {n: (value(m, "kvstore_raft_term", target=n), value(m, "kvstore_raft_commit_index", target=n),
                        value(m, "kvstore_raft_leader", target=n) == 1) for n in c.names} == st
        wait_for(agree, 10, step=0.3, what="term/commit/leader equal to etcdctl endpoint status")
        m = self.agent.scrape()
        for n in c.names:
            assert value(m, "kvstore_disk_sync_duration_seconds_count", target=n, file="wal") > 0, n
            assert value(m, "kvstore_storage_operations_total", target=n, operation="wal_sync", status="ok") > 0, n
            assert value(m, "kvstore_storage_size_bytes", target=n) > 0, n

    def restart_and_follow(self, member, action, what):
        """Runs `action`; the target's kvstore_target_up must drop to 0 and
        come back to 1 for the new process, under the same target, and the
        counters go on from where they were."""
        c, name = self.cluster, self.cluster.names[member]
        old_pid = c.pids[member]
        before = kvscope_requests(self.agent.scrape(), name)
        poller = Poller(self.agent, name)
        poller.start()
        try:
            action(member)
            wait_for(lambda: c.healthy(), 60, step=0.5, what="the cluster healthy after the %s" % what)
            new_pid = c.pids[member]
            assert new_pid != old_pid
            wait_for(lambda: info_of(self.agent.scrape(), name)["pid"] == str(new_pid), 10, step=0.2,
                     what="%s's new pid %d in kvstore_target_info" % (name, new_pid))
            self.agent.wait_attached([name])
        finally:
            seen = poller.stop()
        assert 0 in seen, "kvstore_target_up never 0 during the %s: %s" % (what, seen)
        assert seen[-1] == 1, "kvstore_target_up not back to 1: %s" % seen[-8:]
        after = kvscope_requests(self.agent.scrape(), name)
        assert all(after.get(k, 0) >= v for k, v in before.items()), "counters went back: %s -> %s" % (before, after)
        counts_exact(self.agent, c)

    def test_podman_restart_member(self):
        follower = self.follower()
        self.restart_and_follow(follower, self.cluster.restart, "podman restart")

    def test_podman_kill_member(self):
        def kill_then_start(member):
            self.cluster.kill(member)
            wait_for(lambda: value(self.agent.scrape(), "kvstore_target_up", target=self.cluster.names[member]) == 0,
                     10, step=0.1, what="kvstore_target_up 0 after the kill")
            self.cluster.start(member)
        self.restart_and_follow(self.follower(exclude=self.cluster.names[0]), kill_then_start, "kill")

    def follower(self, exclude=None):
        st = self.cluster.status()
        return [i for i, n in enumerate(self.cluster.names) if not st[n][2] and n != exclude][0]

    def test_kvscope_container_restart(self):
        """podman restart of kvscope's container: SIGTERM detaches every
        probe (no link, program or uprobe outlives it), and the new instance
        counts again."""
        pid = self.agent.pid()
        fds = bpf_fds(pid)
        links, progs = fds.links, fds.progs
        assert links and progs, "no BPF links held by kvscope (pid %d)" % pid
        podman("restart", "--time", "30", self.agent.name)
        alive = bpf_ids_alive(links, progs)
        assert alive == (set(), set()), "left behind: links %s, programs %s" % alive
        left = [e for e in uprobe_events().splitlines() if "/host/proc/" in e or ETCD_EXE in e]
        assert not left, "uprobe events left: %s" % left
        logs = self.agent.logs()
        assert "stopping: detaching every probe" in logs, logs[-2000:]
        assert "level=error" not in logs, logs[-2000:]
        self.agent.wait_attached(self.cluster.names)
        counts_exact(self.agent, self.cluster)

    def least_privilege(self, what, change, expect):
        path = variant_manifest(change)
        agent = KvscopeContainer("%s-lp" % TAG, manifest=path)
        try:
            agent.create()
            expect(agent)
        except AssertionError as e:
            raise AssertionError("%s: %s\nlog:\n%s" % (what, e, agent.logs()[-1500:]))
        finally:
            agent.remove()
            os.unlink(path)

    def test_without_sys_admin_never_ready(self):
        """Under the default seccomp profile bpf() needs CAP_SYS_ADMIN:
        without it kvscope exits at load, never answering a probe (the
        kubelet would restart it, never route to it)."""
        def change(spec):
            spec["containers"][0]["securityContext"]["capabilities"]["add"].remove("SYS_ADMIN")

        def expect(agent):
            wait_for(lambda: agent.status().startswith("exited"), 30, step=0.3, what="kvscope exits")
            assert agent.status() != "exited 0", agent.status()
            assert "cannot load BPF programs" in agent.logs()
            try:
                http_get(agent.url + "/healthz", timeout=2)
            except OSError:
                return
            raise AssertionError("answered /healthz without its BPF objects")
        self.least_privilege("without SYS_ADMIN", change, expect)

    def test_without_sys_ptrace_no_member_found(self):
        """CAP_SYS_PTRACE opens another container's /proc/PID/exe: without
        it the first discovery pass finds none of the members."""
        def change(spec):
            spec["containers"][0]["securityContext"]["capabilities"]["add"].remove("SYS_PTRACE")

        def expect(agent):
            # Discovery's first pass ends before the syscall hooks load.
            agent.wait_log("request and Raft probes", 30)
            m = agent.scrape()
            found = [n for n in self.cluster.names if value(m, "kvstore_target_up", target=n) == 1]
            assert not found, "members found without SYS_PTRACE: %s" % found
        self.least_privilege("without SYS_PTRACE", change, expect)

    def test_without_tracefs_no_process_events(self):
        """The tracefs mount names the sched_process_exec/exit tracepoints:
        without it kvscope finds new members only by polling /proc."""
        def change(spec):
            c = spec["containers"][0]
            c["volumeMounts"] = [m for m in c["volumeMounts"] if m["mountPath"] != "/sys/kernel/tracing"]
            spec["volumes"] = [v for v in spec["volumes"] if v["hostPath"]["path"] != "/sys/kernel/tracing"]

        def expect(agent):
            agent.wait_log("request and Raft probes", 30)
            logs = agent.logs()
            assert "process events unavailable, polling /proc" in logs, logs[-1500:]
        self.least_privilege("without the tracefs mount", change, expect)


def redis_commandstats(conn, methods):
    """{method: calls + rejected_calls} from INFO commandstats, subcommands
    folded into their command, names the profile lacks (module commands)
    as "other", the way kvscope labels them."""
    out = {}
    for line in conn.call("INFO", "commandstats").splitlines():
        if not line.startswith("cmdstat_"):
            continue
        name, _, fields = line[len("cmdstat_"):].partition(":")
        f = dict(kv.split("=") for kv in fields.split(","))
        cmd = name.split("|")[0].lower()
        cmd = cmd if cmd in methods else "other"
        out[cmd] = out.get(cmd, 0) + int(f["calls"]) + int(f["rejected_calls"])
    return out


def profile_methods(name):
    with open(os.path.join(ROOT, "profiles", name + ".yaml")) as f:
        return set(yaml.safe_load(f)["methods"])


class TrixieRedis(unittest.TestCase):
    def test_trixie_redis_commandstats(self):
        """Redis 8.0 from trixie, which needs trixie's glibc and so runs only in
        its own root: kvscope resolves it through that root with the redis-8.0
        profile, and its per-command counts equal INFO commandstats."""
        name, port = TAG + "-redis", free_port()
        self.addCleanup(podman, "rm", "--force", "--time", "5", name, check=False)
        podman("run", "--detach", "--name", name, "--publish", "127.0.0.1:%d:6379" % port, REDIS_IMAGE,
               "--bind", "0.0.0.0", "--protected-mode", "no", "--save", "", "--appendonly", "no")
        pid = host_pid(name)
        target = "redis-server-%d" % pid

        def connect():
            c = Resp(port)
            if c.call("PING") == "PONG":
                return c
            c.close()
        conn = wait_for(connect, 20, step=0.3, what="redis in its container answering PING")
        self.addCleanup(conn.close)
        agent = KvscopeContainer(TAG + "-kvscope-redis", flags=["--target.pid=%d" % pid])
        self.addCleanup(agent.remove)
        agent.create()
        agent.wait_attached([target])
        info = info_of(agent.scrape(), target)
        assert (info["store"], info["profile"], info["version"]) == ("redis", "redis-8.0", "8.0.2"), info
        methods = profile_methods("redis-8.0")
        before_r, before_k = redis_commandstats(conn, methods), by_method(requests_by(agent.scrape(), target))
        for i in range(25):
            conn.call("SET", "k%d" % i, i)
        for i in range(17):
            conn.call("GET", "k%d" % i)
        conn.call("HSETEX", "h", "EX", "100", "FIELDS", "1", "f", "v")  # new in 8.0
        conn.call("VADD", "vs", "VALUES", "2", "1", "2", "e1")  # a module's command: "other"
        assert isinstance(conn.call("INCR", "k0x"), int)
        assert isinstance(conn.call("LPUSH", "k1", "x"), RedisError)  # WRONGTYPE
        time.sleep(0.3)
        # Both deltas hold one INFO: Redis counts the first after replying,
        # kvscope the second as it returns.
        after_r, after_k = redis_commandstats(conn, methods), by_method(requests_by(agent.scrape(), target))
        got = {k: v for k, v in delta(after_k, before_k).items() if v}
        want = delta(after_r, before_r)
        assert got == want, "kvscope %s != INFO commandstats %s" % (got, want)
        assert got["set"] == 25 and got["get"] == 17 and got["hsetex"] == 1 and got["other"] == 1, got
