"""Where the bench's bpftrace scripts hang their probes.

kvscope's own sites come from `kvscope probes BINARY`. The hand-written
script probes what a user would: each KV handler's first instruction and
every `ret` in it, found with objdump. bpftrace 0.17 reads `uprobe:BIN:0xN`
as a file offset, so virtual addresses are mapped through the ELF program
headers, never assumed."""

import re
import subprocess

ROW_RE = re.compile(
    r"^(\S+)\s+0x([0-9a-f]+)\s+(\d+)\s+\+(\d+)\s+0x([0-9a-f]+)\s+(\S+)\s+(.*)$")
LOAD_RE = re.compile(
    r"^\s*LOAD\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)\s+0x[0-9a-f]+\s+0x([0-9a-f]+)\s+0x([0-9a-f]+)")
RET_RE = re.compile(r"^\s*([0-9a-f]+):\s+ret[q]?\b")
HANDLER_PREFIX = "go.etcd.io/etcd/etcdserver/etcdserverpb._KV_"
METHODS = ("Range", "Put", "DeleteRange", "Txn", "Compact")


def kvscope_sites(kvscope, binary):
    """[{function, address, size, offset, cost, measures}] from `kvscope probes`."""
    out = subprocess.run([kvscope, "probes", binary], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    sites = []
    for line in out.splitlines():
        m = ROW_RE.match(line)
        if m:
            sites.append({"function": m.group(1), "address": int(m.group(2), 16),
                          "size": int(m.group(3)), "offset": int(m.group(5), 16),
                          "cost": m.group(6), "measures": m.group(7).strip()})
    if not sites:
        raise RuntimeError("kvscope probes %s listed no sites" % binary)
    return sites


def load_segments(binary):
    """[(file_offset, vaddr, filesz)] of the PT_LOAD program headers."""
    out = subprocess.run(["readelf", "-lW", binary], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    segs = []
    for line in out.splitlines():
        m = LOAD_RE.match(line)
        if m:
            segs.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(4), 16)))
    if not segs:
        raise RuntimeError("no PT_LOAD segments in %s" % binary)
    return segs


def file_offset(segments, vaddr):
    for off, va, filesz in segments:
        if va <= vaddr < va + filesz:
            return vaddr - va + off
    raise RuntimeError("address 0x%x is in no loaded segment" % vaddr)


def ret_addresses(binary, start, size):
    out = subprocess.run(["objdump", "-d", "--no-show-raw-insn",
                          "--start-address=0x%x" % start, "--stop-address=0x%x" % (start + size),
                          binary], capture_output=True, text=True, timeout=120, check=True).stdout
    return [int(m.group(1), 16) for m in map(RET_RE.match, out.splitlines()) if m]


def handler_points(binary, sites):
    """{method: (entry_offset, [ret_offsets])} for the five KV handlers."""
    segs = load_segments(binary)
    points = {}
    for method in METHODS:
        fn = [s for s in sites if s["function"] == HANDLER_PREFIX + method + "_Handler"]
        if not fn:
            raise RuntimeError("kvscope probes lists no %s handler" % method)
        rets = ret_addresses(binary, fn[0]["address"], fn[0]["size"])
        if not rets:
            raise RuntimeError("no ret found in the %s handler" % method)
        points[method] = (file_offset(segs, fn[0]["address"]),
                          [file_offset(segs, r) for r in rets])
    return points


def handwritten_script(binary, points, pids):
    """Request latency histograms per method, keyed by goroutine (R14)."""
    filt = " || ".join("pid == %d" % p for p in pids)
    lines = ["// Request latency per KV method, as written by hand: handler entry",
             "// to every ret, keyed by process and goroutine (Go keeps g in R14)."]
    for method, (entry, rets) in points.items():
        lines.append('uprobe:%s:0x%x /%s/ { @start[pid, reg("r14")] = nsecs; }'
                     % (binary, entry, filt))
        probes = ", ".join("uprobe:%s:0x%x" % (binary, r) for r in rets)
        lines.append('%s /@start[pid, reg("r14")]/ {\n'
                     '\t@%s_ns = hist(nsecs - @start[pid, reg("r14")]);\n'
                     '\tdelete(@start[pid, reg("r14")]);\n}' % (probes, method))
    return "\n".join(lines) + "\n"


def floor_script(binary, sites):
    """Empty actions on exactly kvscope's sites: what any BPF program costs there."""
    offsets = sorted({s["offset"] for s in sites})
    lines = ["// No-op programs on kvscope's own probe sites (the floor)."]
    lines += ["uprobe:%s:0x%x {}" % (binary, o) for o in offsets]
    return "\n".join(lines) + "\n"
