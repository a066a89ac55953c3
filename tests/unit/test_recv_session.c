/* test_recv_session.c - the receiver's session state machine (receiver/session.c)
 * through the memory sink: a golden session gives the expected sink calls
 * and reply bytes; every prefix of it is incomplete, never an error; every
 * message truncated by a byte is an error with a message; MISSING, the
 * multicast path and its flow control, OUTCOME, a digest that differs and the limits. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "receiver/receiver_int.h"

#define NPAGES 5
static const uint32_t map_ids[NPAGES] = { 1, 0, 2, 3, 1 };   /* page -> content id */

static void page_of(uint32_t id, uint8_t *page)
{
	memset(page, id ? 'A' + (int)id - 1 : 0, VMS_WIRE_PAGE);
}

static void image_sha(uint8_t out[32])
{
	uint8_t *img = malloc((size_t)NPAGES * VMS_WIRE_PAGE);
	unsigned len = 32;
	assert_non_null(img);
	for (unsigned p = 0; p < NPAGES; p++)
		page_of(map_ids[p], img + (size_t)p * VMS_WIRE_PAGE);
	assert_int_equal(EVP_Digest(img, (size_t)NPAGES * VMS_WIRE_PAGE, out, &len, EVP_sha256(), NULL), 1);
	free(img);
}

/* The sender's messages, one frame each, in b; ends[i]: where frame i ends. */
struct script {
	vms_wbuf b;
	size_t ends[32];
	unsigned n;
};

static void mark(struct script *s)
{
	assert_true(s->n < 32);
	s->ends[s->n++] = s->b.len;
}

static void put_hello(struct script *s)
{
	struct vms_msg_hello h = { .session = 0x1234, .target = "t1", .flags = 0 };
	assert_int_equal(vms_msg_hello_put(&s->b, &h), 0);
	mark(s);
}

static void put_vms(struct script *s, const uint8_t sha[32])
{
	struct vms_msg_vm v = { .vm = 0, .name = "vm1", .pages = NPAGES };
	size_t start;
	memcpy(v.sha256, sha, 32);
	assert_int_equal(vms_msg_vm_put(&s->b, &v), 0);
	mark(s);
	/* runs: [1], zero x1, [2 3 1] */
	static const uint32_t tail[] = { 2, 3, 1 };
	assert_int_equal(vms_msg_map_begin(&s->b, 0, 0, &start), 0);
	assert_int_equal(vms_msg_map_run_put(&s->b, 1, 1, map_ids), 0);
	assert_int_equal(vms_msg_map_run_put(&s->b, 0, 1, NULL), 0);
	assert_int_equal(vms_msg_map_run_put(&s->b, 1, 3, tail), 0);
	assert_int_equal(vms_msg_map_end(&s->b, start), 0);
	mark(s);
	assert_int_equal(vms_msg_empty_put(&s->b, VMS_MSG_MAPS_END), 0);
	mark(s);
}

static void put_content(struct script *s, uint32_t id)
{
	uint8_t c[VMS_CONTENT_MAX], page[VMS_WIRE_PAGE];
	page_of(id, page);
	size_t len = vms_content_encode(NULL, id, page, c);
	assert_int_equal(vms_msg_content_put(&s->b, c, len), 0);
	mark(s);
}

static void put_end(struct script *s)
{
	assert_int_equal(vms_msg_empty_put(&s->b, VMS_MSG_END), 0);
	mark(s);
}

/* The golden offline session: HELLO, VM, MAP, MAPS_END, CONTENT 1 2 3, END. */
static void golden(struct script *s, const uint8_t sha[32])
{
	put_hello(s);
	put_vms(s, sha);
	put_content(s, 1);
	put_content(s, 2);
	put_content(s, 3);
	put_end(s);
}

struct run {
	struct rc_options o;
	struct rc_memsink m;
	struct rc_sm sm;
	vms_err err;
};

static void run_init(struct run *t)
{
	memset(t, 0, sizeof(*t));
	t->o = (struct rc_options){ .out_dir = "mem", .name = "r1", .quiet = 1 };
	rc_memsink_init(&t->m);
	t->m.trace = 1;
	rc_sm_init(&t->sm, &t->o, &rc_memsink_ops, &t->m);
}

static void run_free(struct run *t)
{
	assert_int_equal(t->m.violations, 0);
	rc_sm_free(&t->sm);
	rc_memsink_free(&t->m);
}

/* Feed bytes p[0..n) as the event loop does: 0 after every whole message, or
 * the first error. */
static int feed(struct run *t, const uint8_t *p, size_t n)
{
	vms_frames f = { 0 };
	uint8_t type;
	vms_cur c;
	int r = n ? vms_frames_feed(&f, p, n) : 0;
	while (r >= 0 && t->sm.st != RC_ST_DONE && (r = vms_frames_next(&f, &type, &c)) == 1)
		r = rc_sm_message(&t->sm, type, &c, &t->err);
	vms_frames_free(&f);
	return r < 0 ? r : 0;
}

static const char *calls(struct run *t)
{
	assert_int_equal(vms_wbuf_u8(&t->m.calls, 0), 0);   /* NUL-terminate the trace */
	t->m.calls.len--;
	return (const char *)t->m.calls.data;
}

static void test_golden(void **state)
{
	(void)state;
	uint8_t sha[32], page[VMS_WIRE_PAGE];
	struct script s = { 0 };
	struct run t;
	image_sha(sha);
	golden(&s, sha);
	run_init(&t);
	assert_int_equal(feed(&t, s.b.data, s.b.len), 0);
	assert_int_equal(t.sm.st, RC_ST_DONE);
	assert_string_equal(calls(&t),
			    "send 10\n"                   /* WELCOME */
			    "space\n"
			    "open 0 vm1 5\n"
			    "write 0 0\nwrite 0 4\n"      /* content 1: pages 0 and 4 */
			    "write 0 2\n"
			    "write 0 3\n"
			    "finish 0\n"
			    "publish 0\n"
			    "send 45\n");                  /* DONE */
	/* the replies, written out from doc/PROTOCOL.md's tables */
	uint8_t want[10 + 45] = { 0, 0, 0, 6, VMS_MSG_WELCOME, 0, 7, 2, 'r', '1',
				  0, 0, 0, 41, VMS_MSG_DONE, 0, 0, 0, 1, 0, 0, 0, 0 };
	memcpy(want + 23, sha, 32);
	assert_int_equal(t.m.replies.len, sizeof(want));
	assert_memory_equal(t.m.replies.data, want, sizeof(want));
	/* the image, page by page */
	assert_int_equal(t.m.n, 1);
	for (unsigned p = 0; p < NPAGES; p++) {
		page_of(map_ids[p], page);
		assert_memory_equal(t.m.v[0].data + (size_t)p * VMS_WIRE_PAGE, page, VMS_WIRE_PAGE);
	}
	assert_int_equal(t.sm.contents_tcp, 3);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* A live session: SEEDING right after MAPS_END (its streams may begin
 * while the seeds fill), before any content; after END it goes on (LIVE). */
static void test_live_seeding(void **state)
{
	(void)state;
	uint8_t zero[32] = { 0 };
	struct script s = { 0 };
	struct run t;
	put_hello(&s);
	assert_int_equal(vms_msg_empty_put(&s.b, VMS_MSG_LIVE), 0);
	mark(&s);
	put_vms(&s, zero);
	unsigned maps_end = s.n;
	put_content(&s, 1);
	put_content(&s, 2);
	put_content(&s, 3);
	put_end(&s);
	run_init(&t);
	assert_int_equal(feed(&t, s.b.data, s.ends[maps_end - 1]), 0);
	assert_int_equal(t.sm.st, RC_ST_DATA);
	static const uint8_t want[] = { 0, 0, 0, 6, VMS_MSG_WELCOME, 0, 7, 2, 'r', '1',
					0, 0, 0, 1, VMS_MSG_SEEDING };
	assert_int_equal(t.m.replies.len, sizeof(want));      /* nothing more yet */
	assert_memory_equal(t.m.replies.data, want, sizeof(want));
	assert_int_equal(feed(&t, s.b.data + s.ends[maps_end - 1], s.b.len - s.ends[maps_end - 1]), 0);
	assert_int_equal(t.sm.st, RC_ST_LIVE);
	assert_int_equal(t.sm.contents_tcp, 3);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* A stream cut anywhere is only incomplete: no error, no DONE, no image. */
static void test_every_prefix(void **state)
{
	(void)state;
	uint8_t sha[32];
	struct script s = { 0 };
	image_sha(sha);
	golden(&s, sha);
	for (size_t n = 0; n < s.b.len; n++) {
		struct run t;
		run_init(&t);
		t.m.trace = 0;
		assert_int_equal(feed(&t, s.b.data, n), 0);
		assert_int_not_equal(t.sm.st, RC_ST_DONE);
		assert_true(t.m.n == 0 || !t.m.v[0].published);
		run_free(&t);
	}
	vms_wbuf_free(&s.b);
}

/* Each message without its last byte fails the session with a message,
 * and the ERROR reply says it. */
static void test_truncated_messages(void **state)
{
	(void)state;
	uint8_t sha[32];
	struct script s = { 0 };
	image_sha(sha);
	golden(&s, sha);
	for (unsigned i = 0; i < s.n; i++) {
		size_t start = i ? s.ends[i - 1] : 0, len = s.ends[i] - start;
		if (len == 5)
			continue;                /* an empty payload: nothing to cut */
		struct run t;
		vms_wbuf cut = { 0 };
		run_init(&t);
		assert_int_equal(feed(&t, s.b.data, start), 0);
		/* the same message, one byte short, framed again */
		assert_int_equal(vms_wbuf_be32(&cut, (uint32_t)(len - 5)), 0);
		assert_int_equal(vms_wbuf_bytes(&cut, s.b.data + start + 4, len - 5), 0);
		size_t sent = t.m.replies.len;
		int r = feed(&t, cut.data, cut.len);
		assert_true(r < 0);
		assert_int_equal(t.err.code, r);
		assert_true(t.err.msg[0] != 0);
		rc_sm_fail(&t.sm, &t.err);
		vms_frames f = { 0 };
		uint8_t type;
		vms_cur c;
		char text[VMS_WIRE_ERROR_MAX + 1];
		assert_int_equal(vms_frames_feed(&f, t.m.replies.data + sent, t.m.replies.len - sent), 0);
		assert_int_equal(vms_frames_next(&f, &type, &c), 1);
		assert_int_equal(type, VMS_MSG_ERROR);
		assert_int_equal(vms_msg_error_get(&c, text), 0);
		assert_string_equal(text, t.err.msg);
		vms_frames_free(&f);
		vms_wbuf_free(&cut);
		run_free(&t);
	}
	vms_wbuf_free(&s.b);
}

/* END with contents missing: MISSING, then they come, END again: DONE. */
static void test_missing(void **state)
{
	(void)state;
	uint8_t sha[32];
	struct script s = { 0 };
	struct run t;
	image_sha(sha);
	put_hello(&s);
	put_vms(&s, sha);
	put_content(&s, 2);
	put_end(&s);
	run_init(&t);
	assert_int_equal(feed(&t, s.b.data, s.b.len), 0);
	assert_int_equal(t.sm.st, RC_ST_DATA);
	static const uint8_t missing[] = { 0, 0, 0, 14, VMS_MSG_MISSING, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3 };
	assert_true(t.m.replies.len == 10 + sizeof(missing));
	assert_memory_equal(t.m.replies.data + 10, missing, sizeof(missing));
	vms_wbuf_reset(&s.b);
	s.n = 0;
	put_content(&s, 3);
	put_content(&s, 1);
	put_end(&s);
	assert_int_equal(feed(&t, s.b.data, s.b.len), 0);
	assert_int_equal(t.sm.st, RC_ST_DONE);
	assert_true(t.m.v[0].published);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* A multicast group: JOINED at the first message heard, contents stored,
 * GROUP_DONE once MCAST_END came and every message was heard. */
/* A session up to MCAST_JOIN of group `group` (`messages` of them). */
static void start_group(struct script *s, struct run *t, uint32_t group, uint32_t messages)
{
	uint8_t sha[32];
	struct vms_msg_join j = { .group = group, .addr = 0xef4d0001, .port = 7500, .source = 0x0a4d0001,
				  .messages = messages };
	image_sha(sha);
	put_hello(s);
	put_vms(s, sha);
	assert_int_equal(vms_msg_join_put(&s->b, &j), 0);
	run_init(t);
	assert_int_equal(feed(t, s->b.data, s->b.len), 0);
}

static void test_mcast_group(void **state)
{
	(void)state;
	uint8_t msg[VMS_CONTENT_MAX], page[VMS_WIRE_PAGE];
	struct script s = { 0 };
	struct run t;
	start_group(&s, &t, 7, 2);
	assert_int_equal(rc_sm_mcast(&t.sm, (const uint8_t *)"\0\0\0\0", 4, &t.err), 0);   /* a hello */
	page_of(1, page);
	assert_int_equal(rc_sm_mcast(&t.sm, msg, vms_content_encode(NULL, 1, page, msg), &t.err), 0);
	assert_int_equal(rc_sm_mcast_rejected(&t.sm, &t.err), 0);
	assert_int_equal(rc_sm_group_check(&t.sm, vms_now_ms() + 10 * RC_GROUP_QUIET_MS, &t.err), 0);
	vms_wbuf_reset(&s.b);
	assert_int_equal(vms_msg_u32_put(&s.b, VMS_MSG_MCAST_END, 7), 0);
	assert_int_equal(feed(&t, s.b.data, s.b.len), 0);
	assert_int_equal(rc_sm_group_check(&t.sm, vms_now_ms(), &t.err), 0);   /* 1 of 2 heard */
	page_of(2, page);
	assert_int_equal(rc_sm_mcast(&t.sm, msg, vms_content_encode(NULL, 2, page, msg), &t.err), 0);
	assert_int_equal(rc_sm_group_check(&t.sm, vms_now_ms(), &t.err), 1);
	assert_string_equal(calls(&t), "send 10\nspace\nopen 0 vm1 5\njoin 7\nsend 9\n"
			    "write 0 0\nwrite 0 4\nsend 13\nwrite 0 2\nleave\nsend 17\n");
	/* JOINED; after the rejected message MCAST_ACK "do not wait for me";
	 * GROUP_DONE with 2 received, 1 rejected */
	static const uint8_t replies[] = { 0, 0, 0, 5, VMS_MSG_JOINED, 0, 0, 0, 7,
					   0, 0, 0, 9, VMS_MSG_MCAST_ACK, 0, 0, 0, 7, 0xff, 0xff, 0xff, 0xff,
					   0, 0, 0, 13, VMS_MSG_GROUP_DONE, 0, 0, 0, 7, 0, 0, 0, 2, 0, 0, 0, 1 };
	assert_int_equal(t.m.replies.len, 10 + sizeof(replies));
	assert_memory_equal(t.m.replies.data + 10, replies, sizeof(replies));
	assert_int_equal(t.sm.contents_mcast, 2);
	assert_int_equal(t.sm.ix.missing, 1);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* Flow control: an MCAST_ACK with the group's count every
 * VMS_WIRE_MCAST_ACK_EVERY messages (a malformed one counts: it was the
 * sender's; a hello does not); after data lost for good, one "gave up"
 * and no more. */
static void test_mcast_acks(void **state)
{
	(void)state;
	uint8_t msg[VMS_CONTENT_MAX], page[VMS_WIRE_PAGE];
	struct script s = { 0 };
	struct run t;
	const uint32_t every = VMS_WIRE_MCAST_ACK_EVERY;
	start_group(&s, &t, 3, 3 * every);
	size_t base = t.m.replies.len;                          /* (WELCOME) */
	/* before the group is heard only hellos go: a loss or a forgery then
	 * leaves the count right, and nothing may come before JOINED */
	assert_int_equal(rc_sm_mcast_lost(&t.sm, &t.err), 0);
	assert_int_equal(rc_sm_mcast_rejected(&t.sm, &t.err), 0);
	assert_int_equal(t.m.replies.len, base);
	for (uint32_t i = 0; i < 2 * every; i++) {
		assert_int_equal(rc_sm_mcast(&t.sm, (const uint8_t *)"\0\0\0\0", 4, &t.err), 0);  /* hellos */
		uint32_t id = 1 + i % 3;
		page_of(id, page);
		size_t len = vms_content_encode(NULL, id, page, msg);
		if (i == 5)
			len = 7;                                /* cut short: malformed */
		assert_int_equal(rc_sm_mcast(&t.sm, msg, len, &t.err), 0);
	}
	assert_int_equal(rc_sm_mcast_lost(&t.sm, &t.err), 0);
	assert_int_equal(rc_sm_mcast_lost(&t.sm, &t.err), 0);  /* said once */
	for (uint32_t i = 0; i < every; i++) {
		page_of(1, page);
		assert_int_equal(rc_sm_mcast(&t.sm, msg, vms_content_encode(NULL, 1, page, msg), &t.err), 0);
	}
	vms_wbuf want = { 0 };
	assert_int_equal(vms_msg_u32_put(&want, VMS_MSG_JOINED, 3), 0);
	assert_int_equal(vms_msg_mcast_ack_put(&want, 3, every), 0);
	assert_int_equal(vms_msg_mcast_ack_put(&want, 3, 2 * every), 0);
	assert_int_equal(vms_msg_mcast_ack_put(&want, 3, VMS_WIRE_MCAST_GAVE_UP), 0);
	assert_int_equal(t.m.replies.len - base, want.len);
	assert_memory_equal(t.m.replies.data + base, want.data, want.len);
	assert_int_equal(t.sm.received, 3 * every);
	assert_int_equal(t.sm.contents_mcast, 3 * every - 1);
	vms_wbuf_free(&want);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* A source guard's question: OUTCOME_IS with the sink's answer, then done. */
static void test_outcome(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	struct run t;
	run_init(&t);
	t.m.outcome = VMS_OUTCOME_COMMITTED;
	assert_int_equal(vms_msg_outcome_put(&b, 0xabc, 3), 0);
	assert_int_equal(feed(&t, b.data, b.len), 0);
	assert_int_equal(t.sm.st, RC_ST_DONE);
	assert_string_equal(calls(&t), "outcome abc 3\nsend 6\n");
	static const uint8_t want[] = { 0, 0, 0, 2, VMS_MSG_OUTCOME_IS, 1 };
	assert_int_equal(t.m.replies.len, sizeof(want));
	assert_memory_equal(t.m.replies.data, want, sizeof(want));
	run_free(&t);
	vms_wbuf_free(&b);
}

/* An image that does not hash to the sender's SHA-256 is never published. */
static void test_digest_differs(void **state)
{
	(void)state;
	uint8_t sha[32];
	struct script s = { 0 };
	struct run t;
	image_sha(sha);
	sha[0] ^= 1;
	golden(&s, sha);
	run_init(&t);
	assert_int_equal(feed(&t, s.b.data, s.b.len), -EIO);
	assert_non_null(strstr(t.err.msg, "differs"));
	assert_false(t.m.v[0].published);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

/* This receiver's limits and a full disk: refused before any image is made. */
static void test_limits(void **state)
{
	(void)state;
	uint8_t sha[32] = { 0 };
	struct script s = { 0 };
	put_hello(&s);
	put_vms(&s, sha);
	struct run t;
	run_init(&t);
	t.o.max_vm_bytes = VMS_WIRE_PAGE * (NPAGES - 1);
	rc_sm_init(&t.sm, &t.o, &rc_memsink_ops, &t.m);
	assert_int_equal(feed(&t, s.b.data, s.b.len), -EFBIG);
	assert_non_null(strstr(t.err.msg, "--max-memory"));
	assert_int_equal(t.m.n, 0);
	run_free(&t);
	run_init(&t);
	t.m.space = VMS_WIRE_PAGE;
	assert_int_equal(feed(&t, s.b.data, s.b.len), -ENOSPC);
	assert_string_equal(t.err.msg, "the session's VMs need 20480 bytes in mem, which has 4096 free");
	assert_int_equal(t.m.n, 0);
	run_free(&t);
	vms_wbuf_free(&s.b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_live_seeding),
		cmocka_unit_test(test_every_prefix),
		cmocka_unit_test(test_truncated_messages),
		cmocka_unit_test(test_missing),
		cmocka_unit_test(test_mcast_group),
		cmocka_unit_test(test_mcast_acks),
		cmocka_unit_test(test_outcome),
		cmocka_unit_test(test_digest_differs),
		cmocka_unit_test(test_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
