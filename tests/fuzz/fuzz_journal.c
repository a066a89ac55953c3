/* fuzz_journal.c - libFuzzer entry point for the source journal's record
 * parser (scatter/journal.c); what it accepts must hold its promises: every
 * field set, one line each, the source QEMU's pid in range, state one of the
 * two words; it fails only with -EBADMSG or -EPROTONOSUPPORT (format 1). Built by
 * tools/fuzz.sh. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scatter/scatter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_journal_rec r;
	long pid;
	uint64_t start;
	int ret = sc_journal_parse(data, size, &r);
	if (ret < 0 && ret != -EBADMSG && ret != -EPROTONOSUPPORT)
		abort();
	/* the source QEMU's identity alone: whatever it accepts is in range */
	if (sc_journal_qemu_parse(data, size, &pid, &start) == 0 && (pid <= 0 || pid > (1L << 22)))
		abort();
	if (ret < 0)
		return 0;
	if (!r.qmp[0] || !r.target[0] || strchr(r.qmp, '\n') || strchr(r.target, '\n') ||
	    strchr(r.tls_host, '\n') || r.vm >= VMS_WIRE_VMS_MAX || r.qemu_pid <= 0 || r.qemu_pid > (1L << 22) ||
	    (strcmp(r.state, "migrating") != 0 && strcmp(r.state, "unsettled") != 0))
		abort();
	char name[64];
	if (sc_journal_name(name, sizeof(name), r.session, r.vm) < 0 || !sc_journal_is_record(name))
		abort();
	return 0;
}
