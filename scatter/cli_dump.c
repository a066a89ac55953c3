/* cli_dump.c - `vmscatter dump`: save a VM's memory as a raw image file
 * (for offline experiments, tests and cold moves). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_int.h"

static const char dump_usage[] =
	"Usage: vmscatter dump [--pause] SRC OUT\n"
	"\n"
	"Write the memory of SRC (a QMP socket of a running QEMU, or an image) to\n"
	"the raw image file OUT. OUT is sparse (zero pages are holes) and appears\n"
	"only once it is complete.\n"
	"\n"
	"  --pause   stop the guest while its RAM is read (a consistent image);\n"
	"            a guest that was running is resumed afterwards\n"
	"  --help    this text\n";

#define DUMP_CHUNK_PAGES 256u

/* Stop (pause = 1) or resume the guest behind a QMP socket. *was_running
 * tells, on pause, whether it ran; on resume nothing happens unless it ran. */
static int set_paused(const char *path, int pause, int *was_running, vms_err *err)
{
	kvm_qmp *q = NULL;
	json_t *ret = NULL;
	int r = kvm_qmp_connect(path, 5000, &q, err);
	if (r < 0)
		return r;
	if (pause) {
		r = kvm_qmp_call(q, "query-status", NULL, &ret, err);
		if (r == 0) {
			*was_running = json_is_true(json_object_get(ret, "running"));
			json_decref(ret);
			ret = NULL;
			if (*was_running)
				r = kvm_qmp_call(q, "stop", NULL, &ret, err);
		}
	} else if (*was_running) {
		r = kvm_qmp_call(q, "cont", NULL, &ret, err);
	}
	json_decref(ret);
	kvm_qmp_close(q);
	return r;
}

/* Write pages [0, n) of a chunk that starts at page `first` to fd, in runs,
 * leaving out those flagged in skip[] (holes of the source, zero pages):
 * the output is sparse. */
static int write_chunk(int fd, const char *tmp, uint64_t first, size_t n, const uint8_t *pages,
		       const uint8_t *skip, vms_err *err)
{
	for (size_t p = 0, run; p < n; p += run) {
		for (run = 1; p + run < n && skip[p + run] == skip[p]; run++)
			;
		if (skip[p])
			continue;
		const uint8_t *buf = pages + p * KVM_PAGE_SIZE;
		off_t at = (off_t)((first + p) * KVM_PAGE_SIZE);
		for (size_t done = 0, len = run * KVM_PAGE_SIZE; done < len;) {
			ssize_t w = pwrite(fd, buf + done, len - done, at + (off_t)done);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
			done += (size_t)w;
		}
	}
	return 0;
}

static int write_image(kvm_mem *m, const char *out, vms_err *err)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
	uint8_t *buf = malloc(DUMP_CHUNK_PAGES * KVM_PAGE_SIZE);
	uint8_t skip[DUMP_CHUNK_PAGES];       /* 1: a hole or a zero page, not written */
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644), r = 0;
	if (fd < 0) {
		free(buf);
		return vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
	}
	if (!buf) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	uint64_t pages = kvm_mem_pages(m);
	if (ftruncate(fd, (off_t)(pages * KVM_PAGE_SIZE)) < 0) {
		r = vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	for (uint64_t p = 0; p < pages && r == 0; p += DUMP_CHUNK_PAGES) {
		size_t n = pages - p < DUMP_CHUNK_PAGES ? (size_t)(pages - p) : DUMP_CHUNK_PAGES;
		const uint8_t *view;
		long holes = kvm_mem_holes(m, p, n, skip, err);
		if (holes < 0) {
			r = (int)holes;
			break;
		}
		if ((size_t)holes == n)          /* nothing stored here */
			continue;
		if ((r = kvm_mem_view(m, p, n, buf, &view, err)) < 0)
			break;
		for (size_t i = 0; i < n; i++)
			skip[i] = skip[i] || vms_page_is_zero(view + i * KVM_PAGE_SIZE);
		r = write_chunk(fd, tmp, p, n, view, skip, err);
	}
	if (r == 0 && fsync(fd) < 0)
		r = vms_err_set(err, -errno, "%s: fsync: %s", tmp, strerror(errno));
out:
	if (close(fd) < 0 && r == 0)
		r = vms_err_set(err, -errno, "%s: %s", tmp, strerror(errno));
	if (r == 0 && rename(tmp, out) < 0)
		r = vms_err_set(err, -errno, "%s: %s", out, strerror(errno));
	if (r < 0)
		unlink(tmp);
	free(buf);
	return r;
}

int cli_dump(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pause", no_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int pause = 0, ch, was_running = 0, paused = 0;
	vms_err err = { 0 };
	kvm_mem *m = NULL;
	struct stat st;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'p': pause = 1; break;
		case 'h': fputs(dump_usage, stdout); return 0;
		default: return cli_usage_error("dump", "unknown option");
		}
	}
	if (argc - optind != 2)
		return cli_usage_error("dump", "expected SRC and OUT");
	const char *src = argv[optind], *out = argv[optind + 1];
	int r = 0;
	if (pause && stat(src, &st) == 0 && S_ISSOCK(st.st_mode)) {
		r = set_paused(src, 1, &was_running, &err);
		paused = r == 0;
	}
	if (r == 0)
		r = kvm_mem_open(src, &m, &err);
	if (r == 0)
		r = write_image(m, out, &err);
	kvm_mem_close(m);
	if (paused) {
		vms_err err2 = { 0 };
		if (set_paused(src, 0, &was_running, &err2) < 0 && r == 0) {
			err = err2;
			r = err2.code;
		}
	}
	return r < 0 ? cli_fail("dump", &err) : 0;
}
