"""Parsing a Prometheus text exposition and reading figures out of it."""

import re

from .grpc import GRPC_TO_STATUS

SAMPLE_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$')
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """{(name, frozenset(labels)): value} of a text exposition."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.match(line)
        if not m:
            raise ValueError("unparsable metrics line: %r" % line)
        labels = frozenset(LABEL_RE.findall(m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def value(metrics, name, **labels):
    """Sum of the samples of `name` whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in metrics.items() if n == name and want <= set(ls))


def has(metrics, name, **labels):
    want = set(labels.items())
    return any(n == name and want <= set(ls) for (n, ls) in metrics)


# The unary services kvscope's etcd profiles count as requests.
COUNTED_SERVICES = {"etcdserverpb.KV"}


def etcd_requests(metrics):
    """{(method, status): n} from etcd's own grpc_server_handled_total (unary calls of
    the services kvscope counts)."""
    out = {}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if name == "grpc_server_handled_total" and \
                ls.get("grpc_service") in COUNTED_SERVICES and ls.get("grpc_type") == "unary":
            key = (ls["grpc_method"], GRPC_TO_STATUS[ls["grpc_code"]])
            out[key] = out.get(key, 0) + v
    return out


def kvscope_requests(metrics, target):
    """{(method, status): n} from kvscope's kvstore_requests_total for one target."""
    out = {}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if name == "kvstore_requests_total" and ls["target"] == target:
            key = (ls["method"], ls["status"])
            out[key] = out.get(key, 0) + v
    return out


def requests_by(metrics, target):
    """{(method, status): n} of kvstore_requests_total for a target, series
    at 0 left out (a Redis target has one per command it knows)."""
    out = {}
    for (name, labels), v in metrics.items():
        ls = dict(labels)
        if name == "kvstore_requests_total" and ls.get("target") == target and v:
            key = (ls["method"], ls["status"])
            out[key] = out.get(key, 0) + v
    return out


def by_method(reqs):
    """{method: n} of a {(method, status): n} reading, statuses summed."""
    out = {}
    for (m, _), v in reqs.items():
        out[m] = out.get(m, 0) + v
    return out


def delta(after, before):
    """What changed between two {key: count} readings."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)
            if after.get(k, 0) != before.get(k, 0)}
