/* session.c - the receiver's session state machine (doc/PROTOCOL.md; see
 * receiver_int.h): every control message a sender sends, checked against
 * the state and this receiver's limits, and what it does, through a sink
 * (rc_sink_ops) - this file touches no file, socket or multicast group.
 *   HELLO -> VMS (LIVE, VM, MAP..., MAPS_END) -> DATA (groups, CONTENT, END)
 *         -> LIVE (until LIVE_END) or DONE
 * Any message out of place, malformed or over a cap fails the session: the
 * caller sends the ERROR (rc_sm_fail) and the sink removes what it made. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "receiver_int.h"

void rc_sm_init(struct rc_sm *sm, const struct rc_options *o, const struct rc_sink_ops *sink, void *priv)
{
	*sm = (struct rc_sm){
		.o = o, .sink = sink, .priv = priv, .st = RC_ST_HELLO,
		.max_vm = o->max_vm_bytes ? o->max_vm_bytes : RC_MAX_VM_BYTES_DEFAULT,
		.max_total = o->max_session_bytes ? o->max_session_bytes : RC_MAX_SESSION_BYTES_DEFAULT,
		.max_vms = o->max_vms ? o->max_vms : RC_MAX_VMS_DEFAULT,
	};
}

void rc_sm_free(struct rc_sm *sm)
{
	for (unsigned v = 0; v < sm->nvms; v++)
		free(sm->vms[v].map);
	free(sm->vms);
	rc_index_free(&sm->ix);
	vms_wbuf_free(&sm->out);
	vms_pagex_free(sm->px);
	sm->px = NULL;
	sm->vms = NULL;
	sm->nvms = 0;
}

/* Decode a content (CONTENT, or a multicast message) with the session's
 * decompressor, made on first use: 0, -EBADMSG, or -ENOMEM (err set). */
static int content_get(struct rc_sm *sm, vms_cur *c, uint32_t *id, const uint8_t **page, vms_err *err)
{
	int r;
	if (!sm->px && (r = vms_pagex_new(&sm->px, err)) < 0)
		return r;
	return vms_msg_content_get(c, id, sm->px, page);
}

/* Send the reply built in sm->out (r: its put's result). */
static int reply(struct rc_sm *sm, int r, vms_err *err)
{
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	r = sm->sink->send(sm->priv, sm->out.data, sm->out.len, err);
	vms_wbuf_reset(&sm->out);
	return r;
}

void rc_sm_fail(struct rc_sm *sm, const vms_err *err)
{
	vms_wbuf_reset(&sm->out);
	if (vms_msg_error_put(&sm->out, err->msg) == 0)
		sm->sink->send(sm->priv, sm->out.data, sm->out.len, NULL);
	vms_wbuf_reset(&sm->out);
}

static int bad(vms_err *err, const char *what)
{
	return vms_err_set(err, -EBADMSG, "malformed or misplaced %s message", what);
}

/* ---- contents ------------------------------------------------------------------ */

/* Write one content into every page that holds it; unknown contents are
 * ignored (a multicast group may carry what another receiver needs). */
static int store(struct rc_sm *sm, uint32_t id, const uint8_t *page, vms_err *err)
{
	const struct rc_loc *locs;
	size_t slot, n;
	if (!rc_index_want(&sm->ix, id, &slot, &locs, &n))
		return 0;
	for (size_t k = 0; k < n; k++) {
		int r = sm->sink->write_page(sm->priv, locs[k].vm, locs[k].page, page, err);
		if (r < 0)
			return r;
	}
	rc_index_got(&sm->ix, slot);
	return 0;
}

int rc_sm_mcast(struct rc_sm *sm, const uint8_t *msg, size_t len, vms_err *err)
{
	int r;
	if (!sm->in_group)
		return 0;
	if (!sm->group_heard) {                  /* the first message of any kind */
		sm->group_heard = 1;
		r = reply(sm, vms_msg_u32_put(&sm->out, VMS_MSG_JOINED, sm->group), err);
		if (r < 0)
			return r;
	}
	static const uint8_t hello[4];
	if (len == sizeof(hello) && memcmp(msg, hello, sizeof(hello)) == 0)
		return 0;
	/* every other message is one of the group's contents, the sender's
	 * count of them too (a malformed one comes again by unicast) */
	sm->received++;
	sm->last_progress = vms_now_ms();
	vms_cur c;
	uint32_t id;
	const uint8_t *page;
	vms_cur_init(&c, msg, len);
	if ((r = content_get(sm, &c, &id, &page, err)) == -ENOMEM)
		return r;
	if (r == 0 && sm->contents_mcast++ == 0 && vms_fault("receiver:seeding"))
		return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "receiver:seeding");
	if (r == 0 && (r = store(sm, id, page, err)) < 0)
		return r;
	/* flow control: the sender keeps within VMS_WIRE_MCAST_WINDOW of the
	 * slowest member's count; the ACK goes once the page is in place */
	if (sm->received % VMS_WIRE_MCAST_ACK_EVERY == 0 && !sm->group_lost)
		return reply(sm, vms_msg_mcast_ack_put(&sm->out, sm->group, sm->received), err);
	return 0;
}

int rc_sm_mcast_lost(struct rc_sm *sm, vms_err *err)
{
	if (!sm->in_group || sm->group_lost)
		return 0;
	rc_log(sm->o, "group %u: multicast data lost for good; it will come by unicast", sm->group);
	if (!sm->group_heard)            /* only hellos were lost: the count holds (and JOINED comes first) */
		return 0;
	sm->group_lost = 1;
	return reply(sm, vms_msg_mcast_ack_put(&sm->out, sm->group, VMS_WIRE_MCAST_GAVE_UP), err);
}

int rc_sm_mcast_rejected(struct rc_sm *sm, vms_err *err)
{
	if (sm->rejected++ == 0)
		rc_log(sm->o, "group %u: dropped a multicast message that failed authentication", sm->group);
	/* a forged message may have taken a real one's place (PGM's sequence
	 * number): the count may lag for good, so the sender must not wait.
	 * (Not before the group was heard: only hellos go then, uncounted,
	 * and nothing may come before JOINED.) */
	if (!sm->in_group || sm->group_lost || !sm->group_heard)
		return 0;
	sm->group_lost = 1;
	return reply(sm, vms_msg_mcast_ack_put(&sm->out, sm->group, VMS_WIRE_MCAST_GAVE_UP), err);
}

int rc_sm_group_check(struct rc_sm *sm, int64_t now_ms, vms_err *err)
{
	if (!sm->in_group || !sm->group_ending ||
	    (sm->received < sm->expect && now_ms - sm->last_progress <= RC_GROUP_QUIET_MS))
		return 0;
	struct vms_msg_group_done d = { sm->group, sm->received, sm->rejected };
	rc_log(sm->o, "group %u: %u of %u messages, %u that failed authentication dropped", sm->group,
	       sm->received, sm->expect, sm->rejected);
	sm->sink->leave(sm->priv);
	sm->in_group = 0;
	sm->group_ending = 0;
	int r = reply(sm, vms_msg_group_done_put(&sm->out, &d), err);
	return r < 0 ? r : 1;
}

/* ---- the end ---------------------------------------------------------------------- */

static int finish(struct rc_sm *sm, vms_err *err)
{
	int r = 0;
	for (unsigned v = 0; v < sm->nvms && !sm->live; v++)
		if ((r = sm->sink->finish_image(sm->priv, v, sm->vms[v].digest, err)) < 0)
			return r;
	for (unsigned v = 0; v < sm->nvms && !sm->live; v++)
		if ((r = sm->sink->publish_image(sm->priv, v, err)) < 0)
			return r;
	uint8_t *sha = calloc(sm->nvms ? sm->nvms : 1, 32);     /* DONE: the digests, VM 0 first */
	for (unsigned v = 0; sha && v < sm->nvms; v++)
		memcpy(sha + (size_t)v * 32, sm->vms[v].digest, 32);
	r = sha ? vms_msg_done_put(&sm->out, sha, sm->nvms) : -ENOMEM;
	free(sha);
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	/* a live session goes on: its seeds stay (as temporary files) for the streams */
	sm->st = sm->live ? RC_ST_LIVE : RC_ST_DONE;
	if (sm->live)
		rc_log(sm->o, "seeds of %u VMs in place; waiting for the migration streams", sm->nvms);
	return reply(sm, 0, err);
}

static int send_missing(struct rc_sm *sm, vms_err *err)
{
	size_t left = sm->ix.missing, k = 0;
	uint32_t *chunk = malloc((left < VMS_WIRE_IDS_MAX ? left : VMS_WIRE_IDS_MAX) * sizeof(*chunk));
	int r = chunk ? 0 : vms_err_set(err, -ENOMEM, "out of memory");
	rc_log(sm->o, "asking for %zu missing contents", left);
	while (r == 0 && left > 0) {          /* MISSING messages of <= VMS_WIRE_IDS_MAX ids */
		uint32_t n = rc_index_missing(&sm->ix, &k, chunk,
					      left < VMS_WIRE_IDS_MAX ? (uint32_t)left : VMS_WIRE_IDS_MAX);
		if (n == 0)                   /* (the index counts what it lacks: never) */
			return vms_err_set(err, -EFAULT, "content index out of step");
		left -= n;
		r = reply(sm, vms_msg_missing_put(&sm->out, left == 0, chunk, n), err);
	}
	free(chunk);
	return r;
}

/* ---- messages --------------------------------------------------------------------- */

static int on_vm(struct rc_sm *sm, vms_cur *p, vms_err *err)
{
	struct vms_msg_vm m;
	int r;
	if (sm->st != RC_ST_VMS || vms_msg_vm_get(p, &m) < 0 || m.vm != sm->nvms)
		return bad(err, "VM");
	for (unsigned v = 0; v < sm->nvms; v++)
		if (strcmp(sm->vms[v].name, m.name) == 0)
			return vms_err_set(err, -EBADMSG, "VM %s announced twice", m.name);
	if (!vms_name_valid(m.name, strlen(m.name), VMS_WIRE_NAME_MAX))   /* (the decoder checks it too) */
		return vms_err_set(err, -EINVAL, "VM name '%s' is not allowed", m.name);
	/* this receiver's limits, before anything is allocated or created */
	uint64_t bytes = m.pages * VMS_WIRE_PAGE, total = (sm->total_pages + m.pages) * VMS_WIRE_PAGE;
	if (sm->nvms >= sm->max_vms)
		return vms_err_set(err, -E2BIG, "more than %u VMs in one session (this receiver's --max-vms)",
				   sm->max_vms);
	if (bytes > sm->max_vm)
		return vms_err_set(err, -EFBIG, "VM %s: %llu bytes of memory, more than this receiver's "
				   "--max-memory (%llu)", m.name, (unsigned long long)bytes,
				   (unsigned long long)sm->max_vm);
	if (total > sm->max_total)
		return vms_err_set(err, -EFBIG, "the session's VMs would hold %llu bytes, more than this receiver's "
				   "--max-session-memory (%llu)", (unsigned long long)total,
				   (unsigned long long)sm->max_total);
	if (sm->nvms == 0 && (r = sm->sink->space(sm->priv, &sm->disk_free, err)) < 0)
		return r;
	if (total > sm->disk_free)
		return vms_err_set(err, -ENOSPC, "the session's VMs need %llu bytes in %s, which has %llu free",
				   (unsigned long long)total, sm->o->out_dir, (unsigned long long)sm->disk_free);
	struct rc_vm *nv = realloc(sm->vms, (sm->nvms + 1) * sizeof(*nv));
	if (!nv)
		return vms_err_set(err, -ENOMEM, "out of memory");
	sm->vms = nv;
	struct rc_vm *v = &sm->vms[sm->nvms];
	memset(v, 0, sizeof(*v));
	memcpy(v->name, m.name, sizeof(m.name));
	memcpy(v->digest, m.sha256, 32);
	v->pages = m.pages;
	sm->nvms++;
	sm->total_pages += m.pages;
	/* the image first: an existing OUT/NAME.img fails before the map is allocated */
	if ((r = sm->sink->vm_open(sm->priv, m.vm, m.name, m.pages, sm->live, err)) < 0)
		return r;
	v->map = calloc(m.pages, sizeof(*v->map));
	if (!v->map)
		return vms_err_set(err, -ENOMEM, "%s: out of memory for %llu pages", m.name,
				   (unsigned long long)m.pages);
	rc_log(sm->o, "VM %s: %llu pages", m.name, (unsigned long long)m.pages);
	return 0;
}

static int on_map(struct rc_sm *sm, vms_cur *p, vms_err *err)
{
	uint32_t vm, count;
	uint64_t first;
	uint8_t kind;
	vms_cur ids;
	if (sm->st != RC_ST_VMS || vms_msg_map_get(p, &vm, &first) < 0 || vm >= sm->nvms)
		return bad(err, "MAP");
	struct rc_vm *v = &sm->vms[vm];
	if (first != v->mapped)
		return vms_err_set(err, -EBADMSG, "MAP of %s out of order", v->name);
	while (vms_cur_left(p) > 0) {
		if (vms_msg_map_run(p, &kind, &count, &ids) < 0 || count > v->pages - v->mapped)
			return bad(err, "MAP");
		if (kind == 0) {
			v->mapped += count;
			continue;
		}
		for (uint32_t i = 0; i < count; i++) {
			uint32_t id;
			if (vms_cur_be32(&ids, &id) < 0 || id == 0)
				return bad(err, "MAP");
			v->map[v->mapped++] = id;
		}
	}
	return 0;
}

static int on_hello(struct rc_sm *sm, vms_cur *p, vms_err *err)
{
	struct vms_msg_hello h;
	struct vms_msg_welcome w = { VMS_WIRE_VERSION, "" };
	int r = 0;
	if (sm->st == RC_ST_HELLO && (r = vms_msg_hello_get(p, &h)) == -EPROTONOSUPPORT)
		return vms_err_set(err, r, "the sender speaks another wire protocol version than "
				   "this receiver (%u): run the same vmscatter on both sides", VMS_WIRE_VERSION);
	if (sm->st != RC_ST_HELLO || r < 0)
		return bad(err, "HELLO");
	if (sm->o->tls && !(h.flags & VMS_HELLO_SEALED))
		return vms_err_set(err, -EPROTO, "the sender does not seal its multicast (an --insecure "
				   "sender): this receiver runs with --tls-creds");
	sm->sealed = (h.flags & VMS_HELLO_SEALED) != 0;
	snprintf(w.name, sizeof(w.name), "%s", sm->o->name);
	rc_log(sm->o, "session %016llx from the sender, as target %s", (unsigned long long)h.session, h.target);
	sm->id = h.session;
	sm->st = RC_ST_VMS;
	return reply(sm, vms_msg_welcome_put(&sm->out, &w), err);
}

static int on_outcome(struct rc_sm *sm, vms_cur *p, vms_err *err)
{
	static const char *const words[] = { "not settled yet", "committed", "rolled back" };
	uint64_t sess;
	uint32_t vm;
	if (sm->st != RC_ST_HELLO || vms_msg_outcome_get(p, &sess, &vm) < 0)
		return bad(err, "OUTCOME");
	enum vms_outcome oc = sm->sink->outcome(sm->priv, sess, vm);
	if ((unsigned)oc >= sizeof(words) / sizeof(words[0]))
		oc = VMS_OUTCOME_PENDING;
	rc_log(sm->o, "a source guard asked about VM %u of session %016llx: %s", vm, (unsigned long long)sess,
	       words[oc]);
	sm->st = RC_ST_DONE;
	return reply(sm, vms_msg_outcome_is_put(&sm->out, oc), err);
}

static int on_join(struct rc_sm *sm, vms_cur *p, vms_err *err)
{
	struct vms_msg_join j;
	if (sm->st != RC_ST_DATA || sm->in_group || vms_msg_join_get(p, &j) < 0)
		return bad(err, "MCAST_JOIN");
	/* sealed: the group's own key, which only its members get */
	int r = sm->sink->join(sm->priv, &j, sm->sealed, sm->id, err);
	OPENSSL_cleanse(j.key, sizeof(j.key));
	if (r < 0)
		return r;
	sm->in_group = 1;
	sm->group = j.group;
	sm->expect = j.messages;
	sm->received = 0;
	sm->group_lost = 0;
	sm->rejected = 0;
	sm->group_heard = 0;                  /* JOINED goes out with the first message heard */
	sm->last_progress = vms_now_ms();
	return 0;
}

int rc_sm_message(struct rc_sm *sm, uint8_t type, vms_cur *p, vms_err *err)
{
	int r = 0;
	uint32_t u;
	if (sm->st == RC_ST_DONE)
		return vms_err_set(err, -EBADMSG, "a message after the end of the session");
	switch (type) {
	case VMS_MSG_HELLO:
		return on_hello(sm, p, err);
	case VMS_MSG_OUTCOME:                    /* a source guard asks, instead of a session */
		return on_outcome(sm, p, err);
	case VMS_MSG_LIVE:
		if (sm->st != RC_ST_VMS || sm->nvms || sm->live || vms_msg_empty_get(p) < 0)
			return bad(err, "LIVE");
		sm->live = 1;
		return 0;
	case VMS_MSG_LIVE_END:
		if (sm->st != RC_ST_LIVE || vms_msg_empty_get(p) < 0)
			return bad(err, "LIVE_END");
		sm->st = RC_ST_DONE;
		return 0;
	case VMS_MSG_VM:
		return on_vm(sm, p, err);
	case VMS_MSG_MAP:
		return on_map(sm, p, err);
	case VMS_MSG_MAPS_END:
		/* a target the plan left empty still completes its session */
		if (sm->st != RC_ST_VMS || vms_msg_empty_get(p) < 0)
			return bad(err, "MAPS_END");
		for (unsigned v = 0; v < sm->nvms; v++)
			if (sm->vms[v].mapped != sm->vms[v].pages)
				return vms_err_set(err, -EBADMSG, "MAPS_END before all of %s was mapped", sm->vms[v].name);
		r = rc_index_build(&sm->ix, sm->vms, sm->nvms, err);
		if (r == 0) {
			sm->st = RC_ST_DATA;
			rc_log(sm->o, "%zu distinct contents to receive", sm->ix.nids);
		}
		/* live: the seeds are open, streams may begin while they fill */
		if (r == 0 && sm->live)
			r = reply(sm, vms_msg_empty_put(&sm->out, VMS_MSG_SEEDING), err);
		return r;
	case VMS_MSG_MCAST_JOIN:
		return on_join(sm, p, err);
	case VMS_MSG_MCAST_END:
		if (sm->st != RC_ST_DATA || !sm->in_group || vms_msg_u32_get(p, &u) < 0 || u != sm->group)
			return bad(err, "MCAST_END");
		sm->group_ending = 1;
		sm->last_progress = vms_now_ms();
		return 0;
	case VMS_MSG_CONTENT: {
		const uint8_t *page;
		if (sm->st != RC_ST_DATA)
			return bad(err, "CONTENT");
		if ((r = content_get(sm, p, &u, &page, err)) == -ENOMEM)
			return r;
		if (r < 0 && sm->px && vms_pagex_why(sm->px)[0])
			return vms_err_set(err, -EBADMSG, "malformed CONTENT message: %s", vms_pagex_why(sm->px));
		if (r < 0)
			return bad(err, "CONTENT");
		sm->contents_tcp++;
		return store(sm, u, page, err);
	}
	case VMS_MSG_END:
		if (sm->st != RC_ST_DATA || sm->in_group || vms_msg_empty_get(p) < 0)
			return bad(err, "END");
		/* live: the seeds are what came; MISSING tells the sender what did not */
		if (sm->ix.missing && (r = send_missing(sm, err)) < 0)
			return r;
		return sm->ix.missing && !sm->live ? 0 : finish(sm, err);
	case VMS_MSG_ERROR: {
		char text[VMS_WIRE_ERROR_MAX + 1];
		if (vms_msg_error_get(p, text) < 0)
			return bad(err, "ERROR");
		return vms_err_set(err, -ECONNABORTED, "the sender gave up: %s", text);
	}
	default:
		return vms_err_set(err, -EBADMSG, "unknown message type %u", type);
	}
}
