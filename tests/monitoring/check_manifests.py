#!/usr/bin/env python3
"""Static checks of the deployment files in deploy/.

Every YAML file parses; the DaemonSet runs with hostPID, exactly the
capabilities kvscope needs, the host mounts, scrape annotations, resource
bounds and probes; the systemd unit carries the same capabilities and its
hardening; the Dockerfile builds the agent and installs its runtime
libraries only; the Prometheus configs take addresses from discovery and
the monitoring stack has its highly available shape. Prints `PASS: ...`/`FAIL: ...` lines; exits 1 on any failure.
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

# exactly what the daemon keeps after start-up (agent/common/caps.c): the systemd unit
CAPS = {"SYS_ADMIN", "BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH"}
# what the container needs under the runtime's default seccomp profile, as the
# container suite (tests/container) shows by dropping each
DAEMONSET_CAPS = {"SYS_ADMIN", "SYS_PTRACE"}
HOST_MOUNTS = {  # host path -> path in the container, all read-only
    "/sys/kernel/tracing": "/sys/kernel/tracing",
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
RUNTIME_LIBS = ("libbpf1", "libelf1", "libcapstone4", "libmicrohttpd12", "libgnutls30", "libyaml-0-2",
                "zlib1g", "libcap2", "libcrypt1")


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
    rep.check(added == DAEMONSET_CAPS, "container adds exactly the needed capabilities",
              f"adds {sorted(added)}, want {sorted(DAEMONSET_CAPS)}")
    rep.check([str(x).upper() for x in caps.get("drop", [])] == ["ALL"], "container drops all others",
              f"drops {caps.get('drop')}")
    rep.check(not sc.get("privileged", False), "container is not privileged", "privileged: true")
    rep.check(sc.get("allowPrivilegeEscalation") is False, "container forbids privilege escalation",
              f"allowPrivilegeEscalation is {sc.get('allowPrivilegeEscalation')!r}")
    args = c.get("args", []) + c.get("command", [])
    rep.check("--path.procfs=/host/proc" in args, "kvscope reads the host's /proc", f"args {args}")
    mounts = {m.get("mountPath") for m in c.get("volumeMounts", [])}
    missing = sorted(set(HOST_MOUNTS.values()) - mounts)
    rep.check(not missing, "container mounts tracefs and host /proc", f"missing {missing}")
    writable = sorted(m.get("mountPath") for m in c.get("volumeMounts", []) if not m.get("readOnly"))
    rep.check(not writable, "every mount is read-only", f"writable {writable}")
    rep.check(sc.get("readOnlyRootFilesystem") is True, "root filesystem is read-only",
              f"readOnlyRootFilesystem is {sc.get('readOnlyRootFilesystem')!r}")
    seccomp = sc.get("seccompProfile", {}).get("type")
    rep.check(seccomp == "RuntimeDefault", "seccomp is the runtime's default", f"seccompProfile {seccomp}")
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
    extra = sorted(set(host) - set(HOST_MOUNTS))
    rep.check(not extra, "DaemonSet mounts no other host path", f"also mounts {extra}")
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


def dockerfile_stages(text):
    """[(base image, stage text)] with ARG defaults before the first FROM
    substituted into the base names."""
    args = dict(re.findall(r"^ARG\s+(\w+)=(\S+)", text[:text.find("FROM")], re.M))
    starts = [m.start() for m in re.finditer(r"^FROM\s", text, re.M)]
    stages = []
    for i, start in enumerate(starts):
        body = text[start:starts[i + 1] if i + 1 < len(starts) else len(text)]
        base = body.split()[1]
        for k, v in args.items():
            base = base.replace("${%s}" % k, v).replace("$" + k, v)
        stages.append((base, body))
    return stages


def check_dockerfile(rep, path):
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        rep.check(False, "Dockerfile readable", str(e))
        return
    stages = dockerfile_stages(text)
    bases = [b for b, _ in stages]
    rep.check(len(stages) >= 2 and bases[-1] == "debian:bookworm-slim",
              "Dockerfile builds in one stage and runs on bookworm-slim by default", f"stages {bases}")
    build = "".join(body for _, body in stages[:-1])
    rep.check(re.search(r"^RUN\s+make build/kvscope\b", build, re.M) is not None,
              "Dockerfile builder runs make build/kvscope", "no `RUN make build/kvscope`")
    runtime = stages[-1][1] if stages else ""
    missing = [lib for lib in RUNTIME_LIBS if not re.search(rf"\b{re.escape(lib)}\b", runtime)]
    rep.check(not missing, "runtime stage installs the shared libraries", f"missing {missing}")
    tools = re.findall(r"\b(gcc|clang|llvm|make|[\w.+-]+-dev)\b", runtime.split("COPY")[0])
    rep.check(not tools, "runtime stage installs no compiler or headers", f"installs {tools}")
    rep.check("COPY --from=" in runtime, "runtime stage copies the built agent", "no COPY --from")


def static_addresses(config):
    """Jobs and Alertmanager groups of a Prometheus config that name
    addresses in the file itself (static_configs) instead of target files."""
    groups = config.get("scrape_configs", []) + config.get("alerting", {}).get("alertmanagers", [])
    return [g.get("job_name", "alertmanagers") for g in groups if "static_configs" in g]


def check_ha(rep, docs, deploy):
    """The highly available shape: two replicas told apart by a `replica`
    external label that alerts drop, every Alertmanager peer as a target,
    and a peer list for the Alertmanager cluster."""
    for rel in ("prometheus.yml", os.path.join("kubernetes", "prometheus.yml")):
        config = (docs.get(rel) or [{}])[0]
        rep.check(not static_addresses(config), f"{rel} takes addresses from discovery only",
                  f"static_configs in {static_addresses(config)}")
        labels = config.get("global", {}).get("external_labels", {})
        rep.check(labels.get("replica") == "${PROMETHEUS_REPLICA}",
                  f"{rel} labels each replica from PROMETHEUS_REPLICA", f"external_labels {labels}")
        drops = [r for r in config.get("alerting", {}).get("alert_relabel_configs", [])
                 if r.get("action") == "labeldrop" and r.get("regex") == "replica"]
        rep.check(bool(drops), f"{rel} drops the replica label from alerts", "no labeldrop of replica")
    ams = [t for g in docs.get(os.path.join("targets", "alertmanagers.yml"), [[]])[0] for t in g.get("targets", [])]
    rep.check(len(ams) >= 2, "every Alertmanager peer is a target", f"alertmanagers {ams}")
    defaults = {}
    for name in ("prometheus", "prometheus-alertmanager"):
        try:
            with open(os.path.join(deploy, "default", name), encoding="utf-8") as f:
                defaults[name] = dict(re.findall(r'^(\w+)="?(.*?)"?$', f.read(), re.M))
        except OSError as e:
            defaults[name] = {}
            rep.check(False, f"default/{name} readable", str(e))
    prom = defaults["prometheus"]
    rep.check("expand-external-labels" in prom.get("ARGS", "") and prom.get("PROMETHEUS_REPLICA"),
              "default/prometheus names the replica and expands it", f"has {prom}")
    peers = re.findall(r"--cluster\.peer=(\S+)", defaults["prometheus-alertmanager"].get("ARGS", ""))
    rep.check(len(peers) >= 2, "default/prometheus-alertmanager lists the cluster's peers", f"peers {peers}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "deploy"))
    args = ap.parse_args()

    rep = Report()
    docs = load_yaml_files(rep, args.dir)
    check_daemonset(rep, docs)
    check_unit(rep, os.path.join(args.dir, "systemd", "kvscope.service"))
    check_dockerfile(rep, os.path.join(args.dir, "Dockerfile"))
    check_ha(rep, docs, args.dir)
    print(f"manifests: {rep.passed} passed, {rep.failed} failed")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main())
