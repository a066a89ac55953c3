/* mstream.c - the incremental parser of QEMU 7.2 migration streams (see
 * kvmglue.h). Every item is parsed atomically: when its bytes are not all
 * there yet the cursor is rewound and the caller feeds more. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmglue.h"

#define QEVM_MAGIC 0x5145564du
#define QEVM_VERSION 3u
#define SEC_EOF 0x00
#define SEC_START 0x01
#define SEC_PART 0x02
#define SEC_END 0x03
#define SEC_FULL 0x04
#define SEC_SUBSECTION 0x05
#define SEC_CONFIGURATION 0x07
#define SEC_COMMAND 0x08
#define SEC_FOOTER 0x7e

#define RAM_ZERO 0x02
#define RAM_MEM_SIZE 0x04
#define RAM_PAGE 0x08
#define RAM_EOS 0x10
#define RAM_CONTINUE 0x20
#define RAM_FLAGS_MASK 0xfffu

#define NAME_MAX_LEN 255u
#define CAPS_MAX 64u

enum state { ST_HEADER, ST_SECTIONS, ST_RAM, ST_DEVICE };

struct kvm_ms {
	uint8_t *buf;
	size_t len, cap, off;
	enum state st;
	int have_ram;
	uint32_t ram_section;
	int last_block;
	size_t nblocks;
	struct { char name[NAME_MAX_LEN + 1]; uint64_t size; } blocks[KVM_MS_BLOCKS_MAX];
};

int kvm_ms_new(kvm_ms **out, vms_err *err)
{
	kvm_ms *ms = calloc(1, sizeof(*ms));
	if (!ms)
		return vms_err_set(err, -ENOMEM, "out of memory");
	ms->last_block = -1;
	*out = ms;
	return 0;
}

void kvm_ms_free(kvm_ms *ms)
{
	if (!ms)
		return;
	free(ms->buf);
	free(ms);
}

int kvm_ms_feed(kvm_ms *ms, const void *p, size_t n, vms_err *err)
{
	if (n == 0)
		return 0;
	if (ms->off > 0) {
		memmove(ms->buf, ms->buf + ms->off, ms->len - ms->off);
		ms->len -= ms->off;
		ms->off = 0;
	}
	if (ms->cap - ms->len < n) {
		size_t ncap = ms->cap ? ms->cap : 1u << 16;
		while (ncap - ms->len < n)
			ncap *= 2;
		uint8_t *nb = realloc(ms->buf, ncap);
		if (!nb)
			return vms_err_set(err, -ENOMEM, "out of memory");
		ms->buf = nb;
		ms->cap = ncap;
	}
	memcpy(ms->buf + ms->len, p, n);
	ms->len += n;
	return 0;
}

size_t kvm_ms_blocks(const kvm_ms *ms) { return ms->nblocks; }
const char *kvm_ms_block_name(const kvm_ms *ms, unsigned i) { return ms->blocks[i].name; }
uint64_t kvm_ms_block_size(const kvm_ms *ms, unsigned i) { return ms->blocks[i].size; }

/* u8 length + bytes into a NUL-terminated name. */
static int get_name(vms_cur *c, char *name)
{
	uint8_t n;
	const uint8_t *p;
	if (vms_cur_u8(c, &n) < 0 || vms_cur_bytes(c, n, &p) < 0)
		return -EAGAIN;
	memcpy(name, p, n);
	name[n] = '\0';
	return 0;
}

/* Results of the item parsers: 1 done, -EAGAIN incomplete, <0 bad;
 * parse_section() also returns DEVICE_FROM_HERE. */
#define DEVICE_FROM_HERE 2
static int bad(vms_err *err, const char *what)
{
	return vms_err_set(err, -EBADMSG, "migration stream: %s", what);
}

static int parse_header(vms_cur *c, vms_err *err)
{
	uint32_t magic, version, len, ver;
	uint8_t type;
	char name[NAME_MAX_LEN + 1];
	if (vms_cur_be32(c, &magic) < 0 || vms_cur_be32(c, &version) < 0)
		return -EAGAIN;
	if (magic != QEVM_MAGIC || version != QEVM_VERSION)
		return bad(err, "not a QEMU migration stream (bad magic or version)");
	vms_cur peek = *c;
	if (vms_cur_u8(&peek, &type) < 0)
		return -EAGAIN;
	if (type != SEC_CONFIGURATION)
		return 1;
	*c = peek;
	if (vms_cur_be32(c, &len) < 0)
		return -EAGAIN;
	if (len > NAME_MAX_LEN)
		return bad(err, "machine name too long");
	if (vms_cur_skip(c, len) < 0)
		return -EAGAIN;
	for (;;) {
		peek = *c;
		if (vms_cur_u8(&peek, &type) < 0)
			return -EAGAIN;
		if (type != SEC_SUBSECTION)
			return 1;
		*c = peek;
		if (get_name(c, name) < 0 || vms_cur_be32(c, &ver) < 0)
			return -EAGAIN;
		if (strcmp(name, "configuration/capabilities") == 0) {
			uint32_t n;
			char cap[NAME_MAX_LEN + 1];
			if (vms_cur_be32(c, &n) < 0)
				return -EAGAIN;
			if (n > CAPS_MAX)
				return bad(err, "too many capabilities");
			for (uint32_t i = 0; i < n; i++)
				if (get_name(c, cap) < 0)
					return -EAGAIN;
		} else if (strcmp(name, "configuration/uuid") == 0) {
			if (vms_cur_skip(c, 16) < 0)
				return -EAGAIN;
		} else if (strcmp(name, "configuration/target-page-bits") == 0) {
			uint32_t bits;
			if (vms_cur_be32(c, &bits) < 0)
				return -EAGAIN;
			if (bits != 12)
				return bad(err, "target page size is not 4 KiB");
		} else {
			return vms_err_set(err, -ENOTSUP, "migration stream: unknown configuration subsection %s", name);
		}
	}
}

static int find_block(const kvm_ms *ms, const char *name)
{
	for (size_t i = 0; i < ms->nblocks; i++)
		if (strcmp(ms->blocks[i].name, name) == 0)
			return (int)i;
	return -1;
}

static int parse_ram(kvm_ms *ms, vms_cur *c, struct kvm_ms_item *it, vms_err *err)
{
	uint64_t word;
	if (vms_cur_be64(c, &word) < 0)
		return -EAGAIN;
	unsigned flags = (unsigned)(word & RAM_FLAGS_MASK);
	uint64_t addr = word & ~(uint64_t)RAM_FLAGS_MASK;
	unsigned what = flags & ~(unsigned)RAM_CONTINUE;
	if (what == RAM_EOS) {
		uint8_t footer;
		uint32_t id;
		if (vms_cur_u8(c, &footer) < 0 || vms_cur_be32(c, &id) < 0)
			return -EAGAIN;
		if (footer != SEC_FOOTER || id != ms->ram_section)
			return bad(err, "RAM section without its footer");
		it->kind = KVM_MS_EOS;
		ms->st = ST_SECTIONS;
		return 1;
	}
	if (what == RAM_MEM_SIZE) {
		/* The first list is written into blocks[] as it is parsed (nblocks
		 * stays 0 until it is whole). A later list must repeat it: a block
		 * that changes size or place would outgrow what callers sized from
		 * the first list (the sender's per-block bitmaps). */
		uint64_t total = addr, sum = 0;     /* the total size, page aligned */
		size_t n = 0, had = ms->nblocks;
		while (sum < total) {
			char name[NAME_MAX_LEN + 1];
			uint64_t used;
			if (get_name(c, name) < 0 || vms_cur_be64(c, &used) < 0)
				return -EAGAIN;
			if (n == KVM_MS_BLOCKS_MAX || used == 0 || used % KVM_PAGE_SIZE || used > total - sum)
				return bad(err, "bad RAM block list");
			if (had && (n >= had || strcmp(ms->blocks[n].name, name) != 0))
				return vms_err_set(err, -EBADMSG, "migration stream: the RAM block list changes: "
						   "block %zu is '%s', was '%s'", n, name, n < had ? ms->blocks[n].name : "(none)");
			if (had && ms->blocks[n].size != used)
				return vms_err_set(err, -EBADMSG, "migration stream: RAM block '%s' changes size "
						   "from %llu to %llu bytes", name, (unsigned long long)ms->blocks[n].size,
						   (unsigned long long)used);
			if (!had) {
				memcpy(ms->blocks[n].name, name, sizeof(name));
				ms->blocks[n].size = used;
			}
			sum += used;
			n++;
		}
		if (had && n != had)
			return vms_err_set(err, -EBADMSG, "migration stream: the RAM block list changes: "
					   "%zu blocks, were %zu", n, had);
		ms->nblocks = n;
		ms->last_block = -1;
		it->kind = KVM_MS_BLOCKS;
		return 1;
	}
	if (what != RAM_ZERO && what != RAM_PAGE)
		return vms_err_set(err, -ENOTSUP, "migration stream: RAM record flags 0x%x are not supported "
				   "(turn off xbzrle, compress, multifd, postcopy)", flags);
	int b = ms->last_block;
	if (!(flags & RAM_CONTINUE)) {
		char name[NAME_MAX_LEN + 1];
		if (get_name(c, name) < 0)
			return -EAGAIN;
		b = find_block(ms, name);
		if (b < 0)
			return bad(err, "page of an unknown RAM block");
	} else if (b < 0) {
		return bad(err, "CONTINUE without a previous block");
	}
	if (addr > ms->blocks[b].size - KVM_PAGE_SIZE)
		return bad(err, "page beyond its RAM block");
	if (what == RAM_ZERO) {
		if (vms_cur_u8(c, &it->fill) < 0)
			return -EAGAIN;
		it->kind = KVM_MS_ZERO;
	} else {
		if (vms_cur_bytes(c, KVM_PAGE_SIZE, &it->data) < 0)
			return -EAGAIN;
		it->kind = KVM_MS_PAGE;
	}
	ms->last_block = b;
	it->block = (unsigned)b;
	it->offset = addr;
	return 1;
}

static int parse_section(kvm_ms *ms, vms_cur *c, struct kvm_ms_item *it, vms_err *err)
{
	uint8_t type;
	uint32_t id, instance, version;
	char name[NAME_MAX_LEN + 1];
	vms_cur start = *c;
	if (vms_cur_u8(c, &type) < 0)
		return -EAGAIN;
	switch (type) {
	case SEC_START:
		if (vms_cur_be32(c, &id) < 0 || get_name(c, name) < 0 || vms_cur_be32(c, &instance) < 0 ||
		    vms_cur_be32(c, &version) < 0)
			return -EAGAIN;
		if (strcmp(name, "ram") != 0)
			return vms_err_set(err, -ENOTSUP, "migration stream: iterative section '%s' is not supported",
					   name);
		if (ms->have_ram)
			return bad(err, "two RAM sections");
		ms->have_ram = 1;
		ms->ram_section = id;
		break;
	case SEC_PART:
	case SEC_END:
		if (vms_cur_be32(c, &id) < 0)
			return -EAGAIN;
		if (!ms->have_ram || id != ms->ram_section)
			return bad(err, "data for a section that was never started");
		break;
	case SEC_FULL:
	case SEC_EOF:
		/* device state from here on: no lengths, pass it all through */
		*c = start;
		return DEVICE_FROM_HERE;
	case SEC_COMMAND: {
		uint16_t cmd, len;
		if (vms_cur_be16(c, &cmd) < 0 || vms_cur_be16(c, &len) < 0 || vms_cur_skip(c, len) < 0)
			return -EAGAIN;
		it->kind = KVM_MS_COMMAND;
		return 1;
	}
	default:
		return vms_err_set(err, -EBADMSG, "migration stream: unknown section type 0x%02x", type);
	}
	it->kind = KVM_MS_SECTION;
	it->section_type = type;
	it->section_id = id;
	ms->st = ST_RAM;
	return 1;
}

int kvm_ms_next(kvm_ms *ms, struct kvm_ms_item *it, vms_err *err)
{
	vms_cur c;
	int r;
	memset(it, 0, sizeof(*it));
	vms_cur_init(&c, ms->buf ? ms->buf + ms->off : NULL, ms->len - ms->off);
	switch (ms->st) {
	case ST_HEADER:
		r = parse_header(&c, err);
		if (r == 1) {
			it->kind = KVM_MS_HEADER;
			ms->st = ST_SECTIONS;
		}
		break;
	case ST_SECTIONS:
		r = parse_section(ms, &c, it, err);
		if (r == DEVICE_FROM_HERE) {
			ms->st = ST_DEVICE;
			return kvm_ms_next(ms, it, err);
		}
		break;
	case ST_RAM:
		r = parse_ram(ms, &c, it, err);
		break;
	case ST_DEVICE:
	default:
		if (vms_cur_left(&c) == 0)
			return 0;
		it->kind = KVM_MS_DEVICE;
		vms_cur_skip(&c, vms_cur_left(&c));
		r = 1;
		break;
	}
	if (r == -EAGAIN)
		return 0;
	if (r < 0)
		return r;
	it->raw = ms->buf + ms->off;
	it->raw_len = c.off;
	ms->off += c.off;
	return 1;
}
