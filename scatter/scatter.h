/* scatter.h - the one door into scatter/: the page index, the sharing
 * summary and the sender's session.
 *
 * THE PAGE INDEX
 * Every 4 KiB page of every VM is hashed with XXH3-128. The hash only finds
 * candidates: two pages share a content id only after a byte-exact memcmp of
 * the two pages (the earlier one is read again from its source), so no guest
 * can plant a colliding page that another VM would receive. At most
 * SC_SAME_HASH_MAX different contents with one hash are compared; further
 * ones are kept as distinct contents without comparison, which bounds the
 * work an attacker can cause.
 *
 * Content ids: 0 is the zero page; non-zero contents are numbered 1..N in
 * the order they were first seen (VM order, then page order), so the ids are
 * the same for the same inputs whatever the thread count.
 *
 * Memory (documented budget):
 *   per page:             4 bytes (its content id)
 *   per distinct content: 32 bytes (hash, first location, reference count)
 *                         + 8 * ceil(VMs / 64) bytes (holder bitmap)
 *                         + 4..8 bytes of hash table (load factor <= 1/2)
 *   while indexing:       4 * threads chunks of SC_CHUNK_PAGES pages (only
 *                         sources that cannot be mapped fill them).
 * A rack of 64 VMs x 4 GiB (64 Mi pages) with 32 Mi distinct contents needs
 * about 256 MiB + 1.5 GiB.
 *
 * Threads: with `threads` = 1 the calling thread reads, hashes and inserts;
 * with more, threads - 1 workers read and hash chunks ahead while the calling
 * thread inserts them in order (and hashes too when the chunk it needs next
 * is not ready, so no core idles). An sc_index is not itself thread-safe.
 */
#ifndef VMS_SCATTER_H
#define VMS_SCATTER_H

#include <stdint.h>

#include "common/common.h"
#include "kvmglue/kvmglue.h"

#define SC_ZERO_CONTENT 0u
#define SC_MAX_VMS 4096u
#define SC_MAX_THREADS 64u
#define SC_CHUNK_PAGES 256u
#define SC_SAME_HASH_MAX 8u
#define SC_NAME_MAX 64u
/* where `send --live` keeps its source journal unless --state-dir says */
#define SC_SEND_STATE_DIR "/var/lib/vmscatter/source"
/* the page compressor unless --compress says: zstd while the sender waits
 * for its link or receivers anyway, LZ4 while it is the bottleneck
 * (tools/bench-live.sh: on a CPU-bound rack LZ4 alone moved it in 0.75x
 * zstd's time; tools/vms-bench-compress for the ratios) */
#define SC_COMPRESS_DEFAULT VMS_COMPRESS_AUTO

typedef struct sc_index sc_index;

/* Create an index for `nvms` VMs hashed by `threads` threads (1 = hash on the
 * calling thread). *out is freed with sc_index_free(). */
int sc_index_new(unsigned nvms, unsigned threads, sc_index **out, vms_err *err);
void sc_index_free(sc_index *ix);

/* Called now and then while a VM is indexed (on the calling thread). */
typedef void (*sc_progress_fn)(void *ctx, unsigned vm, uint64_t done, uint64_t total);

/* Index the next VM: read every page of `mem` and record its content.
 * `name` must be unique and at most SC_NAME_MAX-1 bytes of [A-Za-z0-9._-].
 * Every `mem` added must stay open until the last sc_index_add() returns
 * (earlier pages are re-read to confirm identities); after that the index no
 * longer touches them. On failure the index is unusable (free it). */
int sc_index_add(sc_index *ix, const char *name, kvm_mem *mem,
		 sc_progress_fn progress, void *ctx, vms_err *err);

/* Also take each VM's SHA-256 while indexing it (the sender needs it; the
 * pages are read once either way). Call before the first sc_index_add(). */
void sc_index_set_digests(sc_index *ix, int on);
/* The SHA-256 of VM `vm`'s memory as indexed; -ENODATA if digests were off. */
int sc_index_vm_digest(const sc_index *ix, unsigned vm, uint8_t out[32]);

unsigned sc_index_vms(const sc_index *ix);
const char *sc_index_vm_name(const sc_index *ix, unsigned vm);
uint64_t sc_index_vm_pages(const sc_index *ix, unsigned vm);
/* Content id of a page (vm < sc_index_vms, page < sc_index_vm_pages). */
uint32_t sc_index_page(const sc_index *ix, unsigned vm, uint64_t page);
/* Number of distinct non-zero contents; their ids are 1..that number. */
uint32_t sc_index_contents(const sc_index *ix);
/* How many pages in the whole rack hold content `cid` (1..contents). */
uint32_t sc_index_content_refs(const sc_index *ix, uint32_t cid);
/* Where content `cid` was first seen (a page holding exactly it). */
void sc_index_content_where(const sc_index *ix, uint32_t cid, unsigned *vm, uint64_t *page);
/* Holder bitmap of content `cid`: sc_index_holder_words() words, bit
 * (vm % 64) of word (vm / 64). Valid until the next sc_index_add/free. */
const uint64_t *sc_index_holders(const sc_index *ix, uint32_t cid);

/* By hash only - a candidate, never a proof of identity (live streams send
 * its SHA-256 along and the receiver checks the bytes it holds):
 * the content whose hash `page` has (SC_ZERO_CONTENT if none, or if the page
 * is all zero), and whether `page` hashes like content cid. */
uint32_t sc_index_find(const sc_index *ix, const uint8_t *page);
int sc_index_content_is(const sc_index *ix, uint32_t cid, const uint8_t *page);
unsigned sc_index_holder_words(const sc_index *ix);

/* ---- statistics (all counts in pages) ------------------------------------- */

struct sc_vm_stats {
	uint64_t pages;
	uint64_t zero_pages;
	uint64_t distinct_nonzero;   /* distinct non-zero contents in this VM */
	uint64_t self_identical;     /* non-zero pages - distinct_nonzero */
	uint64_t inter_identical;    /* non-zero pages whose content another VM has */
	uint64_t unique;             /* non-zero pages whose content occurs once in the rack */
};

struct sc_rack_stats {
	uint64_t pages;
	uint64_t zero_pages;
	uint64_t distinct_nonzero;   /* across all VMs */
	uint64_t shared_contents;    /* distinct non-zero contents in >= 2 VMs */
};

/* Fill vm[0..vms) and *rack. */
int sc_index_stats(const sc_index *ix, struct sc_vm_stats *vm, struct sc_rack_stats *rack,
		   vms_err *err);

/* ---- the sharing summary ---------------------------------------------------
 * Distinct non-zero contents grouped by the exact set of VMs holding them:
 * one class per distinct holder set, with the number of contents and the
 * number of pages (over all holders) they fill. This is what the planner
 * consumes; its size is the number of distinct holder sets, not pages. */
struct sc_class {
	const uint64_t *holders;     /* sc_index_holder_words() words */
	uint64_t contents;
	uint64_t pages;
};

typedef struct sc_summary sc_summary;

/* Build the summary; classes are sorted by holder count, then contents
 * (largest first), then bitmap. Freed with sc_summary_free(). */
int sc_summary_build(const sc_index *ix, sc_summary **out, vms_err *err);
size_t sc_summary_classes(const sc_summary *s);
const struct sc_class *sc_summary_class(const sc_summary *s, size_t i);
/* matrix[i * vms + j] = distinct non-zero contents VMs i and j share
 * (i == j: the VM's own distinct_nonzero). `matrix` has vms*vms entries. */
int sc_summary_matrix(const sc_summary *s, uint64_t *matrix, vms_err *err);
void sc_summary_free(sc_summary *s);

/* ---- the sender ------------------------------------------------------------
 * A sender session (sc_session_*, below) scatters indexed memory images to
 * their targets over the wire protocol (doc/PROTOCOL.md): it tells each
 * receiver its VMs and their page maps, multicasts every content two or more
 * targets need once per multicast group (PGM) in the given order, unicasts the
 * rest and whatever a receiver still lacks, and succeeds only when every
 * receiver has written every image with the source's SHA-256 (the index must
 * have been built with sc_index_set_digests()). A live session seeds the
 * targets that way while the guests run, then migrates each running QEMU
 * through the sender into a target QEMU. */

struct sc_target {
	char name[SC_NAME_MAX];
	char host[256];              /* as given (IP or DNS name): its certificate must name it */
	uint32_t ip;                 /* host byte order */
	uint16_t port;
};

/* The control sessions and the seeds (or, offline, the whole transfer). */
struct sc_send_opts {
	uint64_t rate;               /* bytes/s, multicast and unicast each; 0: multicast at most
	                              * at the speed of the interface it leaves from, unicast
	                              * unpaced (TCP's own congestion control) */
	uint32_t mcast_if;           /* 0: the address the TCP connections use */
	uint16_t mcast_port;         /* first UDP port for the groups */
	int timeout_ms;              /* for each receiver answer */
	enum vms_compress compress;  /* every content it shrinks, with this (NONE: never) */
	const vms_tls *tls;          /* client credentials; NULL: plain TCP (--insecure) */
	const char *tls_hostname;    /* check the receivers' certificates for this name; NULL: their IP */
};

struct sc_send_stats {
	uint64_t multicast_bytes;    /* PGM payload (per target: what reached it) */
	uint64_t unicast_bytes;      /* CONTENT frames */
	uint64_t control_bytes;      /* every other frame, both ways */
	uint64_t contents_multicast, contents_unicast, contents_resent;
	uint64_t contents_compressed;  /* of those, sent compressed */
	uint64_t multicast_rejected;   /* multicast messages receivers dropped: failed authentication */
	uint64_t image_bytes;        /* the images themselves, for comparison */
	double seconds;
	/* total only: connections and page maps; multicast groups;
	 * unicast, re-sends and the receivers' verification */
	double seconds_prepare, seconds_multicast, seconds_unicast;
};

/* The live phase: every VM migrates from its source QEMU through the sender
 * to a target QEMU its receiver starts. By default each VM commits (resumes
 * on its target, its source quits) as soon as its own target has loaded it;
 * with `atomic` the guests resume on the targets only when every VM has
 * loaded, else every VM rolls back (sources running, targets removed). Never
 * both running, never neither. */
struct sc_live_opts {
	uint64_t max_bandwidth;      /* bytes/s for QEMU's migration (its own limit) */
	unsigned parallel;           /* VMs streaming at once; 0 = all */
	enum sc_verify {             /* compare every page of each target with its source: */
		SC_VERIFY_TCG = 0,   /* for each VM whose source QEMU runs without KVM (TCG's
		                      * dirty tracking misses writes; query-kvm says) */
		SC_VERIFY_ALWAYS,
		SC_VERIFY_NEVER,
	} verify;
	int repair;                  /* with verify: re-send pages that differ, compare again */
	int keep_source;             /* leave committed sources paused instead of quitting them */
	int atomic;                  /* all or nothing: commit only when every VM has loaded */
	int overlap;                 /* the streams begin while the seeds go out (not with atomic) */
	enum vms_compress compress;  /* pages of the streams it shrinks go compressed (SCOMP) */
	int timeout_ms;              /* whole live phase; <= 0: none */
	int stall_ms;                /* a source stream silent this long fails; <= 0: never */
	volatile int *stop;          /* set (e.g. by SIGINT) to roll back */
	const vms_tls *tls;          /* as sc_send_opts: stream connections are TLS too */
	const char *tls_hostname;
	/* the source guards: `guard_exe guard ...` (the vmscatter binary) is
	 * started for each VM before its source migrates, with tls_dir as its
	 * --tls-creds (NULL: --insecure); guard_exe NULL: no guards */
	const char *guard_exe;
	const char *tls_dir;
	/* the source journal's directory (see below; it must exist); NULL: none */
	const char *journal_dir;
	/* libvirt racks (NULL: bare QEMU): libvirt migrates each domain, its
	 * stream through the sender (doc/PROTOCOL.md, "libvirt streams") */
	const struct sc_live_libvirt *libvirt;
};

struct sc_live_libvirt {
	kvm_lv_dom *const *doms;     /* per VM (index order): its domain on the source */
	const char *const *desturi;  /* per target: its libvirt, as the source's libvirtd reaches it */
	const char *run_dir;         /* libvirt's run directory on the source (KVM_LV_RUN_DIR) */
	uint64_t bandwidth_mib;      /* libvirt's --bandwidth (MiB/s); 0: libvirt's default */
	int persistent;              /* define the domain on its target (virsh's --persistent) */
	int undefine_source;         /* undefine it on its source (--undefinesource) */
};

struct sc_live_stats {
	/* pages and wire bytes of QEMU's stream, by what became of them */
	uint64_t zero_pages, zero_bytes;     /* zero records, passed through */
	uint64_t ref_pages, ref_bytes;       /* referred to a seed (SREF) */
	uint64_t whole_pages, whole_bytes;   /* first sending of a page, whole */
	uint64_t dirty_pages, dirty_bytes;   /* pages QEMU sent again, whole */
	uint64_t other_bytes;                /* headers, device state */
	uint64_t stream_bytes;               /* what QEMU wrote */
	uint64_t seed_pages;                 /* contents seeded on its target (multicast, and
	                                      * those on several of its pages), first found in
	                                      * this VM (its share of the seeds) */
	uint64_t wire_bytes;                 /* what the sender sent on the stream connection */
	int64_t downtime_ms, qemu_ms;        /* QEMU's own figures (query-migrate) */
	int64_t paused_ms;                   /* the guest's whole pause: QEMU's downtime, then
	                                      * verify and the wait for every VM, to RUNNING */
	double seconds;
	uint64_t repaired_pages, repair_bytes; /* --verify: pages QEMU missed, re-sent */
	uint64_t fetched_pages;              /* references whose seed did not match: sent whole (NEED) */
	uint64_t compressed_pages;           /* whole and dirty pages that went compressed (SCOMP) */
	int verified, committed;
	char libvirt[128];                   /* libvirt racks: what libvirt reported ("" bare QEMU) */
	int unverified;                      /* --verify could not be done: the source QEMU died
	                                      * after it completed its migration, so the target's
	                                      * copy (the only one) was committed unverified */
};

/* ---- the sender's session: what it reports ----------------------------------
 * Every callback is optional (NULL: not told) and is called on the thread
 * that called the sc_session_* function in progress, never from another
 * thread and never after that function has returned. Pointers passed to a
 * callback are valid only during the call. */

enum sc_progress_kind {
	SC_PROGRESS_MULTICAST,       /* a multicast group's contents */
	SC_PROGRESS_UNICAST,         /* one receiver's unicast contents */
	SC_PROGRESS_RESEND,          /* contents one receiver reported missing, by unicast */
	SC_PROGRESS_END,             /* the multicast groups, or the unicast phase, are over */
};

struct sc_progress {
	enum sc_progress_kind kind;
	size_t group, groups;        /* MULTICAST: this group (from 0) of how many */
	const char *target;          /* UNICAST, RESEND: the receiver's name */
	size_t done, total;          /* contents (pages) sent, of how many */
	double mb_per_s;             /* 10^6 bytes/s so far (MULTICAST: as sent, compressed) */
	double eta_s;                /* seconds left at that rate */
};

/* A live VM's way (its index VM number): STREAMING, then LOADED (its target
 * holds it, paused), then COMMITTED (it runs on its target); or FAILED and
 * ROLLED_BACK (it runs on its source; detail says why). The states are
 * sampled, so a short one may be left out; every VM that started streaming
 * ends with COMMITTED or ROLLED_BACK. */
enum sc_vm_event {
	SC_VM_STREAMING,
	SC_VM_LOADED,
	SC_VM_FAILED,
	SC_VM_COMMITTED,
	SC_VM_ROLLED_BACK,
};

struct sc_session_cbs {
	/* a line worth a human's eye, without a newline (e.g. "seeds in place
	 * in 1.2 s (0 contents changed meanwhile); migrating") */
	void (*log)(void *arg, const char *line);
	/* progress of a multicast group or of unicast: at most about twice a
	 * second per group or receiver, and once when it is complete; END once
	 * after the multicast groups (if there were any) and once after the
	 * unicast phase */
	void (*progress)(void *arg, const struct sc_progress *p);
	/* live: a VM changed state (detail: NULL, or the error, for FAILED
	 * and ROLLED_BACK) */
	void (*vm_event)(void *arg, unsigned vm, enum sc_vm_event ev, const char *detail);
};

/* ---- the sender's session ----------------------------------------------------
 * Lifetime: sc_session_open -> sc_session_seed -> (live:) sc_session_migrate
 * -> sc_session_commit -> sc_session_close. An offline session is complete
 * once sc_session_seed has returned 0 (every image written and verified).
 * Failure at any step: the step returns a negative errno with `err` set and
 * only sc_session_close (and the accessors) may follow; see session.c. */

typedef struct sc_session sc_session;

struct sc_session_opts {
	const sc_index *ix;          /* offline: built with sc_index_set_digests() */
	kvm_mem *const *mems;        /* [VM]: its source, as indexed */
	const char *const *qmp;      /* live: [VM] its source QEMU's QMP socket; NULL: offline */
	const struct sc_target *targets;
	unsigned ntargets;           /* 1..64 */
	const unsigned *target_of;   /* [VM]: its target */
	const uint64_t *groups;      /* multicast target sets (bit t = targets[t]) in the order to
	                              * serve them: every content held on two or more targets
	                              * must match one */
	size_t ngroups;
	struct sc_send_opts send;
	struct sc_live_opts live;    /* live sessions only */
};

/* Check the options and set a session up; no I/O yet. Everything `o` points
 * to (index, sources, arrays, credentials, strings, *live.stop) is borrowed
 * and must stay valid until sc_session_close(); `cbs` too (may be NULL).
 * Returns 0 with *out set, or a negative errno (*out NULL). Any thread; a
 * session is used by one thread at a time. */
int sc_session_open(const struct sc_session_opts *o, const struct sc_session_cbs *cbs, void *cb_arg,
		    sc_session **out, vms_err *err);

/* Connect to every receiver and send the seeds: page maps and multicast
 * groups; offline also the unicast contents and re-sends, until every
 * receiver has reported its images' digests (checked). Live: the control
 * connections stay open (the session owns them) and the contents that
 * changed while seeding (stale) or that a receiver lacks (absent) are
 * remembered, so streams never refer to them. 0, or a negative errno: every
 * receiver was told to drop the session, every connection is closed. */
int sc_session_seed(sc_session *s, vms_err *err);

/* Live, after sc_session_seed: migrate every VM (stream connections, source
 * guards). Returns 0 when every VM has loaded on its target (atomic: the
 * guests wait, paused, for sc_session_commit) or, per VM, when every VM has
 * committed. A negative errno when any VM rolled back (per VM, the others
 * went on and may have committed: sc_session_moved), or on a stop, the time
 * limit or, atomic, any failure (then every VM rolled back). */
int sc_session_migrate(sc_session *s, vms_err *err);

/* Live, after a successful sc_session_migrate: atomic, commit every VM
 * (resume the targets, quit the sources) and wait for them; then end the
 * receivers' sessions (LIVE_END: they drop the seeds). 0, or a negative
 * errno when a VM's commit failed (its source stays paused; its guard asks
 * the receiver what became of it). */
int sc_session_commit(sc_session *s, vms_err *err);

/* Roll back every VM not committed yet (waiting for it), end the receivers'
 * sessions if that was not done, close every connection, free. NULL: no-op. */
void sc_session_close(sc_session *s);

/* The report; valid from the end of sc_session_seed until sc_session_close.
 * target < ntargets; vm < the index's VMs. */
const struct sc_send_stats *sc_session_target_stats(const sc_session *s, unsigned target);
const struct sc_send_stats *sc_session_send_total(const sc_session *s);
/* Live: the VM's stream (zeros before sc_session_migrate). */
const struct sc_live_stats *sc_session_vm_stats(const sc_session *s, unsigned vm);
/* Live: the VMs that run on their targets now. */
unsigned sc_session_moved(const sc_session *s);
/* Seconds from the start of sc_session_seed to the end of the last step. */
double sc_session_seconds(const sc_session *s);
/* The session number (HELLO's), 0 before sc_session_seed. */
uint64_t sc_session_id(const sc_session *s);
/* Live: contents that changed while seeding (never referred to). */
size_t sc_session_stale(const sc_session *s);

/* The stream rewriter. ref() says whether a seed page on the target holds
 * exactly `page` (1, with its session VM index and page number) or not (0).
 * sc_rewrite_item() appends the item's frames to `out`: an SREF (returns 1),
 * with z an SCOMP for a page z shrinks (returns 2), or the item's raw bytes
 * as SDATA (returns 0), added to the SDATA frame that starts at *open when
 * that is still the last frame of out; negative on error. Set *open =
 * SIZE_MAX whenever out is emptied. */
typedef int (*sc_ref_fn)(void *ctx, const uint8_t *page, uint32_t *seed_vm, uint64_t *seed_page);
int sc_rewrite_item(const struct kvm_ms_item *it, sc_ref_fn ref, void *ctx, vms_pagez *z,
		    vms_wbuf *out, size_t *open);

/* ---- the source journal (journal.c; doc/PROTOCOL.md, "Source journal") ----
 * One record per migrating VM in the sender's state directory, written before
 * its source migrates, removed once the VM is settled. Whoever may settle the
 * VM holds an exclusive flock on the record: the sender with its guard, or
 * `vmscatter recover`. */
struct sc_journal_rec {
	uint64_t session;
	uint32_t vm;                      /* the VM's session index (the receiver's OUTCOME key) */
	char qmp[4096];                   /* the source QEMU's QMP socket */
	long qemu_pid;                    /* the source QEMU: its pid (the QMP peer's) */
	uint64_t qemu_start;              /* and its start time (kvm_proc_start_time) */
	char target[SC_NAME_MAX + 32];    /* NAME=IP:PORT of its receiver */
	char tls_host[256];               /* the name its certificate must carry; "" none */
	char state[16];                   /* "migrating" or "unsettled" (a guard gave up) */
};

/* Fill *r (tls_host NULL: none): 0, or -ENAMETOOLONG when a value does not fit. */
int sc_journal_rec_set(struct sc_journal_rec *r, uint64_t session, uint32_t vm, const char *qmp,
		       long qemu_pid, uint64_t qemu_start, const char *target, const char *tls_host,
		       const char *state);
/* The source QEMU's identity as the record and `vmscatter guard --qemu`
 * write it, "PID:START" (decimal; PID 1..2^22) in s[0..n): 0, or -EINVAL. */
int sc_journal_qemu_parse(const void *s, size_t n, long *pid, uint64_t *start);
/* A record's file name, "source-SESSION-INDEX" (INDEX: the VM's place in
 * the rack; its receiver's index, r->vm, may repeat across targets) into
 * out: 0 or -ENAMETOOLONG. */
int sc_journal_name(char *out, size_t len, uint64_t session, unsigned index);
/* 1 when `name` has the form of a record's file name, else 0. */
int sc_journal_is_record(const char *name);
/* Write (or replace) r's record in dirfd, whole (temporary file, fsync,
 * rename); on success *lock_fd is an open descriptor of it holding an
 * exclusive flock (the caller closes it to let go). 0 or a negative errno. */
int sc_journal_write(int dirfd, const char *name, const struct sc_journal_rec *r, int *lock_fd, vms_err *err);
/* Remove the record `name`, if there (errors ignored: it may be gone). */
void sc_journal_remove(int dirfd, const char *name);
/* Parse a record's bytes (untrusted: bounded, every field once, nothing
 * else): 0, -EPROTONOSUPPORT for a record of the first format (no source
 * QEMU identity: it cannot be settled safely), or -EBADMSG. */
int sc_journal_parse(const void *buf, size_t len, struct sc_journal_rec *r);
/* Open, lock (without waiting) and parse the record `name` of dirfd: 0 with
 * *lock_fd held; -EBUSY when its sender or guard holds it; -EBADMSG when it
 * is not a record, -EPROTONOSUPPORT when it is one of the first format
 * (the lock is let go in both cases); other negative errnos from the system. */
int sc_journal_open(int dirfd, const char *name, struct sc_journal_rec *r, int *lock_fd, vms_err *err);

#endif
