/* cli_plan.c - `vmscatter plan` and `vmscatter compare`: the planner
 * (libvmsplan) on a rack indexed from its sources or on a saved summary. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_int.h"
#include "planner/plan.h"

#define SUMMARY_FILE_MAX (1u << 30)
#define TIME_LIMIT_MAX 86400.0

static const char plan_usage[] =
	"Usage: vmscatter plan [--json] --target NAME:SLOTS[:MEMORY] ...\n"
	"                      [--strategy anneal|greedy|local|random|oblivious|optimal]\n"
	"                      [--seed N] [--pin VM=TARGET] ... [--time-limit SEC]\n"
	"                      (SRC... | --sharing FILE)\n"
	"\n"
	"Place every VM on a target so that shared memory lands together, and\n"
	"predict the traffic, the multicast groups and their order.\n"
	"\n"
	"  --target NAME:SLOTS[:MEMORY]  a target host with SLOTS VM slots and\n"
	"                     optionally MEMORY bytes for guests (suffixes K M G T)\n"
	"  --strategy S       default anneal (see man vmscatter)\n"
	"  --seed N           for random and anneal (default 1)\n"
	"  --pin VM=TARGET    keep VM on TARGET\n"
	"  --time-limit SEC   for local, anneal and optimal (default 10)\n"
	"  --sharing FILE     a saved `vmscatter analyze --json` output (or its summary)\n"
	"  --json             print one JSON object\n"
	"  --threads N, --quiet   as for analyze, when SRC are given\n";

static const char compare_usage[] =
	"Usage: vmscatter compare [--random N] [--seed S] [--plot FILE.png|FILE.svg]\n"
	"                         [--json] [--time-limit SEC] --target NAME:SLOTS[:MEMORY] ...\n"
	"                         [--pin VM=TARGET] ... (SRC... | --sharing FILE)\n"
	"\n"
	"Run every strategy on the same rack and print one table: network traffic\n"
	"(what the targets receive) and transferred data (what the source sends),\n"
	"random as min / average / max over N samples (default 20), and a plot.\n";

struct plan_args {
	int json, quiet, random_n;
	unsigned threads;
	struct vmsplan_options opts;
	const char *sharing, *plot;
	char **targets, **pins;
	int ntargets, npins;
	char **srcs;
	int nsrcs;
};

/* ---- building the problem ---------------------------------------------------- */

static int read_file(const char *path, char **out, size_t *len, vms_err *err)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return vms_err_set(err, -errno, "%s: %s", path, strerror(errno));
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);
	int r = 0;
	while (buf) {
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (n < cap)
			break;
		if (cap >= SUMMARY_FILE_MAX) {
			r = vms_err_set(err, -EFBIG, "%s: larger than %u bytes", path, SUMMARY_FILE_MAX);
			break;
		}
		char *nb = realloc(buf, cap * 2);
		if (!nb)
			break;
		buf = nb;
		cap *= 2;
	}
	if (r == 0 && (!buf || ferror(f)))
		r = vms_err_set(err, buf ? -EIO : -ENOMEM, "%s: cannot read", path);
	fclose(f);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* NAME:SLOTS[:MEMORY] */
static int add_target(vmsplan_problem *p, const char *spec, vms_err *err)
{
	char name[VMSPLAN_NAME_MAX];
	const char *c1 = strchr(spec, ':');
	uint64_t slots, mem = 0;
	vmsplan_error perr = { 0 };
	if (!c1 || vms_strlcpy_n(name, sizeof(name), spec, (size_t)(c1 - spec)) < 0)
		return vms_err_set(err, -EINVAL, "--target %s: expected NAME:SLOTS[:MEMORY]", spec);
	const char *c2 = strchr(c1 + 1, ':');
	size_t slen = c2 ? (size_t)(c2 - c1 - 1) : strlen(c1 + 1);
	if (vms_parse_u64(c1 + 1, slen, 10, &slots) < 0 || slots == 0 || slots > 1000000)
		return vms_err_set(err, -EINVAL, "--target %s: SLOTS must be a whole number 1..1000000", spec);
	if (c2 && (vms_parse_size(c2 + 1, &mem) < 0 || mem == 0))
		return vms_err_set(err, -EINVAL, "--target %s: MEMORY must be a size such as 8G", spec);
	int r = vmsplan_add_target(p, name, (unsigned)slots, mem, &perr);
	return r < 0 ? vms_err_set(err, r, "--target %s: %s", spec, perr.msg) : 0;
}

static int build_problem(const struct plan_args *a, vmsplan_problem **out, vms_err *err)
{
	vmsplan_problem *p = NULL;
	vmsplan_error perr = { 0 };
	struct cli_rack rack = { 0 };
	char *text = NULL;
	size_t len = 0;
	int r = vmsplan_problem_new(&p, &perr);
	if (r < 0)
		return vms_err_set(err, r, "%s", perr.msg);
	if (a->sharing) {
		r = read_file(a->sharing, &text, &len, err);
		if (r == 0) {
			r = vmsplan_load_summary(p, text, len, &perr);
			if (r < 0)
				vms_err_set(err, r, "%s: %s", a->sharing, perr.msg);
		}
	} else {
		r = cli_rack_load(&rack, a->srcs, (unsigned)a->nsrcs, a->threads, a->quiet, 0, err);
		if (r == 0)
			r = cli_add_rack(p, &rack, err);
	}
	for (int i = 0; i < a->ntargets && r == 0; i++)
		r = add_target(p, a->targets[i], err);
	for (int i = 0; i < a->npins && r == 0; i++) {
		char vm[VMSPLAN_NAME_MAX];
		const char *eq = strchr(a->pins[i], '=');
		if (!eq || vms_strlcpy_n(vm, sizeof(vm), a->pins[i], (size_t)(eq - a->pins[i])) < 0) {
			r = vms_err_set(err, -EINVAL, "--pin %s: expected VM=TARGET", a->pins[i]);
			break;
		}
		r = vmsplan_pin(p, vm, eq + 1, &perr);
		if (r < 0)
			vms_err_set(err, r, "%s", perr.msg);
	}
	free(text);
	cli_rack_free(&rack);
	if (r < 0) {
		vmsplan_problem_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* What stock migration sends for these VMs, one by one: every non-zero page
 * with its 8-byte record header, every zero page as a 9-byte record. */
static uint64_t stock_bytes(const vmsplan_problem *p)
{
	uint64_t b = 0;
	for (unsigned v = 0; v < vmsplan_vms(p); v++) {
		uint64_t zero = vmsplan_vm_zero_pages(p, v);
		b += (vmsplan_vm_pages(p, v) - zero) * (VMSPLAN_PAGE_SIZE + 8) + zero * 9;
	}
	return b;
}

/* ---- output ---------------------------------------------------------------------- */

static json_t *targets_json(const vmsplan_problem *p, uint64_t set)
{
	json_t *a = json_array();
	for (unsigned t = 0; t < vmsplan_targets(p); t++)
		if (set >> t & 1)
			json_array_append_new(a, json_string(vmsplan_target_name(p, t)));
	return a;
}

static void targets_text(const vmsplan_problem *p, uint64_t set, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (unsigned t = 0; t < vmsplan_targets(p) && n < len; t++)
		if (set >> t & 1) {
			int w = snprintf(buf + n, len - n, "%s%s", n ? "," : "", vmsplan_target_name(p, t));
			if (w < 0)
				break;
			n += (size_t)w;
		}
}

static double mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static json_t *traffic_json(const struct vmsplan_traffic *t, uint64_t stock)
{
	return json_pack("{s:I, s:I, s:I, s:I, s:I, s:I}",
		"network_bytes", (json_int_t)t->network_bytes,
		"transferred_bytes", (json_int_t)t->transferred_bytes,
		"multicast_bytes", (json_int_t)t->multicast_bytes,
		"unicast_bytes", (json_int_t)t->unicast_bytes,
		"reference_bytes", (json_int_t)t->reference_bytes,
		"stock_migration_bytes", (json_int_t)stock);
}

static int print_plan_json(const vmsplan_problem *p, const vmsplan_plan *plan,
			   const struct plan_args *a)
{
	struct vmsplan_traffic t;
	double gap;
	vmsplan_plan_traffic(plan, &t);
	int optimal = vmsplan_plan_optimal(plan, &gap);
	json_t *assign = json_object(), *groups = json_array(), *targets = json_array();
	for (unsigned v = 0; v < vmsplan_vms(p); v++)
		json_object_set_new(assign, vmsplan_vm_name(p, v),
				    json_string(vmsplan_target_name(p, vmsplan_plan_target(plan, v))));
	for (unsigned tg = 0; tg < vmsplan_targets(p); tg++) {
		json_t *vms = json_array();
		for (unsigned v = 0; v < vmsplan_vms(p); v++)
			if (vmsplan_plan_target(plan, v) == tg)
				json_array_append_new(vms, json_string(vmsplan_vm_name(p, v)));
		json_array_append_new(targets, json_pack("{s:s, s:o}", "name", vmsplan_target_name(p, tg),
							 "vms", vms));
	}
	for (size_t g = 0; g < vmsplan_plan_groups(plan); g++)
		json_array_append_new(groups, json_pack("{s:o, s:I}",
			"targets", targets_json(p, vmsplan_plan_group_targets(plan, g)),
			"contents", (json_int_t)vmsplan_plan_group_contents(plan, g)));
	json_t *root = json_pack("{s:s, s:f, s:o, s:o, s:o, s:o, s:{s:I, s:I, s:b}}",
		"strategy", vmsplan_strategy_name(a->opts.strategy),
		"seconds", vmsplan_plan_seconds(plan),
		"assignment", assign, "targets", targets,
		"traffic", traffic_json(&t, stock_bytes(p)), "groups", groups,
		"group_order", "switches", (json_int_t)vmsplan_plan_switches(plan),
		"naive_switches", (json_int_t)vmsplan_plan_naive_switches(plan),
		"exact", vmsplan_plan_order_exact(plan));
	if (a->opts.strategy == VMSPLAN_OPTIMAL) {
		json_object_set_new(root, "optimal", json_boolean(optimal));
		json_object_set_new(root, "gap", json_real(gap));
		json_object_set_new(root, "lower_bound_network_bytes",
				    json_integer((json_int_t)vmsplan_plan_lower_bound(plan)));
	}
	if (a->opts.strategy == VMSPLAN_RANDOM || a->opts.strategy == VMSPLAN_ANNEAL)
		json_object_set_new(root, "seed", json_integer((json_int_t)a->opts.seed));
	int r = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return r == 0 && fputc('\n', stdout) != EOF ? 0 : -EIO;
}

static void print_plan_text(const vmsplan_problem *p, const vmsplan_plan *plan,
			    const struct plan_args *a)
{
	struct vmsplan_traffic t;
	double gap;
	char set[1024];
	vmsplan_plan_traffic(plan, &t);
	int optimal = vmsplan_plan_optimal(plan, &gap);
	printf("strategy %s (%.3f s)", vmsplan_strategy_name(a->opts.strategy), vmsplan_plan_seconds(plan));
	if (a->opts.strategy == VMSPLAN_OPTIMAL)
	{
		if (optimal)
			printf(", proven optimal");
		else
			printf(", not proven optimal: no placement needs less than %.1f MiB of network "
			       "traffic (gap %.2f%%)", mib(vmsplan_plan_lower_bound(plan)), gap * 100);
	}
	printf("\n\n%-20s %s\n", "target", "VMs");
	for (unsigned tg = 0; tg < vmsplan_targets(p); tg++) {
		printf("%-20s", vmsplan_target_name(p, tg));
		for (unsigned v = 0; v < vmsplan_vms(p); v++)
			if (vmsplan_plan_target(plan, v) == tg)
				printf(" %s", vmsplan_vm_name(p, v));
		printf("\n");
	}
	uint64_t stock = stock_bytes(p);
	printf("\nnetwork traffic (all targets receive): %10.1f MiB\n", mib(t.network_bytes));
	printf("transferred data (the source sends):   %10.1f MiB  (multicast %.1f, unicast %.1f, page maps %.1f)\n",
	       mib(t.transferred_bytes), mib(t.multicast_bytes), mib(t.unicast_bytes), mib(t.reference_bytes));
	printf("stock migration, VM by VM:             %10.1f MiB  (vmscatter sends %.1f%% less, targets receive %.1f%% less)\n",
	       mib(stock), 100.0 * (1.0 - (double)t.transferred_bytes / (double)stock),
	       100.0 * (1.0 - (double)t.network_bytes / (double)stock));
	printf("\n%zu multicast groups in this order: %llu receiver joins/leaves (naive order: %llu)%s\n",
	       vmsplan_plan_groups(plan), (unsigned long long)vmsplan_plan_switches(plan),
	       (unsigned long long)vmsplan_plan_naive_switches(plan),
	       vmsplan_plan_order_exact(plan) ? ", order proven best" : "");
	for (size_t g = 0; g < vmsplan_plan_groups(plan); g++) {
		targets_text(p, vmsplan_plan_group_targets(plan, g), set, sizeof(set));
		printf("  %3zu. {%s}  %llu contents (%.1f MiB)\n", g + 1, set,
		       (unsigned long long)vmsplan_plan_group_contents(plan, g),
		       mib(vmsplan_plan_group_contents(plan, g) * VMSPLAN_PAGE_SIZE));
	}
}

/* ---- argument parsing shared by plan and compare ---------------------------------- */

static int push(char ***list, int *n, char *item)
{
	char **nl = realloc(*list, (size_t)(*n + 1) * sizeof(**list));
	if (!nl)
		return -ENOMEM;
	nl[(*n)++] = item;
	*list = nl;
	return 0;
}

/* Returns -1 to continue, else the exit status. */
static int parse_args(const char *cmd, int argc, char **argv, struct plan_args *a)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' }, { "quiet", no_argument, NULL, 'q' },
		{ "threads", required_argument, NULL, 'T' }, { "target", required_argument, NULL, 't' },
		{ "strategy", required_argument, NULL, 's' }, { "seed", required_argument, NULL, 'S' },
		{ "pin", required_argument, NULL, 'p' }, { "time-limit", required_argument, NULL, 'L' },
		{ "sharing", required_argument, NULL, 'f' }, { "random", required_argument, NULL, 'r' },
		{ "plot", required_argument, NULL, 'P' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int compare = strcmp(cmd, "compare") == 0, ch;
	uint64_t v;
	vms_err err = { 0 };
	vmsplan_options_init(&a->opts);
	a->threads = cli_default_threads();
	a->random_n = 20;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': a->json = 1; break;
		case 'q': a->quiet = 1; break;
		case 'T':
			if (cli_parse_threads(optarg, &a->threads, &err) < 0)
				return cli_usage_error(cmd, "%s", err.msg);
			break;
		case 't':
			if (push(&a->targets, &a->ntargets, optarg) < 0)
				return cli_usage_error(cmd, "out of memory");
			break;
		case 'p':
			if (push(&a->pins, &a->npins, optarg) < 0)
				return cli_usage_error(cmd, "out of memory");
			break;
		case 's':
			if (compare || vmsplan_strategy_parse(optarg, &a->opts.strategy) < 0)
				return cli_usage_error(cmd, compare ? "compare runs every strategy; --strategy is for plan"
							  : "unknown strategy '%s' (anneal, greedy, local, random, oblivious, optimal)",
						       optarg);
			break;
		case 'S':
			if (vms_parse_u64(optarg, strlen(optarg), 10, &a->opts.seed) < 0)
				return cli_usage_error(cmd, "--seed must be a whole number, not '%s'", optarg);
			break;
		case 'L': {
			char *end;
			double d = strtod(optarg, &end);
			if (*optarg == '\0' || *end != '\0' || !(d > 0) || d > TIME_LIMIT_MAX)
				return cli_usage_error(cmd, "--time-limit must be seconds in (0, %.0f], not '%s'",
						       TIME_LIMIT_MAX, optarg);
			a->opts.time_limit = d;
			break;
		}
		case 'f': a->sharing = optarg; break;
		case 'r':
			if (!compare || vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v < 1 || v > 100000)
				return cli_usage_error(cmd, compare ? "--random must be 1..100000, not '%s'"
							  : "--random is for compare", optarg);
			a->random_n = (int)v;
			break;
		case 'P':
			if (!compare)
				return cli_usage_error(cmd, "--plot is for compare");
			a->plot = optarg;
			break;
		case 'h':
			fputs(compare ? compare_usage : plan_usage, stdout);
			return 0;
		default:
			return cli_usage_error(cmd, "unknown option");
		}
	}
	a->srcs = argv + optind;
	a->nsrcs = argc - optind;
	if (a->ntargets == 0)
		return cli_usage_error(cmd, "no --target given");
	if (a->sharing && a->nsrcs > 0)
		return cli_usage_error(cmd, "give either --sharing FILE or sources, not both");
	if (!a->sharing && a->nsrcs == 0)
		return cli_usage_error(cmd, "no memory source and no --sharing file given");
	if (a->plot) {
		const char *dot = strrchr(a->plot, '.');
		if (!dot || (strcmp(dot, ".png") != 0 && strcmp(dot, ".svg") != 0))
			return cli_usage_error(cmd, "--plot needs a .png or .svg file name");
		/* fail before the work, not after it */
		char dir[4096];
		const char *slash = strrchr(a->plot, '/');
		if (slash)
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - a->plot), a->plot);
		else
			snprintf(dir, sizeof(dir), ".");
		if (access(dir[0] ? dir : "/", W_OK) != 0) {
			fprintf(stderr, "vmscatter %s: --plot %s: cannot write to %s: %s\n", cmd, a->plot,
				dir[0] ? dir : "/", strerror(errno));
			return 1;
		}
	}
	return -1;
}

int cli_plan(int argc, char **argv)
{
	struct plan_args a = { 0 };
	vms_err err = { 0 };
	vmsplan_error perr = { 0 };
	vmsplan_problem *p = NULL;
	vmsplan_plan *plan = NULL;
	int status = parse_args("plan", argc, argv, &a);
	if (status >= 0)
		goto out;
	status = 1;
	if (build_problem(&a, &p, &err) < 0) {
		cli_fail("plan", &err);
		goto out;
	}
	if (vmsplan_solve(p, &a.opts, &plan, &perr) < 0) {
		vms_err_set(&err, perr.code, "%s", perr.msg);
		cli_fail("plan", &err);
		goto out;
	}
	if (a.json) {
		if (print_plan_json(p, plan, &a) < 0) {
			vms_err_set(&err, -EIO, "cannot write the output");
			cli_fail("plan", &err);
			goto out;
		}
	} else {
		print_plan_text(p, plan, &a);
	}
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	vmsplan_plan_free(plan);
	vmsplan_problem_free(p);
	free(a.targets);
	free(a.pins);
	return status;
}

/* ---- compare ----------------------------------------------------------------------- */

struct row {
	const char *name;
	int ok;
	char error[sizeof(((vmsplan_error *)0)->msg)];
	struct vmsplan_traffic t;
	size_t groups;
	uint64_t switches, naive;
	double seconds, gap;
	int optimal;
	uint64_t bound;
};

static int write_plot(const char *path, const struct row *rows, int nrows,
		      const struct vmsplan_random_stats *rnd, int have_rnd, uint64_t lower,
		      uint64_t stock, vms_err *err)
{
	char data[] = "/tmp/vmscatter-plot.XXXXXX";
	int fd = mkstemp(data);
	if (fd < 0)
		return vms_err_set(err, -errno, "plot: %s", strerror(errno));
	FILE *f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(data);
		return vms_err_set(err, -errno, "plot: %s", strerror(errno));
	}
	int i = 0;
	for (int k = 0; k < nrows; k++)
		if (rows[k].ok)
			fprintf(f, "%d \"%s\" %.3f %.3f %.3f\n", i++, rows[k].name, mib(rows[k].t.network_bytes),
				mib(rows[k].t.network_bytes), mib(rows[k].t.network_bytes));
	if (have_rnd)
		fprintf(f, "%d \"random (%u)\" %.3f %.3f %.3f\n", i++, rnd->samples,
			rnd->avg_network / (1024.0 * 1024.0), mib(rnd->min_network), mib(rnd->max_network));
	fclose(f);

	char tmp_out[4200];
	snprintf(tmp_out, sizeof(tmp_out), "%s.tmp.%d", path, (int)getpid());
	int svg = strcmp(strrchr(path, '.'), ".svg") == 0;
	FILE *g = popen("gnuplot >/dev/null 2>&1", "w");
	if (!g) {
		unlink(data);
		return vms_err_set(err, -errno, "plot: cannot run gnuplot: %s", strerror(errno));
	}
	fprintf(g, "set terminal %s size 900,540 font 'sans,11'\n", svg ? "svg" : "pngcairo");
	fprintf(g, "set output '%s'\n", tmp_out);
	fprintf(g, "set title 'Network traffic by placement strategy'\n");
	fprintf(g, "set ylabel 'MiB received by all targets'\nset yrange [0:*]\n");
	fprintf(g, "set style fill solid 0.6 border -1\nset boxwidth 0.6\nset grid ytics\n");
	fprintf(g, "set key top right\nset xtics nomirror\nset xrange [-0.7:%d.7]\n", i - 1);
	fprintf(g, "plot '%s' using 1:3:xtic(2) with boxes lc rgb '#4477aa' title 'network traffic', "
		   "'' using 1:3:4:5 with yerrorbars lc rgb 'black' pt 0 title 'random min..max', "
		   "%.3f with lines dt 2 lc rgb '#228833' title 'lower bound (all shared content once)', "
		   "%.3f with lines dt 3 lc rgb '#cc3311' title 'stock migration, VM by VM'\n",
		data, mib(lower), mib(stock));
	fprintf(g, "set output\n");
	int rc = pclose(g);
	unlink(data);
	if (rc != 0 || access(tmp_out, F_OK) != 0) {
		unlink(tmp_out);
		return vms_err_set(err, -EIO, "plot: gnuplot failed (is gnuplot installed? tools/install-deps.sh)");
	}
	if (rename(tmp_out, path) < 0) {
		int e = errno;
		unlink(tmp_out);
		return vms_err_set(err, -e, "plot: %s: %s", path, strerror(e));
	}
	return 0;
}

int cli_compare(int argc, char **argv)
{
	static const enum vmsplan_strategy order[] = { VMSPLAN_OBLIVIOUS, VMSPLAN_GREEDY, VMSPLAN_LOCAL,
						       VMSPLAN_ANNEAL, VMSPLAN_OPTIMAL };
	struct plan_args a = { 0 };
	vms_err err = { 0 };
	vmsplan_error perr = { 0 };
	vmsplan_problem *p = NULL;
	struct row rows[5];
	struct vmsplan_random_stats rnd = { 0 };
	int status = parse_args("compare", argc, argv, &a), have_rnd = 0, nrows = 5, any = 0;
	if (status >= 0)
		goto out;
	status = 1;
	if (build_problem(&a, &p, &err) < 0) {
		cli_fail("compare", &err);
		goto out;
	}
	for (int k = 0; k < nrows; k++) {
		struct vmsplan_options o = a.opts;
		vmsplan_plan *plan = NULL;
		o.strategy = order[k];
		memset(&rows[k], 0, sizeof(rows[k]));
		rows[k].name = vmsplan_strategy_name(order[k]);
		if (vmsplan_solve(p, &o, &plan, &perr) < 0) {
			snprintf(rows[k].error, sizeof(rows[k].error), "%s", perr.msg);
			if (perr.code == -ENOSPC && order[k] != VMSPLAN_OPTIMAL)
				continue;
			if (perr.code != -ETIMEDOUT && perr.code != -E2BIG && perr.code != -ENOSPC) {
				vms_err_set(&err, perr.code, "%s: %s", rows[k].name, perr.msg);
				cli_fail("compare", &err);
				goto out;
			}
			continue;
		}
		rows[k].ok = any = 1;
		vmsplan_plan_traffic(plan, &rows[k].t);
		rows[k].groups = vmsplan_plan_groups(plan);
		rows[k].switches = vmsplan_plan_switches(plan);
		rows[k].naive = vmsplan_plan_naive_switches(plan);
		rows[k].seconds = vmsplan_plan_seconds(plan);
		rows[k].optimal = vmsplan_plan_optimal(plan, &rows[k].gap);
		rows[k].bound = vmsplan_plan_lower_bound(plan);
		vmsplan_plan_free(plan);
	}
	if (vmsplan_random_stats(p, (unsigned)a.random_n, a.opts.seed, &rnd, &perr) == 0)
		have_rnd = 1;
	if (!any && !have_rnd) {
		vms_err_set(&err, -ENOSPC, "no strategy found a placement: %s", rows[0].error);
		cli_fail("compare", &err);
		goto out;
	}
	uint64_t stock = stock_bytes(p), transferred = 0, lower;
	for (int k = 0; k < nrows; k++)
		if (rows[k].ok)
			transferred = rows[k].t.transferred_bytes;
	lower = transferred;   /* every content once: all on one target, if it fit */
	if (a.plot && write_plot(a.plot, rows, nrows, &rnd, have_rnd, lower, stock, &err) < 0) {
		cli_fail("compare", &err);
		goto out;
	}
	if (a.json) {
		json_t *root = json_object(), *arr = json_array();
		for (int k = 0; k < nrows; k++) {
			json_t *o = rows[k].ok
				? json_pack("{s:s, s:o, s:I, s:I, s:I, s:f}", "strategy", rows[k].name,
					    "traffic", traffic_json(&rows[k].t, stock), "groups", (json_int_t)rows[k].groups,
					    "switches", (json_int_t)rows[k].switches,
					    "naive_switches", (json_int_t)rows[k].naive, "seconds", rows[k].seconds)
				: json_pack("{s:s, s:s}", "strategy", rows[k].name, "error", rows[k].error);
			if (rows[k].ok && order[k] == VMSPLAN_OPTIMAL) {
				json_object_set_new(o, "optimal", json_boolean(rows[k].optimal));
				json_object_set_new(o, "gap", json_real(rows[k].gap));
				json_object_set_new(o, "lower_bound_network_bytes", json_integer((json_int_t)rows[k].bound));
			}
			json_array_append_new(arr, o);
		}
		json_object_set_new(root, "strategies", arr);
		if (have_rnd)
			json_object_set_new(root, "random", json_pack("{s:i, s:I, s:I, s:I, s:f}",
				"samples", (int)rnd.samples, "seed", (json_int_t)a.opts.seed,
				"min_network_bytes", (json_int_t)rnd.min_network,
				"max_network_bytes", (json_int_t)rnd.max_network,
				"avg_network_bytes", rnd.avg_network));
		json_object_set_new(root, "lower_bound_network_bytes", json_integer((json_int_t)lower));
		json_object_set_new(root, "stock_migration_bytes", json_integer((json_int_t)stock));
		json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
	} else {
		printf("%-22s %14s %14s %7s %14s %9s\n", "strategy", "network MiB", "transfer MiB", "groups",
		       "joins/leaves", "seconds");
		for (int k = 0; k < nrows; k++) {
			if (!rows[k].ok) {
				printf("%-22s %s\n", rows[k].name, rows[k].error);
				continue;
			}
			char name[64];
			if (order[k] == VMSPLAN_OPTIMAL && !rows[k].optimal)
				snprintf(name, sizeof(name), "%s (gap %.2f%%)", rows[k].name, rows[k].gap * 100);
			else
				snprintf(name, sizeof(name), "%s", rows[k].name);
			printf("%-22s %14.1f %14.1f %7zu %6llu (%5llu) %9.3f\n", name, mib(rows[k].t.network_bytes),
			       mib(rows[k].t.transferred_bytes), rows[k].groups,
			       (unsigned long long)rows[k].switches, (unsigned long long)rows[k].naive,
			       rows[k].seconds);
		}
		if (have_rnd)
			printf("%-22s %14s\n%-22s %14.1f\n%-22s %14.1f\n%-22s %14.1f\n",
			       "random", "", "  min", mib(rnd.min_network), "  average",
			       rnd.avg_network / (1024.0 * 1024.0), "  max", mib(rnd.max_network));
		printf("\nlower bound (each content once): %.1f MiB; stock migration VM by VM: %.1f MiB\n",
		       mib(lower), mib(stock));
		printf("joins/leaves: in the planned group order (naive order in parentheses)\n");
		if (a.plot)
			printf("plot written to %s\n", a.plot);
	}
	status = fflush(stdout) == 0 ? 0 : 1;
out:
	vmsplan_problem_free(p);
	free(a.targets);
	free(a.pins);
	return status;
}
