/* cli_target.c - `vmscatter target-argv`: the command line a receiver will
 * start the target QEMU with, for a running source VM. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli_int.h"

static const char target_usage[] =
	"Usage: vmscatter target-argv --state-dir DIR [--name NAME] [--qemu BIN]\n"
	"                             [--shared-path PREFIX]... [--run-as USER] [-0] QMP-SOCKET\n"
	"\n"
	"Print the command line a receiver with the same options would start the\n"
	"target QEMU with, for the VM behind QMP-SOCKET: the source's own, through\n"
	"the receiver's allow-list (doc/SECURITY.md, \"The target QEMU's command\n"
	"line\"): BIN (default qemu-system-ARCH from PATH) as the binary, every\n"
	"host-specific path (sockets, serial and chardev files, the pidfile, logs)\n"
	"moved into DIR/NAME/, host files (disks, kernel, firmware) kept only under a\n"
	"--shared-path, options that listen, run programs or pass host devices\n"
	"refused; then a QMP socket at DIR/NAME/qmp.sock if the source has none,\n"
	"-sandbox, -runas USER, -incoming defer -S. One argument per line, or\n"
	"NUL-terminated with -0. NAME defaults to the socket's file name.\n";

int cli_target_argv(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' }, { "name", required_argument, NULL, 'n' },
		{ "qemu", required_argument, NULL, 'Q' }, { "shared-path", required_argument, NULL, 'P' },
		{ "run-as", required_argument, NULL, 'U' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *name = NULL, *shared[KVM_SHARED_MAX];
	struct kvm_target_policy pol = { .shared_paths = shared };
	int ch, nul = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+0", opts, NULL)) != -1) {
		switch (ch) {
		case 's': state = optarg; break;
		case 'n': name = optarg; break;
		case 'Q': pol.qemu_bin = optarg; break;
		case 'P':
			if (pol.nshared == KVM_SHARED_MAX || !*optarg)
				return cli_usage_error("target-argv", "--shared-path: at most %u non-empty prefixes",
						       KVM_SHARED_MAX);
			shared[pol.nshared++] = optarg;
			break;
		case 'U': pol.run_as = optarg; break;
		case '0': nul = 1; break;
		case 'h': fputs(target_usage, stdout); return 0;
		default: return cli_usage_error("target-argv", "unknown option");
		}
	}
	if (!state || argc - optind != 1)
		return cli_usage_error("target-argv", "expected --state-dir DIR and one QMP socket");
	const char *sock = argv[optind];
	char defname[SC_NAME_MAX];
	if (!name) {
		const char *b = strrchr(sock, '/');
		b = b ? b + 1 : sock;
		const char *dot = strrchr(b, '.');
		snprintf(defname, sizeof(defname), "%.*s", (int)(dot && dot != b ? dot - b : (long)strlen(b)), b);
		name = defname;
	}
	vms_err err = { 0 };
	kvm_qmp *q = NULL;
	char **src = NULL, **out = NULL;
	size_t n, outn;
	int r = kvm_qmp_connect(sock, 5000, &q, &err);
	if (r == 0)
		r = kvm_proc_argv(kvm_qmp_pid(q), &src, &n, &err);
	if (r == 0)
		r = kvm_target_argv(src, n, state, name, &pol, &out, &outn, &err);
	for (size_t i = 0; r == 0 && i < outn; i++)
		printf("%s%c", out[i], nul ? '\0' : '\n');
	kvm_qmp_close(q);
	kvm_argv_free(src);
	kvm_argv_free(out);
	return r < 0 ? cli_fail("target-argv", &err) : 0;
}
