/* apply.c - the receiver's half of the stream rewriter: the QEMU migration
 * stream bytes an SDATA, SREF or SCOMP message stands for. An SREF's page comes
 * from a seed and must have the SHA-256 the sender saw. A pure function of
 * its input and the seeds, fuzzed with the sender's half. */
#include <errno.h>
#include <string.h>

#include "receiver.h"

/* A page record of the stream: its header, then the page. */
static int put_record(vms_wbuf *out, const uint8_t *hdr, size_t hdr_len, const uint8_t *page, vms_err *err)
{
	int r = vms_wbuf_bytes(out, hdr, hdr_len);
	if (r == 0)
		r = vms_wbuf_bytes(out, page, VMS_WIRE_PAGE);
	return r < 0 ? vms_err_set(err, r, "out of memory") : 0;
}

int rc_apply(uint8_t type, vms_cur *p, rc_seed_fn seed, void *ctx, vms_pagex *x, vms_wbuf *out, vms_err *err)
{
	const uint8_t *data;
	size_t len;
	struct vms_msg_sref m;
	struct vms_msg_scomp z;
	uint8_t page[VMS_WIRE_PAGE], d[32];
	int r;
	switch (type) {
	case VMS_MSG_SCOMP:
		if (vms_msg_scomp_get(p, &z, x, page) < 0)
			return vms_err_set(err, -EBADMSG, "malformed SCOMP message%s%s",
					   vms_pagex_why(x)[0] ? ": " : "", vms_pagex_why(x));
		return put_record(out, z.hdr, z.hdr_len, page, err);
	case VMS_MSG_SDATA:
		if (vms_msg_sdata_get(p, &data, &len) < 0)
			return vms_err_set(err, -EBADMSG, "malformed SDATA message");
		r = vms_wbuf_bytes(out, data, len);
		return r < 0 ? vms_err_set(err, r, "out of memory") : 0;
	case VMS_MSG_SREF:
		if (vms_msg_sref_get(p, &m) < 0)
			return vms_err_set(err, -EBADMSG, "malformed SREF message");
		if ((r = seed(ctx, m.vm, m.page, page)) < 0)
			return vms_err_set(err, r, "SREF to page %llu of seed %u, which is not here",
					   (unsigned long long)m.page, m.vm);
		if (vms_page_sha256(page, d) < 0 || memcmp(d, m.sha256, 32) != 0)
			return vms_err_set(err, -EIO, "page %llu of seed %u is not the content the sender refers to (SHA-256)",
					   (unsigned long long)m.page, m.vm);
		return put_record(out, m.hdr, m.hdr_len, page, err);
	default:
		return vms_err_set(err, -EBADMSG, "message type %u is not stream data", type);
	}
}
