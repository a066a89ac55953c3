/* fault.c - named fault points for tests (see common.h): the environment
 * variable VMS_FAULT names the points at which a process dies, drops its
 * connection or stops, so a test can act at an exact phase instead of
 * sleeping and killing. doc/PROTOCOL.md lists the points. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

/* Does the comma list `spec` name `point`, as POINT (kill), POINT=drop or
 * POINT=stop? 0: no; 1: kill; 2: drop; 3: stop. */
static int lookup(const char *spec, const char *point)
{
	static const char *const act[] = { "=drop", "=stop" };
	size_t pl = strlen(point);
	for (const char *p = spec; *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len >= pl && strncmp(p, point, pl) == 0) {
			if (len == pl)
				return 1;
			for (int i = 0; i < 2; i++)
				if (len == pl + 5 && strncmp(p + pl, act[i], 5) == 0)
					return 2 + i;
		}
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
	static int stopped;        /* (stops once per process: the test pins one phase) */
	if (what == 3 && !__atomic_exchange_n(&stopped, 1, __ATOMIC_SEQ_CST)) {
		dprintf(2, "vmscatter: fault point %s: stopping (VMS_FAULT; SIGCONT goes on)\n", point);
		kill(getpid(), SIGSTOP);   /* the test acts, then sends SIGCONT: we go on */
	}
	return what == 2;
}
