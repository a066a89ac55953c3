#!/bin/bash
# guests.sh - start, wait for and stop test guests under QEMU (TCG).
#
#   tools/guests.sh start --dir DIR [--count N] [--first I] [--mem MIB]
#                         [--dirty PAGES/S] [--dirty-mib MIB] [--prefix NAME] [--netns NS]
#                         [--kind busybox|debian] [--family NAME[,NAME...]] [--workload W]
#   tools/guests.sh wait  --dir DIR [--timeout SECONDS]
#   tools/guests.sh stop  --dir DIR
#
# Guest i is named PREFIXi (default vm1, vm2, ...; --first I starts at I, to
# add guests with other settings to the same DIR). For each guest DIR holds
# NAME.qmp (QMP socket), NAME.serial (console output), NAME.pid.
#
# --kind busybox (default): the small guest of tools/mkguest.sh (kernel +
#   busybox initramfs, the dirtier only). --family and --workload do not apply.
# --kind debian: a Debian userland from tools/mkdebian.sh (read-only ext4 root
#   on virtio, shared by every guest of a family, like a rack's golden image),
#   running its family's workload (tools/guest/debian/workload.py; --workload
#   W overrides it, e.g. idle, or cache,python,churn). --family takes a list,
#   dealt round robin to the guests (default base). These guests print
#   "vmscatter-counter N" every second even without --dirty.
#
# `wait` returns once every guest printed its "up" line (and, with a dirtying
# workload, its first counter); a Debian guest also its counter and its
# "vmscatter-guest: steady" line (its workload finished its first round and
# the guest's used memory held still for 5 s: see workload.py). `stop` ends
# every guest started in DIR.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
die() { echo "guests: $*" >&2; exit 1; }

cmd=${1:-}
[ -n "$cmd" ] || die "usage: guests.sh start|wait|stop --dir DIR [options]"
shift
dir="" count=3 first=1 mem=256 dirty=0 dmib=16 prefix=vm netns="" timeout=120
kind=busybox families=base workload=default
while [ $# -gt 0 ]; do
	case "$1" in
	--dir) dir=$2; shift 2 ;;
	--count) count=$2; shift 2 ;;
	--first) first=$2; shift 2 ;;
	--mem) mem=$2; shift 2 ;;
	--dirty) dirty=$2; shift 2 ;;
	--dirty-mib) dmib=$2; shift 2 ;;
	--prefix) prefix=$2; shift 2 ;;
	--netns) netns=$2; shift 2 ;;
	--timeout) timeout=$2; shift 2 ;;
	--kind) kind=$2; shift 2 ;;
	--family) families=$2; shift 2 ;;
	--workload) workload=$2; shift 2 ;;
	*) die "unknown option: $1" ;;
	esac
done
[ -n "$dir" ] || die "--dir is required"

case "$cmd" in
start)
	[[ "$count" =~ ^[0-9]+$ ]] && [ "$count" -ge 1 ] || die "--count must be a positive integer"
	[[ "$mem" =~ ^[0-9]+$ ]] && [ "$mem" -ge 128 ] || die "--mem must be at least 128 (MiB): the Debian kernel does not boot in less"
	command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found (tools/install-deps.sh)"
	[[ "$first" =~ ^[0-9]+$ ]] && [ "$first" -ge 1 ] || die "--first must be a positive integer"
	run=()
	[ -n "$netns" ] && run=(ip netns exec "$netns")
	# launch NAME KERNEL INITRD APPEND [QEMU-OPTION...]: one guest, daemonized
	launch() {
		local name=$1 kern=$2 ird=$3 append=$4
		shift 4
		rm -f "$dir/$name.qmp" "$dir/$name.serial" "$dir/$name.pid"
		"${run[@]}" qemu-system-x86_64 -name "$name" \
			-accel tcg,tb-size=64 -m "$mem" -smp 1 \
			-nodefaults -no-user-config -display none -nic none \
			-serial "file:$dir/$name.serial" \
			-qmp "unix:$dir/$name.qmp,server=on,wait=off" \
			-kernel "$kern" -initrd "$ird" "$@" \
			-append "console=ttyS0 quiet panic=-1 vms.dirty=$dirty vms.mib=$dmib$append" \
			-no-reboot -daemonize -pidfile "$dir/$name.pid" ||
			die "QEMU failed to start $name"
	}
	case "$kind" in
	busybox)
		[ "$families" = base ] && [ "$workload" = default ] ||
			die "--family and --workload are for --kind debian"
		g=$("$here/mkguest.sh")
		mkdir -p "$dir"
		for i in $(seq "$first" $((first + count - 1))); do
			launch "$prefix$i" "$g/vmlinuz" "$g/initrd.img" ""
		done
		;;
	debian)
		[ "$mem" -ge 256 ] || die "--mem must be at least 256 (MiB) for Debian guests (their workloads need it)"
		case "$workload" in
		default|idle) ;;
		*) for p in ${workload//[,+]/ }; do
			case "$p" in
			cache|python|churn|web|db|build) ;;
			*) die "--workload: unknown part '$p' (default, idle, or cache,python,churn,web,db,build joined by ','; see tools/guest/debian/workload.py)" ;;
			esac
		done ;;
		esac
		IFS=, read -r -a fams <<< "$families"
		[ ${#fams[@]} -ge 1 ] || die "--family needs at least one NAME"
		declare -A img=()
		for f in "${fams[@]}"; do   # build (or find) each family's image once
			[ -n "${img[$f]+x}" ] && continue
			paths=$("$here/mkdebian.sh" --family "$f") || die "could not build the Debian guest of family $f"
			img[$f]=$paths
		done
		mkdir -p "$dir"
		for i in $(seq "$first" $((first + count - 1))); do
			name="$prefix$i"
			f=${fams[$(( (i - first) % ${#fams[@]} ))]}
			{ read -r kern; read -r ird; read -r rootfs; } <<< "${img[$f]}"
			launch "$name" "$kern" "$ird" " vms.family=$f vms.workload=$workload vms.name=$name" \
				-drive "file=$rootfs,if=virtio,format=raw,readonly=on"
		done
		;;
	*) die "--kind must be busybox or debian" ;;
	esac
	;;
wait)
	deadline=$((SECONDS + timeout))
	for s in "$dir"/*.serial; do
		[ -e "$s" ] || die "no guests in $dir"
		want="vmscatter-guest: up"
		n=$(basename "$s" .serial)
		until grep -q "$want" "$s" 2>/dev/null; do
			[ $SECONDS -lt $deadline ] || die "$n did not boot within ${timeout}s"
			if bad=$(grep -a -m 1 -e 'vmscatter-guest: failed' -e 'Kernel panic' "$s" 2>/dev/null); then die "$n: $bad"; fi
			sleep 0.5
		done
		if grep -q 'vmscatter-guest: up (kind=debian' "$s"; then
			# a Debian guest: its counter, then its workload's steady state
			until grep -q 'vmscatter-counter' "$s" 2>/dev/null && grep -q 'vmscatter-guest: steady' "$s" 2>/dev/null; do
				[ $SECONDS -lt $deadline ] || die "$n did not reach its workload's steady state within ${timeout}s"
				if bad=$(grep -a -m 1 -e 'vmscatter-guest: failed' -e 'Kernel panic' "$s" 2>/dev/null); then die "$n: $bad"; fi
				sleep 0.5
			done
			# a part that failed counts as ready: the guest is not what was asked for
			if bad=$(grep -a -m 1 -e 'vmscatter-guest: failed' "$s" 2>/dev/null); then die "$n: $bad"; fi
		elif ! grep -q 'dirty=0 ' "$s"; then
			until grep -q 'vmscatter-counter' "$s" 2>/dev/null; do
				[ $SECONDS -lt $deadline ] || die "$(basename "$s" .serial) never started counting"
				sleep 0.5
			done
		fi
	done
	;;
stop)
	for p in "$dir"/*.pid; do
		[ -e "$p" ] || continue
		pid=$(cat "$p" 2>/dev/null || true)
		if [ -n "$pid" ] && grep -q qemu "/proc/$pid/cmdline" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -9 "$pid" 2>/dev/null || true
		fi
		rm -f "$p"
	done
	;;
*) die "unknown command: $cmd" ;;
esac
