/* kvmglue.h - the one door into kvmglue/: everything that talks to QEMU.
 *
 *  - a QMP client (jansson) over a unix socket;
 *  - parsers for QEMU's `info ramblock` text and for /proc/PID/maps;
 *  - kvm_mem, "a VM's memory": a raw memory image file, or the guest RAM of
 *    a running QEMU reached through its QMP socket (read with
 *    process_vm_readv from the QEMU process).
 *
 * All functions return 0 or a negative errno and describe failures in the
 * optional `vms_err`. No global state: objects may be used from different
 * threads as long as one object is not used by two threads at once, except
 * where a function says it is thread-safe.
 */
#ifndef VMS_KVMGLUE_H
#define VMS_KVMGLUE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

#include "common/common.h"

#define KVM_PAGE_SIZE 4096u

/* ---- QMP client -------------------------------------------------------- */

typedef struct kvm_qmp kvm_qmp;

/* Longest QMP message accepted from QEMU (one JSON line). */
#define KVM_QMP_MSG_MAX (4u << 20)

/* Connect to the QMP unix socket at `path`, check the greeting and enter
 * command mode. Fails with a message naming `path` when it is missing, not a
 * socket, dead, or not a QMP server (no greeting within `timeout_ms`). On
 * success *out owns the connection; free it with kvm_qmp_close(). */
int kvm_qmp_connect(const char *path, int timeout_ms, kvm_qmp **out, vms_err *err);

/* The same, but only to the process `want` (want > 0): when another process
 * serves the socket (SO_PEERCRED), -EPERM with *peer set to its pid, before
 * a byte is read or written on the connection. *peer is set whenever the
 * peer is known (NULL: not wanted). */
int kvm_qmp_connect_pid(const char *path, int timeout_ms, long want, long *peer, kvm_qmp **out,
			vms_err *err);

/* Run `cmd` with `args` (a JSON object or NULL; the reference is NOT
 * stolen). Asynchronous events that arrive meanwhile are dropped. On success
 * *ret is a new reference to the "return" value (caller json_decref()s it).
 * A QMP error reply becomes -EREMOTEIO with QEMU's description. */
int kvm_qmp_call(kvm_qmp *q, const char *cmd, json_t *args, json_t **ret, vms_err *err);

/* The same, passing `fd` along with the command (SCM_RIGHTS), as "getfd"
 * needs; fd < 0 passes none. */
int kvm_qmp_call_fd(kvm_qmp *q, const char *cmd, json_t *args, int fd, json_t **ret, vms_err *err);

/* Run a human monitor command; *out is a malloc()ed NUL-terminated copy of
 * its text output (caller frees). */
int kvm_qmp_hmp(kvm_qmp *q, const char *cmdline, char **out, vms_err *err);

/* Pid of the QEMU process on the other end (from SO_PEERCRED). */
pid_t kvm_qmp_pid(const kvm_qmp *q);

void kvm_qmp_close(kvm_qmp *q);

/* ---- QEMU text formats (fuzzable: they only read their input) ------------ */

#define KVM_BLOCK_NAME_MAX 256
#define KVM_RAMBLOCKS_MAX 1024    /* cap on blocks accepted from QEMU */

struct kvm_ramblock {
	char name[KVM_BLOCK_NAME_MAX];
	uint64_t page_size;       /* bytes */
	uint64_t offset;          /* ram_addr offset */
	uint64_t used;            /* used_length, bytes */
	uint64_t total;           /* max_length, bytes */
	uint64_t host;            /* host virtual address in QEMU, 0 = unknown */
};

/* Parse the output of `info ramblock`:
 *   Block Name  PSize  Offset  Used  Total        (header line)
 *   pc.ram      4 KiB  0x...   0x... 0x...         (one line per block)
 * *blocks is malloc()ed (caller frees), *n its length. */
int kvm_parse_ramblocks(const char *text, size_t len, struct kvm_ramblock **blocks,
			size_t *n, vms_err *err);

#define KVM_MAPS_MAX 65536        /* cap on mappings accepted */
#define KVM_MAP_PATH_MAX 512

struct kvm_mapping {
	uint64_t start, end;      /* [start, end) */
	char perms[5];            /* e.g. "rw-p" */
	char path[KVM_MAP_PATH_MAX]; /* "" for anonymous mappings */
};

/* Parse /proc/PID/maps text. *maps is malloc()ed (caller frees). */
int kvm_parse_maps(const char *text, size_t len, struct kvm_mapping **maps,
		   size_t *n, vms_err *err);

/* Parse /proc/PID/stat text: PID (COMM) STATE ... with the process's start
 * time (clock ticks after boot) in field 22. COMM may hold anything,
 * parentheses and spaces too: the fields are read after its last ')'.
 * 0 with *state (field 3: R, S, Z, ...) and *start, or -EBADMSG. */
int kvm_parse_proc_stat(const char *text, size_t len, long pid, char *state, uint64_t *start);

/* The start time of the live process `pid` (field 22 of /proc/PID/stat),
 * with its pid the identity of a process across pid reuse: 0 with *start,
 * -ESRCH when there is no such process or it has ended (a zombie), or
 * another negative errno when /proc could not say (EMFILE, ENOMEM ...:
 * nothing is known then, so nobody may take it for gone). */
int kvm_proc_start_time(long pid, uint64_t *start);

/* Find each guest-RAM block's host address among the mappings: the one
 * read-write private-or-shared mapping whose size is the block's max or used
 * length (preferring one named after the block, e.g. "/memfd:pc.ram"). Fails
 * with -ENOENT or -EEXIST (ambiguous) naming the block. */
int kvm_locate_blocks(struct kvm_ramblock *blocks, size_t nblocks,
		      const struct kvm_mapping *maps, size_t nmaps, vms_err *err);

/* ---- memory sources ---------------------------------------------------- */

typedef struct kvm_mem kvm_mem;

/* Open `path`: a unix socket is taken as a QEMU QMP socket (its guest RAM,
 * i.e. the blocks that back memory devices such as "pc.ram", in
 * `info ramblock` order), anything else as a raw memory image whose size
 * must be a non-zero multiple of 4096. An image is mapped read-only: it must
 * not be truncated while the source is open (like git's packfiles, a
 * concurrent truncation ends the program with SIGBUS). On success *out owns
 * the source. */
int kvm_mem_open(const char *path, kvm_mem **out, vms_err *err);

/* The guest RAM of the running QEMU `pid`, from its RAM blocks (names and
 * used lengths; kvm_parse_ramblocks, kept by kvm_ramblocks_keep_guest)
 * found in its /proc/PID/maps, as kvm_mem_open does for a QMP socket:
 * for a QEMU whose monitor someone else holds (libvirt). `label` names it
 * in messages. Same ownership as kvm_mem_open. */
int kvm_mem_open_pid(pid_t pid, const struct kvm_ramblock *blocks, size_t n, const char *label, kvm_mem **out,
		     vms_err *err);
/* Keep, in place, only the blocks that back the guest memory devices of
 * `memdevs` (query-memdev's answer; "pc.ram" when it lists none). 0. */
int kvm_ramblocks_keep_guest(json_t *memdevs, struct kvm_ramblock *blocks, size_t *n);

/* Number of 4 KiB pages. */
uint64_t kvm_mem_pages(const kvm_mem *m);

/* "image" or "qemu". */
const char *kvm_mem_kind(const kvm_mem *m);

/* Copy pages [page, page+n) into buf (n * 4096 bytes). Thread-safe: any
 * number of threads may read one source at once. A running guest keeps
 * changing its memory: each page is a snapshot at the time it was read. */
int kvm_mem_read(kvm_mem *m, uint64_t page, size_t n, void *buf, vms_err *err);

/* Point *pages at pages [page, page+n): straight into the mapped image, or,
 * for a QEMU source, at `scratch` (n * 4096 bytes) after copying into it.
 * The pointer is valid until the next call with the same scratch or
 * kvm_mem_close(). Thread-safe like kvm_mem_read(). */
int kvm_mem_view(kvm_mem *m, uint64_t page, size_t n, void *scratch,
		 const uint8_t **pages, vms_err *err);

/* Set hole[i] to 1 for each page of [page, page+n) that an image file does
 * not store (a hole of a sparse file, as `cp --sparse`, the receiver and
 * `vmscatter dump` leave zero pages): it reads as zero, and is best not
 * touched at all - reading a tmpfs hole through the mapping makes the kernel
 * allocate it. Other pages, and every page of a QEMU source, get 0. The
 * holes are found once, when a file with fewer blocks than bytes is opened.
 * Returns the number of holes, or a negative errno. Thread-safe like
 * kvm_mem_read(). */
long kvm_mem_holes(kvm_mem *m, uint64_t page, size_t n, uint8_t *hole, vms_err *err);

/* Write pages [page, page+n) of a QEMU's guest RAM from buf (process_vm_writev;
 * for a stopped guest only - the receiver repairs a loaded, paused target).
 * Images are read-only: -EROFS. */
int kvm_mem_write(kvm_mem *m, uint64_t page, size_t n, const void *buf, vms_err *err);

/* For a QEMU source: its pid and the RAM blocks it reads (in page order);
 * NULL / 0 for an image. Valid until kvm_mem_close(). */
pid_t kvm_mem_pid(const kvm_mem *m);
const struct kvm_ramblock *kvm_mem_blocks(const kvm_mem *m, size_t *n);

void kvm_mem_close(kvm_mem *m);

/* ---- the target QEMU's command line ------------------------------------------
 * The source's command line comes from an authenticated sender, who is
 * trusted with guest memory, not with this host (doc/SECURITY.md, "The
 * target QEMU's command line"). kvm_target_argv() rebuilds it through an
 * allow-list: every option of the source is carried over as it is, carried
 * over with its host paths moved into STATE/NAME/ (sockets, serial and
 * chardev files, the pidfile, logs, memory-backend files), kept only if it
 * names a file under one of the receiver's shared paths (disks, kernel,
 * firmware, ...), dropped (-daemonize, -S, -sandbox, -runas, -chroot,
 * -loadvm, ...), or refused with a message naming the option and why
 * (listeners, programs, host devices, file descriptors, unknown options).
 * The output is
 *   BIN  <the source's options, checked>  [-qmp unix:STATE/NAME/qmp.sock,...]
 *   -sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny
 *   [-runas USER]  -incoming defer -S
 * where BIN is pol->qemu_bin, else "qemu-system-ARCH" (execvp finds it in
 * the receiver's PATH) with ARCH from the source's argv[0], which must be
 * qemu-system-[a-z0-9_]+. The -qmp is added when the source has no -qmp
 * unix socket to move there. With run_as, elevateprivileges=allow: QEMU 7.2
 * drops to USER (setgid/setuid) after the filter is installed, which
 * elevateprivileges=deny would kill; the drop is for good and the filter
 * sets no_new_privs, so nothing can be elevated afterwards. */
#define KVM_ARGV_MAX 4096u
#define KVM_ARG_MAX 8192u
#define KVM_SHARED_MAX 64u

struct kvm_target_policy {
	const char *qemu_bin;              /* the receiver's binary; NULL: qemu-system-ARCH from PATH */
	const char *const *shared_paths;   /* prefixes under which host files may stay where they
					    * are, compared after realpath() on this host */
	size_t nshared;                    /* at most KVM_SHARED_MAX */
	const char *run_as;                /* NULL: stay root; else QEMU's -runas USER */
};

/* *out is a NULL-terminated malloc()ed array of malloc()ed strings (free
 * with kvm_argv_free); *outn its length; both untouched on failure.
 * Returns 0, -EPERM for an option the policy refuses, -ENOENT for a host
 * file that is not there, -EINVAL for a malformed command line, policy or
 * name, -E2BIG / -ENAMETOOLONG past the caps, -ENOMEM. Reads the file
 * system (realpath) but changes nothing. Thread-safe. */
int kvm_target_argv(char *const *src, size_t n, const char *state_dir, const char *name,
		    const struct kvm_target_policy *pol, char ***out, size_t *outn, vms_err *err);
void kvm_argv_free(char **argv);
/* The argv of a running process (/proc/PID/cmdline), same ownership. */
int kvm_proc_argv(pid_t pid, char ***out, size_t *outn, vms_err *err);

/* ---- migration over an fd (QMP) ------------------------------------------------
 * Both ends turn off the capabilities that change the stream's format
 * (xbzrle, compress, multifd, postcopy-ram), so a proxy can read every page. */
struct kvm_migrate_info {
	char status[32];          /* query-migrate "status" */
	int64_t downtime_ms, total_ms;
	char error[256];
};

/* Source: raise max-bandwidth, hand QEMU `fd` (getfd) and start "migrate" to
 * it. QEMU writes the stream into fd; the caller reads the other end. */
int kvm_migrate_out_fd(kvm_qmp *q, int fd, uint64_t max_bandwidth, vms_err *err);
/* Target (started with -incoming defer): read the stream from `fd`. */
int kvm_migrate_in_fd(kvm_qmp *q, int fd, vms_err *err);
int kvm_migrate_query(kvm_qmp *q, struct kvm_migrate_info *mi, vms_err *err);
/* Poll query-migrate until "completed" (0), "failed"/"cancelled" (-EIO,
 * QEMU's reason in the message) or the timeout (-ETIMEDOUT). */
int kvm_migrate_wait(kvm_qmp *q, int timeout_ms, struct kvm_migrate_info *mi, vms_err *err);
/* query-status: "running", "paused", "inmigrate", "postmigrate", ... */
int kvm_runstate(kvm_qmp *q, char *state, size_t len, vms_err *err);
/* A command without arguments whose return value does not matter
 * ("cont", "stop", "quit", "migrate_cancel"). */
int kvm_qmp_simple(kvm_qmp *q, const char *cmd, vms_err *err);

/* Start the target QEMU from `argv` (kvm_target_argv) in its own session,
 * in DIR (its working directory), output in DIR/qemu.log, and connect to DIR/qmp.sock (waiting up to
 * timeout_ms). On failure the process is gone. *guard is the target's
 * guard: until kvm_target_release(guard, 1), the target QEMU is killed as
 * soon as the caller's process ends, however it ends. The guard is a
 * process that holds an exclusive flock(2) on DIR itself from before this
 * returns until it is done: it lets go at once after a commit; after its
 * pipe closed without one, only once the QEMU it killed has exited (a
 * zombie counts). -EBUSY: DIR stayed locked for 5 s (see kvm_target_lock). */
int kvm_target_start(char *const *argv, const char *dir, int timeout_ms, pid_t *pid,
		     int *guard, kvm_qmp **qmp, vms_err *err);
/* Attach to a target QEMU someone else started, waiting with -incoming defer
 * and its QMP at DIR/qmp.sock; it gets a guard like a started one. */
int kvm_target_attach(const char *dir, pid_t *pid, int *guard, kvm_qmp **qmp, vms_err *err);
/* Commit (1): the target outlives its starter. Or (0) just close the guard:
 * the guard kills the target. */
void kvm_target_release(int guard, int commit);
/* SIGKILL and reap a target started by kvm_target_start (pid <= 0: no-op). */
void kvm_target_kill(pid_t pid);
/* Wait until no guard of a target in the directory dirfd may still act,
 * i.e. take the guards' flock on it (through a new open file description
 * of its own), trying for up to timeout_ms. While the caller holds *lock,
 * a target QEMU of that directory stays as it is found: running because
 * it was committed, or gone, or never guarded. 0 with *lock (close it to
 * let go), -ETIMEDOUT while a guard holds it, another -errno; *lock is -1
 * on failure. Blocks the calling thread. */
int kvm_target_lock(int dirfd, int timeout_ms, int *lock);
/* End the QEMU at the other end of q (QMP quit, SIGKILL if it still runs
 * after timeout_ms) and wait, as long again, until it has exited (a zombie
 * counts): 0, or -ETIMEDOUT. q stays the caller's to close. */
int kvm_qemu_end(kvm_qmp *q, int timeout_ms);

/* ---- the QEMU 7.2 migration stream (precopy, no multifd/xbzrle/compress) ----
 * An incremental parser: feed it bytes as they come from QEMU, take items
 * out. Each item reports the raw bytes it spans, so a rewriter can forward
 * it unchanged or replace it. Layout (big-endian; ../shared/notes):
 *   be32 "QEVM", be32 3; 0x07 configuration; then sections:
 *   START 0x01 / FULL 0x04: be32 id, u8 len + idstr, be32 instance, be32 version
 *   PART 0x02 / END 0x03:   be32 id
 *   every section ends with the footer 0x7e + be32 id; EOF 0x00 (+ vmdesc)
 *   RAM data: be64 (offset | flags), u8 len + block name unless CONTINUE,
 *   then ZERO: 1 byte, PAGE: 4096 bytes, MEM_SIZE: the block list; EOS ends
 *   the section's data.
 * Device state (FULL sections) has no length: from the first FULL section
 * on, everything is passed through as KVM_MS_DEVICE items. */

enum kvm_ms_kind {
	KVM_MS_HEADER,        /* magic, version and the configuration section */
	KVM_MS_SECTION,       /* a RAM section header (START, PART or END) */
	KVM_MS_BLOCKS,        /* RAM block list (MEM_SIZE) */
	KVM_MS_ZERO,          /* a page filled with one byte (`fill`) */
	KVM_MS_PAGE,          /* a whole page (`data`) */
	KVM_MS_EOS,           /* end of a RAM section's data, with its footer */
	KVM_MS_DEVICE,        /* opaque device state and the rest of the stream */
	KVM_MS_COMMAND,       /* a COMMAND (0x08) */
};

#define KVM_MS_BLOCKS_MAX 256

struct kvm_ms_item {
	enum kvm_ms_kind kind;
	const uint8_t *raw;   /* the stream bytes this item spans */
	size_t raw_len;
	/* ZERO, PAGE: */
	unsigned block;       /* index into the MEM_SIZE list */
	uint64_t offset;      /* byte offset in the block (page aligned) */
	uint8_t fill;
	const uint8_t *data;  /* KVM_PAGE_SIZE bytes, inside raw */
	/* SECTION: */
	uint8_t section_type;
	uint32_t section_id;
};

typedef struct kvm_ms kvm_ms;

int kvm_ms_new(kvm_ms **out, vms_err *err);
void kvm_ms_free(kvm_ms *ms);
/* Append stream bytes. */
int kvm_ms_feed(kvm_ms *ms, const void *p, size_t n, vms_err *err);
/* 1 with the next item (valid until the next feed or next), 0 when more
 * bytes are needed, negative on a stream it cannot (or must not) parse. */
int kvm_ms_next(kvm_ms *ms, struct kvm_ms_item *it, vms_err *err);
/* The RAM blocks from MEM_SIZE: name and used length. They never change
 * once known: a later MEM_SIZE that differs (a block of another size, name
 * or place) fails kvm_ms_next with -EBADMSG naming the block. */
size_t kvm_ms_blocks(const kvm_ms *ms);
const char *kvm_ms_block_name(const kvm_ms *ms, unsigned i);
uint64_t kvm_ms_block_size(const kvm_ms *ms, unsigned i);

/* ---- libvirt racks (libvirt.c; doc/PROTOCOL.md, "libvirt streams") ---------
 * A libvirt connection is thread-safe: its domains may be used from several
 * threads at once (one migration per domain). libvirt's own error printing
 * is turned off (process-wide): errors come back in vms_err. */
#define KVM_LV_NAME_MAX 64u        /* domain names: [A-Za-z0-9._-], 1..63, not starting with '.' */
#define KVM_LV_RUN_DIR "/run/libvirt/qemu"   /* libvirt's run directory (QEMU pid files) */

typedef struct kvm_lv kvm_lv;
typedef struct kvm_lv_dom kvm_lv_dom;

/* Connect to libvirt at `uri`: -ECONNREFUSED with libvirt's reason. */
int kvm_lv_open(const char *uri, kvm_lv **out, vms_err *err);
void kvm_lv_close(kvm_lv *c);
/* 1 if vmscatter accepts `name` as a domain name (it becomes a file name). */
int kvm_lv_name_valid(const char *name);
/* The pid in RUN_DIR/NAME.pid, only if that process's command line names
 * the domain (-name guest=NAME): 0, or -ENOENT (no file), -EBADMSG, -ESRCH. */
int kvm_lv_pidfile(const char *run_dir, const char *name, pid_t *pid, vms_err *err);
/* 1 if `pid` is this host's libvirt daemon (/run/libvirtd.pid or
 * /run/virtqemud.pid), else 0: on the source, libvirtd itself connects to
 * a unix:// migrate URI and hands the connection to QEMU. */
int kvm_lv_daemon_pid(pid_t pid);
/* The running domain `name`: its QEMU pid (kvm_lv_pidfile) and its guest
 * RAM (*mem, as kvm_mem_open_pid, with the blocks QEMU reports through
 * libvirt's monitor passthrough). -ENOENT: no such domain; -ESRCH: not
 * running. *out and *mem are the caller's (kvm_lv_dom_free, kvm_mem_close);
 * *out borrows c. */
int kvm_lv_domain(kvm_lv *c, const char *name, const char *run_dir, kvm_lv_dom **out, kvm_mem **mem,
		  vms_err *err);
const char *kvm_lv_dom_name(const kvm_lv_dom *d);
pid_t kvm_lv_dom_pid(const kvm_lv_dom *d);
/* 1 if the domain's QEMU runs without KVM (query-kvm), 0, or negative. */
int kvm_lv_dom_tcg(kvm_lv_dom *d, vms_err *err);

struct kvm_lv_migration {
	const char *desturi;         /* the target's libvirt, as the source's libvirtd reaches it */
	const char *sock;            /* the migrate URI's path: unix://SOCK */
	uint64_t bandwidth_mib;      /* MiB/s; 0: libvirt's default */
	int persistent, undefine_source;
};
/* virDomainMigrateToURI3, live and peer to peer: blocks until libvirt's job
 * has ended. 0 when libvirt reports the domain migrated; -EIO with
 * libvirt's message otherwise (the domain then runs on its source, as
 * libvirt left it). Blocks the calling thread. */
int kvm_lv_migrate(kvm_lv_dom *d, const struct kvm_lv_migration *m, vms_err *err);
/* Ask libvirt to abort the domain's job (best effort): 0 or -EIO. */
int kvm_lv_abort(kvm_lv_dom *d);

struct kvm_lv_job {
	int completed;               /* libvirt's last job completed */
	int64_t downtime_ms, elapsed_ms;   /* -1: not reported */
	uint64_t data_bytes;         /* what QEMU wrote, as libvirt reports it */
};
/* libvirt's figures for the domain's last completed job. */
int kvm_lv_job_completed(kvm_lv_dom *d, struct kvm_lv_job *j, vms_err *err);
/* "running", "paused", "shut off", ... (virsh's words). */
int kvm_lv_state(kvm_lv_dom *d, char *buf, size_t len, vms_err *err);
int kvm_lv_resume(kvm_lv_dom *d, vms_err *err);
/* The state of domain `name` on another libvirt (-ENOENT: none there). */
int kvm_lv_remote_state(kvm_lv *c, const char *name, char *buf, size_t len, vms_err *err);
void kvm_lv_dom_free(kvm_lv_dom *d);

#endif
