/* cli_guard.c - `vmscatter guard`: the source-side guard of one migrating
 * VM (doc/PROTOCOL.md, "Commit and rollback"). The sender starts one per VM
 * before the source QEMU migrates and holds a pipe to it (descriptor 3).
 * The sender writes 'd' when it has settled the VM itself (committed and
 * quit the source, or rolled back and resumed it); then the guard exits. If
 * the pipe closes without it, the sender died: the guard settles the source
 * from what the receiver decided, never from a guess:
 *   - the source runs (its migration failed with the sender): nothing to do;
 *   - the source is paused after a completed migration: ask the receiver
 *     (OUTCOME, over the same mutual TLS) until it answers: committed ->
 *     quit the source (--keep-source: leave it paused); rolled back -> resume
 *     it; no answer within --timeout -> leave it paused and say so.
 * With --journal FILE the guard shares the lock on the VM's source journal
 * record (descriptor 4, from the sender) and removes the record once the VM
 * is settled, or marks it "unsettled" when it gives up: `vmscatter recover`
 * (cli_recover.c) settles such records later, with cli_settle_source(). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"

#define ASK_MS 15000             /* one question to the receiver */

static const char guard_usage[] =
	"Usage: vmscatter guard --qmp SOCKET --qemu PID:START --target NAME=ADDR:PORT\n"
	"                       --session HEX --vm K\n"
	"                       (--tls-creds DIR [--tls-hostname NAME] | --insecure)\n"
	"                       [--keep-source] [--timeout SEC] [--journal FILE]\n"
	"\n"
	"The source-side guard of one live migration (started by `vmscatter send\n"
	"--live`, one per VM, with a pipe on descriptor 3). If the sender dies before\n"
	"it settled the VM, the guard asks the VM's receiver whether the target\n"
	"committed, then quits the source (committed) or resumes it (rolled back).\n"
	"It acts only on the source QEMU process PID started at START (field 22 of\n"
	"/proc/PID/stat), never on another process serving SOCKET.\n";

static void say(const struct cli_settle *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const struct cli_settle *g, const char *fmt, ...)
{
	char prefix[300];
	va_list ap;
	snprintf(prefix, sizeof(prefix), "vmscatter %s[%.250s]: ", g->who, g->qmp);
	va_start(ap, fmt);
	vms_log_line(prefix, fmt, ap);
	va_end(ap);
}

/* One OUTCOME question: 0 with the answer, or a negative errno. */
static int ask(const struct cli_settle *g, enum vms_outcome *o, vms_err *err)
{
	vms_conn *c = NULL;
	vms_frames in = { 0 };
	vms_wbuf out = { 0 };
	uint8_t type;
	vms_cur p;
	int r = vms_conn_connect(g->tls, g->ip, g->port, g->tls_host, ASK_MS, &c, err);
	if (r == 0 && (r = vms_msg_outcome_put(&out, g->session, g->vm)) == 0)
		r = vms_conn_write_all(c, out.data, out.len);
	int64_t end = vms_now_ms() + ASK_MS;
	while (r == 0 && (r = vms_frames_next(&in, &type, &p)) == 0) {
		int left = (int)(end - vms_now_ms());
		if (left <= 0)
			r = -ETIMEDOUT;
		else if ((r = vms_frames_recv(&in, c, left)) > 0)
			r = 0;
	}
	if (r == 1)
		r = type == VMS_MSG_OUTCOME_IS && vms_msg_outcome_is_get(&p, o) == 0 ? 0 : -EPROTO;
	if (r < 0 && err && !err->msg[0])
		vms_err_set(err, r, "%s", strerror(-r));
	vms_conn_close(c);
	vms_frames_free(&in);
	vms_wbuf_free(&out);
	return r;
}

/* Is the source QEMU (g->qemu_pid, started at g->qemu_start) still there? */
static int source_lives(const struct cli_settle *g)
{
	uint64_t t;
	return kvm_proc_start_time(g->qemu_pid, &t) == 0 && t == g->qemu_start;
}

/* Quit the source QEMU: 0 once its process is gone (QEMU may close the
 * connection before it answers "quit", so the answer is not the proof). */
static int quit_source(const struct cli_settle *g, kvm_qmp *q)
{
	kvm_qmp_simple(q, "quit", NULL);
	for (int i = 0; i < 250; i++) {       /* 5 s */
		if (!source_lives(g))
			return 0;
		usleep(20000);
	}
	return -ETIMEDOUT;
}

int cli_settle_source(const struct cli_settle *g)
{
	kvm_qmp *q = NULL;
	char state[32] = "";
	vms_err e = { 0 };
	long peer = 0;
	/* only the recorded process is settled: by the time we look, it may be
	 * gone and its socket path another process's. Gone means that process
	 * has ended; a socket nobody serves or a monitor that does not greet us
	 * (one client at a time) while it lives: try again, never conclude */
	int64_t busy_until = vms_now_ms() + g->timeout_ms;
	int c = -ESRCH;
	while (source_lives(g) &&
	       (c = kvm_qmp_connect_pid(g->qmp, 5000, g->qemu_pid, &peer, &q, NULL)) < 0 && c != -EPERM &&
	       vms_now_ms() < busy_until) {
		sleep(1);
		c = -ESRCH;
	}
	if (g->peer)
		*g->peer = peer;
	if (!source_lives(g)) {               /* (checked again: q's peer is that process) */
		if (c == -EPERM)
			say(g, "the sender is gone and so is the source QEMU (process %ld); process %ld serves "
			    "this socket now and is left alone: nothing to settle", g->qemu_pid, peer);
		else
			say(g, "the sender is gone and so is the source QEMU (process %ld): nothing to settle",
			    g->qemu_pid);
		*g->outcome = "source gone";
		kvm_qmp_close(q);
		return 0;
	}
	if (c == -EPERM) {
		say(g, "this socket is served by process %ld, not by the source QEMU (process %ld, still "
		    "running): nothing is sent to it; settle process %ld by hand", peer, g->qemu_pid, g->qemu_pid);
		*g->outcome = "unsettled: another process serves the source's QMP socket";
		return -EPERM;
	}
	if (c < 0) {
		say(g, "the source QEMU's monitor (process %ld) does not answer: the source is left as it is",
		    g->qemu_pid);
		*g->outcome = "unsettled: the source's monitor does not answer";
		return -ETIMEDOUT;
	}
	/* a migration still under way fails now that its fd is closed: wait */
	int64_t end = vms_now_ms() + 10000;
	while (kvm_runstate(q, state, sizeof(state), NULL) == 0 && strcmp(state, "running") != 0 &&
	       strcmp(state, "postmigrate") != 0 && strcmp(state, "paused") != 0 && vms_now_ms() < end)
		usleep(100000);
	if (strcmp(state, "running") == 0) {
		say(g, "the sender is gone; the source runs on (its migration did not complete)");
		*g->outcome = "source runs";
		kvm_qmp_close(q);
		return 0;
	}
	say(g, "the sender is gone and the source is paused (%s): asking target %s", state, g->name);
	int64_t give_up = vms_now_ms() + g->timeout_ms;
	int r = -ETIMEDOUT;
	*g->outcome = "unsettled: the source stays paused";
	if (vms_fault("guard:asking")) {  /* (a drop: give up at once) */
		kvm_qmp_close(q);
		return r;
	}
	for (;;) {
		enum vms_outcome o = VMS_OUTCOME_PENDING;
		memset(&e, 0, sizeof(e));
		if (ask(g, &o, &e) == 0 && o == VMS_OUTCOME_COMMITTED) {
			say(g, "target %s committed: %s the source", g->name, g->keep_source ? "keeping (paused)" : "quitting");
			r = g->keep_source ? 0 : quit_source(g, q);
			*g->outcome = g->keep_source ? "committed: source kept paused" : "committed: source quit";
			break;
		}
		if (e.code == 0 && o == VMS_OUTCOME_ROLLED_BACK) {
			say(g, "target %s rolled back: resuming the source", g->name);
			r = kvm_qmp_simple(q, "cont", &e);
			*g->outcome = "rolled back: source resumed";
			break;
		}
		if (vms_now_ms() > give_up) {
			say(g, "no answer from target %s (%s): the source stays paused; resume it (QMP cont) only "
			    "once you know the target does not run the guest", g->name, e.msg[0] ? e.msg : "not settled");
			break;
		}
		sleep(1);
	}
	kvm_qmp_close(q);
	return r;
}

int cli_settle_target(struct cli_settle *g, const char *target, char *name, size_t len)
{
	const char *eq = strchr(target, '='), *rest = NULL;
	if (!eq || vms_strlcpy_n(name, len, target, (size_t)(eq - target)) < 0 ||
	    !vms_name_valid(name, strlen(name), SC_NAME_MAX) ||
	    cli_parse_hostport(eq + 1, &g->ip, &g->port, &rest) < 0 || rest)
		return -EINVAL;
	g->name = name;
	return 0;
}

/* The record's end: removed when settled, else marked "unsettled" for
 * `vmscatter recover`. */
static void journal_end(const char *path, const struct cli_settle *g, const char *target, int settled)
{
	struct sc_journal_rec rec;
	char dir[4096];
	const char *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
	int lock = -1, dfd = -1;
	vms_err e = { 0 };
	if (vms_strlcpy_n(dir, sizeof(dir), slash ? path : ".", slash ? (size_t)(slash - path) : 1) < 0 ||
	    (dfd = open(dir[0] ? dir : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return;
	if (settled)
		sc_journal_remove(dfd, name);
	else if (sc_journal_rec_set(&rec, g->session, g->vm, g->qmp, g->qemu_pid, g->qemu_start, target,
				    g->tls_host, "unsettled") == 0 &&
		 sc_journal_write(dfd, name, &rec, &lock, &e) < 0)
		say(g, "%s", e.msg);
	if (lock >= 0)
		close(lock);
	close(dfd);
}

int cli_guard(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "qmp", required_argument, NULL, 'q' }, { "target", required_argument, NULL, 't' },
		{ "session", required_argument, NULL, 's' }, { "vm", required_argument, NULL, 'v' },
		{ "tls-creds", required_argument, NULL, 'C' }, { "tls-hostname", required_argument, NULL, 'H' },
		{ "insecure", no_argument, NULL, 'I' }, { "keep-source", no_argument, NULL, 'K' },
		{ "timeout", required_argument, NULL, 'T' }, { "journal", required_argument, NULL, 'j' },
		{ "qemu", required_argument, NULL, 'Q' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *outcome = "";
	struct cli_settle g = { .timeout_ms = 300000, .who = "guard", .outcome = &outcome };
	const char *creds = NULL, *target = NULL, *journal = NULL;
	char name[SC_NAME_MAX] = "", host[256] = "";
	int ch, insecure = 0, have_session = 0, have_vm = 0;
	uint64_t v;
	vms_err err = { 0 };
	vms_tls *tls = NULL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'q': g.qmp = optarg; break;
		case 'Q':
			if (sc_journal_qemu_parse(optarg, strlen(optarg), &g.qemu_pid, &g.qemu_start) < 0)
				return cli_usage_error("guard", "--qemu needs PID:START (decimal numbers)");
			break;
		case 't': target = optarg; break;
		case 's':
			if (vms_parse_u64(optarg, strlen(optarg), 16, &g.session) < 0)
				return cli_usage_error("guard", "--session needs a hexadecimal number");
			have_session = 1;
			break;
		case 'v':
			if (vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v >= VMS_WIRE_VMS_MAX)
				return cli_usage_error("guard", "--vm must be 0..%u", VMS_WIRE_VMS_MAX - 1);
			g.vm = (uint32_t)v;
			have_vm = 1;
			break;
		case 'C': creds = optarg; break;
		case 'H': g.tls_host = optarg; break;
		case 'I': insecure = 1; break;
		case 'K': g.keep_source = 1; break;
		case 'T':
			if (cli_parse_seconds(optarg, 86400, &g.timeout_ms) < 0)
				return cli_usage_error("guard", "--timeout must be 1..86400 seconds");
			break;
		case 'j': journal = optarg; break;
		case 'h': fputs(guard_usage, stdout); return 0;
		default: return cli_usage_error("guard", "unknown option");
		}
	}
	if (!g.qmp || !g.qemu_pid || !target || !have_session || !have_vm || optind != argc ||
	    cli_settle_target(&g, target, name, sizeof(name)) < 0)
		return cli_usage_error("guard", "expected --qmp, --qemu PID:START, --target NAME=ADDR:PORT, "
				       "--session and --vm");
	if (!creds == !insecure)
		return cli_usage_error("guard", "give --tls-creds DIR or --insecure");
	if (creds && vms_tls_new(creds, VMS_TLS_CLIENT, &tls, &err) < 0)
		return cli_fail("guard", &err);
	g.tls = tls;
	const char *eq = strchr(target, '=');
	if (!g.tls_host && creds && vms_strlcpy_n(host, sizeof(host), eq + 1, strcspn(eq + 1, ":")) == 0)
		g.tls_host = host;                /* the certificate must name what --target said */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, SIG_IGN);              /* Ctrl-C at the sender's terminal is the sender's */
	char c = 0;
	ssize_t n;
	do
		n = read(3, &c, 1);
	while (n < 0 && errno == EINTR);
	int r = 0;
	if (n != 1 || c != 'd') {             /* the sender died before it settled the VM */
		r = cli_settle_source(&g);
		if (journal)
			journal_end(journal, &g, target, r == 0);
	}
	vms_tls_free(tls);
	return r < 0 ? 1 : 0;
}
