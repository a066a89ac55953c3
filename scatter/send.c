/* send.c - the sender's control sessions: scatter indexed images (or live
 * seeds) to their receivers for sc_session_seed (see scatter.h,
 * session_int.h and doc/PROTOCOL.md). Phases, in order:
 *   1. connect, HELLO/WELCOME (the images' SHA-256 come from the index);
 *   2. VM and MAP messages to each receiver, MAPS_END;
 *   3. every multicast group in the planned order: MCAST_JOIN to its
 *      members, the group's contents over PGM, MCAST_END, GROUP_DONE;
 *   4. per receiver: its unicast contents, END, then the contents it still
 *      lacks (MISSING) until it answers DONE with the images' digests.
 * Any failure ends every session (receivers then remove their partial
 * images) and names the receiver. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "session_int.h"

#define MAP_FRAME_IDS 65536u          /* page references per MAP frame */
#define MISSING_ROUNDS 8
#define CONNECT_MS 5000
#define RATE_UNKNOWN (1000000000u / 8)  /* multicast ceiling when the interface has no speed: 1 Gbit/s */

struct peer {
	const struct sc_target *t;
	vms_conn *conn;               /* TLS (or, --insecure, TCP) */
	vms_frames in;
	vms_wbuf out;
	unsigned nvms;
	unsigned *vms;                /* the index's VM numbers, in session order */
	struct sc_send_stats *st;
	uint32_t *unicast;            /* contents only this target needs */
	size_t nunicast;
	size_t nrepeated;             /* live: the first of them, seeded (repeated_contents) */
	size_t ncontents;             /* distinct contents its VMs hold: caps its MISSING ids */
};

struct sender {
	const sc_index *ix;
	kvm_mem *const *mems;
	const struct sc_send_opts *o;
	const struct sc_send_ctl *c;
	struct peer *peers;
	unsigned npeers;
	uint8_t (*digest)[32];        /* per VM */
	struct sc_send_stats *total;
	double rate_next;             /* token bucket for unicast: next free time */
	vms_pagez *z;                 /* compresses contents (opts.compress), or NULL */
	int sealed;                   /* with TLS: every group sealed under a key of its own */
	uint64_t session;
};

static int peer_err(const struct peer *p, vms_err *err, int code, const char *what)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(p->t->ip) };
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	return vms_err_prefix(err, code, "target %s (%s:%u)%s%s", p->t->name, ip, p->t->port,
			      what ? ": " : "", what ? what : "");
}

/* Tell the session's progress callback, if any. */
static void progress(const struct sender *s, const struct sc_progress *p)
{
	if (s->c->cbs && s->c->cbs->progress)
		s->c->cbs->progress(s->c->cb_arg, p);
}

/* ---- I/O with one receiver -------------------------------------------------- */

static int peer_flush(struct sender *s, struct peer *p, int unicast, vms_err *err)
{
	const uint8_t *d = p->out.data;
	size_t n = p->out.len;
	if (unicast && s->o->rate) {              /* pace unicast at the rate */
		double t = vms_now();
		if (s->rate_next > t)
			usleep((useconds_t)((s->rate_next - t) * 1e6));
		s->rate_next = (s->rate_next > t ? s->rate_next : t) + (double)n / (double)s->o->rate;
	}
	int w = vms_conn_write_all(p->conn, d, n);
	if (w < 0) {
		vms_err_set(err, w, "connection lost: %s", strerror(-w));
		return peer_err(p, err, w, NULL);
	}
	if (unicast) {
		vms_pagez_pace(s->z, vms_conn_unsent(p->conn) >= SC_PACE_BACKLOG);   /* --compress auto */
		p->st->unicast_bytes += p->out.len;
	} else
		p->st->control_bytes += p->out.len;
	vms_wbuf_reset(&p->out);
	return 0;
}

/* Next frame from the receiver within timeout_ms: 1 with *type and *pl,
 * 0 on timeout; an ERROR message from the receiver becomes the error. */
static int peer_next(struct peer *p, int timeout_ms, uint8_t *type, vms_cur *pl, vms_err *err)
{
	double deadline = vms_now() + timeout_ms / 1000.0;
	for (;;) {
		int r = vms_frames_next(&p->in, type, pl);
		if (r < 0)
			return peer_err(p, err, r, "sent a frame with a bad length");
		if (r == 1) {
			p->st->control_bytes += 5 + vms_cur_left(pl);
			if (*type == VMS_MSG_ERROR) {
				char text[VMS_WIRE_ERROR_MAX + 1] = "(unreadable)";
				vms_msg_error_get(pl, text);
				vms_err_set(err, -EREMOTEIO, "the receiver failed: %s", text);
				return peer_err(p, err, -EREMOTEIO, NULL);
			}
			return 1;
		}
		int left = (int)((deadline - vms_now()) * 1000);
		r = vms_frames_recv(&p->in, p->conn, left > 0 ? left : 0);   /* 0 ms: a look */
		if (r == -ECONNRESET) {
			vms_err_set(err, r, "the receiver closed the connection (did it die?)");
			return peer_err(p, err, r, NULL);
		}
		if (r < 0) {
			vms_err_set(err, r, "receiving: %s", vms_conn_strerror(p->conn, r));
			return peer_err(p, err, r, NULL);
		}
		if (r == 0 && left <= 0)
			return 0;
	}
}

/* Wait for a message of type `want`; anything else is a protocol error. */
static int peer_expect(struct sender *s, struct peer *p, uint8_t want, const char *name, vms_cur *pl,
		       vms_err *err)
{
	uint8_t type;
	int r = peer_next(p, s->o->timeout_ms, &type, pl, err);
	if (r < 0)
		return r;
	if (r == 0) {
		vms_err_set(err, -ETIMEDOUT, "no %s within %d s", name, s->o->timeout_ms / 1000);
		return peer_err(p, err, -ETIMEDOUT, NULL);
	}
	if (type != want) {
		vms_err_set(err, -EPROTO, "sent message type %u instead of %s", type, name);
		return peer_err(p, err, -EPROTO, NULL);
	}
	return 0;
}

static int connect_peer(struct sender *s, struct peer *p, vms_err *err)
{
	const char *host = s->o->tls_hostname ? s->o->tls_hostname : p->t->host[0] ? p->t->host : NULL;
	int r = vms_conn_connect(s->o->tls, p->t->ip, p->t->port, host, CONNECT_MS, &p->conn, err);
	return r < 0 ? peer_err(p, err, r, NULL) : 0;
}

/* ---- phase 1: greetings --------------------------------------------- */

static int greet(struct sender *s, struct peer *p, uint64_t session, vms_err *err)
{
	struct vms_msg_hello h = { .session = session, .flags = s->sealed ? VMS_HELLO_SEALED : 0 };
	struct vms_msg_welcome w;
	vms_cur pl;
	memcpy(h.target, p->t->name, sizeof(h.target));
	int r = vms_msg_hello_put(&p->out, &h);
	if (r == 0)
		r = peer_flush(s, p, 0, err);
	if (r == 0)
		r = peer_expect(s, p, VMS_MSG_WELCOME, "WELCOME", &pl, err);
	if (r == 0 && (vms_msg_welcome_get(&pl, &w) < 0 || w.version != VMS_WIRE_VERSION)) {
		vms_err_set(err, -EPROTO, "not a vmscatter receiver of protocol version %u", VMS_WIRE_VERSION);
		r = peer_err(p, err, -EPROTO, NULL);
	}
	return r;
}

/* ---- phase 2: VMs and page maps ------------------------------------------------- */

static int send_maps(struct sender *s, struct peer *p, vms_err *err)
{
	uint32_t *run = malloc(MAP_FRAME_IDS * sizeof(*run));       /* one run's content ids */
	int r = !run ? -ENOMEM : s->c->live ? vms_msg_empty_put(&p->out, VMS_MSG_LIVE) : 0;
	for (unsigned k = 0; k < p->nvms && r == 0; k++) {
		unsigned vm = p->vms[k];
		uint64_t pages = sc_index_vm_pages(s->ix, vm);
		struct vms_msg_vm m = { .vm = k, .pages = pages };
		snprintf(m.name, sizeof(m.name), "%s", sc_index_vm_name(s->ix, vm));
		memcpy(m.sha256, s->digest[vm], 32);
		r = vms_msg_vm_put(&p->out, &m);
		/* MAP frames of at most MAP_FRAME_IDS references: zero runs and
		 * reference runs alternate */
		for (uint64_t pg = 0; pg < pages && r == 0;) {
			size_t start;
			uint32_t refs = 0;
			r = vms_msg_map_begin(&p->out, k, pg, &start);
			while (r == 0 && pg < pages && refs < MAP_FRAME_IDS) {
				int zero = sc_index_page(s->ix, vm, pg) == SC_ZERO_CONTENT;
				uint64_t end = pg;
				while (end < pages && (sc_index_page(s->ix, vm, end) == SC_ZERO_CONTENT) == zero &&
				       (zero || refs + (end - pg) < MAP_FRAME_IDS) && end - pg < UINT32_MAX)
					end++;
				for (uint64_t i = pg; !zero && i < end; i++)
					run[i - pg] = sc_index_page(s->ix, vm, i);
				r = vms_msg_map_run_put(&p->out, zero ? 0 : 1, (uint32_t)(end - pg), zero ? NULL : run);
				if (!zero)
					refs += (uint32_t)(end - pg);
				pg = end;
			}
			if (r == 0)
				r = vms_msg_map_end(&p->out, start);
			if (r == 0 && p->out.len > (1u << 20))
				r = peer_flush(s, p, 0, err);
		}
	}
	free(run);
	if (r == 0)
		r = vms_msg_empty_put(&p->out, VMS_MSG_MAPS_END);
	if (r < 0 && err && !err->msg[0])
		vms_err_set(err, r, "out of memory");
	return r < 0 ? r : peer_flush(s, p, 0, err);
}

/* ---- phase 3: multicast groups --------------------------------------------------- */

/* Read content `cid` and encode it into msg, compressed when that shrinks
 * it (*len < VMS_CONTENT_MAX then). */
static int encode_content(struct sender *s, uint32_t cid, uint8_t *msg, size_t *len, vms_err *err)
{
	unsigned vm;
	uint64_t pg;
	uint8_t page[KVM_PAGE_SIZE];
	sc_index_content_where(s->ix, cid, &vm, &pg);
	int r = kvm_mem_read(s->mems[vm], pg, 1, page, err);
	if (r < 0)
		return r;
	/* a running guest may have changed the page since it was indexed: the
	 * receivers then hold other bytes under this id, and live streams must
	 * not refer to it */
	if (s->c->stale && !sc_index_content_is(s->ix, cid, page))
		__atomic_store_n(&s->c->stale[cid], 1, __ATOMIC_RELAXED);   /* (the streams read it) */
	*len = vms_content_encode(s->z, cid, page, msg);
	return 0;
}

/* Flow control of group g: take the MCAST_ACKs its members have sent
 * (acked[t]: member t's count); with `wait`, until every member is within
 * VMS_WIRE_MCAST_WINDOW of the `sent` contents, answering NAKs meanwhile.
 * A member that lost data for good (VMS_WIRE_MCAST_GAVE_UP) is waited for
 * no more: what it lacks comes by unicast. */
static int take_acks(struct sender *s, vms_mcast *mc, size_t g, uint64_t members, uint32_t *acked,
		     uint32_t sent, int wait, int *waited, vms_err *err)
{
	double deadline = vms_now() + s->o->timeout_ms / 1000.0;
	for (;;) {
		uint32_t low = UINT32_MAX;
		unsigned slow = 0;
		for (unsigned t = 0; t < s->npeers; t++) {
			uint8_t type;
			vms_cur pl;
			uint32_t grp, got;
			int r;
			if (!(members >> t & 1))
				continue;
			while ((r = peer_next(&s->peers[t], 0, &type, &pl, err)) == 1) {
				if (type != VMS_MSG_MCAST_ACK || vms_msg_mcast_ack_get(&pl, &grp, &got) < 0 || grp != g)
					return peer_err(&s->peers[t], err, vms_err_set(err, -EPROTO,
							"sent a malformed or misplaced message during multicast group %zu", g), NULL);
				/* a count past what we sent (another sender's messages on an
				 * unsealed group) or going back only loses that member its
				 * pacing: never more than `sent`, never less than before */
				if (got != VMS_WIRE_MCAST_GAVE_UP && got > sent)
					got = sent;
				if (got > acked[t])
					acked[t] = got;
			}
			if (r < 0)
				return r;
			if (acked[t] < low) {
				low = acked[t];
				slow = t;
			}
		}
		if (!wait || low == UINT32_MAX || sent - low < VMS_WIRE_MCAST_WINDOW)
			return 0;
		*waited = 1;
		if (vms_now() > deadline) {
			vms_err_set(err, -ETIMEDOUT, "took %u of the %u contents of multicast group %zu sent so far "
				    "and no more for %d s", low, sent, g, s->o->timeout_ms / 1000);
			return peer_err(&s->peers[slow], err, -ETIMEDOUT, NULL);
		}
		if (vms_mcast_service(mc, 1, err) < 0)
			return -EIO;
	}
}

static int multicast_group(struct sender *s, size_t g, size_t ngroups, uint64_t members,
			   const uint32_t *ids, size_t n, vms_err *err)
{
	vms_mcast *mc = NULL;
	uint32_t group_addr = 0xef4d0000u | (uint32_t)((g + 1) & 0xffff);   /* 239.77.x.y */
	uint16_t port = (uint16_t)(s->o->mcast_port + g % 1000);
	uint32_t ifaddr = s->o->mcast_if;
	uint8_t msg[VMS_CONTENT_MAX];
	uint64_t bytes = 0, compressed = 0;
	int r = 0;
	if (!ifaddr) {
		struct sockaddr_in local;
		socklen_t len = sizeof(local);
		for (unsigned t = 0; t < s->npeers && !ifaddr; t++)
			if (members >> t & 1 &&
			    getsockname(vms_conn_fd(s->peers[t].conn), (struct sockaddr *)&local, &len) == 0)
				ifaddr = ntohl(local.sin_addr.s_addr);
	}
	/* no --rate: the link's own speed is the ceiling (the members' MCAST_ACKs
	 * pace the group below it) */
	uint64_t rate = s->o->rate ? s->o->rate : vms_if_rate(ifaddr, RATE_UNKNOWN);
	if (rate > INT32_MAX)
		rate = INT32_MAX;                /* (PGM takes an int: 17 Gbit/s) */
	/* a fresh key for this group alone: only its members get it (MCAST_JOIN,
	 * on their TLS connections), so no other receiver can open the group */
	struct vms_msg_join j = { (uint32_t)g, group_addr, port, ifaddr, (uint32_t)n, { 0 } };
	vms_seal *seal = NULL;
	if (s->sealed && (r = vms_random(j.key, sizeof(j.key), err)) == 0)
		r = vms_seal_new(j.key, s->session, &seal, err);
	if (r == 0)
		r = vms_mcast_sender(ifaddr, group_addr, port, rate, &mc, err);
	if (r == 0 && seal)
		r = vms_mcast_seal(mc, seal, (uint32_t)g, err);
	if (r < 0) {
		vms_mcast_close(mc);
		vms_seal_free(seal);
		OPENSSL_cleanse(j.key, sizeof(j.key));
		return r;
	}
	for (unsigned t = 0; t < s->npeers && r == 0; t++)
		if (members >> t & 1) {
			r = vms_msg_join_put(&s->peers[t].out, &j);
			if (r == 0)
				r = peer_flush(s, &s->peers[t], 0, err);
		}
	OPENSSL_cleanse(j.key, sizeof(j.key));
	/* A member answers JOINED once it hears the group: until then the
	 * switch may not forward it yet. Hello messages (a zero content id,
	 * no page) keep coming until every member has heard one. */
	static const uint8_t hello[4] = { 0, 0, 0, 0 };
	uint64_t joining = members;
	double join_deadline = vms_now() + s->o->timeout_ms / 1000.0;
	while (r == 0 && joining) {
		r = vms_mcast_send(mc, hello, sizeof(hello), s->o->timeout_ms, err);
		for (unsigned t = 0; t < s->npeers && r == 0; t++) {
			uint8_t type;
			vms_cur pl;
			uint32_t got;
			if (!(joining >> t & 1))
				continue;
			r = peer_next(&s->peers[t], 10, &type, &pl, err);
			if (r == 1) {
				r = type == VMS_MSG_JOINED && vms_msg_u32_get(&pl, &got) == 0 && got == g
					    ? 0 : peer_err(&s->peers[t], err, vms_err_set(err, -EPROTO,
							   "answered MCAST_JOIN with the wrong message"), NULL);
				joining &= ~(1ull << t);
			}
		}
		if (r == 0 && joining && vms_now() > join_deadline) {
			vms_err_set(err, -ETIMEDOUT, "never heard multicast group %zu (is multicast routed?)", g);
			r = peer_err(&s->peers[__builtin_ctzll(joining)], err, -ETIMEDOUT, NULL);
		}
	}
	/* every member hears SPMs (the sender's address) before any data: PGM
	 * gives a loss up at once while the receiver cannot NAK */
	if (r == 0)
		r = vms_mcast_service(mc, VMS_MCAST_SETTLE_MS, err);
	double t0 = vms_now(), shown = 0;
	if (r == 0 && vms_fault("sender:seeding"))
		r = vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:seeding");
	uint32_t acked[64] = { 0 };          /* [target]: its MCAST_ACK count */
	uint64_t waits = vms_mcast_waits(mc);
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t len;
		if (i % (VMS_WIRE_MCAST_ACK_EVERY / 2) == 0) {   /* (n < 2^32: MCAST_JOIN's count) */
			int waited = 0;
			r = take_acks(s, mc, g, members, acked, (uint32_t)i, 1, &waited, err);
			/* --compress auto: zstd while the receivers or the rate keep
			 * us waiting anyway, LZ4 while we are the bottleneck */
			vms_pagez_pace(s->z, waited || vms_mcast_waits(mc) != waits);
			waits = vms_mcast_waits(mc);
		}
		if (r == 0 && s->c->stop && *s->c->stop)
			r = vms_err_set(err, -EINTR, "interrupted");
		if (r == 0)
			r = encode_content(s, ids[i], msg, &len, err);
		if (r == 0) {
			compressed += len < VMS_CONTENT_MAX;
			bytes += len;
			r = vms_mcast_send(mc, msg, len, s->o->timeout_ms, err);
		}
		if (r == 0 && s->c->sent)            /* the streams may refer to it now */
			__atomic_store_n(&s->c->sent[ids[i]], 1, __ATOMIC_RELEASE);
		double t = vms_now();
		if (t - shown > 0.5 || i + 1 == n) {
			double per_s = (double)(i + 1) / (t - t0 + 1e-9);
			progress(s, &(struct sc_progress){ .kind = SC_PROGRESS_MULTICAST, .group = g, .groups = ngroups,
				 .done = i + 1, .total = n, .mb_per_s = (double)bytes / (t - t0 + 1e-9) / 1e6,
				 .eta_s = (double)(n - i - 1) / per_s });
			shown = t;
		}
	}
	s->total->multicast_bytes += bytes;
	s->total->contents_multicast += n;
	s->total->contents_compressed += compressed;
	for (unsigned t = 0; t < s->npeers && r == 0; t++)
		if (members >> t & 1) {
			s->peers[t].st->multicast_bytes += bytes;
			s->peers[t].st->contents_multicast += n;
			s->peers[t].st->contents_compressed += compressed;
			r = vms_msg_u32_put(&s->peers[t].out, VMS_MSG_MCAST_END, (uint32_t)g);
			if (r == 0)
				r = peer_flush(s, &s->peers[t], 0, err);
		}
	/* keep answering NAKs until every member reports */
	uint64_t waiting = members;
	double deadline = vms_now() + s->o->timeout_ms / 1000.0;
	while (r == 0 && waiting) {
		vms_mcast_service(mc, 20, err);
		for (unsigned t = 0; t < s->npeers && r == 0; t++) {
			uint8_t type;
			vms_cur pl;
			struct vms_msg_group_done d;
			if (!(waiting >> t & 1))
				continue;
			r = peer_next(&s->peers[t], 0, &type, &pl, err);
			if (r == 1 && type == VMS_MSG_MCAST_ACK) {     /* (late: the window is over) */
				r = 0;
				continue;
			}
			if (r == 1) {
				r = type == VMS_MSG_GROUP_DONE && vms_msg_group_done_get(&pl, &d) == 0 && d.group == g
					    ? 0 : peer_err(&s->peers[t], err, vms_err_set(err, -EPROTO,
							   "answered MCAST_END with the wrong message"), NULL);
				if (r == 0) {
					s->peers[t].st->multicast_rejected += d.rejected;
					s->total->multicast_rejected += d.rejected;
				}
				waiting &= ~(1ull << t);
			}
		}
		if (r == 0 && waiting && vms_now() > deadline) {
			unsigned t = (unsigned)__builtin_ctzll(waiting);
			vms_err_set(err, -ETIMEDOUT, "did not confirm multicast group %zu", g);
			r = peer_err(&s->peers[t], err, -ETIMEDOUT, NULL);
		}
	}
	vms_mcast_close(mc);
	vms_seal_free(seal);
	return r;
}

/* ---- phase 4: unicast, missing contents, verdict --------------------------------- */

static int send_contents(struct sender *s, struct peer *p, const uint32_t *ids, size_t n, int resent,
			 vms_err *err)
{
	uint8_t msg[VMS_CONTENT_MAX];
	int r = 0;
	size_t flushed = 0;                   /* ids[..flushed) have gone out */
	double t0 = vms_now(), shown = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		size_t len;
		r = encode_content(s, ids[i], msg, &len, err);
		if (r == 0)
			r = vms_msg_content_put(&p->out, msg, len);
		if (r == 0 && len < VMS_CONTENT_MAX) {
			p->st->contents_compressed++;
			s->total->contents_compressed++;
		}
		if (r == 0 && (p->out.len >= (256u << 10) || i + 1 == n))
			r = peer_flush(s, p, 1, err);
		if (r == 0 && s->c->sent && !resent && p->out.len == 0)   /* (flushed: all sent so far) */
			for (size_t k = flushed; k <= i; k++)
				__atomic_store_n(&s->c->sent[ids[k]], 1, __ATOMIC_RELEASE);
		if (p->out.len == 0)
			flushed = i + 1;
		double t = vms_now();
		if (t - shown > 0.5 || i + 1 == n) {
			double rate = (double)(i + 1) * KVM_PAGE_SIZE / (t - t0 + 1e-9);
			progress(s, &(struct sc_progress){ .kind = resent ? SC_PROGRESS_RESEND : SC_PROGRESS_UNICAST,
				 .target = p->t->name, .done = i + 1, .total = n, .mb_per_s = rate / 1e6,
				 .eta_s = (double)(n - i - 1) * KVM_PAGE_SIZE / rate });
			shown = t;
		}
	}
	if (resent) {
		p->st->contents_resent += n;
		s->total->contents_resent += n;
	} else {
		p->st->contents_unicast += n;
		s->total->contents_unicast += n;
	}
	return r;
}

/* Live: of the contents only this target needs, those on two of its pages
 * or more (in one VM or in several): seeded once, every such page becomes
 * a reference instead of going whole in each stream. Moves them to the
 * front of p->unicast and says how many. */
static size_t repeated_contents(struct sender *s, struct peer *p)
{
	size_t n = 0;
	for (size_t i = 0; i < p->nunicast; i++)
		if (sc_index_content_refs(s->ix, p->unicast[i]) >= 2) {   /* (all its pages are here) */
			uint32_t c = p->unicast[i];
			p->unicast[i] = p->unicast[n];
			p->unicast[n++] = c;
		}
	return n;
}

/* Live, before the first group: which contents each target's seeds will
 * hold (the multicast ones and the repeated ones; absent[] marks the rest,
 * which the streams carry whole), then every receiver's SEEDING, then the
 * streams begin (ctl.streams) while the seeds go out. */
static int live_seeds(struct sender *s, vms_err *err)
{
	int r = 0;
	for (unsigned t = 0; t < s->npeers; t++) {
		struct peer *p = &s->peers[t];
		p->nrepeated = repeated_contents(s, p);
		for (size_t i = p->nrepeated; i < p->nunicast; i++)
			s->c->absent[t][p->unicast[i]] = 1;
	}
	for (unsigned t = 0; t < s->npeers && r == 0; t++) {
		vms_cur pl;
		r = peer_expect(s, &s->peers[t], VMS_MSG_SEEDING, "SEEDING", &pl, err);
		if (r == 0 && vms_msg_empty_get(&pl) < 0) {
			vms_err_set(err, -EPROTO, "sent a malformed SEEDING");
			r = peer_err(&s->peers[t], err, -EPROTO, NULL);
		}
	}
	if (r == 0 && s->c->streams)
		r = s->c->streams(s->c->streams_arg, err);
	return r;
}

/* The unicast contents of one receiver, then END. Live seeds are the
 * multicast contents and the repeated ones (live_seeds): what one page of
 * one target alone holds goes in the migration stream, current, instead of
 * twice. */
static int unicast_peer(struct sender *s, struct peer *p, vms_err *err)
{
	size_t n = s->c->live ? p->nrepeated : p->nunicast;
	int r = n > 0 ? send_contents(s, p, p->unicast, n, 0, err) : 0;
	if (r == 0)
		r = vms_msg_empty_put(&p->out, VMS_MSG_END);
	return r < 0 ? r : peer_flush(s, p, 0, err);
}

/* Answer MISSING until the receiver reports DONE (END already sent). */
static int finish_peer(struct sender *s, struct peer *p, vms_err *err)
{
	int r = 0;
	uint32_t *ids = NULL;
	size_t nids = 0, cap = 0, left = p->ncontents;     /* ids MISSING may still name */
	for (int round = 0; r == 0; round++) {
		if (round > 0) {
			r = vms_msg_empty_put(&p->out, VMS_MSG_END);
			if (r == 0)
				r = peer_flush(s, p, 0, err);
		}
		uint8_t type;
		vms_cur pl;
		nids = 0;
		for (int last = 0; r == 0 && !last;) {
			r = peer_next(p, s->o->timeout_ms, &type, &pl, err);
			if (r == 0) {
				vms_err_set(err, -ETIMEDOUT, "no answer to END within %d s", s->o->timeout_ms / 1000);
				r = peer_err(p, err, -ETIMEDOUT, NULL);
				break;
			}
			if (r < 0)
				break;
			r = 0;
			if (type == VMS_MSG_DONE) {
				struct vms_msg_done d;
				int ok = vms_msg_done_get(&pl, &d) == 0 && d.count == p->nvms;
				for (uint32_t i = 0; ok && i < d.count; i++)
					ok = memcmp(vms_msg_done_sha256(&d, i), s->digest[p->vms[i]], 32) == 0;
				if (!ok) {
					vms_err_set(err, -EIO, "reported images whose digests differ from the sources");
					r = peer_err(p, err, -EIO, NULL);
				}
				free(ids);
				return r;
			}
			struct vms_msg_missing m;
			int g = type == VMS_MSG_MISSING ? vms_msg_missing_get(&pl, &m, &left) : -EBADMSG;
			if (g == -E2BIG)
				vms_err_set(err, -EPROTO, "asked for more contents than its VMs hold (%zu)", p->ncontents);
			else if (g < 0)
				vms_err_set(err, -EPROTO, "answered END with a malformed message");
			if (g < 0) {
				r = peer_err(p, err, -EPROTO, NULL);
				break;
			}
			uint32_t count = m.count;
			if (nids + count > cap) {
				cap = (nids + count) * 2;
				uint32_t *nb = realloc(ids, cap * sizeof(*ids));
				if (!nb) {
					r = vms_err_set(err, -ENOMEM, "out of memory");
					break;
				}
				ids = nb;
			}
			for (uint32_t i = 0; i < count; i++) {
				(void)vms_cur_be32(&m.ids, &ids[nids]);      /* checked: cannot fail */
				const uint64_t *h = ids[nids] <= sc_index_contents(s->ix)
							    ? sc_index_holders(s->ix, ids[nids]) : NULL;
				int mine = 0;                /* only contents of this target's own VMs */
				for (unsigned k = 0; h && k < p->nvms && !mine; k++)
					mine = h[p->vms[k] / 64] >> (p->vms[k] % 64) & 1;
				if (!mine) {
					vms_err_set(err, -EPROTO, "asked for content %u, which none of its VMs holds",
						    ids[nids]);
					r = peer_err(p, err, -EPROTO, NULL);
					break;
				}
				if (s->c->live)      /* live: not re-sent, just not referred to (the streams read it) */
					__atomic_store_n(&s->c->absent[p - s->peers][ids[nids]], 1, __ATOMIC_RELAXED);
				nids++;
			}
			last = m.last && !s->c->live;     /* live: DONE follows at once */
		}
		if (r < 0)
			break;
		if (round == MISSING_ROUNDS) {
			vms_err_set(err, -EIO, "still lacks %zu contents after %d rounds", nids, MISSING_ROUNDS);
			r = peer_err(p, err, -EIO, NULL);
			break;
		}
		r = send_contents(s, p, ids, nids, 1, err);
	}
	free(ids);
	return r;
}

/* ---- the whole thing ----------------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Live, with streams that begin at SEEDING (ctl.streams, --overlap): each
 * group's contents in the order the migration streams will ask for them.
 * QEMU's first pass walks every VM's RAM from its start, all VMs
 * at once, so a content goes at the earliest point (as a share of its VM's
 * pages) any VM holds it: the seeds stay ahead of the streams that wait
 * for them. */
static int order_by_position(const sc_index *ix, uint32_t *grouped, const size_t *gidx, size_t ngroups,
			     vms_err *err)
{
	uint32_t ncont = sc_index_contents(ix);
	uint32_t *at = malloc(((size_t)ncont + 1) * sizeof(*at));
	uint64_t *key = malloc(((size_t)gidx[ngroups] + 1) * sizeof(*key));
	if (!at || !key) {
		free(at);
		free(key);
		return vms_err_set(err, -ENOMEM, "out of memory");
	}
	memset(at, 0xff, ((size_t)ncont + 1) * sizeof(*at));
	for (unsigned v = 0; v < sc_index_vms(ix); v++) {
		uint64_t pages = sc_index_vm_pages(ix, v);
		for (uint64_t pg = 0; pg < pages; pg++) {
			uint32_t c = sc_index_page(ix, v, pg), where = (uint32_t)((double)pg / (double)pages * 4294967295.0);
			if (c != SC_ZERO_CONTENT && where < at[c])
				at[c] = where;
		}
	}
	for (size_t i = 0; i < gidx[ngroups]; i++)
		key[i] = (uint64_t)at[grouped[i]] << 32 | grouped[i];
	for (size_t g = 0; g < ngroups; g++)
		qsort(key + gidx[g], gidx[g + 1] - gidx[g], sizeof(*key), cmp_u64);
	for (size_t i = 0; i < gidx[ngroups]; i++)
		grouped[i] = (uint32_t)key[i];
	free(at);
	free(key);
	return 0;
}

int sc_send(const sc_index *ix, kvm_mem *const *mems, const struct sc_target *targets,
	    unsigned ntargets, const unsigned *target_of, const uint64_t *groups, size_t ngroups,
	    const struct sc_send_opts *o, const struct sc_send_ctl *ctl, struct sc_send_stats *per_target,
	    struct sc_send_stats *total, vms_err *err)
{
	unsigned nvms = sc_index_vms(ix), words = sc_index_holder_words(ix);
	uint32_t ncont = sc_index_contents(ix);
	struct sender s = { .ix = ix, .mems = mems, .o = o, .c = ctl, .npeers = ntargets, .total = total };
	uint64_t *sorted = NULL;          /* (set << ...) lookups: sorted sets with their index */
	size_t *gidx = NULL, *gcount = NULL, *gfill = NULL;
	uint32_t *gids = NULL, *grouped = NULL;
	uint64_t *set_of = NULL;
	int r = 0;
	double t0 = vms_now();

	if (ntargets == 0 || ntargets > 64)
		return vms_err_set(err, -EINVAL, "1..64 targets are needed");
	memset(total, 0, sizeof(*total));
	memset(per_target, 0, ntargets * sizeof(*per_target));
	s.peers = calloc(ntargets, sizeof(*s.peers));
	s.digest = calloc(nvms, sizeof(*s.digest));
	set_of = calloc((size_t)ncont + 1, sizeof(*set_of));
	if (!s.peers || !s.digest || !set_of) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (o->compress && (r = vms_pagez_new(o->compress, &s.z, err)) < 0)
		goto out;
	for (unsigned t = 0; t < ntargets; t++) {
		s.peers[t] = (struct peer){ .t = &targets[t], .st = &per_target[t] };
		s.peers[t].vms = calloc(nvms, sizeof(unsigned));
		if (!s.peers[t].vms) {
			r = vms_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	for (unsigned v = 0; v < nvms; v++) {
		if (target_of[v] >= ntargets) {
			r = vms_err_set(err, -EINVAL, "VM %s has no target", sc_index_vm_name(ix, v));
			goto out;
		}
		struct peer *p = &s.peers[target_of[v]];
		p->vms[p->nvms++] = v;
		uint64_t bytes = sc_index_vm_pages(ix, v) * KVM_PAGE_SIZE;
		p->st->image_bytes += bytes;
		total->image_bytes += bytes;
	}

	/* which targets need each content; group the multi-target ones */
	for (uint32_t c = 1; c <= ncont; c++) {
		const uint64_t *h = sc_index_holders(ix, c);
		for (unsigned w = 0; w < words; w++)
			for (uint64_t bits = h[w]; bits; bits &= bits - 1)
				set_of[c] |= 1ull << target_of[w * 64 + (unsigned)__builtin_ctzll(bits)];
	}
	sorted = malloc((ngroups ? ngroups : 1) * 2 * sizeof(*sorted));
	gcount = calloc(ngroups + 1, sizeof(*gcount));
	gidx = calloc(ngroups + 1, sizeof(*gidx));
	gfill = calloc(ngroups + 1, sizeof(*gfill));
	gids = malloc(((size_t)ncont + 1) * sizeof(*gids));
	grouped = malloc(((size_t)ncont + 1) * sizeof(*grouped));
	if (!sorted || !gcount || !gidx || !gfill || !gids || !grouped) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t g = 0; g < ngroups; g++) {
		sorted[2 * g] = groups[g];
		sorted[2 * g + 1] = g;
	}
	qsort(sorted, ngroups, 2 * sizeof(*sorted), cmp_u64);
	for (unsigned t = 0; t < ntargets; t++) {
		s.peers[t].unicast = malloc(((size_t)ncont + 1) * sizeof(uint32_t));
		if (!s.peers[t].unicast) {
			r = vms_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	uint32_t *group_of = gids;                 /* the group of each content */
	for (uint32_t c = 1; c <= ncont; c++) {
		uint64_t set = set_of[c];
		for (uint64_t b = set; b; b &= b - 1)
			s.peers[__builtin_ctzll(b)].ncontents++;
		if (__builtin_popcountll(set) == 1) {
			struct peer *p = &s.peers[__builtin_ctzll(set)];
			p->unicast[p->nunicast++] = c;
			group_of[c] = UINT32_MAX;
			continue;
		}
		uint64_t *hit = bsearch(&set, sorted, ngroups, 2 * sizeof(*sorted), cmp_u64);
		if (!hit) {
			r = vms_err_set(err, -EINVAL, "the plan has no multicast group for a content its placement "
					"sends to several targets (plan and sources do not match)");
			goto out;
		}
		group_of[c] = (uint32_t)hit[1];
		gcount[hit[1]]++;
	}
	for (size_t g = 0; g < ngroups; g++)
		gidx[g + 1] = gidx[g] + gcount[g];
	for (uint32_t c = 1; c <= ncont; c++)
		if (group_of[c] != UINT32_MAX)
			grouped[gidx[group_of[c]] + gfill[group_of[c]]++] = c;
	/* (the order matters only to streams that begin while the seeds go out) */
	if (ctl->streams && (r = order_by_position(ix, grouped, gidx, ngroups, err)) < 0)
		goto out;

	/* phase 1 */
	for (unsigned v = 0; v < nvms && r == 0 && !ctl->live; v++)
		if (sc_index_vm_digest(ix, v, s.digest[v]) < 0)
			r = vms_err_set(err, -EINVAL, "the index of %s has no digest (sc_index_set_digests)",
					sc_index_vm_name(ix, v));
	/* a session number nobody can guess; with TLS, sealed multicast */
	uint64_t session = 0;
	if (r == 0)
		r = vms_random(&session, sizeof(session), err);
	s.session = session;
	s.sealed = o->tls != NULL;
	if (ctl->session)
		*ctl->session = session;
	for (unsigned t = 0; t < ntargets && r == 0; t++) {
		r = connect_peer(&s, &s.peers[t], err);
		if (r == 0)
			r = greet(&s, &s.peers[t], session, err);
	}
	/* phase 2 */
	for (unsigned t = 0; t < ntargets && r == 0; t++)
		r = send_maps(&s, &s.peers[t], err);
	if (r == 0 && ctl->live)
		r = live_seeds(&s, err);
	double t1 = vms_now();
	total->seconds_prepare = t1 - t0;
	/* phase 3 */
	for (size_t g = 0; g < ngroups && r == 0; g++)
		if (gcount[g])
			r = multicast_group(&s, g, ngroups, groups[g], grouped + gidx[g], gcount[g], err);
	if (ngroups)
		progress(&s, &(struct sc_progress){ .kind = SC_PROGRESS_END });
	double t2 = vms_now();
	total->seconds_multicast = t2 - t1;
	/* phase 4: every receiver gets its unicast contents and END first, so
	 * each verifies its images while the next one is being sent to */
	for (unsigned t = 0; t < ntargets && r == 0; t++)
		r = unicast_peer(&s, &s.peers[t], err);
	for (unsigned t = 0; t < ntargets && r == 0; t++)
		r = finish_peer(&s, &s.peers[t], err);
	total->seconds_unicast = vms_now() - t2;
	progress(&s, &(struct sc_progress){ .kind = SC_PROGRESS_END });
out:
	for (unsigned t = 0; s.peers && t < ntargets; t++) {
		struct peer *p = &s.peers[t];
		if (r < 0 && p->conn) {               /* tell the others to clean up */
			vms_wbuf_reset(&p->out);
			vms_conn_set_write_ms(p->conn, 1000);
			if (vms_msg_error_put(&p->out, "the sender stopped: another target failed") == 0)
				vms_conn_write_all(p->conn, p->out.data, p->out.len);
		}
		if (r == 0 && ctl->keep_conns) {        /* live: the sessions go on */
			ctl->keep_conns[t] = p->conn;
			p->conn = NULL;
		}
		vms_conn_close(p->conn);
		total->unicast_bytes += p->st->unicast_bytes;
		total->control_bytes += p->st->control_bytes;
		p->st->seconds = vms_now() - t0;
		vms_frames_free(&p->in);
		vms_wbuf_free(&p->out);
		free(p->vms);
		free(p->unicast);
	}
	total->seconds = vms_now() - t0;
	vms_pagez_free(s.z);
	free(s.peers);
	free(s.digest);
	free(set_of);
	free(sorted);
	free(gcount);
	free(gidx);
	free(gfill);
	free(gids);
	free(grouped);
	return r;
}
