/* live.c - the sender's live phase for sc_session_seed/migrate/commit (see
 * session_int.h, doc/PROTOCOL.md "Live sessions"). From the moment every
 * receiver has opened its seeds (SEEDING), while sc_send() still sends
 * them, one thread per VM:
 *   1. opens a stream connection to the VM's receiver (STREAM with the
 *      source's command line), which starts the target QEMU (READY);
 *   2. has the source QEMU migrate into a socket pair (fd: URI) and reads
 *      QEMU's stream only as fast as it can forward it (back-pressure), page
 *      by page: zero pages and device state pass through, a page whose
 *      content the target holds, or will hold, in a seed becomes a
 *      reference (SREF, with its SHA-256: the receiver waits for a seed
 *      page still on its way), any other page goes whole;
 *   3. waits for the target to load (LOADED), optionally compares every
 *      page of the target with the paused source (VERIFY, DIGESTS);
 *   4. commits at once (COMMIT, RUNNING; the source quits, once the
 *      seeding no longer reads it): each guest
 *      pauses only for its own switch-over. A VM that fails before its
 *      commit - its receiver or target QEMU gone, a bad reference - rolls
 *      back alone: its migration is cancelled, its source resumes, its
 *      target is removed. Ctrl-C or the time limit rolls back every VM not
 *      committed yet.
 * With opts.atomic the main thread decides for the whole rack instead:
 * commit only when every VM has loaded, else roll every VM back. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "live_int.h"

#define READ_CHUNK (256u << 10)
#define MIG_SNDBUF (8 << 20)         /* the source's migration socket: QEMU runs on while we wait */
#define FLUSH_AT (256u << 10)
#define CONNECT_MS 5000
#define READY_MS 60000
#define LOADED_MS 120000
#define SOURCE_DONE_MS 60000
#define VERIFY_CHUNK 256u
#define REPAIR_MAX 65536u           /* pages --verify may repair per VM */
#define RING_PAGES 4096u            /* referred pages kept for NEED (16 MiB per VM), more
				     * than VMS_WIRE_REF_WINDOW */

_Static_assert(RING_PAGES > VMS_WIRE_REF_WINDOW, "the ring must hold every reference a receiver may ask for");

/* ---- helpers ------------------------------------------------------------------- */

static void set_state(struct job *j, enum job_state s)
{
	pthread_mutex_lock(&j->lv->lock);
	j->state = s;
	j->finished = s == JOB_DONE || s == JOB_ROLLED_BACK;
	pthread_cond_broadcast(&j->lv->cond);
	pthread_mutex_unlock(&j->lv->lock);
}

/* The rack rolls back (the main thread's decision), or Ctrl-C came: that
 * one is seen here too while the main thread still seeds. */
static int aborted(struct sc_live *lv)
{
	if (lv->o->stop && *lv->o->stop)
		return 1;
	pthread_mutex_lock(&lv->lock);
	int a = lv->abort;
	pthread_mutex_unlock(&lv->lock);
	return a;
}

static int flush(struct job *j, vms_err *err)
{
	if (j->out.len == 0)
		return 0;
	int r = vms_conn_write_all(j->conn, j->out.data, j->out.len);
	/* --compress auto: what the kernel still holds says whether the link
	 * (or the receiver) keeps us waiting, so zstd's smaller pages cost
	 * nothing, or we are the bottleneck and LZ4's speed counts */
	vms_pagez_pace(j->z, vms_conn_unsent(j->conn) >= SC_PACE_BACKLOG);
	j->st->wire_bytes += j->out.len;
	vms_wbuf_reset(&j->out);
	j->open = SIZE_MAX;
	return r < 0 ? vms_err_set(err, r, "connection to the receiver lost: %s", vms_conn_strerror(j->conn, r)) : 0;
}

/* NEED: the receiver lacks the content of reference k (its seed page did
 * not match): send the page from the ring. */
static int answer_need(struct job *j, vms_cur *p, vms_err *err)
{
	uint64_t k;
	if (vms_msg_u64_get(p, &k) < 0 || !j->ring || k >= j->nref)
		return vms_err_set(err, -EPROTO, "the receiver asked for a reference that was never sent");
	if (j->nref - k > RING_PAGES)
		return vms_err_set(err, -ENOBUFS, "the receiver asked for reference %llu, no longer held (the last %u are)",
				   (unsigned long long)k, RING_PAGES);
	int r = vms_msg_u64page_put(&j->out, VMS_MSG_SPAGE, k, j->ring + (k % RING_PAGES) * KVM_PAGE_SIZE);
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	j->st->fetched_pages++;
	return flush(j, err);
}

/* Wait for one frame from the receiver; an ERROR from it becomes the error,
 * NEEDs are answered on the way. */
static int expect(struct job *j, uint8_t want, const char *name, int timeout_ms, vms_cur *p, vms_err *err)
{
	uint8_t type;
	int64_t end = vms_now_ms() + timeout_ms;
	for (;;) {
		int r = vms_frames_next(&j->in, &type, p);
		if (r < 0)
			return vms_err_set(err, r, "bad frame from the receiver");
		if (r == 1 && type == VMS_MSG_NEED && want != VMS_MSG_NEED) {
			if ((r = answer_need(j, p, err)) < 0)
				return r;
			continue;
		}
		if (r == 1 && type == VMS_MSG_ACK) {
			uint64_t n;
			if (vms_msg_u64_get(p, &n) < 0 || n > j->nref || n < j->acked)
				return vms_err_set(err, -EPROTO, "the receiver acknowledged references never sent");
			j->acked = n;
			if (want == VMS_MSG_ACK)
				return 0;
			continue;
		}
		if (r == 1) {
			char text[VMS_WIRE_ERROR_MAX + 1];
			if (type == VMS_MSG_ERROR && vms_msg_error_get(p, text) == 0)
				return vms_err_set(err, -ECONNABORTED, "the receiver failed: %s", text);
			if (type != want)
				return vms_err_set(err, -EPROTO, "expected %s, got message type %u", name, type);
			return 0;
		}
		int left = (int)(end - vms_now_ms());
		if (left <= 0)
			return vms_err_set(err, -ETIMEDOUT, "no %s from the receiver within %d s", name,
					   timeout_ms / 1000);
		if (aborted(j->lv))
			return vms_err_set(err, -ECANCELED, "stopped while waiting for %s", name);
		r = vms_frames_recv(&j->in, j->conn, left < 200 ? left : 200);
		if (r == -ECONNRESET)
			return vms_err_set(err, r, "the receiver went away");
		if (r < 0)
			return vms_err_set(err, r, "receiving from the receiver: %s", vms_conn_strerror(j->conn, r));
	}
}

/* ---- one VM: stream ------------------------------------------------------------------ */

static int open_stream(struct job *j, vms_err *err)
{
	struct sc_live *lv = j->lv;
	char **argv = NULL;
	size_t argc = 0;
	vms_cur p;
	int r = kvm_proc_argv(kvm_mem_pid(lv->mems[j->v]), &argv, &argc, err);
	if (r < 0)
		return r;
	const struct sc_target *t = &lv->targets[j->t];
	const char *host = lv->o->tls_hostname ? lv->o->tls_hostname : t->host[0] ? t->host : NULL;
	if ((r = vms_conn_connect(lv->o->tls, t->ip, t->port, host, CONNECT_MS, &j->conn, err)) < 0) {
		kvm_argv_free(argv);
		return vms_err_prefix(err, r, "target %s", t->name);
	}
	struct vms_msg_stream m = { lv->session, j->k, (uint16_t)argc, argv };
	r = argc <= VMS_WIRE_ARGS_MAX ? vms_msg_stream_put(&j->out, &m) : -E2BIG;
	kvm_argv_free(argv);
	if (r < 0)
		return vms_err_set(err, r, "the source's command line does not fit a STREAM message");
	if ((r = flush(j, err)) < 0 || (r = expect(j, VMS_MSG_READY, "READY", READY_MS, &p, err)) < 0)
		return r;
	return 0;
}

/* sc_ref_fn: the first page on this job's target that held the content
 * when it was indexed, unless the content changed while seeding. */
static int seed_of(void *ctx, const uint8_t *page, uint32_t *seed_vm, uint64_t *seed_page)
{
	struct job *j = ctx;
	uint32_t c = sc_index_find(j->lv->ix, page);
	/* (sent, stale, absent: written by the seeding, which may still run:
	 * a content whose seed has not gone out yet goes whole rather than
	 * make its target wait long; one that changed, or that the target
	 * reported missing, too) */
	if (!c || !j->lv->loc[j->t][c].vm || !__atomic_load_n(&j->lv->sent[c], __ATOMIC_ACQUIRE) ||
	    __atomic_load_n(&j->lv->stale[c], __ATOMIC_RELAXED) ||
	    __atomic_load_n(&j->lv->absent[j->t][c], __ATOMIC_RELAXED))
		return 0;
	*seed_vm = j->lv->loc[j->t][c].vm - 1;
	*seed_page = j->lv->loc[j->t][c].page;
	return 1;
}

/* Forward one parsed item (sc_rewrite_item) and count it by class. */
static int forward(struct job *j, kvm_ms *ms, const struct kvm_ms_item *it, vms_err *err)
{
	struct sc_live_stats *st = j->st;
	size_t before = j->out.len;
	int r = sc_rewrite_item(it, seed_of, j, j->z, &j->out, &j->open);
	if (r < 0)
		return vms_err_set(err, r, "rewriting the stream: %s", strerror(-r));
	size_t wire = j->out.len - before;
	st->compressed_pages += r == 2;
	if (it->kind == KVM_MS_PAGE) {
		uint64_t pg = it->offset / KVM_PAGE_SIZE;
		uint8_t **seen = &j->seen[it->block];
		if (!*seen) {
			j->seen_pages[it->block] = kvm_ms_block_size(ms, it->block) / KVM_PAGE_SIZE;
			*seen = calloc(j->seen_pages[it->block] / 8 + 1, 1);
			if (!*seen)
				return vms_err_set(err, -ENOMEM, "out of memory");
		}
		/* the parser keeps block sizes fixed (kvm_ms_block_size); checked
		 * here too, as the bitmap was sized from the first */
		if (pg >= j->seen_pages[it->block])
			return vms_err_set(err, -EBADMSG, "RAM block '%s': page %llu beyond the %llu pages it had",
					   kvm_ms_block_name(ms, it->block), (unsigned long long)pg,
					   (unsigned long long)j->seen_pages[it->block]);
		int again = ((*seen)[pg / 8] >> (pg % 8)) & 1;
		(*seen)[pg / 8] |= (uint8_t)(1u << (pg % 8));
		if (r == 1) {
			memcpy(j->ring + (j->nref++ % RING_PAGES) * KVM_PAGE_SIZE, it->data, KVM_PAGE_SIZE);
			st->ref_pages++;
			st->ref_bytes += wire;
		} else if (again) {
			st->dirty_pages++;
			st->dirty_bytes += wire;
		} else {
			st->whole_pages++;
			st->whole_bytes += wire;
		}
	} else if (it->kind == KVM_MS_ZERO) {
		st->zero_pages++;
		st->zero_bytes += wire;
	} else {
		st->other_bytes += wire;
	}
	return 0;
}

/* n bytes of the source's stream: parse them and forward every whole item
 * (flushing as the output grows). */
static int feed(struct job *j, kvm_ms *ms, const uint8_t *buf, size_t n, vms_err *err)
{
	struct kvm_ms_item it;
	j->st->stream_bytes += n;
	int r = kvm_ms_feed(ms, buf, n, err);
	if (r < 0)
		return r;
	while ((r = kvm_ms_next(ms, &it, err)) == 1)
		if ((r = forward(j, ms, &it, err)) < 0 || (j->out.len >= FLUSH_AT && (r = flush(j, err)) < 0))
			break;
	return r < 0 ? vms_err_prefix(err, r, "the source's migration stream") : 0;
}

/* Read the source's stream and forward it, until QEMU closes it. */
static int pump(struct job *j, vms_err *err)
{
	kvm_ms *ms = NULL;
	uint8_t *buf = malloc(READ_CHUNK);
	int r = kvm_ms_new(&ms, err);
	int64_t last = vms_now_ms();
	if (r == 0 && !buf)
		r = vms_err_set(err, -ENOMEM, "out of memory");
	while (r == 0) {
		if (aborted(j->lv)) {
			r = vms_err_set(err, -ECANCELED, "stopped");
			break;
		}
		if (j->lv->o->stall_ms > 0 && vms_now_ms() - last > j->lv->o->stall_ms) {
			r = vms_err_set(err, -ETIMEDOUT, "the source QEMU sent nothing for %d s", j->lv->o->stall_ms / 1000);
			break;
		}
		/* the receiver may ask for any reference it has not applied yet:
		 * never have more out than the ring holds */
		int window_full = j->nref - j->acked >= VMS_WIRE_REF_WINDOW;
		if (window_full && (r = flush(j, err)) < 0)
			break;
		if (window_full)                  /* (the receiver keeps us, not the source) */
			last = vms_now_ms();
		struct pollfd pfd[2] = { { .fd = window_full ? -1 : j->mig, .events = POLLIN },
					 { .fd = vms_conn_fd(j->conn), .events = POLLIN } };
		int pending = vms_conn_pending(j->conn);   /* TLS may hold bytes poll cannot see */
		if (poll(pfd, 2, pending ? 0 : 200) <= 0 && !pending)
			continue;
		last = vms_now_ms();
		if (pfd[1].revents || pending) {     /* the receiver speaks to ask for a page (NEED) or to fail */
			vms_cur p;
			vms_err probe = { 0 };
			r = vms_frames_recv(&j->in, j->conn, 0);
			if (r == -ECONNRESET)
				r = vms_err_set(err, r, "the receiver went away");
			else if (r < 0)
				r = vms_err_set(err, r, "receiving from the receiver: %s", vms_conn_strerror(j->conn, r));
			else
				while ((r = expect(j, VMS_MSG_NEED, "NEED", 1, &p, &probe)) == 0 &&
				       (r = answer_need(j, &p, err)) == 0)
					;          /* (ACKs are taken on the way) */
			if (r == -ETIMEDOUT)          /* every NEED answered */
				r = 0;
			else if (r < 0 && probe.msg[0] && err)
				*err = probe;
			if (r < 0)
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
		if (got == 0)
			break;
		r = feed(j, ms, buf, (size_t)got, err);
	}
	if (r == 0)
		r = flush(j, err);
	kvm_ms_free(ms);
	free(buf);
	return r;
}

/* One VERIFY round: the target's page digests against the paused source's.
 * The pages that differ go into bad[] (up to `cap`; *nbad counts them all). */
static int compare(struct job *j, uint64_t *bad, size_t cap, uint64_t *nbad, vms_err *err)
{
	kvm_mem *mem = j->lv->mems[j->v];
	uint64_t pages = kvm_mem_pages(mem), next = 0;
	uint8_t *buf = malloc(VERIFY_CHUNK * KVM_PAGE_SIZE), d[VMS_WIRE_DIGEST];
	int r = buf ? vms_msg_empty_put(&j->out, VMS_MSG_VERIFY) : -ENOMEM;
	*nbad = 0;
	if (r < 0) {
		free(buf);
		return vms_err_set(err, r, "out of memory");
	}
	for (int last = 0; r == 0 && !last;) {
		vms_cur p;
		struct vms_msg_digests m;
		if ((r = flush(j, err)) < 0 || (r = expect(j, VMS_MSG_DIGESTS, "DIGESTS", LOADED_MS, &p, err)) < 0)
			break;
		if (vms_msg_digests_get(&p, &m) < 0 || m.first != next || m.count > VERIFY_CHUNK ||
		    m.count > pages - next || (m.last && m.first + m.count != pages)) {
			r = vms_err_set(err, -EPROTO, "the target's digests do not cover its memory as the source's (%llu pages)",
					(unsigned long long)pages);
			break;
		}
		if ((r = kvm_mem_read(mem, m.first, m.count, buf, err)) < 0) {
			j->unreadable = 1;
			break;
		}
		for (uint32_t i = 0; i < m.count; i++) {
			vms_page_digest(buf + (size_t)i * KVM_PAGE_SIZE, d);
			if (memcmp(d, m.dig + (size_t)i * VMS_WIRE_DIGEST, VMS_WIRE_DIGEST) == 0)
				continue;
			if (*nbad < cap)
				bad[*nbad] = m.first + i;
			++*nbad;
		}
		next += m.count;
		last = m.last;
	}
	free(buf);
	return r;
}

/* --verify: compare every page of the loaded target with the paused source.
 * With repair, pages that differ (QEMU's dirty tracking missed a write: seen
 * with TCG even between two stock QEMUs) are sent again from the source and
 * the comparison is repeated; what still differs fails the VM. */
static int verify(struct job *j, vms_err *err)
{
	uint64_t nbad = 0, pages = kvm_mem_pages(j->lv->mems[j->v]);
	uint64_t *bad = malloc(REPAIR_MAX * sizeof(*bad));
	uint8_t page[KVM_PAGE_SIZE];
	int r = bad ? compare(j, bad, REPAIR_MAX, &nbad, err) : vms_err_set(err, -ENOMEM, "out of memory");
	if (r == 0 && nbad && j->lv->o->repair && nbad <= REPAIR_MAX) {
		for (uint64_t i = 0; i < nbad && r == 0; i++) {
			r = kvm_mem_read(j->lv->mems[j->v], bad[i], 1, page, err);
			j->unreadable |= r < 0;
			if (r == 0 && (r = vms_msg_u64page_put(&j->out, VMS_MSG_FIX, bad[i], page)) < 0)
				vms_err_set(err, r, "out of memory");
		}
		j->st->repaired_pages = nbad;
		j->st->repair_bytes = j->out.len;
		if (r == 0)
			r = compare(j, bad, REPAIR_MAX, &nbad, err);
	}
	if (r == 0 && nbad)
		r = vms_err_set(err, -EIO, "--verify: %llu of %llu pages of the target differ from the source%s (first: page %llu)",
				(unsigned long long)nbad, (unsigned long long)pages,
				j->st->repaired_pages ? " after repair" : "", (unsigned long long)bad[0]);
	if (r == 0)
		j->st->verified = 1;
	free(bad);
	return r;
}

/* The source QEMU has died (gone, or a zombie nobody reaped): its memory
 * cannot be read any more, so nothing can be verified or repaired. */
static int source_gone(const struct job *j)
{
	uint64_t start;
	pid_t pid = kvm_mem_pid(j->lv->mems[j->v]);
	int r = pid > 0 && j->src_start ? kvm_proc_start_time(pid, &start) : -EINVAL;
	return r == -ESRCH || (r == 0 && start != j->src_start);   /* (ended, or its pid reused) */
}

/* Whether this VM is verified (opts.verify): by default when its source
 * QEMU runs without KVM. 0/1, or negative if QEMU could not say. */
static int wants_verify(struct job *j, vms_err *err)
{
	json_t *ret = NULL;
	if (j->lv->o->verify != SC_VERIFY_TCG)
		return j->lv->o->verify == SC_VERIFY_ALWAYS;
	int r = kvm_qmp_call(j->q, "query-kvm", NULL, &ret, err);
	if (r < 0)
		return vms_err_prefix(err, r, "the source QEMU (query-kvm)");
	r = !json_is_true(json_object_get(ret, "enabled"));
	json_decref(ret);
	return r;
}

/* The source guard (`vmscatter guard`, cli_guard.c): a process of its own
 * that settles the source from the receiver's word if this one dies before
 * it settled the VM (guard_done). Started before the source migrates. */
static int start_guard(struct job *j, vms_err *err)
{
	const struct sc_live *lv = j->lv;
	const struct sc_target *t = &lv->targets[j->t];
	char target[SC_NAME_MAX + 32], session[20], vm[12], jpath[4200], qemu[48];
	char ip[16];
	/* the source QEMU is the process this job's QMP connection reaches
	 * (SO_PEERCRED): the guard and `recover` settle that process only */
	long qpid = kvm_qmp_pid(j->q);
	uint64_t qstart;
	if (kvm_proc_start_time(qpid, &qstart) < 0)
		return vms_err_set(err, -ESRCH, "%s: the source QEMU (process %ld) is gone", lv->qmp[j->v], qpid);
	snprintf(qemu, sizeof(qemu), "%ld:%llu", qpid, (unsigned long long)qstart);
	snprintf(ip, sizeof(ip), "%u.%u.%u.%u", t->ip >> 24, (t->ip >> 16) & 255, (t->ip >> 8) & 255, t->ip & 255);
	snprintf(target, sizeof(target), "%s=%s:%u", t->name, ip, t->port);
	snprintf(session, sizeof(session), "%016llx", (unsigned long long)lv->session);
	snprintf(vm, sizeof(vm), "%u", j->k);
	const char *host = lv->o->tls_hostname ? lv->o->tls_hostname : t->host[0] ? t->host : ip;
	const char *argv[24] = { "vmscatter", "guard", "--qmp", lv->qmp[j->v], "--qemu", qemu, "--target", target,
				 "--session", session, "--vm", vm };
	int n = 12, p[2], r;
	if (lv->o->tls_dir) {
		argv[n++] = "--tls-creds";
		argv[n++] = lv->o->tls_dir;
		argv[n++] = "--tls-hostname";
		argv[n++] = host;
	} else {
		argv[n++] = "--insecure";
	}
	if (lv->o->keep_source)
		argv[n++] = "--keep-source";
	if (lv->journal_fd >= 0) {
		/* the record exists before the source migrates; the guard
		 * shares its lock (descriptor 4) and removes it once settled */
		struct sc_journal_rec rec;
		if (sc_journal_rec_set(&rec, lv->session, j->k, lv->qmp[j->v], qpid, qstart, target, host,
				       "migrating") < 0)
			return vms_err_set(err, -ENAMETOOLONG, "%s: too long for the source journal", lv->qmp[j->v]);
		if ((r = sc_journal_name(j->jname, sizeof(j->jname), lv->session, j->v)) < 0 ||
		    (r = sc_journal_write(lv->journal_fd, j->jname, &rec, &j->jlock, err)) < 0)
			return r;
		snprintf(jpath, sizeof(jpath), "%s/%s", lv->o->journal_dir, j->jname);
		argv[n++] = "--journal";
		argv[n++] = jpath;
	}
	argv[n] = NULL;
	pid_t pid = -1;
	if (pipe2(p, O_CLOEXEC) == 0 && (pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
	}
	if (pid < 0) {                        /* (no guard: no record either) */
		int e = errno;
		if (j->jlock >= 0) {
			sc_journal_remove(lv->journal_fd, j->jname);
			close(j->jlock);
			j->jlock = -1;
		}
		return vms_err_set(err, -e, "starting the source guard: %s", strerror(e));
	}
	if (pid == 0) {                       /* (only async-signal-safe calls until exec) */
		/* through descriptors >= 10 first: the pipe or the lock may be
		 * 3 or 4 already, and dup2 onto itself would keep FD_CLOEXEC */
		int a = fcntl(p[0], F_DUPFD, 10), b = j->jlock >= 0 ? fcntl(j->jlock, F_DUPFD, 10) : -1;
		if (a < 0 || dup2(a, 3) < 0 || (j->jlock >= 0 && (b < 0 || dup2(b, 4) < 0)))
			_exit(127);
		close_range(j->jlock >= 0 ? 5 : 4, ~0u, 0);
		setsid();                     /* Ctrl-C and the sender's death are not its own */
		execv(lv->o->guard_exe, (char *const *)argv);
		_exit(127);
	}
	close(p[0]);
	j->guard = p[1];
	j->guard_pid = pid;
	return 0;
}

/* Let the guard go. `settled`: this process settled the VM (committed and
 * quit the source, or resumed it); if not (a commit whose answer never
 * came), the guard asks the receiver and settles it. */
static void guard_done(struct job *j, int settled)
{
	if (j->guard < 0)
		return;
	if (settled && j->jlock >= 0)
		sc_journal_remove(j->lv->journal_fd, j->jname);
	if (j->jlock >= 0)
		close(j->jlock);              /* (an unsettled VM's guard holds the lock on) */
	j->jlock = -1;
	if (settled && write(j->guard, "d", 1) != 1) {
		/* the guard is gone: nothing waits for the word */
	}
	close(j->guard);
	j->guard = -1;
	/* an unsettled VM's guard asks the receiver, which answers only once
	 * this session ends (LIVE_END, after every job): never wait for it */
	while (settled && waitpid(j->guard_pid, NULL, 0) < 0 && errno == EINTR)
		;
}

static int migrate(struct job *j, vms_err *err)
{
	struct sc_live *lv = j->lv;
	struct kvm_migrate_info mi;
	vms_cur p;
	int sv[2] = { -1, -1 };
	if (lv->o->libvirt)                       /* libvirt racks: live_libvirt.c */
		return sc_lj_migrate(j, err);
	int r = open_stream(j, err);
	if (r < 0)
		return r;
	if (!(j->ring = malloc((size_t)RING_PAGES * KVM_PAGE_SIZE)))
		return vms_err_set(err, -ENOMEM, "out of memory");
	if (lv->o->compress && (r = vms_pagez_new(lv->o->compress, &j->z, err)) < 0)
		return r;
	/* the QEMU whose memory was indexed (its pid, from the same socket), no other */
	if ((r = kvm_qmp_connect_pid(lv->qmp[j->v], 5000, kvm_mem_pid(lv->mems[j->v]), NULL, &j->q, err)) < 0 ||
	    (r = wants_verify(j, err)) < 0)
		return r;
	j->verify = r;
	if (kvm_proc_start_time(kvm_mem_pid(lv->mems[j->v]), &j->src_start) < 0)
		j->src_start = 0;            /* (source_gone then never says gone) */
	if (lv->o->guard_exe && (r = start_guard(j, err)) < 0)
		return r;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return vms_err_set(err, -errno, "socketpair: %s", strerror(errno));
	j->mig = sv[0];
	vms_sock_sndbuf(sv[1], MIG_SNDBUF);         /* the source QEMU writes there */
	r = kvm_migrate_out_fd(j->q, sv[1], lv->o->max_bandwidth, err);
	close(sv[1]);
	if (r < 0)
		return r;
	set_state(j, JOB_STREAMING);
	if ((r = pump(j, err)) < 0)
		return r;
	if ((r = kvm_migrate_wait(j->q, SOURCE_DONE_MS, &mi, err)) < 0)
		return vms_err_prefix(err, r, "the source QEMU");
	j->st->downtime_ms = mi.downtime_ms;
	j->st->qemu_ms = mi.total_ms;
	j->t_done = vms_now();
	if (vms_fault("sender:postmigrate"))
		return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:postmigrate");
	if ((r = vms_msg_empty_put(&j->out, VMS_MSG_SEND)) < 0 || (r = flush(j, err)) < 0 ||
	    (r = expect(j, VMS_MSG_LOADED, "LOADED", LOADED_MS, &p, err)) < 0)
		return r;
	if (j->verify && vms_fault("sender:verifying"))
		return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:verifying");
	if (j->verify && (r = verify(j, err)) < 0) {
		/* a source that died after it completed its migration leaves the
		 * target as the guest's only copy: committed unverified rather
		 * than lost (doc/PROTOCOL.md, "Commit and rollback") */
		if (!j->unreadable || !source_gone(j))   /* a page that differs is no death */
			return r;
		j->st->unverified = 1;
	}
	return vms_fault("sender:loaded") ? vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "sender:loaded") : 0;
}

/* Put the source back as it was: cancel its migration, resume its guest.
 * 0 once it runs; negative when that could not be seen (the VM is then not
 * settled: its guard and journal record stay). */
static int roll_back_source(struct job *j)
{
	struct kvm_migrate_info mi;
	char state[32];
	if (j->lv->o->libvirt)                    /* libvirt racks: live_libvirt.c */
		return sc_lj_roll_back(j);
	if (!j->q &&
	    kvm_qmp_connect_pid(j->lv->qmp[j->v], 5000, kvm_mem_pid(j->lv->mems[j->v]), NULL, &j->q, NULL) < 0)
		return -EIO;
	if (kvm_migrate_query(j->q, &mi, NULL) == 0 && (!strcmp(mi.status, "active") ||
	    !strcmp(mi.status, "setup") || !strcmp(mi.status, "device") || !strcmp(mi.status, "pre-switchover"))) {
		kvm_qmp_simple(j->q, "migrate_cancel", NULL);
		for (int i = 0; i < 250 && kvm_migrate_query(j->q, &mi, NULL) == 0 &&
		     strcmp(mi.status, "cancelled") && strcmp(mi.status, "failed") && strcmp(mi.status, "completed"); i++)
			usleep(20000);
	}
	if (kvm_runstate(j->q, state, sizeof(state), NULL) < 0)
		return -EIO;
	if (strcmp(state, "running") == 0)
		return 0;
	kvm_qmp_simple(j->q, "cont", NULL);        /* (asked again: the answer is the proof) */
	return kvm_runstate(j->q, state, sizeof(state), NULL) == 0 && strcmp(state, "running") == 0 ? 0 : -EIO;
}

static int commit(struct job *j, vms_err *err)
{
	vms_cur p;
	if (j->lv->o->libvirt)                    /* libvirt racks: live_libvirt.c */
		return sc_lj_commit(j, err);
	int r = vms_msg_empty_put(&j->out, VMS_MSG_COMMIT);
	if (r == 0)
		r = flush(j, err);
	if (r == 0)
		r = expect(j, VMS_MSG_RUNNING, "RUNNING", LOADED_MS, &p, err);
	if (r == -ECONNABORTED)            /* ERROR: the receiver's final word, rolled back */
		return vms_err_prefix(err, r, "commit refused, the target rolled back");
	if (r < 0)
		return vms_err_prefix(err, r, "commit (the source stays paused; check the target)");
	j->st->committed = 1;
	j->st->paused_ms = j->st->downtime_ms + (int64_t)((vms_now() - j->t_done) * 1000);
	/* the seeding may still read this source's memory for other targets:
	 * it quits once the seeds are out (the guest already runs there) */
	pthread_mutex_lock(&j->lv->lock);
	while (j->lv->seeding)
		pthread_cond_wait(&j->lv->cond, &j->lv->lock);
	pthread_mutex_unlock(&j->lv->lock);
	if (!j->lv->o->keep_source && !j->st->unverified) {   /* (unverified: the source is gone) */
		pid_t pid = kvm_qmp_pid(j->q);
		kvm_qmp_simple(j->q, "quit", NULL);
		uint64_t start;           /* (gone, or a zombie its reaper has not seen yet) */
		for (int i = 0; i < 250 && kvm_proc_start_time(pid, &start) != -ESRCH; i++)
			usleep(20000);
	}
	return 0;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	struct sc_live *lv = j->lv;
	double t0 = vms_now();
	char comm[16];                    /* what top and perf show: vms-VMNAME */
	snprintf(comm, sizeof(comm), "vms-%s", sc_index_vm_name(lv->ix, j->v));
	pthread_setname_np(pthread_self(), comm);
	int r = migrate(j, &j->err);
	set_state(j, r < 0 ? JOB_FAILED : JOB_LOADED);
	enum decision d;
	int back = -1;                    /* roll_back_source()'s result */
	if (lv->o->atomic) {              /* the rack's decision */
		pthread_mutex_lock(&lv->lock);
		while (lv->decision == UNDECIDED)
			pthread_cond_wait(&lv->cond, &lv->lock);
		d = lv->decision;
		pthread_mutex_unlock(&lv->lock);
	} else {                          /* its own, now: the guest waits for nobody */
		d = r == 0 && !aborted(lv) ? COMMIT : ROLLBACK;
	}
	/* a source that died after it completed its migration leaves the
	 * target as the only copy: it commits whatever the rack decided */
	int committing = (d == COMMIT || j->st->unverified) && r == 0;
	if (committing) {
		r = commit(j, &j->err);
		if (r == 0 && vms_fault("sender:commit-between"))   /* (a drop: nothing left to drop) */
			vms_err_set(&j->err, 0, "fault point sender:commit-between");
		if (r == -ECONNABORTED) {     /* it rolled back: so does the source, now */
			committing = 0;
			back = roll_back_source(j);
		}
	} else {
		if (j->conn) {
			vms_wbuf_reset(&j->out);
			vms_conn_set_write_ms(j->conn, 1000);
			if (vms_msg_error_put(&j->out, r < 0 ? j->err.msg : "another VM failed: rolling back") == 0)
				vms_conn_write_all(j->conn, j->out.data, j->out.len);
			vms_conn_close(j->conn);
			j->conn = NULL;
		}
		if (j->mig >= 0) {
			close(j->mig);
			j->mig = -1;
		}
		back = roll_back_source(j);
		if (r == 0)
			r = -ECANCELED;
	}
	/* not settled here (a commit whose answer never came, a source seen
	 * neither running nor gone): the guard asks, and QEMU's monitor serves
	 * one client at a time, so this one lets go of it first */
	int settled = committing ? r == 0 : back == 0;
	if (!settled) {
		kvm_qmp_close(j->q);
		j->q = NULL;
	}
	guard_done(j, settled);
	j->st->seconds = vms_now() - t0;
	if (r < 0 && !j->err.msg[0])
		vms_err_set(&j->err, r, "rolled back");
	set_state(j, r < 0 ? JOB_ROLLED_BACK : JOB_DONE);
	return NULL;
}

/* ---- the rack ---------------------------------------------------------------------- */

/* Where each content sits on each target (the first seed page holding it),
 * and, per VM, the seeded contents first found in it (its share of the
 * multicast). */
static int build_locations(struct sc_live *lv, unsigned *session_k, struct sc_live_stats *per_vm, vms_err *err)
{
	unsigned nvms = sc_index_vms(lv->ix), next[64] = { 0 };
	uint32_t ncont = sc_index_contents(lv->ix);
	lv->loc = calloc(lv->ntargets, sizeof(*lv->loc));
	if (!lv->loc)
		return vms_err_set(err, -ENOMEM, "out of memory");
	for (unsigned t = 0; t < lv->ntargets; t++)
		if (!(lv->loc[t] = calloc((size_t)ncont + 1, sizeof(struct loc))))
			return vms_err_set(err, -ENOMEM, "out of memory");
	/* session indexes follow index order per target, as in sc_send() */
	for (unsigned v = 0; v < nvms; v++) {
		unsigned t = lv->target_of[v], k = next[t]++;
		session_k[v] = k;
		uint64_t pages = sc_index_vm_pages(lv->ix, v);
		for (uint64_t pg = 0; pg < pages && pg <= UINT32_MAX; pg++) {
			uint32_t c = sc_index_page(lv->ix, v, pg);
			if (c && !lv->loc[t][c].vm && !lv->absent[t][c]) {
				lv->loc[t][c] = (struct loc){ k + 1, (uint32_t)pg };
				per_vm[v].seed_pages++;
			}
		}
	}
	return 0;
}

/* A control connection that speaks or closes during the live phase means
 * its receiver failed. */
static int watch_controls(vms_conn *const *ctrl, unsigned n, const struct sc_target *targets, vms_err *err)
{
	struct pollfd pfd[64];
	for (unsigned t = 0; t < n; t++)
		pfd[t] = (struct pollfd){ .fd = vms_conn_fd(ctrl[t]), .events = POLLIN };
	if (poll(pfd, n, 0) < 0)
		return 0;
	for (unsigned t = 0; t < n; t++)
		if (pfd[t].revents || vms_conn_pending(ctrl[t]))
			return vms_err_set(err, -ECONNRESET, "target %s: the receiver stopped", targets[t].name);
	return 0;
}

/* Tell the vm_event callback what changed since the last look (main
 * thread). A finished job writes nothing more, so its error can be read. */
static void report(struct sc_live *lv)
{
	if (!lv->cbs || !lv->cbs->vm_event)
		return;
	for (unsigned v = 0; v < lv->started; v++) {
		struct job *j = &lv->jobs[v];
		pthread_mutex_lock(&lv->lock);
		enum job_state st = j->state;
		pthread_mutex_unlock(&lv->lock);
		if (st == j->told)
			continue;
		j->told = st;
		switch (st) {
		case JOB_STREAMING: lv->cbs->vm_event(lv->cb_arg, v, SC_VM_STREAMING, NULL); break;
		case JOB_LOADED: lv->cbs->vm_event(lv->cb_arg, v, SC_VM_LOADED, NULL); break;
		case JOB_FAILED: lv->cbs->vm_event(lv->cb_arg, v, SC_VM_FAILED, NULL); break;
		case JOB_DONE: lv->cbs->vm_event(lv->cb_arg, v, SC_VM_COMMITTED, NULL); break;
		case JOB_ROLLED_BACK: lv->cbs->vm_event(lv->cb_arg, v, SC_VM_ROLLED_BACK, j->err.msg); break;
		case JOB_WAITING: break;
		}
	}
}

/* The rack's decision (atomic; per VM each job decided its own), then wait
 * for every started job to finish. */
static void decide_and_join(struct sc_live *lv, enum decision d)
{
	pthread_mutex_lock(&lv->lock);
	lv->decision = d;
	lv->abort = d == ROLLBACK;
	lv->seeding = 0;                  /* (the seeding is over, or failed) */
	pthread_cond_broadcast(&lv->cond);
	pthread_mutex_unlock(&lv->lock);
	for (unsigned v = 0; v < lv->started; v++)
		pthread_join(lv->jobs[v].tid, NULL);
	lv->joined = 1;
	report(lv);
}

/* The first VM (index order) that did not commit, as the error. */
static int first_rolled_back(const struct sc_live *lv, vms_err *err)
{
	for (unsigned v = 0; v < lv->nvms; v++)
		if (lv->jobs[v].state == JOB_ROLLED_BACK)   /* (per VM: the first that rolled back) */
			return vms_err_set(err, -EIO, "%s: %s", sc_index_vm_name(lv->ix, v), lv->jobs[v].err.msg);
	return 0;
}

int sc_live_new(const sc_index *ix, kvm_mem *const *mems, const char *const *qmp,
		const struct sc_target *targets, unsigned ntargets, const unsigned *target_of,
		uint64_t session, vms_conn *const *ctrl, const uint8_t *stale, const uint8_t *sent,
		uint8_t *const *absent,
		const struct sc_live_opts *o, const struct sc_session_cbs *cbs, void *cb_arg,
		struct sc_live_stats *per_vm, sc_live **out, vms_err *err)
{
	unsigned nvms = sc_index_vms(ix), *session_k = NULL;
	struct sc_live *lv = NULL;
	int r = 0;
	*out = NULL;
	if (ntargets == 0 || ntargets > 64)
		return vms_err_set(err, -EINVAL, "1..64 targets are needed");
	memset(per_vm, 0, nvms * sizeof(*per_vm));
	session_k = calloc(nvms, sizeof(unsigned));
	lv = calloc(1, sizeof(*lv));
	struct job *jobs = calloc(nvms, sizeof(*jobs));
	if (!session_k || !lv || !jobs) {
		free(lv);
		free(jobs);
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	*lv = (struct sc_live){ .ix = ix, .mems = mems, .qmp = qmp, .targets = targets, .ntargets = ntargets,
				.target_of = target_of, .ctrl = ctrl, .stale = stale, .sent = sent, .absent = absent, .o = o,
				.cbs = cbs, .cb_arg = cb_arg, .session = session, .jobs = jobs, .nvms = nvms,
				.journal_fd = -1 };
	pthread_mutex_init(&lv->lock, NULL);
	pthread_cond_init(&lv->cond, NULL);
	for (unsigned v = 0; v < nvms; v++)
		jobs[v] = (struct job){ .lv = lv, .v = v, .t = target_of[v], .guard = -1, .jlock = -1, .mig = -1,
					.open = SIZE_MAX, .st = &per_vm[v] };
	if (o->journal_dir && o->guard_exe &&
	    (lv->journal_fd = open(o->journal_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		r = vms_err_set(err, -errno, "source journal %s: %s", o->journal_dir, strerror(errno));
		sc_live_free(lv);
		goto out;
	}
	if ((r = build_locations(lv, session_k, per_vm, err)) < 0) {
		sc_live_free(lv);
		goto out;
	}
	for (unsigned v = 0; v < nvms; v++)
		jobs[v].k = session_k[v];
	*out = lv;
out:
	free(session_k);
	return r;
}

/* Start VM threads while fewer than --parallel stream (0 or -errno). */
static int start_jobs(sc_live *lv, vms_err *err)
{
	unsigned parallel = lv->o->parallel ? lv->o->parallel : lv->nvms, active = 0;
	pthread_mutex_lock(&lv->lock);
	for (unsigned v = 0; v < lv->started; v++)
		active += lv->jobs[v].state == JOB_WAITING || lv->jobs[v].state == JOB_STREAMING;
	pthread_mutex_unlock(&lv->lock);
	while (active < parallel && lv->started < lv->nvms) {
		struct job *j = &lv->jobs[lv->started];
		if (pthread_create(&j->tid, NULL, job_main, j) != 0)
			return vms_err_set(err, -EAGAIN, "cannot start a thread");
		lv->started++;
		active++;
	}
	return 0;
}

int sc_live_start(sc_live *lv, vms_err *err)
{
	pthread_mutex_lock(&lv->lock);
	lv->seeding = 1;
	pthread_mutex_unlock(&lv->lock);
	lv->t_start = vms_now_ms();
	return start_jobs(lv, err);
}

void sc_live_seeded(sc_live *lv)
{
	pthread_mutex_lock(&lv->lock);
	lv->seeding = 0;
	pthread_cond_broadcast(&lv->cond);
	pthread_mutex_unlock(&lv->lock);
}

int sc_live_run(sc_live *lv, vms_err *err)
{
	const struct sc_live_opts *o = lv->o;
	unsigned nvms = lv->nvms;
	int r = 0;
	if (!lv->t_start)
		lv->t_start = vms_now_ms();
	int64_t deadline = o->timeout_ms > 0 ? lv->t_start + o->timeout_ms : INT64_MAX;
	for (;;) {
		unsigned loaded = 0, failed = 0, finished = 0;
		pthread_mutex_lock(&lv->lock);
		for (unsigned v = 0; v < lv->started; v++) {
			struct job *j = &lv->jobs[v];
			loaded += j->state == JOB_LOADED;
			finished += j->finished;
			if (o->atomic && (j->state == JOB_FAILED || j->state == JOB_ROLLED_BACK) &&
			    !failed++ && r == 0)
				r = vms_err_set(err, -EIO, "%s: %s", sc_index_vm_name(lv->ix, v), j->err.msg);
		}
		pthread_mutex_unlock(&lv->lock);
		report(lv);
		if (r == 0 && o->stop && *o->stop)
			r = vms_err_set(err, -EINTR, "interrupted");
		/* (per VM, a receiver that stops fails its own streams, nobody else's) */
		if (r == 0 && o->atomic)
			r = watch_controls(lv->ctrl, lv->ntargets, lv->targets, err);
		if (r == 0 && vms_now_ms() > deadline)
			r = vms_err_set(err, -ETIMEDOUT, "the live migration took longer than %d s", o->timeout_ms / 1000);
		if (r < 0 || (o->atomic ? loaded == nvms : finished == nvms))
			break;
		if ((r = start_jobs(lv, err)) < 0)
			break;
		usleep(50000);
	}
	/* atomic and every VM loaded: they wait for sc_live_commit */
	if (r < 0 || !o->atomic) {
		decide_and_join(lv, r == 0 ? COMMIT : ROLLBACK);
		if (r == 0)
			r = first_rolled_back(lv, err);
	}
	return r;
}

int sc_live_commit(sc_live *lv, vms_err *err)
{
	if (!lv->joined)
		decide_and_join(lv, COMMIT);
	return first_rolled_back(lv, err);
}

void sc_live_free(sc_live *lv)
{
	if (!lv)
		return;
	if (!lv->joined)
		decide_and_join(lv, ROLLBACK);
	for (unsigned v = 0; v < lv->nvms; v++) {
		struct job *j = &lv->jobs[v];
		sc_lj_free(j);
		vms_conn_close(j->conn);
		if (j->mig >= 0)
			close(j->mig);
		kvm_qmp_close(j->q);
		vms_frames_free(&j->in);
		vms_wbuf_free(&j->out);
		for (unsigned b = 0; b < KVM_MS_BLOCKS_MAX; b++)
			free(j->seen[b]);
		free(j->ring);
		vms_pagez_free(j->z);
	}
	if (lv->journal_fd >= 0)
		close(lv->journal_fd);
	for (unsigned t = 0; lv->loc && t < lv->ntargets; t++)
		free(lv->loc[t]);
	free(lv->loc);
	free(lv->jobs);
	pthread_cond_destroy(&lv->cond);
	pthread_mutex_destroy(&lv->lock);
	free(lv);
}

/* ---- for live_libvirt.c (live_int.h) ----------------------------------------------- */

void sc_lj_set_state(struct job *j, enum job_state s) { set_state(j, s); }
int sc_lj_aborted(struct sc_live *lv) { return aborted(lv); }
int sc_lj_flush(struct job *j, vms_err *err) { return flush(j, err); }
int sc_lj_answer_need(struct job *j, vms_cur *p, vms_err *err) { return answer_need(j, p, err); }
int sc_lj_feed(struct job *j, kvm_ms *ms, const uint8_t *buf, size_t n, vms_err *err)
{
	return feed(j, ms, buf, n, err);
}
int sc_lj_expect(struct job *j, uint8_t want, const char *name, int timeout_ms, vms_cur *p, vms_err *err)
{
	return expect(j, want, name, timeout_ms, p, err);
}
int sc_lj_verify(struct job *j, vms_err *err) { return verify(j, err); }
int sc_lj_ring(struct job *j)
{
	return (j->ring = malloc((size_t)RING_PAGES * KVM_PAGE_SIZE)) ? 0 : -ENOMEM;
}
