/* fuzz_argv.c - libFuzzer entry point for the target QEMU's command line
 * (kvm_target_argv, kvmglue/argv_policy.c): the first byte picks the policy
 * (bit 0: the receiver's own --qemu, bit 1: --run-as), the rest is the
 * source's argv, NUL-separated. Whatever the input, the output must start
 * with the receiver's binary and end with the sandbox and -incoming defer -S
 * (what it refuses, tests/unit/test_launch.c checks). Built and run by
 * tools/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kvmglue/kvmglue.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARGS_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	char *buf = malloc(size), *argv[ARGS_MAX];
	if (!buf)
		return 0;
	memcpy(buf, data + 1, size - 1);
	buf[size - 1] = '\0';
	size_t n = 0;
	for (char *p = buf; p < buf + size - 1 && n < ARGS_MAX; p += strlen(p) + 1)
		argv[n++] = p;
	static const char *const shared[] = { "/usr/share/qemu", "/tmp" };
	struct kvm_target_policy pol = {
		.qemu_bin = data[0] & 1 ? "/usr/bin/qemu-system-x86_64" : NULL,
		.shared_paths = shared, .nshared = 2,
		.run_as = data[0] & 2 ? "nobody" : NULL,
	};
	char **out = NULL;
	size_t outn = 0;
	vms_err err = { 0 };
	if (kvm_target_argv(argv, n, "/st", "vm1", &pol, &out, &outn, &err) == 0) {
		size_t tail = pol.run_as ? 7 : 5;
		if (outn < tail + 1 || out[outn] != NULL || strcmp(out[outn - 1], "-S") != 0 ||
		    strcmp(out[outn - 3], "-incoming") != 0 || strcmp(out[outn - tail], "-sandbox") != 0)
			abort();
		if (pol.qemu_bin ? strcmp(out[0], pol.qemu_bin) != 0 : strncmp(out[0], "qemu-system-", 12) != 0)
			abort();
		for (size_t i = 0; i < outn; i++)
			if (strlen(out[i]) >= KVM_ARG_MAX)
				abort();
		kvm_argv_free(out);
	} else if (out != NULL || err.code == 0) {
		abort();
	}
	free(buf);
	return 0;
}
