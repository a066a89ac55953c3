#!/bin/sh
# install-deps.sh - install the Debian 12 packages vmscatter needs to build,
# test and run its demo. Idempotent: prints nothing and touches nothing when
# every package is already there. Needs root (apt-get) only when something
# is missing.
set -eu

# build
pkgs="gcc make libc6-dev autoconf automake libtool pkg-config"
# libraries (through pkg-config, GLPK through AC_CHECK_LIB)
pkgs="$pkgs libpgm-dev libssl-dev liblzo2-dev libzstd-dev liblz4-dev libjansson-dev libxxhash-dev libglpk-dev"
pkgs="$pkgs libcmocka-dev libibverbs-dev libvirt-dev"
# fuzzing (libFuzzer comes with clang's runtime)
pkgs="$pkgs clang libclang-rt-14-dev"
# guests, testbed, tests and plots
pkgs="$pkgs qemu-system-x86 linux-image-amd64 busybox-static cpio gzip"
# Debian userland guests (tools/mkdebian.sh)
pkgs="$pkgs debootstrap debian-archive-keyring e2fsprogs"
# libvirt racks (tests/integration/libvirt.sh: one libvirtd per namespace)
pkgs="$pkgs libvirt-daemon-system libvirt-clients libvirt-daemon-driver-qemu socat util-linux"
pkgs="$pkgs iproute2 nftables procps python3 gnuplot-nox glpk-utils openssl time bc"

missing=""
for p in $pkgs; do
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$status" in
	"install ok installed") ;;
	*) missing="$missing $p" ;;
	esac
done
[ -n "$missing" ] || exit 0

if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing Debian packages:$missing" >&2
	echo "install-deps: run this script as root (or: apt-get install$missing)" >&2
	exit 1
fi
echo "install-deps: installing$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
echo "install-deps: done" >&2
