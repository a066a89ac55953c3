/* session_int.h - private to scatter/'s sender (session.c, send.c, live.c):
 * the seeding engine and the live engine the session drives. Not installed;
 * callers outside scatter/ use sc_session_* (scatter.h). */
#ifndef VMS_SCATTER_SESSION_INT_H
#define VMS_SCATTER_SESSION_INT_H

#include "scatter.h"

/* What the session hands sc_send() beside the user's options. */
struct sc_send_ctl {
	const struct sc_session_cbs *cbs;  /* progress; NULL: none */
	void *cb_arg;
	/* live sources: the images are seeds, not checked whole */
	int live;
	uint8_t *stale;              /* [content id]: set when a seed read differed from the index */
	uint8_t *const *absent;      /* [target][content id]: set for what a target lacks (live
	                              * seeds are the multicast contents only) */
	uint64_t *session;           /* out: the session number */
	vms_conn **keep_conns;       /* out, per target: the open connections (caller closes) */
	/* live: called once every receiver has said SEEDING (its seeds are
	 * open), before the first multicast group; absent[] already marks what
	 * will not be seeded. The streams begin there, while the seeds go out.
	 * A negative errno fails the seeding. */
	int (*streams)(void *arg, vms_err *err);
	void *streams_arg;
};

/* --compress auto: bytes of a connection still unsent after a write that
 * say the link (or the receiver), not the sender, is the bottleneck */
#define SC_PACE_BACKLOG (256 << 10)

/* send.c: the control sessions (doc/PROTOCOL.md), phases 1-4. mems[v] is VM
 * v's source (as indexed); target_of[v] its target; groups as
 * sc_session_opts. per_target has ntargets entries. On failure every
 * receiver is sent ERROR and every connection is closed. Calling thread. */
int sc_send(const sc_index *ix, kvm_mem *const *mems, const struct sc_target *targets,
	    unsigned ntargets, const unsigned *target_of, const uint64_t *groups, size_t ngroups,
	    const struct sc_send_opts *o, const struct sc_send_ctl *c, struct sc_send_stats *per_target,
	    struct sc_send_stats *total, vms_err *err);

/* live.c: the live phase after sc_send() seeded live sources (with
 * keep_conns, session, stale and absent), one thread per VM. */
typedef struct sc_live sc_live;

/* Set the phase up (where each content sits on each target; per_vm zeroed,
 * then each VM's seed_pages); no I/O, no thread. Everything passed is
 * borrowed until sc_live_free(). qmp[v]: VM v's source QMP socket; ctrl[t]:
 * the kept control connections (watched, never written or closed here). */
int sc_live_new(const sc_index *ix, kvm_mem *const *mems, const char *const *qmp,
		const struct sc_target *targets, unsigned ntargets, const unsigned *target_of,
		uint64_t session, vms_conn *const *ctrl, const uint8_t *stale, uint8_t *const *absent,
		const struct sc_live_opts *o, const struct sc_session_cbs *cbs, void *cb_arg,
		struct sc_live_stats *per_vm, sc_live **out, vms_err *err);

/* Start the VM threads (up to --parallel) while sc_send() still seeds: from
 * every receiver's SEEDING on (sc_send_ctl.streams). A VM that commits
 * before sc_live_seeded() keeps its source paused until then (the seeding
 * may read it). 0 or -errno (then sc_live_free() rolls back what began). */
int sc_live_start(sc_live *lv, vms_err *err);
/* The seeding is over (done or failed): committed sources may quit. */
void sc_live_seeded(sc_live *lv);
/* Run the streams until every VM has loaded (atomic: its thread then waits
 * for sc_live_commit) or, per VM, every VM has committed or rolled back. On
 * any failure every VM not committed rolls back and every thread is joined
 * before it returns the error. Calling thread (it starts the VM threads
 * sc_live_start() left waiting for a --parallel slot). */
int sc_live_run(sc_live *lv, vms_err *err);

/* After sc_live_run returned 0: atomic, decide COMMIT and wait for every VM;
 * per VM, nothing is left to do. The first VM that did not commit is the
 * error. */
int sc_live_commit(sc_live *lv, vms_err *err);

/* Roll back every VM not decided yet, join every thread, free. NULL: no-op. */
void sc_live_free(sc_live *lv);

#endif
