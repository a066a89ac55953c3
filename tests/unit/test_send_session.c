/* test_send_session.c - the sender's session (sc_session_*): its option checks,
 * its step order, and a whole offline session over loopback TCP into a real
 * receiver (rc_serve on a thread), with what the callbacks report. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "receiver/receiver.h"
#include "scatter/scatter.h"
#include "test_tmp.h"
#include "tools/synth/synth.h"

#define PAGE 4096u
#define LOOPBACK 0x7f000001u

struct rack {
	char dir[128];
	unsigned n;
	kvm_mem *src[4];
	sc_index *ix;
};

static void rack_make(struct rack *r, unsigned n, uint64_t pages)
{
	struct synth_params p;
	vms_err e = { 0 };
	synth_defaults(&p);
	p.vms = n;
	p.pages = pages;
	p.seed = 11;
	memset(r, 0, sizeof(*r));
	snprintf(r->dir, sizeof(r->dir), "%s/rack.XXXXXX", test_root);
	assert_non_null(mkdtemp(r->dir));
	assert_int_equal(synth_write_rack(&p, r->dir, &e), 0);
	r->n = n;
	assert_int_equal(sc_index_new(n, 1, &r->ix, &e), 0);
	sc_index_set_digests(r->ix, 1);
	for (unsigned v = 0; v < n; v++) {
		char path[256], name[16];
		snprintf(path, sizeof(path), "%s/vm%u.img", r->dir, v + 1);
		snprintf(name, sizeof(name), "vm%u", v + 1);
		assert_int_equal(kvm_mem_open(path, &r->src[v], &e), 0);
		assert_int_equal(sc_index_add(r->ix, name, r->src[v], NULL, NULL, &e), 0);
	}
}

static void rack_free(struct rack *r)
{
	for (unsigned v = 0; v < r->n; v++)
		kvm_mem_close(r->src[v]);
	sc_index_free(r->ix);
}

/* A TCP port nobody listens on right now. */
static uint16_t free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* What the callbacks saw. */
struct seen {
	unsigned logs, unicast, resend, multicast, ends, events;
	size_t last_done, last_total;
	char target[SC_NAME_MAX];
};

static void on_log(void *arg, const char *line)
{
	struct seen *s = arg;
	assert_non_null(line);
	s->logs++;
}

static void on_progress(void *arg, const struct sc_progress *p)
{
	struct seen *s = arg;
	switch (p->kind) {
	case SC_PROGRESS_UNICAST:
		s->unicast++;
		s->last_done = p->done;
		s->last_total = p->total;
		snprintf(s->target, sizeof(s->target), "%s", p->target);
		assert_true(p->done >= 1 && p->done <= p->total);
		break;
	case SC_PROGRESS_RESEND: s->resend++; break;
	case SC_PROGRESS_MULTICAST: s->multicast++; break;
	case SC_PROGRESS_END: s->ends++; break;
	}
}

static void on_vm_event(void *arg, unsigned vm, enum sc_vm_event ev, const char *detail)
{
	struct seen *s = arg;
	(void)vm;
	(void)ev;
	(void)detail;
	s->events++;
}

static const struct sc_session_cbs cbs = { on_log, on_progress, on_vm_event };

static void target_init(struct sc_target *t, const char *name, uint16_t port)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->name, sizeof(t->name), "%s", name);
	snprintf(t->host, sizeof(t->host), "127.0.0.1");
	t->ip = LOOPBACK;
	t->port = port;
}

static void opts_init(struct sc_session_opts *o, const struct rack *r, const struct sc_target *t,
		      unsigned nt, const unsigned *target_of)
{
	memset(o, 0, sizeof(*o));
	o->ix = r->ix;
	o->mems = r->src;
	o->targets = t;
	o->ntargets = nt;
	o->target_of = target_of;
	o->send = (struct sc_send_opts){ .rate = 1ull << 30, .mcast_port = 7500, .timeout_ms = 10000,
					 .compress = 1 };
}

/* ---- option checks and step order ------------------------------------------------- */

static void test_open_checks(void **state)
{
	(void)state;
	struct rack r;
	struct sc_target t[2];
	struct sc_session_opts o;
	unsigned target_of[2] = { 0, 1 };
	sc_session *s = (sc_session *)&r;
	vms_err e = { 0 };
	rack_make(&r, 2, 64);
	target_init(&t[0], "t1", 1);
	target_init(&t[1], "t2", 1);

	opts_init(&o, &r, t, 0, target_of);
	assert_int_equal(sc_session_open(&o, &cbs, NULL, &s, &e), -EINVAL);
	assert_null(s);
	opts_init(&o, &r, t, 1, target_of);          /* vm2 placed on a target not given */
	assert_int_equal(sc_session_open(&o, &cbs, NULL, &s, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "vm2"));
	assert_null(s);
	opts_init(&o, &r, t, 2, target_of);
	o.ngroups = 1;                               /* groups counted but not given */
	assert_int_equal(sc_session_open(&o, &cbs, NULL, &s, &e), -EINVAL);

	/* offline: no migrate, no commit, and each step once */
	opts_init(&o, &r, t, 2, target_of);
	assert_int_equal(sc_session_open(&o, &cbs, NULL, &s, &e), 0);
	assert_non_null(s);
	assert_int_equal(sc_session_migrate(s, &e), -EINVAL);
	assert_int_equal(sc_session_commit(s, &e), -EINVAL);
	assert_true(sc_session_id(s) == 0);
	assert_int_equal(sc_session_moved(s), 0);
	assert_null(sc_session_target_stats(s, 2));
	assert_null(sc_session_vm_stats(s, 2));
	sc_session_close(s);
	sc_session_close(NULL);
	rack_free(&r);
}

/* A receiver nobody runs: seed fails, names the target, and cannot be
 * tried again on the same session. */
static void test_seed_unreachable(void **state)
{
	(void)state;
	struct rack r;
	struct sc_target t;
	struct sc_session_opts o;
	struct seen seen = { 0 };
	unsigned target_of[2] = { 0, 0 };
	sc_session *s = NULL;
	vms_err e = { 0 };
	rack_make(&r, 2, 64);
	target_init(&t, "t1", free_port());
	opts_init(&o, &r, &t, 1, target_of);
	assert_int_equal(sc_session_open(&o, &cbs, &seen, &s, &e), 0);
	assert_true(sc_session_seed(s, &e) < 0);
	assert_non_null(strstr(e.msg, "target t1"));
	assert_int_equal(sc_session_seed(s, &e), -EINVAL);
	assert_int_equal(seen.logs, 0);
	assert_int_equal(seen.unicast, 0);
	sc_session_close(s);
	rack_free(&r);
}

/* ---- a whole offline session ---------------------------------------------------------- */

struct server {
	struct rc_options o;
	vms_err err;
	int r;
};

static void *serve(void *arg)
{
	struct server *sv = arg;
	sv->r = rc_serve(&sv->o, &sv->err);
	return NULL;
}

static int files_equal(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	int same = fa && fb;
	while (same) {
		int ca = fgetc(fa), cb = fgetc(fb);
		same = ca == cb;
		if (ca == EOF || cb == EOF)
			break;
	}
	if (fa)
		fclose(fa);
	if (fb)
		fclose(fb);
	return same;
}

static void test_offline_session(void **state)
{
	(void)state;
	struct rack r;
	struct sc_target t;
	struct sc_session_opts o;
	struct seen seen = { 0 };
	struct server sv = { 0 };
	unsigned target_of[3] = { 0, 0, 0 };
	char out[160];
	pthread_t tid;
	sc_session *s = NULL;
	vms_err e = { 0 };
	int rc = -ECONNREFUSED;
	rack_make(&r, 3, 256);
	snprintf(out, sizeof(out), "%s/out", test_root);
	assert_int_equal(mkdir(out, 0700), 0);
	sv.o = (struct rc_options){ .listen_ip = LOOPBACK, .port = free_port(), .out_dir = out, .name = "t1",
				    .once = 1, .quiet = 1, .idle_ms = 10000 };
	target_init(&t, "t1", sv.o.port);
	opts_init(&o, &r, &t, 1, target_of);
	assert_int_equal(pthread_create(&tid, NULL, serve, &sv), 0);
	/* until the receiver listens: a refused connection is no session */
	for (int i = 0; i < 100 && rc == -ECONNREFUSED; i++) {
		sc_session_close(s);
		s = NULL;
		memset(&seen, 0, sizeof(seen));
		assert_int_equal(sc_session_open(&o, &cbs, &seen, &s, &e), 0);
		rc = sc_session_seed(s, &e);
		if (rc == -ECONNREFUSED)
			usleep(50000);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(pthread_join(tid, NULL), 0);
	assert_int_equal(sv.r, 0);

	/* the report: one target, so every content went by unicast */
	const struct sc_send_stats *tot = sc_session_send_total(s), *ts = sc_session_target_stats(s, 0);
	assert_true(tot->image_bytes == 3ull * 256 * PAGE);
	assert_true(ts->image_bytes == tot->image_bytes);
	assert_true(tot->contents_unicast == sc_index_contents(r.ix));
	assert_true(tot->contents_multicast == 0 && tot->multicast_bytes == 0);
	assert_true(ts->unicast_bytes == tot->unicast_bytes && tot->unicast_bytes > 0);
	assert_true(sc_session_id(s) != 0);
	assert_true(sc_session_seconds(s) >= 0);
	assert_int_equal(sc_session_moved(s), 0);
	assert_int_equal(sc_session_migrate(s, &e), -EINVAL);

	/* the callbacks: no log line offline, unicast progress ending complete,
	 * one END (no multicast groups), no VM events */
	assert_int_equal(seen.logs, 0);
	assert_true(seen.unicast >= 1);
	assert_true(seen.last_done == seen.last_total && seen.last_total == sc_index_contents(r.ix));
	assert_string_equal(seen.target, "t1");
	assert_int_equal(seen.multicast, 0);
	assert_int_equal(seen.ends, 1);
	assert_int_equal(seen.events, 0);
	sc_session_close(s);

	/* and the receiver wrote every image as it is */
	for (unsigned v = 0; v < 3; v++) {
		char a[256], b[256];
		snprintf(a, sizeof(a), "%s/vm%u.img", r.dir, v + 1);
		snprintf(b, sizeof(b), "%s/vm%u.img", out, v + 1);
		assert_true(files_equal(a, b));
	}
	rack_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open_checks),
		cmocka_unit_test(test_seed_unreachable),
		cmocka_unit_test(test_offline_session),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
