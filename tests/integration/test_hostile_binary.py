#!/usr/bin/env python3
"""Hostile binaries and hostile profiles, each run by an unprivileged tenant
(uid 65534) where the attack needs a running process:

- a process that execs another binary while kvscope is between examining
  its file and placing the uprobes (the agent is held at that point with
  ptrace): no breakpoint may land in the binary it became, which another
  tenant runs;
- one etcd image run from two overlayfs mounts (two "containers"): storage
  operations and leader changes are counted once per member, as etcd counts
  them;
- binaries over the examination budget (a file past the size budget, a file
  with 5,000 section headers) are refused, counted once each in
  kvscope_attach_errors_total{reason="binary_over_budget"} and logged once,
  while a copy of etcd with 2,000 section headers aliasing one symbol table
  is attached and counted exactly, and the agent's peak RSS stays far
  under the DaemonSet's 256 MiB;
- a profile whose version_regex stacks quantifiers is refused with one line,
  under a 1 GiB address-space limit, instead of exhausting memory."""

import ctypes
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from kvtest import (KVSCOPE, PLAIN_KVSCOPE, ROOT, BinaryAgent, Runner, bpf_fd_ids,
                    free_port, kvscope_links, parse_metrics, value, wait_for)

NOBODY = 65534
ETCD = os.environ.get("ETCD", "/usr/bin/etcd")
ETCDCTL = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
FIXTURE = os.path.join(ROOT, "build", "fixtures", "goserver")
MIB = 1 << 20
RSS_LIMIT = 256 * MIB  # the DaemonSet's memory limit


def tenant_dir(prefix):
    """A scratch directory the unprivileged tenant can use."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o777)
    return d


def as_tenant(args, **kw):
    return subprocess.Popen(args, user=NOBODY, group=NOBODY, extra_groups=[],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


def go_module_of(binary):
    out = subprocess.run(["go", "version", "-m", binary], capture_output=True, text=True,
                         check=True).stdout
    return [l.split("\t")[2] for l in out.splitlines() if l.startswith("\tpath\t")][0]


TOY_PROFILE = """format: 1
name: toystore-0
store: toystore
language: go
match:
  go_module: %s
methods: [Get, Put]
probes:
  - function: main.handleGet
    role: request_start
    site: entry
    method: Get
  - function: main.handlePut
    role: request_start
    site: entry
    method: Put
"""


def site_offsets(profile_dir, binary):
    """File offsets of the probe sites kvscope resolves in `binary`."""
    out = subprocess.run([PLAIN_KVSCOPE, "probes", "--profile.dir=" + profile_dir, binary],
                         capture_output=True, text=True, check=True).stdout
    rows = out.split("\n\n", 1)[1].splitlines()[1:]
    return [int(r.split()[4], 16) for r in rows if r.strip()]


def armed(pid, path, fileoff):
    """Whether a breakpoint (int3) sits at file offset `fileoff` of `path` in
    process pid's memory."""
    real = os.path.realpath(path)
    with open("/proc/%d/maps" % pid) as f:
        for line in f:
            parts = line.split()
            if len(parts) < 6 or os.path.realpath(parts[5]) != real:
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            off = int(parts[2], 16)
            if off <= fileoff < off + (hi - lo):
                with open("/proc/%d/mem" % pid, "rb") as mem:
                    mem.seek(lo + fileoff - off)
                    return mem.read(1) == b"\xcc"
    raise AssertionError("%s offset %#x not mapped in pid %d" % (path, fileoff, pid))


# ptrace from ctypes: hold the agent's discovery thread at its first
# perf_event_open, the moment between examining a binary and attaching.
PTRACE_SYSCALL, PTRACE_GETREGS, PTRACE_DETACH = 24, 12, 17
PTRACE_SEIZE, PTRACE_INTERRUPT, PTRACE_O_TRACESYSGOOD = 0x4206, 0x4207, 1
NR_PERF_EVENT_OPEN = 298
RAX, ORIG_RAX = 10, 15  # indexes in struct user_regs_struct
ENOSYS_RAX = (1 << 64) - 38  # rax at a syscall-entry stop
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.ptrace.restype = ctypes.c_long


def ptrace(req, tid, addr=0, data=0):
    if libc.ptrace(req, tid, addr, data) < 0:
        raise OSError(ctypes.get_errno(), "ptrace %d" % req)


def hold_at_attach(tid, start, timeout=20):
    """Traces thread `tid`'s system calls, calls start() once tracing, and
    returns once the thread enters perf_event_open, still stopped there."""
    ptrace(PTRACE_SEIZE, tid, 0, PTRACE_O_TRACESYSGOOD)
    ptrace(PTRACE_INTERRUPT, tid)
    os.waitpid(tid, 0x40000000)  # __WALL
    start()
    regs = (ctypes.c_ulonglong * 27)()
    deadline, sig = time.time() + timeout, 0
    while time.time() < deadline:
        ptrace(PTRACE_SYSCALL, tid, 0, sig)
        _, status = os.waitpid(tid, 0x40000000)
        if not os.WIFSTOPPED(status):
            raise AssertionError("the agent ended while traced")
        sig = os.WSTOPSIG(status)
        if sig != (signal.SIGTRAP | 0x80):
            sig = 0 if sig in (signal.SIGTRAP, signal.SIGSTOP) else sig
            continue
        sig = 0
        ptrace(PTRACE_GETREGS, tid, 0, ctypes.addressof(regs))
        if regs[RAX] == ENOSYS_RAX and regs[ORIG_RAX] == NR_PERF_EVENT_OPEN:
            return
    ptrace(PTRACE_DETACH, tid)
    raise AssertionError("the agent made no perf_event_open within %ds" % timeout)


def test_exec_between_examine_and_attach():
    """The tenant's process runs copy X of a store binary; the agent examines
    X; before the first uprobe is placed the process execs copy V, which
    another tenant's process runs. Uprobes placed through the path would
    land in V, in the other tenant's process too; placed through the pinned
    descriptor they land in X, and the process is not counted."""
    d = tenant_dir("kvscope-exec-")
    pdir = tempfile.mkdtemp(prefix="kvscope-profiles-")
    x, v = os.path.join(d, "toy-x"), os.path.join(d, "toy-v")
    for p in (x, v):
        shutil.copy(FIXTURE, p)
        os.chmod(p, 0o755)
    with open(os.path.join(pdir, "toy.yaml"), "w") as f:
        f.write(TOY_PROFILE % go_module_of(FIXTURE))
    offsets = site_offsets(pdir, x)
    assert len(offsets) == 2, offsets
    victim = as_tenant([v])
    agent = BinaryAgent(KVSCOPE, "--profile.dir=" + pdir, "--target.exe=" + x)
    procs = [victim]
    try:
        wait_for(lambda: "request and Raft probes" in agent.logtext(), 30,
                 what="the agent idle after start-up")

        def start_tenant():
            procs.append(as_tenant([x], env={"KVSCOPE_FIXTURE_EXEC": v}))
        hold_at_attach(agent.proc.pid, start_tenant)
        tenant = procs[-1]
        try:
            tenant.send_signal(signal.SIGUSR1)
            wait_for(lambda: os.readlink("/proc/%d/exe" % tenant.pid) == v, 5,
                     what="the tenant's process to become V")
        finally:
            ptrace(PTRACE_DETACH, agent.proc.pid)
        wait_for(lambda: "target skipped" in agent.logtext(), 10,
                 what="the agent to give up on the process")
        log = agent.logtext()
        assert "no longer runs the binary examined" in log, log
        m = agent.scrape()
        name = "toy-x-%d" % tenant.pid
        assert value(m, "kvscope_target_attached", target=name) == 0, name
        for off in offsets:
            assert not armed(victim.pid, v, off), "breakpoint in the other tenant's V"
            assert not armed(tenant.pid, v, off), "breakpoint in the process that became V"
        # the uprobes went where the examined bytes are: X, whoever runs it
        witness = as_tenant([x])
        procs.append(witness)
        wait_for(lambda: all(armed(witness.pid, x, off) for off in offsets), 5,
                 what="X's uprobes armed in a process of X")
    finally:
        agent.stop()
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(d, ignore_errors=True)
        shutil.rmtree(pdir, ignore_errors=True)


class Member:
    """A single-member etcd from `binary`, run by the tenant."""

    def __init__(self, binary, name, root):
        self.name = name
        self.client = "http://127.0.0.1:%d" % free_port()
        peer = "http://127.0.0.1:%d" % free_port()
        self.dir = os.path.join(root, name)
        self.proc = as_tenant([binary, "--name", name, "--data-dir", self.dir,
                               "--listen-client-urls", self.client,
                               "--advertise-client-urls", self.client,
                               "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                               "--initial-cluster", "%s=%s" % (name, peer)], cwd=root)
        self.pid = self.proc.pid
        wait_for(lambda: self.ctl("endpoint", "health").returncode == 0, 20,
                 what="etcd %s healthy" % name)

    def ctl(self, *args):
        return subprocess.run([ETCDCTL, "--endpoints", self.client, "--command-timeout=5s",
                               *args], capture_output=True, text=True, timeout=30,
                              env=dict(os.environ, ETCDCTL_API="3"))

    def own_metrics(self):
        import urllib.request
        with urllib.request.urlopen(self.client + "/metrics", timeout=5) as r:
            return parse_metrics(r.read().decode())

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


COUNTED = [("wal_sync", "etcd_disk_wal_fsync_duration_seconds_count"),
           ("backend_commit", "etcd_disk_backend_commit_duration_seconds_count")]


def assert_counts_once(agent, members, puts=20):
    """Each member's storage operations and leader changes, as etcd counts them."""
    before = agent.scrape()
    before_e = {mb.name: mb.own_metrics() for mb in members}
    for mb in members:
        for i in range(puts):
            r = mb.ctl("put", "hb/%d" % i, "v" * 100)
            assert r.returncode == 0, r.stderr

    def agree():
        m = agent.scrape()
        for mb in members:
            e = mb.own_metrics()
            for op, theirs in COUNTED:
                mine = value(m, "kvstore_storage_operations_total", target=mb.name,
                             operation=op) - value(before, "kvstore_storage_operations_total",
                                                   target=mb.name, operation=op)
                if mine != value(e, theirs) - value(before_e[mb.name], theirs) or not mine:
                    return False
            lc = "kvstore_raft_leader_elections_total"
            theirs = "etcd_server_leader_changes_seen_total"
            if value(m, lc, target=mb.name) - value(before, lc, target=mb.name) != \
                    value(e, theirs) - value(before_e[mb.name], theirs):
                return False
            if value(m, "kvstore_requests_total", target=mb.name, method="Put") - \
                    value(before, "kvstore_requests_total", target=mb.name, method="Put") != puts:
                return False
        return True
    wait_for(agree, 10, step=0.3, what="storage operations and leader changes counted once")


def site_links(pid):
    """The uprobe links of agent `pid`'s store-function program."""
    _, progs = bpf_fd_ids(pid)
    out = subprocess.run(["bpftool", "-j", "prog", "show"], capture_output=True, text=True)
    ours = {p["id"] for p in json.loads(out.stdout or "[]")
            if p.get("name") == "kvs_site_hit" and p["id"] in progs}
    return kvscope_links(ours)


def test_overlay_containers_counted_once():
    """Two overlay mounts over one lower layer holding etcd: uprobes bind to
    the lower file both share, so a set of uprobes per overlay inode would
    count each member's operations twice."""
    root = tenant_dir("kvscope-ovl-")
    lower = os.path.join(root, "lower")
    os.makedirs(lower)
    shutil.copy(ETCD, os.path.join(lower, "etcd"))
    merged, members = [], []
    agent = None
    try:
        for i in (1, 2):
            up, work, m = (os.path.join(root, "%s%d" % (k, i)) for k in ("upper", "work", "m"))
            for p in (up, work, m):
                os.makedirs(p)
            subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                            "lowerdir=%s,upperdir=%s,workdir=%s" % (lower, up, work), m],
                           check=True)
            merged.append(m)
        s1, s2 = (os.stat(os.path.join(m, "etcd")) for m in merged)
        assert s1.st_ino == s2.st_ino and s1.st_dev != s2.st_dev, "not two views of one file"
        for i, m in enumerate(merged):
            members.append(Member(os.path.join(m, "etcd"), "ovl%d" % (i + 1), root))
        agent = BinaryAgent(KVSCOPE, "--target.pid=%d,%d" % (members[0].pid, members[1].pid))
        agent.wait_attached([mb.name for mb in members], timeout=20)
        assert_counts_once(agent, members)
        # one set of uprobes per process: the kernel arms each in its process alone
        n = len(site_links(agent.proc.pid))
        assert n == 2 * 16, "%d uprobes, want 16 per member" % n
    finally:
        if agent:
            agent.stop()
        for mb in members:
            mb.stop()
        for m in merged:
            subprocess.run(["umount", m])
        shutil.rmtree(root, ignore_errors=True)


def elf_with_more_sections(src, dst, extra, aliased):
    """A copy of `src` whose section headers are moved to the end of the file
    with `extra` more: SHT_SYMTAB headers over one range of the file when
    `aliased`, else NULL headers. The kernel runs it like the original."""
    data = bytearray(open(src, "rb").read())
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shnum, = struct.unpack_from("<H", data, 0x3c)
    table = data[shoff:shoff + shnum * 64]
    for i in range(extra):
        if aliased:  # all over the file's first 64 KiB, linked to section 1
            table += struct.pack("<IIQQQQIIQQ", 0, 2, 0, 0, 0x10000, 0x10000 // 24 * 24, 1, 0,
                                 8, 24)
        else:
            table += bytes(64)
    new_off = (len(data) + 7) & ~7
    data += bytes(new_off - len(data)) + table
    struct.pack_into("<Q", data, 0x28, new_off)
    total = shnum + extra
    struct.pack_into("<H", data, 0x3c, total if total < 0xff00 else 0)
    if total >= 0xff00:  # the count in section 0's sh_size
        struct.pack_into("<Q", data, new_off + 32, total)
    with open(dst, "wb") as f:
        f.write(data)
    os.chmod(dst, 0o755)


def peak_rss(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def test_budget_refusals_and_aliases():
    root = tenant_dir("kvscope-budget-")
    big, many, alias = (os.path.join(root, n) for n in ("etcd-big", "etcd-many", "etcd-alias"))
    shutil.copy(ETCD, big)
    with open(big, "r+b") as f:  # 200 MiB: past the 128 MiB budget, sparse on disk
        f.truncate(200 * MIB)
    os.chmod(big, 0o755)
    elf_with_more_sections(ETCD, many, 5000, aliased=False)
    elf_with_more_sections(ETCD, alias, 2000, aliased=True)
    members, agent = [], None
    try:
        members = [Member(big, "big1", root), Member(big, "big2", root),
                   Member(many, "many", root), Member(alias, "alias", root)]
        agent = BinaryAgent(PLAIN_KVSCOPE,
                            "--target.pid=" + ",".join(str(mb.pid) for mb in members))
        agent.wait_attached(["alias"], timeout=20)
        wait_for(lambda: value(agent.scrape(), "kvscope_attach_errors_total",
                               reason="binary_over_budget") == 2, 10,
                 what="two binaries refused")
        log = agent.logtext()
        refused = [l for l in log.splitlines() if "binary refused" in l]
        assert len(refused) == 2, refused
        assert any("file of 200 MiB, at most 128 MiB" in l for l in refused), refused
        assert any("section headers, at most 4096" in l for l in refused), refused
        assert_counts_once(agent, [members[3]])
        time.sleep(2)  # further scans: no second count, no second line
        m = agent.scrape()
        assert value(m, "kvscope_attach_errors_total", reason="binary_over_budget") == 2
        assert len([l for l in agent.logtext().splitlines() if "binary refused" in l]) == 2
        rss = peak_rss(agent.proc.pid)
        assert rss < RSS_LIMIT // 2, "peak RSS %d MiB" % (rss // MIB)
        print("  agent peak RSS %d MiB" % (rss // MIB))
    finally:
        if agent:
            agent.stop()
        for mb in members:
            mb.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_stacked_quantifiers_refused():
    pdir = tempfile.mkdtemp(prefix="kvscope-profiles-")
    with open(os.path.join(ROOT, "profiles", "etcd-3.4.yaml")) as f:
        text = f.read()
    text = text.replace("name: etcd-3.4", "name: etcd-bad").replace(
        "version_regex: '^3\\.4\\.[0-9]+$'", "version_regex: 'Ra+++++++++++++++++++++++++mit'")
    assert "Ra+++" in text
    with open(os.path.join(pdir, "bad.yaml"), "w") as f:
        f.write(text)
    try:
        t0 = time.time()
        r = subprocess.run(["prlimit", "--as=%d" % (1 << 30), PLAIN_KVSCOPE, "probes",
                            "--profile.dir=" + pdir, ETCD], capture_output=True, text=True,
                           timeout=60)
        took = time.time() - t0
        err = [l for l in r.stderr.splitlines() if "profile rejected" in l]
        assert len(err) == 1 and "bad.yaml:" in err[0] and \
            "pattern refused: stacked quantifiers '++'" in err[0], r.stderr
        # the built-in profile still serves
        assert r.returncode == 0 and "profile: etcd-3.4" in r.stdout, (r.returncode, r.stdout)
        print("  refused in %.2fs" % took)
    finally:
        shutil.rmtree(pdir, ignore_errors=True)


def main():
    runner = Runner("integration hostile binary")
    if os.geteuid() != 0:
        print("needs root (BPF, mounts, ptrace)")
        runner.failed += 1
        return runner.finish()
    runner.run("stacked quantifiers refused", test_stacked_quantifiers_refused)
    runner.run("exec between examine and attach", test_exec_between_examine_and_attach)
    runner.run("overlay containers counted once", test_overlay_containers_counted_once)
    runner.run("budget refusals and aliases", test_budget_refusals_and_aliases)
    return runner.finish()


if __name__ == "__main__":
    sys.exit(main())
