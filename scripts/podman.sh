#!/usr/bin/env bash
# podman with the project's settings (deploy/containers.conf) instead of the
# system's. Every project script runs podman through this; use it by hand the
# same way: scripts/podman.sh ps, scripts/podman.sh images.
CONTAINERS_CONF=$(cd "$(dirname "$0")/.." && pwd)/deploy/containers.conf
export CONTAINERS_CONF
exec podman "$@"
