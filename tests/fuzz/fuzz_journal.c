/* fuzz_journal.c - libFuzzer entry point for the source journal's record
 * parser (scatter/journal.c); what it accepts must hold its promises: every
 * field set, one line each, state one of the two words. Built by
 * tools/fuzz.sh. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "scatter/scatter.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sc_journal_rec r;
	if (sc_journal_parse(data, size, &r) < 0)
		return 0;
	if (!r.qmp[0] || !r.target[0] || strchr(r.qmp, '\n') || strchr(r.target, '\n') ||
	    strchr(r.tls_host, '\n') || r.vm >= VMS_WIRE_VMS_MAX ||
	    (strcmp(r.state, "migrating") != 0 && strcmp(r.state, "unsettled") != 0))
		abort();
	char name[64];
	if (sc_journal_name(name, sizeof(name), r.session, r.vm) < 0 || !sc_journal_is_record(name))
		abort();
	return 0;
}
