/* cli_int.h - private to the vmscatter command-line program (scatter/cli_*.c,
 * scatter/main.c): helpers every subcommand shares. Not installed. */
#ifndef VMS_CLI_INT_H
#define VMS_CLI_INT_H

#include <stdio.h>

#include "planner/plan.h"
#include "scatter.h"

/* A memory source named on the command line as [NAME=]PATH. */
struct cli_src {
	char name[SC_NAME_MAX];
	const char *path;
	kvm_mem *mem;
};

/* An indexed rack: the sources, in argument order, and their index. */
struct cli_rack {
	struct cli_src *srcs;
	unsigned n;
	sc_index *ix;
};

/* Parse, open and index the sources args[0..n), with each VM's SHA-256 when
 * `digests` is set. Progress goes to stderr when it is a terminal and
 * `quiet` is 0. */
int cli_rack_load(struct cli_rack *rack, char **args, unsigned n, unsigned threads,
		  int quiet, int digests, vms_err *err);
void cli_rack_free(struct cli_rack *rack);

/* Add the rack's VMs and sharing summary to a planning problem. */
int cli_add_rack(vmsplan_problem *p, const struct cli_rack *rack, vms_err *err);

/* Parse a thread count option ("auto" or 1..SC_MAX_THREADS). */
int cli_parse_threads(const char *s, unsigned *out, vms_err *err);
unsigned cli_default_threads(void);

/* Print "vmscatter CMD: MESSAGE" to stderr and return exit status 1. */
int cli_fail(const char *cmd, const vms_err *err);
/* Print a usage error and return exit status 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Format a byte count as "123.4 MiB" into buf. */
const char *cli_bytes(uint64_t bytes, char *buf, size_t len);

int cli_analyze(int argc, char **argv);
int cli_dump(int argc, char **argv);
int cli_plan(int argc, char **argv);
int cli_compare(int argc, char **argv);
int cli_send(int argc, char **argv);
int cli_receive(int argc, char **argv);
int cli_stream(int argc, char **argv);
int cli_target_argv(int argc, char **argv);
int cli_guard(int argc, char **argv);
/* HOST:PORT[:REST] (HOST an IPv4 address or a name): 0, or -EINVAL; *rest
 * points after the second colon, or is NULL. */
int cli_parse_hostport(const char *s, uint32_t *ip, uint16_t *port, const char **rest);

#endif
