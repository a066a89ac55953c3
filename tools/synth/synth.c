/* synth.c - synthetic rack generation (see synth.h). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "synth.h"

#define PAGE 4096u

static uint64_t mix(uint64_t x)
{
	/* splitmix64 finaliser */
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

static void fill(uint64_t key, uint8_t *out)
{
	for (unsigned i = 0; i < PAGE / 8; i++) {
		uint64_t w = mix(key + i);
		memcpy(out + 8 * i, &w, 8);
	}
	out[0] |= 1;   /* never the zero page */
}

void synth_defaults(struct synth_params *p)
{
	*p = (struct synth_params){
		.vms = 4, .pages = 4096, .zero = 0.30, .self = 0.05, .inter = 0.40,
		.pool = 2048, .self_pool = 64, .seed = 1,
	};
}

int synth_check(const struct synth_params *p, vms_err *err)
{
	if (p->vms == 0 || p->vms > 4096)
		return vms_err_set(err, -EINVAL, "--vms must be 1..4096");
	if (p->pages == 0 || p->pages > (1ull << 32))
		return vms_err_set(err, -EINVAL, "--pages must be 1..2^32");
	if (p->zero < 0 || p->self < 0 || p->inter < 0 || p->zero + p->self + p->inter > 1.0 + 1e-9)
		return vms_err_set(err, -EINVAL, "fractions must be >= 0 and add up to at most 1");
	if ((p->inter > 0 && p->pool == 0) || (p->self > 0 && p->self_pool == 0))
		return vms_err_set(err, -EINVAL, "a pool with a non-zero fraction must have contents");
	return 0;
}

void synth_page(const struct synth_params *p, unsigned vm, uint64_t page, uint8_t *out)
{
	if (p->identical)
		vm = 0;
	uint64_t h = mix(p->seed ^ mix(((uint64_t)vm << 40) ^ page));
	double u = (double)(h >> 11) / 9007199254740992.0;   /* [0,1) */
	uint64_t r = mix(h);
	if (u < p->zero) {
		memset(out, 0, PAGE);
	} else if (u < p->zero + p->self) {
		fill(mix(p->seed ^ 0x5e1f) ^ ((uint64_t)vm << 32) ^ (r % p->self_pool) << 1, out);
	} else if (u < p->zero + p->self + p->inter) {
		fill(mix(p->seed ^ 0x9001) ^ (r % p->pool) << 1, out);
	} else {
		fill(mix(p->seed ^ 0x0ace ^ ((uint64_t)vm << 44)) ^ page << 1, out);
	}
}

int synth_write_rack(const struct synth_params *p, const char *dir, vms_err *err)
{
	int r = synth_check(p, err);
	if (r < 0)
		return r;
	uint8_t *buf = malloc(256 * PAGE);
	if (!buf)
		return vms_err_set(err, -ENOMEM, "out of memory");
	for (unsigned v = 0; v < p->vms && r == 0; v++) {
		char path[4096], tmp[4200];
		snprintf(path, sizeof(path), "%s/vm%u.img", dir, v + 1);
		snprintf(tmp, sizeof(tmp), "%s.tmp", path);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			r = vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
			break;
		}
		for (uint64_t pg = 0; pg < p->pages && r == 0; pg += 256) {
			uint64_t n = p->pages - pg < 256 ? p->pages - pg : 256;
			for (uint64_t i = 0; i < n; i++)
				synth_page(p, v, pg + i, buf + i * PAGE);
			size_t len = n * PAGE, done = 0;
			while (done < len) {
				ssize_t w = write(fd, buf + done, len - done);
				if (w < 0 && errno == EINTR)
					continue;
				if (w < 0) {
					r = vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
					break;
				}
				done += (size_t)w;
			}
		}
		if (close(fd) < 0 && r == 0)
			r = vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
		if (r == 0 && rename(tmp, path) < 0)
			r = vms_err_set(err, -errno, "%s: %s", path, strerror(errno));
		if (r < 0)
			unlink(tmp);
	}
	free(buf);
	return r;
}
