#!/usr/bin/env python3
"""Helpers for tests/monitoring/e2e.sh, one subcommand each.

  ports N                      N distinct free loopback ports
  prom-config ...              loopback copy of deploy/prometheus.yml
  am-config ...                copy of deploy/alertmanager.yml, receivers -> recorder
  serve-webhook PORT OUT       record every Alertmanager notification as a JSON line
  webhook-seen OUT RECEIVER ALERTNAME [--label k=v] [--no-label k] [--since T]
  targets-up PROM              every active target healthy
  query PROM EXPR              print the first result's labels as JSON (exit 1 if none)
  alert-firing PROM ALERTNAME  the alert is firing in Prometheus
  panels PROM                  every dashboard query returns data
  leader ENDPOINTS             the client URL of the etcd leader

Exit status 0 means yes/ok, 1 means no, 2 means a usage or I/O error.
"""

import argparse
import glob
import json
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
from kvtest import free_ports

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
# Counters that only have series once the failure they count has happened
# (peer send failures have a series per peer from its first failure, as
# etcd's etcd_network_peer_sent_failures_total).
ONLY_ON_FAILURE = ("kvscope_attach_errors_total", "kvscope_events_lost_total",
                   "kvstore_peer_sent_failures_total")


def cmd_ports(args):
    print(" ".join(str(p) for p in free_ports(args.n)))
    return 0


def cmd_prom_config(args):
    """Same jobs and rules, pointed at loopback and scraped often; the
    rules (and their `for:` durations) are the repository's, unchanged."""
    with open(os.path.join(ROOT, "deploy", "prometheus.yml")) as f:
        config = yaml.safe_load(f)
    config["global"]["scrape_interval"] = args.interval
    config["global"]["evaluation_interval"] = args.interval
    config["rule_files"] = sorted(glob.glob(os.path.join(ROOT, "rules", "*.yml")))
    config["alerting"]["alertmanagers"] = [{"static_configs": [{"targets": [args.alertmanager]}]}]
    local = {"kvstore": args.kvscope, "node-exporter": args.node_exporter}
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in local:
            job["static_configs"] = [{"targets": [local[job["job_name"]]]}]
            job["scrape_interval"] = args.interval
            jobs.append(job)
    config["scrape_configs"] = jobs
    with open(args.out, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return 0


def cmd_am_config(args):
    """Routes as shipped; every receiver posts to the recorder under its
    own name, and notifications leave without the production waits."""
    with open(os.path.join(ROOT, "deploy", "alertmanager.yml")) as f:
        config = yaml.safe_load(f)
    for receiver in config["receivers"]:
        receiver.pop("email_configs", None)
        receiver.pop("slack_configs", None)
        receiver["webhook_configs"] = [{"url": f"{args.webhook}/{receiver['name']}", "send_resolved": True}]
    config["route"]["group_wait"] = "1s"
    config["route"]["group_interval"] = "5s"
    with open(args.out, "w") as f:
        yaml.safe_dump(config, f, sort_keys=False)
    return 0


class Recorder(BaseHTTPRequestHandler):
    out = None

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(min(length, 1 << 20))
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparsed": body.decode("utf-8", "replace")}
        record = {"receiver": self.path.strip("/"), "received": time.time(), "payload": payload}
        with open(self.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        self.send_response(200)
        self.end_headers()

    def log_message(self, fmt, *a):
        pass


def cmd_serve_webhook(args):
    Recorder.out = args.out
    ThreadingHTTPServer(("127.0.0.1", args.port), Recorder).serve_forever()
    return 0


def rfc3339(ts):
    """Seconds since the epoch of an Alertmanager timestamp."""
    ts = ts.replace("Z", "+00:00")
    head, _, tail = ts.partition(".")
    if tail:  # Nanoseconds: fromisoformat takes at most microseconds.
        frac = "".join(c for c in tail if c.isdigit())
        ts = head + "." + frac[:6] + tail[len(frac):]
    return datetime.fromisoformat(ts).timestamp()


def cmd_webhook_seen(args):
    want = dict(kv.split("=", 1) for kv in args.label)
    try:
        with open(args.out) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return 1
    for rec in records:
        if rec["receiver"] != args.receiver:
            continue
        for alert in rec["payload"].get("alerts", []):
            labels = alert.get("labels", {})
            if (alert.get("status") == "firing" and labels.get("alertname") == args.alertname
                    and all(labels.get(k) == v for k, v in want.items())
                    and not any(k in labels for k in args.no_label)
                    and rfc3339(alert.get("startsAt", "1970-01-01T00:00:00Z")) >= args.since):
                print(json.dumps(labels, sort_keys=True))
                return 0
    return 1


def api(prom, path, **params):
    url = f"{prom}/api/v1/{path}"
    if params:
        url += "?" + urllib.parse.urlencode(params)
    with urllib.request.urlopen(url, timeout=10) as r:
        doc = json.load(r)
    if doc.get("status") != "success":
        raise RuntimeError(doc.get("error", "query failed"))
    return doc["data"]


def cmd_targets_up(args):
    targets = api(args.prom, "targets")["activeTargets"]
    down = [f"{t['labels'].get('job')}/{t['labels'].get('instance')}: {t['health']} {t.get('lastError', '')}"
            for t in targets if t["health"] != "up"]
    for d in down:
        print(d)
    return 0 if targets and not down else 1


def cmd_query(args):
    result = api(args.prom, "query", query=args.expr)["result"]
    if not result:
        return 1
    print(json.dumps(result[0]["metric"], sort_keys=True))
    return 0


def cmd_alert_firing(args):
    alerts = api(args.prom, "alerts")["alerts"]
    return 0 if any(a["labels"].get("alertname") == args.alertname and a["state"] == "firing"
                    for a in alerts) else 1


def cmd_panels(args):
    listing = subprocess.run([sys.executable, os.path.join(HERE, "check_dashboards.py"), "--list-exprs"],
                             capture_output=True, text=True, check=True)
    failed = 0
    for e in json.loads(listing.stdout):
        where = f"{e['dashboard']} panel {e['panel']} ({e['title']}) {e['refId']}"
        try:
            n = len(api(args.prom, "query", query=e["expr"])["result"])
        except Exception as ex:  # A query error is a failure of the panel.
            print(f"FAIL: {where}: {ex}")
            failed += 1
            continue
        if n:
            print(f"PASS: {where}: {n} series")
        elif any(m in e["expr"] for m in ONLY_ON_FAILURE):
            print(f"SKIP: {where}: no such failure happened")
        else:
            print(f"FAIL: {where}: no data")
            failed += 1
    return 1 if failed else 0


def cmd_leader(args):
    r = subprocess.run(["etcdctl", f"--endpoints={args.endpoints}", "endpoint", "status", "-w", "json"],
                       capture_output=True, text=True, timeout=20, env=dict(os.environ, ETCDCTL_API="3"))
    try:
        statuses = json.loads(r.stdout)
    except ValueError:
        print(f"etcdctl: {r.stderr.strip()}", file=sys.stderr)
        return 1
    for s in statuses:
        st = s.get("Status", {})
        if st.get("header", {}).get("member_id") == st.get("leader"):
            print(s["Endpoint"])
            return 0
    return 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("ports")
    p.add_argument("n", type=int)
    p.set_defaults(fn=cmd_ports)
    p = sub.add_parser("prom-config")
    for opt in ("--out", "--kvscope", "--node-exporter", "--alertmanager"):
        p.add_argument(opt, required=True)
    p.add_argument("--interval", default="2s")
    p.set_defaults(fn=cmd_prom_config)
    p = sub.add_parser("am-config")
    p.add_argument("--out", required=True)
    p.add_argument("--webhook", required=True, help="base URL of the recorder")
    p.set_defaults(fn=cmd_am_config)
    p = sub.add_parser("serve-webhook")
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.set_defaults(fn=cmd_serve_webhook)
    p = sub.add_parser("webhook-seen")
    p.add_argument("out")
    p.add_argument("receiver")
    p.add_argument("alertname")
    p.add_argument("--label", action="append", default=[], help="k=v the alert must carry")
    p.add_argument("--no-label", action="append", default=[], help="label the alert must not carry")
    p.add_argument("--since", type=float, default=0, help="alert started at or after (epoch s)")
    p.set_defaults(fn=cmd_webhook_seen)
    for name, fn in (("targets-up", cmd_targets_up), ("panels", cmd_panels)):
        p = sub.add_parser(name)
        p.add_argument("prom")
        p.set_defaults(fn=fn)
    p = sub.add_parser("query")
    p.add_argument("prom")
    p.add_argument("expr")
    p.set_defaults(fn=cmd_query)
    p = sub.add_parser("alert-firing")
    p.add_argument("prom")
    p.add_argument("alertname")
    p.set_defaults(fn=cmd_alert_firing)
    p = sub.add_parser("leader")
    p.add_argument("endpoints", help="comma-separated client URLs")
    p.set_defaults(fn=cmd_leader)
    args = ap.parse_args()
    try:
        return args.fn(args)
    except (OSError, RuntimeError, subprocess.SubprocessError, KeyError, ValueError) as e:
        print(f"{args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
