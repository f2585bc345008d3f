#!/usr/bin/env bash
# Installs what kvscope needs to build, run and test, from Debian's archive.
# Quiet and quick when everything is already there.
set -euo pipefail

packages=(
	make gcc clang llvm pkg-config bpftool
	libbpf-dev libelf-dev zlib1g-dev libcapstone-dev libmicrohttpd-dev libyaml-dev
	libcmocka-dev libgnutls28-dev libcap-dev libcrypt-dev libclang-rt-14-dev
	openssl
	etcd-server etcd-client golang-go prometheus prometheus-alertmanager prometheus-node-exporter
	python3-yaml python3-pyflakes bpftrace golang-google-grpc-dev golang-google-protobuf-dev
	qemu-system-x86 debootstrap e2fsprogs
	curl python3 procps iproute2 util-linux redis-server redis-tools
	podman runc conmon catatonit uidmap slirp4netns fuse-overlayfs netavark aardvark-dns iptables
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# Debian starts etcd and prometheus as services on install; kvscope's
	# tests start their own on their own ports, so keep the packaged ones off.
	printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
	chmod +x /usr/sbin/policy-rc.d
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	rm -f /usr/sbin/policy-rc.d
fi

if ! mountpoint -q /sys/kernel/tracing 2>/dev/null; then
	mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null || true
fi
