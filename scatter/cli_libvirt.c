/* cli_libvirt.c - `vmscatter send --live --libvirt URI`: the domains of a
 * libvirt rack as the sources, the targets' libvirts, and libvirt's word
 * in the report (README "libvirt", doc/PROTOCOL.md "libvirt streams"). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_int.h"

int cli_lv_load(struct cli_lv *lv, const char *uri, char **names, unsigned n, unsigned threads, int quiet,
		struct cli_rack *rack, vms_err *err)
{
	int r;
	memset(rack, 0, sizeof(*rack));
	if (n == 0)
		return vms_err_set(err, -EINVAL, "no domain given");
	if (n > SC_MAX_VMS)
		return vms_err_set(err, -E2BIG, "too many domains (max %u)", SC_MAX_VMS);
	if ((r = kvm_lv_open(uri, &lv->src, err)) < 0)
		return r;
	rack->srcs = calloc(n, sizeof(*rack->srcs));
	lv->doms = calloc(n, sizeof(*lv->doms));
	if (!rack->srcs || !lv->doms)
		return vms_err_set(err, -ENOMEM, "out of memory");
	rack->n = lv->n = n;
	for (unsigned i = 0; i < n; i++) {
		if (vms_strlcpy_n(rack->srcs[i].name, sizeof(rack->srcs[i].name), names[i], strlen(names[i])) < 0 ||
		    !kvm_lv_name_valid(names[i]))
			return vms_err_set(err, -EINVAL, "'%s' is not a domain name vmscatter accepts ([A-Za-z0-9._-], 1..63)",
					   names[i]);
		for (unsigned j = 0; j < i; j++)
			if (strcmp(names[j], names[i]) == 0)
				return vms_err_set(err, -EEXIST, "domain %s is named twice", names[i]);
		rack->srcs[i].path = names[i];
		if ((r = kvm_lv_domain(lv->src, names[i], KVM_LV_RUN_DIR, &lv->doms[i], &rack->srcs[i].mem, err)) < 0)
			return r;
	}
	lv->opts.doms = lv->doms;
	lv->opts.desturi = lv->desturi;
	lv->opts.run_dir = KVM_LV_RUN_DIR;
	return cli_rack_index(rack, threads, quiet, 0, err);
}

int cli_lv_check_targets(const struct cli_lv *lv, const struct sc_target *tg, unsigned nt, vms_err *err)
{
	for (unsigned t = 0; t < nt; t++) {
		kvm_lv *c = NULL;
		if (!lv->desturi[t])
			return vms_err_set(err, -EINVAL, "--target %s: --libvirt needs its libvirt: NAME=HOST:PORT[:SLOTS],libvirt=URI",
					   tg[t].name);
		int r = kvm_lv_open(lv->desturi[t], &c, err);
		kvm_lv_close(c);
		if (r < 0)
			return vms_err_prefix(err, r, "target %s", tg[t].name);
	}
	return 0;
}

void cli_lv_report(const struct cli_lv *lv, const struct cli_rack *rack, const sc_session *sess,
		   const struct sc_target *tg, const unsigned *target_of)
{
	printf("\n%-12s %-10s %-10s %10s %10s %10s %10s  %s\n", "domain", "target", "libvirt", "downtime", "elapsed",
	       "QEMU MiB", "sent MiB", "state (source / target)");
	for (unsigned v = 0; v < rack->n; v++) {
		const struct sc_live_stats *s = sc_session_vm_stats(sess, v);
		char here[32] = "?", there[32] = "-";
		kvm_lv *c = NULL;
		kvm_lv_state(lv->doms[v], here, sizeof(here), NULL);
		if (kvm_lv_open(lv->desturi[target_of[v]], &c, NULL) == 0 &&
		    kvm_lv_remote_state(c, rack->srcs[v].name, there, sizeof(there), NULL) < 0)
			snprintf(there, sizeof(there), "none");
		kvm_lv_close(c);
		printf("%-12s %-10s %-10s %8lldms %8lldms %10.1f %10.1f  %s / %s\n", rack->srcs[v].name,
		       tg[target_of[v]].name, s->libvirt[0] ? s->libvirt : "-", (long long)s->downtime_ms,
		       (long long)s->qemu_ms, (double)s->stream_bytes / 1048576.0, (double)s->wire_bytes / 1048576.0,
		       here, there);
	}
	printf("(libvirt's job: its status, its downtime and elapsed time; QEMU MiB is what the source QEMU\n"
	       "wrote, sent MiB what vmscatter sent for it)\n");
}

void cli_lv_free(struct cli_lv *lv)
{
	for (unsigned i = 0; lv->doms && i < lv->n; i++)
		kvm_lv_dom_free(lv->doms[i]);
	free(lv->doms);
	kvm_lv_close(lv->src);
	memset(lv, 0, sizeof(*lv));
}
