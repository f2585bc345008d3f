"""The BPF objects a process holds and what the kernel still has: the one
reader of /proc/PID/fdinfo, and bpftool's listings."""

import json
import os
import subprocess
from collections import namedtuple

BpfFds = namedtuple("BpfFds", "links progs maps")


def bpf_fds(pid):
    """BpfFds(links, progs, maps): the ids of the BPF links, programs and
    maps process pid holds open, from /proc/PID/fdinfo. A link's fdinfo
    names its program too; that program counts among progs."""
    links, progs, maps = set(), set(), set()
    fdinfo = "/proc/%d/fdinfo" % pid
    for fd in os.listdir(fdinfo):
        try:
            with open(os.path.join(fdinfo, fd)) as f:
                text = f.read()
        except OSError:  # closed between listdir and open
            continue
        fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
        for key, ids in (("link_id", links), ("prog_id", progs), ("map_id", maps)):
            if key in fields:
                ids.add(int(fields[key]))
    return BpfFds(links, progs, maps)


def bpftool_json(*args):
    """bpftool -j ARGS as JSON; [] when bpftool fails."""
    r = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True, timeout=30)
    return json.loads(r.stdout or "[]") if r.returncode == 0 else []


def kvscope_links(prog_ids=None):
    """bpftool's links of kvscope's uprobe program: of the given program IDs
    (one agent's), or of any kvscope when None."""
    links = bpftool_json("link", "show")
    if prog_ids is None:
        prog_ids = {p["id"] for p in bpftool_json("prog", "show")
                    if p.get("name") == "kvs_site_hit"}
    return [link for link in links if link.get("prog_id") in prog_ids]


def bpf_ids_alive(links, progs):
    """The subset of the given link and program ids the kernel still has."""
    def ids(kind):
        return {x["id"] for x in bpftool_json(kind, "show")}
    return set(links) & ids("link"), set(progs) & ids("prog")


def uprobe_events():
    try:
        with open("/sys/kernel/tracing/uprobe_events") as f:
            return f.read().strip()
    except OSError:
        return ""
