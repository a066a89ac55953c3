/* cli_recover.c - `vmscatter recover`: settle every VM the source journal
 * (journal.c) still lists, after a sender and its source guards died or gave
 * up. Each record nobody holds is settled as its guard would have: the source
 * runs -> nothing to do; paused -> the VM's receiver says committed (quit the
 * source) or rolled back (resume it); no answer -> it stays paused and the
 * record stays, for the next run. Never a guess. Only the QEMU process the
 * record names (pid and start time) is ever sent a command: if it has ended
 * nothing is left to settle; if another process serves its QMP socket, the
 * record is left and nothing is sent. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"

static const char recover_usage[] =
	"Usage: vmscatter recover [--state-dir DIR] (--tls-creds DIR | --insecure)\n"
	"                         [--timeout SEC] [--keep-source]\n"
	"\n"
	"Settle the live migrations a dead `vmscatter send --live` left behind: for\n"
	"each VM in the source journal (DIR, the sender's --state-dir), ask its\n"
	"receiver whether the target committed, then quit the paused source\n"
	"(committed) or resume it (rolled back). A VM whose sender or guard still\n"
	"runs is left to them; a VM whose receiver does not answer stays paused.\n"
	"Only the source QEMU process the record names is touched: one that has\n"
	"ended needs nothing; a QMP socket another process now serves is left.\n"
	"\n"
	"  --state-dir DIR   the sender's state directory (default " SC_SEND_STATE_DIR ")\n"
	"  --tls-creds DIR   the sender's credentials (client-cert.pem, ...)\n"
	"  --insecure        the receivers run without TLS\n"
	"  --timeout SEC     how long to ask each receiver (default 10)\n"
	"  --keep-source     leave a committed VM's source paused instead of quitting it\n"
	"\n"
	"Exit status: 0 every VM settled (or none to settle); 3 some VMs are left\n"
	"(their lines say why); 1 the journal could not be read; 2 usage.\n";

struct tally {
	unsigned settled, left;
};

/* One record: settled (and removed), or left with a line saying why. */
static void recover_one(int dfd, const char *file, const struct cli_settle *base, struct tally *t)
{
	struct sc_journal_rec rec;
	char name[SC_NAME_MAX];
	const char *outcome = "";
	int lock;
	vms_err err = { 0 };
	int r = sc_journal_open(dfd, file, &rec, &lock, &err);
	if (r == -ENOENT)
		return;                           /* settled meanwhile by its guard */
	if (r < 0) {
		printf("%s: left: %s\n", file, err.msg);
		t->left++;
		return;
	}
	struct cli_settle g = *base;
	g.qmp = rec.qmp;
	g.qemu_pid = rec.qemu_pid;
	g.qemu_start = rec.qemu_start;
	g.session = rec.session;
	g.vm = rec.vm;
	g.outcome = &outcome;
	long peer = 0;
	g.peer = &peer;
	if (!g.tls_host && rec.tls_host[0])
		g.tls_host = rec.tls_host;
	if (cli_settle_target(&g, rec.target, name, sizeof(name)) < 0) {
		printf("%s: left: its target '%s' is not NAME=ADDR:PORT\n", file, rec.target);
		t->left++;
	} else if ((r = cli_settle_source(&g)) == 0) {
		sc_journal_remove(dfd, file);
		printf("%s (session %016llx, VM %u, target %s): %s\n", rec.qmp, (unsigned long long)rec.session,
		       rec.vm, name, outcome);
		t->settled++;
	} else {
		char why[160];
		if (r == -EPERM)
			snprintf(why, sizeof(why), "process %ld serves this socket, not its source QEMU "
				 "(process %ld, still running): nothing was sent to it", peer, rec.qemu_pid);
		else
			snprintf(why, sizeof(why), "%s", r != -ETIMEDOUT ? "its source QEMU refused the command"
				 : strcmp(outcome, "unsettled: the source stays paused") == 0
				 ? "no answer from its receiver; the source stays paused"
				 : "its source QEMU's monitor does not answer");
		printf("%s (session %016llx, VM %u, target %s): left: %s\n", rec.qmp,
		       (unsigned long long)rec.session, rec.vm, name, why);
		t->left++;
	}
	close(lock);
}

int cli_recover(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "state-dir", required_argument, NULL, 's' }, { "tls-creds", required_argument, NULL, 'C' },
		{ "insecure", no_argument, NULL, 'I' }, { "timeout", required_argument, NULL, 'T' },
		{ "keep-source", no_argument, NULL, 'K' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct cli_settle base = { .who = "recover", .timeout_ms = 10000 };
	const char *dir = SC_SEND_STATE_DIR, *creds = NULL;
	int ch, insecure = 0;
	vms_err err = { 0 };
	vms_tls *tls = NULL;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 's': dir = optarg; break;
		case 'C': creds = optarg; break;
		case 'I': insecure = 1; break;
		case 'K': base.keep_source = 1; break;
		case 'T':
			if (cli_parse_seconds(optarg, 86400, &base.timeout_ms) < 0)
				return cli_usage_error("recover", "--timeout must be 1..86400 seconds");
			break;
		case 'h': fputs(recover_usage, stdout); return 0;
		default: return cli_usage_error("recover", "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error("recover", "unexpected argument '%s'", argv[optind]);
	if (!creds == !insecure)
		return cli_usage_error("recover", "give --tls-creds DIR or --insecure");
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		if (errno == ENOENT) {
			printf("%s: no source journal: nothing to settle\n", dir);
			return 0;
		}
		vms_err_set(&err, -errno, "%s: %s", dir, strerror(errno));
		return cli_fail("recover", &err);
	}
	if (creds && vms_tls_new(creds, VMS_TLS_CLIENT, &tls, &err) < 0) {
		close(dfd);
		return cli_fail("recover", &err);
	}
	base.tls = tls;
	signal(SIGPIPE, SIG_IGN);
	/* the names first: settling removes entries from the directory */
	int dfd2 = dup(dfd);
	DIR *d = dfd2 >= 0 ? fdopendir(dfd2) : NULL;
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		if (sc_journal_is_record(e->d_name)) {
			char **more = realloc(names, (n + 1) * sizeof(*names));
			if (!more || !(more[n] = strdup(e->d_name))) {
				names = more ? more : names;
				vms_err_set(&err, -ENOMEM, "out of memory");
				break;
			}
			names = more;
			n++;
		}
	if (d)
		closedir(d);
	else {
		vms_err_set(&err, -errno, "%s: %s", dir, strerror(errno));
		if (dfd2 >= 0)
			close(dfd2);
	}
	struct tally t = { 0 };
	for (size_t i = 0; i < n && !err.code; i++)
		recover_one(dfd, names[i], &base, &t);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	close(dfd);
	vms_tls_free(tls);
	if (err.code)
		return cli_fail("recover", &err);
	printf("%u VM%s settled, %u left\n", t.settled, t.settled == 1 ? "" : "s", t.left);
	return t.left ? 3 : 0;
}
