/* session.c - the sender's session: one object that carries a scatter (or a
 * live migration) of a rack from open to close, and reports it.
 *
 * Lifetime: open -> seed -> migrate -> commit -> close (offline: open ->
 * seed -> close; the accessors may be called after any step).
 *
 *   sc_session_open     checks the options and allocates what the session
 *                       owns: the per-target and per-VM statistics and, live,
 *                       the stale set (contents that changed while seeding)
 *                       and the absent sets (per target, contents it lacks).
 *                       No I/O. Borrowed until close: the index, the sources,
 *                       every array and string of the options, the callbacks.
 *   sc_session_seed     connects to every receiver and sends the page maps and
 *                       the multicast groups (send.c); offline also the
 *                       unicast contents and re-sends, until every receiver
 *                       has verified its images: the session is then complete
 *                       and its connections are closed. Live, the control
 *                       connections stay open, owned by the session, and the
 *                       stale and absent sets are filled.
 *                       Live, the VMs' streams (live.c) begin after the
 *                       seeding, or with opts.live.overlap as soon as every
 *                       receiver has opened its seeds (SEEDING), while the
 *                       seeds still go out (never with atomic: every guest
 *                       would wait paused for the seeding).
 *   sc_session_migrate  live: watches the VMs' threads (live.c: each with its
 *                       stream connection and its source guard, `vmscatter
 *                       guard`, owned by the VM's job until it is settled);
 *                       returns when every VM has loaded (atomic: the guests
 *                       wait, paused, for the decision) or, per VM, committed.
 *   sc_session_commit   live: atomic, the COMMIT of every VM; then LIVE_END on
 *                       every control connection: the receivers drop the
 *                       seeds and answer the guards of the VMs this sender
 *                       could not settle.
 *   sc_session_close    rolls back every VM not committed (a session closed
 *                       between migrate and commit), sends LIVE_END if no step
 *                       did, closes the control connections, frees.
 *
 * On failure (each step returns a negative errno with err set; only close
 * and the accessors may follow):
 *   open     nothing was touched.
 *   seed     every receiver was sent ERROR and dropped the session (offline:
 *            no image is left behind; live: no seed); offline the sources
 *            were only read; live, the VMs whose streams had begun rolled
 *            back as in migrate, except those that had committed already.
 *   migrate  the VMs that failed rolled back alone (migration cancelled,
 *            source resumed, target removed); atomic, or on a stop or the
 *            time limit, every VM not committed rolled back. The error says
 *            how many VMs moved; LIVE_END went out before it returns.
 *   commit   a VM whose COMMIT went unanswered keeps its source paused; its
 *            guard asks the receiver (OUTCOME, after LIVE_END) and settles it.
 * A process that dies at any point: doc/PROTOCOL.md, "Commit and rollback".
 *
 * Callbacks: on the calling thread, during the step that reports (see
 * scatter.h). The session never prints. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session_int.h"

#define SESSION_TARGETS_MAX 64u
#define LOG_LINE_MAX 512u

enum step {
	STEP_OPEN,        /* opened, nothing sent */
	STEP_SEEDED,      /* live: seeds in place, control connections open */
	STEP_MIGRATED,    /* live: every VM loaded (atomic) or committed (per VM) */
	STEP_DONE,        /* offline: seeded; live: committed and ended */
	STEP_FAILED,      /* a step failed: only close is left */
};

struct sc_session {
	struct sc_session_opts o;         /* a copy; what it points to is borrowed */
	const struct sc_session_cbs *cbs;
	void *cb_arg;
	enum step step;
	unsigned nvms;
	int live;                         /* o.qmp given */
	struct sc_send_stats *st;         /* per target */
	struct sc_send_stats total;
	struct sc_live_stats *ls;         /* per VM */
	uint8_t *stale;                   /* live: [content id] */
	uint8_t *sent;                    /* live: [content id] */
	uint8_t *absent[SESSION_TARGETS_MAX];  /* live: [target][content id] */
	vms_conn *ctrl[SESSION_TARGETS_MAX];   /* live: the control connections, from seed on */
	sc_live *lv;                      /* live: from migrate to commit */
	int ended;                        /* LIVE_END sent */
	uint64_t id;
	size_t nstale;
	double t0, t_end;
};

static void session_log(const sc_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void session_log(const sc_session *s, const char *fmt, ...)
{
	char line[LOG_LINE_MAX];
	va_list ap;
	if (!s->cbs || !s->cbs->log)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	s->cbs->log(s->cb_arg, line);
}

/* Stop the live phase if it runs (rolling back what is not committed) and
 * end the receivers' sessions: LIVE_END, once, on every control connection
 * (which stay open until close). */
static void end_live(sc_session *s)
{
	sc_live_free(s->lv);
	s->lv = NULL;
	if (s->ended)
		return;
	for (unsigned t = 0; t < s->o.ntargets; t++) {
		vms_wbuf b = { 0 };
		if (!s->ctrl[t])
			continue;
		s->ended = 1;
		if (vms_msg_empty_put(&b, VMS_MSG_LIVE_END) == 0)
			vms_conn_write_all(s->ctrl[t], b.data, b.len);
		vms_wbuf_free(&b);
	}
}

/* Say in the error how many VMs moved. */
static int verdict(const sc_session *s, int r, vms_err *err)
{
	unsigned moved = sc_session_moved(s);
	if (moved == 0)
		return vms_err_prefix(err, r, "rolled back, every guest runs on its source");
	return vms_err_prefix(err, r, "%u of %u VMs moved, the others rolled back to their sources", moved,
			      s->nvms);
}

int sc_session_open(const struct sc_session_opts *o, const struct sc_session_cbs *cbs, void *cb_arg,
		    sc_session **out, vms_err *err)
{
	sc_session *s = NULL;
	int r = 0;
	*out = NULL;
	if (!o->ix || !o->mems || !o->targets || !o->target_of || (o->ngroups && !o->groups))
		return vms_err_set(err, -EINVAL, "a session needs an index, its sources, targets and a placement");
	if (o->ntargets == 0 || o->ntargets > SESSION_TARGETS_MAX)
		return vms_err_set(err, -EINVAL, "1..%u targets are needed", SESSION_TARGETS_MAX);
	unsigned nvms = sc_index_vms(o->ix);
	for (unsigned v = 0; v < nvms; v++)
		if (o->target_of[v] >= o->ntargets || (o->qmp && !o->qmp[v]))
			return vms_err_set(err, -EINVAL, "VM %s has no %s", sc_index_vm_name(o->ix, v),
					   o->target_of[v] >= o->ntargets ? "target" : "QMP socket");
	s = calloc(1, sizeof(*s));
	if (!s)
		return vms_err_set(err, -ENOMEM, "out of memory");
	*s = (struct sc_session){ .o = *o, .cbs = cbs, .cb_arg = cb_arg, .nvms = nvms, .live = o->qmp != NULL };
	s->st = calloc(o->ntargets, sizeof(*s->st));
	s->ls = calloc(nvms ? nvms : 1, sizeof(*s->ls));
	if (!s->st || !s->ls)
		r = -ENOMEM;
	if (s->live && r == 0) {
		size_t ncont = (size_t)sc_index_contents(o->ix) + 1;
		if (!(s->stale = calloc(ncont, 1)) || !(s->sent = calloc(ncont, 1)))
			r = -ENOMEM;
		for (unsigned t = 0; t < o->ntargets && r == 0; t++)
			if (!(s->absent[t] = calloc(ncont, 1)))
				r = -ENOMEM;
	}
	if (r < 0) {
		vms_err_set(err, r, "out of memory");
		goto out;
	}
	*out = s;
	s = NULL;
out:
	sc_session_close(s);
	return r;
}

/* sc_send_ctl.streams: every receiver has opened its seeds; the VMs'
 * streams begin now, while the seeds go out. */
static int start_streams(void *arg, vms_err *err)
{
	sc_session *s = arg;
	int r = sc_live_new(s->o.ix, s->o.mems, s->o.qmp, s->o.targets, s->o.ntargets, s->o.target_of, s->id,
			    s->ctrl, s->stale, s->sent, s->absent, &s->o.live, s->cbs, s->cb_arg, s->ls, &s->lv, err);
	if (r == 0)
		r = sc_live_start(s->lv, err);
	if (r == 0 && !s->t_end)      /* (t_end: the seeding is over already: said then) */
		session_log(s, "the migration streams begin while the seeds go out");
	return r;
}

int sc_session_seed(sc_session *s, vms_err *err)
{
	if (s->step != STEP_OPEN)
		return vms_err_set(err, -EINVAL, "a session is seeded once, right after it opened");
	struct sc_send_ctl c = { .cbs = s->cbs, .cb_arg = s->cb_arg, .live = s->live, .stale = s->stale, .sent = s->sent,
				 .absent = s->absent, .session = &s->id, .keep_conns = s->live ? s->ctrl : NULL,
				 /* --overlap (never with atomic: every guest would stay
				  * paused until the seeding is over) */
				 .streams = s->live && s->o.live.overlap && !s->o.live.atomic ? start_streams : NULL,
				 .streams_arg = s,
				 .stop = s->live ? s->o.live.stop : NULL };
	s->t0 = vms_now();
	if (s->live)
		session_log(s, "seeding the targets while the guests run");
	int r = sc_send(s->o.ix, s->o.mems, s->o.targets, s->o.ntargets, s->o.target_of, s->o.groups,
			s->o.ngroups, &s->o.send, &c, s->st, &s->total, err);
	s->t_end = vms_now();
	if (r == 0 && s->live && !s->lv)
		r = start_streams(s, err);
	if (s->lv)
		sc_live_seeded(s->lv);
	if (r < 0) {
		if (s->lv) {                 /* streams began: those not committed roll back */
			end_live(s);
			verdict(s, r, err);
		}
		s->step = STEP_FAILED;
		return r;
	}
	if (!s->live) {
		s->step = STEP_DONE;
		return 0;
	}
	for (uint32_t cid = 1; cid <= sc_index_contents(s->o.ix); cid++)
		s->nstale += s->stale[cid];
	session_log(s, "seeds in place in %.1f s (%zu contents changed meanwhile); migrating",
		    vms_now() - s->t0, s->nstale);
	s->step = STEP_SEEDED;
	return 0;
}

int sc_session_migrate(sc_session *s, vms_err *err)
{
	if (s->step != STEP_SEEDED || !s->lv)
		return vms_err_set(err, -EINVAL, "only a live session, once seeded, migrates");
	int r = sc_live_run(s->lv, err);
	if (r < 0) {
		end_live(s);
		verdict(s, r, err);
		s->step = STEP_FAILED;
	} else {
		s->step = STEP_MIGRATED;
	}
	s->t_end = vms_now();
	return r;
}

int sc_session_commit(sc_session *s, vms_err *err)
{
	if (s->step != STEP_MIGRATED)
		return vms_err_set(err, -EINVAL, "only a live session whose VMs all loaded commits");
	int r = sc_live_commit(s->lv, err);
	end_live(s);
	if (r < 0)
		verdict(s, r, err);
	s->step = r < 0 ? STEP_FAILED : STEP_DONE;
	s->t_end = vms_now();
	return r;
}

void sc_session_close(sc_session *s)
{
	if (!s)
		return;
	if (s->live)
		end_live(s);
	for (unsigned t = 0; t < s->o.ntargets; t++) {
		vms_conn_close(s->ctrl[t]);
		free(s->absent[t]);
	}
	free(s->stale);
	free(s->sent);
	free(s->st);
	free(s->ls);
	free(s);
}

/* ---- the report ---------------------------------------------------------------- */

const struct sc_send_stats *sc_session_target_stats(const sc_session *s, unsigned target)
{
	return target < s->o.ntargets ? &s->st[target] : NULL;
}

const struct sc_send_stats *sc_session_send_total(const sc_session *s)
{
	return &s->total;
}

const struct sc_live_stats *sc_session_vm_stats(const sc_session *s, unsigned vm)
{
	return vm < s->nvms ? &s->ls[vm] : NULL;
}

unsigned sc_session_moved(const sc_session *s)
{
	unsigned moved = 0;
	for (unsigned v = 0; v < s->nvms; v++)
		moved += s->ls[v].committed != 0;
	return moved;
}

double sc_session_seconds(const sc_session *s)
{
	return s->t_end - s->t0;
}

uint64_t sc_session_id(const sc_session *s)
{
	return s->id;
}

size_t sc_session_stale(const sc_session *s)
{
	return s->nstale;
}
