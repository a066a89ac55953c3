/* fuzz_session_mem.c - libFuzzer entry point for the receiver's session state
 * machine alone (receiver/session.c) through the memory sink: no network,
 * no files. The input is a byte stream of frames as a sender writes them on
 * its control connection (doc/PROTOCOL.md), reassembled as the receiver
 * does; four frame types no sender uses stand for what the multicast side
 * would report:
 *   0xf0 payload: an authentic multicast message of the current group
 *   0xf1 (any):   the group lost data for good
 *   0xf2 (any):   a multicast message failed authentication
 *   0xf3 (any):   RC_GROUP_QUIET_MS pass without progress
 * Checked: no crash, leak or undefined behaviour; the sink's order is never
 * broken; every failure has a message; every reply is a well-formed frame;
 * a session that ends has published every image. Built by tools/fuzz.sh. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "receiver/receiver_int.h"

#define F_MCAST 0xf0
#define F_LOST 0xf1
#define F_REJECTED 0xf2
#define F_QUIET 0xf3

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void log_line(void *ctx, const char *line)
{
	size_t *n = ctx;
	*n += strlen(line);                   /* a whole, NUL-terminated line */
}

/* Every reply the session sent is a whole, well-formed frame. */
static void check_replies(const vms_wbuf *replies)
{
	vms_frames f = { 0 };
	uint8_t type;
	vms_cur p;
	int r;
	if (replies->len && vms_frames_feed(&f, replies->data, replies->len) < 0)
		abort();
	while ((r = vms_frames_next(&f, &type, &p)) == 1)
		if (vms_msg_check(type, &p) < 0)
			abort();
	if (r < 0 || vms_frames_pending(&f) != 0)
		abort();
	vms_frames_free(&f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t logged = 0;
	/* small limits: a finished VM is hashed whole (fuzz -timeout) */
	struct rc_options o = { .out_dir = "mem", .name = "fuzz", .idle_ms = 200, .log = log_line,
				.log_ctx = &logged, .max_vm_bytes = 4u << 20, .max_session_bytes = 16u << 20,
				.max_vms = 16 };
	struct rc_memsink m;
	struct rc_sm sm;
	vms_frames in = { 0 };
	vms_err err = { 0 };
	uint8_t type;
	vms_cur p;
	const uint8_t *bytes;
	size_t n;
	int r = 0, fr = 0;
	rc_memsink_init(&m);
	m.max_bytes = 16u << 20;
	m.space = size % 5 == 4 ? 8192 : UINT64_MAX;   /* now and then, a full disk */
	m.outcome = (enum vms_outcome)(size % 3);
	rc_sm_init(&sm, &o, &rc_memsink_ops, &m);
	if (size && vms_frames_feed(&in, data, size) < 0)
		goto out;
	while (sm.st != RC_ST_DONE && (fr = vms_frames_next(&in, &type, &p)) == 1) {
		switch (type) {
		case F_MCAST:
			n = vms_cur_left(&p);
			if (vms_cur_bytes(&p, n, &bytes) < 0)
				abort();
			r = rc_sm_mcast(&sm, bytes, n, &err);
			break;
		case F_LOST:
			r = rc_sm_mcast_lost(&sm, &err);
			break;
		case F_REJECTED:
			r = rc_sm_mcast_rejected(&sm, &err);
			break;
		case F_QUIET:
			r = rc_sm_group_check(&sm, vms_now_ms() + RC_GROUP_QUIET_MS + 1, &err);
			break;
		default:
			r = rc_sm_message(&sm, type, &p, &err);
			break;
		}
		if (r < 0)
			break;
		r = rc_sm_group_check(&sm, vms_now_ms(), &err);   /* as the event loop does */
		if (r < 0)
			break;
	}
	if (r < 0 && (err.code != r || !err.msg[0]))
		abort();                      /* a failure without its message */
	if (r >= 0 && fr < 0)
		r = vms_err_set(&err, fr, "bad frame from the sender (length out of range)");
	if (r >= 0 && sm.st != RC_ST_DONE)
		r = vms_err_set(&err, -ECONNRESET, "the sender went away before the end of the session");
	if (r < 0)
		rc_sm_fail(&sm, &err);
	if (sm.st == RC_ST_DONE && r >= 0 && !sm.live)
		for (unsigned v = 0; v < m.n; v++)
			if (!m.v[v].published)
				abort();
	if (m.violations)
		abort();
	check_replies(&m.replies);
out:
	rc_sm_free(&sm);
	rc_memsink_free(&m);
	vms_frames_free(&in);
	return 0;
}
