/* test_cursor.c - the bounds-checked cursor and number parsing: golden
 * vectors, truncation at every prefix, no trailing bytes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/common.h"

static const uint8_t golden[] = { 0x7e, 0x12, 0x34, 0xde, 0xad, 0xbe, 0xef,
				  0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 'h', 'i' };

/* Read the golden record: u8, be16, be32, be64, 2 bytes. */
static int read_record(vms_cur *c, uint8_t *a, uint16_t *b, uint32_t *d, uint64_t *e,
		       const uint8_t **s)
{
	int r;
	if ((r = vms_cur_u8(c, a)) < 0 || (r = vms_cur_be16(c, b)) < 0 ||
	    (r = vms_cur_be32(c, d)) < 0 || (r = vms_cur_be64(c, e)) < 0 ||
	    (r = vms_cur_bytes(c, 2, s)) < 0)
		return r;
	return vms_cur_end(c);
}

static void test_golden(void **state)
{
	(void)state;
	vms_cur c;
	uint8_t a;
	uint16_t b;
	uint32_t d;
	uint64_t e;
	const uint8_t *s;
	vms_cur_init(&c, golden, sizeof(golden));
	assert_int_equal(read_record(&c, &a, &b, &d, &e, &s), 0);
	assert_int_equal(a, 0x7e);
	assert_int_equal(b, 0x1234);
	assert_int_equal(d, 0xdeadbeef);
	assert_true(e == 0x0102030405060708ull);
	assert_memory_equal(s, "hi", 2);
}

static void test_every_prefix_is_incomplete(void **state)
{
	(void)state;
	for (size_t n = 0; n < sizeof(golden); n++) {
		vms_cur c;
		uint8_t a;
		uint16_t b;
		uint32_t d;
		uint64_t e;
		const uint8_t *s;
		vms_cur_init(&c, golden, n);
		assert_int_equal(read_record(&c, &a, &b, &d, &e, &s), -EBADMSG);
		assert_true(c.off <= n);
	}
}

static void test_trailing_bytes(void **state)
{
	(void)state;
	uint8_t buf[sizeof(golden) + 1];
	memcpy(buf, golden, sizeof(golden));
	buf[sizeof(golden)] = 0;
	vms_cur c;
	uint8_t a;
	uint16_t b;
	uint32_t d;
	uint64_t e;
	const uint8_t *s;
	vms_cur_init(&c, buf, sizeof(buf));
	assert_int_equal(read_record(&c, &a, &b, &d, &e, &s), -EBADMSG);
}

static void test_failed_get_consumes_nothing(void **state)
{
	(void)state;
	vms_cur c;
	uint32_t v;
	vms_cur_init(&c, golden, 3);
	assert_int_equal(vms_cur_be32(&c, &v), -EBADMSG);
	assert_int_equal(vms_cur_left(&c), 3);
	assert_int_equal(vms_cur_skip(&c, SIZE_MAX), -EBADMSG);
	assert_int_equal(vms_cur_left(&c), 3);
}

static void test_lines_and_tokens(void **state)
{
	(void)state;
	const char text[] = "  a bb\r\n\nccc";
	vms_cur c, line;
	const uint8_t *t;
	size_t n;
	vms_cur_init(&c, text, strlen(text));
	assert_int_equal(vms_cur_line(&c, &line), 0);
	assert_int_equal(vms_cur_token(&line, &t, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(vms_cur_token(&line, &t, &n), 0);
	assert_int_equal(n, 2);
	assert_memory_equal(t, "bb", 2);
	assert_int_equal(vms_cur_token(&line, &t, &n), -ENOENT);
	assert_int_equal(vms_cur_line(&c, &line), 0);
	assert_int_equal(vms_cur_left(&line), 0);
	assert_int_equal(vms_cur_line(&c, &line), 0);
	assert_int_equal(vms_cur_left(&line), 3);
	assert_int_equal(vms_cur_line(&c, &line), -ENOENT);
}

static void test_numbers(void **state)
{
	(void)state;
	uint64_t v;
	assert_int_equal(vms_parse_u64("18446744073709551615", 20, 10, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(vms_parse_u64("18446744073709551616", 20, 10, &v), -ERANGE);
	assert_int_equal(vms_parse_u64("0x10000000", 10, 16, &v), 0);
	assert_true(v == 0x10000000);
	assert_int_equal(vms_parse_u64("0x", 2, 16, &v), -EINVAL);
	assert_int_equal(vms_parse_u64("", 0, 10, &v), -EINVAL);
	assert_int_equal(vms_parse_u64("-1", 2, 10, &v), -EINVAL);
	assert_int_equal(vms_parse_u64("12a", 3, 10, &v), -EINVAL);
	assert_int_equal(vms_parse_u64("fffffffffffffffff", 17, 16, &v), -ERANGE);
	assert_int_equal(vms_parse_size("512M", &v), 0);
	assert_true(v == 512ull << 20);
	assert_int_equal(vms_parse_size("2GiB", &v), 0);
	assert_true(v == 2ull << 30);
	assert_int_equal(vms_parse_size("4096", &v), 0);
	assert_true(v == 4096);
	assert_int_equal(vms_parse_size("1X", &v), -EINVAL);
	assert_int_equal(vms_parse_size("M", &v), -EINVAL);
	assert_int_equal(vms_parse_size("1Mb", &v), -EINVAL);
	assert_int_equal(vms_parse_size("17179869184T", &v), -ERANGE);
}

/* Names become file names on a receiver: no ".", "..", hidden files,
 * options or paths. */
static void test_names(void **state)
{
	(void)state;
	static const char *good[] = { "vm1", "web.1", "a..b", "_x", "9-x.img", "A_b-c.d" };
	static const char *bad[] = { ".", "..", ".x", "-x", "a/b", "/", "a b", "", "x\\y", "\xc3\xa9" };
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(vms_name_valid(good[i], strlen(good[i]), 64), 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vms_name_valid(bad[i], strlen(bad[i]), 64), 0);
	char longest[64];
	memset(longest, 'a', sizeof(longest));
	assert_int_equal(vms_name_valid(longest, 63, 64), 1);
	assert_int_equal(vms_name_valid(longest, 64, 64), 0);
}

static void test_err(void **state)
{
	(void)state;
	vms_err e = { 0 };
	assert_int_equal(vms_err_set(&e, -ENOENT, "x %d", 1), -ENOENT);
	assert_string_equal(e.msg, "x 1");
	assert_int_equal(vms_err_prefix(&e, -EIO, "ctx"), -ENOENT);
	assert_string_equal(e.msg, "ctx: x 1");
	assert_int_equal(vms_err_set(NULL, -EIO, "ignored"), -EIO);
	char buf[4];
	assert_int_equal(vms_strlcpy_n(buf, sizeof(buf), "abcd", 4), -ENAMETOOLONG);
	assert_int_equal(vms_strlcpy_n(buf, sizeof(buf), "abc", 3), 0);
	assert_string_equal(buf, "abc");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_every_prefix_is_incomplete),
		cmocka_unit_test(test_trailing_bytes),
		cmocka_unit_test(test_failed_get_consumes_nothing),
		cmocka_unit_test(test_lines_and_tokens),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_err),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
