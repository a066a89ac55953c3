/* live_int.h - private to scatter/live.c and scatter/live_libvirt.c: one
 * VM's job of the live phase (see live.c), and the helpers of live.c that
 * the libvirt racks' jobs share (doc/PROTOCOL.md, "libvirt streams"). */
#ifndef VMS_SCATTER_LIVE_INT_H
#define VMS_SCATTER_LIVE_INT_H

#include <pthread.h>

#include "session_int.h"

/* FAILED: failed, not rolled back yet; DONE: committed; ROLLED_BACK: final */
enum job_state { JOB_WAITING, JOB_STREAMING, JOB_LOADED, JOB_FAILED, JOB_DONE, JOB_ROLLED_BACK };
enum decision { UNDECIDED, COMMIT, ROLLBACK };

struct loc { uint32_t vm, page; };      /* vm = session index + 1; 0 = none */

struct sc_live;

struct job {
	struct sc_live *lv;
	unsigned v, k, t;                 /* index VM, session VM, target */
	pthread_t tid;
	enum job_state state;
	enum job_state told;              /* the last state reported (vm_event; main thread only) */
	int finished;                     /* JOB_DONE or JOB_ROLLED_BACK: nothing more happens */
	vms_conn *conn;                   /* stream connection */
	int guard;                        /* the source guard's pipe (-1: none) */
	pid_t guard_pid;
	int jlock;                        /* its source journal record, locked (-1: none) */
	char jname[64];                   /* the record's file name */
	vms_frames in;
	vms_wbuf out;
	kvm_qmp *q;                       /* the source's QMP */
	int mig;                          /* our end of the source's migration socket */
	size_t open;                      /* the SDATA frame still open in out (sc_rewrite_item) */
	uint8_t *ring;                    /* the last RING_PAGES referred pages, for NEED */
	vms_pagez *z;                     /* compresses whole pages (opts.compress), or NULL */
	uint64_t nref;                    /* SREFs sent so far */
	uint64_t acked;                   /* SREFs the receiver has applied (ACK) */
	double t_done;                    /* the source's migration completed (guest paused) */
	int verify;                       /* compare the target with the source before COMMIT */
	int unreadable;                   /* --verify could not read the source's memory */
	uint64_t src_start;               /* the source QEMU's start time (its identity with its pid) */
	uint8_t *seen[KVM_MS_BLOCKS_MAX]; /* pages already streamed, per block */
	uint64_t seen_pages[KVM_MS_BLOCKS_MAX]; /* pages each seen[] covers */
	struct sc_live_stats *st;
	vms_err err;
	struct sc_lvjob *lvj;             /* libvirt racks (live_libvirt.c), or NULL */
};

struct sc_live {
	const sc_index *ix;
	kvm_mem *const *mems;
	const char *const *qmp;
	const struct sc_target *targets;
	unsigned ntargets;
	const unsigned *target_of;
	vms_conn *const *ctrl;            /* the control connections: watched (atomic) */
	const uint8_t *stale;
	const uint8_t *sent;
	uint8_t *const *absent;
	const struct sc_live_opts *o;
	const struct sc_session_cbs *cbs;
	void *cb_arg;
	uint64_t session;
	struct loc **loc;                 /* per target, per content id */
	struct job *jobs;                 /* per index VM */
	unsigned nvms, started;
	int joined;                       /* every started thread has been joined */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum decision decision;
	int abort;                        /* stop streaming now */
	int seeding;                      /* sc_send() still reads the sources (sc_live_seeded) */
	int64_t t_start;                  /* the streams began (vms_now_ms): --time-limit counts from it */
	int journal_fd;                   /* o->journal_dir, open (-1: no journal) */
};

/* live.c, for live_libvirt.c (the job's thread; same contracts as the
 * static functions they call there) */
void sc_lj_set_state(struct job *j, enum job_state s);
int sc_lj_aborted(struct sc_live *lv);
int sc_lj_flush(struct job *j, vms_err *err);
int sc_lj_answer_need(struct job *j, vms_cur *p, vms_err *err);
int sc_lj_feed(struct job *j, kvm_ms *ms, const uint8_t *buf, size_t n, vms_err *err);
int sc_lj_expect(struct job *j, uint8_t want, const char *name, int timeout_ms, vms_cur *p, vms_err *err);
int sc_lj_verify(struct job *j, vms_err *err);
int sc_lj_ring(struct job *j);          /* j->ring for NEED: 0 or -ENOMEM */

/* live_libvirt.c: a libvirt rack's job (lv->o->libvirt set), in place of
 * live.c's migrate, commit and roll_back_source; sc_lj_free waits for the
 * job's libvirt migration call and frees j->lvj. */
int sc_lj_migrate(struct job *j, vms_err *err);
int sc_lj_commit(struct job *j, vms_err *err);
int sc_lj_roll_back(struct job *j);
void sc_lj_free(struct job *j);

#endif
