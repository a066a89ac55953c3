/* fuzz_rewrite.c - libFuzzer entry point for the live stream rewriter, both
 * halves: the input is parsed as a migration stream, every item rewritten
 * (sc_rewrite_item: pages whose first byte is even become references to a
 * small seed store), the frames decoded and applied (rc_apply). What comes
 * out must be the parsed bytes exactly; with the top bit of the first byte
 * set, one byte of the wire is flipped first, and then nothing may crash.
 * Bit 0x40 of the first byte: other pages go compressed (SCOMP) when they
 * shrink, with zstd, LZ4, LZO1X-1 or zstd as its bits 0x30 say.
 * Built by tools/fuzz.sh. */
#include <stdlib.h>
#include <string.h>

#include "receiver/receiver.h"
#include "scatter/scatter.h"

#define SEEDS 64

struct store {
	uint8_t pages[SEEDS][KVM_PAGE_SIZE];
	unsigned n;
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int ref(void *ctx, const uint8_t *page, uint32_t *vm, uint64_t *pg)
{
	struct store *s = ctx;
	if (s->n == SEEDS || (page[0] & 1))
		return 0;
	memcpy(s->pages[s->n], page, KVM_PAGE_SIZE);
	*vm = 0;
	*pg = s->n++;
	return 1;
}

static int seed(void *ctx, uint32_t vm, uint64_t page, uint8_t *out)
{
	struct store *s = ctx;
	if (vm != 0 || page >= s->n)
		return -34;
	memcpy(out, s->pages[page], KVM_PAGE_SIZE);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct store st;
	static vms_pagez *pz[3];
	static vms_pagex *px;
	static const enum vms_compress algos[3] = { VMS_COMPRESS_ZSTD, VMS_COMPRESS_LZ4, VMS_COMPRESS_LZO };
	kvm_ms *ms = NULL;
	vms_wbuf expect = { 0 }, wire = { 0 }, got = { 0 };
	vms_frames f = { 0 };
	struct kvm_ms_item it;
	size_t open = SIZE_MAX;
	if (size < 1 || kvm_ms_new(&ms, NULL) < 0)
		return 0;
	int flip = data[0] & 0x80;
	if (!px && vms_pagex_new(&px, NULL) < 0)
		abort();
	for (size_t i = 0; i < 3; i++)
		if (!pz[i] && vms_pagez_new(algos[i], &pz[i], NULL) < 0)
			abort();
	vms_pagez *z = data[0] & 0x40 ? pz[(data[0] >> 4 & 3) % 3] : NULL;   /* pages as SCOMP, or SDATA */
	st.n = 0;
	if (kvm_ms_feed(ms, data + 1, size - 1, NULL) == 0)
		while (kvm_ms_next(ms, &it, NULL) == 1)
			if (vms_wbuf_bytes(&expect, it.raw, it.raw_len) < 0 ||
			    sc_rewrite_item(&it, ref, &st, z, &wire, &open) < 0)
				break;
	if (flip && wire.len)
		wire.data[data[0] % wire.len] ^= 0x41;
	uint8_t type;
	vms_cur p;
	int ok = vms_frames_feed(&f, wire.data, wire.len) == 0;
	while (ok && vms_frames_next(&f, &type, &p) == 1)
		ok = rc_apply(type, &p, seed, &st, px, &got, NULL) == 0;
	if (!flip && (!ok || got.len != expect.len || (got.len && memcmp(got.data, expect.data, got.len))))
		abort();                     /* the round trip must be exact */
	vms_frames_free(&f);
	vms_wbuf_free(&expect);
	vms_wbuf_free(&wire);
	vms_wbuf_free(&got);
	kvm_ms_free(ms);
	return 0;
}
