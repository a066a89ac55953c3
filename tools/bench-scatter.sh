#!/bin/bash
# bench-scatter.sh - vmscatter send against sending every image whole by TCP
# to its target (all in parallel, same placement), on the testbed with every
# host link shaped to --rate, in one run: bytes the targets receive (read
# from the interfaces' counters), bytes the source sends, wall time, the
# lower bound (each distinct non-zero content once per target that needs
# it), and throughput against the line rate; vmscatter with its default
# page compression (--compress auto) and without (--no-compress),
# and the cost of security: mutual TLS + sealed multicast against --insecure
# (wall time and CPU seconds of the sender and receivers per GiB of images).
# Two racks: real guests' memory (dumped from running guests) and a synthetic
# one.
#
#   tools/bench-scatter.sh [--rate 1gbit] [--guests N] [--mem MIB] [--targets M]
#                          [--synthetic-vms N] [--synthetic-mib MIB]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
rate=1gbit guests=6 mem=256 targets=3 svms=6 smib=256
while [ $# -gt 0 ]; do
	case "$1" in
	--rate) rate=$2; shift 2 ;;
	--guests) guests=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--synthetic-vms) svms=$2; shift 2 ;;
	--synthetic-mib) smib=$2; shift 2 ;;
	*) echo "bench-scatter: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$("$top/tools/build.sh")
V=$build/vmscatter
tb=bs$$
tb=${tb:0:8}
dir=$(mktemp -d /tmp/vms-bench-scatter.XXXXXX)
cleanup() {
	"$top/tools/testbed.sh" down "$tb" 2>/dev/null || true
	"$top/tools/guests.sh" stop --dir "$dir/guests" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
line_bits=$(python3 -c "import sys;s=sys.argv[1].lower();m={'kbit':1e3,'mbit':1e6,'gbit':1e9};print(int(float(s[:-4])*m[s[-4:]]))" "$rate")

echo "==> sources: $guests real guests of $mem MiB (dumped while running), $svms synthetic of $smib MiB" >&2
"$top/tools/guests.sh" start --dir "$dir/guests" --count "$guests" --mem "$mem" --dirty 0
"$top/tools/guests.sh" wait --dir "$dir/guests" --timeout 300
sleep 3
mkdir -p "$dir/real"
for i in $(seq 1 "$guests"); do "$V" dump --pause "$dir/guests/vm$i.qmp" "$dir/real/vm$i.img"; done
"$top/tools/guests.sh" stop --dir "$dir/guests"
"$build/tools/vms-synth" --out "$dir/synthetic" --vms "$svms" --pages $((smib * 256)) --pool $((smib * 128))

rx_sum() { "$top/tools/testbed.sh" counters "$tb" | awk '$1 != "src" {s += $2} END {printf "%.0f\n", s}'; }
tx_src() { "$top/tools/testbed.sh" counters "$tb" | awk '$1 == "src" {printf "%.0f\n", $3}'; }
now() { date +%s.%N; }

run_rack() {
	local rack=$1
	local imgs=("$dir/$rack"/vm*.img) n
	n=${#imgs[@]}
	local slots=$(( (n + targets - 1) / targets ))
	local targs=() tspec=() hosts="{"
	for i in $(seq 1 "$targets"); do
		targs+=(--target "t$i:$slots")
		tspec+=(--target "t$i=10.77.0.$((10 + i)):7000:$slots")
		hosts+="\"t$i\": \"10.77.0.$((10 + i)):7001\","
	done
	echo "${hosts%,}}" > "$dir/hosts.json"
	"$V" plan --json --quiet "${targs[@]}" "${imgs[@]}" > "$dir/plan-$rack.json"
	"$top/tools/testbed.sh" up "$tb" --targets "$targets" --rate "$rate" > /dev/null
	"$top/tools/testbed.sh" pki "$tb" "$dir/pki" > /dev/null

	# one send: "rx tx seconds cpu-seconds" in OUT.counts (cpu: sender and
	# receivers, user + system); MODE tls or insecure
	run_send() {
		local out=$1 mode=$2 rx0 tx0 t0 t1 cpu
		shift 2
		for i in $(seq 1 "$targets"); do
			rm -rf "$dir/out$i"; mkdir -p "$dir/out$i"
			local sec=(--tls-creds "$dir/pki/t$i")
			[ "$mode" = tls ] || sec=(--insecure)
			ip netns exec "$tb-t$i" /usr/bin/time -f '%U %S' -o "$out.cpu$i" \
				"$V" receive --quiet --once --listen 0.0.0.0:7000 --out "$dir/out$i" "${sec[@]}" 2>/dev/null &
		done
		sleep 0.5
		local sec=(--tls-creds "$dir/pki/src")
		[ "$mode" = tls ] || sec=(--insecure)
		rx0=$(rx_sum); tx0=$(tx_src); t0=$(now)
		ip netns exec "$tb-src" /usr/bin/time -f '%U %S' -o "$out.cpu0" \
			"$V" send --quiet --json "${sec[@]}" "$@" \
			--plan "$dir/plan-$rack.json" "${tspec[@]}" "${imgs[@]}" > "$out" 2>/dev/null
		t1=$(now)
		wait
		cpu=$(cat "$out".cpu* | awk '{s += $1 + $2} END {print s}')
		for i in $(seq 1 "$targets"); do
			for f in "$dir/out$i"/*.img; do
				[ -e "$f" ] || continue
				cmp -s "$f" "$dir/$rack/$(basename "$f")" || { echo "MISMATCH $f" >&2; exit 1; }
			done
		done
		echo "$(( $(rx_sum) - rx0 )) $(( $(tx_src) - tx0 )) $(echo "$t1 - $t0" | bc -l) $cpu" > "$out.counts"
	}
	local vrx vtx vt vc rrx rtx rt rc irx itx it ic
	run_send "$dir/send-raw-$rack.json" tls --no-compress
	run_send "$dir/send-$rack.json" tls
	run_send "$dir/send-insecure-$rack.json" insecure
	read -r rrx rtx rt rc < "$dir/send-raw-$rack.json.counts"
	read -r vrx vtx vt vc < "$dir/send-$rack.json.counts"
	read -r irx itx it ic < "$dir/send-insecure-$rack.json.counts"

	# baseline: every image whole, by TCP, in parallel
	for i in $(seq 1 "$targets"); do
		local cnt
		cnt=$(python3 -c "import json,sys;a=json.load(open(sys.argv[1]))['assignment'];print(sum(1 for t in a.values() if t==sys.argv[2]))" "$dir/plan-$rack.json" "t$i")
		rm -rf "$dir/base$i"; mkdir -p "$dir/base$i"
		ip netns exec "$tb-t$i" python3 "$top/tools/tcp-baseline.py" recv 7001 "$dir/base$i" "$cnt" &
	done
	sleep 0.5
	rx0=$(rx_sum); tx0=$(tx_src); t0=$(now)
	ip netns exec "$tb-src" python3 "$top/tools/tcp-baseline.py" send "$dir/plan-$rack.json" "$dir/hosts.json" "${imgs[@]}"
	t1=$(now)
	wait
	local brx=$(( $(rx_sum) - rx0 )) btx=$(( $(tx_src) - tx0 )) bt
	bt=$(echo "$t1 - $t0" | bc -l)
	"$top/tools/testbed.sh" down "$tb"

	python3 - "$dir/plan-$rack.json" "$dir/send-$rack.json" "$rack" "$n" "$vrx" "$vtx" "$vt" "$brx" "$btx" "$bt" \
		"$line_bits" "$rrx" "$rtx" "$rt" "$vc" "$it" "$ic" <<'PY'
import json, sys
plan, send = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rack, n = sys.argv[3], int(sys.argv[4])
vrx, vtx, vt, brx, btx, bt, line, rrx, rtx, rt, vc, it, ic = (float(x) for x in sys.argv[5:18])
tr = plan["traffic"]
lower = tr["network_bytes"] - tr["reference_bytes"]
img = send["total"]["image_bytes"]
M = 1 << 20
print(f"rack {rack}: {n} VMs, {img / M:.0f} MiB of images, lower bound {lower / M:.1f} MiB "
      f"(distinct non-zero content once per target, uncompressed)")
print(f"  {'':22} {'targets rx MiB':>15} {'source tx MiB':>14} {'seconds':>8} {'Mbit/s':>8}")
print(f"  {'vmscatter send':22} {vrx / M:15.1f} {vtx / M:14.1f} {vt:8.2f} {vtx * 8 / vt / 1e6:8.0f}")
print(f"  {'  --no-compress':22} {rrx / M:15.1f} {rtx / M:14.1f} {rt:8.2f} {rtx * 8 / rt / 1e6:8.0f}")
print(f"  {'TCP, each image whole':22} {brx / M:15.1f} {btx / M:14.1f} {bt:8.2f} {btx * 8 / bt / 1e6:8.0f}")
ph = send["total"]["phases"]
print(f"  vmscatter phases: {ph['prepare']:.1f} s connect+maps, {ph['multicast']:.1f} s multicast, "
      f"{ph['unicast_and_verify']:.1f} s unicast+verify (both sides fsync the images)")
print(f"  compression: targets receive {vrx / rrx:.3f}x, time {vt / rt:.3f}x of --no-compress "
      f"({send['total']['contents_compressed']} contents compressed)")
print(f"  vmscatter / TCP: targets receive {vrx / brx:.3f}x, source sends {vtx / btx:.3f}x, "
      f"time {vt / bt:.3f}x; targets receive {vrx / lower:.3f}x the lower bound; "
      f"source link at {vtx * 8 / vt / line * 100:.0f}% of {line / 1e6:.0f} Mbit/s")
gib = img / (1 << 30)
print(f"  security: TLS + sealed multicast {vt:.2f} s, {vc / gib:.2f} CPU s/GiB; --insecure {it:.2f} s, "
      f"{ic / gib:.2f} CPU s/GiB: time {vt / it:.3f}x, CPU {vc / ic:.3f}x")
PY
}

echo "==> link rate $rate per host, $targets targets" >&2
run_rack real
run_rack synthetic
