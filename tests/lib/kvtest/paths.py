"""Where things are: the tree, the binaries under test, the cluster script,
and the factor limits scale by under emulation."""

import os

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
CLUSTER = os.path.join(ROOT, "tests", "integration", "cluster.sh")
KVSCOPE = os.environ.get("KVSCOPE", os.path.join(ROOT, "build", "san", "kvscope"))
PLAIN_KVSCOPE = os.environ.get("KVSCOPE_PLAIN", os.path.join(ROOT, "build", "kvscope"))
ETCDCTL = os.environ.get("ETCDCTL", "/usr/bin/etcdctl")
PROFILES = os.path.join(ROOT, "profiles")

# Under emulation (qemu without KVM) everything is slower: limits scale by this.
TIME_SCALE = float(os.environ.get("KVSCOPE_TIME_SCALE", "1"))
