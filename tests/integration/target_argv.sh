#!/bin/bash
# target_argv.sh - the target QEMU's command line through the receiver's
# allow-list, on real QEMUs: for each of a dozen command lines (our own
# guests', hand-written ones, a libvirt 9 one with JSON values and fd
# chardevs), a paused source QEMU runs it, `vmscatter target-argv` turns its
# /proc command line into the target's (kernel and disks in a temporary
# directory given as --shared-path), and the target QEMU started from that
# in STATE/NAME/ (as the receiver starts it) must wait for the migration
# ("inmigrate" on STATE/NAME/qmp.sock) under its seccomp sandbox; with
# --run-as it runs as that user. Command lines the policy refuses fail with
# the offending option named.
. "$(dirname "$0")/tap.sh"
[ "$(id -u)" = 0 ] || skip_all "needs root"
command -v qemu-system-x86_64 >/dev/null || skip_all "qemu-system-x86_64 not installed"

plan 18
tmp=$(mktemp -d /tmp/vms-targv.XXXXXX)
QMP="python3 $top_srcdir/tests/integration/qmp.py"
V=$VMSCATTER
S=$tmp/shared            # the receiver's --shared-path
at_exit "rm -rf '$tmp'"
at_exit "for f in '$tmp'/*.pid; do [ -f \"\$f\" ] && kill -9 \$(cat \"\$f\") 2>/dev/null; done; sleep 0.2; true"
mkdir -p "$tmp/src" "$tmp/state" "$S/sub"
g=$("$top_srcdir/tools/mkguest.sh") && cp "$g/vmlinuz" "$g/initrd.img" "$S/" &&
	truncate -s 64M "$S/disk.raw" "$S/sub/data.raw" && echo -n 0123456789abcdef0123456789abcdef > "$tmp/src/master-key.aes"
ok $? "a kernel, an initrd and disks in the shared directory"

# start_src NAME ARG...: a paused source QEMU running ARGS, QMP at
# src/NAME.qmp; fds 30 and 31 are listening unix sockets, as libvirt hands
# them to QEMU
start_src() {
	local name=$1
	shift
	python3 - "$tmp/src/$name" qemu-system-x86_64 "$@" -qmp "unix:$tmp/src/$name.qmp,server=on,wait=off" -S \
		> "$tmp/$name.slog" 2>&1 <<'EOF' &
import os, socket, sys
for fd in (30, 31):
    s = socket.socket(socket.AF_UNIX)
    s.bind("%s.fd%d" % (sys.argv[1], fd))
    s.listen(1)
    os.dup2(s.fileno(), fd)
os.execvp(sys.argv[2], sys.argv[2:])
EOF
	echo $! > "$tmp/$name.src.pid"
	for _ in $(seq 100); do [ -S "$tmp/src/$name.qmp" ] && return 0; sleep 0.1; done
	diag "$name: the source did not start: $(cat "$tmp/$name.slog")"
	return 1
}
stop_src() {   # and wait until it is gone: its tap device, image locks go with it
	local pid
	pid=$(cat "$tmp/$1.src.pid" 2>/dev/null) || return 0
	kill -9 "$pid" 2>/dev/null
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	rm -f "$tmp/$1.src.pid"
}

# target NAME [TARGET-ARGV-OPTION...]: the source's target command line,
# started in STATE/NAME/ like the receiver does; ok if it waits for the
# migration, sandboxed
target() {
	local name=$1 pid state
	shift
	"$V" target-argv -0 --state-dir "$tmp/state" --name "$name" --shared-path "$S" "$@" "$tmp/src/$name.qmp" \
		> "$tmp/$name.argv" 2> "$tmp/$name.err" || { diag "$name: $(cat "$tmp/$name.err")"; stop_src "$name"; return 1; }
	stop_src "$name"
	readarray -d '' -t argv < "$tmp/$name.argv"
	mkdir -p "$tmp/state/$name"
	(cd "$tmp/state/$name" && exec "${argv[@]}" < /dev/null > "$tmp/$name.tlog" 2>&1) &
	pid=$!
	echo $pid > "$tmp/$name.target.pid"
	for _ in $(seq 100); do [ -S "$tmp/state/$name/qmp.sock" ] && break; sleep 0.1; done
	state=$($QMP "$tmp/state/$name/qmp.sock" query-status 2>&1)
	if ! grep -q '"inmigrate"' <<< "$state" || ! grep -q '^Seccomp:[[:space:]]*2' "/proc/$pid/status"; then
		diag "$name: $state; $(grep Seccomp "/proc/$pid/status" 2>&1); $(cat "$tmp/$name.tlog")"
		diag "$name: $(tr '\0' ' ' < "$tmp/$name.argv")"
		return 1
	fi
}
stop_target() {
	kill -9 "$(cat "$tmp/$1.target.pid")" 2>/dev/null
	rm -f "$tmp/$1.target.pid"
}
# moved NAME PATTERN: an argument of the target's command line matches
moved() { tr '\0' '\n' < "$tmp/$1.argv" | grep -qx -- "$2"; }

# 1. what tools/guests.sh (and so tools/demo.sh) starts; the target drops to nobody
start_src guests -name vm1 -accel tcg,tb-size=64 -m 128 -smp 1 -nodefaults -no-user-config -display none \
	-nic none -serial "file:$tmp/src/vm1.serial" -kernel "$S/vmlinuz" -initrd "$S/initrd.img" \
	-append "console=ttyS0 quiet panic=-1 vms.dirty=100 vms.mib=16" -no-reboot -pidfile "$tmp/src/guests.qemupid" &&
	target guests --run-as nobody && moved guests "file:$tmp/state/guests/vm1.serial" &&
	moved guests "$tmp/state/guests/qemu.pid" && [ -f "$tmp/state/guests/qemu.pid" ]
ok $? "tools/guests.sh's guest: serial file and pidfile in STATE/NAME, waits, sandboxed"
grep -q '^Uid:[[:space:]]*65534' "/proc/$(cat "$tmp/guests.target.pid")/status" && moved guests nobody
ok $? "--run-as nobody: the target QEMU runs as nobody"
stop_target guests

# 2. hand-written: -monitor none, -nographic, -serial mon:stdio, a disk
start_src mon -accel tcg -m 128 -nographic -monitor none -serial mon:stdio \
	-drive "file=$S/sub/../disk.raw,format=raw,if=virtio" &&
	target mon && moved mon "file=$S/disk.raw,format=raw,if=virtio"
ok $? "-monitor none -nographic -serial mon:stdio -drive on shared storage"
stop_target mon

# 3. user networking without forwards, -vnc none, -serial pty, -usbdevice
start_src user -accel tcg -m 128 -display none -vnc none -serial pty -usb -usbdevice tablet \
	-netdev user,id=n0,net=10.0.2.0/24 -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56 &&
	target user
ok $? "-netdev user, -vnc none, -serial pty, -usbdevice tablet"
stop_target user

# 4. a tap device without scripts
tap=vmst$$
start_src tap -accel tcg -m 128 -display none -netdev "tap,id=t0,ifname=${tap:0:15},script=no,downscript=no" \
	-device e1000,netdev=t0 && target tap
ok $? "-netdev tap,script=no,downscript=no"
stop_target tap

# 5. a -blockdev chain and a CD-ROM on shared storage
start_src blockdev -accel tcg -m 128 -display none -blockdev "driver=file,node-name=f0,filename=$S/disk.raw" \
	-blockdev driver=raw,node-name=d0,file=f0 -device virtio-blk-pci,drive=d0 -cdrom "$S/sub/data.raw" &&
	target blockdev
ok $? "-blockdev chain and -cdrom on shared storage"
stop_target blockdev

# 6. a file memory backend: its file moves into STATE/NAME
start_src memfile -accel tcg -m 128 -display none \
	-object "memory-backend-file,id=mem0,size=128M,mem-path=$tmp/src/memfile.ram,share=on" \
	-machine pc,memory-backend=mem0 && target memfile &&
	moved memfile "memory-backend-file,id=mem0,size=128M,mem-path=$tmp/state/memfile/memfile.ram,share=on" &&
	[ -f "$tmp/state/memfile/memfile.ram" ]
ok $? "memory-backend-file: mem-path moved into STATE/NAME"
stop_target memfile

# 7. memfd backends on NUMA nodes
start_src numa -accel tcg -m 128 -smp 2 -display none -object memory-backend-memfd,id=m0,size=64M \
	-object memory-backend-memfd,id=m1,size=64M -numa node,memdev=m0,cpus=0 -numa node,memdev=m1,cpus=1 &&
	target numa
ok $? "memory-backend-memfd on -numa nodes"
stop_target numa

# 8. chardevs: a socket for the guest agent, a file for the console
start_src chardev -accel tcg -m 128 -display none \
	-chardev "socket,id=ga0,path=$tmp/src/ga.sock,server=on,wait=off" -device virtio-serial \
	-device virtserialport,chardev=ga0,name=org.qemu.guest_agent.0 \
	-chardev "file,id=con0,path=$tmp/src/console.log" -serial chardev:con0 && target chardev &&
	[ -S "$tmp/state/chardev/ga0.sock" ] && [ -f "$tmp/state/chardev/console.log" ]
ok $? "-chardev socket and file moved into STATE/NAME"
stop_target chardev

# 9. identity, clocks and the rest of a hand-written line
start_src misc -accel tcg -name guest=web1,debug-threads=on -uuid 0d9a6c1e-3b5f-4e0a-8c7d-2f1e4a5b6c7d \
	-rtc base=utc,clock=host,driftfix=slew -msg timestamp=on -overcommit mem-lock=off -m 128 -display none \
	-global kvm-pit.lost_tick_policy=delay -boot strict=on -action panic=pause -no-shutdown -sandbox on \
	-monitor "unix:$tmp/src/hmp.sock,server=on,wait=off" && target misc && [ -S "$tmp/state/misc/monitor.sock" ]
ok $? "-name -uuid -rtc -msg -overcommit -global -boot -action, an HMP socket"
stop_target misc

# 10. firmware by name (QEMU's data directories), a NIC's option ROM
start_src firmware -accel tcg -m 128 -display none -bios bios-256k.bin -netdev user,id=n0 \
	-device e1000,netdev=n0,romfile=efi-e1000.rom && target firmware
ok $? "-bios and romfile= by name"
stop_target firmware

# 11. VNC on a unix socket, no audio
start_src vnc -accel tcg -m 128 -vnc "unix:$tmp/src/vnc.sock" -audiodev none,id=a0 && target vnc &&
	[ -S "$tmp/state/vnc/vnc.sock" ]
ok $? "-vnc unix: moved into STATE/NAME, -audiodev none"
stop_target vnc

# 12. libvirt 9: JSON -object/-device/-blockdev/-netdev/-audiodev, fd chardevs,
# -mon, its own -sandbox, -msg; the unused master key is dropped
start_src libvirt -name guest=vm1,debug-threads=on \
	-object "{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\",\"file\":\"$tmp/src/master-key.aes\"}" \
	-machine pc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram -accel tcg -cpu qemu64 \
	-m 128 -object '{"qom-type":"memory-backend-ram","id":"pc.ram","size":134217728}' -overcommit mem-lock=off \
	-smp 1,sockets=1,cores=1,threads=1 -uuid 5f3c5a4e-8d1b-4c1e-9a63-1f0d7a6b8c11 -no-user-config -nodefaults \
	-chardev socket,id=charmonitor,fd=31,server=on,wait=off -mon chardev=charmonitor,id=monitor,mode=control \
	-rtc base=utc,driftfix=slew -no-shutdown -global ICH9-LPC.disable_s3=1 -boot strict=on \
	-device '{"driver":"pcie-root-port","port":16,"chassis":1,"id":"pci.1","bus":"pcie.0","multifunction":true,"addr":"0x2"}' \
	-blockdev "{\"driver\":\"file\",\"filename\":\"$S/disk.raw\",\"node-name\":\"libvirt-1-storage\",\"auto-read-only\":true,\"discard\":\"unmap\"}" \
	-blockdev '{"node-name":"libvirt-1-format","read-only":false,"driver":"raw","file":"libvirt-1-storage"}' \
	-device '{"driver":"virtio-blk-pci","bus":"pci.1","addr":"0x0","drive":"libvirt-1-format","id":"virtio-disk0","bootindex":1}' \
	-netdev '{"type":"user","id":"hostnet0"}' \
	-device '{"driver":"virtio-net-pci","netdev":"hostnet0","id":"net0","mac":"52:54:00:12:34:56","bus":"pcie.0","addr":"0x3"}' \
	-chardev pty,id=charserial0 -device '{"driver":"isa-serial","chardev":"charserial0","id":"serial0","index":0}' \
	-chardev socket,id=charchannel0,fd=30,server=on,wait=off \
	-device '{"driver":"virtio-serial-pci","id":"virtio-serial0","bus":"pcie.0","addr":"0x4"}' \
	-device '{"driver":"virtserialport","bus":"virtio-serial0.0","nr":1,"chardev":"charchannel0","id":"channel0","name":"org.qemu.guest_agent.0"}' \
	-audiodev '{"id":"audio1","driver":"none"}' -display none \
	-object '{"qom-type":"rng-random","id":"objrng0","filename":"/dev/urandom"}' \
	-device '{"driver":"virtio-rng-pci","rng":"objrng0","id":"rng0","bus":"pcie.0","addr":"0x5"}' \
	-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny -msg timestamp=on &&
	target libvirt && [ -S "$tmp/state/libvirt/charmonitor.sock" ] && [ -S "$tmp/state/libvirt/charchannel0.sock" ] &&
	! moved libvirt '.*masterKey0.*'
ok $? "libvirt 9: JSON values, fd chardevs as sockets in STATE/NAME, master key dropped"
$QMP "$tmp/state/libvirt/charmonitor.sock" query-status 2>/dev/null | grep -q '"inmigrate"'
ok $? "libvirt 9: its own QMP monitor (-mon on charmonitor) answers too"
stop_target libvirt

# refused: the option is named, nothing is started
start_src fwd -accel tcg -m 128 -display none -netdev user,id=n0,hostfwd=tcp:127.0.0.1:0-:22 \
	-device e1000,netdev=n0 &&
	expect_fail 1 "-netdev user,hostfwd=.*opens a listener on the host" \
		"$V" target-argv -0 --state-dir "$tmp/state" --shared-path "$S" "$tmp/src/fwd.qmp"
ok $? "-netdev user,hostfwd refused, named"
stop_src fwd

start_src outside -accel tcg -m 128 -display none -drive "file=$tmp/src/master-key.aes,format=raw,if=virtio" &&
	expect_fail 1 "-drive file=$tmp/src/master-key.aes: a host file outside the shared paths" \
		"$V" target-argv -0 --state-dir "$tmp/state" --shared-path "$S" "$tmp/src/outside.qmp"
ok $? "a disk outside the shared paths refused, named"
stop_src outside

! pgrep -f -- "$tmp/(src|state)" > /dev/null
ok $? "no QEMU left"
