/* test_plan.c - the planner against brute force on small instances:
 * optimal equals the best of all T^V placements; every strategy respects
 * capacities and pins and is never better than optimal; random is
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

struct inst {
	unsigned nvms, ntargets, nclasses;
	unsigned slots[4];
	uint64_t mem[4];
	uint64_t pages[9];
	int pin[9];
	uint64_t holders[40];     /* bitmask of VMs */
	uint64_t contents[40];
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_inst(struct inst *in, uint64_t seed)
{
	uint64_t s = seed;
	memset(in, 0, sizeof(*in));
	in->nvms = 4 + (unsigned)(rnd(&s) % 6);          /* 4..9 */
	in->ntargets = 2 + (unsigned)(rnd(&s) % 3);      /* 2..4 */
	unsigned total = 0;
	for (unsigned t = 0; t < in->ntargets; t++) {
		in->slots[t] = 1 + (unsigned)(rnd(&s) % 4);
		total += in->slots[t];
	}
	while (total < in->nvms) {
		in->slots[rnd(&s) % in->ntargets]++;
		total++;
	}
	int with_mem = rnd(&s) % 3 == 0;
	for (unsigned v = 0; v < in->nvms; v++) {
		in->pages[v] = 100 + rnd(&s) % 400;
		in->pin[v] = -1;
	}
	for (unsigned t = 0; t < in->ntargets; t++)
		in->mem[t] = with_mem ? (uint64_t)(in->slots[t] * 350) * 4096 : 0;
	if (rnd(&s) % 2)
		in->pin[rnd(&s) % in->nvms] = (int)(rnd(&s) % in->ntargets);
	in->nclasses = 10 + (unsigned)(rnd(&s) % 25);
	for (unsigned c = 0; c < in->nclasses; c++) {
		uint64_t h = 0;
		while (!h)
			h = rnd(&s) & ((1ull << in->nvms) - 1);
		in->holders[c] = h;
		in->contents[c] = 1 + rnd(&s) % 50;
	}
}

static vmsplan_problem *build(const struct inst *in)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	char name[16];
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	for (unsigned v = 0; v < in->nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		assert_int_equal(vmsplan_add_vm(p, name, in->pages[v], 10, &e), (int)v);
	}
	for (unsigned t = 0; t < in->ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		assert_int_equal(vmsplan_add_target(p, name, in->slots[t], in->mem[t], &e), (int)t);
	}
	for (unsigned v = 0; v < in->nvms; v++)
		if (in->pin[v] >= 0) {
			char vm[16], tg[16];
			snprintf(vm, sizeof(vm), "vm%u", v);
			snprintf(tg, sizeof(tg), "t%d", in->pin[v]);
			assert_int_equal(vmsplan_pin(p, vm, tg, &e), 0);
		}
	for (unsigned c = 0; c < in->nclasses; c++) {
		unsigned vms[9], n = 0;
		for (unsigned v = 0; v < in->nvms; v++)
			if (in->holders[c] >> v & 1)
				vms[n++] = v;
		assert_int_equal(vmsplan_add_class(p, vms, n, in->contents[c], in->contents[c] * n, &e), 0);
	}
	return p;
}

/* Independent feasibility and cost of a placement. */
static int feasible(const struct inst *in, const unsigned *tg)
{
	unsigned used[4] = { 0 };
	uint64_t mem[4] = { 0 };
	for (unsigned v = 0; v < in->nvms; v++) {
		if (tg[v] >= in->ntargets || (in->pin[v] >= 0 && (unsigned)in->pin[v] != tg[v]))
			return 0;
		used[tg[v]]++;
		mem[tg[v]] += in->pages[v] * 4096;
	}
	for (unsigned t = 0; t < in->ntargets; t++)
		if (used[t] > in->slots[t] || (in->mem[t] && mem[t] > in->mem[t]))
			return 0;
	return 1;
}

static uint64_t cost(const struct inst *in, const unsigned *tg)
{
	uint64_t c = 0;
	for (unsigned k = 0; k < in->nclasses; k++) {
		unsigned seen[4] = { 0 };
		for (unsigned v = 0; v < in->nvms; v++)
			if (in->holders[k] >> v & 1)
				seen[tg[v]] = 1;
		for (unsigned t = 0; t < in->ntargets; t++)
			c += seen[t] * in->contents[k];
	}
	return c;
}

/* Best feasible cost over all T^V placements; UINT64_MAX if none. */
static uint64_t brute_force(const struct inst *in)
{
	unsigned tg[9] = { 0 };
	uint64_t best = UINT64_MAX, total = 1;
	for (unsigned v = 0; v < in->nvms; v++)
		total *= in->ntargets;
	for (uint64_t code = 0; code < total; code++) {
		uint64_t x = code;
		for (unsigned v = 0; v < in->nvms; v++) {
			tg[v] = (unsigned)(x % in->ntargets);
			x /= in->ntargets;
		}
		if (feasible(in, tg)) {
			uint64_t c = cost(in, tg);
			best = c < best ? c : best;
		}
	}
	return best;
}

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
		make_inst(&in, seed);
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
				assert_true(got[s] == best);
				checked++;
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
		make_inst(&in, seed);
		vmsplan_problem *p = build(&in);
		struct vmsplan_options o;
		vmsplan_options_init(&o);
		vmsplan_plan *g = NULL, *l = NULL;
		o.strategy = VMSPLAN_GREEDY;
		int rg = vmsplan_solve(p, &o, &g, NULL);
		o.strategy = VMSPLAN_LOCAL;
		int rl = vmsplan_solve(p, &o, &l, NULL);
		assert_int_equal(rg, rl);
		if (rg == 0) {
			struct vmsplan_traffic tg, tl;
			vmsplan_plan_traffic(g, &tg);
			vmsplan_plan_traffic(l, &tl);
			assert_true(tl.network_bytes <= tg.network_bytes);
			assert_true(tl.transferred_bytes == tg.transferred_bytes);
		}
		vmsplan_plan_free(g);
		vmsplan_plan_free(l);
		vmsplan_problem_free(p);
	}
}

static void test_random_is_deterministic(void **state)
{
	(void)state;
	struct inst in;
	make_inst(&in, 7);
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
		cmocka_unit_test(test_random_is_deterministic),
		cmocka_unit_test(test_group_order),
		cmocka_unit_test(test_infeasible_and_bad_input),
		cmocka_unit_test(test_summary_json),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
