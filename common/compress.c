/* compress.c - page compressors (LZO1X-1, zstd, LZ4) and a page content on
 * the wire: its id, then the page as it is or compressed, a tag byte naming
 * the compressor first (see common.h and doc/PROTOCOL.md, "Contents";
 * wire.c reads it back). The receiver takes whatever tag each page carries;
 * the sender chooses (vms_pagez_new; AUTO: one of zstd and LZ4 at a time,
 * as vms_pagez_pace says). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lz4.h>
#include <lzo/lzo1x.h>
#include <zstd.h>
#include <zstd_errors.h>

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
	enum vms_compress algo;       /* as made: one of the three, or AUTO */
	enum vms_compress now;        /* the one in use: algo, or AUTO's choice */
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
	if (a == VMS_COMPRESS_AUTO)
		return "auto";
	return (unsigned)a < sizeof(names) / sizeof(names[0]) ? names[a] : "?";
}

int vms_compress_parse(const char *s, enum vms_compress *out)
{
	if (strcmp(s, "auto") == 0) {
		*out = VMS_COMPRESS_AUTO;
		return 0;
	}
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
	if (algo != VMS_COMPRESS_LZO && algo != VMS_COMPRESS_ZSTD && algo != VMS_COMPRESS_LZ4 &&
	    algo != VMS_COMPRESS_AUTO) {
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
	z->now = algo == VMS_COMPRESS_AUTO ? VMS_COMPRESS_LZ4 : algo;
	if ((algo == VMS_COMPRESS_ZSTD || algo == VMS_COMPRESS_AUTO) &&
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

void vms_pagez_pace(vms_pagez *z, int waits)
{
	if (z && z->algo == VMS_COMPRESS_AUTO)
		z->now = waits ? VMS_COMPRESS_ZSTD : VMS_COMPRESS_LZ4;
}

enum vms_compress vms_pagez_now(const vms_pagez *z)
{
	return z->now;
}

/* The compressor's bytes into z->out + 1: their count, 0 when it failed. */
static size_t squeeze(vms_pagez *z, const void *page)
{
	uint8_t *o = z->out + 1;
	switch (z->now) {
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
	z->out[0] = (uint8_t)z->now;
	*out = z->out;
	return 1 + len;
}

struct vms_pagex {
	ZSTD_DCtx *zd;
	uint8_t page[VMS_WIRE_PAGE];
	uint8_t over[VMS_WIRE_PAGE + 1];   /* LZ4: does a block decode to more than a page? */
	char why[160];                     /* why the last page was refused ("": it was not) */
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

const char *vms_pagex_why(const vms_pagex *x)
{
	return x->why;
}

void vms_pagex_clear(vms_pagex *x)
{
	x->why[0] = '\0';
}

/* A refusal: why, in x->why; -EBADMSG. */
static int refuse(vms_pagex *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int refuse(vms_pagex *x, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(x->why, sizeof(x->why), fmt, ap);
	va_end(ap);
	return -EBADMSG;
}

static int lzo_page(vms_pagex *x, const uint8_t *body, size_t n, uint8_t *page)
{
	lzo_uint got = VMS_WIRE_PAGE;
	int e = lzo1x_decompress_safe(body, n, page, &got, NULL);
	switch (e) {
	case LZO_E_OK:
		return got == VMS_WIRE_PAGE ? 0 : refuse(x, "LZO data that decode to %lu bytes, not %u",
							  (unsigned long)got, VMS_WIRE_PAGE);
	case LZO_E_OUTPUT_OVERRUN:
		return refuse(x, "LZO data that decode to more than %u bytes", VMS_WIRE_PAGE);
	case LZO_E_INPUT_OVERRUN:
		return refuse(x, "LZO data cut short (truncated)");
	case LZO_E_INPUT_NOT_CONSUMED:
		return refuse(x, "bytes after the end of the LZO data");
	default:
		return refuse(x, "corrupt LZO data (error %d)", e);
	}
}

static int zstd_page(vms_pagex *x, const uint8_t *body, size_t n, uint8_t *page)
{
	/* one frame, exactly: a second frame or trailing bytes are an
	 * error. And a frame of today's format (its magic number): not a
	 * skippable frame, nor a legacy v0.5-v0.7 one, which libzstd
	 * decodes too when built with legacy support (Debian's is) */
	static const uint8_t magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };     /* ZSTD_MAGICNUMBER, LE */
	if (n < sizeof(magic) || memcmp(body, magic, sizeof(magic)) != 0)
		return refuse(x, "not a zstd frame (its magic number)");
	size_t fs = ZSTD_findFrameCompressedSize(body, n);
	if (ZSTD_isError(fs))
		return refuse(x, "a zstd frame cut short or corrupt (%s)", ZSTD_getErrorName(fs));
	if (fs != n)
		return refuse(x, "%zu bytes after the end of the zstd frame", n - fs);
	/* a size the frame declares must be the page's (no more is written
	 * than the page holds anyway; this names the lie early) */
	unsigned long long cs = ZSTD_getFrameContentSize(body, n);
	if (cs != ZSTD_CONTENTSIZE_UNKNOWN && cs != VMS_WIRE_PAGE)
		return refuse(x, "a zstd frame that declares %llu bytes of content, not %u",
			      cs == ZSTD_CONTENTSIZE_ERROR ? 0 : cs, VMS_WIRE_PAGE);
	size_t got = ZSTD_decompressDCtx(x->zd, page, VMS_WIRE_PAGE, body, n);
	const char *says = cs == VMS_WIRE_PAGE ? " (the size it declares)" : "";
	if (ZSTD_isError(got) && ZSTD_getErrorCode(got) == ZSTD_error_dstSize_tooSmall)
		return refuse(x, "a zstd frame that decodes to more than %u bytes%s", VMS_WIRE_PAGE, says);
	if (ZSTD_isError(got))
		return refuse(x, "a corrupt zstd frame (%s)%s", ZSTD_getErrorName(got),
			      cs == VMS_WIRE_PAGE ? ": not the 4096 bytes it declares" : "");
	return got == VMS_WIRE_PAGE ? 0 : refuse(x, "a zstd frame that decodes to %zu bytes, not %u",
						 got, VMS_WIRE_PAGE);
}

static int lz4_page(vms_pagex *x, const uint8_t *body, size_t n, uint8_t *page)
{
	int got = LZ4_decompress_safe((const char *)body, (char *)page, (int)n, VMS_WIRE_PAGE);
	if (got == VMS_WIRE_PAGE)
		return 0;
	if (got >= 0)
		return refuse(x, "an LZ4 block that decodes to %d bytes, not %u", got, VMS_WIRE_PAGE);
	/* why: decode again, up to one byte more than a page (bounded too) */
	int more = LZ4_decompress_safe_partial((const char *)body, (char *)x->over, (int)n, VMS_WIRE_PAGE + 1,
					       VMS_WIRE_PAGE + 1);
	if (more > (int)VMS_WIRE_PAGE)
		return refuse(x, "an LZ4 block that decodes to more than %u bytes", VMS_WIRE_PAGE);
	return refuse(x, "an LZ4 block cut short, corrupt or with bytes after its end");
}

int vms_page_decompress(vms_pagex *x, const uint8_t *in, size_t len, uint8_t *page)
{
	/* every decompressor below checks each read and write against the
	 * bounds; exactly one page must come out, using every byte */
	x->why[0] = '\0';
	if (len < 2 || len >= VMS_WIRE_PAGE)
		return refuse(x, "a compressed page of %zu bytes (2..%u)", len, VMS_WIRE_PAGE - 1);
	const uint8_t *body = in + 1;
	size_t n = len - 1;
	switch (in[0]) {
	case VMS_COMPRESS_LZO:
		return lzo_page(x, body, n, page);
	case VMS_COMPRESS_ZSTD:
		return zstd_page(x, body, n, page);
	case VMS_COMPRESS_LZ4:
		return lz4_page(x, body, n, page);
	default:
		return refuse(x, "unknown compressor tag %u", in[0]);
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
