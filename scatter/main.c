/* main.c - the vmscatter program: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#include "config.h"
#include "cli_int.h"

static const char usage[] =
	"Usage: vmscatter COMMAND [OPTIONS] ...\n"
	"\n"
	"Move a rack of QEMU/KVM virtual machines to several hosts at once, sending\n"
	"memory that several VMs share only once.\n"
	"\n"
	"Commands:\n"
	"  analyze   report how much memory a rack of VMs (images or live QEMUs) shares\n"
	"  dump      save a VM's memory (live QEMU or image) as a raw image file\n"
	"  plan      place VMs on targets so shared memory lands together\n"
	"  compare   run every placement strategy on one rack: table and plot\n"
	"  send      scatter memory images to receivers (multicast + unicast)\n"
	"  receive   receive VMs from a sender and write their images\n"
	"  stream    inspect a QEMU migration stream, rebuild a RAM block from it\n"
	"  target-argv  the command line of a target QEMU for a running VM\n"
	"  recover   settle the sources a dead sender and its guards left paused\n"
	"\n"
	"Run 'vmscatter COMMAND --help' for a command's options, 'man vmscatter' for\n"
	"the whole manual.\n"
	"  --help      this text\n"
	"  --version   print the version\n";

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
};

static const struct command commands[] = {
	{ "analyze", cli_analyze },
	{ "dump", cli_dump },
	{ "plan", cli_plan },
	{ "compare", cli_compare },
	{ "send", cli_send },
	{ "receive", cli_receive },
	{ "stream", cli_stream },
	{ "target-argv", cli_target_argv },
	{ "guard", cli_guard },
	{ "recover", cli_recover },
};

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(usage, stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		fputs(usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("vmscatter %s\n", PACKAGE_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(argv[1], commands[i].name) == 0) {
			/* "vms-send", "vms-receive"...: what ps, top and perf show */
			char comm[16];
			snprintf(comm, sizeof(comm), "vms-%s", commands[i].name);
			prctl(PR_SET_NAME, comm);
			return commands[i].run(argc - 1, argv + 1);
		}
	fprintf(stderr, "vmscatter: unknown command '%s'\nTry 'vmscatter --help'.\n", argv[1]);
	return 2;
}
