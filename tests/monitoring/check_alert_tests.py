#!/usr/bin/env python3
"""Every alert in rules/*.yml is documented and covered by promtool tests.

Each alert needs a severity label and summary and description annotations,
and rules/tests/*.yml must hold, for each alert, a case where it fires
(exp_alerts with labels and annotations) and a case where it must not
(empty exp_alerts). promtool itself runs the tests; this checks they exist.
Prints `PASS: ...`/`FAIL: ...` lines; exits 1 on any failure.
"""

import argparse
import glob
import os
import sys

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    print("FAIL: python3 yaml module missing (apt-get install python3-yaml)")
    sys.exit(1)

SEVERITIES = {"critical", "warning", "info"}


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


def alerts_in(rules_dir):
    alerts = {}
    for path in sorted(glob.glob(os.path.join(rules_dir, "*.yml"))):
        for group in load(path).get("groups", []):
            for rule in group.get("rules", []):
                if "alert" in rule:
                    alerts[rule["alert"]] = rule
    return alerts


def cases_in(tests_dir):
    """{alertname: (firing cases, silent cases)} over every test file."""
    cases = {}
    for path in sorted(glob.glob(os.path.join(tests_dir, "*.yml"))):
        for test in load(path).get("tests", []):
            for case in test.get("alert_rule_test", []):
                fire, silent = cases.setdefault(case.get("alertname"), ([], []))
                (fire if case.get("exp_alerts") else silent).append(case)
    return cases


def check_alert(rep, name, rule, fire, silent):
    labels, ann = rule.get("labels", {}), rule.get("annotations", {})
    rep.check(labels.get("severity") in SEVERITIES, f"{name} has a severity",
              f"severity {labels.get('severity')!r}")
    rep.check(bool(ann.get("summary")) and bool(ann.get("description")),
              f"{name} has summary and description", f"annotations {sorted(ann)}")
    rep.check(bool(fire), f"{name} has a test where it fires", "no case with exp_alerts")
    rep.check(bool(silent), f"{name} has a test where it must not fire", "no case with empty exp_alerts")
    complete = all(a.get("exp_labels", {}).get("severity") == labels.get("severity")
                   and set(a.get("exp_annotations", {})) >= {"summary", "description"}
                   for c in fire for a in c["exp_alerts"])
    rep.check(complete, f"{name} firing tests assert labels and annotations",
              "an expected alert lacks severity, summary or description")


def main():
    root = os.path.join(os.path.dirname(__file__), "..", "..", "rules")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", default=root)
    args = ap.parse_args()

    rep = Report()
    alerts = alerts_in(args.rules)
    cases = cases_in(os.path.join(args.rules, "tests"))
    rep.check(bool(alerts), "rules define alerts", f"none in {args.rules}")
    for name, rule in alerts.items():
        fire, silent = cases.get(name, ([], []))
        check_alert(rep, name, rule, fire, silent)
    unknown = sorted(n for n in cases if n not in alerts)
    rep.check(not unknown, "tests name only existing alerts", f"unknown {unknown}")
    print(f"alert tests: {rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
