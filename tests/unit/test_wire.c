/* test_wire.c - the wire protocol: golden bytes, round trips, truncation of
 * every message at every prefix, trailing bytes, frame reassembly from any
 * split of the stream, and lengths outside the caps. */
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

/* HELLO, session 0x0102030405060708, target "t1" */
static const uint8_t hello_golden[] = {
	0x00, 0x00, 0x00, 0x12, VMS_MSG_HELLO, 'V', 'M', 'S', 'C', 0x00, 0x02,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x02, 't', '1',
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
	struct vms_msg_hello h = { 7, "t2" };
	struct vms_msg_welcome w = { 1, "recv-1" };
	struct vms_msg_vm v = { .vm = 3, .name = "web.1", .pages = 65536 };
	memset(v.sha256, 0x5a, 32);
	struct vms_msg_join j = { 2, 0xef4d0002, 7500, 0x0a4d0001, 1234 };
	struct vms_msg_group_done d = { 2, 1234 };
	assert_int_equal(vms_msg_hello_put(b, &h), 0);
	assert_int_equal(vms_msg_welcome_put(b, &w), 0);
	assert_int_equal(vms_msg_vm_put(b, &v), 0);
	size_t start;
	assert_int_equal(vms_frame_begin(b, VMS_MSG_MAP, &start), 0);
	assert_int_equal(vms_wbuf_be32(b, 3), 0);
	assert_int_equal(vms_wbuf_be64(b, 0), 0);
	assert_int_equal(vms_wbuf_u8(b, 0), 0);
	assert_int_equal(vms_wbuf_be32(b, 10), 0);
	assert_int_equal(vms_wbuf_u8(b, 1), 0);
	assert_int_equal(vms_wbuf_be32(b, 2), 0);
	assert_int_equal(vms_wbuf_be32(b, 17), 0);
	assert_int_equal(vms_wbuf_be32(b, 18), 0);
	assert_int_equal(vms_frame_end(b, start), 0);
	assert_int_equal(vms_msg_empty_put(b, VMS_MSG_MAPS_END), 0);
	assert_int_equal(vms_msg_join_put(b, &j), 0);
	assert_int_equal(vms_msg_u32_put(b, VMS_MSG_JOINED, 2), 0);
	assert_int_equal(vms_msg_u32_put(b, VMS_MSG_MCAST_END, 2), 0);
	assert_int_equal(vms_msg_group_done_put(b, &d), 0);
	uint8_t content[VMS_CONTENT_MAX];
	assert_int_equal(vms_msg_content_put(b, content, vms_content_encode(NULL, 17, page, content)), 0);
	vms_lzo *z;
	assert_int_equal(vms_lzo_new(&z, NULL), 0);
	assert_int_equal(vms_msg_content_put(b, content, vms_content_encode(z, 18, page, content)), 0);
	vms_lzo_free(z);                                            /* (compressed) */
	assert_int_equal(vms_msg_empty_put(b, VMS_MSG_END), 0);
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
		assert_int_equal(frames, 13);
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

/* Wrap LZO1X-1 output of `n` bytes of `in` as a content and decode it. */
static int decode_lzo_of(const uint8_t *in, size_t n)
{
	static lzo_align_t work[(LZO1X_1_MEM_COMPRESS + sizeof(lzo_align_t) - 1) / sizeof(lzo_align_t)];
	uint8_t msg[4 + 8192] = { 0, 0, 0, 9 }, scratch[4096];
	lzo_uint len = 0;
	assert_int_equal(lzo1x_1_compress(in, n, msg + 4, &len, work), LZO_E_OK);
	vms_cur c;
	uint32_t id;
	const uint8_t *page;
	vms_cur_init(&c, msg, 4 + len);
	return vms_msg_content_get(&c, &id, scratch, &page);
}

/* Contents: a compressible page goes compressed and comes back exact, an
 * incompressible one goes as it is; compressed bytes that are cut, padded,
 * or decompress to anything but exactly one page are refused. */
static void test_content_compression(void **state)
{
	(void)state;
	uint8_t text[4096], noise[4096], msg[VMS_CONTENT_MAX], scratch[4096], big[5000];
	uint64_t x = 88172645463325252ull;
	for (size_t i = 0; i < sizeof(noise); i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		noise[i] = (uint8_t)x;
		text[i] = (uint8_t)"the quick brown fox jumps "[i % 26] ^ (uint8_t)(i / 512);
	}
	vms_lzo *z;
	assert_int_equal(vms_lzo_new(&z, NULL), 0);
	uint32_t id;
	const uint8_t *page;
	vms_cur c;

	size_t len = vms_content_encode(z, 77, text, msg);
	assert_true(len > 4 && len < 1024);
	vms_cur_init(&c, msg, len);
	assert_int_equal(vms_msg_content_get(&c, &id, scratch, &page), 0);
	assert_int_equal(id, 77);
	assert_ptr_equal(page, scratch);
	assert_memory_equal(page, text, 4096);
	for (size_t n = 0; n < len; n++) {              /* cut anywhere */
		vms_cur_init(&c, msg, n);
		assert_int_equal(vms_msg_content_get(&c, &id, scratch, &page), -EBADMSG);
	}
	msg[len] = 0;                                   /* one byte too many */
	vms_cur_init(&c, msg, len + 1);
	assert_int_equal(vms_msg_content_get(&c, &id, scratch, &page), -EBADMSG);

	assert_int_equal(vms_content_encode(z, 78, noise, msg), VMS_CONTENT_MAX);
	assert_int_equal(vms_content_encode(NULL, 79, text, msg), VMS_CONTENT_MAX);
	vms_cur_init(&c, msg, VMS_CONTENT_MAX);
	assert_int_equal(vms_msg_content_get(&c, &id, scratch, &page), 0);
	assert_ptr_equal(page, msg + 4);
	assert_memory_equal(page, text, 4096);

	/* a long run of incompressible pages: then only every 16th page is
	 * tried, and the first that shrinks turns compression back on */
	vms_lzo *z2;
	assert_int_equal(vms_lzo_new(&z2, NULL), 0);
	for (int i = 0; i < 65; i++)      /* the 65th is the last one tried */
		assert_int_equal(vms_content_encode(z2, 1, noise, msg), VMS_CONTENT_MAX);
	unsigned raw = 0;
	while (vms_content_encode(z2, 1, text, msg) == VMS_CONTENT_MAX)
		raw++;
	assert_int_equal(raw, 15);
	for (int i = 0; i < 16; i++)
		assert_true(vms_content_encode(z2, 1, text, msg) < 1024);
	vms_lzo_free(z2);

	/* valid LZO, but not one page: shorter, longer, empty */
	memset(big, 'a', sizeof(big));
	assert_int_equal(decode_lzo_of(big, 4095), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 4097), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 5000), -EBADMSG);
	assert_int_equal(decode_lzo_of(big, 4096), 0);
	/* garbage in every position of a compressed page: refused or exactly
	 * one page, never past the scratch (ASan watches) */
	len = vms_content_encode(z, 80, text, msg);
	for (size_t i = 4; i < len; i++) {
		uint8_t keep = msg[i];
		msg[i] ^= 0x5a;
		vms_cur_init(&c, msg, len);
		int r = vms_msg_content_get(&c, &id, scratch, &page);
		assert_true(r == 0 || r == -EBADMSG);
		msg[i] = keep;
	}
	vms_lzo_free(z);
}

static void test_bad_fields(void **state)
{
	(void)state;
	vms_cur c;
	struct vms_msg_hello h;
	static const uint8_t bad_magic[] = { 'V', 'M', 'S', 'X', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a' };
	vms_cur_init(&c, bad_magic, sizeof(bad_magic));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	/* version 1 (raw pages only) and a future 3 are told apart from garbage */
	static const uint8_t old_version[] = { 'V', 'M', 'S', 'C', 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a' };
	vms_cur_init(&c, old_version, sizeof(old_version));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	static const uint8_t new_version[] = { 'V', 'M', 'S', 'C', 0, 3, 0, 0, 0, 0, 0, 0, 0, 1, 1, 'a' };
	vms_cur_init(&c, new_version, sizeof(new_version));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EPROTONOSUPPORT);
	static const uint8_t bad_name[] = { 'V', 'M', 'S', 'C', 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, '/' };
	vms_cur_init(&c, bad_name, sizeof(bad_name));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	static const uint8_t empty_name[] = { 'V', 'M', 'S', 'C', 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	vms_cur_init(&c, empty_name, sizeof(empty_name));
	assert_int_equal(vms_msg_hello_get(&c, &h), -EBADMSG);
	/* a join to a unicast address, a content id 0, a run count 0 */
	struct vms_msg_join j;
	static const uint8_t unicast[] = { 0, 0, 0, 1, 10, 0, 0, 1, 0x1d, 0x4c, 10, 0, 0, 1, 0, 0, 0, 1 };
	vms_cur_init(&c, unicast, sizeof(unicast));
	assert_int_equal(vms_msg_join_get(&c, &j), -EBADMSG);
	uint8_t content[4100] = { 0 }, scratch[4096];
	uint32_t id;
	const uint8_t *page;
	vms_cur_init(&c, content, sizeof(content));
	assert_int_equal(vms_msg_content_get(&c, &id, scratch, &page), -EBADMSG);
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
	vms_lzo *z;
	const uint8_t *lzo;
	assert_int_equal(vms_lzo_new(&z, NULL), 0);
	struct vms_msg_slzo sz = { hdr, sizeof(hdr), NULL, vms_page_compress(z, page, &lzo) };
	sz.lzo = lzo;
	assert_true(sz.lzo_len > 0 && sz.lzo_len < 256);
	assert_int_equal(vms_msg_slzo_put(&b, &sz), 0);
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
		} else if (type == VMS_MSG_SLZO) {
			struct vms_msg_slzo m;
			uint8_t out[4096];
			assert_int_equal(vms_msg_slzo_get(&p, &m, out), 0);
			assert_true(m.hdr_len == sizeof(hdr) && m.lzo_len == sz.lzo_len);
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
	/* SLZO: a header too short or too long, no data, data that is not a page */
	struct vms_msg_slzo bad = { hdr, 7, lzo, sz.lzo_len };
	assert_int_equal(vms_msg_slzo_put(&b, &bad), -EINVAL);
	bad.hdr_len = VMS_WIRE_SREF_HDR_MAX + 1;
	assert_int_equal(vms_msg_slzo_put(&b, &bad), -EINVAL);
	bad.hdr_len = 8;
	bad.lzo_len = 0;
	assert_int_equal(vms_msg_slzo_put(&b, &bad), -EINVAL);
	uint8_t slzo[2 + 8 + 3] = { 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0, 0 }, out[4096];
	struct vms_msg_slzo gm;
	vms_cur_init(&c, slzo, sizeof(slzo));       /* LZO's end marker alone: no page */
	assert_int_equal(vms_msg_slzo_get(&c, &gm, out), -EBADMSG);
	vms_cur_init(&c, slzo, 10);
	assert_int_equal(vms_msg_slzo_get(&c, &gm, out), -EBADMSG);
	slzo[1] = 7;
	vms_cur_init(&c, slzo, sizeof(slzo));
	assert_int_equal(vms_msg_slzo_get(&c, &gm, out), -EBADMSG);
	vms_lzo_free(z);
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
		cmocka_unit_test(test_hello_golden),
		cmocka_unit_test(test_round_trip_any_split),
		cmocka_unit_test(test_truncation_and_trailing),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_content_compression),
		cmocka_unit_test(test_frame_lengths),
		cmocka_unit_test(test_live_messages),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
