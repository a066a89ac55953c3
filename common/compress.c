/* compress.c - LZO1X-1 for pages, and a page content on the wire: its id,
 * then the page as it is or compressed (see common.h and doc/PROTOCOL.md,
 * "Contents"; wire.c reads it back). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <lzo/lzo1x.h>

#include "common.h"

/* LZO's worst case for one page: a little more than the page */
#define LZO_OUT_MAX (VMS_WIRE_PAGE + VMS_WIRE_PAGE / 16 + 64 + 3)

/* After this many pages in a row that did not shrink (random or encrypted
 * memory), only every SKIP_EVERY-th page is tried, until one shrinks again:
 * LZO costs a core about a second per GB it cannot compress. */
#define MISSES_MAX 64u
#define SKIP_EVERY 16u

struct vms_lzo {
	lzo_align_t work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
	uint8_t out[LZO_OUT_MAX];
	uint64_t misses;              /* pages in a row that did not shrink */
};

int vms_lzo_new(vms_lzo **out, vms_err *err)
{
	if (lzo_init() != LZO_E_OK)     /* checks the library's ABI; idempotent */
		return vms_err_set(err, -ENOSYS, "LZO: the library does not match its header");
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : vms_err_set(err, -ENOMEM, "LZO: out of memory");
}

void vms_lzo_free(vms_lzo *z)
{
	free(z);
}

size_t vms_page_compress(vms_lzo *z, const void *page, const uint8_t **out)
{
	lzo_uint len = 0;
	if (z->misses >= MISSES_MAX && z->misses++ % SKIP_EVERY != 0)
		return 0;
	if (lzo1x_1_compress(page, VMS_WIRE_PAGE, z->out, &len, z->work) != LZO_E_OK ||
	    len == 0 || len >= VMS_WIRE_PAGE) {
		z->misses += z->misses < MISSES_MAX;
		return 0;
	}
	z->misses = 0;
	*out = z->out;
	return len;
}

int vms_page_decompress(const uint8_t *in, size_t len, uint8_t *page)
{
	/* the safe decompressor checks every read and write against the bounds;
	 * exactly one page must come out, using every byte */
	lzo_uint got = VMS_WIRE_PAGE;
	if (len == 0 || len >= VMS_WIRE_PAGE ||
	    lzo1x_decompress_safe(in, len, page, &got, NULL) != LZO_E_OK || got != VMS_WIRE_PAGE)
		return -EBADMSG;
	return 0;
}

size_t vms_content_encode(vms_lzo *z, uint32_t id, const void *page, uint8_t out[VMS_CONTENT_MAX])
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
