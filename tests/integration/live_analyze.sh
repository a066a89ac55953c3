#!/bin/bash
# live_analyze.sh - analyze 3 running QEMU guests through their QMP sockets,
# and check that live reading is bit-exact: with the guests paused, the
# RAM read through QMP + process_vm_readv equals QEMU's own pmemsave, page by
# page, and analyzing the sockets gives exactly what analyzing dumps gives.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (process_vm_readv on QEMU)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed (tools/install-deps.sh)"

plan 9
tmp=$(mktemp -d /tmp/vms-live.XXXXXX)
G="$top_srcdir/tools/guests.sh"
QMP="python3 $top_srcdir/tests/integration/qmp.py"
at_exit "rm -rf '$tmp'"
at_exit "'$G' stop --dir '$tmp'"
V=$VMSCATTER

"$G" start --dir "$tmp" --count 3 --mem 256 --dirty 50 && "$G" wait --dir "$tmp" --timeout 180
ok $? "3 guests boot and count"

"$V" analyze --json --quiet "$tmp"/vm{1,2,3}.qmp > "$tmp/live.json"
ok $? "analyze 3 running guests through their QMP sockets"
python3 - "$tmp/live.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
for v in j["vms"]:
    assert v["kind"] == "qemu", v
    assert v["pages"] == 65536, v                      # 256 MiB of pc.ram
    assert 0 < v["zero_pages"] < v["pages"], v
    assert v["inter_identical"] > 1000, v              # same kernel and initramfs
    assert v["distinct_nonzero"] > 1000, v
r = j["rack"]
assert r["shared_contents"] > 1000 and r["distinct_nonzero"] < r["pages"] - r["zero_pages"], r
PY
ok $? "live counts are plausible: 65536 pages each, much shared"

# Pause all three, then compare the live reader against QEMU's own dump.
for i in 1 2 3; do $QMP "$tmp/vm$i.qmp" stop > /dev/null || exit 1; done
ok $? "guests paused"
"$V" dump "$tmp/vm1.qmp" "$tmp/vm1.dump" &&
	$QMP "$tmp/vm1.qmp" pmemsave "{\"val\": 0, \"size\": 268435456, \"filename\": \"$tmp/vm1.pmem\"}" > /dev/null
ok $? "dump through QMP and pmemsave of the same paused guest"
# Guest-physical 0xa0000-0xfffff is VGA/BIOS shadow in the address space
# pmemsave reads, not pc.ram: compare every other page.
python3 - "$tmp/vm1.dump" "$tmp/vm1.pmem" <<'PY'
import sys
a, b = open(sys.argv[1], "rb").read(), open(sys.argv[2], "rb").read()
assert len(a) == len(b) == 256 << 20
bad = [p for p in range(len(a) // 4096)
       if not (0xa0 <= p < 0x100) and a[p*4096:(p+1)*4096] != b[p*4096:(p+1)*4096]]
assert not bad, f"{len(bad)} pages differ, first {bad[:5]}"
assert any(a[p*4096:(p+1)*4096] != bytes(4096) for p in range(0x100, 0x1000))
PY
ok $? "live RAM equals pmemsave page by page (65440 pages compared)"

for i in 2 3; do "$V" dump "$tmp/vm$i.qmp" "$tmp/vm$i.dump" || exit 1; done
"$V" analyze --json --quiet "$tmp"/vm{1,2,3}.qmp > "$tmp/paused.json" &&
	"$V" analyze --json --quiet vm1="$tmp/vm1.dump" vm2="$tmp/vm2.dump" vm3="$tmp/vm3.dump" > "$tmp/dumps.json" &&
	python3 - "$tmp/paused.json" "$tmp/dumps.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
strip = lambda j: ([{k: v for k, v in vm.items() if k not in ("source", "kind")} for vm in j["vms"]],
                   j["rack"], j["sharing"], j["summary"])
assert strip(a) == strip(b)
PY
ok $? "analyzing paused sockets and their dumps gives identical results"
python3 "$top_srcdir/tests/integration/ref_analyze.py" "$tmp"/vm{1,2,3}.dump < "$tmp/dumps.json"
ok $? "real guest memory: counts match the SHA-256 reference"

for i in 1 2 3; do $QMP "$tmp/vm$i.qmp" cont > /dev/null || exit 1; done
before=$(grep -c vmscatter-counter "$tmp/vm1.serial")
sleep 3
after=$(grep -c vmscatter-counter "$tmp/vm1.serial")
[ "$after" -gt "$before" ]
ok $? "guests resumed and keep counting ($before -> $after)"
