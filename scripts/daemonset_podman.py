#!/usr/bin/env python3
"""The podman flags that run kvscope's image as deploy/kubernetes/daemonset.yaml
runs it, derived from the manifest so the two cannot drift.

  daemonset_podman.py [--manifest FILE] [--publish ADDR:PORT]

Prints one podman run argument per line, up to and including the image's
arguments (image name excluded: the caller inserts it where IMAGE appears).
Every field of the pod and container spec is either translated or listed
below as having no meaning outside Kubernetes; any other field is an error,
so a field added to the manifest must be taught here first.

  terminationGracePeriodSeconds    --stop-timeout (30 when absent, as there)
  hostPID                          --pid=host
  hostNetwork: false + ports       own network namespace, containerPort
                                   published on the host (--publish)
  securityContext.capabilities     --cap-drop / --cap-add, same names
  seccompProfile RuntimeDefault    podman's default profile (no flag);
                 Unconfined        --security-opt=seccomp=unconfined
  readOnlyRootFilesystem           --read-only
  allowPrivilegeEscalation: false  --security-opt=no-new-privileges
  privileged                       --privileged
  runAsUser                        --user
  hostPath volumes + volumeMounts  -v host:container[:ro]
  resources.limits cpu, memory     --cpus, --memory
  env (value only)                 -e NAME=value
  command, args                    --entrypoint, arguments after the image
"""

import argparse
import json
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("daemonset_podman: python3 yaml module missing (apt-get install python3-yaml)", file=sys.stderr)
    sys.exit(2)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))

# Fields that change nothing for one container on one host.
POD_IGNORED = {"serviceAccountName", "automountServiceAccountToken", "tolerations", "nodeSelector",
               "affinity", "priorityClassName", "dnsPolicy"}
CONTAINER_IGNORED = {"name", "image", "imagePullPolicy", "livenessProbe", "readinessProbe",
                     "startupProbe"}
SECURITY_HANDLED = {"capabilities", "seccompProfile", "readOnlyRootFilesystem",
                    "allowPrivilegeEscalation", "privileged", "runAsUser", "runAsNonRoot"}


class ManifestError(Exception):
    pass


def daemonset(path):
    with open(path, encoding="utf-8") as f:
        docs = [d for d in yaml.safe_load_all(f) if isinstance(d, dict)]
    found = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(found) != 1:
        raise ManifestError(f"{path}: want one DaemonSet, found {len(found)}")
    return found[0]


def unknown(fields, known, where):
    extra = sorted(set(fields) - known)
    if extra:
        raise ManifestError(f"{where}: no podman translation for {', '.join(extra)} "
                            "(teach scripts/daemonset_podman.py)")


def cpus(value):
    text = str(value)
    return str(int(text[:-1]) / 1000) if text.endswith("m") else text


def memory(value):
    """Kubernetes quantities to podman's units (binary suffixes only)."""
    m = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(value))
    if not m:
        raise ManifestError(f"memory limit {value!r}: only plain, Ki, Mi and Gi are translated")
    return m.group(1) + {"Ki": "k", "Mi": "m", "Gi": "g", None: ""}[m.group(2)]


def security_flags(sc):
    unknown(sc, SECURITY_HANDLED, "securityContext")
    out = []
    if sc.get("privileged"):
        out.append("--privileged")
    caps = sc.get("capabilities", {})
    unknown(caps, {"add", "drop"}, "securityContext.capabilities")
    out += [f"--cap-drop={c.lower()}" for c in caps.get("drop", [])]
    out += [f"--cap-add={c.lower()}" for c in caps.get("add", [])]
    seccomp = sc.get("seccompProfile", {}).get("type", "RuntimeDefault")
    if seccomp == "Unconfined":
        out.append("--security-opt=seccomp=unconfined")
    elif seccomp != "RuntimeDefault":
        raise ManifestError(f"seccompProfile {seccomp}: only RuntimeDefault and Unconfined are translated")
    if sc.get("readOnlyRootFilesystem"):
        out.append("--read-only")
    if sc.get("allowPrivilegeEscalation") is False:
        out.append("--security-opt=no-new-privileges")
    if "runAsUser" in sc:
        out.append(f"--user={int(sc['runAsUser'])}")
    return out


def volume_flags(spec, container):
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    out = []
    for m in container.get("volumeMounts", []):
        unknown(m, {"name", "mountPath", "readOnly"}, f"volumeMount {m.get('name')}")
        v = volumes.get(m["name"])
        if not v or "hostPath" not in v:
            raise ManifestError(f"volumeMount {m['name']}: only hostPath volumes are translated")
        host = v["hostPath"]["path"]
        if v["hostPath"].get("type") == "DirectoryOrCreate":
            os.makedirs(host, exist_ok=True)
        out.append(f"--volume={host}:{m['mountPath']}" + (":ro" if m.get("readOnly") else ""))
    return out


def container_flags(spec, c, publish):
    unknown(c, CONTAINER_IGNORED | {"args", "command", "ports", "securityContext", "resources",
                                    "volumeMounts", "env"}, f"container {c.get('name')}")
    out = []
    if not spec.get("hostNetwork"):
        for p in c.get("ports", []):
            if p.get("protocol", "TCP") != "TCP":
                raise ManifestError(f"port {p}: only TCP is translated")
            out.append(f"--publish={publish}:{p['containerPort']}")
    for e in c.get("env", []):
        if "value" not in e:
            raise ManifestError(f"env {e.get('name')}: only plain values are translated")
        out.append(f"--env={e['name']}={e['value']}")
    limits = c.get("resources", {}).get("limits", {})
    unknown(limits, {"cpu", "memory"}, "resources.limits")
    if "cpu" in limits:
        out.append(f"--cpus={cpus(limits['cpu'])}")
    if "memory" in limits:
        out.append(f"--memory={memory(limits['memory'])}")
    out += security_flags(c.get("securityContext", {}))
    out += volume_flags(spec, c)
    if c.get("command"):
        out.append("--entrypoint=" + json.dumps(c["command"]))
    return out + ["IMAGE"] + [str(a) for a in c.get("args", [])]


def podman_args(path, publish):
    ds = daemonset(path)
    spec = ds["spec"]["template"]["spec"]
    unknown(spec, POD_IGNORED | {"hostPID", "hostNetwork", "containers", "volumes",
                                 "terminationGracePeriodSeconds"}, "pod spec")
    if len(spec.get("containers", [])) != 1:
        raise ManifestError("only a pod of one container is translated")
    # Kubernetes waits 30 s after SIGTERM unless told otherwise.
    out = [f"--stop-timeout={int(spec.get('terminationGracePeriodSeconds', 30))}"]
    if spec.get("hostPID"):
        out.append("--pid=host")
    if spec.get("hostNetwork"):
        out.append("--network=host")
    return out + container_flags(spec, spec["containers"][0], publish)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--manifest", default=os.path.join(ROOT, "deploy", "kubernetes", "daemonset.yaml"))
    ap.add_argument("--publish", default="127.0.0.1:2112", help="host address:port for the container's port")
    args = ap.parse_args()
    try:
        print("\n".join(podman_args(args.manifest, args.publish)))
    except (OSError, yaml.YAMLError, ManifestError, KeyError, TypeError, ValueError) as e:
        print(f"daemonset_podman: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
