#!/usr/bin/env python3
"""Helpers for tests/monitoring/e2e.sh, one subcommand each.

  ports N                      N distinct free loopback ports
  loopback-ip PORT             a random 127.x.y.z where PORT is free
  receiver-host CONFIG         "HOST PORT" of every receiver URL in an Alertmanager config
  prom-targets DIR ...         file_sd target files for a Prometheus config's jobs
  flags DEFAULTS [--set F=V] [--peers A,B]
                               the ARGS of a Debian defaults file, one per line,
                               with the values of the given flags replaced
  serve-webhook [--host H] PORT OUT
                               record every Alertmanager notification as a JSON line
  webhook-seen OUT RECEIVER ALERTNAME [--label k=v] [--no-label k] [--since T]
  webhook-duplicates OUT CONFIG
                               notifications sent twice (same receiver, group and
                               alerts) within the receiver's repeat_interval
  am-sender AM...              the Alertmanager peer that sends first (position 0)
  alert-continuous SECONDS PROM AM ALERTNAME [--label k=v]
                               firing in PROM and active in AM at every second
  targets-up PROM              every active target healthy
  query PROM EXPR              print the first result's labels as JSON (exit 1 if none)
  alert-firing PROM ALERTNAME  the alert is firing in Prometheus
  panels PROM                  every dashboard query returns data
  leader ENDPOINTS             the client URL of the etcd leader

Exit status 0 means yes/ok, 1 means no, 2 means a usage or I/O error.
"""

import argparse
import json
import os
import random
import re
import shlex
import socket
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


def cmd_loopback_ip(args):
    """127.0.0.0/8 all routes to lo: a random address there is a listener
    of our own even on a well-known port."""
    for _ in range(50):
        ip = "127.%d.%d.%d" % (random.randint(1, 254), random.randint(0, 255), random.randint(2, 254))
        s = socket.socket()
        try:
            s.bind((ip, args.port))
        except OSError:
            continue
        finally:
            s.close()
        print(ip)
        return 0
    return 1


def cmd_receiver_host(args):
    """The one host and port every receiver URL names (the test resolves
    that host name to its recorder)."""
    with open(args.config) as f:
        config = yaml.safe_load(f)
    ends = set()
    for receiver in config.get("receivers", []):
        for hook in receiver.get("webhook_configs", []):
            url = urllib.parse.urlsplit(hook["url"])
            ends.add((url.hostname, url.port or (443 if url.scheme == "https" else 80)))
    if len(ends) != 1:
        print(f"receiver-host: want one receiver host, {args.config} names {sorted(ends)}", file=sys.stderr)
        return 2
    print("%s %d" % ends.pop())
    return 0


def sd_files(config):
    """{file_sd file name: job} of a Prometheus config; alertmanagers as job
    "alertmanagers"."""
    groups = [(j["job_name"], j) for j in config.get("scrape_configs", [])]
    groups += [("alertmanagers", a) for a in config.get("alerting", {}).get("alertmanagers", [])]
    return {f: job for job, g in groups for sd in g.get("file_sd_configs", []) for f in sd["files"]}


def cmd_prom_targets(args):
    """Target files for every file_sd_configs file a Prometheus config
    reads, with the given addresses: the one thing a site changes."""
    with open(args.config) as f:
        files = sd_files(yaml.safe_load(f))
    given = {"kvstore": args.kvstore, "node-exporter": args.node_exporter, "alertmanagers": args.alertmanagers}
    base = os.path.dirname(args.config)
    for name, job in files.items():
        if job not in given:
            print(f"prom-targets: no addresses given for job {job} ({name})", file=sys.stderr)
            return 2
        path = os.path.join(base, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            yaml.safe_dump([{"targets": given[job].split(",")}], f)
    return 0


def cmd_flags(args):
    """The ARGS line of a Debian defaults file, split like the shell does,
    with the values of the given flags replaced (addresses only) and every
    --cluster.peer replaced by the given peers."""
    with open(args.defaults) as f:
        env = dict(re.findall(r"^(\w+)=(.*)$", f.read(), re.M))
    # systemd unquotes the value, then splits $ARGS at white space.
    words = " ".join(shlex.split(env.get("ARGS", ""))).split()
    sets = dict(kv.split("=", 1) for kv in args.set)
    out = []
    for w in words:
        flag, eq, _ = w.partition("=")
        if flag == "--cluster.peer" and args.peers is not None:
            continue
        out.append(f"{flag}={sets.pop(flag)}" if eq and flag in sets else w)
    if sets:
        print(f"flags: {args.defaults} has no {sorted(sets)}", file=sys.stderr)
        return 2
    out += [f"--cluster.peer={p}" for p in (args.peers.split(",") if args.peers else [])]
    print("\n".join(out))
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
    ThreadingHTTPServer((args.host, args.port), Recorder).serve_forever()
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


def duration_s(text):
    """Seconds of a Prometheus duration such as 1h or 5m30s."""
    units = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"bad duration {text!r}")
    return sum(int(n) * units[u] for n, u in parts)


def repeat_intervals(config):
    """{receiver: repeat_interval seconds} of an Alertmanager config's routes
    (children inherit their parent's)."""
    out = {}

    def walk(route, inherited):
        interval = duration_s(route.get("repeat_interval", inherited))
        if "receiver" in route:
            out[route["receiver"]] = min(out.get(route["receiver"], interval), interval)
        for child in route.get("routes", []):
            walk(child, route.get("repeat_interval", inherited))

    walk(config["route"], "4h")
    return out


def notification_key(payload):
    alerts = payload.get("alerts", [])
    state = lambda st: frozenset(json.dumps(a.get("labels", {}), sort_keys=True)
                                 for a in alerts if a.get("status") == st)
    return state("firing"), state("resolved")


def cmd_webhook_duplicates(args):
    """A notification is sent once: the same group with the same alerts
    comes again only after the receiver's repeat_interval."""
    with open(args.config) as f:
        repeat = repeat_intervals(yaml.safe_load(f))
    try:
        with open(args.out) as f:
            records = [json.loads(line) for line in f if line.strip()]
    except OSError as e:
        print(f"webhook-duplicates: {e}", file=sys.stderr)
        return 2
    last = {}
    dups = 0
    for rec in records:
        group = (rec["receiver"], rec["payload"].get("groupKey"))
        key = notification_key(rec["payload"])
        prev = last.get(group)
        if prev and prev[0] == key and rec["received"] - prev[1] < repeat.get(rec["receiver"], 0):
            dups += 1
            print(f"DUPLICATE after {rec['received'] - prev[1]:.1f}s: {group[0]} {group[1]} "
                  f"firing {sorted(key[0])} resolved {sorted(key[1])}")
        last[group] = (key, rec["received"])
    print(f"{len(records)} notifications, {dups} duplicates")
    return 1 if dups or not records else 0


def cmd_am_sender(args):
    """Peers send in the order of their names; the first sends at once and
    the others only after their wait, if the first's log shows nothing."""
    names = {}
    for am in args.ams:
        with urllib.request.urlopen(f"{am}/api/v2/status", timeout=5) as r:
            cluster = json.load(r)["cluster"]
        if cluster.get("status") != "ready" or len(cluster.get("peers", [])) != len(args.ams):
            print(f"{am}: cluster {cluster.get('status')} with {len(cluster.get('peers', []))} peers")
            return 1
        names[cluster["name"]] = am
    print(names[min(names)])
    return 0


def alert_labels_match(labels, name, want):
    return labels.get("alertname") == name and all(labels.get(k) == v for k, v in want.items())


def cmd_alert_continuous(args):
    """Polls once a second: the alert must be firing in Prometheus and
    active in Alertmanager every time."""
    want = dict(kv.split("=", 1) for kv in args.label)
    end = time.time() + args.seconds
    polls = 0
    while time.time() < end:
        firing = any(alert_labels_match(a["labels"], args.alertname, want) and a["state"] == "firing"
                     for a in api(args.prom, "alerts")["alerts"])
        with urllib.request.urlopen(f"{args.am}/api/v2/alerts?active=true&silenced=false&inhibited=false",
                                    timeout=5) as r:
            active = any(alert_labels_match(a["labels"], args.alertname, want) for a in json.load(r))
        polls += 1
        if not (firing and active):
            print(f"poll {polls}: firing in Prometheus {firing}, active in Alertmanager {active}")
            return 1
        time.sleep(1)
    print(f"{polls} polls: firing and active at each")
    return 0


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
    p = sub.add_parser("loopback-ip")
    p.add_argument("port", type=int)
    p.set_defaults(fn=cmd_loopback_ip)
    p = sub.add_parser("receiver-host")
    p.add_argument("config")
    p.set_defaults(fn=cmd_receiver_host)
    p = sub.add_parser("prom-targets")
    p.add_argument("config", help="the Prometheus config; target files go beside it")
    for opt in ("--kvstore", "--node-exporter", "--alertmanagers"):
        p.add_argument(opt, required=True, help="comma-separated host:port")
    p.set_defaults(fn=cmd_prom_targets)
    p = sub.add_parser("flags")
    p.add_argument("defaults")
    p.add_argument("--set", action="append", default=[], help="--flag=value to replace (write --set=--flag=value)")
    p.add_argument("--peers", help="comma-separated host:port for --cluster.peer")
    p.set_defaults(fn=cmd_flags)
    p = sub.add_parser("serve-webhook")
    p.add_argument("--host", default="127.0.0.1")
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
    p = sub.add_parser("webhook-duplicates")
    p.add_argument("out")
    p.add_argument("config", help="the Alertmanager config (repeat intervals)")
    p.set_defaults(fn=cmd_webhook_duplicates)
    p = sub.add_parser("am-sender")
    p.add_argument("ams", nargs="+", help="Alertmanager base URLs")
    p.set_defaults(fn=cmd_am_sender)
    p = sub.add_parser("alert-continuous")
    p.add_argument("seconds", type=float)
    p.add_argument("prom")
    p.add_argument("am")
    p.add_argument("alertname")
    p.add_argument("--label", action="append", default=[], help="k=v the alert must carry")
    p.set_defaults(fn=cmd_alert_continuous)
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
