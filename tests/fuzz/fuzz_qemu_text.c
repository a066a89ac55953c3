/* fuzz_qemu_text.c - libFuzzer entry point for the QEMU text parsers
 * (`info ramblock` output, /proc/PID/maps and /proc/PID/stat): the first
 * byte picks the parser (bit 1 set: stat, for pid 4242; else bit 0: ramblock
 * or maps), the rest is its input. Built and run by tools/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>

#include "kvmglue/kvmglue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	if (data[0] & 2) {
		char state = 0;
		uint64_t start;
		if (kvm_parse_proc_stat(text, len, 4242, &state, &start) == 0 && (state == ' ' || state == '\t'))
			abort();
	} else if (data[0] & 1) {
		struct kvm_ramblock *b = NULL;
		size_t n = 0;
		if (kvm_parse_ramblocks(text, len, &b, &n, NULL) == 0) {
			for (size_t i = 0; i < n; i++)
				if (b[i].used > b[i].total)
					abort();
			free(b);
		}
	} else {
		struct kvm_mapping *m = NULL;
		size_t n = 0;
		if (kvm_parse_maps(text, len, &m, &n, NULL) == 0) {
			struct kvm_ramblock blk = { .name = "pc.ram", .used = 1 << 20, .total = 1 << 20 };
			kvm_locate_blocks(&blk, 1, m, n, NULL);
			free(m);
		}
	}
	return 0;
}
