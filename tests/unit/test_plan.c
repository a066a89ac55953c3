/* test_plan.c - the planner against brute force on small instances:
 * optimal equals the best of all T^V placements and its lower bound holds;
 * every strategy respects capacities and pins and is never better than
 * optimal; on 16-VM racks, optimal equals the best of all partitions into
 * full targets (counted here, independently) and anneal is within 1% of
 * it; on racks with a planted optimum (families that exactly fill
 * targets) anneal and optimal find it; random, anneal and optimal are
 * deterministic for a seed; the exact group order equals the best of all
 * permutations. Plus infeasible inputs and hostile summaries. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner/plan.h"

#include "plan_inst.h"

/* 4..9 VMs, 10..34 classes of 1..50 contents, 350 pages a slot, 10 reserved */
static const struct inst_shape shape = { 4, 6, 10, 25, 50, 350, 10 };

static uint64_t refs(const struct inst *in)
{
	uint64_t r = 0;
	for (unsigned v = 0; v < in->nvms; v++)
		r += (in->pages[v] - 10) * VMSPLAN_REF_BYTES;
	return r;
}

static void test_strategies_against_brute_force(void **state)
{
	(void)state;
	unsigned checked = 0, greedy_gap = 0;
	for (uint64_t seed = 1; seed <= 60; seed++) {
		struct inst in;
		make_inst(&in, &shape, seed);
		uint64_t best = brute_force(&in);
		vmsplan_problem *p = build(&in);
		uint64_t got[VMSPLAN_STRATEGIES];
		for (int s = 0; s < VMSPLAN_STRATEGIES; s++) {
			struct vmsplan_options o;
			vmsplan_options_init(&o);
			o.strategy = (enum vmsplan_strategy)s;
			o.seed = seed;
			vmsplan_plan *plan = NULL;
			vmsplan_error e = { 0 };
			int r = vmsplan_solve(p, &o, &plan, &e);
			if (best == UINT64_MAX) {      /* nothing fits: everyone must say so */
				assert_int_equal(r, -ENOSPC);
				continue;
			}
			if (r == -ENOSPC && s != VMSPLAN_OPTIMAL)
				continue;                /* a heuristic may miss a tight fit */
			assert_int_equal(r, 0);
			unsigned tg[9];
			for (unsigned v = 0; v < in.nvms; v++)
				tg[v] = vmsplan_plan_target(plan, v);
			assert_true(feasible(&in, tg));
			struct vmsplan_traffic t;
			vmsplan_plan_traffic(plan, &t);
			got[s] = cost(&in, tg);
			assert_true(t.network_bytes == got[s] * 4096 + refs(&in));
			assert_true(got[s] >= best);
			if (s == VMSPLAN_OPTIMAL) {
				double gap;
				assert_int_equal(vmsplan_plan_optimal(plan, &gap), 1);
				assert_true(gap == 0);
				assert_true(got[s] == best);
				assert_true(vmsplan_plan_lower_bound(plan) == best * 4096 + refs(&in));
				checked++;
			} else {
				assert_true(vmsplan_plan_lower_bound(plan) == 0);
			}
			vmsplan_plan_free(plan);
		}
		if (best != UINT64_MAX && got[VMSPLAN_GREEDY] > best)
			greedy_gap++;
		vmsplan_problem_free(p);
	}
	assert_true(checked >= 40);
	print_message("# optimal matched brute force on %u instances; greedy above optimum on %u\n",
		      checked, greedy_gap);
}

static void test_local_never_worse_than_greedy(void **state)
{
	(void)state;
	for (uint64_t seed = 100; seed < 140; seed++) {
		struct inst in;
		make_inst(&in, &shape, seed);
		vmsplan_problem *p = build(&in);
		struct vmsplan_options o;
		vmsplan_options_init(&o);
		vmsplan_plan *g = NULL, *l = NULL;
		o.strategy = VMSPLAN_GREEDY;
		int rg = vmsplan_solve(p, &o, &g, NULL);
		o.strategy = VMSPLAN_LOCAL;
		int rl = vmsplan_solve(p, &o, &l, NULL);
		assert_int_equal(rg, rl);
		vmsplan_plan *a = NULL;
		o.strategy = VMSPLAN_ANNEAL;
		int ra = vmsplan_solve(p, &o, &a, NULL);
		if (rg == 0) {
			struct vmsplan_traffic tg, tl, ta;
			assert_int_equal(ra, 0);
			vmsplan_plan_traffic(g, &tg);
			vmsplan_plan_traffic(l, &tl);
			vmsplan_plan_traffic(a, &ta);
			assert_true(tl.network_bytes <= tg.network_bytes);
			assert_true(ta.network_bytes <= tg.network_bytes);
			assert_true(tl.transferred_bytes == tg.transferred_bytes);
		}
		vmsplan_plan_free(g);
		vmsplan_plan_free(l);
		vmsplan_plan_free(a);
		vmsplan_problem_free(p);
	}
}

/* ---- 16-VM racks against the best of all their placements ------------------ */

/* A rack shaped like a real one, on 16 VMs: a kernel-like class in every
 * VM, image families of 3-5 VMs, overlapping page-cache groups of 2-6 VMs
 * (half inside a family), unique contents per VM. Holders as bitmasks. */
struct rack {
	unsigned nvms, ntargets, nclasses;
	unsigned slots[8];
	uint64_t mem[8];              /* bytes, 0 = unlimited */
	uint64_t pages[16];
	int pin[16];
	uint32_t holders[160];
	uint64_t contents[160];
};

static void make_rack(struct rack *r, unsigned ntargets, uint64_t seed)
{
	uint64_t s = seed;
	unsigned fam_of[16], fam_first[17], nfam = 0;
	memset(r, 0, sizeof(*r));
	r->nvms = 16;
	r->ntargets = ntargets;
	for (unsigned t = 0; t < ntargets; t++)
		r->slots[t] = 16 / ntargets;
	for (unsigned v = 0; v < 16; v++) {
		r->pages[v] = 1000;
		r->pin[v] = -1;
	}
	for (unsigned v = 0; v < 16;) {
		unsigned n = 3 + (unsigned)(rnd(&s) % 3);
		n = v + n > 16 ? 16 - v : n;
		fam_first[nfam] = v;
		for (unsigned i = 0; i < n; i++)
			fam_of[v + i] = nfam;
		nfam++;
		v += n;
	}
	fam_first[nfam] = 16;
	r->holders[r->nclasses] = 0xffff;
	r->contents[r->nclasses++] = 800;
	for (unsigned f = 0; f < nfam; f++) {
		uint32_t h = 0;
		for (unsigned v = fam_first[f]; v < fam_first[f + 1]; v++)
			h |= 1u << v;
		r->holders[r->nclasses] = h;
		r->contents[r->nclasses++] = 400 + rnd(&s) % 800;
	}
	for (unsigned k = 0; k < 48; k++) {
		unsigned want = 2 + (unsigned)(rnd(&s) % 5), f = fam_of[rnd(&s) % 16], n = 0;
		int inside = rnd(&s) % 2;
		uint32_t h = 0;
		for (unsigned tries = 0; tries < 64 && n < want; tries++) {
			unsigned v = inside ? fam_first[f] + (unsigned)(rnd(&s) % (fam_first[f + 1] - fam_first[f]))
					    : (unsigned)(rnd(&s) % 16);
			if (!(h >> v & 1))
				h |= 1u << v, n++;
		}
		if (n >= 2) {
			r->holders[r->nclasses] = h;
			r->contents[r->nclasses++] = 30 + rnd(&s) % 370;
		}
	}
	for (unsigned v = 0; v < 16; v++) {
		r->holders[r->nclasses] = 1u << v;
		r->contents[r->nclasses++] = 2000 + rnd(&s) % 2000;
	}
}

static vmsplan_problem *build_rack(const struct rack *r)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	char name[16], tg[16];
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	for (unsigned v = 0; v < r->nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		assert_int_equal(vmsplan_add_vm(p, name, r->pages[v], 0, &e), (int)v);
	}
	for (unsigned t = 0; t < r->ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		assert_int_equal(vmsplan_add_target(p, name, r->slots[t], r->mem[t], &e), (int)t);
	}
	for (unsigned v = 0; v < r->nvms; v++)
		if (r->pin[v] >= 0) {
			snprintf(name, sizeof(name), "vm%u", v);
			snprintf(tg, sizeof(tg), "t%d", r->pin[v]);
			assert_int_equal(vmsplan_pin(p, name, tg, &e), 0);
		}
	for (unsigned c = 0; c < r->nclasses; c++) {
		unsigned vms[16], n = 0;
		for (unsigned v = 0; v < r->nvms; v++)
			if (r->holders[c] >> v & 1)
				vms[n++] = v;
		assert_int_equal(vmsplan_add_class(p, vms, n, r->contents[c], r->contents[c] * n, &e), 0);
	}
	return p;
}

/* Contents a target holding the VMs of `mask` receives, for every mask. */
static uint64_t *union_table(const struct rack *r)
{
	uint64_t *u = calloc(1u << 16, sizeof(*u));
	assert_non_null(u);
	for (uint32_t m = 0; m < (1u << 16); m++)
		for (unsigned c = 0; c < r->nclasses; c++)
			if (r->holders[c] & m)
				u[m] += r->contents[c];
	return u;
}

/* The best placement: targets filled in order, each with a subset of the
 * VMs left that fits its slots, memory and pins; memo[t][left]. */
static uint64_t best_fill(const struct rack *r, const uint64_t *u, uint64_t *memo, unsigned t,
			  uint32_t left)
{
	if (t == r->ntargets)
		return left ? UINT64_MAX : 0;
	uint64_t *slot = &memo[(size_t)t * 65536 + left];
	if (*slot != UINT64_MAX - 1)
		return *slot;
	uint32_t must = 0, banned = 0;
	for (unsigned v = 0; v < r->nvms; v++)
		if (r->pin[v] >= 0 && (unsigned)r->pin[v] == t)
			must |= 1u << v;
		else if (r->pin[v] >= 0)
			banned |= 1u << v;
	uint64_t best = UINT64_MAX;
	if ((must & left) == must) {
		uint32_t pool = left & ~banned & ~must;
		for (uint32_t sub = pool;; sub = (sub - 1) & pool) {
			uint32_t b = sub | must;
			uint64_t mem = 0;
			int fits = (unsigned)__builtin_popcount(b) <= r->slots[t];
			for (unsigned v = 0; fits && r->mem[t] && v < r->nvms; v++)
				mem += (b >> v & 1) * r->pages[v] * 4096;
			if (fits && (!r->mem[t] || mem <= r->mem[t])) {
				uint64_t rest = best_fill(r, u, memo, t + 1, left & ~b);
				if (rest != UINT64_MAX && rest + u[b] < best)
					best = rest + u[b];
			}
			if (sub == 0)
				break;
		}
	}
	*slot = best;
	return best;
}

static uint64_t rack_best(const struct rack *r)
{
	uint64_t *u = union_table(r), *memo = malloc((size_t)(r->ntargets + 1) * 65536 * sizeof(*memo));
	assert_non_null(memo);
	for (size_t i = 0; i < (size_t)(r->ntargets + 1) * 65536; i++)
		memo[i] = UINT64_MAX - 1;
	uint64_t best = best_fill(r, u, memo, 0, 0xffff);
	free(u);
	free(memo);
	return best;
}

/* Independent cost and feasibility of a plan on a rack. */
static uint64_t rack_cost(const struct rack *r, const vmsplan_plan *plan)
{
	unsigned used[8] = { 0 };
	uint64_t mem[8] = { 0 }, c = 0;
	uint32_t on[8] = { 0 };
	for (unsigned v = 0; v < r->nvms; v++) {
		unsigned t = vmsplan_plan_target(plan, v);
		assert_true(t < r->ntargets);
		assert_true(r->pin[v] < 0 || (unsigned)r->pin[v] == t);
		used[t]++;
		mem[t] += r->pages[v] * 4096;
		on[t] |= 1u << v;
	}
	for (unsigned t = 0; t < r->ntargets; t++) {
		assert_true(used[t] <= r->slots[t]);
		assert_true(!r->mem[t] || mem[t] <= r->mem[t]);
		for (unsigned k = 0; k < r->nclasses; k++)
			c += (r->holders[k] & on[t]) ? r->contents[k] : 0;
	}
	struct vmsplan_traffic tr;
	uint64_t refs = 0;
	for (unsigned v = 0; v < r->nvms; v++)
		refs += r->pages[v] * VMSPLAN_REF_BYTES;
	vmsplan_plan_traffic(plan, &tr);
	assert_true(tr.network_bytes == c * 4096 + refs);
	return c;
}

static void check_rack(const struct rack *r, const char *what)
{
	uint64_t best = rack_best(r);
	vmsplan_problem *p = build_rack(r);
	uint64_t got[VMSPLAN_STRATEGIES];
	double secs = 0;
	for (int s = 0; s < VMSPLAN_STRATEGIES; s++) {
		struct vmsplan_options o;
		vmsplan_options_init(&o);
		o.strategy = (enum vmsplan_strategy)s;
		vmsplan_plan *plan = NULL;
		vmsplan_error e = { 0 };
		assert_int_equal(vmsplan_solve(p, &o, &plan, &e), 0);
		got[s] = rack_cost(r, plan);
		assert_true(got[s] >= best);
		if (s == VMSPLAN_OPTIMAL) {
			double gap;
			assert_int_equal(vmsplan_plan_optimal(plan, &gap), 1);
			assert_true(gap == 0);
			assert_true(got[s] == best);
			secs = vmsplan_plan_seconds(plan);
		}
		vmsplan_plan_free(plan);
	}
	/* anneal, the default, within 1% of the optimum */
	assert_true(got[VMSPLAN_ANNEAL] * 100 <= best * 101);
	print_message("# %s: optimum %llu (optimal %.3f s); greedy +%.2f%%, local +%.2f%%, anneal +%.2f%%\n",
		      what, (unsigned long long)best, secs,
		      100.0 * ((double)got[VMSPLAN_GREEDY] / (double)best - 1),
		      100.0 * ((double)got[VMSPLAN_LOCAL] / (double)best - 1),
		      100.0 * ((double)got[VMSPLAN_ANNEAL] / (double)best - 1));
	vmsplan_problem_free(p);
}

static void test_racks_of_16(void **state)
{
	(void)state;
	char what[64];
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct rack r;
		make_rack(&r, 4, seed);
		snprintf(what, sizeof(what), "16 x 4, seed %llu", (unsigned long long)seed);
		check_rack(&r, what);
		make_rack(&r, 8, seed + 10);
		snprintf(what, sizeof(what), "16 x 8, seed %llu", (unsigned long long)seed + 10);
		check_rack(&r, what);
	}
	/* unequal targets, spare slots, a memory limit and pins */
	struct rack r;
	make_rack(&r, 4, 77);
	r.slots[0] = 6, r.slots[1] = 5, r.slots[2] = 4, r.slots[3] = 3;
	r.mem[1] = 4000ull * 4096;
	r.pages[3] = 1500;
	r.pin[0] = 2;
	r.pin[9] = 2;
	r.pin[12] = 0;
	check_rack(&r, "16 on 6+5+4+3 slots, memory, pins");
}

/* ---- planted optimum ----------------------------------------------------------- */

/* F families of S VMs each and F targets of S slots, VM indexes shuffled:
 * a kernel-like class in every VM, a class per family, page cache shared
 * inside families, unique contents. Each family alone on a target puts
 * every class on the fewest targets it can reach, so that placement is
 * optimal, at a cost counted here from the construction. */
/* nvms VMs of 100 pages (vm0..), ntargets targets of `slots` slots (t0..),
 * no memory limit, no class yet. */
static vmsplan_problem *uniform_problem(unsigned nvms, unsigned ntargets, unsigned slots)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	char name[16];
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	for (unsigned v = 0; v < nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		assert_int_equal(vmsplan_add_vm(p, name, 100, 0, &e), (int)v);
	}
	for (unsigned t = 0; t < ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		assert_int_equal(vmsplan_add_target(p, name, slots, 0, &e), (int)t);
	}
	return p;
}

static void test_planted_optimum(void **state)
{
	(void)state;
	static const unsigned sizes[][2] = { { 6, 4 }, { 12, 4 }, { 24, 4 }, { 10, 8 } };
	for (size_t z = 0; z < sizeof(sizes) / sizeof(sizes[0]); z++) {
		unsigned F = sizes[z][0], S = sizes[z][1], V = F * S, perm[96], fam_of[96];
		uint64_t s = 1000 + z, expect = 0;
		vmsplan_problem *p = NULL;
		vmsplan_error e = { 0 };
		assert_true(V <= 96);
		for (unsigned i = 0; i < V; i++)
			perm[i] = i;
		for (unsigned i = V; i > 1; i--) {
			unsigned j = (unsigned)(rnd(&s) % i), tmp = perm[i - 1];
			perm[i - 1] = perm[j], perm[j] = tmp;
		}
		for (unsigned i = 0; i < V; i++)
			fam_of[perm[i]] = i / S;          /* family f: perm[f*S .. f*S+S) */
		p = uniform_problem(V, F, S);
		unsigned h[96];
		for (unsigned v = 0; v < V; v++)
			h[v] = v;
		assert_int_equal(vmsplan_add_class(p, h, V, 50, 50ull * V, &e), 0);
		expect += 50ull * F;
		for (unsigned f = 0; f < F; f++) {
			uint64_t c = 200 + rnd(&s) % 300;
			assert_int_equal(vmsplan_add_class(p, &perm[f * S], S, c, c * S, &e), 0);
			expect += c;
			for (unsigned g = 0; g < S; g++) {   /* page cache: 2..S of the family */
				unsigned n = 2 + (unsigned)(rnd(&s) % (S - 1)), off = (unsigned)(rnd(&s) % S);
				for (unsigned i = 0; i < n; i++)
					h[i] = perm[f * S + (off + i) % S];
				c = 10 + rnd(&s) % 90;
				assert_int_equal(vmsplan_add_class(p, h, n, c, c * n, &e), 0);
				expect += c;
			}
		}
		for (unsigned v = 0; v < V; v++) {
			uint64_t c = 20 + rnd(&s) % 40;
			assert_int_equal(vmsplan_add_class(p, &v, 1, c, c, &e), 0);
			expect += c;
		}
		for (int st = 0; st < VMSPLAN_STRATEGIES; st++) {
			struct vmsplan_options o;
			vmsplan_options_init(&o);
			o.strategy = (enum vmsplan_strategy)st;
			vmsplan_plan *plan = NULL;
			assert_int_equal(vmsplan_solve(p, &o, &plan, &e), 0);
			struct vmsplan_traffic tr;
			vmsplan_plan_traffic(plan, &tr);
			uint64_t got = (tr.network_bytes - 100ull * V * VMSPLAN_REF_BYTES) / 4096;
			assert_true(got >= expect);
			if (st == VMSPLAN_ANNEAL || st == VMSPLAN_OPTIMAL) {
				/* the families, each alone on a target */
				assert_true(got == expect);
				for (unsigned v = 0; v < V; v++)
					for (unsigned u = 0; u < V; u++)
						assert_true((fam_of[u] == fam_of[v]) ==
							    (vmsplan_plan_target(plan, u) == vmsplan_plan_target(plan, v)));
			}
			if (st == VMSPLAN_OPTIMAL) {
				assert_int_equal(vmsplan_plan_optimal(plan, NULL), 1);
				assert_true(vmsplan_plan_lower_bound(plan) == tr.network_bytes);
			}
			vmsplan_plan_free(plan);
		}
		vmsplan_problem_free(p);
	}
}

/* ---- determinism and honest bounds on a larger rack -------------------------------- */

static vmsplan_problem *big_rack(unsigned nvms, unsigned ntargets, unsigned slots, uint64_t seed)
{
	vmsplan_error e = { 0 };
	uint64_t s = seed;
	unsigned h[8];
	vmsplan_problem *p = uniform_problem(nvms, ntargets, slots);
	for (unsigned k = 0; k < nvms * 3; k++) {
		unsigned n = 2 + (unsigned)(rnd(&s) % 5), base = (unsigned)(rnd(&s) % nvms), m = 0;
		for (unsigned i = 0; i < n; i++) {
			unsigned v = (base + (unsigned)(rnd(&s) % 8)) % nvms, dup = 0;
			for (unsigned j = 0; j < m; j++)
				dup |= h[j] == v;
			if (!dup)
				h[m++] = v;
		}
		if (m >= 2) {
			uint64_t c = 10 + rnd(&s) % 500;
			assert_int_equal(vmsplan_add_class(p, h, m, c, c * m, &e), 0);
		}
	}
	return p;
}

static void test_deterministic_and_bounded(void **state)
{
	(void)state;
	/* 40 VMs on 4 targets of 12: too many loads to enumerate, so optimal
	 * falls back to a bound it must not overstate */
	vmsplan_problem *p = big_rack(40, 4, 12, 5);
	uint64_t cheapest = UINT64_MAX, lower = 0;
	int proven = 0;
	for (int st = 0; st < VMSPLAN_STRATEGIES; st++) {
		struct vmsplan_options o;
		vmsplan_options_init(&o);
		o.strategy = (enum vmsplan_strategy)st;
		o.time_limit = 0.5;
		o.seed = 3;
		vmsplan_plan *a = NULL, *b = NULL;
		assert_int_equal(vmsplan_solve(p, &o, &a, NULL), 0);
		if (st != VMSPLAN_OPTIMAL) {
			/* optimal may stop at its time limit, elsewhere same seed, same plan */
			assert_int_equal(vmsplan_solve(p, &o, &b, NULL), 0);
			for (unsigned v = 0; v < vmsplan_vms(p); v++)
				assert_int_equal(vmsplan_plan_target(a, v), vmsplan_plan_target(b, v));
		}
		struct vmsplan_traffic t;
		vmsplan_plan_traffic(a, &t);
		cheapest = t.network_bytes < cheapest ? t.network_bytes : cheapest;
		if (st == VMSPLAN_OPTIMAL) {
			double gap;
			proven = vmsplan_plan_optimal(a, &gap);
			lower = vmsplan_plan_lower_bound(a);
			assert_true(lower > 0 && lower <= t.network_bytes);
			assert_true(proven == (lower == t.network_bytes));
			assert_true(gap >= 0 && gap < 1);
		}
		vmsplan_plan_free(a);
		vmsplan_plan_free(b);
	}
	assert_true(lower <= cheapest);
	/* anneal: same seed, same plan, on a rack where it has work to do */
	vmsplan_problem_free(p);
	p = big_rack(64, 16, 4, 9);
	struct vmsplan_options o;
	vmsplan_options_init(&o);
	assert_int_equal(o.strategy, VMSPLAN_ANNEAL);
	vmsplan_plan *a = NULL, *b = NULL;
	assert_int_equal(vmsplan_solve(p, &o, &a, NULL), 0);
	assert_int_equal(vmsplan_solve(p, &o, &b, NULL), 0);
	for (unsigned v = 0; v < vmsplan_vms(p); v++)
		assert_int_equal(vmsplan_plan_target(a, v), vmsplan_plan_target(b, v));
	vmsplan_plan_free(a);
	vmsplan_plan_free(b);
	vmsplan_problem_free(p);
}

static void test_random_is_deterministic(void **state)
{
	(void)state;
	struct inst in;
	make_inst(&in, &shape, 7);
	in.pin[0] = -1;
	vmsplan_problem *p = build(&in);
	struct vmsplan_options o;
	vmsplan_options_init(&o);
	o.strategy = VMSPLAN_RANDOM;
	int differ = 0;
	for (uint64_t seed = 1; seed < 20; seed++) {
		vmsplan_plan *a = NULL, *b = NULL, *c = NULL;
		o.seed = seed;
		assert_int_equal(vmsplan_solve(p, &o, &a, NULL), 0);
		assert_int_equal(vmsplan_solve(p, &o, &b, NULL), 0);
		o.seed = seed + 1000;
		assert_int_equal(vmsplan_solve(p, &o, &c, NULL), 0);
		for (unsigned v = 0; v < in.nvms; v++) {
			assert_int_equal(vmsplan_plan_target(a, v), vmsplan_plan_target(b, v));
			differ |= vmsplan_plan_target(a, v) != vmsplan_plan_target(c, v);
		}
		vmsplan_plan_free(a);
		vmsplan_plan_free(b);
		vmsplan_plan_free(c);
	}
	assert_true(differ);
	struct vmsplan_random_stats s1, s2;
	assert_int_equal(vmsplan_random_stats(p, 30, 5, &s1, NULL), 0);
	assert_int_equal(vmsplan_random_stats(p, 30, 5, &s2, NULL), 0);
	assert_int_equal(s1.samples, s2.samples);
	assert_true(s1.min_network == s2.min_network && s1.max_network == s2.max_network);
	assert_true(s1.avg_network == s2.avg_network);
	assert_true(s1.min_network <= s1.avg_network && s1.avg_network <= s1.max_network);
	vmsplan_problem_free(p);
}

static uint64_t perm_cost(const uint64_t *sets, const size_t *order, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 1; i < n; i++)
		c += (uint64_t)__builtin_popcountll(sets[order[i - 1]] ^ sets[order[i]]);
	return c;
}

static uint64_t brute_order(const uint64_t *sets, size_t *perm, size_t k, size_t n)
{
	if (k == n)
		return perm_cost(sets, perm, n);
	uint64_t best = UINT64_MAX;
	for (size_t i = k; i < n; i++) {
		size_t t = perm[k]; perm[k] = perm[i]; perm[i] = t;
		uint64_t c = brute_order(sets, perm, k + 1, n);
		best = c < best ? c : best;
		t = perm[k]; perm[k] = perm[i]; perm[i] = t;
	}
	return best;
}

static void test_group_order(void **state)
{
	(void)state;
	uint64_t s = 42;
	for (int round = 0; round < 40; round++) {
		size_t n = 1 + (size_t)(rnd(&s) % 8), order[8], perm[8];
		uint64_t sets[8];
		for (size_t i = 0; i < n; i++) {
			sets[i] = rnd(&s) & 0xff;
			perm[i] = i;
		}
		assert_int_equal(vmsplan_order_groups(sets, n, order, NULL), 1);
		uint8_t seen[8] = { 0 };
		for (size_t i = 0; i < n; i++) {
			assert_true(order[i] < n && !seen[order[i]]);
			seen[order[i]] = 1;
		}
		assert_int_equal(perm_cost(sets, order, n), brute_order(sets, perm, 0, n));
	}
	/* beyond the exact limit: a permutation no worse than the identity */
	size_t n = 60, order[60], ident[60];
	uint64_t sets[60];
	for (size_t i = 0; i < n; i++) {
		sets[i] = rnd(&s);
		ident[i] = i;
	}
	assert_int_equal(vmsplan_order_groups(sets, n, order, NULL), 0);
	uint8_t seen[60] = { 0 };
	for (size_t i = 0; i < n; i++) {
		assert_true(order[i] < n && !seen[order[i]]);
		seen[order[i]] = 1;
	}
	assert_true(perm_cost(sets, order, n) <= perm_cost(sets, ident, n));
}

static void test_infeasible_and_bad_input(void **state)
{
	(void)state;
	vmsplan_problem *p = NULL;
	vmsplan_plan *plan = NULL;
	vmsplan_error e = { 0 };
	struct vmsplan_options o;
	vmsplan_options_init(&o);
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	assert_int_equal(vmsplan_solve(p, &o, &plan, &e), -EINVAL);           /* no VMs */
	assert_int_equal(vmsplan_add_vm(p, "a", 100, 0, &e), 0);
	assert_int_equal(vmsplan_add_vm(p, "b", 100, 0, &e), 1);
	assert_int_equal(vmsplan_add_vm(p, "c", 200, 0, &e), 2);
	assert_int_equal(vmsplan_add_vm(p, "a", 100, 0, &e), -EEXIST);
	assert_int_equal(vmsplan_add_vm(p, "bad name", 100, 0, &e), -EINVAL);
	assert_int_equal(vmsplan_add_vm(p, "z", 10, 11, &e), -EINVAL);
	assert_int_equal(vmsplan_solve(p, &o, &plan, &e), -EINVAL);           /* no targets */
	assert_int_equal(vmsplan_add_target(p, "t1", 1, 0, &e), 0);
	assert_int_equal(vmsplan_add_target(p, "t1", 1, 0, &e), -EEXIST);
	assert_int_equal(vmsplan_add_target(p, "t0", 0, 0, &e), -EINVAL);
	for (int s = 0; s < VMSPLAN_STRATEGIES; s++) {
		o.strategy = (enum vmsplan_strategy)s;
		assert_int_equal(vmsplan_solve(p, &o, &plan, &e), -ENOSPC);     /* 3 VMs, 1 slot */
		assert_non_null(strstr(e.msg, "slots"));
	}
	assert_int_equal(vmsplan_add_target(p, "t2", 2, 150 * 4096, &e), 1);
	o.strategy = VMSPLAN_OPTIMAL;
	assert_int_equal(vmsplan_solve(p, &o, &plan, &e), -ENOSPC);   /* c fits only t1, a+b need t2 room */
	assert_int_equal(vmsplan_pin(p, "nope", "t1", &e), -ENOENT);
	assert_int_equal(vmsplan_pin(p, "a", "nope", &e), -ENOENT);
	unsigned bad[2] = { 0, 0 }, oob[1] = { 7 };
	assert_int_equal(vmsplan_add_class(p, bad, 2, 1, 2, &e), -EINVAL);   /* VM twice */
	assert_int_equal(vmsplan_add_class(p, oob, 1, 1, 1, &e), -EINVAL);   /* no such VM */
	assert_int_equal(vmsplan_add_class(p, bad, 1, 5, 4, &e), -EINVAL);   /* pages < contents */
	vmsplan_problem_free(p);

	/* pins beyond a target's slots */
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	assert_int_equal(vmsplan_add_vm(p, "a", 100, 0, &e), 0);
	assert_int_equal(vmsplan_add_vm(p, "b", 100, 0, &e), 1);
	assert_int_equal(vmsplan_add_target(p, "t1", 1, 0, &e), 0);
	assert_int_equal(vmsplan_add_target(p, "t2", 1, 0, &e), 1);
	assert_int_equal(vmsplan_pin(p, "a", "t1", &e), 0);
	assert_int_equal(vmsplan_pin(p, "b", "t1", &e), 0);
	o.strategy = VMSPLAN_GREEDY;
	assert_int_equal(vmsplan_solve(p, &o, &plan, &e), -ENOSPC);
	assert_non_null(strstr(e.msg, "pinned"));
	vmsplan_problem_free(p);
}

static const char good_summary[] =
	"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":100,\"zero_pages\":40},"
	"{\"name\":\"b\",\"pages\":100,\"zero_pages\":50}],"
	"\"classes\":[{\"vms\":[0,1],\"contents\":20,\"pages\":45},{\"vms\":[0],\"contents\":30,\"pages\":35},"
	"{\"vms\":[1],\"contents\":25,\"pages\":25}]}";

static void test_summary_json(void **state)
{
	(void)state;
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	assert_int_equal(vmsplan_load_summary(p, good_summary, strlen(good_summary), &e), 0);
	assert_int_equal(vmsplan_vms(p), 2);
	assert_int_equal(vmsplan_classes(p), 3);
	assert_int_equal(vmsplan_add_target(p, "x", 1, 0, &e), 0);
	assert_int_equal(vmsplan_add_target(p, "y", 1, 0, &e), 1);
	unsigned split[2] = { 0, 1 };
	vmsplan_plan *plan = NULL;
	assert_int_equal(vmsplan_evaluate(p, split, &plan, &e), 0);
	struct vmsplan_traffic t;
	vmsplan_plan_traffic(plan, &t);
	assert_true(t.network_bytes == (20 * 2 + 30 + 25) * 4096ull + (60 + 50) * 8ull);
	assert_true(t.transferred_bytes == (20 + 30 + 25) * 4096ull + (60 + 50) * 8ull);
	assert_true(t.multicast_bytes == 20 * 4096ull);
	assert_int_equal(vmsplan_plan_groups(plan), 1);
	assert_true(vmsplan_plan_group_targets(plan, 0) == 3);
	vmsplan_plan_free(plan);
	vmsplan_problem_free(p);

	static const char *bad[] = {
		"", "[]", "{\"version\":2,\"vms\":[],\"classes\":[]}",
		"{\"version\":1,\"vms\":[],\"classes\":[]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":1,\"zero_pages\":0}],\"classes\":[{\"vms\":[1],\"contents\":1,\"pages\":1}]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":1,\"zero_pages\":0}],\"classes\":[{\"vms\":[-1],\"contents\":1,\"pages\":1}]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":1,\"zero_pages\":2}],\"classes\":[]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":\"1\",\"zero_pages\":0}],\"classes\":[]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":1,\"zero_pages\":0},{\"name\":\"a\",\"pages\":1,\"zero_pages\":0}],\"classes\":[]}",
		"{\"version\":1,\"vms\":[{\"name\":\"a\",\"pages\":9,\"zero_pages\":0},{\"name\":\"b\",\"pages\":9,\"zero_pages\":0}],\"classes\":[{\"vms\":[0,0],\"contents\":1,\"pages\":2}]}",
		"{\"version\":1,\"version\":1,\"vms\":[],\"classes\":[]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(vmsplan_problem_new(&p, &e), 0);
		e.msg[0] = '\0';
		assert_true(vmsplan_load_summary(p, bad[i], strlen(bad[i]), &e) < 0);
		assert_true(e.msg[0] != '\0');
		vmsplan_problem_free(p);
	}
	/* every truncation of a good summary fails cleanly */
	for (size_t n = 0; n < strlen(good_summary); n++) {
		assert_int_equal(vmsplan_problem_new(&p, &e), 0);
		assert_true(vmsplan_load_summary(p, good_summary, n, &e) < 0);
		vmsplan_problem_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strategies_against_brute_force),
		cmocka_unit_test(test_local_never_worse_than_greedy),
		cmocka_unit_test(test_racks_of_16),
		cmocka_unit_test(test_planted_optimum),
		cmocka_unit_test(test_deterministic_and_bounded),
		cmocka_unit_test(test_random_is_deterministic),
		cmocka_unit_test(test_group_order),
		cmocka_unit_test(test_infeasible_and_bad_input),
		cmocka_unit_test(test_summary_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
