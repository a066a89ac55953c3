/* pgm.c - multicast over OpenPGM 5.3 with UDP encapsulation (see common.h).
 * Work-arounds for Debian's build (../shared/notes/openpgm.md): messages
 * stay below one packet (PGM_MTU 9000) and are sent from a 16-byte aligned
 * copy; unicast and multicast encapsulation ports are the same so NAKs reach
 * the sender; the sender keeps calling pgm_recv() to answer NAKs. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>          /* before pgm.h: it declares pgm_poll_info() only then */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <pgm/pgm.h>

#include "common.h"

#define PGM_TPDU 9000
#define TXW_SQNS 16384
#define RXW_SQNS 16384
#define RCVBUF (32 << 20)
#define MSG_BUF (VMS_MCAST_MSG_MAX + 32)   /* a message and its seal, a multiple of 16 */
#define PUMP_EVERY 16              /* a sender takes NAKs at least every this many messages */
/* SPMs carry the sender's unicast address (NLA): a receiver that has not
 * heard one cannot NAK and gives every loss up at once (OpenPGM receiver.c,
 * "Dropped N messages due to invalid NLA"). The SPMs pgm_connect() sends
 * come before any receiver joins, so ambient SPMs must come often and a new
 * receiver asks for one (SPMR) soon; the sender also waits
 * VMS_MCAST_SETTLE_MS (several ambient intervals) before its data. */
#define AMBIENT_SPM_US 20000
#define SPMR_EXPIRY_US 10000       /* must stay below AMBIENT_SPM_US */

struct vms_mcast {
	pgm_sock_t *sock;
	int sender;
	uint8_t *aligned;          /* 16-byte aligned send buffer */
	vms_seal *seal;            /* seals / opens every message (vms_mcast_seal), or NULL */
	uint32_t group;            /* the group number sealed messages are bound to */
	uint8_t *sealed;           /* a receiver's buffer for a sealed message */
	uint64_t last;             /* the highest counter opened: a replay is no newer */
	uint64_t repaired;         /* messages PGM delivered from repair data (RDATA: NAKed, resent) */
	unsigned unpumped;         /* a sender's messages since it last took NAKs */
	uint64_t waits;            /* a sender's sends that had to wait (the rate, the socket) */
};

static int pgm_fail(vms_err *err, pgm_error_t **perr, const char *what)
{
	int r = vms_err_set(err, -EIO, "PGM %s: %s", what, *perr && (*perr)->message ? (*perr)->message : "failed");
	if (*perr)
		pgm_error_free(*perr);
	*perr = NULL;
	return r;
}

static int set_int(pgm_sock_t *s, int level, int opt, int v)
{
	return pgm_setsockopt(s, level, opt, &v, sizeof(v)) ? 0 : -1;
}

static int open_socket(uint32_t ifaddr, uint32_t group, uint16_t port, int sender, uint64_t rate,
		       vms_mcast **out, vms_err *err)
{
	pgm_error_t *perr = NULL;
	struct pgm_addrinfo_t *res = NULL;
	char net[64], ifs[INET_ADDRSTRLEN], grp[INET_ADDRSTRLEN];
	struct in_addr a = { htonl(ifaddr) }, g = { htonl(group) };
	int r = 0;
	vms_mcast *m = calloc(1, sizeof(*m));
	if (!m)
		return vms_err_set(err, -ENOMEM, "out of memory");
	m->sender = sender;
	if (!pgm_init(&perr)) {
		r = pgm_fail(err, &perr, "init");
		free(m);
		return r;
	}
	inet_ntop(AF_INET, &a, ifs, sizeof(ifs));
	inet_ntop(AF_INET, &g, grp, sizeof(grp));
	snprintf(net, sizeof(net), "%s;%s", ifs, grp);
	if (!pgm_getaddrinfo(net, NULL, &res, &perr)) {
		r = pgm_fail(err, &perr, "address");
		goto out;
	}
	if (!pgm_socket(&m->sock, AF_INET, SOCK_SEQPACKET, IPPROTO_UDP, &perr)) {
		r = pgm_fail(err, &perr, "socket");
		goto out;
	}
	int p = port;
	int ok = set_int(m->sock, IPPROTO_PGM, PGM_UDP_ENCAP_UCAST_PORT, p) == 0 &&
		 set_int(m->sock, IPPROTO_PGM, PGM_UDP_ENCAP_MCAST_PORT, p) == 0 &&
		 set_int(m->sock, IPPROTO_PGM, PGM_IP_ROUTER_ALERT, 0) == 0 &&
		 set_int(m->sock, IPPROTO_PGM, PGM_MTU, PGM_TPDU) == 0;
	if (sender) {
		static const int heartbeat[] = { 100000, 100000, 100000, 100000, 1300000, 7000000 };
		ok = ok && set_int(m->sock, IPPROTO_PGM, PGM_SEND_ONLY, 1) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_TXW_SQNS, TXW_SQNS) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_TXW_MAX_RTE, (int)(rate > INT32_MAX ? INT32_MAX : rate)) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_AMBIENT_SPM, AMBIENT_SPM_US) == 0 &&
		     pgm_setsockopt(m->sock, IPPROTO_PGM, PGM_HEARTBEAT_SPM, heartbeat, sizeof(heartbeat));
	} else {
		ok = ok && set_int(m->sock, IPPROTO_PGM, PGM_RECV_ONLY, 1) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_PASSIVE, 0) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_RXW_SQNS, RXW_SQNS) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_PEER_EXPIRY, 300000000) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_SPMR_EXPIRY, SPMR_EXPIRY_US) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_NAK_BO_IVL, 50000) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_NAK_RPT_IVL, 200000) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_NAK_RDATA_IVL, 400000) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_NAK_DATA_RETRIES, 50) == 0 &&
		     set_int(m->sock, IPPROTO_PGM, PGM_NAK_NCF_RETRIES, 50) == 0;
		/* a larger kernel buffer avoids RcvbufErrors; capped by rmem_max */
		(void)set_int(m->sock, SOL_SOCKET, SO_RCVBUF, RCVBUF);
	}
	if (!ok) {
		r = vms_err_set(err, -EINVAL, "PGM: could not set the socket options");
		goto out;
	}
	struct pgm_sockaddr_t addr;
	memset(&addr, 0, sizeof(addr));
	addr.sa_port = port;
	addr.sa_addr.sport = (uint16_t)(port + 1);   /* must differ from sa_port */
	if (!pgm_gsi_create_from_data(&addr.sa_addr.gsi, (const uint8_t *)&ifaddr, sizeof(ifaddr))) {
		r = vms_err_set(err, -EIO, "PGM: cannot make a session id");
		goto out;
	}
	struct pgm_interface_req_t ifr;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ir_interface = res->ai_recv_addrs[0].gsr_interface;
	if (!pgm_bind3(m->sock, &addr, sizeof(addr), &ifr, sizeof(ifr), &ifr, sizeof(ifr), &perr)) {
		r = pgm_fail(err, &perr, "bind");
		goto out;
	}
	for (unsigned i = 0; i < res->ai_recv_addrs_len; i++)
		pgm_setsockopt(m->sock, IPPROTO_PGM, PGM_JOIN_GROUP, &res->ai_recv_addrs[i], sizeof(struct group_req));
	pgm_setsockopt(m->sock, IPPROTO_PGM, PGM_SEND_GROUP, &res->ai_send_addrs[0], sizeof(struct group_req));
	if (set_int(m->sock, IPPROTO_PGM, PGM_MULTICAST_LOOP, 0) < 0 ||
	    set_int(m->sock, IPPROTO_PGM, PGM_MULTICAST_HOPS, 16) < 0 ||
	    set_int(m->sock, IPPROTO_PGM, PGM_NOBLOCK, 1) < 0) {
		r = vms_err_set(err, -EINVAL, "PGM: could not set the IP options");
		goto out;
	}
	if (!pgm_connect(m->sock, &perr)) {
		r = pgm_fail(err, &perr, "connect");
		goto out;
	}
	if (sender && !(m->aligned = aligned_alloc(16, MSG_BUF))) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*out = m;
	m = NULL;
out:
	if (res)
		pgm_freeaddrinfo(res);
	vms_mcast_close(m);
	return r;
}

int vms_mcast_sender(uint32_t ifaddr, uint32_t group, uint16_t port, uint64_t rate,
		     vms_mcast **out, vms_err *err)
{
	if (rate == 0)
		return vms_err_set(err, -EINVAL, "PGM: the rate must be positive");
	return open_socket(ifaddr, group, port, 1, rate, out, err);
}

int vms_mcast_receiver(uint32_t ifaddr, uint32_t group, uint16_t port, vms_mcast **out,
		       vms_err *err)
{
	return open_socket(ifaddr, group, port, 0, 0, out, err);
}

int vms_mcast_pollfds(vms_mcast *m, struct pollfd *fds, int *n)
{
	int cnt = 4;
	if (pgm_poll_info(m->sock, fds, &cnt, POLLIN) < 0)
		return -EIO;
	*n = cnt;
	return 0;
}

static int get_timeval_ms(pgm_sock_t *s, int opt)
{
	struct timeval tv;
	socklen_t len = sizeof(tv);
	if (!pgm_getsockopt(s, IPPROTO_PGM, opt, &tv, &len))
		return 10;
	long ms = tv.tv_sec * 1000 + tv.tv_usec / 1000;
	return ms < 1 ? 1 : ms > 1000 ? 1000 : (int)ms;
}

/* Let the sender process NAKs and timers: pgm_recv() on a send-only socket
 * never returns data. Returns the poll timeout it wants. */
static int sender_pump(vms_mcast *m)
{
	char dummy[64];
	size_t len;
	pgm_error_t *perr = NULL;
	for (int i = 0; i < 64; i++) {
		int st = pgm_recv(m->sock, dummy, sizeof(dummy), 0, &len, &perr);
		if (perr) {
			pgm_error_free(perr);
			perr = NULL;
		}
		if (st == PGM_IO_STATUS_TIMER_PENDING)
			return get_timeval_ms(m->sock, PGM_TIME_REMAIN);
		if (st == PGM_IO_STATUS_RATE_LIMITED)
			return get_timeval_ms(m->sock, PGM_RATE_REMAIN);
		if (st != PGM_IO_STATUS_NORMAL)
			return 10;
	}
	return 0;
}

static void wait_fds(vms_mcast *m, short events, int ms)
{
	struct pollfd fds[8];
	int n = 8;
	if (pgm_poll_info(m->sock, fds, &n, events) < 0)
		n = 0;
	poll(fds, (nfds_t)n, ms);
}

int vms_mcast_seal(vms_mcast *m, vms_seal *seal, uint32_t group, vms_err *err)
{
	if (!m->sender && !m->sealed && !(m->sealed = malloc(MSG_BUF)))
		return vms_err_set(err, -ENOMEM, "out of memory");
	m->seal = seal;
	m->group = group;
	m->last = 0;
	return 0;
}

int vms_mcast_send(vms_mcast *m, const void *msg, size_t len, int timeout_ms, vms_err *err)
{
	if (len == 0 || len > VMS_MCAST_MSG_MAX)
		return vms_err_set(err, -EMSGSIZE, "PGM: message of %zu bytes", len);
	if (m->seal) {             /* sealed straight into the aligned buffer */
		int r = vms_seal_put(m->seal, m->group, msg, len, m->aligned, MSG_BUF, &len);
		if (r < 0)
			return vms_err_set(err, r, "sealing a multicast message: %s", strerror(-r));
	} else {
		memcpy(m->aligned, msg, len);
	}
	int64_t deadline = vms_now_ms() + timeout_ms;
	for (;;) {
		size_t sent = 0;
		int st = pgm_send(m->sock, m->aligned, len, &sent);
		if (st == PGM_IO_STATUS_NORMAL) {
			/* a sender that never waits (a slow CPU, a high rate) must
			 * still answer NAKs before the data leaves its window */
			if (++m->unpumped >= PUMP_EVERY) {
				m->unpumped = 0;
				sender_pump(m);
			}
			return 0;
		}
		if (st != PGM_IO_STATUS_RATE_LIMITED && st != PGM_IO_STATUS_WOULD_BLOCK &&
		    st != PGM_IO_STATUS_CONGESTION)
			return vms_err_set(err, -EIO, "PGM send failed (status %d)", st);
		if (vms_now_ms() > deadline)
			return vms_err_set(err, -ETIMEDOUT, "PGM send: no progress for %d ms", timeout_ms);
		m->waits++;
		int wait = sender_pump(m);
		if (st == PGM_IO_STATUS_RATE_LIMITED) {
			int rl = get_timeval_ms(m->sock, PGM_RATE_REMAIN);
			wait = wait == 0 || rl < wait ? rl : wait;
		}
		wait_fds(m, POLLIN | (st == PGM_IO_STATUS_WOULD_BLOCK ? POLLOUT : 0), wait ? wait : 1);
	}
}

int vms_mcast_service(vms_mcast *m, int ms, vms_err *err)
{
	(void)err;
	int64_t end = vms_now_ms() + ms;
	for (int64_t now = vms_now_ms(); now < end; now = vms_now_ms()) {
		int wait = sender_pump(m);
		int left = (int)(end - now);
		wait_fds(m, POLLIN, wait == 0 ? 1 : wait < left ? wait : left);
	}
	return 0;
}

int vms_mcast_recv(vms_mcast *m, void *buf, size_t cap, size_t *len, int *wait_ms, vms_err *err)
{
	pgm_error_t *perr = NULL;
	struct pgm_msgv_t msgv;
	/* pgm_recvmsg, not pgm_recv: the packet's own PGM header tells whether
	 * the message came as original data or as a repair (RDATA) */
	int st = pgm_recvmsg(m->sock, &msgv, 0, len, &perr);
	if (perr) {
		pgm_error_free(perr);
		perr = NULL;
	}
	if (st == PGM_IO_STATUS_NORMAL) {
		const struct pgm_sk_buff_t *skb = msgv.msgv_len == 1 ? msgv.msgv_skb[0] : NULL;
		uint8_t *to = m->seal ? m->sealed : buf;
		if (!skb || skb->len != *len || *len > (m->seal ? MSG_BUF : cap))
			return 3;            /* (fragments are never sent: not ours, dropped unread) */
		memcpy(to, skb->data, *len);
		if (skb->pgm_header && skb->pgm_header->pgm_type == PGM_RDATA)
			m->repaired++;
	}
	switch (st) {
	case PGM_IO_STATUS_NORMAL:
		/* sealed: the tag is checked before the caller sees a byte */
		if (m->seal && vms_seal_open(m->seal, m->group, m->sealed, *len, buf, cap, len) < 0)
			return 3;
		if (m->seal) {         /* the sender's counter only grows, PGM keeps its order */
			uint64_t ctr = 0;
			for (int i = 0; i < 8; i++)
				ctr = ctr << 8 | m->sealed[i];
			if (ctr <= m->last)
				return 3;
			m->last = ctr;
		}
		return 1;
	case PGM_IO_STATUS_TIMER_PENDING:
		*wait_ms = get_timeval_ms(m->sock, PGM_TIME_REMAIN);
		return 0;
	case PGM_IO_STATUS_RATE_LIMITED:
		*wait_ms = get_timeval_ms(m->sock, PGM_RATE_REMAIN);
		return 0;
	case PGM_IO_STATUS_WOULD_BLOCK:
		*wait_ms = -1;
		return 0;
	case PGM_IO_STATUS_RESET:
		return 2;
	default:
		return vms_err_set(err, -EIO, "PGM receive failed (status %d)", st);
	}
}

uint64_t vms_mcast_waits(const vms_mcast *m)
{
	return m ? m->waits : 0;
}

uint64_t vms_mcast_repaired(const vms_mcast *m)
{
	return m ? m->repaired : 0;
}

void vms_mcast_close(vms_mcast *m)
{
	if (!m)
		return;
	if (m->sock)
		pgm_close(m->sock, m->sender ? true : false);
	free(m->aligned);
	free(m->sealed);
	free(m);
	pgm_shutdown();
}
