#!/bin/bash
# demo.sh - the README's first command: set everything up and run the main
# job on an embedded default. Today that is the sharing analysis of a small
# local rack: 4 real guests (Debian kernel + busybox, 256 MiB, one of them
# dirtying memory) boot under QEMU (TCG) and `vmscatter analyze` reads their
# RAM live through QMP and prints what sending each content once would save.
#
#   tools/demo.sh [--count N] [--mem MIB] [--json]
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
count=4 mem=256 json=""
while [ $# -gt 0 ]; do
	case "$1" in
	--count) count=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--json) json=--json; shift ;;
	-h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "demo: unknown option $1" >&2; exit 2 ;;
	esac
done

echo "==> building vmscatter (first run: installs Debian packages, takes a few minutes)" >&2
build=$("$top/tools/build.sh")
dir=$(mktemp -d /tmp/vmscatter-demo.XXXXXX)
cleanup() { "$top/tools/guests.sh" stop --dir "$dir" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "==> booting $count guests of $mem MiB under QEMU (TCG)" >&2
"$top/tools/guests.sh" start --dir "$dir" --count "$count" --mem "$mem" --dirty 0
"$top/tools/guests.sh" wait --dir "$dir" --timeout 180
sleep 2
echo "==> analyzing their memory live through QMP" >&2
srcs=()
for i in $(seq 1 "$count"); do srcs+=("$dir/vm$i.qmp"); done
"$build/vmscatter" analyze $json "${srcs[@]}"
