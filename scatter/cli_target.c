/* cli_target.c - `vmscatter target-argv`: the command line a receiver will
 * start the target QEMU with, for a running source VM. */
#include <errno.h>
#include <getopt.h>
#include <string.h>

#include "cli_int.h"

static const char target_usage[] =
	"Usage: vmscatter target-argv --state-dir DIR [--name NAME] [-0] QMP-SOCKET\n"
	"\n"
	"Print the command line of a target QEMU for the VM behind QMP-SOCKET: the\n"
	"source's own, with -incoming defer -S, without -daemonize, and with every\n"
	"host-specific path (QMP and monitor sockets, socket and file chardevs,\n"
	"serial files, the pidfile) moved into DIR/NAME/. One argument per line,\n"
	"or NUL-terminated with -0. NAME defaults to the socket's file name.\n";

int cli_target_argv(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' }, { "name", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	const char *state = NULL, *name = NULL;
	int ch, nul = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+0", opts, NULL)) != -1) {
		switch (ch) {
		case 's': state = optarg; break;
		case 'n': name = optarg; break;
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
		r = kvm_target_argv(src, n, state, name, &out, &outn, &err);
	for (size_t i = 0; r == 0 && i < outn; i++)
		printf("%s%c", out[i], nul ? '\0' : '\n');
	kvm_qmp_close(q);
	kvm_argv_free(src);
	kvm_argv_free(out);
	return r < 0 ? cli_fail("target-argv", &err) : 0;
}
