/* mem.c - kvm_mem: one interface over "a VM's memory", with two backends
 * behind an ops struct: a raw image file (pread) and a running QEMU
 * (process_vm_readv on the guest RAM blocks found through QMP). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "kvmglue.h"

#define QMP_TIMEOUT_MS 5000
#define MAPS_FILE_MAX (64u << 20)

struct mem_ops {
	const char *kind;
	/* point *pages at [page, page+n), copying into scratch if needed */
	int (*view)(kvm_mem *m, uint64_t page, size_t n, void *scratch,
		    const uint8_t **pages, vms_err *err);
	void (*close)(kvm_mem *m);
};

struct kvm_mem {
	const struct mem_ops *ops;
	char path[4096];
	uint64_t pages;
	/* image */
	int fd;
	const uint8_t *map;
	uint64_t *holes;              /* bit per page: not stored (sparse file), or NULL */
	/* qemu */
	pid_t pid;
	struct kvm_ramblock *blocks;
	size_t nblocks;
};

/* ---- image files --------------------------------------------------------- */

static int image_view(kvm_mem *m, uint64_t page, size_t n, void *scratch,
		      const uint8_t **pages, vms_err *err)
{
	(void)scratch;
	(void)n;
	(void)err;
	*pages = m->map + page * KVM_PAGE_SIZE;
	return 0;
}

static void image_close(kvm_mem *m)
{
	if (m->map)
		munmap((void *)m->map, m->pages * KVM_PAGE_SIZE);
	if (m->fd >= 0)
		close(m->fd);
	free(m->holes);
}

static const struct mem_ops image_ops = { "image", image_view, image_close };

/* Set the bits of the whole pages in the hole [from, to) (byte offsets). */
static void mark_hole(uint64_t *holes, off_t from, off_t to)
{
	for (uint64_t p = ((uint64_t)from + KVM_PAGE_SIZE - 1) / KVM_PAGE_SIZE;
	     p < (uint64_t)to / KVM_PAGE_SIZE; p++)
		holes[p / 64] |= 1ull << (p % 64);
}

/* Map the holes of a sparse image once, with SEEK_DATA / SEEK_HOLE: the
 * index then never touches them (reading a tmpfs hole through the mapping
 * would make the kernel allocate it). A file system without hole support
 * leaves m->holes NULL: every page is read. */
static int find_holes(kvm_mem *m, vms_err *err)
{
	off_t end = (off_t)(m->pages * KVM_PAGE_SIZE), pos = 0;
	m->holes = calloc((m->pages + 63) / 64, sizeof(uint64_t));
	if (!m->holes)
		return vms_err_set(err, -ENOMEM, "out of memory");
	while (pos < end) {
		off_t data = lseek(m->fd, pos, SEEK_DATA);
		if (data < 0 && errno == ENXIO)          /* no data from pos on */
			data = end;
		else if (data < 0 && errno == EINVAL) {  /* no hole support */
			free(m->holes);
			m->holes = NULL;
			return 0;
		} else if (data < 0) {
			return vms_err_set(err, -errno, "%s: SEEK_DATA: %s", m->path, strerror(errno));
		}
		mark_hole(m->holes, pos, data < end ? data : end);
		if (data >= end)
			break;
		pos = lseek(m->fd, data, SEEK_HOLE);
		if (pos < 0)
			return vms_err_set(err, -errno, "%s: SEEK_HOLE: %s", m->path, strerror(errno));
		if (pos <= data)      /* only if the file changes under us: read the rest */
			break;
	}
	return 0;
}

static int image_open(kvm_mem *m, vms_err *err)
{
	struct stat st;
	m->fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (m->fd < 0)
		return vms_err_set(err, -errno, "%s: %s", m->path, strerror(errno));
	if (fstat(m->fd, &st) < 0)
		return vms_err_set(err, -errno, "%s: %s", m->path, strerror(errno));
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return vms_err_set(err, -EINVAL, "%s: not a memory image (not a regular file)", m->path);
	if (st.st_size == 0)
		return vms_err_set(err, -EINVAL, "%s: empty memory image", m->path);
	if (st.st_size % KVM_PAGE_SIZE != 0)
		return vms_err_set(err, -EINVAL, "%s: size %lld is not a multiple of %u bytes",
				   m->path, (long long)st.st_size, KVM_PAGE_SIZE);
	m->pages = (uint64_t)st.st_size / KVM_PAGE_SIZE;
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, m->fd, 0);
	if (map == MAP_FAILED)
		return vms_err_set(err, -errno, "%s: mmap: %s", m->path, strerror(errno));
	madvise(map, (size_t)st.st_size, MADV_SEQUENTIAL);
	m->map = map;
	m->ops = &image_ops;
	/* fewer blocks than bytes: a sparse file (on tmpfs, exactly) */
	if ((uint64_t)st.st_blocks * 512 < (uint64_t)st.st_size)
		return find_holes(m, err);
	return 0;
}

/* ---- running QEMU ------------------------------------------------------------ */

/* Translate pages [page, page+n) into iovecs over the blocks' host ranges. */
static int remote_iov(const kvm_mem *m, uint64_t page, size_t n, struct iovec *remote, size_t *nr,
		      vms_err *err)
{
	uint64_t first = page, left = n, base = 0;
	*nr = 0;
	for (size_t b = 0; b < m->nblocks && left > 0; b++) {
		uint64_t bpages = m->blocks[b].used / KVM_PAGE_SIZE;
		if (first < base + bpages) {
			uint64_t in = first - base, take = bpages - in;
			if (take > left)
				take = left;
			if (*nr == 8)
				return vms_err_set(err, -EINVAL, "access spans too many RAM blocks");
			remote[*nr].iov_base = (void *)(uintptr_t)(m->blocks[b].host + in * KVM_PAGE_SIZE);
			remote[*nr].iov_len = take * KVM_PAGE_SIZE;
			(*nr)++;
			first += take;
			left -= take;
		}
		base += bpages;
	}
	if (left > 0)
		return vms_err_set(err, -ERANGE, "%s: access past the end of guest RAM", m->path);
	return 0;
}

static int qemu_view(kvm_mem *m, uint64_t page, size_t n, void *buf,
		     const uint8_t **pages, vms_err *err)
{
	struct iovec local = { buf, n * KVM_PAGE_SIZE }, remote[8];
	size_t nr;
	int r = remote_iov(m, page, n, remote, &nr, err);
	if (r < 0)
		return r;
	ssize_t got = process_vm_readv(m->pid, &local, 1, remote, nr, 0);
	if (got < 0 && errno == ESRCH)
		return vms_err_set(err, -ESRCH, "%s: QEMU process %d is gone", m->path, (int)m->pid);
	if (got < 0)
		return vms_err_set(err, -errno, "%s: reading guest RAM of pid %d: %s", m->path,
				   (int)m->pid, strerror(errno));
	if ((size_t)got != local.iov_len)
		return vms_err_set(err, -EIO, "%s: short read of guest RAM (QEMU exiting?)", m->path);
	*pages = buf;
	return 0;
}

static void qemu_close(kvm_mem *m)
{
	free(m->blocks);
	m->blocks = NULL;
}

static const struct mem_ops qemu_ops = { "qemu", qemu_view, qemu_close };

static int read_small_file(const char *path, size_t cap, char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t n = 0, sz = 65536;
	char *buf = malloc(sz);
	int r = 0;
	for (;;) {
		if (!buf) {
			r = -ENOMEM;
			break;
		}
		if (n == sz) {
			if (sz >= cap) {
				r = -EFBIG;
				break;
			}
			char *nb = realloc(buf, sz * 2);
			if (!nb) {
				r = -ENOMEM;
				break;
			}
			buf = nb;
			sz *= 2;
		}
		ssize_t got = read(fd, buf + n, sz - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = -errno;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	close(fd);
	if (r < 0) {
		free(buf);
		return r;
	}
	*out = buf;
	*len = n;
	return 0;
}

int kvm_ramblocks_keep_guest(json_t *devs, struct kvm_ramblock *blocks, size_t *n)
{
	size_t kept = 0;
	for (size_t b = 0; b < *n; b++) {
		size_t i;
		json_t *d;
		int ram = 0;
		json_array_foreach(devs, i, d) {
			const char *id = json_string_value(json_object_get(d, "id"));
			if (id && strcmp(id, blocks[b].name) == 0)
				ram = 1;
		}
		if (json_array_size(devs) == 0 && strcmp(blocks[b].name, "pc.ram") == 0)
			ram = 1;
		if (ram && blocks[b].used % KVM_PAGE_SIZE == 0 && blocks[b].used > 0)
			blocks[kept++] = blocks[b];
	}
	*n = kept;
	return 0;
}

/* Keep only the blocks that back guest memory devices (query-memdev ids). */
static int keep_guest_ram(kvm_qmp *q, struct kvm_ramblock *blocks, size_t *n, vms_err *err)
{
	json_t *devs = NULL;
	int r = kvm_qmp_call(q, "query-memdev", NULL, &devs, err);
	if (r < 0)
		return r;
	r = kvm_ramblocks_keep_guest(devs, blocks, n);
	json_decref(devs);
	return r;
}

/* Find m->blocks in m->pid's mappings; count the pages. */
static int locate(kvm_mem *m, vms_err *err)
{
	char *maps_text = NULL, maps_path[64];
	struct kvm_mapping *maps = NULL;
	size_t nmaps = 0, mlen = 0;
	if (m->nblocks == 0)
		return vms_err_set(err, -ENOENT, "%s: QEMU reports no guest RAM block", m->path);
	snprintf(maps_path, sizeof(maps_path), "/proc/%d/maps", (int)m->pid);
	int r = read_small_file(maps_path, MAPS_FILE_MAX, &maps_text, &mlen);
	if (r < 0)
		return vms_err_set(err, r, "%s: %s: %s", m->path, maps_path, strerror(-r));
	r = kvm_parse_maps(maps_text, mlen, &maps, &nmaps, err);
	if (r == 0)
		r = kvm_locate_blocks(m->blocks, m->nblocks, maps, nmaps, err);
	if (r < 0)
		vms_err_prefix(err, r, "%s", m->path);
	free(maps_text);
	free(maps);
	if (r < 0)
		return r;
	m->pages = 0;
	for (size_t b = 0; b < m->nblocks; b++)
		m->pages += m->blocks[b].used / KVM_PAGE_SIZE;
	m->ops = &qemu_ops;
	return 0;
}

static int qemu_open(kvm_mem *m, vms_err *err)
{
	kvm_qmp *q = NULL;
	char *text = NULL;
	int r = kvm_qmp_connect(m->path, QMP_TIMEOUT_MS, &q, err);
	if (r < 0)
		goto out;
	m->pid = kvm_qmp_pid(q);
	r = kvm_qmp_hmp(q, "info ramblock", &text, err);
	if (r < 0)
		goto out;
	r = kvm_parse_ramblocks(text, strlen(text), &m->blocks, &m->nblocks, err);
	if (r < 0)
		goto out;
	r = keep_guest_ram(q, m->blocks, &m->nblocks, err);
	if (r == 0)
		r = locate(m, err);
out:
	kvm_qmp_close(q);
	free(text);
	return r;
}

/* ---- the interface ------------------------------------------------------------ */

int kvm_mem_open_pid(pid_t pid, const struct kvm_ramblock *blocks, size_t n, const char *label, kvm_mem **out,
		     vms_err *err)
{
	*out = NULL;
	if (pid <= 0 || n == 0 || n > KVM_RAMBLOCKS_MAX)
		return vms_err_set(err, -EINVAL, "%s: no QEMU process or no RAM block", label);
	kvm_mem *m = calloc(1, sizeof(*m));
	if (!m || !(m->blocks = calloc(n, sizeof(*blocks)))) {
		free(m);
		return vms_err_set(err, -ENOMEM, "out of memory");
	}
	m->fd = -1;
	m->pid = pid;
	memcpy(m->blocks, blocks, n * sizeof(*blocks));
	m->nblocks = n;
	snprintf(m->path, sizeof(m->path), "%s", label);
	int r = locate(m, err);
	if (r < 0) {
		free(m->blocks);
		free(m);
		return r;
	}
	*out = m;
	return 0;
}

int kvm_mem_open(const char *path, kvm_mem **out, vms_err *err)
{
	struct stat st;
	if (stat(path, &st) < 0)
		return vms_err_set(err, -errno, "%s: %s", path, strerror(errno));
	kvm_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return vms_err_set(err, -ENOMEM, "out of memory");
	m->fd = -1;
	int r = vms_strlcpy_n(m->path, sizeof(m->path), path, strlen(path));
	if (r < 0) {
		vms_err_set(err, r, "path too long");
		goto out;
	}
	r = S_ISSOCK(st.st_mode) ? qemu_open(m, err) : image_open(m, err);
	if (r == 0) {
		*out = m;
		m = NULL;
	}
out:
	if (m) {
		if (m->ops)
			m->ops->close(m);
		else if (m->fd >= 0)
			close(m->fd);
		free(m->blocks);
		free(m);
	}
	return r;
}

uint64_t kvm_mem_pages(const kvm_mem *m)
{
	return m->pages;
}

const char *kvm_mem_kind(const kvm_mem *m)
{
	return m->ops->kind;
}

int kvm_mem_view(kvm_mem *m, uint64_t page, size_t n, void *scratch,
		 const uint8_t **pages, vms_err *err)
{
	if (page > m->pages || n > m->pages - page)
		return vms_err_set(err, -ERANGE, "%s: pages %llu+%zu out of range", m->path,
				   (unsigned long long)page, n);
	return m->ops->view(m, page, n, scratch, pages, err);
}

long kvm_mem_holes(kvm_mem *m, uint64_t page, size_t n, uint8_t *hole, vms_err *err)
{
	if (page > m->pages || n > m->pages - page)
		return vms_err_set(err, -ERANGE, "%s: pages %llu+%zu out of range", m->path,
				   (unsigned long long)page, n);
	long holes = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t p = page + i;
		hole[i] = m->holes && (m->holes[p / 64] >> (p % 64) & 1);
		holes += hole[i];
	}
	return holes;
}

int kvm_mem_read(kvm_mem *m, uint64_t page, size_t n, void *buf, vms_err *err)
{
	const uint8_t *p;
	int r = kvm_mem_view(m, page, n, buf, &p, err);
	if (r == 0 && p != buf)
		memcpy(buf, p, n * KVM_PAGE_SIZE);
	return r;
}

int kvm_mem_write(kvm_mem *m, uint64_t page, size_t n, const void *buf, vms_err *err)
{
	struct iovec local = { (void *)buf, n * KVM_PAGE_SIZE }, remote[8];
	size_t nr;
	if (m->ops != &qemu_ops)
		return vms_err_set(err, -EROFS, "%s: memory images are read-only", m->path);
	if (page > m->pages || n > m->pages - page)
		return vms_err_set(err, -ERANGE, "%s: pages %llu+%zu out of range", m->path,
				   (unsigned long long)page, n);
	int r = remote_iov(m, page, n, remote, &nr, err);
	if (r < 0)
		return r;
	ssize_t put = process_vm_writev(m->pid, &local, 1, remote, nr, 0);
	if (put < 0)
		return vms_err_set(err, -errno, "%s: writing guest RAM of pid %d: %s", m->path,
				   (int)m->pid, strerror(errno));
	if ((size_t)put != local.iov_len)
		return vms_err_set(err, -EIO, "%s: short write to guest RAM", m->path);
	return 0;
}

pid_t kvm_mem_pid(const kvm_mem *m)
{
	return m->ops == &qemu_ops ? m->pid : 0;
}

const struct kvm_ramblock *kvm_mem_blocks(const kvm_mem *m, size_t *n)
{
	*n = m->ops == &qemu_ops ? m->nblocks : 0;
	return *n ? m->blocks : NULL;
}

void kvm_mem_close(kvm_mem *m)
{
	if (!m)
		return;
	m->ops->close(m);
	free(m);
}
