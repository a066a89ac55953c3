/* compress.c - page compressors (LZO1X-1, zstd, LZ4) and a page content on
 * the wire: its id, then the page as it is or compressed, a tag byte naming
 * the compressor first (see common.h and doc/PROTOCOL.md, "Contents";
 * wire.c reads it back). The receiver takes whatever tag each page carries;
 * the sender chooses (vms_pagez_new). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzo/lzo1x.h>
#include <zstd.h>

#include "common.h"

/* the worst case of any of them for one page: a little more than the page */
#define OUT_MAX (VMS_WIRE_PAGE + VMS_WIRE_PAGE / 16 + 64 + 3)
#define ZSTD_LEVEL 1

_Static_assert(OUT_MAX >= (size_t)LZ4_COMPRESSBOUND(VMS_WIRE_PAGE), "LZ4's bound");
_Static_assert(OUT_MAX >= ZSTD_COMPRESSBOUND(VMS_WIRE_PAGE), "zstd's bound");

/* After this many pages in a row that did not shrink (random or encrypted
 * memory), only every SKIP_EVERY-th page is tried, until one shrinks again:
 * a compressor costs a core about a second per GB it cannot compress. */
#define MISSES_MAX 64u
#define SKIP_EVERY 16u

struct vms_pagez {
	enum vms_compress algo;
	lzo_align_t work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
	ZSTD_CCtx *zc;
	uint8_t out[1 + OUT_MAX];     /* the tag, then the compressed page */
	uint64_t misses;              /* pages in a row that did not shrink */
};

static const char *const names[] = {
	[VMS_COMPRESS_NONE] = "none", [VMS_COMPRESS_LZO] = "lzo",
	[VMS_COMPRESS_ZSTD] = "zstd", [VMS_COMPRESS_LZ4] = "lz4",
};

const char *vms_compress_name(enum vms_compress a)
{
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

int vms_compress_parse(const char *s, enum vms_compress *out)
{
	for (unsigned a = 0; a < sizeof(names) / sizeof(names[0]); a++)
		if (strcmp(s, names[a]) == 0) {
			*out = (enum vms_compress)a;
			return 0;
		}
	return -EINVAL;
}

int vms_pagez_new(enum vms_compress algo, vms_pagez **out, vms_err *err)
{
	vms_pagez *z = NULL;
	int r = 0;
	*out = NULL;
	if (algo != VMS_COMPRESS_LZO && algo != VMS_COMPRESS_ZSTD && algo != VMS_COMPRESS_LZ4) {
		r = vms_err_set(err, -EINVAL, "no such page compressor (%d)", (int)algo);
		goto out;
	}
	if (algo == VMS_COMPRESS_LZO && lzo_init() != LZO_E_OK) {   /* LZO's ABI; idempotent */
		r = vms_err_set(err, -ENOSYS, "LZO: the library does not match its header");
		goto out;
	}
	if (!(z = calloc(1, sizeof(*z)))) {
		r = vms_err_set(err, -ENOMEM, "compressor: out of memory");
		goto out;
	}
	z->algo = algo;
	if (algo == VMS_COMPRESS_ZSTD &&
	    (!(z->zc = ZSTD_createCCtx()) ||
	     ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, ZSTD_LEVEL)) ||
	     ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_contentSizeFlag, 0)) ||
	     ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_checksumFlag, 0)) ||
	     ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_dictIDFlag, 0)))) {
		r = vms_err_set(err, -ENOMEM, "zstd: cannot set up a compressor");
		goto out;
	}
	*out = z;
	z = NULL;
out:
	vms_pagez_free(z);
	return r;
}

void vms_pagez_free(vms_pagez *z)
{
	if (!z)
		return;
	ZSTD_freeCCtx(z->zc);
	free(z);
}

enum vms_compress vms_pagez_algo(const vms_pagez *z)
{
	return z->algo;
}

/* The compressor's bytes into z->out + 1: their count, 0 when it failed. */
static size_t squeeze(vms_pagez *z, const void *page)
{
	uint8_t *o = z->out + 1;
	switch (z->algo) {
	case VMS_COMPRESS_LZO: {
		lzo_uint len = 0;
		return lzo1x_1_compress(page, VMS_WIRE_PAGE, o, &len, z->work) == LZO_E_OK ? len : 0;
	}
	case VMS_COMPRESS_ZSTD: {
		size_t n = ZSTD_compress2(z->zc, o, OUT_MAX, page, VMS_WIRE_PAGE);
		return ZSTD_isError(n) ? 0 : n;
	}
	case VMS_COMPRESS_LZ4: {
		int n = LZ4_compress_default(page, (char *)o, VMS_WIRE_PAGE, OUT_MAX);
		return n > 0 ? (size_t)n : 0;
	}
	default:
		return 0;
	}
}

size_t vms_page_compress(vms_pagez *z, const void *page, const uint8_t **out)
{
	if (z->misses >= MISSES_MAX && z->misses++ % SKIP_EVERY != 0)
		return 0;
	size_t len = squeeze(z, page);
	if (len == 0 || 1 + len >= VMS_WIRE_PAGE) {
		z->misses += z->misses < MISSES_MAX;
		return 0;
	}
	z->misses = 0;
	z->out[0] = (uint8_t)z->algo;
	*out = z->out;
	return 1 + len;
}

struct vms_pagex {
	ZSTD_DCtx *zd;
	uint8_t page[VMS_WIRE_PAGE];
};

int vms_pagex_new(vms_pagex **out, vms_err *err)
{
	vms_pagex *x = calloc(1, sizeof(*x));
	*out = NULL;
	if (!x || !(x->zd = ZSTD_createDCtx())) {
		free(x);
		return vms_err_set(err, -ENOMEM, "decompressor: out of memory");
	}
	if (lzo_init() != LZO_E_OK) {
		vms_pagex_free(x);
		return vms_err_set(err, -ENOSYS, "LZO: the library does not match its header");
	}
	*out = x;
	return 0;
}

void vms_pagex_free(vms_pagex *x)
{
	if (!x)
		return;
	ZSTD_freeDCtx(x->zd);
	free(x);
}

uint8_t *vms_pagex_page(vms_pagex *x)
{
	return x->page;
}

int vms_page_decompress(vms_pagex *x, const uint8_t *in, size_t len, uint8_t *page)
{
	/* every decompressor below checks each read and write against the
	 * bounds; exactly one page must come out, using every byte */
	if (len < 2 || len >= VMS_WIRE_PAGE)
		return -EBADMSG;
	const uint8_t *body = in + 1;
	size_t n = len - 1;
	switch (in[0]) {
	case VMS_COMPRESS_LZO: {
		lzo_uint got = VMS_WIRE_PAGE;
		return lzo1x_decompress_safe(body, n, page, &got, NULL) == LZO_E_OK && got == VMS_WIRE_PAGE
			? 0 : -EBADMSG;
	}
	case VMS_COMPRESS_ZSTD: {
		/* one frame, exactly: a second frame or trailing bytes are an
		 * error. And a frame of today's format (its magic number): not a
		 * skippable frame, nor a legacy v0.5-v0.7 one, which libzstd
		 * decodes too when built with legacy support (Debian's is) */
		static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };     /* ZSTD_MAGICNUMBER, LE */
		if (n < sizeof(magic) || memcmp(body, magic, sizeof(magic)) != 0 ||
		    ZSTD_findFrameCompressedSize(body, n) != n)
			return -EBADMSG;
		size_t got = ZSTD_decompressDCtx(x->zd, page, VMS_WIRE_PAGE, body, n);
		return !ZSTD_isError(got) && got == VMS_WIRE_PAGE ? 0 : -EBADMSG;
	}
	case VMS_COMPRESS_LZ4:
		return LZ4_decompress_safe((const char *)body, (char *)page, (int)n, VMS_WIRE_PAGE) == VMS_WIRE_PAGE
			? 0 : -EBADMSG;
	default:
		return -EBADMSG;
	}
}

size_t vms_content_encode(vms_pagez *z, uint32_t id, const void *page, uint8_t out[VMS_CONTENT_MAX])
{
	const uint8_t *body = page;
	size_t len = z ? vms_page_compress(z, page, &body) : 0;
	if (len == 0)
		len = VMS_WIRE_PAGE;            /* as it is (body still points at page) */
	out[0] = (uint8_t)(id >> 24), out[1] = (uint8_t)(id >> 16);
	out[2] = (uint8_t)(id >> 8), out[3] = (uint8_t)id;
	memcpy(out + 4, body, len);
	return 4 + len;
}
