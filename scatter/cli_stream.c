/* cli_stream.c - `vmscatter stream`: read a QEMU migration stream (a file,
 * or - for standard input), report what it carries and optionally rebuild
 * one RAM block as a raw image. For inspecting streams and for checking the
 * parser the live mode relies on against real QEMU output. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"

static const char stream_usage[] =
	"Usage: vmscatter stream [--json] [--rebuild OUT [--block NAME]] FILE|-\n"
	"\n"
	"Parse a QEMU 7.2 migration stream (precopy; no multifd, xbzrle or compress)\n"
	"and report its RAM blocks, sections, pages, zero pages, pages sent more than\n"
	"once (dirtied while migrating) and device state bytes.\n"
	"\n"
	"  --rebuild OUT   write the final content of one RAM block to OUT\n"
	"  --block NAME    the block to rebuild (default pc.ram)\n"
	"  --json          print the report as JSON\n";

struct stream_report {
	uint64_t bytes, sections, pages, zero_pages, resent, device_bytes, commands;
};

int cli_stream(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rebuild", required_argument, NULL, 'r' }, { "block", required_argument, NULL, 'b' },
		{ "json", no_argument, NULL, 'j' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *out = NULL, *block = "pc.ram";
	int json = 0, ch;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'r': out = optarg; break;
		case 'b': block = optarg; break;
		case 'j': json = 1; break;
		case 'h': fputs(stream_usage, stdout); return 0;
		default: return cli_usage_error("stream", "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error("stream", "expected one stream file (or -)");
	const char *path = argv[optind];
	vms_err err = { 0 };
	kvm_ms *ms = NULL;
	struct stream_report rep = { 0 };
	uint8_t *seen = NULL;           /* per page of the rebuilt block */
	int in = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC), fd = -1, r = 0, target = -1;
	char tmp[4200] = "";
	uint64_t target_size = 0;
	if (in < 0)
		return vms_err_set(&err, -errno, "%s: %s", path, strerror(errno)), cli_fail("stream", &err);
	r = kvm_ms_new(&ms, &err);
	static uint8_t buf[1 << 20];
	int done = 0;
	while (r == 0 && !done) {
		ssize_t got = read(in, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			r = vms_err_set(&err, -errno, "%s: %s", path, strerror(errno));
			break;
		}
		done = got == 0;
		rep.bytes += (uint64_t)got;
		r = kvm_ms_feed(ms, buf, (size_t)got, &err);
		struct kvm_ms_item it;
		while (r == 0 && (r = kvm_ms_next(ms, &it, &err)) == 1) {
			r = 0;
			switch (it.kind) {
			case KVM_MS_SECTION: rep.sections++; break;
			case KVM_MS_DEVICE: rep.device_bytes += it.raw_len; break;
			case KVM_MS_COMMAND: rep.commands++; break;
			case KVM_MS_BLOCKS:
				for (unsigned b = 0; b < kvm_ms_blocks(ms); b++)
					if (strcmp(kvm_ms_block_name(ms, b), block) == 0)
						target = (int)b;
				if (out && target < 0) {
					r = vms_err_set(&err, -ENOENT, "the stream has no RAM block '%s'", block);
					break;
				}
				if (out && !seen) {      /* (a repeated list is the same: kvm_ms_next) */
					target_size = kvm_ms_block_size(ms, (unsigned)target);
					seen = calloc(target_size / KVM_PAGE_SIZE, 1);
					snprintf(tmp, sizeof(tmp), "%s.tmp.%d", out, (int)getpid());
					fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
					if (!seen || fd < 0 || ftruncate(fd, (off_t)target_size) < 0)
						r = vms_err_set(&err, -EIO, "%s: cannot create", out);
				}
				break;
			case KVM_MS_ZERO:
			case KVM_MS_PAGE:
				if (it.kind == KVM_MS_ZERO)
					rep.zero_pages++;
				else
					rep.pages++;
				if ((int)it.block == target && seen) {
					uint8_t page[KVM_PAGE_SIZE];
					const uint8_t *data = it.data;
					if (it.kind == KVM_MS_ZERO) {
						memset(page, it.fill, sizeof(page));
						data = page;
					}
					if (seen[it.offset / KVM_PAGE_SIZE]++)
						rep.resent++;
					if (pwrite(fd, data, KVM_PAGE_SIZE, (off_t)it.offset) != KVM_PAGE_SIZE)
						r = vms_err_set(&err, -EIO, "%s: write failed", tmp);
				}
				break;
			default:
				break;
			}
		}
	}
	if (r == 0 && (kvm_ms_blocks(ms) == 0))
		r = vms_err_set(&err, -EBADMSG, "%s: no RAM in this stream (truncated?)", path);
	if (r == 0 && fd >= 0 && (fsync(fd) < 0 || rename(tmp, out) < 0))
		r = vms_err_set(&err, -errno, "%s: %s", out, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (r < 0 && tmp[0])
		unlink(tmp);
	if (in > 0)
		close(in);
	if (r == 0) {
		if (json) {
			json_t *blocks = json_array();
			for (unsigned b = 0; b < kvm_ms_blocks(ms); b++)
				json_array_append_new(blocks, json_pack("{s:s, s:I}", "name", kvm_ms_block_name(ms, b),
									"bytes", (json_int_t)kvm_ms_block_size(ms, b)));
			json_t *root = json_pack("{s:I, s:o, s:I, s:I, s:I, s:I, s:I}", "bytes", (json_int_t)rep.bytes,
				"blocks", blocks, "ram_sections", (json_int_t)rep.sections,
				"pages", (json_int_t)rep.pages, "zero_pages", (json_int_t)rep.zero_pages,
				"resent_pages", (json_int_t)rep.resent, "device_bytes", (json_int_t)rep.device_bytes);
			json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
			fputc('\n', stdout);
			json_decref(root);
		} else {
			printf("%llu bytes: %llu RAM sections, %llu pages, %llu zero pages, %llu device-state bytes\n",
			       (unsigned long long)rep.bytes, (unsigned long long)rep.sections,
			       (unsigned long long)rep.pages, (unsigned long long)rep.zero_pages,
			       (unsigned long long)rep.device_bytes);
			for (unsigned b = 0; b < kvm_ms_blocks(ms); b++)
				printf("  block %-28s %12llu bytes\n", kvm_ms_block_name(ms, b),
				       (unsigned long long)kvm_ms_block_size(ms, b));
			if (out)
				printf("%s: %llu pages of %s sent again after being dirtied; rebuilt into %s\n", block,
				       (unsigned long long)rep.resent, block, out);
		}
	}
	free(seen);
	kvm_ms_free(ms);
	return r < 0 ? cli_fail("stream", &err) : 0;
}
