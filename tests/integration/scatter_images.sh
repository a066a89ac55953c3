#!/bin/bash
# scatter_images.sh - `vmscatter send` / `receive` across a testbed of network
# namespaces with real PGM multicast: images (synthetic and a real guest's
# memory) rebuilt bit for bit, with loss, with a receiver killed mid-session,
# and bad input of every kind. Every connection is mutual TLS with
# credentials from tools/mkcerts.sh; attacks: a plain-TCP sender, a client
# certificate from another CA, multicast data injected by a third host.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"

plan 34
tb=vs$$
tb=${tb:0:8}
tmp=$(mktemp -d /tmp/vms-scatter.XXXXXX)
T="$top_srcdir/tools/testbed.sh"
V=$VMSCATTER
at_exit "rm -rf '$tmp'"
at_exit "'$T' down $tb"
at_exit "'$top_srcdir/tools/guests.sh' stop --dir '$tmp/guest'"

# --- sources: 4 synthetic images and 2 dumps of one real guest --------------
"$VMS_SYNTH" --out "$tmp/src" --vms 4 --pages 6000 --pool 3000 --seed 21
"$top_srcdir/tools/guests.sh" start --dir "$tmp/guest" --count 1 --mem 128 --dirty 20 &&
	"$top_srcdir/tools/guests.sh" wait --dir "$tmp/guest" &&
	"$V" dump --pause "$tmp/guest/vm1.qmp" "$tmp/src/real1.img" &&
	sleep 1 && "$V" dump --pause "$tmp/guest/vm1.qmp" "$tmp/src/real2.img"
need $? "sources: 4 synthetic images and 2 dumps of a running guest"
"$top_srcdir/tools/guests.sh" stop --dir "$tmp/guest"
srcs=("$tmp"/src/*.img)

# (the stranger's certificate comes from another CA; it knows our CA's certificate)
"$T" up $tb --targets 3 > /dev/null && "$T" pki $tb "$tmp/pki" > /dev/null &&
	"$top_srcdir/tools/mkcerts.sh" "$tmp/evil" src=10.77.0.1 > /dev/null &&
	cp "$tmp/pki/src/ca-cert.pem" "$tmp/evil/src/ca-cert.pem"
need $? "testbed with 3 targets, TLS credentials for every host (and a stranger's CA)"

# start_receivers [ONCE]: a receiver on port 7000 in every target namespace
start_receivers() {
	for i in 1 2 3; do
		mkdir -p "$tmp/t$i"
		ip netns exec $tb-t$i "$V" receive --listen 0.0.0.0:7000 --out "$tmp/t$i" --name t$i $1 \
			--tls-creds "$tmp/pki/t$i" \
			>> "$tmp/recv$i.log" 2>&1 &
		echo $! > "$tmp/recv$i.pid"
	done
	sleep 0.5
}
stop_receivers() {
	for i in 1 2 3; do kill "$(cat "$tmp/recv$i.pid" 2>/dev/null)" 2>/dev/null; done
	wait 2>/dev/null
}
targets=(--target t1=10.77.0.11:7000:2 --target t2=10.77.0.12:7000:2 --target t3=10.77.0.13:7000:2)
send() { ip netns exec $tb-src "$V" send --quiet --timeout 20 --tls-creds "$tmp/pki/src" "$@"; }

# verify: every source image is at exactly one target, byte for byte
verify() {
	local n=0
	for s in "${srcs[@]}"; do
		local name found=0
		name=$(basename "$s")
		for i in 1 2 3; do
			if [ -f "$tmp/t$i/$name" ]; then
				cmp -s "$s" "$tmp/t$i/$name" || { diag "$name differs at t$i"; return 1; }
				found=$((found + 1))
			fi
		done
		[ $found = 1 ] || { diag "$name found $found times"; return 1; }
		n=$((n + 1))
	done
	[ -z "$(ls -A "$tmp"/t?/.*.part-* 2>/dev/null)" ] || { diag "partial files left"; return 1; }
	[ $n = ${#srcs[@]} ]
}
clean_targets() { rm -rf "$tmp"/t1 "$tmp"/t2 "$tmp"/t3; mkdir -p "$tmp"/t1 "$tmp"/t2 "$tmp"/t3; }

# --- 1. six images to three targets ---------------------------------------------
clean_targets
start_receivers --once
send --json "${targets[@]}" "${srcs[@]}" > "$tmp/send1.json"
ok $? "send: 6 images to 3 targets"
wait
verify
ok $? "every written image equals its source, bit for bit"
python3 - "$tmp/send1.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
t = j["total"]
assert t["multicast_bytes"] > 0 and t["unicast_bytes"] > 0, t
assert t["sent_bytes"] < t["image_bytes"], t
assert t["contents_compressed"] > 0, t      # the real guest's pages shrink
PY
ok $? "JSON summary: multicast and unicast used, contents compressed, less sent than the images"

# the same without compression: bit-exact too, and more bytes
clean_targets
start_receivers --once
send --json --no-compress "${targets[@]}" "${srcs[@]}" > "$tmp/send1raw.json" && wait && verify &&
	python3 - "$tmp/send1.json" "$tmp/send1raw.json" <<'PY'
import json, sys
lzo, raw = (json.load(open(f))["total"] for f in sys.argv[1:])
assert raw["contents_compressed"] == 0, raw
# (the multicast contents here are the synthetic pool's: random, incompressible)
assert lzo["multicast_bytes"] <= raw["multicast_bytes"], (lzo, raw)
assert lzo["unicast_bytes"] < raw["unicast_bytes"], (lzo, raw)
PY
ok $? "--no-compress: bit-exact, nothing compressed, more bytes sent"

# a target the plan leaves without VMs still completes its session
clean_targets
start_receivers --once
send "${targets[@]}" "${srcs[0]}" "${srcs[1]}" > /dev/null && wait &&
	[ "$(ls "$tmp"/t?/*.img | wc -l)" = 2 ] && grep -q 'session done' "$tmp/recv3.log"
ok $? "two images to three targets: the empty target's session completes too"

# --- 2. the same with 5% loss on one target's link ---------------------------------
"$T" down $tb; "$T" up $tb --targets 3 --loss t2:5 > /dev/null
clean_targets
: > "$tmp/recv2.log"        # this session's lines only
start_receivers --once
send "${targets[@]}" "${srcs[@]}" > "$tmp/send2.txt"
ok $? "send with 5% loss on t2"
wait
verify
ok $? "with loss: every image bit-exact"
# OpenPGM's own word on t2's loss: messages it delivered from repair data
# (RDATA, the PGM header of each packet) and the losses it declared for good
# (PGM_IO_STATUS_RESET; those contents then come by unicast). PGM must repair
# 5% loss itself: a receiver that never heard an SPM (the sender's address)
# cannot NAK and gives every loss up (repairs 0, "lost for good")
pgm_repaired "$tmp/recv2.log"
ok $? "t2's PGM repaired the 5% loss: $repairs repairs (RDATA) delivered, $resets losses it gave up on"
# --- 3. a receiver killed mid-session -------------------------------------------------
"$T" down $tb; "$T" up $tb --targets 3 > /dev/null
clean_targets
start_receivers       # long-lived: they must survive a failed session
( sleep 1.5; kill -9 "$(cat "$tmp/recv2.pid")" ) &
send --rate 8M "${targets[@]}" "${srcs[@]}" > /dev/null 2> "$tmp/kill.err"
rc=$?
wait "$!" 2>/dev/null
[ $rc -ne 0 ] && grep -q 'target t2 (10.77.0.12:7000)' "$tmp/kill.err"
ok $? "sender stops with an error naming t2 ($(head -c 160 "$tmp/kill.err"))"
sleep 1
! ls "$tmp"/t2/*.img > /dev/null 2>&1
ok $? "t2 has no final image"
[ -z "$(ls -A "$tmp/t1")" ] && [ -z "$(ls -A "$tmp/t3")" ]
ok $? "the other receivers removed their partial images"
kill -0 "$(cat "$tmp/recv1.pid")" && kill -0 "$(cat "$tmp/recv3.pid")"
ok $? "the other receivers are still serving"
ip netns exec $tb-t2 "$V" receive --listen 0.0.0.0:7000 --out "$tmp/t2" --name t2 --tls-creds "$tmp/pki/t2" \
	>> "$tmp/recv2.log" 2>&1 &
echo $! > "$tmp/recv2.pid"
sleep 0.5
[ -z "$(ls -A "$tmp/t2")" ] && grep -q 'left by a receiver that died' "$tmp/recv2.log"
ok $? "a restarted receiver removes the partial image its killed predecessor left"
send "${targets[@]}" "${srcs[@]}" > /dev/null && verify
ok $? "the next session to the same receivers succeeds, bit-exact"

# --- 3b. a third host injects multicast data into the group -----------------------------
# t3 sends forged contents (ids 1.., 4 KiB of its own bytes) to the group of
# {t1, t2} all through a session: unsealed, t1 and t2 would store them.
clean_targets
ip netns exec $tb-t3 "$top_builddir/tests/helpers/mcast_probe" send 10.77.0.13 239.77.0.1 7500 100000 3000000 \
	> /dev/null 2>&1 &
inj=$!
sleep 1
syn=("$tmp"/src/vm*.img)
send --json --rate 24M --target t1=10.77.0.11:7000:2 --target t2=10.77.0.12:7000:2 "${syn[@]}" > "$tmp/inject.json"
rc=$?
kill $inj 2>/dev/null; wait $inj 2>/dev/null
bad=0
for s in "${syn[@]}"; do
	n=$(basename "$s")
	cmp -s "$s" "$tmp/t1/$n" 2>/dev/null || cmp -s "$s" "$tmp/t2/$n" 2>/dev/null || { diag "$n not rebuilt"; bad=1; }
done
[ $rc = 0 ] && [ $bad = 0 ]
ok $? "multicast injected by a third host: the session succeeds, every image bit-exact"
python3 - "$tmp/inject.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
rej = {t["name"]: t["multicast_rejected"] for t in j["targets"]}
print("# forged multicast messages dropped:", rej, file=sys.stderr)
assert rej["t1"] > 0 and rej["t2"] > 0, rej
assert j["total"]["multicast_rejected"] == rej["t1"] + rej["t2"], j["total"]
PY
ok $? "both targets dropped the forged messages (tag check) and the report counts them"

# --- 4. bad input --------------------------------------------------------------------
"$V" plan --json --target t1:2 --target t2:2 --target t9:2 --sharing <("$V" analyze --json --quiet "${srcs[@]}") > "$tmp/bad-target.json"
check "a plan naming an unknown target" expect_fail any "target 't9', which is not a --target" \
	send --plan "$tmp/bad-target.json" "${targets[@]}" "${srcs[@]}"
"$V" plan --json --target t1:2 --target t2:2 --target t3:2 --sharing <("$V" analyze --json --quiet "${srcs[@]:0:3}") > "$tmp/short.json"
check "a plan for other sources" expect_fail any "the plan places 3 VMs, the sources are 6" \
	send --plan "$tmp/short.json" "${targets[@]}" "${srcs[@]}"
check "an unreachable receiver" expect_fail any "target t4 \(10.77.0.14:7000\)" \
	send --target t1=10.77.0.11:7000 --target t4=10.77.0.14:7000 "${srcs[@]}"
check "a port nobody listens on" expect_fail any "target t1 \(10.77.0.11:7999\): cannot connect" \
	send --target t1=10.77.0.11:7999 "${srcs[@]}"
check "a bad --target" expect_fail any "expected NAME=HOST:PORT" "$V" send --target t1 "${srcs[@]}"
check "a bad --rate" expect_fail any "rate must be" "$V" send --rate fast --target t1=10.77.0.11:7000 "${srcs[@]}"
check "receive without --out" expect_fail any "--listen and --out .or --state-dir. are required" "$V" receive --listen 0.0.0.0:7001
check "receive into a missing directory" expect_fail any "not a directory" \
	"$V" receive --listen 127.0.0.1:7001 --out "$tmp/nope" --once --tls-creds "$tmp/pki/t1"
check "receive without credentials" expect_fail 2 "no --tls-creds DIR given" \
	"$V" receive --listen 127.0.0.1:7001 --out "$tmp"
check "send without credentials" expect_fail 2 "no --tls-creds DIR given" \
	"$V" send --target t1=10.77.0.11:7000 "${srcs[@]}"
check "credentials that are not there" expect_fail 1 "$tmp/none: not a directory of TLS credentials" \
	"$V" receive --listen 127.0.0.1:7001 --out "$tmp" --tls-creds "$tmp/none"
"$V" receive --listen 127.0.0.1:1 --out "$tmp/nope" --insecure 2> "$tmp/insecure.err"
grep -q 'WARNING: --insecure: no TLS' "$tmp/insecure.err"
ok $? "--insecure says on stderr that it runs in the clear"
# garbage on a receiver's port: it drops that session and keeps serving
ip netns exec $tb-src python3 -c '
import socket, os
s = socket.create_connection(("10.77.0.11", 7000))
s.sendall(os.urandom(3000) + b"\0\0\0\0")
s.settimeout(5)
try:
    s.recv(100)
except Exception:
    pass
s.close()'
sleep 0.5
kill -0 "$(cat "$tmp/recv1.pid")" && grep -q 'refused a connection from 10.77.0.1: TLS handshake failed' "$tmp/recv1.log"
ok $? "garbage on the receiver's port: refused at the TLS handshake, the receiver serves on"
# the attack of old: a STREAM whose command line runs a program, in the clear
ip netns exec $tb-src python3 -c '
import socket, struct
s = socket.create_connection(("10.77.0.11", 7000))
def frame(t, b): return struct.pack(">IB", len(b) + 1, t) + b
args = [b"/bin/sh", b"-c", b"id > '"$tmp"'/pwned"]
body = struct.pack(">QIH", 0, 0, len(args)) + b"".join(struct.pack(">H", len(a)) + a for a in args)
s.sendall(frame(1, b"VMSC" + struct.pack(">HQ", 3, 7) + b"\x02t1" + b"\0") + frame(16, body))
s.settimeout(5)
try:
    s.recv(100)
except Exception:
    pass
s.close()'
sleep 0.5
[ ! -e "$tmp/pwned" ] && grep -c 'refused a connection from 10.77.0.1' "$tmp/recv1.log" | grep -qx 2
ok $? "a plain-TCP sender (HELLO + STREAM running /bin/sh) is refused before a byte is parsed"
# a certificate from another CA: refused, the receiver serves on
clean_targets
ip netns exec $tb-src "$V" send --quiet --timeout 20 --tls-creds "$tmp/evil/src" "${targets[@]}" "${srcs[@]}" \
	> /dev/null 2> "$tmp/evil.err"
rc=$?
[ $rc -ne 0 ] && grep -q 'refused a connection from 10.77.0.1: TLS: the peer.s certificate was refused' "$tmp/recv1.log" &&
	[ -z "$(ls -A "$tmp/t1")" ]
ok $? "a sender whose certificate another CA signed is refused ($(head -c 150 "$tmp/evil.err"))"
# --tls-allow: a receiver that admits only other subjects refuses our sender
mkdir -p "$tmp/allow"
ip netns exec $tb-t3 "$V" receive --listen 0.0.0.0:7002 --out "$tmp/allow" --name t3 --once \
	--tls-creds "$tmp/pki/t3" --tls-allow 'CN=admin*,O=vmscatter' --tls-allow 'CN=backup' > "$tmp/allow.log" 2>&1 &
apid=$!
sleep 0.5
send --target t3=10.77.0.13:7002 "${srcs[0]}" > /dev/null 2>&1
rc=$?
kill $apid 2>/dev/null; wait $apid 2>/dev/null
[ $rc -ne 0 ] && grep -q "client 'CN=src,O=vmscatter' (10.77.0.1:[0-9]*) is not in --tls-allow" "$tmp/allow.log" &&
	[ -z "$(ls -A "$tmp/allow")" ]
ok $? "a receiver with --tls-allow refuses a sender whose subject matches no pattern"
# a sender of protocol version 1, over TLS: the receiver answers ERROR naming the reason
ip netns exec $tb-src python3 -c '
import socket, ssl, struct, sys
ctx = ssl.create_default_context(cafile=sys.argv[1] + "/ca-cert.pem")
ctx.load_cert_chain(sys.argv[1] + "/client-cert.pem", sys.argv[1] + "/client-key.pem")
s = ctx.wrap_socket(socket.create_connection(("10.77.0.11", 7000)), server_hostname="10.77.0.11")
body = b"\x01VMSC" + struct.pack(">HQ", 1, 7) + b"\x02t1"
s.sendall(struct.pack(">I", len(body)) + body)
s.settimeout(5)
got = b""
while True:
    try:
        part = s.recv(4096)
    except (ssl.SSLError, OSError):
        break
    if not part:
        break
    got += part
sys.exit(0 if got[4:5] == b"\x0e" and b"protocol version" in got else 1)' "$tmp/pki/src"
ok $? "a sender of another protocol version gets an ERROR that says so"
clean_targets
send "${targets[@]}" "${srcs[@]}" > /dev/null && verify
ok $? "and the receiver then serves a good session, bit-exact"
stop_receivers
[ -z "$(ip netns pids $tb-t1 2>/dev/null)" ]
need $? "stopping the receivers"
"$T" down $tb
! ip netns list | grep -q "^$tb-"
need $? "removing the testbed"
