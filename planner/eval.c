/* eval.c - what a placement costs: traffic, multicast groups and their
 * order. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

static uint64_t class_targets(const vmsplan_problem *p, size_t c, const unsigned *target_of)
{
	uint64_t set = 0;
	for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++)
		set |= 1ull << target_of[p->cls_vms[h]];
	return set;
}

uint64_t pl_content_cost(const vmsplan_problem *p, const unsigned *target_of)
{
	uint64_t cost = 0;
	for (size_t c = 0; c < p->nclasses; c++)
		cost += p->cls_contents[c] * (uint64_t)__builtin_popcountll(class_targets(p, c, target_of));
	return cost;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static uint64_t path_switches(const uint64_t *sets, const size_t *order, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 1; i < n; i++)
		s += (uint64_t)__builtin_popcountll(sets[order[i - 1]] ^ sets[order[i]]);
	return s;
}

int pl_plan_build(const vmsplan_problem *p, const unsigned *target_of, vmsplan_plan **out,
		  vmsplan_error *err)
{
	vmsplan_plan *plan = calloc(1, sizeof(*plan));
	uint64_t *sets = NULL, *contents = NULL;
	size_t *order = NULL, *naive = NULL;
	int r = 0;
	if (!plan)
		return pl_set_err(err, -ENOMEM, "out of memory");
	plan->nvms = p->nvms;
	plan->gap = -1;
	plan->target_of = malloc(p->nvms * sizeof(*plan->target_of));
	sets = malloc((p->nclasses + 1) * sizeof(*sets));
	if (!plan->target_of || !sets)
		goto nomem;
	memcpy(plan->target_of, target_of, p->nvms * sizeof(*target_of));

	/* traffic */
	struct vmsplan_traffic *t = &plan->traffic;
	uint64_t nonzero = 0, distinct = 0, received = 0, multi = 0;
	for (unsigned v = 0; v < p->nvms; v++)
		nonzero += p->vms[v].pages - p->vms[v].zero_pages;
	size_t nsets = 0;
	for (size_t c = 0; c < p->nclasses; c++) {
		uint64_t set = class_targets(p, c, target_of);
		unsigned k = (unsigned)__builtin_popcountll(set);
		distinct += p->cls_contents[c];
		received += p->cls_contents[c] * k;
		if (k >= 2) {
			multi += p->cls_contents[c];
			sets[nsets++] = set;
		}
	}
	t->reference_bytes = nonzero * VMSPLAN_REF_BYTES;
	t->multicast_bytes = multi * VMSPLAN_PAGE_SIZE;
	t->unicast_bytes = (distinct - multi) * VMSPLAN_PAGE_SIZE;
	t->transferred_bytes = distinct * VMSPLAN_PAGE_SIZE + t->reference_bytes;
	t->network_bytes = received * VMSPLAN_PAGE_SIZE + t->reference_bytes;

	/* groups: distinct multi-target sets, naive order = sorted bitmasks */
	qsort(sets, nsets, sizeof(*sets), cmp_u64);
	size_t ng = 0;
	for (size_t i = 0; i < nsets; i++)
		if (ng == 0 || sets[ng - 1] != sets[i])
			sets[ng++] = sets[i];
	contents = calloc(ng ? ng : 1, sizeof(*contents));
	order = malloc((ng ? ng : 1) * sizeof(*order));
	naive = malloc((ng ? ng : 1) * sizeof(*naive));
	plan->group_targets = malloc((ng ? ng : 1) * sizeof(uint64_t));
	plan->group_contents = malloc((ng ? ng : 1) * sizeof(uint64_t));
	if (!contents || !order || !naive || !plan->group_targets || !plan->group_contents)
		goto nomem;
	for (size_t c = 0; c < p->nclasses; c++) {
		uint64_t set = class_targets(p, c, target_of);
		if (__builtin_popcountll(set) < 2)
			continue;
		uint64_t *hit = bsearch(&set, sets, ng, sizeof(*sets), cmp_u64);
		contents[hit - sets] += p->cls_contents[c];
	}
	for (size_t i = 0; i < ng; i++)
		naive[i] = i;
	r = vmsplan_order_groups(sets, ng, order, err);
	if (r < 0)
		goto out;
	plan->order_exact = r;
	r = 0;
	plan->ngroups = ng;
	for (size_t i = 0; i < ng; i++) {
		plan->group_targets[i] = sets[order[i]];
		plan->group_contents[i] = contents[order[i]];
	}
	plan->switches = path_switches(sets, order, ng);
	plan->naive_switches = path_switches(sets, naive, ng);
	*out = plan;
	plan = NULL;
	goto out;
nomem:
	r = pl_set_err(err, -ENOMEM, "out of memory");
out:
	vmsplan_plan_free(plan);
	free(sets);
	free(contents);
	free(order);
	free(naive);
	return r;
}

void vmsplan_plan_free(vmsplan_plan *plan)
{
	if (!plan)
		return;
	free(plan->target_of);
	free(plan->group_targets);
	free(plan->group_contents);
	free(plan);
}

unsigned vmsplan_plan_target(const vmsplan_plan *plan, unsigned vm) { return plan->target_of[vm]; }
void vmsplan_plan_traffic(const vmsplan_plan *plan, struct vmsplan_traffic *t) { *t = plan->traffic; }
size_t vmsplan_plan_groups(const vmsplan_plan *plan) { return plan->ngroups; }
uint64_t vmsplan_plan_group_targets(const vmsplan_plan *plan, size_t i) { return plan->group_targets[i]; }
uint64_t vmsplan_plan_group_contents(const vmsplan_plan *plan, size_t i) { return plan->group_contents[i]; }
uint64_t vmsplan_plan_switches(const vmsplan_plan *plan) { return plan->switches; }
uint64_t vmsplan_plan_naive_switches(const vmsplan_plan *plan) { return plan->naive_switches; }
int vmsplan_plan_order_exact(const vmsplan_plan *plan) { return plan->order_exact; }
double vmsplan_plan_seconds(const vmsplan_plan *plan) { return plan->seconds; }
uint64_t vmsplan_plan_lower_bound(const vmsplan_plan *plan) { return plan->lower_bytes; }

int vmsplan_plan_optimal(const vmsplan_plan *plan, double *gap)
{
	if (gap)
		*gap = plan->gap;
	return plan->optimal;
}
