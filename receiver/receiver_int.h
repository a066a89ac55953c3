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
	int state_fd;                /* state_dir, opened once (O_DIRECTORY) */
	const char *qemu_bin;        /* NULL: qemu-system-ARCH from PATH (kvm_target_policy) */
	const char *const *shared_paths; /* host files may stay under these */
	size_t nshared;
	const char *run_as;          /* NULL: the target QEMU stays root */
	uint64_t session;
	int quiet, idle_ms;
	const struct rc_seed *seeds; /* the session's VMs, by session index */
	unsigned nseeds;
};

/* One sender session on an accepted connection, to its end (rc_serve's
 * loop, and the fuzz harness of the session state machine): 0, or a
 * negative errno after an ERROR to the sender. Closes conn; err must not be
 * NULL. lfd is where live streams arrive (-1: none). */
int rc_session(const struct rc_options *o, vms_conn *conn, int lfd, uint32_t local_ip, vms_err *err);

/* ---- files.c: what a receiver creates on its host ------------------------
 * Always relative to a directory opened once, under a vms_name_valid()
 * name, never through a link, never replacing what is there. A rollback
 * removes only what the receiver made. Messages name dir/NAME. */

/* Open a writable directory (O_DIRECTORY): 0 with *fd, -ENOTDIR, -EACCES. */
int rc_dir_open(const char *path, int *fd, vms_err *err);
/* Bytes free for this user on dirfd's file system: 0, or -errno. */
int rc_dir_free(int dirfd, uint64_t *bytes);
/* Read the small file `name` of dirfd (AT_FDCWD: a path) into buf, NUL-
 * terminated, without following a link: its length (> 0), -errno when it
 * cannot be opened, -EBADMSG when it is empty or unreadable. */
ssize_t rc_read_small(int dirfd, const char *name, char *buf, size_t len);

/* Image temporaries: ".NAME.img.part-PID", mode 0600, O_EXCL. 0 with *fd
 * and tmp[] set (the caller removes it with unlinkat unless published);
 * negative errno with tmp[0] = 0 and nothing created. */
#define RC_PART_NAME_MAX (VMS_WIRE_NAME_MAX + 32)
int rc_part_create(int dirfd, const char *dir, const char *name, char tmp[RC_PART_NAME_MAX], int *fd,
		   vms_err *err);
/* Rename tmp to final in dirfd without replacing an existing final
 * (RENAME_NOREPLACE, or link + unlink): -EEXIST says so. With force, an
 * existing final is replaced (rename). */
int rc_part_publish(int dirfd, const char *dir, const char *tmp, const char *final, int force, vms_err *err);
/* Remove the image temporaries of receivers that died (".NAME.img.part-PID",
 * a regular file of ours whose PID is gone; nothing else is touched).
 * Returns how many; logs each unless quiet (`me`: this receiver's name). */
unsigned rc_sweep_parts(int dirfd, const char *dir, int quiet, const char *me);

/* A live target's directory STATE/NAME/. Claimed: made now (ours = 1,
 * with a marker naming this process), or made by a run of this receiver
 * that died (cleaned = 1: emptied and made again), or an admin's
 * directory where a target QEMU waits (qmp.sock; ours = 0, never
 * removed). Anything else there is refused: -EBUSY (a live receiver's),
 * -EEXIST. */
struct rc_vmdir {
	int fd;                      /* the directory, O_DIRECTORY, or -1 */
	int ours, cleaned;
	char name[VMS_WIRE_NAME_MAX];
};
int rc_vmdir_claim(int statefd, const char *state_dir, const char *name, struct rc_vmdir *d, vms_err *err);
/* Committed: the directory belongs to the guest that runs there now. */
void rc_vmdir_keep(struct rc_vmdir *d);
/* Rolled back: empty and remove it, if ours. */
void rc_vmdir_remove(int statefd, struct rc_vmdir *d);
void rc_vmdir_close(struct rc_vmdir *d);
/* Remove the directories of STATE that stream process `pid` made and left
 * when it died (killed: it could not remove its own). */
void rc_vmdir_sweep(int statefd, long pid);

/* Serve one stream connection to its end: 0 once the target runs (COMMIT),
 * negative after a rollback (the target QEMU removed). The caller closes
 * conn. */
int rc_stream(const struct rc_stream_ctx *c, vms_conn *conn, vms_err *err);

/* outcome.c: the journal of live VMs (STATE/.outcome-SESSION-VM). write:
 * STATE is "started", "committed" or "rolled-back"; 0 or -errno. rc_outcome
 * answers a source guard: the journal's word, or, for a stream that started
 * and whose process is gone, what the target QEMU shows (running:
 * committed; else it is quit: rolled back). */
int rc_outcome_write(int state_fd, uint64_t session, uint32_t vm, const char *name, const char *state);
enum vms_outcome rc_outcome(int state_fd, const char *state_dir, uint64_t session, uint32_t vm);
/* Remove outcome files older than a week (at each session's start). */
void rc_outcome_prune(int state_fd);

#endif
