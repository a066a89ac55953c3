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
	while (vms_frames_next(&f, &type, &p) == 1) {
		struct vms_msg_hello h;
		struct vms_msg_welcome w;
		struct vms_msg_vm v;
		struct vms_msg_join j;
		struct vms_msg_group_done d;
		uint32_t u, vm, id, count;
		uint64_t first;
		uint8_t kind;
		const uint8_t *page;
		char text[VMS_WIRE_ERROR_MAX + 1];
		vms_cur ids;
		switch (type) {
		case VMS_MSG_HELLO: vms_msg_hello_get(&p, &h); break;
		case VMS_MSG_WELCOME: vms_msg_welcome_get(&p, &w); break;
		case VMS_MSG_VM: vms_msg_vm_get(&p, &v); break;
		case VMS_MSG_MCAST_JOIN: vms_msg_join_get(&p, &j); break;
		case VMS_MSG_GROUP_DONE: vms_msg_group_done_get(&p, &d); break;
		case VMS_MSG_CONTENT: vms_msg_content_get(&p, &id, &page); break;
		case VMS_MSG_ERROR: vms_msg_error_get(&p, text); break;
		case VMS_MSG_MAP:
			if (vms_msg_map_get(&p, &vm, &first) == 0)
				while (vms_cur_left(&p) > 0 && vms_msg_map_run(&p, &kind, &count, &ids) == 0)
					while (vms_cur_be32(&ids, &u) == 0)
						;
			break;
		default: vms_msg_u32_get(&p, &u); break;
		}
	}
	vms_frames_free(&f);
	return 0;
}
