/* cursor.c - the bounds-checked reader for untrusted bytes (see common.h). */
#include <errno.h>
#include <string.h>

#include "common.h"

void vms_cur_init(vms_cur *c, const void *data, size_t len)
{
	c->base = data;
	c->len = data ? len : 0;
	c->off = 0;
}

size_t vms_cur_left(const vms_cur *c)
{
	return c->len - c->off;
}

int vms_cur_bytes(vms_cur *c, size_t n, const uint8_t **p)
{
	if (vms_cur_left(c) < n)
		return -EBADMSG;
	*p = c->base + c->off;
	c->off += n;
	return 0;
}

int vms_cur_skip(vms_cur *c, size_t n)
{
	const uint8_t *p;
	return vms_cur_bytes(c, n, &p);
}

static int get_be(vms_cur *c, size_t n, uint64_t *v)
{
	const uint8_t *p;
	int r = vms_cur_bytes(c, n, &p);
	if (r < 0)
		return r;
	uint64_t x = 0;
	for (size_t i = 0; i < n; i++)
		x = (x << 8) | p[i];
	*v = x;
	return 0;
}

int vms_cur_u8(vms_cur *c, uint8_t *v)
{
	uint64_t x;
	int r = get_be(c, 1, &x);
	if (r == 0)
		*v = (uint8_t)x;
	return r;
}

int vms_cur_be16(vms_cur *c, uint16_t *v)
{
	uint64_t x;
	int r = get_be(c, 2, &x);
	if (r == 0)
		*v = (uint16_t)x;
	return r;
}

int vms_cur_be32(vms_cur *c, uint32_t *v)
{
	uint64_t x;
	int r = get_be(c, 4, &x);
	if (r == 0)
		*v = (uint32_t)x;
	return r;
}

int vms_cur_be64(vms_cur *c, uint64_t *v)
{
	return get_be(c, 8, v);
}

int vms_cur_end(const vms_cur *c)
{
	return vms_cur_left(c) == 0 ? 0 : -EBADMSG;
}

int vms_cur_line(vms_cur *c, vms_cur *line)
{
	size_t left = vms_cur_left(c);
	if (left == 0)
		return -ENOENT;
	const uint8_t *start = c->base + c->off;
	const uint8_t *nl = memchr(start, '\n', left);
	size_t n = nl ? (size_t)(nl - start) : left;
	c->off += nl ? n + 1 : n;
	if (n > 0 && start[n - 1] == '\r')
		n--;
	vms_cur_init(line, start, n);
	return 0;
}

void vms_cur_skip_blank(vms_cur *c)
{
	while (vms_cur_left(c) > 0 &&
	       (c->base[c->off] == ' ' || c->base[c->off] == '\t'))
		c->off++;
}

int vms_cur_token(vms_cur *c, const uint8_t **tok, size_t *toklen)
{
	vms_cur_skip_blank(c);
	size_t start = c->off;
	while (vms_cur_left(c) > 0 && c->base[c->off] != ' ' &&
	       c->base[c->off] != '\t')
		c->off++;
	if (c->off == start)
		return -ENOENT;
	*tok = c->base + start;
	*toklen = c->off - start;
	return 0;
}
