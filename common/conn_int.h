/* conn_int.h - inside common/ only: the body of a connection and the ops
 * each transport fills in (conn.c: TCP; tls.c: mutual TLS). Another
 * transport (RDMA) adds its ops beside them. */
#ifndef VMS_CONN_INT_H
#define VMS_CONN_INT_H

#include <sys/types.h>

#include "common.h"

struct vms_conn_ops {
	const char *name;                /* "tcp", "tls" */
	/* Never blocks: bytes read (> 0), -EAGAIN when none are ready,
	 * -ECONNRESET when the peer closed, another negative errno. */
	ssize_t (*read)(vms_conn *c, void *buf, size_t n);
	/* Never blocks: bytes written (> 0), -EAGAIN with c->want set to the
	 * poll events to wait for, another negative errno. */
	ssize_t (*write)(vms_conn *c, const void *buf, size_t n);
	/* 1 when bytes are buffered inside the transport (poll would not see them). */
	int (*pending)(const vms_conn *c);
	/* Free the transport's state; `notify`: tell the peer (TLS close_notify). */
	void (*close)(vms_conn *c, int notify);
};

struct vms_conn {
	const struct vms_conn_ops *ops;
	int fd;                          /* non-blocking */
	short want;                      /* after -EAGAIN from write: POLLIN or POLLOUT */
	int write_ms;                    /* write_all's limit */
	void *priv;                      /* the transport's (SSL *) */
	char peer[256];                  /* the peer's name for messages */
	char subject[200];               /* the peer certificate's subject ("" without TLS) */
	char why[200];                   /* the transport's words for its last -EPROTO */
};

/* A connection over fd (already non-blocking) with these ops: NULL on ENOMEM. */
vms_conn *vms_conn_wrap(int fd, const struct vms_conn_ops *ops, void *priv);

/* tls.c: run the handshake on c's fd and turn c into a TLS connection. */
int vms_tls_start(const vms_tls *t, vms_conn *c, const char *host, int timeout_ms, vms_err *err);

#endif
