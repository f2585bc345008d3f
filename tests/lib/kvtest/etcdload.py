"""A known load on a 3-member etcd cluster: what was sent, per member and
(method, status), for comparing with what kvscope and etcd counted."""

import json

# The --max-request-bytes of the clusters drive_load runs on (the integration
# core suite's, the container suite's): its oversized Put assumes it.
MAX_REQUEST_BYTES = 4096


def drive_load(c):
    """Known requests per member of cluster c (a kvtest.Cluster, or anything
    with its etcdctl); returns {member: {(method, status): n}}."""
    expected = {0: {}, 1: {}, 2: {}}

    def add(m, method, status, n=1):
        expected[m][(method, status)] = expected[m].get((method, status), 0) + n

    for m in range(3):
        for i in range(4 + m):
            c.etcdctl(m, "put", "it/k%d-%d" % (m, i), "v%d" % i)
        add(m, "Put", "200", 4 + m)
        for i in range(3 + m):
            c.etcdctl(m, "get", "it/k%d-0" % m)
        add(m, "Range", "200", 3 + m)
        c.etcdctl(m, "del", "it/k%d-1" % m)
        add(m, "DeleteRange", "200")
        c.etcdctl(m, "txn", input="\nput it/txn%d t\n\n\n" % m)
        add(m, "Txn", "200")
    # A value over --max-request-bytes: etcd answers InvalidArgument.
    r = c.etcdctl(1, "put", "it/big", "x" * (MAX_REQUEST_BYTES + 100), check=False)
    assert r.returncode != 0 and "too large" in r.stderr, r.stderr
    add(1, "Put", "400")
    # Compact, then read below the compacted revision: OutOfRange.
    rev = json.loads(c.etcdctl(0, "get", "it/k0-0", "-w", "json").stdout)["header"]["revision"]
    add(0, "Range", "200")
    c.etcdctl(0, "compact", str(rev))
    add(0, "Compact", "200")
    r = c.etcdctl(2, "get", "it/k0-0", "--rev=1", check=False)
    assert r.returncode != 0 and "compacted" in r.stderr, r.stderr
    add(2, "Range", "400")
    return expected
