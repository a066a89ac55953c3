#!/bin/bash
# faults.sh - the fault matrix (doc/PROTOCOL.md "Commit and rollback: who
# decides, what each death does"): during a live scatter of 2 real guests to
# 2 targets (vm1 -> t1, vm2 -> t2, per-VM commit, --parallel 1 so vm1 goes
# first, --verify but in the postmigrate column), one of the sender, a receiver, a receiver's stream process, a
# source QEMU and a target QEMU is killed at each of the phases seeding,
# streaming, postmigrate (source completed, before LOADED), verification and
# between two commits; a target's link is cut (nftables, 100%) while
# streaming and while committing, then restored.
#
# The phase is pinned by a fault point written POINT=stop (common/fault.c):
# the process that reaches it stops itself (state T), the test kills the
# victim (or cuts the link), then sends SIGCONT. In every cell: within 20 s
# each guest counts on exactly one host (its QEMU there answers QMP
# query-status "running"; the source and both targets' STATE dirs are
# asked), no other QEMU of it is left (no paused orphan) and no directory of
# it in a STATE dir it does not run from; then a new move of the guests still
# on the source (and of a fresh guest for one that was lost) succeeds.
# A guest whose source QEMU was killed before its target had it is lost with
# it, as with any crash ("lost" below): accepted when nothing of it is left.
# Prints the matrix at the end.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
command -v nft >/dev/null || skip_all "nft not installed"

plan 58
tb=vf$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-faults.XXXXXX)
T="$top_srcdir/tools/testbed.sh"
G="$top_srcdir/tools/guests.sh"
Q="$top_srcdir/tests/integration/qmp.py"
V=$VMSCATTER
at_exit "[ -n '${FAULTS_KEEP:-}' ] || rm -rf '$tmp'"
at_exit "'$T' down $tb"
at_exit "'$G' stop --dir '$tmp/g'"
at_exit "for f in '$tmp'/state*/*/qemu.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; true"
at_exit "for p in \$(cat '$tmp'/*.pid 2>/dev/null); do kill -CONT \$p; kill -9 \$p; done 2>/dev/null; true"
GK=$("$top_srcdir/tools/mkguest.sh")
matrix=()
# make check: one cell per process and per phase, and both link cuts (about
# 6 minutes); FAULTS_ONLY=. (tools/faults-matrix.sh) runs all 29
cells=${FAULTS_ONLY:-'^(seeding/sender|seeding/source QEMU|streaming/receiver|streaming/target QEMU|streaming/link.*|verifying/stream|postmigrate/source QEMU|committing/.*|between/sender)$'}

# status SOCKET: the QEMU's run state ("running", "paused", ...), "" if it does not answer
status() {
	[ -S "$1" ] || return 0
	timeout 2 python3 "$Q" "$1" query-status 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])' 2>/dev/null
}
# qemus N: the pids of every QEMU of guest N (its source and its targets)
qemus() {
	local p
	p=$(cat "$tmp/g/vm$1.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"
	pgrep -f -- "$tmp/state./vm$1/" | while read -r p; do grep -q qemu "/proc/$p/comm" 2>/dev/null && echo "$p"; done
}
# runs PIDFILE QMP SERIAL: the QEMU runs the guest: QMP query-status says
# "running"; if its QMP does not answer (one client at a time: a sender or
# guard may hold it), its console counter goes on
runs() {
	local pid st c
	pid=$(cat "$1" 2>/dev/null) && kill -0 "$pid" 2>/dev/null || return 1
	st=$(status "$2")
	[ -n "$st" ] && { [ "$st" = running ]; return; }
	c=$(counter "$3")
	sleep 2.2
	[ -n "$(counter "$3")" ] && [ "$(counter "$3")" != "$c" ]
}
counter() { grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | tail -n 1 | cut -d' ' -f2; }
# where N: the hosts where guest N runs ("source", "t1", "t2", joined by +), or "lost"
where() {
	local n=$1 at=() t
	runs "$tmp/g/vm$n.pid" "$tmp/g/vm$n.qmp" "$tmp/g/vm$n.serial" && at+=(source)
	for t in 1 2; do
		runs "$tmp/state$t/vm$n/qemu.pid" "$tmp/state$t/vm$n/qmp.sock" "$tmp/state$t/vm$n/vm$n.serial" && at+=(t$t)
	done
	local IFS=+
	echo "${at[*]:-lost}"
}
# left N AT: what is left of guest N besides where it runs (AT): QEMUs, directories
left() {
	local n=$1 at=$2 want=0 t
	[ "$at" = lost ] || want=1
	local nq
	nq=$(qemus "$n" | wc -l)
	[ "$nq" = "$want" ] || { echo "$nq QEMUs of vm$n: $(qemus "$n" | xargs)"; return; }
	for t in 1 2; do
		[ "$at" = t$t ] || [ ! -e "$tmp/state$t/vm$n" ] || { echo "$tmp/state$t/vm$n left"; return; }
	done
}
# settle WANT1 WANT2: within 20 s of the fault, vm1 runs at WANT1 and vm2 at
# WANT2 and nothing else of them is left; sets $got
settle() {
	local i g1 g2 l1 l2
	for i in $(seq 40); do
		g1=$(where 1) g2=$(where 2)
		l1=$(left 1 "$g1") l2=$(left 2 "$g2")
		[ "$g1" = "$1" ] && [ "$g2" = "$2" ] && [ -z "$l1$l2" ] && break
		[ $((SECONDS - t_fault)) -lt 20 ] || break
		sleep 0.5
	done
	got="vm1: $g1${l1:+ ($l1)}, vm2: $g2${l2:+ ($l2)}"
	[ "$g1" = "$1" ] && [ "$g2" = "$2" ] && [ -z "$l1$l2" ]
}

boot() {     # boot N...: fresh guests N on the source
	local n
	for n in "$@"; do
		"$G" start --dir "$tmp/g" --first "$n" --count 1 --mem 128 --dirty 300 --netns $tb-src > /dev/null || return 1
	done
	"$G" wait --dir "$tmp/g" > /dev/null
}
start_receiver() {   # start_receiver I [FAULT]: t_I's receiver, VMS_FAULT=FAULT there
	ip netns exec $tb-t$1 env VMS_FAULT="${2:-}" "$V" receive --listen 0.0.0.0:7000 \
		--state-dir "$tmp/state$1" --name t$1 --tls-creds "$tmp/pki/t$1" --shared-path "$GK" \
		>> "$tmp/recv$1.log" 2>&1 &
	echo $! > "$tmp/recv$1.pid"
}
reset_targets() {    # every target QEMU gone, fresh state dirs and receivers
	local i
	for f in "$tmp"/state*/*/qemu.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
	for i in 1 2; do
		kill -9 "$(cat "$tmp/recv$i.pid" 2>/dev/null)" 2>/dev/null
		ip netns exec $tb-t$i nft delete table inet vmscut 2>/dev/null
	done
	wait 2>/dev/null
	pkill -9 -f -- "$tmp/state./vm" 2>/dev/null
	rm -rf "$tmp"/state1 "$tmp"/state2 "$tmp"/recv?.log
	mkdir -p "$tmp"/state1 "$tmp"/state2
}
send_live() {        # send_live FAULT OPTIONS... VMS: a live send in the background ($spid)
	local fault=$1
	shift
	ip netns exec $tb-src env VMS_FAULT="$fault" "$V" send --live --timeout 60 --tls-creds "$tmp/pki/src" --state-dir "$tmp/source" \
		--plan "$tmp/plan.json" --target t1=10.77.0.11:7000 --target t2=10.77.0.12:7000 "$@" \
		> "$tmp/send.out" 2> "$tmp/send.err" &
	spid=$!
	echo $spid > "$tmp/send.pid"
}
# stopped NS: the pid of the process of namespace NS that stopped itself (waits 60 s)
stopped() {
	local i p
	for i in $(seq 600); do
		for p in $(ip netns pids "$1" 2>/dev/null); do
			[ "$(cut -d' ' -f3 "/proc/$p/stat" 2>/dev/null)" = T ] && { echo "$p"; return 0; }
		done
		kill -0 "$spid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
# stream_of T N: the stream process of guest N on target T (its target QEMU's parent)
stream_of() {
	local q
	q=$(cat "$tmp/state$1/vm$2/qemu.pid" 2>/dev/null) && ps -o ppid= -p "$q" | tr -d ' '
}
cut_link() { # cut_link T: drop every packet in and out of target T
	ip netns exec $tb-t$1 nft add table inet vmscut &&
		ip netns exec $tb-t$1 nft add chain inet vmscut in '{ type filter hook input priority -10 ; }' &&
		ip netns exec $tb-t$1 nft add chain inet vmscut out '{ type filter hook output priority -10 ; }' &&
		ip netns exec $tb-t$1 nft add rule inet vmscut in drop &&
		ip netns exec $tb-t$1 nft add rule inet vmscut out drop
}
restore_link() { ip netns exec $tb-t$1 nft delete table inet vmscut; }

# new_move: the guests still on the source (and a fresh one for a lost
# guest) move to their targets, with --keep-source: each then runs on its
# target, its source stays paused; then the target is removed and the source
# resumed for the next cell. What moved in the fault is removed first (its
# guest is booted again on the source by the next cell).
new_move() {
	local n vms=() ns=() moved=() t
	for n in 1 2; do
		case "$(where $n)" in
		source) vms+=("$tmp/g/vm$n.qmp") ns+=("$n") ;;
		lost) boot "$n" && vms+=("$tmp/g/vm$n.qmp") ns+=("$n") ;;
		t*) moved+=("$n") ;;
		esac
	done
	for n in "${moved[@]}"; do
		pkill -9 -f -- "$tmp/state./vm$n/" 2>/dev/null
		sleep 0.2
		rm -rf "$tmp"/state?/vm"$n"
	done
	[ ${#vms[@]} -gt 0 ] || return 0
	local rc=0
	for t in 1 2; do kill -0 "$(cat "$tmp/recv$t.pid")" 2>/dev/null || start_receiver $t; done
	sleep 0.3
	python3 -c 'import json, sys; print(json.dumps({"assignment": {"vm" + n: "t" + n for n in sys.argv[1:]}}))' \
		"${ns[@]}" > "$tmp/plan-new.json"
	ip netns exec $tb-src "$V" send --live --verify --keep-source --quiet --timeout 60 --tls-creds "$tmp/pki/src" --state-dir "$tmp/source" \
		--plan "$tmp/plan-new.json" --target t1=10.77.0.11:7000 --target t2=10.77.0.12:7000 "${vms[@]}" \
		> /dev/null 2> "$tmp/new.err" || { diag "new move: $(tail -n 2 "$tmp/new.err")"; rc=1; }
	for n in "${ns[@]}"; do
		local w i
		for i in $(seq 10); do
			[ $rc = 0 ] || break
			w=$(where "$n")
			[ "$w" = t$n ] && break
			sleep 0.5
		done
		[ $rc != 0 ] || [ "$w" = t$n ] || { diag "new move: vm$n runs at $w"; rc=1; }
		pkill -9 -f -- "$tmp/state./vm$n/" 2>/dev/null
		sleep 0.2
		python3 "$Q" "$tmp/g/vm$n.qmp" cont > /dev/null
	done
	return $rc
}

# cell NAME PHASE WHO PIN_NS PIN_FAULT(sender|tI) ACTION WANT1 WANT2 [SEND_OPTIONS...]
#   PIN_FAULT: the VMS_FAULT of the pinned process; ACTION: run once it stopped
cell() {
	local phase=$1 who=$2 where_pin=$3 fault=$4 action=$5 want1=$6 want2=$7 pid rc=0 moved=0
	shift 7
	if ! [[ "$phase/$who" =~ $cells ]]; then
		ok 0 "$phase, $who # SKIP not in this run (tools/faults-matrix.sh runs every cell)"
		ok 0 "$phase, $who # SKIP not in this run (tools/faults-matrix.sh runs every cell)"
		return
	fi
	reset_targets
	local missing=()
	for n in 1 2; do
		kill -0 "$(cat "$tmp/g/vm$n.pid" 2>/dev/null)" 2>/dev/null || { missing+=("$n"); continue; }
		[ "$(status "$tmp/g/vm$n.qmp")" = running ] || python3 "$Q" "$tmp/g/vm$n.qmp" cont > /dev/null 2>&1
	done
	[ ${#missing[@]} = 0 ] || boot "${missing[@]}"
	# --verify (its repair) but in the postmigrate column, which measures the
	# commit without it: TCG's dirty tracking misses writes now and then, and
	# a guest moved without the repair then panicked on its target (seen 3
	# times in about 35 moves under load)
	if [ "$phase" = postmigrate ]; then set -- --no-verify "$@"; else set -- --verify "$@"; fi
	if [ "$where_pin" = sender ]; then
		start_receiver 1; start_receiver 2 "$hold_t2"
		sleep 0.3
		send_live "$fault" --parallel 1 "$@" "$tmp"/g/vm{1,2}.qmp
		pid=$(stopped $tb-src)
	else
		local i=${where_pin#t}
		start_receiver "$i" "$fault"; start_receiver $((3 - i))
		sleep 0.3
		send_live "" --parallel 1 "$@" "$tmp"/g/vm{1,2}.qmp
		pid=$(stopped $tb-$where_pin)
	fi
	if [ -z "$pid" ]; then
		diag "$phase/$who: nothing stopped at $fault: $(tail -n 3 "$tmp/send.err")"
		rc=1
	else
		echo "$pid" > "$tmp/pin.pid"
		$action "$pid" || { diag "$phase/$who: the action failed"; rc=1; }
		t_fault=$SECONDS
		kill -CONT "$pid" 2>/dev/null
		[ -z "$hold_t2" ] || kill -CONT $(ip netns pids $tb-t2) 2>/dev/null
	fi
	[ $rc = 0 ] && settle "$want1" "$want2" || rc=1
	[ $rc = 0 ] || diag "$phase/$who: sender: $(tail -n 3 "$tmp/send.err" | tr '\n' '|')"
	ok $rc "$phase, $who: within 20 s $got (expected vm1: $want1, vm2: $want2)"
	local res=$rc
	# the sender ends (a guard may still wait for a receiver that died)
	for i in $(seq 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.2; done
	kill -0 "$spid" 2>/dev/null && { diag "$phase/$who: the sender still runs"; kill -9 "$spid"; }
	wait "$spid" 2>/dev/null
	if [ $res != 0 ]; then
		diag "$phase/$who: t1: $(tail -n 4 "$tmp/recv1.log" | tr '\n' '|') t2: $(tail -n 4 "$tmp/recv2.log" | tr '\n' '|')"
		for f in "$tmp"/state?/vm?/qemu.log "$tmp"/state?/vm?/vm?.serial; do
			[ -f "$f" ] && diag "$f: $(tail -c 300 "$f" | tr '\n' '|')"
		done
	fi
	# (a receiver started with a fault point would stop the new move too: started again without it)
	local rt rp
	for rt in 1 2; do
		[ "$where_pin" = t$rt ] || { [ $rt = 2 ] && [ -n "$hold_t2" ]; } || continue
		rp=$(cat "$tmp/recv$rt.pid")
		kill -9 "$rp" 2>/dev/null
		wait "$rp" 2>/dev/null
	done
	new_move
	ok $? "$phase, $who: a new move of the guests left on the source succeeds"
	[ $? = 0 ] || res=1
	matrix+=("$(printf '%-13s %-14s %-4s %s' "$phase" "$who" "$([ $res = 0 ] && echo ok || echo FAIL)" "$got")")
}

# victims (ACTION PID: PID is the stopped process)
kill_sender() { kill -9 "$spid"; }
# (a receiver's stream processes end at its death, shortly after it: waited
# for, so the sender goes on only once they are gone)
kill_recv() {
	local s i
	s=$(stream_of "$victim_t" "$victim_vm")
	kill -9 "$(cat "$tmp/recv$victim_t.pid")" || return 1
	for i in $(seq 50); do [ -n "$s" ] && kill -0 "$s" 2>/dev/null || break; sleep 0.1; done
}
kill_stream() { local s; s=$(stream_of "$victim_t" "$victim_vm"); [ -n "$s" ] && kill -9 "$s"; }
kill_src_qemu() { kill -9 "$(cat "$tmp/g/vm$victim_vm.pid")"; }
kill_tgt_qemu() { local f="$tmp/state$victim_t/vm$victim_vm/qemu.pid"; [ -f "$f" ] && kill -9 "$(cat "$f")"; }
cut_hold() { cut_link "$victim_t" && kill -CONT "$1" && sleep 5 && restore_link "$victim_t"; }

"$T" up $tb --targets 2 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null &&
	mkdir -p "$tmp/g" && boot 1 2 && [ "$(where 1)" = source ] && [ "$(where 2)" = source ]
need $? "testbed with 2 targets, 2 guests running on the source"
echo '{"assignment": {"vm1": "t1", "vm2": "t2"}}' > "$tmp/plan.json"
victim_t=1 victim_vm=1 hold_t2=""

# --- seeding: the sender stopped after the first multicast group began ---------------
cell seeding sender sender sender:seeding=stop kill_sender source source
cell seeding receiver sender sender:seeding=stop kill_recv source source
cell seeding "source QEMU" sender sender:seeding=stop kill_src_qemu lost source
# (streams overlap the seeding, but no fault point holds vm1's stream process or
# target QEMU there for sure: what their death does is the streaming cells')

# --- streaming: vm1's stream process on t1 stopped after 1 MiB of stream ---------------
cell streaming sender t1 stream:mid=stop kill_sender source source
cell streaming receiver t1 stream:mid=stop kill_recv source t2
cell streaming stream t1 stream:mid=stop kill_stream source t2
cell streaming "source QEMU" t1 stream:mid=stop kill_src_qemu lost t2
cell streaming "target QEMU" t1 stream:mid=stop kill_tgt_qemu source t2
cell streaming "link cut 5 s" t1 stream:mid=stop cut_hold t1 t2

# --- postmigrate: vm1's source completed (paused), the sender stopped before SEND ------
cell postmigrate sender sender sender:postmigrate=stop kill_sender source source
cell postmigrate receiver sender sender:postmigrate=stop kill_recv source t2
cell postmigrate stream sender sender:postmigrate=stop kill_stream source t2
cell postmigrate "source QEMU" sender sender:postmigrate=stop kill_src_qemu t1 t2
cell postmigrate "target QEMU" sender sender:postmigrate=stop kill_tgt_qemu source t2

# --- verification: vm1 loaded on t1, --verify, the sender stopped before VERIFY ---------
cell verifying sender sender sender:verifying=stop kill_sender source source
cell verifying receiver sender sender:verifying=stop kill_recv source t2
cell verifying stream sender sender:verifying=stop kill_stream source t2
cell verifying "source QEMU" sender sender:verifying=stop kill_src_qemu t1 t2
# the same under --atomic: vm1's source is gone, so vm1 commits whatever the
# rack decides (its target holds the only copy)
cell verifying "source QEMU, --atomic" sender sender:verifying=stop kill_src_qemu t1 t2 --atomic
cell verifying "target QEMU" sender sender:verifying=stop kill_tgt_qemu source t2

# --- committing: vm1's stream process on t1 resumed the target, before RUNNING ----------
cell committing "link cut 5 s" t1 receiver:committed=stop cut_hold t1 t2
# (the sender never hears RUNNING: vm1's guard must get the source's monitor,
# which the sender still held while vm2 went on, and learn "committed")
cell committing stream t1 receiver:committed=stop kill_stream t1 t2
# (killed after the target guard got "c", before the marker went and the
# journal said committed: the session settles STATE/NAME/ only under the
# guard's lock - the target runs, so committed - and vm1's guard, asking,
# quits the source; before, the directory was removed under the running
# target and OUTCOME said rolled back: the guest ran on both hosts)
cell committing "stream, released" t1 receiver:released=stop kill_stream t1 t2
# (killed after `cont`, before the guard's "c": the guard kills the running
# target and holds its lock until it is gone; only then is it settled:
# rolled back, and the source resumes)
cell committing "stream, resumed" t1 receiver:resumed=stop kill_stream source t2

# --- between two commits: vm1 committed (its source quit), vm2 held mid-stream -----------
# (t2's stream process stops at stream:mid too, so vm2 cannot commit first)
victim_t=2 victim_vm=2 hold_t2=stream:mid=stop
cell between sender sender sender:commit-between=stop kill_sender t1 source
cell between receiver sender sender:commit-between=stop kill_recv t1 source
cell between stream sender sender:commit-between=stop kill_stream t1 source
cell between "source QEMU" sender sender:commit-between=stop kill_src_qemu t1 lost
cell between "target QEMU" sender sender:commit-between=stop kill_tgt_qemu t1 source

reset_targets
"$T" down $tb && ! ip netns list | grep -q "^$tb-"
need $? "removing the testbed"

{
	echo "# fault matrix (vm1 -> t1 is the VM the fault hits; between two commits: vm2 -> t2)"
	printf '# %-13s %-14s %-4s %s\n' phase killed/cut result "where each guest runs after it, what is left"
	for m in "${matrix[@]}"; do echo "# $m"; done
	echo "# not pinned: seeding x stream process, seeding x target QEMU (streams overlap the seeding, but no fault point holds one there for sure; see the streaming cells)"
} >&2
