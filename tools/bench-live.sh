#!/bin/bash
# bench-live.sh - `vmscatter send --live` against stock QEMU live migration
# (each VM straight to its target over TCP, all at once, QEMU's own
# max-bandwidth raised the same way), on one testbed in one run: bytes the
# targets received and the source sent (interface counters), wall time and
# QEMU's downtime per VM and each guest's whole pause (per-VM commit, and
# with --atomic the rack-wide barrier); vmscatter with its default page
# compressor (zstd) and with --no-compress; the cost of security (mutual
# TLS + sealed multicast against --insecure); and where the CPU goes (CPU
# seconds per GiB moved of the sender, the receivers, the source and the
# target QEMUs). Against QEMU's best setting too: multifd (2 channels) with
# zstd on both sides. Every run gets fresh guests booted the same way;
# QEMU's migrations use the placement vmscatter chose.
#
#   tools/bench-live.sh [--guests N] [--mem MIB] [--targets M] [--rate 1gbit] [--dirty PAGES/S]
#                       [--cases live,raw,insecure,atomic,nice,lz4,stock,zstd] [--rack busybox|debian[:FAMILY,...]]
# --cases: which runs (default: all but nice and lz4; stock always runs, every
#   ratio is against it); nice: vmscatter's sender and receivers at nice -10
#   (what an admin may give a migration on a busy host); lz4: --compress lz4
# BENCH_LOGS=DIR in the environment keeps each vmscatter run's sender and
# receiver logs and its --json report there
# BENCH_PERF=DIR: each vmscatter run under a system-wide `perf record` (cpu-clock,
# 499 Hz), kept as DIR/NAME.perf.data, and a table of CPU seconds per GiB moved
# by role and function (tools/perf-roles.py) printed after the run
# --rack: the guests (tools/guests.sh --kind): busybox (default) or Debian
#   userland guests of these families (tools/mkdebian.sh; default base)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
guests=4 mem=256 targets=2 rate=1gbit dirty=1000 cases=live,raw,insecure,atomic,stock,zstd rack=busybox nice=()
while [ $# -gt 0 ]; do
	case "$1" in
	--guests) guests=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--dirty) dirty=$2; shift 2 ;;
	--cases) cases=$2,stock; shift 2 ;;
	--rack) rack=$2; shift 2 ;;
	*) echo "bench-live: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$("$top/tools/build.sh")
V=$build/vmscatter
Q="python3 $top/tests/integration/qmp.py"
T="$top/tools/testbed.sh"
G="$top/tools/guests.sh"
# the guests' kind, and the host files the targets may use where they are
kind=() shared=(--shared-path "$("$top/tools/mkguest.sh")")
case $rack in
busybox) ;;
debian|debian:*)
	fams=${rack#debian}; fams=${fams#:}; fams=${fams:-base}
	kind=(--kind debian --family "$fams")
	for f in ${fams//,/ }; do shared+=(--shared-path "$(dirname "$("$top/tools/mkdebian.sh" --family "$f" | head -n 1)")"); done ;;
*) echo "bench-live: --rack must be busybox or debian[:FAMILY,...]" >&2; exit 2 ;;
esac
tb=bl$$
tb=${tb:0:8}
dir=$(mktemp -d /tmp/vms-bench-live.XXXXXX)
cleanup() {
	"$T" down "$tb" 2>/dev/null || true
	"$G" stop --dir "$dir/g" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT
rx_sum() { "$T" counters "$tb" | awk '$1 != "src" {s += $2} END {printf "%.0f\n", s}'; }
tx_src() { "$T" counters "$tb" | awk '$1 == "src" {printf "%.0f\n", $3}'; }
now() { date +%s.%N; }
# cpu_of FILE...: CPU seconds (user + system) so far of the QEMU processes
# whose pid files are given (0 for those gone, and for a pid that another
# program took since)
cpu_of() {
	local f p tck
	tck=$(getconf CLK_TCK)
	for f in "$@"; do
		p=$(cat "$f" 2>/dev/null) || continue
		case $(cat "/proc/$p/comm" 2>/dev/null) in qemu*) cat "/proc/$p/stat" 2>/dev/null || true ;; esac
	done |
		awk -v tck="$tck" '{ sub(/^.*\) /, ""); s += $12 + $13 } END { printf "%.2f\n", s / tck }'
}
# watch_sources OUT: until killed, keep in OUT.N the CPU seconds of source
# QEMU N as last seen (the sender quits them at commit)
watch_sources() {
	local i
	while :; do
		for i in $(seq 1 "$guests"); do
			c=$(cpu_of "$dir/g/vm$i.pid")
			[ "$c" = 0.00 ] || echo "$c" > "$1.$i"
		done
		sleep 0.1
	done
}
boot() {
	"$G" stop --dir "$dir/g" 2>/dev/null || true
	"$G" start --dir "$dir/g" --count "$guests" --mem "$mem" --dirty "$dirty" --netns "$tb-src" "${kind[@]}"
	"$G" wait --dir "$dir/g" --timeout 300
	sleep 3
}
end_targets() {   # the target QEMUs of one side, before the other side runs
	for f in "$dir"/s*/*/qemu.pid "$dir"/stock*/*/qemu.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	sleep 0.5
}

"$T" up "$tb" --targets "$targets" --rate "$rate" > /dev/null
"$T" pki "$tb" "$dir/pki" > /dev/null
slots=$(( (guests + targets - 1) / targets ))
qmps=()
for i in $(seq 1 "$guests"); do qmps+=("$dir/g/vm$i.qmp"); done

# --- vmscatter --live ----------------------------------------------------------------
# run_live NAME [SEND-OPTION...]: fresh guests moved by vmscatter; NAME.json is
# its report, NAME.counts "rx tx seconds cpu-seconds" (sender and receivers);
# mutual TLS unless the options say --insecure
run_live() {
	local name=$1 rx0 tx0 t0 t1 rx1 tx1 mode=tls cpu
	shift
	case " $* " in *" --insecure "*) mode=insecure ;; esac
	echo "==> vmscatter --live $*: $guests guests of $mem MiB dirtying $dirty pages/s, $targets targets, $rate" >&2
	boot
	local tspec=()
	for t in $(seq 1 "$targets"); do
		rm -rf "$dir/s$t"; mkdir -p "$dir/s$t"
		local sec=(--tls-creds "$dir/pki/t$t")
		[ "$mode" = tls ] || sec=(--insecure)
		ip netns exec "$tb-t$t" /usr/bin/time -f '%U %S' -o "$dir/$name.cpu$t" \
			"${nice[@]}" "$V" receive --once --listen 0.0.0.0:7000 --state-dir "$dir/s$t" --name "t$t" "${sec[@]}" \
			"${shared[@]}" 2> "$dir/$name.recv$t.log" &
		tspec+=(--target "t$t=10.77.0.$((10 + t)):7000:$slots")
	done
	sleep 0.5
	local q0 q1 tq wpid
	q0=$(cpu_of "$dir"/g/vm*.pid)
	rm -f "$dir/srccpu".*
	watch_sources "$dir/srccpu" &
	wpid=$!
	local ppid=''
	cat "$dir"/g/vm*.pid > "$dir/$name.srcpids"    # (QEMU removes its pid file when it quits)
	if [ -n "${BENCH_PERF:-}" ]; then
		mkdir -p "$BENCH_PERF"
		perf record -q -a -e cpu-clock -F 499 -o "$BENCH_PERF/$name.perf.data" 2> /dev/null &
		ppid=$!
		sleep 0.5
	fi
	rx0=$(rx_sum) tx0=$(tx_src) t0=$(now)
	local sec=(--tls-creds "$dir/pki/src")
	[ "$mode" = tls ] || sec=()
	ip netns exec "$tb-src" /usr/bin/time -f '%U %S' -o "$dir/$name.cpu0" \
		"${nice[@]}" "$V" send --live --no-verify --json --state-dir "$dir/source" "${sec[@]}" "$@" "${tspec[@]}" "${qmps[@]}" > "$dir/$name.json" 2> "$dir/$name.send.log"
	t1=$(now) rx1=$(rx_sum) tx1=$(tx_src)
	kill "$wpid" 2>/dev/null || true
	wait "$wpid" 2>/dev/null || true
	if [ -n "$ppid" ]; then
		kill -INT "$ppid"; wait "$ppid" || true
		python3 "$top/tools/perf-roles.py" "$BENCH_PERF/$name.perf.data" 499 \
			"$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["memory_bytes"] / 2**30)' "$dir/$name.json")" \
			"$(echo "$t1 - $t0" | bc -l)" --source "$dir/$name.srcpids" --target "$dir"/s*/*/qemu.pid \
			| tee "$BENCH_PERF/$name.roles.txt" >&2
	fi
	q1=$(cat "$dir"/srccpu.* | awk '{s += $1} END {printf "%.2f", s}') tq=$(cpu_of "$dir"/s*/*/qemu.pid)
	wait
	[ -z "${BENCH_LOGS:-}" ] || { mkdir -p "$BENCH_LOGS" && cp "$dir/$name".*.log "$dir/$name.json" "$BENCH_LOGS/"; }
	cpu=$(cat "$dir/$name".cpu* | awk '{s += $1 + $2} END {print s}')
	# CPU seconds: sender, receivers, source QEMUs (in the window), target QEMUs
	echo "$(awk '{print $1 + $2}' "$dir/$name.cpu0") $(cat "$dir/$name".cpu[1-9]* | awk '{s += $1 + $2} END {print s}') \
$(echo "$q1 - $q0" | bc -l) $tq" > "$dir/$name.cputab"
	echo "$((rx1 - rx0)) $((tx1 - tx0)) $(echo "$t1 - $t0" | bc -l) $cpu" > "$dir/$name.counts"
	end_targets
}
want() { case ",$cases," in *",$1,"*) return 0 ;; esac; return 1; }
for c in live raw insecure atomic nice lz4; do
	want $c || continue
	case $c in
	live) run_live live ;;
	raw) run_live raw --no-compress ;;
	insecure) run_live insecure --insecure ;;
	atomic) run_live atomic --atomic ;;
	nice) nice=(nice -n -10); run_live nice; nice=() ;;
	lz4) run_live lz4 --compress lz4 ;;
	esac
done
want live || { echo "bench-live: --cases must include live (the ratios are vmscatter's)" >&2; exit 2; }

# --- QEMU's own migration, same guests and placement: plain TCP, and multifd + zstd ---
# run_stock NAME [zstd]: NAME.counts "rx tx seconds", NAME.down "ms ms ..."
placement=$(python3 -c 'import json,sys; print(" ".join(v["target"][1:] for v in json.load(open(sys.argv[1]))["vms"]))' "$dir/live.json")
read -r -a tof <<< "$placement"
run_stock() {
	local name=$1 mode=${2:-plain} rx0 tx0 t0 t1 rx1 tx1 caps='' params='{"max-bandwidth": 10000000000}'
	echo "==> stock QEMU migration ($mode), same guests and placement" >&2
	if [ "$mode" = zstd ]; then
		caps='{"capabilities": [{"capability": "multifd", "state": true}]}'
		params='{"max-bandwidth": 10000000000, "multifd-channels": 2, "multifd-compression": "zstd"}'
	fi
	boot
	rm -rf "$dir/$name"; mkdir -p "$dir/$name"
	for i in $(seq 1 "$guests"); do
		t=${tof[$((i - 1))]}
		"$V" target-argv -0 --state-dir "$dir/$name" "${shared[@]}" "$dir/g/vm$i.qmp" > "$dir/argv$i"
		mkdir -p "$dir/$name/vm$i"
		readarray -d '' -t argv < "$dir/argv$i"
		ip netns exec "$tb-t$t" "${argv[@]}" > "$dir/$name/vm$i/qemu.log" 2>&1 &
		echo $! > "$dir/$name/vm$i/qemu.pid"
	done
	for i in $(seq 1 "$guests"); do
		for _ in $(seq 100); do [ -S "$dir/$name/vm$i/qmp.sock" ] && break; sleep 0.1; done
		for q in "$dir/$name/vm$i/qmp.sock" "$dir/g/vm$i.qmp"; do
			[ -z "$caps" ] || $Q "$q" migrate-set-capabilities "$caps" > /dev/null
			$Q "$q" migrate-set-parameters "$params" > /dev/null
		done
		$Q "$dir/$name/vm$i/qmp.sock" migrate-incoming "{\"uri\": \"tcp:0.0.0.0:$((7100 + i))\"}" > /dev/null
	done
	local q0 q1 tq
	q0=$(cpu_of "$dir"/g/vm*.pid)
	rx0=$(rx_sum) tx0=$(tx_src) t0=$(now)
	for i in $(seq 1 "$guests"); do
		t=${tof[$((i - 1))]}
		$Q "$dir/g/vm$i.qmp" migrate "{\"uri\": \"tcp:10.77.0.$((10 + t)):$((7100 + i))\"}" > /dev/null
	done
	for i in $(seq 1 "$guests"); do $Q "$dir/g/vm$i.qmp" wait-migration 600 > /dev/null; done
	t1=$(now) rx1=$(rx_sum) tx1=$(tx_src)
	q1=$(cpu_of "$dir"/g/vm*.pid) tq=$(cpu_of "$dir/$name"/*/qemu.pid)
	echo "$((rx1 - rx0)) $((tx1 - tx0)) $(echo "$t1 - $t0" | bc -l)" > "$dir/$name.counts"
	echo "0 0 $(echo "$q1 - $q0" | bc -l) $tq" > "$dir/$name.cputab"
	local down=()
	for i in $(seq 1 "$guests"); do
		down+=("$($Q "$dir/g/vm$i.qmp" query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin).get("downtime", -1))')")
		$Q "$dir/$name/vm$i/qmp.sock" cont > /dev/null
		$Q "$dir/g/vm$i.qmp" quit > /dev/null || true
	done
	echo "${down[*]}" > "$dir/$name.down"
	end_targets
}
run_stock stock
want zstd && run_stock zstd zstd

# --- the table ----------------------------------------------------------------------
mib() { echo "$1 / 1048576" | bc -l; }
downs() { python3 -c 'import json,sys; print(" ".join("%d (paused %d)" % (v["downtime_ms"], v["paused_ms"]) for v in json.load(open(sys.argv[1]))["vms"]))' "$1"; }
echo
printf 'rack: %d guests x %d MiB (dirtying %d pages/s), %d targets, links %s\n' "$guests" "$mem" "$dirty" "$targets" "$rate"
printf '%-26s %14s %14s %10s %s\n' "" "targets rx MiB" "source tx MiB" "seconds" "downtime ms per VM"
read -r stock_rx stock_tx stock_t < "$dir/stock.counts"
row() {   # row LABEL NAME: one line of the table
	local rx tx t rest
	read -r rx tx t _ < "$dir/$2.counts"
	if [ -f "$dir/$2.json" ]; then rest=$(downs "$dir/$2.json"); else rest=$(cat "$dir/$2.down"); fi
	printf '%-26s %14.1f %14.1f %10.2f %s\n' "$1" "$(mib "$rx")" "$(mib "$tx")" "$t" "$rest"
}
ratio() {   # ratio LABEL NAME BASE: NAME's rx, tx and time over BASE's
	local rx tx t brx btx bt
	read -r rx tx t _ < "$dir/$2.counts"
	read -r brx btx bt _ < "$dir/$3.counts"
	printf '%-26s %14.3f %14.3f %10.3f\n' "$1" "$(echo "$rx / $brx" | bc -l)" "$(echo "$tx / $btx" | bc -l)" "$(echo "$t / $bt" | bc -l)"
}
row "stock QEMU (TCP)" stock
want zstd && row "QEMU multifd + zstd" zstd
row "vmscatter --live" live
want raw && row "  --no-compress" raw
want atomic && row "  --atomic" atomic
want nice && row "  at nice -10" nice
want lz4 && row "  --compress lz4" lz4
# the same as bars: bytes the targets received and wall time, each case
python3 - "$dir" stock zstd live raw insecure atomic nice lz4 <<'PY'
import os, sys
d, rows = sys.argv[1], []
for name in sys.argv[2:]:
    f = os.path.join(d, name + ".counts")
    if os.path.exists(f):
        rx, _, t = open(f).read().split()[:3]
        rows.append((name, int(rx) / 2**20, float(t)))
mrx, mt = max(r[1] for r in rows), max(r[2] for r in rows)
print("\n%-9s %-42s %s" % ("", "targets received (MiB)", "wall time (s)"))
for name, rx, t in rows:
    print("%-9s %-34s %7.1f %-34s %6.2f" % (name, "#" * round(34 * rx / mrx), rx, "#" * round(34 * t / mt), t))
print()
PY
ratio "ratio vmscatter/stock" live stock
want zstd && ratio "ratio vmscatter/zstd" live zstd
want raw && ratio "  --no-compress / stock" raw stock
want nice && ratio "  at nice -10 / stock" nice stock
want nice && want zstd && ratio "  at nice -10 / zstd" nice zstd
want lz4 && ratio "  --compress lz4 / stock" lz4 stock
# each guest's pause against QEMU's downtime for the same VM, per-VM commit and --atomic
pauses() {   # pauses NAME: "max ratio of pause to (stock downtime + own verify)"
	python3 - "$dir/$1.json" "$dir/stock.down" <<'PY'
import json, sys
vms = json.load(open(sys.argv[1]))["vms"]
stock = [float(x) for x in open(sys.argv[2]).read().split()]
r = [v["paused_ms"] / max(s + v.get("verify_ms", 0), 1) for v, s in zip(vms, stock)]
print("max %.2fx, median %.2fx of stock downtime" % (max(r), sorted(r)[len(r) // 2]))
PY
}
echo "pause per guest vs stock's downtime: per-VM commit $(pauses live)$(want atomic && echo "; --atomic $(pauses atomic)")"
for c in live raw insecure atomic nice lz4; do
	[ -f "$dir/$c.json" ] || continue
	python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; p=t["phases"]
print("vmscatter phases (%s): %.2f s index and plan, %.2f s seeds (%.1f MiB multicast), %.2f s migration and commit"
      % (sys.argv[2], p["index_and_plan"], p["seed"], t["seed_multicast_bytes"] / 1048576, p["migrate_and_commit"]))' "$dir/$c.json" $c
done
# where the CPU goes: seconds per GiB of guest memory moved, by process
echo
printf '%-26s %10s %10s %12s %12s %10s\n' "CPU s per GiB moved" sender receivers "source QEMUs" "target QEMUs" total
gib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["memory_bytes"] / 2**30)' "$dir/live.json")
for c in stock zstd live raw insecure atomic nice lz4; do
	[ -f "$dir/$c.cputab" ] || continue
	read -r a b q tq < "$dir/$c.cputab"
	printf '%-26s %10.2f %10.2f %12.2f %12.2f %10.2f\n' "$c" "$(echo "$a / $gib" | bc -l)" "$(echo "$b / $gib" | bc -l)" \
		"$(echo "$q / $gib" | bc -l)" "$(echo "$tq / $gib" | bc -l)" "$(echo "($a + $b + $q + $tq) / $gib" | bc -l)"
done
echo "(source QEMUs: CPU in the window, guests running included; target QEMUs: from their start to the end)"
if want insecure; then
	read -r _ _ live_t live_cpu < "$dir/live.counts"
	read -r _ _ ins_t ins_cpu < "$dir/insecure.counts"
	gib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["memory_bytes"] / 2**30)' "$dir/live.json")
	printf 'security: TLS + sealed multicast %.2f s, %.2f CPU s/GiB; --insecure %.2f s, %.2f CPU s/GiB: time %.3fx, CPU %.3fx\n' \
		"$live_t" "$(echo "$live_cpu / $gib" | bc -l)" "$ins_t" "$(echo "$ins_cpu / $gib" | bc -l)" \
		"$(echo "$live_t / $ins_t" | bc -l)" "$(echo "$live_cpu / $ins_cpu" | bc -l)"
fi
