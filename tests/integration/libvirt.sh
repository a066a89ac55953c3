#!/bin/bash
# libvirt.sh - `vmscatter send --live --libvirt` on a libvirt rack: a source
# and two targets, each a network + mount + UTS namespace with a libvirtd of
# its own (tools/lvrack.sh on tools/testbed.sh), 4 TCG domains defined from
# XML on the source. Checked: a domain that does not exist and a target
# libvirt that cannot be reached are clear errors; with dom3 going to t1 and
# dom4 to t2, t1's receiver killed mid-stream leaves dom3 running and
# counting on its source, with libvirt reporting the failed job and no dom3
# on t1, while dom4 moves to t2 all the same; then dom1..dom3 scatter live to
# both targets, every page verified, each guest counting on from where it
# stopped, the sources shut off, the targets running (--atomic and the same
# kill first: both domains stay on the source); nothing is left running.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (namespaces)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
command -v libvirtd >/dev/null || skip_all "libvirtd not installed (tools/install-deps.sh)"

plan 15
tb=lv$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-libvirt.XXXXXX)
T="$top_srcdir/tools/testbed.sh"
L="$top_srcdir/tools/lvrack.sh"
V=$VMSCATTER
GK=$("$top_srcdir/tools/mkguest.sh")
at_exit "rm -rf '$tmp'"
at_exit "'$T' down $tb"
at_exit "'$L' down $tb '$tmp/lv'"
at_exit "for f in '$tmp'/recv?.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; true"

host() { "$L" run $tb "$tmp/lv" "$@"; }
virsh_on() { local h=$1; shift; host "$h" virsh -q -c qemu:///system "$@"; }
counter() {   # counter FILE first|last: a guest's console counter
	grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | { if [ "$2" = first ]; then head -n 1; else tail -n 1; fi; } |
		cut -d' ' -f2
}
serial() { echo "$tmp/lv/$1/log/$2.serial"; }   # serial HOST DOMAIN
domain_xml() {
	cat <<-EOF
	<domain type='qemu'><name>$1</name><memory unit='MiB'>128</memory><vcpu>1</vcpu>
	  <os><type arch='x86_64' machine='pc'>hvm</type>
	    <kernel>$GK/vmlinuz</kernel><initrd>$GK/initrd.img</initrd>
	    <cmdline>console=ttyS0 quiet panic=-1 vms.dirty=300 vms.mib=16</cmdline></os>
	  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <serial type='file'><source path='/var/log/libvirt/$1.serial' append='on'/><target port='0'/></serial>
	    <memballoon model='none'/></devices></domain>
	EOF
}
# counting HOST DOMAIN...: each domain's guest counts on HOST
counting() {
	local h=$1 d before=()
	shift
	for d in "$@"; do before+=("$(counter "$(serial "$h" "$d")" last)"); done
	sleep 2.5
	local i=0
	for d in "$@"; do
		local now
		now=$(counter "$(serial "$h" "$d")" last)
		[ -n "$now" ] && [ "$now" -gt "${before[i]:-0}" ] || { diag "$d on $h: counter ${before[i]} -> $now"; return 1; }
		i=$((i + 1))
	done
}
start_receivers() {
	for i in 1 2; do
		rm -rf "$tmp/state$i"
		mkdir -p "$tmp/state$i"
		(exec "$L" run $tb "$tmp/lv" t$i "$V" receive --listen 0.0.0.0:7000 --state-dir "$tmp/state$i" \
			--name t$i --once --tls-creds "$tmp/pki/t$i") > "$tmp/recv$i.log" 2>&1 &
		echo $! > "$tmp/recv$i.pid"
	done
	sleep 0.5
}
lv_target() { echo "t$1=10.77.0.1$1:7000:2,libvirt=qemu+tcp://10.77.0.1$1/system"; }
send_lv() {
	host src "$V" send --live --libvirt qemu:///system --timeout 60 --tls-creds "$tmp/pki/src" \
		--state-dir "$tmp/source" "$@"
}

mkdir -p "$tmp/lv"
"$T" up $tb --targets 2 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null && "$L" up $tb "$tmp/lv"
need $? "testbed with 2 targets, TLS credentials, a libvirtd in each host's namespaces"
for d in dom1 dom2 dom3 dom4; do
	domain_xml $d > "$tmp/$d.xml"
	virsh_on src define "$tmp/$d.xml" > /dev/null && virsh_on src start $d > /dev/null || need 1 "define and start $d"
done
for _ in $(seq 1 300); do
	n=0
	for d in dom1 dom2 dom3 dom4; do [ -n "$(counter "$(serial src $d)" last)" ] && n=$((n + 1)); done
	[ $n = 4 ] && break
	sleep 0.2
done
counting src dom1 dom2 dom3 dom4
need $? "4 TCG domains counting on the source"

# --- clear errors -------------------------------------------------------------------
expect_fail 1 "libvirt qemu:///system has no domain 'nosuch'" \
	send_lv --target "$(lv_target 1)" dom1 nosuch
ok $? "a domain that does not exist: $(cat "$tmp/expect.err" | tail -n 1)"
expect_fail 1 "target t2: libvirt qemu\+tcp://10.77.0.12:16599/system cannot be reached" \
	send_lv --target "$(lv_target 1)" --target t2=10.77.0.12:7000,libvirt=qemu+tcp://10.77.0.12:16599/system dom1
ok $? "a target libvirt that cannot be reached: $(cat "$tmp/expect.err" | tail -n 1)"
expect_fail 2 "--libvirt needs --live" \
	host src "$V" send --libvirt qemu:///system --insecure --target "$(lv_target 1)" dom1
ok $? "--libvirt without --live is a usage error"

# --- a receiver killed mid-stream: its domain stays on its source, the other moves
start_receivers
echo '{"assignment": {"dom3": "t1", "dom4": "t2"}}' > "$tmp/plan.json"
send_lv --bandwidth 8 --plan "$tmp/plan.json" --target "$(lv_target 1)" --target "$(lv_target 2)" dom3 dom4 \
	> "$tmp/kill.out" 2> "$tmp/kill.err" &
spid=$!
until grep -q "connected to the target QEMU" "$tmp/recv1.log" 2>/dev/null || ! kill -0 $spid 2>/dev/null; do sleep 0.05; done
sleep 1
kill -9 "$(cat "$tmp/recv1.pid")"      # (its stream process gets SIGTERM: PR_SET_PDEATHSIG)
wait $spid
rc=$?
[ $rc -ne 0 ] && grep -q "1 of 2 VMs moved" "$tmp/kill.err" && grep -q "dom3: .*libvirt: " "$tmp/kill.err"
ok $? "t1's receiver killed mid-stream: send fails, dom3 rolled back with libvirt's word, dom4 moved (exit $rc): $(tail -n 1 "$tmp/kill.err" | head -c 300)"
[ "$(virsh_on src domstate dom3)" = running ] && counting src dom3
ok $? "dom3 still runs and counts on its source"
# (libvirt 9.0 keeps no completed-job statistics for a failed migration:
# `virsh domjobinfo --completed` says None; its error and its log say it)
grep -q "error : .*job 'migration out' failed" "$tmp/lv/src/log/libvirtd.log" &&
	grep -q "libvirt: operation failed: job 'migration out' failed" "$tmp/kill.err"
ok $? "the source's libvirt reports dom3's migration job failed (its API error and its log)"
! virsh_on t1 list --all --name | grep -qx dom3
ok $? "no dom3 on t1"
[ "$(virsh_on src domstate dom4)" = "shut off" ] && [ "$(virsh_on t2 domstate dom4)" = running ] && counting t2 dom4
ok $? "dom4 moved to t2 all the same: shut off on the source, running and counting on t2"
virsh_on t2 destroy dom4 > /dev/null

# --- --atomic: the same kill rolls every domain back ---------------------------------
kill -9 "$(cat "$tmp/recv2.pid")" 2>/dev/null   # (--once: t2's ended with its session, t1's was killed)
wait 2>/dev/null
start_receivers
echo '{"assignment": {"dom1": "t1", "dom2": "t2"}}' > "$tmp/plan.json"
send_lv --atomic --bandwidth 8 --plan "$tmp/plan.json" --target "$(lv_target 1)" --target "$(lv_target 2)" \
	dom1 dom2 > "$tmp/atomic.out" 2> "$tmp/atomic.err" &
spid=$!
until grep -q "connected to the target QEMU" "$tmp/recv1.log" 2>/dev/null || ! kill -0 $spid 2>/dev/null; do sleep 0.05; done
sleep 1
kill -9 "$(cat "$tmp/recv1.pid")"
wait $spid
rc=$?
[ $rc -ne 0 ] && grep -q "rolled back, every guest runs on its source" "$tmp/atomic.err"
ok $? "--atomic, t1's receiver killed mid-stream: send fails and rolls both domains back (exit $rc): $(tail -n 1 "$tmp/atomic.err" | head -c 300)"
[ "$(virsh_on src domstate dom1)" = running ] && [ "$(virsh_on src domstate dom2)" = running ] &&
	counting src dom1 dom2 && ! virsh_on t1 list --all --name | grep -qx dom1 &&
	! virsh_on t2 list --all --name | grep -qx dom2
ok $? "dom1 and dom2 run and count on the source, neither is on a target"

# --- success: 3 domains scattered to 2 targets, verified ---------------------------
kill -9 "$(cat "$tmp/recv2.pid")" 2>/dev/null
wait 2>/dev/null
start_receivers
send_lv --verify --target "$(lv_target 1)" --target "$(lv_target 2)" dom1 dom2 dom3 \
	> "$tmp/ok.out" 2> "$tmp/ok.err"
rc=$?
[ $rc = 0 ] || cat "$tmp/ok.err" "$tmp"/recv?.log >&2
ok $rc "3 domains scattered live to 2 targets"
[ "$(grep -cE '^dom[123] .* ok$' "$tmp/ok.out")" = 3 ] && [ "$(grep -cE '^dom[123] .* completed ' "$tmp/ok.out")" = 3 ]
ok $? "every page of every domain verified; libvirt reports each job completed"
diag "$(grep -A4 '^domain' "$tmp/ok.out")"
good=0
for d in dom1 dom2 dom3; do
	t=$(awk -v d=$d '$1 == d && $3 == "completed" { print $2 }' "$tmp/ok.out")
	s=$(counter "$(serial src $d)" last)
	[ "$(virsh_on src domstate $d)" = "shut off" ] && [ -n "$t" ] && [ "$(virsh_on "$t" domstate $d)" = running ] ||
		{ diag "$d: source $(virsh_on src domstate $d), target ${t:-?}"; continue; }
	sleep 1.5
	f=$(counter "$(serial "$t" $d)" first)
	n=$(counter "$(serial "$t" $d)" last)
	[ -n "$s" ] && [ -n "$f" ] && [ "$f" -ge "$s" ] && [ "$f" -le $((s + 3)) ] && [ "$n" -gt "$f" ] &&
		good=$((good + 1)) || diag "$d: source stopped at $s, $t: $f -> $n"
done
[ $good = 3 ]
ok $? "sources shut off, targets running, each guest counts on from where it stopped"
t1n=$(virsh_on t1 list --name | grep -c .)
t2n=$(virsh_on t2 list --name | grep -c .)
[ "$t1n" -ge 1 ] && [ "$t2n" -ge 1 ] && [ $((t1n + t2n)) = 3 ]
ok $? "both targets run domains ($t1n on t1, $t2n on t2)"
wait 2>/dev/null

# --- nothing left running ------------------------------------------------------------
pids=$("$L" pids $tb "$tmp/lv")
"$L" down $tb "$tmp/lv"
"$T" down $tb
left=""
for p in $pids $(cat "$tmp"/recv?.pid); do kill -0 "$p" 2>/dev/null && left="$left $p"; done
diag "libvirtds and QEMUs that ran: $(echo $pids)"
[ -n "$pids" ] && [ -z "$left" ] && ! ip netns list | grep -q "^$tb-"
ok $? "nothing left running (libvirtd, QEMU, receivers) and no namespace left"
