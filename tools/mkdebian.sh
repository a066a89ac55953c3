#!/bin/bash
# mkdebian.sh - build (or reuse) a Debian guest: a read-only ext4 root image
# made by debootstrap (minbase bookworm plus a family's packages), an
# initramfs that loads Debian's virtio/ext4 modules and switch_roots to it,
# and the host's Debian kernel. Prints three paths, one a line: the kernel,
# the initramfs and the root image (all in one directory, which is what
# `vmscatter receive --shared-path` must allow).
#
# Usage: tools/mkdebian.sh [--family NAME] [--cache DIR] [--list]
#   --family NAME  package set and default workload, from FAMILIES below
#                  (default: base)
#   --cache DIR    default $VMSCATTER_DEBIAN_CACHE, else /var/cache/vmscatter
#   --list         print the families and their packages, build nothing
# Needs root (debootstrap, chroot). Network: only the Debian mirror apt uses
# (the first bookworm "URIs:"/"deb" entry of /etc/apt/sources*; override with
# $VMSCATTER_MIRROR).
#
# Caches, under DIR:
#   tree-base-KEY/       debootstrap minbase + python3,procps (KEY: suite,
#                        mirror, packages, the tree-making code's version)
#   tree-FAMILY-KEY/     that plus the family's packages (apt-get in a chroot)
#   debian-FAMILY-KEY/   vmlinuz, initrd.img, rootfs.ext4, packages.txt (KEY:
#                        this script, the family, the kernel, busybox, and
#                        tools/guest/dirtier.c + tools/guest/debian/*);
#                        older images of the family go once a new one is made
#                        (unless a running guest has one open)
# A second call with the same inputs prints the paths at once. Every tree has
# its .deb cache and apt package lists deleted.
set -euo pipefail

# ---- families: NAME -> "extra Debian packages (comma-separated)|rootfs MiB" ----
# Every family gets python3,procps (the base tree); its default workload is
# DEFAULTS in tools/guest/debian/workload.py. Add a family here and there.
declare -A FAMILIES=(
	[base]="|512"
	[web]="nginx-light,apache2-utils|512"
	[db]="sqlite3|512"
	[build]="gcc,make,libc6-dev|768"
)
SUITE=bookworm
BASE_PKGS=python3,procps
TREE_VERSION=1   # bump when the tree-making steps below change
# the kernel modules the initramfs loads, in this order (crc32c_generic is
# not pulled in automatically but ext4 needs it)
MODULES="virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk crc16 mbcache jbd2 crc32c_generic ext4"

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "mkdebian: $*" >&2; exit 1; }
log() { echo "mkdebian: $*" >&2; }

family=base cache=${VMSCATTER_DEBIAN_CACHE:-/var/cache/vmscatter}
while [ $# -gt 0 ]; do
	case "$1" in
	--family) [ $# -ge 2 ] || die "--family needs a NAME"; family=$2; shift 2 ;;
	--cache) [ $# -ge 2 ] || die "--cache needs a DIR"; cache=$2; shift 2 ;;
	--list)
		for f in $(printf '%s\n' "${!FAMILIES[@]}" | sort); do
			e=${FAMILIES[$f]%%|*}
			echo "$f: $BASE_PKGS${e:+,$e}"
		done
		exit 0 ;;
	-h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown option: $1 (see --help)" ;;
	esac
done
[ -n "${FAMILIES[$family]+x}" ] || die "unknown family '$family' (known: $(printf '%s ' "${!FAMILIES[@]}"))"
extra=${FAMILIES[$family]%%|*}
size=${FAMILIES[$family]##*|}

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || die "no kernel in /boot (tools/install-deps.sh installs linux-image-amd64)"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
[ -d "$moddir" ] || die "no $moddir for kernel $kver"
[ -x /bin/busybox ] || die "no /bin/busybox (tools/install-deps.sh installs busybox-static)"
for t in cpio gzip mke2fs cc sha256sum; do
	command -v "$t" >/dev/null || die "no $t (run tools/install-deps.sh)"
done
gsrc="$here/guest/debian"
for f in initramfs-init vms-init workload.py; do
	[ -f "$gsrc/$f" ] || die "missing $gsrc/$f"
done

key=$(cat "$0" "$kernel" /bin/busybox "$here/guest/dirtier.c" "$gsrc/initramfs-init" "$gsrc/vms-init" \
	"$gsrc/workload.py" <(echo "$family") | sha256sum | cut -c1-16)
out="$cache/debian-$family-$key"
print() { printf '%s\n' "$out/vmlinuz" "$out/initrd.img" "$out/rootfs.ext4"; }
if [ -f "$out/rootfs.ext4" ] && [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ]; then
	print
	exit 0
fi

# ---- from here on we build: root, tools, mirror ----
[ "$(id -u)" = 0 ] || die "building needs root (debootstrap, chroot); nothing cached at $out"
command -v debootstrap >/dev/null || die "no debootstrap (run tools/install-deps.sh)"
mirror=${VMSCATTER_MIRROR:-}
if [ -z "$mirror" ]; then
	# deb822 (URIs:) or one-line (deb URI SUITE ...) sources naming Debian's main archive
	mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}
		     /^deb / && $0 ~ / (bookworm|stable) / && $2 ~ /\/debian\/?$/ {print $2; exit}') || true
fi
[ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources*; set VMSCATTER_MIRROR"
mkdir -p "$cache"
exec 9> "$cache/.mkdebian.lock"
flock 9   # one build at a time on this host (two would share the trees)
if [ -f "$out/rootfs.ext4" ] && [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ]; then
	print   # another caller built it while we waited
	exit 0
fi

# strip: what a running guest never needs from apt
strip_tree() {
	rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/cache/apt/archives/partial/* \
		"$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*
	mkdir -p "$1/var/lib/apt/lists/partial"
}

# 1. the base tree: debootstrap minbase
bkey=$(printf '%s\n' "$SUITE" "$mirror" "$BASE_PKGS" "$TREE_VERSION" | sha256sum | cut -c1-16)
btree="$cache/tree-base-$bkey"
if [ ! -f "$btree/.done" ]; then
	rm -rf "$btree" "$btree.tmp"
	log "debootstrap --variant=minbase --include=$BASE_PKGS $SUITE from $mirror"
	t0=$(date +%s)
	debootstrap --variant=minbase --include="$BASE_PKGS" "$SUITE" "$btree.tmp" "$mirror" > "$cache/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $cache/debootstrap.log"
	strip_tree "$btree.tmp"
	mv "$btree.tmp" "$btree"
	touch "$btree/.done"
	log "base tree in $(( $(date +%s) - t0 )) s, $(du -sm "$btree" | cut -f1) MiB"
fi

# 2. the family's tree: the base tree plus its packages, installed in a
# chroot where no service may start (policy-rc.d)
tree=$btree
if [ -n "$extra" ]; then
	fkey=$(printf '%s\n' "$bkey" "$extra" "$TREE_VERSION" | sha256sum | cut -c1-16)
	tree="$cache/tree-$family-$fkey"
	if [ ! -f "$tree/.done" ]; then
		rm -rf "$tree" "$tree.tmp"
		log "family $family: apt-get install ${extra//,/ }"
		t0=$(date +%s)
		cp -a "$btree" "$tree.tmp"
		rm -f "$tree.tmp/.done"
		printf '#!/bin/sh\nexit 101\n' > "$tree.tmp/usr/sbin/policy-rc.d"
		chmod 755 "$tree.tmp/usr/sbin/policy-rc.d"
		mount -t proc proc "$tree.tmp/proc"
		rc=0
		{
			chroot "$tree.tmp" apt-get update -q &&
				DEBIAN_FRONTEND=noninteractive chroot "$tree.tmp" apt-get install -y -q --no-install-recommends ${extra//,/ }
		} > "$cache/apt-$family.log" 2>&1 || rc=$?
		umount "$tree.tmp/proc"
		[ $rc = 0 ] || die "apt-get in the $family tree failed, see $cache/apt-$family.log"
		rm -f "$tree.tmp/usr/sbin/policy-rc.d"
		strip_tree "$tree.tmp"
		mv "$tree.tmp" "$tree"
		touch "$tree/.done"
		log "family $family tree in $(( $(date +%s) - t0 )) s, $(du -sm "$tree" | cut -f1) MiB"
	fi
fi

# 3. the image: the tree plus the guest's programs, as ext4; the initramfs
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
t0=$(date +%s.%N)
root="$tmp/root"
cp -a "$tree" "$root"
rm -f "$root/.done"
install -d "$root/usr/local/sbin" "$root/usr/local/bin" "$root/usr/local/lib/vmscatter"
install -m 755 "$gsrc/vms-init" "$root/usr/local/sbin/vms-init"
install -m 644 "$gsrc/workload.py" "$root/usr/local/lib/vmscatter/workload.py"
cc -O2 -static -o "$root/usr/local/bin/vms-dirtier" "$here/guest/dirtier.c" ||
	die "could not build the static dirtier (is libc6-dev installed?)"
echo "vmscatter-$family" > "$root/etc/hostname"
chroot "$root" dpkg-query -W -f '${Package} ${Version}\n' > "$tmp/packages.txt"
need=$(du -sm "$root" | cut -f1)
[ "$size" -ge $((need * 5 / 4 + 32)) ] || size=$((need * 5 / 4 + 32))
# fixed UUID and hash seed: the same tree gives the same image layout
mke2fs -q -t ext4 -L vmscatter -U 6b1e5c9a-0d2f-4c43-9a57-5d1f00a1e0b1 -E hash_seed=0b3c1e5a-7f22-4c1d-8e2b-0c0ffee0d00d \
	-d "$root" "$tmp/rootfs.ext4" "${size}M" > "$tmp/mke2fs.log" 2>&1 || die "mke2fs failed: $(cat "$tmp/mke2fs.log")"
# initramfs: busybox + the modules + /init
ird="$tmp/initrd"
mkdir -p "$ird/bin" "$ird/modules" "$ird/proc" "$ird/sys" "$ird/dev" "$ird/newroot"
cp /bin/busybox "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"
install -m 755 "$gsrc/initramfs-init" "$ird/init"
for m in $MODULES; do
	f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" | head -n 1)
	[ -n "$f" ] || die "module $m not found under $moddir (is it built in? then drop it from MODULES)"
	case "$f" in
	*.xz) xz -dc "$f" > "$ird/modules/$m.ko" ;;
	*.zst) zstd -qdc "$f" > "$ird/modules/$m.ko" ;;
	*) cp "$f" "$ird/modules/$m.ko" ;;
	esac
	echo "$m" >> "$ird/modules.order"
done
(cd "$ird" && find . | cpio -o -H newc --quiet | gzip -1) > "$tmp/initrd.img"
cp "$kernel" "$tmp/vmlinuz"
mkdir -p "$tmp/out"
mv "$tmp/vmlinuz" "$tmp/initrd.img" "$tmp/rootfs.ext4" "$tmp/packages.txt" "$tmp/out/"
rm -rf "$out"
mv "$tmp/out" "$out"
# older images of this family (an earlier script or kernel) that no process
# has open (a running guest keeps its image)
for d in "$cache"/debian-"$family"-*; do
	[ "$d" != "$out" ] && [ -d "$d" ] || continue
	find /proc/[0-9]*/fd -lname "$d/*" 2>/dev/null | grep -q . || rm -rf "$d"
done
log "family $family: image ${size} MiB (tree $need MiB) and initramfs in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s"
print
