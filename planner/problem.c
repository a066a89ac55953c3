/* problem.c - building and checking a planning problem, and loading a
 * sharing summary from JSON. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "plan_int.h"

/* libvmsplan is installed on its own and links nothing of common/ (which
 * would drag OpenPGM into every placement engine), hence its own small
 * error and name helpers, twins of vms_err_set() and vms_name_valid(). */
int pl_set_err(vmsplan_error *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

double pl_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int valid_name(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= VMSPLAN_NAME_MAX)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = name[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

int vmsplan_problem_new(vmsplan_problem **out, vmsplan_error *err)
{
	vmsplan_problem *p = calloc(1, sizeof(*p));
	if (!p)
		return pl_set_err(err, -ENOMEM, "out of memory");
	p->cls_off = calloc(1, sizeof(*p->cls_off));
	if (!p->cls_off) {
		free(p);
		return pl_set_err(err, -ENOMEM, "out of memory");
	}
	*out = p;
	return 0;
}

void vmsplan_problem_free(vmsplan_problem *p)
{
	if (!p)
		return;
	free(p->vms);
	free(p->cls_off);
	free(p->cls_vms);
	free(p->cls_contents);
	free(p->cls_pages);
	free(p);
}

int vmsplan_add_vm(vmsplan_problem *p, const char *name, uint64_t pages, uint64_t zero_pages,
		   vmsplan_error *err)
{
	if (!valid_name(name))
		return pl_set_err(err, -EINVAL, "invalid VM name '%s' (1-%u characters of A-Z a-z 0-9 . _ -)",
				  name, VMSPLAN_NAME_MAX - 1);
	if (vmsplan_find_vm(p, name) >= 0)
		return pl_set_err(err, -EEXIST, "VM '%s' given twice", name);
	if (p->nvms == VMSPLAN_MAX_VMS)
		return pl_set_err(err, -E2BIG, "more than %u VMs", VMSPLAN_MAX_VMS);
	if (pages == 0 || zero_pages > pages || pages > (UINT64_MAX / VMSPLAN_PAGE_SIZE))
		return pl_set_err(err, -EINVAL, "VM '%s': bad page counts (%llu pages, %llu zero)", name,
				  (unsigned long long)pages, (unsigned long long)zero_pages);
	if (p->nvms == p->capvms) {
		unsigned ncap = p->capvms ? p->capvms * 2 : 16;
		struct pl_vm *nv = realloc(p->vms, ncap * sizeof(*nv));
		if (!nv)
			return pl_set_err(err, -ENOMEM, "out of memory");
		p->vms = nv;
		p->capvms = ncap;
	}
	struct pl_vm *v = &p->vms[p->nvms];
	memcpy(v->name, name, strlen(name) + 1);
	v->pages = pages;
	v->zero_pages = zero_pages;
	v->pin = -1;
	return (int)p->nvms++;
}

static int grow(void **ptr, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	void *np = realloc(*ptr, ncap * elem);
	if (!np)
		return -ENOMEM;
	*ptr = np;
	*cap = ncap;
	return 0;
}

/* Make room for one more class in every per-class array. */
static int grow_classes(vmsplan_problem *p)
{
	if (p->nclasses < p->capclasses)
		return 0;
	size_t ncap = p->capclasses ? p->capclasses * 2 : 64;
	uint64_t *c = realloc(p->cls_contents, ncap * sizeof(*c));
	if (!c)
		return -ENOMEM;
	p->cls_contents = c;
	uint64_t *pg = realloc(p->cls_pages, ncap * sizeof(*pg));
	if (!pg)
		return -ENOMEM;
	p->cls_pages = pg;
	uint32_t *off = realloc(p->cls_off, (ncap + 1) * sizeof(*off));
	if (!off)
		return -ENOMEM;
	p->cls_off = off;
	p->capclasses = ncap;
	return 0;
}

int vmsplan_add_class(vmsplan_problem *p, const unsigned *vms, size_t nvms, uint64_t contents,
		      uint64_t pages, vmsplan_error *err)
{
	if (p->nclasses == VMSPLAN_MAX_CLASSES)
		return pl_set_err(err, -E2BIG, "more than %u classes", VMSPLAN_MAX_CLASSES);
	if (nvms == 0 || nvms > p->nvms)
		return pl_set_err(err, -EINVAL, "class %zu: %zu holders (must be 1..%u)", p->nclasses,
				  nvms, p->nvms);
	if (contents == 0 || contents > UINT64_MAX / nvms / VMSPLAN_PAGE_SIZE || pages < contents * nvms)
		return pl_set_err(err, -EINVAL, "class %zu: bad counts (%llu contents, %llu pages, %zu VMs)",
				  p->nclasses, (unsigned long long)contents, (unsigned long long)pages, nvms);
	uint64_t seen[VMSPLAN_MAX_VMS / 64] = { 0 };
	for (size_t i = 0; i < nvms; i++) {
		if (vms[i] >= p->nvms)
			return pl_set_err(err, -EINVAL, "class %zu: VM index %u out of range", p->nclasses, vms[i]);
		if (seen[vms[i] / 64] >> (vms[i] % 64) & 1)
			return pl_set_err(err, -EINVAL, "class %zu: VM %u listed twice", p->nclasses, vms[i]);
		seen[vms[i] / 64] |= 1ull << (vms[i] % 64);
	}
	if (p->nholders + nvms > UINT32_MAX)
		return pl_set_err(err, -E2BIG, "too many class holders");
	if (grow((void **)&p->cls_vms, &p->capholders, p->nholders + nvms, sizeof(uint32_t)) < 0 ||
	    grow_classes(p) < 0)
		return pl_set_err(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < nvms; i++)
		p->cls_vms[p->nholders + i] = vms[i];
	p->nholders += nvms;
	p->cls_contents[p->nclasses] = contents;
	p->cls_pages[p->nclasses] = pages;
	p->nclasses++;
	p->cls_off[p->nclasses] = (uint32_t)p->nholders;
	return 0;
}

int vmsplan_add_target(vmsplan_problem *p, const char *name, unsigned slots, uint64_t mem_bytes,
		       vmsplan_error *err)
{
	if (!valid_name(name))
		return pl_set_err(err, -EINVAL, "invalid target name '%s' (1-%u characters of A-Z a-z 0-9 . _ -)",
				  name, VMSPLAN_NAME_MAX - 1);
	if (vmsplan_find_target(p, name) >= 0)
		return pl_set_err(err, -EEXIST, "target '%s' given twice", name);
	if (p->ntargets == VMSPLAN_MAX_TARGETS)
		return pl_set_err(err, -E2BIG, "more than %u targets", VMSPLAN_MAX_TARGETS);
	if (slots == 0)
		return pl_set_err(err, -EINVAL, "target '%s': needs at least one slot", name);
	struct pl_target *t = &p->targets[p->ntargets];
	memcpy(t->name, name, strlen(name) + 1);
	t->slots = slots;
	t->mem = mem_bytes;
	return (int)p->ntargets++;
}

int vmsplan_pin(vmsplan_problem *p, const char *vm, const char *target, vmsplan_error *err)
{
	int v = vmsplan_find_vm(p, vm), t = vmsplan_find_target(p, target);
	if (v < 0)
		return pl_set_err(err, -ENOENT, "pin: unknown VM '%s'", vm);
	if (t < 0)
		return pl_set_err(err, -ENOENT, "pin: unknown target '%s'", target);
	if (p->vms[v].pin >= 0 && p->vms[v].pin != t)
		return pl_set_err(err, -EINVAL, "pin: VM '%s' pinned to two targets", vm);
	p->vms[v].pin = t;
	return 0;
}

unsigned vmsplan_vms(const vmsplan_problem *p) { return p->nvms; }
const char *vmsplan_vm_name(const vmsplan_problem *p, unsigned vm) { return p->vms[vm].name; }
unsigned vmsplan_targets(const vmsplan_problem *p) { return p->ntargets; }
const char *vmsplan_target_name(const vmsplan_problem *p, unsigned t) { return p->targets[t].name; }
size_t vmsplan_classes(const vmsplan_problem *p) { return p->nclasses; }
uint64_t vmsplan_vm_pages(const vmsplan_problem *p, unsigned vm) { return p->vms[vm].pages; }
uint64_t vmsplan_vm_zero_pages(const vmsplan_problem *p, unsigned vm) { return p->vms[vm].zero_pages; }

int vmsplan_find_vm(const vmsplan_problem *p, const char *name)
{
	for (unsigned i = 0; i < p->nvms; i++)
		if (strcmp(p->vms[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

int vmsplan_find_target(const vmsplan_problem *p, const char *name)
{
	for (unsigned i = 0; i < p->ntargets; i++)
		if (strcmp(p->targets[i].name, name) == 0)
			return (int)i;
	return -ENOENT;
}

uint64_t pl_vm_mem(const vmsplan_problem *p, unsigned vm)
{
	return p->vms[vm].pages * VMSPLAN_PAGE_SIZE;
}

/* ---- JSON summaries ------------------------------------------------------------ */

static int json_count(json_t *obj, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(obj, key);
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return -1;
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int vmsplan_load_summary(vmsplan_problem *p, const char *text, size_t len, vmsplan_error *err)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr), *s;
	unsigned *holders = NULL, base = p->nvms;
	int r = 0;
	if (!root)
		return pl_set_err(err, -EINVAL, "sharing summary: not JSON: %s (line %d)", jerr.text, jerr.line);
	s = json_object_get(root, "summary");
	if (!s)
		s = root;
	json_t *ver = json_object_get(s, "version"), *vms = json_object_get(s, "vms"),
	       *classes = json_object_get(s, "classes");
	if (!json_is_integer(ver) || json_integer_value(ver) != 1) {
		r = pl_set_err(err, -EINVAL, "sharing summary: missing or unsupported \"version\" (want 1)");
		goto out;
	}
	if (!json_is_array(vms) || json_array_size(vms) == 0 || json_array_size(vms) > VMSPLAN_MAX_VMS ||
	    !json_is_array(classes) || json_array_size(classes) > VMSPLAN_MAX_CLASSES) {
		r = pl_set_err(err, -EINVAL, "sharing summary: \"vms\" (1..%u) and \"classes\" arrays required",
			       VMSPLAN_MAX_VMS);
		goto out;
	}
	size_t i;
	json_t *v;
	json_array_foreach(vms, i, v) {
		const char *name = json_string_value(json_object_get(v, "name"));
		uint64_t pages, zero;
		if (!name || json_count(v, "pages", &pages) < 0 || json_count(v, "zero_pages", &zero) < 0) {
			r = pl_set_err(err, -EINVAL, "sharing summary: vms[%zu] needs name, pages, zero_pages", i);
			goto out;
		}
		r = vmsplan_add_vm(p, name, pages, zero, err);
		if (r < 0)
			goto out;
	}
	holders = malloc(json_array_size(vms) * sizeof(*holders));
	if (!holders) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	json_array_foreach(classes, i, v) {
		json_t *hv = json_object_get(v, "vms"), *h;
		uint64_t contents, pages;
		size_t j;
		if (!json_is_array(hv) || json_array_size(hv) == 0 || json_array_size(hv) > json_array_size(vms) ||
		    json_count(v, "contents", &contents) < 0 || json_count(v, "pages", &pages) < 0) {
			r = pl_set_err(err, -EINVAL, "sharing summary: classes[%zu] needs vms, contents, pages", i);
			goto out;
		}
		json_array_foreach(hv, j, h) {
			if (!json_is_integer(h) || json_integer_value(h) < 0 ||
			    (uint64_t)json_integer_value(h) >= json_array_size(vms)) {
				r = pl_set_err(err, -EINVAL, "sharing summary: classes[%zu]: bad VM index", i);
				goto out;
			}
			holders[j] = base + (unsigned)json_integer_value(h);
		}
		r = vmsplan_add_class(p, holders, json_array_size(hv), contents, pages, err);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	free(holders);
	json_decref(root);
	return r < 0 ? r : 0;
}

/* ---- checks and indexes used by the strategies ----------------------------------- */

int pl_index_build(const vmsplan_problem *p, struct pl_index *ix, vmsplan_error *err)
{
	ix->off = calloc((size_t)p->nvms + 1, sizeof(*ix->off));
	ix->cls = malloc((p->nholders ? p->nholders : 1) * sizeof(*ix->cls));
	uint32_t *fill = calloc(p->nvms ? p->nvms : 1, sizeof(*fill));
	if (!ix->off || !ix->cls || !fill) {
		free(fill);
		pl_index_free(ix);
		return pl_set_err(err, -ENOMEM, "out of memory");
	}
	for (size_t h = 0; h < p->nholders; h++)
		ix->off[p->cls_vms[h] + 1]++;
	for (unsigned v = 0; v < p->nvms; v++)
		ix->off[v + 1] += ix->off[v];
	for (size_t c = 0; c < p->nclasses; c++)
		for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++) {
			unsigned v = p->cls_vms[h];
			ix->cls[ix->off[v] + fill[v]++] = (uint32_t)c;
		}
	free(fill);
	return 0;
}

void pl_index_free(struct pl_index *ix)
{
	free(ix->off);
	free(ix->cls);
	ix->off = NULL;
	ix->cls = NULL;
}

int pl_check_capacity(const vmsplan_problem *p, vmsplan_error *err)
{
	if (p->nvms == 0)
		return pl_set_err(err, -EINVAL, "no VMs to place");
	if (p->ntargets == 0)
		return pl_set_err(err, -EINVAL, "no targets given");
	uint64_t slots = 0, mem_need = 0, mem_have = 0;
	int unlimited = 0;
	unsigned pinned[VMSPLAN_MAX_TARGETS] = { 0 };
	uint64_t pinned_mem[VMSPLAN_MAX_TARGETS] = { 0 };
	for (unsigned t = 0; t < p->ntargets; t++) {
		slots += p->targets[t].slots;
		mem_have += p->targets[t].mem;
		unlimited |= p->targets[t].mem == 0;
	}
	if (slots < p->nvms)
		return pl_set_err(err, -ENOSPC, "%u VMs but only %llu target slots", p->nvms,
				  (unsigned long long)slots);
	for (unsigned v = 0; v < p->nvms; v++) {
		uint64_t m = pl_vm_mem(p, v);
		mem_need += m;
		int fits = 0;
		for (unsigned t = 0; t < p->ntargets; t++)
			fits |= p->targets[t].mem == 0 || p->targets[t].mem >= m;
		if (!fits)
			return pl_set_err(err, -ENOSPC, "VM '%s' (%llu bytes) fits on no target", p->vms[v].name,
					  (unsigned long long)m);
		if (p->vms[v].pin >= 0) {
			pinned[p->vms[v].pin]++;
			pinned_mem[p->vms[v].pin] += m;
		}
	}
	if (!unlimited && mem_need > mem_have)
		return pl_set_err(err, -ENOSPC, "the VMs need %llu bytes, the targets have %llu",
				  (unsigned long long)mem_need, (unsigned long long)mem_have);
	for (unsigned t = 0; t < p->ntargets; t++) {
		if (pinned[t] > p->targets[t].slots)
			return pl_set_err(err, -ENOSPC, "%u VMs pinned to target '%s', which has %u slots",
					  pinned[t], p->targets[t].name, p->targets[t].slots);
		if (p->targets[t].mem && pinned_mem[t] > p->targets[t].mem)
			return pl_set_err(err, -ENOSPC, "the VMs pinned to target '%s' need more memory than it has",
					  p->targets[t].name);
	}
	return 0;
}

int pl_check_placement(const vmsplan_problem *p, const unsigned *target_of, vmsplan_error *err)
{
	unsigned used[VMSPLAN_MAX_TARGETS] = { 0 };
	uint64_t mem[VMSPLAN_MAX_TARGETS] = { 0 };
	for (unsigned v = 0; v < p->nvms; v++) {
		unsigned t = target_of[v];
		if (t >= p->ntargets)
			return pl_set_err(err, -EINVAL, "VM '%s' placed on no valid target", p->vms[v].name);
		if (p->vms[v].pin >= 0 && (unsigned)p->vms[v].pin != t)
			return pl_set_err(err, -EINVAL, "VM '%s' is pinned to '%s'", p->vms[v].name,
					  p->targets[p->vms[v].pin].name);
		used[t]++;
		mem[t] += pl_vm_mem(p, v);
	}
	for (unsigned t = 0; t < p->ntargets; t++) {
		if (used[t] > p->targets[t].slots)
			return pl_set_err(err, -ENOSPC, "target '%s' gets %u VMs for %u slots", p->targets[t].name,
					  used[t], p->targets[t].slots);
		if (p->targets[t].mem && mem[t] > p->targets[t].mem)
			return pl_set_err(err, -ENOSPC, "target '%s' gets more VM memory than it has",
					  p->targets[t].name);
	}
	return 0;
}
