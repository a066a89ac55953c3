/* num.c - checked parsing of numbers and sizes from untrusted text. */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "common.h"

static int digit_value(char ch, int base)
{
	int d;
	if (ch >= '0' && ch <= '9')
		d = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		d = ch - 'a' + 10;
	else if (ch >= 'A' && ch <= 'F')
		d = ch - 'A' + 10;
	else
		return -1;
	return d < base ? d : -1;
}

int vms_parse_u64(const char *s, size_t len, int base, uint64_t *out)
{
	if (base != 10 && base != 16)
		return -EINVAL;
	if (base == 16 && len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		s += 2;
		len -= 2;
	}
	if (len == 0)
		return -EINVAL;
	uint64_t v = 0;
	for (size_t i = 0; i < len; i++) {
		int d = digit_value(s[i], base);
		if (d < 0)
			return -EINVAL;
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -ERANGE;
		v = v * (uint64_t)base + (uint64_t)d;
	}
	*out = v;
	return 0;
}

int vms_parse_size(const char *s, uint64_t *out)
{
	size_t len = strlen(s), digits = 0;
	while (digits < len && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	const char *suffix = s + digits;
	unsigned shift = 0;
	if (*suffix) {
		static const char units[] = "KMGT";
		const char *u = strchr(units, *suffix);
		if (!u || !(strcmp(suffix + 1, "") == 0 || strcmp(suffix + 1, "iB") == 0))
			return -EINVAL;
		shift = 10u * (unsigned)(u - units + 1);
	}
	uint64_t v;
	int r = vms_parse_u64(s, digits, 10, &v);
	if (r < 0)
		return r;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

int vms_strlcpy_n(char *dst, size_t dstlen, const void *src, size_t n)
{
	if (dstlen == 0 || n >= dstlen)
		return -ENAMETOOLONG;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return 0;
}

/* [A-Za-z0-9_][A-Za-z0-9_.-]*: a name is a file name on the receiver
 * (NAME.img, STATE/NAME/), so never ".", "..", a hidden file or an option. */
int vms_name_valid(const char *name, size_t len, size_t max)
{
	if (len == 0 || len >= max)
		return 0;
	for (size_t i = 0; i < len; i++) {
		char ch = name[i];
		int alnum = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9');
		if (!(alnum || ch == '_' || (i > 0 && (ch == '.' || ch == '-'))))
			return 0;
	}
	return 1;
}

int vms_write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == ENOTSOCK)
			w = write(fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

double vms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t vms_now_ms(void)
{
	return (int64_t)(vms_now() * 1000.0);
}
