/* test_mstream.c - the migration stream parser on a stream built here in
 * QEMU 7.2's layout: the items and their raw spans, every prefix (never an
 * error, only "need more"), byte-by-byte feeding, and bad streams. Streams
 * recorded from real QEMU are checked by tests/integration/mstream.sh. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kvmglue/kvmglue.h"

static void put_name(vms_wbuf *b, const char *s)
{
	assert_int_equal(vms_wbuf_u8(b, (uint8_t)strlen(s)), 0);
	assert_int_equal(vms_wbuf_bytes(b, s, strlen(s)), 0);
}

/* header + configuration, START ram (blocks pc.ram 16 KiB, rom 4 KiB),
 * PART with a page and a continued zero page, END with a page of rom,
 * then device state and EOF. */
static void build(vms_wbuf *b, unsigned flags_extra)
{
	static uint8_t page[4096];
	memset(page, 0xab, sizeof(page));
	vms_wbuf_be32(b, 0x5145564d);
	vms_wbuf_be32(b, 3);
	vms_wbuf_u8(b, 0x07);
	vms_wbuf_be32(b, 13);
	vms_wbuf_bytes(b, "pc-i440fx-7.2", 13);
	vms_wbuf_u8(b, 0x05);
	put_name(b, "configuration/capabilities");
	vms_wbuf_be32(b, 1);
	vms_wbuf_be32(b, 1);
	put_name(b, "x-ignore-shared");
	vms_wbuf_u8(b, 0x05);
	put_name(b, "configuration/uuid");
	vms_wbuf_be32(b, 1);
	vms_wbuf_bytes(b, page, 16);
	vms_wbuf_u8(b, 0x05);
	put_name(b, "configuration/target-page-bits");
	vms_wbuf_be32(b, 1);
	vms_wbuf_be32(b, 12);
	/* START ram */
	vms_wbuf_u8(b, 0x01);
	vms_wbuf_be32(b, 2);
	put_name(b, "ram");
	vms_wbuf_be32(b, 0);
	vms_wbuf_be32(b, 4);
	vms_wbuf_be64(b, (16384 + 4096) | 0x04);
	put_name(b, "pc.ram");
	vms_wbuf_be64(b, 16384);
	put_name(b, "rom");
	vms_wbuf_be64(b, 4096);
	vms_wbuf_be64(b, 0x10);
	vms_wbuf_u8(b, 0x7e);
	vms_wbuf_be32(b, 2);
	/* PART: page at 8192 of pc.ram, zero page at 4096 (continue) */
	vms_wbuf_u8(b, 0x02);
	vms_wbuf_be32(b, 2);
	vms_wbuf_be64(b, 8192 | 0x08 | flags_extra);
	put_name(b, "pc.ram");
	vms_wbuf_bytes(b, page, 4096);
	vms_wbuf_be64(b, 4096 | 0x02 | 0x20);
	vms_wbuf_u8(b, 0);
	vms_wbuf_be64(b, 0x10);
	vms_wbuf_u8(b, 0x7e);
	vms_wbuf_be32(b, 2);
	/* END: a page of rom */
	vms_wbuf_u8(b, 0x03);
	vms_wbuf_be32(b, 2);
	vms_wbuf_be64(b, 0 | 0x08);
	put_name(b, "rom");
	vms_wbuf_bytes(b, page, 4096);
	vms_wbuf_be64(b, 0x10);
	vms_wbuf_u8(b, 0x7e);
	vms_wbuf_be32(b, 2);
	/* device state, EOF */
	vms_wbuf_u8(b, 0x04);
	vms_wbuf_be32(b, 3);
	put_name(b, "timer");
	vms_wbuf_be32(b, 0);
	vms_wbuf_be32(b, 2);
	vms_wbuf_bytes(b, "\x01\x02\x03\x04\x7e\x00\x00\x00\x03\x00", 10);
}

static const enum kvm_ms_kind expected[] = {
	KVM_MS_HEADER, KVM_MS_SECTION, KVM_MS_BLOCKS, KVM_MS_EOS, KVM_MS_SECTION, KVM_MS_PAGE,
	KVM_MS_ZERO, KVM_MS_EOS, KVM_MS_SECTION, KVM_MS_PAGE, KVM_MS_EOS, KVM_MS_DEVICE,
};

/* Feed the stream `step` bytes at a time; check the item sequence and that
 * the raw spans tile the stream. */
static void run(const vms_wbuf *b, size_t step)
{
	kvm_ms *ms = NULL;
	vms_err e = { 0 };
	assert_int_equal(kvm_ms_new(&ms, &e), 0);
	size_t k = 0, raw = 0, device = 0;
	for (size_t off = 0; off < b->len; off += step) {
		size_t n = b->len - off < step ? b->len - off : step;
		assert_int_equal(kvm_ms_feed(ms, b->data + off, n, &e), 0);
		struct kvm_ms_item it;
		int r;
		while ((r = kvm_ms_next(ms, &it, &e)) == 1) {
			if (it.kind == KVM_MS_DEVICE) {
				device += it.raw_len;
				if (k < sizeof(expected) / sizeof(expected[0]) && expected[k] == KVM_MS_DEVICE)
					k++;
			} else {
				assert_true(k < sizeof(expected) / sizeof(expected[0]));
				assert_int_equal(it.kind, expected[k]);
				k++;
			}
			raw += it.raw_len;
			if (it.kind == KVM_MS_PAGE)
				assert_int_equal(it.data[0], 0xab);
			if (it.kind == KVM_MS_ZERO) {
				assert_int_equal(it.block, 0);
				assert_true(it.offset == 4096);
			}
		}
		assert_int_equal(r, 0);
	}
	assert_int_equal(k, sizeof(expected) / sizeof(expected[0]));
	assert_int_equal(raw, b->len);
	assert_int_equal(device, 1 + 4 + 6 + 4 + 4 + 10);   /* type, id, "timer", instance, version, data */
	assert_int_equal(kvm_ms_blocks(ms), 2);
	assert_string_equal(kvm_ms_block_name(ms, 1), "rom");
	assert_true(kvm_ms_block_size(ms, 0) == 16384);
	kvm_ms_free(ms);
}

static void test_golden_whole_and_byte_by_byte(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	build(&b, 0);
	run(&b, b.len);
	run(&b, 1);
	run(&b, 4099);
	vms_wbuf_free(&b);
}

static void test_every_prefix_needs_more(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	build(&b, 0);
	for (size_t n = 0; n < b.len; n += n < 200 ? 1 : 97) {
		kvm_ms *ms = NULL;
		assert_int_equal(kvm_ms_new(&ms, NULL), 0);
		assert_int_equal(kvm_ms_feed(ms, b.data, n, NULL), 0);
		struct kvm_ms_item it;
		int r;
		while ((r = kvm_ms_next(ms, &it, NULL)) == 1)
			;
		assert_int_equal(r, 0);
		kvm_ms_free(ms);
	}
	vms_wbuf_free(&b);
}

static int parse_all(const uint8_t *p, size_t n, vms_err *e)
{
	kvm_ms *ms = NULL;
	struct kvm_ms_item it;
	int r;
	kvm_ms_new(&ms, NULL);
	kvm_ms_feed(ms, p, n, NULL);
	while ((r = kvm_ms_next(ms, &it, e)) == 1)
		;
	kvm_ms_free(ms);
	return r;
}

static void test_bad_streams(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	vms_err e = { 0 };
	build(&b, 0x40);                      /* XBZRLE flag on a page */
	assert_int_equal(parse_all(b.data, b.len, &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "xbzrle"));
	vms_wbuf_free(&b);

	build(&b, 0);
	b.data[0] = 'X';                      /* bad magic */
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	vms_wbuf_free(&b);

	build(&b, 0);
	/* the PART page at 8192 -> 16384: past the 16 KiB block */
	for (size_t i = 0; i + 8 < b.len; i++)
		if (memcmp(b.data + i, "\0\0\0\0\0\0\x20\x08", 8) == 0) {
			b.data[i + 6] = 0x40;
			break;
		}
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "beyond"));
	vms_wbuf_free(&b);

	/* CONTINUE before any block, and an unknown section type */
	static const uint8_t cont[] = { 0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0x01, 0, 0, 0, 2, 3, 'r', 'a', 'm',
					0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0x10, 0x22, 0 };
	assert_int_equal(parse_all(cont, sizeof(cont), &e), -EBADMSG);
	static const uint8_t unknown[] = { 0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0x42 };
	assert_int_equal(parse_all(unknown, sizeof(unknown), &e), -EBADMSG);
	static const uint8_t other_iter[] = { 0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3, 0x01, 0, 0, 0, 2, 5, 'b', 'l',
					      'o', 'c', 'k', 0, 0, 0, 0, 0, 0, 0, 1 };
	assert_int_equal(parse_all(other_iter, sizeof(other_iter), &e), -ENOTSUP);
}

/* header, START ram with pc.ram (16 KiB) and rom (4 KiB), EOS; then a PART
 * with a second MEM_SIZE list (pc.ram `ram2` bytes, rom `rom2`) and a page
 * at `page_at` of pc.ram. */
static void build_relist(vms_wbuf *b, uint64_t ram2, uint64_t rom2, const char *name2, uint64_t page_at)
{
	static uint8_t page[4096];
	vms_wbuf_be32(b, 0x5145564d);
	vms_wbuf_be32(b, 3);
	vms_wbuf_u8(b, 0x01);                 /* START ram */
	vms_wbuf_be32(b, 2);
	put_name(b, "ram");
	vms_wbuf_be32(b, 0);
	vms_wbuf_be32(b, 4);
	vms_wbuf_be64(b, (16384 + 4096) | 0x04);
	put_name(b, "pc.ram");
	vms_wbuf_be64(b, 16384);
	put_name(b, "rom");
	vms_wbuf_be64(b, 4096);
	vms_wbuf_be64(b, 0x10);
	vms_wbuf_u8(b, 0x7e);
	vms_wbuf_be32(b, 2);
	vms_wbuf_u8(b, 0x02);                 /* PART: the list again */
	vms_wbuf_be32(b, 2);
	vms_wbuf_be64(b, (ram2 + rom2) | 0x04);
	put_name(b, name2);
	vms_wbuf_be64(b, ram2);
	put_name(b, "rom");
	vms_wbuf_be64(b, rom2);
	vms_wbuf_be64(b, page_at | 0x08);     /* a page of pc.ram */
	put_name(b, "pc.ram");
	vms_wbuf_bytes(b, page, sizeof(page));
	vms_wbuf_be64(b, 0x10);
	vms_wbuf_u8(b, 0x7e);
	vms_wbuf_be32(b, 2);
}

/* A second MEM_SIZE that grows a block would let its pages outgrow what the
 * sender sized from the first list (live.c's bitmaps: a heap overflow).
 * Refused, naming the block; the same list repeated is fine. */
static void test_block_changes_size(void **state)
{
	(void)state;
	vms_wbuf b = { 0 };
	vms_err e = { 0 };
	build_relist(&b, 1u << 20, 4096, "pc.ram", 512u << 10);   /* pc.ram grows to 1 MiB */
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "'pc.ram' changes size from 16384 to 1048576"));
	vms_wbuf_free(&b);

	build_relist(&b, 16384, 8192, "pc.ram", 0);               /* rom grows */
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "'rom' changes size"));
	vms_wbuf_free(&b);

	build_relist(&b, 8192, 4096, "pc.ram", 0);                /* shrinks: refused too */
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "'pc.ram' changes size"));
	vms_wbuf_free(&b);

	build_relist(&b, 16384, 4096, "big.ram", 0);              /* another block in its place */
	assert_int_equal(parse_all(b.data, b.len, &e), -EBADMSG);
	assert_non_null(strstr(e.msg, "block 0 is 'big.ram', was 'pc.ram'"));
	vms_wbuf_free(&b);

	build_relist(&b, 16384, 4096, "pc.ram", 8192);            /* the same list: parsed */
	kvm_ms *ms = NULL;
	struct kvm_ms_item it;
	int r, pages = 0;
	assert_int_equal(kvm_ms_new(&ms, NULL), 0);
	assert_int_equal(kvm_ms_feed(ms, b.data, b.len, NULL), 0);
	while ((r = kvm_ms_next(ms, &it, &e)) == 1)
		pages += it.kind == KVM_MS_PAGE;
	assert_int_equal(r, 0);
	assert_int_equal(pages, 1);
	assert_true(kvm_ms_block_size(ms, 0) == 16384);
	kvm_ms_free(ms);
	vms_wbuf_free(&b);

	/* fed byte by byte, a growing list is refused as well, and the sizes
	 * known before never change on the way (no partial list written) */
	build_relist(&b, 1u << 20, 4096, "pc.ram", 512u << 10);
	assert_int_equal(kvm_ms_new(&ms, NULL), 0);
	r = 0;
	for (size_t off = 0; off < b.len && r >= 0; off++) {
		assert_int_equal(kvm_ms_feed(ms, b.data + off, 1, NULL), 0);
		while ((r = kvm_ms_next(ms, &it, &e)) == 1)
			;
		if (kvm_ms_blocks(ms))
			assert_true(kvm_ms_block_size(ms, 0) == 16384);
	}
	assert_int_equal(r, -EBADMSG);
	assert_non_null(strstr(e.msg, "pc.ram"));
	kvm_ms_free(ms);
	vms_wbuf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden_whole_and_byte_by_byte),
		cmocka_unit_test(test_every_prefix_needs_more),
		cmocka_unit_test(test_bad_streams),
		cmocka_unit_test(test_block_changes_size),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
