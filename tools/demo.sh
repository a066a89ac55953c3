#!/bin/bash
# demo.sh - the README's first command: set everything up and run the main
# job on the built-in default rack:
#   1. install the Debian packages and build vmscatter;
#   2. boot 4 small real guests (Debian kernel + busybox, 256 MiB, TCG), one
#      of them dirtying memory, and analyze their RAM live through QMP;
#   3. build a testbed of network namespaces (a source and 3 targets behind
#      an IGMP-snooping bridge, 1 Gbit/s links) and start a receiver on each
#      target;
#   4. capture the guests' memory and scatter it: shared pages once by PGM
#      multicast to the targets that need them, the rest by unicast; every
#      image is checked (SHA-256) and compared byte for byte;
#   5. print what was saved, then remove guests, namespaces and files.
# (Moving the running guests themselves, live, is the next step of the
# project; today the guests' memory is captured and scattered.)
#
#   tools/demo.sh [--count N] [--mem MIB] [--targets M] [--rate RATE]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=4 mem=256 targets=3 rate=1gbit
while [ $# -gt 0 ]; do
	case "$1" in
	--count) count=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	-h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces, QEMU memory)" >&2; exit 1; }

say() { printf '\n==> %s\n' "$*" >&2; }
say "building vmscatter (the first run installs Debian packages and takes a few minutes)"
build=$("$top/tools/build.sh")
V=$build/vmscatter
dir=$(mktemp -d /tmp/vmscatter-demo.XXXXXX)
tb=dm$$
tb=${tb:0:8}
cleanup() {
	"$top/tools/testbed.sh" down "$tb" 2>/dev/null || true
	"$top/tools/guests.sh" stop --dir "$dir/guests" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "booting $count guests of $mem MiB under QEMU (TCG); vm1 keeps dirtying memory"
"$top/tools/guests.sh" start --dir "$dir/guests" --count 1 --mem "$mem" --dirty 200
[ "$count" -lt 2 ] || "$top/tools/guests.sh" start --dir "$dir/guests" --first 2 --count $((count - 1)) --mem "$mem"
"$top/tools/guests.sh" wait --dir "$dir/guests" --timeout 300
sleep 2
qmps=()
for i in $(seq 1 "$count"); do qmps+=("$dir/guests/vm$i.qmp"); done

say "what the running guests share (read live through QMP)"
"$V" analyze --quiet "${qmps[@]}"

say "capturing each guest's memory (paused for the moment it is read)"
mkdir -p "$dir/images"
for i in $(seq 1 "$count"); do "$V" dump --pause "$dir/guests/vm$i.qmp" "$dir/images/vm$i.img"; done
tail -n 1 "$dir/guests/vm1.serial" | sed 's/^/vm1 says: /' >&2
"$top/tools/guests.sh" stop --dir "$dir/guests"

say "testbed: a source and $targets targets as network namespaces, $rate links, IGMP snooping"
"$top/tools/testbed.sh" up "$tb" --targets "$targets" --rate "$rate"
slots=$(( (count + targets - 1) / targets ))
tspec=()
for i in $(seq 1 "$targets"); do
	mkdir -p "$dir/t$i"
	ip netns exec "$tb-t$i" "$V" receive --quiet --once --listen 0.0.0.0:7000 --out "$dir/t$i" --name "t$i" &
	tspec+=(--target "t$i=10.77.0.$((10 + i)):7000:$slots")
done
sleep 0.5

say "scattering the $count images to the $targets targets"
ip netns exec "$tb-src" "$V" send "${tspec[@]}" --rate 900M "$dir"/images/vm*.img
wait
ok=0
for f in "$dir"/t*/*.img; do
	cmp -s "$f" "$dir/images/$(basename "$f")" && ok=$((ok + 1))
done
echo
echo "$ok of $count images are at their targets, byte for byte identical to the source."
"$top/tools/testbed.sh" counters "$tb" | awk '
	$1 == "src" { tx = $3 } $1 != "src" { rx += $2 }
	END { printf "interface counters: the source sent %.1f MiB, the targets received %.1f MiB\n", tx / 1048576, rx / 1048576 }'
[ "$ok" = "$count" ]
