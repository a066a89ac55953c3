/* common.h - the one door into common/: error reports, the bounds-checked
 * cursor every parser reads through, and checked number parsing.
 *
 * Conventions used by every vmscatter component:
 *  - functions return 0 on success or a negative errno value;
 *  - a `vms_err *` argument (may be NULL) receives a human-readable message
 *    naming the problem; the CLI prints it, nothing else does;
 *  - outputs are written only on success.
 * Nothing here keeps global state; all functions are thread-safe on distinct
 * objects.
 */
#ifndef VMS_COMMON_H
#define VMS_COMMON_H

#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* ---- errors ------------------------------------------------------------ */

#define VMS_ERR_MSG_MAX 512

typedef struct vms_err {
	int code;                       /* negative errno, 0 when unset */
	char msg[VMS_ERR_MSG_MAX];      /* NUL-terminated message */
} vms_err;

/* Record `code` (a negative errno) and a printf-style message in `err`
 * (ignored when err is NULL). Returns `code`, so callers can write
 * `return vms_err_set(err, -EINVAL, "...")`. */
int vms_err_set(vms_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line on stderr, "PREFIX" then the message, in one write (several
 * processes may log at once): for the long-running pieces (receivers'
 * streams, source guards). */
void vms_log_line(const char *prefix, const char *fmt, va_list ap);

/* Prefix the message already in `err` with "PREFIX: ". Returns err->code
 * (or `code` when err is NULL). */
int vms_err_prefix(vms_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- the cursor --------------------------------------------------------
 * A read-only view of untrusted bytes. Every getter either consumes exactly
 * what it returns and returns 0, or consumes nothing and returns -EBADMSG
 * ("incomplete or malformed"). Lengths are checked as `left < n`, never by
 * forming a pointer past the end. Multi-byte integers are big-endian (network
 * and QEMU stream order) unless the name says otherwise.
 */
typedef struct vms_cur {
	const uint8_t *base;
	size_t len;
	size_t off;
} vms_cur;

void vms_cur_init(vms_cur *c, const void *data, size_t len);
size_t vms_cur_left(const vms_cur *c);
int vms_cur_u8(vms_cur *c, uint8_t *v);
int vms_cur_be16(vms_cur *c, uint16_t *v);
int vms_cur_be32(vms_cur *c, uint32_t *v);
int vms_cur_be64(vms_cur *c, uint64_t *v);
/* Point *p at the next n bytes (valid while the underlying data is). */
int vms_cur_bytes(vms_cur *c, size_t n, const uint8_t **p);
int vms_cur_skip(vms_cur *c, size_t n);
/* 0 when everything was consumed, -EBADMSG if bytes are left over. */
int vms_cur_end(const vms_cur *c);

/* Text helpers for line-oriented formats (/proc files, HMP output). */
/* Split off the next line (without its "\n" or "\r\n") as a sub-cursor.
 * Returns -ENOENT at the end of input. */
int vms_cur_line(vms_cur *c, vms_cur *line);
/* Skip spaces and tabs. */
void vms_cur_skip_blank(vms_cur *c);
/* Take the next run of non-blank bytes (after skipping blanks). Returns
 * -ENOENT when only blanks are left. */
int vms_cur_token(vms_cur *c, const uint8_t **tok, size_t *toklen);

/* ---- numbers ----------------------------------------------------------- */

/* Parse all of s[0..len) as an unsigned number in `base` (10 or 16; base 16
 * accepts an optional 0x). Rejects empty input, signs, junk and overflow
 * with -EINVAL / -ERANGE. */
int vms_parse_u64(const char *s, size_t len, int base, uint64_t *out);

/* Parse a NUL-terminated size with an optional binary suffix
 * (K, M, G, T or KiB, MiB, GiB, TiB): "512M" -> 536870912. */
int vms_parse_size(const char *s, uint64_t *out);

/* Named fault points for tests (doc/PROTOCOL.md, "Fault points"): when the
 * environment variable VMS_FAULT names `point`, the process SIGKILLs itself
 * there; named as POINT=drop, this returns 1 and the caller drops its
 * connection; named as POINT=stop, the process SIGSTOPs itself there the
 * first time (the test acts, then sends SIGCONT) and this returns 0. 0 otherwise. */
int vms_fault(const char *point);

/* Monotonic time: seconds, and whole milliseconds. */
double vms_now(void);
int64_t vms_now_ms(void);

/* Write all n bytes to a socket or file descriptor (retrying on EINTR,
 * never raising SIGPIPE). Returns 0 or -errno. */
int vms_write_all(int fd, const void *p, size_t n);

/* A VM, target or receiver name: 1..max-1 bytes, [A-Za-z0-9_] then
 * [A-Za-z0-9_.-] (never ".", "..", a leading dot or dash). 1 if valid. */
int vms_name_valid(const char *name, size_t len, size_t max);

/* Copy at most dstlen-1 bytes of src[0..n) and NUL-terminate. Returns
 * -ENAMETOOLONG (copying nothing) when it does not fit. */
int vms_strlcpy_n(char *dst, size_t dstlen, const void *src, size_t n);

/* ---- the writer ----------------------------------------------------------
 * A growable byte buffer for building wire messages: every put returns 0 or
 * -ENOMEM (and then leaves the buffer as it was). Big-endian. */
typedef struct vms_wbuf {
	uint8_t *data;
	size_t len, cap;
} vms_wbuf;

int vms_wbuf_u8(vms_wbuf *b, uint8_t v);
int vms_wbuf_be16(vms_wbuf *b, uint16_t v);
int vms_wbuf_be32(vms_wbuf *b, uint32_t v);
int vms_wbuf_be64(vms_wbuf *b, uint64_t v);
int vms_wbuf_bytes(vms_wbuf *b, const void *p, size_t n);
void vms_wbuf_reset(vms_wbuf *b);      /* len = 0, keeps the memory */
void vms_wbuf_free(vms_wbuf *b);

/* ---- the wire protocol (doc/PROTOCOL.md has the tables) -------------------- */

#define VMS_WIRE_VERSION 7u             /* 2: LZO contents, SLZO; 3: sealed multicast, GROUP_DONE rejected;
					 * 4: a compressed page names its compressor (SLZO became SCOMP);
					 * 5: MCAST_ACK (multicast flow control);
					 * 6: SEEDING (live streams overlap the seeding);
					 * 7: libvirt streams (LVSTREAM, RPATH) */
#define VMS_WIRE_FRAME_MAX (4u << 20)   /* type + payload */
#define VMS_WIRE_NAME_MAX 64u           /* names: vms_name_valid(), 1..63 bytes */
#define VMS_WIRE_VMS_MAX 4096u
#define VMS_WIRE_IDS_MAX 65536u         /* content ids in one MISSING */
#define VMS_WIRE_ERROR_MAX 1024u
#define VMS_WIRE_PAGE 4096u

enum vms_msg_type {
	VMS_MSG_HELLO = 1, VMS_MSG_WELCOME, VMS_MSG_VM, VMS_MSG_MAP, VMS_MSG_MAPS_END,
	VMS_MSG_MCAST_JOIN, VMS_MSG_JOINED, VMS_MSG_MCAST_END, VMS_MSG_GROUP_DONE,
	VMS_MSG_MISSING, VMS_MSG_CONTENT, VMS_MSG_END, VMS_MSG_DONE, VMS_MSG_ERROR,
	/* live migration (doc/PROTOCOL.md, "Live sessions") */
	VMS_MSG_LIVE, VMS_MSG_STREAM, VMS_MSG_READY, VMS_MSG_SDATA, VMS_MSG_SREF,
	VMS_MSG_SEND, VMS_MSG_LOADED, VMS_MSG_VERIFY, VMS_MSG_DIGESTS, VMS_MSG_COMMIT,
	VMS_MSG_RUNNING, VMS_MSG_LIVE_END, VMS_MSG_FIX, VMS_MSG_NEED, VMS_MSG_SPAGE, VMS_MSG_ACK,
	VMS_MSG_SCOMP,
	/* a source guard asks a receiver what became of a VM (doc/PROTOCOL.md) */
	VMS_MSG_OUTCOME, VMS_MSG_OUTCOME_IS,
	/* flow control of a multicast group (doc/PROTOCOL.md, "Multicast messages") */
	VMS_MSG_MCAST_ACK,
	/* a live session's streams may begin while it seeds (doc/PROTOCOL.md) */
	VMS_MSG_SEEDING,
	/* libvirt streams (doc/PROTOCOL.md, "libvirt streams") */
	VMS_MSG_LVSTREAM, VMS_MSG_RPATH,
};
#define VMS_WIRE_MCAST_ACK_EVERY 128u   /* a receiver ACKs every this many contents of a group */
#define VMS_WIRE_MCAST_WINDOW 1024u     /* contents a sender may multicast beyond the slowest ACK */
#define VMS_WIRE_MCAST_GAVE_UP 0xffffffffu /* MCAST_ACK's count from a receiver that lost data for good */
#define VMS_WIRE_ACK_EVERY 512u         /* a receiver ACKs every this many SREFs */
#define VMS_WIRE_REF_WINDOW 3072u       /* SREFs a sender may have un-ACKed */
#define VMS_WIRE_ARGS_MAX 4096u         /* arguments in a STREAM message */
#define VMS_WIRE_ARG_MAX 8192u          /* bytes of one argument, with its NUL */
#define VMS_WIRE_SREF_HDR_MAX 264u      /* a page record's header: be64 [+ u8 len + name], 8..264 */
#define VMS_WIRE_DIGESTS_MAX 65536u     /* page digests in one DIGESTS message */
#define VMS_WIRE_DIGEST 16u             /* a page digest for --verify: XXH3-128 */

/* Framing: vms_frame_begin() writes the length placeholder and the type into
 * `b` (which may already hold earlier frames); the payload follows; then
 * vms_frame_end() fills in the length (-EMSGSIZE past the cap). */
int vms_frame_begin(vms_wbuf *b, uint8_t type, size_t *start);
int vms_frame_end(vms_wbuf *b, size_t start);

/* Reassembly of frames from a byte stream. vms_frames_next() returns 1 and
 * the next complete frame (payload valid until the next feed or next),
 * 0 when more bytes are needed, -EBADMSG for a length outside 1..cap. */
typedef struct vms_frames {
	uint8_t *buf;
	size_t len, cap, off;
} vms_frames;

int vms_frames_feed(vms_frames *f, const void *p, size_t n);
/* Wait up to timeout_ms for bytes on connection c and feed what came: 1
 * when bytes were fed, 0 on timeout (or EINTR, or only part of a TLS record
 * so far), -ECONNRESET when the peer closed, another negative errno on error
 * (conn.c). */
typedef struct vms_conn vms_conn;
int vms_frames_recv(vms_frames *f, vms_conn *c, int timeout_ms);
int vms_frames_next(vms_frames *f, uint8_t *type, vms_cur *payload);
void vms_frames_free(vms_frames *f);

/* Names on the wire: u8 length + bytes. Get checks the character set and
 * NUL-terminates into name[VMS_WIRE_NAME_MAX]. */
int vms_wire_get_name(vms_cur *c, char *name);
int vms_wire_put_name(vms_wbuf *b, const char *name);

/* Messages with fixed fields. Every get reads the whole payload and fails
 * with -EBADMSG on a short payload, a bad field or trailing bytes. */
#define VMS_HELLO_SEALED 0x01u      /* HELLO flags: the session's multicast is sealed */
struct vms_msg_hello { uint64_t session; char target[VMS_WIRE_NAME_MAX]; uint8_t flags; };
struct vms_msg_welcome { uint16_t version; char name[VMS_WIRE_NAME_MAX]; };
struct vms_msg_vm { uint32_t vm; char name[VMS_WIRE_NAME_MAX]; uint64_t pages; uint8_t sha256[32]; };
/* key: the group's own multicast key (sealed sessions), sent only to its members */
struct vms_msg_join { uint32_t group, addr; uint16_t port; uint32_t source, messages; uint8_t key[32]; };
struct vms_msg_group_done { uint32_t group, received, rejected; };

/* HELLO: magic, version, session, target name, flags u8 (0 or
 * VMS_HELLO_SEALED; put: -EINVAL, get: -EBADMSG otherwise). A HELLO of
 * another protocol version (1, 2, ...) fails with -EPROTONOSUPPORT, told
 * apart from garbage by its magic and version alone. MCAST_JOIN carries the
 * group's key (all zero in an unsealed session): get copies it into m->key,
 * the caller wipes it (OPENSSL_cleanse) when done. */
int vms_msg_hello_get(vms_cur *c, struct vms_msg_hello *m);
int vms_msg_hello_put(vms_wbuf *b, const struct vms_msg_hello *m);
int vms_msg_welcome_get(vms_cur *c, struct vms_msg_welcome *m);
int vms_msg_welcome_put(vms_wbuf *b, const struct vms_msg_welcome *m);
int vms_msg_vm_get(vms_cur *c, struct vms_msg_vm *m);
int vms_msg_vm_put(vms_wbuf *b, const struct vms_msg_vm *m);
int vms_msg_join_get(vms_cur *c, struct vms_msg_join *m);
int vms_msg_join_put(vms_wbuf *b, const struct vms_msg_join *m);
int vms_msg_group_done_get(vms_cur *c, struct vms_msg_group_done *m);
int vms_msg_group_done_put(vms_wbuf *b, const struct vms_msg_group_done *m);
/* MCAST_ACK: group u32, contents of it received so far u32 */
int vms_msg_mcast_ack_get(vms_cur *c, uint32_t *group, uint32_t *received);
int vms_msg_mcast_ack_put(vms_wbuf *b, uint32_t group, uint32_t received);
/* MISSING (R): the content ids a receiver still lacks after END, in one or
 * more messages, the final one with last = 1. count is 1..VMS_WIRE_IDS_MAX,
 * every id >= 1. put: -EINVAL otherwise. get leaves m->ids positioned on the
 * count ids (inside the payload; each vms_cur_be32 on it succeeds).
 * `*left` is the session's total cap: how many ids its MISSING messages
 * may still name. Start it at the receiver's number of distinct contents
 * (the non-zero ids its MAPs referred to); a message naming more than *left
 * fails with -E2BIG (after every other check), else *left -= count. */
struct vms_msg_missing { uint8_t last; uint32_t count; vms_cur ids; };
int vms_msg_missing_get(vms_cur *c, struct vms_msg_missing *m, size_t *left);
int vms_msg_missing_put(vms_wbuf *b, uint8_t last, const uint32_t *ids, uint32_t count);
/* DONE (R): the SHA-256 of every rebuilt image, in session order: count
 * (<= VMS_WIRE_VMS_MAX) entries of (vm u32, SHA-256), the i-th naming vm i.
 * put writes count x 32 bytes of sha256, VM 0's first (-EINVAL past the
 * cap). get checks the order; vms_msg_done_sha256() then gives VM vm's
 * digest (vm < m->count), pointing into the payload. */
struct vms_msg_done { uint32_t count; const uint8_t *entries; };
int vms_msg_done_get(vms_cur *c, struct vms_msg_done *m);
int vms_msg_done_put(vms_wbuf *b, const uint8_t *sha256, uint32_t count);
const uint8_t *vms_msg_done_sha256(const struct vms_msg_done *m, uint32_t vm);
/* One u32 (JOINED, MCAST_END) or nothing (MAPS_END, END). */
int vms_msg_u32_get(vms_cur *c, uint32_t *v);
int vms_msg_u32_put(vms_wbuf *b, uint8_t type, uint32_t v);
int vms_msg_empty_get(vms_cur *c);
int vms_msg_empty_put(vms_wbuf *b, uint8_t type);
/* A page content, as CONTENT and every multicast message carry it: id u32,
 * then the page as it is (4096 bytes) or compressed (2..4095 bytes: a tag
 * byte naming the compressor, then its bytes, which decompress to exactly
 * one page). A vms_pagez compresses pages with one compressor (its state
 * and output buffer: one per thread); a vms_pagex decompresses whatever
 * tag a page carries (its state and a scratch page: one per thread). */
#define VMS_CONTENT_MAX (4u + VMS_WIRE_PAGE)
enum vms_compress {                     /* the tag byte's values */
	VMS_COMPRESS_NONE = 0,          /* (never on the wire: the page as it is) */
	VMS_COMPRESS_LZO = 1,           /* LZO1X-1 */
	VMS_COMPRESS_ZSTD = 2,          /* one zstd frame, level 1, no checksum */
	VMS_COMPRESS_LZ4 = 3,           /* one LZ4 block */
	VMS_COMPRESS_AUTO = 255,        /* a sender's choice, never a tag: zstd while it would
					 * wait anyway, LZ4 while it is the bottleneck
					 * (vms_pagez_pace) */
};
/* "none", "lzo", "zstd", "lz4", "auto" (and back: 0, or -EINVAL) */
const char *vms_compress_name(enum vms_compress a);
int vms_compress_parse(const char *s, enum vms_compress *out);
typedef struct vms_pagez vms_pagez;
/* 0; -EINVAL (not a compressor), -ENOMEM or -ENOSYS (LZO's ABI). */
int vms_pagez_new(enum vms_compress algo, vms_pagez **out, vms_err *err);
void vms_pagez_free(vms_pagez *z);     /* NULL: nothing */
enum vms_compress vms_pagez_algo(const vms_pagez *z);
/* AUTO: what the next pages go with. waits: the sender has been waiting
 * for its link or its receivers since the last call (spare CPU: zstd's
 * smaller pages), or not (the CPU is the bottleneck: LZ4, several times
 * faster). Nothing for the other compressors. */
void vms_pagez_pace(vms_pagez *z, int waits);
/* The compressor the next page goes with (AUTO's current choice). */
enum vms_compress vms_pagez_now(const vms_pagez *z);
/* Compress a page: the length (2..VMS_WIRE_PAGE-1, tag included) of what
 * *out then points at (inside z, until its next use), or 0 when
 * compressing does not save. After 64 pages in a row that did not shrink,
 * only every 16th is tried until one does (incompressible memory costs
 * little CPU). */
size_t vms_page_compress(vms_pagez *z, const void *page, const uint8_t **out);
typedef struct vms_pagex vms_pagex;
int vms_pagex_new(vms_pagex **out, vms_err *err);   /* 0, -ENOMEM or -ENOSYS */
void vms_pagex_free(vms_pagex *x);     /* NULL: nothing */
uint8_t *vms_pagex_page(vms_pagex *x); /* its scratch page (VMS_WIRE_PAGE bytes) */
/* Decompress `len` bytes (tag first) into page[VMS_WIRE_PAGE]: 0, or
 * -EBADMSG unless they make exactly one page, every byte used. Bounds-
 * checked: for untrusted input. */
int vms_page_decompress(vms_pagex *x, const uint8_t *in, size_t len, uint8_t *page);
/* Why the last vms_page_decompress (also through vms_msg_content_get or
 * vms_msg_scomp_get, which clear it first) refused its page ("an LZ4 block
 * that decodes to more than 4096 bytes", "unknown compressor tag 9"); ""
 * when it did not. clear: "" again. */
const char *vms_pagex_why(const vms_pagex *x);
void vms_pagex_clear(vms_pagex *x);
/* Write the content to out; its length. Compressed when z is given and
 * compressing saves bytes. */
size_t vms_content_encode(vms_pagez *z, uint32_t id, const void *page, uint8_t out[VMS_CONTENT_MAX]);
/* CONTENT: an encoded content as the whole payload. get reads a content
 * that fills the rest of c (a CONTENT payload or a multicast message):
 * *page points into it, or at x's scratch page after decompressing; 0 or
 * -EBADMSG. */
int vms_msg_content_get(vms_cur *c, uint32_t *id, vms_pagex *x, const uint8_t **page);
int vms_msg_content_put(vms_wbuf *b, const uint8_t *content, size_t len);
/* ERROR: the text is copied, NUL-terminated, into text[VMS_WIRE_ERROR_MAX + 1]. */
int vms_msg_error_get(vms_cur *c, char *text);
int vms_msg_error_put(vms_wbuf *b, const char *text);

/* STREAM (first message of a live stream connection): argv[0..argc) point
 * into `store` (NUL-terminated copies) after a get; the caller frees *store. */
struct vms_msg_stream { uint64_t session; uint32_t vm; uint16_t argc; char **argv; };
int vms_msg_stream_get(vms_cur *c, struct vms_msg_stream *m, char **store);
int vms_msg_stream_put(vms_wbuf *b, const struct vms_msg_stream *m);
/* SDATA: migration stream bytes passed through; *data points into the payload. */
int vms_msg_sdata_get(vms_cur *c, const uint8_t **data, size_t *len);
int vms_msg_sdata_put(vms_wbuf *b, const void *data, size_t len);

/* LVSTREAM: a libvirt stream (instead of STREAM). The domain name and block
 * names are wire names (vms_name_valid); sock is an absolute path of 2..107
 * bytes without NUL or "/../"; 1..VMS_WIRE_BLOCKS_MAX blocks, each of a
 * non-zero multiple of 4096 bytes. */
#define VMS_WIRE_SOCK_MAX 108u          /* sun_path, with its NUL */
#define VMS_WIRE_BLOCKS_MAX 16u         /* guest RAM blocks in one LVSTREAM */
#define VMS_WIRE_RPATH_MAX 65536u       /* bytes of one RPATH */
struct vms_msg_lvstream {
	uint64_t session;
	uint32_t vm;
	char domain[VMS_WIRE_NAME_MAX];
	char sock[VMS_WIRE_SOCK_MAX];
	uint8_t nblocks;
	struct vms_lvblock { char name[VMS_WIRE_NAME_MAX]; uint64_t used; } blocks[VMS_WIRE_BLOCKS_MAX];
};
int vms_msg_lvstream_get(vms_cur *c, struct vms_msg_lvstream *m);
int vms_msg_lvstream_put(vms_wbuf *b, const struct vms_msg_lvstream *m);
/* RPATH: 1..VMS_WIRE_RPATH_MAX bytes of the target QEMU's return path. */
int vms_msg_rpath_get(vms_cur *c, const uint8_t **data, size_t *len);
int vms_msg_rpath_put(vms_wbuf *b, const void *data, size_t len);
/* SREF: a page record whose 4096 bytes the receiver holds already. */
struct vms_msg_sref { uint32_t vm; uint64_t page; uint8_t sha256[32]; const uint8_t *hdr; size_t hdr_len; };
int vms_msg_sref_get(vms_cur *c, struct vms_msg_sref *m);
int vms_msg_sref_put(vms_wbuf *b, const struct vms_msg_sref *m);
/* SCOMP: a page record whose 4096 bytes go compressed (z: tag byte first,
 * as vms_page_compress makes them); get leaves the page, decompressed and
 * checked, in page[VMS_WIRE_PAGE]. */
struct vms_msg_scomp { const uint8_t *hdr; size_t hdr_len; const uint8_t *z; size_t z_len; };
int vms_msg_scomp_get(vms_cur *c, struct vms_msg_scomp *m, vms_pagex *x, uint8_t *page);
int vms_msg_scomp_put(vms_wbuf *b, const struct vms_msg_scomp *m);
/* DIGESTS: vms_page_digest() of pages [first, first+count); *dig points into
 * the payload (count x VMS_WIRE_DIGEST bytes). */
struct vms_msg_digests { uint8_t last; uint64_t first; uint32_t count; const uint8_t *dig; };
/* The digest --verify compares: XXH3-128, canonical (big-endian). It checks
 * a transfer, not an adversary's choice: a guest cannot pick what its target
 * holds other than through the migration being checked. */
void vms_page_digest(const void *page, uint8_t out[VMS_WIRE_DIGEST]);
/* The SHA-256 of a page: the identity an SREF carries. 0 or -EIO. */
int vms_page_sha256(const void *page, uint8_t out[32]);
/* 1 if all VMS_WIRE_PAGE bytes of the page are zero (byte-exact; stops at
 * the first non-zero cache line), else 0. */
int vms_page_is_zero(const void *page);

int vms_msg_digests_get(vms_cur *c, struct vms_msg_digests *m);
int vms_msg_digests_put(vms_wbuf *b, const struct vms_msg_digests *m);

/* A u64 and a page: FIX (page number, the target's new page) and SPAGE
 * (reference number, its page); *page points into the payload. */
int vms_msg_u64page_get(vms_cur *c, uint64_t *n, const uint8_t **page);
int vms_msg_u64page_put(vms_wbuf *b, uint8_t type, uint64_t n, const void *page);
/* OUTCOME (S, instead of HELLO: what became of VM `vm` of live session
 * `session`?) and OUTCOME_IS (R: the answer). */
enum vms_outcome { VMS_OUTCOME_PENDING, VMS_OUTCOME_COMMITTED, VMS_OUTCOME_ROLLED_BACK };
int vms_msg_outcome_get(vms_cur *c, uint64_t *session, uint32_t *vm);
int vms_msg_outcome_put(vms_wbuf *b, uint64_t session, uint32_t vm);
int vms_msg_outcome_is_get(vms_cur *c, enum vms_outcome *o);
int vms_msg_outcome_is_put(vms_wbuf *b, enum vms_outcome o);
/* One u64: NEED (the number of the reference, counting SREFs from 0), ACK
 * (how many SREFs the receiver has applied). */
int vms_msg_u64_get(vms_cur *c, uint64_t *v);
int vms_msg_u64_put(vms_wbuf *b, uint8_t type, uint64_t v);
/* Move the first complete frame of `type` out of the reassembly buffer,
 * leaving the others in order: 1 with its payload copied into `payload`
 * (reset first), 0 if there is none yet. */
int vms_frames_extract(vms_frames *f, uint8_t type, vms_wbuf *payload);
/* Bytes buffered and not yet taken out. */
size_t vms_frames_pending(const vms_frames *f);

/* Decode a whole payload with the decoder of its type, for every type of
 * enum vms_msg_type (MAP including every run and id; MISSING against its
 * per-message cap only, there is no session here): 0 if it is well formed,
 * -EBADMSG if not or if the type is unknown. For fuzzing, tests and logging
 * what a peer sent. */
int vms_msg_check(uint8_t type, vms_cur *payload);

/* MAP: the header, then the runs one by one (at least one). A run of kind
 * 0 has *ids empty; kind 1 leaves *ids positioned on `count` content ids,
 * each checked to be >= 1. map_get fails when no run follows the header. */
int vms_msg_map_get(vms_cur *c, uint32_t *vm, uint64_t *first);
int vms_msg_map_run(vms_cur *c, uint8_t *kind, uint32_t *count, vms_cur *ids);
/* Building a MAP: begin (vm < VMS_WIRE_VMS_MAX, first page), runs, end.
 * A run is kind 0 (count zero pages, ids NULL) or kind 1 (count content
 * ids, each >= 1); count >= 1. Each call returns 0, -EINVAL (a bad
 * argument; run_put then writes nothing) or -ENOMEM; end fails with
 * -EINVAL on a MAP without runs, -EMSGSIZE past VMS_WIRE_FRAME_MAX, and
 * then drops the whole frame. After a failed run_put the caller drops the
 * frame itself (b->len = start) or returns the error. */
int vms_msg_map_begin(vms_wbuf *b, uint32_t vm, uint64_t first, size_t *start);
int vms_msg_map_run_put(vms_wbuf *b, uint8_t kind, uint32_t count, const uint32_t *ids);
int vms_msg_map_end(vms_wbuf *b, size_t start);

/* ---- multicast over PGM (OpenPGM, UDP encapsulation) ----------------------
 * One socket per multicast group: a sender (send-only) or a receiver
 * (receive-only). Addresses are IPv4 in host byte order; `ifaddr` is the
 * local interface address (the namespace has no DNS: no names). Messages are
 * at most VMS_MCAST_MSG_MAX bytes, never fragmented by PGM. Sockets are not
 * thread-safe; pgm_init is reference-counted by OpenPGM itself. */
#define VMS_MCAST_MSG_MAX 8192u

typedef struct vms_mcast vms_mcast;

/* rate: bytes per second at the IP layer (> 0). */
int vms_mcast_sender(uint32_t ifaddr, uint32_t group, uint16_t port, uint64_t rate,
		     vms_mcast **out, vms_err *err);
int vms_mcast_receiver(uint32_t ifaddr, uint32_t group, uint16_t port, vms_mcast **out,
		       vms_err *err);
/* Send one message, waiting (and answering NAKs) while rate-limited, at
 * most timeout_ms. */
int vms_mcast_send(vms_mcast *m, const void *msg, size_t len, int timeout_ms, vms_err *err);
/* Keep a sender alive for `ms`: answer NAKs and send heartbeats. */
int vms_mcast_service(vms_mcast *m, int ms, vms_err *err);
/* A receiver can ask for repairs only once it has heard one of the sender's
 * SPMs (they carry the sender's address): a sender services its socket this
 * long after every receiver has heard the group and before its data. */
#define VMS_MCAST_SETTLE_MS 80
/* Receive without blocking: returns 1 with a message in buf (*len bytes),
 * 0 when nothing is ready (*wait_ms says how long poll may sleep, -1 for
 * "until a descriptor is ready"), 2 when data were lost for good (the
 * session was reset; the caller fetches what is missing otherwise), 3 when
 * a message failed authentication (sealed sockets: dropped unread). */
int vms_mcast_recv(vms_mcast *m, void *buf, size_t cap, size_t *len, int *wait_ms, vms_err *err);
/* A receiver's messages that PGM delivered from repair data (RDATA: lost,
 * NAKed, sent again), as the packets' own PGM headers say. */
uint64_t vms_mcast_repaired(const vms_mcast *m);
/* A sender's sends so far that had to wait for PGM (its rate limit, a full
 * socket): the link, not the sender, sets the pace then. */
uint64_t vms_mcast_waits(const vms_mcast *m);
/* Seal (sender) or open (receiver) every message of this socket with
 * `seal` (not owned; see "sealed multicast" below), bound to group number
 * `group`: AES-256-GCM, VMS_SEAL_OVERHEAD more bytes on the wire. 0 or
 * -ENOMEM. */
typedef struct vms_seal vms_seal;
int vms_mcast_seal(vms_mcast *m, vms_seal *seal, uint32_t group, vms_err *err);
/* Descriptors to poll for reading (at most 4). */
int vms_mcast_pollfds(vms_mcast *m, struct pollfd *fds, int *n);
void vms_mcast_close(vms_mcast *m);

/* ---- connections: TCP, or mutual TLS 1.3 (conn.c, tls.c) --------------------
 * Every TCP connection of a session goes through a vms_conn: the control
 * connection and each live stream. With credentials (a vms_tls) it is mutual
 * TLS 1.3 with OpenSSL: each side presents a certificate signed by the CA in
 * the credentials directory and checks the other's; without (NULL, only
 * `--insecure`) it is plain TCP. A connection is used by one thread at a
 * time; its descriptor is non-blocking (poll it through vms_conn_wait, which
 * knows about bytes TLS has buffered). doc/SECURITY.md has the model. */
typedef struct vms_tls vms_tls;

enum vms_tls_role { VMS_TLS_CLIENT, VMS_TLS_SERVER };

/* Load credentials from dir, in QEMU's and libvirt's x509 layout:
 * ca-cert.pem (and ca-crl.pem if present); server-cert.pem + server-key.pem
 * for VMS_TLS_SERVER (a receiver), client-cert.pem + client-key.pem for
 * VMS_TLS_CLIENT (a sender). 0, or a negative errno with a message naming
 * the file. The result is read-only afterwards: threads may share it. */
int vms_tls_new(const char *dir, enum vms_tls_role role, vms_tls **out, vms_err *err);
/* Server only: accept a client only if its subject (RFC 2253, as
 * "CN=src,O=vmscatter") matches one of the fnmatch(3) patterns given
 * (repeatable; none: any client the CA signed). 0 or -ENOMEM. */
int vms_tls_allow(vms_tls *t, const char *pattern, vms_err *err);
void vms_tls_free(vms_tls *t);

/* Connect to ip:port (host byte order) within timeout_ms; with tls, run
 * the handshake and check the server's certificate against `host` (an IP
 * address or DNS name in its subjectAltName; NULL: the IP). 0 with *out,
 * or a negative errno with a message (-EACCES: a certificate was refused). */
int vms_conn_connect(const vms_tls *tls, uint32_t ip, uint16_t port, const char *host,
		     int timeout_ms, vms_conn **out, vms_err *err);
/* Serve an accepted socket (ownership passes: closed on failure); with tls,
 * run the handshake, check the client's certificate and the allow-list. */
int vms_conn_accept(const vms_tls *tls, int fd, int timeout_ms, vms_conn **out, vms_err *err);
/* Read what is there without blocking: > 0 bytes, 0 when nothing is ready
 * (poll again), -ECONNRESET when the peer closed, another negative errno. */
ssize_t vms_conn_read(vms_conn *c, void *buf, size_t n);
/* Write all n bytes, waiting for the peer at most the connection's write
 * limit (vms_conn_set_write_ms, default 120 s): 0, -ETIMEDOUT, -errno. */
int vms_conn_write_all(vms_conn *c, const void *p, size_t n);
void vms_conn_set_write_ms(vms_conn *c, int ms);
/* 1 when a read would find bytes (buffered by TLS, or on the socket), 0
 * after timeout_ms (or EINTR), negative errno on error. */
int vms_conn_wait(vms_conn *c, int timeout_ms);
/* 1 when bytes are buffered inside the transport: poll(2) on the
 * descriptor would not see them. */
int vms_conn_pending(const vms_conn *c);
int vms_conn_fd(const vms_conn *c);
/* "tls" or "tcp", and the peer as messages name it: its certificate's
 * subject, or ADDR:PORT. Valid while c is. */
const char *vms_conn_kind(const vms_conn *c);
const char *vms_conn_peer(const vms_conn *c);
/* The peer certificate's subject (RFC 2253), "" without TLS. */
const char *vms_conn_subject(const vms_conn *c);
/* Words for an error `code` this connection returned: for -EPROTO, TLS's
 * own (an alert the peer sent, a record that failed), else strerror. */
const char *vms_conn_strerror(const vms_conn *c, int code);
/* Close: TLS says close_notify first (without waiting). NULL is fine. */
void vms_conn_close(vms_conn *c);
/* In a forked child that must not touch its parent's connection: free it
 * and close the descriptor, sending nothing. */
void vms_conn_forget(vms_conn *c);

/* A local migration socket (QEMU's stream to or from us) with `bytes` of
 * send buffer, past net.core.wmem_max when we may (SO_SNDBUFFORCE): a
 * stage of the pipeline that waits for the CPU does not stall the one
 * before it at once. Best effort: the kernel's default stays otherwise. */
void vms_sock_sndbuf(int fd, int bytes);

/* Bytes written to connection c that the kernel has not sent yet
 * (SIOCOUTQNSD; 0 when it cannot say): a backlog means the link or the
 * receiver, not the writer, is the bottleneck. */
int vms_conn_unsent(const vms_conn *c);

/* The speed of the interface that holds the IPv4 address `ip` (host
 * order), in bytes/s, from /sys/class/net/IF/speed; `fallback` when the
 * interface does not say (loopback, some virtual ones). */
uint64_t vms_if_rate(uint32_t ip, uint64_t fallback);

/* ---- sealed multicast (seal.c) -----------------------------------------------
 * With TLS, every PGM message is AES-256-GCM under a fresh key of its group
 * that only the group's members get (MCAST_JOIN, on TLS). Sealed
 * message: counter u64 | ciphertext | tag (16); nonce = 4 zero bytes ||
 * counter; additional data = session u64 || group u32 (big-endian). The
 * sender's counter only grows, so a nonce is never used twice under a key.
 * A vms_seal is used by one thread at a time. */
#define VMS_SEAL_KEY 32u
#define VMS_SEAL_TAG 16u
#define VMS_SEAL_OVERHEAD (8u + VMS_SEAL_TAG)
typedef struct vms_seal vms_seal;

int vms_seal_new(const uint8_t key[VMS_SEAL_KEY], uint64_t session, vms_seal **out, vms_err *err);
void vms_seal_free(vms_seal *s);
/* Seal len bytes for `group` into out (cap >= len + VMS_SEAL_OVERHEAD):
 * 0 with *outlen, -ENOBUFS, -EOVERFLOW (2^64 messages), -EIO. */
int vms_seal_put(vms_seal *s, uint32_t group, const void *msg, size_t len, uint8_t *out,
		 size_t cap, size_t *outlen);
/* Check and open a sealed message into out (cap >= len - overhead): 0 with
 * *outlen, or -EBADMSG (too short, or the tag does not match: nothing in
 * out may be used). */
int vms_seal_open(vms_seal *s, uint32_t group, const uint8_t *in, size_t len, uint8_t *out,
		  size_t cap, size_t *outlen);
/* n bytes from the operating system's CSPRNG: 0 or -EIO with a message. */
int vms_random(void *buf, size_t n, vms_err *err);

#endif
