"""RESULTS.md and the printed summary of a bench run."""

import report
from report import LABELS, fmt


def md_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def goals_section(res):
    gs = report.goals(res)
    rows = [(g, m, t, "met" if ok else "**missed**") for g, m, t, ok, _ in gs]
    out = ["## Goals", "", md_table(("goal", "measured", "target", ""), rows), ""]
    missed = [(g, m, t, why) for g, m, t, ok, why in gs if not ok]
    if missed:
        out += ["### Where a goal is missed, by how much and why", ""]
        out += ["- **%s**: %s against %s: %s." % (g, m, t, why)
                for g, m, t, why in missed]
        out.append("")
    return out


def load_section(res):
    out = ["## Side by side", "",
           "Medians over %d alternating repeats; ratios are per repeat against that repeat's "
           "no-agent round, then the median. *Added* is etcd CPU per request (all three members) "
           "beyond the no-agent round; *per hit* divides it by the BPF program runs per request."
           % res["params"]["repeats"], ""]
    header = ("agent", "req/s", "ratio", "p50 ms", "p99 ms", "p99 ratio", "etcd CPU us/req",
              "added us/req", "hits/req", "us per hit", "BPF ns/hit", "agent CPU %")
    for load, rows in report.table(res).items():
        out += ["### %s (%d%% puts, the rest ranges)" % (load, res["params"]["loads"][load]), ""]
        out.append(md_table(header, [(
            LABELS[k], fmt(r["throughput"], "%.0f"), fmt(r["thr_ratio"], "%.3f"),
            fmt(r["p50_ms"]), fmt(r["p99_ms"]), fmt(r["p99_ratio"], "%.3f"),
            fmt(r["cpu_us_per_req"], "%.1f"), fmt(r["added_us"], "%.2f", "-"),
            fmt(r["hits_per_req"], "%.2f", "-"), fmt(r["cpu_per_hit_us"], "%.3f", "-"),
            fmt(r["ns_per_hit"], "%.0f", "-"), fmt(r["agent_cpu_pct"], "%.2f", "-"))
            for k, r in rows.items()]))
        out.append("")
    return out


def kvscope_section(res):
    k = report.kvscope_totals(res)
    s = res["scrape"]
    return ["## kvscope itself", "",
            "- peak RSS (VmHWM) in the main rounds: %.1f MiB; highest in any run: %.1f MiB" % (
                k["rss_kib"] / 1024, k["rss_max_kib"] / 1024),
            "- BPF map memory (bytes_memlock of its maps): %.1f KiB" % (k["map_bytes"] / 1024),
            "- `/metrics` with %d targets: p50 %.2f ms, p99 %.2f ms over %d back-to-back scrapes "
            "(%d series, %d bytes)" % (s["targets"], s["p50_ms"], s["p99_ms"], s["scrapes"],
                                       s["series"], s["bytes"]),
            "- events lost (`kvscope_events_lost_total`) over every run: %d" % k["lost"], ""]


def growth_row(r, first):
    return (r.get("targets"), r["requests"], "%.0f" % r["throughput"],
            "%.2f" % r["agent_cpu_pct"], "%.2f" % r["agent_cpu_us_per_req"],
            fmt(r["bpf_ns_per_hit"], "%.0f"), "%.1f" % (r["rss_hwm_kib"] / 1024),
            "%.1f" % (r["map_bytes"] / 1024), r["scrape"]["series"],
            "%.2f" % r["scrape"]["p50_ms"], "%.2f" % r["scrape"]["p99_ms"],
            "%d" % r["events_lost"])


def growth_section(res):
    header = ("targets", "requests", "req/s", "kvscope CPU %", "kvscope CPU us/req",
              "BPF ns/hit", "RSS MiB", "maps KiB", "series", "scrape p50 ms", "scrape p99 ms",
              "lost")
    out = ["## How cost grows", ""]
    if res.get("sizes"):
        out += ["### With requests (3-member cluster, put-heavy, a fresh kvscope each)", "",
                md_table(header, [growth_row(r, i == 0) for i, r in enumerate(res["sizes"])]), ""]
    if res.get("processes"):
        out += ["### With watched processes (single-member etcds, half puts, every method "
                "touched on each)", "",
                md_table(header, [growth_row(r, i == 0) for i, r in enumerate(res["processes"])]),
                ""]
        out += extrapolation(res["processes"])
    for f in res.get("failures", []):
        out += ["Phase failed in this run: %s" % f, ""]
    if not res.get("sizes") and not res.get("processes") and not res.get("failures"):
        out += ["Skipped in this run (BENCH_QUICK).", ""]
    return out


def extrapolation(procs):
    """Per-target scrape cost from the two largest runs, projected honestly."""
    if len(procs) < 2:
        return []
    a, b = procs[-2], procs[-1]
    dt = b["targets"] - a["targets"]
    if dt <= 0:
        return []
    per = (b["scrape"]["p99_ms"] - a["scrape"]["p99_ms"]) / dt
    per_series = (b["scrape"]["series"] - a["scrape"]["series"]) / dt
    out = ["Between %d and %d targets each extra target added %.0f series and %.3f ms of scrape "
           "p99." % (a["targets"], b["targets"], per_series, per)]
    if b["targets"] < 30:
        proj = b["scrape"]["p99_ms"] + per * (30 - b["targets"])
        out.append("Projected linearly, not measured: 30 targets would scrape in about %.2f ms "
                   "at p99." % proj)
    else:
        out.append("30 targets were measured directly, not extrapolated.")
    return [" ".join(out), ""]


def header_section(res):
    s, p = res["system"], res["params"]
    return ["# kvscope bench results", "",
            "What kvscope costs etcd, side by side with no agent, a hand-written bpftrace "
            "script measuring the same request latency histograms, and a no-op BPF program on "
            "kvscope's own probe sites. Produced by `make bench` (`bench/run.sh`).", "",
            "- date: %s" % s["date"], "- kernel: %s" % s["kernel"],
            "- CPU: %s, %d cores" % (s["cpu"], s["cpus"]), "- %s" % s["etcd"],
            "- %s; %s" % (s["kvscope"], s["bpftrace"]),
            "- 3-member etcd cluster on 127.0.0.1 pinned to CPU 1, data on tmpfs; load "
            "generator and agents pinned to CPU 0 (an agent is measured once its start-up CPU "
            "burst is over, under 5%% of a core); gRPC load of %d requests per run from %d "
            "callers; %d repeats of the rounds in order none, kvscope, bpftrace, floor; "
            "kernel.bpf_stats_enabled=1 throughout, so every agent pays the same stats cost" % (
                p["requests"], p["concurrency"], p["repeats"]),
            "- probe points: kvscope %d sites; hand-written script %d (entry and every ret of "
            "the five KV handlers); floor %d (kvscope's sites, empty actions)" % (
                res["scripts"]["kvscope_sites"], res["scripts"]["handwritten_probes"],
                res["scripts"]["floor_probes"]), ""]


def markdown(res):
    out = header_section(res) + goals_section(res) + load_section(res) + kvscope_section(res)
    out += growth_section(res)
    out += ["## The hand-written script", "",
            "Generated by `bench/probesites.py` from `kvscope probes` and objdump; offsets are "
            "file offsets (bpftrace 0.17), run with `bpftrace --unsafe`.", "", "```",
            res["scripts"]["handwritten_script"].rstrip(), "```", ""]
    return "\n".join(out)


def summary(res):
    lines = ["", "%-34s %-14s %-10s %s" % ("goal", "measured", "target", "")]
    for g, m, t, ok, _ in report.goals(res):
        lines.append("%-34s %-14s %-10s %s" % (g, m, t, "met" if ok else "MISSED"))
    for load, rows in report.table(res).items():
        lines.append("")
        lines.append("%-12s %-22s %9s %7s %9s %9s %9s" % (
            load, "agent", "req/s", "ratio", "p99 ms", "p99 x", "ns/hit"))
        for k, r in rows.items():
            lines.append("%-12s %-22s %9s %7s %9s %9s %9s" % (
                "", LABELS[k], fmt(r["throughput"], "%.0f"), fmt(r["thr_ratio"], "%.3f"),
                fmt(r["p99_ms"]), fmt(r["p99_ratio"], "%.3f"), fmt(r["ns_per_hit"], "%.0f", "-")))
    return "\n".join(lines)
