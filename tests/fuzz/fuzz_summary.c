/* fuzz_summary.c - libFuzzer entry point for the planner's JSON sharing
 * summary loader; a summary that loads is also planned (greedy) to reach
 * the code that trusts what the loader accepted. Built by tools/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "planner/plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vmsplan_problem *p = NULL;
	if (vmsplan_problem_new(&p, NULL) < 0)
		return 0;
	if (vmsplan_load_summary(p, (const char *)data, size, NULL) == 0 &&
	    vmsplan_add_target(p, "a", 4096, 0, NULL) >= 0) {
		struct vmsplan_options o;
		vmsplan_plan *plan = NULL;
		vmsplan_options_init(&o);
		o.strategy = VMSPLAN_GREEDY;
		if (vmsplan_solve(p, &o, &plan, NULL) == 0)
			vmsplan_plan_free(plan);
	}
	vmsplan_problem_free(p);
	return 0;
}
