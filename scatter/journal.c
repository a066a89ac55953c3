/* journal.c - the source-side journal of live migrations (doc/PROTOCOL.md,
 * "Source journal"): one small file per migrating VM in the sender's state
 * directory, written before the source QEMU migrates and removed once the VM
 * is settled (committed and its source quit, or rolled back and resumed).
 * Whoever settles the VM holds an exclusive flock on the record while it
 * lives: the sender and its source guard (one open file, shared), or
 * `vmscatter recover`. A record nobody holds belongs to a VM whose sender and
 * guard are both gone; `recover` settles it from the target's answer. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scatter.h"

#define MAGIC "vmscatter-source 2"
#define MAGIC_V1 "vmscatter-source 1"   /* (no qemu line: refused) */
#define PID_MAX (1L << 22)               /* the kernel's PID_MAX_LIMIT */
#define PREFIX "source-"
#define REC_MAX 8192                 /* a record is a few short lines */

int sc_journal_rec_set(struct sc_journal_rec *r, uint64_t session, uint32_t vm, const char *qmp,
		       long qemu_pid, uint64_t qemu_start, const char *target, const char *tls_host,
		       const char *state)
{
	*r = (struct sc_journal_rec){ .session = session, .vm = vm, .qemu_pid = qemu_pid, .qemu_start = qemu_start };
	tls_host = tls_host ? tls_host : "";
	if (vms_strlcpy_n(r->qmp, sizeof(r->qmp), qmp, strlen(qmp)) < 0 ||
	    vms_strlcpy_n(r->target, sizeof(r->target), target, strlen(target)) < 0 ||
	    vms_strlcpy_n(r->tls_host, sizeof(r->tls_host), tls_host, strlen(tls_host)) < 0 ||
	    vms_strlcpy_n(r->state, sizeof(r->state), state, strlen(state)) < 0)
		return -ENAMETOOLONG;
	return 0;
}

int sc_journal_name(char *out, size_t len, uint64_t session, unsigned index)
{
	int n = snprintf(out, len, PREFIX "%016llx-%u", (unsigned long long)session, index);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* Is `name` a record's file name (source-HEX16-DECIMAL)? */
int sc_journal_is_record(const char *name)
{
	size_t n = strlen(name), p = strlen(PREFIX);
	if (n < p + 18 || n > p + 17 + 10 || strncmp(name, PREFIX, p) != 0 || name[p + 16] != '-')
		return 0;
	for (size_t i = p; i < n; i++)
		if (i != p + 16 && !(name[i] >= '0' && name[i] <= '9') &&
		    !(i < p + 16 && name[i] >= 'a' && name[i] <= 'f'))
			return 0;
	return 1;
}

static int put_line(FILE *f, const char *key, const char *value)
{
	return fprintf(f, "%s %s\n", key, value) < 0 ? -EIO : 0;
}

int sc_journal_write(int dirfd, const char *final, const struct sc_journal_rec *r, int *lock_fd, vms_err *err)
{
	char tmp[96], num[32];
	int fd = -1, ret = 0;
	FILE *f = NULL;
	*lock_fd = -1;
	if (!sc_journal_is_record(final)) {
		ret = -EINVAL;
		goto out;
	}
	if (!r->qmp[0] || !r->target[0] || r->qemu_pid <= 0 || r->qemu_pid > PID_MAX ||
	    strpbrk(r->qmp, "\n\r") || strpbrk(r->target, "\n\r") ||
	    strpbrk(r->tls_host, "\n\r") || strpbrk(r->state, "\n\r")) {
		ret = -EINVAL;                    /* one value a line */
		goto out;
	}
	snprintf(tmp, sizeof(tmp), ".%s.tmp-%d", final, (int)getpid());
	fd = openat(dirfd, tmp, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {       /* locked before anyone can see it */
		ret = -errno;
		goto out;
	}
	int fd2 = dup(fd);
	if (fd2 < 0 || !(f = fdopen(fd2, "w"))) {
		ret = -errno;
		if (fd2 >= 0)
			close(fd2);
		goto out;
	}
	snprintf(num, sizeof(num), "%016llx", (unsigned long long)r->session);
	ret = fprintf(f, MAGIC "\n") < 0 ? -EIO : 0;
	if (ret == 0)
		ret = put_line(f, "session", num);
	snprintf(num, sizeof(num), "%u", r->vm);
	if (ret == 0)
		ret = put_line(f, "vm", num);
	if (ret == 0)
		ret = put_line(f, "qmp", r->qmp);
	snprintf(num, sizeof(num), "%ld:%llu", r->qemu_pid, (unsigned long long)r->qemu_start);
	if (ret == 0)
		ret = put_line(f, "qemu", num);
	if (ret == 0)
		ret = put_line(f, "target", r->target);
	if (ret == 0)
		ret = put_line(f, "tls-hostname", r->tls_host[0] ? r->tls_host : "-");
	if (ret == 0)
		ret = put_line(f, "state", r->state);
	if (ret == 0 && (fflush(f) != 0 || fsync(fd) < 0))
		ret = -errno;
	if (fclose(f) != 0 && ret == 0)
		ret = -EIO;
	f = NULL;
	if (ret == 0 && renameat(dirfd, tmp, dirfd, final) < 0)
		ret = -errno;
	if (ret == 0)
		fsync(dirfd);
out:
	if (ret < 0) {
		if (fd >= 0) {
			unlinkat(dirfd, tmp, 0);
			close(fd);
		}
		return vms_err_set(err, ret, "source journal %s: %s", final, strerror(-ret));
	}
	*lock_fd = fd;
	return 0;
}

void sc_journal_remove(int dirfd, const char *name)
{
	if (sc_journal_is_record(name) && unlinkat(dirfd, name, 0) == 0)
		fsync(dirfd);
}

/* Copy a value of at most len-1 bytes. */
static int take(char *dst, size_t len, const uint8_t *v, size_t n)
{
	if (n == 0 || memchr(v, '\0', n))
		return -EBADMSG;
	return vms_strlcpy_n(dst, len, v, n) < 0 ? -EBADMSG : 0;
}

int sc_journal_qemu_parse(const void *s, size_t n, long *pid, uint64_t *start)
{
	const char *v = s, *colon = memchr(v, ':', n);
	uint64_t p, t;
	if (!colon || vms_parse_u64(v, (size_t)(colon - v), 10, &p) < 0 || p == 0 || p > (uint64_t)PID_MAX ||
	    vms_parse_u64(colon + 1, n - (size_t)(colon - v) - 1, 10, &t) < 0)
		return -EINVAL;
	*pid = (long)p;
	*start = t;
	return 0;
}

int sc_journal_parse(const void *buf, size_t len, struct sc_journal_rec *out)
{
	struct sc_journal_rec r = { 0 };
	vms_cur c, line;
	unsigned seen = 0;
	uint64_t v;
	if (len > REC_MAX)
		return -EBADMSG;
	vms_cur_init(&c, buf, len);
	const uint8_t *magic;
	if (vms_cur_line(&c, &line) < 0 || vms_cur_left(&line) != strlen(MAGIC) ||
	    vms_cur_bytes(&line, strlen(MAGIC), &magic) < 0)
		return -EBADMSG;
	if (memcmp(magic, MAGIC_V1, strlen(MAGIC_V1)) == 0)
		return -EPROTONOSUPPORT;
	if (memcmp(magic, MAGIC, strlen(MAGIC)) != 0)
		return -EBADMSG;
	while (vms_cur_left(&c) > 0) {
		const uint8_t *key, *val;
		size_t klen, vlen;
		uint8_t space;
		/* KEY, one space, VALUE (the rest of the line, spaces and all) */
		if (vms_cur_line(&c, &line) < 0 || vms_cur_token(&line, &key, &klen) < 0 ||
		    vms_cur_u8(&line, &space) < 0 || space != ' ' || (vlen = vms_cur_left(&line)) == 0 ||
		    vms_cur_bytes(&line, vlen, &val) < 0)
			return -EBADMSG;
		unsigned bit;
		int ret = 0;
		if (klen == 7 && memcmp(key, "session", 7) == 0) {
			bit = 1;
			ret = vlen == 16 && vms_parse_u64((const char *)val, vlen, 16, &r.session) == 0 ? 0 : -EBADMSG;
		} else if (klen == 2 && memcmp(key, "vm", 2) == 0) {
			bit = 2;
			ret = vms_parse_u64((const char *)val, vlen, 10, &v) == 0 && v < VMS_WIRE_VMS_MAX ? 0 : -EBADMSG;
			r.vm = (uint32_t)v;
		} else if (klen == 3 && memcmp(key, "qmp", 3) == 0) {
			bit = 4;
			ret = take(r.qmp, sizeof(r.qmp), val, vlen);
		} else if (klen == 4 && memcmp(key, "qemu", 4) == 0) {
			bit = 64;
			ret = sc_journal_qemu_parse(val, vlen, &r.qemu_pid, &r.qemu_start) < 0 ? -EBADMSG : 0;
		} else if (klen == 6 && memcmp(key, "target", 6) == 0) {
			bit = 8;
			ret = take(r.target, sizeof(r.target), val, vlen);
		} else if (klen == 12 && memcmp(key, "tls-hostname", 12) == 0) {
			bit = 16;
			ret = take(r.tls_host, sizeof(r.tls_host), val, vlen);
			if (ret == 0 && strcmp(r.tls_host, "-") == 0)
				r.tls_host[0] = '\0';
		} else if (klen == 5 && memcmp(key, "state", 5) == 0) {
			bit = 32;
			ret = take(r.state, sizeof(r.state), val, vlen);
			if (ret == 0 && strcmp(r.state, "migrating") != 0 && strcmp(r.state, "unsettled") != 0)
				ret = -EBADMSG;
		} else {
			return -EBADMSG;
		}
		if (ret < 0 || (seen & bit))
			return -EBADMSG;
		seen |= bit;
	}
	if (seen != 127)
		return -EBADMSG;
	*out = r;
	return 0;
}

int sc_journal_open(int dirfd, const char *name, struct sc_journal_rec *r, int *lock_fd, vms_err *err)
{
	char buf[REC_MAX + 1];
	struct stat st, now;
	int ret = 0;
	*lock_fd = -1;
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return vms_err_set(err, -errno, "%s: %s", name, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		ret = errno == EWOULDBLOCK ? -EBUSY : -errno;
		vms_err_set(err, ret, "%s: %s", name, ret == -EBUSY ? "its sender or source guard still runs"
								  : strerror(-ret));
		goto out;
	}
	/* the file locked may have been replaced or removed before the lock */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fstatat(dirfd, name, &now, AT_SYMLINK_NOFOLLOW) < 0 ||
	    now.st_ino != st.st_ino || now.st_dev != st.st_dev) {
		ret = vms_err_set(err, -ENOENT, "%s: settled while being opened", name);
		goto out;
	}
	ssize_t n = pread(fd, buf, sizeof(buf), 0);
	if ((ret = n < 0 || n > REC_MAX ? -EBADMSG : sc_journal_parse(buf, (size_t)n, r)) == -EPROTONOSUPPORT) {
		vms_err_set(err, ret, "%s: a record of an older vmscatter (format 1: it does not say which process "
			    "the source QEMU was); settle that VM by hand, then remove the record", name);
		goto out;
	}
	if (ret < 0) {
		ret = vms_err_set(err, -EBADMSG, "%s: not a source journal record", name);
		goto out;
	}
out:
	if (ret < 0) {
		close(fd);
		return ret;
	}
	*lock_fd = fd;
	return 0;
}
