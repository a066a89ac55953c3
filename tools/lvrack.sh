#!/bin/bash
# lvrack.sh - one libvirtd per host of a testbed (tools/testbed.sh): each host's
# network namespace gets a mount and UTS namespace of its own (private /run,
# /etc/libvirt, /var/lib/libvirt, /var/log/libvirt, /var/cache/libvirt; its
# host name is the namespace's) and its own libvirtd, which listens on TCP
# port 16509 of the host's address WITHOUT authentication (a test rack that
# never leaves the machine: ../shared/notes/libvirt.md has the recipe).
#
#   tools/lvrack.sh up NAME DIR        after `testbed.sh up NAME`; state in DIR
#   tools/lvrack.sh run NAME DIR HOST CMD...   CMD inside HOST (src, t1, t2 ...):
#                                      its network, mounts and host name (exec:
#                                      CMD keeps this script's pid)
#   tools/lvrack.sh pids NAME DIR      every libvirtd and domain QEMU of the rack
#   tools/lvrack.sh down NAME DIR      destroy every domain, end every libvirtd
#                                      (before `testbed.sh down NAME`)
#
# QEMU runs as root without confinement, cgroups or namespaces of libvirt's
# (the daemons share /sys/fs/cgroup), its output to files (no virtlogd).
set -euo pipefail
die() { echo "lvrack: $*" >&2; exit 1; }

cmd=${1:-}
name=${2:-}
dir=${3:-}
[ -n "$cmd" ] && [ -n "$name" ] && [ -n "$dir" ] || die "usage: lvrack.sh up|run|down NAME DIR [HOST CMD...]"
[[ "$name" =~ ^[a-z0-9]{1,8}$ ]] || die "NAME must be 1-8 characters of a-z 0-9"
shift 3
here=$(cd "$(dirname "$0")" && pwd)
state=/run/vmscatter-testbed/$name

hosts() {
	[ -f "$state/targets" ] || die "no testbed $name (tools/testbed.sh up $name)"
	echo src
	for i in $(seq 1 "$(cat "$state/targets")"); do echo "t$i"; done
}

# inside the new mount + UTS namespace: private state, then libvirtd
host_init() {
	local h=$1 d=$2
	hostname "$(basename "$(dirname "$d")")-$h"
	mount -t tmpfs tmpfs /run
	mkdir -p /run/lock
	mount --bind "$d/etc" /etc/libvirt
	mount --bind "$d/varlib" /var/lib/libvirt
	mount --bind "$d/log" /var/log/libvirt
	mount -t tmpfs tmpfs /var/cache/libvirt
	exec libvirtd --listen
}

in_host() {   # in_host HOST CMD...
	local h=$1
	shift
	local pid
	pid=$(cat "$dir/$h/libvirtd.pid" 2>/dev/null) || die "host $h has no libvirtd"
	exec nsenter -t "$pid" -m -n -u "$@"
}

case "$cmd" in
_init) host_init "$@" ;;
up)
	command -v libvirtd >/dev/null || die "no libvirtd (apt-get install libvirt-daemon-system, or tools/install-deps.sh)"
	for h in $(hosts); do
		d=$dir/$h
		ns=$name-$h
		mkdir -p "$d/log"
		rm -rf "$d/etc" "$d/varlib"
		cp -a /etc/libvirt "$d/etc"
		cp -a /var/lib/libvirt "$d/varlib"
		rm -f "$d/etc/qemu/networks/autostart/"*.xml
		cat >> "$d/etc/qemu.conf" <<-EOF
		user = "root"
		group = "root"
		dynamic_ownership = 0
		security_driver = "none"
		namespaces = [ ]
		cgroup_controllers = [ ]
		stdio_handler = "file"
		remember_owner = 0
		EOF
		cat >> "$d/etc/libvirtd.conf" <<-EOF
		host_uuid = "$(cat /proc/sys/kernel/random/uuid)"
		log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
		listen_tls = 0
		listen_tcp = 1
		auth_tcp = "none"
		tcp_port = "16509"
		EOF
		setsid ip netns exec "$ns" unshare --mount --uts --propagation private \
			"$here/lvrack.sh" _init "$name" "$dir" "$h" "$d" < /dev/null > "$d/launcher.log" 2>&1 &
		echo $! > "$d/libvirtd.pid"
	done
	for h in $(hosts); do
		ok=0
		for _ in $(seq 1 300); do
			if (in_host "$h" virsh -q -c qemu:///system version) > /dev/null 2>&1; then ok=1; break; fi
			sleep 0.1
		done
		[ $ok = 1 ] || die "the libvirtd of $h did not come up ($(cat "$dir/$h/launcher.log"))"
		# the first use probes QEMU's capabilities (seconds): done now
		(in_host "$h" virsh -q -c qemu:///system domcapabilities) > /dev/null 2>&1 || true
	done
	;;
run)
	[ $# -ge 2 ] || die "usage: lvrack.sh run NAME DIR HOST CMD..."
	in_host "$@"
	;;
pids)
	for d in "$dir"/*/; do
		h=$(basename "$d")
		pid=$(cat "$d/libvirtd.pid" 2>/dev/null) || continue
		kill -0 "$pid" 2>/dev/null || continue
		echo "$pid"
		(in_host "$h" sh -c 'for f in /run/libvirt/qemu/*.pid; do [ -f "$f" ] && cat "$f" && echo; done') |
			grep -E '^[0-9]+$' | grep -vx "$pid" || true
	done
	;;
down)
	[ -d "$dir" ] || exit 0
	for d in "$dir"/*/; do
		h=$(basename "$d")
		pid=$(cat "$d/libvirtd.pid" 2>/dev/null) || continue
		kill -0 "$pid" 2>/dev/null || continue
		for dom in $( (in_host "$h" virsh -q -c qemu:///system list --name) 2>/dev/null); do
			(in_host "$h" virsh -q -c qemu:///system destroy "$dom") > /dev/null 2>&1 || true
		done
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$d/libvirtd.pid"
	done
	;;
*) die "unknown command $cmd" ;;
esac
