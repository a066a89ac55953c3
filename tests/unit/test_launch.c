/* test_launch.c - the target QEMU's command line: golden rewrites of a
 * source command line (paths moved into STATE/NAME, -daemonize dropped,
 * -incoming defer -S added, doubled commas kept) and refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "kvmglue/kvmglue.h"

static void test_golden(void **state)
{
	(void)state;
	char *src[] = {
		"qemu-system-x86_64", "-name", "vm1", "-accel", "tcg", "-m", "256",
		"-serial", "file:/run/a/vm1.serial",
		"-qmp", "unix:/run/a/vm1.qmp,server=on,wait=off",
		"--qmp", "unix:/run/a/second.qmp,server=on,wait=off",
		"-monitor", "unix:/run/a/mon.sock,server=on,wait=off",
		"-chardev", "socket,id=char0,path=/run/a/c0.sock,server=on,wait=off",
		"-chardev", "file,id=log,path=/var/log/x,,y.log",
		"-kernel", "/boot/vmlinuz", "-daemonize", "-pidfile", "/run/a/vm1.pid",
	};
	char *want[] = {
		"qemu-system-x86_64", "-name", "vm1", "-accel", "tcg", "-m", "256",
		"-serial", "file:/st/vm1/vm1.serial",
		"-qmp", "unix:/st/vm1/qmp.sock,server=on,wait=off",
		"--qmp", "unix:/st/vm1/qmp2.sock,server=on,wait=off",
		"-monitor", "unix:/st/vm1/monitor.sock,server=on,wait=off",
		"-chardev", "socket,id=char0,path=/st/vm1/char0.sock,server=on,wait=off",
		"-chardev", "file,id=log,path=/st/vm1/x,,y.log",
		"-kernel", "/boot/vmlinuz", "-pidfile", "/st/vm1/qemu.pid",
		"-incoming", "defer", "-S",
	};
	char **out = NULL;
	size_t n = 0;
	vms_err e = { 0 };
	assert_int_equal(kvm_target_argv(src, sizeof(src) / sizeof(src[0]), "/st", "vm1", &out, &n, &e), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++)
		assert_string_equal(out[i], want[i]);
	assert_null(out[n]);
	kvm_argv_free(out);
}

static void test_refusals(void **state)
{
	(void)state;
	char **out = NULL;
	size_t n;
	vms_err e = { 0 };
	char *tcp[] = { "qemu", "-qmp", "tcp:127.0.0.1:4444,server=on" };
	assert_int_equal(kvm_target_argv(tcp, 3, "/st", "vm1", &out, &n, &e), -ENOTSUP);
	assert_non_null(strstr(e.msg, "unix sockets"));
	char *incoming[] = { "qemu", "-incoming", "defer" };
	assert_int_equal(kvm_target_argv(incoming, 3, "/st", "vm1", &out, &n, &e), -EINVAL);
	char *dangling[] = { "qemu", "-pidfile" };
	assert_int_equal(kvm_target_argv(dangling, 2, "/st", "vm1", &out, &n, &e), -EINVAL);
	char *ok[] = { "qemu" };
	assert_int_equal(kvm_target_argv(ok, 1, "/st", "../x", &out, &n, &e), -EINVAL);
	assert_int_equal(kvm_target_argv(ok, 0, "/st", "vm1", &out, &n, &e), -EINVAL);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_refusals),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
