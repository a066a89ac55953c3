/* cli_analyze.c - `vmscatter analyze`: how much memory a rack shares. */
#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

static const char analyze_usage[] =
	"Usage: vmscatter analyze [--json] [--threads N|auto] [--quiet] SRC...\n"
	"\n"
	"Hash every 4 KiB page of each source and report zero, self-identical,\n"
	"inter-identical and unique pages, the VM-by-VM sharing matrix and the\n"
	"sharing summary the planner uses.\n"
	"\n"
	"SRC is [NAME=]PATH: PATH is a raw memory image (size a multiple of 4096)\n"
	"or the QMP unix socket of a running QEMU (its guest RAM is read live).\n"
	"NAME defaults to PATH's file name without its extension.\n"
	"\n"
	"  --json        print one JSON object instead of tables\n"
	"  --threads N   hashing threads (default: auto = one per CPU)\n"
	"  --quiet       no progress on stderr\n"
	"  --help        this text\n";

static json_t *holders_json(const uint64_t *h, unsigned words)
{
	json_t *a = json_array();
	for (unsigned w = 0; w < words; w++)
		for (uint64_t bits = h[w]; bits; bits &= bits - 1)
			json_array_append_new(a, json_integer(w * 64 + __builtin_ctzll(bits)));
	return a;
}

static int print_json(const struct cli_rack *rack, const struct sc_vm_stats *st,
		      const struct sc_rack_stats *rs, const sc_summary *sum, const uint64_t *matrix)
{
	unsigned n = rack->n, words = sc_index_holder_words(rack->ix);
	json_t *root = json_object(), *vms = json_array(), *sharing = json_array();
	for (unsigned i = 0; i < n; i++) {
		json_array_append_new(vms, json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}",
			"name", rack->srcs[i].name, "source", rack->srcs[i].path,
			"kind", kvm_mem_kind(rack->srcs[i].mem),
			"pages", (json_int_t)st[i].pages, "zero_pages", (json_int_t)st[i].zero_pages,
			"distinct_nonzero", (json_int_t)st[i].distinct_nonzero,
			"self_identical", (json_int_t)st[i].self_identical,
			"inter_identical", (json_int_t)st[i].inter_identical,
			"unique", (json_int_t)st[i].unique));
		json_t *row = json_array();
		for (unsigned j = 0; j < n; j++)
			json_array_append_new(row, json_integer((json_int_t)matrix[(size_t)i * n + j]));
		json_array_append_new(sharing, row);
	}
	json_t *classes = json_array(), *svms = json_array();
	for (unsigned i = 0; i < n; i++)
		json_array_append_new(svms, json_pack("{s:s, s:I, s:I}", "name", rack->srcs[i].name,
			"pages", (json_int_t)st[i].pages, "zero_pages", (json_int_t)st[i].zero_pages));
	for (size_t c = 0; c < sc_summary_classes(sum); c++) {
		const struct sc_class *k = sc_summary_class(sum, c);
		json_array_append_new(classes, json_pack("{s:o, s:I, s:I}",
			"vms", holders_json(k->holders, words),
			"contents", (json_int_t)k->contents, "pages", (json_int_t)k->pages));
	}
	json_object_set_new(root, "page_size", json_integer(KVM_PAGE_SIZE));
	json_object_set_new(root, "vms", vms);
	json_object_set_new(root, "rack", json_pack("{s:I, s:I, s:I, s:I}",
		"pages", (json_int_t)rs->pages, "zero_pages", (json_int_t)rs->zero_pages,
		"distinct_nonzero", (json_int_t)rs->distinct_nonzero,
		"shared_contents", (json_int_t)rs->shared_contents));
	json_object_set_new(root, "sharing", sharing);
	json_object_set_new(root, "summary", json_pack("{s:i, s:o, s:o}", "version", 1,
		"vms", svms, "classes", classes));
	int r = json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (r == 0)
		r = fputc('\n', stdout) == EOF ? -1 : 0;
	return r;
}

static void print_table(const struct cli_rack *rack, const struct sc_vm_stats *st,
			const struct sc_rack_stats *rs, const sc_summary *sum, const uint64_t *matrix)
{
	unsigned n = rack->n;
	char b1[32], b2[32];
	printf("%-16s %10s %10s %10s %10s %11s %10s\n", "VM", "pages", "zero", "distinct",
	       "self-ident", "inter-ident", "unique");
	for (unsigned i = 0; i < n; i++)
		printf("%-16s %10llu %10llu %10llu %10llu %11llu %10llu\n", rack->srcs[i].name,
		       (unsigned long long)st[i].pages, (unsigned long long)st[i].zero_pages,
		       (unsigned long long)st[i].distinct_nonzero,
		       (unsigned long long)st[i].self_identical,
		       (unsigned long long)st[i].inter_identical, (unsigned long long)st[i].unique);
	uint64_t nonzero = rs->pages - rs->zero_pages;
	printf("\nrack: %llu pages (%s), %llu zero, %llu non-zero\n",
	       (unsigned long long)rs->pages, cli_bytes(rs->pages * KVM_PAGE_SIZE, b1, sizeof(b1)),
	       (unsigned long long)rs->zero_pages, (unsigned long long)nonzero);
	printf("      %llu distinct non-zero contents, %llu of them in two or more VMs\n",
	       (unsigned long long)rs->distinct_nonzero, (unsigned long long)rs->shared_contents);
	if (nonzero)
		printf("Each distinct content once: %s instead of %s of non-zero pages (%.1f%% less).\n",
		       cli_bytes(rs->distinct_nonzero * KVM_PAGE_SIZE, b1, sizeof(b1)),
		       cli_bytes(nonzero * KVM_PAGE_SIZE, b2, sizeof(b2)),
		       100.0 * (double)(nonzero - rs->distinct_nonzero) / (double)nonzero);
	if (n > 1) {
		printf("\nDistinct non-zero contents shared by each pair of VMs:\n%-16s", "");
		for (unsigned j = 0; j < n; j++)
			printf(" %10.10s", rack->srcs[j].name);
		printf("\n");
		for (unsigned i = 0; i < n; i++) {
			printf("%-16s", rack->srcs[i].name);
			for (unsigned j = 0; j < n; j++)
				printf(" %10llu", (unsigned long long)matrix[(size_t)i * n + j]);
			printf("\n");
		}
	}
	printf("\nSharing summary: %zu holder sets (see --json for all of them)\n",
	       sc_summary_classes(sum));
}

int cli_analyze(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 't' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int json = 0, quiet = 0, ch, status = 1;
	unsigned threads = cli_default_threads();
	vms_err err = { 0 };
	struct cli_rack rack = { 0 };
	struct sc_vm_stats *st = NULL;
	struct sc_rack_stats rs;
	sc_summary *sum = NULL;
	uint64_t *matrix = NULL;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = 1; break;
		case 'q': quiet = 1; break;
		case 't':
			if (cli_parse_threads(optarg, &threads, &err) < 0)
				return cli_usage_error("analyze", "%s", err.msg);
			break;
		case 'h': fputs(analyze_usage, stdout); return 0;
		default: return cli_usage_error("analyze", "unknown option");
		}
	}
	if (optind >= argc)
		return cli_usage_error("analyze", "no memory source given");
	if (cli_rack_load(&rack, argv + optind, (unsigned)(argc - optind), threads, quiet, 0, &err) < 0)
		return cli_fail("analyze", &err);
	st = calloc(rack.n, sizeof(*st));
	matrix = calloc((size_t)rack.n * rack.n, sizeof(*matrix));
	if (!st || !matrix) {
		vms_err_set(&err, -ENOMEM, "out of memory");
		goto out;
	}
	if (sc_index_stats(rack.ix, st, &rs, &err) < 0 || sc_summary_build(rack.ix, &sum, &err) < 0 ||
	    sc_summary_matrix(sum, matrix, &err) < 0)
		goto out;
	if (json) {
		if (print_json(&rack, st, &rs, sum, matrix) < 0) {
			vms_err_set(&err, -EIO, "cannot write the output");
			goto out;
		}
	} else {
		print_table(&rack, st, &rs, sum, matrix);
	}
	if (fflush(stdout) != 0) {
		vms_err_set(&err, -EIO, "cannot write the output");
		goto out;
	}
	status = 0;
out:
	if (status)
		cli_fail("analyze", &err);
	sc_summary_free(sum);
	free(matrix);
	free(st);
	cli_rack_free(&rack);
	return status;
}
