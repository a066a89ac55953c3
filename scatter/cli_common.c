/* cli_common.c - what every vmscatter subcommand shares: sources given as
 * [NAME=]PATH, loading and indexing a rack, errors and units. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"

int cli_fail(const char *cmd, const vms_err *err)
{
	fprintf(stderr, "vmscatter %s: %s\n", cmd, err->msg[0] ? err->msg : "failed");
	return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "vmscatter %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vmscatter %s --help'.\n", cmd);
	return 2;
}

const char *cli_bytes(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double v = (double)bytes;
	unsigned u = 0;
	while (v >= 1024.0 && u < 5) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

unsigned cli_default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	if (n < 1)
		n = 1;
	if (n > (long)SC_MAX_THREADS)
		n = SC_MAX_THREADS;
	return (unsigned)n;
}

int cli_parse_threads(const char *s, unsigned *out, vms_err *err)
{
	uint64_t v;
	if (strcmp(s, "auto") == 0) {
		*out = cli_default_threads();
		return 0;
	}
	if (vms_parse_u64(s, strlen(s), 10, &v) < 0 || v < 1 || v > SC_MAX_THREADS)
		return vms_err_set(err, -EINVAL, "--threads must be 'auto' or 1..%u, not '%s'",
				   SC_MAX_THREADS, s);
	*out = (unsigned)v;
	return 0;
}

/* NAME=PATH when the part before '=' has no '/', else PATH; the default
 * name is PATH's basename without its last extension. */
static int parse_src(const char *arg, struct cli_src *src, vms_err *err)
{
	const char *eq = strchr(arg, '='), *slash = strchr(arg, '/');
	if (eq && (!slash || slash > eq)) {
		if (vms_strlcpy_n(src->name, sizeof(src->name), arg, (size_t)(eq - arg)) < 0)
			return vms_err_set(err, -EINVAL, "%s: name too long (max %u characters)", arg,
					   SC_NAME_MAX - 1);
		src->path = eq + 1;
	} else {
		src->path = arg;
		const char *base = strrchr(arg, '/');
		base = base ? base + 1 : arg;
		const char *dot = strrchr(base, '.');
		size_t n = dot && dot != base ? (size_t)(dot - base) : strlen(base);
		if (vms_strlcpy_n(src->name, sizeof(src->name), base, n) < 0)
			return vms_err_set(err, -EINVAL, "%s: name too long; give one as NAME=PATH", arg);
	}
	if (!src->path[0])
		return vms_err_set(err, -EINVAL, "%s: empty path", arg);
	return 0;
}

struct progress_ctx {
	const struct cli_rack *rack;
	int on;
};

static void progress(void *ctx, unsigned vm, uint64_t done, uint64_t total)
{
	const struct progress_ctx *p = ctx;
	if (!p->on)
		return;
	fprintf(stderr, "\rindexing %s (%u/%u): %3u%%", p->rack->srcs[vm].name, vm + 1,
		p->rack->n, (unsigned)(done * 100 / total));
	if (done == total && vm + 1 == p->rack->n)
		fprintf(stderr, "\r\033[K");
	fflush(stderr);
}

int cli_rack_load(struct cli_rack *rack, char **args, unsigned n, unsigned threads,
		  int quiet, int digests, vms_err *err)
{
	int r;
	memset(rack, 0, sizeof(*rack));
	if (n == 0)
		return vms_err_set(err, -EINVAL, "no memory sources given");
	if (n > SC_MAX_VMS)
		return vms_err_set(err, -E2BIG, "too many sources (max %u)", SC_MAX_VMS);
	rack->srcs = calloc(n, sizeof(*rack->srcs));
	if (!rack->srcs)
		return vms_err_set(err, -ENOMEM, "out of memory");
	rack->n = n;
	for (unsigned i = 0; i < n; i++) {
		r = parse_src(args[i], &rack->srcs[i], err);
		if (r < 0)
			goto out;
		for (unsigned j = 0; j < i; j++)
			if (strcmp(rack->srcs[j].name, rack->srcs[i].name) == 0) {
				r = vms_err_set(err, -EEXIST, "two sources are named '%s'; name them as NAME=PATH",
						rack->srcs[i].name);
				goto out;
			}
	}
	for (unsigned i = 0; i < n; i++) {
		r = kvm_mem_open(rack->srcs[i].path, &rack->srcs[i].mem, err);
		if (r < 0)
			goto out;
	}
	r = cli_rack_index(rack, threads, quiet, digests, err);
out:
	if (r < 0)
		cli_rack_free(rack);
	return r;
}

int cli_rack_index(struct cli_rack *rack, unsigned threads, int quiet, int digests, vms_err *err)
{
	int r = sc_index_new(rack->n, threads, &rack->ix, err);
	if (r < 0)
		return r;
	sc_index_set_digests(rack->ix, digests);
	struct progress_ctx pc = { rack, !quiet && isatty(2) };
	for (unsigned i = 0; i < rack->n && r == 0; i++)
		r = sc_index_add(rack->ix, rack->srcs[i].name, rack->srcs[i].mem, progress, &pc, err);
	return r;
}

void cli_rack_free(struct cli_rack *rack)
{
	for (unsigned i = 0; rack->srcs && i < rack->n; i++)
		kvm_mem_close(rack->srcs[i].mem);
	free(rack->srcs);
	sc_index_free(rack->ix);
	memset(rack, 0, sizeof(*rack));
}

int cli_add_rack(vmsplan_problem *p, const struct cli_rack *rack, vms_err *err)
{
	vmsplan_error perr = { 0 };
	struct sc_vm_stats *st = calloc(rack->n, sizeof(*st));
	struct sc_rack_stats rs;
	sc_summary *sum = NULL;
	unsigned *holders = malloc(rack->n * sizeof(*holders));
	int r = -ENOMEM;
	if (!st || !holders) {
		vms_err_set(err, r, "out of memory");
		goto out;
	}
	r = sc_index_stats(rack->ix, st, &rs, err);
	if (r == 0)
		r = sc_summary_build(rack->ix, &sum, err);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < rack->n && r >= 0; i++)
		r = vmsplan_add_vm(p, rack->srcs[i].name, st[i].pages, st[i].zero_pages, &perr);
	unsigned words = sc_index_holder_words(rack->ix);
	for (size_t c = 0; c < sc_summary_classes(sum) && r >= 0; c++) {
		const struct sc_class *k = sc_summary_class(sum, c);
		size_t n = 0;
		for (unsigned w = 0; w < words; w++)
			for (uint64_t bits = k->holders[w]; bits; bits &= bits - 1)
				holders[n++] = w * 64 + (unsigned)__builtin_ctzll(bits);
		r = vmsplan_add_class(p, holders, n, k->contents, k->pages, &perr);
	}
	if (r < 0 && perr.msg[0])
		vms_err_set(err, r, "%s", perr.msg);
	r = r < 0 ? r : 0;
out:
	sc_summary_free(sum);
	free(st);
	free(holders);
	return r;
}


int cli_mkdirs(const char *dir, vms_err *err)
{
	char path[4096];
	if (vms_strlcpy_n(path, sizeof(path), dir, strlen(dir)) < 0 || !path[0])
		return vms_err_set(err, -ENAMETOOLONG, "%s: not a directory name", dir);
	for (char *p = path + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		*p = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return vms_err_set(err, -errno, "%s: %s", path, strerror(errno));
		*p = c;
		if (!c)
			break;
	}
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return vms_err_set(err, -ENOTDIR, "%s: not a directory", dir);
	return 0;
}

int cli_parse_seconds(const char *s, unsigned max, int *ms)
{
	uint64_t v;
	if (vms_parse_u64(s, strlen(s), 10, &v) < 0 || v < 1 || v > max)
		return -EINVAL;
	*ms = (int)v * 1000;
	return 0;
}
