/* fuzz_mstream.c - libFuzzer entry point for the migration stream parser:
 * the input is fed in two pieces (split by its first byte) and every item
 * is taken out. Built by tools/fuzz.sh. */
#include <stdint.h>

#include "kvmglue/kvmglue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	kvm_ms *ms = NULL;
	struct kvm_ms_item it;
	if (size < 1 || kvm_ms_new(&ms, NULL) < 0)
		return 0;
	size_t split = data[0] % size;
	int r = kvm_ms_feed(ms, data + 1, split, NULL);
	while (r == 0 && kvm_ms_next(ms, &it, NULL) == 1)
		;
	if (r == 0 && kvm_ms_feed(ms, data + 1 + split, size - 1 - split, NULL) == 0)
		while (kvm_ms_next(ms, &it, NULL) == 1)
			if (it.kind == KVM_MS_PAGE && it.data[0] == 0x5a)
				it.raw_len = 0;      /* touch the page: ASan checks the bounds */
	kvm_ms_free(ms);
	return 0;
}
