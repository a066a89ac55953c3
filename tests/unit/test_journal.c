/* test_journal.c - the source journal's records (scatter/journal.c,
 * doc/PROTOCOL.md "Source journal"): written and read back whole, the
 * parser strict (every key once, the source QEMU's identity in range,
 * nothing else), a record of format 1 told apart, and the lock. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <cmocka.h>

#include "scatter/scatter.h"
#include "test_tmp.h"

static const char good[] =
	"vmscatter-source 2\n"
	"session 0123456789abcdef\n"
	"vm 3\n"
	"qmp /run/vm 1/qmp.sock\n"
	"qemu 4242:123456789\n"
	"target t1=10.77.0.11:7000\n"
	"tls-hostname -\n"
	"state migrating\n";

static int parse(const char *text, struct sc_journal_rec *r)
{
	return sc_journal_parse(text, strlen(text), r);
}

static void test_parse_good(void **state)
{
	(void)state;
	struct sc_journal_rec r;
	assert_int_equal(parse(good, &r), 0);
	assert_true(r.session == 0x0123456789abcdefull);
	assert_int_equal(r.vm, 3);
	assert_string_equal(r.qmp, "/run/vm 1/qmp.sock");
	assert_int_equal(r.qemu_pid, 4242);
	assert_true(r.qemu_start == 123456789);
	assert_string_equal(r.target, "t1=10.77.0.11:7000");
	assert_string_equal(r.tls_host, "");
	assert_string_equal(r.state, "migrating");
}

/* good with the line starting `key ` replaced by `with` (NULL: dropped) */
static void variant(char *out, size_t len, const char *key, const char *with)
{
	const char *at = strstr(good, key), *eol = strchr(at, '\n') + 1;
	snprintf(out, len, "%.*s%s%s", (int)(at - good), good, with ? with : "", eol);
}

static void test_parse_strict(void **state)
{
	(void)state;
	struct sc_journal_rec r;
	char buf[1024];
	static const char *const bad_qemu[] = {
		"qemu 0:1\n", "qemu 4194305:1\n", "qemu -1:1\n", "qemu 4242\n", "qemu 4242:\n", ":1\n",
		"qemu 4242 123\n", "qemu 4242:1:2\n", "qemu 4242:18446744073709551616\n", "qemu x:1\n",
		"qemu 4242:1 \n",
	};
	for (size_t i = 0; i < sizeof(bad_qemu) / sizeof(bad_qemu[0]); i++) {
		variant(buf, sizeof(buf), "qemu ", bad_qemu[i]);
		assert_int_equal(parse(buf, &r), -EBADMSG);
	}
	variant(buf, sizeof(buf), "qemu ", "qemu 4194304:0\n");      /* the kernel's limit, time 0 */
	assert_int_equal(parse(buf, &r), 0);
	assert_int_equal(r.qemu_pid, 4194304);
	static const char *const keys[] = { "session ", "vm ", "qmp ", "qemu ", "target ", "tls-hostname ", "state " };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		variant(buf, sizeof(buf), keys[i], NULL);              /* every key is needed */
		assert_int_equal(parse(buf, &r), -EBADMSG);
	}
	snprintf(buf, sizeof(buf), "%squmu 1:1\n", good);              /* nothing else */
	assert_int_equal(parse(buf, &r), -EBADMSG);
	snprintf(buf, sizeof(buf), "%sqemu 4242:123456789\n", good);   /* once */
	assert_int_equal(parse(buf, &r), -EBADMSG);
	variant(buf, sizeof(buf), "vmscatter-source", "vmscatter-source 3\n");
	assert_int_equal(parse(buf, &r), -EBADMSG);
	for (size_t n = 0; n < strlen(good) - 1; n++)                 /* every truncation */
		assert_true(sc_journal_parse(good, n, &r) < 0);
}

static void test_parse_format1(void **state)
{
	(void)state;
	struct sc_journal_rec r;
	char buf[1024];
	variant(buf, sizeof(buf), "vmscatter-source", "vmscatter-source 1\n");
	assert_int_equal(parse(buf, &r), -EPROTONOSUPPORT);
	variant(buf, sizeof(buf), "qemu ", NULL);                      /* as format 1 wrote it */
	buf[strlen("vmscatter-source ")] = '1';
	assert_int_equal(parse(buf, &r), -EPROTONOSUPPORT);
}

static void test_write_read(void **state)
{
	(void)state;
	struct sc_journal_rec w, r;
	char name[64];
	int dfd = open(test_root, O_RDONLY | O_DIRECTORY), lock = -1, lock2 = -1;
	vms_err err = { 0 };
	assert_true(dfd >= 0);
	assert_int_equal(sc_journal_rec_set(&w, 0xabcull, 7, "/q.sock", 99, 1234567, "t2=1.2.3.4:7000", NULL,
					    "unsettled"), 0);
	assert_int_equal(sc_journal_name(name, sizeof(name), w.session, 1), 0);
	assert_int_equal(sc_journal_write(dfd, name, &w, &lock, &err), 0);
	/* held: another opener is turned away */
	assert_int_equal(sc_journal_open(dfd, name, &r, &lock2, &err), -EBUSY);
	close(lock);
	assert_int_equal(sc_journal_open(dfd, name, &r, &lock2, &err), 0);
	assert_int_equal(r.qemu_pid, 99);
	assert_true(r.qemu_start == 1234567);
	assert_string_equal(r.qmp, "/q.sock");
	assert_string_equal(r.state, "unsettled");
	close(lock2);
	/* no record without the source QEMU's pid */
	w.qemu_pid = 0;
	assert_int_equal(sc_journal_write(dfd, name, &w, &lock, &err), -EINVAL);
	assert_int_equal(lock, -1);
	sc_journal_remove(dfd, name);
	assert_int_equal(faccessat(dfd, name, F_OK, 0), -1);
	close(dfd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_good),
		cmocka_unit_test(test_parse_strict),
		cmocka_unit_test(test_parse_format1),
		cmocka_unit_test(test_write_read),
	};
	return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
