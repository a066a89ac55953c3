/* bench_plan.c - planner quality and time on synthetic sharing summaries
 * shaped like a real rack: a kernel-like class in every VM; image families
 * of 3-5 VMs, each sharing a large class; overlapping groups of 2-6 VMs
 * sharing page cache (mostly inside a family, some across); per VM,
 * self-identical pages and unique pages. Targets have exactly the slots the
 * VMs need (--slack adds spare slots to each). Each strategy runs in a child
 * process so its peak memory is its own.
 *
 *   vms-bench-plan [--sizes VxT,...] [--slack N] [--time-limit SEC]
 *                  [--random N] [--seeds N] [--strategies LIST]
 *
 * Default sizes 16x4,16x8,32x8,64x16,1024x64. "best known" is the cheapest
 * placement any run found: every strategy, plus the default strategy with
 * seeds 2..N+1 (--seeds, default 4); a proven optimum is best by definition.
 * Columns: network traffic, its excess over the best known, over the
 * random average, the strategy's own time, its peak memory, and for optimal
 * the gap between its placement and its proven lower bound.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "planner/plan.h"

#define PAGES_PER_VM 262144u   /* 1 GiB */
#define MAX_SIZES 16
#define MAX_STRATEGIES 16

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void add_class(vmsplan_problem *p, const unsigned *h, unsigned n, uint64_t contents,
		      uint64_t pages)
{
	vmsplan_error e = { 0 };
	if (vmsplan_add_class(p, h, n, contents, pages, &e) < 0) {
		fprintf(stderr, "vms-bench-plan: %s\n", e.msg);
		exit(1);
	}
}

static vmsplan_problem *make_problem(unsigned nvms, unsigned ntargets, unsigned slack, uint64_t seed)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	uint64_t s = seed;
	unsigned *h = malloc(nvms * sizeof(*h)), *fam_of = malloc(nvms * sizeof(*fam_of));
	unsigned *fam_first = malloc((nvms + 1) * sizeof(*fam_first)), nfam = 0;
	char name[32];
	if (!h || !fam_of || !fam_first || vmsplan_problem_new(&p, &e) < 0)
		abort();
	for (unsigned v = 0; v < nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		vmsplan_add_vm(p, name, PAGES_PER_VM, PAGES_PER_VM * 3 / 10, &e);
	}
	unsigned slots = (nvms + ntargets - 1) / ntargets + slack;
	for (unsigned t = 0; t < ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		vmsplan_add_target(p, name, slots, 0, &e);
	}
	/* families of 3-5 consecutive VMs (VM order says nothing to a strategy:
	 * the holders are what counts) */
	for (unsigned v = 0; v < nvms;) {
		unsigned n = 3 + (unsigned)(rnd(&s) % 3);
		if (v + n > nvms)
			n = nvms - v;
		fam_first[nfam] = v;
		for (unsigned i = 0; i < n; i++)
			fam_of[v + i] = nfam;
		nfam++;
		v += n;
	}
	fam_first[nfam] = nvms;
	/* kernel-like: everyone */
	for (unsigned v = 0; v < nvms; v++)
		h[v] = v;
	add_class(p, h, nvms, 8000, 8000ull * nvms);
	/* per family: the image's libraries and base page cache */
	for (unsigned f = 0; f < nfam; f++) {
		unsigned n = fam_first[f + 1] - fam_first[f];
		for (unsigned i = 0; i < n; i++)
			h[i] = fam_first[f] + i;
		if (n >= 2)
			add_class(p, h, n, 4000 + rnd(&s) % 8000, 12000ull * n);
		else
			add_class(p, h, 1, 20000, 20000);
	}
	/* page cache shared by overlapping groups of 2-6 VMs: half inside a
	 * family (up to its size), half across the rack */
	for (unsigned k = 0; k < nvms * 3; k++) {
		unsigned want = 2 + (unsigned)(rnd(&s) % 5), n = 0;
		int inside = rnd(&s) % 2;
		unsigned f = fam_of[rnd(&s) % nvms];
		for (unsigned tries = 0; tries < 64 && n < want; tries++) {
			unsigned v = inside ? fam_first[f] + (unsigned)(rnd(&s) % (fam_first[f + 1] - fam_first[f]))
					    : (unsigned)(rnd(&s) % nvms), dup = 0;
			for (unsigned i = 0; i < n; i++)
				dup |= h[i] == v;
			if (!dup)
				h[n++] = v;
		}
		if (n >= 2)
			add_class(p, h, n, 300 + rnd(&s) % 3700, 4000ull * n);
	}
	/* per VM: self-identical pages (one content, many pages) and unique ones */
	for (unsigned v = 0; v < nvms; v++) {
		h[0] = v;
		add_class(p, h, 1, 500 + rnd(&s) % 1500, 20000);
		add_class(p, h, 1, 20000 + rnd(&s) % 20000, 40000);
	}
	free(h);
	free(fam_of);
	free(fam_first);
	return p;
}

struct result {
	int ok;
	uint64_t network;
	double seconds, gap;
	int optimal;
	char msg[sizeof(((vmsplan_error *)0)->msg)];
};

static struct result run_child(vmsplan_problem *p, enum vmsplan_strategy s, uint64_t seed,
			       double limit, long *maxrss_kib)
{
	struct result res = { 0 };
	int fds[2];
	if (pipe(fds) < 0)
		abort();
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0)
		abort();
	if (pid == 0) {
		close(fds[0]);
		struct vmsplan_options o;
		vmsplan_plan *plan = NULL;
		vmsplan_error e = { 0 };
		vmsplan_options_init(&o);
		o.strategy = s;
		o.seed = seed;
		o.time_limit = limit;
		if (vmsplan_solve(p, &o, &plan, &e) == 0) {
			struct vmsplan_traffic t;
			vmsplan_plan_traffic(plan, &t);
			res.ok = 1;
			res.network = t.network_bytes;
			res.seconds = vmsplan_plan_seconds(plan);
			res.optimal = vmsplan_plan_optimal(plan, &res.gap);
		} else {
			snprintf(res.msg, sizeof(res.msg), "%s", e.msg);
		}
		if (write(fds[1], &res, sizeof(res)) != (ssize_t)sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(fds[1]);
	if (read(fds[0], &res, sizeof(res)) != (ssize_t)sizeof(res))
		res.ok = 0;
	close(fds[0]);
	struct rusage ru;
	int st;
	wait4(pid, &st, 0, &ru);
	*maxrss_kib = ru.ru_maxrss;
	return res;
}

static void usage(void)
{
	fprintf(stderr, "usage: vms-bench-plan [--sizes VxT,...] [--slack N] [--time-limit SEC] "
		"[--random N] [--seeds N] [--strategies LIST]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	unsigned vms[MAX_SIZES] = { 16, 16, 32, 64, 1024 }, tgs[MAX_SIZES] = { 4, 8, 8, 16, 64 };
	int nsizes = 5, nrand = 100, nseeds = 4, ch;
	unsigned slack = 0;
	double limit = 30;
	const char *names = "oblivious,greedy,local,anneal,optimal";
	static const struct option opts[] = {
		{ "sizes", required_argument, NULL, 'z' }, { "slack", required_argument, NULL, 'k' },
		{ "time-limit", required_argument, NULL, 'l' }, { "random", required_argument, NULL, 'r' },
		{ "seeds", required_argument, NULL, 's' }, { "strategies", required_argument, NULL, 'S' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'z': {
			char *copy = strdup(optarg), *save = NULL;
			nsizes = 0;
			for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
				if (nsizes == MAX_SIZES || sscanf(tok, "%ux%u", &vms[nsizes], &tgs[nsizes]) != 2 ||
				    vms[nsizes] == 0 || vms[nsizes] > VMSPLAN_MAX_VMS || tgs[nsizes] == 0 ||
				    tgs[nsizes] > VMSPLAN_MAX_TARGETS)
					usage();
				nsizes++;
			}
			free(copy);
			break;
		}
		case 'k': slack = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'l': limit = strtod(optarg, NULL); break;
		case 'r': nrand = atoi(optarg); break;
		case 's': nseeds = atoi(optarg); break;
		case 'S': names = optarg; break;
		default: usage();
		}
	}
	if (!(limit > 0) || nrand < 1 || nseeds < 0)
		usage();
	/* the strategies this library knows, in the order given */
	enum vmsplan_strategy strat[MAX_STRATEGIES];
	int ns = 0;
	char *copy = strdup(names), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && ns < MAX_STRATEGIES; tok = strtok_r(NULL, ",", &save))
		if (vmsplan_strategy_parse(tok, &strat[ns]) == 0)
			ns++;
		else
			fprintf(stderr, "vms-bench-plan: this library has no strategy '%s', skipped\n", tok);
	free(copy);
	struct vmsplan_options def;
	vmsplan_options_init(&def);
	printf("default strategy: %s; time limit %.0f s; slack %u slot(s) per target; best known over "
	       "every row and the default with %d more seeds\n", vmsplan_strategy_name(def.strategy), limit,
	       slack, nseeds);
	printf("%5s %4s %6s  %-10s %12s %9s %10s %9s %9s %9s\n", "VMs", "tgts", "classes", "strategy",
	       "network GiB", "vs best", "vs random", "seconds", "peak MiB", "gap");
	for (int i = 0; i < nsizes; i++) {
		if (tgs[i] > vms[i])
			continue;
		vmsplan_problem *p = make_problem(vms[i], tgs[i], slack, 42 + vms[i] * 100 + tgs[i]);
		struct vmsplan_random_stats rs;
		if (vmsplan_random_stats(p, (unsigned)nrand, 1, &rs, NULL) < 0)
			abort();
		struct result res[MAX_STRATEGIES];
		long rss[MAX_STRATEGIES];
		uint64_t best = UINT64_MAX, seeds_best = UINT64_MAX;
		for (int k = 0; k < ns; k++) {
			res[k] = run_child(p, strat[k], 1, limit, &rss[k]);
			if (res[k].ok && res[k].network < best)
				best = res[k].network;
		}
		for (int k = 0; k < nseeds; k++) {
			long r;
			struct result sr = run_child(p, def.strategy, 2 + (uint64_t)k, limit, &r);
			if (sr.ok && sr.network < seeds_best)
				seeds_best = sr.network;
		}
		if (seeds_best < best)
			best = seeds_best;
		for (int k = 0; k < ns; k++) {
			char name[32];
			snprintf(name, sizeof(name), "%s%s", vmsplan_strategy_name(strat[k]),
				 strat[k] == VMSPLAN_OPTIMAL && res[k].ok && !res[k].optimal ? "*" : "");
			if (!res[k].ok) {
				printf("%5u %4u %6zu  %-10s %s\n", vms[i], tgs[i], vmsplan_classes(p), name, res[k].msg);
				continue;
			}
			char gap[32] = "";
			if (strat[k] == VMSPLAN_OPTIMAL)
				snprintf(gap, sizeof(gap), res[k].gap < 0 ? "unknown" : "%.2f%%", res[k].gap * 100);
			printf("%5u %4u %6zu  %-10s %12.3f %8.2f%% %9.2f%% %9.3f %9.1f %9s\n", vms[i], tgs[i],
			       vmsplan_classes(p), name, res[k].network / 1073741824.0,
			       100.0 * ((double)res[k].network / (double)best - 1.0),
			       100.0 * ((double)res[k].network / rs.avg_network - 1.0), res[k].seconds,
			       rss[k] / 1024.0, gap);
		}
		if (nseeds > 0 && seeds_best != UINT64_MAX)
			printf("%5u %4u %6zu  %-10s %12.3f %8.2f%%  (best of the default with seeds 2..%d)\n",
			       vms[i], tgs[i], vmsplan_classes(p), "seeds", seeds_best / 1073741824.0,
			       100.0 * ((double)seeds_best / (double)best - 1.0), nseeds + 1);
		printf("%5u %4u %6zu  %-10s %12.3f  (min %.3f, max %.3f over %d samples)\n", vms[i], tgs[i],
		       vmsplan_classes(p), "random", rs.avg_network / 1073741824.0,
		       rs.min_network / 1073741824.0, rs.max_network / 1073741824.0, nrand);
		fflush(stdout);
		vmsplan_problem_free(p);
	}
	printf("vs best: above the best placement known; optimal* = not proven optimal, gap = its "
	       "distance to its proven lower bound\n");
	return 0;
}
