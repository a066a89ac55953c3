/* receiver_int.h - inside receiver/ only: the session hands one live
 * stream connection to rc_stream() (stream.c) in a child process. */
#ifndef VMS_RECEIVER_INT_H
#define VMS_RECEIVER_INT_H

#include "receiver.h"
#include "kvmglue/kvmglue.h"

struct rc_seed {
	char name[VMS_WIRE_NAME_MAX];
	int fd;                      /* the seed image, as the session wrote it */
	uint64_t pages;
};

struct rc_stream_ctx {
	const char *receiver;        /* for log lines */
	const char *state_dir;
	const char *qemu_bin;        /* NULL: the source's argv[0] */
	uint64_t session;
	int quiet, idle_ms;
	const struct rc_seed *seeds; /* the session's VMs, by session index */
	unsigned nseeds;
};

/* Serve one stream connection (fd) to its end: 0 once the target runs
 * (COMMIT), negative after a rollback (the target QEMU removed). */
int rc_stream(const struct rc_stream_ctx *c, int fd, vms_err *err);

#endif
