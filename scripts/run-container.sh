#!/usr/bin/env bash
# Runs kvscope's image (make image) the way deploy/kubernetes/daemonset.yaml
# runs it: the podman flags are derived from the manifest by
# scripts/daemonset_podman.py (capabilities, seccomp, read-only root, host
# PID namespace, mounts, limits, arguments), and printed before they run.
#   sudo scripts/run-container.sh [kvscope flags]   flags go after the manifest's args
# Environment:
#   KVSCOPE_IMAGE      image (default localhost/kvscope:$(cat VERSION))
#   KVSCOPE_PUBLISH    host address:port for :2112 (default 127.0.0.1:2112;
#                      0.0.0.0:2112 lets other hosts scrape it)
#   KVSCOPE_CONTAINER  container name (default kvscope; replaces one of that name)
#   KVSCOPE_MANIFEST   the DaemonSet to derive from (default deploy/kubernetes/daemonset.yaml)
#   KVSCOPE_DETACH=1   start it in the background and return; stop it with
#                      scripts/podman.sh stop NAME (default: in the
#                      foreground, Ctrl-C stops and removes it)
set -euo pipefail
cd "$(dirname "$0")/.."

image=${KVSCOPE_IMAGE:-localhost/kvscope:$(cat VERSION)}
name=${KVSCOPE_CONTAINER:-kvscope}

if [ "$(id -u)" -ne 0 ]; then
	echo "run-container.sh: kvscope needs root (BPF and uprobes): run it with sudo" >&2
	exit 1
fi
if ! scripts/podman.sh image exists "$image"; then
	echo "run-container.sh: no image $image: run make image first" >&2
	exit 1
fi
mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing

derived=$(scripts/daemonset_podman.py --manifest "${KVSCOPE_MANIFEST:-deploy/kubernetes/daemonset.yaml}" \
	--publish "${KVSCOPE_PUBLISH:-127.0.0.1:2112}")
args=(run --name "$name" --replace)
if [ "${KVSCOPE_DETACH:-0}" = 1 ]; then
	args+=(--detach)
else
	args+=(--rm)
fi
while IFS= read -r word; do
	if [ "$word" = IMAGE ]; then args+=("$image"); else args+=("$word"); fi
done <<<"$derived"
args+=("$@")

printf "CONTAINERS_CONF=deploy/containers.conf podman" >&2
printf " %q" "${args[@]}" >&2
echo >&2
exec scripts/podman.sh "${args[@]}"
