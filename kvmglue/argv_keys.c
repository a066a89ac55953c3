/* argv_keys.c - checking an option value key by key (see launch_int.h):
 * the key tables' actions (keep, shared path, firmware, move into
 * STATE/NAME/, refuse) and values checked by their type's key table. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "launch_int.h"

const struct kvm_lc_key *kvm_lc_key_find(const struct kvm_lc_key *t, const char *key)
{
	const char *last = kvm_lc_key_last(key);
	for (const struct kvm_lc_key *k = t; k && k->key; k++)
		if (strcmp(k->key, last) == 0)
			return k;
	for (const char *p = key; *p;) {
		size_t n = strcspn(p, ".");
		for (const struct kvm_lc_key *k = t; k && k->key; k++)
			if (strlen(k->key) == n && strncmp(k->key, p, n) == 0)
				return k;
		p += n + (p[n] == '.');
	}
	return NULL;
}

/* "-netdev user,KEY=" or "-drive KEY=": the start of a message about a key */
static void key_what(const struct kvm_lc_val *v, const char *key, char *out, size_t len)
{
	snprintf(out, len, "%s%s%.100s=", v->what, strchr(v->what, ' ') ? "," : " ", key);
}

int kvm_lc_refuse_key(struct lc *c, const struct kvm_lc_val *v, const char *key, const char *why)
{
	char what[256];
	key_what(v, key, what, sizeof(what));
	return kvm_lc_fail(c, -EPERM, "%s...: %s", what, why);
}

int kvm_lc_key_apply(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, unsigned act,
		     const char *why)
{
	char what[256], tmp[LC_PATH_MAX];
	int r = 0;
	key_what(v, key, what, sizeof(what));
	if (act == K_KEEP)
		return 0;
	if (act == K_REFUSE)
		return kvm_lc_refuse_key(c, v, key, why);
	if (!*val)                            /* no file */
		return 0;
	switch (act) {
	case K_INITRD:
		if (strchr(val, ','))
			return kvm_lc_refuse_key(c, v, key, "a list of files (multiboot modules) is not carried over");
		/* fall through */
	case K_SHARED:
		r = kvm_lc_shared(c, what, val, c->rval, sizeof(c->rval));
		break;
	case K_FW:
		r = kvm_lc_firmware(c, what, val, c->rval, sizeof(c->rval));
		break;
	case K_RNG:
		if (strcmp(val, "/dev/urandom") == 0 || strcmp(val, "/dev/random") == 0)
			return 0;
		r = kvm_lc_shared(c, what, val, c->rval, sizeof(c->rval));
		break;
	case K_MOVE:
		what[strlen(what) - 1] = '\0';
		r = kvm_lc_move(c, what, kvm_lc_base(val), c->rval, sizeof(c->rval));
		break;
	case K_ACPI:
		c->rval[0] = '\0';
		for (const char *p = val; r == 0 && *p;) {
			size_t n = strcspn(p, ":"), l = strlen(c->rval);
			snprintf(tmp, sizeof(tmp), "%.*s", (int)n, p);
			r = kvm_lc_shared(c, what, tmp, c->rval + l + (l > 0), sizeof(c->rval) - l - 1);
			if (r == 0 && strchr(c->rval + l + (l > 0), ':'))
				r = kvm_lc_refuse_key(c, v, key, "a shared file whose path has a ':'");
			if (r == 0 && l > 0)
				c->rval[l] = ':';
			p += n + (p[n] == ':');
		}
		break;
	}
	return r < 0 ? r : strcmp(c->rval, val) != 0;
}

int kvm_lc_key_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg)
{
	const struct keyset *ks = arg;
	const struct kvm_lc_key *k = kvm_lc_key_find(ks->k, key);
	if (!k && !ks->open)
		return kvm_lc_refuse_key(c, v, key, "not a key the target may use");
	/* a key the table does not know whose value names a file (-smbios
	 * path=, a device's frudatafile= or evdev=, ...): only under a shared
	 * path, like every host file */
	if (!k)
		return strchr(val, '/') ? kvm_lc_key_apply(c, v, key, val, K_SHARED, NULL) : 0;
	return kvm_lc_key_apply(c, v, key, val, k->act, k->why);
}

const struct kind *kvm_lc_kind_find(const struct kind *t, const char *name)
{
	for (; t->name; t++) {
		size_t n = strlen(t->name);
		if (t->name[n - 1] == '*' ? strncmp(t->name, name, n - 1) == 0 : strcmp(t->name, name) == 0)
			return t;
	}
	return NULL;
}

/* Check a value whose kind is key `kkey`: refused and unknown kinds fail,
 * the rest go through their key set; emit the result. */
int kvm_lc_check_kind(struct lc *c, const struct kvm_lc_opt *o, const char *val, const char *kkey, int json_ok,
		      const struct kind *kinds, const char *noun, const char *const *dups)
{
	struct kvm_lc_val v;
	char kind[64], *out = NULL;
	int r = kvm_lc_val_open(c, &v, o, val, kkey, json_ok);
	if (r == 0 && kvm_lc_val_get(&v, kkey, kind, sizeof(kind)) != 1)
		r = kvm_lc_fail(c, -EINVAL, "-%s: no %s (or a very long one)", o->name, kkey);
	const struct kind *k = r == 0 ? kvm_lc_kind_find(kinds, kind) : NULL;
	if (r == 0) {
		kvm_lc_val_kind(&v, o, kind);
		if (!k)
			r = kvm_lc_fail(c, -EPERM, "%s: not %s the target may use", v.what, noun);
		else if (k->why)
			r = kvm_lc_fail(c, -EPERM, "%s: %s", v.what, k->why);
	}
	if (r == 0)
		r = kvm_lc_val_walk(c, &v, kvm_lc_key_rule, &(struct keyset){ k->keys, k->open }, dups, &out);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	kvm_lc_val_close(&v);
	return r;
}

/* Check a value key by key; emit the result. */
int kvm_lc_check_keys(struct lc *c, const struct kvm_lc_opt *o, const char *val, const char *implied,
		      const struct kvm_lc_key *keys, int open)
{
	struct kvm_lc_val v;
	char *out = NULL, kind[64];
	int r = kvm_lc_val_open(c, &v, o, val, implied, 0);
	if (r == 0 && implied && v.nit && v.it[0].bare && kvm_lc_val_get(&v, implied, kind, sizeof(kind)) == 1)
		kvm_lc_val_kind(&v, o, kind);             /* "-machine virt,KEY=" in messages */
	if (r == 0)
		r = kvm_lc_val_walk(c, &v, kvm_lc_key_rule, &(struct keyset){ keys, open }, NULL, &out);
	if (r == 0)
		r = kvm_lc_emit2(c, o, out);
	free(out);
	kvm_lc_val_close(&v);
	return r;
}
