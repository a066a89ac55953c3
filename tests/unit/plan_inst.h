/* plan_inst.h - small random placement problems for the planner's tests
 * (test_plan.c, test_plan_exact.c): a generator drawing from a file's own
 * ranges, the library problem built from one, and an independent check of
 * a placement (feasibility, cost) and the best of all T^V placements.
 * Include after <cmocka.h> and "planner/plan.h"; static, one copy per test. */
#ifndef VMS_TEST_PLAN_INST_H
#define VMS_TEST_PLAN_INST_H

#define INST_MAXV 9
#define INST_MAXT 4
#define INST_MAXC 40

struct inst {
	unsigned nvms, ntargets, nclasses;
	unsigned slots[INST_MAXT];
	uint64_t mem[INST_MAXT];
	uint64_t pages[INST_MAXV];
	int pin[INST_MAXV];
	uint64_t holders[INST_MAXC];     /* bitmask of VMs */
	uint64_t contents[INST_MAXC];
	uint64_t reserve;                /* pages each VM adds on its target (vmsplan_add_vm) */
};

/* The ranges an instance is drawn from (each test file keeps its own). */
struct inst_shape {
	unsigned vms_min, vms_span;      /* nvms: vms_min .. vms_min + vms_span - 1 (<= INST_MAXV) */
	unsigned classes_min, classes_span;
	unsigned contents_max;           /* a class's contents: 1 .. contents_max */
	unsigned mem_pages_per_slot;     /* a target's memory, when it has a limit */
	uint64_t reserve;
};

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void make_inst(struct inst *in, const struct inst_shape *sh, uint64_t seed)
{
	uint64_t s = seed;
	memset(in, 0, sizeof(*in));
	in->reserve = sh->reserve;
	in->nvms = sh->vms_min + (unsigned)(rnd(&s) % sh->vms_span);
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
		in->mem[t] = with_mem ? (uint64_t)(in->slots[t] * sh->mem_pages_per_slot) * 4096 : 0;
	if (rnd(&s) % 2)
		in->pin[rnd(&s) % in->nvms] = (int)(rnd(&s) % in->ntargets);
	in->nclasses = sh->classes_min + (unsigned)(rnd(&s) % sh->classes_span);
	for (unsigned c = 0; c < in->nclasses; c++) {
		uint64_t h = 0;
		while (!h)
			h = rnd(&s) & ((1ull << in->nvms) - 1);
		in->holders[c] = h;
		in->contents[c] = 1 + rnd(&s) % sh->contents_max;
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
		assert_int_equal(vmsplan_add_vm(p, name, in->pages[v], in->reserve, &e), (int)v);
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
		unsigned vms[INST_MAXV], n = 0;
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
	unsigned used[INST_MAXT] = { 0 };
	uint64_t mem[INST_MAXT] = { 0 };
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
		unsigned seen[INST_MAXT] = { 0 };
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
	unsigned tg[INST_MAXV] = { 0 };
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

#endif
