#!/bin/bash
# mstream.sh - the migration stream parser on streams recorded from real
# QEMU 7.2: a guest that keeps dirtying memory migrates into a file
# (several iterations: dirtied pages are sent again). pc.ram rebuilt by
# `vmscatter stream` must equal, bit for bit, what an independent reader
# (ref_stream.py) rebuilds from the same stream, and must match the paused
# source's RAM. Observed on QEMU 7.2 TCG: a handful of pages of the paused
# source differ from every copy in QEMU's own stream - QEMU's dirty tracking
# under TCG misses a few guest writes (a stock QEMU-to-QEMU migration shows
# the same; `send --live --verify` repairs them); the test allows at most 64
# such pages (0.2%) and prints how many. The live rewriter's round trip
# (every page to a reference and back, or every other page compressed with
# zstd, LZ4 or LZO and back) must give the stream byte for byte.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (reading QEMU's memory)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"

plan 11
tmp=$(mktemp -d /tmp/vms-mstream.XXXXXX)
G="$top_srcdir/tools/guests.sh"
QMP="python3 $top_srcdir/tests/integration/qmp.py"
V=$VMSCATTER
at_exit "rm -rf '$tmp'"
at_exit "'$G' stop --dir '$tmp'"

"$G" start --dir "$tmp" --count 1 --mem 128 --dirty 2000 --dirty-mib 32 && "$G" wait --dir "$tmp"
ok $? "a guest dirtying 2000 pages/s"
sleep 2
# slow enough that dirtied pages are sent again, fast enough to converge
$QMP "$tmp/vm1.qmp" migrate-set-parameters '{"max-bandwidth": 33554432, "downtime-limit": 500}' > /dev/null &&
	$QMP "$tmp/vm1.qmp" migrate "{\"uri\": \"exec:cat > $tmp/stream.bin\"}" > /dev/null
$QMP "$tmp/vm1.qmp" wait-migration 60 > /dev/null
ok $? "QEMU migrated into a file ($(stat -c %s "$tmp/stream.bin" 2>/dev/null) bytes)"

"$V" dump "$tmp/vm1.qmp" "$tmp/source.img"
ok $? "the paused source's RAM read through QMP"
"$V" stream --json --rebuild "$tmp/rebuilt.img" "$tmp/stream.bin" > "$tmp/report.json"
ok $? "vmscatter stream parses the whole recorded stream"
"$abs_top_builddir/tests/helpers/rewrite_check" "$tmp/stream.bin" > "$tmp/rewrite.out"
ok $? "live rewriter, every page to a seed reference and back: the same stream ($(cat "$tmp/rewrite.out"))"
for algo in zstd lz4 lzo; do
	"$abs_top_builddir/tests/helpers/rewrite_check" --compress $algo "$tmp/stream.bin" > "$tmp/rewrite-$algo.out"
	ok $? "live rewriter, every other page compressed with $algo (SCOMP) and back: the same stream ($(cat "$tmp/rewrite-$algo.out"))"
done
python3 "$top_srcdir/tests/integration/ref_stream.py" "$tmp/stream.bin" pc.ram "$tmp/reference.img" &&
	cmp -s "$tmp/reference.img" "$tmp/rebuilt.img"
ok $? "the rebuild equals the independent reader's, bit for bit"
diff=$(python3 - "$tmp/source.img" "$tmp/rebuilt.img" <<'PY'
import sys
a, b = (open(p, "rb").read() for p in sys.argv[1:3])
assert len(a) == len(b)
print(sum(1 for p in range(len(a) // 4096) if a[p*4096:(p+1)*4096] != b[p*4096:(p+1)*4096]))
PY
)
[ -n "$diff" ] && [ "$diff" -le 64 ]
ok $? "the rebuild matches the paused source on all but $diff of 32768 pages (guest writes QEMU's dirty tracking missed)"
python3 - "$tmp/report.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["resent_pages"] > 0, r          # several iterations
assert r["zero_pages"] > 0 and r["pages"] > 0 and r["device_bytes"] > 0, r
assert any(b["name"] == "pc.ram" for b in r["blocks"]), r
PY
ok $? "zero pages, pages, pages re-sent after dirtying, device state: $(tr -d '\n ' < "$tmp/report.json" | cut -c1-160)"
