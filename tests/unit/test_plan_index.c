/* test_plan_index.c - what the planner predicts for a placement equals what
 * the page index counts directly: for every target, the distinct non-zero
 * content ids of the pages of its VMs. */
#define _GNU_SOURCE
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "planner/plan.h"
#include "scatter/scatter.h"
#include "tools/synth/synth.h"
#include "test_tmp.h"

static void test_prediction_matches_index(void **state)
{
	(void)state;
	enum { N = 6, T = 3 };
	struct synth_params sp;
	synth_defaults(&sp);
	sp.vms = N;
	sp.pages = 900;
	sp.pool = 700;
	vms_err e = { 0 };
	assert_int_equal(synth_write_rack(&sp, test_root, &e), 0);

	kvm_mem *mem[N];
	sc_index *ix = NULL;
	assert_int_equal(sc_index_new(N, 2, &ix, &e), 0);
	for (unsigned v = 0; v < N; v++) {
		char path[128], name[16];
		snprintf(path, sizeof(path), "%s/vm%u.img", test_root, v + 1);
		snprintf(name, sizeof(name), "vm%u", v + 1);
		assert_int_equal(kvm_mem_open(path, &mem[v], &e), 0);
		assert_int_equal(sc_index_add(ix, name, mem[v], NULL, NULL, &e), 0);
	}
	struct sc_vm_stats st[N];
	struct sc_rack_stats rs;
	sc_summary *sum = NULL;
	assert_int_equal(sc_index_stats(ix, st, &rs, &e), 0);
	assert_int_equal(sc_summary_build(ix, &sum, &e), 0);

	vmsplan_problem *p = NULL;
	vmsplan_error pe = { 0 };
	assert_int_equal(vmsplan_problem_new(&p, &pe), 0);
	for (unsigned v = 0; v < N; v++)
		assert_int_equal(vmsplan_add_vm(p, sc_index_vm_name(ix, v), st[v].pages, st[v].zero_pages, &pe),
				 (int)v);
	for (size_t c = 0; c < sc_summary_classes(sum); c++) {
		const struct sc_class *k = sc_summary_class(sum, c);
		unsigned h[N], n = 0;
		for (unsigned v = 0; v < N; v++)
			if (k->holders[0] >> v & 1)
				h[n++] = v;
		assert_int_equal(vmsplan_add_class(p, h, n, k->contents, k->pages, &pe), 0);
	}
	assert_int_equal(vmsplan_add_target(p, "a", 2, 0, &pe), 0);
	assert_int_equal(vmsplan_add_target(p, "b", 2, 0, &pe), 1);
	assert_int_equal(vmsplan_add_target(p, "c", 2, 0, &pe), 2);

	uint32_t ncont = sc_index_contents(ix);
	uint8_t *at = malloc((size_t)ncont + 1);
	for (int s = 0; s < VMSPLAN_STRATEGIES; s++) {
		struct vmsplan_options o;
		vmsplan_options_init(&o);
		o.strategy = (enum vmsplan_strategy)s;
		o.time_limit = 5;
		vmsplan_plan *plan = NULL;
		assert_int_equal(vmsplan_solve(p, &o, &plan, &pe), 0);
		/* count straight from the page maps */
		uint64_t received = 0, nonzero = 0, multi = 0;
		memset(at, 0, (size_t)ncont + 1);
		for (unsigned t = 0; t < T; t++) {
			uint8_t *seen = calloc((size_t)ncont + 1, 1);
			for (unsigned v = 0; v < N; v++) {
				if (vmsplan_plan_target(plan, v) != t)
					continue;
				for (uint64_t pg = 0; pg < sc_index_vm_pages(ix, v); pg++) {
					uint32_t id = sc_index_page(ix, v, pg);
					if (id == SC_ZERO_CONTENT)
						continue;
					nonzero++;
					if (!seen[id]) {
						seen[id] = 1;
						received++;
						at[id]++;
					}
				}
			}
			free(seen);
		}
		for (uint32_t id = 1; id <= ncont; id++)
			multi += at[id] >= 2;
		struct vmsplan_traffic tr;
		vmsplan_plan_traffic(plan, &tr);
		assert_true(tr.network_bytes == received * 4096 + nonzero * VMSPLAN_REF_BYTES);
		assert_true(tr.transferred_bytes == (uint64_t)ncont * 4096 + nonzero * VMSPLAN_REF_BYTES);
		assert_true(tr.multicast_bytes == multi * 4096);
		vmsplan_plan_free(plan);
	}
	free(at);
	vmsplan_problem_free(p);
	sc_summary_free(sum);
	sc_index_free(ix);
	for (unsigned v = 0; v < N; v++)
		kvm_mem_close(mem[v]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prediction_matches_index),
	};
	return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
