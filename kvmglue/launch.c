/* launch.c - the target QEMU's command line, from the source's (see
 * kvmglue.h and doc/SECURITY.md): the walk over the source's arguments
 * through the option table of argv_policy.c, the helpers its rules use
 * (QEMU key=value lists and JSON values, shared and moved host paths), and
 * the argv of a running process. Option values are QEMU "key=value,..."
 * lists in which a doubled comma is a literal comma, or JSON objects. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch_int.h"

#define OUT_MAX (KVM_ARGV_MAX + 16u)   /* arguments of the target's command line */
#define SANDBOX "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"
#define SANDBOX_RUNAS "on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny"

/* ---- output and messages ------------------------------------------------ */

int kvm_lc_emit(struct lc *c, const char *s)
{
	if (c->nv + 2 > c->cap) {
		if (c->nv + 2 > OUT_MAX)
			return kvm_lc_fail(c, -E2BIG, "the target's command line would have more than %u arguments",
					   OUT_MAX);
		size_t ncap = c->cap ? c->cap * 2 : 64;
		char **nv = realloc(c->v, ncap * sizeof(*nv));
		if (!nv)
			return kvm_lc_fail(c, -ENOMEM, "out of memory");
		c->v = nv;
		c->cap = ncap;
	}
	if (!(c->v[c->nv] = strdup(s)))
		return kvm_lc_fail(c, -ENOMEM, "out of memory");
	c->v[++c->nv] = NULL;
	return 0;
}

int kvm_lc_emit2(struct lc *c, const struct kvm_lc_opt *o, const char *val)
{
	char opt[64];
	snprintf(opt, sizeof(opt), "-%s", o->name);
	int r = kvm_lc_emit(c, opt);
	return r < 0 ? r : kvm_lc_emit(c, val);
}

int kvm_lc_fail(struct lc *c, int code, const char *fmt, ...)
{
	char msg[VMS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	for (char *p = msg; *p; p++)          /* the sender's bytes go to a log */
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return vms_err_set(c->err, code, "%s", msg);
}

void kvm_argv_free(char **argv)
{
	for (size_t i = 0; argv && argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* ---- small helpers ---------------------------------------------------------- */

const char *kvm_lc_base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

const char *kvm_lc_key_last(const char *key)
{
	const char *s = strrchr(key, '.');
	return s ? s + 1 : key;
}

int kvm_lc_bool(const char *s)
{
	return !strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true") || !strcmp(s, "y");
}

int kvm_lc_refers(const struct lc *c, const char *id)
{
	for (size_t i = 0; i < c->n; i++)
		if (i != c->cur && i != c->cur + 1 && strstr(c->src[i], id))
			return 1;
	return 0;
}

/* A growing string. */
struct sbuf {
	char *p;
	size_t len, cap;
};

static int sb_add(struct sbuf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 256;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		char *np = realloc(b->p, ncap);
		if (!np)
			return -ENOMEM;
		b->p = np;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
	return 0;
}

/* s with every comma doubled (a QEMU list value) */
static int sb_add_esc(struct sbuf *b, const char *s)
{
	for (const char *p = s; *p; p++)
		if (sb_add(b, p, 1) < 0 || (*p == ',' && sb_add(b, ",", 1) < 0))
			return -ENOMEM;
	return 0;
}

/* ---- host paths ------------------------------------------------------------- */

/* Does `path`, unresolved and without "." or ".." components, start with a
 * shared path (as given or resolved)? */
static int lexically_shared(const struct lc *c, const char *path)
{
	const char *b = kvm_lc_base(path);
	if (strstr(path, "/./") || strstr(path, "/../") || !strcmp(b, ".") || !strcmp(b, ".."))
		return 0;
	for (size_t i = 0; i < c->nshared; i++) {
		const char *cand[2] = { c->shared[i], c->pol->shared_paths[i] };
		for (int k = 0; k < 2; k++) {
			size_t sl = strlen(cand[k]);
			if (sl && strncmp(path, cand[k], sl) == 0 && (path[sl] == '/' || cand[k][sl - 1] == '/'))
				return 1;
		}
	}
	return 0;
}

int kvm_lc_shared(struct lc *c, const char *what, const char *path, char *out, size_t len)
{
	if (path[0] != '/')
		return kvm_lc_fail(c, -EPERM, "%s%s: not an absolute path (host files must lie under a shared path)",
			       what, path);
	char *rp = realpath(path, NULL);
	if (!rp) {
		/* "not there" only for a plain path under a shared path: the
		 * sender must not learn what exists elsewhere on this host */
		int e = errno;
		if (lexically_shared(c, path))
			return kvm_lc_fail(c, -ENOENT, "%s%s: %s on this host", what, path, strerror(e));
		return kvm_lc_fail(c, -EPERM, "%s%s: a host file outside the shared paths (--shared-path)", what, path);
	}
	int r = 1;
	for (size_t i = 0; i < c->nshared && r == 1; i++) {
		size_t sl = strlen(c->shared[i]);
		if (strncmp(rp, c->shared[i], sl) == 0 && (rp[sl] == '/' || rp[sl] == '\0' || sl == 1))
			r = snprintf(out, len, "%s", rp) >= (int)len ?
				kvm_lc_fail(c, -ENAMETOOLONG, "%s%s: path too long", what, path) : 0;
	}
	free(rp);
	return r != 1 ? r : kvm_lc_fail(c, -EPERM, "%s%s: a host file outside the shared paths (--shared-path)",
					what, path);
}

int kvm_lc_firmware(struct lc *c, const char *what, const char *path, char *out, size_t len)
{
	if (!strchr(path, '/') && vms_name_valid(path, strlen(path), LC_NAME_MAX)) {
		snprintf(out, len, "%s", path);
		return 0;
	}
	return kvm_lc_shared(c, what, path, out, len);
}

int kvm_lc_move(struct lc *c, const char *what, const char *name, char *out, size_t len)
{
	if (!vms_name_valid(name, strlen(name), LC_NAME_MAX))
		return kvm_lc_fail(c, -EPERM, "%s: '%s' is not a plain file name to move into STATE/NAME/ (letters, digits, "
			       "'_', '.', '-')", what, name);
	for (unsigned i = 0; i < c->nnames; i++)
		if (strcmp(c->names[i], name) == 0)
			return kvm_lc_fail(c, -EPERM, "%s: STATE/NAME/%s is taken by another option", what, name);
	if (c->nnames == LC_NAMES_MAX)
		return kvm_lc_fail(c, -E2BIG, "%s: more than %u files in STATE/NAME/", what, LC_NAMES_MAX);
	if (snprintf(out, len, "%s/%s", c->dir, name) >= (int)len)
		return kvm_lc_fail(c, -ENAMETOOLONG, "%s: the moved path is too long", what);
	snprintf(c->names[c->nnames++], LC_NAME_MAX, "%s", name);
	return 0;
}

/* ---- option values ------------------------------------------------------------ */

/* Split v->text into items at single commas. */
static int kv_split(struct lc *c, struct kvm_lc_val *v)
{
	const char *t = v->text;
	size_t len = strlen(t), i = 0;
	if (!(v->it = malloc(LC_ITEMS_MAX * sizeof(*v->it))))
		return kvm_lc_fail(c, -ENOMEM, "out of memory");
	if (len == 0)
		return kvm_lc_fail(c, -EINVAL, "%s: empty value", v->what);
	for (;;) {
		size_t s = i, eq = SIZE_MAX;
		while (i < len && !(t[i] == ',' && t[i + 1] != ',')) {
			if (t[i] == '=' && eq == SIZE_MAX)
				eq = i;
			i += t[i] == ',' ? 2 : 1;
		}
		if (i == s || v->nit == LC_ITEMS_MAX ||
		    memchr(t + s, ',', (eq == SIZE_MAX ? i : eq) - s) || (eq != SIZE_MAX && eq == s))
			return kvm_lc_fail(c, -EINVAL, "%s: malformed list (an empty item or key, a comma in a key, "
				       "or more than %u items)", v->what, LC_ITEMS_MAX);
		v->it[v->nit++] = (struct kvm_lc_item){ s, i, eq, eq == SIZE_MAX };
		if (i >= len)
			return 0;
		if (++i == len)
			return kvm_lc_fail(c, -EINVAL, "%s: malformed list (ends with a comma)", v->what);
	}
}

static void unescape(const char *t, size_t n, char *out)
{
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		out[w++] = t[i];
		if (t[i] == ',' && i + 1 < n && t[i + 1] == ',')
			i++;                     /* ",," is one comma */
	}
	out[w] = '\0';
}

/* Item k's key and value as QEMU reads them: KEY=VALUE (",," -> ","), the
 * implied key's value, or a flag (KEY is KEY=on, noKEY is KEY=off). */
static int kv_item(const struct kvm_lc_val *v, size_t k, char *key, size_t klen, char *val, size_t vlen)
{
	const struct kvm_lc_item *it = &v->it[k];
	const char *t = v->text + it->start;
	size_t n = it->end - it->start;
	if (n >= vlen)
		return -ENAMETOOLONG;
	if (it->bare && k == 0 && v->implied) {
		snprintf(key, klen, "%s", v->implied);
		unescape(t, n, val);
		return 0;
	}
	if (it->bare) {
		size_t no = n > 2 && strncmp(t, "no", 2) == 0 ? 2 : 0;
		if (n - no >= klen)
			return -ENAMETOOLONG;
		snprintf(key, klen, "%.*s", (int)(n - no), t + no);
		snprintf(val, vlen, "%s", no ? "off" : "on");
		return 0;
	}
	size_t kl = it->eq - it->start;
	if (kl >= klen)
		return -ENAMETOOLONG;
	snprintf(key, klen, "%.*s", (int)kl, t);
	unescape(t + kl + 1, n - kl - 1, val);
	return 0;
}

int kvm_lc_val_open(struct lc *c, struct kvm_lc_val *v, const struct kvm_lc_opt *o, const char *text,
		    const char *implied,
		int json_ok)
{
	memset(v, 0, sizeof(*v));
	snprintf(v->whatbuf, sizeof(v->whatbuf), "-%s", o->name);
	v->what = v->whatbuf;
	v->text = text;
	v->implied = implied;
	if (json_ok && text[0] == '{') {
		json_error_t je;
		v->j = json_loads(text, JSON_REJECT_DUPLICATES, &je);
		if (!json_is_object(v->j))
			return kvm_lc_fail(c, -EINVAL, "%s: not a JSON object: %s", v->what, v->j ? "" : je.text);
		return 0;
	}
	return kv_split(c, v);
}

void kvm_lc_val_kind(struct kvm_lc_val *v, const struct kvm_lc_opt *o, const char *kind)
{
	snprintf(v->whatbuf, sizeof(v->whatbuf), "-%s %.80s", o->name, kind);
}

static void json_text(json_t *j, char *buf, size_t len, const char **out)
{
	if (json_is_string(j))
		*out = json_string_value(j);
	else {
		if (json_is_integer(j))
			snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(j));
		else if (json_is_real(j))
			snprintf(buf, len, "%.17g", json_real_value(j));
		else
			snprintf(buf, len, "%s", json_is_true(j) ? "on" : json_is_false(j) ? "off" :
				 json_is_null(j) ? "null" : "");
		*out = buf;
	}
}

int kvm_lc_val_get(const struct kvm_lc_val *v, const char *key, char *buf, size_t len)
{
	if (v->j) {
		json_t *x = json_object_get(v->j, key);
		const char *s;
		char tmp[64];
		if (!x || json_is_object(x) || json_is_array(x))
			return 0;
		json_text(x, tmp, sizeof(tmp), &s);
		return snprintf(buf, len, "%s", s) >= (int)len ? -ENAMETOOLONG : 1;
	}
	char k[LC_KEY_MAX], *val = malloc(KVM_ARG_MAX);
	int r = val ? 0 : -ENOMEM;
	for (size_t i = v->nit; r == 0 && i-- > 0;)      /* QEMU: the last one */
		if (kv_item(v, i, k, sizeof(k), val, KVM_ARG_MAX) == 0 && strcmp(k, key) == 0)
			r = snprintf(buf, len, "%s", val) >= (int)len ? -ENAMETOOLONG : 1;
	free(val);
	return r;
}

void kvm_lc_val_close(struct kvm_lc_val *v)
{
	json_decref(v->j);
	free(v->it);
	memset(v, 0, sizeof(*v));
}

static int call_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, kvm_lc_rule rule, void *arg)
{
	c->rkey[0] = '\0';
	return rule(c, v, key, val, arg);
}

/* Every scalar below `node` (an object or an array), keys dotted. */
static int js_walk(struct lc *c, struct kvm_lc_val *v, json_t *node, const char *prefix, int depth, kvm_lc_rule rule,
		   void *arg, int *dirty)
{
	char key[LC_KEY_MAX], num[64];
	if (depth > LC_DEPTH_MAX)
		return kvm_lc_fail(c, -EINVAL, "%s: nested deeper than %d levels", v->what, LC_DEPTH_MAX);
	size_t n = json_is_array(node) ? json_array_size(node) : json_object_size(node);
	void *iter = json_is_object(node) ? json_object_iter(node) : NULL;
	for (size_t i = 0; i < n; i++) {
		const char *k = iter ? json_object_iter_key(iter) : NULL;
		json_t *x = iter ? json_object_iter_value(iter) : json_array_get(node, i);
		int w = k ? snprintf(key, sizeof(key), "%s%s%s", prefix, *prefix ? "." : "", k)
			  : snprintf(key, sizeof(key), "%s.%zu", prefix, i);
		if (w < 0 || (size_t)w >= sizeof(key))
			return kvm_lc_fail(c, -EINVAL, "%s: a key longer than %u bytes", v->what, LC_KEY_MAX - 1);
		int r;
		if (json_is_object(x) || json_is_array(x)) {
			r = js_walk(c, v, x, key, depth + 1, rule, arg, dirty);
		} else {
			const char *s;
			json_text(x, num, sizeof(num), &s);
			r = call_rule(c, v, key, s, rule, arg);
			if (r == 1 && (!json_is_string(x) || c->rkey[0]))
				r = kvm_lc_fail(c, -EINVAL, "%s: %s cannot be rewritten here", v->what, key);
			if (r == 1) {
				*dirty = 1;
				r = k ? json_object_set_new(node, k, json_string(c->rval))
				      : json_array_set_new(node, i, json_string(c->rval));
				r = r < 0 ? kvm_lc_fail(c, -ENOMEM, "out of memory") : 0;
			}
		}
		if (r < 0)
			return r;
		if (iter)
			iter = json_object_iter_next(node, iter);
	}
	return 0;
}

static int kv_walk(struct lc *c, struct kvm_lc_val *v, kvm_lc_rule rule, void *arg, const char *const *dups,
		   struct sbuf *b, int *dirty)
{
	char (*keys)[LC_KEY_MAX] = malloc(v->nit * sizeof(*keys)), *val = malloc(KVM_ARG_MAX);
	int r = keys && val ? 0 : kvm_lc_fail(c, -ENOMEM, "out of memory");
	for (size_t k = 0; k < v->nit && r == 0; k++) {
		const struct kvm_lc_item *it = &v->it[k];
		char *key = keys[k];
		if (kv_item(v, k, key, LC_KEY_MAX, val, KVM_ARG_MAX) < 0) {
			r = kvm_lc_fail(c, -EINVAL, "%s: a key longer than %u bytes", v->what, LC_KEY_MAX - 1);
			break;
		}
		int dup_ok = 0;
		for (const char *const *d = dups; d && *d; d++)
			dup_ok |= strcmp(*d, key) == 0;
		for (size_t j = 0; j < k && !dup_ok && r == 0; j++)
			if (strcmp(keys[j], key) == 0)
				r = kvm_lc_fail(c, -EPERM, "%s: %s given twice", v->what, key);
		if (r == 0)
			r = call_rule(c, v, key, val, rule, arg);
		if (r < 0)
			break;
		if (r == 1)
			*dirty = 1;
		const char *nk = c->rkey[0] ? c->rkey : key;
		if (k > 0 && sb_add(b, ",", 1) < 0)
			r = -ENOMEM;
		else if (r == 0)
			r = sb_add(b, v->text + it->start, it->end - it->start);
		else if (it->bare && k == 0 && v->implied && !c->rkey[0])
			r = sb_add_esc(b, c->rval);
		else
			r = sb_add(b, nk, strlen(nk)) || sb_add(b, "=", 1) || sb_add_esc(b, c->rval) ? -ENOMEM : 0;
		if (r < 0)
			r = kvm_lc_fail(c, -ENOMEM, "out of memory");
	}
	free(keys);
	free(val);
	return r;
}

int kvm_lc_val_walk(struct lc *c, struct kvm_lc_val *v, kvm_lc_rule rule, void *arg, const char *const *dups,
		    char **out)
{
	struct sbuf b = { 0 };
	int dirty = 0, r;
	if (v->j) {
		r = js_walk(c, v, v->j, "", 0, rule, arg, &dirty);
		if (r == 0 && dirty) {
			char *s = json_dumps(v->j, JSON_COMPACT | JSON_PRESERVE_ORDER);
			r = s ? sb_add(&b, s, strlen(s)) : -ENOMEM;
			free(s);
			if (r < 0)
				r = kvm_lc_fail(c, -ENOMEM, "out of memory");
		}
	} else {
		r = kv_walk(c, v, rule, arg, dups, &b, &dirty);
	}
	if (r == 0 && !dirty) {
		b.len = 0;
		r = sb_add(&b, v->text, strlen(v->text)) < 0 ? kvm_lc_fail(c, -ENOMEM, "out of memory") : 0;
	}
	if (r == 0 && b.len >= KVM_ARG_MAX)
		r = kvm_lc_fail(c, -E2BIG, "%s: the rewritten value is longer than %u bytes", v->what, KVM_ARG_MAX - 1);
	if (r < 0) {
		free(b.p);
		return r;
	}
	*out = b.p;
	return 0;
}

/* ---- the command line ----------------------------------------------------------- */

/* argv[0]: the receiver's binary, never a name from the wire. */
static int emit_bin(struct lc *c, const char *src0)
{
	if (c->pol->qemu_bin)
		return kvm_lc_emit(c, c->pol->qemu_bin);
	const char *b = kvm_lc_base(src0), *arch = b + strlen("qemu-system-");
	if (strncmp(b, "qemu-system-", strlen("qemu-system-")) != 0 || !*arch || strlen(b) > 64 ||
	    strspn(arch, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(arch))
		return kvm_lc_fail(c, -EPERM, "the source runs '%.64s', not qemu-system-ARCH: give the receiver --qemu BIN",
			       src0);
	return kvm_lc_emit(c, b);
}

static int setup(struct lc *c, const char *state_dir, const char *name)
{
	const struct kvm_target_policy *p = c->pol;
	if (!vms_name_valid(name, strlen(name), VMS_WIRE_NAME_MAX))
		return kvm_lc_fail(c, -EINVAL, "invalid VM name '%.64s'", name);
	if (strchr(state_dir, ',') || strchr(state_dir, ':'))
		return kvm_lc_fail(c, -EINVAL, "the state directory %s has a ',' or ':' (QEMU option syntax)",
				   state_dir);
	/* absolute: the target QEMU runs in STATE/NAME/ (kvm_target_start) */
	char cwd[LC_PATH_MAX] = "";
	if (state_dir[0] != '/' && !getcwd(cwd, sizeof(cwd)))
		return kvm_lc_fail(c, -errno, "getcwd: %s", strerror(errno));
	int w = snprintf(c->dir, sizeof(c->dir), "%s%s%s/%s", cwd, cwd[0] ? "/" : "", state_dir, name);
	if (w < 0 || (size_t)w >= sizeof(c->dir) - LC_NAME_MAX - 1 || strchr(cwd, ',') || strchr(cwd, ':'))
		return kvm_lc_fail(c, -ENAMETOOLONG, "state directory path too long, or with a ',' or ':'");
	if (p->nshared > KVM_SHARED_MAX || (p->nshared && !p->shared_paths))
		return kvm_lc_fail(c, -EINVAL, "more than %u shared paths", KVM_SHARED_MAX);
	for (size_t i = 0; i < p->nshared; i++) {
		if (!(c->shared[i] = realpath(p->shared_paths[i], NULL)))
			return kvm_lc_fail(c, errno == ENOENT ? -ENOENT : -EINVAL, "shared path %s: %s", p->shared_paths[i],
				       strerror(errno));
		c->nshared++;
	}
	const char *u = p->run_as;
	if (u && (!*u || strlen(u) > 32 || u[0] == '-' ||
		  strspn(u, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(u)))
		return kvm_lc_fail(c, -EINVAL, "invalid user name '%.40s' to run the target QEMU as", u);
	/* ours: kvm_target_start's log, the QMP socket, the pidfile */
	static const char *const reserved[] = { "qemu.log", "qmp.sock", "qemu.pid" };
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		snprintf(c->names[c->nnames++], LC_NAME_MAX, "%s", reserved[i]);
	return 0;
}

static int walk_args(struct lc *c)
{
	int r = emit_bin(c, c->src[0]);
	for (size_t i = 1; i < c->n && r == 0; i++) {
		const char *a = c->src[i];
		c->cur = i;
		if (a[0] != '-') {
			r = kvm_lc_bare_arg(c, a);
			continue;
		}
		const char *nm = a + 1 + (a[1] == '-');     /* QEMU takes --opt as -opt */
		const struct kvm_lc_opt *o = kvm_lc_lookup(nm);
		if (!o)
			return kvm_lc_fail(c, -EPERM, "-%.64s: not an option the target QEMU may run with "
				       "(doc/SECURITY.md, \"The target QEMU's command line\")", nm);
		const char *val = NULL;
		if (o->arg) {
			if (i + 1 >= c->n)
				return kvm_lc_fail(c, -EINVAL, "-%s without a value", o->name);
			if (strlen(val = c->src[++i]) >= KVM_ARG_MAX)
				return kvm_lc_fail(c, -E2BIG, "argument %zu is longer than %u bytes", i,
						   KVM_ARG_MAX - 1);
		}
		switch (o->how) {
		case LC_KEEP:
			r = o->arg ? kvm_lc_emit2(c, o, val) : kvm_lc_emit(c, a[1] == '-' ? a + 1 : a);
			break;
		case LC_DROP:
			break;
		case LC_REFUSE:
			r = kvm_lc_fail(c, -EPERM, "-%s: %s", o->name, o->why);
			break;
		default:
			r = o->fn(c, o, val);
		}
	}
	return r;
}

int kvm_lc_has_display(char *const *src, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		const char *o = src[i][0] == '-' && src[i][1] == '-' ? src[i] + 1 : src[i];
		if (strcmp(o, "-display") == 0 || strcmp(o, "-nographic") == 0)
			return 1;
	}
	return 0;
}

static int emit_tail(struct lc *c)
{
	char qmp[LC_PATH_MAX + 64];
	int r = 0;
	if (c->nqmp == 0) {                   /* the receiver's QMP socket */
		snprintf(qmp, sizeof(qmp), "unix:%s/qmp.sock,server=on,wait=off", c->dir);
		r = kvm_lc_emit(c, "-qmp");
		r = r ? r : kvm_lc_emit(c, qmp);
	}
	if (!kvm_lc_has_display(c->src, c->n)) {   /* else QEMU may open a VNC server on a headless host */
		r = r ? r : kvm_lc_emit(c, "-display");
		r = r ? r : kvm_lc_emit(c, "none");
	}
	r = r ? r : kvm_lc_emit(c, "-sandbox");
	r = r ? r : kvm_lc_emit(c, c->pol->run_as ? SANDBOX_RUNAS : SANDBOX);
	if (c->pol->run_as) {
		r = r ? r : kvm_lc_emit(c, "-runas");
		r = r ? r : kvm_lc_emit(c, c->pol->run_as);
	}
	r = r ? r : kvm_lc_emit(c, "-incoming");
	r = r ? r : kvm_lc_emit(c, "defer");
	return r ? r : kvm_lc_emit(c, "-S");
}

int kvm_target_argv(char *const *src, size_t n, const char *state_dir, const char *name,
		    const struct kvm_target_policy *pol, char ***out, size_t *outn, vms_err *err)
{
	struct lc *c = calloc(1, sizeof(*c));
	int r;
	if (!c)
		return vms_err_set(err, -ENOMEM, "out of memory");
	c->err = err;
	c->pol = pol;
	c->src = src;
	c->n = n;
	if (!pol || !state_dir || !name || n == 0 || n > KVM_ARGV_MAX) {
		r = kvm_lc_fail(c, -EINVAL, "the source command line has %zu arguments (1..%u), or no policy", n,
			    KVM_ARGV_MAX);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (strlen(src[i]) >= KVM_ARG_MAX) {
			r = kvm_lc_fail(c, -E2BIG, "argument %zu is longer than %u bytes", i, KVM_ARG_MAX - 1);
			goto out;
		}
	r = setup(c, state_dir, name);
	if (r == 0)
		r = walk_args(c);
	if (r == 0)
		r = emit_tail(c);
	if (r == 0) {
		*out = c->v;
		*outn = c->nv;
		c->v = NULL;
	}
out:
	kvm_argv_free(c->v);
	for (size_t i = 0; i < c->nshared; i++)
		free(c->shared[i]);
	free(c);
	return r;
}

int kvm_proc_argv(pid_t pid, char ***out, size_t *outn, vms_err *err)
{
	char path[64], *buf = malloc(1 << 20);
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = 0;
	size_t len = 0;
	struct lc c = { .err = err };
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
	for (size_t off = 0; off < len && r == 0; off += strlen(buf + off) + 1) {
		if (c.nv == KVM_ARGV_MAX)
			r = vms_err_set(err, -E2BIG, "%s: too many arguments", path);
		else
			r = kvm_lc_emit(&c, buf + off);
	}
	if (r < 0) {
		kvm_argv_free(c.v);
		goto out;
	}
	*out = c.v;
	*outn = c.nv;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
