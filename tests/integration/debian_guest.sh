#!/bin/bash
# debian_guest.sh - the Debian userland guests (tools/mkdebian.sh, tools/guests.sh
# --kind debian): the image is built once and cached, has no .deb cache nor apt
# lists, two guests of one family boot from the same read-only root, reach
# their workload's steady state and count; `vmscatter send --live` moves them
# to two targets (the receivers allow the image's directory with
# --shared-path) and they go on counting there from where their sources
# stopped; wait reports a workload that failed in the guest. The first run
# builds the image (debootstrap from the Debian mirror apt uses, 1-2 min);
# VMSCATTER_SKIP_DEBIAN=1 skips this test.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (debootstrap, network namespaces)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"
command -v debootstrap >/dev/null || skip_all "debootstrap not installed (tools/install-deps.sh)"
[ "${VMSCATTER_SKIP_DEBIAN:-0}" = 1 ] && skip_all "VMSCATTER_SKIP_DEBIAN=1"

plan 11
tb=dg$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-debian.XXXXXX)
T="$top_srcdir/tools/testbed.sh"
G="$top_srcdir/tools/guests.sh"
M="$top_srcdir/tools/mkdebian.sh"
V=$VMSCATTER
at_exit "rm -rf '$tmp'"
at_exit "'$T' down $tb"
at_exit "'$G' stop --dir '$tmp/g'"
at_exit "'$G' stop --dir '$tmp/w'"
at_exit "for f in '$tmp'/state*/*/qemu.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; true"
counter() {   # counter FILE first|last: a guest's console counter
	grep -ao 'vmscatter-counter [0-9]*' "$1" 2>/dev/null | { if [ "$2" = first ]; then head -n 1; else tail -n 1; fi; } |
		cut -d' ' -f2
}

"$M" --family base > "$tmp/paths" 2> "$tmp/mkdebian.err"
ok $? "mkdebian.sh builds (or finds) the base image"
{ read -r kern; read -r ird; read -r rootfs; } < "$tmp/paths"
img=$(dirname "$rootfs")
[ -f "$kern" ] && [ -f "$ird" ] && [ -f "$rootfs" ] && [ "$(dirname "$kern")" = "$img" ] && [ "$(dirname "$ird")" = "$img" ]
ok $? "it prints kernel, initramfs and root image, in one directory"
s0=$SECONDS
[ "$("$M" --family base)" = "$(cat "$tmp/paths")" ] && [ $((SECONDS - s0)) -le 10 ]
ok $? "a second call finds the cached image ($((SECONDS - s0)) s)"

debugfs -R 'ls -p /var/cache/apt/archives' "$rootfs" 2>/dev/null | grep -q '\.deb/' && diag "a .deb is left"
debugfs -R 'ls -p /var/lib/apt/lists' "$rootfs" 2>/dev/null | grep -q '_Packages' && diag "apt lists are left"
! debugfs -R 'ls -p /var/cache/apt/archives' "$rootfs" 2>/dev/null | grep -q '\.deb/' &&
	! debugfs -R 'ls -p /var/lib/apt/lists' "$rootfs" 2>/dev/null | grep -q '_Packages' &&
	debugfs -R 'stat /usr/bin/python3' "$rootfs" 2>/dev/null | grep -q 'Type: symlink' &&
	debugfs -R 'stat /usr/local/sbin/vms-init' "$rootfs" 2>/dev/null | grep -q 'Type: regular'
ok $? "the root image has python3 and vms-init, no .deb cache, no apt lists"

expect_fail 1 "unknown family 'nope'" "$M" --family nope &&
	expect_fail 1 "for --kind debian" "$G" start --dir "$tmp/x" --family web
ok $? "an unknown family, and --family without --kind debian, are refused"

"$T" up $tb --targets 2 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null &&
	"$G" start --dir "$tmp/g" --count 2 --mem 384 --dirty 200 --kind debian --netns $tb-src &&
	"$G" wait --dir "$tmp/g" --timeout 400
ok $? "2 Debian guests boot in the source namespace and reach steady state"
grep -a 'vmscatter-guest:' "$tmp"/g/vm*.serial | sed 's/^/# /' >&2

good=0
for i in 1 2; do
	grep -q 'vmscatter-guest: up (kind=debian family=base' "$tmp/g/vm$i.serial" &&
		grep -q 'vmscatter-guest: steady (workload=cache,python,churn,' "$tmp/g/vm$i.serial" &&
		tr '\0' ' ' < "/proc/$(cat "$tmp/g/vm$i.pid")/cmdline" | grep -q -- "-drive file=$rootfs,if=virtio,format=raw,readonly=on" &&
		good=$((good + 1))
done
[ $good = 2 ]
ok $? "both run the base workload from the same read-only root image"

for i in 1 2; do
	mkdir -p "$tmp/state$i"
	ip netns exec $tb-t$i "$V" receive --listen 0.0.0.0:7000 --state-dir "$tmp/state$i" --name t$i --once \
		--shared-path "$img" --tls-creds "$tmp/pki/t$i" > "$tmp/recv$i.log" 2>&1 &
done
sleep 0.5
spids=("$(cat "$tmp/g/vm1.pid")" "$(cat "$tmp/g/vm2.pid")")   # QEMU removes its pidfile when it ends
ip netns exec $tb-src "$V" send --live --verify --timeout 120 --tls-creds "$tmp/pki/src" --state-dir "$tmp/source" \
	--target t1=10.77.0.11:7000:1 --target t2=10.77.0.12:7000:1 "$tmp"/g/vm{1,2}.qmp > "$tmp/send.out" 2> "$tmp/send.err"
rc=$?
[ $rc = 0 ] || sed 's/^/# /' "$tmp/send.err" >&2
ok $rc "vmscatter send --live moves both to two targets"
wait

moved=0
for i in 1 2; do
	s=$(ls "$tmp"/state*/vm$i/vm$i.serial 2>/dev/null | head -n 1)
	last=$(counter "$tmp/g/vm$i.serial" last)
	for _ in $(seq 60); do   # up to 30 s: a loaded host resumes slowly
		first=$(counter "$s" first)
		now=$(counter "$s" last)
		[ -n "$first" ] && [ "$now" -gt "$first" ] && break
		sleep 0.5
	done
	if [ -n "$s" ] && [ -n "$last" ] && [ -n "$first" ] && [ "$first" -ge "$last" ] && [ "$first" -le $((last + 3)) ] &&
		[ "$now" -gt "$first" ]; then
		moved=$((moved + 1))
	else
		diag "vm$i: source stopped at $last, target ${s:-none} $first -> $now"
		diag "vm$i on its target: $(python3 "$top_srcdir/tests/integration/qmp.py" "$(dirname "$s")/qmp.sock" query-status 2>&1)"
		diag "vm$i target console: $(tail -c 400 "$s" | tr -d '\0' | tr '\n' '|')"
		diag "send: $(tr '\n' '|' < "$tmp/send.err" | tail -c 1500)"
	fi
done
[ $moved = 2 ]
ok $? "both go on counting on their targets from where their sources stopped"
gone=0          # (ended: no /proc entry, or a zombie init has not reaped yet)
for p in "${spids[@]}"; do
	st=$(sed 's/.*) //' "/proc/$p/stat" 2>/dev/null | cut -d' ' -f1)
	[ -z "$st" ] || [ "$st" = Z ] && gone=$((gone + 1))
done
[ $gone = 2 ]
ok $? "the source QEMUs are gone"

# a workload part that cannot run (no nginx in the base family): wait says so
"$G" start --dir "$tmp/w" --count 1 --mem 256 --kind debian --workload web &&
	expect_fail 1 "vm1: vmscatter-guest: failed: workload part web" "$G" wait --dir "$tmp/w" --timeout 300
ok $? "wait reports a workload part that failed in the guest"
