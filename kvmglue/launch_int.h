/* launch_int.h - inside kvmglue/ only: the target QEMU's command line is
 * built by launch.c (the walk over the source's arguments and the helpers
 * below) from the option table and its rules in argv_policy.c. */
#ifndef VMS_KVMGLUE_LAUNCH_INT_H
#define VMS_KVMGLUE_LAUNCH_INT_H

#include <stdarg.h>

#include "kvmglue.h"

#define LC_NAMES_MAX 256u       /* files and sockets handed out in STATE/NAME/ */
#define LC_NAME_MAX 72u         /* one of them: vms_name_valid(), shorter than this */
#define LC_ITEMS_MAX 256u       /* items of one key=value list */
#define LC_DEPTH_MAX 8          /* nesting of a JSON option value */
#define LC_KEY_MAX 256u         /* a dotted key */
#define LC_PATH_MAX 4096u

/* One kvm_target_argv() call. No state outlives it. */
struct lc {
	const struct kvm_target_policy *pol;
	char *shared[KVM_SHARED_MAX];   /* the shared paths, realpath()ed */
	size_t nshared;
	char dir[LC_PATH_MAX];          /* STATE/NAME */
	char *const *src;               /* the source's argv, for kvm_lc_refers() */
	size_t n;
	size_t cur;                     /* the option being checked: src[cur] */
	char **v;                       /* the output, NULL-terminated */
	size_t nv, cap;
	unsigned nqmp, nmon;            /* -qmp / -monitor unix sockets so far */
	char names[LC_NAMES_MAX][LC_NAME_MAX];
	unsigned nnames;
	vms_err *err;
	/* a key rule that returns 1 replaces the key's value with rval and,
	 * in a key=value list, its key with rkey */
	char rkey[LC_KEY_MAX];
	char rval[LC_PATH_MAX + LC_NAME_MAX];
};

/* ---- the option table (argv_policy.c) ------------------------------------- */

enum kvm_lc_how {
	LC_KEEP,                        /* carried over as it is */
	LC_DROP,                        /* left out: the target sets its own */
	LC_REFUSE,                      /* refused: `why` says why */
	LC_CHECK,                       /* fn decides and emits */
};

struct kvm_lc_opt {
	const char *name;               /* without the dash */
	unsigned char arg;              /* takes a value */
	unsigned char how;              /* enum kvm_lc_how */
	int (*fn)(struct lc *c, const struct kvm_lc_opt *o, const char *val);
	const char *why;                /* LC_REFUSE: the reason */
};

/* The entry for option `name` (without dashes), NULL when unknown. */
const struct kvm_lc_opt *kvm_lc_lookup(const char *name);
/* A bare argument: QEMU takes it as -hda's image. */
int kvm_lc_bare_arg(struct lc *c, const char *val);

/* ---- helpers for the rules (launch.c) -------------------------------------- */

/* Append a copy of s to the output: 0 or -ENOMEM / -E2BIG. */
int kvm_lc_emit(struct lc *c, const char *s);
/* emit "-NAME" and val */
int kvm_lc_emit2(struct lc *c, const struct kvm_lc_opt *o, const char *val);
/* Fail with `code` and a message (control characters shown as '?'). */
int kvm_lc_fail(struct lc *c, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One item of a key=value list: text[start, end), '=' at eq (or none). */
struct kvm_lc_item {
	size_t start, end, eq;
	int bare;
};

/* An option value: a QEMU key=value list (a doubled comma is a literal
 * comma; with `implied`, a first item without '=' is that key's value),
 * or, where QEMU takes one, a JSON object. */
struct kvm_lc_val {
	const char *what;               /* "-netdev user": the start of messages */
	char whatbuf[128];
	const char *text;
	const char *implied;
	json_t *j;                      /* the JSON form, or NULL */
	struct kvm_lc_item *it;             /* the key=value form's items */
	size_t nit;
};
int kvm_lc_val_open(struct lc *c, struct kvm_lc_val *v, const struct kvm_lc_opt *o, const char *text,
		const char *implied, int json_ok);
/* Name the value in messages after its kind (the driver, backend, ...). */
void kvm_lc_val_kind(struct kvm_lc_val *v, const struct kvm_lc_opt *o, const char *kind);
/* The top-level key's value as text: 1, 0 when absent, <0 when it does not fit. */
int kvm_lc_val_get(const struct kvm_lc_val *v, const char *key, char *buf, size_t len);
void kvm_lc_val_close(struct kvm_lc_val *v);

/* A key rule: called for every key (dotted below the top level; a bare
 * flag as KEY=on, "noKEY" also as KEY=off) with its value as text (JSON
 * true/false as on/off). 0 keeps it, 1 replaces it (c->rkey, c->rval), <0
 * refuses. */
typedef int (*kvm_lc_rule)(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg);
/* Run `rule` over every key; *out is the value to emit (malloc()ed; the
 * text as given when nothing was replaced). A key given twice is refused
 * (QEMU would take one of them unchecked) unless `dups` lists it. */
int kvm_lc_val_walk(struct lc *c, struct kvm_lc_val *v, kvm_lc_rule rule, void *arg, const char *const *dups,
		    char **out);

/* The last component of a dotted key. */
const char *kvm_lc_key_last(const char *key);
const char *kvm_lc_base(const char *path);

/* A host file that may stay where it is: an absolute path whose realpath()
 * lies under a shared path; out gets the resolved path. `what` names it in
 * messages. -EPERM, -ENOENT. */
int kvm_lc_shared(struct lc *c, const char *what, const char *path, char *out, size_t len);
/* Firmware QEMU also looks up by bare name in its data directories (-bios,
 * romfile=): a bare name is kept as it is (the target runs in STATE/NAME/,
 * so no other directory is searched first), a path must be shared. */
int kvm_lc_firmware(struct lc *c, const char *what, const char *path, char *out, size_t len);
/* The file `name` in STATE/NAME/, handed out once: out = DIR/name. Refused
 * when name is not a plain file name or is taken. */
int kvm_lc_move(struct lc *c, const char *what, const char *name, char *out, size_t len);
/* Does any source argument but the option being checked (and its value)
 * mention `id`? */
int kvm_lc_refers(const struct lc *c, const char *id);
/* QEMU's booleans: 1 for on/yes/true/y. */
int kvm_lc_bool(const char *s);

/* ---- checking a value key by key (argv_keys.c) ------------------------------ */

enum {
	K_KEEP,         /* carried over */
	K_SHARED,       /* a host file: must lie under a shared path */
	K_FW,           /* firmware: a bare name (QEMU's data directory) or shared */
	K_INITRD,       /* shared, and no comma (multiboot module lists) */
	K_MOVE,         /* a file QEMU writes or listens on: its base name in STATE/NAME/ */
	K_RNG,          /* /dev/urandom, /dev/random, or shared */
	K_ACPI,         /* a ':' separated list of shared files */
	K_REFUSE,       /* refused: why */
};

/* A key table's entry; a table ends with a NULL key. */
struct kvm_lc_key {
	const char *key;
	unsigned char act;
	const char *why;
};

/* A key set: `open` keeps keys it does not list, a closed one refuses them. */
struct keyset {
	const struct kvm_lc_key *k;
	int open;
};

/* A type (driver, backend, qom-type, ...) and its key set, or why it is
 * refused; a table ends with a NULL name. */
struct kind {
	const char *name;               /* a trailing '*' matches a prefix */
	const struct kvm_lc_key *keys;
	int open;
	const char *why;                /* refused */
};

#define FD_WHY "passes a file descriptor (descriptors do not cross hosts)"

/* The entry for a dotted key: its last component first, then each
 * component from the first (so "hostfwd.0.str" is hostfwd's); NULL. */
const struct kvm_lc_key *kvm_lc_key_find(const struct kvm_lc_key *t, const char *key);
const struct kind *kvm_lc_kind_find(const struct kind *t, const char *name);
/* Refuse `key` of v: "-netdev user,KEY=...: why". -EPERM. */
int kvm_lc_refuse_key(struct lc *c, const struct kvm_lc_val *v, const char *key, const char *why);
/* Apply action `act` to key=val: 0 kept, 1 replaced (c->rval), <0. */
int kvm_lc_key_apply(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, unsigned act,
		     const char *why);
/* 1 when a source command line says how to display (-display, -nographic):
 * without, the target gets -display none. */
int kvm_lc_has_display(char *const *src, size_t n);
/* An kvm_lc_rule over a struct keyset. */
int kvm_lc_key_rule(struct lc *c, struct kvm_lc_val *v, const char *key, const char *val, void *arg);
/* Check a value whose type is key `kkey` against `kinds` (refused and
 * unknown types fail, naming `noun`), each key by its type's key set, and
 * emit "-OPT VALUE". */
int kvm_lc_check_kind(struct lc *c, const struct kvm_lc_opt *o, const char *val, const char *kkey, int json_ok,
		  const struct kind *kinds, const char *noun, const char *const *dups);
/* Check a value by one key set and emit it. */
int kvm_lc_check_keys(struct lc *c, const struct kvm_lc_opt *o, const char *val, const char *implied,
		  const struct kvm_lc_key *keys, int open);

#endif
