#!/usr/bin/env bash
# Builds (or finds cached) the Debian bookworm guest for `make test-kernels`:
# the stock kernel, its initramfs and an ext4 root image holding etcd,
# promtool, bpftool and the agent's runtime libraries.
#   build-root.sh            print the cache directory (vmlinuz, initrd.img, root.img)
# The cache lives under $KVSCOPE_KERNELS_CACHE (default /var/cache/kvscope-kernels),
# keyed by a hash of this script, so a changed package list or guest init
# builds a fresh root. Progress goes to stderr; stdout is the directory only.
set -euo pipefail

SUITE=bookworm
CACHE_BASE=${KVSCOPE_KERNELS_CACHE:-/var/cache/kvscope-kernels}

# What the guest needs: the stock kernel, the store, the tools the tests call,
# and the libraries both agent builds (plain and ASan/UBSan) link against.
PACKAGES=(
	linux-image-amd64
	etcd-server etcd-client prometheus
	python3 python3-yaml bpftool procps iproute2 kmod util-linux
	libbpf1 libelf1 libcapstone4 libmicrohttpd12 libyaml-0-2 zlib1g
	libasan8 libubsan1
)
# The initramfs only has to find an ext4 root on a virtio disk.
INITRAMFS_MODULES=(virtio_pci virtio_blk ext4)

log() { echo "build-root: $*" >&2; }

# The Debian archive this host already uses (deb822 or one-line sources).
debian_mirror() {
	local url
	url=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		grep -oE '^(URIs:|deb)[[:space:]]+(\[[^]]*\][[:space:]]+)?https?://[^[:space:]]+' |
		grep -oE 'https?://[^[:space:]]+' | grep -E '/debian/?$' | head -1 || true)
	echo "${url:-http://deb.debian.org/debian}"
}

cache_key() {
	sha256sum "$0" | cut -c1-16
}

# The guest's PID 1: mounts what the kernel does not, brings the project in
# over 9p at the path it has on the host, runs its guest script, powers off.
# Everything test-specific lives in the project (tests/kernels/guest.sh), so
# editing tests does not rebuild the root.
write_guest_init() {
	cat >"$1/kvscope-init" <<'EOF'
#!/bin/sh
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
# The initramfs hands over /proc, /sys and /dev already mounted.
mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -o remount,rw /
repo=
for arg in $(cat /proc/cmdline); do
	case $arg in kvscope.repo=*) repo=${arg#kvscope.repo=} ;; esac
done
modprobe -q 9pnet_virtio
modprobe -q 9p
if [ -n "$repo" ] && mkdir -p "$repo" &&
	mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro repo "$repo" &&
	[ -x "$repo/tests/kernels/guest.sh" ]; then
	"$repo/tests/kernels/guest.sh" "$repo"
else
	echo "RESULT FAIL mount the project over 9p at '$repo'" >/dev/ttyS1
fi
sync
echo o >/proc/sysrq-trigger
sleep 10
EOF
	chmod 755 "$1/kvscope-init"
}

# Package installs in the chroot; runs inside a private mount namespace so
# /proc mounted for dpkg never shows on the host.
chroot_install() {
	local root=$1
	# shellcheck disable=SC2016 # expanded by the inner shell
	unshare --mount --propagation private bash -euo pipefail -c '
		root=$1; shift
		mount -t proc proc "$root/proc"
		export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
		run() { chroot "$root" "$@"; }
		run apt-get update -qq
		run apt-get install -y -qq --no-install-recommends initramfs-tools >/dev/null
		printf "%s\n" $INITRAMFS_MODULES >"$root/etc/initramfs-tools/modules"
		printf "MODULES=list\nCOMPRESS=gzip\n" >"$root/etc/initramfs-tools/conf.d/kvscope.conf"
		run apt-get install -y -qq --no-install-recommends "$@" >/dev/null
		run apt-get clean
		umount "$root/proc"
	' chroot_install "$root" "${PACKAGES[@]}"
}

# No daemons start in the chroot, and no docs or translations land in it.
prepare_chroot() {
	local root=$1
	printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
	chmod 755 "$root/usr/sbin/policy-rc.d"
	cat >"$root/etc/dpkg/dpkg.cfg.d/01-kvscope-nodoc" <<'EOF'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
EOF
	echo kvscope-guest >"$root/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$root/etc/hosts"
}

# Kernel and initramfs go next to the image; the image is sized to what the
# root holds plus room for the tests' etcd data and logs.
make_image() {
	local root=$1 out=$2 kver='' used_mb dir
	for dir in "$root"/lib/modules/*/; do kver=$(basename "$dir"); done
	[ -n "$kver" ] || { log "no kernel installed in the root"; return 1; }
	cp "$root/boot/vmlinuz-$kver" "$out/vmlinuz"
	cp "$root/boot/initrd.img-$kver" "$out/initrd.img"
	rm -f "$root/usr/sbin/policy-rc.d"
	rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
	write_guest_init "$root"
	used_mb=$(du -sxm "$root" | cut -f1)
	truncate -s "$((used_mb + 1536))M" "$out/root.img"
	mkfs.ext4 -q -F -L kvscope-root -d "$root" "$out/root.img"
	echo "$kver" >"$out/kernel-release"
}

build() {
	local dest=$1 tmp mirror
	mkdir -p "$CACHE_BASE"
	tmp=$(mktemp -d "$CACHE_BASE/.build.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$tmp'" EXIT
	mirror=$(debian_mirror)
	log "debootstrap $SUITE from $mirror"
	debootstrap --variant=minbase "$SUITE" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1 ||
		{ tail -20 "$tmp/debootstrap.log" >&2; return 1; }
	prepare_chroot "$tmp/root"
	log "installing ${PACKAGES[*]}"
	INITRAMFS_MODULES="${INITRAMFS_MODULES[*]}" chroot_install "$tmp/root" >"$tmp/install.log" 2>&1 ||
		{ tail -20 "$tmp/install.log" >&2; return 1; }
	mkdir "$tmp/out"
	log "making the ext4 image"
	make_image "$tmp/root" "$tmp/out"
	rm -rf "$dest"
	mv "$tmp/out" "$dest"
	rm -rf "$tmp"
	trap - EXIT
}

# Roots of earlier versions of this script are never used again.
drop_stale() {
	local dir
	for dir in "$CACHE_BASE"/*; do
		[ "$dir" != "$1" ] && [[ $(basename "$dir") =~ ^[0-9a-f]{16}$ ]] && rm -rf "$dir"
	done
	return 0
}

main() {
	local dest
	dest="$CACHE_BASE/$(cache_key)"
	mkdir -p "$CACHE_BASE"
	# One build at a time; a second caller waits and then finds it cached.
	exec 9>"$CACHE_BASE/.lock"
	flock 9
	if [ ! -s "$dest/root.img" ] || [ ! -s "$dest/vmlinuz" ] || [ ! -s "$dest/initrd.img" ]; then
		log "no cached root at $dest; building (about a minute)"
		build "$dest"
		drop_stale "$dest"
	fi
	echo "$dest"
}

main "$@"
