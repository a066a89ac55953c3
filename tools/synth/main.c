/* vms-synth - write a synthetic rack of memory images (see synth.h). */
#include <errno.h>
#include <getopt.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

static const char usage[] =
	"Usage: vms-synth --out DIR [--vms N] [--pages N | --size BYTES] [--zero F]\n"
	"                 [--self F] [--inter F] [--pool N] [--self-pool N]\n"
	"                 [--seed N] [--identical]\n"
	"Write DIR/vm1.img .. DIR/vmN.img: F are fractions of each VM's pages (zero,\n"
	"repeated within the VM, drawn from a pool all VMs share); the rest is unique.\n"
	"Defaults: 4 VMs x 4096 pages, zero 0.30, self 0.05, inter 0.40, pool 2048,\n"
	"self-pool 64, seed 1.\n";

static int num(const char *opt, const char *s, uint64_t *v)
{
	if (vms_parse_size(s, v) < 0) {
		fprintf(stderr, "vms-synth: %s: not a number: '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

static int frac(const char *opt, const char *s, double *v)
{
	char *end;
	*v = strtod(s, &end);
	if (*s == '\0' || *end != '\0' || *v < 0 || *v > 1) {
		fprintf(stderr, "vms-synth: %s: not a fraction in [0,1]: '%s'\n", opt, s);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' }, { "vms", required_argument, NULL, 'v' },
		{ "pages", required_argument, NULL, 'p' }, { "size", required_argument, NULL, 's' },
		{ "zero", required_argument, NULL, 'z' }, { "self", required_argument, NULL, 'S' },
		{ "inter", required_argument, NULL, 'i' }, { "pool", required_argument, NULL, 'P' },
		{ "self-pool", required_argument, NULL, 'Q' }, { "seed", required_argument, NULL, 'r' },
		{ "identical", no_argument, NULL, 'I' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct synth_params p;
	const char *out = NULL;
	uint64_t v;
	int ch, bad = 0;
	synth_defaults(&p);
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'o': out = optarg; break;
		case 'v': bad |= num("--vms", optarg, &v) < 0 || v > 4096; p.vms = (unsigned)v; break;
		case 'p': bad |= num("--pages", optarg, &v) < 0; p.pages = v; break;
		case 's': bad |= num("--size", optarg, &v) < 0; p.pages = v / 4096; break;
		case 'z': bad |= frac("--zero", optarg, &p.zero) < 0; break;
		case 'S': bad |= frac("--self", optarg, &p.self) < 0; break;
		case 'i': bad |= frac("--inter", optarg, &p.inter) < 0; break;
		case 'P': bad |= num("--pool", optarg, &v) < 0 || v > UINT32_MAX; p.pool = (uint32_t)v; break;
		case 'Q': bad |= num("--self-pool", optarg, &v) < 0 || v > UINT32_MAX; p.self_pool = (uint32_t)v; break;
		case 'r': bad |= num("--seed", optarg, &p.seed) < 0; break;
		case 'I': p.identical = 1; break;
		case 'h': fputs(usage, stdout); return 0;
		default: bad = 1;
		}
	}
	if (bad || !out || optind != argc) {
		fputs(usage, stderr);
		return 2;
	}
	vms_err err = { 0 };
	if (mkdir(out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "vms-synth: %s: %s\n", out, strerror(errno));
		return 1;
	}
	if (synth_write_rack(&p, out, &err) < 0) {
		fprintf(stderr, "vms-synth: %s\n", err.msg);
		return 1;
	}
	return 0;
}
