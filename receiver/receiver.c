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

#include <openssl/evp.h>

#include "receiver_int.h"

#define MSG_MAX_PAGES_TOTAL (1ull << 34)     /* 64 TiB per session */
#define GROUP_QUIET_MS 3000                 /* no multicast progress: report */

enum state { ST_HELLO, ST_VMS, ST_DATA, ST_LIVE, ST_DONE };
#define STREAMS_MAX 1024                    /* live stream children per session */

struct rvm {
	char name[VMS_WIRE_NAME_MAX];
	uint64_t pages, mapped;
	uint8_t digest[32];
	uint32_t *map;               /* content id per page, 0 = zero */
	int fd;
	char tmp[4200], final[4200];
};

struct loc { uint32_t id, vm, page; };

struct session {
	const struct rc_options *o;
	int fd;
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
	uint32_t group, expect, received;
	int group_heard;             /* JOINED sent: the group reaches us */
	int group_ending;
	int64_t last_progress;
	int64_t last_msg;
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
	int r = vms_write_all(s->fd, s->out.data, s->out.len);
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
		s->received++;
		s->contents_mcast++;
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
	struct vms_msg_group_done d = { s->group, s->received };
	logf_(s, "group %u: %u of %u messages", s->group, s->received, s->expect);
	vms_mcast_close(s->mc);
	s->mc = NULL;
	s->group_ending = 0;
	int r = vms_msg_group_done_put(&s->out, &d);
	return r < 0 ? vms_err_set(err, r, "out of memory") : flush_out(s, err);
}

/* ---- finishing ------------------------------------------------------------------- */

static int image_digest(const char *path, int fd, uint8_t *out, vms_err *err)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1 << 20);
	int r = 0;
	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = vms_err_set(err, -ENOMEM, "SHA-256: cannot start");
		goto out;
	}
	for (off_t at = 0;;) {
		ssize_t got = pread(fd, buf, 1 << 20, at);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = vms_err_set(err, -errno, "%s: read: %s", path, strerror(errno));
			goto out;
		}
		if (got == 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)got);
		at += got;
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
	size_t start;
	int r = 0;
	for (unsigned v = 0; v < s->nvms && !s->live; v++) {
		struct rvm *vm = &s->vms[v];
		uint8_t d[32];
		r = image_digest(vm->tmp, vm->fd, d, err);
		if (r < 0)
			return r;
		if (memcmp(d, vm->digest, 32) != 0)
			return vms_err_set(err, -EIO, "%s: the rebuilt image differs from the source (SHA-256)",
					   vm->name);
		if (fsync(vm->fd) < 0)
			return vms_err_set(err, -errno, "%s: fsync: %s", vm->tmp, strerror(errno));
	}
	for (unsigned v = 0; v < s->nvms && !s->live; v++) {
		struct rvm *vm = &s->vms[v];
		if (rename(vm->tmp, vm->final) < 0)
			return vms_err_set(err, -errno, "%s: %s", vm->final, strerror(errno));
		vm->tmp[0] = '\0';
		logf_(s, "%s: %llu pages written and verified", vm->final, (unsigned long long)vm->pages);
	}
	r = vms_frame_begin(&s->out, VMS_MSG_DONE, &start);
	if (r == 0)
		r = vms_wbuf_be32(&s->out, s->nvms);
	for (unsigned v = 0; v < s->nvms && r == 0; v++) {
		r = vms_wbuf_be32(&s->out, v);
		if (r == 0)
			r = vms_wbuf_bytes(&s->out, s->vms[v].digest, 32);
	}
	if (r == 0)
		r = vms_frame_end(&s->out, start);
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
	int r = 0;
	logf_(s, "asking for %zu missing contents", left);
	while (r == 0) {
		uint32_t n = left > VMS_WIRE_IDS_MAX ? VMS_WIRE_IDS_MAX : (uint32_t)left;
		size_t start;
		r = vms_frame_begin(&s->out, VMS_MSG_MISSING, &start);
		if (r == 0)
			r = vms_wbuf_u8(&s->out, n == left);
		if (r == 0)
			r = vms_wbuf_be32(&s->out, n);
		for (uint32_t i = 0; i < n && r == 0; k++)
			if (!s->have[k]) {
				r = vms_wbuf_be32(&s->out, s->ids[k]);
				i++;
			}
		if (r == 0)
			r = vms_frame_end(&s->out, start);
		if (r < 0)
			return vms_err_set(err, r, "out of memory");
		r = flush_out(s, err);
		left -= n;
		if (left == 0)
			break;
	}
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
	if (s->st != ST_VMS || vms_msg_vm_get(p, &m) < 0 || m.vm != s->nvms)
		return bad(err, "VM");
	for (unsigned v = 0; v < s->nvms; v++)
		if (strcmp(s->vms[v].name, m.name) == 0)
			return vms_err_set(err, -EBADMSG, "VM %s announced twice", m.name);
	if (s->total_pages + m.pages > MSG_MAX_PAGES_TOTAL)
		return vms_err_set(err, -E2BIG, "the session's VMs exceed %llu pages",
				   (unsigned long long)MSG_MAX_PAGES_TOTAL);
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
	snprintf(v->final, sizeof(v->final), "%s/%s.img", s->o->out_dir, m.name);
	snprintf(v->tmp, sizeof(v->tmp), "%s/.%s.img.part-%d", s->o->out_dir, m.name, (int)getpid());
	v->fd = open(v->tmp, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (v->fd < 0) {
		int e = errno;
		v->tmp[0] = '\0';
		return vms_err_set(err, -e, "%s/.%s.img.part: %s", s->o->out_dir, m.name, strerror(e));
	}
	if (ftruncate(v->fd, (off_t)(m.pages * VMS_WIRE_PAGE)) < 0)
		return vms_err_set(err, -errno, "%s: %s", v->tmp, strerror(errno));
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
		snprintf(w.name, sizeof(w.name), "%s", s->o->name);
		logf_(s, "session %016llx from the sender, as target %s", (unsigned long long)h.session, h.target);
		s->id = h.session;
		s->st = ST_VMS;
		r = vms_msg_welcome_put(&s->out, &w);
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
		r = vms_mcast_receiver(s->local_ip, j.addr, j.port, &s->mc, err);
		if (r < 0)
			return r;
		s->group = j.group;
		s->expect = j.messages;
		s->received = 0;
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
		if (r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
			s->kids_failed++;
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
		if (s->vms[v].tmp[0])
			unlink(s->vms[v].tmp);       /* never leave a partial image */
		free(s->vms[v].map);
	}
	free(s->vms);
	free(s->locs);
	free(s->ids);
	free(s->off);
	free(s->have);
	vms_mcast_close(s->mc);
	vms_frames_free(&s->in);
	vms_wbuf_free(&s->out);
	if (s->fd >= 0)
		close(s->fd);
}

/* A live stream connection: serve it in a child process, which dies with
 * the receiver (its target QEMU then fails to load and exits). */
static int accept_stream(struct session *s, vms_err *err)
{
	int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN ? 0 : vms_err_set(err, -errno, "accept: %s", strerror(errno));
	if (s->nkids == STREAMS_MAX) {
		close(fd);
		return vms_err_set(err, -EMFILE, "more than %u live streams in one session", STREAMS_MAX);
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
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGTERM, SIG_DFL);
	close(s->fd);
	close(s->lfd);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
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
		.qemu_bin = s->o->qemu_bin, .session = s->id, .quiet = s->o->quiet,
		.idle_ms = s->o->idle_ms, .seeds = seeds, .nseeds = s->nvms,
	};
	vms_err e = { 0 };
	_exit(rc_stream(&c, fd, &e) == 0 ? 0 : 1);
}

static int run_session(struct session *s, vms_err *err)
{
	uint8_t buf[1 << 16];
	int r = 0;
	s->last_msg = vms_now_ms();
	while (s->st != ST_DONE) {
		struct pollfd fds[5] = { { .fd = s->fd, .events = POLLIN } };
		int n = 1, wait = 1000;
		if (s->st == ST_LIVE) {
			fds[n++] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
			reap_kids(s, 0);
			s->last_msg = vms_now_ms();  /* the streams are the traffic now */
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
		if (poll(fds, (nfds_t)n, wait) < 0 && errno != EINTR)
			return vms_err_set(err, -errno, "poll: %s", strerror(errno));
		if (s->st == ST_LIVE && (fds[1].revents & POLLIN) && (r = accept_stream(s, err)) < 0)
			return r;
		if (!(fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			if (vms_now_ms() - s->last_msg > s->o->idle_ms && !s->mc)
				return vms_err_set(err, -ETIMEDOUT, "the sender said nothing for %d s", s->o->idle_ms / 1000);
			continue;
		}
		ssize_t got = recv(s->fd, buf, sizeof(buf), 0);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got <= 0)
			return vms_err_set(err, -ECONNRESET, "the sender went away before the end of the session");
		s->bytes_in += (uint64_t)got;
		s->last_msg = vms_now_ms();
		r = vms_frames_feed(&s->in, buf, (size_t)got);
		if (r < 0)
			return vms_err_set(err, r, "out of memory");
		uint8_t type;
		vms_cur p;
		while (s->st != ST_DONE && (r = vms_frames_next(&s->in, &type, &p)) == 1) {
			r = on_message(s, type, &p, err);
			if (r < 0)
				return r;
		}
		if (r < 0)
			return vms_err_set(err, r, "bad frame from the sender (length out of range)");
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
static void sweep_stale(const struct rc_options *o)
{
	DIR *d = opendir(o->out_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		const char *tag = strstr(e->d_name, ".img.part-");
		uint64_t pid;
		if (e->d_name[0] != '.' || !tag ||
		    vms_parse_u64(tag + 10, strlen(tag + 10), 10, &pid) < 0 || pid == 0 || pid > INT32_MAX)
			continue;
		if (kill((pid_t)pid, 0) < 0 && errno == ESRCH) {
			char path[4400];
			snprintf(path, sizeof(path), "%s/%s", o->out_dir, e->d_name);
			if (unlink(path) == 0 && !o->quiet)
				fprintf(stderr, "vmscatter receive[%s]: removed %s, left by a receiver that died\n",
					o->name, path);
		}
	}
	if (d)
		closedir(d);
}

int rc_serve(const struct rc_options *o, vms_err *err)
{
	struct stat st;
	if (stat(o->out_dir, &st) < 0 || !S_ISDIR(st.st_mode))
		return vms_err_set(err, -ENOTDIR, "%s: not a directory", o->out_dir);
	if (access(o->out_dir, W_OK) < 0)
		return vms_err_set(err, -EACCES, "%s: not writable", o->out_dir);
	sweep_stale(o);
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
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		getsockname(fd, (struct sockaddr *)&local, &llen);
		struct session s = { .o = o, .fd = fd, .lfd = lfd, .local_ip = ntohl(local.sin_addr.s_addr) };
		vms_err serr = { 0 };
		r = run_session(&s, &serr);
		if (r < 0) {
			logf_(&s, "session failed: %s", serr.msg);
			vms_wbuf_reset(&s.out);
			if (vms_msg_error_put(&s.out, serr.msg) == 0)
				vms_write_all(s.fd, s.out.data, s.out.len);
			if (err)
				*err = serr;
		} else {
			logf_(&s, "session done: %llu bytes in, %llu contents by multicast, %llu by unicast",
			      (unsigned long long)s.bytes_in, (unsigned long long)s.contents_mcast,
			      (unsigned long long)s.contents_tcp);
		}
		session_free(&s);
		if (o->once)
			break;
	}
	close(lfd);
	return r;
}
