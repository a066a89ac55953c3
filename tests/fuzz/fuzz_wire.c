/* fuzz_wire.c - libFuzzer entry point for the wire protocol (version 4):
 * the input is a byte stream as a receiver (or a sender) would read it from
 * its connection; every complete frame is decoded by its type's decoder
 * (vms_msg_check knows every type). A frame that decodes is encoded again
 * from the decoded fields and must come out byte for byte the same: the
 * encoding is canonical, so a decoder that accepts more than its encoder
 * writes (or reads a field wrongly) aborts. And a round trip through each
 * page compressor: the input made into pages (tiled over a page, and at
 * the start of a page of zeros), compressed with zstd, LZ4 and LZO1X-1,
 * must decompress bit for bit, as a bare page and as a CONTENT. Built by
 * tools/fuzz.sh. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One decompressor and one compressor per algorithm for the whole run (as
 * a receiver's or sender's thread keeps them): state from earlier inputs
 * must not change what a page decodes to. */
static vms_pagex *px;
static vms_pagez *pz[3];
static const enum vms_compress algos[3] = { VMS_COMPRESS_ZSTD, VMS_COMPRESS_LZ4, VMS_COMPRESS_LZO };

/* The frame of `type` with this payload, as the encoders write it. */
static void must_equal(const vms_wbuf *b, uint8_t type, const uint8_t *payload, size_t len)
{
	if (b->len != 5 + len || b->data[4] != type || memcmp(b->data + 5, payload, len) != 0)
		abort();
}

/* An encoder given what a decoder accepted must not refuse it. */
static int put_ok(int r)
{
	if (r < 0)
		abort();
	return 1;
}

/* Decode `p` field by field and encode the fields again into b: 1 when b
 * then must equal the frame, -1 when the payload did not decode, 0 when
 * there is nothing to compare (ERROR sanitises its text; a MAP run longer
 * than this harness's buffer). */
static int reencode(uint8_t type, vms_cur *p, vms_wbuf *b)
{
	const uint8_t *page;
	uint32_t u;
	uint64_t n;
	switch (type) {
	case VMS_MSG_HELLO: {
		struct vms_msg_hello m;
		if (vms_msg_hello_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_hello_put(b, &m));
	}
	case VMS_MSG_WELCOME: {
		struct vms_msg_welcome m;
		if (vms_msg_welcome_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_welcome_put(b, &m));
	}
	case VMS_MSG_VM: {
		struct vms_msg_vm m;
		if (vms_msg_vm_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_vm_put(b, &m));
	}
	case VMS_MSG_MAP: {
		uint32_t vm, count, ids[256];
		uint64_t first;
		uint8_t kind;
		vms_cur idc;
		size_t start;
		int big = 0;
		if (vms_msg_map_get(p, &vm, &first) < 0)
			return -1;
		put_ok(vms_msg_map_begin(b, vm, first, &start));
		while (vms_cur_left(p) > 0) {
			if (vms_msg_map_run(p, &kind, &count, &idc) < 0)
				return -1;
			if (kind == 1 && count > sizeof(ids) / sizeof(ids[0])) {
				big = 1;             /* still decoded to the end */
				continue;
			}
			for (uint32_t i = 0; kind == 1 && i < count; i++)
				if (vms_cur_be32(&idc, &ids[i]) < 0)
					abort();
			put_ok(vms_msg_map_run_put(b, kind, count, kind == 1 ? ids : NULL));
		}
		return big ? 0 : put_ok(vms_msg_map_end(b, start));
	}
	case VMS_MSG_MCAST_JOIN: {
		struct vms_msg_join m;
		if (vms_msg_join_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_join_put(b, &m));
	}
	case VMS_MSG_GROUP_DONE: {
		struct vms_msg_group_done m;
		if (vms_msg_group_done_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_group_done_put(b, &m));
	}
	case VMS_MSG_JOINED: case VMS_MSG_MCAST_END:
		if (vms_msg_u32_get(p, &u) < 0)
			return -1;
		return put_ok(vms_msg_u32_put(b, type, u));
	case VMS_MSG_MISSING: {
		struct vms_msg_missing m;
		size_t left = VMS_WIRE_IDS_MAX;
		static uint32_t ids[VMS_WIRE_IDS_MAX];
		if (vms_msg_missing_get(p, &m, &left) < 0)
			return -1;
		for (uint32_t i = 0; i < m.count; i++)
			if (vms_cur_be32(&m.ids, &ids[i]) < 0)
				abort();
		return vms_msg_missing_put(b, m.last, ids, m.count) == 0;
	}
	case VMS_MSG_DONE: {
		struct vms_msg_done m;
		static uint8_t sha[VMS_WIRE_VMS_MAX * 32];
		if (vms_msg_done_get(p, &m) < 0)
			return -1;
		for (uint32_t i = 0; i < m.count; i++)
			memcpy(sha + (size_t)i * 32, vms_msg_done_sha256(&m, i), 32);
		return vms_msg_done_put(b, sha, m.count) == 0;
	}
	case VMS_MSG_CONTENT: {
		size_t len = vms_cur_left(p);
		const uint8_t *all = p->base + p->off;
		if (vms_msg_content_get(p, &u, px, &page) < 0)
			return -1;
		return put_ok(vms_msg_content_put(b, all, len));
	}
	case VMS_MSG_MAPS_END: case VMS_MSG_END: case VMS_MSG_LIVE: case VMS_MSG_READY:
	case VMS_MSG_SEND: case VMS_MSG_LOADED: case VMS_MSG_VERIFY: case VMS_MSG_COMMIT:
	case VMS_MSG_RUNNING: case VMS_MSG_LIVE_END:
		if (vms_msg_empty_get(p) < 0)
			return -1;
		return put_ok(vms_msg_empty_put(b, type));
	case VMS_MSG_STREAM: {
		struct vms_msg_stream m;
		char *store;
		if (vms_msg_stream_get(p, &m, &store) < 0)
			return -1;
		int r = put_ok(vms_msg_stream_put(b, &m));
		free(store);
		return r;
	}
	case VMS_MSG_SDATA: {
		size_t len;
		if (vms_msg_sdata_get(p, &page, &len) < 0)
			return -1;
		return put_ok(vms_msg_sdata_put(b, page, len));
	}
	case VMS_MSG_SREF: {
		struct vms_msg_sref m;
		if (vms_msg_sref_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_sref_put(b, &m));
	}
	case VMS_MSG_SCOMP: {
		struct vms_msg_scomp m;
		if (vms_msg_scomp_get(p, &m, px, vms_pagex_page(px)) < 0)
			return -1;
		return put_ok(vms_msg_scomp_put(b, &m));
	}
	case VMS_MSG_DIGESTS: {
		struct vms_msg_digests m;
		if (vms_msg_digests_get(p, &m) < 0)
			return -1;
		return put_ok(vms_msg_digests_put(b, &m));
	}
	case VMS_MSG_FIX: case VMS_MSG_SPAGE:
		if (vms_msg_u64page_get(p, &n, &page) < 0)
			return -1;
		return put_ok(vms_msg_u64page_put(b, type, n, page));
	case VMS_MSG_NEED: case VMS_MSG_ACK:
		if (vms_msg_u64_get(p, &n) < 0)
			return -1;
		return put_ok(vms_msg_u64_put(b, type, n));
	default:
		return 0;
	}
}

/* `page` compressed with each algorithm comes back bit for bit; a page
 * that does not shrink (0) goes as it is. */
static void round_trip(const uint8_t *page)
{
	uint8_t out[VMS_WIRE_PAGE], content[VMS_CONTENT_MAX];
	for (size_t i = 0; i < 3; i++) {
		const uint8_t *z;
		size_t len = vms_page_compress(pz[i], page, &z);
		if (len == 0)
			continue;
		if (len < 2 || len >= VMS_WIRE_PAGE || z[0] != algos[i] ||
		    vms_page_decompress(px, z, len, out) != 0 || memcmp(out, page, VMS_WIRE_PAGE) != 0)
			abort();
		len = vms_content_encode(pz[i], 7, page, content);
		vms_cur c;
		uint32_t id;
		const uint8_t *got;
		vms_cur_init(&c, content, len);
		if (vms_msg_content_get(&c, &id, px, &got) != 0 || id != 7 || memcmp(got, page, VMS_WIRE_PAGE) != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!px) {
		if (vms_pagex_new(&px, NULL) < 0)
			abort();
		for (size_t i = 0; i < 3; i++)
			if (vms_pagez_new(algos[i], &pz[i], NULL) < 0)
				abort();
	}
	if (size > 0) {
		/* a page of zeros starting with the input first: it shrinks,
		 * which turns each compressor's skipping of incompressible
		 * pages off again, then the input tiled over a page */
		uint8_t page[VMS_WIRE_PAGE] = { 0 };
		memcpy(page, data, size < VMS_WIRE_PAGE ? size : VMS_WIRE_PAGE);
		round_trip(page);
		for (size_t i = 0; i < VMS_WIRE_PAGE; i++)
			page[i] = data[i % size];
		round_trip(page);
	}
	vms_frames f = { 0 };
	vms_wbuf b = { 0 };
	uint8_t type;
	vms_cur p;
	if (vms_frames_feed(&f, data, size) < 0)
		return 0;
	while (vms_frames_next(&f, &type, &p) == 1) {
		const uint8_t *payload = p.base + p.off;
		size_t len = vms_cur_left(&p);
		vms_cur q = p;
		int ok = vms_msg_check(type, &q) == 0;
		vms_wbuf_reset(&b);
		q = p;
		int r = reencode(type, &q, &b);
		if ((r < 0 && ok) || (r > 0 && !ok))
			abort();                 /* vms_msg_check and the decoder disagree */
		if (r > 0)
			must_equal(&b, type, payload, len);
	}
	vms_wbuf_free(&b);
	vms_frames_free(&f);
	return 0;
}
