#!/usr/bin/env bash
# Builds one Go test fixture, stripped like a packaged binary.
#   build-fixture.sh GO SRC_DIR OUT [extlink]
# GO is the go command (bookworm's, or Go 1.23 from scripts/fetch-builds.sh).
# A fixture with a go.mod is built as a module (its dependencies are local
# replace directives: nothing is downloaded); one without, in GOPATH mode.
# `extlink` links with the system linker, as Debian's etcd builds are linked.
set -euo pipefail

go_cmd=${1:?usage: build-fixture.sh GO SRC_DIR OUT [extlink]}
src=${2:?usage: build-fixture.sh GO SRC_DIR OUT [extlink]}
out=${3:?usage: build-fixture.sh GO SRC_DIR OUT [extlink]}
mode=${4:-}

out=$(realpath -m "$out")
mkdir -p "$(dirname "$out")"
version=$(GOTOOLCHAIN=local "$go_cmd" env GOVERSION)
export GOTOOLCHAIN=local GOPROXY=off GOFLAGS= GOCACHE="${GOCACHE_ROOT:-$(dirname "$out")/.gocache}/$version"
ldflags='-s -w'
if [ "$mode" = extlink ]; then
	export CGO_ENABLED=1
	ldflags="$ldflags -linkmode=external"
else
	export CGO_ENABLED=0
fi
cd "$src"
if [ -f go.mod ]; then
	GO111MODULE=on GOFLAGS=-mod=mod "$go_cmd" build -trimpath -ldflags="$ldflags" -o "$out" .
else
	GO111MODULE=off "$go_cmd" build -trimpath -ldflags="$ldflags" -o "$out" .
fi
