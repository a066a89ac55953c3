/* test_tmp.h - a scratch directory for the unit tests that write files:
 * made by the group setup, removed (with everything in it) by the group
 * teardown, which cmocka runs even when a test fails. Private to tests/. */
#ifndef VMS_TEST_TMP_H
#define VMS_TEST_TMP_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* on tmpfs where there is one: its holes are what sparse images are tested on */
static char test_root[64];

static int test_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

static int test_tmp_setup(void **state)
{
	(void)state;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(test_root, sizeof(test_root), "%s/vms-test.XXXXXX", base);
	return mkdtemp(test_root) ? 0 : -1;
}

static int test_tmp_teardown(void **state)
{
	(void)state;
	return nftw(test_root, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

#endif
