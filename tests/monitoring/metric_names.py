"""The metric names rules and dashboards may query, and a PromQL name scanner.

Shared by check_alert_tests.py and check_dashboards.py, so that a misspelt
family in a rule, a test's input series or a panel fails a check instead of
matching nothing (a rule over a name nobody exposes never fires, and its
"must not fire" tests pass for the wrong reason).
"""

import re

# Families kvscope exposes today (agent/metrics/).
KVSCOPE = {
    "kvstore_requests_total": "counter",
    "kvstore_request_duration_seconds": "histogram",
    "kvstore_request_disk_wait_seconds_total": "counter",
    "kvstore_storage_operations_total": "counter",
    "kvstore_storage_size_bytes": "gauge",
    "kvstore_storage_size_in_use_bytes": "gauge",
    "kvstore_raft_term": "gauge",
    "kvstore_raft_commit_index": "gauge",
    "kvstore_raft_leader_elections_total": "counter",
    "kvstore_raft_leader": "gauge",
    "kvstore_raft_applied_index": "gauge",
    "kvstore_raft_has_leader": "gauge",
    "kvstore_target_info": "gauge",
    "kvstore_target_up": "gauge",
    "kvstore_process_open_fds": "gauge",
    "kvstore_process_resident_memory_bytes": "gauge",
    "kvstore_process_cpu_seconds_total": "counter",
    "kvstore_disk_sync_duration_seconds": "histogram",
    "kvstore_disk_written_bytes_total": "counter",
    "kvstore_disk_read_bytes_total": "counter",
    "kvscope_target_attached": "gauge",
    "kvscope_attach_errors_total": "counter",
    "kvscope_events_lost_total": "counter",
    "kvscope_inflight_requests": "gauge",
    "kvscope_series": "gauge",
    "kvscope_build_info": "gauge",
    "kvscope_scrape_duration_seconds": "gauge",
    "kvscope_scrape_success": "gauge",
    # kvscope's own process
    "process_cpu_seconds_total": "counter",
    "process_resident_memory_bytes": "gauge",
    "process_virtual_memory_bytes": "gauge",
    "process_open_fds": "gauge",
    "process_max_fds": "gauge",
    "process_start_time_seconds": "gauge",
}

# Families whose names are fixed for rules and dashboards but that the agent
# does not expose yet: the rules over them stay silent until it does.
PLANNED = {
    "kvstore_raft_proposals_failed_total": "counter",
    "kvstore_raft_proposals_pending": "gauge",
    "kvstore_storage_operation_duration_seconds": "histogram",
    "kvstore_storage_quota_bytes": "gauge",
    "kvstore_peer_round_trip_time_seconds": "histogram",
    "kvstore_peer_sent_failures_total": "counter",
    "kvstore_streams_active": "gauge",
    "kvstore_streams_total": "counter",
    "kvstore_keys": "gauge",
    "kvstore_network_sent_bytes_total": "counter",
    "kvstore_network_received_bytes_total": "counter",
}

# Prometheus' own series and the node exporter's families the stack uses.
OTHER = {
    "up": "gauge",
    "scrape_duration_seconds": "gauge",
    "ALERTS": "gauge",
    "ALERTS_FOR_STATE": "gauge",
    "node_filesystem_avail_bytes": "gauge",
    "node_cpu_seconds_total": "counter",
    "node_uname_info": "gauge",
}

FAMILIES = {**KVSCOPE, **PLANNED, **OTHER}

KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or",
            "unless", "bool", "offset", "inf", "nan", "atan2"}


def series_names():
    """Every series name the families expose (histograms as their three series)."""
    names = set()
    for family, kind in FAMILIES.items():
        if kind == "histogram":
            names.update(family + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family)
    return names


def metric_names(expr):
    """The metric names an expression selects (functions and keywords aside)."""
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    s = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)
    s = re.sub(r"\boffset\s+-?\w+", " ", s)
    names = []
    for m in re.finditer(r"(?<![\w.:])([A-Za-z_:][\w:]*)(\s*\()?", s):
        if m.group(2) or m.group(1).lower() in KEYWORDS:
            continue  # a function, an aggregation or an operator
        names.append(m.group(1))
    return names


def series_name(selector):
    """The metric name of a series selector such as 'foo{a="b"}'."""
    m = re.match(r"\s*([A-Za-z_:][\w:]*)", selector)
    return m.group(1) if m else ""


def label_values(selector_or_expr, label):
    """Values given to `label` by equality matchers in a selector or expression."""
    return re.findall(r'\b%s\s*=\s*"([^"]*)"' % re.escape(label), selector_or_expr)
