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

#include "plan_inst.h"

/* 5..9 VMs, 12..39 classes of 1..60 contents, 380 pages a slot, none reserved */
static const struct inst_shape shape = { 5, 5, 12, 28, 60, 380, 0 };

static void test_partition_from_poor_starts(void **state)
{
	(void)state;
	unsigned solved = 0, improved = 0;
	for (uint64_t seed = 1; seed <= 120; seed++) {
		struct inst in;
		make_inst(&in, &shape, seed);
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
		unsigned start[INST_MAXV], out[INST_MAXV];
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
		make_inst(&in, &shape, seed);
		uint64_t best = brute_force(&in);
		vmsplan_problem *p = build(&in);
		struct pl_index ix = { 0 };
		assert_int_equal(pl_index_build(p, &ix, NULL), 0);
		unsigned out[INST_MAXV];
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
