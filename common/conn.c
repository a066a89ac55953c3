/* conn.c - connections (see common.h): connect and accept, the plain TCP
 * transport, and what every transport shares (waiting, writing everything,
 * feeding frames). tls.c adds the TLS transport. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/sockios.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_int.h"

#define WRITE_MS_DEFAULT 120000

/* ---- plain TCP ------------------------------------------------------------ */

static ssize_t tcp_read(vms_conn *c, void *buf, size_t n)
{
	ssize_t got = recv(c->fd, buf, n, 0);
	if (got > 0)
		return got;
	if (got == 0)
		return -ECONNRESET;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? -EAGAIN : -errno;
}

static ssize_t tcp_write(vms_conn *c, const void *buf, size_t n)
{
	ssize_t w = send(c->fd, buf, n, MSG_NOSIGNAL);
	if (w >= 0)
		return w;
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
		c->want = POLLOUT;
		return -EAGAIN;
	}
	return -errno;
}

static int tcp_pending(const vms_conn *c)
{
	(void)c;
	return 0;
}

static void tcp_close(vms_conn *c, int notify)
{
	(void)c;
	(void)notify;
}

static const struct vms_conn_ops tcp_ops = {
	.name = "tcp", .read = tcp_read, .write = tcp_write, .pending = tcp_pending, .close = tcp_close,
};

/* ---- shared ----------------------------------------------------------------- */

vms_conn *vms_conn_wrap(int fd, const struct vms_conn_ops *ops, void *priv)
{
	vms_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->fd = fd;
	c->ops = ops ? ops : &tcp_ops;
	c->priv = priv;
	c->write_ms = WRITE_MS_DEFAULT;
	return c;
}

static void name_peer(vms_conn *c)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	char ip[INET_ADDRSTRLEN] = "?";
	if (getpeername(c->fd, (struct sockaddr *)&sa, &len) == 0 && sa.sin_family == AF_INET)
		inet_ntop(AF_INET, &sa.sin_addr, ip, sizeof(ip));
	snprintf(c->peer, sizeof(c->peer), "%s:%u", ip, len ? ntohs(sa.sin_port) : 0);
}

/* Both ends: non-blocking, no Nagle, and TLS on top when there are credentials. */
static int conn_start(const vms_tls *tls, int fd, const char *host, int timeout_ms, vms_conn **out,
		      vms_err *err)
{
	int one = 1;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	vms_conn *c = vms_conn_wrap(fd, NULL, NULL);
	if (!c) {
		close(fd);
		return vms_err_set(err, -ENOMEM, "out of memory");
	}
	name_peer(c);
	if (tls) {
		int r = vms_tls_start(tls, c, host, timeout_ms, err);
		if (r < 0) {
			vms_conn_forget(c);
			return r;
		}
	}
	*out = c;
	return 0;
}

int vms_conn_connect(const vms_tls *tls, uint32_t ip, uint16_t port, const char *host,
		     int timeout_ms, vms_conn **out, vms_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r = 0, soerr = 0;
	socklen_t len = sizeof(soerr);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int64_t end = vms_now_ms() + timeout_ms;
	if (fd < 0)
		return vms_err_set(err, -errno, "socket: %s", strerror(errno));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)
		r = vms_err_set(err, -errno, "cannot connect: %s", strerror(errno));
	else if (poll(&pfd, 1, timeout_ms) <= 0)
		r = vms_err_set(err, -ETIMEDOUT, "unreachable (no answer within %d s)", timeout_ms / 1000);
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr)
		r = vms_err_set(err, -soerr, "cannot connect: %s", strerror(soerr));
	if (r < 0) {
		close(fd);
		return r;
	}
	int left = (int)(end - vms_now_ms());
	return conn_start(tls, fd, host, left > 1000 ? left : 1000, out, err);
}

int vms_conn_accept(const vms_tls *tls, int fd, int timeout_ms, vms_conn **out, vms_err *err)
{
	return conn_start(tls, fd, NULL, timeout_ms, out, err);
}

ssize_t vms_conn_read(vms_conn *c, void *buf, size_t n)
{
	ssize_t r = c->ops->read(c, buf, n);
	return r == -EAGAIN ? 0 : r;
}

int vms_conn_pending(const vms_conn *c)
{
	return c->ops->pending(c);
}

int vms_conn_wait(vms_conn *c, int timeout_ms)
{
	if (c->ops->pending(c))
		return 1;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	int pr = poll(&pfd, 1, timeout_ms);
	if (pr < 0)
		return errno == EINTR ? 0 : -errno;
	return pr > 0;
}

int vms_conn_write_all(vms_conn *c, const void *p, size_t n)
{
	const uint8_t *b = p;
	int64_t end = vms_now_ms() + c->write_ms;
	while (n > 0) {
		ssize_t w = c->ops->write(c, b, n);
		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (w != -EAGAIN)
			return w < 0 ? (int)w : -EIO;
		int left = (int)(end - vms_now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd pfd = { .fd = c->fd, .events = c->want ? c->want : POLLOUT };
		if (poll(&pfd, 1, left) < 0 && errno != EINTR)
			return -errno;
	}
	return 0;
}

void vms_conn_set_write_ms(vms_conn *c, int ms)
{
	c->write_ms = ms > 0 ? ms : WRITE_MS_DEFAULT;
}

int vms_conn_fd(const vms_conn *c)
{
	return c->fd;
}

const char *vms_conn_kind(const vms_conn *c)
{
	return c->ops->name;
}

const char *vms_conn_peer(const vms_conn *c)
{
	return c->peer;
}

const char *vms_conn_subject(const vms_conn *c)
{
	return c->subject;
}

const char *vms_conn_strerror(const vms_conn *c, int code)
{
	if (code == -EPROTO && c->why[0])
		return c->why;
	return strerror(-code);
}

static void conn_free(vms_conn *c, int notify)
{
	if (!c)
		return;
	c->ops->close(c, notify);
	close(c->fd);
	free(c);
}

void vms_conn_close(vms_conn *c)
{
	conn_free(c, 1);
}

void vms_conn_forget(vms_conn *c)
{
	conn_free(c, 0);
}

int vms_frames_recv(vms_frames *f, vms_conn *c, int timeout_ms)
{
	uint8_t buf[1 << 16];
	int w = vms_conn_wait(c, timeout_ms);
	if (w <= 0)
		return w;
	ssize_t got = vms_conn_read(c, buf, sizeof(buf));
	if (got <= 0)
		return (int)got;
	int r = vms_frames_feed(f, buf, (size_t)got);
	return r < 0 ? r : 1;
}

void vms_sock_sndbuf(int fd, int bytes)
{
	if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &bytes, sizeof(bytes)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes));
}

uint64_t vms_if_rate(uint32_t ip, uint64_t fallback)
{
	struct ifaddrs *all = NULL;
	char path[128], text[32];
	uint64_t rate = fallback;
	if (getifaddrs(&all) < 0)
		return fallback;
	for (struct ifaddrs *a = all; a; a = a->ifa_next) {
		if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET ||
		    ntohl(((const struct sockaddr_in *)a->ifa_addr)->sin_addr.s_addr) != ip)
			continue;
		snprintf(path, sizeof(path), "/sys/class/net/%s/speed", a->ifa_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		ssize_t got = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;   /* (EINVAL: no link speed) */
		if (fd >= 0)
			close(fd);
		long mbit = 0;
		if (got > 0) {
			text[got] = 0;
			mbit = strtol(text, NULL, 10);
		}
		if (mbit > 0 && mbit <= 1000000)       /* Mbit/s; -1 or 0: unknown */
			rate = (uint64_t)mbit * 1000000 / 8;
		break;
	}
	freeifaddrs(all);
	return rate;
}

int vms_conn_unsent(const vms_conn *c)
{
	int n = 0;
	return c && ioctl(vms_conn_fd(c), SIOCOUTQNSD, &n) == 0 && n > 0 ? n : 0;
}
