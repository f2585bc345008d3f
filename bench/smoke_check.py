"""Checks a quick bench run's JSON: every round ran and produced numbers.
Goals are not judged here. Prints `bench smoke: N passed, N failed`."""

import json
import sys

checks = []


def check(name, ok):
    checks.append((name, bool(ok)))
    print("%s %s" % ("ok  " if ok else "FAIL", name))


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_rounds(res):
    for kind, rnds in res["rounds"].items():
        check("%s: %d round(s) ran" % (kind, len(rnds)), len(rnds) >= 1)
        for i, rnd in enumerate(rnds):
            for load, r in rnd.items():
                tag = "%s round %d %s" % (kind, i + 1, load)
                check(tag + ": requests served without errors",
                      r["requests"] > 0 and r["errors"] == 0)
                check(tag + ": throughput and p50/p99 measured",
                      r["throughput"] > 0 and 0 < r["p50_ms"] <= r["p99_ms"])
                check(tag + ": etcd CPU per request measured", r["etcd_cpu_us_per_req"] > 0)
                if kind != "none":
                    check(tag + ": BPF programs ran, run time measured",
                          r["bpf_hits"] > 0 and number(r["bpf_ns_per_hit"]))
                    check(tag + ": agent CPU and memory measured",
                          number(r["agent_cpu_pct"]) and r["rss_hwm_kib"] > 0)
                if kind == "kvscope":
                    check(tag + ": maps and lost events read",
                          r["map_bytes"] > 0 and number(r["events_lost"]))


def main():
    path, rc = sys.argv[1], int(sys.argv[2])
    check("bench run exited 0", rc == 0)
    try:
        with open(path) as f:
            res = json.load(f)
    except (OSError, ValueError) as e:
        check("results written to %s (%s)" % (path, e), False)
        res = None
    if res is not None:
        check("all four agents ran", set(res["rounds"]) == {"none", "kvscope", "bpftrace", "floor"})
        check_rounds(res)
        s = res["scrape"]
        check("scrape latency measured", s["scrapes"] > 0 and 0 < s["p50_ms"] <= s["p99_ms"])
    failed = sum(1 for _, ok in checks if not ok)
    print("bench smoke: %d passed, %d failed" % (len(checks) - failed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
