/* err.c - recording error messages in a vms_err. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int vms_err_set(vms_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	err->code = code;
	return code;
}

int vms_err_prefix(vms_err *err, int code, const char *fmt, ...)
{
	if (!err)
		return code;
	char prefix[VMS_ERR_MSG_MAX], old[VMS_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	old[sizeof(old) - 1] = '\0';
	/* a message that does not fit is cut short, which is what we want */
	if (snprintf(err->msg, sizeof(err->msg), "%s: %s", prefix, old) < 0)
		err->msg[0] = '\0';
	if (err->code == 0)
		err->code = code;
	return err->code;
}

void vms_log_line(const char *prefix, const char *fmt, va_list ap)
{
	char line[1200];
	int n = snprintf(line, sizeof(line), "%s", prefix);
	if (n > 0 && (size_t)n < sizeof(line) - 1)
		n += vsnprintf(line + n, sizeof(line) - 1 - (size_t)n, fmt, ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	vms_write_all(2, line, (size_t)n);
}
