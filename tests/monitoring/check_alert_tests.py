#!/usr/bin/env python3
"""Every alert in rules/*.yml is documented and covered by promtool tests.

Each alert rule needs a severity label, summary and description annotations
and a runbook_url naming a section of docs/runbook.md. rules/tests/*.yml
must hold, for each alert and each of its severities, a case where it fires
(exp_alerts with labels and annotations), and for each alert a case where it
must not (empty exp_alerts); a KVStore alert must be shown firing with its
`cluster` label. Every recording rule must be checked by a promql_expr_test.
Each test file evaluates the rule groups in the order the rule files list
them (group_eval_order), so that no result depends on Prometheus' choice.
Rules and test inputs may only use metric names kvscope, Prometheus or the
node exporter expose, and only the `reason` values the agent emits.
promtool itself runs the tests; this checks they exist and are sound.
Prints `PASS: ...`/`FAIL: ...` lines; exits 1 on any failure.
"""

import argparse
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    print("FAIL: python3 yaml module missing (apt-get install python3-yaml)")
    sys.exit(1)

import metric_names

SEVERITIES = {"critical", "warning", "info"}
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
# Where the agent names the `reason` values of its two health counters.
REASON_SOURCES = {
    "kvscope_events_lost_total": ("agent/metrics/collector.c", r"\[KVS_LOST_\w+\]\s*=\s*\"(\w+)\""),
    "kvscope_attach_errors_total": ("agent/discover/targets.c", r"\[ATTACH_ERR_\w+\]\s*=\s*\"(\w+)\""),
}


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def check(self, ok, what, why=""):
        if ok:
            self.passed += 1
            print(f"PASS: {what}")
        else:
            self.failed += 1
            print(f"FAIL: {what}: {why}")
        return ok


def load(path):
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f) or {}


def rule_groups(rules_dir):
    """[(file name, group)] in the order Prometheus is given them."""
    return [(os.path.basename(p), g) for p in sorted(glob.glob(os.path.join(rules_dir, "*.yml")))
            for g in load(p).get("groups", [])]


def all_rules(groups):
    return [r for _, g in groups for r in g.get("rules", [])]


def cases_in(tests):
    """{alertname: (firing cases, silent cases)} over every test file."""
    cases = {}
    for _, doc in tests:
        for test in doc.get("tests", []):
            for case in test.get("alert_rule_test", []):
                fire, silent = cases.setdefault(case.get("alertname"), ([], []))
                (fire if case.get("exp_alerts") else silent).append(case)
    return cases


def slug(heading):
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors(path):
    try:
        with open(path, encoding="utf-8") as f:
            return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", f.read(), re.M)}
    except OSError:
        return set()


def check_rule_annotations(rep, rule, anchors):
    name, labels, ann = rule["alert"], rule.get("labels", {}), rule.get("annotations", {})
    sev = labels.get("severity")
    where = f"{name} ({sev})"
    rep.check(sev in SEVERITIES, f"{where} has a severity", f"severity {sev!r}")
    rep.check(bool(ann.get("summary")) and bool(ann.get("description")),
              f"{where} has summary and description", f"annotations {sorted(ann)}")
    url = ann.get("runbook_url", "")
    path, _, anchor = url.partition("#")
    rep.check(path == "docs/runbook.md" and anchor in anchors,
              f"{where} runbook_url names a section of docs/runbook.md",
              f"runbook_url {url!r}" + ("" if anchors else " (docs/runbook.md missing)"))


def check_alert_cases(rep, name, severities, fire, silent):
    expected = [a for c in fire for a in c["exp_alerts"]]
    for sev in sorted(severities):
        rep.check(any(a.get("exp_labels", {}).get("severity") == sev for a in expected),
                  f"{name} has a test where it fires as {sev}", f"no expected alert with severity {sev}")
    rep.check(bool(silent), f"{name} has a test where it must not fire", "no case with empty exp_alerts")
    complete = all(a.get("exp_labels", {}).get("severity") in severities
                   and set(a.get("exp_annotations", {})) >= {"summary", "description", "runbook_url"}
                   for a in expected)
    rep.check(complete, f"{name} firing tests assert labels and annotations",
              "an expected alert lacks severity, summary, description or runbook_url")
    if name.startswith("KVStore"):
        rep.check(any("cluster" in a.get("exp_labels", {}) for a in expected),
                  f"{name} is shown firing with its cluster", "no expected alert has a cluster label")


def check_recording_tested(rep, groups, tests):
    exprs = [t.get("expr", "") for _, doc in tests for test in doc.get("tests", [])
             for t in test.get("promql_expr_test", [])]
    for rec in sorted({r["record"] for r in all_rules(groups) if "record" in r}):
        pattern = re.compile(r"(?<![\w:])%s(?![\w:])" % re.escape(rec))
        rep.check(any(pattern.search(e) for e in exprs), f"recording rule {rec} is tested",
                  "no promql_expr_test evaluates it")


def check_eval_order(rep, rules_dir, tests):
    """Each test file names every group of its rule files, in file order."""
    for name, doc in tests:
        files = [os.path.normpath(os.path.join(rules_dir, "tests", f)) for f in doc.get("rule_files", [])]
        want = [g["name"] for f in files if os.path.exists(f) for g in load(f).get("groups", [])]
        rep.check(bool(files) and doc.get("group_eval_order") == want,
                  f"{name} evaluates rule groups in file order",
                  f"group_eval_order {doc.get('group_eval_order')} != {want}")


def agent_reasons(family):
    path, pattern = REASON_SOURCES[family]
    try:
        with open(os.path.join(ROOT, path), encoding="utf-8") as f:
            return set(re.findall(pattern, f.read()))
    except OSError:
        return set()


def check_names(rep, groups, tests):
    """Metric names and `reason` values exist where rules and tests use them."""
    known = metric_names.series_names() | {r["record"] for r in all_rules(groups) if "record" in r}
    for rule in all_rules(groups):
        rname = rule.get("alert") or rule.get("record")
        unknown = sorted(set(metric_names.metric_names(str(rule.get("expr", "")))) - known)
        rep.check(not unknown, f"{rname} ({rule.get('labels', {}).get('severity', 'record')}) queries known names",
                  f"unknown {unknown}")
    inputs = [s.get("series", "") for _, doc in tests for t in doc.get("tests", [])
              for s in t.get("input_series", [])]
    unknown = sorted({metric_names.series_name(s) for s in inputs} - metric_names.series_names())
    rep.check(not unknown, "test input series use exposed names", f"unknown {unknown}")
    texts = inputs + [str(r.get("expr", "")) for r in all_rules(groups)]
    for family in sorted(REASON_SOURCES):
        reasons = agent_reasons(family)
        if not rep.check(bool(reasons), f"agent source names the reasons of {family}",
                         f"no match in {REASON_SOURCES[family][0]}"):
            continue
        used = {v for t in texts if family in t for v in metric_names.label_values(t, "reason")}
        rep.check(used <= reasons, f"{family} reasons in rules and tests are the agent's",
                  f"{sorted(used - reasons)} not in {sorted(reasons)}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=os.path.join(ROOT, "rules"))
    ap.add_argument("--runbook", default=os.path.join(ROOT, "docs", "runbook.md"))
    args = ap.parse_args()

    rep = Report()
    groups = rule_groups(args.rules)
    tests = [(os.path.basename(p), load(p)) for p in sorted(glob.glob(os.path.join(args.rules, "tests", "*.yml")))]
    alerts = [r for r in all_rules(groups) if "alert" in r]
    anchors = runbook_anchors(args.runbook)
    cases = cases_in(tests)
    rep.check(bool(alerts), "rules define alerts", f"none in {args.rules}")
    for rule in alerts:
        check_rule_annotations(rep, rule, anchors)
    severities = {}
    for rule in alerts:
        severities.setdefault(rule["alert"], set()).add(rule.get("labels", {}).get("severity"))
    for name, sevs in severities.items():
        fire, silent = cases.get(name, ([], []))
        check_alert_cases(rep, name, sevs, fire, silent)
    unknown = sorted(n for n in cases if n not in severities)
    rep.check(not unknown, "tests name only existing alerts", f"unknown {unknown}")
    check_recording_tested(rep, groups, tests)
    check_eval_order(rep, args.rules, tests)
    check_names(rep, groups, tests)
    print(f"alert tests: {rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
