/* stream.c - one VM's live migration on the receiver (doc/PROTOCOL.md, "Live
 * sessions"), run in a child process of the session so several VMs load at
 * once. It starts the target QEMU (waiting with -incoming defer), rebuilds
 * QEMU's stream from what the sender forwards (SREF pages come out of the
 * seed images, checked by SHA-256), and resumes the guest only on COMMIT.
 * Anything else before COMMIT - a bad message, a lost sender, a reference
 * that does not match, a target that fails to load - removes the target:
 * its QEMU is killed and its directory STATE/NAME/ removed, if this
 * receiver made it (files.c: rc_vmdir_claim). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "receiver_int.h"

#define START_MS 30000          /* target QEMU: up to its QMP socket */
#define LOAD_MS 120000          /* end of stream -> target reports completed */
#define VERIFY_CHUNK 256u       /* pages read at once for --verify */
#define RAW_FLUSH (256u << 10)  /* stream bytes gathered before a write to the target */
#define HOLD_MAX (64u << 20)    /* stream held while a NEED waits for its page */
#define MIG_SNDBUF (8 << 20)    /* the target's migration socket: we read on while it loads */
#define RP_MSG_MAX 4096u        /* a return-path message of QEMU's, with its header */
#define RP_SHUT 1u              /* the return path's last message: be32 0 = loaded */

struct stream {
	const struct rc_stream_ctx *c;
	vms_conn *conn;              /* the sender (TLS) */
	uint32_t vm;                 /* the VM's index in the session */
	int journaled;               /* its outcome file says "started" */
	int mig;                     /* our end of the target's migration socket */
	vms_frames in;
	vms_wbuf out;
	vms_wbuf raw;                /* stream bytes for the target */
	vms_wbuf spage;              /* an SPAGE taken out of the reassembly buffer */
	uint64_t nref, fetched;      /* SREFs so far; their pages sent whole after a NEED */
	char name[VMS_WIRE_NAME_MAX];
	char dir[4200];
	struct rc_vmdir vd;          /* STATE/NAME/, claimed at STREAM */
	pid_t qemu;
	int guard;                   /* kvm_target_start's: kills the target unless committed */
	kvm_qmp *q;
	kvm_mem *tmem;               /* the target's guest RAM, from the first VERIFY on */
	int committed;
	uint64_t refs, bytes, fixed;
	int mid;                     /* the fault point stream:mid was passed */
	vms_pagex *px;               /* decompresses SCOMP pages */
	/* libvirt streams (LVSTREAM): libvirt's target QEMU, reached at lv.sock */
	struct vms_msg_lvstream lv;
	int libvirt;                 /* this is one */
	pid_t lv_pid;                /* the target QEMU (SO_PEERCRED = its pid file) */
	vms_wbuf rp;                 /* its return path, gathered to whole messages */
};

static void slog(const struct stream *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(const struct stream *s, const char *fmt, ...)
{
	if (s->c->quiet)
		return;
	char prefix[VMS_WIRE_NAME_MAX + 4];
	va_list ap;
	snprintf(prefix, sizeof(prefix), "%s: ", s->name[0] ? s->name : "stream");
	va_start(ap, fmt);
	rc_logv(s->c->log, s->c->log_ctx, prefix, fmt, ap);
	va_end(ap);
}

static int send_out(struct stream *s, int r, vms_err *err)
{
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	r = vms_conn_write_all(s->conn, s->out.data, s->out.len);
	vms_wbuf_reset(&s->out);
	return r < 0 ? vms_err_set(err, r, "sending to the sender: %s", vms_conn_strerror(s->conn, r)) : 0;
}

static int flush_raw(struct stream *s, vms_err *err);
static int lv_return_path(struct stream *s, vms_err *err);
static int lv_open_mem(struct stream *s, vms_err *err);

/* Next frame from the sender; 0 with *type set, or an error. Stream bytes
 * still gathered go to the target before it waits. */
static int next_frame(struct stream *s, int timeout_ms, uint8_t *type, vms_cur *p, vms_err *err)
{
	int64_t end = vms_now_ms() + timeout_ms;
	for (;;) {
		int r = vms_frames_next(&s->in, type, p);
		if (r == 1)
			return 0;
		if (r < 0)
			return vms_err_set(err, r, "bad frame from the sender");
		if ((r = flush_raw(s, err)) < 0)
			return r;
		int left = (int)(end - vms_now_ms());
		if (left <= 0)
			return vms_err_set(err, -ETIMEDOUT, "the sender said nothing for %d s", timeout_ms / 1000);
		if (s->libvirt && s->mig >= 0 && !vms_conn_pending(s->conn)) {
			struct pollfd pfd[2] = { { .fd = vms_conn_fd(s->conn), .events = POLLIN },
						 { .fd = s->mig, .events = POLLIN } };
			if (poll(pfd, 2, left < 200 ? left : 200) <= 0)
				continue;
			if (pfd[1].revents && (r = lv_return_path(s, err)) < 0)
				return r;
			if (!pfd[0].revents)
				continue;
		}
		r = vms_frames_recv(&s->in, s->conn, left);
		if (r == -ECONNRESET)
			return vms_err_set(err, r, "the sender went away");
		if (r < 0)
			return vms_err_set(err, r, "receiving from the sender: %s", vms_conn_strerror(s->conn, r));
	}
}

static void remove_target(struct stream *s)
{
	kvm_qmp_close(s->q);
	s->q = NULL;
	kvm_target_kill(s->qemu);
	s->qemu = 0;
	kvm_target_release(s->guard, 1);     /* already gone: nothing for the guard to do */
	s->guard = -1;
	rc_vmdir_remove(s->c->state_fd, &s->vd);   /* only a directory this receiver made */
}

/* STREAM: start the target QEMU from the source's command line. */
static int start_target(struct stream *s, vms_cur *p, vms_err *err)
{
	struct vms_msg_stream m;
	char *store = NULL, **argv = NULL;
	size_t argc = 0;
	int r = vms_msg_stream_get(p, &m, &store);
	if (r < 0) {
		r = vms_err_set(err, r, "malformed STREAM message");
		goto out;
	}
	if (m.session != s->c->session || m.vm >= s->c->nseeds) {
		r = vms_err_set(err, -EBADMSG, "STREAM for another session or an unknown VM");
		goto out;
	}
	if (s->c->accepted && (r = s->c->accepted(s->c->accepted_arg)) < 0) {   /* a stream of this session now */
		r = vms_err_set(err, r, "cannot tell the session about this stream: %s", strerror(-r));
		goto out;
	}
	memcpy(s->name, s->c->seeds[m.vm].name, sizeof(s->name));
	s->vm = m.vm;
	snprintf(s->dir, sizeof(s->dir), "%s/%s", s->c->state_dir, s->name);
	if ((r = rc_vmdir_claim(s->c->state_fd, s->c->state_dir, s->name, m.session, m.vm, &s->vd, err)) < 0)
		goto out;
	if (s->vd.cleaned)
		slog(s, "removed %s/, left by a receiver that died", s->dir);
	/* the sender's command line, through the receiver's allow-list: our
	 * binary, our paths, no listeners or programs (doc/SECURITY.md) */
	const struct kvm_target_policy pol = {
		.qemu_bin = s->c->qemu_bin, .shared_paths = s->c->shared_paths, .nshared = s->c->nshared,
		.run_as = s->c->run_as,
	};
	r = kvm_target_argv(m.argv, m.argc, s->c->state_dir, s->name, &pol, &argv, &argc, err);
	if (r < 0)
		goto out;
	/* before any target exists: a source guard asking later learns from
	 * this file whether there was one (doc/PROTOCOL.md, "Commit and rollback") */
	if ((r = rc_outcome_write(s->c->state_fd, s->c->session, s->vm, s->name, "started")) < 0) {
		r = vms_err_set(err, r, "%s/.outcome-*: %s", s->c->state_dir, strerror(-r));
		goto out;
	}
	s->journaled = 1;
	/* a target QEMU the admin started in DIR/NAME/ is used as it is */
	if (!s->vd.ours) {
		r = kvm_target_attach(s->dir, &s->qemu, &s->guard, &s->q, err);
		if (r < 0)
			goto out;
		slog(s, "attached to the target QEMU %d that waits in %s", (int)s->qemu, s->dir);
	} else {
		r = kvm_target_start(argv, s->dir, START_MS, &s->qemu, &s->guard, &s->q, err);
		if (r < 0)
			goto out;
		slog(s, "started the target QEMU %d in %s", (int)s->qemu, s->dir);
	}
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = vms_err_set(err, -errno, "socketpair: %s", strerror(errno));
		goto out;
	}
	vms_sock_sndbuf(sv[0], MIG_SNDBUF);         /* we write the target's stream there */
	r = kvm_migrate_in_fd(s->q, sv[1], err);
	close(sv[1]);
	s->mig = sv[0];
	if (r < 0)
		goto out;
	r = send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_READY), err);
out:
	kvm_argv_free(argv);
	free(store);
	return r;
}

static int to_target(struct stream *s, const void *p, size_t n, vms_err *err)
{
	int r = vms_write_all(s->mig, p, n);
	/* stream:mid: 1 MiB in, and the seeding over (the streaming phase) */
	if (!s->mid && s->bytes + n >= (1u << 20) &&
	    (!s->c->seeding_over || __atomic_load_n(s->c->seeding_over, __ATOMIC_ACQUIRE))) {
		s->mid = 1;
		if (vms_fault("stream:mid"))
			return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "stream:mid");
	}
	s->bytes += n;
	return r < 0 ? vms_err_set(err, r, "the target QEMU stopped reading its stream (see %s/qemu.log)",
				   s->dir) : 0;
}

/* Streams begin while the session seeds: wait until the session has
 * written this seed page, or seeds no more (done, or failed), or its
 * process is gone, or idle_ms passed; then the page is read as it is: its
 * SHA-256 decides, a NEED fetches what is not there. */
static void wait_seeded(const struct rc_stream_ctx *c, const struct rc_seed *sd, uint64_t page)
{
	if (!sd->written || !c->seeding_over)
		return;
	int64_t end = vms_now_ms() + c->idle_ms;
	useconds_t nap = 100;
	while (!(__atomic_load_n(&sd->written[page / 8], __ATOMIC_ACQUIRE) >> (page % 8) & 1) &&
	       !__atomic_load_n(c->seeding_over, __ATOMIC_ACQUIRE) && getppid() == c->session_pid &&
	       vms_now_ms() < end) {
		usleep(nap);
		if (nap < 10000)
			nap *= 2;
	}
}

/* rc_seed_fn over the session's seed files. */
static int read_seed(void *ctx, uint32_t vm, uint64_t page, uint8_t *out)
{
	const struct rc_stream_ctx *c = ctx;
	if (vm >= c->nseeds || page >= c->seeds[vm].pages)
		return -ERANGE;
	wait_seeded(c, &c->seeds[vm], page);
	ssize_t got = pread(c->seeds[vm].fd, out, VMS_WIRE_PAGE, (off_t)(page * VMS_WIRE_PAGE));
	return got == (ssize_t)VMS_WIRE_PAGE ? 0 : -EIO;
}

/* The stream bytes gathered so far, to the target QEMU. */
static int flush_raw(struct stream *s, vms_err *err)
{
	int r = s->raw.len && s->mig >= 0 ? to_target(s, s->raw.data, s->raw.len, err) : 0;
	vms_wbuf_reset(&s->raw);
	return r;
}

/* Reference k's seed page is not the content: ask the sender for it (NEED)
 * and wait, bounded, for its SPAGE; the stream frames that arrive meanwhile
 * stay in order in the reassembly buffer. */
static int fetch_ref(struct stream *s, uint64_t k, vms_cur *p, vms_err *err)
{
	struct vms_msg_sref m;
	uint8_t hdr[VMS_WIRE_SREF_HDR_MAX], sha[32], d[32];
	if (vms_msg_sref_get(p, &m) < 0)
		return vms_err_set(err, -EBADMSG, "malformed SREF message");
	size_t hlen = m.hdr_len;
	memcpy(hdr, m.hdr, hlen);            /* the payload moves while we receive */
	memcpy(sha, m.sha256, 32);
	int r = send_out(s, vms_msg_u64_put(&s->out, VMS_MSG_NEED, k), err);
	int64_t end = vms_now_ms() + s->c->idle_ms;
	while (r == 0) {
		r = vms_frames_extract(&s->in, VMS_MSG_SPAGE, &s->spage);
		if (r < 0)
			return vms_err_set(err, r, "out of memory");
		if (r == 1) {
			vms_cur c;
			uint64_t n;
			const uint8_t *page;
			vms_cur_init(&c, s->spage.data, s->spage.len);
			if (vms_msg_u64page_get(&c, &n, &page) < 0 || n != k)
				return vms_err_set(err, -EPROTO, "asked for reference %llu, got another page",
						   (unsigned long long)k);
			if (vms_page_sha256(page, d) < 0 || memcmp(d, sha, 32) != 0)
				return vms_err_set(err, -EIO, "the sender's page for reference %llu does not match its digest",
						   (unsigned long long)k);
			s->fetched++;
			r = vms_wbuf_bytes(&s->raw, hdr, hlen);
			if (r == 0)
				r = vms_wbuf_bytes(&s->raw, page, VMS_WIRE_PAGE);
			return r < 0 ? vms_err_set(err, r, "out of memory") : 0;
		}
		if (vms_frames_pending(&s->in) > HOLD_MAX)
			return vms_err_set(err, -ENOBUFS, "more than %u MiB of stream held while waiting for a page from the sender",
					   HOLD_MAX >> 20);
		int left = (int)(end - vms_now_ms());
		if (left <= 0)
			return vms_err_set(err, -ETIMEDOUT, "the sender did not send reference %llu within %d s",
					   (unsigned long long)k, s->c->idle_ms / 1000);
		r = vms_frames_recv(&s->in, s->conn, left);
		if (r == -ECONNRESET)
			return vms_err_set(err, r, "the sender went away");
		if (r < 0)
			return vms_err_set(err, r, "receiving from the sender: %s", vms_conn_strerror(s->conn, r));
		r = 0;
	}
	return r;
}

/* SDATA, SREF, SCOMP: the stream bytes they stand for, gathered for the target
 * QEMU (written in large pieces, and before the next wait for the sender). */
static int on_data(struct stream *s, uint8_t type, vms_cur *p, vms_err *err)
{
	vms_cur copy = *p;
	int r = rc_apply(type, p, read_seed, (void *)s->c, s->px, &s->raw, err);
	if (type == VMS_MSG_SREF) {
		uint64_t k = s->nref++;
		if (r == -EIO || r == -ERANGE)     /* the seed lacks it: the sender has it */
			r = fetch_ref(s, k, &copy, err);
		else if (r == 0)
			s->refs++;
		if (r == 0 && s->nref % VMS_WIRE_ACK_EVERY == 0)  /* the sender keeps a window */
			r = send_out(s, vms_msg_u64_put(&s->out, VMS_MSG_ACK, s->nref), err);
	}
	return r < 0 || s->raw.len < RAW_FLUSH ? r : flush_raw(s, err);
}

/* VERIFY: the digest of every guest RAM page of the loaded target. */
static int send_digests(struct stream *s, vms_err *err)
{
	char sock[4300];
	uint8_t *buf = malloc(VERIFY_CHUNK * KVM_PAGE_SIZE), *dig = malloc(VERIFY_CHUNK * VMS_WIRE_DIGEST);
	int r = 0;
	snprintf(sock, sizeof(sock), "%s/qmp.sock", s->dir);
	kvm_qmp_close(s->q);               /* QEMU serves one QMP client at a time */
	s->q = NULL;
	if (!buf || !dig) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (!s->tmem && (r = s->libvirt ? lv_open_mem(s, err) : kvm_mem_open(sock, &s->tmem, err)) < 0)
		goto out;
	kvm_mem *mem = s->tmem;
	uint64_t pages = kvm_mem_pages(mem);
	for (uint64_t first = 0; first < pages && r == 0; first += VERIFY_CHUNK) {
		size_t n = pages - first < VERIFY_CHUNK ? (size_t)(pages - first) : VERIFY_CHUNK;
		if ((r = kvm_mem_read(mem, first, n, buf, err)) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			vms_page_digest(buf + i * KVM_PAGE_SIZE, dig + i * VMS_WIRE_DIGEST);
		struct vms_msg_digests m = { first + n == pages, first, (uint32_t)n, dig };
		if (r == 0)
			r = send_out(s, vms_msg_digests_put(&s->out, &m), err);
	}
	if (r == 0 && !s->libvirt)
		r = kvm_qmp_connect(sock, 5000, &s->q, err);
out:
	free(buf);
	free(dig);
	return r;
}

/* ---- libvirt streams ------------------------------------------------------------- */

/* LVSTREAM: a domain that libvirt migrates; its target QEMU, started by
 * this host's libvirtd, will listen at m.sock. Only a socket of this
 * session under libvirt's run directory is taken (doc/SECURITY.md). */
static int lv_start(struct stream *s, vms_cur *p, vms_err *err)
{
	char prefix[VMS_WIRE_SOCK_MAX + 64];
	if (vms_msg_lvstream_get(p, &s->lv) < 0)
		return vms_err_set(err, -EBADMSG, "malformed LVSTREAM message");
	if (s->lv.session != s->c->session || s->lv.vm >= s->c->nseeds)
		return vms_err_set(err, -EBADMSG, "LVSTREAM for another session or an unknown VM");
	if (!kvm_lv_name_valid(s->lv.domain))
		return vms_err_set(err, -EINVAL, "'%s' is not a domain name this receiver accepts", s->lv.domain);
	int n = snprintf(prefix, sizeof(prefix), "%s/vmscatter-%016llx-", KVM_LV_RUN_DIR,
			 (unsigned long long)s->c->session);
	const char *rest = s->lv.sock + n;
	size_t rl = strlen(s->lv.sock) > (size_t)n ? strlen(rest) : 0;
	if (strncmp(s->lv.sock, prefix, (size_t)n) != 0 || rl < 6 || strcmp(rest + rl - 5, ".sock") != 0 ||
	    strspn(rest, "0123456789") != rl - 5)
		return vms_err_set(err, -EPERM, "%s: not a migration socket of this session under %s/", s->lv.sock,
				   KVM_LV_RUN_DIR);
	if (s->c->accepted && (n = s->c->accepted(s->c->accepted_arg)) < 0)
		return vms_err_set(err, n, "cannot tell the session about this stream: %s", strerror(-n));
	memcpy(s->name, s->c->seeds[s->lv.vm].name, sizeof(s->name));
	s->vm = s->lv.vm;
	s->libvirt = 1;
	snprintf(s->dir, sizeof(s->dir), "libvirt's log of domain %s", s->lv.domain);
	return send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_READY), err);
}

/* Connect to the target QEMU's socket (it appears during libvirt's
 * Prepare, before the source QEMU connects to the sender's): only if its
 * peer is the domain's QEMU by libvirt's pid file. */
static int lv_connect(struct stream *s, vms_err *err)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int64_t end = vms_now_ms() + START_MS;
	memcpy(a.sun_path, s->lv.sock, strlen(s->lv.sock) + 1);   /* (< VMS_WIRE_SOCK_MAX = sun_path) */
	for (;;) {
		int fd = -1, e = ENOENT;
		if (lstat(s->lv.sock, &st) == 0 && !S_ISSOCK(st.st_mode))
			return vms_err_set(err, -EPERM, "%s is not a socket", s->lv.sock);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
			return vms_err_set(err, -errno, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
			struct ucred cr;
			socklen_t len = sizeof(cr);
			pid_t want = 0;
			vms_err perr = { 0 };
			int r = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ? -errno : 0;
			if (r == 0)
				r = kvm_lv_pidfile(KVM_LV_RUN_DIR, s->lv.domain, &want, &perr);
			if (r == 0 && cr.pid != want)
				r = vms_err_set(&perr, -EPERM, "%s: its peer (process %ld) is not the QEMU of domain %s (%ld)",
						s->lv.sock, (long)cr.pid, s->lv.domain, (long)want);
			if (r < 0) {
				close(fd);
				return vms_err_set(err, r, "%s", perr.msg[0] ? perr.msg : strerror(-r));
			}
			vms_sock_sndbuf(fd, MIG_SNDBUF);
			s->mig = fd;
			s->lv_pid = cr.pid;
			slog(s, "connected to the target QEMU %ld of domain %s at %s", (long)cr.pid, s->lv.domain,
			     s->lv.sock);
			return 0;
		}
		e = errno;
		close(fd);
		if ((e != ENOENT && e != ECONNREFUSED) || vms_now_ms() > end)
			return vms_err_set(err, -e, "the target QEMU of domain %s does not listen at %s: %s",
					   s->lv.domain, s->lv.sock, strerror(e));
		usleep(50000);
	}
}

/* Bytes from the target QEMU's return path: whole messages go to the sender
 * (RPATH), except SHUT: 0 means the target loaded the stream (LOADED). */
static int lv_return_path(struct stream *s, vms_err *err)
{
	uint8_t buf[RP_MSG_MAX];
	ssize_t got = read(s->mig, buf, sizeof(buf));
	if (got < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (got <= 0)
		return vms_err_set(err, -EPIPE, "the target QEMU closed its migration socket before it loaded (see libvirt's log)");
	if (vms_wbuf_bytes(&s->rp, buf, (size_t)got) < 0)
		return vms_err_set(err, -ENOMEM, "out of memory");
	vms_cur c;
	vms_cur_init(&c, s->rp.data, s->rp.len);
	for (;;) {
		uint16_t type, len;
		const uint8_t *msg;
		vms_cur m = c;
		if (vms_cur_be16(&m, &type) < 0 || vms_cur_be16(&m, &len) < 0)
			break;
		if (len > RP_MSG_MAX - 4)
			return vms_err_set(err, -EBADMSG, "the target QEMU's return path: a message of %u bytes", len);
		if (vms_cur_bytes(&m, len, &msg) < 0)
			break;
		if (type == RP_SHUT) {
			uint32_t v;
			vms_cur sc;
			vms_cur_init(&sc, msg, len);
			if (vms_cur_be32(&sc, &v) < 0 || vms_cur_end(&sc) < 0)
				return vms_err_set(err, -EBADMSG, "the target QEMU's return path: a malformed SHUT");
			if (v != 0)
				return vms_err_set(err, -EIO, "the target QEMU failed to load the stream (return path SHUT %u; see libvirt's log)", v);
			if (vms_cur_left(&m))
				return vms_err_set(err, -EBADMSG, "the target QEMU's return path goes on after its SHUT");
			/* loaded, paused: libvirt resumes it once the source completes */
			s->mig = (close(s->mig), -2);
			vms_wbuf_reset(&s->rp);
			if (vms_fault("receiver:loaded"))
				return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "receiver:loaded");
			slog(s, "loaded: %llu bytes of stream, %llu pages from seeds, %llu asked for again",
			     (unsigned long long)s->bytes, (unsigned long long)s->refs, (unsigned long long)s->fetched);
			return send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_LOADED), err);
		}
		const uint8_t *raw;
		int r = vms_cur_bytes(&c, 4u + len, &raw);     /* (c = m) */
		if (r == 0)
			r = send_out(s, vms_msg_rpath_put(&s->out, raw, 4u + len), err);
		if (r < 0)
			return r;
	}
	size_t left = vms_cur_left(&c);          /* a message's beginning: kept */
	const uint8_t *rest;
	if (vms_cur_bytes(&c, left, &rest) == 0)
		memmove(s->rp.data, rest, left);
	s->rp.len = left;
	return 0;
}

/* VERIFY under libvirt: the target QEMU's guest RAM by its pid, in the
 * source's blocks (LVSTREAM). */
static int lv_open_mem(struct stream *s, vms_err *err)
{
	struct kvm_ramblock b[VMS_WIRE_BLOCKS_MAX];
	memset(b, 0, sizeof(b));
	for (unsigned i = 0; i < s->lv.nblocks; i++) {
		snprintf(b[i].name, sizeof(b[i].name), "%s", s->lv.blocks[i].name);
		b[i].used = b[i].total = s->lv.blocks[i].used;
		b[i].page_size = KVM_PAGE_SIZE;
	}
	char label[VMS_WIRE_NAME_MAX + 16];
	snprintf(label, sizeof(label), "domain %s", s->lv.domain);
	return kvm_mem_open_pid(s->lv_pid, b, s->lv.nblocks, label, &s->tmem, err);
}

static int on_frame(struct stream *s, uint8_t type, vms_cur *p, int *done, vms_err *err)
{
	const uint8_t *data;
	struct kvm_migrate_info mi;
	char text[VMS_WIRE_ERROR_MAX + 1];
	int r;
	switch (type) {
	case VMS_MSG_SDATA:
	case VMS_MSG_SREF:
	case VMS_MSG_SCOMP:
		if (s->libvirt && s->mig == -1 && (r = lv_connect(s, err)) < 0)
			return r;
		if (s->mig < 0)
			return vms_err_set(err, -EBADMSG, "misplaced stream data");
		return on_data(s, type, p, err);
	case VMS_MSG_SEND:
		if (s->libvirt || s->mig < 0 || vms_msg_empty_get(p) < 0)
			return vms_err_set(err, -EBADMSG, "misplaced or malformed SEND message");
		if ((r = flush_raw(s, err)) < 0)
			return r;
		shutdown(s->mig, SHUT_WR);
		if ((r = kvm_migrate_wait(s->q, LOAD_MS, &mi, err)) < 0)
			return vms_err_prefix(err, r, "the target QEMU did not load the stream (see %s/qemu.log)", s->dir);
		close(s->mig);
		s->mig = -2;                 /* loaded: no more stream */
		if (vms_fault("receiver:loaded"))
			return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "receiver:loaded");
		slog(s, "loaded: %llu bytes of stream, %llu pages from seeds, %llu asked for again",
		     (unsigned long long)s->bytes, (unsigned long long)s->refs, (unsigned long long)s->fetched);
		return send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_LOADED), err);
	case VMS_MSG_VERIFY:
		if (s->mig != -2 || vms_msg_empty_get(p) < 0)
			return vms_err_set(err, -EBADMSG, "misplaced VERIFY message");
		return send_digests(s, err);
	case VMS_MSG_FIX: {
		uint64_t pg;
		if (!s->tmem || (s->q == NULL && !s->libvirt) || vms_msg_u64page_get(p, &pg, &data) < 0)
			return vms_err_set(err, -EBADMSG, "misplaced or malformed FIX message");
		s->fixed++;
		return kvm_mem_write(s->tmem, pg, 1, data, err);
	}
	case VMS_MSG_COMMIT:
		if (s->mig != -2 || vms_msg_empty_get(p) < 0)
			return vms_err_set(err, -EBADMSG, "misplaced COMMIT message");
		if (s->libvirt) {            /* the sender let the source complete: libvirt finishes */
			s->committed = 1;
			*done = 1;
			if (s->fixed)
				slog(s, "%llu pages the source changed but QEMU did not send were repaired from it",
				     (unsigned long long)s->fixed);
			slog(s, "committed: libvirt resumes domain %s here", s->lv.domain);
			return send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_RUNNING), err);
		}
		/* the decision: `cont`, then the guard's "c". A death before "c"
		 * leaves the guard to kill the target; after it, the target runs.
		 * Whoever settles for a dead stream process waits for the guard
		 * (files.c, settle) */
		if ((r = kvm_qmp_simple(s->q, "cont", err)) < 0)
			return r;
		if (vms_fault("receiver:resumed"))
			return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "receiver:resumed");
		kvm_target_release(s->guard, 1);
		s->guard = -1;
		s->committed = 1;
		vms_fault("receiver:released");      /* (a drop: nothing left to drop) */
		rc_vmdir_keep(&s->vd);               /* STATE/NAME/ is the running guest's now */
		rc_outcome_write(s->c->state_fd, s->c->session, s->vm, s->name, "committed");
		vms_fault("receiver:committed");     /* (a drop: nothing left to drop) */
		*done = 1;
		if (s->fixed)
			slog(s, "%llu pages the source changed but QEMU did not send were repaired from it",
			     (unsigned long long)s->fixed);
		slog(s, "committed: the guest runs here (QEMU %d)", (int)s->qemu);
		return send_out(s, vms_msg_empty_put(&s->out, VMS_MSG_RUNNING), err);
	case VMS_MSG_ERROR:
		if (vms_msg_error_get(p, text) < 0)
			return vms_err_set(err, -EBADMSG, "malformed ERROR message");
		return vms_err_set(err, -ECONNABORTED, "the sender rolled back: %s", text);
	default:
		return vms_err_set(err, -EBADMSG, "unexpected message type %u in a stream", type);
	}
}

int rc_stream(const struct rc_stream_ctx *c, vms_conn *conn, vms_err *err)
{
	struct stream s = { .c = c, .conn = conn, .mig = -1, .guard = -1, .vd = { .fd = -1 } };
	uint8_t type;
	vms_cur p;
	int r = vms_pagex_new(&s.px, err), done = 0;
	if (r == 0)
		r = next_frame(&s, c->first_ms > 0 ? c->first_ms : c->idle_ms, &type, &p, err);
	if (r == 0 && type != VMS_MSG_STREAM && type != VMS_MSG_LVSTREAM)
		r = vms_err_set(err, -EBADMSG, "a stream connection must start with STREAM or LVSTREAM");
	if (r == 0)
		r = type == VMS_MSG_LVSTREAM ? lv_start(&s, &p, err) : start_target(&s, &p, err);
	while (r == 0 && !done) {
		r = next_frame(&s, c->idle_ms, &type, &p, err);
		if (r == 0)
			r = on_frame(&s, type, &p, &done, err);
	}
	if (r < 0 && !s.committed) {
		/* undone first, then said: an ERROR on a stream connection is
		 * the receiver's final word that this VM rolled back (the sender
		 * resumes the source on it, even after COMMIT) */
		remove_target(&s);
		if (s.journaled)
			rc_outcome_write(c->state_fd, c->session, s.vm, s.name, "rolled-back");
		slog(&s, "rolled back: %s", err ? err->msg : "error");
		vms_wbuf_reset(&s.out);
		if (vms_msg_error_put(&s.out, err ? err->msg : "receiver error") == 0)
			vms_conn_write_all(conn, s.out.data, s.out.len);
	} else if (r < 0) {
		slog(&s, "committed, then: %s", err ? err->msg : "error");
	}
	if (s.mig >= 0)
		close(s.mig);
	kvm_mem_close(s.tmem);
	kvm_qmp_close(s.q);
	kvm_target_release(s.guard, 0);
	rc_vmdir_close(&s.vd);
	vms_frames_free(&s.in);
	vms_wbuf_free(&s.out);
	vms_wbuf_free(&s.raw);
	vms_wbuf_free(&s.spage);
	vms_wbuf_free(&s.rp);
	vms_pagex_free(s.px);
	return r;
}
