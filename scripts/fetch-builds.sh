#!/usr/bin/env bash
# Fetches the store builds kvscope is tested against beyond bookworm's own:
# etcd 3.5 from trixie and sid, Valkey 8.0 and Go 1.23 from bookworm-backports. Each
# package is downloaded (never installed) through a private apt sources list
# and state directory, so the system's apt configuration is left alone, and
# unpacked with dpkg -x under $KVSCOPE_BUILDS (default
# /var/cache/kvscope/builds/<name>-<version>/).
#
#   scripts/fetch-builds.sh            fetch what is missing, print NAME PATH lines
#   scripts/fetch-builds.sh path NAME  print the path of one build's binary (fetching it)
#
# NAME is etcd-3.5.16, etcd-3.5.30, valkey-8.0.1 or go-1.23.5 (the toolchain the
# Go unit-test fixtures are also built with). Quick when cached: a build
# whose binary is already unpacked and runs is not looked at again.
set -euo pipefail

root=${KVSCOPE_BUILDS:-/var/cache/kvscope/builds}
apt_dir=${KVSCOPE_APT_DIR:-/var/cache/kvscope/apt}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}

# name  suite  package[,package...]  version  binary (inside the unpacked tree)  version flag
builds=(
	"etcd-3.5.16 trixie etcd-server 3.5.16 usr/bin/etcd --version"
	"etcd-3.5.30 sid etcd-server 3.5.30 usr/bin/etcd --version"
	"valkey-8.0.1 bookworm-backports valkey-server,valkey-tools 8.0.1 usr/bin/valkey-server --version"
	"go-1.23.5 bookworm-backports golang-1.23-go,golang-1.23-src 1.23.5 usr/lib/go-1.23/bin/go version"
)

die() {
	echo "fetch-builds.sh: $*" >&2
	exit 1
}

# A private apt configuration: its own sources list, lists and cache, and no
# sources.list.d, so neither the system's sources nor its state are touched.
apt_private() {
	apt-get -q -o Dir::Etc::SourceList="$apt_dir/sources.list" \
		-o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt_dir/lists" \
		-o Dir::State::Status="$apt_dir/status" \
		-o Dir::Cache="$apt_dir/cache" \
		-o APT::Get::List-Cleanup=0 \
		-o Debug::NoLocking=1 "$@"
}

apt_ready=""
apt_update() {
	[ -n "$apt_ready" ] && return 0
	mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
	touch "$apt_dir/status"
	{
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror sid main"
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bookworm-backports main"
	} >"$apt_dir/sources.list"
	apt_private update -qq >"$apt_dir/update.log" 2>&1 ||
		die "apt-get update of the private sources failed (see $apt_dir/update.log)"
	apt_ready=1
}

# The exact version string of PACKAGE in SUITE whose upstream part is VERSION.
package_version() {
	local pkg=$1 suite=$2 want=$3
	apt-cache -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
		-o Dir::State::Lists="$apt_dir/lists" -o Dir::State::Status="$apt_dir/status" \
		-o Dir::Cache="$apt_dir/cache" madison "$pkg" |
		awk -F'|' -v suite="$suite" -v want="$want" '
			{ gsub(/ /, "", $2); split($3, s, " "); sub(/\/.*/, "", s[2]) }
			s[2] == suite && ($2 ~ "^([0-9]+:)?" want "([-+~]|$)") { print $2; exit }'
}

# Downloads and unpacks one build; prints nothing.
fetch_one() {
	local name=$1 suite=$2 pkgs=$3 version=$4 dest=$root/$1
	local tmp pkg v
	apt_update
	tmp=$(mktemp -d "$root/.fetch-$name.XXXXXX")
	for pkg in ${pkgs//,/ }; do
		v=$(package_version "$pkg" "$suite" "$version")
		[ -n "$v" ] || die "$pkg $version is not in $suite (the archive may have moved on)"
		(cd "$tmp" && apt_private download "$pkg=$v" >"$tmp/download.log" 2>&1) ||
			die "apt-get download $pkg=$v failed: $(tail -1 "$tmp/download.log")"
	done
	mkdir -p "$tmp/tree"
	for deb in "$tmp"/*.deb; do
		dpkg -x "$deb" "$tmp/tree"
	done
	rm -rf "$dest"
	mv "$tmp/tree" "$dest"
	rm -rf "$tmp"
}

# The binary runs on this system's libc and says its version.
check_runs() {
	local bin=$1 version=$2 flag=$3 out
	# the whole output first: a reader that stops early would make it fail with SIGPIPE
	out=$(GOTOOLCHAIN=local "$bin" "$flag" 2>&1) || die "$bin $flag failed: $(head -3 <<<"$out")"
	grep -q "$version" <<<"$out" || die "$bin $flag does not say $version: $(head -3 <<<"$out")"
}

ensure() {
	local name=$1 suite=$2 pkgs=$3 version=$4 bin=$5 flag=$6
	local path=$root/$name/$bin
	if [ ! -x "$path" ]; then
		mkdir -p "$root"
		fetch_one "$name" "$suite" "$pkgs" "$version"
	fi
	[ -x "$path" ] || die "$name: $bin missing after unpacking"
	check_runs "$path" "$version" "$flag"
	echo "$path"
}

main() {
	local want=${2:-} found=""
	if [ "${1:-}" = path ]; then
		[ -n "$want" ] || die "usage: fetch-builds.sh path NAME"
	elif [ $# -gt 0 ]; then
		die "usage: fetch-builds.sh [path NAME]"
	fi
	for b in "${builds[@]}"; do
		read -r name suite pkgs version bin flag <<<"$b"
		if [ -n "$want" ]; then
			[ "$name" = "$want" ] || continue
			ensure "$name" "$suite" "$pkgs" "$version" "$bin" "$flag"
			found=1
		else
			echo "$name $(ensure "$name" "$suite" "$pkgs" "$version" "$bin" "$flag")"
		fi
	done
	if [ -n "$want" ] && [ -z "$found" ]; then
		die "unknown build $want (known: etcd-3.5.16 etcd-3.5.30 valkey-8.0.1 go-1.23.5)"
	fi
}

main "$@"
