#!/usr/bin/env python3
"""Static checks of the Grafana dashboards in dashboards/*.json.

Each dashboard must be importable as is: panels with unique ids and known
types, every query bound to the `datasource` variable (never a fixed uid),
every variable defined in templating before it is used, every PromQL
expression valid (checked by promtool on a generated rule file), and every
metric name a query reads one that kvscope, Prometheus or the node exporter
exposes (tests/monitoring/metric_names.py) or that rules/*.yml records.

Prints one `PASS: ...` or `FAIL: ...` line per check; exits 1 on any failure.
With --list-exprs, prints instead every panel query as JSON (variables
replaced by match-all values) for a live Prometheus to run.
"""

import argparse
import glob
import json
import os
import re
import subprocess
import sys
import tempfile

import metric_names

PANEL_TYPES = {"timeseries", "stat", "heatmap", "table"}
MIN_SCHEMA_VERSION = 37
REQUIRED_VARIABLES = ("datasource", "job", "instance", "target")
DATASOURCE_REFS = {"${datasource}", "$datasource", "[[datasource]]"}

# Grafana's built-in variables and the value each gets when checking.
BUILTINS = {
    "__rate_interval": "1m",
    "__interval": "1m",
    "__interval_ms": "60000",
    "__range": "1h",
    "__range_s": "3600",
    "__range_ms": "3600000",
}

VAR_RE = re.compile(r"\$\{(\w+)(?::[\w]+)?\}|\[\[(\w+)(?::[\w]+)?\]\]|\$(\w+)")


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


def variables_in(text):
    """Names of the variables referenced in a query string, in order."""
    return [a or b or c for a, b, c in VAR_RE.findall(text)]


def substitute(expr):
    """The expression with every variable replaced by a match-all value."""
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return BUILTINS.get(name, ".*")
    return VAR_RE.sub(repl, expr)


def all_panels(panels):
    """Panels, including those nested in collapsed rows."""
    for p in panels:
        yield p
        yield from all_panels(p.get("panels", []))


def variable_query(var):
    q = var.get("query", "")
    return q.get("query", "") if isinstance(q, dict) else str(q)


def is_datasource_ref(ds):
    return isinstance(ds, dict) and ds.get("uid") in DATASOURCE_REFS


def check_templating(rep, name, dash):
    """Checks the variables; returns the set of names defined."""
    defined = set()
    for var in dash.get("templating", {}).get("list", []):
        vname = var.get("name", "")
        if var.get("type") == "datasource":
            rep.check(var.get("query") == "prometheus",
                      f"{name}: variable {vname} selects Prometheus datasources",
                      f"query is {var.get('query')!r}")
        elif var.get("type") == "query":
            rep.check(is_datasource_ref(var.get("datasource")),
                      f"{name}: variable {vname} queries through $datasource",
                      f"datasource is {var.get('datasource')!r}")
            used = [v for v in variables_in(variable_query(var)) if v not in BUILTINS]
            undefined = [v for v in used if v not in defined]
            rep.check(not undefined, f"{name}: variable {vname} uses only earlier variables",
                      f"uses {undefined} before they are defined")
            rep.check(variable_query(var).startswith("label_values("),
                      f"{name}: variable {vname} is a label_values query",
                      f"query is {variable_query(var)!r}")
        defined.add(vname)
    missing = [v for v in REQUIRED_VARIABLES if v not in defined]
    rep.check(not missing, f"{name}: defines variables {', '.join(REQUIRED_VARIABLES)}",
              f"missing {missing}")
    return defined


def check_panel(rep, name, panel, defined, exprs):
    pid = panel.get("id")
    where = f"{name}: panel {pid} ({panel.get('title', '?')})"
    rep.check(panel.get("type") in PANEL_TYPES, f"{where} has a supported type",
              f"type {panel.get('type')!r} not in {sorted(PANEL_TYPES)}")
    rep.check(is_datasource_ref(panel.get("datasource")), f"{where} uses $datasource",
              f"datasource is {panel.get('datasource')!r}")
    targets = panel.get("targets", [])
    rep.check(bool(targets), f"{where} has queries", "no targets")
    for t in targets:
        tw = f"{where} query {t.get('refId', '?')}"
        expr = t.get("expr", "")
        rep.check(is_datasource_ref(t.get("datasource")), f"{tw} uses $datasource",
                  f"datasource is {t.get('datasource')!r}")
        rep.check(bool(expr.strip()), f"{tw} has an expression", "empty expr")
        undefined = sorted({v for v in variables_in(expr) if v not in BUILTINS and v not in defined})
        rep.check(not undefined, f"{tw} uses only defined variables", f"undefined {undefined}")
        if panel.get("type") == "heatmap":
            rep.check(t.get("format") == "heatmap", f"{tw} returns heatmap buckets",
                      f"format is {t.get('format')!r}")
        if expr.strip():
            exprs.append({"dashboard": name, "panel": pid, "title": panel.get("title", ""),
                          "refId": t.get("refId", ""), "expr": substitute(expr)})


def check_dashboard(rep, path, exprs):
    name = os.path.basename(path)
    try:
        with open(path, encoding="utf-8") as f:
            dash = json.load(f)
    except (OSError, ValueError) as e:
        rep.check(False, f"{name} parses as JSON", str(e))
        return
    rep.check(True, f"{name} parses as JSON")
    if "dashboard" in dash and "panels" not in dash:
        dash = dash["dashboard"]
    rep.check(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= MIN_SCHEMA_VERSION,
              f"{name}: schemaVersion >= {MIN_SCHEMA_VERSION}", f"is {dash.get('schemaVersion')!r}")
    rep.check(bool(dash.get("uid")) and bool(dash.get("title")), f"{name}: has uid and title",
              "uid or title missing")
    text = json.dumps(dash)
    fixed = sorted(set(re.findall(r'"uid":\s*"([^"$\[][^"]*)"', text)) - {dash.get("uid")})
    rep.check(not fixed, f"{name}: no fixed datasource uid", f"found {fixed}")
    defined = check_templating(rep, name, dash)
    panels = list(all_panels(dash.get("panels", [])))
    ids = [p.get("id") for p in panels]
    dupes = sorted({i for i in ids if ids.count(i) > 1}, key=str)
    rep.check(panels and not dupes and None not in ids, f"{name}: panel ids unique",
              f"duplicates {dupes}" if dupes else "panel without id or no panels")
    for p in panels:
        if p.get("type") != "row":
            check_panel(rep, name, p, defined, exprs)


def promtool_ok(exprs):
    """Runs promtool on a rule file holding the expressions; (ok, output)."""
    rules = [{"record": f"dashboard_check_{i}", "expr": e["expr"]} for i, e in enumerate(exprs)]
    doc = {"groups": [{"name": "dashboard_exprs", "rules": rules}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        json.dump(doc, f)  # JSON is YAML
        path = f.name
    try:
        r = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
        return r.returncode == 0, (r.stdout + r.stderr).strip()
    finally:
        os.unlink(path)


def check_exprs_parse(rep, exprs):
    if not exprs:
        return
    ok, _ = promtool_ok(exprs)
    if ok:
        rep.check(True, f"all {len(exprs)} panel expressions parse (promtool)")
        return
    for e in exprs:  # Pinpoint the culprits.
        ok, out = promtool_ok([e])
        rep.check(ok, f"{e['dashboard']}: panel {e['panel']} query {e['refId']} parses",
                  out.splitlines()[-1] if out else "promtool failed")


def recorded_names(rules_dir):
    """Names the recording rules in rules/*.yml write, or None without yaml."""
    try:
        import yaml
    except ImportError:
        return None
    names = set()
    for path in glob.glob(os.path.join(rules_dir, "*.yml")):
        with open(path, encoding="utf-8") as f:
            for group in (yaml.safe_load(f) or {}).get("groups", []):
                names.update(r["record"] for r in group.get("rules", []) if "record" in r)
    return names


def variable_queries(paths):
    """(dashboard, variable, query) of every query variable."""
    for path in paths:
        try:
            with open(path, encoding="utf-8") as f:
                dash = json.load(f)
        except (OSError, ValueError):
            continue  # reported by check_dashboard
        if "dashboard" in dash and "panels" not in dash:
            dash = dash["dashboard"]
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") == "query":
                yield os.path.basename(path), var.get("name", ""), variable_query(var)


def check_exprs_names(rep, exprs, paths, rules_dir):
    """Every metric a panel or a variable reads is exposed or recorded."""
    recorded = recorded_names(rules_dir)
    if not rep.check(recorded is not None, "python3 yaml module present", "apt-get install python3-yaml"):
        return
    known = metric_names.series_names() | recorded
    for e in exprs:
        unknown = sorted(set(metric_names.metric_names(e["expr"])) - known)
        rep.check(not unknown, f"{e['dashboard']}: panel {e['panel']} query {e['refId']} reads known metrics",
                  f"unknown {unknown}")
    for dash, vname, query in variable_queries(paths):
        m = re.match(r"label_values\((.*),\s*\w+\)$", query)
        unknown = sorted(set(metric_names.metric_names(substitute(m.group(1)))) - known) if m else []
        rep.check(not unknown, f"{dash}: variable {vname} reads known metrics", f"unknown {unknown}")


def check_provisioning(rep, pdir):
    """Grafana provisioning files: a file provider and a Prometheus datasource."""
    try:
        import yaml
    except ImportError:
        rep.check(False, "python3 yaml module present", "apt-get install python3-yaml")
        return
    docs = {}
    for name in ("dashboards.yml", "datasources.yml"):
        try:
            with open(os.path.join(pdir, name), encoding="utf-8") as f:
                docs[name] = yaml.safe_load(f) or {}
            rep.check(docs[name].get("apiVersion") == 1, f"provisioning/{name} parses, apiVersion 1",
                      f"apiVersion {docs[name].get('apiVersion')!r}")
        except (OSError, yaml.YAMLError) as e:
            rep.check(False, f"provisioning/{name} parses", str(e).replace("\n", " "))
            docs[name] = {}
    providers = docs["dashboards.yml"].get("providers") or []
    rep.check(any(p.get("type") == "file" and p.get("options", {}).get("path") for p in providers),
              "provisioning has a file dashboard provider with a path", f"providers {providers}")
    sources = docs["datasources.yml"].get("datasources") or []
    rep.check(any(d.get("type") == "prometheus" and d.get("url") for d in sources),
              "provisioning has a Prometheus datasource with a URL", f"datasources {sources}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "dashboards"))
    ap.add_argument("--rules", default=os.path.join(os.path.dirname(__file__), "..", "..", "rules"),
                    help="where the recording rules the queries may read are")
    ap.add_argument("--list-exprs", action="store_true",
                    help="print the panel queries as JSON instead of checking")
    args = ap.parse_args()

    paths = sorted(glob.glob(os.path.join(args.dir, "*.json")))
    rep, exprs = Report(), []
    if args.list_exprs:
        sink = open(os.devnull, "w")
        stdout, sys.stdout = sys.stdout, sink
        for p in paths:
            check_dashboard(rep, p, exprs)
        sys.stdout = stdout
        json.dump(exprs, sys.stdout, indent=1)
        print()
        return 0
    rep.check(len(paths) >= 4, "four or more dashboards present", f"found {len(paths)} in {args.dir}")
    for p in paths:
        check_dashboard(rep, p, exprs)
    check_exprs_parse(rep, exprs)
    check_exprs_names(rep, exprs, paths, args.rules)
    check_provisioning(rep, os.path.join(args.dir, "provisioning"))
    print(f"dashboards: {rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
