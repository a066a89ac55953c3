/* partition.c - the exact placement as a set-partitioning program over
 * target loads, and the lower bounds optimal reports.
 *
 * The cost of a placement is the sum over targets of U(S_t), the number of
 * distinct contents of the VMs on t. Targets with the same slots and memory
 * and no pins form a type (a target with pins is a type of its own); a
 * column is a set S of VMs one target of type k may hold (slots, memory,
 * pins; and at least the VMs the other targets cannot hold), costing U(S).
 *
 *   minimise   sum_j U(S_j) z_j
 *   subject to sum_{j : v in S_j} z_j = 1      every VM once     (dual pi_v)
 *              sum_{j of type k} z_j <= n_k     targets of type k (dual mu_k <= 0)
 *
 * Every column is enumerated when there are at most POOL_MAX of them; the
 * linear relaxation is solved by column generation over that pool (GLPK's
 * simplex on the columns priced in so far). Its duals give a lower bound
 * that holds for any duals: for an integer solution x,
 *   cost(x) = sum_v pi_v + sum_k mu_k u_k + sum_j rc_j x_j
 *          >= sum_v pi_v + sum_k n_k (mu_k + min(0, min_{j of k} rc_j))
 * (mu clamped to <= 0, rc computed here from the clamped duals), so GLPK's
 * tolerances cannot make the bound wrong. A column whose reduced cost alone
 * lifts that bound above the incumbent's cost - 1 is in no better
 * placement; the integer program over the remaining columns (with the
 * incumbent's cost - 1 as a cut-off row) either finds the optimum or
 * proves there is none below the incumbent.
 *
 * class_bound() is the bound when the pool is too large: each class reaches
 * at least as many targets as its holders need slots (pins included).
 */
#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

#define POOL_MAX 1500000u        /* columns */
#define MEMBERS_MAX 12000000u    /* VM entries over all columns */
#define PRICE_BATCH 400u         /* columns added per pricing round */

/* ---- the class bound -------------------------------------------------------------- */

uint64_t pl_class_bound(const vmsplan_problem *p)
{
	const unsigned T = p->ntargets;
	unsigned pinned[VMSPLAN_MAX_TARGETS] = { 0 };
	uint64_t bound = 0;
	for (unsigned v = 0; v < p->nvms; v++)
		if (p->vms[v].pin >= 0)
			pinned[p->vms[v].pin]++;
	for (size_t c = 0; c < p->nclasses; c++) {
		unsigned mine[VMSPLAN_MAX_TARGETS] = { 0 }, nforced = 0, free_h = 0;
		for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++) {
			int pin = p->vms[p->cls_vms[h]].pin;
			if (pin >= 0)
				mine[pin]++;
			else
				free_h++;
		}
		/* room for the free holders: the forced targets' free slots, then
		 * the roomiest other targets (slots not taken by others' pins) */
		uint64_t room = 0, avail[VMSPLAN_MAX_TARGETS];
		unsigned navail = 0;
		for (unsigned t = 0; t < T; t++) {
			uint64_t a = p->targets[t].slots - (pinned[t] - mine[t]);
			if (mine[t]) {
				nforced++;
				room += a - mine[t];
			} else {
				avail[navail++] = a;
			}
		}
		unsigned need = nforced;
		while (room < free_h && navail > 0) {
			unsigned bi = 0;
			for (unsigned i = 1; i < navail; i++)
				if (avail[i] > avail[bi])
					bi = i;
			room += avail[bi];
			avail[bi] = avail[--navail];
			need++;
		}
		bound += p->cls_contents[c] * (uint64_t)(need ? need : 1);
	}
	return bound;
}

/* ---- the column pool --------------------------------------------------------------- */

struct pool {
	size_t n, cap, nmem, capmem;
	uint64_t *cost;
	uint32_t *off;               /* members of column j: mem[off[j] .. off[j + 1]) */
	uint16_t *mem;
	uint8_t *type, *in_lp;
};

struct ptype {
	unsigned first, n;           /* first target of the type (index), targets of it */
	unsigned targets[VMSPLAN_MAX_TARGETS];
	unsigned slots;
	uint64_t mem;                /* 0 = unlimited */
	unsigned minsize;
};

struct sp {
	const vmsplan_problem *p;
	const struct pl_index *ix;
	struct ptype types[VMSPLAN_MAX_TARGETS];
	unsigned ntypes, type_of[VMSPLAN_MAX_TARGETS];
	struct pool pool;
	/* enumeration */
	uint32_t *ccount;            /* per class, members of the current set holding it */
	uint16_t *stack;
	unsigned depth;
	uint64_t cur_cost, cur_mem;
	unsigned *cand, ncand;
	int overflow;
};

static void pool_free(struct pool *pl)
{
	free(pl->cost);
	free(pl->off);
	free(pl->mem);
	free(pl->type);
	free(pl->in_lp);
}

static int pool_push(struct sp *s, unsigned type)
{
	struct pool *pl = &s->pool;
	if (pl->n + 1 >= pl->cap) {
		size_t nc = pl->cap ? pl->cap * 2 : 1024;
		uint64_t *c = realloc(pl->cost, nc * sizeof(*c));
		if (c)
			pl->cost = c;
		uint32_t *o = realloc(pl->off, (nc + 1) * sizeof(*o));
		if (o)
			pl->off = o;
		uint8_t *t = realloc(pl->type, nc);
		if (t)
			pl->type = t;
		if (!c || !o || !t)
			return -ENOMEM;
		if (pl->cap == 0)
			pl->off[0] = 0;
		pl->cap = nc;
	}
	if (pl->nmem + s->depth > pl->capmem) {
		size_t nc = pl->capmem ? pl->capmem * 2 : 8192;
		while (nc < pl->nmem + s->depth)
			nc *= 2;
		uint16_t *m = realloc(pl->mem, nc * sizeof(*m));
		if (!m)
			return -ENOMEM;
		pl->mem = m;
		pl->capmem = nc;
	}
	memcpy(pl->mem + pl->nmem, s->stack, s->depth * sizeof(*s->stack));
	pl->nmem += s->depth;
	pl->cost[pl->n] = s->cur_cost;
	pl->type[pl->n] = (uint8_t)type;
	pl->n++;
	pl->off[pl->n] = (uint32_t)pl->nmem;
	return 0;
}

static void set_add(struct sp *s, unsigned v)
{
	const vmsplan_problem *p = s->p;
	for (uint32_t k = s->ix->off[v]; k < s->ix->off[v + 1]; k++) {
		uint32_t c = s->ix->cls[k];
		if (s->ccount[c]++ == 0)
			s->cur_cost += p->cls_contents[c];
	}
	s->cur_mem += pl_vm_mem(p, v);
	s->stack[s->depth++] = (uint16_t)v;
}

static void set_remove(struct sp *s, unsigned v)
{
	const vmsplan_problem *p = s->p;
	for (uint32_t k = s->ix->off[v]; k < s->ix->off[v + 1]; k++) {
		uint32_t c = s->ix->cls[k];
		if (--s->ccount[c] == 0)
			s->cur_cost -= p->cls_contents[c];
	}
	s->cur_mem -= pl_vm_mem(p, v);
	s->depth--;
}

/* Every superset of the current set using candidates from index i on. */
static int enumerate(struct sp *s, unsigned type, unsigned i)
{
	const struct ptype *ty = &s->types[type];
	if (s->depth >= ty->minsize && s->depth > 0) {
		if (s->pool.n >= POOL_MAX || s->pool.nmem + s->depth > MEMBERS_MAX) {
			s->overflow = 1;
			return 0;
		}
		if (pool_push(s, type) < 0)
			return -ENOMEM;
	}
	if (s->depth == ty->slots)
		return 0;
	for (unsigned j = i; j < s->ncand && !s->overflow; j++) {
		unsigned v = s->cand[j];
		if (ty->mem && s->cur_mem + pl_vm_mem(s->p, v) > ty->mem)
			continue;
		if (s->depth + 1 + (s->ncand - j - 1) < ty->minsize)
			break;
		set_add(s, v);
		int r = enumerate(s, type, j + 1);
		set_remove(s, v);
		if (r < 0)
			return r;
	}
	return 0;
}

static double binom_sum(unsigned n, unsigned k)
{
	double sum = 0, c = 1;
	for (unsigned j = 0; j <= k && j <= n; j++) {
		sum += c;
		c = c * (double)(n - j) / (double)(j + 1);
	}
	return sum;
}

/* Types, and every column; 1 if the pool is too large (nothing built). */
static int build_pool(struct sp *s)
{
	const vmsplan_problem *p = s->p;
	const unsigned T = p->ntargets, V = p->nvms;
	unsigned pinned[VMSPLAN_MAX_TARGETS] = { 0 }, nfree = 0;
	uint64_t total_slots = 0;
	for (unsigned v = 0; v < V; v++)
		if (p->vms[v].pin >= 0)
			pinned[p->vms[v].pin]++;
		else
			nfree++;
	for (unsigned t = 0; t < T; t++)
		total_slots += p->targets[t].slots;
	s->ntypes = 0;
	for (unsigned t = 0; t < T; t++) {
		unsigned k = s->ntypes;
		if (!pinned[t])
			for (k = 0; k < s->ntypes; k++) {
				const struct ptype *ty = &s->types[k];
				if (!pinned[ty->first] && p->targets[ty->first].slots == p->targets[t].slots &&
				    p->targets[ty->first].mem == p->targets[t].mem)
					break;
			}
		if (k == s->ntypes) {
			struct ptype *ty = &s->types[s->ntypes++];
			memset(ty, 0, sizeof(*ty));
			ty->first = t;
			ty->slots = p->targets[t].slots < V ? p->targets[t].slots : V;
			ty->mem = p->targets[t].mem;
			uint64_t others = total_slots - p->targets[t].slots;
			ty->minsize = others >= V ? 0 : (unsigned)(V - others);
		}
		s->types[k].targets[s->types[k].n++] = t;
		s->type_of[t] = k;
	}
	/* the pool's size, ignoring memory */
	double count = 0;
	for (unsigned k = 0; k < s->ntypes; k++) {
		const struct ptype *ty = &s->types[k];
		unsigned fixed = pinned[ty->first];
		if (ty->slots < fixed)
			return 1;
		count += binom_sum(nfree, ty->slots - fixed);
	}
	if (count > (double)POOL_MAX * 4 || V > 65535)
		return 1;
	s->ccount = calloc(p->nclasses ? p->nclasses : 1, sizeof(*s->ccount));
	s->stack = malloc((V + 1) * sizeof(*s->stack));
	s->cand = malloc((V + 1) * sizeof(*s->cand));
	if (!s->ccount || !s->stack || !s->cand)
		return -ENOMEM;
	for (unsigned k = 0; k < s->ntypes && !s->overflow; k++) {
		const struct ptype *ty = &s->types[k];
		s->ncand = 0;
		s->depth = 0;
		s->cur_cost = s->cur_mem = 0;
		for (unsigned v = 0; v < V; v++) {
			if (p->vms[v].pin == (int)ty->first)
				set_add(s, v);          /* in every column of its target */
			else if (p->vms[v].pin < 0 && (!ty->mem || pl_vm_mem(p, v) <= ty->mem))
				s->cand[s->ncand++] = v;
		}
		if (ty->mem && s->cur_mem > ty->mem)
			continue;
		int r = enumerate(s, k, 0);
		while (s->depth)
			set_remove(s, s->stack[s->depth - 1]);
		if (r < 0)
			return r;
	}
	if (s->overflow)
		return 1;
	s->pool.in_lp = calloc(s->pool.n ? s->pool.n : 1, 1);
	return s->pool.in_lp ? 0 : -ENOMEM;
}

/* ---- the linear relaxation by column generation ---------------------------------------- */

struct lpstate {
	glp_prob *lp;
	int *lp_col;                 /* GLPK column -> pool column (1-based GLPK) */
	size_t nlp, caplp;
	double *pi, mu[VMSPLAN_MAX_TARGETS];
};

static int lp_add_column(struct sp *s, struct lpstate *L, size_t j)
{
	const struct pool *pl = &s->pool;
	const vmsplan_problem *p = s->p;
	int ind[VMSPLAN_MAX_VMS + 2];
	double val[VMSPLAN_MAX_VMS + 2];
	int n = 0;
	if (L->nlp + 2 > L->caplp) {
		size_t nc = L->caplp ? L->caplp * 2 : 1024;
		int *c = realloc(L->lp_col, nc * sizeof(*c));
		if (!c)
			return -ENOMEM;
		L->lp_col = c;
		L->caplp = nc;
	}
	for (uint32_t m = pl->off[j]; m < pl->off[j + 1]; m++) {
		ind[++n] = (int)pl->mem[m] + 1;
		val[n] = 1.0;
	}
	ind[++n] = (int)p->nvms + 1 + pl->type[j];
	val[n] = 1.0;
	int col = glp_add_cols(L->lp, 1);
	glp_set_col_bnds(L->lp, col, GLP_LO, 0.0, 0.0);
	glp_set_obj_coef(L->lp, col, (double)pl->cost[j]);
	glp_set_mat_col(L->lp, col, n, ind, val);
	L->lp_col[++L->nlp] = (int)j;
	return 0;
}

/* Reduced cost of pool column j under the (clamped) duals. */
static double reduced(const struct sp *s, const struct lpstate *L, size_t j)
{
	const struct pool *pl = &s->pool;
	double rc = (double)pl->cost[j] - L->mu[pl->type[j]];
	for (uint32_t m = pl->off[j]; m < pl->off[j + 1]; m++)
		rc -= L->pi[pl->mem[m]];
	return rc;
}

struct cand { double rc; size_t j; };

static int cmp_cand(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	if (x->rc != y->rc)
		return x->rc < y->rc ? -1 : 1;
	return x->j < y->j ? -1 : (x->j > y->j);
}

/* Bound from the current duals; columns with rc < -eps go to `add`. */
static double dual_bound(struct sp *s, struct lpstate *L, struct cand *add, size_t *nadd, double eps)
{
	const vmsplan_problem *p = s->p;
	double minrc[VMSPLAN_MAX_TARGETS], bound = 0;
	for (unsigned v = 0; v < p->nvms; v++) {
		L->pi[v] = glp_get_row_dual(L->lp, (int)v + 1);
		bound += L->pi[v];
	}
	for (unsigned k = 0; k < s->ntypes; k++) {
		double mu = glp_get_row_dual(L->lp, (int)p->nvms + 1 + (int)k);
		L->mu[k] = mu < 0 ? mu : 0;
		minrc[k] = 0;
	}
	size_t n = 0;
	for (size_t j = 0; j < s->pool.n; j++) {
		double rc = reduced(s, L, j);
		unsigned k = s->pool.type[j];
		if (rc < minrc[k])
			minrc[k] = rc;
		if (add && rc < -eps && !s->pool.in_lp[j]) {
			if (n < PRICE_BATCH) {
				add[n++] = (struct cand){ rc, j };
				if (n == PRICE_BATCH)
					qsort(add, n, sizeof(*add), cmp_cand);
			} else if (rc < add[n - 1].rc) {
				/* keep the PRICE_BATCH most negative: insert in order */
				size_t i = n - 1;
				while (i > 0 && add[i - 1].rc > rc) {
					add[i] = add[i - 1];
					i--;
				}
				add[i] = (struct cand){ rc, j };
			}
		}
	}
	if (nadd)
		*nadd = n;
	for (unsigned k = 0; k < s->ntypes; k++)
		bound += s->types[k].n * (L->mu[k] + minrc[k]);
	return bound;
}

/* ---- the integer program over the columns that may beat the incumbent ------------------- */

/* Returns 0 when target_of is proven optimal, 1 when not (target_of is the
 * best found, *lower a lower bound), PL_NOT_APPLICABLE without a start or
 * when the pool would be too large, or a negative errno. */
int pl_partition(const vmsplan_problem *p, const struct pl_index *ix, const unsigned *start,
		 uint64_t start_cost, double deadline, unsigned *target_of, uint64_t *lower,
		 vmsplan_error *err)
{
	struct sp s = { .p = p, .ix = ix };
	struct lpstate L = { 0 };
	struct cand *add = NULL;
	glp_prob *ip = NULL;
	int *ind = NULL, r;
	double *val = NULL;
	const unsigned V = p->nvms;
	if (!start) {
		r = PL_NOT_APPLICABLE;
		goto out;
	}
	r = build_pool(&s);
	if (r != 0) {
		r = r < 0 ? pl_set_err(err, r, "out of memory") : PL_NOT_APPLICABLE;
		goto out;
	}
	L.pi = calloc(V, sizeof(*L.pi));
	add = malloc(PRICE_BATCH * sizeof(*add));
	L.lp = glp_create_prob();
	if (!L.pi || !add) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}
	glp_set_obj_dir(L.lp, GLP_MIN);
	glp_add_rows(L.lp, (int)(V + s.ntypes));
	for (unsigned v = 0; v < V; v++)
		glp_set_row_bnds(L.lp, (int)v + 1, GLP_FX, 1.0, 1.0);
	for (unsigned k = 0; k < s.ntypes; k++)
		glp_set_row_bnds(L.lp, (int)(V + 1 + k), GLP_UP, 0.0, (double)s.types[k].n);
	/* start: the incumbent's target loads (found in the pool) make the
	 * relaxation feasible; and every single-VM column */
	{
		for (size_t j = 0; j < s.pool.n; j++) {
			uint32_t o = s.pool.off[j], e = s.pool.off[j + 1];
			unsigned t = start[s.pool.mem[o]];
			if (s.type_of[t] != s.pool.type[j])
				continue;
			unsigned n = 0;
			for (unsigned v = 0; v < V; v++)
				n += start[v] == t;
			int same = n == e - o;
			for (uint32_t m = o; m < e && same; m++)
				same = start[s.pool.mem[m]] == t;
			if (same && !s.pool.in_lp[j]) {
				s.pool.in_lp[j] = 1;
				if (lp_add_column(&s, &L, j) < 0)
					goto nomem;
			}
		}
	}
	for (size_t j = 0; j < s.pool.n; j++)
		if (s.pool.off[j + 1] - s.pool.off[j] == 1 && !s.pool.in_lp[j]) {
			s.pool.in_lp[j] = 1;
			if (lp_add_column(&s, &L, j) < 0)
				goto nomem;
		}
	glp_smcp sm;
	glp_init_smcp(&sm);
	sm.msg_lev = GLP_MSG_OFF;
	double bound = -1e300;
	for (;;) {
		double left = deadline - pl_now();
		if (left <= 0)
			break;
		sm.tm_lim = (int)(left * 1000) + 1;
		int rc = glp_simplex(L.lp, &sm);
		if (rc != 0 || glp_get_status(L.lp) != GLP_OPT) {
			break;
		}
		size_t nadd = 0;
		double eps = 1e-7 * (1.0 + (double)start_cost);
		double b = dual_bound(&s, &L, add, &nadd, eps);
		if (b > bound)
			bound = b;
		if (nadd == 0)
			break;
		for (size_t i = 0; i < nadd; i++) {
			s.pool.in_lp[add[i].j] = 1;
			if (lp_add_column(&s, &L, add[i].j) < 0)
				goto nomem;
		}
	}
	/* the bound: duals are valid for any values; integer costs round up */
	uint64_t lb = bound > 0 ? (uint64_t)ceil(bound - 1e-6 * (1.0 + fabs(bound))) : 0;
	*lower = lb;
	memcpy(target_of, start, V * sizeof(*target_of));
	if (lb >= start_cost || pl_now() >= deadline) {
		r = lb >= start_cost ? 0 : 1;
		goto out;
	}
	/* columns that may be in a placement cheaper than the incumbent */
	double base = 0, minrc_all = 0;
	for (unsigned v = 0; v < V; v++)
		base += L.pi[v];
	for (unsigned k = 0; k < s.ntypes; k++)
		base += s.types[k].n * L.mu[k];
	double *rcs = malloc(s.pool.n * sizeof(*rcs));
	size_t *kept = malloc(s.pool.n * sizeof(*kept));
	if (!rcs || !kept) {
		free(rcs);
		free(kept);
		goto nomem;
	}
	for (size_t j = 0; j < s.pool.n; j++) {
		rcs[j] = reduced(&s, &L, j);
		if (rcs[j] < minrc_all)
			minrc_all = rcs[j];
	}
	double limit = (double)(start_cost - 1) - base - (double)(p->ntargets - 1) * minrc_all +
		       1e-6 * (1.0 + (double)start_cost);
	size_t keep = 0;
	for (size_t j = 0; j < s.pool.n; j++)
		if (rcs[j] <= limit)
			kept[keep++] = j;
	free(rcs);
	ip = glp_create_prob();
	glp_set_obj_dir(ip, GLP_MIN);
	glp_add_rows(ip, (int)(V + s.ntypes + 1));
	for (unsigned v = 0; v < V; v++)
		glp_set_row_bnds(ip, (int)v + 1, GLP_FX, 1.0, 1.0);
	for (unsigned k = 0; k < s.ntypes; k++)
		glp_set_row_bnds(ip, (int)(V + 1 + k), GLP_UP, 0.0, (double)s.types[k].n);
	int cut = (int)(V + s.ntypes + 1);
	glp_set_row_bnds(ip, cut, GLP_UP, 0.0, (double)(start_cost - 1));
	ind = malloc((V + 3) * sizeof(*ind));
	val = malloc((V + 3) * sizeof(*val));
	if (!ind || !val) {
		free(kept);
		goto nomem;
	}
	if (keep > 0)
		glp_add_cols(ip, (int)keep);
	for (size_t i = 0; i < keep; i++) {
		size_t j = kept[i];
		int n = 0;
		for (uint32_t m = s.pool.off[j]; m < s.pool.off[j + 1]; m++)
			ind[++n] = (int)s.pool.mem[m] + 1, val[n] = 1.0;
		ind[++n] = (int)(V + 1 + s.pool.type[j]), val[n] = 1.0;
		ind[++n] = cut, val[n] = (double)s.pool.cost[j];
		glp_set_col_kind(ip, (int)i + 1, GLP_BV);
		glp_set_obj_coef(ip, (int)i + 1, (double)s.pool.cost[j]);
		glp_set_mat_col(ip, (int)i + 1, n, ind, val);
	}
	glp_iocp io;
	glp_init_iocp(&io);
	io.msg_lev = GLP_MSG_OFF;
	io.presolve = GLP_ON;
	io.tol_obj = 1e-12;          /* costs are whole numbers up to ~1e12: prune nothing better */
	double left = deadline - pl_now();
	io.tm_lim = left > 0.001 ? (int)(left * 1000) : 1;
	int rc = keep ? glp_intopt(ip, &io) : 0;
	int status = keep ? glp_mip_status(ip) : GLP_NOFEAS;
	if (status == GLP_OPT || status == GLP_FEAS) {
		unsigned used[VMSPLAN_MAX_TARGETS] = { 0 };
		for (size_t i = 0; i < keep; i++) {
			if (glp_mip_col_val(ip, (int)i + 1) < 0.5)
				continue;
			size_t j = kept[i];
			const struct ptype *ty = &s.types[s.pool.type[j]];
			unsigned t = ty->targets[used[s.pool.type[j]]++ % ty->n];
			for (uint32_t m = s.pool.off[j]; m < s.pool.off[j + 1]; m++)
				target_of[s.pool.mem[m]] = t;
		}
	}
	free(kept);
	if (status == GLP_OPT || (rc == 0 && status == GLP_NOFEAS) || rc == GLP_ENOPFS) {
		r = 0;                          /* proven */
	} else {
		r = 1;                          /* stopped: the LP bound stands */
	}
	goto out;
nomem:
	r = pl_set_err(err, -ENOMEM, "out of memory");
out:
	if (L.lp)
		glp_delete_prob(L.lp);
	if (ip)
		glp_delete_prob(ip);
	free(L.lp_col);
	free(L.pi);
	free(add);
	free(ind);
	free(val);
	free(s.ccount);
	free(s.stack);
	free(s.cand);
	pool_free(&s.pool);
	return r;
}

/* ---- the optimal strategy ------------------------------------------------------------ */

#define COMPACT_MAX_COLUMNS 200000u
#define COMPACT_MAX_TARGETS 4u

int pl_exact(const vmsplan_problem *p, const struct pl_index *ix, uint64_t seed, double time_limit,
	     unsigned *target_of, int *optimal, double *gap, uint64_t *lower, vmsplan_error *err)
{
	double deadline = pl_now() + time_limit;
	unsigned *start = malloc(p->nvms * sizeof(*start));
	uint64_t lb = pl_class_bound(p), ub = UINT64_MAX, plb = 0;
	int r = PL_NOT_APPLICABLE, have, proven = 0;
	*optimal = 0;
	*gap = -1;
	*lower = 0;
	if (!start)
		return pl_set_err(err, -ENOMEM, "out of memory");
	/* the heuristics may find nothing when memory is tight: the compact
	 * integer program decides then */
	have = pl_anneal(p, ix, seed, time_limit, start, NULL) == 0;
	if (have) {
		ub = pl_content_cost(p, start);
		memcpy(target_of, start, p->nvms * sizeof(*target_of));
		if (lb >= ub)
			proven = 1;
		else
			r = pl_partition(p, ix, start, ub, deadline, target_of, &plb, err);
		if (r < 0)
			goto out;
		proven |= r == 0;
		if (r == 1 && plb > lb)
			lb = plb;
	}
	if (!proven && r == PL_NOT_APPLICABLE) {
		size_t links = 0;
		for (size_t c = 0; c < p->nclasses; c++)
			if (p->cls_off[c + 1] - p->cls_off[c] >= 2)
				links += p->ntargets;
		/* its relaxation is weak: worth it only on few targets */
		if (!have || (p->ntargets <= COMPACT_MAX_TARGETS &&
			      (size_t)p->nvms * p->ntargets + links <= COMPACT_MAX_COLUMNS)) {
			double g, left = deadline - pl_now();
			r = pl_optimal(p, have ? start : NULL, left > 0.01 ? left : 0.01, target_of, &proven, &g,
				       &plb, err);
			if (r < 0)
				goto out;
			if (plb > lb)
				lb = plb;
		}
	}
	ub = pl_content_cost(p, target_of);
	if (proven)
		lb = ub;
	*lower = lb;
	*optimal = lb >= ub;
	*gap = lb >= ub ? 0 : (double)(ub - lb) / (double)ub;
	r = 0;
out:
	free(start);
	return r;
}
