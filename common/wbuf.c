/* wbuf.c - the growable writer for wire messages (see common.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int reserve(vms_wbuf *b, size_t more)
{
	if (b->cap - b->len >= more)
		return 0;
	if (more > SIZE_MAX / 2 - b->len)
		return -ENOMEM;
	size_t ncap = b->cap ? b->cap : 256;
	while (ncap - b->len < more)
		ncap *= 2;
	uint8_t *nd = realloc(b->data, ncap);
	if (!nd)
		return -ENOMEM;
	b->data = nd;
	b->cap = ncap;
	return 0;
}

int vms_wbuf_bytes(vms_wbuf *b, const void *p, size_t n)
{
	int r = reserve(b, n);
	if (r == 0 && n) {
		memcpy(b->data + b->len, p, n);
		b->len += n;
	}
	return r;
}

static int put_be(vms_wbuf *b, uint64_t v, size_t n)
{
	uint8_t tmp[8];
	for (size_t i = 0; i < n; i++)
		tmp[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return vms_wbuf_bytes(b, tmp, n);
}

int vms_wbuf_u8(vms_wbuf *b, uint8_t v) { return put_be(b, v, 1); }
int vms_wbuf_be16(vms_wbuf *b, uint16_t v) { return put_be(b, v, 2); }
int vms_wbuf_be32(vms_wbuf *b, uint32_t v) { return put_be(b, v, 4); }
int vms_wbuf_be64(vms_wbuf *b, uint64_t v) { return put_be(b, v, 8); }

void vms_wbuf_reset(vms_wbuf *b)
{
	b->len = 0;
}

void vms_wbuf_free(vms_wbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
