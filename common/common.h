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

#include <stddef.h>
#include <stdint.h>

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

/* Copy at most dstlen-1 bytes of src[0..n) and NUL-terminate. Returns
 * -ENAMETOOLONG (copying nothing) when it does not fit. */
int vms_strlcpy_n(char *dst, size_t dstlen, const void *src, size_t n);

#endif
