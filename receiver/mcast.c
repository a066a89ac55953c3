/* mcast.c - the receiver's side of the multicast groups (doc/PROTOCOL.md,
 * "Multicast messages"): join one group at a time (opened with its key when
 * the session is sealed), hand each authentic message to the session state
 * machine, leave. */
#include <errno.h>

#include "receiver_int.h"

#define DRAIN_MAX 4096           /* messages handed over in one call */

int rc_mcast_join(struct rc_mcast *m, const struct vms_msg_join *j, int sealed, uint64_t session, vms_err *err)
{
	if (m->mc)
		return vms_err_set(err, -EALREADY, "a multicast group is joined already");
	vms_seal_free(m->seal);
	m->seal = NULL;
	int r = sealed ? vms_seal_new(j->key, session, &m->seal, err) : 0;
	if (r == 0)
		r = vms_mcast_receiver(m->local_ip, j->addr, j->port, &m->mc, err);
	if (r == 0 && m->seal)
		r = vms_mcast_seal(m->mc, m->seal, j->group, err);
	m->group = j->group;
	return r;
}

void rc_mcast_leave(struct rc_mcast *m)
{
	vms_mcast_close(m->mc);
	m->mc = NULL;
}

int rc_mcast_drain(struct rc_mcast *m, struct rc_sm *sm, int64_t *last_msg, int *wait_ms, vms_err *err)
{
	uint8_t buf[VMS_MCAST_MSG_MAX];
	*wait_ms = -1;
	for (int i = 0; m->mc && i < DRAIN_MAX; i++) {
		size_t len;
		int r = vms_mcast_recv(m->mc, buf, sizeof(buf), &len, wait_ms, err);
		if (r < 0)
			return r;
		if (r == 0)
			return 0;
		if (r == 2) {
			if ((r = rc_sm_mcast_lost(sm, err)) < 0)
				return r;
			continue;
		}
		if (r == 3) {                    /* failed authentication: another host's, or forged */
			if ((r = rc_sm_mcast_rejected(sm, err)) < 0)
				return r;
			continue;
		}
		*last_msg = vms_now_ms();        /* authentic: the sender speaks by multicast */
		r = rc_sm_mcast(sm, buf, len, err);
		if (r < 0)
			return r;
	}
	*wait_ms = 0;
	return 0;
}

void rc_mcast_free(struct rc_mcast *m)
{
	vms_mcast_close(m->mc);
	vms_seal_free(m->seal);
	m->mc = NULL;
	m->seal = NULL;
}
