"""A three-member etcd cluster on loopback, run by tests/integration/cluster.sh."""

import json
import os
import shutil
import subprocess
import tempfile

from .metrics import parse_metrics
from .net import http_get
from .paths import CLUSTER, ETCDCTL


class Cluster:
    """Three etcd members on loopback, started and stopped by cluster.sh.
    start=False makes the directory only (a scenario records it before any
    member starts, so that an interrupted start is cleaned up too); start()
    then starts the members."""

    def __init__(self, *flags, prefix="kvscope-it-", start=True):
        self.dir = tempfile.mkdtemp(prefix=prefix)
        if start:
            self.start(*flags)

    def start(self, *flags):
        subprocess.run([CLUSTER, "start", self.dir, *flags], check=True, timeout=60)
        self.reload()

    def reload(self):
        env = {}
        with open(os.path.join(self.dir, "members.env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                env[k] = v.strip('"')
        self.env = env
        self.names = [env["NAME_%d" % i] for i in (1, 2, 3)]
        self.clients = [env["CLIENT_%d" % i] for i in (1, 2, 3)]
        self.pids = [int(env["PID_%d" % i]) for i in (1, 2, 3)]

    def etcdctl(self, member, *args, check=True, input=None):
        cmd = [ETCDCTL, "--endpoints", self.clients[member], "--command-timeout=5s", *args]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"), input=input)
        if check and r.returncode != 0:
            raise AssertionError("%s failed: %s" % (" ".join(args), r.stderr.strip()))
        return r

    def endpoint_status(self):
        """etcdctl endpoint status -w json for every member."""
        r = subprocess.run([ETCDCTL, "--endpoints", ",".join(self.clients), "endpoint", "status",
                            "-w", "json"], capture_output=True, text=True, timeout=30,
                           env=dict(os.environ, ETCDCTL_API="3"), check=True)
        return json.loads(r.stdout)

    def cluster_ids(self):
        """{name: cluster ID} as each member's endpoint status header says."""
        return {self.names[self.clients.index(e["Endpoint"])]: e["Status"]["header"]["cluster_id"]
                for e in self.endpoint_status()}

    def status(self):
        """{name: (raft_term, raft_index, is_leader)} from etcdctl endpoint status."""
        out = {}
        for entry in self.endpoint_status():
            st = entry["Status"]
            name = self.names[self.clients.index(entry["Endpoint"])]
            out[name] = (st["raftTerm"], st["raftIndex"],
                         st["leader"] == st["header"]["member_id"])
        return out

    def own_metrics(self, member):
        return parse_metrics(http_get(self.clients[member] + "/metrics"))

    def kill(self, member):
        subprocess.run([CLUSTER, "kill", self.dir, str(member + 1)], check=True, timeout=30)

    def restart(self, member):
        subprocess.run([CLUSTER, "restart", self.dir, str(member + 1)], check=True, timeout=60)
        self.reload()

    def stop(self):
        subprocess.run([CLUSTER, "stop", self.dir], timeout=60)
        shutil.rmtree(self.dir, ignore_errors=True)
