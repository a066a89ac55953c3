/* fuzz_wire.c - libFuzzer entry point for the wire protocol: the input is a
 * byte stream as a receiver would read it from its socket; every complete
 * frame is decoded by its type's decoder. Built by tools/fuzz.sh. */
#include <stdint.h>

#include "common/common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	vms_frames f = { 0 };
	uint8_t type;
	vms_cur p;
	if (vms_frames_feed(&f, data, size) < 0)
		return 0;
	while (vms_frames_next(&f, &type, &p) == 1)
		vms_msg_check(type, &p);
	vms_frames_free(&f);
	return 0;
}
