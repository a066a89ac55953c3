/* image.c - the receiver's image writer: one OUT/.NAME.img.part-PID per VM
 * (sparse, written page by page), its SHA-256 checked against the sender's,
 * fsync, then published as OUT/NAME.img; a session that fails leaves none. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "receiver_int.h"

#define READ_CHUNK (1u << 20)    /* bytes read at once for the SHA-256 */

/* A seed's page bits and the session's "seeding over" word: memory the
 * stream children (forked later) share with this process. */
static int seed_maps(struct rc_images *im, struct rc_image *v, vms_err *err)
{
	if (!im->seeding_over) {
		void *m = mmap(NULL, sizeof(uint32_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			return vms_err_set(err, -errno, "mmap: %s", strerror(errno));
		im->seeding_over = m;
	}
	v->written_len = (size_t)(v->pages / 8 + 1);
	void *m = mmap(NULL, v->written_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return vms_err_set(err, -errno, "mmap: %s", strerror(errno));
	v->written = m;
	return 0;
}

int rc_image_open(struct rc_images *im, const char *name, uint64_t pages, int seed, vms_err *err)
{
	const struct rc_options *o = im->o;
	char final[sizeof(im->v->final)];
	struct stat st;
	snprintf(final, sizeof(final), "%s.img", name);
	if (!seed && !o->force && fstatat(im->dirfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return vms_err_set(err, -EEXIST, "%s/%s exists: this receiver does not replace an image "
				   "(run it with --force to allow that)", o->out_dir, final);
	struct rc_image *nv = realloc(im->v, (im->n + 1) * sizeof(*nv));
	if (!nv)
		return vms_err_set(err, -ENOMEM, "out of memory");
	im->v = nv;
	struct rc_image *v = &im->v[im->n++];
	memset(v, 0, sizeof(*v));
	v->fd = -1;
	v->pages = pages;
	if (vms_strlcpy_n(v->name, sizeof(v->name), name, strlen(name)) < 0)
		return vms_err_set(err, -EINVAL, "VM name '%s' is not allowed", name);
	memcpy(v->final, final, sizeof(final));
	int r = rc_part_create(im->dirfd, o->out_dir, name, v->tmp, &v->fd, err);
	if (r < 0)
		return r;
	if (seed && (r = seed_maps(im, v, err)) < 0)
		return r;
	if (ftruncate(v->fd, (off_t)(pages * VMS_WIRE_PAGE)) < 0)
		return vms_err_set(err, -errno, "%s/%s: %s", o->out_dir, v->tmp, strerror(errno));
	return 0;
}

int rc_image_write(struct rc_images *im, uint32_t vm, uint64_t page, const uint8_t *data, vms_err *err)
{
	if (vm >= im->n || page >= im->v[vm].pages || im->v[vm].fd < 0)
		return vms_err_set(err, -EFAULT, "a page outside the images");
	struct rc_image *v = &im->v[vm];
	off_t at = (off_t)page * VMS_WIRE_PAGE;
	uint8_t spoilt[VMS_WIRE_PAGE];
	if (v->written && page % 8 == 0 && vms_fault("receiver:seed-spoilt")) {
		memset(spoilt, 0x5a, sizeof(spoilt));       /* a seed page gone bad (a test) */
		data = spoilt;
	}
	if (pwrite(v->fd, data, VMS_WIRE_PAGE, at) != (ssize_t)VMS_WIRE_PAGE)
		return vms_err_set(err, errno ? -errno : -EIO, "%s: write: %s", v->tmp, strerror(errno ? errno : EIO));
	if (v->written)                      /* after the bytes: a stream may read them now */
		__atomic_fetch_or(&v->written[page / 8], (uint8_t)(1u << (page % 8)), __ATOMIC_RELEASE);
	return 0;
}

void rc_images_seeded(struct rc_images *im)
{
	if (im->seeding_over)
		__atomic_store_n(im->seeding_over, 1, __ATOMIC_RELEASE);
}

/* SHA-256 of the image's `size` bytes. Holes (pages nobody wrote: zero
 * pages) are not read, only hashed from a zero buffer (SEEK_DATA/SEEK_HOLE;
 * where the file system cannot say, everything is read). */
static int image_digest(const char *name, int fd, uint64_t size, uint8_t *out, vms_err *err)
{
	static const uint8_t zeros[1 << 16];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t *buf = malloc(READ_CHUNK);
	int r = 0;
	if (!ctx || !buf || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
		r = vms_err_set(err, -ENOMEM, "SHA-256: cannot start");
		goto out;
	}
	for (off_t at = 0, end = (off_t)size; at < end;) {
		off_t data = lseek(fd, at, SEEK_DATA), hole = end;
		if (data < 0)
			data = errno == ENXIO ? end : at;    /* only holes left; or no SEEK_DATA */
		if (data > end)
			data = end;
		while (at < data) {
			size_t n = data - at < (off_t)sizeof(zeros) ? (size_t)(data - at) : sizeof(zeros);
			EVP_DigestUpdate(ctx, zeros, n);
			at += (off_t)n;
		}
		if (at < end && (hole = lseek(fd, at, SEEK_HOLE)) < 0)
			hole = end;
		while (at < hole && at < end) {
			size_t want = hole - at < (off_t)READ_CHUNK ? (size_t)(hole - at) : READ_CHUNK;
			ssize_t got = pread(fd, buf, want, at);
			if (got < 0 && errno == EINTR)
				continue;
			if (got <= 0) {
				r = vms_err_set(err, got < 0 ? -errno : -EIO, "%s: read: %s", name,
						got < 0 ? strerror(errno) : "short file");
				goto out;
			}
			EVP_DigestUpdate(ctx, buf, (size_t)got);
			at += got;
		}
	}
	unsigned len = 32;
	EVP_DigestFinal_ex(ctx, out, &len);
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return r;
}

int rc_image_verify(struct rc_images *im, uint32_t vm, const uint8_t sha256[32], vms_err *err)
{
	if (vm >= im->n || im->v[vm].fd < 0)
		return vms_err_set(err, -EFAULT, "an image that is not there");
	struct rc_image *v = &im->v[vm];
	uint8_t d[32];
	int r = image_digest(v->name, v->fd, v->pages * VMS_WIRE_PAGE, d, err);
	if (r < 0)
		return r;
	if (memcmp(d, sha256, 32) != 0)
		return vms_err_set(err, -EIO, "%s: the rebuilt image differs from the source (SHA-256)", v->name);
	if (fsync(v->fd) < 0)
		return vms_err_set(err, -errno, "%s/%s: fsync: %s", im->o->out_dir, v->tmp, strerror(errno));
	return 0;
}

int rc_image_publish(struct rc_images *im, uint32_t vm, vms_err *err)
{
	if (vm >= im->n || !im->v[vm].tmp[0])
		return vms_err_set(err, -EFAULT, "an image that is not there");
	struct rc_image *v = &im->v[vm];
	/* never over an image that is there, unless --force */
	int r = rc_part_publish(im->dirfd, im->o->out_dir, v->tmp, v->final, im->o->force, err);
	if (r < 0)
		return r;
	v->tmp[0] = '\0';
	rc_log(im->o, "%s/%s: %llu pages written and verified", im->o->out_dir, v->final,
	       (unsigned long long)v->pages);
	return 0;
}

void rc_images_free(struct rc_images *im)
{
	for (unsigned v = 0; v < im->n; v++) {
		if (im->v[v].fd >= 0)
			close(im->v[v].fd);
		if (im->v[v].written)
			munmap(im->v[v].written, im->v[v].written_len);
		if (im->v[v].tmp[0])             /* never leave a partial image (only ours) */
			unlinkat(im->dirfd, im->v[v].tmp, 0);
	}
	if (im->seeding_over)
		munmap(im->seeding_over, sizeof(uint32_t));
	im->seeding_over = NULL;
	free(im->v);
	im->v = NULL;
	im->n = 0;
}
