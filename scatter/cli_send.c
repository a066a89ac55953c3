/* cli_send.c - `vmscatter send` (options, the plan, an sc_session, and its
 * report and progress on stdout/stderr) and `vmscatter receive`. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli_int.h"
#include "receiver/receiver.h"

static const char send_usage[] =
	"Usage: vmscatter send --target NAME=HOST:PORT[:SLOTS] ... [--plan FILE | --strategy S]\n"
	"                      [--rate BITS/S] [--mcast-if ADDR] [--mcast-port PORT]\n"
	"                      [--timeout SEC] [--compress ALGO] [--json] [--threads N] [--quiet]\n"
	"                      [--live [--verify|--no-verify] [--parallel N] [--keep-source]\n"
	"                       [--atomic | --overlap] [--state-dir DIR]\n"
	"                       [--libvirt URI [--persistent] [--undefinesource] [--bandwidth MIB/S]]]\n"
	"                      (--tls-creds DIR [--tls-hostname NAME] | --insecure) SRC...\n"
	"\n"
	"Index the memory images SRC, place them on the targets (strategy anneal by default,\n"
	"or the `vmscatter plan --json` output in FILE), and send them: contents\n"
	"two or more targets need go once by PGM multicast to exactly those\n"
	"targets, the rest by unicast. Exits 0 only when every receiver has written\n"
	"every image with the source's SHA-256.\n"
	"\n"
	"  --target NAME=HOST:PORT[:SLOTS]  a receiver (`vmscatter receive`); SLOTS\n"
	"                     limits its VMs (default: no limit)\n"
	"  --strategy S       anneal (default), greedy, local, random, oblivious, optimal\n"
	"  --plan FILE        use the placement of a saved `vmscatter plan --json`\n"
	"  --rate BITS/S      multicast and unicast rate each (K M G); default: the\n"
	"                     speed of the interface multicast leaves from (1G when it\n"
	"                     has none), the receivers' acknowledgements pacing it\n"
	"  --mcast-if ADDR    the local address multicast leaves from (default: the\n"
	"                     one the connections to the receivers use)\n"
	"  --mcast-port PORT  first UDP port for multicast groups (default 7500)\n"
	"  --timeout SEC      for every answer from a receiver and, live, for a source\n"
	"                     QEMU whose stream goes silent (default 60)\n"
	"  --compress ALGO    compress every page it shrinks, multicast, unicast and,\n"
	"                     live, the streams: auto (default: zstd while the link or\n"
	"                     the receivers keep the sender waiting, LZ4 while the\n"
	"                     sender's CPU is the bottleneck), zstd (level 1), lz4,\n"
	"                     lzo (LZO1X-1) or none\n"
	"  --no-compress      the same as --compress none\n"
	"  --json             print the summary as JSON\n"
	"  --tls-creds DIR    mutual TLS 1.3 with the receivers (required): DIR has\n"
	"                     ca-cert.pem, client-cert.pem, client-key.pem (QEMU's and\n"
	"                     libvirt's x509 layout; tools/mkcerts.sh makes a test PKI);\n"
	"                     multicast is sealed (AES-256-GCM) with a fresh key\n"
	"  --tls-hostname NAME check every receiver's certificate for NAME instead of\n"
	"                     the HOST of its --target\n"
	"  --insecure         no TLS, multicast in the clear: only to measure what\n"
	"                     security costs (says so on stderr)\n"
	"\n"
	"Live (every SRC a running QEMU's QMP socket; receivers with --state-dir):\n"
	"  --live             while the guests run, multicast the contents several\n"
	"                     targets need (seeds); then migrate each QEMU through the\n"
	"                     sender (pages the target holds go as references, the\n"
	"                     rest whole) into a target QEMU its receiver starts; each\n"
	"                     guest resumes there as soon as its own target has loaded\n"
	"                     it (and verified it), so it pauses only for its own\n"
	"                     switch-over; a VM that fails before that rolls back to\n"
	"                     its source alone\n"
	"  --atomic           all or nothing: the guests resume on their targets only\n"
	"                     when every VM has loaded, else every VM rolls back\n"
	"  --verify           before resuming, compare every page of each target with\n"
	"                     its paused source (XXH3-128); pages QEMU failed to send\n"
	"                     are repaired from the source and compared again; what\n"
	"                     still differs rolls back. Default: for each VM whose\n"
	"                     source QEMU runs without KVM (TCG: its dirty tracking\n"
	"                     can miss the guest's writes)\n"
	"  --no-verify        never verify (the guests' pause is then QEMU's downtime)\n"
	"  --no-repair        when verifying: any difference rolls back\n"
	"  --parallel N       at most N VMs stream at once (default: all)\n"
	"  --keep-source      leave the sources paused instead of quitting them\n"
	"  --overlap          start the migrations while the seeds still go out (a\n"
	"                     target waits for a seed on its way): for hosts with CPU\n"
	"                     to spare; where the guests keep the cores busy it sends\n"
	"                     more for no gain in time\n"
	"  --state-dir DIR    the source journal: one record per migrating VM, until\n"
	"                     it is settled (default " SC_SEND_STATE_DIR ", made if\n"
	"                     missing); `vmscatter recover` settles what a dead\n"
	"                     sender and its guards left (send refuses a source\n"
	"                     with such a record until then)\n"
	"  --max-bandwidth B/S QEMU's own migration limit (default 10G; K M G)\n"
	"Ctrl-C rolls back every VM that has not resumed on its target yet.\n"
	"\n"
	"libvirt racks (--live; every SRC a running domain of URI; every --target\n"
	"NAME=HOST:PORT[:SLOTS],libvirt=DESTURI, DESTURI its libvirt as the source's\n"
	"libvirtd reaches it; README \"libvirt racks\"):\n"
	"  --libvirt URI      the source's libvirt (e.g. qemu:///system): libvirt migrates\n"
	"                     each domain peer to peer through a UNIX socket whose\n"
	"                     stream goes through vmscatter; libvirt's job commits or\n"
	"                     rolls back (no --keep-source, no source guards)\n"
	"  --persistent       define each domain on its target (virsh's word)\n"
	"  --undefinesource   undefine each domain on its source\n"
	"  --bandwidth MIB/S  libvirt's migration bandwidth limit\n";

static const char receive_usage[] =
	"Usage: vmscatter receive --listen ADDR:PORT (--out DIR | --state-dir DIR)\n"
	"                         [--qemu BIN] [--shared-path PREFIX]... [--run-as USER]\n"
	"                         [--name NAME] [--once] [--idle-timeout SEC] [--quiet]\n"
	"                         [--max-memory SIZE] [--max-session-memory SIZE] [--max-vms N] [--force]\n"
	"\n"
	"Serve one sender session at a time: receive the VMs placed here and write\n"
	"DIR/NAME.img once each is complete and verified (SHA-256). A session that\n"
	"breaks off leaves no image behind.\n"
	"\n"
	"  --listen ADDR:PORT  where senders connect (ADDR 0.0.0.0 for any)\n"
	"  --out DIR           where the images go (must exist)\n"
	"  --state-dir DIR     live migrations: seeds, and one DIR/NAME/ per target QEMU\n"
	"                      with its QMP socket (qmp.sock), log and files (default:\n"
	"                      the --out DIR; either is enough for live sessions)\n"
	"  --qemu BIN          run BIN as the target QEMU (default: qemu-system-ARCH from\n"
	"                      PATH, ARCH as the source's); a QEMU already waiting\n"
	"                      (-incoming defer) with its QMP socket at DIR/NAME/qmp.sock\n"
	"                      is used instead. The source's command line is carried\n"
	"                      over only through an allow-list (doc/SECURITY.md)\n"
	"  --shared-path PREFIX  disk images, kernels, firmware and other host files the\n"
	"                      source names may stay where they are under PREFIX (after\n"
	"                      realpath; repeatable, up to 64); any other is refused\n"
	"  --run-as USER       the target QEMU drops to USER once started (-runas)\n"
	"  --name NAME         this receiver's name in logs (default: the host name)\n"
	"  --once              exit after one session (0 if it succeeded)\n"
	"  --idle-timeout SEC  drop a sender that sends no whole message for this long,\n"
	"                      in every state; after the seeds of a live session, a\n"
	"                      running migration stream counts (default 120)\n"
	"  --max-memory SIZE   refuse a VM of more memory than SIZE (K, M, G, T; default\n"
	"                      64G), before anything is allocated or written\n"
	"  --max-session-memory SIZE\n"
	"                      refuse a session whose VMs hold more in all (default 1T);\n"
	"                      and one that needs more than DIR has free\n"
	"  --max-vms N         refuse a session of more than N VMs (default 256)\n"
	"  --force             replace an existing DIR/NAME.img (default: the session\n"
	"                      fails and the image stays as it is)\n"
	"  --tls-creds DIR     mutual TLS 1.3 (required): DIR has ca-cert.pem (and\n"
	"                      optionally ca-crl.pem), server-cert.pem, server-key.pem\n"
	"                      (QEMU's and libvirt's x509 layout; tools/mkcerts.sh)\n"
	"  --tls-allow PATTERN accept only senders whose certificate subject matches\n"
	"                      PATTERN (fnmatch, e.g. 'CN=src*,O=vmscatter'; repeatable;\n"
	"                      default: any the CA signed)\n"
	"  --insecure          no TLS: anyone who reaches the port can send; only to\n"
	"                      measure what security costs (says so on stderr)\n";

static const char no_creds[] =
	"no --tls-creds DIR given: vmscatter talks only mutual TLS. Make credentials with\n"
	"  tools/mkcerts.sh DIR NAME=ADDR...   (a test PKI), or point --tls-creds at\n"
	"  your PKI in QEMU's layout, e.g. /etc/pki/qemu (doc/SECURITY.md).\n"
	"  --insecure runs in the clear, to measure the cost only";

static void warn_insecure(const char *cmd)
{
	fprintf(stderr, "vmscatter %s: WARNING: --insecure: no TLS, guest memory and commands cross the "
		"network in the clear and anyone who reaches the port is trusted\n", cmd);
}

static int parse_ip(const char *s, uint32_t *ip)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) == 1) {
		*ip = ntohl(a.s_addr);
		return 0;
	}
	struct addrinfo hints = { .ai_family = AF_INET }, *res = NULL;
	if (getaddrinfo(s, NULL, &hints, &res) != 0 || !res)
		return -EINVAL;
	*ip = ntohl(((struct sockaddr_in *)res->ai_addr)->sin_addr.s_addr);
	freeaddrinfo(res);
	return 0;
}

/* HOST:PORT */
int cli_parse_hostport(const char *s, uint32_t *ip, uint16_t *port, const char **rest)
{
	char host[256];
	const char *colon = strchr(s, ':');
	uint64_t p;
	if (!colon || vms_strlcpy_n(host, sizeof(host), s, (size_t)(colon - s)) < 0 || parse_ip(host, ip) < 0)
		return -EINVAL;
	const char *end = strchr(colon + 1, ':');
	size_t plen = end ? (size_t)(end - colon - 1) : strlen(colon + 1);
	if (vms_parse_u64(colon + 1, plen, 10, &p) < 0 || p == 0 || p > 65535)
		return -EINVAL;
	*port = (uint16_t)p;
	*rest = end ? end + 1 : NULL;
	return 0;
}

/* bits/s with an optional K, M, G (decimal) suffix */
static int parse_rate(const char *s, uint64_t *bits)
{
	size_t n = strlen(s), digits = 0;
	while (digits < n && s[digits] >= '0' && s[digits] <= '9')
		digits++;
	uint64_t v, mul = 1;
	if (vms_parse_u64(s, digits, 10, &v) < 0)
		return -EINVAL;
	const char *suf = s + digits;
	if (strcmp(suf, "K") == 0 || strcmp(suf, "k") == 0)
		mul = 1000;
	else if (strcmp(suf, "M") == 0)
		mul = 1000000;
	else if (strcmp(suf, "G") == 0)
		mul = 1000000000;
	else if (*suf)
		return -EINVAL;
	if (v == 0 || v > UINT64_MAX / mul)
		return -EINVAL;
	*bits = v * mul;
	return 0;
}

/* The assignment of a saved `plan --json` into target_of[]. */
static int load_plan(const char *path, const vmsplan_problem *p, unsigned *target_of, vms_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return vms_err_set(err, -EINVAL, "%s: not a plan: %s (line %d)", path, jerr.text, jerr.line);
	json_t *a = json_object_get(root, "assignment");
	int r = 0;
	if (!json_is_object(a)) {
		r = vms_err_set(err, -EINVAL, "%s: no \"assignment\" object (save `vmscatter plan --json`)", path);
		goto out;
	}
	if (json_object_size(a) != vmsplan_vms(p)) {
		r = vms_err_set(err, -EINVAL, "%s: the plan places %zu VMs, the sources are %u", path,
				json_object_size(a), vmsplan_vms(p));
		goto out;
	}
	for (unsigned v = 0; v < vmsplan_vms(p); v++) {
		const char *t = json_string_value(json_object_get(a, vmsplan_vm_name(p, v)));
		if (!t) {
			r = vms_err_set(err, -EINVAL, "%s: the plan does not place VM '%s'", path, vmsplan_vm_name(p, v));
			goto out;
		}
		int ti = vmsplan_find_target(p, t);
		if (ti < 0) {
			r = vms_err_set(err, -EINVAL, "%s: the plan uses target '%s', which is not a --target", path, t);
			goto out;
		}
		target_of[v] = (unsigned)ti;
	}
out:
	json_decref(root);
	return r;
}

static double mib(uint64_t b)
{
	return (double)b / 1048576.0;
}

static void print_summary(const struct cli_rack *rack, const struct sc_target *tg, unsigned nt,
			  const unsigned *target_of, const sc_session *sess, int json)
{
	const struct sc_send_stats *tot = sc_session_send_total(sess);
	uint64_t sent = tot->multicast_bytes + tot->unicast_bytes + tot->control_bytes;
	if (json) {
		json_t *root = json_object(), *targets = json_array();
		for (unsigned t = 0; t < nt; t++) {
			const struct sc_send_stats *ts = sc_session_target_stats(sess, t);
			json_t *vms = json_array();
			for (unsigned v = 0; v < rack->n; v++)
				if (target_of[v] == t)
					json_array_append_new(vms, json_string(rack->srcs[v].name));
			json_array_append_new(targets, json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
				"name", tg[t].name, "vms", vms,
				"multicast_bytes", (json_int_t)ts->multicast_bytes,
				"unicast_bytes", (json_int_t)ts->unicast_bytes,
				"control_bytes", (json_int_t)ts->control_bytes,
				"image_bytes", (json_int_t)ts->image_bytes,
				"contents_multicast", (json_int_t)ts->contents_multicast,
				"contents_unicast", (json_int_t)ts->contents_unicast,
				"contents_resent", (json_int_t)ts->contents_resent,
				"contents_compressed", (json_int_t)ts->contents_compressed,
				"multicast_rejected", (json_int_t)ts->multicast_rejected));
		}
		json_object_set_new(root, "targets", targets);
		json_object_set_new(root, "total", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f}}",
			"contents_compressed", (json_int_t)tot->contents_compressed,
			"multicast_rejected", (json_int_t)tot->multicast_rejected,
			"multicast_bytes", (json_int_t)tot->multicast_bytes,
			"unicast_bytes", (json_int_t)tot->unicast_bytes,
			"control_bytes", (json_int_t)tot->control_bytes,
			"sent_bytes", (json_int_t)sent, "image_bytes", (json_int_t)tot->image_bytes,
			"ratio_to_whole", (double)sent / (double)tot->image_bytes, "seconds", tot->seconds,
			"phases", "prepare", tot->seconds_prepare, "multicast", tot->seconds_multicast,
			"unicast_and_verify", tot->seconds_unicast));
		json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
		return;
	}
	printf("scattered %u VMs (%.1f MiB of images) to %u targets in %.1f s; every image verified (SHA-256)\n\n",
	       rack->n, mib(tot->image_bytes), nt, tot->seconds);
	printf("%-16s %4s %14s %12s %12s %12s %10s\n", "target", "VMs", "multicast MiB", "unicast MiB",
	       "control MiB", "images MiB", "received");
	for (unsigned t = 0; t < nt; t++) {
		const struct sc_send_stats *ts = sc_session_target_stats(sess, t);
		unsigned n = 0;
		for (unsigned v = 0; v < rack->n; v++)
			n += target_of[v] == t;
		uint64_t got = ts->multicast_bytes + ts->unicast_bytes + ts->control_bytes;
		printf("%-16s %4u %14.1f %12.1f %12.1f %12.1f %9.1f%%\n", tg[t].name, n, mib(ts->multicast_bytes),
		       mib(ts->unicast_bytes), mib(ts->control_bytes), mib(ts->image_bytes),
		       ts->image_bytes ? 100.0 * (double)got / (double)ts->image_bytes : 0.0);
	}
	printf("\nthe source sent %.1f MiB (multicast %.1f once, unicast %.1f, control %.1f): %.1f%% of sending\n"
	       "every image whole (%.1f MiB)\n", mib(sent), mib(tot->multicast_bytes), mib(tot->unicast_bytes),
	       mib(tot->control_bytes), 100.0 * (double)sent / (double)tot->image_bytes, mib(tot->image_bytes));
	printf("time: %.1f s connections and page maps, %.1f s multicast, %.1f s unicast and verification\n",
	       tot->seconds_prepare, tot->seconds_multicast, tot->seconds_unicast);
	if (tot->multicast_rejected)
		printf("%llu multicast messages that failed authentication (another host's?) were dropped by "
		       "the receivers\n", (unsigned long long)tot->multicast_rejected);
	if (tot->contents_compressed)
		printf("%llu of %llu page contents went compressed\n",
		       (unsigned long long)tot->contents_compressed,
		       (unsigned long long)(tot->contents_multicast + tot->contents_unicast + tot->contents_resent));
	if (tot->contents_resent)
		printf("%llu pages lost in multicast were re-sent by unicast\n",
		       (unsigned long long)tot->contents_resent);
}

/* ---- live ----------------------------------------------------------------------- */

static volatile int live_stop;

static void on_sigint(int sig)
{
	(void)sig;
	live_stop = 1;
}

/* prep: seconds spent indexing and planning; seconds: seeding and migrating */
static void print_live(const struct cli_rack *rack, const struct sc_target *tg, unsigned nt,
		       const unsigned *target_of, const sc_session *sess, double prep, int json)
{
	const struct sc_send_stats *seed = sc_session_send_total(sess);
	double seconds = sc_session_seconds(sess);
	uint64_t mem = seed->image_bytes, stream = 0, qemu = 0;
	for (unsigned v = 0; v < rack->n; v++) {
		stream += sc_session_vm_stats(sess, v)->wire_bytes;
		qemu += sc_session_vm_stats(sess, v)->stream_bytes;
	}
	uint64_t seeded = seed->multicast_bytes + seed->unicast_bytes + seed->control_bytes;
	for (unsigned v = 0; v < rack->n; v++)
		if (sc_session_vm_stats(sess, v)->unverified)
			fprintf(stderr, "vmscatter: warning: %s: its source QEMU died during --verify; its target held the "
				"only copy of the guest, which resumed there unverified\n", rack->srcs[v].name);
	if (json) {
		json_t *root = json_object(), *vms = json_array();
		for (unsigned v = 0; v < rack->n; v++) {
			const struct sc_live_stats *s = sc_session_vm_stats(sess, v);
			json_array_append_new(vms, json_pack(
				"{s:s, s:s, s:I, s:{s:I, s:I, s:I, s:I, s:I}, s:{s:I, s:I, s:I, s:I, s:I}, s:I, s:I, s:I, s:I, s:f, s:b}",
				"name", rack->srcs[v].name, "target", tg[target_of[v]].name,
				"memory_bytes", (json_int_t)(kvm_mem_pages(rack->srcs[v].mem) * KVM_PAGE_SIZE),
				"pages", "zero", (json_int_t)s->zero_pages, "referenced", (json_int_t)s->ref_pages,
				"unicast", (json_int_t)s->whole_pages, "dirty", (json_int_t)s->dirty_pages,
				"total", (json_int_t)(s->zero_pages + s->ref_pages + s->whole_pages + s->dirty_pages),
				"bytes", "zero", (json_int_t)s->zero_bytes, "referenced", (json_int_t)s->ref_bytes,
				"unicast", (json_int_t)s->whole_bytes, "dirty", (json_int_t)s->dirty_bytes,
				"other", (json_int_t)s->other_bytes,
				"stream_bytes", (json_int_t)s->stream_bytes, "sent_bytes", (json_int_t)s->wire_bytes,
				"downtime_ms", (json_int_t)s->downtime_ms, "qemu_ms", (json_int_t)s->qemu_ms,
				"seconds", s->seconds, "verified", s->verified));
			json_object_set_new(json_array_get(vms, v), "repaired_pages", json_integer((json_int_t)s->repaired_pages));
			json_object_set_new(json_array_get(vms, v), "fetched_pages", json_integer((json_int_t)s->fetched_pages));
			json_object_set_new(json_array_get(vms, v), "paused_ms", json_integer((json_int_t)s->paused_ms));
			json_object_set_new(json_array_get(vms, v), "committed", json_boolean(s->committed));
			json_object_set_new(json_array_get(vms, v), "unverified", json_boolean(s->unverified));
			json_object_set_new(json_array_get(vms, v), "seed_pages", json_integer((json_int_t)s->seed_pages));
			json_object_set_new(json_array_get(vms, v), "compressed_pages", json_integer((json_int_t)s->compressed_pages));
			if (s->libvirt[0])           /* libvirt racks: what libvirt reported */
				json_object_set_new(json_array_get(vms, v), "libvirt", json_string(s->libvirt));
		}
		json_object_set_new(root, "vms", vms);
		json_object_set_new(root, "total", json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f, s:{s:f, s:f, s:f}}",
			"memory_bytes", (json_int_t)mem, "seed_multicast_bytes", (json_int_t)seed->multicast_bytes,
			"seed_contents_compressed", (json_int_t)seed->contents_compressed,
			"seed_multicast_rejected", (json_int_t)seed->multicast_rejected,
			"seed_unicast_bytes", (json_int_t)(seed->unicast_bytes + seed->control_bytes),
			"stream_bytes", (json_int_t)stream, "qemu_stream_bytes", (json_int_t)qemu,
			"sent_bytes", (json_int_t)(seeded + stream),
			"ratio_to_memory", (double)(seeded + stream) / (double)mem, "seconds", prep + seconds,
			"phases", "index_and_plan", prep, "seed", seed->seconds, "migrate_and_commit",
			seconds - seed->seconds));
		(void)nt;
		json_dumpf(root, stdout, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(root);
		return;
	}
	unsigned moved = sc_session_moved(sess);
	printf("migrated %u of %u running VMs (%.1f MiB of memory) to %u targets in %.1f s; each moved guest resumed\n"
	       "on its target as soon as it had loaded there\n\n", moved,
	       rack->n, mib(mem), nt, prep + seconds);
	printf("%-12s %-10s %9s %8s %8s %8s %8s %10s %10s %9s %9s %7s\n", "VM", "target", "seeded", "zero",
	       "refs", "unicast", "dirty", "QEMU MiB", "sent MiB", "downtime", "paused", "verify");
	for (unsigned v = 0; v < rack->n; v++) {
		const struct sc_live_stats *s = sc_session_vm_stats(sess, v);
		printf("%-12s %-10s %9llu %8llu %8llu %8llu %8llu %10.1f %10.1f %7lldms %7lldms %7s\n", rack->srcs[v].name,
		       s->committed ? tg[target_of[v]].name : "(source)", (unsigned long long)s->seed_pages, (unsigned long long)s->zero_pages,
		       (unsigned long long)s->ref_pages,
		       (unsigned long long)s->whole_pages, (unsigned long long)s->dirty_pages, mib(s->stream_bytes),
		       mib(s->wire_bytes), (long long)s->downtime_ms, (long long)s->paused_ms,
		       s->verified ? "ok" : s->unverified ? "SKIPPED" : "-");
	}
	printf("\n(seeded: contents seeded on its target, multicast or repeated there, first found in\n"
	       "this VM; then the pages of QEMU's stream: zero records, references to seeds, sent whole\n"
	       "the first time, sent again after the guest dirtied them; downtime is QEMU's, paused is\n"
	       "the guest's whole pause: downtime, verification, the commit and, with --atomic, the\n"
	       "wait for every VM to load)\n");
	uint64_t repaired = 0, fetched = 0, compressed = 0, whole = 0;
	for (unsigned v = 0; v < rack->n; v++) {
		const struct sc_live_stats *s = sc_session_vm_stats(sess, v);
		repaired += s->repaired_pages;
		fetched += s->fetched_pages;
		compressed += s->compressed_pages;
		whole += s->whole_pages + s->dirty_pages;
	}
	if (compressed)
		printf("%llu of the %llu pages sent whole or again went compressed\n",
		       (unsigned long long)compressed, (unsigned long long)whole);
	if (fetched)
		printf("%llu references did not match the target's seed; the receivers asked for those pages whole\n",
		       (unsigned long long)fetched);
	if (seed->multicast_rejected)
		printf("%llu multicast messages that failed authentication (another host's?) were dropped by "
		       "the receivers\n", (unsigned long long)seed->multicast_rejected);
	if (repaired)
		printf("--verify found %llu pages that QEMU's migration missed (the guest wrote them, QEMU did not\n"
		       "send them again); they were repaired from the paused sources before the guests resumed\n",
		       (unsigned long long)repaired);
	printf("the source sent %.1f MiB: seeds %.1f (multicast %.1f once, control %.1f) + streams %.1f\n"
	       "= %.1f%% of the VMs' memory (%.1f MiB); QEMU's own streams were %.1f MiB\n",
	       mib(seeded + stream), mib(seeded), mib(seed->multicast_bytes),
	       mib(seed->unicast_bytes + seed->control_bytes), mib(stream),
	       100.0 * (double)(seeded + stream) / (double)mem, mib(mem), mib(qemu));
	printf("time: %.1f s index and plan, %.1f s seeds, %.1f s migration and commit\n", prep, seed->seconds,
	       seconds - seed->seconds);
}

/* Seed, migrate and commit with Ctrl-C (and SIGTERM) rolling back (the
 * streams begin while the seeds go out), then print the report of
 * whatever moved. */
static int live_migrate(sc_session *sess, const struct cli_rack *rack, const struct sc_target *tg, unsigned nt,
			const unsigned *target_of, double prep, int json, vms_err *err)
{
	struct sigaction sa = { .sa_handler = on_sigint }, old_int, old_term;
	live_stop = 0;
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	int r = sc_session_seed(sess, err);
	if (r == 0)
		r = sc_session_migrate(sess, err);
	if (r == 0)
		r = sc_session_commit(sess, err);
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGTERM, &old_term, NULL);
	if (sc_session_moved(sess))
		print_live(rack, tg, nt, target_of, sess, prep, json);
	return r;
}

/* ---- what the session reports, on stderr ---------------------------------------- */

static void on_log(void *arg, const char *line)
{
	(void)arg;
	fprintf(stderr, "vmscatter send: %s\n", line);
}

static void on_progress(void *arg, const struct sc_progress *p)
{
	(void)arg;
	switch (p->kind) {
	case SC_PROGRESS_MULTICAST:
		fprintf(stderr, "\r\033[Kmulticast group %zu/%zu: %zu/%zu pages, %.1f MB/s, ETA %.0f s",
			p->group + 1, p->groups, p->done, p->total, p->mb_per_s, p->eta_s);
		break;
	case SC_PROGRESS_UNICAST:
	case SC_PROGRESS_RESEND:
		fprintf(stderr, "\r\033[K%s to %s: %zu/%zu pages, %.1f MB/s, ETA %.0f s",
			p->kind == SC_PROGRESS_RESEND ? "re-sending" : "unicast", p->target, p->done, p->total,
			p->mb_per_s, p->eta_s);
		break;
	case SC_PROGRESS_END:
		fprintf(stderr, "\r\033[K");
		break;
	}
}

/* Does the record name this source: its QMP socket (the same path, or the
 * same socket file), or its QEMU process (pid and start time)? */
static int same_source(const struct sc_journal_rec *rec, const char *qmp, long pid)
{
	struct stat a, b;
	uint64_t t;
	if (strcmp(rec->qmp, qmp) == 0 || (stat(rec->qmp, &a) == 0 && stat(qmp, &b) == 0 &&
					   a.st_dev == b.st_dev && a.st_ino == b.st_ino))
		return 1;
	return pid == rec->qemu_pid && kvm_proc_start_time(pid, &t) == 0 && t == rec->qemu_start;
}

/* `send --live` does not touch a source that a dead sender left unsettled:
 * a record in the journal `dir` that nobody holds (its sender and guard are
 * gone) and that names one of the rack's sources. 0, or -EBUSY with err set. */
static int journal_check(const char *dir, const struct cli_rack *rack, vms_err *err)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;
	if (dfd < 0)
		return errno == ENOENT ? 0 : vms_err_set(err, -errno, "source journal %s: %s", dir, strerror(errno));
	int d2 = dup(dfd);
	DIR *d = d2 >= 0 ? fdopendir(d2) : NULL;
	if (!d) {
		r = vms_err_set(err, -errno, "source journal %s: %s", dir, strerror(errno));
		if (d2 >= 0)
			close(d2);
		close(dfd);
		return r;
	}
	struct dirent *e;
	while (r == 0 && (e = readdir(d))) {
		struct sc_journal_rec rec;
		int lock;
		/* (held: its sender or guard still settles it; not a record: not ours to judge) */
		if (!sc_journal_is_record(e->d_name) || sc_journal_open(dfd, e->d_name, &rec, &lock, NULL) < 0)
			continue;
		close(lock);
		for (unsigned i = 0; i < rack->n && r == 0; i++)
			if (same_source(&rec, rack->srcs[i].path, (long)kvm_mem_pid(rack->srcs[i].mem)))
				r = vms_err_set(err, -EBUSY, "%s: the source journal holds an unsettled live migration of "
						"%s (QEMU process %ld, record %s) that no sender or guard settles any "
						"more: run `vmscatter recover --state-dir %s` first", rack->srcs[i].path,
						rec.qmp, rec.qemu_pid, e->d_name, dir);
	}
	closedir(d);
	close(dfd);
	return r;
}

int cli_send(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "target", required_argument, NULL, 't' }, { "plan", required_argument, NULL, 'p' },
		{ "strategy", required_argument, NULL, 's' }, { "rate", required_argument, NULL, 'r' },
		{ "mcast-if", required_argument, NULL, 'i' }, { "mcast-port", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' }, { "json", no_argument, NULL, 'j' },
		{ "threads", required_argument, NULL, 'n' }, { "quiet", no_argument, NULL, 'q' },
		{ "live", no_argument, NULL, 'L' }, { "verify", no_argument, NULL, 'V' },
		{ "no-verify", no_argument, NULL, 'v' },
		{ "parallel", required_argument, NULL, 'N' }, { "keep-source", no_argument, NULL, 'K' },
		{ "atomic", no_argument, NULL, 'a' }, { "overlap", no_argument, NULL, 'O' },
		{ "max-bandwidth", required_argument, NULL, 'B' }, { "no-repair", no_argument, NULL, 'R' },
		{ "no-compress", no_argument, NULL, 'Z' }, { "compress", required_argument, NULL, 'z' },
		{ "tls-creds", required_argument, NULL, 'C' }, { "tls-hostname", required_argument, NULL, 'H' },
		{ "insecure", no_argument, NULL, 'I' }, { "state-dir", required_argument, NULL, 'S' },
		{ "libvirt", required_argument, NULL, 0x300 }, { "persistent", no_argument, NULL, 0x301 },
		{ "undefinesource", no_argument, NULL, 0x302 }, { "bandwidth", required_argument, NULL, 0x303 },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	struct cli_lv lvr = { 0 };              /* --libvirt (cli_libvirt.c) */
	const char *lv_uri = NULL;
	struct sc_target tg[VMSPLAN_MAX_TARGETS];
	const char *creds = NULL;
	int insecure = 0;
	vms_tls *tls = NULL;
	struct sc_live_opts lo = { .max_bandwidth = 10000000000ull, .repair = 1, .compress = SC_COMPRESS_DEFAULT };
	int live = 0, verify_set = 0;
	unsigned nt = 0, threads = cli_default_threads(), slots[VMSPLAN_MAX_TARGETS];
	const char *plan_file = NULL;
	struct vmsplan_options po;
	struct sc_send_opts so = { .rate = 0, .mcast_port = 7500, .timeout_ms = 60000,
				   .compress = SC_COMPRESS_DEFAULT };
	int json = 0, quiet = 0, ch, status = 1, have_strategy = 0;
	uint64_t v;
	vms_err err = { 0 };
	vmsplan_options_init(&po);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 't': {
			const char *eq = strchr(optarg, '='), *rest;
			if (nt == VMSPLAN_MAX_TARGETS)
				return cli_usage_error("send", "more than %u targets", VMSPLAN_MAX_TARGETS);
			char *lvd = strstr(optarg, ",libvirt=");   /* ...,libvirt=DESTURI (--libvirt) */
			if (lvd) {
				*lvd = '\0';
				lvr.desturi[nt] = lvd + strlen(",libvirt=");
			}
			memset(&tg[nt], 0, sizeof(tg[nt]));
			if (!eq || vms_strlcpy_n(tg[nt].name, sizeof(tg[nt].name), optarg, (size_t)(eq - optarg)) < 0 ||
			    !tg[nt].name[0] || cli_parse_hostport(eq + 1, &tg[nt].ip, &tg[nt].port, &rest) < 0 ||
			    vms_strlcpy_n(tg[nt].host, sizeof(tg[nt].host), eq + 1, strcspn(eq + 1, ":")) < 0)
				return cli_usage_error("send", "--target %s: expected NAME=HOST:PORT[:SLOTS]", optarg);
			slots[nt] = VMSPLAN_MAX_VMS;
			if (rest && (vms_parse_u64(rest, strlen(rest), 10, &v) < 0 || v == 0 || v > VMSPLAN_MAX_VMS))
				return cli_usage_error("send", "--target %s: SLOTS must be 1..%u", optarg, VMSPLAN_MAX_VMS);
			if (rest)
				slots[nt] = (unsigned)v;
			nt++;
			break;
		}
		case 'p': plan_file = optarg; break;
		case 's':
			if (vmsplan_strategy_parse(optarg, &po.strategy) < 0)
				return cli_usage_error("send", "unknown strategy '%s'", optarg);
			have_strategy = 1;
			break;
		case 'r':
			if (parse_rate(optarg, &v) < 0 || v < 8000)
				return cli_usage_error("send", "--rate must be bits/s such as 800M, not '%s'", optarg);
			so.rate = v / 8;
			break;
		case 'i':
			if (parse_ip(optarg, &so.mcast_if) < 0)
				return cli_usage_error("send", "--mcast-if needs an IPv4 address, not '%s'", optarg);
			break;
		case 'P':
			if (vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v < 1024 || v > 64000)
				return cli_usage_error("send", "--mcast-port must be 1024..64000");
			so.mcast_port = (uint16_t)v;
			break;
		case 'T':
			if (cli_parse_seconds(optarg, 3600, &so.timeout_ms) < 0)
				return cli_usage_error("send", "--timeout must be 1..3600 seconds");
			break;
		case 'j': json = 1; break;
		case 'n':
			if (cli_parse_threads(optarg, &threads, &err) < 0)
				return cli_usage_error("send", "%s", err.msg);
			break;
		case 'q': quiet = 1; break;
		case 'Z': so.compress = lo.compress = VMS_COMPRESS_NONE; break;
		case 'z':
			if (vms_compress_parse(optarg, &so.compress) < 0)
				return cli_usage_error("send", "--compress must be auto, zstd, lz4, lzo or none");
			lo.compress = so.compress;
			break;
		case 'L': live = 1; break;
		case 'V':
		case 'v':
			if (verify_set && lo.verify != (ch == 'V' ? SC_VERIFY_ALWAYS : SC_VERIFY_NEVER))
				return cli_usage_error("send", "give --verify or --no-verify, not both");
			lo.verify = ch == 'V' ? SC_VERIFY_ALWAYS : SC_VERIFY_NEVER;
			verify_set = 1;
			break;
		case 'R': lo.repair = 0; break;
		case 'K': lo.keep_source = 1; break;
		case 'S': lo.journal_dir = optarg; break;
		case 'a': lo.atomic = 1; break;
		case 'O': lo.overlap = 1; break;
		case 'N':
			if (vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v < 1 || v > 4096)
				return cli_usage_error("send", "--parallel must be 1..4096");
			lo.parallel = (unsigned)v;
			break;
		case 'B':
			if (parse_rate(optarg, &v) < 0)
				return cli_usage_error("send", "--max-bandwidth must be bytes/s such as 1G, not '%s'", optarg);
			lo.max_bandwidth = v;
			break;
		case 'C': creds = optarg; break;
		case 'H':
			if (!*optarg || strlen(optarg) > 253)
				return cli_usage_error("send", "--tls-hostname needs a host name");
			so.tls_hostname = lo.tls_hostname = optarg;
			break;
		case 'I': insecure = 1; break;
		case 0x300: lv_uri = optarg; break;
		case 0x301: lvr.opts.persistent = 1; break;
		case 0x302: lvr.opts.undefine_source = 1; break;
		case 0x303:
			if (vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v == 0 || v > (1u << 20))
				return cli_usage_error("send", "--bandwidth must be MiB/s, 1..1048576");
			lvr.opts.bandwidth_mib = v;
			break;
		case 'h': fputs(send_usage, stdout); return 0;
		default: return cli_usage_error("send", "unknown option");
		}
	}
	if (lv_uri && (!live || lo.keep_source))
		return cli_usage_error("send", "--libvirt needs --live, and libvirt ends the sources: no --keep-source");
	if (!lv_uri && (lvr.opts.persistent || lvr.opts.undefine_source || lvr.opts.bandwidth_mib))
		return cli_usage_error("send", "--persistent, --undefinesource and --bandwidth need --libvirt");
	if (nt == 0)
		return cli_usage_error("send", "no --target given");
	if (optind >= argc)
		return cli_usage_error("send", "no memory source given");
	if (plan_file && have_strategy)
		return cli_usage_error("send", "give --plan or --strategy, not both");
	if (!live && (verify_set || lo.parallel || lo.keep_source || lo.atomic || lo.overlap || lo.journal_dir))
		return cli_usage_error("send", "--verify, --no-verify, --parallel, --keep-source, --atomic, --overlap and --state-dir need --live");
	if (lo.atomic && lo.overlap)
		return cli_usage_error("send", "--overlap and --atomic contradict each other (every guest would wait, paused, for the seeding)");
	if (live && !lo.journal_dir)
		lo.journal_dir = SC_SEND_STATE_DIR;
	if (!lo.repair && lo.verify == SC_VERIFY_NEVER)
		return cli_usage_error("send", "--no-repair and --no-verify contradict each other");
	if (!creds && !insecure)
		return cli_usage_error("send", "%s", no_creds);
	if (creds && insecure)
		return cli_usage_error("send", "give --tls-creds or --insecure, not both");
	if (insecure && so.tls_hostname)
		return cli_usage_error("send", "--tls-hostname needs --tls-creds");
	if (insecure)
		warn_insecure("send");
	else if (vms_tls_new(creds, VMS_TLS_CLIENT, &tls, &err) < 0)
		return cli_fail("send", &err);
	so.tls = lo.tls = tls;
	lo.tls_dir = creds;
	char self[4096];                      /* the source guards run this binary */
	ssize_t sl = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (sl > 0) {
		self[sl] = '\0';
		lo.guard_exe = self;
	}
	lo.stop = &live_stop;
	lo.stall_ms = so.timeout_ms;
	const struct sc_session_cbs cbs = { .log = quiet ? NULL : on_log,
					    .progress = !quiet && isatty(2) ? on_progress : NULL };

	struct cli_rack rack = { 0 };
	vmsplan_problem *p = NULL;
	vmsplan_plan *plan = NULL;
	vmsplan_error perr = { 0 };
	unsigned *target_of = NULL;
	uint64_t *groups = NULL;
	kvm_mem **mems = NULL;
	const char **qmp = NULL;
	sc_session *sess = NULL;
	double t_start = vms_now();
	int r = lv_uri ? cli_lv_load(&lvr, lv_uri, argv + optind, (unsigned)(argc - optind), threads, quiet, &rack, &err)
		       : cli_rack_load(&rack, argv + optind, (unsigned)(argc - optind), threads, quiet, !live, &err);
	if (r == 0 && lv_uri) {            /* libvirt is the sources' guard: no vmscatter guard */
		lo.libvirt = &lvr.opts;
		lo.guard_exe = NULL;
		r = cli_lv_check_targets(&lvr, tg, nt, &err);
	}
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < rack.n && live; i++)
		if (strcmp(kvm_mem_kind(rack.srcs[i].mem), "qemu") != 0) {
			r = vms_err_set(&err, -EINVAL, "--live: %s is not a running QEMU's QMP socket", rack.srcs[i].path);
			goto out;
		}
	if (live && !lv_uri && (r = journal_check(lo.journal_dir, &rack, &err)) < 0)
		goto out;
	r = vmsplan_problem_new(&p, &perr);
	if (r == 0)
		r = cli_add_rack(p, &rack, &err);
	for (unsigned t = 0; t < nt && r >= 0; t++)
		r = vmsplan_add_target(p, tg[t].name, slots[t], 0, &perr);
	target_of = calloc(rack.n, sizeof(*target_of));
	mems = calloc(rack.n, sizeof(*mems));
	qmp = calloc(rack.n, sizeof(*qmp));
	if (r >= 0 && (!target_of || !mems || !qmp))
		r = vms_err_set(&err, -ENOMEM, "out of memory");
	if (r >= 0 && plan_file) {
		r = load_plan(plan_file, p, target_of, &err);
		if (r == 0)
			r = vmsplan_evaluate(p, target_of, &plan, &perr);
	} else if (r >= 0) {
		r = vmsplan_solve(p, &po, &plan, &perr);
	}
	if (r < 0) {
		if (perr.msg[0] && !err.msg[0])
			vms_err_set(&err, r, "%s", perr.msg);
		goto out;
	}
	size_t ng = vmsplan_plan_groups(plan);
	groups = calloc(ng ? ng : 1, sizeof(*groups));
	if (!groups) {
		r = vms_err_set(&err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < rack.n; i++) {
		target_of[i] = vmsplan_plan_target(plan, i);
		mems[i] = rack.srcs[i].mem;
		qmp[i] = rack.srcs[i].path;
	}
	for (size_t g = 0; g < ng; g++)
		groups[g] = vmsplan_plan_group_targets(plan, g);
	if (!quiet)
		fprintf(stderr, "vmscatter send: %u VMs to %u targets, %zu multicast groups\n", rack.n, nt, ng);
	if (live && (r = cli_mkdirs(lo.journal_dir, &err)) < 0)   /* (the source journal) */
		goto out;
	double prep = vms_now() - t_start;
	struct sc_session_opts sopts = { .ix = rack.ix, .mems = mems, .qmp = live ? qmp : NULL, .targets = tg,
					 .ntargets = nt, .target_of = target_of, .groups = groups, .ngroups = ng,
					 .send = so, .live = lo };
	r = sc_session_open(&sopts, &cbs, NULL, &sess, &err);
	if (r == 0 && live) {
		r = live_migrate(sess, &rack, tg, nt, target_of, prep, json, &err);
		if (lv_uri && !json)
			cli_lv_report(&lvr, &rack, sess, tg, target_of);
		status = r == 0 && fflush(stdout) == 0 ? 0 : 1;
	} else if (r == 0 && (r = sc_session_seed(sess, &err)) == 0) {
		print_summary(&rack, tg, nt, target_of, sess, json);
		status = fflush(stdout) == 0 ? 0 : 1;
	}
out:
	sc_session_close(sess);
	if (r < 0)
		cli_fail("send", &err);
	free(groups);
	free(qmp);
	free(mems);
	free(target_of);
	vmsplan_plan_free(plan);
	vmsplan_problem_free(p);
	cli_rack_free(&rack);
	cli_lv_free(&lvr);
	vms_tls_free(tls);
	return status;
}

/* The receiver's log lines, as `vmscatter receive[NAME]: ...` (ctx: NAME). */
static void receive_log(void *ctx, const char *line)
{
	fprintf(stderr, "vmscatter receive[%s]: %s\n", (const char *)ctx, line);
}

int cli_receive(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "out", required_argument, NULL, 'o' },
		{ "state-dir", required_argument, NULL, 's' }, { "name", required_argument, NULL, 'n' },
		{ "once", no_argument, NULL, '1' }, { "idle-timeout", required_argument, NULL, 'i' },
		{ "quiet", no_argument, NULL, 'q' }, { "help", no_argument, NULL, 'h' },
		{ "qemu", required_argument, NULL, 'Q' }, { "shared-path", required_argument, NULL, 0x210 },
		{ "run-as", required_argument, NULL, 0x211 },
		{ "tls-creds", required_argument, NULL, 'C' }, { "tls-allow", required_argument, NULL, 'A' },
		{ "insecure", no_argument, NULL, 'I' },
		{ "max-memory", required_argument, NULL, 0x201 }, { "max-session-memory", required_argument, NULL, 0x202 },
		{ "max-vms", required_argument, NULL, 0x203 }, { "force", no_argument, NULL, 0x204 },
		{ NULL, 0, NULL, 0 },
	};
	struct rc_options o = { .idle_ms = 120000, .max_vm_bytes = RC_MAX_VM_BYTES_DEFAULT,
				.max_session_bytes = RC_MAX_SESSION_BYTES_DEFAULT, .max_vms = RC_MAX_VMS_DEFAULT };
	const char *creds = NULL, *allow[64], *shared[KVM_SHARED_MAX];
	unsigned nallow = 0;
	int insecure = 0, status;
	vms_tls *tls = NULL;
	char host[VMS_WIRE_NAME_MAX] = "receiver";
	const char *rest;
	uint64_t v;
	int ch, have_listen = 0;
	vms_err err = { 0 };
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (cli_parse_hostport(optarg, &o.listen_ip, &o.port, &rest) < 0 || rest)
				return cli_usage_error("receive", "--listen %s: expected ADDR:PORT", optarg);
			have_listen = 1;
			break;
		case 'o': o.out_dir = optarg; break;
		case 's': o.state_dir = optarg; break;
		case 'Q': o.qemu_bin = optarg; break;
		case 0x210:
			if (o.nshared == KVM_SHARED_MAX || !*optarg)
				return cli_usage_error("receive", "--shared-path: at most %u non-empty prefixes", KVM_SHARED_MAX);
			shared[o.nshared++] = optarg;
			o.shared_paths = shared;
			break;
		case 0x211: o.run_as = optarg; break;
		case 'n':
			if (vms_strlcpy_n(host, sizeof(host), optarg, strlen(optarg)) < 0)
				return cli_usage_error("receive", "--name: at most %u characters", VMS_WIRE_NAME_MAX - 1);
			break;
		case '1': o.once = 1; break;
		case 'i':
			if (cli_parse_seconds(optarg, 86400, &o.idle_ms) < 0)
				return cli_usage_error("receive", "--idle-timeout must be 1..86400 seconds");
			break;
		case 'q': o.quiet = 1; break;
		case 'C': creds = optarg; break;
		case 'A':
			if (nallow == 64 || !*optarg)
				return cli_usage_error("receive", "--tls-allow: at most 64 non-empty patterns");
			allow[nallow++] = optarg;
			break;
		case 'I': insecure = 1; break;
		case 0x201:
		case 0x202:
			if (vms_parse_size(optarg, &v) < 0 || v < VMS_WIRE_PAGE)
				return cli_usage_error("receive", "--%s: expected a size of at least 4K (like 64G), not '%s'",
						       ch == 0x201 ? "max-memory" : "max-session-memory", optarg);
			*(ch == 0x201 ? &o.max_vm_bytes : &o.max_session_bytes) = v;
			break;
		case 0x203:
			if (vms_parse_u64(optarg, strlen(optarg), 10, &v) < 0 || v < 1 || v > VMS_WIRE_VMS_MAX)
				return cli_usage_error("receive", "--max-vms must be 1..%u", VMS_WIRE_VMS_MAX);
			o.max_vms = (unsigned)v;
			break;
		case 0x204: o.force = 1; break;
		case 'h': fputs(receive_usage, stdout); return 0;
		default: return cli_usage_error("receive", "unknown option");
		}
	}
	if (!o.out_dir)
		o.out_dir = o.state_dir;
	if (!have_listen || !o.out_dir)
		return cli_usage_error("receive", "--listen and --out (or --state-dir) are required");
	if (optind != argc)
		return cli_usage_error("receive", "unexpected argument '%s'", argv[optind]);
	if (strcmp(host, "receiver") == 0) {
		char hn[256];
		if (gethostname(hn, sizeof(hn)) == 0)
			snprintf(host, sizeof(host), "%.63s", hn);
	}
	o.name = host;
	o.log = receive_log;
	o.log_ctx = host;
	if (!creds && !insecure)
		return cli_usage_error("receive", "%s", no_creds);
	if (creds && insecure)
		return cli_usage_error("receive", "give --tls-creds or --insecure, not both");
	if (insecure && nallow)
		return cli_usage_error("receive", "--tls-allow needs --tls-creds");
	if (insecure)
		warn_insecure("receive");
	else if (vms_tls_new(creds, VMS_TLS_SERVER, &tls, &err) < 0)
		return cli_fail("receive", &err);
	for (unsigned i = 0; i < nallow; i++)
		if (vms_tls_allow(tls, allow[i], &err) < 0) {
			vms_tls_free(tls);
			return cli_fail("receive", &err);
		}
	o.tls = tls;
	signal(SIGPIPE, SIG_IGN);
	status = rc_serve(&o, &err) < 0 ? cli_fail("receive", &err) : 0;
	vms_tls_free(tls);
	return status;
}
