#!/usr/bin/env python3
"""Static checks of the deployment files in deploy/.

Every YAML file parses; the DaemonSet runs with hostPID, exactly the
capabilities kvscope needs, the host mounts, scrape annotations, resource
bounds and probes; the systemd unit carries the same capabilities and its
hardening; the Dockerfile builds the agent and installs its runtime
libraries. Prints `PASS: ...`/`FAIL: ...` lines; exits 1 on any failure.
"""

import argparse
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:  # Debian: python3-yaml
    print("FAIL: python3 yaml module missing (apt-get install python3-yaml)")
    sys.exit(1)

# exactly what the daemon keeps after start-up (agent/common/caps.c)
CAPS = {"SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}
HOST_MOUNTS = {  # host path -> path in the container
    "/sys/kernel/btf": "/sys/kernel/btf",
    "/sys/kernel/tracing": "/sys/kernel/tracing",
    "/sys/fs/bpf": "/sys/fs/bpf",
    "/proc": "/host/proc",
}
SCRAPE_ANNOTATIONS = {"prometheus.io/scrape": "true", "prometheus.io/port": "2112",
                      "prometheus.io/path": "/metrics"}
UNIT_SETTINGS = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "ProtectKernelModules": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "Restart": "on-failure",
    "ExecStart": "/usr/local/bin/kvscope --web.listen-address=:2112",
}
RUNTIME_LIBS = ("libbpf1", "libelf1", "libcapstone4", "libmicrohttpd12", "libyaml-0-2", "zlib1g")


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


def load_yaml_files(rep, deploy):
    """Parses every YAML file; returns {relative path: [documents]}."""
    docs = {}
    paths = sorted(glob.glob(os.path.join(deploy, "**", "*.yml"), recursive=True)
                   + glob.glob(os.path.join(deploy, "**", "*.yaml"), recursive=True))
    rep.check(bool(paths), "deploy/ has YAML files", f"none under {deploy}")
    for path in paths:
        rel = os.path.relpath(path, deploy)
        try:
            with open(path, encoding="utf-8") as f:
                docs[rel] = [d for d in yaml.safe_load_all(f) if d is not None]
            rep.check(bool(docs[rel]), f"{rel} parses as YAML", "empty")
        except (OSError, yaml.YAMLError) as e:
            rep.check(False, f"{rel} parses as YAML", str(e).replace("\n", " "))
    return docs


def find_kind(docs, kind):
    for d in (d for ds in docs.values() for d in ds):
        if isinstance(d, dict) and d.get("kind") == kind:
            return d
    return None


def check_container(rep, c):
    sc = c.get("securityContext", {})
    caps = sc.get("capabilities", {})
    added = {str(x).upper().removeprefix("CAP_") for x in caps.get("add", [])}
    rep.check(added == CAPS, "container adds exactly the needed capabilities",
              f"adds {sorted(added)}, want {sorted(CAPS)}")
    rep.check([str(x).upper() for x in caps.get("drop", [])] == ["ALL"], "container drops all others",
              f"drops {caps.get('drop')}")
    rep.check(not sc.get("privileged", False), "container is not privileged", "privileged: true")
    rep.check(sc.get("allowPrivilegeEscalation") is False, "container forbids privilege escalation",
              f"allowPrivilegeEscalation is {sc.get('allowPrivilegeEscalation')!r}")
    args = c.get("args", []) + c.get("command", [])
    rep.check("--path.procfs=/host/proc" in args, "kvscope reads the host's /proc", f"args {args}")
    mounts = {m.get("mountPath") for m in c.get("volumeMounts", [])}
    missing = sorted(set(HOST_MOUNTS.values()) - mounts)
    rep.check(not missing, "container mounts BTF, tracefs, bpffs and host /proc", f"missing {missing}")
    res = c.get("resources", {})
    rep.check(all(k in res.get(s, {}) for s in ("requests", "limits") for k in ("cpu", "memory")),
              "container has cpu/memory requests and limits", f"resources {res}")
    live = c.get("livenessProbe", {}).get("httpGet", {})
    rep.check(live.get("path") == "/healthz" and live.get("port") in (2112, "metrics"),
              "liveness probe GETs /healthz on :2112", f"livenessProbe.httpGet {live}")
    ready = c.get("readinessProbe", {}).get("httpGet", {})
    rep.check(ready.get("path") == "/metrics", "readiness probe GETs /metrics", f"readinessProbe.httpGet {ready}")
    ports = {p.get("containerPort") for p in c.get("ports", [])}
    rep.check(2112 in ports, "container exposes 2112", f"ports {ports}")


def check_daemonset(rep, docs):
    for kind in ("Namespace", "ServiceAccount"):
        rep.check(find_kind(docs, kind) is not None, f"kubernetes manifests define a {kind}", "missing")
    ds = find_kind(docs, "DaemonSet")
    if not rep.check(ds is not None, "kubernetes manifests define a DaemonSet", "missing"):
        return
    tmpl = ds.get("spec", {}).get("template", {})
    spec = tmpl.get("spec", {})
    rep.check(spec.get("hostPID") is True, "DaemonSet runs with hostPID", f"hostPID is {spec.get('hostPID')!r}")
    ann = tmpl.get("metadata", {}).get("annotations", {})
    wrong = {k: ann.get(k) for k, v in SCRAPE_ANNOTATIONS.items() if str(ann.get(k)) != v}
    rep.check(not wrong, "pod carries the prometheus.io scrape annotations", f"wrong or missing {wrong}")
    tol = spec.get("tolerations", [])
    rep.check(any(t.get("operator") == "Exists" and "key" not in t for t in tol),
              "DaemonSet tolerates every taint", f"tolerations {tol}")
    host = {v.get("hostPath", {}).get("path"): v.get("name") for v in spec.get("volumes", [])}
    missing = sorted(set(HOST_MOUNTS) - set(host))
    rep.check(not missing, "DaemonSet mounts the host paths it needs", f"missing hostPath {missing}")
    containers = spec.get("containers", [])
    if rep.check(len(containers) == 1, "DaemonSet has one container", f"{len(containers)} containers"):
        c = containers[0]
        mounts = {m.get("name"): m.get("mountPath") for m in c.get("volumeMounts", [])}
        wrong = {hp: mounts.get(host.get(hp)) for hp, mp in HOST_MOUNTS.items() if mounts.get(host.get(hp)) != mp}
        rep.check(not wrong, "host paths are mounted where kvscope looks", f"host path -> mount {wrong}")
        check_container(rep, c)


def parse_unit(text):
    """systemd unit as {section: {key: [values]}}; keys may repeat."""
    unit, section = {}, None
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        m = re.fullmatch(r"\[(\w+)\]", line)
        if m:
            section = unit.setdefault(m.group(1), {})
            continue
        key, sep, value = line.partition("=")
        if sep and section is not None:
            section.setdefault(key.strip(), []).append(value.strip())
    return unit


def check_unit(rep, path):
    try:
        with open(path, encoding="utf-8") as f:
            unit = parse_unit(f.read())
    except OSError as e:
        rep.check(False, "systemd unit readable", str(e))
        return
    svc = unit.get("Service", {})
    rep.check("Unit" in unit and "Service" in unit and "Install" in unit,
              "systemd unit has [Unit], [Service] and [Install]", f"sections {sorted(unit)}")
    for key, want in UNIT_SETTINGS.items():
        got = svc.get(key, [])
        rep.check(got[-1:] == [want], f"systemd unit sets {key}={want}", f"has {got}")
    for key in ("AmbientCapabilities", "CapabilityBoundingSet"):
        caps = {c.removeprefix("CAP_") for v in svc.get(key, []) for c in v.split()}
        rep.check(caps == CAPS, f"systemd unit {key} is the needed set", f"has {sorted(caps)}")
    families = {f for v in svc.get("RestrictAddressFamilies", []) for f in v.split()}
    rep.check(families == {"AF_INET", "AF_INET6", "AF_UNIX"}, "systemd unit restricts address families",
              f"has {sorted(families)}")


def check_dockerfile(rep, path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        rep.check(False, "Dockerfile readable", str(e))
        return
    stages = re.findall(r"^FROM\s+(\S+)", text, re.M)
    rep.check(len(stages) >= 2 and stages[-1] == "debian:bookworm-slim",
              "Dockerfile builds in one stage and runs on bookworm-slim", f"stages {stages}")
    rep.check(re.search(r"^RUN\s+make build/kvscope\s*$", text, re.M) is not None,
              "Dockerfile builder runs make build/kvscope", "no `RUN make build/kvscope`")
    runtime = text[text.rfind("FROM"):]
    missing = [lib for lib in RUNTIME_LIBS if not re.search(rf"\b{re.escape(lib)}\b", runtime)]
    rep.check(not missing, "runtime stage installs the shared libraries", f"missing {missing}")
    rep.check("COPY --from=" in runtime, "runtime stage copies the built agent", "no COPY --from")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
    args = ap.parse_args()

    rep = Report()
    docs = load_yaml_files(rep, args.dir)
    check_daemonset(rep, docs)
    check_unit(rep, os.path.join(args.dir, "systemd", "kvscope.service"))
    check_dockerfile(rep, os.path.join(args.dir, "Dockerfile"))
    print(f"manifests: {rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
