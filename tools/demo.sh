#!/bin/bash
# demo.sh - the README's first command: set everything up and run the main
# job on the built-in default rack:
#   1. install the Debian packages and build vmscatter;
#   2. build a testbed of network namespaces: a source host and 3 target
#      hosts behind an IGMP-snooping bridge, 1 Gbit/s links;
#   3. boot 4 small real guests (Debian kernel + busybox, 256 MiB, TCG) in
#      the source namespace, each dirtying memory and printing a counter on
#      its console, and show what they share (read live through QMP);
#   4. start a receiver in every target namespace and move the running
#      guests there live: their memory is seeded while they run (shared
#      pages once by PGM multicast, the rest by unicast), then each QEMU
#      migrates through vmscatter (pages the target already holds go as
#      references) into a target QEMU; every page is verified before the
#      guests resume on their targets;
#   5. show the guests still counting on their targets, print what was
#      saved, then remove guests, namespaces and files.
#
#   tools/demo.sh [--count N] [--mem MIB] [--targets M] [--rate RATE] [--dirty PAGES/S]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=4 mem=256 targets=3 rate=1gbit dirty=1000
while [ $# -gt 0 ]; do
	case "$1" in
	--count) count=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--dirty) dirty=$2; shift 2 ;;
	-h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" = 0 ] || { echo "demo: run as root (network namespaces, QEMU memory)" >&2; exit 1; }
[[ "$count" =~ ^[0-9]+$ && "$count" -ge 1 ]] || { echo "demo: --count must be a positive integer" >&2; exit 2; }
[[ "$targets" =~ ^[0-9]+$ && "$targets" -ge 1 && "$targets" -le 8 ]] ||
	{ echo "demo: --targets must be 1..8" >&2; exit 2; }

say() { printf '\n==> %s\n' "$*" >&2; }
say "building vmscatter (the first run installs Debian packages and takes a few minutes)"
build=$("$top/tools/build.sh")
V=$build/vmscatter
dir=$(mktemp -d /tmp/vmscatter-demo.XXXXXX)
tb=dm$$
tb=${tb:0:8}
cleanup() {
	"$top/tools/testbed.sh" down "$tb" 2>/dev/null || true   # ends the target QEMUs too
	"$top/tools/guests.sh" stop --dir "$dir/guests" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

counter() { grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2; }

say "testbed: a source and $targets targets as network namespaces, $rate links, IGMP snooping"
"$top/tools/testbed.sh" up "$tb" --targets "$targets" --rate "$rate"
say "TLS credentials for every host (tools/mkcerts.sh): every connection is mutual TLS 1.3, multicast is sealed"
"$top/tools/testbed.sh" pki "$tb" "$dir/pki"

say "booting $count guests of $mem MiB under QEMU (TCG) on the source host; each dirties $dirty pages/s"
"$top/tools/guests.sh" start --dir "$dir/guests" --count "$count" --mem "$mem" --dirty "$dirty" --netns "$tb-src"
"$top/tools/guests.sh" wait --dir "$dir/guests" --timeout 300
sleep 2
qmps=()
for i in $(seq 1 "$count"); do qmps+=("$dir/guests/vm$i.qmp"); done

say "what the running guests share (read live through QMP)"
"$V" analyze --quiet "${qmps[@]}"

slots=$(( (count + targets - 1) / targets ))
tspec=()
for i in $(seq 1 "$targets"); do
	mkdir -p "$dir/t$i"
	ip netns exec "$tb-t$i" "$V" receive --quiet --once --listen 0.0.0.0:7000 --state-dir "$dir/t$i" --name "t$i" \
		--shared-path "$("$top/tools/mkguest.sh")" \
		--tls-creds "$dir/pki/t$i" --tls-allow 'CN=src,O=vmscatter' &
	tspec+=(--target "t$i=10.77.0.$((10 + i)):7000:$slots")
done
sleep 0.5

say "moving the $count running guests live to the $targets targets (--verify: every page checked)"
for i in $(seq 1 "$count"); do printf 'vm%d counts %s on the source\n' "$i" "$(counter "$dir/guests/vm$i.serial")"; done
ip netns exec "$tb-src" "$V" send --live --verify --tls-creds "$dir/pki/src" --state-dir "$dir/source" "${tspec[@]}" "${qmps[@]}"
wait

say "the guests after the move"
sleep 3
moved=0
for i in $(seq 1 "$count"); do
	s=$(ls "$dir"/t*/vm$i/vm$i.serial 2>/dev/null | head -n 1)
	src_last=$(counter "$dir/guests/vm$i.serial")
	if [ -n "$s" ] && [ -n "$(counter "$s")" ]; then
		host=$(basename "$(dirname "$(dirname "$s")")")
		first=$(grep -ao 'vmscatter-counter [0-9]*' "$s" | head -n 1 | cut -d' ' -f2)
		printf 'vm%d: stopped counting at %s on the source, went on from %s to %s on %s\n' \
			"$i" "$src_last" "$first" "$(counter "$s")" "$host"
		moved=$((moved + 1))
	else
		printf 'vm%d: not running on a target\n' "$i"
	fi
done
left=0
for i in $(seq 1 "$count"); do
	[ -f "$dir/guests/vm$i.pid" ] && kill -0 "$(cat "$dir/guests/vm$i.pid")" 2>/dev/null && left=$((left + 1))
done
echo "$moved of $count guests run on their targets; $left source QEMUs are left."
"$top/tools/testbed.sh" counters "$tb" | awk '
	$1 == "src" { tx = $3 } $1 != "src" { rx += $2 }
	END { printf "interface counters: the source sent %.1f MiB, the targets received %.1f MiB\n", tx / 1048576, rx / 1048576 }'
[ "$moved" = "$count" ] && [ "$left" = 0 ]
