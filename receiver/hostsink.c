/* hostsink.c - the sink of a real session (rc_sink_ops): images in the out
 * directory (image.c), replies on the sender's control connection, the
 * multicast groups (mcast.c), the outcome journal of the state directory. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "receiver_int.h"

static int host_space(void *priv, uint64_t *bytes, vms_err *err)
{
	struct rc_host *h = priv;
	int r = rc_dir_free(h->out_fd, bytes);
	return r < 0 ? vms_err_set(err, r, "%s: statvfs: %s", h->o->out_dir, strerror(-r)) : 0;
}

static int host_vm_open(void *priv, uint32_t vm, const char *name, uint64_t pages, int seed, vms_err *err)
{
	struct rc_host *h = priv;
	if (vm != h->img.n)
		return vms_err_set(err, -EFAULT, "VM %u opened out of order", vm);
	return rc_image_open(&h->img, name, pages, seed, err);
}

static int host_write_page(void *priv, uint32_t vm, uint64_t page, const uint8_t *data, vms_err *err)
{
	struct rc_host *h = priv;
	return rc_image_write(&h->img, vm, page, data, err);
}

static int host_finish_image(void *priv, uint32_t vm, const uint8_t sha256[32], vms_err *err)
{
	struct rc_host *h = priv;
	return rc_image_verify(&h->img, vm, sha256, err);
}

static int host_publish_image(void *priv, uint32_t vm, vms_err *err)
{
	struct rc_host *h = priv;
	return rc_image_publish(&h->img, vm, err);
}

static int host_send(void *priv, const void *p, size_t n, vms_err *err)
{
	struct rc_host *h = priv;
	int r = vms_conn_write_all(h->conn, p, n);
	return r < 0 ? vms_err_set(err, r, "sending to the sender: %s", strerror(-r)) : 0;
}

static int host_join(void *priv, const struct vms_msg_join *j, int sealed, uint64_t session, vms_err *err)
{
	struct rc_host *h = priv;
	return rc_mcast_join(&h->mc, j, sealed, session, err);
}

static void host_leave(void *priv)
{
	struct rc_host *h = priv;
	/* (tests read PGM's own repair count from this line) */
	rc_log(h->o, "group %u: %llu PGM repairs (RDATA) received", h->mc.group,
	       (unsigned long long)vms_mcast_repaired(h->mc.mc));
	rc_mcast_leave(&h->mc);
}

static enum vms_outcome host_outcome(void *priv, uint64_t session, uint32_t vm)
{
	struct rc_host *h = priv;
	return rc_outcome(h->state_fd, h->o->state_dir ? h->o->state_dir : h->o->out_dir, session, vm);
}

const struct rc_sink_ops rc_host_ops = {
	.space = host_space, .vm_open = host_vm_open, .write_page = host_write_page,
	.finish_image = host_finish_image, .publish_image = host_publish_image, .send = host_send,
	.join = host_join, .leave = host_leave, .outcome = host_outcome,
};

int rc_host_open(struct rc_host *h, const struct rc_options *o, vms_conn *conn, uint32_t local_ip, vms_err *err)
{
	*h = (struct rc_host){ .o = o, .conn = conn, .out_fd = -1, .state_fd = -1,
			       .img = { .o = o, .dirfd = -1 }, .mc = { .local_ip = local_ip } };
	/* every file of the session is made relative to these */
	int r = rc_dir_open(o->out_dir, &h->out_fd, err);
	if (r == 0 && o->state_dir && strcmp(o->state_dir, o->out_dir) != 0)
		r = rc_dir_open(o->state_dir, &h->state_fd, err);
	else
		h->state_fd = h->out_fd;
	h->img.dirfd = h->out_fd;
	if (r == 0)
		rc_outcome_prune(h->state_fd);
	return r;
}

void rc_host_close(struct rc_host *h)
{
	rc_images_free(&h->img);
	rc_mcast_free(&h->mc);
	vms_conn_close(h->conn);
	h->conn = NULL;
	if (h->state_fd >= 0 && h->state_fd != h->out_fd)
		close(h->state_fd);
	if (h->out_fd >= 0)
		close(h->out_fd);
	h->state_fd = h->out_fd = -1;
}
