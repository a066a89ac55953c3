#!/bin/bash
# bench-index.sh - index throughput: `vmscatter analyze` with 1 and 2 threads
# against `cat FILES > /dev/null` on the same synthetic rack in tmpfs, runs
# interleaved in one session (the machine is shared and noisy), medians of
# --runs runs. Prints wall, user and system seconds and the ratios to cat.
#
#   tools/bench-index.sh [--vms N] [--mib MIB] [--runs R] [--dir TMPFS_DIR] [--real] [--dense]
# Default: 8 VMs x 256 MiB = 2 GiB in /dev/shm, 5 runs, a synthetic rack
# (30% zero, 5% self-identical, 40% from a shared pool: a duplicate-heavy
# mix, zero pages stored). --real uses the memory of N real guests instead
# (booted, idle, dumped by `vmscatter dump`, so zero pages are holes), the mix
# a rack of small Linux VMs really has. --dense stores every zero page (as a
# dumper that does not leave holes would).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
vms=8 mib=256 runs=5 base=/dev/shm real=0 dense=0
while [ $# -gt 0 ]; do
	case "$1" in
	--vms) vms=$2; shift 2 ;;
	--mib) mib=$2; shift 2 ;;
	--runs) runs=$2; shift 2 ;;
	--dir) base=$2; shift 2 ;;
	--real) real=1; shift ;;
	--dense) dense=1; shift ;;
	*) echo "bench-index: unknown option $1" >&2; exit 2 ;;
	esac
done
build=$("$top/tools/build.sh")
dir=$(mktemp -d "$base/vms-bench.XXXXXX")
trap '"$top/tools/guests.sh" stop --dir "$dir/g" 2>/dev/null; rm -rf "$dir"' EXIT
if [ "$real" = 1 ]; then
	"$top/tools/guests.sh" start --dir "$dir/g" --count "$vms" --mem "$mib" --dirty 0
	"$top/tools/guests.sh" wait --dir "$dir/g" --timeout 300
	sleep 3
	for i in $(seq 1 "$vms"); do "$build/vmscatter" dump "$dir/g/vm$i.qmp" "$dir/vm$i.img"; done
	"$top/tools/guests.sh" stop --dir "$dir/g"
	rm -rf "$dir/g"
else
	"$build/tools/vms-synth" --out "$dir" --vms "$vms" --pages $((mib * 256)) --zero 0.3 --self 0.05 \
		--inter 0.4 --pool $((mib * 256 / 2))
fi
files=("$dir"/vm*.img)
if [ "$dense" = 1 ]; then
	for f in "${files[@]}"; do cp --sparse=never "$f" "$f.dense" && mv "$f.dense" "$f"; done
fi
stored=$(du -sm "$dir" | cut -f1)
total=$((vms * mib))

# time_cmd CMD...: "wall user system" seconds of one run
time_cmd() {
	local TIMEFORMAT='%R %U %S'
	{ time "$@" > /dev/null; } 2>&1
}
# median COLUMN < FILE
median() { awk -v c="$1" '{print $c}' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

cat "${files[@]}" > /dev/null   # warm-up
: > "$dir/cat.t"; : > "$dir/t1.t"; : > "$dir/t2.t"
for _ in $(seq 1 "$runs"); do
	time_cmd cat "${files[@]}" >> "$dir/cat.t"
	time_cmd "$build/vmscatter" analyze --json --quiet --threads 1 "${files[@]}" >> "$dir/t1.t"
	time_cmd "$build/vmscatter" analyze --json --quiet --threads 2 "${files[@]}" >> "$dir/t2.t"
done
c=$(median 1 < "$dir/cat.t")
printf 'rack: %d %s VMs x %d MiB = %d MiB (%d MiB stored) in %s, median of %d runs\n' "$vms" \
	"$([ "$real" = 1 ] && echo real || echo synthetic)" "$mib" "$total" "$stored" "$base" "$runs"
printf '%-24s %8s %8s %8s %8s %8s\n' "command" "seconds" "user" "system" "MiB/s" "x cat"
for row in "cat:cat" "analyze --threads 1:t1" "analyze --threads 2:t2"; do
	name=${row%%:*} f="$dir/${row##*:}.t"
	t=$(median 1 < "$f") u=$(median 2 < "$f") s=$(median 3 < "$f")
	printf '%-24s %8.3f %8.3f %8.3f %8.0f %8.2f\n' "$name" "$t" "$u" "$s" \
		"$(echo "$total / $t" | bc -l)" "$(echo "$t / $c" | bc -l)"
done
