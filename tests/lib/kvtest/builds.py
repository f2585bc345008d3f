"""The etcd build under test: bookworm's by default, or one of
scripts/fetch-builds.sh's (ETCD=/var/cache/kvscope/builds/etcd-3.5.16/usr/bin/etcd)."""

import os
import re
import subprocess

ETCD = os.environ.get("ETCD", "/usr/bin/etcd")


def etcd_build(binary=None):
    """{'path', 'version', 'go', 'profile'} of an etcd binary, from its --version."""
    binary = binary or ETCD
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30,
                         check=True).stdout
    version = re.search(r"etcd Version: (\S+)", out).group(1)
    go = re.search(r"Go Version: (\S+)", out).group(1)
    return {"path": binary, "version": version, "go": go,
            "profile": "etcd-" + ".".join(version.split(".")[:2])}


def build_line(binary=None):
    """The line a suite prints first: which etcd build it runs against."""
    b = etcd_build(binary)
    return "build: etcd %s (%s) %s, profile %s" % (b["version"], b["go"], b["path"],
                                                   b["profile"])
