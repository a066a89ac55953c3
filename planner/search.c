/* search.c - the anneal strategy: several deterministic runs of simulated
 * annealing over moves and swaps, each ending in a descent, from the
 * greedy placement; the best wins.
 *
 * State: where[v] (target of VM v), cnt[c * T + t] (holders of class c on
 * target t) for the classes with two or more holders (one-holder classes
 * cost the same wherever their VM goes), and per target the list of its
 * VMs. The cost is sum_c contents(c) * #{t : cnt[c][t] > 0}; moving or
 * swapping VMs changes it by a delta computed from the classes of the VMs
 * involved only, O(classes of those VMs).
 *
 * A step picks an unpinned VM v (on a) and a target b: mostly the target of
 * another holder of one of v's classes, else any target. It picks a slot
 * of b at random: a free slot means moving v, an occupied one swapping v
 * with that slot's VM. Capacities (slots, memory) and pins always hold. A
 * worse step is taken with probability exp(-delta / temperature), the
 * temperature falling geometrically from one that accepts a given share
 * of the worse steps sampled at the start (3%, 1%, 0.3%, 0.1% in the four
 * runs) to a thousandth of it.
 *
 * Every budget is a number of steps derived from the problem's size, and
 * every random choice comes from splitmix64 seeded from the caller's seed
 * (the runs, independent of each other, go to threads when they can):
 * the same problem and seed give the same placement however fast or busy
 * the machine is. The time limit is only a safety cap (hitting it ends the
 * runs early).
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

#define RUNS 4u                  /* annealing runs, from different seeds ... */
static const double accept_share[RUNS] = { 0.03, 0.01, 0.003, 0.001 };   /* ... and temperatures */
#define STEPS_PER_VM 4000u       /* steps per run per movable VM ... */
#define STEPS_MIN 20000u         /* ... at least ... */
#define STEPS_MAX 1000000u       /* ... at most */
#define GUIDED_PER_16 13u        /* steps towards a co-holder's target, of 16 */
#define CLOCK_EVERY 4096u        /* steps between looks at the clock */

struct srch {
	const vmsplan_problem *p;
	unsigned V, T;
	/* per VM: its classes with >= 2 holders, ascending (CSR) */
	uint32_t *off, *cls;
	unsigned *where;
	uint16_t *cnt;               /* [c * T + t] */
	/* per target: its VMs in vm_at[base[t] .. base[t] + nin[t]) */
	unsigned *vm_at, *pos, base[VMSPLAN_MAX_TARGETS + 1];
	unsigned nin[VMSPLAN_MAX_TARGETS], cap[VMSPLAN_MAX_TARGETS];
	uint64_t mem_used[VMSPLAN_MAX_TARGETS];
	unsigned *movable;           /* unpinned VMs */
	unsigned nmovable;
	int64_t cost;                /* of the multi-holder classes */
};

static void srch_free(struct srch *s)
{
	free(s->off);
	free(s->cls);
	free(s->where);
	free(s->cnt);
	free(s->vm_at);
	free(s->pos);
	free(s->movable);
	memset(s, 0, sizeof(*s));
}

static int srch_alloc(struct srch *s, const vmsplan_problem *p, const struct pl_index *ix)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->V = p->nvms;
	s->T = p->ntargets;
	size_t nmulti = 0;
	s->off = calloc((size_t)s->V + 1, sizeof(*s->off));
	s->where = malloc(s->V * sizeof(*s->where));
	s->pos = malloc(s->V * sizeof(*s->pos));
	s->movable = malloc(s->V * sizeof(*s->movable));
	s->cnt = calloc((p->nclasses ? p->nclasses : 1) * (size_t)s->T, sizeof(*s->cnt));
	if (!s->off || !s->where || !s->pos || !s->movable || !s->cnt)
		return -ENOMEM;
	for (unsigned v = 0; v < s->V; v++) {
		for (uint32_t k = ix->off[v]; k < ix->off[v + 1]; k++) {
			uint32_t c = ix->cls[k];
			nmulti += p->cls_off[c + 1] - p->cls_off[c] >= 2;
		}
		s->off[v + 1] = (uint32_t)nmulti;
	}
	s->cls = malloc((nmulti ? nmulti : 1) * sizeof(*s->cls));
	if (!s->cls)
		return -ENOMEM;
	for (unsigned v = 0, n = 0; v < s->V; v++)
		for (uint32_t k = ix->off[v]; k < ix->off[v + 1]; k++) {
			uint32_t c = ix->cls[k];
			if (p->cls_off[c + 1] - p->cls_off[c] >= 2)
				s->cls[n++] = c;
		}
	unsigned total = 0;
	for (unsigned t = 0; t < s->T; t++) {
		s->cap[t] = p->targets[t].slots < s->V ? p->targets[t].slots : s->V;
		s->base[t] = total;
		total += s->cap[t];
	}
	s->base[s->T] = total;
	s->vm_at = malloc((total ? total : 1) * sizeof(*s->vm_at));
	if (!s->vm_at)
		return -ENOMEM;
	for (unsigned v = 0; v < s->V; v++)
		if (p->vms[v].pin < 0)
			s->movable[s->nmovable++] = v;
	return 0;
}

/* Load a placement (feasible) into the state. */
static void srch_load(struct srch *s, const unsigned *target_of)
{
	const vmsplan_problem *p = s->p;
	memset(s->cnt, 0, (p->nclasses ? p->nclasses : 1) * (size_t)s->T * sizeof(*s->cnt));
	memset(s->nin, 0, sizeof(s->nin));
	memset(s->mem_used, 0, sizeof(s->mem_used));
	s->cost = 0;
	for (unsigned v = 0; v < s->V; v++) {
		unsigned t = target_of[v];
		s->where[v] = t;
		s->pos[v] = s->nin[t];
		s->vm_at[s->base[t] + s->nin[t]++] = v;
		s->mem_used[t] += pl_vm_mem(p, v);
		for (uint32_t k = s->off[v]; k < s->off[v + 1]; k++) {
			uint32_t c = s->cls[k];
			if (s->cnt[(size_t)c * s->T + t]++ == 0)
				s->cost += (int64_t)p->cls_contents[c];
		}
	}
}

static int64_t move_delta(const struct srch *s, unsigned v, unsigned b)
{
	const unsigned a = s->where[v], T = s->T;
	int64_t d = 0;
	for (uint32_t k = s->off[v]; k < s->off[v + 1]; k++) {
		uint32_t c = s->cls[k];
		int64_t w = (int64_t)s->p->cls_contents[c];
		d += (s->cnt[(size_t)c * T + b] == 0) * w - (s->cnt[(size_t)c * T + a] == 1) * w;
	}
	return d;
}

/* Swap u (on a) and v (on b != a): classes held by both do not change. */
static int64_t swap_delta(const struct srch *s, unsigned u, unsigned v)
{
	const unsigned a = s->where[u], b = s->where[v], T = s->T;
	const uint64_t *w = s->p->cls_contents;
	uint32_t i = s->off[u], ie = s->off[u + 1], j = s->off[v], je = s->off[v + 1];
	int64_t d = 0;
	while (i < ie || j < je) {
		uint32_t cu = i < ie ? s->cls[i] : UINT32_MAX, cv = j < je ? s->cls[j] : UINT32_MAX;
		if (cu == cv) {
			i++, j++;
		} else if (cu < cv) {
			d += (int64_t)w[cu] * ((s->cnt[(size_t)cu * T + b] == 0) - (s->cnt[(size_t)cu * T + a] == 1));
			i++;
		} else {
			d += (int64_t)w[cv] * ((s->cnt[(size_t)cv * T + a] == 0) - (s->cnt[(size_t)cv * T + b] == 1));
			j++;
		}
	}
	return d;
}

static void do_move(struct srch *s, unsigned v, unsigned b)
{
	const unsigned a = s->where[v], T = s->T;
	for (uint32_t k = s->off[v]; k < s->off[v + 1]; k++) {
		size_t c = s->cls[k];
		s->cnt[c * T + a]--;
		s->cnt[c * T + b]++;
	}
	/* out of a's list (the last one fills the hole), onto b's */
	unsigned last = s->vm_at[s->base[a] + --s->nin[a]];
	s->vm_at[s->base[a] + s->pos[v]] = last;
	s->pos[last] = s->pos[v];
	s->pos[v] = s->nin[b];
	s->vm_at[s->base[b] + s->nin[b]++] = v;
	uint64_t m = pl_vm_mem(s->p, v);
	s->mem_used[a] -= m;
	s->mem_used[b] += m;
	s->where[v] = b;
}

/* Swap u (on a) and v (on b): each takes the other's place in the lists. */
static void do_swap(struct srch *s, unsigned u, unsigned v)
{
	const unsigned a = s->where[u], b = s->where[v], T = s->T;
	for (uint32_t k = s->off[u]; k < s->off[u + 1]; k++) {
		size_t c = s->cls[k];
		s->cnt[c * T + a]--;
		s->cnt[c * T + b]++;
	}
	for (uint32_t k = s->off[v]; k < s->off[v + 1]; k++) {
		size_t c = s->cls[k];
		s->cnt[c * T + b]--;
		s->cnt[c * T + a]++;
	}
	unsigned pu = s->pos[u], pv = s->pos[v];
	s->vm_at[s->base[a] + pu] = v;
	s->vm_at[s->base[b] + pv] = u;
	s->pos[u] = pv;
	s->pos[v] = pu;
	uint64_t mu = pl_vm_mem(s->p, u), mv = pl_vm_mem(s->p, v);
	s->mem_used[a] = s->mem_used[a] - mu + mv;
	s->mem_used[b] = s->mem_used[b] - mv + mu;
	s->where[u] = b;
	s->where[v] = a;
}

static int mem_fits(const struct srch *s, unsigned t, uint64_t add, uint64_t remove)
{
	uint64_t lim = s->p->targets[t].mem;
	return lim == 0 || s->mem_used[t] - remove + add <= lim;
}

/* Best-improvement descent over all moves and swaps until none improves
 * (or the clock passes the deadline). */
static void descend(struct srch *s, double deadline)
{
	const vmsplan_problem *p = s->p;
	for (int improved = 1; improved;) {
		improved = 0;
		for (unsigned i = 0; i < s->nmovable; i++) {
			unsigned v = s->movable[i], a = s->where[v], best = a;
			int64_t best_d = 0;
			for (unsigned b = 0; b < s->T; b++) {
				if (b == a || s->nin[b] >= p->targets[b].slots || !mem_fits(s, b, pl_vm_mem(p, v), 0))
					continue;
				int64_t d = move_delta(s, v, b);
				if (d < best_d)
					best_d = d, best = b;
			}
			if (best != a) {
				do_move(s, v, best);
				s->cost += best_d;
				improved = 1;
			}
		}
		for (unsigned i = 0; i < s->nmovable; i++) {
			unsigned u = s->movable[i], bu = UINT32_MAX;
			int64_t best_d = 0;
			if (pl_now() > deadline)
				return;
			for (unsigned j = i + 1; j < s->nmovable; j++) {
				unsigned v = s->movable[j], a = s->where[u], b = s->where[v];
				if (a == b)
					continue;
				uint64_t mu = pl_vm_mem(p, u), mv = pl_vm_mem(p, v);
				if (!mem_fits(s, b, mu, mv) || !mem_fits(s, a, mv, mu))
					continue;
				int64_t d = swap_delta(s, u, v);
				if (d < best_d)
					best_d = d, bu = v;
			}
			if (bu != UINT32_MAX) {
				do_swap(s, u, bu);
				s->cost += best_d;
				improved = 1;
			}
		}
	}
}

/* A random target for VM v: mostly one where a co-holder of one of its
 * classes is, else any; never v's own. UINT32_MAX when there is none. */
static unsigned pick_target(const struct srch *s, unsigned v, uint64_t *rng)
{
	const vmsplan_problem *p = s->p;
	unsigned a = s->where[v];
	uint32_t n = s->off[v + 1] - s->off[v];
	if (n && pl_rand(rng) % 16 < GUIDED_PER_16) {
		uint32_t c = s->cls[s->off[v] + pl_rand(rng) % n];
		uint32_t h = p->cls_off[c] + (uint32_t)(pl_rand(rng) % (p->cls_off[c + 1] - p->cls_off[c]));
		unsigned b = s->where[p->cls_vms[h]];
		if (b != a)
			return b;
	}
	if (s->T < 2)
		return UINT32_MAX;
	unsigned b = (unsigned)(pl_rand(rng) % (s->T - 1));
	return b >= a ? b + 1 : b;
}

/* One annealing run from the loaded state; leaves the best placement seen
 * in best[] (and its cost in *best_cost) when it beats *best_cost. */
static void anneal(struct srch *s, uint64_t seed, uint64_t steps, double accept, double deadline,
		   unsigned *best, int64_t *best_cost)
{
	const vmsplan_problem *p = s->p;
	uint64_t rng = seed;
	if (s->nmovable == 0 || s->T < 2)
		return;
	/* starting temperature: the run's share of worse sampled steps accepted */
	double sum = 0;
	unsigned npos = 0;
	for (unsigned i = 0; i < 256; i++) {
		unsigned v = s->movable[pl_rand(&rng) % s->nmovable], b = pick_target(s, v, &rng);
		if (b == UINT32_MAX)
			continue;
		int64_t d = move_delta(s, v, b);
		if (d > 0)
			sum += (double)d, npos++;
	}
	if (npos == 0)
		return;
	double t0 = sum / npos / -log(accept), t1 = t0 / 1000.0;
	double temp = t0, cool = pow(t1 / t0, 1.0 / (double)steps);
	int64_t run_best = s->cost;
	unsigned *run_place = malloc(s->V * sizeof(*run_place));
	if (!run_place)
		return;
	memcpy(run_place, s->where, s->V * sizeof(*run_place));
	for (uint64_t step = 0; step < steps; step++, temp *= cool) {
		if (step % CLOCK_EVERY == 0 && pl_now() > deadline)
			break;
		unsigned v = s->movable[pl_rand(&rng) % s->nmovable], b = pick_target(s, v, &rng);
		if (b == UINT32_MAX)
			continue;
		unsigned a = s->where[v], slot = (unsigned)(pl_rand(&rng) % s->cap[b]), u = UINT32_MAX;
		uint64_t mv = pl_vm_mem(p, v), mu = 0;
		int64_t d;
		if (slot < s->nin[b]) {
			u = s->vm_at[s->base[b] + slot];
			if (p->vms[u].pin >= 0)
				continue;
			mu = pl_vm_mem(p, u);
			if (!mem_fits(s, b, mv, mu) || !mem_fits(s, a, mu, mv))
				continue;
			d = swap_delta(s, v, u);
		} else {
			if (!mem_fits(s, b, mv, 0))
				continue;
			d = move_delta(s, v, b);
		}
		if (d > 0 && (double)(pl_rand(&rng) >> 11) * 0x1.0p-53 >= exp(-(double)d / temp))
			continue;
		if (u != UINT32_MAX)
			do_swap(s, v, u);
		else
			do_move(s, v, b);
		s->cost += d;
		if (s->cost < run_best) {
			run_best = s->cost;
			memcpy(run_place, s->where, s->V * sizeof(*run_place));
		}
	}
	/* descend from the best of the run */
	srch_load(s, run_place);
	descend(s, deadline);
	if (s->cost < *best_cost) {
		*best_cost = s->cost;
		memcpy(best, s->where, s->V * sizeof(*best));
	}
	free(run_place);
}

/* One run, on its own state (a thread's, or the caller's). */
struct run {
	const vmsplan_problem *p;
	const struct pl_index *ix;
	const unsigned *start;
	uint64_t seed, steps;
	double accept, deadline;
	unsigned *best;              /* the run's placement, when cost < INT64_MAX */
	int64_t cost;
	pthread_t thread;
	int threaded;
};

static void *run_main(void *arg)
{
	struct run *rn = arg;
	struct srch s;
	rn->cost = INT64_MAX;
	if (srch_alloc(&s, rn->p, rn->ix) == 0) {
		srch_load(&s, rn->start);
		anneal(&s, rn->seed, rn->steps, rn->accept, rn->deadline, rn->best, &rn->cost);
	}
	srch_free(&s);
	return NULL;
}

int pl_anneal(const vmsplan_problem *p, const struct pl_index *ix, uint64_t seed, double time_limit,
	      unsigned *target_of, vmsplan_error *err)
{
	struct srch s;
	struct run runs[RUNS];
	unsigned *start = malloc(p->nvms * sizeof(*start));
	unsigned *places = malloc((size_t)RUNS * p->nvms * sizeof(*places));
	int r = srch_alloc(&s, p, ix);
	if (r < 0 || !start || !places) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	double deadline = pl_now() + time_limit;
	/* greedy, then a descent: the first candidate and every run's start */
	r = pl_greedy(p, ix, start, err);
	if (r == -ENOSPC)                /* tight memory: a random fit, if any */
		r = pl_random(p, seed, start, err);
	if (r < 0)
		goto out;
	srch_load(&s, start);
	descend(&s, deadline);
	memcpy(target_of, s.where, p->nvms * sizeof(*target_of));
	memcpy(start, s.where, p->nvms * sizeof(*start));
	int64_t best_cost = s.cost;
	uint64_t steps = (uint64_t)STEPS_PER_VM * s.nmovable;
	steps = steps < STEPS_MIN ? STEPS_MIN : steps > STEPS_MAX ? STEPS_MAX : steps;
	srch_free(&s);
	/* the runs are independent: each in a thread where one can be had,
	 * else here; the cheapest wins, ties to the earliest, so the result
	 * is the same either way */
	uint64_t mix = seed;
	for (unsigned k = 0; k < RUNS; k++) {
		runs[k] = (struct run){ .p = p, .ix = ix, .start = start, .seed = pl_rand(&mix), .steps = steps,
					.accept = accept_share[k], .deadline = deadline,
					.best = places + (size_t)k * p->nvms };
		runs[k].threaded = k > 0 && pthread_create(&runs[k].thread, NULL, run_main, &runs[k]) == 0;
	}
	for (unsigned k = 0; k < RUNS; k++)
		if (!runs[k].threaded)
			run_main(&runs[k]);
	for (unsigned k = 0; k < RUNS; k++)
		if (runs[k].threaded)
			pthread_join(runs[k].thread, NULL);
	for (unsigned k = 0; k < RUNS; k++)
		if (runs[k].cost < best_cost) {
			best_cost = runs[k].cost;
			memcpy(target_of, runs[k].best, p->nvms * sizeof(*target_of));
		}
out:
	srch_free(&s);
	free(start);
	free(places);
	return r;
}
