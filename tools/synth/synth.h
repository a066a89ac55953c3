/* synth.h - synthetic racks: memory images with a controlled mix of zero,
 * self-identical (repeated within one VM), inter-identical (drawn from a
 * pool shared by all VMs) and unique pages. Deterministic for a seed. */
#ifndef VMS_SYNTH_H
#define VMS_SYNTH_H

#include <stdint.h>

#include "common/common.h"

struct synth_params {
	unsigned vms;          /* number of VMs */
	uint64_t pages;        /* pages per VM */
	double zero;           /* fraction of zero pages */
	double self;           /* fraction drawn from the VM's private pool */
	double inter;          /* fraction drawn from the rack-wide pool */
	uint32_t pool;         /* contents in the rack-wide pool */
	uint32_t self_pool;    /* contents in each VM's private pool */
	uint64_t seed;
	int identical;         /* every VM a copy of VM 0 */
};

/* Default mix: 30% zero, 5% self, 40% inter, rest unique. */
void synth_defaults(struct synth_params *p);

/* Fill `out` (4096 bytes) with page `page` of VM `vm`. */
void synth_page(const struct synth_params *p, unsigned vm, uint64_t page, uint8_t *out);

/* Check the parameters (fractions in [0,1] adding up to at most 1, ...). */
int synth_check(const struct synth_params *p, vms_err *err);

/* Write DIR/vm1.img ... DIR/vmN.img (each written to a temporary name and
 * renamed when complete). */
int synth_write_rack(const struct synth_params *p, const char *dir, vms_err *err);

#endif
