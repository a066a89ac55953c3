/* files.c - what a receiver creates on its host (see receiver_int.h). Every
 * file is made relative to a directory opened once (O_DIRECTORY), under a
 * name vms_name_valid() accepted, without following links and without
 * replacing anything: images as .NAME.img.part-PID (O_EXCL) published as
 * NAME.img with renameat2(RENAME_NOREPLACE), a live target's STATE/NAME/
 * with mkdirat and a marker naming the process that made it. A rollback
 * removes only what the receiver made: the temporary files it tracks, and
 * the contents of a STATE/NAME/ it created itself. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "receiver_int.h"

#define PART_TAG ".img.part-"
#define OWNER_FILE ".vmscatter-owner"  /* in STATE/NAME/: "PID STARTTIME\n" of its maker */

int rc_dir_open(const char *path, int *fd, vms_err *err)
{
	int d = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return vms_err_set(err, errno == ENOTDIR || errno == ENOENT ? -ENOTDIR : -errno, "%s: %s", path,
				   errno == ENOTDIR || errno == ENOENT ? "not a directory" : strerror(errno));
	if (faccessat(d, ".", W_OK, AT_EACCESS) < 0) {
		close(d);
		return vms_err_set(err, -EACCES, "%s: not writable", path);
	}
	*fd = d;
	return 0;
}

int rc_dir_free(int dirfd, uint64_t *bytes)
{
	struct statvfs st;
	if (fstatvfs(dirfd, &st) < 0)
		return -errno;
	*bytes = (uint64_t)st.f_bavail * st.f_frsize;
	return 0;
}

/* ---- images ---------------------------------------------------------------- */

int rc_part_create(int dirfd, const char *dir, const char *name, char tmp[RC_PART_NAME_MAX], int *fd,
		   vms_err *err)
{
	tmp[0] = '\0';
	if (!vms_name_valid(name, strlen(name), VMS_WIRE_NAME_MAX))
		return vms_err_set(err, -EINVAL, "invalid VM name '%s'", name);
	char t[RC_PART_NAME_MAX];
	snprintf(t, sizeof(t), ".%s" PART_TAG "%d", name, (int)getpid());
	int f = openat(dirfd, t, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (f < 0)
		return vms_err_set(err, -errno, "%s/%s: %s", dir, t, strerror(errno));
	memcpy(tmp, t, sizeof(t));           /* ours now: session_free removes it */
	*fd = f;
	return 0;
}

int rc_part_publish(int dirfd, const char *dir, const char *tmp, const char *final, int force, vms_err *err)
{
	if (force) {
		if (renameat(dirfd, tmp, dirfd, final) < 0)
			return vms_err_set(err, -errno, "%s/%s: %s", dir, final, strerror(errno));
		return 0;
	}
	if (renameat2(dirfd, tmp, dirfd, final, RENAME_NOREPLACE) == 0)
		return 0;
	int e = errno;
	if (e == EINVAL || e == ENOSYS) {    /* a file system without RENAME_NOREPLACE */
		if (linkat(dirfd, tmp, dirfd, final, 0) == 0) {
			unlinkat(dirfd, tmp, 0);
			return 0;
		}
		e = errno;
	}
	if (e == EEXIST)
		return vms_err_set(err, -EEXIST, "%s/%s exists: this receiver does not replace an image "
				   "(run it with --force to allow that)", dir, final);
	return vms_err_set(err, -e, "%s/%s: %s", dir, final, strerror(e));
}

/* ".NAME.img.part-PID" with a valid NAME: the PID, else 0. */
static long part_pid(const char *f)
{
	const char *tag = strstr(f, PART_TAG);
	uint64_t pid;
	if (f[0] != '.' || !tag || !vms_name_valid(f + 1, (size_t)(tag - f - 1), VMS_WIRE_NAME_MAX) ||
	    vms_parse_u64(tag + strlen(PART_TAG), strlen(tag + strlen(PART_TAG)), 10, &pid) < 0 ||
	    pid == 0 || pid > INT32_MAX)
		return 0;
	return (long)pid;
}

unsigned rc_sweep_parts(int dirfd, const char *dir, const struct rc_options *o)
{
	int d2 = dup(dirfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	struct dirent *e;
	unsigned n = 0;
	if (!d) {
		if (d2 >= 0)
			close(d2);
		return 0;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		long pid = part_pid(e->d_name);
		struct stat st;
		/* only a regular file of ours, left by a receiver that is gone */
		if (!pid || fstatat(dirfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode) ||
		    st.st_uid != geteuid() || (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (unlinkat(dirfd, e->d_name, 0) == 0) {
			n++;
			rc_log(o, "removed %s/%s, left by a receiver that died", dir, e->d_name);
		}
	}
	closedir(d);
	return n;
}

ssize_t rc_read_small(int dirfd, const char *name, char *buf, size_t len)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, buf, len - 1);
	close(fd);
	if (n <= 0)
		return -EBADMSG;
	buf[n] = '\0';
	return n;
}

/* ---- a live target's STATE/NAME/ -------------------------------------------- */

/* When the process started (kvm_proc_start_time; 0: no such process, or
 * it has ended). */
static unsigned long long start_time(long pid)
{
	uint64_t t;
	return kvm_proc_start_time(pid, &t) == 0 ? t : 0;
}

/* The marker of a directory: 1 with *pid and *t, 0 when there is none (or
 * it is not a plain file of two numbers). */
static int read_owner(int dfd, long *pid, unsigned long long *t)
{
	char buf[64];
	if (rc_read_small(dfd, OWNER_FILE, buf, sizeof(buf)) < 0)
		return 0;
	return sscanf(buf, "%ld %llu", pid, t) == 2 && *pid > 0;
}

/* Unlink every entry of the directory dfd (not recursing: QEMU makes files
 * and sockets only); then remove the directory `name` of statefd if it is
 * still the one dfd is. */
static void empty_and_remove(int statefd, const char *name, int dfd)
{
	struct stat mine, now;
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	struct dirent *e;
	if (!d && d2 >= 0)
		close(d2);
	if (d) {
		rewinddir(d);
		while ((e = readdir(d)))
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				unlinkat(dfd, e->d_name, 0);
		closedir(d);
	}
	if (fstat(dfd, &mine) == 0 && fstatat(statefd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
	    mine.st_dev == now.st_dev && mine.st_ino == now.st_ino)
		unlinkat(statefd, name, AT_REMOVEDIR);
}

static int open_dir_at(int statefd, const char *name)
{
	return openat(statefd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

/* mkdirat + marker: 0, or -EEXIST when the name is taken, another errno. */
static int make_ours(int statefd, const char *name, struct rc_vmdir *d)
{
	if (mkdirat(statefd, name, 0700) < 0)
		return -errno;
	int dfd = open_dir_at(statefd, name), r = 0;
	if (dfd < 0)
		return -errno;
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%ld %llu\n", (long)getpid(), start_time((long)getpid()));
	int fd = openat(dfd, OWNER_FILE, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		r = fd < 0 ? -errno : -EIO;
	if (fd >= 0)
		close(fd);
	if (r < 0) {
		empty_and_remove(statefd, name, dfd);
		close(dfd);
		return r;
	}
	d->fd = dfd;
	d->ours = 1;
	return 0;
}

int rc_vmdir_claim(int statefd, const char *state_dir, const char *name, struct rc_vmdir *d, vms_err *err)
{
	*d = (struct rc_vmdir){ .fd = -1 };
	if (!vms_name_valid(name, strlen(name), VMS_WIRE_NAME_MAX))
		return vms_err_set(err, -EINVAL, "invalid VM name '%s'", name);
	snprintf(d->name, sizeof(d->name), "%s", name);
	int r = make_ours(statefd, name, d);
	if (r == 0)
		return 0;
	if (r != -EEXIST)
		return vms_err_set(err, r, "%s/%s: %s", state_dir, name, strerror(-r));
	int dfd = open_dir_at(statefd, name);
	if (dfd < 0)
		return vms_err_set(err, -EEXIST, "%s/%s exists and is not a directory: remove it to move %s here",
				   state_dir, name, name);
	long pid;
	unsigned long long t;
	if (read_owner(dfd, &pid, &t)) {
		unsigned long long now = start_time(pid);
		if (now != 0 && now == t) {
			close(dfd);
			return vms_err_set(err, -EBUSY, "%s/%s is in use by receiver process %ld", state_dir, name, pid);
		}
		/* a run of this receiver that died left it: its target is gone too */
		empty_and_remove(statefd, name, dfd);
		close(dfd);
		d->cleaned = 1;
		r = make_ours(statefd, name, d);
		return r < 0 ? vms_err_set(err, r, "%s/%s: %s", state_dir, name, strerror(-r)) : 0;
	}
	struct stat st;
	if (fstatat(dfd, "qmp.sock", &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISSOCK(st.st_mode)) {
		d->fd = dfd;                 /* a target QEMU the admin started: used, never removed */
		return 0;
	}
	close(dfd);
	return vms_err_set(err, -EEXIST, "%s/%s exists and this receiver did not make it (no target QEMU "
			   "waits there): remove it to move %s here", state_dir, name, name);
}

void rc_vmdir_keep(struct rc_vmdir *d)
{
	if (d->fd >= 0 && d->ours)
		unlinkat(d->fd, OWNER_FILE, 0);  /* the directory is the running guest's now */
	d->ours = 0;
}

void rc_vmdir_remove(int statefd, struct rc_vmdir *d)
{
	if (d->fd >= 0 && d->ours)
		empty_and_remove(statefd, d->name, d->fd);
	d->ours = 0;
}

void rc_vmdir_close(struct rc_vmdir *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

void rc_vmdir_sweep(int statefd, long pid)
{
	int d2 = statefd >= 0 ? dup(statefd) : -1;
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	struct dirent *e;
	if (!d) {
		if (d2 >= 0)
			close(d2);
		return;
	}
	rewinddir(d);
	while ((e = readdir(d))) {
		long owner;
		unsigned long long t;
		/* (a committed guest's directory has no owner marker any more:
		 * the stream process removes it before the journal says committed) */
		int dfd = e->d_name[0] != '.' ? open_dir_at(statefd, e->d_name) : -1;
		if (dfd >= 0 && read_owner(dfd, &owner, &t) && owner == pid && start_time(pid) != t)
			empty_and_remove(statefd, e->d_name, dfd);
		if (dfd >= 0)
			close(dfd);
	}
	closedir(d);
}
