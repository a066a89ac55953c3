/* migrate.c - QEMU migration over an fd, through QMP, and the target QEMU
 * process (see kvmglue.h). The QMP sequence is the one in
 * ../shared/notes/qemu-migration.md: capabilities that would make the
 * stream unreadable off, getfd with SCM_RIGHTS, migrate / migrate-incoming
 * "fd:NAME", query-migrate until a final status. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kvmglue.h"

#define FD_NAME "vmscatter"
#define GUARD_LOCK_MS 5000   /* a new guard waits this long for a settler to let go of DIR */

/* Capabilities that change the stream's format, all off: a third program
 * must be able to read every page. */
static const char *const stream_caps[] = { "xbzrle", "compress", "multifd", "postcopy-ram" };

static int call0(kvm_qmp *q, const char *cmd, json_t *args, int fd, vms_err *err)
{
	json_t *ret = NULL;
	int r = kvm_qmp_call_fd(q, cmd, args, fd, &ret, err);
	json_decref(args);
	json_decref(ret);
	return r;
}

static int caps_off(kvm_qmp *q, vms_err *err)
{
	json_t *list = json_array();
	for (size_t i = 0; list && i < sizeof(stream_caps) / sizeof(stream_caps[0]); i++)
		json_array_append_new(list, json_pack("{s:s, s:b}", "capability", stream_caps[i], "state", 0));
	json_t *args = list ? json_pack("{s:o}", "capabilities", list) : NULL;
	if (!args)
		return vms_err_set(err, -ENOMEM, "out of memory");
	return call0(q, "migrate-set-capabilities", args, -1, err);
}

int kvm_migrate_out_fd(kvm_qmp *q, int fd, uint64_t max_bandwidth, vms_err *err)
{
	int r = caps_off(q, err);
	if (r == 0)
		r = call0(q, "migrate-set-parameters",
			  json_pack("{s:I}", "max-bandwidth", (json_int_t)max_bandwidth), -1, err);
	if (r == 0)
		r = call0(q, "getfd", json_pack("{s:s}", "fdname", FD_NAME), fd, err);
	if (r == 0)
		r = call0(q, "migrate", json_pack("{s:s}", "uri", "fd:" FD_NAME), -1, err);
	return r;
}

int kvm_migrate_in_fd(kvm_qmp *q, int fd, vms_err *err)
{
	int r = caps_off(q, err);
	if (r == 0)
		r = call0(q, "getfd", json_pack("{s:s}", "fdname", FD_NAME), fd, err);
	if (r == 0)
		r = call0(q, "migrate-incoming", json_pack("{s:s}", "uri", "fd:" FD_NAME), -1, err);
	return r;
}

int kvm_migrate_query(kvm_qmp *q, struct kvm_migrate_info *mi, vms_err *err)
{
	json_t *ret = NULL;
	int r = kvm_qmp_call(q, "query-migrate", NULL, &ret, err);
	if (r < 0)
		return r;
	memset(mi, 0, sizeof(*mi));
	const char *st = json_string_value(json_object_get(ret, "status"));
	snprintf(mi->status, sizeof(mi->status), "%s", st ? st : "none");
	json_t *v;
	if (json_is_integer(v = json_object_get(ret, "downtime")))
		mi->downtime_ms = json_integer_value(v);
	if (json_is_integer(v = json_object_get(ret, "total-time")))
		mi->total_ms = json_integer_value(v);
	const char *e = json_string_value(json_object_get(ret, "error-desc"));
	snprintf(mi->error, sizeof(mi->error), "%s", e ? e : "");
	json_decref(ret);
	return 0;
}

int kvm_migrate_wait(kvm_qmp *q, int timeout_ms, struct kvm_migrate_info *mi, vms_err *err)
{
	int64_t end = vms_now_ms() + timeout_ms;
	/* asked at 1, 2, 4 ... ms, then every 20 ms: the guest is paused for
	 * a target's load, so the first answers are the ones that count */
	for (useconds_t wait = 1000;; wait = wait < 10000 ? wait * 2 : 20000) {
		int r = kvm_migrate_query(q, mi, err);
		if (r < 0)
			return r;
		if (!strcmp(mi->status, "completed"))
			return 0;
		if (!strcmp(mi->status, "failed") || !strcmp(mi->status, "cancelled"))
			return vms_err_set(err, -EIO, "migration %s%s%s", mi->status,
					   mi->error[0] ? ": " : "", mi->error);
		if (vms_now_ms() > end)
			return vms_err_set(err, -ETIMEDOUT, "migration still '%s' after %d s", mi->status,
					   timeout_ms / 1000);
		usleep(wait);
	}
}

int kvm_runstate(kvm_qmp *q, char *state, size_t len, vms_err *err)
{
	json_t *ret = NULL;
	int r = kvm_qmp_call(q, "query-status", NULL, &ret, err);
	if (r < 0)
		return r;
	const char *s = json_string_value(json_object_get(ret, "status"));
	snprintf(state, len, "%s", s ? s : "unknown");
	json_decref(ret);
	return 0;
}

int kvm_qmp_simple(kvm_qmp *q, const char *cmd, vms_err *err)
{
	return call0(q, cmd, NULL, -1, err);
}

/* ---- the target QEMU process ------------------------------------------------- */

/* A pidfd of `pid` (-1 without: a kernel before 5.3), so that a signal or
 * a wait cannot reach another process that got its PID. */
static int pid_fd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

static void kill_pid(pid_t pid, int pfd)
{
#ifdef SYS_pidfd_send_signal
	if (pfd >= 0 && syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0) == 0)
		return;
	if (pfd >= 0 && errno == ESRCH)
		return;                        /* it has exited already */
#endif
	(void)pfd;
	kill(pid, SIGKILL);
}

/* Has the process exited (a zombie counts: it holds no memory, file or
 * socket any more)? Through its pidfd, else /proc/PID/stat. */
static int exited(pid_t pid, int pfd)
{
	if (pfd >= 0) {
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		return poll(&p, 1, 0) == 1;
	}
	uint64_t start;
	return kvm_proc_start_time(pid, &start) == -ESRCH;
}

/* Wait until the process has exited: 0, or -ETIMEDOUT after timeout_ms (< 0: for ever). */
static int wait_exit(pid_t pid, int pfd, int timeout_ms)
{
	int64_t end = vms_now_ms() + timeout_ms;
	while (!exited(pid, pfd)) {
		if (timeout_ms >= 0 && vms_now_ms() >= end)
			return -ETIMEDOUT;
		if (pfd >= 0) {
			struct pollfd p = { .fd = pfd, .events = POLLIN };
			poll(&p, 1, timeout_ms < 0 ? 1000 : (int)(end - vms_now_ms()));
		} else {
			usleep(10000);
		}
	}
	return 0;
}

/* flock(LOCK_EX) on fd, trying for up to timeout_ms: 0 or -errno. */
static int lock_wait(int fd, int timeout_ms)
{
	int64_t end = vms_now_ms() + timeout_ms;
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -errno;
		if (vms_now_ms() >= end)
			return -ETIMEDOUT;
		usleep(10000);
	}
}

int kvm_target_lock(int dirfd, int timeout_ms, int *lock)
{
	*lock = -1;
	/* a new open file description: a flock of our own, not one shared with dirfd */
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int r = lock_wait(fd, timeout_ms);
	if (r < 0) {
		close(fd);
		return r;
	}
	*lock = fd;
	return 0;
}

/* A guard: a small process that kills `qemu` unless it reads "c" (commit)
 * from the pipe before the pipe closes. Whatever ends its creator - a
 * rollback, SIGKILL, the receiver dying - closes the pipe. It holds an
 * exclusive flock on `dir` (taken here, before the fork, on an open file
 * description only the guard keeps) until it is done: at once after "c";
 * after a close without "c", only once the QEMU it killed has exited - so
 * whoever takes the lock (kvm_target_lock) sees the target as it stays.
 * Returns the write end of the pipe. */
static int start_guard(pid_t qemu, const char *dir, vms_err *err)
{
	int p[2], lk = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r;
	if (lk < 0)
		return vms_err_set(err, -errno, "%s: %s", dir, strerror(errno));
	if ((r = lock_wait(lk, GUARD_LOCK_MS)) < 0) {
		close(lk);
		return vms_err_set(err, r == -ETIMEDOUT ? -EBUSY : r, "%s: %s", dir,
				   r == -ETIMEDOUT ? "locked by another process for 5 s (settling an earlier target there?)"
				   : strerror(-r));
	}
	if (pipe2(p, O_CLOEXEC) < 0) {
		r = -errno;
		close(lk);
		return vms_err_set(err, r, "pipe: %s", strerror(-r));
	}
	/* now, before its starter may reap it: the PID is surely the target's */
	int pfd = pid_fd(qemu);
	pid_t g = fork();
	if (g < 0) {
		int e = errno;
		close(p[0]);
		close(p[1]);
		close(lk);
		if (pfd >= 0)
			close(pfd);
		return vms_err_set(err, -e, "fork: %s", strerror(e));
	}
	if (g == 0) {
		/* hold nothing of the creator's but the pipe (3), the lock (4)
		 * and the target's pidfd (5): its sockets must close when it
		 * dies. Each is moved above 5 first, so no dup2 closes another. */
		int a = fcntl(p[0], F_DUPFD, 6), b = fcntl(lk, F_DUPFD, 6);
		int c5 = pfd >= 0 ? fcntl(pfd, F_DUPFD, 6) : -1;
		if (a < 0 || b < 0 || dup2(a, 3) < 0 || dup2(b, 4) < 0 || (c5 >= 0 && dup2(c5, 5) < 0))
			_exit(1);
		pfd = c5 >= 0 ? 5 : -1;
		close_range(pfd >= 0 ? 6 : 5, ~0u, 0);
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
		char c = 0;
		ssize_t n;
		do
			n = read(3, &c, 1);
		while (n < 0 && errno == EINTR);
		if (n != 1 || c != 'c') {
			kill_pid(qemu, pfd);
			wait_exit(qemu, pfd, -1);
		}
		_exit(0);                      /* the lock goes with the guard */
	}
	close(p[0]);
	close(lk);                             /* the guard's alone now */
	if (pfd >= 0)
		close(pfd);
	return p[1];
}

void kvm_target_release(int guard, int commit)
{
	if (guard < 0)
		return;
	if (commit && write(guard, "c", 1) != 1)
		return;                        /* the guard is gone: nothing to keep */
	close(guard);
}

int kvm_target_start(char *const *argv, const char *dir, int timeout_ms, pid_t *pid_out,
		     int *guard, kvm_qmp **qmp, vms_err *err)
{
	char log[4200], sock[4200];
	if (snprintf(log, sizeof(log), "%s/qemu.log", dir) >= (int)sizeof(log) ||
	    snprintf(sock, sizeof(sock), "%s/qmp.sock", dir) >= (int)sizeof(sock))
		return vms_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return vms_err_set(err, -errno, "%s: %s", dir, strerror(errno));
	unlink(sock);
	pid_t pid = fork();
	if (pid < 0)
		return vms_err_set(err, -errno, "fork: %s", strerror(errno));
	if (pid == 0) {
		/* its own session: the target outlives the receiver once committed;
		 * in DIR, where QEMU looks first for bare firmware names (romfile=) */
		setsid();
		int nul = open("/dev/null", O_RDONLY), lf = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (nul >= 0)
			dup2(nul, 0);
		if (lf >= 0) {
			dup2(lf, 1);
			dup2(lf, 2);
		}
		/* nothing else of its starter's: a library's socket without
		 * close-on-exec (OpenPGM's) would live as long as the guest */
		close_range(3, ~0u, 0);
		if (chdir(dir) < 0) {
			dprintf(2, "cannot enter %s: %s\n", dir, strerror(errno));
			_exit(127);
		}
		execvp(argv[0], argv);
		dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	*pid_out = pid;
	if ((*guard = start_guard(pid, dir, err)) < 0) {
		kvm_target_kill(pid);
		*pid_out = 0;
		return *guard;
	}
	int64_t end = vms_now_ms() + timeout_ms;
	for (;;) {
		int status;
		if (waitpid(pid, &status, WNOHANG) == pid) {
			*pid_out = 0;
			kvm_target_release(*guard, 0);
			*guard = -1;
			return vms_err_set(err, -ECHILD, "the target QEMU exited at once (see %s)", log);
		}
		if (access(sock, F_OK) == 0 && kvm_qmp_connect(sock, 5000, qmp, NULL) == 0)
			return 0;
		if (vms_now_ms() > end) {
			kvm_target_kill(pid);
			kvm_target_release(*guard, 0);
			*guard = -1;
			*pid_out = 0;
			return vms_err_set(err, -ETIMEDOUT, "the target QEMU opened no QMP socket at %s within %d s",
					   sock, timeout_ms / 1000);
		}
		usleep(20000);
	}
}

int kvm_target_attach(const char *dir, pid_t *pid_out, int *guard, kvm_qmp **qmp, vms_err *err)
{
	char sock[4200], state[32];
	if (snprintf(sock, sizeof(sock), "%s/qmp.sock", dir) >= (int)sizeof(sock))
		return vms_err_set(err, -ENAMETOOLONG, "%s: path too long", dir);
	int r = kvm_qmp_connect(sock, 5000, qmp, err);
	if (r == 0)
		r = kvm_runstate(*qmp, state, sizeof(state), err);
	if (r == 0 && strcmp(state, "inmigrate") != 0)
		r = vms_err_set(err, -EBUSY, "%s: the QEMU there is '%s', not waiting for a migration (-incoming defer)",
				sock, state);
	if (r == 0) {
		*pid_out = kvm_qmp_pid(*qmp);
		if ((*guard = start_guard(*pid_out, dir, err)) < 0)
			r = *guard;
	}
	if (r < 0) {
		kvm_qmp_close(*qmp);
		*qmp = NULL;
		*pid_out = 0;
	}
	return r;
}

void kvm_target_kill(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
}

int kvm_qemu_end(kvm_qmp *q, int timeout_ms)
{
	pid_t pid = kvm_qmp_pid(q);
	int pfd = pid_fd(pid);                 /* while q is connected, pid is that QEMU */
	kvm_qmp_simple(q, "quit", NULL);
	int r = wait_exit(pid, pfd, timeout_ms);
	if (r < 0) {
		kill_pid(pid, pfd);
		r = wait_exit(pid, pfd, timeout_ms);
	}
	if (pfd >= 0)
		close(pfd);
	return r;
}
