/* fault.c - named fault points for tests (see common.h): the environment
 * variable VMS_FAULT names the points at which a process dies or drops its
 * connection, so a test can stop a process at an exact phase instead of
 * sleeping and killing. doc/PROTOCOL.md lists the points. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Does the comma list `spec` name `point`, as POINT (kill) or POINT=drop?
 * 0: no; 1: kill; 2: drop. */
static int lookup(const char *spec, const char *point)
{
	size_t pl = strlen(point);
	for (const char *p = spec; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == pl && strncmp(p, point, pl) == 0)
			return 1;
		if (len == pl + 5 && strncmp(p, point, pl) == 0 && strncmp(p + pl, "=drop", 5) == 0)
			return 2;
		p += len + (end ? 1 : 0);
	}
	return 0;
}

int vms_fault(const char *point)
{
	const char *spec = getenv("VMS_FAULT");
	int what = spec ? lookup(spec, point) : 0;
	if (what == 1) {
		dprintf(2, "vmscatter: fault point %s: killing myself (VMS_FAULT)\n", point);
		kill(getpid(), SIGKILL);
		pause();
	}
	if (what == 2)
		dprintf(2, "vmscatter: fault point %s: dropping the connection (VMS_FAULT)\n", point);
	return what == 2;
}
