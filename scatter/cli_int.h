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
/* Index a rack whose sources are open already (rack->srcs[0..n) with
 * name, path and mem); on failure the caller frees it (cli_rack_free). */
int cli_rack_index(struct cli_rack *rack, unsigned threads, int quiet, int digests, vms_err *err);

/* cli_libvirt.c: libvirt racks (`send --live --libvirt URI ... DOMAIN...`). */
struct cli_lv {
	kvm_lv *src;                             /* the source's libvirt */
	kvm_lv_dom **doms;                       /* per VM */
	unsigned n;
	const char *desturi[VMSPLAN_MAX_TARGETS]; /* per target (--target ...,libvirt=URI) */
	struct sc_live_libvirt opts;
};
/* Open the source's libvirt, find the running domains names[0..n) and
 * index their memory into *rack; lv->opts is set for sc_live_opts.libvirt. */
int cli_lv_load(struct cli_lv *lv, const char *uri, char **names, unsigned n, unsigned threads, int quiet,
		struct cli_rack *rack, vms_err *err);
/* Every target has its libvirt URI, and the sender reaches it (so does,
 * most likely, the source's libvirtd, which migrates to it). */
int cli_lv_check_targets(const struct cli_lv *lv, const struct sc_target *tg, unsigned nt, vms_err *err);
/* Per domain: what libvirt reported, and the domain's state on both sides. */
void cli_lv_report(const struct cli_lv *lv, const struct cli_rack *rack, const sc_session *sess,
		   const struct sc_target *tg, const unsigned *target_of);
void cli_lv_free(struct cli_lv *lv);

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

/* A whole number of seconds, 1..max, as milliseconds in *ms: 0, or -EINVAL. */
int cli_parse_seconds(const char *s, unsigned max, int *ms);

/* mkdir -p DIR, each directory made 0700: 0 or a negative errno (err set). */
int cli_mkdirs(const char *dir, vms_err *err);

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
int cli_recover(int argc, char **argv);

/* Settling one paused source from its receiver's word (cli_guard.c; the
 * source guard and `vmscatter recover` share it). */
struct cli_settle {
	const char *who;                  /* "guard" or "recover": the log lines' prefix */
	const char *qmp, *name, *tls_host;
	long qemu_pid;                    /* the source QEMU: its pid and start time */
	uint64_t qemu_start;              /* (kvm_proc_start_time): only it is settled */
	uint32_t ip;
	uint16_t port;
	uint64_t session;
	uint32_t vm;
	const vms_tls *tls;               /* NULL: --insecure */
	int keep_source, timeout_ms;      /* timeout_ms: how long to keep asking */
	const char **outcome;             /* set to a few words saying what was done */
	long *peer;                       /* NULL, or set to the pid serving g->qmp when known */
};
/* Parse NAME=HOST:PORT into g->name (`name`, len bytes), g->ip, g->port:
 * 0 or -EINVAL. */
int cli_settle_target(struct cli_settle *g, const char *target, char *name, size_t len);
/* Settle the source QEMU g->qemu_pid (started at g->qemu_start) through its
 * QMP socket g->qmp. That process gone (or its pid now another process's):
 * nothing to do. The socket served by another process: nothing is sent to
 * it, -EPERM. Else wait for the source's migration to end, then: running ->
 * nothing to do; paused -> ask the receiver (OUTCOME) until it answers or
 * timeout_ms passes: committed -> quit the source (keep_source: leave it
 * paused), rolled back -> resume it. 0 when the VM is settled; -ETIMEDOUT
 * when no answer came (the source stays paused) or its monitor does not
 * answer; another negative errno when QMP refused. */
int cli_settle_source(const struct cli_settle *g);
/* HOST:PORT[:REST] (HOST an IPv4 address or a name): 0, or -EINVAL; *rest
 * points after the second colon, or is NULL. */
int cli_parse_hostport(const char *s, uint32_t *ip, uint16_t *port, const char **rest);

#endif
