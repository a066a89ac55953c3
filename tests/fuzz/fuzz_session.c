/* fuzz_session.c - libFuzzer entry point for a whole receiver session: the
 * input is what a sender (already past TLS) writes on its control
 * connection - any frames, in any order - and rc_session() serves it to the
 * end (event loop, state machine, host sink), writing into a scratch
 * directory. Replies go to a socket nobody reads. The state machine alone,
 * without files or sockets: fuzz_session_mem.c. Built by tools/fuzz.sh. */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "receiver/receiver_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static void empty_dir(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[400];
		if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		unlink(path);
	}
	if (d)
		closedir(d);
}

static void remove_dir(void)
{
	empty_dir();
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/vms-fuzz-session.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(remove_dir);
	}
	int sv[2];
	if (size > (1u << 16) || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	int buf = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(sv[1], data + off, size - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);              /* the sender is done: EOF after the input */
	/* small limits: a declared VM is hashed whole at the end (fuzz -timeout) */
	struct rc_options o = { .out_dir = dir, .name = "fuzz", .quiet = 1, .idle_ms = 200,
				.max_vm_bytes = 64u << 20, .max_session_bytes = 256u << 20 };
	vms_conn *conn = NULL;
	vms_err err = { 0 };
	if (vms_conn_accept(NULL, sv[0], 1000, &conn, &err) == 0) {
		vms_conn_set_write_ms(conn, 50);   /* nobody reads the replies */
		rc_session(&o, conn, -1, 0x7f000001u, &err);
	}
	close(sv[1]);
	empty_dir();
	return 0;
}
