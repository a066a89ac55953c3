/* qmp.c - a small QMP client: one JSON message per line, over a unix socket. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "kvmglue.h"

struct kvm_qmp {
	int fd;
	pid_t pid;
	int timeout_ms;
	char path[108];
	uint64_t next_id;
	char *rbuf;         /* bytes received but not yet parsed */
	size_t rlen, rcap;
};

/* Read one JSON message (a line) into *msg, waiting at most timeout_ms. */
static int read_msg(kvm_qmp *q, int timeout_ms, json_t **msg, vms_err *err)
{
	int64_t deadline = vms_now_ms() + timeout_ms;
	for (;;) {
		char *nl = q->rlen ? memchr(q->rbuf, '\n', q->rlen) : NULL;
		if (nl) {
			size_t n = (size_t)(nl - q->rbuf);
			json_error_t jerr;
			json_t *j = json_loadb(q->rbuf, n, 0, &jerr);
			memmove(q->rbuf, nl + 1, q->rlen - n - 1);
			q->rlen -= n + 1;
			if (!j || !json_is_object(j)) {
				json_decref(j);
				return vms_err_set(err, -EPROTO, "%s: not a QMP server (received a line that is not a JSON object)",
						   q->path);
			}
			*msg = j;
			return 0;
		}
		if (q->rlen >= KVM_QMP_MSG_MAX)
			return vms_err_set(err, -EMSGSIZE, "%s: QMP message longer than %u bytes",
					   q->path, KVM_QMP_MSG_MAX);
		if (q->rcap - q->rlen < 4096) {
			size_t ncap = q->rcap ? q->rcap * 2 : 65536;
			if (ncap > KVM_QMP_MSG_MAX + 4096)
				ncap = KVM_QMP_MSG_MAX + 4096;
			char *nb = realloc(q->rbuf, ncap);
			if (!nb)
				return vms_err_set(err, -ENOMEM, "out of memory");
			q->rbuf = nb;
			q->rcap = ncap;
		}
		int64_t left = deadline - vms_now_ms();
		if (left <= 0)
			return vms_err_set(err, -ETIMEDOUT, "%s: no answer from QMP within %d ms (not a QEMU QMP socket?)",
					   q->path, timeout_ms);
		struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
		int pr = poll(&pfd, 1, (int)left);
		if (pr < 0 && errno != EINTR)
			return vms_err_set(err, -errno, "%s: poll: %s", q->path, strerror(errno));
		if (pr <= 0)
			continue;
		ssize_t got = read(q->fd, q->rbuf + q->rlen, q->rcap - q->rlen);
		if (got < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (got < 0)
			return vms_err_set(err, -errno, "%s: read: %s", q->path, strerror(errno));
		if (got == 0)
			return vms_err_set(err, -ECONNRESET, "%s: QMP connection closed by QEMU", q->path);
		q->rlen += (size_t)got;
	}
}

/* Send the first byte of `text` with `fd` attached (SCM_RIGHTS), the way
 * QEMU's getfd expects it, then the rest. */
static int write_with_fd(int sock, const char *text, size_t len, int fd)
{
	union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
	struct iovec iov = { (void *)text, 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
			     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	ssize_t w;
	do
		w = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (w < 0 && errno == EINTR);
	if (w < 0)
		return -errno;
	return vms_write_all(sock, text + 1, len - 1);
}

int kvm_qmp_call(kvm_qmp *q, const char *cmd, json_t *args, json_t **ret, vms_err *err)
{
	return kvm_qmp_call_fd(q, cmd, args, -1, ret, err);
}

int kvm_qmp_call_fd(kvm_qmp *q, const char *cmd, json_t *args, int fd, json_t **ret, vms_err *err)
{
	uint64_t id = q->next_id++;
	json_t *req = json_pack("{s:s, s:I}", "execute", cmd, "id", (json_int_t)id);
	if (!req)
		return vms_err_set(err, -ENOMEM, "out of memory");
	if (args)
		json_object_set(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	if (!text)
		return vms_err_set(err, -ENOMEM, "out of memory");
	size_t tlen = strlen(text);
	int r = fd >= 0 ? write_with_fd(q->fd, text, tlen, fd) : vms_write_all(q->fd, text, tlen);
	if (r == 0)
		r = vms_write_all(q->fd, "\n", 1);
	free(text);
	if (r < 0)
		return vms_err_set(err, r, "%s: sending %s: %s", q->path, cmd, strerror(-r));

	for (;;) {
		json_t *msg = NULL;
		r = read_msg(q, q->timeout_ms, &msg, err);
		if (r < 0)
			return r;
		if (json_object_get(msg, "event")) {
			json_decref(msg);
			continue;
		}
		json_t *jid = json_object_get(msg, "id");
		if (!json_is_integer(jid) || (uint64_t)json_integer_value(jid) != id) {
			json_decref(msg);
			return vms_err_set(err, -EPROTO, "%s: QMP reply to %s has the wrong id", q->path, cmd);
		}
		json_t *e = json_object_get(msg, "error");
		if (e) {
			const char *desc = json_string_value(json_object_get(e, "desc"));
			r = vms_err_set(err, -EREMOTEIO, "%s: QEMU refused %s: %s", q->path, cmd,
					desc ? desc : "(no description)");
			json_decref(msg);
			return r;
		}
		json_t *rv = json_object_get(msg, "return");
		if (!rv) {
			json_decref(msg);
			return vms_err_set(err, -EPROTO, "%s: QMP reply to %s has no return value", q->path, cmd);
		}
		json_incref(rv);
		json_decref(msg);
		*ret = rv;
		return 0;
	}
}

int kvm_qmp_hmp(kvm_qmp *q, const char *cmdline, char **out, vms_err *err)
{
	json_t *args = json_pack("{s:s}", "command-line", cmdline), *ret = NULL;
	if (!args)
		return vms_err_set(err, -ENOMEM, "out of memory");
	int r = kvm_qmp_call(q, "human-monitor-command", args, &ret, err);
	json_decref(args);
	if (r < 0)
		return r;
	const char *s = json_string_value(ret);
	char *copy = s ? strdup(s) : NULL;
	json_decref(ret);
	if (!s)
		return vms_err_set(err, -EPROTO, "%s: '%s' returned no text", q->path, cmdline);
	if (!copy)
		return vms_err_set(err, -ENOMEM, "out of memory");
	*out = copy;
	return 0;
}

int kvm_qmp_connect(const char *path, int timeout_ms, kvm_qmp **out, vms_err *err)
{
	return kvm_qmp_connect_pid(path, timeout_ms, 0, NULL, out, err);
}

int kvm_qmp_connect_pid(const char *path, int timeout_ms, long want, long *peer, kvm_qmp **out,
			vms_err *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return vms_err_set(err, -ENAMETOOLONG, "%s: socket path too long (max %zu bytes)",
				   path, sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, path, strlen(path) + 1);

	int r;
	json_t *greeting = NULL, *ret = NULL;
	kvm_qmp *q = calloc(1, sizeof(*q));
	if (!q)
		return vms_err_set(err, -ENOMEM, "out of memory");
	q->fd = -1;
	q->timeout_ms = timeout_ms;
	q->next_id = 1;
	memcpy(q->path, sa.sun_path, sizeof(q->path));

	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0) {
		r = vms_err_set(err, -errno, "socket: %s", strerror(errno));
		goto out;
	}
	if (connect(q->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		if (r == -ECONNREFUSED)
			vms_err_set(err, r, "%s: nobody is listening on this socket (QEMU not running?)", path);
		else
			vms_err_set(err, r, "%s: connect: %s", path, strerror(-r));
		goto out;
	}
	struct ucred cred;
	socklen_t clen = sizeof(cred);
	if (getsockopt(q->fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 || cred.pid <= 0) {
		r = vms_err_set(err, -EPROTO, "%s: cannot tell which process serves this socket", path);
		goto out;
	}
	q->pid = cred.pid;
	if (peer)
		*peer = cred.pid;
	if (want > 0 && cred.pid != want) {
		r = vms_err_set(err, -EPERM, "%s: served by process %ld, not by process %ld", path,
				(long)cred.pid, want);
		goto out;
	}

	r = read_msg(q, timeout_ms, &greeting, err);
	if (r < 0)
		goto out;
	if (!json_is_object(json_object_get(greeting, "QMP"))) {
		r = vms_err_set(err, -EPROTO, "%s: not a QMP server (no QMP greeting)", path);
		goto out;
	}
	r = kvm_qmp_call(q, "qmp_capabilities", NULL, &ret, err);
	if (r < 0)
		goto out;
	*out = q;
	q = NULL;
out:
	json_decref(greeting);
	json_decref(ret);
	kvm_qmp_close(q);
	return r;
}

pid_t kvm_qmp_pid(const kvm_qmp *q)
{
	return q->pid;
}

void kvm_qmp_close(kvm_qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	free(q->rbuf);
	free(q);
}
