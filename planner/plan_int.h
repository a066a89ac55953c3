/* plan_int.h - libvmsplan's private structures, shared by its .c files and
 * its unit tests. Not installed. */
#ifndef VMSPLAN_PLAN_INT_H
#define VMSPLAN_PLAN_INT_H

#include "plan.h"

struct pl_vm {
	char name[VMSPLAN_NAME_MAX];
	uint64_t pages, zero_pages;
	int pin;                    /* target index, -1 = free */
};

struct pl_target {
	char name[VMSPLAN_NAME_MAX];
	unsigned slots;
	uint64_t mem;               /* 0 = unlimited */
};

struct vmsplan_problem {
	struct pl_vm *vms;
	unsigned nvms, capvms;
	struct pl_target targets[VMSPLAN_MAX_TARGETS];
	unsigned ntargets;
	/* classes, holders flattened: class c holds cls_vms[cls_off[c] .. cls_off[c+1]) */
	size_t nclasses, capclasses;
	uint32_t *cls_off;          /* nclasses + 1 */
	uint32_t *cls_vms;
	size_t nholders, capholders;
	uint64_t *cls_contents, *cls_pages;
};

/* Per-VM lists of the classes holding it (CSR), built for a solve. */
struct pl_index {
	uint32_t *off;              /* nvms + 1 */
	uint32_t *cls;
};

struct vmsplan_plan {
	unsigned nvms;
	unsigned *target_of;
	struct vmsplan_traffic traffic;
	size_t ngroups;
	uint64_t *group_targets, *group_contents;   /* in planned order */
	uint64_t switches, naive_switches;
	int order_exact;
	int optimal;
	double gap, seconds;
	uint64_t lower_bytes;       /* optimal: proven lower bound on network bytes, 0 = none */
};

/* A small deterministic RNG (splitmix64); the state lives with the caller. */
static inline uint64_t pl_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* problem.c */
int pl_set_err(vmsplan_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
uint64_t pl_vm_mem(const vmsplan_problem *p, unsigned vm);
int pl_index_build(const vmsplan_problem *p, struct pl_index *ix, vmsplan_error *err);
void pl_index_free(struct pl_index *ix);
/* Capacity checks every strategy starts with (-ENOSPC with a message). */
int pl_check_capacity(const vmsplan_problem *p, vmsplan_error *err);
/* Check a placement against capacities and pins. */
int pl_check_placement(const vmsplan_problem *p, const unsigned *target_of, vmsplan_error *err);

/* eval.c */
/* Network cost in contents (sum contents(c) * |T(c)|) of a full placement. */
uint64_t pl_content_cost(const vmsplan_problem *p, const unsigned *target_of);
/* Build the plan of a placement: traffic, groups, group order. */
int pl_plan_build(const vmsplan_problem *p, const unsigned *target_of, vmsplan_plan **out,
		  vmsplan_error *err);

/* strategies.c */
int pl_greedy(const vmsplan_problem *p, const struct pl_index *ix, unsigned *target_of,
	      vmsplan_error *err);
int pl_random(const vmsplan_problem *p, uint64_t seed, unsigned *target_of, vmsplan_error *err);
int pl_oblivious(const vmsplan_problem *p, unsigned *target_of, vmsplan_error *err);
int pl_local_search(const vmsplan_problem *p, const struct pl_index *ix, unsigned *target_of,
		    double time_limit, vmsplan_error *err);

/* search.c */
int pl_anneal(const vmsplan_problem *p, const struct pl_index *ix, uint64_t seed, double time_limit,
	      unsigned *target_of, vmsplan_error *err);

/* ilp.c: the compact integer program; *lower (contents) 0 when unknown */
int pl_optimal(const vmsplan_problem *p, const unsigned *start, double time_limit,
	       unsigned *target_of, int *optimal, double *gap, uint64_t *lower, vmsplan_error *err);

/* partition.c */
#define PL_NOT_APPLICABLE 2
uint64_t pl_class_bound(const vmsplan_problem *p);
int pl_partition(const vmsplan_problem *p, const struct pl_index *ix, const unsigned *start,
		 uint64_t start_cost, double deadline, unsigned *target_of, uint64_t *lower,
		 vmsplan_error *err);
/* The optimal strategy: anneal's placement, then the set-partitioning
 * program, else the compact one (small problems), else the class bound. */
int pl_exact(const vmsplan_problem *p, const struct pl_index *ix, uint64_t seed, double time_limit,
	     unsigned *target_of, int *optimal, double *gap, uint64_t *lower, vmsplan_error *err);

/* Monotonic seconds. */
double pl_now(void);

#endif
