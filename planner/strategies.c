/* strategies.c - placing VMs on targets: greedy, random, sharing-oblivious,
 * local search; vmsplan_solve() dispatches to them (optimal is in ilp.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

static const char *const strategy_names[VMSPLAN_STRATEGIES] = {
	[VMSPLAN_GREEDY] = "greedy", [VMSPLAN_RANDOM] = "random",
	[VMSPLAN_OBLIVIOUS] = "oblivious", [VMSPLAN_LOCAL] = "local",
	[VMSPLAN_OPTIMAL] = "optimal", [VMSPLAN_ANNEAL] = "anneal",
};

const char *vmsplan_strategy_name(enum vmsplan_strategy s)
{
	return (unsigned)s < VMSPLAN_STRATEGIES ? strategy_names[s] : "unknown";
}

int vmsplan_strategy_parse(const char *name, enum vmsplan_strategy *out)
{
	for (unsigned i = 0; i < VMSPLAN_STRATEGIES; i++)
		if (strcmp(name, strategy_names[i]) == 0) {
			*out = (enum vmsplan_strategy)i;
			return 0;
		}
	return -EINVAL;
}

void vmsplan_options_init(struct vmsplan_options *o)
{
	o->strategy = VMSPLAN_ANNEAL;
	o->seed = 1;
	o->time_limit = 10.0;
}

/* Room left on every target while a placement is built. */
struct room {
	unsigned slots[VMSPLAN_MAX_TARGETS];
	uint64_t mem[VMSPLAN_MAX_TARGETS];      /* UINT64_MAX: unlimited */
};

static void room_init(const vmsplan_problem *p, struct room *r)
{
	for (unsigned t = 0; t < p->ntargets; t++) {
		r->slots[t] = p->targets[t].slots;
		r->mem[t] = p->targets[t].mem ? p->targets[t].mem : UINT64_MAX;
	}
}

static int room_fits(const vmsplan_problem *p, const struct room *r, unsigned v, unsigned t)
{
	return r->slots[t] > 0 && r->mem[t] >= pl_vm_mem(p, v);
}

static void room_take(const vmsplan_problem *p, struct room *r, unsigned v, unsigned t)
{
	r->slots[t]--;
	if (r->mem[t] != UINT64_MAX)
		r->mem[t] -= pl_vm_mem(p, v);
}

static int no_room(const vmsplan_problem *p, unsigned v, vmsplan_error *err)
{
	return pl_set_err(err, -ENOSPC, "no target has room left for VM '%s' (capacities are tight: "
			  "try --strategy optimal)", p->vms[v].name);
}

/* ---- greedy ---------------------------------------------------------------- */

struct by_key { uint64_t key; unsigned vm; };

static int cmp_key_desc(const void *a, const void *b)
{
	const struct by_key *x = a, *y = b;
	if (x->key != y->key)
		return x->key > y->key ? -1 : 1;
	return x->vm < y->vm ? -1 : (x->vm > y->vm);
}

int pl_greedy(const vmsplan_problem *p, const struct pl_index *ix, unsigned *target_of,
	      vmsplan_error *err)
{
	const unsigned T = p->ntargets;
	uint64_t *recv = calloc(p->nclasses ? p->nclasses : 1, sizeof(*recv));
	uint64_t *overlap = calloc((size_t)p->nvms * T, sizeof(*overlap));  /* [v*T+t] */
	uint64_t *distinct = calloc(p->nvms, sizeof(*distinct));
	uint8_t *placed = calloc(p->nvms, 1);
	struct room room;
	int r = 0;
	if (!recv || !overlap || !distinct || !placed) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	room_init(p, &room);
	for (unsigned v = 0; v < p->nvms; v++)
		for (uint32_t k = ix->off[v]; k < ix->off[v + 1]; k++)
			distinct[v] += p->cls_contents[ix->cls[k]];

	for (unsigned step = 0; step < p->nvms; step++) {
		/* pinned VMs first; then the (VM, target with room) pair whose
		 * target already receives most of the VM's contents; with no
		 * overlap anywhere, the largest VM on the emptiest target */
		unsigned bv = UINT32_MAX, bt = UINT32_MAX;
		uint64_t bo = 0;
		for (unsigned v = 0; v < p->nvms && bv == UINT32_MAX; v++)
			if (!placed[v] && p->vms[v].pin >= 0) {
				bv = v;
				bt = (unsigned)p->vms[v].pin;
			}
		for (unsigned v = 0; v < p->nvms && bt == UINT32_MAX; v++) {
			if (placed[v])
				continue;
			for (unsigned t = 0; t < T; t++) {
				uint64_t o = overlap[(size_t)v * T + t];
				if (o > bo && room_fits(p, &room, v, t)) {
					bo = o;
					bv = v;
				}
			}
		}
		if (bv != UINT32_MAX && bt == UINT32_MAX) {
			for (unsigned t = 0; t < T; t++)
				if (overlap[(size_t)bv * T + t] == bo && room_fits(p, &room, bv, t))
					if (bt == UINT32_MAX || room.slots[t] > room.slots[bt])
						bt = t;
		}
		if (bv == UINT32_MAX) {
			for (unsigned v = 0; v < p->nvms; v++)
				if (!placed[v] && (bv == UINT32_MAX || distinct[v] > distinct[bv]))
					bv = v;
			for (unsigned t = 0; t < T; t++)
				if (room_fits(p, &room, bv, t) &&
				    (bt == UINT32_MAX || room.slots[t] > room.slots[bt] ||
				     (room.slots[t] == room.slots[bt] && room.mem[t] > room.mem[bt])))
					bt = t;
		}
		if (bt == UINT32_MAX || !room_fits(p, &room, bv, bt)) {
			r = no_room(p, bv, err);
			goto out;
		}
		target_of[bv] = bt;
		placed[bv] = 1;
		room_take(p, &room, bv, bt);
		/* classes t receives for the first time raise their holders' overlap */
		for (uint32_t k = ix->off[bv]; k < ix->off[bv + 1]; k++) {
			uint32_t c = ix->cls[k];
			if (recv[c] >> bt & 1)
				continue;
			recv[c] |= 1ull << bt;
			for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++)
				overlap[(size_t)p->cls_vms[h] * T + bt] += p->cls_contents[c];
		}
	}
out:
	free(recv);
	free(overlap);
	free(distinct);
	free(placed);
	return r;
}

/* ---- random ------------------------------------------------------------------ */

#define RANDOM_TRIES 100

int pl_random(const vmsplan_problem *p, uint64_t seed, unsigned *target_of, vmsplan_error *err)
{
	unsigned *order = malloc(p->nvms * sizeof(*order));
	if (!order)
		return pl_set_err(err, -ENOMEM, "out of memory");
	uint64_t state = seed;
	int r = -ENOSPC;
	for (int attempt = 0; attempt < RANDOM_TRIES && r == -ENOSPC; attempt++) {
		struct room room;
		room_init(p, &room);
		unsigned n = 0;
		/* pinned VMs take their places first */
		for (unsigned v = 0; v < p->nvms; v++)
			if (p->vms[v].pin >= 0) {
				target_of[v] = (unsigned)p->vms[v].pin;
				room_take(p, &room, v, target_of[v]);
			} else {
				order[n++] = v;
			}
		for (unsigned i = n; i > 1; i--) {       /* Fisher-Yates */
			unsigned j = (unsigned)(pl_rand(&state) % i), tmp = order[i - 1];
			order[i - 1] = order[j];
			order[j] = tmp;
		}
		r = 0;
		for (unsigned i = 0; i < n && r == 0; i++) {
			unsigned v = order[i], cand[VMSPLAN_MAX_TARGETS], nc = 0;
			for (unsigned t = 0; t < p->ntargets; t++)
				if (room_fits(p, &room, v, t))
					cand[nc++] = t;
			if (nc == 0) {
				r = -ENOSPC;
				break;
			}
			target_of[v] = cand[pl_rand(&state) % nc];
			room_take(p, &room, v, target_of[v]);
		}
	}
	free(order);
	if (r < 0)
		return pl_set_err(err, -ENOSPC, "no random placement fits the capacities after %d tries",
				  RANDOM_TRIES);
	return 0;
}

/* ---- sharing-oblivious ------------------------------------------------------------ */

int pl_oblivious(const vmsplan_problem *p, unsigned *target_of, vmsplan_error *err)
{
	struct by_key *order = malloc(p->nvms * sizeof(*order));
	struct room room;
	unsigned next = 0;
	if (!order)
		return pl_set_err(err, -ENOMEM, "out of memory");
	room_init(p, &room);
	for (unsigned v = 0; v < p->nvms; v++) {
		order[v] = (struct by_key){ p->vms[v].pin >= 0 ? UINT64_MAX : p->vms[v].pages, v };
		if (p->vms[v].pin >= 0) {
			target_of[v] = (unsigned)p->vms[v].pin;
			room_take(p, &room, v, target_of[v]);
		}
	}
	qsort(order, p->nvms, sizeof(*order), cmp_key_desc);
	for (unsigned i = 0; i < p->nvms; i++) {
		unsigned v = order[i].vm, placed = 0;
		if (p->vms[v].pin >= 0)
			continue;
		for (unsigned k = 0; k < p->ntargets && !placed; k++) {
			unsigned t = (next + k) % p->ntargets;
			if (room_fits(p, &room, v, t)) {
				target_of[v] = t;
				room_take(p, &room, v, t);
				next = (t + 1) % p->ntargets;
				placed = 1;
			}
		}
		if (!placed) {
			free(order);
			return no_room(p, v, err);
		}
	}
	free(order);
	return 0;
}

/* ---- local search ------------------------------------------------------------------ */

struct ls {
	const vmsplan_problem *p;
	const struct pl_index *ix;
	unsigned *target_of;
	uint16_t *cnt;               /* cnt[c * T + t]: holders of class c on t */
	struct room room;
};

/* Change in content cost if v moved from its target to b. */
static int64_t move_delta(const struct ls *s, unsigned v, unsigned b)
{
	unsigned a = s->target_of[v], T = s->p->ntargets;
	int64_t d = 0;
	for (uint32_t k = s->ix->off[v]; k < s->ix->off[v + 1]; k++) {
		uint32_t c = s->ix->cls[k];
		int64_t n = (int64_t)s->p->cls_contents[c];
		if (s->cnt[(size_t)c * T + b] == 0)
			d += n;
		if (s->cnt[(size_t)c * T + a] == 1)
			d -= n;
	}
	return d;
}

static void apply_move(struct ls *s, unsigned v, unsigned b)
{
	unsigned a = s->target_of[v], T = s->p->ntargets;
	for (uint32_t k = s->ix->off[v]; k < s->ix->off[v + 1]; k++) {
		uint32_t c = s->ix->cls[k];
		s->cnt[(size_t)c * T + a]--;
		s->cnt[(size_t)c * T + b]++;
	}
	s->target_of[v] = b;
}

static int mem_ok(const struct ls *s, unsigned t, uint64_t add, uint64_t remove)
{
	if (s->p->targets[t].mem == 0)
		return 1;
	return s->room.mem[t] + remove >= add;
}

int pl_local_search(const vmsplan_problem *p, const struct pl_index *ix, unsigned *target_of,
		    double time_limit, vmsplan_error *err)
{
	struct ls s = { .p = p, .ix = ix, .target_of = target_of };
	unsigned T = p->ntargets;
	s.cnt = calloc((p->nclasses ? p->nclasses : 1) * T, sizeof(*s.cnt));
	if (!s.cnt)
		return pl_set_err(err, -ENOMEM, "out of memory");
	room_init(p, &s.room);
	for (unsigned v = 0; v < p->nvms; v++) {
		room_take(p, &s.room, v, target_of[v]);
		for (uint32_t k = ix->off[v]; k < ix->off[v + 1]; k++)
			s.cnt[(size_t)ix->cls[k] * T + target_of[v]]++;
	}
	double deadline = pl_now() + time_limit;
	for (int improved = 1; improved && pl_now() < deadline;) {
		improved = 0;
		/* moves */
		for (unsigned v = 0; v < p->nvms; v++) {
			if (p->vms[v].pin >= 0)
				continue;
			unsigned a = target_of[v], best = a;
			int64_t best_d = 0;
			for (unsigned b = 0; b < T; b++) {
				if (b == a || s.room.slots[b] == 0 || !mem_ok(&s, b, pl_vm_mem(p, v), 0))
					continue;
				int64_t d = move_delta(&s, v, b);
				if (d < best_d) {
					best_d = d;
					best = b;
				}
			}
			if (best != a) {
				apply_move(&s, v, best);
				s.room.slots[a]++;
				s.room.slots[best]--;
				if (p->targets[a].mem)
					s.room.mem[a] += pl_vm_mem(p, v);
				if (p->targets[best].mem)
					s.room.mem[best] -= pl_vm_mem(p, v);
				improved = 1;
			}
		}
		/* swaps */
		for (unsigned v1 = 0; v1 < p->nvms && pl_now() < deadline; v1++) {
			if (p->vms[v1].pin >= 0)
				continue;
			for (unsigned v2 = v1 + 1; v2 < p->nvms; v2++) {
				unsigned a = target_of[v1], b = target_of[v2];
				if (p->vms[v2].pin >= 0 || a == b)
					continue;
				uint64_t m1 = pl_vm_mem(p, v1), m2 = pl_vm_mem(p, v2);
				if (!mem_ok(&s, b, m1, m2) || !mem_ok(&s, a, m2, m1))
					continue;
				int64_t d = move_delta(&s, v1, b);
				apply_move(&s, v1, b);
				d += move_delta(&s, v2, a);
				if (d < 0) {
					apply_move(&s, v2, a);
					if (p->targets[a].mem)
						s.room.mem[a] = s.room.mem[a] + m1 - m2;
					if (p->targets[b].mem)
						s.room.mem[b] = s.room.mem[b] + m2 - m1;
					improved = 1;
				} else {
					apply_move(&s, v1, a);
				}
			}
		}
	}
	free(s.cnt);
	return 0;
}

/* ---- solving -------------------------------------------------------------------- */

int vmsplan_solve(const vmsplan_problem *p, const struct vmsplan_options *o, vmsplan_plan **out,
		  vmsplan_error *err)
{
	struct pl_index ix = { 0 };
	unsigned *target_of = NULL, *start = NULL;
	int optimal = 0, r;
	double gap = -1, t0 = pl_now();
	uint64_t lower = 0;
	if ((unsigned)o->strategy >= VMSPLAN_STRATEGIES)
		return pl_set_err(err, -EINVAL, "unknown strategy %d", (int)o->strategy);
	if (!(o->time_limit > 0))
		return pl_set_err(err, -EINVAL, "the time limit must be positive");
	r = pl_check_capacity(p, err);
	if (r < 0)
		return r;
	r = pl_index_build(p, &ix, err);
	if (r < 0)
		return r;
	target_of = malloc(p->nvms * sizeof(*target_of));
	start = malloc(p->nvms * sizeof(*start));
	if (!target_of || !start) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	switch (o->strategy) {
	case VMSPLAN_GREEDY:
		r = pl_greedy(p, &ix, target_of, err);
		break;
	case VMSPLAN_RANDOM:
		r = pl_random(p, o->seed, target_of, err);
		break;
	case VMSPLAN_OBLIVIOUS:
		r = pl_oblivious(p, target_of, err);
		break;
	case VMSPLAN_LOCAL:
		r = pl_greedy(p, &ix, target_of, err);
		if (r == 0)
			r = pl_local_search(p, &ix, target_of, o->time_limit, err);
		break;
	case VMSPLAN_OPTIMAL:
		r = pl_exact(p, &ix, o->seed, o->time_limit, target_of, &optimal, &gap, &lower, err);
		break;
	case VMSPLAN_ANNEAL:
		r = pl_anneal(p, &ix, o->seed, o->time_limit, target_of, err);
		break;
	}
	if (r < 0)
		goto out;
	r = pl_check_placement(p, target_of, err);
	if (r < 0)
		goto out;
	r = pl_plan_build(p, target_of, out, err);
	if (r == 0) {
		(*out)->optimal = optimal;
		(*out)->gap = gap;
		if (o->strategy == VMSPLAN_OPTIMAL)
			(*out)->lower_bytes = lower * VMSPLAN_PAGE_SIZE + (*out)->traffic.reference_bytes;
		(*out)->seconds = pl_now() - t0;
	}
out:
	free(target_of);
	free(start);
	pl_index_free(&ix);
	return r;
}

int vmsplan_evaluate(const vmsplan_problem *p, const unsigned *target_of, vmsplan_plan **out,
		     vmsplan_error *err)
{
	if (p->nvms == 0 || p->ntargets == 0)
		return pl_set_err(err, -EINVAL, "the problem needs VMs and targets");
	int r = pl_check_placement(p, target_of, err);
	return r < 0 ? r : pl_plan_build(p, target_of, out, err);
}

int vmsplan_random_stats(const vmsplan_problem *p, unsigned n, uint64_t seed,
			 struct vmsplan_random_stats *out, vmsplan_error *err)
{
	if (n == 0)
		return pl_set_err(err, -EINVAL, "at least one random sample is needed");
	int r = pl_check_capacity(p, err);
	if (r < 0)
		return r;
	unsigned *target_of = malloc(p->nvms * sizeof(*target_of));
	if (!target_of)
		return pl_set_err(err, -ENOMEM, "out of memory");
	uint64_t refs = 0, min = UINT64_MAX, max = 0;
	double sum = 0;
	for (unsigned v = 0; v < p->nvms; v++)
		refs += (p->vms[v].pages - p->vms[v].zero_pages) * VMSPLAN_REF_BYTES;
	for (unsigned i = 0; i < n && r == 0; i++) {
		r = pl_random(p, seed + i, target_of, err);
		if (r < 0)
			break;
		uint64_t net = pl_content_cost(p, target_of) * VMSPLAN_PAGE_SIZE + refs;
		min = net < min ? net : min;
		max = net > max ? net : max;
		sum += (double)net;
	}
	free(target_of);
	if (r < 0)
		return r;
	*out = (struct vmsplan_random_stats){ n, min, max, sum / n };
	return 0;
}
