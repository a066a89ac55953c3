/* libvirt.c - libvirt racks (doc/PROTOCOL.md, "libvirt streams"): find a
 * domain and its QEMU, read its guest RAM, start its peer-to-peer live
 * migration through a UNIX socket, and read what libvirt reports. libvirt
 * stays in charge of the domain: its monitor is libvirt's, so the monitor
 * commands here go through libvirt's passthrough (libvirt-qemu), and only
 * before the migration (libvirt refuses them during its migration jobs). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libvirt/libvirt.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/virterror.h>

#include "kvmglue.h"

#define PIDFILE_MAX 32u
#define CMDLINE_MAX (1u << 20)

struct kvm_lv {
	virConnectPtr conn;
	char uri[512];
};

struct kvm_lv_dom {
	kvm_lv *lv;
	virDomainPtr dom;
	char name[KVM_LV_NAME_MAX];
	pid_t pid;
};

/* libvirt prints every error to stderr by default; ours go through vms_err */
static void quiet_errors(void *arg, virErrorPtr e)
{
	(void)arg;
	(void)e;
}

static const char *lv_msg(void)
{
	const char *m = virGetLastErrorMessage();
	return m ? m : "unknown libvirt error";
}

int kvm_lv_open(const char *uri, kvm_lv **out, vms_err *err)
{
	*out = NULL;
	kvm_lv *c = calloc(1, sizeof(*c));
	if (!c)
		return vms_err_set(err, -ENOMEM, "out of memory");
	snprintf(c->uri, sizeof(c->uri), "%s", uri);
	virSetErrorFunc(NULL, quiet_errors);     /* (libvirt's own process-wide setting) */
	c->conn = virConnectOpen(uri);
	if (!c->conn) {
		int r = vms_err_set(err, -ECONNREFUSED, "libvirt %s cannot be reached: %s", uri, lv_msg());
		free(c);
		return r;
	}
	*out = c;
	return 0;
}

void kvm_lv_close(kvm_lv *c)
{
	if (!c)
		return;
	if (c->conn)
		virConnectClose(c->conn);
	free(c);
}

int kvm_lv_name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= KVM_LV_NAME_MAX || name[0] == '.')
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
		      ch == '-' || ch == '_' || ch == '.'))
			return 0;
	}
	return 1;
}

int kvm_lv_pidfile(const char *run_dir, const char *name, pid_t *pid, vms_err *err)
{
	char path[4200], buf[PIDFILE_MAX + 1];
	*pid = 0;
	if (!kvm_lv_name_valid(name))
		return vms_err_set(err, -EINVAL, "'%s' is not a domain name vmscatter accepts ([A-Za-z0-9._-], 1..63)", name);
	snprintf(path, sizeof(path), "%s/%s.pid", run_dir, name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return vms_err_set(err, -errno, "domain %s: %s: %s", name, path, strerror(errno));
	ssize_t n = read(fd, buf, PIDFILE_MAX);
	close(fd);
	if (n <= 0)
		return vms_err_set(err, -EBADMSG, "domain %s: %s is empty", name, path);
	buf[n] = '\0';
	uint64_t v;
	size_t len = strspn(buf, "0123456789");
	if (len == 0 || vms_parse_u64(buf, len, 10, &v) < 0 || v < 2 || v > (1u << 22) ||
	    (buf[len] && buf[len] != '\n'))
		return vms_err_set(err, -EBADMSG, "domain %s: %s does not hold a pid", name, path);
	/* the process must be that domain's QEMU: libvirt names it -name guest=NAME,... */
	char cmd[64], *text = malloc(CMDLINE_MAX + 1);
	if (!text)
		return vms_err_set(err, -ENOMEM, "out of memory");
	snprintf(cmd, sizeof(cmd), "/proc/%llu/cmdline", (unsigned long long)v);
	fd = open(cmd, O_RDONLY | O_CLOEXEC);
	size_t got = 0;
	while (fd >= 0 && got < CMDLINE_MAX) {
		ssize_t k = read(fd, text + got, CMDLINE_MAX - got);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	if (fd >= 0)
		close(fd);
	int ok = 0;
	char want[KVM_LV_NAME_MAX + 8];
	size_t wl = (size_t)snprintf(want, sizeof(want), "guest=%s", name);
	for (size_t i = 0; i + wl <= got && !ok; i++)
		ok = (i == 0 || text[i - 1] == '\0') && memcmp(text + i, want, wl) == 0 &&
		     (i + wl == got || text[i + wl] == ',' || text[i + wl] == '\0');
	free(text);
	if (!ok)
		return vms_err_set(err, -ESRCH, "domain %s: process %llu (%s) is not its QEMU", name,
				   (unsigned long long)v, path);
	*pid = (pid_t)v;
	return 0;
}

int kvm_lv_daemon_pid(pid_t pid)
{
	static const char *const files[] = { "/run/libvirtd.pid", "/run/virtqemud.pid" };
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char buf[PIDFILE_MAX + 1];
		uint64_t v;
		int fd = open(files[i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = fd >= 0 ? read(fd, buf, PIDFILE_MAX) : -1;
		if (fd >= 0)
			close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		size_t len = strspn(buf, "0123456789");
		if (len && vms_parse_u64(buf, len, 10, &v) == 0 && v == (uint64_t)pid)
			return 1;
	}
	return 0;
}

/* A monitor command through libvirt; *out malloc()ed. */
static int monitor(kvm_lv_dom *d, const char *cmd, int hmp, char **out, vms_err *err)
{
	*out = NULL;
	if (virDomainQemuMonitorCommand(d->dom, cmd, out, hmp ? VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP : 0) < 0)
		return vms_err_set(err, -EIO, "domain %s: %s: %s", d->name, cmd, lv_msg());
	return 0;
}

/* QMP `cmd` through libvirt: its "return" (a new reference). */
static int monitor_qmp(kvm_lv_dom *d, const char *cmd, json_t **ret, vms_err *err)
{
	char req[128], *text = NULL;
	json_error_t je;
	*ret = NULL;
	snprintf(req, sizeof(req), "{\"execute\":\"%s\"}", cmd);
	int r = monitor(d, req, 0, &text, err);
	if (r < 0)
		return r;
	json_t *j = json_loadb(text, strnlen(text, KVM_QMP_MSG_MAX), 0, &je);
	free(text);
	json_t *v = json_object_get(j, "return");
	if (!v) {
		json_decref(j);
		return vms_err_set(err, -EBADMSG, "domain %s: %s: no answer from QEMU", d->name, cmd);
	}
	*ret = json_incref(v);
	json_decref(j);
	return 0;
}

int kvm_lv_domain(kvm_lv *c, const char *name, const char *run_dir, kvm_lv_dom **out, kvm_mem **mem,
		  vms_err *err)
{
	char *text = NULL;
	struct kvm_ramblock *blocks = NULL;
	size_t n = 0;
	json_t *devs = NULL;
	int state = 0, reason = 0, r;
	*out = NULL;
	*mem = NULL;
	if (!kvm_lv_name_valid(name))
		return vms_err_set(err, -EINVAL, "'%s' is not a domain name vmscatter accepts ([A-Za-z0-9._-], 1..63)", name);
	kvm_lv_dom *d = calloc(1, sizeof(*d));
	if (!d)
		return vms_err_set(err, -ENOMEM, "out of memory");
	d->lv = c;
	snprintf(d->name, sizeof(d->name), "%s", name);
	if (!(d->dom = virDomainLookupByName(c->conn, name))) {
		r = vms_err_set(err, -ENOENT, "libvirt %s has no domain '%s'", c->uri, name);
		goto out;
	}
	if (virDomainGetState(d->dom, &state, &reason, 0) < 0 || state != VIR_DOMAIN_RUNNING) {
		r = vms_err_set(err, -ESRCH, "domain %s is not running (libvirt %s)", name, c->uri);
		goto out;
	}
	if ((r = kvm_lv_pidfile(run_dir, name, &d->pid, err)) < 0 ||
	    (r = monitor(d, "info ramblock", 1, &text, err)) < 0 ||
	    (r = kvm_parse_ramblocks(text, strlen(text), &blocks, &n, err)) < 0 ||
	    (r = monitor_qmp(d, "query-memdev", &devs, err)) < 0)
		goto out;
	kvm_ramblocks_keep_guest(devs, blocks, &n);
	char label[KVM_LV_NAME_MAX + 16];
	snprintf(label, sizeof(label), "domain %s", name);
	if ((r = kvm_mem_open_pid(d->pid, blocks, n, label, mem, err)) < 0)
		goto out;
	*out = d;
	d = NULL;
out:
	kvm_lv_dom_free(d);
	json_decref(devs);
	free(blocks);
	free(text);
	return r;
}

const char *kvm_lv_dom_name(const kvm_lv_dom *d)
{
	return d->name;
}

pid_t kvm_lv_dom_pid(const kvm_lv_dom *d)
{
	return d->pid;
}

int kvm_lv_dom_tcg(kvm_lv_dom *d, vms_err *err)
{
	json_t *ret = NULL;
	int r = monitor_qmp(d, "query-kvm", &ret, err);
	if (r < 0)
		return r;
	r = !json_is_true(json_object_get(ret, "enabled"));
	json_decref(ret);
	return r;
}

int kvm_lv_migrate(kvm_lv_dom *d, const struct kvm_lv_migration *m, vms_err *err)
{
	virTypedParameterPtr params = NULL;
	int n = 0, max = 0, r = 0;
	char uri[VMS_WIRE_SOCK_MAX + 16];
	unsigned flags = VIR_MIGRATE_LIVE | VIR_MIGRATE_PEER2PEER;
	if (m->persistent)
		flags |= VIR_MIGRATE_PERSIST_DEST;
	if (m->undefine_source)
		flags |= VIR_MIGRATE_UNDEFINE_SOURCE;
	snprintf(uri, sizeof(uri), "unix://%s", m->sock);
	if (virTypedParamsAddString(&params, &n, &max, VIR_MIGRATE_PARAM_URI, uri) < 0 ||
	    (m->bandwidth_mib &&
	     virTypedParamsAddULLong(&params, &n, &max, VIR_MIGRATE_PARAM_BANDWIDTH, m->bandwidth_mib) < 0)) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (virDomainMigrateToURI3(d->dom, m->desturi, params, (unsigned)n, flags) < 0)
		r = vms_err_set(err, -EIO, "%s", lv_msg());
out:
	virTypedParamsFree(params, n);
	return r;
}

int kvm_lv_abort(kvm_lv_dom *d)
{
	return virDomainAbortJob(d->dom) < 0 ? -EIO : 0;
}

int kvm_lv_job_completed(kvm_lv_dom *d, struct kvm_lv_job *j, vms_err *err)
{
	virTypedParameterPtr params = NULL;
	int type = 0, n = 0;
	unsigned long long v;
	memset(j, 0, sizeof(*j));
	j->downtime_ms = j->elapsed_ms = -1;
	if (virDomainGetJobStats(d->dom, &type, &params, &n,
				 VIR_DOMAIN_JOB_STATS_COMPLETED | VIR_DOMAIN_JOB_STATS_KEEP_COMPLETED) < 0)
		return vms_err_set(err, -EIO, "domain %s: libvirt's job statistics: %s", d->name, lv_msg());
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DOWNTIME, &v) == 1)
		j->downtime_ms = (int64_t)v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_TIME_ELAPSED, &v) == 1)
		j->elapsed_ms = (int64_t)v;
	if (virTypedParamsGetULLong(params, n, VIR_DOMAIN_JOB_DATA_PROCESSED, &v) == 1)
		j->data_bytes = v;
	j->completed = type == VIR_DOMAIN_JOB_COMPLETED;
	virTypedParamsFree(params, n);
	return 0;
}

int kvm_lv_state(kvm_lv_dom *d, char *buf, size_t len, vms_err *err)
{
	static const char *const names[] = { "no state", "running", "blocked", "paused", "shutdown",
					     "shut off", "crashed", "pmsuspended" };
	int state = 0, reason = 0;
	if (virDomainGetState(d->dom, &state, &reason, 0) < 0)
		return vms_err_set(err, -EIO, "domain %s: %s", d->name, lv_msg());
	snprintf(buf, len, "%s", state >= 0 && state < (int)(sizeof(names) / sizeof(names[0])) ? names[state] : "?");
	return 0;
}

int kvm_lv_resume(kvm_lv_dom *d, vms_err *err)
{
	return virDomainResume(d->dom) < 0 ? vms_err_set(err, -EIO, "domain %s: resume: %s", d->name, lv_msg()) : 0;
}

int kvm_lv_remote_state(kvm_lv *c, const char *name, char *buf, size_t len, vms_err *err)
{
	kvm_lv_dom d = { .lv = c };
	snprintf(d.name, sizeof(d.name), "%s", name);
	if (!(d.dom = virDomainLookupByName(c->conn, name)))
		return vms_err_set(err, -ENOENT, "libvirt %s has no domain '%s'", c->uri, name);
	int r = kvm_lv_state(&d, buf, len, err);
	virDomainFree(d.dom);
	return r;
}

void kvm_lv_dom_free(kvm_lv_dom *d)
{
	if (!d)
		return;
	if (d->dom)
		virDomainFree(d->dom);
	free(d);
}
