#!/bin/sh
# mkguest.sh - build (or reuse) the small test guest: Debian's kernel plus a
# busybox-static initramfs with the dirtier workload. Prints the directory that
# holds `vmlinuz` and `initrd.img`.
#
# Usage: tools/mkguest.sh [CACHE_DIR]
#   CACHE_DIR defaults to $VMSCATTER_CACHE, else ${XDG_CACHE_HOME:-$HOME/.cache}/vmscatter.
# The build is cached under a key made of the kernel, busybox and the guest
# sources, so a second call returns at once.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
cache=${1:-${VMSCATTER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vmscatter}}

die() { echo "mkguest: $*" >&2; exit 1; }

kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1)
[ -n "$kernel" ] || die "no kernel in /boot (apt-get install linux-image-amd64, or run tools/install-deps.sh)"
[ -x /bin/busybox ] || die "no /bin/busybox (apt-get install busybox-static)"
command -v cpio >/dev/null || die "no cpio (apt-get install cpio)"
command -v cc >/dev/null || die "no C compiler"

key=$( (sha256sum "$kernel" /bin/busybox "$here/guest/init" "$here/guest/dirtier.c" "$0") | sha256sum | cut -c1-16)
out="$cache/guest-$key"
if [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ]; then
	echo "$out"
	exit 0
fi

mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
root="$tmp/root"
mkdir -p "$root/bin" "$root/proc" "$root/sys" "$root/dev" "$root/tmp"
cp /bin/busybox "$root/bin/busybox"
cp "$here/guest/init" "$root/init"
chmod 755 "$root/init"
cc -O2 -static -o "$root/bin/vms-dirtier" "$here/guest/dirtier.c" ||
	die "could not build the static dirtier (is libc6-dev installed?)"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$tmp/initrd.img"
cp "$kernel" "$tmp/vmlinuz"
mkdir -p "$tmp/out"
mv "$tmp/initrd.img" "$tmp/vmlinuz" "$tmp/out/"
rm -rf "$out"
mv "$tmp/out" "$out"
echo "$out"
