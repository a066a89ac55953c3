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

/* Run `cmd` with `args` (a JSON object or NULL; the reference is NOT
 * stolen). Asynchronous events that arrive meanwhile are dropped. On success
 * *ret is a new reference to the "return" value (caller json_decref()s it).
 * A QMP error reply becomes -EREMOTEIO with QEMU's description. */
int kvm_qmp_call(kvm_qmp *q, const char *cmd, json_t *args, json_t **ret, vms_err *err);

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

/* For a QEMU source: its pid and the RAM blocks it reads (in page order);
 * NULL / 0 for an image. Valid until kvm_mem_close(). */
pid_t kvm_mem_pid(const kvm_mem *m);
const struct kvm_ramblock *kvm_mem_blocks(const kvm_mem *m, size_t *n);

void kvm_mem_close(kvm_mem *m);

#endif
