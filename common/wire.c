/* wire.c - framing and the messages of the wire protocol. Every decoder
 * reads through the cursor and ends with an end check; doc/PROTOCOL.md has
 * the tables these functions implement. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <string.h>

#include "common.h"

/* ---- frames -------------------------------------------------------------- */

int vms_frame_begin(vms_wbuf *b, uint8_t type, size_t *start)
{
	*start = b->len;
	int r = vms_wbuf_be32(b, 0);
	if (r == 0)
		r = vms_wbuf_u8(b, type);
	if (r < 0)
		b->len = *start;
	return r;
}

int vms_frame_end(vms_wbuf *b, size_t start)
{
	size_t n = b->len - start - 4;
	if (n > VMS_WIRE_FRAME_MAX) {
		b->len = start;
		return -EMSGSIZE;
	}
	for (int i = 0; i < 4; i++)
		b->data[start + (size_t)i] = (uint8_t)(n >> (24 - 8 * i));
	return 0;
}

int vms_frames_feed(vms_frames *f, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (f->off > 0 && f->off == f->len)
		f->off = f->len = 0;
	if (f->cap - f->len < n && f->off > 0) {         /* compact */
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
	}
	if (f->cap - f->len < n) {
		size_t ncap = f->cap ? f->cap : 65536;
		while (ncap - f->len < n)
			ncap *= 2;
		uint8_t *nb = realloc(f->buf, ncap);
		if (!nb)
			return -ENOMEM;
		f->buf = nb;
		f->cap = ncap;
	}
	memcpy(f->buf + f->len, p, n);
	f->len += n;
	return 0;
}

size_t vms_frames_pending(const vms_frames *f)
{
	return f->len - f->off;
}

int vms_frames_extract(vms_frames *f, uint8_t type, vms_wbuf *payload)
{
	for (size_t at = f->off; f->len - at >= 5;) {
		size_t n = (size_t)f->buf[at] << 24 | (size_t)f->buf[at + 1] << 16 |
			   (size_t)f->buf[at + 2] << 8 | f->buf[at + 3];
		if (n < 1 || n > VMS_WIRE_FRAME_MAX || f->len - at - 4 < n)
			return 0;                /* bad or incomplete: vms_frames_next will say */
		if (f->buf[at + 4] == type) {
			vms_wbuf_reset(payload);
			if (vms_wbuf_bytes(payload, f->buf + at + 5, n - 1) < 0)
				return -ENOMEM;
			memmove(f->buf + at, f->buf + at + 4 + n, f->len - at - 4 - n);
			f->len -= 4 + n;
			return 1;
		}
		at += 4 + n;
	}
	return 0;
}

int vms_frames_next(vms_frames *f, uint8_t *type, vms_cur *payload)
{
	vms_cur c;
	uint32_t len;
	if (!f->buf)
		return 0;
	vms_cur_init(&c, f->buf + f->off, f->len - f->off);
	if (vms_cur_be32(&c, &len) < 0)
		return 0;
	if (len < 1 || len > VMS_WIRE_FRAME_MAX)
		return -EBADMSG;
	if (vms_cur_left(&c) < len)
		return 0;
	const uint8_t *body;
	vms_cur_bytes(&c, len, &body);
	*type = body[0];
	vms_cur_init(payload, body + 1, len - 1);
	f->off += 4 + (size_t)len;
	return 1;
}

void vms_frames_free(vms_frames *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

/* ---- fields -------------------------------------------------------------- */

int vms_wire_get_name(vms_cur *c, char *name)
{
	uint8_t n;
	const uint8_t *p;
	vms_cur save = *c;
	if (vms_cur_u8(c, &n) < 0 || vms_cur_bytes(c, n, &p) < 0 ||
	    !vms_name_valid((const char *)p, n, VMS_WIRE_NAME_MAX))
		goto bad;
	memcpy(name, p, n);
	name[n] = '\0';
	return 0;
bad:
	*c = save;
	return -EBADMSG;
}

int vms_wire_put_name(vms_wbuf *b, const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= VMS_WIRE_NAME_MAX)
		return -EINVAL;
	int r = vms_wbuf_u8(b, (uint8_t)n);
	return r < 0 ? r : vms_wbuf_bytes(b, name, n);
}

/* ---- messages --------------------------------------------------------------- */

/* Close the frame opened at `start` if the payload went in (r == 0), else
 * drop it, leaving the buffer as it was. */
static int frame_finish(vms_wbuf *b, size_t start, int r)
{
	if (r == 0)
		return vms_frame_end(b, start);
	b->len = start;
	return r;
}

static int hello_fill(vms_wbuf *b, const struct vms_msg_hello *m)
{
	if (m->flags & ~VMS_HELLO_SEALED)
		return -EINVAL;
	int r = vms_wbuf_bytes(b, "VMSC", 4);
	if (r == 0)
		r = vms_wbuf_be16(b, VMS_WIRE_VERSION);
	if (r == 0)
		r = vms_wbuf_be64(b, m->session);
	if (r == 0)
		r = vms_wire_put_name(b, m->target);
	return r < 0 ? r : vms_wbuf_u8(b, m->flags);
}

int vms_msg_hello_put(vms_wbuf *b, const struct vms_msg_hello *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_HELLO, &start);
	if (r == 0)
		r = hello_fill(b, m);
	return frame_finish(b, start, r);
}

int vms_msg_hello_get(vms_cur *c, struct vms_msg_hello *m)
{
	const uint8_t *magic;
	uint16_t version;
	if (vms_cur_bytes(c, 4, &magic) < 0 || memcmp(magic, "VMSC", 4) != 0 ||
	    vms_cur_be16(c, &version) < 0)
		return -EBADMSG;
	if (version != VMS_WIRE_VERSION)
		return -EPROTONOSUPPORT;
	if (vms_cur_be64(c, &m->session) < 0 || vms_wire_get_name(c, m->target) < 0 ||
	    vms_cur_u8(c, &m->flags) < 0 || (m->flags & ~VMS_HELLO_SEALED))
		return -EBADMSG;
	return vms_cur_end(c);
}

static int welcome_fill(vms_wbuf *b, const struct vms_msg_welcome *m)
{
	int r = vms_wbuf_be16(b, m->version);
	return r < 0 ? r : vms_wire_put_name(b, m->name);
}

int vms_msg_welcome_put(vms_wbuf *b, const struct vms_msg_welcome *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_WELCOME, &start);
	if (r == 0)
		r = welcome_fill(b, m);
	return frame_finish(b, start, r);
}

int vms_msg_welcome_get(vms_cur *c, struct vms_msg_welcome *m)
{
	if (vms_cur_be16(c, &m->version) < 0 || vms_wire_get_name(c, m->name) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

static int vm_fill(vms_wbuf *b, const struct vms_msg_vm *m)
{
	int r = vms_wbuf_be32(b, m->vm);
	if (r == 0)
		r = vms_wire_put_name(b, m->name);
	if (r == 0)
		r = vms_wbuf_be64(b, m->pages);
	return r < 0 ? r : vms_wbuf_bytes(b, m->sha256, 32);
}

int vms_msg_vm_put(vms_wbuf *b, const struct vms_msg_vm *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_VM, &start);
	if (r == 0)
		r = vm_fill(b, m);
	return frame_finish(b, start, r);
}

int vms_msg_vm_get(vms_cur *c, struct vms_msg_vm *m)
{
	const uint8_t *digest;
	if (vms_cur_be32(c, &m->vm) < 0 || m->vm >= VMS_WIRE_VMS_MAX ||
	    vms_wire_get_name(c, m->name) < 0 || vms_cur_be64(c, &m->pages) < 0 ||
	    m->pages == 0 || m->pages > UINT32_MAX || vms_cur_bytes(c, 32, &digest) < 0)
		return -EBADMSG;
	memcpy(m->sha256, digest, 32);
	return vms_cur_end(c);
}

static int join_fill(vms_wbuf *b, const struct vms_msg_join *m)
{
	int r = vms_wbuf_be32(b, m->group);
	if (r == 0)
		r = vms_wbuf_be32(b, m->addr);
	if (r == 0)
		r = vms_wbuf_be16(b, m->port);
	if (r == 0)
		r = vms_wbuf_be32(b, m->source);
	if (r == 0)
		r = vms_wbuf_be32(b, m->messages);
	return r < 0 ? r : vms_wbuf_bytes(b, m->key, VMS_SEAL_KEY);
}

int vms_msg_join_put(vms_wbuf *b, const struct vms_msg_join *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_MCAST_JOIN, &start);
	if (r == 0)
		r = join_fill(b, m);
	return frame_finish(b, start, r);
}

int vms_msg_join_get(vms_cur *c, struct vms_msg_join *m)
{
	const uint8_t *key;
	if (vms_cur_be32(c, &m->group) < 0 || vms_cur_be32(c, &m->addr) < 0 ||
	    (m->addr >> 28) != 0xe ||                 /* 224.0.0.0/4 */
	    vms_cur_be16(c, &m->port) < 0 || m->port == 0 || vms_cur_be32(c, &m->source) < 0 ||
	    vms_cur_be32(c, &m->messages) < 0 || vms_cur_bytes(c, VMS_SEAL_KEY, &key) < 0)
		return -EBADMSG;
	memcpy(m->key, key, VMS_SEAL_KEY);
	return vms_cur_end(c);
}

static int two_u32_fill(vms_wbuf *b, uint32_t x, uint32_t y)
{
	int r = vms_wbuf_be32(b, x);
	return r < 0 ? r : vms_wbuf_be32(b, y);
}

int vms_msg_group_done_put(vms_wbuf *b, const struct vms_msg_group_done *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_GROUP_DONE, &start);
	if (r == 0)
		r = two_u32_fill(b, m->group, m->received);
	if (r == 0)
		r = vms_wbuf_be32(b, m->rejected);
	return frame_finish(b, start, r);
}

int vms_msg_group_done_get(vms_cur *c, struct vms_msg_group_done *m)
{
	if (vms_cur_be32(c, &m->group) < 0 || vms_cur_be32(c, &m->received) < 0 ||
	    vms_cur_be32(c, &m->rejected) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

int vms_msg_mcast_ack_put(vms_wbuf *b, uint32_t group, uint32_t received)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_MCAST_ACK, &start);
	if (r == 0)
		r = two_u32_fill(b, group, received);
	return frame_finish(b, start, r);
}

int vms_msg_mcast_ack_get(vms_cur *c, uint32_t *group, uint32_t *received)
{
	if (vms_cur_be32(c, group) < 0 || vms_cur_be32(c, received) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

/* MISSING: last u8, count u32 (1..VMS_WIRE_IDS_MAX), count x id u32 (>= 1) */
int vms_msg_missing_put(vms_wbuf *b, uint8_t last, const uint32_t *ids, uint32_t count)
{
	size_t start;
	if (last > 1 || count == 0 || count > VMS_WIRE_IDS_MAX)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (ids[i] == 0)
			return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_MISSING, &start);
	if (r == 0)
		r = vms_wbuf_u8(b, last);
	if (r == 0)
		r = vms_wbuf_be32(b, count);
	for (uint32_t i = 0; i < count && r == 0; i++)
		r = vms_wbuf_be32(b, ids[i]);
	return frame_finish(b, start, r);
}

int vms_msg_missing_get(vms_cur *c, struct vms_msg_missing *m, size_t *left)
{
	const uint8_t *p;
	if (vms_cur_u8(c, &m->last) < 0 || m->last > 1 || vms_cur_be32(c, &m->count) < 0 ||
	    m->count == 0 || m->count > VMS_WIRE_IDS_MAX ||
	    vms_cur_bytes(c, (size_t)m->count * 4, &p) < 0 || vms_cur_end(c) < 0)
		return -EBADMSG;
	vms_cur_init(&m->ids, p, (size_t)m->count * 4);
	vms_cur ids = m->ids;
	for (uint32_t i = 0; i < m->count; i++) {
		uint32_t id;
		if (vms_cur_be32(&ids, &id) < 0 || id == 0)
			return -EBADMSG;
	}
	if (*left < m->count)                   /* the session's total: checked last */
		return -E2BIG;
	*left -= m->count;
	return 0;
}

/* DONE: count u32 (<= VMS_WIRE_VMS_MAX), count x (vm u32 = its position, SHA-256) */
#define DONE_ENTRY (4u + 32u)

int vms_msg_done_put(vms_wbuf *b, const uint8_t *sha256, uint32_t count)
{
	size_t start;
	if (count > VMS_WIRE_VMS_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_DONE, &start);
	if (r == 0)
		r = vms_wbuf_be32(b, count);
	for (uint32_t i = 0; i < count && r == 0; i++) {
		r = vms_wbuf_be32(b, i);
		if (r == 0)
			r = vms_wbuf_bytes(b, sha256 + (size_t)i * 32, 32);
	}
	return frame_finish(b, start, r);
}

int vms_msg_done_get(vms_cur *c, struct vms_msg_done *m)
{
	const uint8_t *p;
	if (vms_cur_be32(c, &m->count) < 0 || m->count > VMS_WIRE_VMS_MAX ||
	    vms_cur_bytes(c, (size_t)m->count * DONE_ENTRY, &p) < 0 || vms_cur_end(c) < 0)
		return -EBADMSG;
	vms_cur e;
	vms_cur_init(&e, p, (size_t)m->count * DONE_ENTRY);
	for (uint32_t i = 0; i < m->count; i++) {
		uint32_t vm;
		if (vms_cur_be32(&e, &vm) < 0 || vm != i || vms_cur_skip(&e, 32) < 0)
			return -EBADMSG;
	}
	m->entries = p;
	return 0;
}

const uint8_t *vms_msg_done_sha256(const struct vms_msg_done *m, uint32_t vm)
{
	return m->entries + (size_t)vm * DONE_ENTRY + 4;
}

int vms_msg_u32_put(vms_wbuf *b, uint8_t type, uint32_t v)
{
	size_t start;
	int r = vms_frame_begin(b, type, &start);
	if (r == 0)
		r = vms_wbuf_be32(b, v);
	return frame_finish(b, start, r);
}

int vms_msg_u32_get(vms_cur *c, uint32_t *v)
{
	if (vms_cur_be32(c, v) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

int vms_msg_empty_put(vms_wbuf *b, uint8_t type)
{
	size_t start;
	int r = vms_frame_begin(b, type, &start);
	return frame_finish(b, start, r);
}

int vms_msg_empty_get(vms_cur *c)
{
	return vms_cur_end(c);
}

int vms_msg_content_put(vms_wbuf *b, const uint8_t *content, size_t len)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_CONTENT, &start);
	if (r == 0)
		r = vms_wbuf_bytes(b, content, len);
	return frame_finish(b, start, r);
}

int vms_msg_content_get(vms_cur *c, uint32_t *id, vms_pagex *x, const uint8_t **page)
{
	const uint8_t *in;
	size_t len;
	vms_pagex_clear(x);
	if (vms_cur_be32(c, id) < 0 || *id == 0)
		return -EBADMSG;
	len = vms_cur_left(c);
	if (len == 0 || len > VMS_WIRE_PAGE || vms_cur_bytes(c, len, &in) < 0)
		return -EBADMSG;
	if (len == VMS_WIRE_PAGE) {          /* as it is */
		*page = in;
		return 0;
	}
	*page = vms_pagex_page(x);
	return vms_page_decompress(x, in, len, vms_pagex_page(x));
}

static int error_fill(vms_wbuf *b, const char *text)
{
	size_t n = strlen(text);
	if (n > VMS_WIRE_ERROR_MAX)
		n = VMS_WIRE_ERROR_MAX;
	int r = vms_wbuf_be16(b, (uint16_t)n);
	return r < 0 ? r : vms_wbuf_bytes(b, text, n);
}

int vms_msg_error_put(vms_wbuf *b, const char *text)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_ERROR, &start);
	if (r == 0)
		r = error_fill(b, text);
	return frame_finish(b, start, r);
}

int vms_msg_error_get(vms_cur *c, char *text)
{
	uint16_t n;
	const uint8_t *p;
	if (vms_cur_be16(c, &n) < 0 || n > VMS_WIRE_ERROR_MAX || vms_cur_bytes(c, n, &p) < 0)
		return -EBADMSG;
	for (uint16_t i = 0; i < n; i++)          /* printable, so it can be logged */
		text[i] = (p[i] >= 0x20 && p[i] < 0x7f) ? (char)p[i] : '?';
	text[n] = '\0';
	return vms_cur_end(c);
}

#define MAP_HEAD (4u + 1u + 4u + 8u)      /* frame length, type, vm, first page */

int vms_msg_map_begin(vms_wbuf *b, uint32_t vm, uint64_t first, size_t *start)
{
	if (vm >= VMS_WIRE_VMS_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_MAP, start);
	if (r == 0)
		r = vms_wbuf_be32(b, vm);
	if (r == 0)
		r = vms_wbuf_be64(b, first);
	return r < 0 ? frame_finish(b, *start, r) : 0;
}

int vms_msg_map_run_put(vms_wbuf *b, uint8_t kind, uint32_t count, const uint32_t *ids)
{
	size_t at = b->len;
	if (kind > 1 || count == 0 || (kind == 1 && !ids))
		return -EINVAL;
	for (uint32_t i = 0; kind == 1 && i < count; i++)
		if (ids[i] == 0)
			return -EINVAL;
	int r = vms_wbuf_u8(b, kind);
	if (r == 0)
		r = vms_wbuf_be32(b, count);
	for (uint32_t i = 0; kind == 1 && i < count && r == 0; i++)
		r = vms_wbuf_be32(b, ids[i]);
	if (r < 0)
		b->len = at;
	return r;
}

int vms_msg_map_end(vms_wbuf *b, size_t start)
{
	return frame_finish(b, start, b->len - start > MAP_HEAD ? 0 : -EINVAL);
}

int vms_msg_map_get(vms_cur *c, uint32_t *vm, uint64_t *first)
{
	if (vms_cur_be32(c, vm) < 0 || *vm >= VMS_WIRE_VMS_MAX || vms_cur_be64(c, first) < 0 ||
	    vms_cur_left(c) == 0)                /* at least one run */
		return -EBADMSG;
	return 0;
}

int vms_msg_map_run(vms_cur *c, uint8_t *kind, uint32_t *count, vms_cur *ids)
{
	vms_cur save = *c;
	const uint8_t *p;
	if (vms_cur_u8(c, kind) < 0 || *kind > 1 || vms_cur_be32(c, count) < 0 || *count == 0)
		goto bad;
	if (*kind == 1) {
		if (*count > vms_cur_left(c) / 4 || vms_cur_bytes(c, (size_t)*count * 4, &p) < 0)
			goto bad;
		vms_cur_init(ids, p, (size_t)*count * 4);
		vms_cur each = *ids;
		for (uint32_t i = 0, id; i < *count; i++)
			if (vms_cur_be32(&each, &id) < 0 || id == 0)
				goto bad;
	} else {
		vms_cur_init(ids, NULL, 0);
	}
	return 0;
bad:
	*c = save;
	return -EBADMSG;
}

/* ---- live sessions --------------------------------------------------------------- */

int vms_msg_stream_put(vms_wbuf *b, const struct vms_msg_stream *m)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_STREAM, &start);
	if (r == 0)
		r = vms_wbuf_be64(b, m->session);
	if (r == 0)
		r = vms_wbuf_be32(b, m->vm);
	if (r == 0)
		r = m->argc >= 1 && m->argc <= VMS_WIRE_ARGS_MAX ? vms_wbuf_be16(b, m->argc) : -EINVAL;
	for (unsigned i = 0; i < m->argc && r == 0; i++) {
		size_t n = strlen(m->argv[i]);
		r = n >= 1 && n < VMS_WIRE_ARG_MAX ? vms_wbuf_be16(b, (uint16_t)n) : -EINVAL;
		if (r == 0)
			r = vms_wbuf_bytes(b, m->argv[i], n);
	}
	return frame_finish(b, start, r);
}

int vms_msg_stream_get(vms_cur *c, struct vms_msg_stream *m, char **store)
{
	*store = NULL;
	if (vms_cur_be64(c, &m->session) < 0 || vms_cur_be32(c, &m->vm) < 0 ||
	    m->vm >= VMS_WIRE_VMS_MAX || vms_cur_be16(c, &m->argc) < 0 ||
	    m->argc < 1 || m->argc > VMS_WIRE_ARGS_MAX)
		return -EBADMSG;
	/* the strings and the pointer array share one allocation */
	size_t ptrs = ((size_t)m->argc + 1) * sizeof(char *);
	char *mem = malloc(ptrs + vms_cur_left(c) + m->argc);
	if (!mem)
		return -ENOMEM;
	char **argv = (char **)(void *)mem, *at = mem + ptrs;
	for (unsigned i = 0; i < m->argc; i++) {
		uint16_t n;
		const uint8_t *p;
		if (vms_cur_be16(c, &n) < 0 || n < 1 || n >= VMS_WIRE_ARG_MAX ||
		    vms_cur_bytes(c, n, &p) < 0 || memchr(p, '\0', n)) {
			free(mem);
			return -EBADMSG;
		}
		memcpy(at, p, n);
		at[n] = '\0';
		argv[i] = at;
		at += n + 1;
	}
	argv[m->argc] = NULL;
	if (vms_cur_end(c) < 0) {
		free(mem);
		return -EBADMSG;
	}
	m->argv = argv;
	*store = mem;
	return 0;
}

int vms_msg_sdata_put(vms_wbuf *b, const void *data, size_t len)
{
	size_t start;
	if (len == 0)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_SDATA, &start);
	if (r == 0)
		r = vms_wbuf_bytes(b, data, len);
	return frame_finish(b, start, r);
}

int vms_msg_sdata_get(vms_cur *c, const uint8_t **data, size_t *len)
{
	*len = vms_cur_left(c);
	return *len == 0 || vms_cur_bytes(c, *len, data) < 0 ? -EBADMSG : 0;
}

static int sock_path_valid(const char *p, size_t n)
{
	if (n < 2 || n >= VMS_WIRE_SOCK_MAX || p[0] != '/' || memchr(p, '\0', n))
		return 0;
	for (size_t i = 0; i + 2 < n; i++)          /* no "/../" and no trailing "/.." */
		if (p[i] == '/' && p[i + 1] == '.' && p[i + 2] == '.' && (i + 3 == n || p[i + 3] == '/'))
			return 0;
	return 1;
}

int vms_msg_lvstream_put(vms_wbuf *b, const struct vms_msg_lvstream *m)
{
	size_t start, n = strlen(m->sock);
	if (!sock_path_valid(m->sock, n) || m->nblocks < 1 || m->nblocks > VMS_WIRE_BLOCKS_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_LVSTREAM, &start);
	if (r == 0)
		r = vms_wbuf_be64(b, m->session);
	if (r == 0)
		r = vms_wbuf_be32(b, m->vm);
	if (r == 0)
		r = vms_wire_put_name(b, m->domain);
	if (r == 0)
		r = vms_wbuf_be16(b, (uint16_t)n);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->sock, n);
	if (r == 0)
		r = vms_wbuf_u8(b, m->nblocks);
	for (unsigned i = 0; i < m->nblocks && r == 0; i++) {
		r = vms_wire_put_name(b, m->blocks[i].name);
		if (r == 0)
			r = m->blocks[i].used && m->blocks[i].used % VMS_WIRE_PAGE == 0 ?
			    vms_wbuf_be64(b, m->blocks[i].used) : -EINVAL;
	}
	return frame_finish(b, start, r);
}

int vms_msg_lvstream_get(vms_cur *c, struct vms_msg_lvstream *m)
{
	uint16_t n;
	const uint8_t *p;
	if (vms_cur_be64(c, &m->session) < 0 || vms_cur_be32(c, &m->vm) < 0 || m->vm >= VMS_WIRE_VMS_MAX ||
	    vms_wire_get_name(c, m->domain) < 0 || vms_cur_be16(c, &n) < 0 || n >= VMS_WIRE_SOCK_MAX ||
	    vms_cur_bytes(c, n, &p) < 0 || !sock_path_valid((const char *)p, n))
		return -EBADMSG;
	memcpy(m->sock, p, n);
	m->sock[n] = '\0';
	if (vms_cur_u8(c, &m->nblocks) < 0 || m->nblocks < 1 || m->nblocks > VMS_WIRE_BLOCKS_MAX)
		return -EBADMSG;
	for (unsigned i = 0; i < m->nblocks; i++)
		if (vms_wire_get_name(c, m->blocks[i].name) < 0 || vms_cur_be64(c, &m->blocks[i].used) < 0 ||
		    m->blocks[i].used == 0 || m->blocks[i].used % VMS_WIRE_PAGE)
			return -EBADMSG;
	return vms_cur_end(c) < 0 ? -EBADMSG : 0;
}

int vms_msg_rpath_put(vms_wbuf *b, const void *data, size_t len)
{
	size_t start;
	if (len == 0 || len > VMS_WIRE_RPATH_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_RPATH, &start);
	if (r == 0)
		r = vms_wbuf_bytes(b, data, len);
	return frame_finish(b, start, r);
}

int vms_msg_rpath_get(vms_cur *c, const uint8_t **data, size_t *len)
{
	*len = vms_cur_left(c);
	return *len == 0 || *len > VMS_WIRE_RPATH_MAX || vms_cur_bytes(c, *len, data) < 0 ? -EBADMSG : 0;
}

int vms_msg_sref_put(vms_wbuf *b, const struct vms_msg_sref *m)
{
	size_t start;
	if (m->hdr_len < 8 || m->hdr_len > VMS_WIRE_SREF_HDR_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_SREF, &start);
	if (r == 0)
		r = vms_wbuf_be32(b, m->vm);
	if (r == 0)
		r = vms_wbuf_be64(b, m->page);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->sha256, 32);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->hdr, m->hdr_len);
	return frame_finish(b, start, r);
}

int vms_msg_sref_get(vms_cur *c, struct vms_msg_sref *m)
{
	const uint8_t *sha;
	if (vms_cur_be32(c, &m->vm) < 0 || m->vm >= VMS_WIRE_VMS_MAX || vms_cur_be64(c, &m->page) < 0 ||
	    vms_cur_bytes(c, 32, &sha) < 0)
		return -EBADMSG;
	memcpy(m->sha256, sha, 32);
	m->hdr_len = vms_cur_left(c);
	if (m->hdr_len < 8 || m->hdr_len > VMS_WIRE_SREF_HDR_MAX)
		return -EBADMSG;
	return vms_cur_bytes(c, m->hdr_len, &m->hdr) < 0 ? -EBADMSG : 0;
}

int vms_msg_scomp_put(vms_wbuf *b, const struct vms_msg_scomp *m)
{
	size_t start;
	if (m->hdr_len < 8 || m->hdr_len > VMS_WIRE_SREF_HDR_MAX || m->z_len < 2 ||
	    m->z_len >= VMS_WIRE_PAGE)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_SCOMP, &start);
	if (r == 0)
		r = vms_wbuf_be16(b, (uint16_t)m->hdr_len);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->hdr, m->hdr_len);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->z, m->z_len);
	return frame_finish(b, start, r);
}

int vms_msg_scomp_get(vms_cur *c, struct vms_msg_scomp *m, vms_pagex *x, uint8_t *page)
{
	uint16_t hl;
	vms_pagex_clear(x);
	if (vms_cur_be16(c, &hl) < 0 || hl < 8 || hl > VMS_WIRE_SREF_HDR_MAX ||
	    vms_cur_bytes(c, hl, &m->hdr) < 0)
		return -EBADMSG;
	m->hdr_len = hl;
	m->z_len = vms_cur_left(c);
	(void)vms_cur_bytes(c, m->z_len, &m->z);         /* the rest: cannot fail */
	return vms_page_decompress(x, m->z, m->z_len, page);     /* checks the length */
}

int vms_msg_digests_put(vms_wbuf *b, const struct vms_msg_digests *m)
{
	size_t start;
	if (m->count > VMS_WIRE_DIGESTS_MAX)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_DIGESTS, &start);
	if (r == 0)
		r = vms_wbuf_u8(b, m->last);
	if (r == 0)
		r = vms_wbuf_be64(b, m->first);
	if (r == 0)
		r = vms_wbuf_be32(b, m->count);
	if (r == 0)
		r = vms_wbuf_bytes(b, m->dig, (size_t)m->count * VMS_WIRE_DIGEST);
	return frame_finish(b, start, r);
}

int vms_msg_digests_get(vms_cur *c, struct vms_msg_digests *m)
{
	if (vms_cur_u8(c, &m->last) < 0 || m->last > 1 || vms_cur_be64(c, &m->first) < 0 ||
	    vms_cur_be32(c, &m->count) < 0 || m->count > VMS_WIRE_DIGESTS_MAX ||
	    vms_cur_bytes(c, (size_t)m->count * VMS_WIRE_DIGEST, &m->dig) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

int vms_msg_u64page_put(vms_wbuf *b, uint8_t type, uint64_t n, const void *page)
{
	size_t start;
	int r = vms_frame_begin(b, type, &start);
	if (r == 0)
		r = vms_wbuf_be64(b, n);
	if (r == 0)
		r = vms_wbuf_bytes(b, page, VMS_WIRE_PAGE);
	return frame_finish(b, start, r);
}

int vms_msg_u64page_get(vms_cur *c, uint64_t *n, const uint8_t **page)
{
	if (vms_cur_be64(c, n) < 0 || vms_cur_bytes(c, VMS_WIRE_PAGE, page) < 0)
		return -EBADMSG;
	return vms_cur_end(c);
}

int vms_msg_u64_put(vms_wbuf *b, uint8_t type, uint64_t v)
{
	size_t start;
	int r = vms_frame_begin(b, type, &start);
	if (r == 0)
		r = vms_wbuf_be64(b, v);
	return frame_finish(b, start, r);
}

int vms_msg_u64_get(vms_cur *c, uint64_t *v)
{
	return vms_cur_be64(c, v) < 0 ? -EBADMSG : vms_cur_end(c);
}

int vms_msg_outcome_put(vms_wbuf *b, uint64_t session, uint32_t vm)
{
	size_t start;
	int r = vms_frame_begin(b, VMS_MSG_OUTCOME, &start);
	if (r == 0)
		r = vms_wbuf_be64(b, session);
	if (r == 0)
		r = vms_wbuf_be32(b, vm);
	return frame_finish(b, start, r);
}

int vms_msg_outcome_get(vms_cur *c, uint64_t *session, uint32_t *vm)
{
	if (vms_cur_be64(c, session) < 0 || vms_cur_be32(c, vm) < 0 || *vm >= VMS_WIRE_VMS_MAX)
		return -EBADMSG;
	return vms_cur_end(c);
}

int vms_msg_outcome_is_put(vms_wbuf *b, enum vms_outcome o)
{
	size_t start;
	if (o > VMS_OUTCOME_ROLLED_BACK)
		return -EINVAL;
	int r = vms_frame_begin(b, VMS_MSG_OUTCOME_IS, &start);
	if (r == 0)
		r = vms_wbuf_u8(b, (uint8_t)o);
	return frame_finish(b, start, r);
}

int vms_msg_outcome_is_get(vms_cur *c, enum vms_outcome *o)
{
	uint8_t v;
	if (vms_cur_u8(c, &v) < 0 || v > VMS_OUTCOME_ROLLED_BACK)
		return -EBADMSG;
	*o = (enum vms_outcome)v;
	return vms_cur_end(c);
}

int vms_msg_check(uint8_t type, vms_cur *p)
{
	struct vms_msg_hello h;
	struct vms_msg_welcome w;
	struct vms_msg_vm v;
	struct vms_msg_join j;
	struct vms_msg_group_done d;
	uint32_t u, vm, count;
	uint64_t first;
	uint8_t kind;
	const uint8_t *page;
	char text[VMS_WIRE_ERROR_MAX + 1];
	vms_cur ids;
	switch (type) {
	case VMS_MSG_HELLO: return vms_msg_hello_get(p, &h);
	case VMS_MSG_WELCOME: return vms_msg_welcome_get(p, &w);
	case VMS_MSG_VM: return vms_msg_vm_get(p, &v);
	case VMS_MSG_MCAST_JOIN: return vms_msg_join_get(p, &j);
	case VMS_MSG_GROUP_DONE: return vms_msg_group_done_get(p, &d);
	case VMS_MSG_MCAST_ACK: return vms_msg_mcast_ack_get(p, &u, &vm);
	case VMS_MSG_MISSING: {
		struct vms_msg_missing m;
		size_t left = SIZE_MAX;             /* no session here: only the message's own cap */
		return vms_msg_missing_get(p, &m, &left);
	}
	case VMS_MSG_DONE: {
		struct vms_msg_done m;
		return vms_msg_done_get(p, &m);
	}
	case VMS_MSG_JOINED: case VMS_MSG_MCAST_END: return vms_msg_u32_get(p, &u);
	case VMS_MSG_MAPS_END: case VMS_MSG_END: return vms_msg_empty_get(p);
	case VMS_MSG_CONTENT: case VMS_MSG_SCOMP: {
		vms_pagex *x = NULL;
		struct vms_msg_scomp m;
		if (vms_pagex_new(&x, NULL) < 0)
			return -ENOMEM;
		int r = type == VMS_MSG_CONTENT ? vms_msg_content_get(p, &u, x, &page)
						: vms_msg_scomp_get(p, &m, x, vms_pagex_page(x));
		vms_pagex_free(x);
		return r;
	}
	case VMS_MSG_ERROR: return vms_msg_error_get(p, text);
	case VMS_MSG_LIVE: case VMS_MSG_READY: case VMS_MSG_SEND: case VMS_MSG_LOADED:
	case VMS_MSG_VERIFY: case VMS_MSG_COMMIT: case VMS_MSG_RUNNING: case VMS_MSG_LIVE_END:
	case VMS_MSG_SEEDING:
		return vms_msg_empty_get(p);
	case VMS_MSG_STREAM: {
		struct vms_msg_stream m;
		char *store;
		int r = vms_msg_stream_get(p, &m, &store);
		free(store);
		return r < 0 ? -EBADMSG : 0;
	}
	case VMS_MSG_SDATA: {
		size_t len;
		return vms_msg_sdata_get(p, &page, &len);
	}
	case VMS_MSG_LVSTREAM: {
		struct vms_msg_lvstream m;
		return vms_msg_lvstream_get(p, &m);
	}
	case VMS_MSG_RPATH: {
		size_t len;
		return vms_msg_rpath_get(p, &page, &len);
	}
	case VMS_MSG_SREF: {
		struct vms_msg_sref m;
		return vms_msg_sref_get(p, &m);
	}
	case VMS_MSG_DIGESTS: {
		struct vms_msg_digests m;
		return vms_msg_digests_get(p, &m);
	}
	case VMS_MSG_FIX: case VMS_MSG_SPAGE: {
		uint64_t pg;
		return vms_msg_u64page_get(p, &pg, &page);
	}
	case VMS_MSG_NEED: case VMS_MSG_ACK: {
		uint64_t k;
		return vms_msg_u64_get(p, &k);
	}
	case VMS_MSG_OUTCOME: {
		uint64_t s;
		return vms_msg_outcome_get(p, &s, &vm);
	}
	case VMS_MSG_OUTCOME_IS: {
		enum vms_outcome o;
		return vms_msg_outcome_is_get(p, &o);
	}
	case VMS_MSG_MAP:
		if (vms_msg_map_get(p, &vm, &first) < 0)
			return -EBADMSG;
		while (vms_cur_left(p) > 0)
			if (vms_msg_map_run(p, &kind, &count, &ids) < 0)
				return -EBADMSG;
		return 0;
	default:
		return -EBADMSG;
	}
}
