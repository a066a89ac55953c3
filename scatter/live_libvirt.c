/* live_libvirt.c - one domain's job in a libvirt rack (doc/PROTOCOL.md,
 * "libvirt streams"), in place of live.c's migrate/commit/rollback. libvirt
 * migrates the domain, peer to peer, with the migrate URI a UNIX socket
 * unique to this session and VM; the sender listens there, on the source,
 * and forwards QEMU's stream exactly as for a bare QEMU (live.c's forward:
 * references, compression); the receiver connects to the same path on the
 * target, where the target QEMU that libvirt started listens. The stream
 * has a return path: the target QEMU's messages come back as RPATH, except
 * its SHUT, which the receiver turns into LOADED. The source QEMU completes
 * only once it has that SHUT: the sender writes it, after --verify, as the
 * commit (libvirt then resumes the target and ends the source). Anything
 * else - closing the socket without it - fails libvirt's job, and libvirt
 * resumes the source and removes the target. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "live_int.h"

#define READ_CHUNK (256u << 10)
#define CONNECT_MS 5000
#define READY_MS 60000
#define ACCEPT_MS 120000        /* libvirt's Prepare on the target, then the source QEMU connects */
#define LOADED_MS 120000
#define LIBVIRT_DONE_MS 120000  /* libvirt's job, from the SHUT to its end */

/* QEMU's return path: be16 type, be16 length, payload; SHUT (type 1) ends it */
#define RP_SHUT 1u

struct sc_lvjob {
	kvm_lv_dom *dom;
	char sock[VMS_WIRE_SOCK_MAX];
	int listening;               /* our socket at sock, or -1 */
	pthread_t tid;
	int started;                 /* the libvirt call's thread runs or ran */
	int joined;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int done;                    /* the libvirt call returned */
	int result;                  /* its result */
	vms_err err;                 /* its message */
	struct kvm_lv_migration m;
};

static void *migrate_main(void *arg)
{
	struct sc_lvjob *l = arg;
	vms_err e = { 0 };
	int r = kvm_lv_migrate(l->dom, &l->m, &e);
	pthread_mutex_lock(&l->lock);
	l->result = r;
	l->err = e;
	l->done = 1;
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
	return NULL;
}

/* Wait up to timeout_ms for libvirt's call: 1 when it returned (*r its result). */
static int libvirt_done(struct sc_lvjob *l, int timeout_ms, int *r)
{
	if (!l->started)
		return 0;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&l->lock);
	while (!l->done && pthread_cond_timedwait(&l->cond, &l->lock, &ts) == 0)
		;
	int done = l->done;
	if (done)
		*r = l->result;
	pthread_mutex_unlock(&l->lock);
	if (done && !l->joined) {
		pthread_join(l->tid, NULL);
		l->joined = 1;
	}
	return done;
}

static void stop_listening(struct sc_lvjob *l)
{
	if (l->listening < 0)
		return;
	close(l->listening);
	l->listening = -1;
	unlink(l->sock);
}

/* Listen at l->sock, a path of this session alone (a stale socket of ours
 * there is replaced; anything else there is an error). */
static int listen_at(struct sc_lvjob *l, vms_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	if (strlen(l->sock) >= sizeof(a.sun_path))
		return vms_err_set(err, -ENAMETOOLONG, "%s: too long for a UNIX socket", l->sock);
	memcpy(a.sun_path, l->sock, strlen(l->sock) + 1);
	if (lstat(l->sock, &st) == 0 && (!S_ISSOCK(st.st_mode) || unlink(l->sock) < 0))
		return vms_err_set(err, -EEXIST, "%s exists and is not a socket vmscatter may replace", l->sock);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return vms_err_set(err, -errno, "socket: %s", strerror(errno));
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 1) < 0) {
		int e = errno;
		close(fd);
		return vms_err_set(err, -e, "%s: %s", l->sock, strerror(e));
	}
	l->listening = fd;
	return 0;
}

/* The source's libvirtd connects (libvirt's Perform) and hands the
 * connection to the source QEMU: only that daemon or the domain's QEMU, by
 * SO_PEERCRED, is taken; libvirt's call failing first is its error. */
static int accept_source(struct job *j, vms_err *err)
{
	struct sc_lvjob *l = j->lvj;
	int64_t end = vms_now_ms() + ACCEPT_MS;
	for (;;) {
		int r;
		if (libvirt_done(l, 0, &r))
			return r < 0 ? vms_err_set(err, r, "libvirt: %s", l->err.msg)
				     : vms_err_set(err, -EPROTO, "libvirt reports the migration done, but its QEMU never connected");
		if (sc_lj_aborted(j->lv))
			return vms_err_set(err, -ECANCELED, "stopped while waiting for the source QEMU");
		if (vms_now_ms() > end)
			return vms_err_set(err, -ETIMEDOUT, "the source QEMU did not connect to %s within %d s", l->sock,
					   ACCEPT_MS / 1000);
		struct pollfd pfd = { .fd = l->listening, .events = POLLIN };
		if (poll(&pfd, 1, 200) <= 0)
			continue;
		int fd = accept4(l->listening, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		struct ucred cr;
		socklen_t len = sizeof(cr);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
		    (cr.pid != kvm_lv_dom_pid(l->dom) && !(cr.uid == 0 && kvm_lv_daemon_pid(cr.pid)))) {
			close(fd);                /* not the domain's QEMU: never fed */
			continue;
		}
		stop_listening(l);               /* nobody else may come */
		j->mig = fd;
		return 0;
	}
}

/* Frames from the receiver while streaming: NEED, ACK, RPATH (to the
 * source QEMU), LOADED (*loaded), ERROR. */
static int from_receiver(struct job *j, int *loaded, vms_err *err)
{
	int r = vms_frames_recv(&j->in, j->conn, 0);
	if (r == -ECONNRESET)
		return vms_err_set(err, r, "the receiver went away");
	if (r < 0)
		return vms_err_set(err, r, "receiving from the receiver: %s", vms_conn_strerror(j->conn, r));
	for (;;) {
		uint8_t type;
		vms_cur p;
		const uint8_t *data;
		size_t len;
		char text[VMS_WIRE_ERROR_MAX + 1];
		r = vms_frames_next(&j->in, &type, &p);
		if (r < 0)
			return vms_err_set(err, r, "bad frame from the receiver");
		if (r == 0)
			return 0;
		switch (type) {
		case VMS_MSG_NEED:
			if ((r = sc_lj_answer_need(j, &p, err)) < 0)
				return r;
			break;
		case VMS_MSG_ACK: {
			uint64_t n;
			if (vms_msg_u64_get(&p, &n) < 0 || n > j->nref || n < j->acked)
				return vms_err_set(err, -EPROTO, "the receiver acknowledged references never sent");
			j->acked = n;
			break;
		}
		case VMS_MSG_RPATH:
			if (vms_msg_rpath_get(&p, &data, &len) < 0)
				return vms_err_set(err, -EPROTO, "malformed RPATH message");
			if ((r = vms_write_all(j->mig, data, len)) < 0)
				return vms_err_set(err, r, "the source QEMU's return path: %s", strerror(-r));
			break;
		case VMS_MSG_LOADED:
			if (vms_msg_empty_get(&p) < 0)
				return vms_err_set(err, -EPROTO, "malformed LOADED message");
			*loaded = 1;
			return 0;
		case VMS_MSG_ERROR:
			if (vms_msg_error_get(&p, text) == 0)
				return vms_err_set(err, -ECONNABORTED, "the receiver failed: %s", text);
			return vms_err_set(err, -EPROTO, "malformed ERROR message");
		default:
			return vms_err_set(err, -EPROTO, "unexpected message type %u from the receiver", type);
		}
	}
}

/* Forward the source's stream until the target reports it loaded: the
 * source QEMU does not close its stream before its return path ends. */
static int pump(struct job *j, vms_err *err)
{
	kvm_ms *ms = NULL;
	uint8_t *buf = malloc(READ_CHUNK);
	int r = kvm_ms_new(&ms, err), loaded = 0;
	int64_t last = vms_now_ms();
	if (r == 0 && !buf)
		r = vms_err_set(err, -ENOMEM, "out of memory");
	while (r == 0 && !loaded) {
		if (sc_lj_aborted(j->lv)) {
			r = vms_err_set(err, -ECANCELED, "stopped");
			break;
		}
		if (j->lv->o->stall_ms > 0 && vms_now_ms() - last > j->lv->o->stall_ms) {
			r = vms_err_set(err, -ETIMEDOUT, "neither the source QEMU nor the receiver said anything for %d s",
					j->lv->o->stall_ms / 1000);
			break;
		}
		int window_full = j->nref - j->acked >= VMS_WIRE_REF_WINDOW;
		if (window_full && (r = sc_lj_flush(j, err)) < 0)
			break;
		struct pollfd pfd[2] = { { .fd = window_full ? -1 : j->mig, .events = POLLIN },
					 { .fd = vms_conn_fd(j->conn), .events = POLLIN } };
		int pending = vms_conn_pending(j->conn);
		if (poll(pfd, 2, pending ? 0 : 200) <= 0 && !pending)
			continue;
		last = vms_now_ms();
		if (pfd[1].revents || pending) {
			if ((r = from_receiver(j, &loaded, err)) < 0)
				break;
			continue;
		}
		ssize_t got = read(j->mig, buf, READ_CHUNK);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0) {
			r = vms_err_set(err, -errno, "reading the source's stream: %s", strerror(errno));
			break;
		}
		if (got == 0) {                  /* QEMU gave up (libvirt's job fails): said below */
			r = vms_err_set(err, -EPIPE, "the source QEMU closed its stream before the target loaded");
			break;
		}
		if ((r = sc_lj_feed(j, ms, buf, (size_t)got, err)) == 0)
			r = sc_lj_flush(j, err);  /* (QEMU waits for its return path at the end) */
	}
	kvm_ms_free(ms);
	free(buf);
	return r;
}

/* LVSTREAM: the receiver connects to the same path on the target once
 * stream data comes (READY now). */
static int open_stream(struct job *j, vms_err *err)
{
	struct sc_live *lv = j->lv;
	struct sc_lvjob *l = j->lvj;
	const struct sc_target *t = &lv->targets[j->t];
	const char *host = lv->o->tls_hostname ? lv->o->tls_hostname : t->host[0] ? t->host : NULL;
	struct vms_msg_lvstream m = { .session = lv->session, .vm = j->k };
	size_t nb = 0;
	const struct kvm_ramblock *b = kvm_mem_blocks(lv->mems[j->v], &nb);
	vms_cur p;
	snprintf(m.domain, sizeof(m.domain), "%s", kvm_lv_dom_name(l->dom));
	snprintf(m.sock, sizeof(m.sock), "%s", l->sock);
	if (nb < 1 || nb > VMS_WIRE_BLOCKS_MAX)
		return vms_err_set(err, -E2BIG, "%zu RAM blocks: 1..%u fit a LVSTREAM message", nb, VMS_WIRE_BLOCKS_MAX);
	m.nblocks = (uint8_t)nb;
	for (size_t i = 0; i < nb; i++) {
		if (strlen(b[i].name) >= VMS_WIRE_NAME_MAX)
			return vms_err_set(err, -ENAMETOOLONG, "RAM block '%s': name too long", b[i].name);
		snprintf(m.blocks[i].name, sizeof(m.blocks[i].name), "%s", b[i].name);
		m.blocks[i].used = b[i].used;
	}
	int r = vms_conn_connect(lv->o->tls, t->ip, t->port, host, CONNECT_MS, &j->conn, err);
	if (r < 0)
		return vms_err_prefix(err, r, "target %s", t->name);
	if ((r = vms_msg_lvstream_put(&j->out, &m)) < 0)
		return vms_err_set(err, r, "domain %s: not a LVSTREAM message (RAM block names)", m.domain);
	if ((r = sc_lj_flush(j, err)) < 0 || (r = sc_lj_expect(j, VMS_MSG_READY, "READY", READY_MS, &p, err)) < 0)
		return r;
	return 0;
}

int sc_lj_migrate(struct job *j, vms_err *err)
{
	struct sc_live *lv = j->lv;
	const struct sc_live_libvirt *o = lv->o->libvirt;
	struct sc_lvjob *l = calloc(1, sizeof(*l));
	if (!l)
		return vms_err_set(err, -ENOMEM, "out of memory");
	l->dom = o->doms[j->v];
	l->listening = -1;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	j->lvj = l;
	/* one path per session and VM, under libvirt's run directory (the
	 * receiver takes no other): never another migration's socket */
	if (snprintf(l->sock, sizeof(l->sock), "%s/vmscatter-%016llx-%u.sock", o->run_dir,
		     (unsigned long long)lv->session, j->v) >= (int)sizeof(l->sock))
		return vms_err_set(err, -ENAMETOOLONG, "%s: too long for a UNIX socket path", o->run_dir);
	l->m = (struct kvm_lv_migration){ .desturi = o->desturi[j->t], .sock = l->sock,
					   .bandwidth_mib = o->bandwidth_mib, .persistent = o->persistent,
					   .undefine_source = o->undefine_source };
	int r = open_stream(j, err);
	if (r < 0)
		return r;
	if ((r = sc_lj_ring(j)) < 0)
		return vms_err_set(err, r, "out of memory");
	if (lv->o->compress && (r = vms_pagez_new(lv->o->compress, &j->z, err)) < 0)
		return r;
	j->verify = lv->o->verify == SC_VERIFY_ALWAYS;
	if (lv->o->verify == SC_VERIFY_TCG && (j->verify = kvm_lv_dom_tcg(l->dom, err)) < 0)
		return j->verify;
	if (kvm_proc_start_time(kvm_lv_dom_pid(l->dom), &j->src_start) < 0)
		j->src_start = 0;
	if ((r = listen_at(l, err)) < 0)
		return r;
	if (pthread_create(&l->tid, NULL, migrate_main, l) != 0)
		return vms_err_set(err, -EAGAIN, "cannot start a thread");
	l->started = 1;
	if ((r = accept_source(j, err)) < 0)
		return r;
	sc_lj_set_state(j, JOB_STREAMING);
	if ((r = pump(j, err)) < 0)
		return r;
	j->t_done = vms_now();
	if (vms_fault("sender:postmigrate"))
		return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:postmigrate");
	if (j->verify && (r = sc_lj_verify(j, err)) < 0)
		return r;
	return vms_fault("sender:loaded") ? vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:loaded") : 0;
}

/* libvirt's figures, and its word, into the VM's report. */
static void report_job(struct job *j, const char *word)
{
	struct kvm_lv_job lj;
	if (kvm_lv_job_completed(j->lvj->dom, &lj, NULL) == 0 && lj.downtime_ms >= 0) {
		j->st->downtime_ms = lj.downtime_ms;
		j->st->qemu_ms = lj.elapsed_ms;
	}
	snprintf(j->st->libvirt, sizeof(j->st->libvirt), "%s", word);
}

int sc_lj_commit(struct job *j, vms_err *err)
{
	static const uint8_t shut[8] = { 0, RP_SHUT, 0, 4, 0, 0, 0, 0 };
	struct sc_lvjob *l = j->lvj;
	vms_cur p;
	/* libvirt ends the source as soon as it completes: not while the
	 * seeding may still read its memory for other targets (live.c) */
	pthread_mutex_lock(&j->lv->lock);
	while (j->lv->seeding)
		pthread_cond_wait(&j->lv->cond, &j->lv->lock);
	pthread_mutex_unlock(&j->lv->lock);
	/* the switch-over: the source QEMU completes on the target's SHUT,
	 * libvirt resumes the target and ends the source */
	int r = vms_write_all(j->mig, shut, sizeof(shut));
	if (r < 0)
		return vms_err_set(err, -ECONNABORTED, "the source QEMU's return path: %s", strerror(-r));
	if ((r = vms_msg_empty_put(&j->out, VMS_MSG_COMMIT)) == 0 && (r = sc_lj_flush(j, err)) == 0)
		r = sc_lj_expect(j, VMS_MSG_RUNNING, "RUNNING", LOADED_MS, &p, err);
	if (r < 0)     /* (the receiver's part is done: libvirt's job decides) */
		r = 0;
	int lr = 0;
	if (!libvirt_done(l, LIBVIRT_DONE_MS, &lr))
		return vms_err_set(err, -ETIMEDOUT, "libvirt's migration did not end within %d s after the switch-over",
				   LIBVIRT_DONE_MS / 1000);
	if (lr < 0) {                         /* libvirt rolled back: the source runs */
		report_job(j, "failed");
		return vms_err_set(err, -ECONNABORTED, "libvirt: %s", l->err.msg);
	}
	report_job(j, "completed");
	j->st->committed = 1;
	j->st->paused_ms = j->st->downtime_ms;
	return 0;
}

int sc_lj_roll_back(struct job *j)
{
	struct sc_lvjob *l = j->lvj;
	char state[32];
	int lr = 0;
	if (!l)
		return 0;                        /* nothing was asked of libvirt */
	stop_listening(l);
	if (j->mig >= 0) {                       /* no SHUT: the source QEMU fails its migration */
		close(j->mig);
		j->mig = -1;
	}
	if (l->started && !libvirt_done(l, 5000, &lr)) {
		kvm_lv_abort(l->dom);            /* (still in Prepare or waiting) */
		if (!libvirt_done(l, LIBVIRT_DONE_MS, &lr))
			return -ETIMEDOUT;
	}
	if (l->started && lr == 0) {
		report_job(j, "completed");      /* libvirt went on without us: it moved */
		return -EEXIST;
	}
	if (l->started) {                        /* libvirt's word next to ours */
		report_job(j, "failed");
		if (j->err.msg[0] && !strstr(j->err.msg, l->err.msg)) {
			char msg[sizeof(j->err.msg) + sizeof(l->err.msg) + 16];
			snprintf(msg, sizeof(msg), "%s; libvirt: %s", j->err.msg, l->err.msg);
			vms_err_set(&j->err, j->err.code, "%s", msg);
		}
	}
	if (kvm_lv_state(l->dom, state, sizeof(state), NULL) < 0)
		return -EIO;
	if (strcmp(state, "paused") == 0)
		kvm_lv_resume(l->dom, NULL);
	return kvm_lv_state(l->dom, state, sizeof(state), NULL) == 0 && strcmp(state, "running") == 0 ? 0 : -EIO;
}

void sc_lj_free(struct job *j)
{
	struct sc_lvjob *l = j->lvj;
	int r;
	if (!l)
		return;
	stop_listening(l);
	if (l->started && !l->joined) {
		if (j->mig >= 0) {
			close(j->mig);
			j->mig = -1;
		}
		while (!libvirt_done(l, 1000, &r))
			kvm_lv_abort(l->dom);
	}
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
	j->lvj = NULL;
}
