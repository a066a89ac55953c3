/* serve.c - the receiver's event loops (see receiver.h, doc/PROTOCOL.md):
 * rc_serve accepts one sender session at a time; rc_session runs one, feeding
 * the state machine (session.c) from the control connection and the
 * multicast group (mcast.c) through the host sink (hostsink.c), and forks a
 * child process per live stream connection (stream.c), which it reaps. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "receiver_int.h"

#define HANDSHAKE_MS 10000                  /* a TLS handshake (on a stream connection: and its STREAM), at most */
#define PENDING_KILL_MS (HANDSHAKE_MS + 2000)  /* a stream child not accepted by then is killed */
#define STREAMS_MAX 1024                    /* live stream children per session */
#define PENDING_MAX 8                       /* children not yet accepted, from addresses other than the sender's */
#define STREAM_REFUSED 2                    /* a stream child's exit: not accepted, nothing started */
#define MCAST_POLL_MS 200                   /* poll at most this long while a group is joined */
#define LISTEN_BACKLOG 128                  /* connections the kernel holds until accepted (a flood of
                                             * them is accepted at once, not left to retry SYNs) */

struct serve {
	const struct rc_options *o;
	struct rc_host host;                 /* the sink: images, connection, multicast */
	struct rc_sm sm;
	int lfd;                             /* the listening socket: live streams arrive there */
	struct kid {                         /* one child per stream connection */
		pid_t pid;
		int64_t born;                /* accepted its connection (vms_now_ms) */
		int stream;                  /* it said so: authenticated, a STREAM of this session */
		int sender;                  /* its connection comes from the sender's address */
	} kids[STREAMS_MAX];
	unsigned nkids, kids_failed, dropped;
	int rep[2];                          /* pipe: each child writes its pid once accepted */
	uint32_t sender_ip;                  /* the control connection's peer (host order) */
	vms_frames in;
	int64_t last_msg;                    /* the sender last spoke: a whole message on the control
					      * connection, an authentic multicast message, or
					      * (RC_ST_LIVE) an accepted stream still running; idle_ms
					      * after it, the session is dropped, in every state */
	uint64_t bytes_in;
};

/* ---- stream children ------------------------------------------------------------- */

/* The children that said they are streams of this session (their pids on
 * the pipe): from now on they count as the sender's traffic. Never blocks. */
static void note_streams(struct serve *s)
{
	pid_t got[64];
	ssize_t n;
	if (s->rep[0] < 0)
		return;
	while ((n = read(s->rep[0], got, sizeof(got))) > 0) {   /* whole pids: 4-byte writes are atomic */
		for (size_t k = 0; k < (size_t)n / sizeof(pid_t); k++)
			for (unsigned i = 0; i < s->nkids; i++)
				if (s->kids[i].pid == got[k] && !s->kids[i].stream) {
					s->kids[i].stream = 1;
					s->last_msg = vms_now_ms();
				}
	}
}

/* Stream children still running: accepted ones; not accepted, from the
 * sender's address or from elsewhere. */
static unsigned count_kids(const struct serve *s, int stream, int sender)
{
	unsigned n = 0;
	for (unsigned i = 0; i < s->nkids; i++)
		n += s->kids[i].stream == stream && (stream || s->kids[i].sender == sender);
	return n;
}

/* Reap finished stream children; with `wait`, all of them. A child not
 * accepted by PENDING_KILL_MS (it gives up itself at HANDSHAKE_MS) is killed. */
static void reap_kids(struct serve *s, int wait)
{
	note_streams(s);
	int64_t now = vms_now_ms();
	for (unsigned i = 0; i < s->nkids;) {
		struct kid *k = &s->kids[i];
		if (!k->stream && now - k->born > PENDING_KILL_MS)
			kill(k->pid, SIGKILL);   /* (nothing of it to undo: it was never accepted) */
		int status;
		pid_t r = waitpid(k->pid, &status, wait ? 0 : WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		if (r > 0 && !k->stream)
			note_streams(s);     /* it may have said so just before it ended */
		/* a connection never accepted as a stream (not authenticated,
		 * not this session's) is nobody's stream: it fails nothing */
		if (r > 0 && k->stream && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			s->kids_failed++;
		/* killed: its target guard killed the target, or let it run
		 * (committed): settled once the guard is done */
		if (r > 0 && WIFSIGNALED(status))
			rc_vmdir_sweep(s->host.state_fd, s->o->state_dir ? s->o->state_dir : s->o->out_dir, (long)r, s->o);
		*k = s->kids[--s->nkids];
	}
}

/* A stream process told to end (SIGTERM: its session failed, or its receiver
 * died) drops its connection, so it rolls its target back as for a sender
 * that went away (STATE/NAME/ emptied, the journal says rolled-back), instead
 * of dying with its directory left behind. The one file-scope variable: a
 * signal handler has no other way to its connection. */
static volatile sig_atomic_t stream_fd = -1;
static void stream_term(int sig)
{
	(void)sig;
	if (stream_fd >= 0)
		shutdown(stream_fd, SHUT_RD);    /* reads end; the final word can still go out */
}

/* rc_stream_ctx.accepted in a stream child: tell the parent (its pid on the pipe). */
struct child_rep { int fd, done; };
static int stream_accepted(void *arg)
{
	struct child_rep *c = arg;
	pid_t me = getpid();
	if (write(c->fd, &me, sizeof(me)) != (ssize_t)sizeof(me))
		return -errno;               /* (never: the pipe holds 16384 pids) */
	c->done = 1;
	return 0;
}

/* The child: serve the stream connection fd to its end, then _exit:
 * STREAM_REFUSED when it never became a stream of the session (the TLS
 * handshake and the STREAM message must both come within HANDSHAKE_MS). */
__attribute__((noreturn)) static void stream_child(struct serve *s, int fd, pid_t parent)
{
	int64_t t0 = vms_now_ms();
	const struct rc_options *o = s->o;
	stream_fd = fd;
	struct sigaction sa = { .sa_handler = stream_term };   /* (no SA_RESTART: I/O returns) */
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	prctl(PR_SET_NAME, "vms-stream");
	if (getppid() != parent)             /* the receiver died before the line above */
		raise(SIGTERM);
	char sender[200];                    /* the control connection's certificate subject */
	snprintf(sender, sizeof(sender), "%s", vms_conn_subject(s->host.conn));
	vms_conn_forget(s->host.conn);       /* the parent's: never touched here */
	s->host.conn = NULL;
	close(s->lfd);
	close(s->rep[0]);
	struct child_rep rep = { .fd = s->rep[1] };
	vms_err e = { 0 };
	vms_conn *conn = NULL;
	if (vms_conn_accept(o->tls, fd, HANDSHAKE_MS, &conn, &e) < 0) {
		rc_log(o, "refused a stream connection: %s", e.msg);
		_exit(STREAM_REFUSED);
	}
	if (strcmp(vms_conn_subject(conn), sender) != 0) {   /* the session's own sender only */
		rc_log(o, "refused a stream connection from '%s': the session's sender is '%s'",
		       vms_conn_subject(conn), sender);
		vms_conn_close(conn);
		_exit(STREAM_REFUSED);
	}
	const struct rc_images *im = &s->host.img;
	struct rc_seed *seeds = calloc(im->n ? im->n : 1, sizeof(*seeds));
	if (!seeds)
		_exit(1);
	for (unsigned v = 0; v < im->n; v++) {
		memcpy(seeds[v].name, im->v[v].name, sizeof(seeds[v].name));
		seeds[v].fd = im->v[v].fd;
		seeds[v].pages = im->v[v].pages;
		seeds[v].written = im->v[v].written;
	}
	struct rc_stream_ctx c = {
		.log = o->log, .log_ctx = o->log_ctx, .state_dir = o->state_dir ? o->state_dir : o->out_dir,
		.state_fd = s->host.state_fd, .qemu_bin = o->qemu_bin, .session = s->sm.id, .quiet = o->quiet,
		.shared_paths = o->shared_paths, .nshared = o->nshared, .run_as = o->run_as,
		.idle_ms = o->idle_ms, .seeds = seeds, .nseeds = im->n, .seeding_over = im->seeding_over,
		.first_ms = (int)(HANDSHAKE_MS - (vms_now_ms() - t0)),
		.accepted = stream_accepted, .accepted_arg = &rep,
	};
	if (c.first_ms < 1)
		c.first_ms = 1;
	int r = rc_stream(&c, conn, &e);
	vms_conn_close(conn);
	_exit(r == 0 ? 0 : rep.done ? 1 : STREAM_REFUSED);
}

/* A live stream connection: serve it in a child process, which rolls back
 * when the receiver dies (its target guard kills the target QEMU if not).
 * Until it says it is a stream of this session, it is anybody's: those
 * from addresses other than the sender's are at most PENDING_MAX. */
static int accept_stream(struct serve *s, vms_err *err)
{
	struct sockaddr_in peer = { 0 };
	socklen_t plen = sizeof(peer);
	int fd = accept4(s->lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN || errno == ECONNABORTED
			? 0 : vms_err_set(err, -errno, "accept: %s", strerror(errno));
	int sender = peer.sin_family == AF_INET && ntohl(peer.sin_addr.s_addr) == s->sender_ip;
	reap_kids(s, 0);
	const char *full = s->nkids == STREAMS_MAX ? "stream connections are open already"
		: !sender && count_kids(s, 0, 0) >= PENDING_MAX ? "connections from other addresses than the sender's wait for their handshake"
		: NULL;
	if (full) {                          /* drop it, not the session */
		char ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
		close(fd);
		if (s->dropped++ == 0)
			rc_log(s->o, "dropped a stream connection from %s: %u %s", ip,
			       s->nkids == STREAMS_MAX ? STREAMS_MAX : PENDING_MAX, full);
		return 0;
	}
	pid_t parent = getpid(), pid = fork();
	if (pid < 0) {
		close(fd);
		return vms_err_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (pid == 0)
		stream_child(s, fd, parent);     /* never returns */
	close(fd);
	s->kids[s->nkids++] = (struct kid){ .pid = pid, .born = vms_now_ms(), .sender = sender };
	return 0;
}

/* ---- one session ------------------------------------------------------------------ */

/* What came on the control connection: whole messages to the state machine. */
static int control_read(struct serve *s, vms_err *err)
{
	uint8_t buf[1 << 16];
	ssize_t got = vms_conn_read(s->host.conn, buf, sizeof(buf));
	if (got == 0)
		return 0;
	if (got == -ECONNRESET)
		return vms_err_set(err, -ECONNRESET, "the sender went away before the end of the session");
	if (got < 0)
		return vms_err_set(err, (int)got, "receiving from the sender: %s",
				   vms_conn_strerror(s->host.conn, (int)got));
	s->bytes_in += (uint64_t)got;
	int r = vms_frames_feed(&s->in, buf, (size_t)got);
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	uint8_t type;
	vms_cur p;
	while (s->sm.st != RC_ST_DONE && (r = vms_frames_next(&s->in, &type, &p)) == 1) {
		r = rc_sm_message(&s->sm, type, &p, err);
		if (r < 0)
			return r;
		s->last_msg = vms_now_ms();      /* whole messages only: a trickle is silence */
	}
	if (r < 0)
		return vms_err_set(err, r, "bad frame from the sender (length out of range)");
	if (s->sm.st != RC_ST_DONE && vms_now_ms() - s->last_msg > s->o->idle_ms)
		return vms_err_set(err, -ETIMEDOUT, "the sender sent no whole message for %d s", s->o->idle_ms / 1000);
	return 0;
}

static int run_session(struct serve *s, vms_err *err)
{
	int r = 0;
	s->last_msg = vms_now_ms();
	struct sockaddr_in peer = { 0 };
	socklen_t plen = sizeof(peer);
	if (getpeername(vms_conn_fd(s->host.conn), (struct sockaddr *)&peer, &plen) == 0 && peer.sin_family == AF_INET)
		s->sender_ip = ntohl(peer.sin_addr.s_addr);
	if (s->lfd >= 0 && pipe2(s->rep, O_CLOEXEC | O_NONBLOCK) < 0)
		return vms_err_set(err, -errno, "pipe: %s", strerror(errno));
	while (s->sm.st != RC_ST_DONE) {
		struct pollfd fds[7] = { { .fd = vms_conn_fd(s->host.conn), .events = POLLIN } };
		int n = 1, wait = 1000, live = -1;
		/* live: streams from SEEDING on (they overlap the seeding) */
		if ((s->sm.st == RC_ST_LIVE || (s->sm.st == RC_ST_DATA && s->sm.live)) && s->lfd >= 0) {
			live = n;
			fds[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			fds[n++] = (struct pollfd){ .fd = s->rep[0], .events = POLLIN };
			reap_kids(s, 0);
			/* a running stream of this session is the traffic; without
			 * one the control connection must speak: connections that
			 * never authenticated, or never said STREAM, do not count */
			if (count_kids(s, 1, 0))
				s->last_msg = vms_now_ms();
		}
		if (s->host.mc.mc) {
			int more = 4;
			r = rc_mcast_drain(&s->host.mc, &s->sm, &s->last_msg, &wait, err);
			if (r < 0)
				return r;
			r = rc_sm_group_check(&s->sm, vms_now_ms(), err);
			if (r < 0)
				return r;
			if (r > 0)
				continue;
			if (s->host.mc.mc && vms_mcast_pollfds(s->host.mc.mc, fds + n, &more) == 0)
				n += more;
			if (wait < 0 || wait > MCAST_POLL_MS)
				wait = MCAST_POLL_MS;
		}
		if (vms_conn_pending(s->host.conn))
			wait = 0;                /* TLS holds bytes poll cannot see */
		if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR)
			return vms_err_set(err, -errno, "poll: %s", strerror(errno));
		if (live > 0 && (fds[live].revents & POLLIN) && (r = accept_stream(s, err)) < 0)
			return r;
		if (live > 0 && (fds[live + 1].revents & POLLIN))
			note_streams(s);
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !vms_conn_pending(s->host.conn)) {
			if (vms_now_ms() - s->last_msg > s->o->idle_ms)
				return vms_err_set(err, -ETIMEDOUT, "the sender said nothing for %d s", s->o->idle_ms / 1000);
			continue;
		}
		if ((r = control_read(s, err)) < 0)
			return r;
		if (s->sm.st == RC_ST_LIVE)          /* DONE sent: the seeds are complete */
			rc_images_seeded(&s->host.img);
	}
	for (unsigned i = 0; i < s->nkids; i++)
		if (!s->kids[i].stream)      /* LIVE_END: connections that are no stream yet, */
			kill(s->kids[i].pid, SIGTERM);   /* never will be */
	reap_kids(s, 1);                     /* every stream has ended */
	if (s->kids_failed)
		return vms_err_set(err, -EIO, "%u live streams were rolled back", s->kids_failed);
	return 0;
}

int rc_session(const struct rc_options *o, vms_conn *conn, int lfd, uint32_t local_ip, vms_err *err)
{
	struct serve ss = { .o = o, .lfd = lfd, .rep = { -1, -1 } }, *s = &ss;
	int r = rc_host_open(&s->host, o, conn, local_ip, err);
	rc_sm_init(&s->sm, o, &rc_host_ops, &s->host);
	if (r == 0)
		r = run_session(s, err);
	if (r < 0) {
		rc_log(o, "session failed: %s", err->msg);
		rc_sm_fail(&s->sm, err);
	} else {
		rc_log(o, "session done: %llu bytes in, %llu contents by multicast, %llu by unicast",
		       (unsigned long long)s->bytes_in, (unsigned long long)s->sm.contents_mcast,
		       (unsigned long long)s->sm.contents_tcp);
	}
	for (unsigned i = 0; i < s->nkids; i++)
		kill(s->kids[i].pid, SIGTERM);   /* each rolls its target back */
	reap_kids(s, 1);
	if (s->dropped > 1)
		rc_log(o, "dropped %u stream connections in all (too many waiting for their handshake)", s->dropped);
	for (int i = 0; i < 2; i++)
		if (s->rep[i] >= 0)
			close(s->rep[i]);
	rc_sm_free(&s->sm);
	vms_frames_free(&s->in);
	rc_host_close(&s->host);             /* removes partial images, closes conn */
	return r;
}

/* ---- the accept loop ---------------------------------------------------------------- */

static int listen_on(const struct rc_options *o, vms_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return vms_err_set(err, -errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(o->port),
				  .sin_addr.s_addr = htonl(o->listen_ip) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		close(fd);
		return vms_err_set(err, -e, "listen on port %u: %s", o->port, strerror(e));
	}
	return fd;
}

int rc_serve(const struct rc_options *o, vms_err *err)
{
	/* partial images that a receiver killed outright left behind
	 * (".NAME.img.part-PID" whose PID is gone) */
	int dfd, sfd, e = rc_dir_open(o->out_dir, &dfd, err);
	if (e < 0)
		return e;
	if (o->state_dir && (e = rc_dir_open(o->state_dir, &sfd, err)) < 0) {
		close(dfd);
		return e;
	}
	if (o->state_dir)
		close(sfd);
	rc_sweep_parts(dfd, o->out_dir, o);
	close(dfd);
	int lfd = listen_on(o, err);
	if (lfd < 0)
		return lfd;
	int r = 0;
	for (;;) {
		struct sockaddr_in peer, local;
		socklen_t plen = sizeof(peer), llen = sizeof(local);
		int fd = accept4(lfd, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
		if (fd < 0 && errno == EINTR)
			continue;
		if (fd < 0) {
			r = vms_err_set(err, -errno, "accept: %s", strerror(errno));
			break;
		}
		getsockname(fd, (struct sockaddr *)&local, &llen);
		vms_conn *conn = NULL;
		vms_err serr = { 0 };
		/* no session without a certificate the CA signed (and --tls-allow admits) */
		if (vms_conn_accept(o->tls, fd, HANDSHAKE_MS, &conn, &serr) < 0) {
			char ip[INET_ADDRSTRLEN] = "?";
			inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip));
			rc_log(o, "refused a connection from %s: %s", ip, serr.msg);
			continue;
		}
		rc_log(o, "%s connection from %s", vms_conn_kind(conn), vms_conn_peer(conn));
		r = rc_session(o, conn, lfd, ntohl(local.sin_addr.s_addr), &serr);
		if (r < 0 && err)
			*err = serr;
		if (o->once)
			break;
	}
	close(lfd);
	return r;
}
