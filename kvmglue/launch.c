/* launch.c - the target QEMU's command line, from the source's (see
 * kvmglue.h). Option values are QEMU "key=value,..." lists in which a
 * doubled comma is a literal comma. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmglue.h"

struct argv_out {
	char **v;
	size_t n, cap;
};

static int push(struct argv_out *a, const char *s, vms_err *err)
{
	if (a->n + 2 > a->cap) {
		size_t ncap = a->cap ? a->cap * 2 : 32;
		char **nv = realloc(a->v, ncap * sizeof(*nv));
		if (!nv)
			return vms_err_set(err, -ENOMEM, "out of memory");
		a->v = nv;
		a->cap = ncap;
	}
	if (!(a->v[a->n] = strdup(s)))
		return vms_err_set(err, -ENOMEM, "out of memory");
	a->v[++a->n] = NULL;
	return 0;
}

void kvm_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* snprintf that reports truncation: 0 or -ENAMETOOLONG. */
static int fmt(char *out, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int fmt(char *out, size_t len, const char *f, ...)
{
	va_list ap;
	va_start(ap, f);
	int w = vsnprintf(out, len, f, ap);
	va_end(ap);
	return w < 0 || (size_t)w >= len ? -ENAMETOOLONG : 0;
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* Find key=VALUE in a comma list; *len is the value's length (a doubled
 * comma counts as part of the value). NULL when absent. */
static const char *find_key(const char *list, const char *key, size_t *len)
{
	size_t kl = strlen(key);
	const char *p = list;
	while (*p) {
		const char *end = p;
		while (*end && !(*end == ',' && end[1] != ',')) {
			if (*end == ',' && end[1] == ',')
				end++;
			end++;
		}
		if ((size_t)(end - p) > kl && strncmp(p, key, kl) == 0 && p[kl] == '=') {
			*len = (size_t)(end - p) - kl - 1;
			return p + kl + 1;
		}
		p = *end ? end + 1 : end;
	}
	return NULL;
}

/* list with key's value replaced by val (commas in val doubled). */
static int replace_key(const char *list, const char *key, const char *val, char *out, size_t outlen)
{
	size_t vlen;
	const char *v = find_key(list, key, &vlen);
	if (!v)
		return -ENOENT;
	char esc[KVM_ARG_MAX];
	size_t k = 0;
	for (const char *s = val; *s && k + 2 < sizeof(esc); s++) {
		esc[k++] = *s;
		if (*s == ',')
			esc[k++] = ',';
	}
	esc[k] = '\0';
	int w = snprintf(out, outlen, "%.*s%s%s", (int)(v - list), list, esc, v + vlen);
	return w < 0 || (size_t)w >= outlen ? -ENAMETOOLONG : 0;
}

int kvm_target_argv(char *const *src, size_t n, const char *state_dir, const char *name,
		    char ***out, size_t *outn, vms_err *err)
{
	struct argv_out a = { 0 };
	char dir[4096], buf[KVM_ARG_MAX], path[4200];
	unsigned qmps = 0;
	int r = 0;
	if (n == 0 || n > KVM_ARGV_MAX)
		return vms_err_set(err, -EINVAL, "the source command line has %zu arguments", n);
	if (!vms_name_valid(name, strlen(name), 64))
		return vms_err_set(err, -EINVAL, "invalid VM name '%s'", name);
	if (snprintf(dir, sizeof(dir), "%s/%s", state_dir, name) >= (int)sizeof(dir))
		return vms_err_set(err, -ENAMETOOLONG, "state directory path too long");
	r = push(&a, src[0], err);
	for (size_t i = 1; i < n && r == 0; i++) {
		const char *opt = src[i];
		if (strlen(opt) >= KVM_ARG_MAX) {
			r = vms_err_set(err, -E2BIG, "argument %zu is too long", i);
			break;
		}
		if (opt[0] == '-' && opt[1] == '-')     /* QEMU takes --opt as -opt */
			opt++;
		const char *val = i + 1 < n ? src[i + 1] : NULL;
		if (strcmp(opt, "-daemonize") == 0)
			continue;
		if (strcmp(opt, "-incoming") == 0) {
			r = vms_err_set(err, -EINVAL, "the source QEMU was itself started with -incoming");
			break;
		}
		int takes_value = strcmp(opt, "-qmp") == 0 || strcmp(opt, "-monitor") == 0 ||
				  strcmp(opt, "-chardev") == 0 || strcmp(opt, "-serial") == 0 ||
				  strcmp(opt, "-pidfile") == 0;
		if (!takes_value) {
			r = push(&a, src[i], err);
			continue;
		}
		if (!val) {
			r = vms_err_set(err, -EINVAL, "%s without a value", opt);
			break;
		}
		i++;
		const char *newval = val;
		int tl = 0;                       /* a path that does not fit */
		if (strcmp(opt, "-pidfile") == 0) {
			tl = fmt(path, sizeof(path), "%s/qemu.pid", dir);
			newval = path;
		} else if (strcmp(opt, "-qmp") == 0 || strcmp(opt, "-monitor") == 0) {
			if (strncmp(val, "unix:", 5) != 0) {
				r = vms_err_set(err, -ENOTSUP, "%s %s: only unix sockets can be moved to the target", opt, val);
				break;
			}
			const char *rest = strchr(val + 5, ',');
			if (strcmp(opt, "-qmp") == 0 && qmps++ > 0)
				tl = fmt(path, sizeof(path), "%s/qmp%u.sock", dir, qmps);
			else
				tl = fmt(path, sizeof(path), "%s/%s.sock", dir,
					 strcmp(opt, "-qmp") == 0 ? "qmp" : "monitor");
			tl = tl ? tl : fmt(buf, sizeof(buf), "unix:%s%s", path, rest ? rest : "");
			newval = buf;
		} else if (strcmp(opt, "-serial") == 0 && strncmp(val, "file:", 5) == 0) {
			tl = fmt(buf, sizeof(buf), "file:%s/%s", dir, base_name(val + 5));
			newval = buf;
		} else if (strcmp(opt, "-chardev") == 0) {
			size_t plen, idlen;
			const char *p = find_key(val, "path", &plen), *id = find_key(val, "id", &idlen);
			if (p && (strncmp(val, "socket,", 7) == 0 || strncmp(val, "file,", 5) == 0)) {
				char old[KVM_ARG_MAX];
				tl = fmt(old, sizeof(old), "%.*s", (int)plen, p);
				for (char *c = old, *w = old;; c++) {   /* ",," is a literal "," */
					*w++ = *c;
					if (!*c)
						break;
					if (c[0] == ',' && c[1] == ',')
						c++;
				}
				if (tl == 0 && strncmp(val, "socket,", 7) == 0)
					tl = fmt(path, sizeof(path), "%s/%.*s.sock", dir, (int)(id ? idlen : 7),
						 id ? id : "chardev");
				else if (tl == 0)
					tl = fmt(path, sizeof(path), "%s/%s", dir, base_name(old));
				if (tl == 0)
					tl = replace_key(val, "path", path, buf, sizeof(buf));
				newval = buf;
			}
		}
		if (tl < 0) {
			r = vms_err_set(err, -ENAMETOOLONG, "%s %s: the moved path is too long", opt, val);
			break;
		}
		r = push(&a, src[i - 1], err);
		if (r == 0)
			r = push(&a, newval, err);
	}
	if (r == 0)
		r = push(&a, "-incoming", err);
	if (r == 0)
		r = push(&a, "defer", err);
	if (r == 0)
		r = push(&a, "-S", err);
	if (r < 0) {
		kvm_argv_free(a.v);
		return r;
	}
	*out = a.v;
	*outn = a.n;
	return 0;
}

int kvm_proc_argv(pid_t pid, char ***out, size_t *outn, vms_err *err)
{
	char path[64], *buf = malloc(1 << 20);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	size_t len = 0;
	if (!buf || fd < 0) {
		r = vms_err_set(err, fd < 0 ? -errno : -ENOMEM, "%s: %s", path, strerror(fd < 0 ? errno : ENOMEM));
		goto out;
	}
	for (ssize_t got; (got = read(fd, buf + len, (1 << 20) - len)) > 0;)
		len += (size_t)got;
	if (len == 0 || len == (1 << 20) || buf[len - 1] != '\0') {
		r = vms_err_set(err, -EINVAL, "%s: unreadable command line", path);
		goto out;
	}
	struct argv_out a = { 0 };
	for (size_t off = 0; off < len && r == 0; off += strlen(buf + off) + 1) {
		if (a.n == KVM_ARGV_MAX)
			r = vms_err_set(err, -E2BIG, "%s: too many arguments", path);
		else
			r = push(&a, buf + off, err);
	}
	if (r < 0) {
		kvm_argv_free(a.v);
		goto out;
	}
	*out = a.v;
	*outn = a.n;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
