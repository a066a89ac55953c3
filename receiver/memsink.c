/* memsink.c - a session sink in memory (rc_sink_ops) for the unit tests and
 * the fuzz harness of the state machine: images are buffers, replies pile
 * up in a buffer, every call can be traced, and a call that breaks the
 * order the ops promise is counted as a violation instead of done. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "receiver_int.h"

#define MEMSINK_MAX_DEFAULT (64ull << 20)

static void trace(struct rc_memsink *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void trace(struct rc_memsink *m, const char *fmt, ...)
{
	char line[128];
	va_list ap;
	if (!m->trace)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	vms_wbuf_bytes(&m->calls, line, (size_t)n);   /* (a trace cut short by ENOMEM: tests see it) */
}

static int violation(struct rc_memsink *m, vms_err *err, const char *what)
{
	m->violations++;
	trace(m, "VIOLATION %s", what);
	return vms_err_set(err, -EFAULT, "memory sink: %s", what);
}

static int mem_space(void *priv, uint64_t *bytes, vms_err *err)
{
	struct rc_memsink *m = priv;
	(void)err;
	trace(m, "space");
	*bytes = m->space;
	return 0;
}

static int mem_vm_open(void *priv, uint32_t vm, const char *name, uint64_t pages, int seed, vms_err *err)
{
	struct rc_memsink *m = priv;
	trace(m, "open %u %s %llu%s", vm, name, (unsigned long long)pages, seed ? " seed" : "");
	if (vm != m->n || pages == 0 || m->published_any)
		return violation(m, err, "vm_open out of order");
	if (pages > (m->max_bytes - m->bytes) / VMS_WIRE_PAGE)
		return vms_err_set(err, -ENOMEM, "memory sink: %llu pages do not fit", (unsigned long long)pages);
	struct rc_memimg *nv = realloc(m->v, (m->n + 1) * sizeof(*nv));
	if (!nv)
		return vms_err_set(err, -ENOMEM, "out of memory");
	m->v = nv;
	struct rc_memimg *v = &m->v[m->n];
	*v = (struct rc_memimg){ .pages = pages, .data = calloc(pages, VMS_WIRE_PAGE) };
	if (!v->data)
		return vms_err_set(err, -ENOMEM, "out of memory");
	m->n++;
	m->bytes += pages * VMS_WIRE_PAGE;
	return 0;
}

static int mem_write_page(void *priv, uint32_t vm, uint64_t page, const uint8_t *data, vms_err *err)
{
	struct rc_memsink *m = priv;
	trace(m, "write %u %llu", vm, (unsigned long long)page);
	if (vm >= m->n || page >= m->v[vm].pages || m->v[vm].finished)
		return violation(m, err, "write_page outside the images");
	memcpy(&m->v[vm].data[page * VMS_WIRE_PAGE], data, VMS_WIRE_PAGE);
	m->writes++;
	return 0;
}

static int mem_finish_image(void *priv, uint32_t vm, const uint8_t sha256[32], vms_err *err)
{
	struct rc_memsink *m = priv;
	uint8_t d[32];
	unsigned len = sizeof(d);
	trace(m, "finish %u", vm);
	if (vm >= m->n || m->v[vm].finished || m->published_any)
		return violation(m, err, "finish_image out of order");
	if (EVP_Digest(m->v[vm].data, m->v[vm].pages * VMS_WIRE_PAGE, d, &len, EVP_sha256(), NULL) != 1)
		return vms_err_set(err, -ENOMEM, "SHA-256: cannot start");
	if (memcmp(d, sha256, 32) != 0)
		return vms_err_set(err, -EIO, "VM %u: the rebuilt image differs from the source (SHA-256)", vm);
	m->v[vm].finished = 1;
	return 0;
}

static int mem_publish_image(void *priv, uint32_t vm, vms_err *err)
{
	struct rc_memsink *m = priv;
	trace(m, "publish %u", vm);
	if (vm >= m->n || !m->v[vm].finished || m->v[vm].published)
		return violation(m, err, "publish_image before finish_image");
	for (unsigned v = 0; v < m->n; v++)
		if (!m->v[v].finished)
			return violation(m, err, "publish_image before every finish_image");
	m->v[vm].published = 1;
	m->published_any = 1;
	return 0;
}

static int mem_send(void *priv, const void *p, size_t n, vms_err *err)
{
	struct rc_memsink *m = priv;
	trace(m, "send %zu", n);
	int r = vms_wbuf_bytes(&m->replies, p, n);
	return r < 0 ? vms_err_set(err, r, "out of memory") : 0;
}

static int mem_join(void *priv, const struct vms_msg_join *j, int sealed, uint64_t session, vms_err *err)
{
	struct rc_memsink *m = priv;
	(void)session;
	trace(m, "join %u%s", j->group, sealed ? " sealed" : "");
	if (m->in_group)
		return violation(m, err, "join in a group");
	m->in_group = 1;
	return 0;
}

static void mem_leave(void *priv)
{
	struct rc_memsink *m = priv;
	trace(m, "leave");
	if (!m->in_group)
		violation(m, NULL, "leave outside a group");
	m->in_group = 0;
}

static enum vms_outcome mem_outcome(void *priv, uint64_t session, uint32_t vm)
{
	struct rc_memsink *m = priv;
	trace(m, "outcome %llx %u", (unsigned long long)session, vm);
	return m->outcome;
}

const struct rc_sink_ops rc_memsink_ops = {
	.space = mem_space, .vm_open = mem_vm_open, .write_page = mem_write_page,
	.finish_image = mem_finish_image, .publish_image = mem_publish_image, .send = mem_send,
	.join = mem_join, .leave = mem_leave, .outcome = mem_outcome,
};

void rc_memsink_init(struct rc_memsink *m)
{
	*m = (struct rc_memsink){ .space = MEMSINK_MAX_DEFAULT, .max_bytes = MEMSINK_MAX_DEFAULT,
				  .outcome = VMS_OUTCOME_PENDING };
}

void rc_memsink_free(struct rc_memsink *m)
{
	for (unsigned v = 0; v < m->n; v++)
		free(m->v[v].data);
	free(m->v);
	vms_wbuf_free(&m->replies);
	vms_wbuf_free(&m->calls);
	m->v = NULL;
	m->n = 0;
}
