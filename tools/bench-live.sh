#!/bin/bash
# bench-live.sh - `vmscatter send --live` against stock QEMU live migration
# (each VM straight to its target over TCP, all at once, QEMU's own
# max-bandwidth raised the same way), on one testbed in one run: bytes the
# targets received and the source sent (interface counters), wall time and
# QEMU's downtime per VM and each guest's whole pause (per-VM commit, and
# with --atomic the rack-wide barrier); vmscatter with LZO and with
# --no-compress, and
# the cost of security (mutual TLS + sealed multicast against --insecure:
# wall time, and CPU seconds of sender and receivers per GiB moved). Every
# run gets fresh guests booted the same way; stock migration uses the
# placement vmscatter chose.
#
#   tools/bench-live.sh [--guests N] [--mem MIB] [--targets M] [--rate 1gbit] [--dirty PAGES/S]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
guests=4 mem=256 targets=2 rate=1gbit dirty=1000
while [ $# -gt 0 ]; do
	case "$1" in
	--guests) guests=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--dirty) dirty=$2; shift 2 ;;
	*) echo "bench-live: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$("$top/tools/build.sh")
V=$build/vmscatter
Q="python3 $top/tests/integration/qmp.py"
T="$top/tools/testbed.sh"
G="$top/tools/guests.sh"
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
boot() {
	"$G" stop --dir "$dir/g" 2>/dev/null || true
	"$G" start --dir "$dir/g" --count "$guests" --mem "$mem" --dirty "$dirty" --netns "$tb-src"
	"$G" wait --dir "$dir/g" --timeout 300
	sleep 3
}
end_targets() {   # the target QEMUs of one side, before the other side runs
	for f in "$dir"/s*/*/qemu.pid "$dir"/stock/*/qemu.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
	done
	sleep 0.5
}

"$T" up "$tb" --targets "$targets" --rate "$rate" > /dev/null
"$T" pki "$tb" "$dir/pki" > /dev/null
slots=$(( (guests + targets - 1) / targets ))
qmps=()
for i in $(seq 1 "$guests"); do qmps+=("$dir/g/vm$i.qmp"); done

# --- vmscatter --live, with LZO and without -------------------------------------
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
			"$V" receive --quiet --once --listen 0.0.0.0:7000 --state-dir "$dir/s$t" --name "t$t" "${sec[@]}" \
			--shared-path "$("$top/tools/mkguest.sh")" 2>/dev/null &
		tspec+=(--target "t$t=10.77.0.$((10 + t)):7000:$slots")
	done
	sleep 0.5
	rx0=$(rx_sum) tx0=$(tx_src) t0=$(now)
	local sec=(--tls-creds "$dir/pki/src")
	[ "$mode" = tls ] || sec=()
	ip netns exec "$tb-src" /usr/bin/time -f '%U %S' -o "$dir/$name.cpu0" \
		"$V" send --quiet --live --json --rate 900M --state-dir "$dir/source" "${sec[@]}" "$@" "${tspec[@]}" "${qmps[@]}" > "$dir/$name.json" 2>/dev/null
	t1=$(now) rx1=$(rx_sum) tx1=$(tx_src)
	wait
	cpu=$(cat "$dir/$name".cpu* | awk '{s += $1 + $2} END {print s}')
	echo "$((rx1 - rx0)) $((tx1 - tx0)) $(echo "$t1 - $t0" | bc -l) $cpu" > "$dir/$name.counts"
	end_targets
}
run_live live
run_live raw --no-compress
run_live insecure --insecure
run_live atomic --atomic
read -r live_rx live_tx live_t live_cpu < "$dir/live.counts"
read -r raw_rx raw_tx raw_t raw_cpu < "$dir/raw.counts"
read -r ins_rx ins_tx ins_t ins_cpu < "$dir/insecure.counts"
read -r atm_rx atm_tx atm_t atm_cpu < "$dir/atomic.counts"

# --- stock QEMU migration, same placement -------------------------------------
echo "==> stock QEMU migration, same guests and placement" >&2
boot
mkdir -p "$dir/stock"
placement=$(python3 -c 'import json,sys; print(" ".join(v["target"][1:] for v in json.load(open(sys.argv[1]))["vms"]))' "$dir/live.json")
read -r -a tof <<< "$placement"
for i in $(seq 1 "$guests"); do
	t=${tof[$((i - 1))]}
	"$V" target-argv -0 --state-dir "$dir/stock" --shared-path "$("$top/tools/mkguest.sh")" "$dir/g/vm$i.qmp" > "$dir/argv$i"
	mkdir -p "$dir/stock/vm$i"
	readarray -d '' -t argv < "$dir/argv$i"
	ip netns exec "$tb-t$t" "${argv[@]}" > "$dir/stock/vm$i/qemu.log" 2>&1 &
	echo $! > "$dir/stock/vm$i/qemu.pid"
done
for i in $(seq 1 "$guests"); do
	for _ in $(seq 100); do [ -S "$dir/stock/vm$i/qmp.sock" ] && break; sleep 0.1; done
	$Q "$dir/stock/vm$i/qmp.sock" migrate-incoming "{\"uri\": \"tcp:0.0.0.0:$((7100 + i))\"}" > /dev/null
	$Q "$dir/g/vm$i.qmp" migrate-set-parameters '{"max-bandwidth": 10000000000}' > /dev/null
done
rx0=$(rx_sum) tx0=$(tx_src) t0=$(now)
for i in $(seq 1 "$guests"); do
	t=${tof[$((i - 1))]}
	$Q "$dir/g/vm$i.qmp" migrate "{\"uri\": \"tcp:10.77.0.$((10 + t)):$((7100 + i))\"}" > /dev/null
done
for i in $(seq 1 "$guests"); do $Q "$dir/g/vm$i.qmp" wait-migration 600 > /dev/null; done
t1=$(now) rx1=$(rx_sum) tx1=$(tx_src)
stock_rx=$((rx1 - rx0)) stock_tx=$((tx1 - tx0)) stock_t=$(echo "$t1 - $t0" | bc -l)
stock_down=()
for i in $(seq 1 "$guests"); do
	stock_down+=("$($Q "$dir/g/vm$i.qmp" query-migrate | python3 -c 'import json,sys; print(json.load(sys.stdin).get("downtime", -1))')")
	$Q "$dir/stock/vm$i/qmp.sock" cont > /dev/null
	$Q "$dir/g/vm$i.qmp" quit > /dev/null || true
done
end_targets

# --- the table ----------------------------------------------------------------------
mib() { echo "$1 / 1048576" | bc -l; }
echo
printf 'rack: %d guests x %d MiB (dirtying %d pages/s), %d targets, links %s\n' "$guests" "$mem" "$dirty" "$targets" "$rate"
printf '%-26s %14s %14s %10s %s\n' "" "targets rx MiB" "source tx MiB" "seconds" "downtime ms per VM"
downs() { python3 -c 'import json,sys; print(" ".join("%d (paused %d)" % (v["downtime_ms"], v["paused_ms"]) for v in json.load(open(sys.argv[1]))["vms"]))' "$1"; }
printf '%-26s %14.1f %14.1f %10.2f %s\n' "stock QEMU (TCP)" "$(mib "$stock_rx")" "$(mib "$stock_tx")" "$stock_t" "${stock_down[*]}"
printf '%-26s %14.1f %14.1f %10.2f %s\n' "vmscatter --live" "$(mib "$live_rx")" "$(mib "$live_tx")" "$live_t" "$(downs "$dir/live.json")"
printf '%-26s %14.1f %14.1f %10.2f %s\n' "  --no-compress" "$(mib "$raw_rx")" "$(mib "$raw_tx")" "$raw_t" "$(downs "$dir/raw.json")"
printf '%-26s %14.1f %14.1f %10.2f %s\n' "  --atomic" "$(mib "$atm_rx")" "$(mib "$atm_tx")" "$atm_t" "$(downs "$dir/atomic.json")"
printf '%-26s %14.3f %14.3f %10.3f\n' "ratio vmscatter/stock" "$(echo "$live_rx / $stock_rx" | bc -l)" \
	"$(echo "$live_tx / $stock_tx" | bc -l)" "$(echo "$live_t / $stock_t" | bc -l)"
printf '%-26s %14.3f %14.3f %10.3f\n' "  --no-compress / stock" "$(echo "$raw_rx / $stock_rx" | bc -l)" \
	"$(echo "$raw_tx / $stock_tx" | bc -l)" "$(echo "$raw_t / $stock_t" | bc -l)"
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["total"]; p=t["phases"]
print("vmscatter phases: %.2f s index and plan, %.2f s seeds (%.1f MiB multicast), %.2f s migration and commit"
      % (p["index_and_plan"], p["seed"], t["seed_multicast_bytes"] / 1048576, p["migrate_and_commit"]))' "$dir/live.json"
gib=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["total"]["memory_bytes"] / 2**30)' "$dir/live.json")
printf 'security: TLS + sealed multicast %.2f s, %.2f CPU s/GiB; --insecure %.2f s, %.2f CPU s/GiB: time %.3fx, CPU %.3fx\n' \
	"$live_t" "$(echo "$live_cpu / $gib" | bc -l)" "$ins_t" "$(echo "$ins_cpu / $gib" | bc -l)" \
	"$(echo "$live_t / $ins_t" | bc -l)" "$(echo "$live_cpu / $ins_cpu" | bc -l)"
