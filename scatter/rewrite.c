/* rewrite.c - what one item of QEMU's migration stream becomes on the wire
 * of a live session (doc/PROTOCOL.md "Live sessions"): a page whose content
 * the target holds in a seed becomes an SREF (with the page's SHA-256, which
 * the receiver checks), another page that compresses an SCOMP, everything
 * else passes through as SDATA. A pure function of its input, fuzzed with
 * the stream parser and the receiver's half (tools/fuzz.sh). */
#include <errno.h>
#include <stdint.h>

#include "scatter.h"

#define SDATA_MAX (1u << 20)        /* bytes of stream per SDATA frame */

/* Whether the frame at `at` is an SDATA frame that ends the buffer: then
 * bytes may still join it. Checked, not trusted: a stale *open is harmless. */
static int open_sdata(const vms_wbuf *out, size_t at)
{
	if (at > out->len || out->len - at < 5 || out->data[at + 4] != VMS_MSG_SDATA)
		return 0;
	size_t n = (size_t)out->data[at] << 24 | (size_t)out->data[at + 1] << 16 |
		   (size_t)out->data[at + 2] << 8 | out->data[at + 3];
	return at + 4 + n == out->len;
}

/* An SCOMP must save more than its frame costs over joining an SDATA frame. */
#define SCOMP_WORTH (VMS_WIRE_PAGE - 64)

int sc_rewrite_item(const struct kvm_ms_item *it, sc_ref_fn ref, void *ctx, vms_pagez *z,
		    vms_wbuf *out, size_t *open)
{
	uint32_t vm;
	uint64_t page;
	const uint8_t *zb;
	size_t len;
	if (it->kind == KVM_MS_PAGE && ref && ref(ctx, it->data, &vm, &page)) {
		*open = SIZE_MAX;
		struct vms_msg_sref m = { vm, page, { 0 }, it->raw, (size_t)(it->data - it->raw) };
		int r = vms_page_sha256(it->data, m.sha256);
		if (r == 0)
			r = vms_msg_sref_put(out, &m);
		return r < 0 ? r : 1;
	}
	if (it->kind == KVM_MS_PAGE && z && (len = vms_page_compress(z, it->data, &zb)) > 0 &&
	    len <= SCOMP_WORTH) {
		*open = SIZE_MAX;
		struct vms_msg_scomp m = { it->raw, (size_t)(it->data - it->raw), zb, len };
		int r = vms_msg_scomp_put(out, &m);
		return r < 0 ? r : 2;
	}
	/* raw bytes join the SDATA frame still open at the end of out, if any:
	 * zero records and pages do not each cost a frame (and a write) */
	for (size_t off = 0; off < it->raw_len;) {
		size_t n = it->raw_len - off < SDATA_MAX ? it->raw_len - off : SDATA_MAX;
		int r;
		if (open_sdata(out, *open) && out->len - *open - 5 + n <= SDATA_MAX) {
			r = vms_wbuf_bytes(out, it->raw + off, n);
			if (r == 0)
				r = vms_frame_end(out, *open);
		} else {
			*open = out->len;
			r = vms_msg_sdata_put(out, it->raw + off, n);
		}
		if (r < 0) {
			*open = SIZE_MAX;
			return r;
		}
		off += n;
	}
	return 0;
}
