/* rewrite_check.c - the live stream rewriter on a whole recorded stream:
 * every page becomes a reference to a seed store (sc_rewrite_item), the
 * frames are decoded and applied (rc_apply), and the result must be the
 * stream itself, byte for byte. With --compress ALGO (zstd, lz4 or lzo;
 * --lzo is --compress lzo) every other page is not referred to and goes
 * compressed (SCOMP) when that shrinks it. Prints what it
 * did; exits 0 when exact.
 *   rewrite_check [--compress ALGO | --lzo] STREAM-FILE */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/receiver.h"
#include "scatter/scatter.h"

struct store {
	uint8_t *pages;
	uint64_t n, cap;
	int every_other;            /* refer to every other page only */
	uint64_t asked;
};

static int ref(void *ctx, const uint8_t *page, uint32_t *vm, uint64_t *pg)
{
	struct store *s = ctx;
	if (s->every_other && s->asked++ % 2)
		return 0;
	if (s->n == s->cap) {
		uint64_t ncap = s->cap ? s->cap * 2 : 1024;
		uint8_t *np = realloc(s->pages, ncap * KVM_PAGE_SIZE);
		if (!np)
			return 0;
		s->pages = np;
		s->cap = ncap;
	}
	memcpy(s->pages + s->n * KVM_PAGE_SIZE, page, KVM_PAGE_SIZE);
	*vm = 0;
	*pg = s->n++;
	return 1;
}

static int seed(void *ctx, uint32_t vm, uint64_t page, uint8_t *out)
{
	const struct store *s = ctx;
	if (vm != 0 || page >= s->n)
		return -ERANGE;
	memcpy(out, s->pages + page * KVM_PAGE_SIZE, KVM_PAGE_SIZE);
	return 0;
}

int main(int argc, char **argv)
{
	struct store st = { 0 };
	vms_wbuf wire = { 0 }, got = { 0 };
	vms_frames f = { 0 };
	kvm_ms *ms = NULL;
	vms_err err = { 0 };
	uint8_t buf[1 << 16];
	size_t n, total = 0, items = 0, refs = 0, scomp = 0, open = SIZE_MAX;
	vms_pagez *z = NULL;
	vms_pagex *x = NULL;
	enum vms_compress algo = VMS_COMPRESS_NONE;
	const char *path = NULL;
	if (argc == 2)
		path = argv[1];
	else if (argc == 3 && strcmp(argv[1], "--lzo") == 0)
		algo = VMS_COMPRESS_LZO, path = argv[2];
	else if (argc == 4 && strcmp(argv[1], "--compress") == 0 && vms_compress_parse(argv[2], &algo) == 0 &&
		 algo != VMS_COMPRESS_NONE)          /* ("none" would test nothing) */
		path = argv[3];
	if (!path) {
		fprintf(stderr, "usage: rewrite_check [--compress zstd|lz4|lzo | --lzo] STREAM-FILE\n");
		return 2;
	}
	if (algo != VMS_COMPRESS_NONE) {
		st.every_other = 1;
		if (vms_pagez_new(algo, &z, &err) < 0) {
			fprintf(stderr, "rewrite_check: %s\n", err.msg);
			return 1;
		}
	}
	if (vms_pagex_new(&x, &err) < 0) {
		fprintf(stderr, "rewrite_check: %s\n", err.msg);
		return 1;
	}
	FILE *in = fopen(path, "rb");
	FILE *copy = fopen(path, "rb");
	if (!in || !copy || kvm_ms_new(&ms, &err) < 0) {
		perror(path);
		return 1;
	}
	int r = 0;
	while (r == 0 && (n = fread(buf, 1, sizeof(buf), in)) > 0) {
		total += n;
		struct kvm_ms_item it;
		if ((r = kvm_ms_feed(ms, buf, n, &err)) < 0)
			break;
		while ((r = kvm_ms_next(ms, &it, &err)) == 1) {
			items++;
			if ((r = sc_rewrite_item(&it, ref, &st, z, &wire, &open)) < 0)
				break;
			refs += r == 1;
			r = 0;
			/* apply as we go, like a receiver, to keep memory small */
			uint8_t type;
			vms_cur p;
			if ((r = vms_frames_feed(&f, wire.data, wire.len)) < 0)
				break;
			vms_wbuf_reset(&wire);
			open = SIZE_MAX;
			while (r == 0 && vms_frames_next(&f, &type, &p) == 1) {
				scomp += type == VMS_MSG_SCOMP;
				r = rc_apply(type, &p, seed, &st, x, &got, &err);
			}
			if (r < 0)
				break;
			/* compare what was rebuilt so far with the file */
			uint8_t *orig = malloc(got.len ? got.len : 1);
			if (!orig || fread(orig, 1, got.len, copy) != got.len || memcmp(orig, got.data, got.len)) {
				fprintf(stderr, "rewrite_check: the rebuilt stream differs near item %zu\n", items);
				free(orig);
				return 1;
			}
			free(orig);
			vms_wbuf_reset(&got);
		}
	}
	if (r < 0) {
		fprintf(stderr, "rewrite_check: %s\n", err.msg);
		return 1;
	}
	long at = ftell(copy);
	printf("%zu bytes, %zu items, %zu pages turned into references and back, %zu compressed and back, "
	       "%ld bytes rebuilt\n", total, items, refs, scomp, at);
	int ok = at == (long)total && refs > 0 && (!z || scomp > 0);
	vms_pagez_free(z);
	vms_pagex_free(x);
	return ok ? 0 : 1;
}
