#!/bin/bash
# bench-plan-real.sh - the placement strategies on a rack of real guests:
# boots N guests (half of them dirtying memory), reads their sharing live
# through QMP, and runs `vmscatter compare` (every strategy, random min /
# average / max) for the given targets, with a plot.
#
#   tools/bench-plan-real.sh [--guests N] [--mem MIB] [--random N] [--plot FILE] TARGET...
# TARGET is NAME:SLOTS as for `vmscatter compare --target` (default t1:2 t2:2 t3:2).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
guests=6 mem=256 random=60 plot=""
targets=()
while [ $# -gt 0 ]; do
	case "$1" in
	--guests) guests=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--random) random=$2; shift 2 ;;
	--plot) plot=$2; shift 2 ;;
	*) targets+=(--target "$1"); shift ;;
	esac
done
[ ${#targets[@]} -gt 0 ] || targets=(--target t1:2 --target t2:2 --target t3:2)
build=$("$top/tools/build.sh")
dir=$(mktemp -d /tmp/vms-bench-plan-real.XXXXXX)
trap '"$top/tools/guests.sh" stop --dir "$dir" 2>/dev/null || true; rm -rf "$dir"' EXIT
half=$((guests / 2))
"$top/tools/guests.sh" start --dir "$dir" --count "$half" --mem "$mem" --dirty 100
"$top/tools/guests.sh" start --dir "$dir" --first $((half + 1)) --count $((guests - half)) --mem "$mem"
"$top/tools/guests.sh" wait --dir "$dir" --timeout 300
sleep 3
qmps=()
for i in $(seq 1 "$guests"); do qmps+=("$dir/vm$i.qmp"); done
"$build/vmscatter" analyze --json --quiet "${qmps[@]}" > "$dir/rack.json"
python3 -c '
import json,sys
r=json.load(open(sys.argv[1]))["rack"]
print("rack: %d pages, %d zero, %d distinct non-zero, %d shared by 2+ VMs" % (r["pages"], r["zero_pages"], r["distinct_nonzero"], r["shared_contents"]))' "$dir/rack.json"
"$build/vmscatter" compare --random "$random" --time-limit 30 --sharing "$dir/rack.json" "${targets[@]}" \
	${plot:+--plot "$plot"}
