/* test_plan_exact.c - the exact placement's parts on their own (built with
 * the planner's sources, to reach its private functions): from a poor start
 * (random or sharing-oblivious), the set-partitioning program must find the
 * best of all T^V placements and say it is proven; its lower bound and the
 * class bound never exceed that best; the placement respects capacities and
 * pins. Costs are counted here, independently. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "planner/plan_int.h"

#define MAXV 9
#define MAXT 4
#define MAXC 40

struct inst {
	unsigned nvms, ntargets, nclasses;
	unsigned slots[MAXT];
	uint64_t mem[MAXT];
	uint64_t pages[MAXV];
	int pin[MAXV];
	uint32_t holders[MAXC];
	uint64_t contents[MAXC];
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
	in->nvms = 5 + (unsigned)(rnd(&s) % 5);           /* 5..9 */
	in->ntargets = 2 + (unsigned)(rnd(&s) % 3);       /* 2..4 */
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
		in->mem[t] = with_mem ? (uint64_t)(in->slots[t] * 380) * 4096 : 0;
	if (rnd(&s) % 2)
		in->pin[rnd(&s) % in->nvms] = (int)(rnd(&s) % in->ntargets);
	in->nclasses = 12 + (unsigned)(rnd(&s) % (MAXC - 12));
	for (unsigned c = 0; c < in->nclasses; c++) {
		uint32_t h = 0;
		while (!h)
			h = (uint32_t)(rnd(&s) & ((1u << in->nvms) - 1));
		in->holders[c] = h;
		in->contents[c] = 1 + rnd(&s) % 60;
	}
}

static vmsplan_problem *build(const struct inst *in)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	char name[16], tg[16];
	assert_int_equal(vmsplan_problem_new(&p, &e), 0);
	for (unsigned v = 0; v < in->nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		assert_int_equal(vmsplan_add_vm(p, name, in->pages[v], 0, &e), (int)v);
	}
	for (unsigned t = 0; t < in->ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		assert_int_equal(vmsplan_add_target(p, name, in->slots[t], in->mem[t], &e), (int)t);
	}
	for (unsigned v = 0; v < in->nvms; v++)
		if (in->pin[v] >= 0) {
			snprintf(name, sizeof(name), "vm%u", v);
			snprintf(tg, sizeof(tg), "t%d", in->pin[v]);
			assert_int_equal(vmsplan_pin(p, name, tg, &e), 0);
		}
	for (unsigned c = 0; c < in->nclasses; c++) {
		unsigned vms[MAXV], n = 0;
		for (unsigned v = 0; v < in->nvms; v++)
			if (in->holders[c] >> v & 1)
				vms[n++] = v;
		assert_int_equal(vmsplan_add_class(p, vms, n, in->contents[c], in->contents[c] * n, &e), 0);
	}
	return p;
}

static int feasible(const struct inst *in, const unsigned *tg)
{
	unsigned used[MAXT] = { 0 };
	uint64_t mem[MAXT] = { 0 };
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
		uint32_t seen = 0;
		for (unsigned v = 0; v < in->nvms; v++)
			if (in->holders[k] >> v & 1)
				seen |= 1u << tg[v];
		c += (uint64_t)__builtin_popcount(seen) * in->contents[k];
	}
	return c;
}

static uint64_t brute_force(const struct inst *in)
{
	unsigned tg[MAXV];
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

static void test_partition_from_poor_starts(void **state)
{
	(void)state;
	unsigned solved = 0, improved = 0;
	for (uint64_t seed = 1; seed <= 120; seed++) {
		struct inst in;
		make_inst(&in, seed);
		uint64_t best = brute_force(&in);
		vmsplan_problem *p = build(&in);
		if (best == UINT64_MAX) {
			vmsplan_problem_free(p);
			continue;
		}
		assert_true(pl_class_bound(p) <= best);
		struct pl_index ix = { 0 };
		vmsplan_error e = { 0 };
		assert_int_equal(pl_index_build(p, &ix, &e), 0);
		unsigned start[MAXV], out[MAXV];
		int r = pl_random(p, seed, start, NULL);
		if (r < 0)
			r = pl_oblivious(p, start, NULL);
		if (r < 0) {                 /* no heuristic fits: nothing to start from */
			pl_index_free(&ix);
			vmsplan_problem_free(p);
			continue;
		}
		assert_true(feasible(&in, start));
		uint64_t start_cost = cost(&in, start), lower = 0;
		assert_true(pl_content_cost(p, start) == start_cost);
		r = pl_partition(p, &ix, start, start_cost, pl_now() + 10, out, &lower, &e);
		assert_int_equal(r, 0);                  /* proven */
		assert_true(feasible(&in, out));
		assert_true(cost(&in, out) == best);
		assert_true(lower <= best);
		solved++;
		improved += start_cost > best;
		pl_index_free(&ix);
		vmsplan_problem_free(p);
	}
	assert_true(solved >= 80 && improved >= 40);
	print_message("# set partitioning matched brute force on %u instances, %u from a start above the optimum\n",
		      solved, improved);
}

/* The strategy as a whole: optimal's bound against brute force, and
 * "optimal" only when it is. */
static void test_exact_strategy(void **state)
{
	(void)state;
	for (uint64_t seed = 200; seed < 260; seed++) {
		struct inst in;
		make_inst(&in, seed);
		uint64_t best = brute_force(&in);
		vmsplan_problem *p = build(&in);
		struct pl_index ix = { 0 };
		assert_int_equal(pl_index_build(p, &ix, NULL), 0);
		unsigned out[MAXV];
		int optimal = -1;
		double gap = -2;
		uint64_t lower = 0;
		int r = pl_check_capacity(p, NULL);
		if (r == 0)
			r = pl_exact(p, &ix, seed, 10, out, &optimal, &gap, &lower, NULL);
		if (best == UINT64_MAX) {
			assert_true(r < 0);
		} else {
			assert_int_equal(r, 0);
			assert_true(feasible(&in, out) && cost(&in, out) == best);
			assert_int_equal(optimal, 1);
			assert_true(gap == 0 && lower == best);
		}
		pl_index_free(&ix);
		vmsplan_problem_free(p);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_partition_from_poor_starts),
		cmocka_unit_test(test_exact_strategy),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
