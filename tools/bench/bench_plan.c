/* bench_plan.c - planner time, memory and quality on synthetic sharing
 * summaries shaped like a real rack: VMs come from a few images (families);
 * all VMs share a kernel-like class, each family a larger class, random small
 * groups of a family share page cache, and every VM has unique contents.
 * Each strategy runs in a child process so its peak memory is its own.
 *
 *   vms-bench-plan [--vms LIST] [--targets LIST] [--time-limit SEC] [--random N]
 * LIST is comma-separated, e.g. --vms 64,256,1024 --targets 8,16,64.
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

#define FAMILIES 8u
#define PAGES_PER_VM 262144u   /* 1 GiB */

static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static vmsplan_problem *make_problem(unsigned nvms, unsigned ntargets, uint64_t seed)
{
	vmsplan_problem *p = NULL;
	vmsplan_error e = { 0 };
	uint64_t s = seed;
	unsigned *h = malloc(nvms * sizeof(*h)), fam_of[4096];
	char name[32];
	if (!h || vmsplan_problem_new(&p, &e) < 0)
		abort();
	for (unsigned v = 0; v < nvms; v++) {
		snprintf(name, sizeof(name), "vm%u", v);
		fam_of[v] = (unsigned)(rnd(&s) % FAMILIES);
		vmsplan_add_vm(p, name, PAGES_PER_VM, PAGES_PER_VM * 3 / 10, &e);
	}
	unsigned slots = (nvms + ntargets - 1) / ntargets + 1;
	for (unsigned t = 0; t < ntargets; t++) {
		snprintf(name, sizeof(name), "t%u", t);
		vmsplan_add_target(p, name, slots, 0, &e);
	}
	/* kernel-like: everyone */
	for (unsigned v = 0; v < nvms; v++)
		h[v] = v;
	vmsplan_add_class(p, h, nvms, 8000, 8000ull * nvms, &e);
	/* per family: libraries, base page cache */
	for (unsigned f = 0; f < FAMILIES; f++) {
		unsigned n = 0;
		for (unsigned v = 0; v < nvms; v++)
			if (fam_of[v] == f)
				h[n++] = v;
		if (n)
			vmsplan_add_class(p, h, n, 30000, 30000ull * n, &e);
	}
	/* page cache shared by small random groups inside a family */
	for (unsigned k = 0; k < nvms * 4; k++) {
		unsigned f = (unsigned)(rnd(&s) % FAMILIES), want = 2 + (unsigned)(rnd(&s) % 4), n = 0;
		for (unsigned tries = 0; tries < 64 && n < want; tries++) {
			unsigned v = (unsigned)(rnd(&s) % nvms), dup = 0;
			for (unsigned i = 0; i < n; i++)
				dup |= h[i] == v;
			if (fam_of[v] == f && !dup)
				h[n++] = v;
		}
		if (n >= 2)
			vmsplan_add_class(p, h, n, 500 + rnd(&s) % 3000, 0 + 3500ull * n, &e);
	}
	/* unique contents */
	for (unsigned v = 0; v < nvms; v++) {
		h[0] = v;
		vmsplan_add_class(p, h, 1, 60000, 60000, &e);
	}
	free(h);
	return p;
}

struct result {
	int ok;
	uint64_t network;
	double seconds, gap;
	int optimal;
	char msg[sizeof(((vmsplan_error *)0)->msg)];
};

static struct result run_child(vmsplan_problem *p, enum vmsplan_strategy s, double limit,
			       long *maxrss_kib)
{
	struct result res = { 0 };
	int fds[2];
	if (pipe(fds) < 0)
		abort();
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[0]);
		struct vmsplan_options o;
		vmsplan_plan *plan = NULL;
		vmsplan_error e = { 0 };
		vmsplan_options_init(&o);
		o.strategy = s;
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

static int parse_list(const char *s, unsigned *out, int max)
{
	int n = 0;
	char *copy = strdup(s), *save = NULL;
	for (char *tok = strtok_r(copy, ",", &save); tok && n < max; tok = strtok_r(NULL, ",", &save))
		out[n++] = (unsigned)strtoul(tok, NULL, 10);
	free(copy);
	return n;
}

int main(int argc, char **argv)
{
	unsigned vms[8] = { 64, 256, 1024 }, tgs[8] = { 8, 16, 64 };
	int nv = 3, nt = 3, nrand = 100, ch;
	double limit = 20;
	static const struct option opts[] = {
		{ "vms", required_argument, NULL, 'v' }, { "targets", required_argument, NULL, 't' },
		{ "time-limit", required_argument, NULL, 'l' }, { "random", required_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 },
	};
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'v': nv = parse_list(optarg, vms, 8); break;
		case 't': nt = parse_list(optarg, tgs, 8); break;
		case 'l': limit = strtod(optarg, NULL); break;
		case 'r': nrand = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: vms-bench-plan [--vms LIST] [--targets LIST] [--time-limit SEC] [--random N]\n");
			return 2;
		}
	}
	printf("%5s %4s %7s  %-9s %12s %9s %10s %9s %9s %8s\n", "VMs", "tgts", "classes", "strategy",
	       "network GiB", "vs best", "vs random", "seconds", "peak MiB", "gap");
	for (int i = 0; i < nv; i++)
		for (int j = 0; j < nt; j++) {
			if (tgs[j] > vms[i])
				continue;
			vmsplan_problem *p = make_problem(vms[i], tgs[j], 42 + vms[i] * 100 + tgs[j]);
			struct vmsplan_random_stats rs;
			if (vmsplan_random_stats(p, (unsigned)nrand, 1, &rs, NULL) < 0)
				abort();
			static const enum vmsplan_strategy order[] = { VMSPLAN_OBLIVIOUS, VMSPLAN_GREEDY,
								       VMSPLAN_LOCAL, VMSPLAN_OPTIMAL };
			struct result res[4];
			long rss[4];
			uint64_t best = UINT64_MAX;
			for (int k = 0; k < 4; k++) {
				res[k] = run_child(p, order[k], limit, &rss[k]);
				if (res[k].ok && res[k].network < best)
					best = res[k].network;
			}
			for (int k = 0; k < 4; k++) {
				char name[32];
				snprintf(name, sizeof(name), "%s%s", vmsplan_strategy_name(order[k]),
					 order[k] == VMSPLAN_OPTIMAL && res[k].ok && !res[k].optimal ? "*" : "");
				if (!res[k].ok) {
					printf("%5u %4u %7zu  %-9s %s\n", vms[i], tgs[j], vmsplan_classes(p), name,
					       res[k].msg);
					continue;
				}
				char gap[32] = "";
				if (order[k] == VMSPLAN_OPTIMAL)
					snprintf(gap, sizeof(gap), res[k].gap < 0 ? "unknown" : "%.2f%%",
						 res[k].gap * 100);
				printf("%5u %4u %7zu  %-9s %12.2f %8.2f%% %9.2f%% %9.2f %9.1f %8s\n", vms[i], tgs[j],
				       vmsplan_classes(p), name, res[k].network / 1073741824.0,
				       100.0 * ((double)res[k].network / (double)best - 1.0),
				       100.0 * ((double)res[k].network / rs.avg_network - 1.0), res[k].seconds,
				       rss[k] / 1024.0, gap);
			}
			printf("%5u %4u %7zu  %-9s %12.2f  (min %.2f, max %.2f over %d samples)\n", vms[i], tgs[j],
			       vmsplan_classes(p), "random", rs.avg_network / 1073741824.0,
			       rs.min_network / 1073741824.0, rs.max_network / 1073741824.0, nrand);
			fflush(stdout);
			vmsplan_problem_free(p);
		}
	printf("vs best: above the best placement any strategy found (optimal when proven; * = stopped at the time limit)\n");
	return 0;
}
