/* bench_compress.c - page compressors on real guest memory: bytes out and
 * MB/s per core, one thread, on the distinct non-zero pages of the images
 * given (what a scatter sends, once per content). Every page is decompressed
 * and compared: a compressor that does not round-trip fails the run.
 *
 *   vms-bench-compress [--dict-kib K] [--sample N] IMAGE...
 * IMAGE: raw guest memory (`vmscatter dump`). The zstd dictionary is trained
 * on N pages drawn from the same pages (as a sender would train on the
 * rack's shared pages before it sends them).
 *
 * Compressors: LZO1X-1 (today's), LZ4 (default and acceleration 4), zstd at
 * levels -3, 1 and 3, zstd 1 and -3 with the dictionary, and a MECOM-like
 * per-page choice: pages mostly of zero bytes as (offset, value) runs, the
 * rest by LZ4 or zstd+dictionary. A page that does not shrink is sent as
 * it is (its 4,096 bytes counted). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <lz4.h>
#include <lzo/lzo1x.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>
#include <zstd.h>

#define PAGE 4096u
#define OUT_MAX (PAGE + PAGE / 16 + 64 + 3)
#define ROUNDS 3

struct ctx {
	const uint8_t **pages;
	size_t n;
	ZSTD_CCtx *cc, *ct;
	ZSTD_DCtx *dc;
	ZSTD_CDict *cdict1, *cdict3;      /* dictionary at level 1 and -3 */
	ZSTD_DDict *ddict;
	uint8_t lzo_wrk[LZO1X_1_MEM_COMPRESS];
};

typedef size_t (*comp_fn)(struct ctx *c, const uint8_t *in, uint8_t *out);
typedef int (*decomp_fn)(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out);

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);   /* per core, whatever else runs */
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- the compressors: 0 = did not shrink ----------------------------------- */

static size_t c_lzo(struct ctx *c, const uint8_t *in, uint8_t *out)
{
	lzo_uint n = OUT_MAX;
	if (lzo1x_1_compress(in, PAGE, out, &n, c->lzo_wrk) != LZO_E_OK || n >= PAGE)
		return 0;
	return n;
}
static int d_lzo(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	(void)c;
	lzo_uint n = PAGE;
	return lzo1x_decompress_safe(in, len, out, &n, NULL) == LZO_E_OK && n == PAGE ? 0 : -1;
}

static size_t lz4_acc(const uint8_t *in, uint8_t *out, int acc)
{
	int n = LZ4_compress_fast((const char *)in, (char *)out, PAGE, OUT_MAX, acc);
	return n > 0 && n < (int)PAGE ? (size_t)n : 0;
}
static size_t c_lz4(struct ctx *c, const uint8_t *in, uint8_t *out) { (void)c; return lz4_acc(in, out, 1); }
static size_t c_lz4a4(struct ctx *c, const uint8_t *in, uint8_t *out) { (void)c; return lz4_acc(in, out, 4); }
static int d_lz4(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	(void)c;
	return LZ4_decompress_safe((const char *)in, (char *)out, (int)len, PAGE) == (int)PAGE ? 0 : -1;
}

static size_t zstd_lvl(struct ctx *c, const uint8_t *in, uint8_t *out, int level)
{
	size_t n = ZSTD_compressCCtx(c->cc, out, OUT_MAX, in, PAGE, level);
	return !ZSTD_isError(n) && n < PAGE ? n : 0;
}
static size_t c_zstd_m3(struct ctx *c, const uint8_t *in, uint8_t *out) { return zstd_lvl(c, in, out, -3); }
static size_t c_zstd1(struct ctx *c, const uint8_t *in, uint8_t *out) { return zstd_lvl(c, in, out, 1); }
static size_t c_zstd3(struct ctx *c, const uint8_t *in, uint8_t *out) { return zstd_lvl(c, in, out, 3); }
/* level 1 with tables sized for one page (set once in main: c->ct) */
static size_t c_zstd_small(struct ctx *c, const uint8_t *in, uint8_t *out)
{
	size_t n = ZSTD_compress2(c->ct, out, OUT_MAX, in, PAGE);
	return !ZSTD_isError(n) && n < PAGE ? n : 0;
}
static int d_zstd(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = ZSTD_decompressDCtx(c->dc, out, PAGE, in, len);
	return !ZSTD_isError(n) && n == PAGE ? 0 : -1;
}
static size_t c_zdict1(struct ctx *c, const uint8_t *in, uint8_t *out)
{
	size_t n = ZSTD_compress_usingCDict(c->cc, out, OUT_MAX, in, PAGE, c->cdict1);
	return !ZSTD_isError(n) && n < PAGE ? n : 0;
}
static size_t c_zdictm3(struct ctx *c, const uint8_t *in, uint8_t *out)
{
	size_t n = ZSTD_compress_usingCDict(c->cc, out, OUT_MAX, in, PAGE, c->cdict3);
	return !ZSTD_isError(n) && n < PAGE ? n : 0;
}
static int d_zdict(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	size_t n = ZSTD_decompress_usingDDict(c->dc, out, PAGE, in, len, c->ddict);
	return !ZSTD_isError(n) && n == PAGE ? 0 : -1;
}

/* MECOM's zero-heavy pages: runs of (offset u16, length u8, bytes), for a
 * page whose bytes are mostly zero. */
static size_t sparse(const uint8_t *in, uint8_t *out)
{
	size_t o = 0;
	for (unsigned i = 0; i < PAGE;) {
		if (!in[i]) {
			i++;
			continue;
		}
		unsigned j = i;
		while (j < PAGE && j - i < 255 && (in[j] || (j + 1 < PAGE && in[j + 1])))
			j++;
		if (o + 3 + (j - i) >= PAGE)
			return 0;
		out[o++] = (uint8_t)(i >> 8);
		out[o++] = (uint8_t)i;
		out[o++] = (uint8_t)(j - i);
		memcpy(out + o, in + i, j - i);
		o += j - i;
		i = j;
	}
	return o;
}
static int unsparse(const uint8_t *in, size_t len, uint8_t *out)
{
	memset(out, 0, PAGE);
	for (size_t o = 0; o < len;) {
		if (len - o < 3)
			return -1;
		unsigned at = (unsigned)in[o] << 8 | in[o + 1], n = in[o + 2];
		o += 3;
		if (at + n > PAGE || len - o < n)
			return -1;
		memcpy(out + at, in + o, n);
		o += n;
	}
	return 0;
}
static unsigned zero_bytes(const uint8_t *in)
{
	unsigned z = 0;
	for (unsigned i = 0; i < PAGE; i++)
		z += !in[i];
	return z;
}
/* the chooser's output starts with one byte: 0 sparse, 1 the other */
static size_t choose(struct ctx *c, const uint8_t *in, uint8_t *out, comp_fn other)
{
	size_t n = zero_bytes(in) >= PAGE * 3 / 4 ? sparse(in, out + 1) : 0;
	if (n) {
		out[0] = 0;
		return n + 1 < PAGE ? n + 1 : 0;
	}
	n = other(c, in, out + 1);
	out[0] = 1;
	return n && n + 1 < PAGE ? n + 1 : 0;
}
static size_t c_mecom_lz4(struct ctx *c, const uint8_t *in, uint8_t *out) { return choose(c, in, out, c_lz4); }
static size_t c_mecom_zd(struct ctx *c, const uint8_t *in, uint8_t *out) { return choose(c, in, out, c_zdict1); }
static int d_mecom_lz4(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	return len < 1 ? -1 : in[0] == 0 ? unsparse(in + 1, len - 1, out) : d_lz4(c, in + 1, len - 1, out);
}
static int d_mecom_zd(struct ctx *c, const uint8_t *in, size_t len, uint8_t *out)
{
	return len < 1 ? -1 : in[0] == 0 ? unsparse(in + 1, len - 1, out) : d_zdict(c, in + 1, len - 1, out);
}

/* ---- the run ------------------------------------------------------------------ */

/* Batches of `batch` pages compressed as one buffer (as QEMU's multifd
 * compresses a packet of pages): cross-page matches count, but a receiver
 * must have the whole batch before it has any page of it. kind: 'z' zstd
 * (level), 'l' lz4. */
static int run_batch(struct ctx *c, const char *name, char kind, int level, size_t batch)
{
	size_t cap = batch * PAGE, ocap = ZSTD_compressBound(cap) > (size_t)LZ4_compressBound((int)cap)
		? ZSTD_compressBound(cap) : (size_t)LZ4_compressBound((int)cap);
	uint8_t *in = malloc(cap), *out = malloc(ocap), *back = malloc(cap);
	size_t total = 0;
	double tc = 0, td = 0;
	int bad = 0;
	if (!in || !out || !back)
		return -1;
	for (size_t i = 0; i < c->n; i += batch) {
		size_t k = c->n - i < batch ? c->n - i : batch, n;
		for (size_t j = 0; j < k; j++)
			memcpy(in + j * PAGE, c->pages[i + j], PAGE);
		double t0 = now();
		if (kind == 'z')
			n = ZSTD_compressCCtx(c->cc, out, ocap, in, k * PAGE, level);
		else
			n = (size_t)LZ4_compress_default((const char *)in, (char *)out, (int)(k * PAGE), (int)ocap);
		double t1 = now();
		size_t d = kind == 'z' ? ZSTD_decompressDCtx(c->dc, back, cap, out, n)
				       : (size_t)LZ4_decompress_safe((const char *)out, (char *)back, (int)n, (int)cap);
		td += now() - t1;
		tc += t1 - t0;
		bad += d != k * PAGE || memcmp(back, in, k * PAGE) != 0;
		total += n;
	}
	double mb = (double)c->n * PAGE / 1e6;
	printf("%-22s %8.3f %10.1f %9s %10.0f %10.0f%s\n", name, (double)total / ((double)c->n * PAGE),
	       (double)total / 1048576.0, "-", mb / tc, mb / td, bad ? "  ROUND TRIP FAILED" : "");
	free(in);
	free(out);
	free(back);
	return bad ? -1 : 0;
}

static int cmp_page(const void *a, const void *b)
{
	return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, PAGE);
}

static int run(struct ctx *c, const char *name, comp_fn comp, decomp_fn decomp)
{
	uint8_t *buf = malloc(c->n * OUT_MAX), back[PAGE];
	size_t *len = malloc(c->n * sizeof(*len)), total = 0, shrunk = 0;
	if (!buf || !len) {
		fprintf(stderr, "out of memory\n");
		return -1;
	}
	double tc = 1e9, td = 1e9;         /* the best of ROUNDS: the machine is shared */
	int bad = 0;
	for (int round = 0; round < ROUNDS; round++) {
		double t0 = now();
		for (size_t i = 0; i < c->n; i++)
			len[i] = comp(c, c->pages[i], buf + i * OUT_MAX);
		double t1 = now();
		total = shrunk = 0;
		for (size_t i = 0; i < c->n; i++) {
			if (!len[i]) {
				total += PAGE;
				continue;
			}
			shrunk++;
			total += len[i];
			if (decomp(c, buf + i * OUT_MAX, len[i], back) < 0 || memcmp(back, c->pages[i], PAGE) != 0)
				bad++;
		}
		double t2 = now();
		tc = t1 - t0 < tc ? t1 - t0 : tc;
		td = t2 - t1 < td ? t2 - t1 : td;
	}
	double mb = (double)c->n * PAGE / 1e6;
	printf("%-22s %8.3f %10.1f %8.1f%% %10.0f %10.0f%s\n", name, (double)total / ((double)c->n * PAGE),
	       (double)total / 1048576.0, 100.0 * (double)shrunk / (double)c->n, mb / tc,
	       mb / td, bad ? "  ROUND TRIP FAILED" : "");
	free(buf);
	free(len);
	return bad ? -1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "dict-kib", required_argument, NULL, 'd' }, { "sample", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	size_t dict_kib = 64, sample = 4000;
	int ch;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd': dict_kib = strtoul(optarg, NULL, 10); break;
		case 's': sample = strtoul(optarg, NULL, 10); break;
		default:
			fprintf(stderr, "usage: vms-bench-compress [--dict-kib K] [--sample N] IMAGE...\n");
			return ch == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc || dict_kib < 1 || dict_kib > 1024 || sample < 16) {
		fprintf(stderr, "usage: vms-bench-compress [--dict-kib K] [--sample N] IMAGE...\n");
		return 2;
	}
	struct ctx c = { 0 };
	size_t cap = 0, all = 0;
	static const uint8_t zero[PAGE];
	for (int a = optind; a < argc; a++) {
		int fd = open(argv[a], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < (off_t)PAGE) {
			fprintf(stderr, "vms-bench-compress: %s: %s\n", argv[a], fd < 0 ? strerror(errno) : "too small");
			return 1;
		}
		size_t np = (size_t)st.st_size / PAGE;
		const uint8_t *m = mmap(NULL, np * PAGE, PROT_READ, MAP_PRIVATE, fd, 0);
		close(fd);
		if (m == MAP_FAILED) {
			fprintf(stderr, "vms-bench-compress: %s: %s\n", argv[a], strerror(errno));
			return 1;
		}
		for (size_t p = 0; p < np; p++) {
			all++;
			if (memcmp(m + p * PAGE, zero, PAGE) == 0)
				continue;
			if (c.n == cap) {
				cap = cap ? cap * 2 : 65536;
				const uint8_t **more = realloc(c.pages, cap * sizeof(*more));
				if (!more)
					return 1;
				c.pages = more;
			}
			c.pages[c.n++] = m + p * PAGE;
		}
	}
	size_t nonzero = c.n;
	qsort(c.pages, c.n, sizeof(*c.pages), cmp_page);        /* distinct contents only */
	size_t k = 0;
	for (size_t i = 0; i < c.n; i++)
		if (k == 0 || memcmp(c.pages[k - 1], c.pages[i], PAGE) != 0)
			c.pages[k++] = c.pages[i];
	c.n = k;
	/* the pages in a fixed pseudo-random order (sorted order would flatter nobody
	 * but is not the order a sender meets them in), then the dictionary's sample */
	uint64_t s = 42;
	for (size_t i = c.n; i > 1; i--) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		size_t j = (size_t)((s >> 33) % i);
		const uint8_t *t = c.pages[i - 1];
		c.pages[i - 1] = c.pages[j];
		c.pages[j] = t;
	}
	/* one private copy: no page fault of the images in any timed loop */
	uint8_t *copy = malloc(c.n * PAGE);
	if (!copy)
		return 1;
	for (size_t i = 0; i < c.n; i++) {
		memcpy(copy + i * PAGE, c.pages[i], PAGE);
		c.pages[i] = copy + i * PAGE;
	}
	size_t ns = sample < c.n ? sample : c.n;
	uint8_t *samples = malloc(ns * PAGE), *dict = malloc(dict_kib * 1024);
	size_t *sizes = malloc(ns * sizeof(*sizes));
	if (!samples || !dict || !sizes || lzo_init() != LZO_E_OK)
		return 1;
	for (size_t i = 0; i < ns; i++) {
		memcpy(samples + i * PAGE, c.pages[i * (c.n / ns)], PAGE);
		sizes[i] = PAGE;
	}
	double t0 = now();
	size_t dn = ZDICT_trainFromBuffer(dict, dict_kib * 1024, samples, sizes, (unsigned)ns);
	double t_dict = now() - t0;
	if (ZDICT_isError(dn)) {
		fprintf(stderr, "vms-bench-compress: dictionary: %s\n", ZDICT_getErrorName(dn));
		return 1;
	}
	c.cc = ZSTD_createCCtx();
	c.ct = ZSTD_createCCtx();
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_windowLog, 12);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_hashLog, 11);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_chainLog, 11);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_contentSizeFlag, 0);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_checksumFlag, 0);
	ZSTD_CCtx_setParameter(c.ct, ZSTD_c_dictIDFlag, 0);
	c.dc = ZSTD_createDCtx();
	c.cdict1 = ZSTD_createCDict(dict, dn, 1);
	c.cdict3 = ZSTD_createCDict(dict, dn, -3);
	c.ddict = ZSTD_createDDict(dict, dn);
	if (!c.cc || !c.dc || !c.cdict1 || !c.cdict3 || !c.ddict)
		return 1;
	printf("%zu pages in %d images: %zu non-zero, %zu distinct (%.1f MiB); dictionary %zu bytes from %zu pages in %.2f s\n",
	       all, argc - optind, nonzero, c.n, (double)c.n * PAGE / 1048576.0, dn, ns, t_dict);
	printf("%-22s %8s %10s %9s %10s %10s\n", "compressor", "ratio", "out MiB", "shrunk", "comp MB/s", "dec MB/s");
	int r = 0;
	r |= run(&c, "lzo1x-1", c_lzo, d_lzo);
	r |= run(&c, "lz4", c_lz4, d_lz4);
	r |= run(&c, "lz4 accel 4", c_lz4a4, d_lz4);
	r |= run(&c, "zstd -3", c_zstd_m3, d_zstd);
	r |= run(&c, "zstd 1", c_zstd1, d_zstd);
	r |= run(&c, "zstd 3", c_zstd3, d_zstd);
	r |= run(&c, "zstd 1, page tables", c_zstd_small, d_zstd);
	r |= run(&c, "zstd 1 + dict", c_zdict1, d_zdict);
	r |= run(&c, "zstd -3 + dict", c_zdictm3, d_zdict);
	r |= run(&c, "sparse | lz4", c_mecom_lz4, d_mecom_lz4);
	r |= run(&c, "sparse | zstd 1 + dict", c_mecom_zd, d_mecom_zd);
	r |= run_batch(&c, "lz4, 128-page batches", 'l', 0, 128);
	r |= run_batch(&c, "zstd 1, 128-page batch", 'z', 1, 128);
	r |= run_batch(&c, "zstd 1, 16-page batch", 'z', 1, 16);
	ZSTD_freeCCtx(c.cc);
	ZSTD_freeCCtx(c.ct);
	ZSTD_freeDCtx(c.dc);
	ZSTD_freeCDict(c.cdict1);
	ZSTD_freeCDict(c.cdict3);
	ZSTD_freeDDict(c.ddict);
	free(samples);
	free(sizes);
	free(dict);
	free(c.pages);
	free(copy);
	return r ? 1 : 0;
}
