/* test_settle.c - a receiver's stream process killed while committing
 * (doc/PROTOCOL.md, "Commit and rollback"), with a real QEMU (-machine
 * none) as its target: a child process claims STATE/NAME/, starts the
 * target through kvm_target_start, resumes it (`cont`), maybe releases its
 * guard, and is SIGKILLed. Then, at once, as the session or an OUTCOME
 * question would: rc_vmdir_sweep / rc_outcome must wait for the guard and
 * find a released target committed (kept, running, journal committed) and
 * an unreleased one rolled back (gone, directory removed, journal
 * rolled-back) - never the other way round. Also kvm_target_lock itself:
 * held while the guard lives, free only once the target it killed exited. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "receiver/receiver_int.h"
#include "test_tmp.h"

#define SESSION 0x1234abcdull
#define QEMU "qemu-system-x86_64"

enum how { RESUMED, RELEASED };

struct run {
	char state[128], dir[192], sock[224];
	int statefd;
	pid_t stream, qemu;
};

static int have_qemu(void)
{
	return system("command -v " QEMU " >/dev/null 2>&1") == 0;
}

/* Is the process gone (or a zombie)? */
static int gone(pid_t pid)
{
	uint64_t start;
	return kvm_proc_start_time(pid, &start) == -ESRCH;
}

static void run_state(const char *sock, char *out, size_t len)
{
	kvm_qmp *q = NULL;
	out[0] = '\0';
	if (kvm_qmp_connect(sock, 3000, &q, NULL) == 0)
		kvm_runstate(q, out, len, NULL);
	kvm_qmp_close(q);
}

/* The stream process: claim, start, cont, [release], tell the QEMU's pid, wait to be killed. */
__attribute__((noreturn)) static void stream_child(struct run *r, const char *name, uint32_t vm, enum how how, int out)
{
	struct rc_vmdir d;
	kvm_qmp *q = NULL;
	pid_t qemu = 0;
	int guard = -1;
	char qmparg[256];
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", r->sock);
	char *argv[] = { QEMU, "-machine", "none", "-nodefaults", "-display", "none", "-S", "-qmp", qmparg, NULL };
	if (rc_vmdir_claim(r->statefd, r->state, name, SESSION, vm, &d, NULL) < 0 ||
	    rc_outcome_write(r->statefd, SESSION, vm, name, "started") < 0 ||
	    kvm_target_start(argv, r->dir, 20000, &qemu, &guard, &q, NULL) < 0 || kvm_qmp_simple(q, "cont", NULL) < 0)
		_exit(1);
	if (how == RELEASED)
		kvm_target_release(guard, 1);
	if (write(out, &qemu, sizeof(qemu)) != sizeof(qemu))
		_exit(1);
	for (;;)
		pause();
}

/* A stream of `name` killed after `cont` (RESUMED) or after its guard got "c" (RELEASED). */
static void killed_stream(struct run *r, const char *name, uint32_t vm, enum how how)
{
	int p[2];
	snprintf(r->state, sizeof(r->state), "%s", test_root);
	snprintf(r->dir, sizeof(r->dir), "%s/%s", r->state, name);
	snprintf(r->sock, sizeof(r->sock), "%s/qmp.sock", r->dir);
	r->statefd = open(r->state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(r->statefd >= 0);
	assert_int_equal(pipe(p), 0);
	r->stream = fork();
	assert_true(r->stream >= 0);
	if (r->stream == 0) {
		close(p[0]);
		stream_child(r, name, vm, how, p[1]);
	}
	close(p[1]);
	assert_int_equal(read(p[0], &r->qemu, sizeof(r->qemu)), (ssize_t)sizeof(r->qemu));
	close(p[0]);
	kill(r->stream, SIGKILL);
	assert_int_equal(waitpid(r->stream, NULL, 0), r->stream);
}

static void done(struct run *r)
{
	if (!gone(r->qemu))
		kill(r->qemu, SIGKILL);
	close(r->statefd);
}

static void expect_committed(struct run *r, uint32_t vm)
{
	char st[32], owner[256];
	struct stat sb;
	run_state(r->sock, st, sizeof(st));
	assert_string_equal(st, "running");
	assert_int_equal(stat(r->dir, &sb), 0);
	snprintf(owner, sizeof(owner), "%s/.vmscatter-owner", r->dir);
	assert_int_equal(access(owner, F_OK), -1);     /* the guest's directory now */
	assert_int_equal(rc_outcome(r->statefd, r->state, SESSION, vm), VMS_OUTCOME_COMMITTED);
}

static void expect_rolled_back(struct run *r, uint32_t vm)
{
	struct stat sb;
	assert_true(gone(r->qemu));
	assert_int_equal(stat(r->dir, &sb), -1);
	assert_int_equal(rc_outcome(r->statefd, r->state, SESSION, vm), VMS_OUTCOME_ROLLED_BACK);
}

static const struct rc_options quiet = { .quiet = 1 };

/* reap_kids' sweep right after the kill: released -> committed, kept */
static void test_sweep_released(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	killed_stream(&r, "rel", 1, RELEASED);
	rc_vmdir_sweep(r.statefd, r.state, r.stream, &quiet);
	expect_committed(&r, 1);
	done(&r);
}

/* reap_kids' sweep right after the kill: resumed, no "c" -> the guard kills it, rolled back */
static void test_sweep_resumed(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	killed_stream(&r, "res", 2, RESUMED);
	rc_vmdir_sweep(r.statefd, r.state, r.stream, &quiet);
	expect_rolled_back(&r, 2);
	done(&r);
}

/* no sweep (the receiver died too): OUTCOME at once settles the same way */
static void test_outcome_released(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	killed_stream(&r, "orel", 3, RELEASED);
	assert_int_equal(rc_outcome(r.statefd, r.state, SESSION, 3), VMS_OUTCOME_COMMITTED);
	expect_committed(&r, 3);
	done(&r);
}

static void test_outcome_resumed(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	killed_stream(&r, "ores", 4, RESUMED);
	/* asked while the guard may not have acted yet: it must wait for it */
	assert_int_equal(rc_outcome(r.statefd, r.state, SESSION, 4), VMS_OUTCOME_ROLLED_BACK);
	expect_rolled_back(&r, 4);
	done(&r);
}

/* a new stream that claims the name of a committed, unswept directory is
 * refused, and the running guest keeps its directory */
static void test_claim_committed(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	struct rc_vmdir d;
	vms_err e = { 0 };
	killed_stream(&r, "crel", 5, RELEASED);
	assert_int_equal(rc_vmdir_claim(r.statefd, r.state, "crel", SESSION + 1, 0, &d, &e), -EEXIST);
	expect_committed(&r, 5);
	done(&r);
}

/* the lock itself: held while the guard lives; after its starter died
 * without "c", free only once the target it killed has exited */
static void test_lock(void **state)
{
	(void)state;
	if (!have_qemu())
		skip();
	struct run r;
	int lk = -1;
	snprintf(r.state, sizeof(r.state), "%s", test_root);
	snprintf(r.dir, sizeof(r.dir), "%s/lk", r.state);
	snprintf(r.sock, sizeof(r.sock), "%s/qmp.sock", r.dir);
	r.statefd = open(r.state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_int_equal(mkdir(r.dir, 0700), 0);
	int dfd = open(r.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(dfd >= 0);
	char qmparg[256];
	snprintf(qmparg, sizeof(qmparg), "unix:%s,server=on,wait=off", r.sock);
	char *argv[] = { QEMU, "-machine", "none", "-nodefaults", "-display", "none", "-S", "-qmp", qmparg, NULL };
	int guard = -1;
	kvm_qmp *q = NULL;
	assert_int_equal(kvm_target_start(argv, r.dir, 20000, &r.qemu, &guard, &q, NULL), 0);
	assert_int_equal(kvm_target_lock(dfd, 200, &lk), -ETIMEDOUT);   /* the guard holds it */
	assert_int_equal(lk, -1);
	kvm_qmp_close(q);
	kvm_target_release(guard, 0);          /* as a death: the guard kills the target */
	assert_int_equal(kvm_target_lock(dfd, 5000, &lk), 0);
	assert_true(gone(r.qemu));
	close(lk);
	waitpid(r.qemu, NULL, 0);
	close(dfd);
	close(r.statefd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock),
		cmocka_unit_test(test_sweep_released),
		cmocka_unit_test(test_sweep_resumed),
		cmocka_unit_test(test_outcome_released),
		cmocka_unit_test(test_outcome_resumed),
		cmocka_unit_test(test_claim_committed),
	};
	return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
