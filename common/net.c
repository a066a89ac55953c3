/* net.c - a TCP connection with a time limit (see common.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"

int vms_tcp_connect(uint32_t ip, uint16_t port, int timeout_ms, vms_err *err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(ip) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), r = 0, soerr = 0, one = 1;
	socklen_t len = sizeof(soerr);
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
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
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}
