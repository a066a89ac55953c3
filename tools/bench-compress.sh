#!/bin/bash
# bench-compress.sh - the page compressors on real guest memory: boots a rack
# (busybox guests, or Debian userland guests running their workloads), dumps
# each guest's RAM, and runs tools/vms-bench-compress on the images: bytes
# out and MB/s per core for LZO1X-1, LZ4, zstd (levels, with a dictionary
# trained on the rack), a MECOM-like sparse choice and QEMU-multifd-like
# batches, every page round-tripped.
#
#   tools/bench-compress.sh [--rack busybox|debian[:FAMILY,...]] [--guests N] [--mem MIB]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rack=busybox guests=3 mem=256
while [ $# -gt 0 ]; do
	case "$1" in
	--rack) rack=$2; shift 2 ;;
	--guests) guests=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	*) echo "bench-compress: unknown option $1" >&2; exit 2 ;;
	esac
done
kind=()
case "$rack" in
busybox) ;;
debian) kind=(--kind debian) ;;
debian:*) kind=(--kind debian --family "${rack#debian:}") ;;
*) echo "bench-compress: --rack must be busybox or debian[:FAMILY,...]" >&2; exit 2 ;;
esac
build=$("$top/tools/build.sh")
dir=$(mktemp -d /tmp/vms-bench-compress.XXXXXX)
trap '"$top/tools/guests.sh" stop --dir "$dir/g" 2>/dev/null || true; rm -rf "$dir"' EXIT
echo "==> $guests $rack guests of $mem MiB" >&2
"$top/tools/guests.sh" start --dir "$dir/g" --count "$guests" --mem "$mem" "${kind[@]}" >&2
"$top/tools/guests.sh" wait --dir "$dir/g" --timeout 600 >&2
for i in $(seq 1 "$guests"); do
	"$build/vmscatter" dump --pause "$dir/g/vm$i.qmp" "$dir/vm$i.img"
done
"$top/tools/guests.sh" stop --dir "$dir/g" >&2
echo "rack: $guests $rack guests of $mem MiB"
"$build/tools/vms-bench-compress" "$dir"/vm*.img
