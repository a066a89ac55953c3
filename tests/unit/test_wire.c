/* test_wire.c - the wire protocol (version 6): a golden byte vector for
 * every message type, round trips, truncation of every message at every
 * prefix, trailing bytes, frame reassembly from any split of the stream,
 * and lengths at and outside the caps. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <lzo/lzo1x.h>

#include "common/common.h"

#define X4(v) v, v, v, v
#define X16(v) X4(v), X4(v), X4(v), X4(v)
#define X32(v) X16(v), X16(v)
#define X256(v) X32(v), X32(v), X32(v), X32(v), X32(v), X32(v), X32(v), X32(v)
#define X1024(v) X256(v), X256(v), X256(v), X256(v)
#define X4096(v) X1024(v), X1024(v), X1024(v), X1024(v)

/* ---- golden byte vectors: one per message type -------------------------------
 * Each is a whole frame (length, type, payload) as doc/PROTOCOL.md defines
 * it, written out by hand from the tables, not produced by the encoder. */

/* LZO1X-1 of a page of 4096 'v' (liblzo2 2.10); on the wire it follows the
 * tag byte 1 (VMS_COMPRESS_LZO). And a page record header: be64 offset
 * 0x1000 | RAM_SAVE_FLAG_PAGE (0x08), block "pc.ram". (test_compress.c has
 * the zstd and LZ4 pages.) */
#define LZO_V 0x02, 0x76, 0x76, 0x76, 0x76, 0x76, 0x20, X4(0x00), X4(0x00), X4(0x00), 0x00, 0x00, \
	0x00, 0xda, 0x10, 0x00, 0x0c, X4(0x76), X4(0x76), X4(0x76), 0x76, 0x76, 0x76, 0x11, 0x00, 0x00
#define HDR_PC 0, 0, 0, 0, 0, 0, 0x10, 0x08, 6, 'p', 'c', '.', 'r', 'a', 'm'
static const uint8_t lzo_v[] = { 0x01, LZO_V };        /* tag first: as compressed pages go */
static const uint8_t hdr_pc[] = { HDR_PC };

/* HELLO, session 0x0102030405060708, target "t1", sealed */
static const uint8_t g_hello[] = {
	0, 0, 0, 0x13, VMS_MSG_HELLO, 'V', 'M', 'S', 'C', 0x00, 0x07,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x02, 't', '1', 0x01,
};
/* WELCOME, version 7, receiver "r1" */
static const uint8_t g_welcome[] = { 0, 0, 0, 6, VMS_MSG_WELCOME, 0x00, 0x07, 0x02, 'r', '1' };
/* VM 3 "web.1", 65,536 pages, SHA-256 5a.. */
static const uint8_t g_vm[] = {
	0, 0, 0, 51, VMS_MSG_VM, 0, 0, 0, 3, 5, 'w', 'e', 'b', '.', '1',
	0, 0, 0, 0, 0, 1, 0, 0, X32(0x5a),
};
/* MAP of VM 3 from page 16: one run of 2 references, ids 17 and 18 */
static const uint8_t g_map[] = {
	0, 0, 0, 26, VMS_MSG_MAP, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 16,
	1, 0, 0, 0, 2, 0, 0, 0, 17, 0, 0, 0, 18,
};
static const uint8_t g_maps_end[] = { 0, 0, 0, 1, VMS_MSG_MAPS_END };
/* MCAST_JOIN group 2, 239.77.0.2, port 7500, source 10.77.0.1, 1234 messages, key 01..20 */
static const uint8_t g_join[] = {
	0, 0, 0, 51, VMS_MSG_MCAST_JOIN, 0, 0, 0, 2, 0xef, 0x4d, 0x00, 0x02, 0x1d, 0x4c,
	0x0a, 0x4d, 0x00, 0x01, 0x00, 0x00, 0x04, 0xd2,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static const uint8_t g_joined[] = { 0, 0, 0, 5, VMS_MSG_JOINED, 0, 0, 0, 2 };
static const uint8_t g_mcast_end[] = { 0, 0, 0, 5, VMS_MSG_MCAST_END, 0, 0, 0, 2 };
/* GROUP_DONE group 2, 1234 received, 3 rejected */
static const uint8_t g_group_done[] = {
	0, 0, 0, 13, VMS_MSG_GROUP_DONE, 0, 0, 0, 2, 0x00, 0x00, 0x04, 0xd2, 0, 0, 0, 3,
};
/* MISSING, the last, ids 17 and 0x01020304 */
static const uint8_t g_missing[] = {
	0, 0, 0, 14, VMS_MSG_MISSING, 1, 0, 0, 0, 2, 0, 0, 0, 17, 0x01, 0x02, 0x03, 0x04,
};
/* CONTENT 9: the page of 'v', LZO-compressed (tag 1) */
static const uint8_t g_content[] = { 0, 0, 0, 50, VMS_MSG_CONTENT, 0, 0, 0, 9, 0x01, LZO_V };
static const uint8_t g_end[] = { 0, 0, 0, 1, VMS_MSG_END };
/* DONE, 2 VMs: vm 0 SHA-256 a0.., vm 1 a1.. */
static const uint8_t g_done[] = {
	0, 0, 0, 77, VMS_MSG_DONE, 0, 0, 0, 2,
	0, 0, 0, 0, X32(0xa0), 0, 0, 0, 1, X32(0xa1),
};
static const uint8_t g_error[] = {
	0, 0, 0, 12, VMS_MSG_ERROR, 0, 9, 'd', 'i', 's', 'k', ' ', 'f', 'u', 'l', 'l',
};
static const uint8_t g_live[] = { 0, 0, 0, 1, VMS_MSG_LIVE };
/* STREAM of session 0x1122334455667788, vm 3: "qemu" "-S" */
static const uint8_t g_stream[] = {
	0, 0, 0, 25, VMS_MSG_STREAM, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 3,
	0, 2, 0, 4, 'q', 'e', 'm', 'u', 0, 2, '-', 'S',
};
static const uint8_t g_ready[] = { 0, 0, 0, 1, VMS_MSG_READY };
static const uint8_t g_sdata[] = { 0, 0, 0, 5, VMS_MSG_SDATA, 'Q', 'E', 'V', 'M' };
/* SREF seed vm 1, page 77, SHA-256 42.., header of pc.ram at 0x1000 */
static const uint8_t g_sref[] = {
	0, 0, 0, 60, VMS_MSG_SREF, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 77, X32(0x42), HDR_PC,
};
static const uint8_t g_send[] = { 0, 0, 0, 1, VMS_MSG_SEND };
static const uint8_t g_loaded[] = { 0, 0, 0, 1, VMS_MSG_LOADED };
static const uint8_t g_verify[] = { 0, 0, 0, 1, VMS_MSG_VERIFY };
/* DIGESTS, the last, pages 4096..4097: 11.., 22.. */
static const uint8_t g_digests[] = {
	0, 0, 0, 46, VMS_MSG_DIGESTS, 1, 0, 0, 0, 0, 0, 0, 0x10, 0x00, 0, 0, 0, 2,
	X16(0x11), X16(0x22),
};
static const uint8_t g_commit[] = { 0, 0, 0, 1, VMS_MSG_COMMIT };
static const uint8_t g_running[] = { 0, 0, 0, 1, VMS_MSG_RUNNING };
static const uint8_t g_live_end[] = { 0, 0, 0, 1, VMS_MSG_LIVE_END };
/* FIX page 9 with 3c.. */
static const uint8_t g_fix[] = {
	0, 0, 0x10, 0x09, VMS_MSG_FIX, 0, 0, 0, 0, 0, 0, 0, 9, X4096(0x3c),
};
static const uint8_t g_need[] = { 0, 0, 0, 9, VMS_MSG_NEED, 0, 0, 0, 0, 0, 0, 0, 5 };
/* SPAGE for reference 7: 3d.. */
static const uint8_t g_spage[] = {
	0, 0, 0x10, 0x09, VMS_MSG_SPAGE, 0, 0, 0, 0, 0, 0, 0, 7, X4096(0x3d),
};
static const uint8_t g_ack[] = { 0, 0, 0, 9, VMS_MSG_ACK, 0, 0, 0, 0, 0, 0, 0x02, 0x00 };
/* OUTCOME: session 0x0102030405060708, VM 3; OUTCOME_IS: committed */
static const uint8_t g_outcome[] = { 0, 0, 0, 13, VMS_MSG_OUTCOME, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 3 };
static const uint8_t g_outcome_is[] = { 0, 0, 0, 2, VMS_MSG_OUTCOME_IS, 1 };
/* SCOMP: header of pc.ram at 0x1000, the page of 'v' (LZO1X-1, tag 1) */
static const uint8_t g_scomp[] = { 0, 0, 0, 63, VMS_MSG_SCOMP, 0, 15, HDR_PC, 0x01, LZO_V };
/* MCAST_ACK: group 2, 1,280 contents received */
static const uint8_t g_mcast_ack[] = { 0, 0, 0, 9, VMS_MSG_MCAST_ACK, 0, 0, 0, 2, 0, 0, 0x05, 0x00 };
static const uint8_t g_seeding[] = { 0, 0, 0, 1, VMS_MSG_SEEDING };
/* LVSTREAM of session 0x1122334455667788, vm 3: domain "web1", socket
 * "/run/x.sock", one block "pc.ram" of 128 MiB */
static const uint8_t g_lvstream[] = {
	0, 0, 0, 47, VMS_MSG_LVSTREAM, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0, 0, 0, 3,
	4, 'w', 'e', 'b', '1', 0, 11, '/', 'r', 'u', 'n', '/', 'x', '.', 's', 'o', 'c', 'k',
	1, 6, 'p', 'c', '.', 'r', 'a', 'm', 0, 0, 0, 0, 0x08, 0, 0, 0,
};
/* RPATH: QEMU's return-path SHUT 0 */
static const uint8_t g_rpath[] = { 0, 0, 0, 9, VMS_MSG_RPATH, 0, 1, 0, 4, 0, 0, 0, 0 };

static uint8_t page_of(uint8_t v, uint8_t *page)
{
	memset(page, v, VMS_WIRE_PAGE);
	return v;
}

/* The encoders: the same fields through the codec. */
static const uint8_t hello_key[32] = {
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10,
	0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20,
};
static int put_hello(vms_wbuf *b)
{
	struct vms_msg_hello h = { .session = 0x0102030405060708ull, .target = "t1", .flags = VMS_HELLO_SEALED };
	return vms_msg_hello_put(b, &h);
}
static int put_welcome(vms_wbuf *b)
{
	struct vms_msg_welcome w = { 7, "r1" };
	return vms_msg_welcome_put(b, &w);
}
static int put_vm(vms_wbuf *b)
{
	struct vms_msg_vm v = { .vm = 3, .name = "web.1", .pages = 65536 };
	memset(v.sha256, 0x5a, 32);
	return vms_msg_vm_put(b, &v);
}
static int put_map(vms_wbuf *b)
{
	static const uint32_t ids[] = { 17, 18 };
	size_t start;
	int r = vms_msg_map_begin(b, 3, 16, &start);
	if (r == 0)
		r = vms_msg_map_run_put(b, 1, 2, ids);
	return r < 0 ? r : vms_msg_map_end(b, start);
}
static int put_maps_end(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_MAPS_END); }
static int put_join(vms_wbuf *b)
{
	struct vms_msg_join j = { 2, 0xef4d0002, 7500, 0x0a4d0001, 1234, { 0 } };
	memcpy(j.key, hello_key, 32);
	return vms_msg_join_put(b, &j);
}
static int put_joined(vms_wbuf *b) { return vms_msg_u32_put(b, VMS_MSG_JOINED, 2); }
static int put_mcast_end(vms_wbuf *b) { return vms_msg_u32_put(b, VMS_MSG_MCAST_END, 2); }
static int put_group_done(vms_wbuf *b)
{
	struct vms_msg_group_done d = { .group = 2, .received = 1234, .rejected = 3 };
	return vms_msg_group_done_put(b, &d);
}
static int put_missing(vms_wbuf *b)
{
	static const uint32_t ids[] = { 17, 0x01020304 };
	return vms_msg_missing_put(b, 1, ids, 2);
}
static int put_content(vms_wbuf *b)
{
	uint8_t c[4 + sizeof(lzo_v)] = { 0, 0, 0, 9 };
	memcpy(c + 4, lzo_v, sizeof(lzo_v));
	return vms_msg_content_put(b, c, sizeof(c));
}
static int put_end(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_END); }
static int put_done(vms_wbuf *b)
{
	uint8_t sha[64];
	memset(sha, 0xa0, 32);
	memset(sha + 32, 0xa1, 32);
	return vms_msg_done_put(b, sha, 2);
}
static int put_error(vms_wbuf *b) { return vms_msg_error_put(b, "disk full"); }
static int put_live(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_LIVE); }
static int put_stream(vms_wbuf *b)
{
	char *argv[] = { "qemu", "-S", NULL };
	struct vms_msg_stream st = { 0x1122334455667788ull, 3, 2, argv };
	return vms_msg_stream_put(b, &st);
}
static int put_ready(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_READY); }
static int put_sdata(vms_wbuf *b) { return vms_msg_sdata_put(b, "QEVM", 4); }
static int put_sref(vms_wbuf *b)
{
	struct vms_msg_sref m = { .vm = 1, .page = 77, .hdr = hdr_pc, .hdr_len = sizeof(hdr_pc) };
	memset(m.sha256, 0x42, 32);
	return vms_msg_sref_put(b, &m);
}
static int put_send(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_SEND); }
static int put_loaded(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_LOADED); }
static int put_verify(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_VERIFY); }
static int put_digests(vms_wbuf *b)
{
	uint8_t dig[32];
	memset(dig, 0x11, 16);
	memset(dig + 16, 0x22, 16);
	struct vms_msg_digests m = { 1, 4096, 2, dig };
	return vms_msg_digests_put(b, &m);
}
static int put_commit(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_COMMIT); }
static int put_running(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_RUNNING); }
static int put_live_end(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_LIVE_END); }
static int put_fix(vms_wbuf *b)
{
	uint8_t page[VMS_WIRE_PAGE];
	return vms_msg_u64page_put(b, VMS_MSG_FIX, 9, (page_of(0x3c, page), page));
}
static int put_need(vms_wbuf *b) { return vms_msg_u64_put(b, VMS_MSG_NEED, 5); }
static int put_spage(vms_wbuf *b)
{
	uint8_t page[VMS_WIRE_PAGE];
	return vms_msg_u64page_put(b, VMS_MSG_SPAGE, 7, (page_of(0x3d, page), page));
}
static int put_ack(vms_wbuf *b) { return vms_msg_u64_put(b, VMS_MSG_ACK, 512); }
static int put_outcome(vms_wbuf *b) { return vms_msg_outcome_put(b, 0x0102030405060708ull, 3); }
static int put_outcome_is(vms_wbuf *b) { return vms_msg_outcome_is_put(b, VMS_OUTCOME_COMMITTED); }
static int put_mcast_ack(vms_wbuf *b) { return vms_msg_mcast_ack_put(b, 2, 1280); }
static int put_seeding(vms_wbuf *b) { return vms_msg_empty_put(b, VMS_MSG_SEEDING); }
static int put_scomp(vms_wbuf *b)
{
	struct vms_msg_scomp m = { hdr_pc, sizeof(hdr_pc), lzo_v, sizeof(lzo_v) };
	return vms_msg_scomp_put(b, &m);
}

/* The decoders: the payload of the golden vector gives back the fields. */
static void get_hello(vms_cur *p)
{
	struct vms_msg_hello h;
	assert_int_equal(vms_msg_hello_get(p, &h), 0);
	assert_true(h.session == 0x0102030405060708ull);
	assert_string_equal(h.target, "t1");
	assert_int_equal(h.flags, VMS_HELLO_SEALED);
}
static void get_welcome(vms_cur *p)
{
	struct vms_msg_welcome w;
	assert_int_equal(vms_msg_welcome_get(p, &w), 0);
	assert_int_equal(w.version, 7);
	assert_string_equal(w.name, "r1");
}
static void get_vm(vms_cur *p)
{
	struct vms_msg_vm v;
	uint8_t sha[32];
	memset(sha, 0x5a, 32);
	assert_int_equal(vms_msg_vm_get(p, &v), 0);
	assert_true(v.vm == 3 && v.pages == 65536);
	assert_string_equal(v.name, "web.1");
	assert_memory_equal(v.sha256, sha, 32);
}
static void get_map(vms_cur *p)
{
	uint32_t vm, count, id;
	uint64_t first;
	uint8_t kind;
	vms_cur ids;
	assert_int_equal(vms_msg_map_get(p, &vm, &first), 0);
	assert_true(vm == 3 && first == 16);
	assert_int_equal(vms_msg_map_run(p, &kind, &count, &ids), 0);
	assert_true(kind == 1 && count == 2);
	assert_int_equal(vms_cur_be32(&ids, &id), 0);
	assert_int_equal(id, 17);
	assert_int_equal(vms_cur_be32(&ids, &id), 0);
	assert_int_equal(id, 18);
	assert_int_equal(vms_cur_left(&ids), 0);
	assert_int_equal(vms_cur_left(p), 0);
}
static void get_empty(vms_cur *p) { assert_int_equal(vms_msg_empty_get(p), 0); }
static void get_join(vms_cur *p)
{
	struct vms_msg_join j;
	assert_int_equal(vms_msg_join_get(p, &j), 0);
	assert_true(j.group == 2 && j.addr == 0xef4d0002 && j.port == 7500 && j.source == 0x0a4d0001 &&
		    j.messages == 1234);
	assert_memory_equal(j.key, hello_key, 32);
}
static void get_u32_2(vms_cur *p)
{
	uint32_t v;
	assert_int_equal(vms_msg_u32_get(p, &v), 0);
	assert_int_equal(v, 2);
}
static void get_group_done(vms_cur *p)
{
	struct vms_msg_group_done d;
	assert_int_equal(vms_msg_group_done_get(p, &d), 0);
	assert_true(d.group == 2 && d.received == 1234 && d.rejected == 3);
}
static void get_mcast_ack(vms_cur *p)
{
	uint32_t g, n;
	assert_int_equal(vms_msg_mcast_ack_get(p, &g, &n), 0);
	assert_true(g == 2 && n == 1280);
}
static void get_missing(vms_cur *p)
{
	struct vms_msg_missing m;
	size_t left = 5;
	uint32_t id;
	assert_int_equal(vms_msg_missing_get(p, &m, &left), 0);
	assert_true(m.last == 1 && m.count == 2 && left == 3);
	assert_int_equal(vms_cur_be32(&m.ids, &id), 0);
	assert_int_equal(id, 17);
	assert_int_equal(vms_cur_be32(&m.ids, &id), 0);
	assert_int_equal(id, 0x01020304);
	assert_int_equal(vms_cur_left(&m.ids), 0);
}
static void get_content(vms_cur *p)
{
	uint8_t want[VMS_WIRE_PAGE];
	const uint8_t *page;
	uint32_t id;
	vms_pagex *x;
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	assert_int_equal(vms_msg_content_get(p, &id, x, &page), 0);
	assert_int_equal(id, 9);
	assert_ptr_equal(page, vms_pagex_page(x));
	assert_memory_equal(page, (page_of('v', want), want), VMS_WIRE_PAGE);
	vms_pagex_free(x);
}
static void get_done(vms_cur *p)
{
	struct vms_msg_done d;
	uint8_t sha[32];
	assert_int_equal(vms_msg_done_get(p, &d), 0);
	assert_int_equal(d.count, 2);
	memset(sha, 0xa0, 32);
	assert_memory_equal(vms_msg_done_sha256(&d, 0), sha, 32);
	memset(sha, 0xa1, 32);
	assert_memory_equal(vms_msg_done_sha256(&d, 1), sha, 32);
}
static void get_error(vms_cur *p)
{
	char text[VMS_WIRE_ERROR_MAX + 1];
	assert_int_equal(vms_msg_error_get(p, text), 0);
	assert_string_equal(text, "disk full");
}
static void get_stream(vms_cur *p)
{
	struct vms_msg_stream m;
	char *store;
	assert_int_equal(vms_msg_stream_get(p, &m, &store), 0);
	assert_true(m.session == 0x1122334455667788ull && m.vm == 3 && m.argc == 2);
	assert_string_equal(m.argv[0], "qemu");
	assert_string_equal(m.argv[1], "-S");
	assert_null(m.argv[2]);
	free(store);
}
static void get_sdata(vms_cur *p)
{
	const uint8_t *d;
	size_t len;
	assert_int_equal(vms_msg_sdata_get(p, &d, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(d, "QEVM", 4);
}
static void get_sref(vms_cur *p)
{
	struct vms_msg_sref m;
	uint8_t sha[32];
	memset(sha, 0x42, 32);
	assert_int_equal(vms_msg_sref_get(p, &m), 0);
	assert_true(m.vm == 1 && m.page == 77 && m.hdr_len == sizeof(hdr_pc));
	assert_memory_equal(m.sha256, sha, 32);
	assert_memory_equal(m.hdr, hdr_pc, sizeof(hdr_pc));
}
static void get_digests(vms_cur *p)
{
	struct vms_msg_digests m;
	uint8_t dig[32];
	memset(dig, 0x11, 16);
	memset(dig + 16, 0x22, 16);
	assert_int_equal(vms_msg_digests_get(p, &m), 0);
	assert_true(m.last == 1 && m.first == 4096 && m.count == 2);
	assert_memory_equal(m.dig, dig, 32);
}
static void get_u64page(vms_cur *p, uint64_t want_n, uint8_t fill)
{
	uint64_t n;
	const uint8_t *d;
	uint8_t want[VMS_WIRE_PAGE];
	assert_int_equal(vms_msg_u64page_get(p, &n, &d), 0);
	assert_true(n == want_n);
	assert_memory_equal(d, (page_of(fill, want), want), VMS_WIRE_PAGE);
}
static void get_fix(vms_cur *p) { get_u64page(p, 9, 0x3c); }
static void get_spage(vms_cur *p) { get_u64page(p, 7, 0x3d); }
static void get_need(vms_cur *p)
{
	uint64_t v;
	assert_int_equal(vms_msg_u64_get(p, &v), 0);
	assert_true(v == 5);
}
static void get_ack(vms_cur *p)
{
	uint64_t v;
	assert_int_equal(vms_msg_u64_get(p, &v), 0);
	assert_true(v == 512);
}
static void get_outcome(vms_cur *p)
{
	uint64_t s;
	uint32_t vm;
	assert_int_equal(vms_msg_outcome_get(p, &s, &vm), 0);
	assert_true(s == 0x0102030405060708ull && vm == 3);
}
static void get_outcome_is(vms_cur *p)
{
	enum vms_outcome o;
	assert_int_equal(vms_msg_outcome_is_get(p, &o), 0);
	assert_int_equal(o, VMS_OUTCOME_COMMITTED);
}
static void get_scomp(vms_cur *p)
{
	struct vms_msg_scomp m;
	uint8_t page[VMS_WIRE_PAGE], want[VMS_WIRE_PAGE];
	vms_pagex *x;
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	assert_int_equal(vms_msg_scomp_get(p, &m, x, page), 0);
	assert_true(m.hdr_len == sizeof(hdr_pc) && m.z_len == sizeof(lzo_v));
	assert_memory_equal(m.hdr, hdr_pc, sizeof(hdr_pc));
	assert_memory_equal(m.z, lzo_v, sizeof(lzo_v));
	assert_memory_equal(page, (page_of('v', want), want), VMS_WIRE_PAGE);
	vms_pagex_free(x);
}

static int put_lvstream(vms_wbuf *b)
{
	struct vms_msg_lvstream m = { .session = 0x1122334455667788ull, .vm = 3, .domain = "web1",
				      .sock = "/run/x.sock", .nblocks = 1, .blocks = { { "pc.ram", 128u << 20 } } };
	return vms_msg_lvstream_put(b, &m);
}
static void get_lvstream(vms_cur *p)
{
	struct vms_msg_lvstream m;
	assert_int_equal(vms_msg_lvstream_get(p, &m), 0);
	assert_true(m.session == 0x1122334455667788ull && m.vm == 3 && m.nblocks == 1);
	assert_string_equal(m.domain, "web1");
	assert_string_equal(m.sock, "/run/x.sock");
	assert_string_equal(m.blocks[0].name, "pc.ram");
	assert_true(m.blocks[0].used == 128u << 20);
}
static const uint8_t rp_shut[] = { 0, 1, 0, 4, 0, 0, 0, 0 };
static int put_rpath(vms_wbuf *b) { return vms_msg_rpath_put(b, rp_shut, sizeof(rp_shut)); }
static void get_rpath(vms_cur *p)
{
	const uint8_t *d;
	size_t n;
	assert_int_equal(vms_msg_rpath_get(p, &d, &n), 0);
	assert_int_equal(n, sizeof(rp_shut));
	assert_memory_equal(d, rp_shut, n);
}

struct golden {
	const char *name;
	uint8_t type;
	const uint8_t *bytes;
	size_t len;
	int (*put)(vms_wbuf *b);
	void (*get)(vms_cur *payload);
	/* the payload's last field runs to the end of the frame (SDATA's
	 * bytes, SREF's header): only the frame length delimits it, so a
	 * shorter or longer payload is another valid message */
	int to_end;
};

#define G(n, t, get, to_end) { #n, t, g_##n, sizeof(g_##n), put_##n, get, to_end }
static const struct golden goldens[] = {
	G(hello, VMS_MSG_HELLO, get_hello, 0),
	G(welcome, VMS_MSG_WELCOME, get_welcome, 0),
	G(vm, VMS_MSG_VM, get_vm, 0),
	G(map, VMS_MSG_MAP, get_map, 0),
	G(maps_end, VMS_MSG_MAPS_END, get_empty, 0),
	G(join, VMS_MSG_MCAST_JOIN, get_join, 0),
	G(joined, VMS_MSG_JOINED, get_u32_2, 0),
	G(mcast_end, VMS_MSG_MCAST_END, get_u32_2, 0),
	G(group_done, VMS_MSG_GROUP_DONE, get_group_done, 0),
	G(missing, VMS_MSG_MISSING, get_missing, 0),
	G(content, VMS_MSG_CONTENT, get_content, 0),
	G(end, VMS_MSG_END, get_empty, 0),
	G(done, VMS_MSG_DONE, get_done, 0),
	G(error, VMS_MSG_ERROR, get_error, 0),
	G(live, VMS_MSG_LIVE, get_empty, 0),
	G(stream, VMS_MSG_STREAM, get_stream, 0),
	G(ready, VMS_MSG_READY, get_empty, 0),
	G(sdata, VMS_MSG_SDATA, get_sdata, 1),
	G(sref, VMS_MSG_SREF, get_sref, 1),
	G(send, VMS_MSG_SEND, get_empty, 0),
	G(loaded, VMS_MSG_LOADED, get_empty, 0),
	G(verify, VMS_MSG_VERIFY, get_empty, 0),
	G(digests, VMS_MSG_DIGESTS, get_digests, 0),
	G(commit, VMS_MSG_COMMIT, get_empty, 0),
	G(running, VMS_MSG_RUNNING, get_empty, 0),
	G(live_end, VMS_MSG_LIVE_END, get_empty, 0),
	G(fix, VMS_MSG_FIX, get_fix, 0),
	G(need, VMS_MSG_NEED, get_need, 0),
	G(spage, VMS_MSG_SPAGE, get_spage, 0),
	G(ack, VMS_MSG_ACK, get_ack, 0),
	G(scomp, VMS_MSG_SCOMP, get_scomp, 0),
	G(outcome, VMS_MSG_OUTCOME, get_outcome, 0),
	G(outcome_is, VMS_MSG_OUTCOME_IS, get_outcome_is, 0),
	G(mcast_ack, VMS_MSG_MCAST_ACK, get_mcast_ack, 0),
	G(seeding, VMS_MSG_SEEDING, get_empty, 0),
	G(lvstream, VMS_MSG_LVSTREAM, get_lvstream, 0),
	G(rpath, VMS_MSG_RPATH, get_rpath, 1),
};
#define NGOLDEN (sizeof(goldens) / sizeof(goldens[0]))

/* Every type of enum vms_msg_type has its vector, in order, and
 * vms_msg_check knows it; nothing else is a type. */
static void test_golden_cover_every_type(void **state)
{
	(void)state;
	assert_int_equal(NGOLDEN, VMS_MSG_RPATH);
	for (unsigned t = 0; t < 256; t++) {
		vms_cur p;
		if (t >= 1 && t <= NGOLDEN) {
			const struct golden *g = &goldens[t - 1];
			assert_int_equal(g->type, t);
			assert_int_equal(g->bytes[4], t);
			vms_cur_init(&p, g->bytes + 5, g->len - 5);
			assert_int_equal(vms_msg_check((uint8_t)t, &p), 0);
		} else {
			vms_cur_init(&p, NULL, 0);
			assert_int_equal(vms_msg_check((uint8_t)t, &p), -EBADMSG);
		}
	}
}

/* encode == vector; decode(vector) == fields; the frame reader finds
 * exactly one frame in the vector and none in any proper prefix. */
static void test_golden_vectors(void **state)
{
	(void)state;
	for (size_t i = 0; i < NGOLDEN; i++) {
		const struct golden *g = &goldens[i];
		vms_wbuf b = { 0 };
		print_message("# golden %s\n", g->name);
		assert_int_equal(g->put(&b), 0);
		assert_int_equal(b.len, g->len);
		assert_memory_equal(b.data, g->bytes, g->len);
		vms_wbuf_free(&b);

		vms_frames f = { 0 };
		uint8_t type;
		vms_cur p;
		assert_int_equal(vms_frames_feed(&f, g->bytes, g->len), 0);
		assert_int_equal(vms_frames_next(&f, &type, &p), 1);
		assert_int_equal(type, g->type);
		g->get(&p);
		assert_int_equal(vms_frames_next(&f, &type, &p), 0);
		vms_frames_free(&f);
		for (size_t n = 0; n < g->len; n++) {
			assert_int_equal(vms_frames_feed(&f, g->bytes, n), 0);
			assert_int_equal(vms_frames_next(&f, &type, &p), 0);
			vms_frames_free(&f);
		}
	}
}

/* Every proper prefix of each payload fails with -EBADMSG, and so does the
 * payload with one byte more. SDATA and SREF end where the frame ends: a
 * prefix or a longer payload is another valid message (or -EBADMSG once
 * the SREF header is under 8 bytes or SDATA is empty); the frame length,
 * checked above, is what delimits them. */
static void test_golden_truncation_and_trailing(void **state)
{
	(void)state;
	static uint8_t longer[VMS_WIRE_PAGE + 64];
	for (size_t i = 0; i < NGOLDEN; i++) {
		const struct golden *g = &goldens[i];
		const uint8_t *payload = g->bytes + 5;
		size_t len = g->len - 5;
		vms_cur p;
		print_message("# truncated %s\n", g->name);
		for (size_t n = 0; n < len; n++) {
			vms_cur_init(&p, payload, n);
			int r = vms_msg_check(g->type, &p);
			if (g->to_end && n >= (g->type == VMS_MSG_SDATA || g->type == VMS_MSG_RPATH ? 1 : 4 + 8 + 32 + 8))
				assert_int_equal(r, 0);
			else
				assert_int_equal(r, -EBADMSG);
		}
		assert_true(len + 1 <= sizeof(longer));
		memcpy(longer, payload, len);
		longer[len] = 0;
		vms_cur_init(&p, longer, len + 1);
		assert_int_equal(vms_msg_check(g->type, &p), g->to_end ? 0 : -EBADMSG);
		longer[len] = 0xff;
		vms_cur_init(&p, longer, len + 1);
		assert_int_equal(vms_msg_check(g->type, &p), g->to_end ? 0 : -EBADMSG);
	}
}

/* HELLO without a seal: flags 0. */
static const uint8_t hello_golden[] = {
	0, 0, 0, 0x13, VMS_MSG_HELLO, 'V', 'M', 'S', 'C', 0x00, 0x07,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x02, 't', '1', 0x00,
};

static void test_hello_golden(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	struct vms_msg_hello h = { .session = 0x0102030405060708ull, .target = "t1" }, g;
	assert_int_equal(vms_msg_hello_put(&b, &h), 0);
	assert_int_equal(b.len, sizeof(hello_golden));
	assert_memory_equal(b.data, hello_golden, sizeof(hello_golden));
	vms_frames f = { 0 };
	uint8_t type;
	vms_cur p;
	assert_int_equal(vms_frames_feed(&f, b.data, b.len), 0);
	assert_int_equal(vms_frames_next(&f, &type, &p), 1);
	assert_int_equal(type, VMS_MSG_HELLO);
	assert_int_equal(vms_msg_hello_get(&p, &g), 0);
	assert_true(g.session == h.session);
	assert_string_equal(g.target, "t1");
	assert_int_equal(g.flags, 0);
	assert_int_equal(vms_frames_next(&f, &type, &p), 0);
	vms_frames_free(&f);
	vms_wbuf_free(&b);
}

/* Decode one frame's payload with the decoder for its type. */
static int decode(uint8_t type, vms_cur *p)
{
	return vms_msg_check(type, p);
}

/* One of every message, back to back in one buffer. */
static void build_all(vms_wbuf *b)
{
	static uint8_t page[4096];
	memset(page, 0xab, sizeof(page));
	struct vms_msg_hello h = { .session = 7, .target = "t2" };
	struct vms_msg_welcome w = { 1, "recv-1" };
	struct vms_msg_vm v = { .vm = 3, .name = "web.1", .pages = 65536 };
	memset(v.sha256, 0x5a, 32);
	struct vms_msg_join j = { 2, 0xef4d0002, 7500, 0x0a4d0001, 1234, { 0 } };
	struct vms_msg_group_done d = { 2, 1234, 1 };
	static const uint32_t missing[] = { 17, 18, 4096 };
	uint8_t sha[2 * 32];
	memset(sha, 0x77, sizeof(sha));
	assert_int_equal(vms_msg_hello_put(b, &h), 0);
	assert_int_equal(vms_msg_welcome_put(b, &w), 0);
	assert_int_equal(vms_msg_vm_put(b, &v), 0);
	size_t start;
	static const uint32_t refs[] = { 17, 18 };
	assert_int_equal(vms_msg_map_begin(b, 3, 0, &start), 0);
	assert_int_equal(vms_msg_map_run_put(b, 0, 10, NULL), 0);
	assert_int_equal(vms_msg_map_run_put(b, 1, 2, refs), 0);
	assert_int_equal(vms_msg_map_end(b, start), 0);
	assert_int_equal(vms_msg_empty_put(b, VMS_MSG_MAPS_END), 0);
	assert_int_equal(vms_msg_join_put(b, &j), 0);
	assert_int_equal(vms_msg_u32_put(b, VMS_MSG_JOINED, 2), 0);
	assert_int_equal(vms_msg_u32_put(b, VMS_MSG_MCAST_END, 2), 0);
	assert_int_equal(vms_msg_group_done_put(b, &d), 0);
	uint8_t content[VMS_CONTENT_MAX];
	assert_int_equal(vms_msg_content_put(b, content, vms_content_encode(NULL, 17, page, content)), 0);
	for (enum vms_compress a = VMS_COMPRESS_LZO; a <= VMS_COMPRESS_LZ4; a++) {   /* (compressed) */
		vms_pagez *z;
		assert_int_equal(vms_pagez_new(a, &z, NULL), 0);
		size_t len = vms_content_encode(z, 18 + a, page, content);
		assert_true(len < VMS_CONTENT_MAX && content[4] == a);
		assert_int_equal(vms_msg_content_put(b, content, len), 0);
		vms_pagez_free(z);
	}
	assert_int_equal(vms_msg_empty_put(b, VMS_MSG_END), 0);
	assert_int_equal(vms_msg_missing_put(b, 1, missing, 3), 0);
	assert_int_equal(vms_msg_done_put(b, sha, 2), 0);
	assert_int_equal(vms_msg_error_put(b, "disk full"), 0);
}

static void test_round_trip_any_split(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	build_all(&b);
	for (size_t chunk = 1; chunk <= 4099; chunk += chunk < 16 ? 1 : 997) {
		vms_frames f = { 0 };
		unsigned frames = 0;
		for (size_t off = 0; off < b.len; off += chunk) {
			size_t n = b.len - off < chunk ? b.len - off : chunk;
			assert_int_equal(vms_frames_feed(&f, b.data + off, n), 0);
			uint8_t type;
			vms_cur p;
			int r;
			while ((r = vms_frames_next(&f, &type, &p)) == 1) {
				assert_int_equal(decode(type, &p), 0);
				frames++;
			}
			assert_int_equal(r, 0);
		}
		assert_int_equal(frames, 17);
		vms_frames_free(&f);
	}
	vms_wbuf_free(&b);
}

/* Every message cut short at every length fails; one more byte fails too. */
static void test_truncation_and_trailing(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	build_all(&b);
	vms_frames f = { 0 };
	assert_int_equal(vms_frames_feed(&f, b.data, b.len), 0);
	uint8_t type;
	vms_cur p;
	while (vms_frames_next(&f, &type, &p) == 1) {
		size_t len = vms_cur_left(&p);
		const uint8_t *all = p.base + p.off;
		for (size_t n = 0; n < len; n++) {
			vms_cur q;
			vms_cur_init(&q, all, n);
			int r = decode(type, &q);
			/* a MAP cut between two runs is a valid, shorter MAP */
			if (type != VMS_MSG_MAP || r != 0)
				assert_int_equal(r, -EBADMSG);
		}
		uint8_t longer[8192];
		memcpy(longer, all, len);
		longer[len] = 0;
		vms_cur q;
		vms_cur_init(&q, longer, len + 1);
		assert_int_equal(decode(type, &q), -EBADMSG);
	}
	vms_frames_free(&f);
	vms_wbuf_free(&b);
}

/* Wrap LZO1X-1 output of `n` bytes of `in` (tag 1 first) as a content and
 * decode it. */
static int decode_lzo_of(const uint8_t *in, size_t n)
{
	static lzo_align_t work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
	uint8_t msg[5 + 8192] = { 0, 0, 0, 9, VMS_COMPRESS_LZO };
	lzo_uint len = 0;
	assert_int_equal(lzo1x_1_compress(in, n, msg + 5, &len, work), LZO_E_OK);
	vms_cur c;
	uint32_t id;
	const uint8_t *page;
	vms_pagex *x;
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	vms_cur_init(&c, msg, 5 + len);
	int r = vms_msg_content_get(&c, &id, x, &page);
	vms_pagex_free(x);
	return r;
}

/* Contents, with each compressor: a compressible page goes compressed (its
 * tag first) and comes back exact, an incompressible one goes as it is;
 * compressed bytes that are cut, padded, or decompress to anything but
 * exactly one page are refused. (test_compress.c has the compressors'
 * own malformed inputs.) */
static void test_content_compression(void **state)
{
	(void)state;
	uint8_t text[4096], noise[4096], msg[VMS_CONTENT_MAX], big[5000];
	uint64_t r64 = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(noise); i++) {
		r64 ^= r64 << 13, r64 ^= r64 >> 7, r64 ^= r64 << 17;
		noise[i] = (uint8_t)r64;
		text[i] = (uint8_t)"the quick brown fox jumps "[i % 26] ^ (uint8_t)(i / 512);
	}
	vms_pagex *x;
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	uint32_t id;
	const uint8_t *page;
	vms_cur c;
	for (enum vms_compress a = VMS_COMPRESS_LZO; a <= VMS_COMPRESS_LZ4; a++) {
		print_message("# contents with %s\n", vms_compress_name(a));
		vms_pagez *z;
		assert_int_equal(vms_pagez_new(a, &z, NULL), 0);
		assert_int_equal(vms_pagez_algo(z), a);
		size_t len = vms_content_encode(z, 77, text, msg);
		assert_true(len > 5 && len < 1024);
		assert_int_equal(msg[4], a);                    /* the tag */
		vms_cur_init(&c, msg, len);
		assert_int_equal(vms_msg_content_get(&c, &id, x, &page), 0);
		assert_int_equal(id, 77);
		assert_ptr_equal(page, vms_pagex_page(x));
		assert_memory_equal(page, text, 4096);
		for (size_t n = 0; n < len; n++) {              /* cut anywhere */
			vms_cur_init(&c, msg, n);
			assert_int_equal(vms_msg_content_get(&c, &id, x, &page), -EBADMSG);
		}
		msg[len] = 0;                                   /* one byte too many */
		vms_cur_init(&c, msg, len + 1);
		assert_int_equal(vms_msg_content_get(&c, &id, x, &page), -EBADMSG);

		assert_int_equal(vms_content_encode(z, 78, noise, msg), VMS_CONTENT_MAX);
		assert_int_equal(vms_content_encode(NULL, 79, text, msg), VMS_CONTENT_MAX);
		vms_cur_init(&c, msg, VMS_CONTENT_MAX);
		assert_int_equal(vms_msg_content_get(&c, &id, x, &page), 0);
		assert_ptr_equal(page, msg + 4);
		assert_memory_equal(page, text, 4096);

		/* garbage in every position of a compressed page: refused or
		 * exactly one page, never past the scratch page (ASan watches) */
		len = vms_content_encode(z, 80, text, msg);
		for (size_t i = 4; i < len; i++) {
			uint8_t keep = msg[i];
			msg[i] ^= 0x5a;
			vms_cur_init(&c, msg, len);
			int r = vms_msg_content_get(&c, &id, x, &page);
			assert_true(r == 0 || r == -EBADMSG);
			msg[i] = keep;
		}
		vms_pagez_free(z);

		/* a long run of incompressible pages: then only every 16th page
		 * is tried, and the first that shrinks turns compression back on */
		vms_pagez *z2;
		assert_int_equal(vms_pagez_new(a, &z2, NULL), 0);
		for (int i = 0; i < 65; i++)      /* the 65th is the last one tried */
			assert_int_equal(vms_content_encode(z2, 1, noise, msg), VMS_CONTENT_MAX);
		unsigned raw = 0;
		while (vms_content_encode(z2, 1, text, msg) == VMS_CONTENT_MAX)
			raw++;
		assert_int_equal(raw, 15);
		for (int i = 0; i < 16; i++)
			assert_true(vms_content_encode(z2, 1, text, msg) < 1024);
		vms_pagez_free(z2);
	}
	vms_pagex_free(x);

	/* valid LZO, but not one page: shorter, longer, empty */
	memset(big, 'a', sizeof(big));
	assert_int_equal(decode_lzo_of(big, 4095), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 4097), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 5000), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 0), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 4096), 0);
}

static void test_bad_fields(void **state)
{
	(void)state;
	vms_cur c;
	struct vms_msg_hello h;
	static const uint8_t bad_magic[] = { 'V', 'M', 'S', 'X', 0, 4, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a', 0, X32(0) };
	vms_cur_init(&c, bad_magic, sizeof(bad_magic));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	/* versions 1 and 2 (HELLO ended after the target name), 3 to 6 (the
	 * same HELLO as 7, but untagged compressed pages / no MCAST_ACK / no
	 * SEEDING / no libvirt streams) and a future 8 are told apart from
	 * garbage by the magic and version alone */
	static const uint8_t v1[] = { 'V', 'M', 'S', 'C', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a' };
	vms_cur_init(&c, v1, sizeof(v1));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	static const uint8_t v2[] = { 'V', 'M', 'S', 'C', 0, 2, 1, 2, 3, 4, 5, 6, 7, 8, 2, 't', '1' };
	vms_cur_init(&c, v2, sizeof(v2));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	vms_cur_init(&c, v2, 6);
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	uint8_t v3[sizeof(g_hello) - 5];
	memcpy(v3, g_hello + 5, sizeof(v3));
	v3[5] = 3;
	vms_cur_init(&c, v3, sizeof(v3));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	v3[5] = 5;
	vms_cur_init(&c, v3, sizeof(v3));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	v3[5] = 6;
	vms_cur_init(&c, v3, sizeof(v3));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	static const uint8_t v8[] = { 'V', 'M', 'S', 'C', 0, 8 };
	vms_cur_init(&c, v8, sizeof(v8));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	vms_cur_init(&c, v8, 5);                        /* no whole version: garbage */
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	static const uint8_t bad_name[] = { 'V', 'M', 'S', 'C', 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 1, '/', 0 };
	vms_cur_init(&c, bad_name, sizeof(bad_name));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	static const uint8_t empty_name[] = { 'V', 'M', 'S', 'C', 0, 7, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
	vms_cur_init(&c, empty_name, sizeof(empty_name));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	/* flags other than bit 0 */
	uint8_t hello[sizeof(g_hello) - 5];
	const size_t flags_at = 4 + 2 + 8 + 3;      /* magic, version, session, "t1" */
	memcpy(hello, g_hello + 5, sizeof(hello));
	vms_cur_init(&c, hello, sizeof(hello));
	assert_int_equal(vms_msg_hello_get(&c, &h), 0);
	for (unsigned f = 0; f < 256; f++) {
		hello[flags_at] = (uint8_t)f;
		vms_cur_init(&c, hello, sizeof(hello));
		assert_int_equal(vms_msg_hello_get(&c, &h), f <= VMS_HELLO_SEALED ? 0 : -EBADMSG);
	}
	vms_wbuf b = { 0 };
	struct vms_msg_hello hp = { .session = 1, .target = "t1", .flags = 2 };
	assert_int_equal(vms_msg_hello_put(&b, &hp), -EINVAL);
	assert_int_equal(b.len, 0);
	vms_wbuf_free(&b);
	/* GROUP_DONE as version 2 sent it (no rejected count) */
	struct vms_msg_group_done gd;
	vms_cur_init(&c, g_group_done + 5, 8);
	assert_int_equal(vms_msg_group_done_get(&c, &gd), -EBADMSG);
	/* a join to a unicast address, a content id 0, a run count 0 */
	struct vms_msg_join j;
	static const uint8_t unicast[] = { 0, 0, 0, 1, 10, 0, 0, 1, 0x1d, 0x4c, 10, 0, 0, 1, 0, 0, 0, 1 };
	vms_cur_init(&c, unicast, sizeof(unicast));
	assert_int_equal(vms_msg_join_get(&c, &j), -EBADMSG);
	uint8_t content[4100] = { 0 };
	uint32_t id;
	const uint8_t *page;
	vms_pagex *x;
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	vms_cur_init(&c, content, sizeof(content));
	assert_int_equal(vms_msg_content_get(&c, &id, x, &page), -EBADMSG);
	vms_pagex_free(x);
	uint8_t kind;
	uint32_t count;
	vms_cur ids;
	static const uint8_t run0[] = { 1, 0, 0, 0, 0 };
	vms_cur_init(&c, run0, sizeof(run0));
	assert_int_equal(vms_msg_map_run(&c, &kind, &count, &ids), -EBADMSG);
	static const uint8_t huge_run[] = { 1, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 1 };
	vms_cur_init(&c, huge_run, sizeof(huge_run));
	assert_int_equal(vms_msg_map_run(&c, &kind, &count, &ids), -EBADMSG);
	assert_int_equal(vms_cur_left(&c), sizeof(huge_run));     /* nothing consumed */
}

/* MISSING and DONE at and past their caps; MISSING's session total; MAP's
 * builder refusing what its decoder would refuse. */
static void test_missing_done_map(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	vms_cur c;
	struct vms_msg_missing m;
	size_t left;
	static uint32_t ids[VMS_WIRE_IDS_MAX + 1];
	for (size_t i = 0; i <= VMS_WIRE_IDS_MAX; i++)
		ids[i] = (uint32_t)i + 1;
	/* put refuses and leaves the buffer as it was */
	assert_int_equal(vms_msg_missing_put(&b, 2, ids, 1), -EINVAL);
	assert_int_equal(vms_msg_missing_put(&b, 1, ids, 0), -EINVAL);
	assert_int_equal(vms_msg_missing_put(&b, 1, ids, VMS_WIRE_IDS_MAX + 1), -EINVAL);
	uint32_t zero[] = { 5, 0 };
	assert_int_equal(vms_msg_missing_put(&b, 1, zero, 2), -EINVAL);
	assert_int_equal(b.len, 0);
	/* exactly the per-message cap passes; the session total is spent */
	assert_int_equal(vms_msg_missing_put(&b, 0, ids, VMS_WIRE_IDS_MAX), 0);
	assert_int_equal(b.len, 5 + 1 + 4 + 4 * (size_t)VMS_WIRE_IDS_MAX);
	left = VMS_WIRE_IDS_MAX;
	vms_cur_init(&c, b.data + 5, b.len - 5);
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), 0);
	assert_true(m.last == 0 && m.count == VMS_WIRE_IDS_MAX && left == 0);
	vms_cur_init(&c, b.data + 5, b.len - 5);
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -E2BIG);
	assert_int_equal(left, 0);
	/* a session of 3 distinct contents: 2 ids, then 2 more is too many */
	left = 3;
	vms_cur_init(&c, g_missing + 5, sizeof(g_missing) - 5);
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), 0);
	assert_int_equal(left, 1);
	vms_cur_init(&c, g_missing + 5, sizeof(g_missing) - 5);
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -E2BIG);
	assert_int_equal(left, 1);
	/* one id over the per-message cap, all its bytes there */
	vms_wbuf_reset(&b);
	assert_int_equal(vms_wbuf_u8(&b, 1), 0);
	assert_int_equal(vms_wbuf_be32(&b, VMS_WIRE_IDS_MAX + 1), 0);
	for (size_t i = 0; i <= VMS_WIRE_IDS_MAX; i++)
		assert_int_equal(vms_wbuf_be32(&b, ids[i]), 0);
	left = SIZE_MAX;
	vms_cur_init(&c, b.data, b.len);
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -EBADMSG);
	/* no ids, last = 2, an id 0 */
	static const uint8_t no_ids[] = { 1, 0, 0, 0, 0 };
	static const uint8_t last2[] = { 2, 0, 0, 0, 1, 0, 0, 0, 1 };
	static const uint8_t id0[] = { 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0 };
	vms_cur_init(&c, no_ids, sizeof(no_ids));
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -EBADMSG);
	vms_cur_init(&c, last2, sizeof(last2));
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -EBADMSG);
	vms_cur_init(&c, id0, sizeof(id0));
	assert_int_equal(vms_msg_missing_get(&c, &m, &left), -EBADMSG);
	assert_true(left == SIZE_MAX);

	/* DONE: none (a target the plan left empty), the cap, one past it, out of order */
	struct vms_msg_done d;
	static uint8_t sha[(VMS_WIRE_VMS_MAX + 1) * 32];
	for (size_t i = 0; i < sizeof(sha); i++)
		sha[i] = (uint8_t)(i / 32);
	vms_wbuf_reset(&b);
	assert_int_equal(vms_msg_done_put(&b, NULL, 0), 0);
	vms_cur_init(&c, b.data + 5, b.len - 5);
	assert_int_equal(vms_msg_done_get(&c, &d), 0);
	assert_int_equal(d.count, 0);
	vms_wbuf_reset(&b);
	assert_int_equal(vms_msg_done_put(&b, sha, VMS_WIRE_VMS_MAX + 1), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(vms_msg_done_put(&b, sha, VMS_WIRE_VMS_MAX), 0);
	vms_cur_init(&c, b.data + 5, b.len - 5);
	assert_int_equal(vms_msg_done_get(&c, &d), 0);
	assert_int_equal(d.count, VMS_WIRE_VMS_MAX);
	assert_memory_equal(vms_msg_done_sha256(&d, 4095), sha + 4095 * 32, 32);
	vms_wbuf_reset(&b);
	assert_int_equal(vms_wbuf_be32(&b, VMS_WIRE_VMS_MAX + 1), 0);
	for (uint32_t i = 0; i <= VMS_WIRE_VMS_MAX; i++) {
		assert_int_equal(vms_wbuf_be32(&b, i), 0);
		assert_int_equal(vms_wbuf_bytes(&b, sha + (size_t)i * 32, 32), 0);
	}
	vms_cur_init(&c, b.data, b.len);
	assert_int_equal(vms_msg_done_get(&c, &d), -EBADMSG);
	uint8_t swapped[sizeof(g_done) - 5];
	memcpy(swapped, g_done + 5, sizeof(swapped));
	swapped[4 + 3] = 1;                       /* vm 1, then vm 1 */
	vms_cur_init(&c, swapped, sizeof(swapped));
	assert_int_equal(vms_msg_done_get(&c, &d), -EBADMSG);

	/* MAP: no runs, a bad run, a VM past the cap */
	size_t start;
	vms_wbuf_reset(&b);
	vms_cur_init(&c, g_map + 5, 12);
	uint32_t vm;
	uint64_t first;
	assert_int_equal(vms_msg_map_get(&c, &vm, &first), -EBADMSG);
	uint8_t map0[sizeof(g_map) - 5];
	memcpy(map0, g_map + 5, sizeof(map0));
	map0[sizeof(map0) - 1] = 0;               /* the second id: 0 */
	vms_cur_init(&c, map0, sizeof(map0));
	assert_int_equal(vms_msg_check(VMS_MSG_MAP, &c), -EBADMSG);
	assert_int_equal(vms_msg_map_begin(&b, VMS_WIRE_VMS_MAX, 0, &start), -EINVAL);
	assert_int_equal(b.len, 0);
	assert_int_equal(vms_msg_map_begin(&b, 1, 0, &start), 0);
	size_t head = b.len;
	assert_int_equal(vms_msg_map_run_put(&b, 2, 1, ids), -EINVAL);
	assert_int_equal(vms_msg_map_run_put(&b, 0, 0, NULL), -EINVAL);
	assert_int_equal(vms_msg_map_run_put(&b, 1, 1, NULL), -EINVAL);
	assert_int_equal(vms_msg_map_run_put(&b, 1, 2, zero), -EINVAL);
	assert_int_equal(b.len, head);
	assert_int_equal(vms_msg_map_end(&b, start), -EINVAL);
	assert_int_equal(b.len, 0);
	vms_wbuf_free(&b);
}

/* The live session's messages: what goes in comes out, field by field. */
static void test_live_messages(void **state)
{
	(void)state;
	static uint8_t page[4096], sha[2 * VMS_WIRE_DIGEST];
	memset(page, 0x3c, sizeof(page));
	memset(sha, 0x11, sizeof(sha));
	char *argv[] = { "qemu-system-x86_64", "-m", "128", NULL };
	struct vms_msg_stream st = { 0x1122334455667788ull, 3, 3, argv };
	uint8_t hdr[12] = { 0, 0, 0, 0, 0, 0, 0x10, 0x08, 4, 'p', 'c', '.' };
	struct vms_msg_sref ref = { 1, 77, { 0 }, hdr, sizeof(hdr) };
	memset(ref.sha256, 0x42, 32);
	struct vms_msg_digests dg = { 1, 4096, 2, sha };
	vms_wbuf b = { 0 };
	assert_int_equal(vms_msg_empty_put(&b, VMS_MSG_LIVE), 0);
	assert_int_equal(vms_msg_stream_put(&b, &st), 0);
	assert_int_equal(vms_msg_sdata_put(&b, "QEVM", 4), 0);
	assert_int_equal(vms_msg_sref_put(&b, &ref), 0);
	assert_int_equal(vms_msg_digests_put(&b, &dg), 0);
	assert_int_equal(vms_msg_u64page_put(&b, VMS_MSG_FIX, 9, page), 0);
	vms_pagez *z;
	vms_pagex *x;
	const uint8_t *zb;
	assert_int_equal(vms_pagez_new(VMS_COMPRESS_ZSTD, &z, NULL), 0);
	assert_int_equal(vms_pagex_new(&x, NULL), 0);
	struct vms_msg_scomp sz = { hdr, sizeof(hdr), NULL, vms_page_compress(z, page, &zb) };
	sz.z = zb;
	assert_true(sz.z_len > 1 && sz.z_len < 256 && zb[0] == VMS_COMPRESS_ZSTD);
	assert_int_equal(vms_msg_scomp_put(&b, &sz), 0);
	vms_frames f = { 0 };
	assert_int_equal(vms_frames_feed(&f, b.data, b.len), 0);
	uint8_t type;
	vms_cur p;
	unsigned n = 0;
	while (vms_frames_next(&f, &type, &p) == 1) {
		vms_cur q = p;
		assert_int_equal(vms_msg_check(type, &q), 0);
		n++;
		if (type == VMS_MSG_STREAM) {
			struct vms_msg_stream m;
			char *store;
			assert_int_equal(vms_msg_stream_get(&p, &m, &store), 0);
			assert_true(m.session == st.session && m.vm == 3 && m.argc == 3);
			assert_string_equal(m.argv[0], "qemu-system-x86_64");
			assert_string_equal(m.argv[2], "128");
			assert_null(m.argv[3]);
			free(store);
		} else if (type == VMS_MSG_SDATA) {
			const uint8_t *d;
			size_t len;
			assert_int_equal(vms_msg_sdata_get(&p, &d, &len), 0);
			assert_int_equal(len, 4);
			assert_memory_equal(d, "QEVM", 4);
		} else if (type == VMS_MSG_SREF) {
			struct vms_msg_sref m;
			assert_int_equal(vms_msg_sref_get(&p, &m), 0);
			assert_true(m.vm == 1 && m.page == 77 && m.hdr_len == sizeof(hdr));
			assert_memory_equal(m.hdr, hdr, sizeof(hdr));
			assert_memory_equal(m.sha256, ref.sha256, 32);
		} else if (type == VMS_MSG_DIGESTS) {
			struct vms_msg_digests m;
			assert_int_equal(vms_msg_digests_get(&p, &m), 0);
			assert_true(m.last == 1 && m.first == 4096 && m.count == 2);
			assert_memory_equal(m.dig, sha, sizeof(sha));
		} else if (type == VMS_MSG_FIX) {
			uint64_t pg;
			const uint8_t *d;
			assert_int_equal(vms_msg_u64page_get(&p, &pg, &d), 0);
			assert_int_equal(pg, 9);
			assert_memory_equal(d, page, sizeof(page));
		} else if (type == VMS_MSG_SCOMP) {
			struct vms_msg_scomp m;
			uint8_t out[4096];
			assert_int_equal(vms_msg_scomp_get(&p, &m, x, out), 0);
			assert_true(m.hdr_len == sizeof(hdr) && m.z_len == sz.z_len);
			assert_memory_equal(m.hdr, hdr, sizeof(hdr));
			assert_memory_equal(out, page, sizeof(page));
		}
	}
	assert_int_equal(n, 7);
	vms_frames_free(&f);
	vms_wbuf_free(&b);

	/* refused: empty SDATA, a 7-byte page header, NUL inside an argument,
	 * no arguments, a DIGESTS longer than its count, a short FIX */
	vms_cur c;
	const uint8_t *d;
	size_t len;
	vms_cur_init(&c, page, 0);
	assert_int_equal(vms_msg_sdata_get(&c, &d, &len), -EBADMSG);
	assert_int_equal(vms_msg_sdata_put(&b, page, 0), -EINVAL);
	uint8_t sref[4 + 8 + 32 + 7] = { 0 };
	struct vms_msg_sref sm;
	vms_cur_init(&c, sref, sizeof(sref));
	assert_int_equal(vms_msg_sref_get(&c, &sm), -EBADMSG);
	/* SCOMP: a header too short or too long, no data, a tag alone, a
	 * whole page's worth; data that is not a page */
	struct vms_msg_scomp bad = { hdr, 7, zb, sz.z_len };
	assert_int_equal(vms_msg_scomp_put(&b, &bad), -EINVAL);
	bad.hdr_len = VMS_WIRE_SREF_HDR_MAX + 1;
	assert_int_equal(vms_msg_scomp_put(&b, &bad), -EINVAL);
	bad.hdr_len = 8;
	bad.z_len = 0;
	assert_int_equal(vms_msg_scomp_put(&b, &bad), -EINVAL);
	bad.z_len = 1;
	assert_int_equal(vms_msg_scomp_put(&b, &bad), -EINVAL);
	bad.z = page;
	bad.z_len = VMS_WIRE_PAGE;
	assert_int_equal(vms_msg_scomp_put(&b, &bad), -EINVAL);
	assert_int_equal(b.len, 0);
	uint8_t scomp[2 + 8 + 4] = { 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, VMS_COMPRESS_LZO, 0x11, 0, 0 }, out[4096];
	struct vms_msg_scomp gm;
	vms_cur_init(&c, scomp, sizeof(scomp));     /* LZO's end marker alone: no page */
	assert_int_equal(vms_msg_scomp_get(&c, &gm, x, out), -EBADMSG);
	vms_cur_init(&c, scomp, 10);                /* nothing after the header */
	assert_int_equal(vms_msg_scomp_get(&c, &gm, x, out), -EBADMSG);
	vms_cur_init(&c, scomp, 11);                /* the tag alone */
	assert_int_equal(vms_msg_scomp_get(&c, &gm, x, out), -EBADMSG);
	scomp[1] = 7;
	vms_cur_init(&c, scomp, sizeof(scomp));
	assert_int_equal(vms_msg_scomp_get(&c, &gm, x, out), -EBADMSG);
	vms_pagez_free(z);
	vms_pagex_free(x);
	static const uint8_t nul_arg[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 2, 'a', 0 };
	struct vms_msg_stream sm2;
	char *store;
	vms_cur_init(&c, nul_arg, sizeof(nul_arg));
	assert_int_equal(vms_msg_stream_get(&c, &sm2, &store), -EBADMSG);
	assert_null(store);
	static const uint8_t no_args[] = { 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0 };
	vms_cur_init(&c, no_args, sizeof(no_args));
	assert_int_equal(vms_msg_stream_get(&c, &sm2, &store), -EBADMSG);
	uint8_t dig[1 + 8 + 4 + VMS_WIRE_DIGEST + 1] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	struct vms_msg_digests dm;
	vms_cur_init(&c, dig, sizeof(dig));
	assert_int_equal(vms_msg_digests_get(&c, &dm), -EBADMSG);
	vms_cur_init(&c, page, 8 + 4095);
	uint64_t pg;
	assert_int_equal(vms_msg_u64page_get(&c, &pg, &d), -EBADMSG);
	vms_wbuf_free(&b);
}

/* LVSTREAM's fields one by one: a socket path that climbs out, is relative
 * or has a NUL, no block, a block of a size that is not whole pages, and
 * an RPATH past its cap, are refused on both sides. */
static void test_lvstream_bad_fields(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	vms_cur c;
	struct vms_msg_lvstream m = { .session = 1, .vm = 0, .domain = "d", .sock = "/run/a/../b", .nblocks = 1,
				      .blocks = { { "pc.ram", 4096 } } };
	assert_int_equal(vms_msg_lvstream_put(&b, &m), -EINVAL);
	strcpy(m.sock, "run/x");
	assert_int_equal(vms_msg_lvstream_put(&b, &m), -EINVAL);
	strcpy(m.sock, "/run/..");
	assert_int_equal(vms_msg_lvstream_put(&b, &m), -EINVAL);
	strcpy(m.sock, "/run/..x");                  /* a name, not a climb */
	assert_int_equal(vms_msg_lvstream_put(&b, &m), 0);
	m.nblocks = 0;
	assert_int_equal(vms_msg_lvstream_put(&b, &m), -EINVAL);
	m.nblocks = 1;
	m.blocks[0].used = 4095;
	assert_int_equal(vms_msg_lvstream_put(&b, &m), -EINVAL);
	assert_int_equal(b.len, 4 + 1 + 8 + 4 + 2 + 2 + 8 + 1 + 7 + 8);   /* only the good one */
	vms_wbuf_free(&b);
	/* the decoder: the golden vector with one field spoiled at a time */
	uint8_t v[sizeof(g_lvstream) - 5];
	struct { size_t at; uint8_t val; } spoil[] = {
		{ 8 + 4 + 5 + 2 + 1, '.' },               /* "/ru" -> "/.u": fine, checked below */
		{ 8 + 4 + 5 + 2, 'r' },                   /* not absolute */
		{ 8 + 4 + 5 + 2 + 4, 0 },                 /* a NUL inside */
		{ 8 + 4 + 5 + 2 + 11, 0 },                /* no block */
		{ 8 + 4 + 5 + 2 + 11, 17 },               /* past VMS_WIRE_BLOCKS_MAX */
		{ sizeof(v) - 1, 1 },                     /* not whole pages */
	};
	for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
		memcpy(v, g_lvstream + 5, sizeof(v));
		v[spoil[i].at] = spoil[i].val;
		vms_cur_init(&c, v, sizeof(v));
		assert_int_equal(vms_msg_lvstream_get(&c, &m), i == 0 ? 0 : -EBADMSG);
	}
	static uint8_t big[VMS_WIRE_RPATH_MAX + 1];
	assert_int_equal(vms_msg_rpath_put(&b, big, sizeof(big)), -EINVAL);
	assert_int_equal(vms_msg_rpath_put(&b, big, 0), -EINVAL);
	const uint8_t *d;
	size_t n;
	vms_cur_init(&c, big, sizeof(big));
	assert_int_equal(vms_msg_rpath_get(&c, &d, &n), -EBADMSG);
	vms_wbuf_free(&b);
}

static void test_frame_lengths(void **state)
{
	(void)state;
	vms_frames f = { 0 };
	uint8_t type;
	vms_cur p;
	static const uint8_t zero_len[] = { 0, 0, 0, 0 };
	assert_int_equal(vms_frames_feed(&f, zero_len, 4), 0);
	assert_int_equal(vms_frames_next(&f, &type, &p), -EBADMSG);
	vms_frames_free(&f);
	static const uint8_t too_long[] = { 0x00, 0x40, 0x00, 0x01, 1 };
	assert_int_equal(vms_frames_feed(&f, too_long, sizeof(too_long)), 0);
	assert_int_equal(vms_frames_next(&f, &type, &p), -EBADMSG);
	vms_frames_free(&f);
	static const uint8_t partial[] = { 0x00, 0x00, 0x10 };
	assert_int_equal(vms_frames_feed(&f, partial, sizeof(partial)), 0);
	assert_int_equal(vms_frames_next(&f, &type, &p), 0);
	vms_frames_free(&f);
	/* a payload over the cap cannot be framed */
	vms_wbuf b = { 0 };
	size_t start;
	assert_int_equal(vms_frame_begin(&b, VMS_MSG_CONTENT, &start), 0);
	static uint8_t big[VMS_WIRE_FRAME_MAX];
	assert_int_equal(vms_wbuf_bytes(&b, big, sizeof(big)), 0);
	assert_int_equal(vms_frame_end(&b, start), -EMSGSIZE);
	assert_int_equal(b.len, 0);
	vms_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_cover_every_type),
		cmocka_unit_test(test_golden_vectors),
		cmocka_unit_test(test_golden_truncation_and_trailing),
		cmocka_unit_test(test_hello_golden),
		cmocka_unit_test(test_missing_done_map),
		cmocka_unit_test(test_round_trip_any_split),
		cmocka_unit_test(test_truncation_and_trailing),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_lvstream_bad_fields),
		cmocka_unit_test(test_content_compression),
		cmocka_unit_test(test_frame_lengths),
		cmocka_unit_test(test_live_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
