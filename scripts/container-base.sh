#!/usr/bin/env bash
# A minimal Debian image for podman, made without any registry: debootstrap
# (minbase variant) into a cached tarball, then `podman import`.
#   container-base.sh SUITE     print the image name (localhost/kvscope-base:SUITE)
# The tarball lives under $KVSCOPE_CACHE/container (default
# /var/cache/kvscope/container), keyed by a hash of the recipe and the
# suite: a changed recipe builds afresh, anything else imports the cached
# root, and an image already carrying the key is used as it is. Progress
# goes to stderr; stdout is the image name only. Needs root and podman with
# the project's containers.conf (scripts/podman.sh sets it).
set -euo pipefail

suite=${1:?usage: container-base.sh SUITE (bookworm, trixie)}
here=$(cd "$(dirname "$0")" && pwd)
cache=${KVSCOPE_CACHE:-/var/cache/kvscope}/container
image=localhost/kvscope-base:$suite
podman=("$here/podman.sh")

log() { echo "container-base: $*" >&2; }

# The root as small as a base image should be: no apt lists, caches, docs
# or translations, and none installed later either (dpkg excludes them).
trim_root() {
	local root=$1
	cat >"$root/etc/dpkg/dpkg.cfg.d/01-kvscope-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
	# No daemon starts while an image builds.
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	rm -rf "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
		"$root"/usr/share/locale/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* \
		"$root"/var/cache/debconf/*-old "$root"/var/log/* "$root"/tmp/*
	: >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
}

build_tarball() {
	local tmp mirror
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache/.build.XXXXXX")
	# shellcheck disable=SC2064 # expand now: tmp is local
	trap "rm -rf '$tmp'" EXIT
	mirror=$("$here/debian-mirror.sh")
	log "debootstrap --variant=minbase $suite from $mirror (a minute or two)"
	debootstrap --variant=minbase "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{
			tail -20 "$tmp/debootstrap.log" >&2
			return 1
		}
	trim_root "$tmp/root"
	tar -C "$tmp/root" --numeric-owner -cf "$tmp/root.tar" .
	mv "$tmp/root.tar" "$tarball"
	rm -rf "$tmp"
	trap - EXIT
}

# Tarballs of earlier recipes for this suite are never used again.
drop_stale() {
	local f
	for f in "$cache/$suite"-*.tar; do
		[ -e "$f" ] && [ "$f" != "$tarball" ] && rm -f "$f"
	done
	return 0
}

# The key covers what makes the root (the functions that build it), not
# the rest of this script.
recipe_key() {
	{
		declare -f build_tarball trim_root
		echo "$suite"
	} | sha256sum | cut -c1-16
}

main() {
	local have old
	key=$(recipe_key)
	tarball=$cache/$suite-$key.tar
	mkdir -p "$cache"
	# One build per suite at a time; a second caller waits, then finds it.
	exec 9>"$cache/.lock-$suite"
	flock 9
	have=$("${podman[@]}" image inspect --format '{{ index .Labels "org.kvscope.base-key" }}' \
		"$image" 2>/dev/null || true)
	old=$("${podman[@]}" image inspect --format '{{ .Id }}' "$image" 2>/dev/null || true)
	if [ "$have" != "$key" ]; then
		if [ ! -s "$tarball" ]; then
			log "no cached $suite root at $tarball: building it"
			build_tarball
			drop_stale
		fi
		log "importing $tarball as $image"
		"${podman[@]}" import --quiet --change "LABEL org.kvscope.base-key=$key" \
			--change 'CMD ["/bin/bash"]' "$tarball" "$image" >/dev/null
		# The superseded base goes too, unless images built on it still use it.
		[ -z "$old" ] || "${podman[@]}" rmi "$old" >/dev/null 2>&1 || true
	fi
	echo "$image"
}

main
