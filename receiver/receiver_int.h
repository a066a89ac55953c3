/* receiver_int.h - inside receiver/ only (and its unit tests and fuzz
 * harnesses): how the pieces of a session fit together.
 *
 *   serve.c    the accept loop; one session's event loop (control connection,
 *              multicast, live stream connections), stream child processes
 *   session.c  the session state machine: every control message, through a sink
 *   index.c    the content index: which pages hold which content
 *   image.c    the image writer: OUT/.NAME.img.part-PID, SHA-256, publish
 *   mcast.c    multicast receive: join, drain into the state machine, leave
 *   hostsink.c the sink a real session uses (image.c, mcast.c, the connection)
 *   memsink.c  a sink in memory, for the unit tests and the fuzz harness
 *   stream.c   one live VM's stream (in a child process); apply.c its pages
 *   files.c    what a receiver creates on its host; outcome.c the live journal
 *   log.c      log lines, through rc_options.log
 *
 * Nothing here is thread-safe on a shared object; there is no global state. */
#ifndef VMS_RECEIVER_INT_H
#define VMS_RECEIVER_INT_H

#include <stdarg.h>

#include "receiver.h"
#include "kvmglue/kvmglue.h"

/* ---- log.c ------------------------------------------------------------------
 * One line (at most 1,199 bytes, cut beyond) to log(ctx, line); nothing when
 * log is NULL. rc_log: through o->log, nothing when o->quiet. */
void rc_logv(rc_log_fn log, void *ctx, const char *prefix, const char *fmt, va_list ap);
void rc_log(const struct rc_options *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- the sink: everything a session does outside its own memory ---------------
 * The state machine (session.c) touches no file, socket or multicast group:
 * it calls these, with the sink's private data first. Each int-returning op
 * returns 0 or a negative errno with a message in err (which the session
 * sends to the sender as its ERROR). The state machine guarantees the
 * order: vm_open for VM 0, 1, ... (each once, before any other op names
 * it); write_page only for an opened VM and page < its pages; finish_image
 * of every VM before the first publish_image; join only when no group is
 * joined, leave only after a join. */
struct rc_sink_ops {
	/* Bytes free where the images go (asked once, at the first VM). */
	int (*space)(void *priv, uint64_t *bytes, vms_err *err);
	/* VM vm was announced (limits checked): make its image of `pages` zero
	 * pages. seed: a live session's seed, kept for the streams and never
	 * published, so an existing NAME.img does not matter. */
	int (*vm_open)(void *priv, uint32_t vm, const char *name, uint64_t pages, int seed, vms_err *err);
	/* Page `page` of VM vm holds data[VMS_WIRE_PAGE] (read during the call only). */
	int (*write_page)(void *priv, uint32_t vm, uint64_t page, const uint8_t *data, vms_err *err);
	/* Every page of VM vm is in: check that the image's SHA-256 is sha256
	 * (-EIO when it differs) and make it durable. */
	int (*finish_image)(void *priv, uint32_t vm, const uint8_t sha256[32], vms_err *err);
	/* Give the finished image its final name (OUT/NAME.img). */
	int (*publish_image)(void *priv, uint32_t vm, vms_err *err);
	/* Reply to the sender: n bytes of whole frames (read during the call only). */
	int (*send)(void *priv, const void *p, size_t n, vms_err *err);
	/* Join multicast group j (sealed: j->key opens it, bound to session;
	 * the caller wipes the key afterwards). Its messages come back through
	 * rc_sm_mcast(). */
	int (*join)(void *priv, const struct vms_msg_join *j, int sealed, uint64_t session, vms_err *err);
	/* Leave the group joined last (GROUP_DONE is being sent). */
	void (*leave)(void *priv);
	/* What became of VM vm of live session `session` (a source guard asks). */
	enum vms_outcome (*outcome)(void *priv, uint64_t session, uint32_t vm);
};

/* ---- index.c: the content index -------------------------------------------------
 * Built at MAPS_END from the VMs' maps: for each distinct content id, the
 * pages (vm, page) that hold it, and whether it came. */
struct rc_vm {                   /* a VM as the session knows it */
	char name[VMS_WIRE_NAME_MAX];
	uint64_t pages, mapped;      /* announced; mapped so far (MAP runs in order) */
	uint8_t digest[32];          /* the sender's SHA-256 of the image */
	uint32_t *map;               /* content id per page, 0 = zero; NULL once indexed */
};
struct rc_loc { uint32_t id, vm, page; };
struct rc_index {
	struct rc_loc *locs;         /* sorted by id, vm, page */
	uint32_t *ids, *off;         /* ids[k] is held by locs[off[k] .. off[k+1]) */
	uint8_t *have;               /* have[k]: content ids[k] came */
	size_t nids, missing;        /* distinct ids; of them not come yet */
};
/* Build the index from vms[0..n)'s maps, which it frees (map = NULL): 0, or
 * -ENOMEM (the index then holds what was made; rc_index_free frees it). */
int rc_index_build(struct rc_index *ix, struct rc_vm *vms, unsigned n, vms_err *err);
/* 1 when content id is still wanted: *slot and its locations locs[0..*n);
 * 0 when it is unknown (another receiver's) or came already. */
int rc_index_want(const struct rc_index *ix, uint32_t id, size_t *slot, const struct rc_loc **locs, size_t *n);
/* Content ids[slot] is written everywhere it belongs. */
void rc_index_got(struct rc_index *ix, size_t slot);
/* The next up to max ids still missing, from slot *k on (start at 0;
 * *k moves past them): how many were put in ids[]. */
uint32_t rc_index_missing(const struct rc_index *ix, size_t *k, uint32_t *ids, uint32_t max);
void rc_index_free(struct rc_index *ix);

/* ---- session.c: the session state machine ----------------------------------------
 *   HELLO -> VMS (LIVE, VM, MAP..., MAPS_END) -> DATA (groups, CONTENT, END)
 *         -> LIVE (until LIVE_END) or DONE;   OUTCOME (a source guard) -> DONE
 * Fed whole control messages (rc_sm_message) and authentic multicast
 * messages (rc_sm_mcast); all its effects go through the sink. Single
 * threaded; the struct is read by the event loop (st, live, id, counters)
 * and changed only here. */
enum rc_state { RC_ST_HELLO, RC_ST_VMS, RC_ST_DATA, RC_ST_LIVE, RC_ST_DONE };
#define RC_GROUP_QUIET_MS 3000   /* no multicast progress after MCAST_END: the group is over */

struct rc_sm {
	const struct rc_options *o;
	const struct rc_sink_ops *sink;
	void *priv;                  /* the sink's */
	uint64_t max_vm, max_total;  /* the limits in bytes (o's, or the defaults) */
	unsigned max_vms;
	uint64_t disk_free;          /* the sink's space at the first VM */
	enum rc_state st;
	uint64_t id;                 /* the sender's session number (HELLO) */
	int live;                    /* LIVE: the images are seeds for live streams */
	int sealed;                  /* HELLO said so: every group is sealed */
	vms_wbuf out;                /* a reply being built */
	struct rc_vm *vms;
	unsigned nvms;
	uint64_t total_pages;
	struct rc_index ix;          /* from MAPS_END on */
	/* the multicast group being received */
	int in_group, group_heard, group_ending;  /* heard: JOINED sent */
	uint32_t group, expect, received;
	int group_lost;              /* PGM lost some of it for good: no more MCAST_ACKs */
	uint32_t rejected;           /* multicast messages that failed authentication */
	int64_t last_progress;       /* vms_now_ms() of the group's last progress */
	uint64_t contents_tcp, contents_mcast;
	vms_pagex *px;               /* decompresses contents (made at the first) */
};

/* Start a session at HELLO; sink and priv stay the caller's and must
 * outlive sm. Nothing is allocated yet. */
void rc_sm_init(struct rc_sm *sm, const struct rc_options *o, const struct rc_sink_ops *sink, void *priv);
/* One whole control message (type, payload p): 0, or a negative errno with
 * the message for the sender's ERROR in err (the session is then over:
 * call rc_sm_fail, then rc_sm_free). Nothing is read past p. */
int rc_sm_message(struct rc_sm *sm, uint8_t type, vms_cur *p, vms_err *err);
/* One authentic multicast message of the current group (msg[0..len), read
 * during the call only): JOINED at the first; a content is stored, a hello
 * or anything malformed ignored; every VMS_WIRE_MCAST_ACK_EVERY messages
 * (but hellos) an MCAST_ACK. 0 or negative errno (a sink failure).
 * Ignored outside a group. */
int rc_sm_mcast(struct rc_sm *sm, const uint8_t *msg, size_t len, vms_err *err);
/* The group's multicast lost data for good / dropped a message that
 * failed authentication (counted for GROUP_DONE; a forgery may have taken
 * a real message's place). Either way the count no longer says where the
 * sender is: MCAST_ACK "do not wait for me" once, then no more. */
int rc_sm_mcast_lost(struct rc_sm *sm, vms_err *err);
int rc_sm_mcast_rejected(struct rc_sm *sm, vms_err *err);
/* After MCAST_END, the group is over once every message came or nothing
 * came for RC_GROUP_QUIET_MS before now_ms (vms_now_ms()): then leave it and
 * send GROUP_DONE, returning 1. 0 while it goes on; negative errno. */
int rc_sm_group_check(struct rc_sm *sm, int64_t now_ms, vms_err *err);
/* The session failed with err->msg: tell the sender (ERROR), best effort. */
void rc_sm_fail(struct rc_sm *sm, const vms_err *err);
void rc_sm_free(struct rc_sm *sm);

/* ---- stream.c: live streams ----------------------------------------------------------- */
struct rc_seed {
	char name[VMS_WIRE_NAME_MAX];
	int fd;                      /* the seed image, as the session wrote it */
	uint64_t pages;
	const uint8_t *written;      /* a bit per page the session has written so far (shared) */
};

struct rc_stream_ctx {
	rc_log_fn log;               /* rc_options' log and log_ctx */
	void *log_ctx;
	const char *state_dir;
	int state_fd;                /* state_dir, opened once (O_DIRECTORY) */
	const char *qemu_bin;        /* NULL: qemu-system-ARCH from PATH (kvm_target_policy) */
	const char *const *shared_paths; /* host files may stay under these */
	size_t nshared;
	const char *run_as;          /* NULL: the target QEMU stays root */
	uint64_t session;
	int quiet, idle_ms;
	int first_ms;                /* the STREAM message must come within this (<= 0: idle_ms) */
	const struct rc_seed *seeds; /* the session's VMs, by session index */
	unsigned nseeds;
	/* streams begin while the session still seeds (SEEDING): a reference to
	 * a seed page not written yet waits until it is, or until this says
	 * the seeding is over (shared; NULL: it is) */
	const uint32_t *seeding_over;
	/* Called once, when the STREAM message names this session and one of
	 * its VMs, before anything is made for it: from then on the connection
	 * is a stream of the session (NULL: nobody to tell). 0, or -errno:
	 * the stream fails. */
	int (*accepted)(void *arg);
	void *accepted_arg;
};

/* serve.c: one sender session on an accepted connection, to its end
 * (rc_serve's loop, and the fuzz harness fuzz_session.c): the state machine
 * fed from conn and multicast through the host sink. 0, or a negative errno
 * after an ERROR to the sender. Closes conn; err must not be NULL. lfd is
 * where live streams arrive (-1: none). */
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
 * Returns how many; logs each through o (rc_log). */
unsigned rc_sweep_parts(int dirfd, const char *dir, const struct rc_options *o);

/* A live target's directory STATE/NAME/. Claimed: made now (ours = 1,
 * with a marker naming this process and the stream's session and VM), or
 * made by a stream process of this receiver that died (cleaned = 1:
 * settled as rc_vmdir_sweep does, found rolled back, made again), or an
 * admin's directory where a target QEMU waits (qmp.sock; ours = 0, never
 * removed). Anything else there is refused: -EBUSY (a live receiver's, or
 * a dead one's that cannot be settled yet), -EEXIST (also: a dead one's
 * whose target turned out committed). */
struct rc_vmdir {
	int fd;                      /* the directory, O_DIRECTORY, or -1 */
	int ours, cleaned;
	char name[VMS_WIRE_NAME_MAX];
};
int rc_vmdir_claim(int statefd, const char *state_dir, const char *name, uint64_t session, uint32_t vm,
		   struct rc_vmdir *d, vms_err *err);
/* Committed: the directory belongs to the guest that runs there now. */
void rc_vmdir_keep(struct rc_vmdir *d);
/* Rolled back: empty and remove it, if ours. */
void rc_vmdir_remove(int statefd, struct rc_vmdir *d);
void rc_vmdir_close(struct rc_vmdir *d);
/* Settle the directories of STATE that stream process `pid` made and left
 * when it died (killed: it could not settle its own), each once its target
 * guard can no longer act (kvm_target_lock, waiting up to 5 s): a target
 * QEMU that runs was committed (the directory is kept as its guest's, the
 * marker goes, the journal says committed); one that is gone was rolled
 * back (the directory is removed, the journal says rolled-back); one that
 * cannot be told yet is left for rc_vmdir_settle. Logs through o. */
void rc_vmdir_sweep(int statefd, const char *state_dir, long pid, const struct rc_options *o);
/* The same for the stream (session, vm) of NAME, whose journal says
 * "started", when a source guard asks (OUTCOME): PENDING while a stream
 * process that made STATE/NAME/ still runs (it decides), or while its
 * guard or QMP does not answer in time; ROLLED_BACK when there is no
 * STATE/NAME/ or it is another stream's. Writes no journal. Blocks for up
 * to about 10 s. */
enum vms_outcome rc_vmdir_settle(int statefd, const char *state_dir, const char *name, uint64_t session,
				 uint32_t vm);

/* Serve one stream connection to its end: 0 once the target runs (COMMIT),
 * negative after a rollback (the target QEMU removed). The caller closes
 * conn. */
int rc_stream(const struct rc_stream_ctx *c, vms_conn *conn, vms_err *err);

/* outcome.c: the journal of live VMs (STATE/.outcome-SESSION-VM). write:
 * STATE is "started", "committed" or "rolled-back"; 0 or -errno. rc_outcome
 * answers a source guard: the journal's word, or, for a stream that started,
 * rc_vmdir_settle's (then written in the journal). */
int rc_outcome_write(int state_fd, uint64_t session, uint32_t vm, const char *name, const char *state);
enum vms_outcome rc_outcome(int state_fd, const char *state_dir, uint64_t session, uint32_t vm);
/* Remove outcome files older than a week (at each session's start). */
void rc_outcome_prune(int state_fd);

/* ---- image.c: the image writer -----------------------------------------------------
 * One image per VM, made as OUT/.NAME.img.part-PID (files.c), written page
 * by page, checked (SHA-256; holes hashed without reading them) and published
 * as OUT/NAME.img. Whatever is not published, rc_images_free removes. */
struct rc_image {
	char name[VMS_WIRE_NAME_MAX];
	uint64_t pages;
	int fd;                      /* the temporary (a live session's seed), or -1 */
	uint8_t *written;            /* a seed: a bit per page once written, shared with the
	                              * stream children (MAP_SHARED), or NULL */
	size_t written_len;
	char tmp[RC_PART_NAME_MAX];  /* in the out dir; set only once we made it */
	char final[VMS_WIRE_NAME_MAX + 8];
};
struct rc_images {
	const struct rc_options *o;  /* out_dir, force; log lines */
	int dirfd;                   /* o->out_dir (not owned) */
	struct rc_image *v;
	unsigned n;
	uint32_t *seeding_over;      /* seeds: 1 once the session seeds no more (shared as
	                              * `written`), or NULL */
};
/* Image n (the next): -EEXIST when OUT/NAME.img is there (unless seed or
 * o->force), else made, `pages` zero pages long (sparse). */
int rc_image_open(struct rc_images *im, const char *name, uint64_t pages, int seed, vms_err *err);
int rc_image_write(struct rc_images *im, uint32_t vm, uint64_t page, const uint8_t *data, vms_err *err);
/* Seeds: nothing more will be written (the stream children stop waiting). */
void rc_images_seeded(struct rc_images *im);
/* SHA-256 of image vm compared with sha256 (-EIO: differs), then fsync. */
int rc_image_verify(struct rc_images *im, uint32_t vm, const uint8_t sha256[32], vms_err *err);
/* Rename to OUT/NAME.img (never over one that is there, unless o->force). */
int rc_image_publish(struct rc_images *im, uint32_t vm, vms_err *err);
/* Close every image; remove the temporaries not published. */
void rc_images_free(struct rc_images *im);

/* ---- mcast.c: multicast receive ----------------------------------------------------- */
struct rc_mcast {
	uint32_t local_ip;           /* the interface groups are joined on */
	vms_mcast *mc;               /* the group joined, or NULL */
	uint32_t group;              /* its number */
	vms_seal *seal;              /* opens it (sealed sessions); kept until the next join */
};
int rc_mcast_join(struct rc_mcast *m, const struct vms_msg_join *j, int sealed, uint64_t session, vms_err *err);
void rc_mcast_leave(struct rc_mcast *m);
/* Hand what the group has (up to 4,096 messages) to the state machine;
 * *last_msg = vms_now_ms() at each authentic message. *wait_ms: how long
 * poll may sleep (-1: until a descriptor is ready). 0 or negative errno. */
int rc_mcast_drain(struct rc_mcast *m, struct rc_sm *sm, int64_t *last_msg, int *wait_ms, vms_err *err);
void rc_mcast_free(struct rc_mcast *m);

/* ---- hostsink.c: the sink of a real session --------------------------------------------
 * Images in o->out_dir (image.c), replies on the control connection, the
 * multicast groups (mcast.c), the outcome journal in o->state_dir. */
struct rc_host {
	const struct rc_options *o;
	vms_conn *conn;              /* the sender's control connection (owned) */
	int out_fd, state_fd;        /* o->out_dir, o->state_dir (or out_fd), opened once */
	struct rc_images img;
	struct rc_mcast mc;
};
extern const struct rc_sink_ops rc_host_ops;
/* Take conn (closed by rc_host_close, even when this fails), open the
 * directories, prune old outcome files: 0 or negative errno. */
int rc_host_open(struct rc_host *h, const struct rc_options *o, vms_conn *conn, uint32_t local_ip, vms_err *err);
void rc_host_close(struct rc_host *h);

/* ---- memsink.c: a sink in memory (unit tests, fuzz harness) -------------------------------
 * Images are buffers (at most max_bytes in all), replies are appended to
 * `replies`, and with `trace` every call is a line in `calls` ("open 0 vm1 3",
 * "write 0 2", "finish 0", "publish 0", "send 13", "join 2", "leave",
 * "outcome 1a 0", "space"). A call that breaks the order rc_sink_ops
 * promises fails with -EFAULT and is counted in `violations` (a harness
 * aborts on it). */
struct rc_memimg {
	uint8_t *data;               /* pages x VMS_WIRE_PAGE */
	uint64_t pages;
	int finished, published;
};
struct rc_memsink {
	uint64_t space;              /* what space() answers */
	enum vms_outcome outcome;    /* what outcome() answers */
	uint64_t max_bytes;          /* images held at most; past it vm_open fails -ENOMEM */
	int trace;
	vms_wbuf replies, calls;
	struct rc_memimg *v;
	unsigned n;
	uint64_t bytes, writes;
	int in_group, published_any;
	unsigned violations;
};
extern const struct rc_sink_ops rc_memsink_ops;
/* Zeroed, space = max_bytes = 64 MiB, outcome pending, no trace. */
void rc_memsink_init(struct rc_memsink *m);
void rc_memsink_free(struct rc_memsink *m);

#endif
