#!/bin/bash
# testbed.sh - a source host and M target hosts as network namespaces joined
# by a Linux bridge (in a namespace of its own) that delivers each multicast
# group only to its members, as an IGMP-snooping switch would.
#
#   tools/testbed.sh up NAME [--targets M] [--mtu N] [--rate RATE] [--loss HOST:PCT]...
#   tools/testbed.sh down NAME
#   tools/testbed.sh env NAME          print the hosts as shell variables
#   tools/testbed.sh counters NAME     rx/tx bytes of every host's link
#   tools/testbed.sh pki NAME DIR      TLS credentials for every host:
#                                      DIR/src, DIR/t1 .. (tools/mkcerts.sh)
#
# NAME (1-8 of [a-z0-9]) keeps runs apart: namespaces are NAME-br, NAME-src,
# NAME-t1 .. NAME-tM; state lives in /run/vmscatter-testbed/NAME. Hosts:
# src 10.77.0.1, tI 10.77.0.(10+I), interface eth0 each, multicast routed on
# eth0. --rate (tc tbf, e.g. 1gbit) shapes every host link both ways;
# --loss t2:5 drops 5% of what t2 receives (nftables; netem does not exist
# here). Every test host is a namespace this script made: traffic never
# leaves the machine. `down` ends every process in the namespaces and removes
# them; it is safe to call twice.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
die() { echo "testbed: $*" >&2; exit 1; }

cmd=${1:-}
name=${2:-}
[ -n "$cmd" ] && [ -n "$name" ] || die "usage: testbed.sh up|down|env|counters|pki NAME [options]"
[[ "$name" =~ ^[a-z0-9]{1,8}$ ]] || die "NAME must be 1-8 characters of a-z 0-9"
shift 2
state=/run/vmscatter-testbed/$name
br=$name-br src=$name-src

hosts() { echo "$src"; for i in $(seq 1 "$(cat "$state/targets")"); do echo "$name-t$i"; done; }

down() {
	[ -d "$state" ] || return 0
	for ns in $(hosts 2>/dev/null) "$br"; do
		if ip netns list | grep -qw "^$ns"; then
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[ -z "$pids" ] || kill $pids 2>/dev/null || true
		fi
	done
	sleep 0.2
	for ns in $(hosts 2>/dev/null) "$br"; do
		if ip netns list | grep -qw "^$ns"; then
			pids=$(ip netns pids "$ns" 2>/dev/null || true)
			[ -z "$pids" ] || kill -9 $pids 2>/dev/null || true
			ip netns del "$ns" 2>/dev/null || true
		fi
	done
	rm -rf "$state"
}

case "$cmd" in
up)
	targets=3 mtu=9000 rate="" loss=()
	while [ $# -gt 0 ]; do
		case "$1" in
		--targets) targets=$2; shift 2 ;;
		--mtu) mtu=$2; shift 2 ;;
		--rate) rate=$2; shift 2 ;;
		--loss) loss+=("$2"); shift 2 ;;
		*) die "unknown option $1" ;;
		esac
	done
	[[ "$targets" =~ ^[0-9]+$ ]] && [ "$targets" -ge 1 ] && [ "$targets" -le 60 ] || die "--targets must be 1..60"
	[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
	[ ! -d "$state" ] || die "testbed $name exists already (tools/testbed.sh down $name)"
	mkdir -p "$state"
	echo "$targets" > "$state/targets"
	trap 'down; exit 1' ERR
	ip netns add "$br"
	ip -n "$br" link set lo up
	ip -n "$br" link add br0 type bridge mcast_snooping 1 mcast_querier 0
	ip -n "$br" link set br0 mtu "$mtu" up
	i=0
	for ns in $(hosts); do
		ip netns add "$ns"
		ip -n "$ns" link set lo up
		port=p$i
		ip link add eth0 netns "$ns" mtu "$mtu" type veth peer name "$port" netns "$br" mtu "$mtu"
		ip -n "$br" link set "$port" master br0 up
		if [ $i = 0 ]; then addr=10.77.0.1; else addr=10.77.0.$((10 + i)); fi
		ip -n "$ns" addr add "$addr/24" dev eth0
		ip -n "$ns" link set eth0 up
		ip -n "$ns" route add 224.0.0.0/4 dev eth0
		if [ -n "$rate" ]; then
			ip netns exec "$ns" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 50ms
			ip netns exec "$br" tc qdisc add dev "$port" root tbf rate "$rate" burst 256kb latency 50ms
		fi
		echo "$ns $addr $port" >> "$state/hosts"
		i=$((i + 1))
	done
	for spec in "${loss[@]}"; do
		host=${spec%%:*} pct=${spec##*:}
		[[ "$pct" =~ ^[0-9]+$ ]] && [ "$pct" -le 100 ] || die "--loss $spec: PCT must be 0..100"
		ns=$name-$host
		ip netns list | grep -qw "^$ns" || die "--loss $spec: no host $host"
		ip netns exec "$ns" nft add table inet vmsloss
		ip netns exec "$ns" nft add chain inet vmsloss in '{ type filter hook input priority 0 ; }'
		ip netns exec "$ns" nft add rule inet vmsloss in numgen random mod 100 '<' "$pct" drop
	done
	# the querier makes the snooping bridge learn group members
	ip netns exec "$src" python3 "$here/igmp-querier.py" 10.77.0.1 </dev/null >/dev/null 2>&1 &
	echo $! > "$state/querier.pid"
	trap - ERR
	sleep 3     # the bridge's querier delay before it trusts memberships
	;;
down)
	down
	;;
env)
	[ -d "$state" ] || die "no testbed $name"
	echo "TB_SRC_NS=$src"
	echo "TB_SRC_IP=10.77.0.1"
	echo "TB_TARGETS=$(cat "$state/targets")"
	for i in $(seq 1 "$(cat "$state/targets")"); do
		echo "TB_T${i}_NS=$name-t$i"
		echo "TB_T${i}_IP=10.77.0.$((10 + i))"
	done
	;;
counters)
	[ -d "$state" ] || die "no testbed $name"
	while read -r ns addr port; do
		rx=$(ip netns exec "$ns" cat /sys/class/net/eth0/statistics/rx_bytes)
		tx=$(ip netns exec "$ns" cat /sys/class/net/eth0/statistics/tx_bytes)
		echo "${ns#"$name"-} $rx $tx"
	done < "$state/hosts"
	;;
pki)
	[ -d "$state" ] || die "no testbed $name"
	[ $# -eq 1 ] || die "usage: testbed.sh pki NAME DIR"
	specs=(src=10.77.0.1)
	for i in $(seq 1 "$(cat "$state/targets")"); do specs+=("t$i=10.77.0.$((10 + i))"); done
	"$here/mkcerts.sh" "$1" "${specs[@]}"
	;;
*) die "unknown command $cmd" ;;
esac
