/* test_launch.c - the target QEMU's command line through the receiver's
 * allow-list (kvmglue/argv_policy.c, doc/SECURITY.md "The target QEMU's
 * command line"): a matrix of real command lines - hand-written ones, the
 * ones tools/guests.sh and tools/demo.sh start, libvirt 9 ones with JSON
 * values and fd chardevs, and the attacks that worked before - each with
 * the exact argv expected or the refusal, whose message must name the
 * offending option. In the table, arguments are separated by newlines; @S
 * is a shared directory (with files made by the setup), @O a directory
 * outside it, @D the target's STATE/NAME (/st/vm1). */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "kvmglue/kvmglue.h"
#include "kvmglue/launch_int.h"
#include "test_tmp.h"

#define Q "qemu-system-x86_64\n"
#define QMP "\n-qmp\nunix:@D/qmp.sock,server=on,wait=off"
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
#define DENY -EPERM

struct tcase {
	const char *title;
	const char *src;
	const char *want;           /* without the tail; NULL: refused */
	int code;
	const char *msg[3];         /* what the refusal must say */
	const char *bin;            /* the policy's qemu_bin */
};

/* libvirt 9.0, a headless q35 guest: what `virsh domxml-to-native` and
 * /proc/PID/cmdline show, with its disk on shared storage */
#define LIBVIRT_HEAD "/usr/bin/qemu-system-x86_64\n-name\nguest=vm1,debug-threads=on\n-S\n-object\n" \
	"{\"qom-type\":\"secret\",\"id\":\"masterKey0\",\"format\":\"raw\"," \
	"\"file\":\"/var/lib/libvirt/qemu/domain-1-vm1/master-key.aes\"}\n" \
	"-machine\npc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram\n-accel\nkvm\n" \
	"-cpu\nhost,migratable=on\n-m\n1024\n-object\n" \
	"{\"qom-type\":\"memory-backend-ram\",\"id\":\"pc.ram\",\"size\":1073741824}\n" \
	"-overcommit\nmem-lock=off\n-smp\n2,sockets=2,cores=1,threads=1\n-uuid\n5f3c5a4e-8d1b-4c1e-9a63-1f0d7a6b8c11\n" \
	"-no-user-config\n-nodefaults\n-chardev\nsocket,id=charmonitor,fd=31,server=on,wait=off\n" \
	"-mon\nchardev=charmonitor,id=monitor,mode=control\n-rtc\nbase=utc,driftfix=slew\n" \
	"-global\nkvm-pit.lost_tick_policy=delay\n-no-hpet\n-no-shutdown\n-global\nICH9-LPC.disable_s3=1\n" \
	"-global\nICH9-LPC.disable_s4=1\n-boot\nstrict=on\n"
#define LIBVIRT_HEAD_OUT "qemu-system-x86_64\n-name\nguest=vm1,debug-threads=on\n" \
	"-machine\npc-q35-7.2,usb=off,vmport=off,dump-guest-core=off,memory-backend=pc.ram\n-accel\nkvm\n" \
	"-cpu\nhost,migratable=on\n-m\n1024\n-object\n" \
	"{\"qom-type\":\"memory-backend-ram\",\"id\":\"pc.ram\",\"size\":1073741824}\n" \
	"-overcommit\nmem-lock=off\n-smp\n2,sockets=2,cores=1,threads=1\n-uuid\n5f3c5a4e-8d1b-4c1e-9a63-1f0d7a6b8c11\n" \
	"-no-user-config\n-nodefaults\n-chardev\nsocket,id=charmonitor,path=@D/charmonitor.sock,server=on,wait=off\n" \
	"-mon\nchardev=charmonitor,id=monitor,mode=control\n-rtc\nbase=utc,driftfix=slew\n" \
	"-global\nkvm-pit.lost_tick_policy=delay\n-no-hpet\n-no-shutdown\n-global\nICH9-LPC.disable_s3=1\n" \
	"-global\nICH9-LPC.disable_s4=1\n-boot\nstrict=on\n"
#define LIBVIRT_DISK "-device\n{\"driver\":\"pcie-root-port\",\"port\":16,\"chassis\":1,\"id\":\"pci.1\"," \
	"\"bus\":\"pcie.0\",\"multifunction\":true,\"addr\":\"0x2\"}\n" \
	"-blockdev\n{\"driver\":\"file\",\"filename\":\"@S/disk.qcow2\",\"node-name\":\"libvirt-1-storage\"," \
	"\"auto-read-only\":true,\"discard\":\"unmap\"}\n" \
	"-blockdev\n{\"node-name\":\"libvirt-1-format\",\"read-only\":false,\"driver\":\"qcow2\"," \
	"\"file\":\"libvirt-1-storage\",\"backing\":null}\n" \
	"-device\n{\"driver\":\"virtio-blk-pci\",\"bus\":\"pci.1\",\"addr\":\"0x0\",\"drive\":\"libvirt-1-format\"," \
	"\"id\":\"virtio-disk0\",\"bootindex\":1}\n"
#define LIBVIRT_SERIAL "-chardev\npty,id=charserial0\n" \
	"-device\n{\"driver\":\"isa-serial\",\"chardev\":\"charserial0\",\"id\":\"serial0\",\"index\":0}\n"
#define LIBVIRT_AGENT(path) "-chardev\nsocket,id=charchannel0," path ",server=on,wait=off\n" \
	"-device\n{\"driver\":\"virtio-serial-pci\",\"id\":\"virtio-serial0\",\"bus\":\"pcie.0\",\"addr\":\"0x4\"}\n" \
	"-device\n{\"driver\":\"virtserialport\",\"bus\":\"virtio-serial0.0\",\"nr\":1,\"chardev\":\"charchannel0\"," \
	"\"id\":\"channel0\",\"name\":\"org.qemu.guest_agent.0\"}\n"
#define LIBVIRT_TAIL "-audiodev\n{\"id\":\"audio1\",\"driver\":\"none\"}\n-display\nnone\n" \
	"-object\n{\"qom-type\":\"rng-random\",\"id\":\"objrng0\",\"filename\":\"/dev/urandom\"}\n" \
	"-device\n{\"driver\":\"virtio-rng-pci\",\"rng\":\"objrng0\",\"id\":\"rng0\",\"bus\":\"pcie.0\",\"addr\":\"0x3\"}\n" \
	"-sandbox\non,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny\n-msg\ntimestamp=on"
#define LIBVIRT_TAIL_OUT "-audiodev\n{\"id\":\"audio1\",\"driver\":\"none\"}\n-display\nnone\n" \
	"-object\n{\"qom-type\":\"rng-random\",\"id\":\"objrng0\",\"filename\":\"/dev/urandom\"}\n" \
	"-device\n{\"driver\":\"virtio-rng-pci\",\"rng\":\"objrng0\",\"id\":\"rng0\",\"bus\":\"pcie.0\",\"addr\":\"0x3\"}\n" \
	"-msg\ntimestamp=on" QMP

static const struct tcase cases[] = {
	/* ---- what our own tools start ---- */
	{ "tools/guests.sh (and tools/demo.sh, which boots its guests with it)",
	  Q "-name\nvm1\n-accel\ntcg,tb-size=64\n-m\n256\n-smp\n1\n-nodefaults\n-no-user-config\n-display\nnone\n"
	  "-nic\nnone\n-serial\nfile:/run/g/vm1.serial\n-qmp\nunix:/run/g/vm1.qmp,server=on,wait=off\n"
	  "-kernel\n@S/vmlinuz\n-initrd\n@S/initrd.img\n"
	  "-append\nconsole=ttyS0 quiet panic=-1 vms.dirty=100 vms.mib=16\n-no-reboot\n-daemonize\n-pidfile\n/run/g/vm1.pid",
	  Q "-name\nvm1\n-accel\ntcg,tb-size=64\n-m\n256\n-smp\n1\n-nodefaults\n-no-user-config\n-display\nnone\n"
	  "-nic\nnone\n-serial\nfile:@D/vm1.serial\n-qmp\nunix:@D/qmp.sock,server=on,wait=off\n"
	  "-kernel\n@S/vmlinuz\n-initrd\n@S/initrd.img\n"
	  "-append\nconsole=ttyS0 quiet panic=-1 vms.dirty=100 vms.mib=16\n-no-reboot\n-pidfile\n@D/qemu.pid",
	  0, { 0 }, NULL },
	{ "tools/guests.sh with the guest's kernel outside the shared paths",
	  Q "-name\nvm2\n-accel\ntcg,tb-size=64\n-m\n128\n-kernel\n@O/vmlinuz\n-initrd\n@S/initrd.img",
	  NULL, DENY, { "-kernel @O/vmlinuz", "outside the shared paths" }, NULL },
	{ "several QMP and HMP monitors",
	  Q "-qmp\nunix:/a/q1,server=on,wait=off\n--qmp\nunix:/a/q2,server=on,wait=off\n"
	  "-monitor\nunix:/a/mon,server=on,wait=off\n-monitor\nunix:/a/mon2,server,nowait",
	  Q "-qmp\nunix:@D/qmp.sock,server=on,wait=off\n-qmp\nunix:@D/qmp2.sock,server=on,wait=off\n"
	  "-monitor\nunix:@D/monitor.sock,server=on,wait=off\n-monitor\nunix:@D/monitor2.sock,server,nowait",
	  0, { 0 }, NULL },
	/* ---- hand-written ---- */
	{ "-monitor none, -nographic, -serial mon:stdio",
	  Q "-enable-kvm\n-m\n2G\n-smp\n2\n-cpu\nhost\n-nographic\n-monitor\nnone\n-serial\nmon:stdio\n"
	  "-drive\nfile=@S/disk.qcow2,format=qcow2,if=virtio",
	  Q "-enable-kvm\n-m\n2G\n-smp\n2\n-cpu\nhost\n-nographic\n-monitor\nnone\n-serial\nmon:stdio\n"
	  "-drive\nfile=@S/disk.qcow2,format=qcow2,if=virtio" QMP, 0, { 0 }, NULL },
	{ "-serial pty, -monitor stdio, -vga, -usb, -usbdevice, -boot, -k, -cdrom",
	  Q "-machine\npc,accel=kvm\n-m\n1024\n-vga\nstd\n-usb\n-usbdevice\ntablet\n-boot\norder=c,menu=on\n"
	  "-k\nen-us\n-serial\npty\n-monitor\nstdio\n-display\nnone\n-cdrom\n@S/disk.raw",
	  Q "-machine\npc,accel=kvm\n-m\n1024\n-vga\nstd\n-usb\n-usbdevice\ntablet\n-boot\norder=c,menu=on\n"
	  "-k\nen-us\n-serial\npty\n-monitor\nstdio\n-display\nnone\n-cdrom\n@S/disk.raw" QMP, 0, { 0 }, NULL },
	{ "-vnc :0", Q "-m\n512\n-vnc\n:0", NULL, DENY, { "-vnc :0", "listens on the network" }, NULL },
	{ "-vnc none", Q "-m\n512\n-vnc\nnone\n-display\nnone", Q "-m\n512\n-vnc\nnone\n-display\nnone" QMP, 0, { 0 }, NULL },
	{ "-vnc on a unix socket", Q "-vnc\nunix:/tmp/vm1-vnc.sock,lossy=on",
	  Q "-vnc\nunix:@D/vnc.sock,lossy=on" QMP, 0, { 0 }, NULL },
	{ "-vnc with a websocket", Q "-vnc\nunix:/tmp/v.sock,websocket=5700",
	  NULL, DENY, { "-vnc", "websocket=" }, NULL },
	{ "-spice", Q "-spice\nport=5900,disable-ticketing=on", NULL, DENY, { "-spice", "listens on the network" }, NULL },
	{ "-display gtk", Q "-display\ngtk", NULL, DENY, { "-display gtk", "window" }, NULL },
	{ "-netdev user without forwards",
	  Q "-m\n512\n-netdev\nuser,id=n0,net=10.0.2.0/24,dns=10.0.2.3,restrict=off\n"
	  "-device\nvirtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
	  Q "-m\n512\n-netdev\nuser,id=n0,net=10.0.2.0/24,dns=10.0.2.3,restrict=off\n"
	  "-device\nvirtio-net-pci,netdev=n0,mac=52:54:00:12:34:56" QMP, 0, { 0 }, NULL },
	{ "-netdev user,hostfwd", Q "-netdev\nuser,id=n0,hostfwd=tcp::2222-:22\n-device\ne1000,netdev=n0",
	  NULL, DENY, { "-netdev user,hostfwd=", "opens a listener on the host" }, NULL },
	{ "-netdev user,guestfwd=...-cmd:", Q "-netdev\nuser,id=n0,guestfwd=tcp:10.0.2.100:1234-cmd:/bin/sh",
	  NULL, DENY, { "-netdev user,guestfwd=", "runs a program" }, NULL },
	{ "-netdev user,smb", Q "-netdev\nuser,id=n0,smb=/srv/share",
	  NULL, DENY, { "-netdev user,smb=", "runs a program" }, NULL },
	{ "-nic user,hostfwd", Q "-nic\nuser,model=e1000,hostfwd=tcp::8080-:80",
	  NULL, DENY, { "-nic user,hostfwd=", "listener" }, NULL },
	{ "-nic user", Q "-nic\nuser,model=virtio-net-pci,mac=52:54:00:00:00:01",
	  Q "-nic\nuser,model=virtio-net-pci,mac=52:54:00:00:00:01" QMP, 0, { 0 }, NULL },
	{ "-netdev tap,script=no,downscript=no",
	  Q "-netdev\ntap,id=t0,ifname=tap0,script=no,downscript=no,vhost=on\n-device\nvirtio-net-pci,netdev=t0",
	  Q "-netdev\ntap,id=t0,ifname=tap0,script=no,downscript=no,vhost=on\n-device\nvirtio-net-pci,netdev=t0" QMP,
	  0, { 0 }, NULL },
	{ "-netdev tap with the default scripts", Q "-netdev\ntap,id=t0,ifname=tap0",
	  NULL, DENY, { "-netdev tap", "script=no", "runs a program" }, NULL },
	{ "-netdev tap,script=PROGRAM", Q "-netdev\ntap,id=t0,script=/tmp/evil.sh,downscript=no",
	  NULL, DENY, { "-netdev tap", "script=no" }, NULL },
	{ "-netdev tap,helper=", Q "-netdev\ntap,id=t0,helper=/usr/lib/qemu/qemu-bridge-helper",
	  NULL, DENY, { "-netdev tap,helper=", "runs a program" }, NULL },
	{ "-netdev bridge", Q "-netdev\nbridge,id=b0,br=br0", NULL, DENY, { "-netdev bridge", "runs a program" }, NULL },
	{ "-netdev socket,listen", Q "-netdev\nsocket,id=s0,listen=:1234",
	  NULL, DENY, { "-netdev socket", "network" }, NULL },
	/* ---- disks ---- */
	{ "-drive outside the shared paths", Q "-drive\nfile=@O/disk.img,format=raw",
	  NULL, DENY, { "-drive file=@O/disk.img", "outside the shared paths" }, NULL },
	{ "-drive through a symlink out of the shared path", Q "-drive\nfile=@S/escape,format=raw",
	  NULL, DENY, { "-drive file=@S/escape", "outside the shared paths" }, NULL },
	{ "-drive with .. out of the shared path", Q "-drive\nfile=@S/../outside/disk.img,format=raw",
	  NULL, DENY, { "-drive file=", "outside the shared paths" }, NULL },
	{ "-drive with .. inside the shared path", Q "-drive\nfile=@S/sub/../disk.raw,format=raw,if=virtio,cache=none",
	  Q "-drive\nfile=@S/disk.raw,format=raw,if=virtio,cache=none" QMP, 0, { 0 }, NULL },
	{ "-drive with a json: pseudo-protocol",
	  Q "-drive\nfile=json:{\"driver\":\"file\",,\"filename\":\"/etc/passwd\"}",
	  NULL, DENY, { "-drive file=json:", "not an absolute path" }, NULL },
	{ "-drive over NBD", Q "-drive\ndriver=nbd,server.type=inet,server.host=10.0.0.1,server.port=10809,export=d",
	  NULL, DENY, { "-drive driver=", "not a block driver" }, NULL },
	{ "-drive with a backing file named by key",
	  Q "-drive\nfile=@S/disk.qcow2,format=qcow2,backing.file.filename=/etc/passwd",
	  NULL, DENY, { "-drive backing.file.filename=/etc/passwd", "outside" }, NULL },
	{ "-drive without a file (an empty CD-ROM)", Q "-drive\nif=ide,media=cdrom,index=2",
	  Q "-drive\nif=ide,media=cdrom,index=2" QMP, 0, { 0 }, NULL },
	{ "-blockdev chain on shared storage",
	  Q "-blockdev\ndriver=file,node-name=f0,filename=@S/disk.qcow2\n-blockdev\ndriver=qcow2,node-name=d0,file=f0\n"
	  "-device\nvirtio-blk-pci,drive=d0",
	  Q "-blockdev\ndriver=file,node-name=f0,filename=@S/disk.qcow2\n-blockdev\ndriver=qcow2,node-name=d0,file=f0\n"
	  "-device\nvirtio-blk-pci,drive=d0" QMP, 0, { 0 }, NULL },
	{ "-blockdev JSON, nested file outside",
	  Q "-blockdev\n{\"driver\":\"qcow2\",\"node-name\":\"d0\",\"file\":{\"driver\":\"file\",\"filename\":\"@O/disk.img\"}}",
	  NULL, DENY, { "-blockdev", "file.filename=@O/disk.img", "outside" }, NULL },
	{ "a bare disk image argument", Q "@S/disk.raw\n-m\n128", Q "@S/disk.raw\n-m\n128" QMP, 0, { 0 }, NULL },
	{ "a bare argument outside", Q "/etc/passwd", NULL, DENY, { "/etc/passwd", "outside" }, NULL },
	{ "firmware: -bios, pflash",
	  Q "-bios\n@S/bios.bin\n-drive\nif=pflash,format=raw,readonly=on,file=@S/OVMF_CODE.fd\n"
	  "-drive\nif=pflash,format=raw,file=@S/OVMF_VARS.fd",
	  Q "-bios\n@S/bios.bin\n-drive\nif=pflash,format=raw,readonly=on,file=@S/OVMF_CODE.fd\n"
	  "-drive\nif=pflash,format=raw,file=@S/OVMF_VARS.fd" QMP, 0, { 0 }, NULL },
	{ "-bios by name (QEMU's data directory)", Q "-bios\nbios-256k.bin", Q "-bios\nbios-256k.bin" QMP, 0, { 0 }, NULL },
	{ "-k with a host file as the keymap", Q "-k\n/etc/passwd", NULL, DENY, { "-k /etc/passwd", "outside" }, NULL },
	{ "-initrd as a multiboot module list", Q "-kernel\n@S/vmlinuz\n-initrd\n@S/initrd.img,/etc/passwd",
	  NULL, DENY, { "-initrd", "multiboot" }, NULL },
	{ "-fsdev local in the shared path, read-only; -device virtio-9p",
	  Q "-fsdev\nlocal,id=fs0,path=@S/fsdir,security_model=mapped-xattr,readonly=on\n-device\nvirtio-9p-pci,fsdev=fs0,mount_tag=share",
	  Q "-fsdev\nlocal,id=fs0,path=@S/fsdir,security_model=mapped-xattr,readonly=on\n-device\nvirtio-9p-pci,fsdev=fs0,mount_tag=share" QMP,
	  0, { 0 }, NULL },
	{ "-virtfs of /", Q "-virtfs\nlocal,path=/,mount_tag=root,security_model=passthrough",
	  NULL, DENY, { "-virtfs local,path=/", "read-only" }, NULL },
	{ "-virtfs of /, read-only", Q "-virtfs\nlocal,path=/,mount_tag=root,security_model=none,readonly=on",
	  NULL, DENY, { "-virtfs local,path=/", "outside" }, NULL },
	/* ---- memory ---- */
	{ "memory-backend-file on hugepages, -numa",
	  Q "-m\n256\n-object\nmemory-backend-file,id=mem0,size=256M,mem-path=/dev/hugepages/vm1,share=on\n-numa\nnode,memdev=mem0",
	  Q "-m\n256\n-object\nmemory-backend-file,id=mem0,size=256M,mem-path=@D/vm1,share=on\n-numa\nnode,memdev=mem0" QMP,
	  0, { 0 }, NULL },
	{ "memory-backend-memfd, -machine memory-backend=",
	  Q "-object\nmemory-backend-memfd,id=mem,size=512M,share=on\n-machine\nq35,memory-backend=mem\n-m\n512\n-mem-prealloc",
	  Q "-object\nmemory-backend-memfd,id=mem,size=512M,share=on\n-machine\nq35,memory-backend=mem\n-m\n512\n-mem-prealloc" QMP,
	  0, { 0 }, NULL },
	{ "memory-backend-file, libvirt's JSON",
	  Q "-object\n{\"qom-type\":\"memory-backend-file\",\"id\":\"pc.ram\",\"mem-path\":\"/var/lib/libvirt/qemu/ram/1-vm1/pc.ram\","
	  "\"share\":true,\"size\":268435456}",
	  Q "-object\n{\"qom-type\":\"memory-backend-file\",\"id\":\"pc.ram\",\"mem-path\":\"@D/pc.ram\","
	  "\"share\":true,\"size\":268435456}" QMP, 0, { 0 }, NULL },
	{ "-mem-path", Q "-m\n128\n-mem-path\n/dev/hugepages", Q "-m\n128\n-mem-path\n@D/qemu.ram" QMP, 0, { 0 }, NULL },
	/* ---- identity, clocks, messages ---- */
	{ "-name, -uuid, -rtc, -msg, -overcommit, -global, -no-hpet, -action",
	  Q "-name\nguest=web1,debug-threads=on\n-uuid\n0d9a6c1e-3b5f-4e0a-8c7d-2f1e4a5b6c7d\n-rtc\nbase=utc,clock=host,driftfix=slew\n"
	  "-msg\ntimestamp=on\n-overcommit\nmem-lock=off,cpu-pm=off\n-global\nkvm-pit.lost_tick_policy=delay\n-no-hpet\n"
	  "-action\npanic=pause",
	  Q "-name\nguest=web1,debug-threads=on\n-uuid\n0d9a6c1e-3b5f-4e0a-8c7d-2f1e4a5b6c7d\n-rtc\nbase=utc,clock=host,driftfix=slew\n"
	  "-msg\ntimestamp=on\n-overcommit\nmem-lock=off,cpu-pm=off\n-global\nkvm-pit.lost_tick_policy=delay\n-no-hpet\n"
	  "-action\npanic=pause" QMP, 0, { 0 }, NULL },
	{ "dropped: -sandbox, -runas, -chroot, -daemonize, -S, -loadvm",
	  Q "-sandbox\non\n-runas\nqemu\n-chroot\n/var/empty\n-daemonize\n-S\n-loadvm\nsnap1\n-m\n64",
	  Q "-m\n64" QMP, 0, { 0 }, NULL },
	/* ---- character devices ---- */
	{ "-chardev socket for the guest agent",
	  Q "-chardev\nsocket,id=ga0,path=/var/run/ga.sock,server=on,wait=off\n-device\nvirtio-serial\n"
	  "-device\nvirtserialport,chardev=ga0,name=org.qemu.guest_agent.0",
	  Q "-chardev\nsocket,id=ga0,path=@D/ga0.sock,server=on,wait=off\n-device\nvirtio-serial\n"
	  "-device\nvirtserialport,chardev=ga0,name=org.qemu.guest_agent.0" QMP, 0, { 0 }, NULL },
	{ "-chardev socket with short-form flags",
	  Q "-chardev\nsocket,id=c0,path=/a/c.sock,server,nowait", Q "-chardev\nsocket,id=c0,path=@D/c0.sock,server,nowait" QMP,
	  0, { 0 }, NULL },
	{ "-chardev file with a logfile",
	  Q "-chardev\nfile,id=log0,path=/var/log/vm1-console.log,logfile=/var/log/vm1-tee.log\n-serial\nchardev:log0",
	  Q "-chardev\nfile,id=log0,path=@D/vm1-console.log,logfile=@D/vm1-tee.log\n-serial\nchardev:log0" QMP, 0, { 0 }, NULL },
	{ "-chardev file with a comma in its name", Q "-chardev\nfile,id=log,path=/var/log/x,,y.log",
	  NULL, DENY, { "-chardev file,path", "not a plain file name" }, NULL },
	{ "-chardev socket over TCP and a QMP monitor on it (the attack)",
	  Q "-chardev\nsocket,id=mon0,host=0.0.0.0,port=4444,server=on,wait=off\n-mon\nchardev=mon0,mode=control",
	  NULL, DENY, { "-chardev socket,host=", "listens on the network" }, NULL },
	{ "-chardev socket in the abstract namespace", Q "-chardev\nsocket,id=c0,path=x,abstract=on,server=on",
	  NULL, DENY, { "-chardev socket,abstract=", "abstract" }, NULL },
	{ "-chardev socket fd= of a connected socket", Q "-chardev\nsocket,id=c0,fd=5",
	  NULL, DENY, { "-chardev socket,fd=", "descriptor" }, NULL },
	{ "-chardev socket with path given twice", Q "-chardev\nsocket,id=c0,path=/a,path=/etc/x,server=on",
	  NULL, DENY, { "-chardev socket", "path given twice" }, NULL },
	{ "-chardev socket whose id takes the receiver's qmp.sock", Q "-chardev\nsocket,id=qmp,path=/x/q.sock,server=on",
	  NULL, DENY, { "-chardev socket", "qmp.sock is taken" }, NULL },
	{ "-chardev on a host serial port", Q "-chardev\nserial,id=s0,path=/dev/ttyS0",
	  NULL, DENY, { "-chardev serial", "host device" }, NULL },
	{ "two serial files of the same name", Q "-serial\nfile:/a/out.log\n-serial\nfile:/b/out.log",
	  NULL, DENY, { "-serial file:/b/out.log", "taken" }, NULL },
	{ "-parallel file:PATH (the attack that truncated a host file)", Q "-parallel\nfile:/etc/shadow",
	  Q "-parallel\nfile:@D/shadow" QMP, 0, { 0 }, NULL },
	{ "-qmp over TCP", Q "-qmp\ntcp:127.0.0.1:4444,server=on", NULL, DENY, { "-qmp tcp:", "network" }, NULL },
	{ "-monitor over telnet", Q "-monitor\ntelnet:0.0.0.0:5555,server,nowait",
	  NULL, DENY, { "-monitor telnet:", "network" }, NULL },
	{ "-gdb tcp and -s", Q "-gdb\ntcp::1234", NULL, DENY, { "-gdb tcp::1234", "network" }, NULL },
	{ "-s", Q "-s", NULL, DENY, { "-s", "listens on the network" }, NULL },
	{ "-gdb on a unix socket, -debugcon to a file",
	  Q "-gdb\nunix:/tmp/gdb.sock,server=on,wait=off\n-debugcon\nfile:/tmp/debug.log\n-D\n/var/log/qemu/vm1.log\n-d\nguest_errors",
	  Q "-gdb\nunix:@D/gdb.sock,server=on,wait=off\n-debugcon\nfile:@D/debug.log\n-D\n@D/vm1.log\n-d\nguest_errors" QMP,
	  0, { 0 }, NULL },
	/* ---- programs, code, host files ---- */
	{ "argv[0] /bin/sh (the attack)", "/bin/sh\n-c\nid > /tmp/pwned", NULL, DENY, { "/bin/sh", "qemu-system-ARCH" }, NULL },
	{ "argv[0] /bin/sh with the receiver's --qemu", "/bin/sh\n-c\nid > /tmp/pwned", NULL, DENY,
	  { "-c", "not an option the target QEMU may run with" }, "/usr/bin/qemu-system-x86_64" },
	{ "argv[0] replaced by the receiver's --qemu", "/opt/evil/qemu-system-x86_64\n-m\n64",
	  "/usr/local/bin/qemu-system-x86_64\n-m\n64" QMP, 0, { 0 }, "/usr/local/bin/qemu-system-x86_64" },
	{ "-plugin", Q "-plugin\n/tmp/evil.so", NULL, DENY, { "-plugin", "loads code" }, NULL },
	{ "-readconfig", Q "-readconfig\n/etc/qemu/vm.cfg", NULL, DENY, { "-readconfig", "host file" }, NULL },
	{ "-add-fd", Q "-add-fd\nfd=3,set=1", NULL, DENY, { "-add-fd", "file descriptor" }, NULL },
	{ "-set", Q "-set\nchardev.c0.host=0.0.0.0", NULL, DENY, { "-set", "past this check" }, NULL },
	{ "-incoming", Q "-incoming\ndefer", NULL, DENY, { "-incoming", "migration" }, NULL },
	{ "an unknown option", Q "-m\n64\n-frobnicate\nyes", NULL, DENY, { "-frobnicate", "not an option" }, NULL },
	{ "-object secret,file= that a disk secret needs",
	  Q "-object\nsecret,id=sec0,file=/etc/passwd\n-object\nsecret,id=sec1,data=c2VjcmV0,format=base64,keyid=sec0,iv=aXY=",
	  NULL, DENY, { "-object secret,file=/etc/passwd", "outside the shared paths" }, NULL },
	{ "-object secret,file= under the shared path, and data=",
	  Q "-object\nsecret,id=sec0,file=@S/secret.key\n-object\nsecret,id=sec1,data=abc,keyid=sec0",
	  Q "-object\nsecret,id=sec0,file=@S/secret.key\n-object\nsecret,id=sec1,data=abc,keyid=sec0" QMP, 0, { 0 }, NULL },
	{ "-object secret_keyring", Q "-object\nsecret_keyring,id=k0,serial=123",
	  NULL, DENY, { "-object secret_keyring", "keyring" }, NULL },
	{ "-object rng-random from a host file", Q "-object\nrng-random,id=r0,filename=/etc/passwd",
	  NULL, DENY, { "-object rng-random,filename=/etc/passwd", "outside" }, NULL },
	{ "-object of an unknown type", Q "-object\nfrobnicator,id=f0", NULL, DENY, { "-object frobnicator", "object type" }, NULL },
	{ "-machine dumpdtb=", Q "-machine\nvirt,dumpdtb=/etc/passwd", NULL, DENY,
	  { "-machine virt,dumpdtb=", "writes a host file" }, NULL },
	{ "-machine kernel= outside", Q "-machine\npc,kernel=@O/vmlinuz", NULL, DENY,
	  { "-machine pc,kernel=@O/vmlinuz", "outside" }, NULL },
	{ "-device romfile= outside", Q "-netdev\nuser,id=n0\n-device\ne1000,netdev=n0,romfile=/etc/passwd",
	  NULL, DENY, { "-device e1000,romfile=/etc/passwd", "outside" }, NULL },
	{ "-device romfile= by name and under the shared path",
	  Q "-device\nvirtio-net-pci,romfile=efi-virtio.rom\n-device\ne1000,romfile=@S/rom.bin",
	  Q "-device\nvirtio-net-pci,romfile=efi-virtio.rom\n-device\ne1000,romfile=@S/rom.bin" QMP, 0, { 0 }, NULL },
	{ "-global romfile=", Q "-global\nvirtio-net-pci.romfile=/etc/passwd", NULL, DENY,
	  { "-global romfile=/etc/passwd", "outside" }, NULL },
	/* host files through keys no table names (found by a hostile review) */
	{ "-smbios path= (a host file into the guest's tables)", Q "-smbios\ntype=11,path=/etc/shadow", NULL, DENY,
	  { "-smbios", "path=/etc/shadow", "outside" }, NULL },
	{ "-device ipmi-bmc-sim,frudatafile=", Q "-device\nipmi-bmc-sim,id=bmc0,frudatafile=/etc/shadow", NULL, DENY,
	  { "frudatafile=/etc/shadow", "outside" }, NULL },
	{ "-device virtio-input-host-pci,evdev=", Q "-device\nvirtio-input-host-pci,evdev=/dev/input/event0", NULL, DENY,
	  { "evdev=/dev/input/event0", "outside" }, NULL },
	{ "-global ipmi-bmc-sim.sdrfile=", Q "-global\nipmi-bmc-sim.sdrfile=/root/.ssh/id_rsa", NULL, DENY,
	  { "-global", "sdrfile=/root/.ssh/id_rsa", "outside" }, NULL },
	{ "-fsdev local writable", Q "-fsdev\nlocal,id=fs0,path=@S/fsdir,security_model=passthrough", NULL, DENY,
	  { "-fsdev", "read-only" }, NULL },
	{ "no display option: -display none is added (no VNC default)", Q "-m\n256",
	  Q "-m\n256" QMP, 0, { 0 }, NULL },
	{ "-device loader,file=", Q "-device\nloader,file=/etc/passwd,addr=0x100000", NULL, DENY,
	  { "-device loader,file=/etc/passwd", "outside" }, NULL },
	{ "-device vfio-pci", Q "-device\nvfio-pci,host=0000:01:00.0", NULL, DENY,
	  { "-device vfio-pci", "passes a host device through" }, NULL },
	{ "-fw_cfg file= outside, string=", Q "-fw_cfg\nname=opt/x,string=hello\n-fw_cfg\nname=opt/y,file=/etc/passwd",
	  NULL, DENY, { "-fw_cfg file=/etc/passwd", "outside" }, NULL },
	{ "-smbios file=", Q "-smbios\nfile=/etc/passwd", NULL, DENY, { "-smbios file=", "outside" }, NULL },
	{ "-acpitable, two files in the shared path",
	  Q "-acpitable\nsig=SSDT,file=@S/bios.bin:@S/rom.bin", Q "-acpitable\nsig=SSDT,file=@S/bios.bin:@S/rom.bin" QMP,
	  0, { 0 }, NULL },
	{ "-acpitable with a file outside", Q "-acpitable\nfile=@S/bios.bin:/etc/passwd", NULL, DENY,
	  { "-acpitable file=", "outside" }, NULL },
	{ "-icount record/replay", Q "-icount\nshift=auto,rr=record,rrfile=/etc/passwd", NULL, DENY,
	  { "-icount rr=", "record/replay" }, NULL },
	{ "-trace events= outside", Q "-trace\nevents=/etc/passwd", NULL, DENY, { "-trace events=", "outside" }, NULL },
	{ "-trace patterns and a trace file", Q "-trace\nenable=virtio_*,file=/tmp/trace.log",
	  Q "-trace\nenable=virtio_*,file=@D/trace.log" QMP, 0, { 0 }, NULL },
	{ "-audiodev wav, -audiodev none",
	  Q "-audiodev\nwav,id=a0,path=/tmp/out.wav\n-audiodev\n{\"id\":\"a1\",\"driver\":\"none\"}",
	  Q "-audiodev\nwav,id=a0,path=@D/out.wav\n-audiodev\n{\"id\":\"a1\",\"driver\":\"none\"}" QMP, 0, { 0 }, NULL },
	{ "-audiodev pa", Q "-audiodev\npa,id=a0,server=tcp:10.0.0.9", NULL, DENY,
	  { "-audiodev pa", "sound system" }, NULL },
	{ "-tpmdev passthrough", Q "-tpmdev\npassthrough,id=tpm0,path=/dev/tpm0", NULL, DENY,
	  { "-tpmdev passthrough", "TPM" }, NULL },
	/* ---- libvirt 9 ---- */
	{ "libvirt 9, headless: JSON values, fd chardevs, -mon, -sandbox, -msg; the unused master key dropped",
	  LIBVIRT_HEAD LIBVIRT_DISK LIBVIRT_SERIAL LIBVIRT_AGENT("fd=30") LIBVIRT_TAIL,
	  LIBVIRT_HEAD_OUT LIBVIRT_DISK LIBVIRT_SERIAL LIBVIRT_AGENT("path=@D/charchannel0.sock") LIBVIRT_TAIL_OUT,
	  0, { 0 }, NULL },
	{ "libvirt 9 with VNC", LIBVIRT_HEAD "-vnc\n127.0.0.1:0,audiodev=audio1\n" LIBVIRT_TAIL, NULL, DENY,
	  { "-vnc 127.0.0.1:0", "listens on the network" }, NULL },
	{ "libvirt 9 with a tap netdev from fds",
	  LIBVIRT_HEAD "-netdev\n{\"type\":\"tap\",\"fd\":\"32\",\"vhost\":true,\"vhostfd\":\"34\",\"id\":\"hostnet0\"}\n"
	  "-device\n{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\",\"mac\":\"52:54:00:12:34:56\"}\n"
	  LIBVIRT_TAIL, NULL, DENY, { "-netdev tap,fd=", "file descriptor" }, NULL },
	{ "libvirt 9 with a user netdev (JSON)",
	  Q "-netdev\n{\"type\":\"user\",\"id\":\"hostnet0\"}\n"
	  "-device\n{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\",\"mac\":\"52:54:00:12:34:56\"}",
	  Q "-netdev\n{\"type\":\"user\",\"id\":\"hostnet0\"}\n"
	  "-device\n{\"driver\":\"virtio-net-pci\",\"netdev\":\"hostnet0\",\"id\":\"net0\",\"mac\":\"52:54:00:12:34:56\"}" QMP,
	  0, { 0 }, NULL },
	{ "libvirt 9 with an encrypted disk: the master key is needed",
	  LIBVIRT_HEAD "-object\n{\"qom-type\":\"secret\",\"id\":\"libvirt-1-format-encryption-secret0\","
	  "\"data\":\"c2VjcmV0\",\"keyid\":\"masterKey0\",\"iv\":\"aXY=\",\"format\":\"base64\"}\n" LIBVIRT_TAIL,
	  NULL, DENY, { "-object secret,file=/var/lib/libvirt/qemu/domain-1-vm1/master-key.aes" }, NULL },
	{ "libvirt 9 with its image outside the shared paths",
	  LIBVIRT_HEAD "-blockdev\n{\"driver\":\"file\",\"filename\":\"@O/disk.img\",\"node-name\":\"libvirt-1-storage\"}\n"
	  LIBVIRT_TAIL, NULL, DENY, { "-blockdev file,filename=@O/disk.img", "outside" }, NULL },
	{ "libvirt 9 UEFI: pflash blockdevs on shared storage",
	  Q "-blockdev\n{\"driver\":\"file\",\"filename\":\"@S/OVMF_CODE.fd\",\"node-name\":\"libvirt-pflash0-storage\","
	  "\"auto-read-only\":true,\"discard\":\"unmap\"}\n"
	  "-blockdev\n{\"node-name\":\"libvirt-pflash0-format\",\"read-only\":true,\"driver\":\"raw\",\"file\":\"libvirt-pflash0-storage\"}\n"
	  "-machine\npc-q35-7.2,pflash0=libvirt-pflash0-format",
	  Q "-blockdev\n{\"driver\":\"file\",\"filename\":\"@S/OVMF_CODE.fd\",\"node-name\":\"libvirt-pflash0-storage\","
	  "\"auto-read-only\":true,\"discard\":\"unmap\"}\n"
	  "-blockdev\n{\"node-name\":\"libvirt-pflash0-format\",\"read-only\":true,\"driver\":\"raw\",\"file\":\"libvirt-pflash0-storage\"}\n"
	  "-machine\npc-q35-7.2,pflash0=libvirt-pflash0-format" QMP, 0, { 0 }, NULL },
};

static char shared_dir[256], other_dir[256];

/* s with @S, @O, @D replaced */
static char *subst(const char *s)
{
	size_t cap = strlen(s) * 4 + 4096, w = 0;
	char *out = malloc(cap);
	assert_non_null(out);
	for (; *s; s++) {
		const char *rep = NULL;
		if (s[0] == '@' && s[1] == 'S')
			rep = shared_dir;
		else if (s[0] == '@' && s[1] == 'O')
			rep = other_dir;
		else if (s[0] == '@' && s[1] == 'D')
			rep = "/st/vm1";
		if (rep) {
			w += (size_t)snprintf(out + w, cap - w, "%s", rep);
			s++;
		} else {
			out[w++] = *s;
		}
		assert_true(w < cap - 1);
	}
	out[w] = '\0';
	return out;
}

/* split a substituted table entry at newlines */
static size_t split(char *s, char **v, size_t max)
{
	size_t n = 0;
	for (char *p = s; p && n < max;) {
		v[n++] = p;
		p = strchr(p, '\n');
		if (p)
			*p++ = '\0';
	}
	return n;
}

static void mkfile(const char *dir, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("x", f);
	fclose(f);
}

static int setup(void **state)
{
	char p[512];
	if (test_tmp_setup(state) < 0)
		return -1;
	char *root = realpath(test_root, NULL);
	snprintf(shared_dir, sizeof(shared_dir), "%s/shared", root);
	snprintf(other_dir, sizeof(other_dir), "%s/outside", root);
	free(root);
	mkdir(shared_dir, 0700);
	mkdir(other_dir, 0700);
	snprintf(p, sizeof(p), "%s/sub", shared_dir);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/fsdir", shared_dir);
	mkdir(p, 0700);
	static const char *const files[] = { "vmlinuz", "initrd.img", "disk.qcow2", "disk.raw", "bios.bin", "rom.bin",
					     "OVMF_CODE.fd", "OVMF_VARS.fd", "secret.key" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++)
		mkfile(shared_dir, files[i]);
	mkfile(other_dir, "disk.img");
	mkfile(other_dir, "vmlinuz");
	snprintf(p, sizeof(p), "%s/escape", shared_dir);
	return symlink("/etc/passwd", p);
}

static void run_case(const struct tcase *t, const char *run_as)
{
	char *src = subst(t->src), *sv[512];
	size_t sn = split(src, sv, 512);
	const char *shared[] = { shared_dir };
	struct kvm_target_policy pol = { .qemu_bin = t->bin, .shared_paths = shared, .nshared = 1, .run_as = run_as };
	char **out = NULL;
	size_t n = 0;
	vms_err e = { 0 };
	int r = kvm_target_argv(sv, sn, "/st", "vm1", &pol, &out, &n, &e);
	if (!t->want) {
		if (r != t->code)
			print_error("%s: got %d (%s), want %d\n", t->title, r, e.msg, t->code);
		assert_int_equal(r, t->code);
		assert_null(out);
		for (int i = 0; i < 3 && t->msg[i]; i++) {
			char *m = subst(t->msg[i]);
			if (!strstr(e.msg, m))
				print_error("%s: message '%s' does not say '%s'\n", t->title, e.msg, m);
			assert_non_null(strstr(e.msg, m));
			free(m);
		}
		free(src);
		return;
	}
	if (r != 0)
		print_error("%s: %s\n", t->title, e.msg);
	assert_int_equal(r, 0);
	char *want = subst(t->want), *wv[600];
	size_t wn = split(want, wv, 590);
	if (!kvm_lc_has_display(sv, sn)) {      /* no display said: none, never QEMU's VNC default */
		wv[wn++] = "-display";
		wv[wn++] = "none";
	}
	wv[wn++] = "-sandbox";
	wv[wn++] = run_as ? "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny" : SANDBOX;
	if (run_as) {
		wv[wn++] = "-runas";
		wv[wn++] = (char *)run_as;
	}
	wv[wn++] = "-incoming";
	wv[wn++] = "defer";
	wv[wn++] = "-S";
	for (size_t i = 0; i < n && i < wn; i++)
		if (strcmp(out[i], wv[i]) != 0)
			print_error("%s: argument %zu is '%s', want '%s'\n", t->title, i, out[i], wv[i]);
	assert_int_equal(n, wn);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(out[i], wv[i]);
	assert_null(out[n]);
	kvm_argv_free(out);
	free(want);
	free(src);
}

static void test_matrix(void **state)
{
	(void)state;
	size_t lines = sizeof(cases) / sizeof(cases[0]), refused = 0;
	for (size_t i = 0; i < lines; i++) {
		run_case(&cases[i], NULL);
		refused += cases[i].want == NULL;
	}
	print_message("# %zu command lines: %zu carried over, %zu refused\n", lines, lines - refused, refused);
	assert_true(lines >= 40);
}

/* with --run-as: the same lines, ending in -runas USER */
static void test_run_as(void **state)
{
	(void)state;
	run_case(&cases[0], "nobody");
	run_case(&cases[3], "qemu-user");
	const char *shared[] = { shared_dir };
	struct kvm_target_policy pol = { .shared_paths = shared, .nshared = 1, .run_as = "x,y" };
	char *src[] = { "qemu-system-x86_64", "-m", "64" }, **out = NULL;
	size_t n;
	vms_err e = { 0 };
	assert_int_equal(kvm_target_argv(src, 3, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "user name"));
}

static void test_arguments(void **state)
{
	(void)state;
	char **out = NULL;
	size_t n;
	vms_err e = { 0 };
	const char *shared[] = { shared_dir }, *missing[] = { "/nonexistent/shared" };
	struct kvm_target_policy pol = { .shared_paths = shared, .nshared = 1 };
	char *ok[] = { "qemu-system-x86_64", "-m", "64" };
	assert_int_equal(kvm_target_argv(ok, 3, "/st", "../x", &pol, &out, &n, &e), -EINVAL);
	assert_int_equal(kvm_target_argv(ok, 0, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	assert_int_equal(kvm_target_argv(ok, 3, "/st", "vm1", NULL, &out, &n, &e), -EINVAL);
	assert_int_equal(kvm_target_argv(ok, 3, "/s,t", "vm1", &pol, &out, &n, &e), -EINVAL);
	char *dangling[] = { "qemu-system-x86_64", "-pidfile" };
	assert_int_equal(kvm_target_argv(dangling, 2, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "-pidfile without a value"));
	char *arch[] = { "qemu-system-X86", "-m", "64" };
	assert_int_equal(kvm_target_argv(arch, 3, "/st", "vm1", &pol, &out, &n, &e), -EPERM);
	struct kvm_target_policy bad = { .shared_paths = missing, .nshared = 1 };
	assert_int_equal(kvm_target_argv(ok, 3, "/st", "vm1", &bad, &out, &n, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "/nonexistent/shared"));
	char *badjson[] = { "qemu-system-x86_64", "-object", "{\"qom-type\":" };
	assert_int_equal(kvm_target_argv(badjson, 3, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	char *deep[] = { "qemu-system-x86_64", "-blockdev", "{\"a\":{\"b\":{\"c\":{\"d\":{\"e\":{\"f\":{\"g\":{\"h\":{\"i\":{\"j\":1}}}}}}}}}}" };
	assert_int_equal(kvm_target_argv(deep, 3, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	char *empty[] = { "qemu-system-x86_64", "-netdev", "user,,id=x" };
	assert_int_equal(kvm_target_argv(empty, 3, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	char *trailing[] = { "qemu-system-x86_64", "-netdev", "user,id=x," };
	assert_int_equal(kvm_target_argv(trailing, 3, "/st", "vm1", &pol, &out, &n, &e), -EINVAL);
	/* a missing file: "not there" only under a shared path, so that a
	 * sender cannot probe what exists elsewhere on the receiver */
	char nofile[300];
	snprintf(nofile, sizeof(nofile), "%s/nonexistent", shared_dir);
	char *missing_file[] = { "qemu-system-x86_64", "-kernel", nofile };
	assert_int_equal(kvm_target_argv(missing_file, 3, "/st", "vm1", &pol, &out, &n, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "-kernel "));
	assert_non_null(strstr(e.msg, "No such file"));
	char *probe[] = { "qemu-system-x86_64", "-kernel", "/root/nonexistent-probe" };
	assert_int_equal(kvm_target_argv(probe, 3, "/st", "vm1", &pol, &out, &n, &e), -EPERM);
	assert_non_null(strstr(e.msg, "outside the shared paths"));
	snprintf(nofile, sizeof(nofile), "%s/../nonexistent", shared_dir);
	assert_int_equal(kvm_target_argv(missing_file, 3, "/st", "vm1", &pol, &out, &n, &e), -EPERM);
	char *ctl[] = { "qemu-system-x86_64", "-frob\x1b[31m" };
	assert_int_equal(kvm_target_argv(ctl, 2, "/st", "vm1", &pol, &out, &n, &e), -EPERM);
	assert_null(strchr(e.msg, '\x1b'));
	assert_null(out);
	/* a relative state directory becomes absolute: the target runs in it */
	assert_int_equal(kvm_target_argv(ok, 3, "st", "vm1", &pol, &out, &n, &e), 0);
	assert_true(out[4][0] == 'u' && strstr(out[4], "unix:/") == out[4]);
	assert_non_null(strstr(out[4], "/st/vm1/qmp.sock"));
	kvm_argv_free(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix),
		cmocka_unit_test(test_run_as),
		cmocka_unit_test(test_arguments),
	};
	return cmocka_run_group_tests(tests, setup, test_tmp_teardown);
}
