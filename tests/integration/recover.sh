#!/bin/bash
# recover.sh - the source journal and `vmscatter recover` (doc/PROTOCOL.md,
# "Source journal"). First the command alone: usage, an empty or missing
# journal, a record that is not one or of format 1, a record its owner still
# holds, a source QEMU gone, a QMP socket another process serves. Then
# live, 2 real guests to 2 targets (vm1 -> t1, vm2 -> t2), with the sender
# and every source guard dead (fault points sender:postmigrate and
# guard:asking) so that only the journal is left:
#   - the receivers alive: a new send --live refuses to start while vm1's
#     record is unsettled; recover learns "rolled back" and resumes vm1;
#   - another process at vm1's QMP path: recover refuses it, sends nothing;
#   - vm1's receiver dead too: recover leaves vm1 paused and says so (exit
#     3); once the receiver is back on its state directory, recover settles it;
#   - a target that committed while its stream process died (receiver:
#     committed), the guard dead: recover learns "committed" and quits the
#     source; this is also the new move of the guests the earlier cases left
#     on the source.
# Each guest must count on exactly one host in the end.
. "$(dirname "$0")/tap.sh"
V=$VMSCATTER
tmp=$(mktemp -d /tmp/vms-recover.XXXXXX)
[ -n "${KEEP:-}" ] || at_exit "rm -rf '$tmp'"

plan 22

# --- the command alone -------------------------------------------------------------
# starttime PID: field 22 of /proc/PID/stat (after the command name's last ')')
starttime() { sed 's/.*) //' "/proc/$1/stat" | cut -d' ' -f20; }
# record FILE SESSION VM QMP PID:START: a record as `send --live` writes it
record() {
	printf 'vmscatter-source 2\nsession %s\nvm %s\nqmp %s\nqemu %s\ntarget t1=127.0.0.1:9\ntls-hostname -\nstate migrating\n' \
		"$2" "$3" "$4" "$5" > "$1"
}
FS="$top_srcdir/tests/integration/fake_socket.py"
expect_fail 2 'give --tls-creds DIR or --insecure' "$V" recover --state-dir "$tmp/none"
ok $? "recover without credentials: usage error, exit 2"
"$V" recover --state-dir "$tmp/none" --insecure > "$tmp/out" 2>&1 && grep -q 'nothing to settle' "$tmp/out"
ok $? "recover on a missing journal: nothing to settle, exit 0"
mkdir -p "$tmp/j"
printf 'vmscatter-source 2\nsession 00000000000000aa\nvm 1\nqmp /nonexistent\n' > "$tmp/j/source-00000000000000aa-1"
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q 'left: source-00000000000000aa-1: not a source journal record' "$tmp/out" &&
	[ -f "$tmp/j/source-00000000000000aa-1" ]
ok $? "a truncated record is left as it is and named (exit $rc)"
printf 'vmscatter-source 1\nsession 00000000000000aa\nvm 1\nqmp /nonexistent\ntarget t1=127.0.0.1:9\ntls-hostname -\nstate migrating\n' \
	> "$tmp/j/source-00000000000000aa-1"
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q 'left: source-00000000000000aa-1: a record of an older vmscatter (format 1' "$tmp/out" &&
	[ -f "$tmp/j/source-00000000000000aa-1" ]
ok $? "a record of format 1 (no source QEMU identity) is left and named (exit $rc)"
sh -c 'exit 0' &
dead=$!
wait $dead
record "$tmp/j/source-00000000000000bb-2" 00000000000000bb 2 "$tmp/no-such.qmp" "$dead:1"
exec 9< "$tmp/j/source-00000000000000bb-2"
flock -x 9
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
exec 9<&-
[ $rc = 3 ] && grep -q 'source-00000000000000bb-2: its sender or source guard still runs' "$tmp/out" &&
	[ -f "$tmp/j/source-00000000000000bb-2" ]
ok $? "a record its sender or guard holds is left to them (exit $rc)"
rm -f "$tmp/j/source-00000000000000aa-1"
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "so is the source QEMU (process $dead): nothing to settle" "$tmp/out" &&
	[ ! -e "$tmp/j/source-00000000000000bb-2" ] && grep -q '1 VM settled, 0 left' "$tmp/out"
ok $? "a record whose source QEMU is gone is settled and removed (exit $rc)"

# another process serves the recorded QMP socket: a stand-in source QEMU
# (a sleep, alive) and a QMP server at its path that logs every connection
# and every line it receives (telling its pid needs a connection; nothing
# may be sent on it)
sleep 120 &
src=$!
at_exit "kill $src"
python3 "$FS" qmp "$tmp/other.qmp" &
other=$!
at_exit "kill $other"
for _ in $(seq 50); do [ -e "$tmp/other.qmp.ready" ] && break; sleep 0.1; done
record "$tmp/j/source-00000000000000cc-0" 00000000000000cc 0 "$tmp/other.qmp" "$src:$(starttime $src)"
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
[ $rc = 3 ] && grep -q "other.qmp\]: this socket is served by process $other, not by the source QEMU (process $src" "$tmp/out" &&
	grep -q "other.qmp (session 00000000000000cc, VM 0, target t1): left: process $other serves this socket" "$tmp/out" &&
	[ -f "$tmp/j/source-00000000000000cc-0" ] && grep -q '^connect$' "$tmp/other.qmp.log" &&
	! grep -qv '^connect$' "$tmp/other.qmp.log" && kill -0 $other
ok $? "a record whose QMP socket another process serves (the source alive) is refused and left; nothing sent (exit $rc)"
# the recorded pid is the server's own, but not the process the record
# names (another start time: the pid was reused): the source is gone
record "$tmp/j/source-00000000000000cc-0" 00000000000000cc 0 "$tmp/other.qmp" "$other:$(( $(starttime $other) + 1 ))"
: > "$tmp/other.qmp.log"
"$V" recover --state-dir "$tmp/j" --insecure > "$tmp/out" 2>&1
rc=$?
[ $rc = 0 ] && grep -q "so is the source QEMU (process $other): nothing to settle" "$tmp/out" &&
	[ ! -e "$tmp/j/source-00000000000000cc-0" ] && [ ! -s "$tmp/other.qmp.log" ] && kill -0 $other
ok $? "a record whose pid now belongs to another process: source gone, record removed, the socket untouched (exit $rc)"
kill $other $src 2>/dev/null
wait $other $src 2>/dev/null

# --- live ------------------------------------------------------------------------
if [ "$(id -u)" != 0 ] || ! command -v qemu-system-x86_64 > /dev/null; then
	for _ in $(seq 14); do echo "ok - # SKIP needs root and qemu-system-x86_64"; done
	exit 0
fi
tb=vr$$
tb=${tb:0:8}
T="$top_srcdir/tools/testbed.sh"
G="$top_srcdir/tools/guests.sh"
at_exit "'$T' down $tb"
at_exit "'$G' stop --dir '$tmp/g'"
at_exit "for f in '$tmp'/state*/*/qemu.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; true"
at_exit "pkill -9 -f -- '--journal $tmp/src/'"
GK=$("$top_srcdir/tools/mkguest.sh")
S="$tmp/src"          # the sender's state directory: the source journal

counter() { grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2; }
boot() {
	"$G" stop --dir "$tmp/g"
	"$G" start --dir "$tmp/g" --count 2 --mem 128 --dirty 300 --netns $tb-src > /dev/null &&
		"$G" wait --dir "$tmp/g" > /dev/null
}
# start_receiver I [keep]: t I's receiver (its state directory emptied unless keep)
start_receiver() {
	local i=$1 f=RECV_FAULT_T$1
	[ "${2:-}" = keep ] || { rm -rf "$tmp/state$i" && mkdir -p "$tmp/state$i"; }
	ip netns exec $tb-t$i env VMS_FAULT="${!f:-}" "$V" receive --listen 0.0.0.0:7000 \
		--state-dir "$tmp/state$i" --name t$i --tls-creds "$tmp/pki/t$i" --shared-path "$GK" \
		>> "$tmp/recv$i.log" 2>&1 &
	echo $! > "$tmp/recv$i.pid"
}
start_receivers() { start_receiver 1; start_receiver 2; sleep 0.5; }
stop_targets() {
	for f in "$tmp"/state*/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	for i in 1 2; do kill "$(cat "$tmp/recv$i.pid" 2>/dev/null)" 2>/dev/null; done
	wait 2>/dev/null
	return 0
}
# scatter FAULT: the live send, with VMS_FAULT=FAULT in the sender (and its guards)
scatter() {
	ip netns exec $tb-src env VMS_FAULT="$1" "$V" send --live --verify --quiet --parallel 1 --timeout 30 --tls-creds "$tmp/pki/src" \
		--state-dir "$S" --plan "$tmp/plan.json" --target t1=10.77.0.11:7000 --target t2=10.77.0.12:7000 \
		"$tmp"/g/vm{1,2}.qmp > "$tmp/send.out" 2> "$tmp/send.err"
}
recover() {
	ip netns exec $tb-src "$V" recover --state-dir "$S" --tls-creds "$tmp/pki/src" --timeout 5 > "$tmp/recover.out" 2>&1
}
# no guard of this test's journal runs any more (within 20 s)
guards_gone() {
	for _ in $(seq 40); do pgrep -f -- "--journal $S" > /dev/null || return 0; sleep 0.5; done
	return 1
}
# where N: "source", "t1", "t2" where guest N counts now, "none", or "both"
where() {
	local n=$1 s a b at=""
	s=$(counter "$tmp/g/vm$n.serial")
	a=$(counter "$tmp/state1/vm$n/vm$n.serial")
	b=$(counter "$tmp/state2/vm$n/vm$n.serial")
	sleep 2
	[ -n "$(counter "$tmp/g/vm$n.serial")" ] && [ "$(counter "$tmp/g/vm$n.serial")" != "$s" ] && at="source"
	for t in 1 2; do
		local before now
		before=$([ $t = 1 ] && echo "$a" || echo "$b")
		now=$(counter "$tmp/state$t/vm$n/vm$n.serial")
		if [ -n "$now" ] && [ "$now" != "$before" ]; then
			[ -z "$at" ] && at="t$t" || at="both"
		fi
	done
	echo "${at:-none}"
}
records() { ls "$S" 2>/dev/null | grep -c '^source-'; }
state_of() { python3 "$top_srcdir/tests/integration/qmp.py" "$tmp/g/vm$1.qmp" query-status 2>/dev/null |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null; }

"$T" up $tb --targets 2 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null && boot
ok $? "testbed with 2 targets, 2 guests counting on the source"
echo '{"assignment": {"vm1": "t1", "vm2": "t2"}}' > "$tmp/plan.json"

# --- the sender and every guard dead, the receivers alive ------------------------------------
start_receivers
scatter sender:postmigrate,guard:asking
rc=$?
guards_gone && [ $rc = 137 ] && [ "$(records)" -ge 1 ] && [ "$(state_of 1)" = postmigrate ]
ok $? "sender and guards died (sender exit $rc): vm1's source is paused ($(state_of 1)), $(records) journal record(s) left"
left=$(records)
scatter ""
rc=$?
[ $rc = 1 ] && grep -qF "run \`vmscatter recover --state-dir $S\` first" "$tmp/send.err" &&
	[ "$(state_of 1)" = postmigrate ] && [ "$(state_of 2)" = running ] && [ "$(records)" = "$left" ]
ok $? "a new send --live refuses while vm1's record is unsettled (exit $rc): vm1 stays paused, vm2 runs on the source"
recover
rc=$?
[ $rc = 0 ] && grep -q 'rolled back: source resumed' "$tmp/recover.out" && [ "$(records)" = 0 ]
ok $? "recover: the receiver says rolled back; vm1's source resumed, the journal is empty (exit $rc)"
[ "$(where 1)" = source ] && [ "$(where 2)" = source ] && ! pgrep -f -- "$tmp/state./vm./.*-incoming defer" > /dev/null
ok $? "both guests count on the source only; no target QEMU is left"

# --- ... and vm1's receiver dead too: nothing guesses, until it is back ---------------------
scatter sender:postmigrate,guard:asking
rc=$?
guards_gone && [ $rc = 137 ] && [ "$(state_of 1)" = postmigrate ]
ok $? "sender and guards died again (exit $rc): vm1's source is paused"
# vm1's QMP socket moved away and another process serving its path
mv "$tmp/g/vm1.qmp" "$tmp/g/vm1.qmp.real"
python3 "$FS" qmp "$tmp/g/vm1.qmp" &
other=$!
at_exit "kill $other"
for _ in $(seq 50); do [ -e "$tmp/g/vm1.qmp.ready" ] && break; sleep 0.1; done
recover
rc=$?
real=$(python3 "$top_srcdir/tests/integration/qmp.py" "$tmp/g/vm1.qmp.real" query-status 2>/dev/null)
[ $rc = 3 ] && grep -q "left: process $other serves this socket, not its source QEMU" "$tmp/recover.out" &&
	[ "$(records)" -ge 1 ] && grep -q '^connect$' "$tmp/g/vm1.qmp.log" && ! grep -qv '^connect$' "$tmp/g/vm1.qmp.log" &&
	echo "$real" | grep -q '"postmigrate"'
ok $? "recover with another process at vm1's QMP path: refused, nothing sent, the record stays, vm1 paused (exit $rc)"
kill $other 2>/dev/null
wait $other 2>/dev/null
rm -f "$tmp/g/vm1.qmp" "$tmp/g/vm1.qmp.ready" "$tmp/g/vm1.qmp.log"
mv "$tmp/g/vm1.qmp.real" "$tmp/g/vm1.qmp"
kill -9 "$(cat "$tmp/recv1.pid")" 2>/dev/null
wait "$(cat "$tmp/recv1.pid")" 2>/dev/null
recover
rc=$?
[ $rc = 3 ] && grep -q 'no answer from its receiver; the source stays paused' "$tmp/recover.out" &&
	[ "$(state_of 1)" = postmigrate ] && [ "$(records)" -ge 1 ]
ok $? "recover with vm1's receiver dead: vm1 stays paused, its record stays (exit $rc)"
start_receiver 1 keep
sleep 1
recover
rc=$?
[ $rc = 0 ] && grep -q 'rolled back: source resumed' "$tmp/recover.out" && [ "$(records)" = 0 ]
ok $? "the receiver restarted on its state directory: recover resumes vm1 (exit $rc)"
[ "$(where 1)" = source ] && [ "$(where 2)" = source ] && ! pgrep -f -- "$tmp/state./vm./.*-incoming defer" > /dev/null
ok $? "both guests count on the source only; no target QEMU is left"
stop_targets

# --- committed on t1 while its stream process died; the guard dead: recover quits the source --
RECV_FAULT_T1=receiver:committed start_receivers
scatter guard:asking
rc=$?
guards_gone && [ $rc = 1 ] && [ "$(records)" = 1 ] && grep -q 'fault point receiver:committed' "$tmp/recv1.log"
ok $? "a new move: vm2 moved; vm1 committed on t1 but its answer never came and its guard died (exit $rc)"
recover
rc=$?
[ $rc = 0 ] && grep -q 'committed: source quit' "$tmp/recover.out" && [ "$(records)" = 0 ]
ok $? "recover: t1's receiver says committed; vm1's source quit (exit $rc)"
w1=$(where 1) w2=$(where 2)
[ "$w1" = t1 ] && [ "$w2" = t2 ] && ! pgrep -f -- "-name vm[12] .*$tmp/g/" > /dev/null
ok $? "vm1 counts on t1 only, vm2 on t2 only; both sources are gone (vm1: $w1, vm2: $w2)"
stop_targets

"$T" down $tb && ! ip netns list | grep -q "^$tb-"
ok $? "testbed removed"
