#!/bin/bash
# bench-libvirt.sh - one libvirt rack (tools/lvrack.sh: a source and M targets,
# each with its own libvirtd) moved three ways in one run, each from freshly
# booted domains placed the same way (domain i to target (i mod M) + 1):
#   virsh     `virsh migrate --live --p2p` of every domain at once (TCP
#             migrate URI straight to the target)
#   compress  the same with the strongest compression libvirt 9.0 offers QEMU
#             7.2 here: --compressed --comp-methods mt,xbzrle --comp-mt-level 9
#             (libvirt 9.0 takes only mt and xbzrle as --comp-methods)
#   vmscatter `vmscatter send --live --libvirt` (TLS, sealed multicast, the
#             default compressor, --no-verify like the others)
# Printed per way: bytes the targets received and the source sent (interface
# counters), wall time, and libvirt's downtime per domain
# (`virsh domjobinfo --completed`).
#
#   tools/bench-libvirt.sh [--domains N] [--mem MIB] [--targets M] [--rate 1gbit] [--dirty PAGES/S]
# VMSCATTER=PATH uses that binary (default: tools/build.sh's release build).
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
doms=3 mem=128 targets=2 rate="" dirty=300
while [ $# -gt 0 ]; do
	case "$1" in
	--domains) doms=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--targets) targets=$2; shift 2 ;;
	--rate) rate=$2; shift 2 ;;
	--dirty) dirty=$2; shift 2 ;;
	*) echo "bench-libvirt: unknown option $1" >&2; exit 2 ;;
	esac
done
V=${VMSCATTER:-$("$top/tools/build.sh")/vmscatter}
T=$top/tools/testbed.sh
L=$top/tools/lvrack.sh
GK=$("$top/tools/mkguest.sh")
tb=bl$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-bench-libvirt.XXXXXX)
cleanup() {
	for f in "$tmp"/recv?.pid; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true; done
	"$L" down $tb "$tmp/lv" || true
	"$T" down $tb || true
	rm -rf "$tmp"
}
trap cleanup EXIT
host() { "$L" run $tb "$tmp/lv" "$@"; }
virsh_on() { local h=$1; shift; host "$h" virsh -q -c qemu:///system "$@"; }
target_of() { echo "t$(( ($1 - 1) % targets + 1 ))"; }
ip_of() { echo "10.77.0.$((10 + ${1#t}))"; }

rateopt=()
[ -z "$rate" ] || rateopt=(--rate "$rate")
mkdir -p "$tmp/lv"
"$T" up $tb --targets "$targets" "${rateopt[@]}" > /dev/null
"$T" pki $tb "$tmp/pki" > /dev/null
"$L" up $tb "$tmp/lv"
for i in $(seq 1 "$doms"); do
	cat > "$tmp/dom$i.xml" <<-EOF
	<domain type='qemu'><name>dom$i</name><memory unit='MiB'>$mem</memory><vcpu>1</vcpu>
	  <os><type arch='x86_64' machine='pc'>hvm</type>
	    <kernel>$GK/vmlinuz</kernel><initrd>$GK/initrd.img</initrd>
	    <cmdline>console=ttyS0 quiet panic=-1 vms.dirty=$dirty vms.mib=16</cmdline></os>
	  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator>
	    <serial type='file'><source path='/var/log/libvirt/dom$i.serial' append='on'/><target port='0'/></serial>
	    <memballoon model='none'/></devices></domain>
	EOF
	virsh_on src define "$tmp/dom$i.xml" > /dev/null
done

# fresh domains on the source, all counting
boot() {
	local i t
	for i in $(seq 1 "$doms"); do
		t=$(target_of "$i")
		virsh_on "$t" destroy dom$i > /dev/null 2>&1 || true
		virsh_on "$t" undefine dom$i > /dev/null 2>&1 || true
		virsh_on src destroy dom$i > /dev/null 2>&1 || true
		: > "$tmp/lv/src/log/dom$i.serial"
		virsh_on src start dom$i > /dev/null
	done
	for _ in $(seq 1 600); do
		local n=0
		for i in $(seq 1 "$doms"); do grep -aq 'vmscatter-counter' "$tmp/lv/src/log/dom$i.serial" && n=$((n + 1)); done
		[ "$n" = "$doms" ] && break
		sleep 0.2
	done
	sleep 3
}
counters() { "$T" counters $tb | awk '$1 == "src" { tx = $3 } $1 ~ /^t/ { rx += $2 } END { print rx + 0, tx + 0 }'; }

run_virsh() {   # run_virsh EXTRA-OPTIONS...
	local i t pids=()
	for i in $(seq 1 "$doms"); do
		t=$(target_of "$i")
		host src virsh -q -c qemu:///system migrate --live --p2p "$@" dom$i "qemu+tcp://$(ip_of "$t")/system" \
			--migrateuri "tcp://$(ip_of "$t")" > "$tmp/virsh$i.log" 2>&1 &
		pids+=($!)
	done
	local rc=0
	for p in "${pids[@]}"; do wait "$p" || rc=1; done
	return $rc
}
run_vmscatter() {
	local i targs=() plan="{\"assignment\": {"
	for i in $(seq 1 "$targets"); do
		mkdir -p "$tmp/state$i"
		(exec "$L" run $tb "$tmp/lv" t$i "$V" receive --listen 0.0.0.0:7000 --state-dir "$tmp/state$i" --name t$i \
			--once --quiet --tls-creds "$tmp/pki/t$i") > "$tmp/recv$i.log" 2>&1 &
		echo $! > "$tmp/recv$i.pid"
		targs+=(--target "t$i=$(ip_of t$i):7000,libvirt=qemu+tcp://$(ip_of t$i)/system")
	done
	for i in $(seq 1 "$doms"); do plan="$plan\"dom$i\": \"$(target_of "$i")\"$([ "$i" = "$doms" ] || echo ,)"; done
	echo "$plan}}" > "$tmp/plan.json"
	sleep 0.5
	host src "$V" send --live --libvirt qemu:///system --no-verify --quiet --plan "$tmp/plan.json" \
		--tls-creds "$tmp/pki/src" --state-dir "$tmp/source" "${targs[@]}" \
		$(seq -f 'dom%g' 1 "$doms") > "$tmp/vmscatter.out" 2> "$tmp/vmscatter.err"
}

printf '%-10s %12s %12s %9s  %s\n' "way" "targets MiB" "source MiB" "wall s" "libvirt downtime per domain (ms)"
for way in virsh compress vmscatter; do
	boot
	read -r rx0 tx0 < <(counters)
	t0=$(date +%s.%N)
	case $way in
	virsh) run_virsh || { echo "bench-libvirt: virsh failed: $(cat "$tmp"/virsh*.log)" >&2; exit 1; } ;;
	compress) run_virsh --compressed --comp-methods mt,xbzrle --comp-mt-level 9 ||
		{ echo "bench-libvirt: virsh --compressed failed: $(cat "$tmp"/virsh*.log)" >&2; exit 1; } ;;
	vmscatter) run_vmscatter || { echo "bench-libvirt: vmscatter failed: $(cat "$tmp/vmscatter.err")" >&2; exit 1; } ;;
	esac
	t1=$(date +%s.%N)
	read -r rx1 tx1 < <(counters)
	down=""
	for i in $(seq 1 "$doms"); do
		d=$(virsh_on src domjobinfo dom$i --completed 2>/dev/null | awk -F: '/Total downtime/ { gsub(/[^0-9]/, "", $2); print $2 }')
		down="$down ${d:-?}"
	done
	awk -v w=$way -v rx=$((rx1 - rx0)) -v tx=$((tx1 - tx0)) -v s="$t0" -v e="$t1" -v d="$down" \
		'BEGIN { printf "%-10s %12.1f %12.1f %9.1f %s\n", w, rx / 1048576, tx / 1048576, e - s, d }'
done
echo "($doms domains of $mem MiB, dirtying $dirty pages/s, to $targets targets${rate:+ at $rate}; the targets'"
echo " and source's MiB are their links' interface counters, all traffic included)"
