"""kvscope's Python test library, shared by the integration, fidelity, soak,
e2e and bench suites. The runners put tests/lib on PYTHONPATH; a suite
imports what it needs from here (`from kvtest import Agent, Cluster`).

  paths     the tree, the binaries under test, TIME_SCALE
  wait      wait_for, Fatal
  net       free ports, HTTP GETs
  metrics   the exposition parser and readings of it
  grpc      gRPC codes -> status labels, from the etcd profile
  bpf       the fdinfo reader and bpftool listings
  etcdload  a known etcd load (drive_load) and the --max-request-bytes it assumes
  resp      a minimal Redis (RESP2) client
  cluster   a 3-member etcd cluster (cluster.sh)
  agent     a kvscope daemon
  order     tests run in the order written
  runner    the unittest runner with the suites' closing line
  scenario  the fidelity and soak scenarios' load, snapshots and table
"""

from .agent import Agent, quiet_counts
from .builds import ETCD, build_line, etcd_build
from .bpf import BpfFds, bpf_fds, bpf_ids_alive, bpftool_json, kvscope_links, uprobe_events
from .cluster import Cluster
from .etcdload import MAX_REQUEST_BYTES, drive_load
from .grpc import CODE_NAMES, CODE_TO_STATUS, DEFAULT_STATUS, GRPC_TO_STATUS
from .metrics import (by_method, delta, etcd_requests, has, kvscope_requests, parse_metrics,
                      requests_by, value)
from .net import free_port, free_ports, http_get, scrape_from
from .order import in_written_order
from .paths import CLUSTER, ETCDCTL, KVSCOPE, PLAIN_KVSCOPE, PROFILES, ROOT, TIME_SCALE
from .resp import RedisError, Resp
from .wait import Fatal, wait_for

__all__ = [
    "ETCD", "build_line", "etcd_build",
    "Agent", "quiet_counts", "BpfFds", "bpf_fds", "bpf_ids_alive", "bpftool_json",
    "kvscope_links", "uprobe_events", "Cluster", "MAX_REQUEST_BYTES", "drive_load",
    "CODE_NAMES", "CODE_TO_STATUS", "DEFAULT_STATUS", "GRPC_TO_STATUS", "by_method", "delta",
    "etcd_requests", "has", "kvscope_requests", "parse_metrics", "requests_by", "value",
    "free_port", "free_ports", "http_get", "scrape_from", "in_written_order", "CLUSTER",
    "ETCDCTL", "KVSCOPE", "PLAIN_KVSCOPE", "PROFILES", "ROOT", "TIME_SCALE", "RedisError",
    "Resp", "Fatal", "wait_for",
]
