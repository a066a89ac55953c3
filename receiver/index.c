/* index.c - the receiver's content index: which pages of which VMs hold
 * each content id the sender's maps named, and which contents came. */
#include <errno.h>
#include <stdlib.h>

#include "receiver_int.h"

static int cmp_loc(const void *a, const void *b)
{
	const struct rc_loc *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	return x->page < y->page ? -1 : x->page > y->page;
}

int rc_index_build(struct rc_index *ix, struct rc_vm *vms, unsigned nvms, vms_err *err)
{
	size_t n = 0;
	for (unsigned v = 0; v < nvms; v++)
		for (uint64_t p = 0; p < vms[v].pages; p++)
			n += vms[v].map[p] != 0;
	ix->locs = malloc((n ? n : 1) * sizeof(*ix->locs));
	if (!ix->locs)
		return vms_err_set(err, -ENOMEM, "out of memory for %zu page locations", n);
	size_t k = 0;
	for (unsigned v = 0; v < nvms; v++)
		for (uint64_t p = 0; p < vms[v].pages; p++)
			if (vms[v].map[p])
				ix->locs[k++] = (struct rc_loc){ vms[v].map[p], v, (uint32_t)p };
	qsort(ix->locs, n, sizeof(*ix->locs), cmp_loc);
	ix->ids = malloc((n ? n : 1) * sizeof(*ix->ids));
	ix->off = malloc((n + 1) * sizeof(*ix->off));
	if (!ix->ids || !ix->off)
		return vms_err_set(err, -ENOMEM, "out of memory");
	ix->nids = 0;
	for (size_t i = 0; i < n; i++)
		if (i == 0 || ix->locs[i].id != ix->locs[i - 1].id) {
			ix->ids[ix->nids] = ix->locs[i].id;
			ix->off[ix->nids++] = (uint32_t)i;
		}
	ix->off[ix->nids] = (uint32_t)n;
	ix->have = calloc(ix->nids ? ix->nids : 1, 1);
	if (!ix->have)
		return vms_err_set(err, -ENOMEM, "out of memory");
	ix->missing = ix->nids;
	/* the maps are in the index now */
	for (unsigned v = 0; v < nvms; v++) {
		free(vms[v].map);
		vms[v].map = NULL;
	}
	return 0;
}

int rc_index_want(const struct rc_index *ix, uint32_t id, size_t *slot, const struct rc_loc **locs, size_t *n)
{
	size_t lo = 0, hi = ix->nids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ix->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == ix->nids || ix->ids[lo] != id || ix->have[lo])
		return 0;
	*slot = lo;
	*locs = &ix->locs[ix->off[lo]];
	*n = ix->off[lo + 1] - ix->off[lo];
	return 1;
}

void rc_index_got(struct rc_index *ix, size_t slot)
{
	if (slot < ix->nids && !ix->have[slot]) {
		ix->have[slot] = 1;
		ix->missing--;
	}
}

uint32_t rc_index_missing(const struct rc_index *ix, size_t *k, uint32_t *ids, uint32_t max)
{
	uint32_t n = 0;
	for (; n < max && *k < ix->nids; ++*k)
		if (!ix->have[*k])
			ids[n++] = ix->ids[*k];
	return n;
}

void rc_index_free(struct rc_index *ix)
{
	free(ix->locs);
	free(ix->ids);
	free(ix->off);
	free(ix->have);
	*ix = (struct rc_index){ 0 };
}
