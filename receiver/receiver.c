/* receiver.c - the receiver's sessions (see receiver.h, doc/PROTOCOL.md).
 * One session = one TCP connection; its state machine is:
 *   HELLO -> VMS (VM, MAP..., MAPS_END) -> DATA (groups, CONTENT, END) -> done
 * Any message out of place, malformed or over a cap ends the session with an
 * ERROR to the sender and removes every temporary file. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "receiver_int.h"

#define GROUP_QUIET_MS 3000                 /* no multicast progress: report */
#define HANDSHAKE_MS 10000                  /* a TLS handshake, at most */

enum state { ST_HELLO, ST_VMS, ST_DATA, ST_LIVE, ST_DONE };
#define STREAMS_MAX 1024                    /* live stream children per session */
#define STREAM_REFUSED 2                    /* a stream child's exit: not authenticated, nothing started */

struct rvm {
	char name[VMS_WIRE_NAME_MAX];
	uint64_t pages, mapped;
	uint8_t digest[32];
	uint32_t *map;               /* content id per page, 0 = zero */
	int fd;
	char tmp[RC_PART_NAME_MAX];  /* in the out dir; set only once we made it */
	char final[VMS_WIRE_NAME_MAX + 8];
};

struct loc { uint32_t id, vm, page; };

struct session {
	const struct rc_options *o;
	vms_conn *conn;              /* the sender's control connection (TLS) */
	int out_fd, state_fd;        /* o->out_dir, o->state_dir (or out_fd), opened once */
	uint64_t max_vm, max_total;  /* the limits in bytes (o's, or the defaults) */
	unsigned max_vms;
	uint64_t disk_free;          /* free bytes in the out dir at the first VM */
	int lfd;                     /* the listening socket: live streams arrive there */
	uint64_t id;                 /* the sender's session number */
	int live;                    /* LIVE: images are seeds for live streams */
	pid_t kids[STREAMS_MAX];     /* one child per live stream */
	unsigned nkids, kids_failed;
	uint32_t local_ip;
	enum state st;
	vms_frames in;
	vms_wbuf out;
	struct rvm *vms;
	unsigned nvms;
	uint64_t total_pages;
	/* content index, built at MAPS_END: locs sorted by id; ids[k] has
	 * locations locs[off[k] .. off[k+1]) */
	struct loc *locs;
	uint32_t *ids, *off;
	uint8_t *have;
	size_t nids, missing;
	/* the multicast group being received */
	vms_mcast *mc;
	int sealed;                  /* HELLO said so: every group is sealed */
	vms_seal *seal;              /* opens the current group (its MCAST_JOIN's key), or NULL */
	uint32_t group, expect, received;
	uint32_t rejected;           /* multicast messages that failed authentication */
	int group_heard;             /* JOINED sent: the group reaches us */
	int group_ending;
	int64_t last_progress;
	int64_t last_msg;            /* the sender last spoke: a whole message on the control
				      * connection, an authentic multicast message, or (ST_LIVE)
				      * a live stream still running; idle_ms after it, the
				      * session is dropped, in every state */
	uint64_t bytes_in, contents_tcp, contents_mcast;
};

static void logf_(const struct session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const struct session *s, const char *fmt, ...)
{
	if (s->o->quiet)
		return;
	va_list ap;
	fprintf(stderr, "vmscatter receive[%s]: ", s->o->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int flush_out(struct session *s, vms_err *err)
{
	int r = vms_conn_write_all(s->conn, s->out.data, s->out.len);
	vms_wbuf_reset(&s->out);
	return r < 0 ? vms_err_set(err, r, "sending to the sender: %s", strerror(-r)) : 0;
}

/* ---- content ------------------------------------------------------------------ */

static int cmp_loc(const void *a, const void *b)
{
	const struct loc *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	return x->page < y->page ? -1 : x->page > y->page;
}

static int build_index(struct session *s, vms_err *err)
{
	size_t n = 0;
	for (unsigned v = 0; v < s->nvms; v++)
		for (uint64_t p = 0; p < s->vms[v].pages; p++)
			n += s->vms[v].map[p] != 0;
	s->locs = malloc((n ? n : 1) * sizeof(*s->locs));
	if (!s->locs)
		return vms_err_set(err, -ENOMEM, "out of memory for %zu page locations", n);
	size_t k = 0;
	for (unsigned v = 0; v < s->nvms; v++)
		for (uint64_t p = 0; p < s->vms[v].pages; p++)
			if (s->vms[v].map[p])
				s->locs[k++] = (struct loc){ s->vms[v].map[p], v, (uint32_t)p };
	qsort(s->locs, n, sizeof(*s->locs), cmp_loc);
	s->ids = malloc((n ? n : 1) * sizeof(*s->ids));
	s->off = malloc((n + 1) * sizeof(*s->off));
	if (!s->ids || !s->off)
		return vms_err_set(err, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (i == 0 || s->locs[i].id != s->locs[i - 1].id) {
			s->ids[s->nids] = s->locs[i].id;
			s->off[s->nids++] = (uint32_t)i;
		}
	s->off[s->nids] = (uint32_t)n;
	s->have = calloc(s->nids ? s->nids : 1, 1);
	if (!s->have)
		return vms_err_set(err, -ENOMEM, "out of memory");
	s->missing = s->nids;
	/* the maps are in the index now */
	for (unsigned v = 0; v < s->nvms; v++) {
		free(s->vms[v].map);
		s->vms[v].map = NULL;
	}
	return 0;
}

/* Write one content into every page that holds it; unknown contents are
 * ignored (a multicast group may carry what another receiver needs). */
static int store(struct session *s, uint32_t id, const uint8_t *page, vms_err *err)
{
	size_t lo = 0, hi = s->nids;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->ids[mid] < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == s->nids || s->ids[lo] != id || s->have[lo])
		return 0;
	for (uint32_t k = s->off[lo]; k < s->off[lo + 1]; k++) {
		struct rvm *v = &s->vms[s->locs[k].vm];
		off_t at = (off_t)s->locs[k].page * VMS_WIRE_PAGE;
		if (pwrite(v->fd, page, VMS_WIRE_PAGE, at) != (ssize_t)VMS_WIRE_PAGE)
			return vms_err_set(err, errno ? -errno : -EIO, "%s: write: %s", v->tmp,
					   strerror(errno ? errno : EIO));
	}
	s->have[lo] = 1;
	s->missing--;
	return 0;
}

/* ---- multicast ----------------------------------------------------------------- */

static int mcast_drain(struct session *s, int *wait_ms, vms_err *err)
{
	uint8_t buf[VMS_MCAST_MSG_MAX];
	*wait_ms = -1;
	for (int i = 0; s->mc && i < 4096; i++) {
		size_t len;
		int r = vms_mcast_recv(s->mc, buf, sizeof(buf), &len, wait_ms, err);
		if (r < 0)
			return r;
		if (r == 0)
			return 0;
		if (r == 2) {
			logf_(s, "group %u: multicast data lost for good; it will come by unicast", s->group);
			continue;
		}
		if (r == 3) {                /* failed authentication: another host's, or forged */
			if (s->rejected++ == 0)
				logf_(s, "group %u: dropped a multicast message that failed authentication", s->group);
			continue;
		}
		s->last_msg = vms_now_ms();  /* authentic: the sender speaks by multicast */
		if (!s->group_heard) {       /* the first message of any kind */
			s->group_heard = 1;
			r = vms_msg_u32_put(&s->out, VMS_MSG_JOINED, s->group);
			if (r < 0)
				return vms_err_set(err, r, "out of memory");
			r = flush_out(s, err);
			if (r < 0)
				return r;
		}
		vms_cur c;
		uint32_t id;
		const uint8_t *page;
		uint8_t scratch[VMS_WIRE_PAGE];
		vms_cur_init(&c, buf, len);
		if (vms_msg_content_get(&c, &id, scratch, &page) < 0)
			continue;            /* a hello, or not ours to trust: ignore */
		if (s->contents_mcast++ == 0 && vms_fault("receiver:seeding"))
			return vms_err_set(err, -ECONNABORTED, "fault point %s: connection dropped (VMS_FAULT)", "receiver:seeding");
		s->received++;
		s->last_progress = vms_now_ms();
		r = store(s, id, page, err);
		if (r < 0)
			return r;
	}
	*wait_ms = 0;
	return 0;
}

static int group_finish(struct session *s, vms_err *err)
{
	struct vms_msg_group_done d = { s->group, s->received, s->rejected };
	logf_(s, "group %u: %u of %u messages, %llu PGM repairs (RDATA) received, %u that failed authentication dropped",
	      s->group, s->received, s->expect, (unsigned long long)vms_mcast_repaired(s->mc), s->rejected);
	vms_mcast_close(s->mc);
	s->mc = NULL;
	s->group_ending = 0;
	int r = vms_msg_group_done_put(&s->out, &d);
	return r < 0 ? vms_err_set(err, r, "out of memory") : flush_out(s, err);
}

/* ---- finishing ------------------------------------------------------------------- */

/* SHA-256 of the image's `size` bytes. Holes (pages nobody wrote: zero
 * pages) are not read, only hashed from a zero buffer (SEEK_DATA/SEEK_HOLE;
 * where the file system cannot say, everything is read). */
static int image_digest(const char *name, int fd, uint64_t size, uint8_t *out, vms_err *err)
{
	static const uint8_t zeros[1 << 16];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1 << 20);
	int r = 0;
	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = vms_err_set(err, -ENOMEM, "SHA-256: cannot start");
		goto out;
	}
	for (off_t at = 0, end = (off_t)size; at < end;) {
		off_t data = lseek(fd, at, SEEK_DATA), hole = end;
		if (data < 0)
			data = errno == ENXIO ? end : at;    /* only holes left; or no SEEK_DATA */
		if (data > end)
			data = end;
		while (at < data) {
			size_t n = data - at < (off_t)sizeof(zeros) ? (size_t)(data - at) : sizeof(zeros);
			EVP_DigestUpdate(ctx, zeros, n);
			at += (off_t)n;
		}
		if (at < end && (hole = lseek(fd, at, SEEK_HOLE)) < 0)
			hole = end;
		while (at < hole && at < end) {
			size_t want = hole - at < (off_t)(1 << 20) ? (size_t)(hole - at) : (size_t)(1 << 20);
			ssize_t got = pread(fd, buf, want, at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				r = vms_err_set(err, got < 0 ? -errno : -EIO, "%s: read: %s", name,
						got < 0 ? strerror(errno) : "short file");
				goto out;
			}
			EVP_DigestUpdate(ctx, buf, (size_t)got);
			at += got;
		}
	}
	unsigned len = 32;
	EVP_DigestFinal_ex(ctx, out, &len);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

static int finish(struct session *s, vms_err *err)
{
	int r = 0;
	for (unsigned v = 0; v < s->nvms && !s->live; v++) {
		struct rvm *vm = &s->vms[v];
		uint8_t d[32];
		r = image_digest(vm->name, vm->fd, vm->pages * VMS_WIRE_PAGE, d, err);
		if (r < 0)
			return r;
		if (memcmp(d, vm->digest, 32) != 0)
			return vms_err_set(err, -EIO, "%s: the rebuilt image differs from the source (SHA-256)",
					   vm->name);
		if (fsync(vm->fd) < 0)
			return vms_err_set(err, -errno, "%s/%s: fsync: %s", s->o->out_dir, vm->tmp, strerror(errno));
	}
	for (unsigned v = 0; v < s->nvms && !s->live; v++) {
		struct rvm *vm = &s->vms[v];
		/* never over an image that is there, unless --force */
		if ((r = rc_part_publish(s->out_fd, s->o->out_dir, vm->tmp, vm->final, s->o->force, err)) < 0)
			return r;
		vm->tmp[0] = '\0';
		logf_(s, "%s/%s: %llu pages written and verified", s->o->out_dir, vm->final,
		      (unsigned long long)vm->pages);
	}
	uint8_t *sha = calloc(s->nvms ? s->nvms : 1, 32);     /* DONE: the digests, VM 0 first */
	for (unsigned v = 0; sha && v < s->nvms; v++)
		memcpy(sha + (size_t)v * 32, s->vms[v].digest, 32);
	r = sha ? vms_msg_done_put(&s->out, sha, s->nvms) : -ENOMEM;
	free(sha);
	if (r < 0)
		return vms_err_set(err, r, "out of memory");
	/* a live session goes on: its seeds stay (as temporary files) for the streams */
	s->st = s->live ? ST_LIVE : ST_DONE;
	if (s->live)
		logf_(s, "seeds of %u VMs in place; waiting for the migration streams", s->nvms);
	return flush_out(s, err);
}

static int send_missing(struct session *s, vms_err *err)
{
	size_t left = s->missing, k = 0;
	uint32_t *chunk = malloc((left < VMS_WIRE_IDS_MAX ? left : VMS_WIRE_IDS_MAX) * sizeof(*chunk));
	int r = chunk ? 0 : vms_err_set(err, -ENOMEM, "out of memory");
	logf_(s, "asking for %zu missing contents", left);
	while (r == 0 && left > 0) {          /* MISSING messages of <= VMS_WIRE_IDS_MAX ids */
		uint32_t n = 0;
		for (; n < VMS_WIRE_IDS_MAX && n < left; k++)
			if (!s->have[k])
				chunk[n++] = s->ids[k];
		left -= n;
		r = vms_msg_missing_put(&s->out, left == 0, chunk, n);
		r = r < 0 ? vms_err_set(err, r, "out of memory") : flush_out(s, err);
	}
	free(chunk);
	return r;
}

/* ---- messages --------------------------------------------------------------------- */

static int bad(vms_err *err, const char *what)
{
	return vms_err_set(err, -EBADMSG, "malformed or misplaced %s message", what);
}

static int on_vm(struct session *s, vms_cur *p, vms_err *err)
{
	struct vms_msg_vm m;
	int r;
	if (s->st != ST_VMS || vms_msg_vm_get(p, &m) < 0 || m.vm != s->nvms)
		return bad(err, "VM");
	for (unsigned v = 0; v < s->nvms; v++)
		if (strcmp(s->vms[v].name, m.name) == 0)
			return vms_err_set(err, -EBADMSG, "VM %s announced twice", m.name);
	if (!vms_name_valid(m.name, strlen(m.name), VMS_WIRE_NAME_MAX))   /* (the decoder checks it too) */
		return vms_err_set(err, -EINVAL, "VM name '%s' is not allowed", m.name);
	/* this receiver's limits, before anything is allocated or created */
	uint64_t bytes = m.pages * VMS_WIRE_PAGE, total = (s->total_pages + m.pages) * VMS_WIRE_PAGE;
	struct stat st;
	if (s->nvms >= s->max_vms)
		return vms_err_set(err, -E2BIG, "more than %u VMs in one session (this receiver's --max-vms)",
				   s->max_vms);
	if (bytes > s->max_vm)
		return vms_err_set(err, -EFBIG, "VM %s: %llu bytes of memory, more than this receiver's "
				   "--max-memory (%llu)", m.name, (unsigned long long)bytes,
				   (unsigned long long)s->max_vm);
	if (total > s->max_total)
		return vms_err_set(err, -EFBIG, "the session's VMs would hold %llu bytes, more than this receiver's "
				   "--max-session-memory (%llu)", (unsigned long long)total,
				   (unsigned long long)s->max_total);
	if (s->nvms == 0 && (r = rc_dir_free(s->out_fd, &s->disk_free)) < 0)
		return vms_err_set(err, r, "%s: statvfs: %s", s->o->out_dir, strerror(-r));
	if (total > s->disk_free)
		return vms_err_set(err, -ENOSPC, "the session's VMs need %llu bytes in %s, which has %llu free",
				   (unsigned long long)total, s->o->out_dir, (unsigned long long)s->disk_free);
	char final[sizeof(s->vms->final)];
	snprintf(final, sizeof(final), "%s.img", m.name);
	if (!s->live && !s->o->force && fstatat(s->out_fd, final, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return vms_err_set(err, -EEXIST, "%s/%s exists: this receiver does not replace an image "
				   "(run it with --force to allow that)", s->o->out_dir, final);
	struct rvm *nv = realloc(s->vms, (s->nvms + 1) * sizeof(*nv));
	if (!nv)
		return vms_err_set(err, -ENOMEM, "out of memory");
	s->vms = nv;
	struct rvm *v = &s->vms[s->nvms];
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	memcpy(v->name, m.name, sizeof(m.name));
	memcpy(v->digest, m.sha256, 32);
	v->pages = m.pages;
	s->nvms++;
	s->total_pages += m.pages;
	v->map = calloc(m.pages, sizeof(*v->map));
	if (!v->map)
		return vms_err_set(err, -ENOMEM, "%s: out of memory for %llu pages", m.name,
				   (unsigned long long)m.pages);
	memcpy(v->final, final, sizeof(final));
	if ((r = rc_part_create(s->out_fd, s->o->out_dir, m.name, v->tmp, &v->fd, err)) < 0)
		return r;
	if (ftruncate(v->fd, (off_t)bytes) < 0)
		return vms_err_set(err, -errno, "%s/%s: %s", s->o->out_dir, v->tmp, strerror(errno));
	logf_(s, "VM %s: %llu pages", m.name, (unsigned long long)m.pages);
	return 0;
}

static int on_map(struct session *s, vms_cur *p, vms_err *err)
{
	uint32_t vm, count;
	uint64_t first;
	uint8_t kind;
	vms_cur ids;
	if (s->st != ST_VMS || vms_msg_map_get(p, &vm, &first) < 0 || vm >= s->nvms)
		return bad(err, "MAP");
	struct rvm *v = &s->vms[vm];
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

static int on_message(struct session *s, uint8_t type, vms_cur *p, vms_err *err)
{
	int r = 0;
	uint32_t u;
	switch (type) {
	case VMS_MSG_HELLO: {
		struct vms_msg_hello h;
		struct vms_msg_welcome w = { VMS_WIRE_VERSION, "" };
		if (s->st == ST_HELLO && (r = vms_msg_hello_get(p, &h)) == -EPROTONOSUPPORT)
			return vms_err_set(err, r, "the sender speaks another wire protocol version than "
					   "this receiver (%u): run the same vmscatter on both sides", VMS_WIRE_VERSION);
		if (s->st != ST_HELLO || r < 0)
			return bad(err, "HELLO");
		if (s->o->tls && !(h.flags & VMS_HELLO_SEALED))
			return vms_err_set(err, -EPROTO, "the sender does not seal its multicast (an --insecure "
					   "sender): this receiver runs with --tls-creds");
		s->sealed = (h.flags & VMS_HELLO_SEALED) != 0;
		snprintf(w.name, sizeof(w.name), "%s", s->o->name);
		logf_(s, "session %016llx from the sender, as target %s", (unsigned long long)h.session, h.target);
		s->id = h.session;
		s->st = ST_VMS;
		r = vms_msg_welcome_put(&s->out, &w);
		return r < 0 ? vms_err_set(err, r, "out of memory") : flush_out(s, err);
	}
	case VMS_MSG_OUTCOME: {          /* a source guard asks, instead of a session */
		uint64_t sess;
		uint32_t vm;
		if (s->st != ST_HELLO || vms_msg_outcome_get(p, &sess, &vm) < 0)
			return bad(err, "OUTCOME");
		enum vms_outcome oc = rc_outcome(s->state_fd, s->o->state_dir ? s->o->state_dir : s->o->out_dir,
						 sess, vm);
		static const char *const words[] = { "not settled yet", "committed", "rolled back" };
		logf_(s, "a source guard asked about VM %u of session %016llx: %s", vm, (unsigned long long)sess,
		      words[oc]);
		s->st = ST_DONE;
		r = vms_msg_outcome_is_put(&s->out, oc);
		return r < 0 ? vms_err_set(err, r, "out of memory") : flush_out(s, err);
	}
	case VMS_MSG_LIVE:
		if (s->st != ST_VMS || s->nvms || s->live || vms_msg_empty_get(p) < 0)
			return bad(err, "LIVE");
		s->live = 1;
		return 0;
	case VMS_MSG_LIVE_END:
		if (s->st != ST_LIVE || vms_msg_empty_get(p) < 0)
			return bad(err, "LIVE_END");
		s->st = ST_DONE;
		return 0;
	case VMS_MSG_VM:
		return on_vm(s, p, err);
	case VMS_MSG_MAP:
		return on_map(s, p, err);
	case VMS_MSG_MAPS_END:
		/* a target the plan left empty still completes its session */
		if (s->st != ST_VMS || vms_msg_empty_get(p) < 0)
			return bad(err, "MAPS_END");
		for (unsigned v = 0; v < s->nvms; v++)
			if (s->vms[v].mapped != s->vms[v].pages)
				return vms_err_set(err, -EBADMSG, "MAPS_END before all of %s was mapped", s->vms[v].name);
		r = build_index(s, err);
		if (r == 0) {
			s->st = ST_DATA;
			logf_(s, "%zu distinct contents to receive", s->nids);
		}
		return r;
	case VMS_MSG_MCAST_JOIN: {
		struct vms_msg_join j;
		if (s->st != ST_DATA || s->mc || vms_msg_join_get(p, &j) < 0)
			return bad(err, "MCAST_JOIN");
		/* sealed: the group's own key, which only its members get */
		vms_seal_free(s->seal);
		s->seal = NULL;
		r = s->sealed ? vms_seal_new(j.key, s->id, &s->seal, err) : 0;
		OPENSSL_cleanse(j.key, sizeof(j.key));
		if (r == 0)
			r = vms_mcast_receiver(s->local_ip, j.addr, j.port, &s->mc, err);
		if (r == 0 && s->seal)
			r = vms_mcast_seal(s->mc, s->seal, j.group, err);
		if (r < 0)
			return r;
		s->group = j.group;
		s->expect = j.messages;
		s->received = 0;
		s->rejected = 0;
		s->group_heard = 0;          /* JOINED goes out with the first message heard */
		s->last_progress = vms_now_ms();
		return 0;
	}
	case VMS_MSG_MCAST_END:
		if (s->st != ST_DATA || !s->mc || vms_msg_u32_get(p, &u) < 0 || u != s->group)
			return bad(err, "MCAST_END");
		s->group_ending = 1;
		s->last_progress = vms_now_ms();
		return 0;
	case VMS_MSG_CONTENT: {
		const uint8_t *page;
		uint8_t scratch[VMS_WIRE_PAGE];
		if (s->st != ST_DATA || vms_msg_content_get(p, &u, scratch, &page) < 0)
			return bad(err, "CONTENT");
		s->contents_tcp++;
		return store(s, u, page, err);
	}
	case VMS_MSG_END:
		if (s->st != ST_DATA || s->mc || vms_msg_empty_get(p) < 0)
			return bad(err, "END");
		/* live: the seeds are what came; MISSING tells the sender what did not */
		if (s->missing && (r = send_missing(s, err)) < 0)
			return r;
		return s->missing && !s->live ? 0 : finish(s, err);
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

/* ---- a session ----------------------------------------------------------------------- */

/* Reap finished stream children; with `wait`, all of them. */
static void reap_kids(struct session *s, int wait)
{
	for (unsigned i = 0; i < s->nkids;) {
		int status;
		pid_t r = waitpid(s->kids[i], &status, wait ? 0 : WNOHANG);
		if (r == 0 || (r < 0 && errno == EINTR)) {
			i++;
			continue;
		}
		/* a connection that never authenticated (exit STREAM_REFUSED)
		 * is nobody's stream: it fails nothing */
		if (r > 0 && !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == STREAM_REFUSED)))
			s->kids_failed++;
		if (r > 0 && WIFSIGNALED(status))   /* killed: its target guard killed the target */
			rc_vmdir_sweep(s->state_fd, (long)r);
		s->kids[i] = s->kids[--s->nkids];
	}
}

static void session_free(struct session *s)
{
	for (unsigned i = 0; i < s->nkids; i++)
		kill(s->kids[i], SIGTERM);       /* each rolls its target back */
	reap_kids(s, 1);
	for (unsigned v = 0; v < s->nvms; v++) {
		if (s->vms[v].fd >= 0)
			close(s->vms[v].fd);
		if (s->vms[v].tmp[0])            /* never leave a partial image (only ours) */
			unlinkat(s->out_fd, s->vms[v].tmp, 0);
		free(s->vms[v].map);
	}
	free(s->vms);
	free(s->locs);
	free(s->ids);
	free(s->off);
	free(s->have);
	vms_mcast_close(s->mc);
	vms_seal_free(s->seal);
	vms_frames_free(&s->in);
	vms_wbuf_free(&s->out);
	vms_conn_close(s->conn);
	if (s->state_fd >= 0 && s->state_fd != s->out_fd)
		close(s->state_fd);
	if (s->out_fd >= 0)
		close(s->out_fd);
}

/* A stream process told to end (SIGTERM: its session failed, or its receiver
 * died) drops its connection, so it rolls its target back as for a sender
 * that went away (STATE/NAME/ emptied, the journal says rolled-back), instead
 * of dying with its directory left behind. */
static volatile sig_atomic_t stream_fd = -1;
static void stream_term(int sig)
{
	(void)sig;
	if (stream_fd >= 0)
		shutdown(stream_fd, SHUT_RDWR);
}

/* A live stream connection: serve it in a child process, which rolls back
 * when the receiver dies (its target guard kills the target QEMU if not). */
static int accept_stream(struct session *s, vms_err *err)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : vms_err_set(err, -errno, "accept: %s", strerror(errno));
	if (s->nkids == STREAMS_MAX) {           /* (maybe unauthenticated ones): drop it, not the session */
		close(fd);
		logf_(s, "dropped a stream connection: %u are open already", STREAMS_MAX);
		return 0;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fd);
		return vms_err_set(err, -errno, "fork: %s", strerror(errno));
	}
	if (pid > 0) {
		close(fd);
		s->kids[s->nkids++] = pid;
		return 0;
	}
	stream_fd = fd;
	struct sigaction sa = { .sa_handler = stream_term };   /* (no SA_RESTART: I/O returns) */
	sigaction(SIGTERM, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	char sender[200];                    /* the control connection's certificate subject */
	snprintf(sender, sizeof(sender), "%s", vms_conn_subject(s->conn));
	vms_conn_forget(s->conn);            /* the parent's: never touched here */
	close(s->lfd);
	vms_err e = { 0 };
	vms_conn *conn = NULL;
	if (vms_conn_accept(s->o->tls, fd, HANDSHAKE_MS, &conn, &e) < 0) {
		logf_(s, "refused a stream connection: %s", e.msg);
		_exit(STREAM_REFUSED);
	}
	if (strcmp(vms_conn_subject(conn), sender) != 0) {   /* the session's own sender only */
		logf_(s, "refused a stream connection from '%s': the session's sender is '%s'",
		      vms_conn_subject(conn), sender);
		vms_conn_close(conn);
		_exit(STREAM_REFUSED);
	}
	struct rc_seed *seeds = calloc(s->nvms ? s->nvms : 1, sizeof(*seeds));
	if (!seeds)
		_exit(1);
	for (unsigned v = 0; v < s->nvms; v++) {
		memcpy(seeds[v].name, s->vms[v].name, sizeof(seeds[v].name));
		seeds[v].fd = s->vms[v].fd;
		seeds[v].pages = s->vms[v].pages;
	}
	struct rc_stream_ctx c = {
		.receiver = s->o->name, .state_dir = s->o->state_dir ? s->o->state_dir : s->o->out_dir,
		.state_fd = s->state_fd, .qemu_bin = s->o->qemu_bin, .session = s->id, .quiet = s->o->quiet,
		.shared_paths = s->o->shared_paths, .nshared = s->o->nshared, .run_as = s->o->run_as,
		.idle_ms = s->o->idle_ms, .seeds = seeds, .nseeds = s->nvms,
	};
	int r = rc_stream(&c, conn, &e);
	vms_conn_close(conn);
	_exit(r == 0 ? 0 : 1);
}

static int run_session(struct session *s, vms_err *err)
{
	uint8_t buf[1 << 16];
	int r = 0;
	s->last_msg = vms_now_ms();
	while (s->st != ST_DONE) {
		struct pollfd fds[5] = { { .fd = vms_conn_fd(s->conn), .events = POLLIN } };
		int n = 1, wait = 1000;
		if (s->st == ST_LIVE) {
			fds[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			reap_kids(s, 0);
			if (s->nkids)            /* a live stream is the traffic; without one, */
				s->last_msg = vms_now_ms();  /* the control connection must speak */
		}
		if (s->mc) {
			int more = 4;
			r = mcast_drain(s, &wait, err);
			if (r < 0)
				return r;
			if (s->group_ending && (s->received >= s->expect ||
						vms_now_ms() - s->last_progress > GROUP_QUIET_MS)) {
				r = group_finish(s, err);
				if (r < 0)
					return r;
				continue;
			}
			if (s->mc && vms_mcast_pollfds(s->mc, fds + 1, &more) == 0)
				n += more;
			if (wait < 0 || wait > 200)
				wait = 200;
		}
		if (vms_conn_pending(s->conn))
			wait = 0;                /* TLS holds bytes poll cannot see */
		if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR)
			return vms_err_set(err, -errno, "poll: %s", strerror(errno));
		if (s->st == ST_LIVE && (fds[1].revents & POLLIN) && (r = accept_stream(s, err)) < 0)
			return r;
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !vms_conn_pending(s->conn)) {
			if (vms_now_ms() - s->last_msg > s->o->idle_ms)
				return vms_err_set(err, -ETIMEDOUT, "the sender said nothing for %d s", s->o->idle_ms / 1000);
			continue;
		}
		ssize_t got = vms_conn_read(s->conn, buf, sizeof(buf));
		if (got == 0)
			continue;
		if (got == -ECONNRESET)
			return vms_err_set(err, -ECONNRESET, "the sender went away before the end of the session");
		if (got < 0)
			return vms_err_set(err, (int)got, "receiving from the sender: %s",
					   vms_conn_strerror(s->conn, (int)got));
		s->bytes_in += (uint64_t)got;
		r = vms_frames_feed(&s->in, buf, (size_t)got);
		if (r < 0)
			return vms_err_set(err, r, "out of memory");
		uint8_t type;
		vms_cur p;
		while (s->st != ST_DONE && (r = vms_frames_next(&s->in, &type, &p)) == 1) {
			r = on_message(s, type, &p, err);
			if (r < 0)
				return r;
			s->last_msg = vms_now_ms();  /* whole messages only: a trickle is silence */
		}
		if (r < 0)
			return vms_err_set(err, r, "bad frame from the sender (length out of range)");
		if (s->st != ST_DONE && vms_now_ms() - s->last_msg > s->o->idle_ms)
			return vms_err_set(err, -ETIMEDOUT, "the sender sent no whole message for %d s",
					   s->o->idle_ms / 1000);
	}
	reap_kids(s, 1);                     /* LIVE_END: every stream has ended */
	if (s->kids_failed)
		return vms_err_set(err, -EIO, "%u live streams were rolled back", s->kids_failed);
	return 0;
}

static int listen_on(const struct rc_options *o, vms_err *err)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;
	if (fd < 0)
		return vms_err_set(err, -errno, "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(o->port),
				  .sin_addr.s_addr = htonl(o->listen_ip) };
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4) < 0) {
		int e = errno;
		close(fd);
		return vms_err_set(err, -e, "listen on port %u: %s", o->port, strerror(e));
	}
	return fd;
}

/* Remove partial images that a receiver killed outright left behind
 * (".NAME.img.part-PID" whose PID is gone). */
int rc_session(const struct rc_options *o, vms_conn *conn, int lfd, uint32_t local_ip, vms_err *err)
{
	struct session s = {
		.o = o, .conn = conn, .lfd = lfd, .local_ip = local_ip, .out_fd = -1, .state_fd = -1,
		.max_vm = o->max_vm_bytes ? o->max_vm_bytes : RC_MAX_VM_BYTES_DEFAULT,
		.max_total = o->max_session_bytes ? o->max_session_bytes : RC_MAX_SESSION_BYTES_DEFAULT,
		.max_vms = o->max_vms ? o->max_vms : RC_MAX_VMS_DEFAULT,
	};
	/* every file of the session is made relative to these */
	int r = rc_dir_open(o->out_dir, &s.out_fd, err);
	if (r == 0 && o->state_dir && strcmp(o->state_dir, o->out_dir) != 0)
		r = rc_dir_open(o->state_dir, &s.state_fd, err);
	else
		s.state_fd = s.out_fd;
	if (r == 0)
		rc_outcome_prune(s.state_fd);
	if (r == 0)
		r = run_session(&s, err);
	if (r < 0) {
		logf_(&s, "session failed: %s", err->msg);
		vms_wbuf_reset(&s.out);
		if (vms_msg_error_put(&s.out, err->msg) == 0)
			vms_conn_write_all(s.conn, s.out.data, s.out.len);
	} else {
		logf_(&s, "session done: %llu bytes in, %llu contents by multicast, %llu by unicast",
		      (unsigned long long)s.bytes_in, (unsigned long long)s.contents_mcast,
		      (unsigned long long)s.contents_tcp);
	}
	session_free(&s);                    /* closes conn */
	return r;
}

int rc_serve(const struct rc_options *o, vms_err *err)
{
	int dfd, sfd, e = rc_dir_open(o->out_dir, &dfd, err);
	if (e < 0)
		return e;
	if (o->state_dir && (e = rc_dir_open(o->state_dir, &sfd, err)) < 0) {
		close(dfd);
		return e;
	}
	if (o->state_dir)
		close(sfd);
	rc_sweep_parts(dfd, o->out_dir, o->quiet, o->name);
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
			if (!o->quiet)
				fprintf(stderr, "vmscatter receive[%s]: refused a connection from %s: %s\n", o->name,
					ip, serr.msg);
			continue;
		}
		if (!o->quiet)
			fprintf(stderr, "vmscatter receive[%s]: %s connection from %s\n", o->name,
				vms_conn_kind(conn), vms_conn_peer(conn));
		r = rc_session(o, conn, lfd, ntohl(local.sin_addr.s_addr), &serr);
		if (r < 0 && err)
			*err = serr;
		if (o->once)
			break;
	}
	close(lfd);
	return r;
}
