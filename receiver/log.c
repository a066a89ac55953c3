/* log.c - the receiver's log lines, handed whole to the caller's callback
 * (rc_options.log); the receiver never prints. */
#include <stdio.h>

#include "receiver_int.h"

#define LINE_MAX_ 1200           /* a line, cut beyond (messages are <= VMS_ERR_MSG_MAX) */

void rc_logv(rc_log_fn log, void *ctx, const char *prefix, const char *fmt, va_list ap)
{
	char line[LINE_MAX_];
	if (!log)
		return;
	int n = snprintf(line, sizeof(line), "%s", prefix ? prefix : "");
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = (int)sizeof(line) - 1;
	if (vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap) < 0)
		return;
	log(ctx, line);
}

void rc_log(const struct rc_options *o, const char *fmt, ...)
{
	va_list ap;
	if (o->quiet)
		return;
	va_start(ap, fmt);
	rc_logv(o->log, o->log_ctx, NULL, fmt, ap);
	va_end(ap);
}
