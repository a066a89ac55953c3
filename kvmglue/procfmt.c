/* procfmt.c - parsers for QEMU's `info ramblock` text, /proc/PID/maps and
 * /proc/PID/stat, and the matching of RAM blocks to host mappings. Both inputs come from
 * outside the program, so every field is read through the cursor and checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kvmglue.h"

static int tok_u64(vms_cur *c, int base, uint64_t *v)
{
	const uint8_t *t;
	size_t n;
	if (vms_cur_token(c, &t, &n) < 0)
		return -EBADMSG;
	return vms_parse_u64((const char *)t, n, base, v) < 0 ? -EBADMSG : 0;
}

static int tok_is(vms_cur *c, const char *word)
{
	const uint8_t *t;
	size_t n;
	if (vms_cur_token(c, &t, &n) < 0)
		return 0;
	return n == strlen(word) && memcmp(t, word, n) == 0;
}

/* One row: NAME PSIZE UNIT OFFSET USED TOTAL */
static int parse_ramblock_row(vms_cur *line, struct kvm_ramblock *b)
{
	const uint8_t *t;
	size_t n;
	uint64_t psize;
	if (vms_cur_token(line, &t, &n) < 0 ||
	    vms_strlcpy_n(b->name, sizeof(b->name), t, n) < 0)
		return -EBADMSG;
	if (tok_u64(line, 10, &psize) < 0 || vms_cur_token(line, &t, &n) < 0)
		return -EBADMSG;
	unsigned shift;
	if (n == 3 && memcmp(t, "KiB", 3) == 0)
		shift = 10;
	else if (n == 3 && memcmp(t, "MiB", 3) == 0)
		shift = 20;
	else if (n == 3 && memcmp(t, "GiB", 3) == 0)
		shift = 30;
	else
		return -EBADMSG;
	if (psize == 0 || psize > (UINT64_MAX >> shift))
		return -EBADMSG;
	b->page_size = psize << shift;
	if (tok_u64(line, 16, &b->offset) < 0 || tok_u64(line, 16, &b->used) < 0 ||
	    tok_u64(line, 16, &b->total) < 0)
		return -EBADMSG;
	vms_cur_skip_blank(line);
	if (vms_cur_end(line) < 0 || b->used > b->total)
		return -EBADMSG;
	b->host = 0;
	return 0;
}

int kvm_parse_ramblocks(const char *text, size_t len, struct kvm_ramblock **blocks,
			size_t *n, vms_err *err)
{
	vms_cur c, line;
	struct kvm_ramblock *v = NULL;
	size_t count = 0, lineno = 0;
	int r = 0, header = 0;

	vms_cur_init(&c, text, len);
	while (vms_cur_line(&c, &line) == 0) {
		lineno++;
		vms_cur probe = line;
		vms_cur_skip_blank(&probe);
		if (vms_cur_left(&probe) == 0)
			continue;
		if (!header) {
			if (!tok_is(&probe, "Block") || !tok_is(&probe, "Name")) {
				r = vms_err_set(err, -EBADMSG, "info ramblock: line %zu: expected the header", lineno);
				goto out;
			}
			header = 1;
			continue;
		}
		if (count == KVM_RAMBLOCKS_MAX) {
			r = vms_err_set(err, -E2BIG, "info ramblock: more than %u blocks", KVM_RAMBLOCKS_MAX);
			goto out;
		}
		struct kvm_ramblock *nv = realloc(v, (count + 1) * sizeof(*v));
		if (!nv) {
			r = vms_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
		v = nv;
		if (parse_ramblock_row(&line, &v[count]) < 0) {
			r = vms_err_set(err, -EBADMSG, "info ramblock: line %zu: malformed row", lineno);
			goto out;
		}
		count++;
	}
	if (!header) {
		r = vms_err_set(err, -EBADMSG, "info ramblock: empty output");
		goto out;
	}
	*blocks = v;
	*n = count;
	v = NULL;
out:
	free(v);
	return r;
}

/* START-END PERMS OFFSET DEV INODE [PATH] */
static int parse_maps_row(vms_cur *line, struct kvm_mapping *m)
{
	const uint8_t *t;
	size_t n;
	if (vms_cur_token(line, &t, &n) < 0)
		return -EBADMSG;
	const uint8_t *dash = memchr(t, '-', n);
	if (!dash)
		return -EBADMSG;
	size_t n1 = (size_t)(dash - t);
	if (vms_parse_u64((const char *)t, n1, 16, &m->start) < 0 ||
	    vms_parse_u64((const char *)dash + 1, n - n1 - 1, 16, &m->end) < 0 ||
	    m->end < m->start)
		return -EBADMSG;
	if (vms_cur_token(line, &t, &n) < 0 || n != 4)
		return -EBADMSG;
	memcpy(m->perms, t, 4);
	m->perms[4] = '\0';
	for (int i = 0; i < 3; i++)       /* offset, device, inode */
		if (vms_cur_token(line, &t, &n) < 0)
			return -EBADMSG;
	vms_cur_skip_blank(line);
	size_t left = vms_cur_left(line);
	if (vms_cur_bytes(line, left, &t) < 0)
		return -EBADMSG;
	if (left >= sizeof(m->path))
		left = sizeof(m->path) - 1;   /* long paths are only compared by prefix */
	memcpy(m->path, t, left);
	m->path[left] = '\0';
	return 0;
}

int kvm_parse_maps(const char *text, size_t len, struct kvm_mapping **maps,
		   size_t *n, vms_err *err)
{
	vms_cur c, line;
	struct kvm_mapping *v = NULL;
	size_t count = 0, cap = 0, lineno = 0;
	int r = 0;

	vms_cur_init(&c, text, len);
	while (vms_cur_line(&c, &line) == 0) {
		lineno++;
		if (vms_cur_left(&line) == 0)
			continue;
		if (count == KVM_MAPS_MAX) {
			r = vms_err_set(err, -E2BIG, "maps: more than %u mappings", KVM_MAPS_MAX);
			goto out;
		}
		if (count == cap) {
			cap = cap ? cap * 2 : 256;
			struct kvm_mapping *nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				r = vms_err_set(err, -ENOMEM, "out of memory");
				goto out;
			}
			v = nv;
		}
		if (parse_maps_row(&line, &v[count]) < 0) {
			r = vms_err_set(err, -EBADMSG, "maps: line %zu: malformed", lineno);
			goto out;
		}
		count++;
	}
	*maps = v;
	*n = count;
	v = NULL;
out:
	free(v);
	return r;
}

/* Does the mapping's path name this block ("/memfd:NAME" or ".../NAME")? */
static int path_names_block(const char *path, const char *name)
{
	char want[KVM_BLOCK_NAME_MAX + 16];
	size_t pl = strlen(path), nl = strlen(name);
	snprintf(want, sizeof(want), "/memfd:%s", name);
	if (strncmp(path, want, strlen(want)) == 0)
		return 1;
	return pl > nl && path[pl - nl - 1] == '/' && strcmp(path + pl - nl, name) == 0;
}

int kvm_locate_blocks(struct kvm_ramblock *blocks, size_t nblocks,
		      const struct kvm_mapping *maps, size_t nmaps, vms_err *err)
{
	for (size_t b = 0; b < nblocks; b++) {
		struct kvm_ramblock *blk = &blocks[b];
		const struct kvm_mapping *named = NULL, *sized = NULL;
		size_t nnamed = 0, nsized = 0;
		for (size_t i = 0; i < nmaps; i++) {
			const struct kvm_mapping *m = &maps[i];
			uint64_t size = m->end - m->start;
			if (m->perms[0] != 'r' || m->perms[1] != 'w' || m->perms[2] == 'x')
				continue;
			if (size != blk->total && size != blk->used)
				continue;
			if (m->path[0] == '[')     /* [heap], [stack] */
				continue;
			if (m->path[0] && path_names_block(m->path, blk->name)) {
				named = m;
				nnamed++;
			} else if (!m->path[0]) {
				sized = m;
				nsized++;
			}
		}
		if (nnamed == 1)
			blk->host = named->start;
		else if (nnamed == 0 && nsized == 1)
			blk->host = sized->start;
		else if (nnamed + nsized == 0)
			return vms_err_set(err, -ENOENT, "RAM block %s (%llu bytes) has no matching mapping in the QEMU process",
					   blk->name, (unsigned long long)blk->total);
		else
			return vms_err_set(err, -EEXIST, "RAM block %s: %zu mappings of its size, cannot tell which one it is",
					   blk->name, nnamed ? nnamed : nsized);
	}
	return 0;
}

int kvm_parse_proc_stat(const char *text, size_t len, long pid, char *state, uint64_t *start)
{
	const uint8_t *t;
	size_t n, end = len;
	uint64_t v;
	vms_cur c;
	while (end > 0 && text[end - 1] != ')')
		end--;
	vms_cur_init(&c, text, end);          /* PID (COMM) */
	if (end == 0 || vms_cur_token(&c, &t, &n) < 0 || vms_parse_u64((const char *)t, n, 10, &v) < 0 ||
	    pid <= 0 || v != (uint64_t)pid || vms_cur_token(&c, &t, &n) < 0 || t[0] != '(')
		return -EBADMSG;
	if (end == len || text[end] != ' ')
		return -EBADMSG;
	vms_cur_init(&c, text + end, len - end);
	for (int field = 3; field <= 22; field++) {
		if (vms_cur_token(&c, &t, &n) < 0)
			return -EBADMSG;
		if (field == 3 && n != 1)
			return -EBADMSG;
		if (field == 3)
			*state = (char)t[0];
		if (field == 22 && vms_parse_u64((const char *)t, n, 10, start) < 0)
			return -EBADMSG;
	}
	return 0;
}

int kvm_proc_start_time(long pid, uint64_t *start)
{
	char path[64], buf[4096], state = 0;
	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)                   /* only "no such file" says it is gone (not EMFILE, ENOMEM) */
		return errno == ENOENT || errno == ESRCH ? -ESRCH : -errno;
	ssize_t got = read(fd, buf, sizeof(buf));  /* (one read: the kernel makes it whole) */
	int e = got < 0 ? errno : 0;
	close(fd);
	if (got < 0)                  /* ESRCH: it ended between open and read */
		return e == ESRCH ? -ESRCH : -e;
	if (got == 0 || (size_t)got == sizeof(buf))
		return -ESRCH;
	if (buf[got - 1] == '\n')
		got--;
	if (kvm_parse_proc_stat(buf, (size_t)got, pid, &state, start) < 0 || state == 'Z' || state == 'X')
		return -ESRCH;
	return 0;
}
