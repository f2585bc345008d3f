"""Turns a bench run's raw results into ratios, goal verdicts and RESULTS.md."""

import statistics

from measure import median

LABELS = {"none": "no agent", "kvscope": "kvscope", "bpftrace": "hand-written bpftrace",
          "floor": "no-op floor"}
THROUGHPUT_GOAL = {"put-heavy": 0.95, "range-heavy": 0.97}
P99_GOAL, CPU_PER_HIT_GOAL_US, FLOOR_GOAL, NS_PER_HIT_GOAL = 1.05, 0.5, 1.2, 250
SCRAPE_P99_GOAL_MS, RSS_GOAL_MIB = 5.0, 20


def series(res, kind, load, key):
    return [rnd[load].get(key) for rnd in res["rounds"][kind]]


def paired_ratio(res, kind, load, key):
    """Median over repeats of kind's value / the same repeat's no-agent value."""
    pairs = zip(series(res, kind, load, key), series(res, "none", load, key))
    return median([a / b for a, b in pairs if a is not None and b])


def added_cpu_us(res, kind, load):
    """Median over repeats of etcd CPU per request beyond the no-agent round's."""
    pairs = zip(series(res, kind, load, "etcd_cpu_us_per_req"),
                series(res, "none", load, "etcd_cpu_us_per_req"))
    return median([a - b for a, b in pairs])


def spread_pct(values):
    """Half the range of the values, as % of their median: repeat-to-repeat noise."""
    values = [v for v in values if v is not None]
    if len(values) < 2:
        return None
    return (max(values) - min(values)) / 2 / statistics.median(values) * 100


def load_row(res, kind, load):
    added = added_cpu_us(res, kind, load) if kind != "none" else None
    hits = median(series(res, kind, load, "hits_per_req"))
    return {"throughput": median(series(res, kind, load, "throughput")),
            "thr_ratio": paired_ratio(res, kind, load, "throughput"),
            "p50_ms": median(series(res, kind, load, "p50_ms")),
            "p99_ms": median(series(res, kind, load, "p99_ms")),
            "p99_ratio": paired_ratio(res, kind, load, "p99_ms"),
            "cpu_us_per_req": median(series(res, kind, load, "etcd_cpu_us_per_req")),
            "added_us": added, "hits_per_req": hits,
            "cpu_per_hit_us": added / hits if added is not None and hits else None,
            "ns_per_hit": median(series(res, kind, load, "bpf_ns_per_hit")),
            "agent_cpu_pct": median(series(res, kind, load, "agent_cpu_pct")),
            "errors": sum(series(res, kind, load, "errors"))}


def table(res):
    return {load: {kind: load_row(res, kind, load) for kind in res["rounds"]}
            for load in res["params"]["loads"]}


def kvscope_totals(res):
    rnds = [r for rnd in res["rounds"]["kvscope"] for r in rnd.values()]
    runs = rnds + res.get("sizes", []) + res.get("processes", [])
    main_rss = max((r.get("rss_hwm_kib", 0) for r in rnds), default=0)
    return {"rss_kib": main_rss, "rss_max_kib": max((r.get("rss_hwm_kib", 0) for r in runs),
                                                    default=0),
            "map_bytes": max((r.get("map_bytes", 0) for r in rnds), default=0),
            "lost": sum(r.get("events_lost", 0) or 0 for r in runs)}


def fmt(v, spec="%.2f", none="n/a"):
    return none if v is None else spec % v


def goals(res):
    """[(goal, measured, target, ok, why-if-missed)]."""
    t, k = table(res), kvscope_totals(res)
    out = []
    for load, want in THROUGHPUT_GOAL.items():
        row = t[load]["kvscope"]
        out.append(("throughput, %s" % load, fmt(row["thr_ratio"], "%.3f"), ">= %.2f" % want,
                    row["thr_ratio"] is not None and row["thr_ratio"] >= want,
                    why_load(res, t, load, "thr_ratio")))
        out.append(("client p99, %s" % load, fmt(row["p99_ratio"], "%.3f") + "x",
                    "<= %.2fx" % P99_GOAL,
                    row["p99_ratio"] is not None and row["p99_ratio"] <= P99_GOAL,
                    why_load(res, t, load, "p99_ratio")))
    per_hit = median([t[load]["kvscope"]["cpu_per_hit_us"] for load in t])
    out.append(("etcd CPU per probe hit", fmt(per_hit, "%.3f us"), "<= %.1f us" % CPU_PER_HIT_GOAL_US,
                per_hit is not None and per_hit <= CPU_PER_HIT_GOAL_US, why_per_hit(t)))
    floor = floor_ratio(t)
    out.append(("added etcd CPU vs no-op floor", fmt(floor, "%.2fx"), "<= %.1fx" % FLOOR_GOAL,
                floor is not None and floor <= FLOOR_GOAL, why_floor(t)))
    ns = median([t[load]["kvscope"]["ns_per_hit"] for load in t])
    out.append(("BPF run time per hit", fmt(ns, "%.0f ns"), "<= %d ns" % NS_PER_HIT_GOAL,
                ns is not None and ns <= NS_PER_HIT_GOAL,
                "the one site program does the request bookkeeping (goroutine lookup, bucket "
                "search, per-CPU updates) on every hit; see the per-site cost in `kvscope probes`"))
    sp = res["scrape"]["p99_ms"]
    out.append(("scrape p99, %d targets" % res["scrape"]["targets"], "%.2f ms" % sp,
                "<= %.0f ms" % SCRAPE_P99_GOAL_MS, sp <= SCRAPE_P99_GOAL_MS,
                "each scrape sums every series' per-CPU map entries; %d series, %d bytes%s" % (
                    res["scrape"]["series"], res["scrape"]["bytes"], noise_note(res))))
    out.append(("kvscope peak RSS", "%.1f MiB" % (k["rss_kib"] / 1024), "<= %d MiB" % RSS_GOAL_MIB,
                k["rss_kib"] <= RSS_GOAL_MIB * 1024,
                why_rss(res)))
    out.append(("events lost", "%d" % k["lost"], "0", k["lost"] == 0,
                "see kvscope_events_lost_total{reason} in the round logs"))
    return out


def floor_ratio(t):
    ratios = []
    for load in t:
        kv, fl = t[load]["kvscope"]["added_us"], t[load]["floor"]["added_us"]
        if kv is not None and fl and fl > 0:
            ratios.append(kv / fl)
    return median(ratios)


def noise_note(res):
    """Why numbers may move that have nothing to do with the agent."""
    rnds = [r for kind in res["rounds"].values() for rnd in kind for r in rnd.values()]
    foreign = sum(1 for r in rnds if r.get("foreign_uprobes"))
    load = max((r.get("loadavg", 0) for r in rnds), default=0)
    notes = []
    if load > 2.5:
        notes.append("the host's load average reached %.1f on 2 cores during the rounds" % load)
    if foreign:
        notes.append("%d round-loads ran while another tool had uprobes on etcd" % foreign)
    return ("; note that " + " and ".join(notes)) if notes else ""


def why_load(res, t, load, key):
    kv, none, fl = t[load]["kvscope"], t[load]["none"], t[load]["floor"]
    noise = spread_pct(series(res, "none", load, "throughput" if key == "thr_ratio" else "p99_ms"))
    base = none["cpu_us_per_req"] or 0
    share = (kv["added_us"] or 0) / base * 100 if base else 0
    want = THROUGHPUT_GOAL[load] if key == "thr_ratio" else P99_GOAL
    floor_ok = fl[key] is not None and (fl[key] >= want if key == "thr_ratio" else fl[key] <= want)
    floor_says = ("the no-op floor on the same sites meets this goal (%s), so the excess is "
                  "kvscope's own program or noise" if floor_ok else
                  "the no-op floor on the same sites misses it too (%s): that much is the "
                  "kernel's uprobe cost, which any BPF tool on these sites pays") % fmt(fl[key], "%.3f")
    return ("kvscope adds %s us of etcd CPU per request (%s probe hits x %s us) to a baseline of "
            "%.1f us, %.1f%% more work on the one core etcd is pinned to; %s; no-agent rounds "
            "alone varied by +/-%s%% between repeats%s" % (
                fmt(kv["added_us"]), fmt(kv["hits_per_req"], "%.1f"),
                fmt(kv["cpu_per_hit_us"], "%.3f"), base, share, floor_says,
                fmt(noise, "%.1f"), noise_note(res)))


def why_per_hit(t):
    kv_ns = median([t[load]["kvscope"]["ns_per_hit"] for load in t])
    kv_us = median([t[load]["kvscope"]["cpu_per_hit_us"] for load in t])
    fl_us = median([t[load]["floor"]["cpu_per_hit_us"] for load in t])
    text = ("a hit costs the uprobe trap (breakpoint exception, instruction emulation, return "
            "to user) plus the BPF program; kvscope's program runs %s ns of the %s us, and the "
            "no-op floor's added CPU comes to %s us per hit" % (
                fmt(kv_ns, "%.0f"), fmt(kv_us, "%.3f"), fmt(fl_us, "%.3f")))
    if fl_us is None or fl_us <= 0:
        text += " (within noise: the per-hit figure is a difference of CPU totals)"
    return text


def why_floor(t):
    return ("kvscope's program runs %s ns per hit against the empty program's %s ns; the added "
            "CPU figures are differences of noisy totals, so small overheads give large ratios" % (
                fmt(median([t[load]["kvscope"]["ns_per_hit"] for load in t]), "%.0f"),
                fmt(median([t[load]["floor"]["ns_per_hit"] for load in t]), "%.0f")))


def why_rss(res):
    rnds = [r for rnd in res["rounds"]["kvscope"] for r in rnd.values()]
    now = max((r.get("rss_now_kib", 0) for r in rnds), default=0)
    return ("the figure is the agent's peak (VmHWM); its resident size at the end of a round "
            "was %.1f MiB, so %s" % (now / 1024, "the peak is transient (start-up, while "
                                     "etcd's symbol tables are read)" if now < 0.8 * max(
                                         r.get("rss_hwm_kib", 0) for r in rnds)
                                     else "the memory stays resident"))
