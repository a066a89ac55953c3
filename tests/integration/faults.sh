#!/bin/bash
# faults.sh - processes killed at named fault points (VMS_FAULT, see
# doc/PROTOCOL.md "Fault points") during a live scatter of 2 real guests to
# 2 targets (vm1 -> t1, vm2 -> t2, default per-VM commit). In every case,
# within 20 s, each guest counts on exactly one host and nothing of it is
# left on the other. Cases: the sender at seeding, a receiver at seeding, a
# stream process mid-stream, a stream process after its target loaded, the
# sender after a source completed (postmigrate), after a target loaded, and
# between two commits, a stream process between its commit and RUNNING (the
# source guards settle what the sender left or could not know).
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"

plan 22
tb=vf$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-faults.XXXXXX)
T="$top_srcdir/tools/testbed.sh"
G="$top_srcdir/tools/guests.sh"
V=$VMSCATTER
at_exit "rm -rf '$tmp'"
at_exit "'$T' down $tb"
at_exit "'$G' stop --dir '$tmp/g'"
at_exit "for f in '$tmp'/state*/*/qemu.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; true"
GK=$("$top_srcdir/tools/mkguest.sh")

counter() { grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2; }
boot() {
	"$G" stop --dir "$tmp/g"
	"$G" start --dir "$tmp/g" --count 2 --mem 128 --dirty 300 --netns $tb-src > /dev/null &&
		"$G" wait --dir "$tmp/g" > /dev/null
}
stop_targets() {
	for f in "$tmp"/state*/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	for i in 1 2; do kill "$(cat "$tmp/recv$i.pid" 2>/dev/null)" 2>/dev/null; done
	wait 2>/dev/null
	return 0
}
# receivers on t1 and t2; RECV_FAULT_T1 / RECV_FAULT_T2 set VMS_FAULT there
start_receivers() {
	for i in 1 2; do
		local f=RECV_FAULT_T$i
		rm -rf "$tmp/state$i" && mkdir -p "$tmp/state$i"
		ip netns exec $tb-t$i env VMS_FAULT="${!f:-}" "$V" receive --listen 0.0.0.0:7000 \
			--state-dir "$tmp/state$i" --name t$i --tls-creds "$tmp/pki/t$i" --shared-path "$GK" \
			> "$tmp/recv$i.log" 2>&1 &
		echo $! > "$tmp/recv$i.pid"
	done
	sleep 0.5
}
# scatter FAULT: the live send, with VMS_FAULT=FAULT in the sender
scatter() {
	ip netns exec $tb-src env VMS_FAULT="$1" "$V" send --live --quiet --timeout 30 --tls-creds "$tmp/pki/src" \
		--plan "$tmp/plan.json" --target t1=10.77.0.11:7000 --target t2=10.77.0.12:7000 \
		"$tmp"/g/vm{1,2}.qmp > "$tmp/send.out" 2> "$tmp/send.err"
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
# settled N WANT: within 20 s guest N counts at WANT only, and what is left
# of it elsewhere is gone (its source QEMU if it moved, its target if not)
settled() {
	local n=$1 want=$2 got="" i
	for i in 1 2 3 4 5 6; do
		got=$(where "$n")
		[ "$got" = "$want" ] && break
		sleep 1
	done
	[ "$got" = "$want" ] || { diag "vm$n counts at '$got', expected '$want'"; return 1; }
	if [ "$want" = source ]; then
		! pgrep -f -- "$tmp/state./vm$n/.*-incoming defer" > /dev/null ||
			{ diag "a target QEMU of vm$n is left"; return 1; }
	else
		! kill -0 "$(cat "$tmp/g/vm$n.pid")" 2>/dev/null || { diag "vm$n's source QEMU is left"; return 1; }
	fi
}
# fault_case WHAT WANT1 WANT2: after the fault, vm1 counts at WANT1, vm2 at WANT2
fault_case() {
	local what=$1
	settled 1 "$2" && settled 2 "$3"
	ok $? "$what: vm1 on $2, vm2 on $3, nothing of either left elsewhere ($(tail -n 1 "$tmp/send.err" | head -c 160))"
}

"$T" up $tb --targets 2 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null && boot
ok $? "testbed with 2 targets, 2 guests counting on the source"
echo '{"assignment": {"vm1": "t1", "vm2": "t2"}}' > "$tmp/plan.json"

# --- the sender dies while seeding ------------------------------------------------
start_receivers
scatter sender:seeding
[ $? = 137 ] && grep -q 'fault point sender:seeding' "$tmp/send.err"
ok $? "the sender killed itself at sender:seeding"
fault_case "sender killed while seeding" source source
stop_targets

# --- t1's receiver dies while seeding ------------------------------------------------
RECV_FAULT_T1=receiver:seeding start_receivers
scatter ""
rc=$?
[ $rc = 1 ] && grep -q 'fault point receiver:seeding' "$tmp/recv1.log"
ok $? "t1's receiver killed itself at receiver:seeding; the send fails (exit $rc)"
fault_case "a receiver killed while seeding" source source
stop_targets

# --- t1's stream process dies mid-stream: vm1 rolls back alone -----------------------------
RECV_FAULT_T1=stream:mid start_receivers
scatter ""
rc=$?
[ $rc = 1 ] && grep -q '1 of 2 VMs moved' "$tmp/send.err" && grep -q 'fault point stream:mid' "$tmp/recv1.log"
ok $? "t1's stream process killed itself at stream:mid; 1 of 2 VMs moved (exit $rc)"
fault_case "a stream process killed mid-stream" source t2
stop_targets
boot

# --- t2's stream process dies once its target has loaded: vm2 rolls back alone --------------
RECV_FAULT_T2=receiver:loaded start_receivers
scatter ""
rc=$?
[ $rc = 1 ] && grep -q '1 of 2 VMs moved' "$tmp/send.err" && grep -q 'fault point receiver:loaded' "$tmp/recv2.log"
ok $? "t2's stream process killed itself at receiver:loaded; 1 of 2 VMs moved (exit $rc)"
fault_case "a stream process killed after its target loaded" t1 source
stop_targets
boot

# --- the sender dies after a source completed, or after its target loaded: ---------------
# the source guards ask the receivers and resume the sources
for point in sender:postmigrate sender:loaded; do
	start_receivers
	scatter $point
	[ $? = 137 ] && grep -q "fault point $point" "$tmp/send.err"
	ok $? "the sender killed itself at $point"
	fault_case "sender killed at $point" source source
	grep -q 'rolled back: resuming the source' "$tmp/send.err"
	ok $? "a source guard learnt from the receiver that the target rolled back, and resumed its source"
	stop_targets
done

# --- t1's stream process dies after it committed, before RUNNING: the sender
# cannot know; vm1's guard asks and, told "committed", quits the source ----------
RECV_FAULT_T1=receiver:committed start_receivers
scatter ""
rc=$?
[ $rc = 1 ] && grep -q 'fault point receiver:committed' "$tmp/recv1.log"
ok $? "t1's stream process killed itself at receiver:committed; the send says vm1 did not settle (exit $rc)"
fault_case "a stream process killed between its commit and RUNNING" t1 t2
grep -q 'target t1 committed: quitting the source' "$tmp/send.err"
ok $? "vm1's guard learnt from the receiver that its target committed, and quit the source"
stop_targets
boot

# --- the sender dies between two commits: each guest on exactly one host -------------------
start_receivers
scatter sender:commit-between
rc=$?
g1=$(where 1) g2=$(where 2)
[ $rc = 137 ] && { [ "$g1" = t1 ] || [ "$g2" = t2 ]; } &&
	{ [ "$g1" = t1 ] || [ "$g1" = source ]; } && { [ "$g2" = t2 ] || [ "$g2" = source ]; }
ok $? "sender killed between two commits: one VM committed, every guest counts on exactly one host (vm1: $g1, vm2: $g2)"
sleep 3
for n in 1 2; do
	w=$(where $n)
	if [ "$w" = source ]; then
		! pgrep -f -- "$tmp/state./vm$n/.*-incoming defer" > /dev/null || { w="a target is left"; }
	else
		! kill -0 "$(cat "$tmp/g/vm$n.pid")" 2>/dev/null || { w="its source is left"; }
	fi
	[ "$w" = source ] || [ "$w" = t$n ]
	ok $? "vm$n: settled at $w, nothing left elsewhere"
done
stop_targets

"$T" down $tb && ! ip netns list | grep -q "^$tb-"
ok $? "testbed removed"
