/* vmscatter/plan.h - libvmsplan, the vmscatter planner: which VM goes to
 * which target host, which multicast groups that makes, and in which order
 * to serve them. Pure C, no network, no global state, no exit().
 *
 * Link with `pkg-config --cflags --libs vmsplan`.
 *
 * THE MODEL
 * A problem has VMs, targets and the sharing summary: every distinct
 * non-zero page content belongs to exactly one class, the set of VMs holding
 * it; a class has a holder set, a number of contents and the number of pages
 * those contents fill. A placement maps every VM to one target. For a
 * placement with T(c) the set of targets of class c's holders:
 *
 *   network traffic   = PAGE * sum_c contents(c) * |T(c)|  + references
 *   transferred data  = PAGE * sum_c contents(c)           + references
 *   references        = VMSPLAN_REF_BYTES * (non-zero pages of all VMs)
 *
 * i.e. every target receives each content its VMs hold once; the source
 * sends each content once (multicast to T(c) when |T(c)| >= 2, else
 * unicast); each VM's page map costs VMSPLAN_REF_BYTES per non-zero page
 * (zero pages travel as ranges, counted as free). Transferred data does not
 * depend on the placement; network traffic does, and is what strategies
 * minimise. A multicast group is a distinct T(c) with two or more targets;
 * its size is the sum of its classes' contents.
 *
 * CONVENTIONS
 * Functions return 0 (or a non-negative value where stated) or a negative
 * errno, and describe failures in the optional `vmsplan_error`. Objects are
 * not thread-safe; distinct objects may be used from distinct threads
 * (vmsplan_solve may start threads of its own, which only read the problem
 * and are joined before it returns). A
 * plan refers to nothing in its problem: it may outlive it.
 */
#ifndef VMSPLAN_PLAN_H
#define VMSPLAN_PLAN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMSPLAN_PAGE_SIZE 4096u
#define VMSPLAN_REF_BYTES 8u            /* bytes per non-zero page in a page map */
#define VMSPLAN_MAX_VMS 4096u
#define VMSPLAN_MAX_TARGETS 64u
#define VMSPLAN_MAX_CLASSES (16u << 20)
#define VMSPLAN_NAME_MAX 64u            /* names: 1..63 of [A-Za-z0-9._-] */

typedef struct vmsplan_error {
	int code;                        /* negative errno, 0 when unset */
	char msg[512];
} vmsplan_error;

/* ---- problems ------------------------------------------------------------ */

typedef struct vmsplan_problem vmsplan_problem;

int vmsplan_problem_new(vmsplan_problem **out, vmsplan_error *err);
void vmsplan_problem_free(vmsplan_problem *p);

/* Add a VM; returns its index (>= 0). pages >= zero_pages. */
int vmsplan_add_vm(vmsplan_problem *p, const char *name, uint64_t pages, uint64_t zero_pages,
		   vmsplan_error *err);
/* Add a class: `nvms` distinct VM indexes holding `contents` distinct
 * contents that fill `pages` pages (pages >= contents * nvms). */
int vmsplan_add_class(vmsplan_problem *p, const unsigned *vms, size_t nvms, uint64_t contents,
		      uint64_t pages, vmsplan_error *err);
/* Add a target with `slots` VM slots (>= 1) and `mem_bytes` of memory for
 * guests (0 = no memory limit; a VM needs pages * 4096 bytes). Returns its
 * index. Duplicate names are an error. */
int vmsplan_add_target(vmsplan_problem *p, const char *name, unsigned slots, uint64_t mem_bytes,
		       vmsplan_error *err);
/* Pin a VM to a target (both by name); every strategy respects pins. */
int vmsplan_pin(vmsplan_problem *p, const char *vm, const char *target, vmsplan_error *err);

/* Add the VMs and classes of a sharing summary in JSON: either the
 * "summary" object `vmscatter analyze --json` prints, or that whole output.
 * Version 1:
 *   { "version": 1,
 *     "vms": [ { "name": S, "pages": N, "zero_pages": N }, ... ],
 *     "classes": [ { "vms": [index, ...], "contents": N, "pages": N }, ... ] }
 * The text is untrusted: every field is checked, counts are capped. */
int vmsplan_load_summary(vmsplan_problem *p, const char *json, size_t len, vmsplan_error *err);

unsigned vmsplan_vms(const vmsplan_problem *p);
const char *vmsplan_vm_name(const vmsplan_problem *p, unsigned vm);
unsigned vmsplan_targets(const vmsplan_problem *p);
const char *vmsplan_target_name(const vmsplan_problem *p, unsigned target);
uint64_t vmsplan_vm_pages(const vmsplan_problem *p, unsigned vm);
uint64_t vmsplan_vm_zero_pages(const vmsplan_problem *p, unsigned vm);
size_t vmsplan_classes(const vmsplan_problem *p);
/* Index of the VM / target with that name, or -ENOENT. */
int vmsplan_find_vm(const vmsplan_problem *p, const char *name);
int vmsplan_find_target(const vmsplan_problem *p, const char *name);

/* ---- strategies ---------------------------------------------------------- */

enum vmsplan_strategy {
	/* Greedy: pinned VMs first, in their places. Then, one VM at a time,
	 * the unplaced VM and target with room such that the target already
	 * receives the most of that VM's contents (ties: lowest VM index, then
	 * the target with the most free slots); when no unplaced VM overlaps
	 * any target with room, the VM with the most distinct contents goes to
	 * the target with the most free slots. Placing a VM on t raises, for
	 * every class t receives for the first time, the overlap of that
	 * class's holders with t. O(V^2 * T + H * T), H = class holders. */
	VMSPLAN_GREEDY,
	/* Uniformly random VM order, each to a random target with room. */
	VMSPLAN_RANDOM,
	/* Sharing-oblivious baseline: VMs by decreasing size, round-robin over
	 * the targets that have room. */
	VMSPLAN_OBLIVIOUS,
	/* Greedy, then local search: each VM in turn takes its best improving
	 * move to a target with room, then every pair of VMs on different
	 * targets is swapped when that improves; passes repeat until one
	 * improves nothing or the time limit passes. Never worse than greedy. */
	VMSPLAN_LOCAL,
	/* Exact: anneal's placement is the incumbent. When the targets' loads
	 * can be enumerated (up to about a million sets of VMs one target may
	 * hold), a set-partitioning program over them: its linear relaxation
	 * by column generation gives a lower bound, and an integer program
	 * (GLPK) over the loads whose reduced costs leave room below the
	 * incumbent finds a cheaper placement or proves there is none. Else,
	 * for small problems, the compact integer program (binary x(v,t),
	 * y(c,t) >= x(v,t), GLPK). A lower bound always stands: at worst each
	 * class reaches as many targets as its holders need slots. Stops at the
	 * time limit with the best placement and its gap to the bound; it says
	 * optimal only when the bound meets the placement's cost. */
	VMSPLAN_OPTIMAL,
	/* The default. Greedy and a descent over moves and swaps, then
	 * several runs of simulated annealing over moves and swaps (steps
	 * mostly towards targets where a VM's co-holders are), each from that
	 * placement and ending in a descent; the cheapest placement wins. The
	 * runs go to threads of their own where the system gives them (the
	 * result does not depend on it). Never worse than greedy + descent.
	 * The runs' lengths are numbers of
	 * steps set by the problem's size and their random choices come from
	 * the seed: same problem and seed, same placement, however fast or
	 * busy the machine (the time limit is only a safety cap). Under a
	 * second up to 64 VMs x 16 targets, a few seconds for 1,024 x 64 (see
	 * tools/vms-bench-plan). */
	VMSPLAN_ANNEAL,
};
#define VMSPLAN_STRATEGIES 6

/* "greedy", "random", "oblivious", "local", "optimal", "anneal". */
const char *vmsplan_strategy_name(enum vmsplan_strategy s);
int vmsplan_strategy_parse(const char *name, enum vmsplan_strategy *out);

struct vmsplan_options {
	enum vmsplan_strategy strategy;
	uint64_t seed;           /* random, anneal: same seed, same placement */
	double time_limit;       /* seconds for local, anneal and optimal; default 10 */
};
/* Strategy anneal, seed 1, time limit 10 s. */
void vmsplan_options_init(struct vmsplan_options *o);

/* ---- plans --------------------------------------------------------------- */

typedef struct vmsplan_plan vmsplan_plan;

/* Place every VM. Errors: -EINVAL for a problem without VMs or targets,
 * -ENOSPC when the capacities cannot hold the VMs (the message says which
 * limit), -ETIMEDOUT when optimal found no placement in time. */
int vmsplan_solve(const vmsplan_problem *p, const struct vmsplan_options *o, vmsplan_plan **out,
		  vmsplan_error *err);
/* The plan of a given placement (target_of[v] for every VM), checked against
 * capacities and pins. */
int vmsplan_evaluate(const vmsplan_problem *p, const unsigned *target_of, vmsplan_plan **out,
		     vmsplan_error *err);
void vmsplan_plan_free(vmsplan_plan *plan);

unsigned vmsplan_plan_target(const vmsplan_plan *plan, unsigned vm);

struct vmsplan_traffic {
	uint64_t network_bytes;      /* what all targets receive */
	uint64_t transferred_bytes;  /* what the source sends */
	uint64_t multicast_bytes;    /* contents sent to two or more targets (once) */
	uint64_t unicast_bytes;      /* contents sent to one target */
	uint64_t reference_bytes;    /* page maps */
};
void vmsplan_plan_traffic(const vmsplan_plan *plan, struct vmsplan_traffic *t);

/* Multicast groups in the planned order. */
size_t vmsplan_plan_groups(const vmsplan_plan *plan);
uint64_t vmsplan_plan_group_targets(const vmsplan_plan *plan, size_t i);  /* bit t = target t */
uint64_t vmsplan_plan_group_contents(const vmsplan_plan *plan, size_t i);
/* Receiver joins + leaves between consecutive groups: in the planned order,
 * and in the naive order (groups sorted by their target bitmask). */
uint64_t vmsplan_plan_switches(const vmsplan_plan *plan);
uint64_t vmsplan_plan_naive_switches(const vmsplan_plan *plan);
/* 1 if the order is proven optimal (exact search, up to 16 groups). */
int vmsplan_plan_order_exact(const vmsplan_plan *plan);

/* For optimal: 1 if proven optimal (its lower bound equals its cost), 0
 * if not; *gap (may be NULL) is (cost - lower bound) / cost, both counted in
 * contents received by the targets (0 when optimal). Other strategies: 0
 * and gap -1. */
int vmsplan_plan_optimal(const vmsplan_plan *plan, double *gap);
/* For optimal: a proven lower bound on the network_bytes of any placement
 * that respects the capacities and pins (equal to this plan's when it is
 * optimal). Other strategies: 0. */
uint64_t vmsplan_plan_lower_bound(const vmsplan_plan *plan);
/* Wall-clock seconds the strategy took. */
double vmsplan_plan_seconds(const vmsplan_plan *plan);

/* ---- order of groups, on its own ------------------------------------------- */

/* Order n target sets (bitmasks) to minimise the sum of |a XOR b| over
 * consecutive sets: exact for n <= 16, else nearest neighbour + 2-opt.
 * order[] receives a permutation of 0..n-1; returns 1 if exact, 0 if not. */
int vmsplan_order_groups(const uint64_t *sets, size_t n, size_t *order, vmsplan_error *err);

/* ---- random samples ------------------------------------------------------ */

struct vmsplan_random_stats {
	unsigned samples;
	uint64_t min_network, max_network;
	double avg_network;
};
/* `n` random placements with seeds seed, seed+1, ... */
int vmsplan_random_stats(const vmsplan_problem *p, unsigned n, uint64_t seed,
			 struct vmsplan_random_stats *out, vmsplan_error *err);

#ifdef __cplusplus
}
#endif
#endif
