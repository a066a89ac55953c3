#!/bin/bash
# cli_plan.sh - `vmscatter plan` and `compare` on synthetic racks: JSON
# fields, capacities and pins respected by every strategy, the saved summary
# path, determinism, plots, and every kind of bad input.
. "$(dirname "$0")/tap.sh"
command -v python3 >/dev/null || skip_all "python3 not installed"

plan 32
tmp=$(mktemp -d /tmp/vms-plan.XXXXXX)
at_exit "rm -rf '$tmp'"
V=$VMSCATTER
T=(--target a:2 --target b:2 --target c:3)

"$VMS_SYNTH" --out "$tmp/r" --vms 6 --pages 1500 --pool 1200 --seed 11
imgs=("$tmp"/r/vm{1,2,3,4,5,6}.img)
"$V" analyze --json --quiet "${imgs[@]}" > "$tmp/an.json"
ok $? "analyze saves the summary"

# check_plan FILE [PIN_VM PIN_TARGET]: every VM placed, capacities held
check_plan() {
	python3 - "$@" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
a = j["assignment"]
assert sorted(a) == [f"vm{i}" for i in range(1, 7)], a
cap = {"a": 2, "b": 2, "c": 3}
for t, n in cap.items():
    assert sum(1 for v in a.values() if v == t) <= n, (t, a)
if len(sys.argv) > 3:
    assert a[sys.argv[2]] == sys.argv[3], a
tr = j["traffic"]
for k in ("network_bytes", "transferred_bytes", "multicast_bytes", "unicast_bytes", "reference_bytes"):
    assert isinstance(tr[k], int) and tr[k] >= 0, k
assert tr["network_bytes"] >= tr["transferred_bytes"]
assert tr["transferred_bytes"] == tr["multicast_bytes"] + tr["unicast_bytes"] + tr["reference_bytes"]
g = j["group_order"]
assert g["switches"] <= g["naive_switches"]
for grp in j["groups"]:
    assert len(grp["targets"]) >= 2 and grp["contents"] > 0
PY
}

for s in greedy local anneal random oblivious optimal; do
	"$V" plan --json --quiet --strategy $s "${T[@]}" --pin vm5=c "${imgs[@]}" > "$tmp/$s.json" &&
		check_plan "$tmp/$s.json" vm5 c
	ok $? "plan --strategy $s: all placed, capacities and the pin held"
done
python3 -c '
import json,sys
o=json.load(open(sys.argv[1])); g=json.load(open(sys.argv[2])); l=json.load(open(sys.argv[3])); a=json.load(open(sys.argv[4]))
assert o["optimal"] is True and o["gap"] == 0
assert o["lower_bound_network_bytes"] == o["traffic"]["network_bytes"]
assert o["traffic"]["network_bytes"] <= l["traffic"]["network_bytes"] <= g["traffic"]["network_bytes"]
assert o["traffic"]["network_bytes"] <= a["traffic"]["network_bytes"] <= g["traffic"]["network_bytes"]
' "$tmp/optimal.json" "$tmp/greedy.json" "$tmp/local.json" "$tmp/anneal.json"
ok $? "optimal <= local, anneal <= greedy, optimal proven"

"$V" plan --json --sharing "$tmp/an.json" "${T[@]}" --pin vm5=c > "$tmp/saved.json" &&
	python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); assert a["assignment"]==b["assignment"] and a["traffic"]==b["traffic"]' "$tmp/saved.json" "$tmp/anneal.json"
ok $? "--sharing FILE plans the same as indexing the sources (default strategy: anneal)"

"$V" plan --json --strategy random --seed 9 --sharing "$tmp/an.json" "${T[@]}" > "$tmp/r1.json" &&
	"$V" plan --json --strategy random --seed 9 --sharing "$tmp/an.json" "${T[@]}" > "$tmp/r2.json" &&
	python3 -c 'import json,sys; a,b=(json.load(open(p)) for p in sys.argv[1:]); assert a["assignment"]==b["assignment"]' "$tmp/r1.json" "$tmp/r2.json"
ok $? "random is deterministic for a seed"

"$V" plan --sharing "$tmp/an.json" "${T[@]}" > "$tmp/human.txt" &&
	grep -q 'network traffic' "$tmp/human.txt" && grep -q 'multicast groups' "$tmp/human.txt"
ok $? "human output"

"$V" compare --json --random 10 --sharing "$tmp/an.json" "${T[@]}" --plot "$tmp/c.png" > "$tmp/cmp.json" &&
	python3 -c '
import json,sys
j=json.load(open(sys.argv[1]))
names=[s["strategy"] for s in j["strategies"]]
assert names==["oblivious","greedy","local","anneal","optimal"], names
r=j["random"]; assert r["samples"]==10 and r["min_network_bytes"]<=r["avg_network_bytes"]<=r["max_network_bytes"]
opt=[s for s in j["strategies"] if s["strategy"]=="optimal"][0]["traffic"]["network_bytes"]
assert all(s["traffic"]["network_bytes"]>=opt for s in j["strategies"])
assert r["min_network_bytes"]>=opt
' "$tmp/cmp.json"
ok $? "compare --json: every strategy and random min/avg/max, none below optimal"
[ "$(head -c 4 "$tmp/c.png" | od -An -c | tr -d ' ')" = '211PNG' ]
ok $? "compare --plot writes a PNG"
"$V" compare --random 3 --sharing "$tmp/an.json" "${T[@]}" --plot "$tmp/c.svg" > "$tmp/cmp.txt" &&
	grep -q '<svg' "$tmp/c.svg" && grep -q 'average' "$tmp/cmp.txt"
ok $? "compare --plot writes an SVG, table on stdout"

S=(--sharing "$tmp/an.json")
check "no --target" expect_fail 2 'no --target' "$V" plan "${S[@]}"
check "target without slots" expect_fail 1 'expected NAME:SLOTS' "$V" plan "${S[@]}" --target a
check "zero slots" expect_fail 1 'SLOTS must be' "$V" plan "${S[@]}" --target a:0
check "bad memory" expect_fail 1 'MEMORY must be' "$V" plan "${S[@]}" --target a:9:lots
check "duplicate target" expect_fail 1 "target 'a' given twice" "$V" plan "${S[@]}" --target a:3 --target a:3
check "too few slots" expect_fail 1 '6 VMs but only 4 target slots' "$V" plan "${S[@]}" --target a:2 --target b:2
check "too little memory" expect_fail 1 'fits on no target' "$V" plan "${S[@]}" --target a:9:1M
check "pin to an unknown target" expect_fail 1 "unknown target 'zz'" "$V" plan "${S[@]}" "${T[@]}" --pin vm1=zz
check "pin of an unknown VM" expect_fail 1 "unknown VM 'vm9'" "$V" plan "${S[@]}" "${T[@]}" --pin vm9=a
check "unknown strategy" expect_fail 2 "unknown strategy 'best'" "$V" plan "${S[@]}" "${T[@]}" --strategy best
check "missing summary file" expect_fail 1 'nope.json: No such file' "$V" plan --sharing "$tmp/nope.json" "${T[@]}"
echo '{"version":1,"vms":[{"name":"x","pages":1,"zero_pages":0}],"classes":[{"vms":[3],"contents":1,"pages":1}]}' > "$tmp/bad.json"
check "summary with a bad VM index" expect_fail 1 'bad VM index' "$V" plan --sharing "$tmp/bad.json" "${T[@]}"
echo 'not json' > "$tmp/garbage.json"
check "summary that is not JSON" expect_fail 1 'not JSON' "$V" plan --sharing "$tmp/garbage.json" "${T[@]}"
check "sources and --sharing together" expect_fail 2 'not both' "$V" plan "${S[@]}" "${T[@]}" "${imgs[0]}"
check "plot with a bad extension" expect_fail 2 'png or .svg' "$V" compare "${S[@]}" "${T[@]}" --plot "$tmp/x.gif"
check "plot into a missing directory" expect_fail 1 'cannot write to .*no: No such file' "$V" compare "${S[@]}" "${T[@]}" --plot "$tmp/no/x.png"
check "bad time limit" expect_fail 2 'time-limit' "$V" plan "${S[@]}" "${T[@]}" --time-limit -1
[ -z "$(ls "$tmp" | grep -E '\.tmp\.|^x\.')" ] && [ -z "$(ls /tmp | grep vmscatter-plot)" ]
ok $? "no half-written output or temporary files left"
