/* receiver.h - the one door into receiver/: `vmscatter receive`.
 *
 * A receiver serves one sender session at a time over TCP (doc/PROTOCOL.md):
 * it learns its VMs and their page maps, joins the multicast groups it is
 * told to, writes every content it receives (multicast or unicast) into the
 * pages that hold it, asks for what is still missing, and, when everything
 * is there, checks each image's SHA-256 against the sender's before it
 * writes OUT/NAME.img (temporary name, fsync, rename). A session that breaks
 * off leaves no image behind; the receiver then waits for the next one.
 * No global state: everything lives in the session. Nothing is printed:
 * log lines go to rc_options.log, errors to the caller's vms_err.
 */
#ifndef VMS_RECEIVER_H
#define VMS_RECEIVER_H

#include <stdint.h>

#include "common/common.h"

/* A log line of the receiver (no newline, no program or receiver name: the
 * caller decorates it, as `vmscatter receive` does with "vmscatter
 * receive[NAME]: "). Called from the thread that runs rc_serve and from the
 * stream child processes it forks (so several may log at once: write each
 * line whole). The receiver prints nothing itself. */
typedef void (*rc_log_fn)(void *ctx, const char *line);

struct rc_options {
	uint32_t listen_ip;          /* host byte order; 0 = any */
	uint16_t port;
	const char *out_dir;
	const char *state_dir;       /* live targets' files; NULL: out_dir */
	const char *qemu_bin;        /* live targets' binary; NULL: qemu-system-ARCH from PATH */
	const char *const *shared_paths; /* live targets: host files (disks, kernels, firmware)
				      * may stay where they are under these (--shared-path) */
	size_t nshared;
	const char *run_as;          /* live targets run as this user (--run-as); NULL: root */
	const char *name;            /* this receiver's name (WELCOME) */
	int once;                    /* return after one session */
	int quiet;                   /* no log lines */
	rc_log_fn log;               /* where log lines go; NULL: nowhere */
	void *log_ctx;               /* log's first argument */
	int idle_ms;                 /* a silent sender is dropped after this */
	const vms_tls *tls;          /* server credentials; NULL: plain TCP (--insecure) */
	/* What one sender may ask of this host, checked before anything is
	 * allocated or created (doc/SECURITY.md "Receiver limits"); 0: the
	 * default. */
	uint64_t max_vm_bytes;       /* one VM's memory (--max-memory) */
	uint64_t max_session_bytes;  /* all VMs of a session (--max-session-memory) */
	unsigned max_vms;            /* VMs in a session (--max-vms) */
	int force;                   /* an existing OUT/NAME.img may be replaced (--force) */
};

#define RC_MAX_VM_BYTES_DEFAULT (64ull << 30)
#define RC_MAX_SESSION_BYTES_DEFAULT (1ull << 40)
#define RC_MAX_VMS_DEFAULT 256u

/* Serve sessions until one ends with `once`, or forever. Returns 0 when the
 * (last) session succeeded, a negative errno otherwise (message in err). */
int rc_serve(const struct rc_options *o, vms_err *err);

/* The stream bytes an SDATA, SREF or SCOMP message (type, payload p) stands
 * for, appended to `out` (x decompresses SCOMP pages). seed() copies page `page` of session VM `vm`'s seed
 * into out[] (negative errno if there is none). An SREF whose page does not
 * have the SHA-256 the sender gave fails with -EIO. Fuzzable: it only reads
 * its input and the seeds. */
typedef int (*rc_seed_fn)(void *ctx, uint32_t vm, uint64_t page, uint8_t *out);
int rc_apply(uint8_t type, vms_cur *p, rc_seed_fn seed, void *ctx, vms_pagex *x, vms_wbuf *out, vms_err *err);

#endif
