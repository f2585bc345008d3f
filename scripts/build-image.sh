#!/usr/bin/env bash
# make image: kvscope's container image, localhost/kvscope:$(cat VERSION),
# built with podman from deploy/Dockerfile on a Debian bookworm base made
# here (scripts/container-base.sh), without any registry. podman's layer
# cache rebuilds only the stages whose inputs changed; the build stage is
# kept as localhost/kvscope-build:cache. Prints the image name and size last.
set -euo pipefail
cd "$(dirname "$0")/.."

image=localhost/kvscope:$(cat VERSION)
rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

if [ "$(id -u)" -ne 0 ]; then
	echo "build-image.sh: podman's images here are root's: run it with sudo" >&2
	exit 1
fi
base=$(scripts/container-base.sh bookworm)
echo "building $image on $base" >&2
build=(build --quiet --layers --build-arg BASE="$base" --build-arg GITREV="$rev" -f deploy/Dockerfile)
scripts/podman.sh "${build[@]}" --label org.kvscope.stage=image -t "$image" . >/dev/null
# The build stage's result stays as the cache for the next build (tagged, so
# it is kept); the ones it supersedes, and superseded images, go.
stage=$(scripts/podman.sh "${build[@]}" --target build .)
scripts/podman.sh tag "$stage" localhost/kvscope-build:cache
for label in org.kvscope.stage=build org.kvscope.stage=image; do
	scripts/podman.sh image prune --force --filter "label=$label" >/dev/null
done
scripts/podman.sh image inspect --format "$image {{.Size}}" "$image" |
	awk '{ printf "%s: %.1f MB\n", $1, $2 / 1e6 }'
