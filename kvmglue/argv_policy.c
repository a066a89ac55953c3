/* argv_policy.c - which options of the source QEMU's command line the
 * target QEMU may run with, and how (doc/SECURITY.md, "The target QEMU's
 * command line"): the option table, the key tables of the options whose
 * values are checked key by key, and their rules. An option, a type
 * (driver, backend, qom-type) or, where a key table is closed, a key that
 * is not listed here is refused by name. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"

/* ---- character devices ----------------------------------------------------- */

struct sock_arg {
	char path[LC_PATH_MAX + LC_NAME_MAX];   /* where the socket goes */
	int server;
};

static const struct kvm_lc_key sock_keys[] = {
	{ "id", K_KEEP, NULL }, { "backend", K_KEEP, NULL }, { "server", K_KEEP, NULL }, { "wait", K_KEEP, NULL },
	{ "reconnect", K_KEEP, NULL }, { "telnet", K_KEEP, NULL }, { "tn3270", K_KEEP, NULL },
	{ "websocket", K_KEEP, NULL }, { "delay", K_KEEP, NULL }, { "mux", K_KEEP, NULL },
	{ "logappend", K_KEEP, NULL }, { "tls-creds", K_KEEP, NULL }, { "tls-authz", K_KEEP, NULL },
	{ "logfile", K_MOVE, NULL },
	{ "abstract", K_REFUSE, "uses the abstract socket namespace, outside STATE/NAME/" },
	{ "tight", K_REFUSE, "uses the abstract socket namespace, outside STATE/NAME/" },
	{ NULL, 0, NULL },
};

static int sock_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg)
{
	static const char *const net[] = { "host", "port", "to", "ipv4", "ipv6", "localaddr", "localport",
					   "keep-alive", NULL };
	const struct sock_arg *s = arg;
	if (strcmp(key, "path") == 0 || strcmp(key, "fd") == 0) {
		if (strcmp(key, "fd") == 0 && !s->server)
			return kvm_lc_refuse_key(c, v, key, "a connected socket: " FD_WHY);
		snprintf(c->rval, sizeof(c->rval), "%s", s->path);
		if (strcmp(key, "fd") == 0)
			snprintf(c->rkey, sizeof(c->rkey), "path");
		return 1;
	}
	for (const char *const *n = net; *n; n++)
		if (strcmp(key, *n) == 0)
			return kvm_lc_refuse_key(c, v, key,
						 s->server ? "listens on the network" : "connects over the network");
	return kvm_lc_key_rule(c, v, key, val, &(struct keyset){ sock_keys, 0 });
}

/* A socket's value (-chardev socket,... or unix:PATH,...): its socket goes
 * to STATE/NAME/name (`reserved`: one of ours, not handed out). */
static int sock_check(struct lc *c, struct kvm_lc_val *v, const char *name, int reserved, char **out)
{
	struct sock_arg *s = calloc(1, sizeof(*s));
	char tmp[16];
	int r = s ? 0 : kvm_lc_fail(c, -ENOMEM, "out of memory");
	if (r == 0) {
		s->server = kvm_lc_val_get(v, "server", tmp, sizeof(tmp)) == 1 && kvm_lc_bool(tmp);
		if (kvm_lc_val_get(v, "path", tmp, sizeof(tmp)) && kvm_lc_val_get(v, "fd", tmp, sizeof(tmp)))
			r = kvm_lc_fail(c, -EINVAL, "%s: both path= and fd=", v->what);
	}
	if (r == 0 && reserved)
		snprintf(s->path, sizeof(s->path), "%s/%s", c->dir, name);
	else if (r == 0 && (kvm_lc_val_get(v, "path", tmp, sizeof(tmp)) || kvm_lc_val_get(v, "fd", tmp, sizeof(tmp))))
		r = kvm_lc_move(c, v->what, name, s->path, sizeof(s->path));
	if (r == 0)
		r = kvm_lc_val_walk(c, v, sock_rule, s, NULL, out);
	free(s);
	return r;
}

static const struct kvm_lc_key chr_common[] = {
	{ "logfile", K_MOVE, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key chr_file[] = {
	{ "id", K_KEEP, NULL }, { "backend", K_KEEP, NULL }, { "append", K_KEEP, NULL }, { "mux", K_KEEP, NULL },
	{ "logappend", K_KEEP, NULL }, { "path", K_MOVE, NULL }, { "logfile", K_MOVE, NULL },
	{ "input-path", K_SHARED, NULL }, { NULL, 0, NULL },
};

/* -chardev BACKEND,... */
static const struct kind chardevs[] = {
	{ "file", chr_file, 0, NULL },
	{ "null", chr_common, 1, NULL }, { "pty", chr_common, 1, NULL }, { "stdio", chr_common, 1, NULL },
	{ "vc", chr_common, 1, NULL }, { "ringbuf", chr_common, 1, NULL }, { "memory", chr_common, 1, NULL },
	{ "msmouse", chr_common, 1, NULL }, { "wctablet", chr_common, 1, NULL }, { "testdev", chr_common, 1, NULL },
	{ "qemu-vdagent", chr_common, 1, NULL },
	{ "serial", NULL, 0, "opens a host device" }, { "tty", NULL, 0, "opens a host device" },
	{ "parallel", NULL, 0, "opens a host device" }, { "parport", NULL, 0, "opens a host device" },
	{ "pipe", NULL, 0, "opens host files (FIFOs)" }, { "udp", NULL, 0, "sends over the network" },
	{ "braille", NULL, 0, "talks to the host's braille daemon" },
	{ "spicevmc", NULL, 0, "needs SPICE, which listens on the network" },
	{ "spiceport", NULL, 0, "needs SPICE, which listens on the network" },
	{ "dbus", NULL, 0, "talks to a D-Bus peer on the host" },
	{ NULL, NULL, 0, NULL },
};

static int opt_chardev(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	struct kvm_lc_val v;
	char b[32], id[LC_NAME_MAX], name[LC_NAME_MAX + 8], *out = NULL;
	int r = kvm_lc_val_open(c, &v, o, val, "backend", 0);
	if (r == 0 && kvm_lc_val_get(&v, "backend", b, sizeof(b)) != 1)
		r = kvm_lc_fail(c, -EINVAL, "-chardev: no backend");
	if (r == 0 && strcmp(b, "socket") == 0) {
		kvm_lc_val_kind(&v, o, b);
		if (kvm_lc_val_get(&v, "id", id, sizeof(id)) != 1)
			id[0] = '\0';
		snprintf(name, sizeof(name), "%s.sock", id);
		r = sock_check(c, &v, name, 0, &out);
		if (r == 0)
			r = kvm_lc_emit2(c, o, out);
	} else if (r == 0) {
		r = kvm_lc_check_kind(c, o, val, "backend", 0, chardevs, "a character device backend", NULL);
	}
	free(out);
	kvm_lc_val_close(&v);
	return r;
}

/* -serial, -parallel, -monitor, -qmp, -qmp-pretty, -gdb, -debugcon: QEMU's
 * short chardev forms. */
static int chr_form(struct lc *c, const struct kvm_lc_opt *o, const char *val, char *out, size_t len, int depth)
{
	static const char *const plain[] = { "none", "null", "stdio", "pty", "vc", "msmouse", NULL };
	static const struct { const char *prefix, *why; } refused[] = {
		{ "tcp:", "opens a TCP socket: listens on or connects over the network" },
		{ "telnet:", "opens a TCP socket: listens on or connects over the network" },
		{ "websocket:", "listens on the network" }, { "udp:", "sends over the network" },
		{ "pipe:", "opens host files (FIFOs)" }, { "/", "opens a host device" },
		{ "COM", "opens a host device" },
		{ "braille", "talks to the host's braille daemon" },
	};
	char what[96], name[LC_NAME_MAX + 8];
	int r = 0;
	snprintf(what, sizeof(what), "-%s %.40s", o->name, val);
	for (const char *const *p = plain; *p; p++)
		if (strcmp(val, *p) == 0)
			return snprintf(out, len, "%s", val) >= (int)len ? -ENAMETOOLONG : 0;
	if (strncmp(val, "vc:", 3) == 0 || strncmp(val, "chardev:", 8) == 0)
		return snprintf(out, len, "%s", val) >= (int)len ? -ENAMETOOLONG : 0;
	if (strncmp(val, "mon:", 4) == 0 && depth == 0 && len > 4) {
		memcpy(out, "mon:", 4);
		return chr_form(c, o, val + 4, out + 4, len - 4, 1);
	}
	if (strncmp(val, "file:", 5) == 0) {
		r = kvm_lc_move(c, what, kvm_lc_base(val + 5), c->rval, sizeof(c->rval));
		return r < 0 ? r : snprintf(out, len, "file:%s", c->rval) >= (int)len ? -ENAMETOOLONG : 0;
	}
	if (strncmp(val, "unix:", 5) == 0) {
		struct kvm_lc_val v;
		char path[LC_PATH_MAX], *res = NULL;
		int qmp = strncmp(o->name, "qmp", 3) == 0, mon = strcmp(o->name, "monitor") == 0, reserved = 0;
		r = kvm_lc_val_open(c, &v, o, val + 5, "path", 0);
		if (r == 0 && kvm_lc_val_get(&v, "path", path, sizeof(path)) != 1)
			path[0] = '\0';
		if (qmp && (reserved = c->nqmp++ == 0))
			snprintf(name, sizeof(name), "qmp.sock");
		else if (qmp)
			snprintf(name, sizeof(name), "qmp%u.sock", c->nqmp);
		else if (mon && c->nmon++ == 0)
			snprintf(name, sizeof(name), "monitor.sock");
		else if (mon)
			snprintf(name, sizeof(name), "monitor%u.sock", c->nmon);
		else
			snprintf(name, sizeof(name), "%.70s", kvm_lc_base(path));
		kvm_lc_val_kind(&v, o, "unix:");
		if (r == 0)
			r = sock_check(c, &v, name, reserved, &res);
		if (r == 0 && snprintf(out, len, "unix:%s", res) >= (int)len)
			r = -ENAMETOOLONG;
		free(res);
		kvm_lc_val_close(&v);
		return r;
	}
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		if (strncmp(val, refused[i].prefix, strlen(refused[i].prefix)) == 0)
			return kvm_lc_fail(c, -EPERM, "%s: %s", what, refused[i].why);
	return kvm_lc_fail(c, -EPERM, "%s: not a character device the target may use", what);
}

static int opt_chr(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	char *out = malloc(KVM_ARG_MAX + LC_PATH_MAX);
	int r = out ? chr_form(c, o, val, out, KVM_ARG_MAX + LC_PATH_MAX, 0) : -ENOMEM;
	if (r == -ENAMETOOLONG || r == -ENOMEM)
		r = kvm_lc_fail(c, r, "-%s: the rewritten value is too long", o->name);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	return r;
}

/* ---- block devices ------------------------------------------------------------ */

/* Drivers of image files and filters; no network, no host programs, no
 * configuration files QEMU would read unchecked. */
static const char *const block_drivers[] = {
	"file", "host_device", "host_cdrom", "raw", "qcow2", "qed", "vdi", "vpc", "vhdx", "luks", "throttle",
	"copy-on-read", "null-co", "null-aio", "preallocate", "compress", NULL,
};

static int block_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg)
{
	int drive = arg != NULL;
	const char *last = kvm_lc_key_last(key);
	if (strcmp(last, "driver") == 0 || (drive && strcmp(key, "format") == 0)) {
		for (const char *const *d = block_drivers; *d; d++)
			if (strcmp(*d, val) == 0)
				return 0;
		return kvm_lc_refuse_key(c, v, key, "not a block driver the target may use (network, host programs or "
				  "files it cannot check)");
	}
	if (strcmp(last, "filename") == 0 || (drive && strcmp(key, "file") == 0))
		return kvm_lc_key_apply(c, v, key, val, K_SHARED, NULL);
	return 0;
}

static int opt_block(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	struct kvm_lc_val v;
	char *out = NULL, kind[64];
	int drive = strcmp(o->name, "blockdev") != 0;
	int r = kvm_lc_val_open(c, &v, o, val, NULL, !drive);
	if (r == 0 && !drive && kvm_lc_val_get(&v, "driver", kind, sizeof(kind)) == 1)
		kvm_lc_val_kind(&v, o, kind);
	if (r == 0)
		r = kvm_lc_val_walk(c, &v, block_rule, drive ? (void *)o : NULL, NULL, &out);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	kvm_lc_val_close(&v);
	return r;
}

/* -kernel PATH, -hda PATH, ...: a host file under a shared path. */
static int opt_shared(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	char what[80];
	int r;
	snprintf(what, sizeof(what), "-%s ", o->name);
	if (strcmp(o->name, "initrd") == 0 && strchr(val, ','))
		r = kvm_lc_fail(c, -EPERM, "-initrd %.80s: a list of files (multiboot modules) is not carried over",
				val);
	else if (strcmp(o->name, "bios") == 0 || strcmp(o->name, "k") == 0)   /* found by name too */
		r = kvm_lc_firmware(c, what, val, c->rval, sizeof(c->rval));
	else
		r = kvm_lc_shared(c, what, val, c->rval, sizeof(c->rval));
	return r < 0 ? r : kvm_lc_emit2(c, o, c->rval);
}

int kvm_lc_bare_arg(struct lc *c, const char *val)
{
	int r = kvm_lc_shared(c, "a disk image (bare argument) ", val, c->rval, sizeof(c->rval));
	return r < 0 ? r : kvm_lc_emit(c, c->rval);
}

/* ---- files QEMU writes: into STATE/NAME/ ---------------------------------------- */

static int opt_pidfile(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	(void)val;
	snprintf(c->rval, sizeof(c->rval), "%s/qemu.pid", c->dir);
	return kvm_lc_emit2(c, o, c->rval);
}

static int opt_moved(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	char what[80];
	snprintf(what, sizeof(what), "-%s", o->name);
	int r = kvm_lc_move(c, what, strcmp(o->name, "mem-path") == 0 ? "qemu.ram" : kvm_lc_base(val), c->rval,
			sizeof(c->rval));
	return r < 0 ? r : kvm_lc_emit2(c, o, c->rval);
}

/* ---- objects, devices, networks, ... ---------------------------------------------- */

static const struct kvm_lc_key obj_mem_file[] = { { "mem-path", K_MOVE, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_secret[] = { { "file", K_SHARED, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_tls[] = { { "dir", K_SHARED, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_listfile[] = { { "filename", K_SHARED, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_rng[] = { { "filename", K_RNG, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_dump[] = { { "file", K_MOVE, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key obj_sev[] = { { "sev-device", K_REFUSE, "opens a host device" }, { NULL, 0, NULL } };

static const struct kind objects[] = {
	{ "memory-backend-ram", NULL, 1, NULL }, { "memory-backend-memfd", NULL, 1, NULL },
	{ "memory-backend-epc", NULL, 1, NULL }, { "memory-backend-file", obj_mem_file, 1, NULL },
	{ "secret", obj_secret, 1, NULL }, { "iothread", NULL, 1, NULL }, { "main-loop", NULL, 1, NULL },
	{ "thread-context", NULL, 1, NULL }, { "throttle-group", NULL, 1, NULL },
	{ "cryptodev-backend-builtin", NULL, 1, NULL }, { "cryptodev-vhost-user", NULL, 1, NULL },
	{ "rng-builtin", NULL, 1, NULL }, { "rng-egd", NULL, 1, NULL }, { "rng-random", obj_rng, 1, NULL },
	{ "authz-simple", NULL, 1, NULL }, { "authz-listfile", obj_listfile, 1, NULL },
	{ "tls-creds-anon", obj_tls, 1, NULL }, { "tls-creds-psk", obj_tls, 1, NULL },
	{ "tls-creds-x509", obj_tls, 1, NULL }, { "tls-cipher-suites", NULL, 1, NULL },
	{ "filter-buffer", NULL, 1, NULL }, { "filter-mirror", NULL, 1, NULL },
	{ "filter-redirector", NULL, 1, NULL }, { "filter-rewriter", NULL, 1, NULL },
	{ "filter-replay", NULL, 1, NULL }, { "filter-dump", obj_dump, 1, NULL }, { "colo-compare", NULL, 1, NULL },
	{ "can-bus", NULL, 1, NULL }, { "pef-guest", NULL, 1, NULL }, { "s390-pv-guest", NULL, 1, NULL },
	{ "sev-guest", obj_sev, 1, NULL },
	{ "secret_keyring", NULL, 0, "reads the host's kernel keyring" },
	{ "input-linux", NULL, 0, "reads a host input device" },
	{ "input-barrier", NULL, 0, "connects over the network" },
	{ "can-host-socketcan", NULL, 0, "uses a host CAN interface" },
	{ "pr-manager-helper", NULL, 0, "connects to a host socket" },
	{ "dbus-vmstate", NULL, 0, "talks to a D-Bus peer on the host" },
	{ "authz-pam", NULL, 0, "runs the host's PAM modules" },
	{ "x-remote-object", NULL, 0, "exports devices to other processes" },
	{ "vfio-user-server", NULL, 0, "exports devices to other processes" },
	{ NULL, NULL, 0, NULL },
};

static int opt_object(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	struct kvm_lc_val v;
	char type[32], id[128], file[8];
	int r = kvm_lc_val_open(c, &v, o, val, "qom-type", 1);
	/* libvirt's master key (-object secret,id=masterKey0,file=...): a
	 * secret read from a file that nothing refers to is of no use */
	int drop = r == 0 && kvm_lc_val_get(&v, "qom-type", type, sizeof(type)) == 1 && strcmp(type, "secret") == 0 &&
		   kvm_lc_val_get(&v, "id", id, sizeof(id)) == 1 &&
		   kvm_lc_val_get(&v, "file", file, sizeof(file)) != 0 &&
		   !kvm_lc_refers(c, id);
	kvm_lc_val_close(&v);
	if (r < 0 || drop)
		return r;
	return kvm_lc_check_kind(c, o, val, "qom-type", 1, objects, "an object type", NULL);
}

static const struct kvm_lc_key dev_keys[] = {
	{ "romfile", K_FW, NULL }, { "file", K_SHARED, NULL }, { "rootdir", K_SHARED, NULL },
	{ "kernel", K_SHARED, NULL }, { "initrd", K_INITRD, NULL },
	{ "fd", K_REFUSE, FD_WHY }, { "fds", K_REFUSE, FD_WHY }, { "vhostfd", K_REFUSE, FD_WHY },
	{ "vhostfds", K_REFUSE, FD_WHY }, { NULL, 0, NULL },
};

/* Device types are too many to list: every one is allowed but those that
 * pass a host device through; their host-file keys are checked. */
static const struct kind devices[] = {
	{ "vfio-*", NULL, 0, "passes a host device through" },
	{ "usb-host", NULL, 0, "passes a host device through" },
	{ "pci-assign", NULL, 0, "passes a host device through" },
	{ "kvm-pci-assign", NULL, 0, "passes a host device through" },
	{ "vhost-scsi*", NULL, 0, "passes a host SCSI target through" },
	{ "vhost-vdpa*", NULL, 0, "passes a host vDPA device through" },
	{ "u2f-passthru", NULL, 0, "passes a host security key through" },
	{ "ccid-card-emulated", NULL, 0, "uses the host's smart cards" },
	{ "xen-*", NULL, 0, "needs Xen" },
	{ "*", dev_keys, 1, NULL },
	{ NULL, NULL, 0, NULL },
};

static int opt_device(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	return kvm_lc_check_kind(c, o, val, "driver", 1, devices, "a device type", NULL);
}

/* -global DRIVER.PROP=VALUE, or -global driver=D,property=P,value=V */
static int global_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg)
{
	const char *prop = arg;
	if (strcmp(key, "value") != 0)
		return 0;
	const struct kvm_lc_key *k = kvm_lc_key_find(dev_keys, prop);
	if (k)
		return kvm_lc_key_apply(c, v, prop, val, k->act, k->why);
	/* a property that names a file: only under a shared path */
	return strchr(val, '/') ? kvm_lc_key_apply(c, v, prop, val, K_SHARED, NULL) : 0;
}

static int opt_global(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	size_t dl = strcspn(val, ".="), pl = dl < 64 && val[dl] == '.' ? strcspn(val + dl + 1, "=") : 0;
	struct kvm_lc_val v;
	char prop[256], *out = NULL;
	int r;
	if (dl >= 1 && dl < 64 && pl >= 1 && pl < 256 && val[dl + 1 + pl] == '=') {   /* QEMU's sscanf form */
		snprintf(prop, sizeof(prop), "%.*s", (int)pl, val + dl + 1);
		memset(&v, 0, sizeof(v));
		v.what = "-global";
		r = global_rule(c, &v, "value", val + dl + pl + 2, prop);
		if (r == 1 && !(out = malloc(dl + pl + 2 + strlen(c->rval) + 1)))
			r = kvm_lc_fail(c, -ENOMEM, "out of memory");
		if (r == 1)
			sprintf(out, "%.*s=%s", (int)(dl + pl + 1), val, c->rval);
		r = r < 0 ? r : kvm_lc_emit2(c, o, out ? out : val);
		free(out);
		return r;
	}
	r = kvm_lc_val_open(c, &v, o, val, NULL, 0);
	if (r == 0 && kvm_lc_val_get(&v, "property", prop, sizeof(prop)) != 1)
		prop[0] = '\0';
	if (r == 0)
		r = kvm_lc_val_walk(c, &v, global_rule, prop, NULL, &out);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	kvm_lc_val_close(&v);
	return r;
}

#define NET_COMMON { "id", K_KEEP, NULL }, { "type", K_KEEP, NULL }, { "name", K_KEEP, NULL }, \
	{ "model", K_KEEP, NULL }, { "mac", K_KEEP, NULL }
static const struct kvm_lc_key net_user[] = {
	NET_COMMON, { "net", K_KEEP, NULL }, { "host", K_KEEP, NULL }, { "ipv4", K_KEEP, NULL },
	{ "ipv6", K_KEEP, NULL }, { "ipv6-net", K_KEEP, NULL }, { "ipv6-host", K_KEEP, NULL },
	{ "ipv6-prefix", K_KEEP, NULL }, { "ipv6-prefixlen", K_KEEP, NULL }, { "restrict", K_KEEP, NULL },
	{ "hostname", K_KEEP, NULL }, { "dhcpstart", K_KEEP, NULL }, { "dns", K_KEEP, NULL },
	{ "ipv6-dns", K_KEEP, NULL }, { "dnssearch", K_KEEP, NULL }, { "domainname", K_KEEP, NULL },
	{ "tftp-server-name", K_KEEP, NULL }, { "bootfile", K_KEEP, NULL }, { "tftp", K_SHARED, NULL },
	{ "hostfwd", K_REFUSE, "opens a listener on the host" },
	{ "guestfwd", K_REFUSE, "runs a program or connects out from the host" },
	{ "smb", K_REFUSE, "runs a program (smbd)" }, { "smbserver", K_REFUSE, "runs a program (smbd)" },
	{ NULL, 0, NULL },
};
static const struct kvm_lc_key net_tap[] = {
	NET_COMMON, { "ifname", K_KEEP, NULL }, { "script", K_KEEP, NULL }, { "downscript", K_KEEP, NULL },
	{ "vhost", K_KEEP, NULL }, { "vhostforce", K_KEEP, NULL }, { "queues", K_KEEP, NULL },
	{ "sndbuf", K_KEEP, NULL }, { "vnet_hdr", K_KEEP, NULL }, { "poll-us", K_KEEP, NULL },
	{ "fd", K_REFUSE, FD_WHY }, { "fds", K_REFUSE, FD_WHY }, { "vhostfd", K_REFUSE, FD_WHY },
	{ "vhostfds", K_REFUSE, FD_WHY }, { "helper", K_REFUSE, "runs a program" },
	{ "br", K_REFUSE, "runs a program (qemu-bridge-helper)" }, { NULL, 0, NULL },
};
static const struct kvm_lc_key net_vhost_user[] = {
	NET_COMMON, { "chardev", K_KEEP, NULL }, { "vhostforce", K_KEEP, NULL }, { "queues", K_KEEP, NULL },
	{ NULL, 0, NULL },
};
static const struct kvm_lc_key net_hubport[] = {
	NET_COMMON, { "hubid", K_KEEP, NULL }, { "netdev", K_KEEP, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key net_nic[] = {
	NET_COMMON, { "macaddr", K_KEEP, NULL }, { "netdev", K_KEEP, NULL }, { "addr", K_KEEP, NULL },
	{ "vectors", K_KEEP, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key net_none[] = { NET_COMMON, { NULL, 0, NULL } };

static const struct kind netdevs[] = {
	{ "user", net_user, 0, NULL }, { "tap", net_tap, 0, NULL }, { "vhost-user", net_vhost_user, 0, NULL },
	{ "hubport", net_hubport, 0, NULL }, { "none", net_none, 0, NULL },
	{ "bridge", NULL, 0, "runs a program (qemu-bridge-helper)" },
	{ "socket", NULL, 0, "listens on or connects over the network" },
	{ "stream", NULL, 0, "listens on or connects over the network" },
	{ "dgram", NULL, 0, "sends over the network" }, { "l2tpv3", NULL, 0, "sends over the network" },
	{ "vde", NULL, 0, "talks to a VDE switch on the host" }, { "netmap", NULL, 0, "uses a host netmap port" },
	{ "vhost-vdpa", NULL, 0, "passes a host vDPA device through" },
	{ "af-xdp", NULL, 0, "uses a host network interface" },
	{ NULL, NULL, 0, NULL },
};
static const struct kind netdevs_legacy[] = {     /* -net also takes nic */
	{ "nic", net_nic, 0, NULL }, { NULL, NULL, 0, NULL },
};

static int opt_net(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	static const char *const dups[] = { "dnssearch", NULL };
	struct kvm_lc_val v;
	char type[32], s[16];
	int json = strcmp(o->name, "netdev") == 0;
	int r = kvm_lc_val_open(c, &v, o, val, "type", json);
	/* tap runs /etc/qemu-ifup and -ifdown unless told not to, or given an
	 * fd (refused by its key) */
	if (r == 0 && kvm_lc_val_get(&v, "type", type, sizeof(type)) == 1 && strcmp(type, "tap") == 0 &&
	    !kvm_lc_val_get(&v, "fd", s, sizeof(s)) && !kvm_lc_val_get(&v, "fds", s, sizeof(s)) &&
	    !kvm_lc_val_get(&v, "helper", s, sizeof(s)) && !kvm_lc_val_get(&v, "br", s, sizeof(s)))
		for (const char *const *k = (const char *const[]){ "script", "downscript", NULL }; *k && r == 0; k++)
			if (kvm_lc_val_get(&v, *k, s, sizeof(s)) != 1 || (s[0] && strcmp(s, "no") != 0))
				r = kvm_lc_fail(c, -EPERM, "-%s tap without %s=no: runs a program (/etc/qemu-if%s)", o->name, *k,
					    **k == 's' ? "up" : "down");
	int nic = r == 0 && strcmp(o->name, "net") == 0 && kvm_lc_val_get(&v, "type", type, sizeof(type)) == 1 &&
		  strcmp(type, "nic") == 0;
	kvm_lc_val_close(&v);
	if (r < 0)
		return r;
	return kvm_lc_check_kind(c, o, val, "type", json, nic ? netdevs_legacy : netdevs, "a network backend", dups);
}

static const struct kvm_lc_key fs_keys[] = {
	{ "id", K_KEEP, NULL }, { "fsdriver", K_KEEP, NULL }, { "security_model", K_KEEP, NULL },
	{ "writeout", K_KEEP, NULL }, { "readonly", K_KEEP, NULL }, { "fmode", K_KEEP, NULL },
	{ "dmode", K_KEEP, NULL }, { "multidevs", K_KEEP, NULL }, { "mount_tag", K_KEEP, NULL },
	{ "throttling", K_KEEP, NULL }, { "path", K_SHARED, NULL },
	{ "socket", K_REFUSE, "talks to a helper program on the host" },
	{ "sock_fd", K_REFUSE, FD_WHY }, { NULL, 0, NULL },
};
static const struct kind fsdevs[] = {
	{ "local", fs_keys, 0, NULL }, { "synth", fs_keys, 0, NULL },
	{ "proxy", NULL, 0, "talks to a helper program on the host" }, { NULL, NULL, 0, NULL },
};

static int opt_fsdev(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	struct kvm_lc_val v;
	char ro[8];
	int r = kvm_lc_val_open(c, &v, o, val, "fsdriver", 0);
	/* the guest of a writable share writes host files as the target QEMU
	 * (root, or --run-as): on shared storage that is everybody's */
	if (r == 0 && (kvm_lc_val_get(&v, "readonly", ro, sizeof(ro)) != 1 || !kvm_lc_bool(ro)))
		r = kvm_lc_fail(c, -EPERM, "-%s %.60s: only a read-only share (readonly=on) is carried over: the "
				"guest would write host files", o->name, val);
	kvm_lc_val_close(&v);
	return r < 0 ? r : kvm_lc_check_kind(c, o, val, "fsdriver", 0, fsdevs, "a file system driver", NULL);
}

static const struct kvm_lc_key tpm_emulator[] = {
	{ "id", K_KEEP, NULL }, { "type", K_KEEP, NULL }, { "chardev", K_KEEP, NULL }, { NULL, 0, NULL },
};
static const struct kind tpmdevs[] = {
	{ "emulator", tpm_emulator, 0, NULL }, { "passthrough", NULL, 0, "passes the host's TPM through" },
	{ NULL, NULL, 0, NULL },
};

static int opt_tpmdev(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	return kvm_lc_check_kind(c, o, val, "type", 0, tpmdevs, "a TPM backend", NULL);
}

static const struct kvm_lc_key audio_wav[] = { { "path", K_MOVE, NULL }, { NULL, 0, NULL } };
static const struct kind audiodevs[] = {
	{ "none", NULL, 1, NULL }, { "wav", audio_wav, 1, NULL },
	{ "*", NULL, 0, "uses the host's sound system" }, { NULL, NULL, 0, NULL },
};

static int opt_audio(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	return kvm_lc_check_kind(c, o, val, "driver", strcmp(o->name, "audiodev") == 0, audiodevs,
				 "an audio backend", NULL);
}

static const struct kvm_lc_key display_none[] = { { "type", K_KEEP, NULL }, { NULL, 0, NULL } };
static const struct kind displays[] = {
	{ "none", display_none, 0, NULL }, { "*", NULL, 0, "opens a window or listens on the network" },
	{ NULL, NULL, 0, NULL },
};

static int opt_display(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	return kvm_lc_check_kind(c, o, val, "type", 0, displays, "a display", NULL);
}

static const struct kvm_lc_key vnc_keys[] = {
	{ "vnc", K_KEEP, NULL }, { "share", K_KEEP, NULL }, { "lossy", K_KEEP, NULL },
	{ "non-adaptive", K_KEEP, NULL }, { "audiodev", K_KEEP, NULL }, { "power-control", K_KEEP, NULL },
	{ "key-delay-ms", K_KEEP, NULL }, { "password", K_KEEP, NULL }, { NULL, 0, NULL },
};

static int vnc_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg)
{
	(void)arg;
	if (strcmp(key, "vnc") == 0 && strcmp(val, "none") != 0) {
		if (strncmp(val, "unix:", 5) != 0)
			return kvm_lc_fail(c, -EPERM, "-vnc %.40s: listens on the network", val);
		int r = kvm_lc_move(c, "-vnc unix:", "vnc.sock", c->rval + 5, sizeof(c->rval) - 5);
		memcpy(c->rval, "unix:", 5);
		return r < 0 ? r : 1;
	}
	return kvm_lc_key_rule(c, v, key, val, &(struct keyset){ vnc_keys, 0 });
}

static int opt_vnc(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	struct kvm_lc_val v;
	char *out = NULL;
	int r = kvm_lc_val_open(c, &v, o, val, "vnc", 0);
	if (r == 0)
		r = kvm_lc_val_walk(c, &v, vnc_rule, NULL, NULL, &out);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	kvm_lc_val_close(&v);
	return r;
}

static int opt_usbdevice(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	static const char *const ok[] = { "tablet", "mouse", "keyboard", "wacom-tablet", NULL };
	for (const char *const *p = ok; *p; p++)
		if (strcmp(val, *p) == 0)
			return kvm_lc_emit2(c, o, val);
	return kvm_lc_fail(c, -EPERM, "-usbdevice %.40s: passes a host device through or talks to a host service", val);
}

static const struct kvm_lc_key machine_keys[] = {
	{ "dumpdtb", K_REFUSE, "writes a host file" }, { "kernel", K_SHARED, NULL }, { "dtb", K_SHARED, NULL },
	{ "initrd", K_INITRD, NULL }, { "firmware", K_FW, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key icount_keys[] = {
	{ "rr", K_REFUSE, "record/replay reads or writes host files" },
	{ "rrfile", K_REFUSE, "record/replay reads or writes host files" },
	{ "rrsnapshot", K_REFUSE, "record/replay reads or writes host files" }, { NULL, 0, NULL },
};
static const struct kvm_lc_key trace_keys[] = {
	{ "enable", K_KEEP, NULL }, { "events", K_SHARED, NULL }, { "file", K_MOVE, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key boot_keys[] = { { "splash", K_SHARED, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key file_keys[] = { { "file", K_SHARED, NULL }, { NULL, 0, NULL } };
/* -fw_cfg: a closed set (its name= and string= hold slashes that are no paths) */
static const struct kvm_lc_key fw_cfg_keys[] = {
	{ "name", K_KEEP, NULL }, { "string", K_KEEP, NULL }, { "gen_id", K_KEEP, NULL },
	{ "file", K_SHARED, NULL }, { NULL, 0, NULL },
};
static const struct kvm_lc_key acpi_keys[] = { { "file", K_ACPI, NULL }, { "data", K_ACPI, NULL }, { NULL, 0, NULL } };
static const struct kvm_lc_key rom_keys[] = {
	{ "romfile", K_FW, NULL }, { "bootindex", K_KEEP, NULL }, { NULL, 0, NULL },
};

#define KEYS(fname, implied, keys, open) \
	static int fname(struct lc *c, const struct kvm_lc_opt *o, const char *val) \
	{ return kvm_lc_check_keys(c, o, val, implied, keys, open); }
KEYS(opt_machine, "type", machine_keys, 1)
KEYS(opt_icount, "shift", icount_keys, 1)
KEYS(opt_trace, "enable", trace_keys, 0)
KEYS(opt_boot, "order", boot_keys, 1)
KEYS(opt_smbios, NULL, file_keys, 1)
KEYS(opt_fw_cfg, "name", fw_cfg_keys, 0)
KEYS(opt_acpitable, NULL, acpi_keys, 1)
KEYS(opt_option_rom, "romfile", rom_keys, 0)

/* ---- the option table (doc/SECURITY.md lists it) --------------------------------- */

#define KEEP0(n) { n, 0, LC_KEEP, NULL, NULL }
#define KEEP1(n) { n, 1, LC_KEEP, NULL, NULL }
#define DROP(n, a) { n, a, LC_DROP, NULL, NULL }
#define REFUSE(n, a, why) { n, a, LC_REFUSE, NULL, why }
#define CHECK(n, fn) { n, 1, LC_CHECK, fn, NULL }

static const struct kvm_lc_opt table[] = {
	/* the machine and what it is made of, as it is */
	KEEP1("name"), KEEP1("uuid"), KEEP1("m"), KEEP1("smp"), KEEP1("cpu"), KEEP1("accel"), KEEP1("rtc"),
	KEEP1("vga"), KEEP1("echr"), KEEP1("append"), KEEP1("overcommit"), KEEP1("msg"),
	KEEP1("numa"), KEEP1("watchdog-action"), KEEP1("action"), KEEP1("compat"), KEEP1("d"), KEEP1("dfilter"),
	KEEP1("iscsi"), KEEP1("rotate"), KEEP1("mon"), KEEP1("prom-env"), KEEP1("g"),
	KEEP0("nographic"), KEEP0("nodefaults"), KEEP0("no-user-config"), KEEP0("no-reboot"),
	KEEP0("no-shutdown"), KEEP0("no-acpi"), KEEP0("no-hpet"), KEEP0("no-fd-bootchk"), KEEP0("enable-kvm"),
	KEEP0("snapshot"), KEEP0("only-migratable"), KEEP0("mem-prealloc"), KEEP0("usb"), KEEP0("win2k-hack"),
	KEEP0("full-screen"), KEEP0("portrait"), KEEP0("singlestep"), KEEP0("enable-sync-profile"),
	/* checked key by key */
	CHECK("machine", opt_machine), CHECK("M", opt_machine), CHECK("device", opt_device),
	CHECK("global", opt_global), CHECK("object", opt_object), CHECK("drive", opt_block),
	CHECK("blockdev", opt_block), CHECK("netdev", opt_net), CHECK("nic", opt_net), CHECK("net", opt_net),
	CHECK("chardev", opt_chardev), CHECK("fsdev", opt_fsdev), CHECK("virtfs", opt_fsdev),
	CHECK("tpmdev", opt_tpmdev), CHECK("audiodev", opt_audio), CHECK("audio", opt_audio),
	CHECK("display", opt_display), CHECK("vnc", opt_vnc), CHECK("usbdevice", opt_usbdevice),
	CHECK("icount", opt_icount), CHECK("trace", opt_trace), CHECK("boot", opt_boot),
	CHECK("smbios", opt_smbios), CHECK("fw_cfg", opt_fw_cfg), CHECK("acpitable", opt_acpitable),
	CHECK("option-rom", opt_option_rom),
	/* character devices: sockets and files into STATE/NAME/ */
	CHECK("serial", opt_chr), CHECK("parallel", opt_chr), CHECK("monitor", opt_chr), CHECK("qmp", opt_chr),
	CHECK("qmp-pretty", opt_chr), CHECK("gdb", opt_chr), CHECK("debugcon", opt_chr),
	CHECK("pidfile", opt_pidfile), CHECK("D", opt_moved), CHECK("mem-path", opt_moved),
	/* host files: under a shared path */
	CHECK("kernel", opt_shared), CHECK("initrd", opt_shared), CHECK("dtb", opt_shared),
	CHECK("bios", opt_shared), CHECK("k", opt_shared), CHECK("pflash", opt_shared), CHECK("cdrom", opt_shared),
	CHECK("hda", opt_shared), CHECK("hdb", opt_shared), CHECK("hdc", opt_shared), CHECK("hdd", opt_shared),
	CHECK("fda", opt_shared), CHECK("fdb", opt_shared), CHECK("sd", opt_shared), CHECK("mtdblock", opt_shared),
	CHECK("L", opt_shared),
	/* the target sets these itself */
	DROP("daemonize", 0), DROP("S", 0), DROP("async-teardown", 0), DROP("preconfig", 0),
	DROP("sandbox", 1), DROP("runas", 1), DROP("chroot", 1), DROP("loadvm", 1),
	/* refused */
	REFUSE("incoming", 1, "the source was itself waiting for a migration"),
	REFUSE("plugin", 1, "loads code into QEMU"),
	REFUSE("readconfig", 1, "reads options from a host file, past this check"),
	REFUSE("add-fd", 1, FD_WHY), REFUSE("set", 1, "changes options past this check"),
	REFUSE("spice", 1, "listens on the network"), REFUSE("s", 0, "listens on the network (gdb on TCP port 1234)"),
	REFUSE("dump-vmstate", 1, "writes a host file"),
	REFUSE("semihosting", 0, "lets the guest open host files"),
	REFUSE("semihosting-config", 1, "lets the guest open host files"),
	REFUSE("qtest", 1, "hands the machine to a test protocol"), REFUSE("qtest-log", 1, "writes a host file"),
	REFUSE("xen-domid", 1, "needs Xen"), REFUSE("xen-attach", 0, "needs Xen"),
	REFUSE("xen-domid-restrict", 0, "needs Xen"),
};

const struct kvm_lc_opt *kvm_lc_lookup(const char *name)
{
	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].name, name) == 0)
			return &table[i];
	return NULL;
}
