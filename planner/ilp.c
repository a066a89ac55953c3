/* ilp.c - the exact placement: an integer program solved by GLPK.
 *
 *   x(v,t) in {0,1}   VM v on target t        (fixed by pins)
 *   y(c,t) in [0,1]   target t receives class c   (classes with >= 2 holders)
 *   minimise   sum_c sum_t contents(c) * y(c,t)   (+ single-holder classes,
 *                                                   a constant)
 *   subject to sum_t x(v,t) = 1                    every VM placed once
 *              sum_v x(v,t) <= slots(t)
 *              sum_v pages(v) * x(v,t) <= mem(t) / 4096   (targets with a limit)
 *              y(c,t) - x(v,t) >= 0   for v in c   (a target receives what its
 *                                                   VMs hold)
 * y may stay continuous: at an optimum it equals max_v x(v,t), which is 0/1.
 * The heuristic placement, when there is one, is handed to GLPK as its first
 * incumbent; the callback keeps the last reported gap. No GLPK state
 * outlives the call.
 */
#include <errno.h>
#include <glpk.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

struct ilp {
	const vmsplan_problem *p;
	const unsigned *start;       /* heuristic placement, or NULL */
	int start_given;
	double gap, bound;           /* bound: -1 until GLPK has one */
	size_t ycol0;                /* first y column */
	size_t *ycls;                /* class of each y block (T columns each) */
	size_t nyc;
};

static int xcol(const struct ilp *m, unsigned v, unsigned t)
{
	return (int)(1 + (size_t)v * m->p->ntargets + t);
}

static void callback(glp_tree *tree, void *info)
{
	struct ilp *m = info;
	switch (glp_ios_reason(tree)) {
	case GLP_IHEUR:
		if (m->start && !m->start_given) {
			const vmsplan_problem *p = m->p;
			glp_prob *lp = glp_ios_get_prob(tree);
			int n = glp_get_num_cols(lp);
			double *x = calloc((size_t)n + 1, sizeof(*x));
			if (!x)
				return;
			for (unsigned v = 0; v < p->nvms; v++)
				x[xcol(m, v, m->start[v])] = 1;
			for (size_t k = 0; k < m->nyc; k++) {
				size_t c = m->ycls[k];
				for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++)
					x[m->ycol0 + k * p->ntargets + m->start[p->cls_vms[h]]] = 1;
			}
			glp_ios_heur_sol(tree, x);
			free(x);
			m->start_given = 1;
		}
		break;
	case GLP_ISELECT:
	case GLP_IBINGO: {
		int node = glp_ios_best_node(tree);
		m->gap = glp_ios_mip_gap(tree);
		if (node)
			m->bound = glp_ios_node_bound(tree, node);
		break;
	}
	default:
		break;
	}
}

int pl_optimal(const vmsplan_problem *p, const unsigned *start, double time_limit,
	       unsigned *target_of, int *optimal, double *gap, uint64_t *lower, vmsplan_error *err)
{
	const unsigned T = p->ntargets;
	struct ilp m = { .p = p, .start = start, .gap = 1.0, .bound = -1 };
	*lower = 0;
	glp_prob *lp = NULL;
	int *ia = NULL, *ja = NULL, r = 0;
	double *ar = NULL, constant = 0;

	m.ycls = malloc((p->nclasses ? p->nclasses : 1) * sizeof(*m.ycls));
	if (!m.ycls)
		return pl_set_err(err, -ENOMEM, "out of memory");
	size_t links = 0;
	for (size_t c = 0; c < p->nclasses; c++) {
		uint32_t holders = p->cls_off[c + 1] - p->cls_off[c];
		if (holders >= 2) {
			m.ycls[m.nyc++] = c;
			links += (size_t)holders * T;
		} else {
			constant += (double)p->cls_contents[c];
		}
	}
	size_t nx = (size_t)p->nvms * T, ny = m.nyc * T;
	size_t nrows = p->nvms + 2 * (size_t)T + links;
	size_t nnz = nx /* assign */ + nx /* slots */ + nx /* mem */ + 2 * links;
	if (nx + ny > 20000000 || nnz > 50000000) {
		r = pl_set_err(err, -E2BIG, "optimal: the integer program would have %zu variables and %zu "
			       "non-zeros, too big (use local)", nx + ny, nnz);
		goto out;
	}
	ia = malloc((nnz + 1) * sizeof(*ia));
	ja = malloc((nnz + 1) * sizeof(*ja));
	ar = malloc((nnz + 1) * sizeof(*ar));
	if (!ia || !ja || !ar) {
		r = pl_set_err(err, -ENOMEM, "out of memory");
		goto out;
	}

	lp = glp_create_prob();
	glp_set_obj_dir(lp, GLP_MIN);
	glp_set_obj_coef(lp, 0, constant);
	glp_add_cols(lp, (int)(nx + ny));
	for (unsigned v = 0; v < p->nvms; v++)
		for (unsigned t = 0; t < T; t++) {
			int j = xcol(&m, v, t);
			glp_set_col_kind(lp, j, GLP_BV);
			if (p->vms[v].pin >= 0)
				glp_set_col_bnds(lp, j, GLP_FX, (unsigned)p->vms[v].pin == t, 0);
		}
	m.ycol0 = nx + 1;
	for (size_t k = 0; k < m.nyc; k++)
		for (unsigned t = 0; t < T; t++) {
			int j = (int)(m.ycol0 + k * T + t);
			glp_set_col_bnds(lp, j, GLP_DB, 0.0, 1.0);
			glp_set_obj_coef(lp, j, (double)p->cls_contents[m.ycls[k]]);
		}

	glp_add_rows(lp, (int)nrows);
	size_t row = 1, e = 0;
	for (unsigned v = 0; v < p->nvms; v++, row++) {
		glp_set_row_bnds(lp, (int)row, GLP_FX, 1.0, 1.0);
		for (unsigned t = 0; t < T; t++) {
			e++;
			ia[e] = (int)row, ja[e] = xcol(&m, v, t), ar[e] = 1.0;
		}
	}
	for (unsigned t = 0; t < T; t++, row++) {
		glp_set_row_bnds(lp, (int)row, GLP_UP, 0.0, (double)p->targets[t].slots);
		for (unsigned v = 0; v < p->nvms; v++) {
			e++;
			ia[e] = (int)row, ja[e] = xcol(&m, v, t), ar[e] = 1.0;
		}
	}
	for (unsigned t = 0; t < T; t++, row++) {
		if (p->targets[t].mem == 0) {
			glp_set_row_bnds(lp, (int)row, GLP_FR, 0.0, 0.0);
			continue;
		}
		glp_set_row_bnds(lp, (int)row, GLP_UP, 0.0,
				 (double)(p->targets[t].mem / VMSPLAN_PAGE_SIZE));
		for (unsigned v = 0; v < p->nvms; v++) {
			e++;
			ia[e] = (int)row, ja[e] = xcol(&m, v, t), ar[e] = (double)p->vms[v].pages;
		}
	}
	for (size_t k = 0; k < m.nyc; k++) {
		size_t c = m.ycls[k];
		for (uint32_t h = p->cls_off[c]; h < p->cls_off[c + 1]; h++)
			for (unsigned t = 0; t < T; t++, row++) {
				glp_set_row_bnds(lp, (int)row, GLP_LO, 0.0, 0.0);
				e++;
				ia[e] = (int)row, ja[e] = (int)(m.ycol0 + k * T + t), ar[e] = 1.0;
				e++;
				ia[e] = (int)row, ja[e] = xcol(&m, p->cls_vms[h], t), ar[e] = -1.0;
			}
	}
	glp_load_matrix(lp, (int)e, ia, ja, ar);

	double t0 = pl_now();
	glp_smcp sm;
	glp_init_smcp(&sm);
	sm.msg_lev = GLP_MSG_OFF;
	sm.tm_lim = (int)(time_limit * 1000);
	if (glp_simplex(lp, &sm) != 0 || glp_get_status(lp) != GLP_OPT) {
		if (glp_get_status(lp) == GLP_NOFEAS) {
			r = pl_set_err(err, -ENOSPC, "optimal: no placement satisfies the capacities");
		} else if (start) {
			/* no bound in time: the incumbent is all there is */
			memcpy(target_of, start, p->nvms * sizeof(*target_of));
			*optimal = 0;
			*gap = -1;
		} else {
			r = pl_set_err(err, -ETIMEDOUT, "optimal: the LP relaxation did not finish in %.1f s",
				       time_limit);
		}
		goto out;
	}
	glp_iocp io;
	glp_init_iocp(&io);
	io.msg_lev = GLP_MSG_OFF;
	io.cb_func = callback;
	io.cb_info = &m;
	double left = time_limit - (pl_now() - t0);
	io.tm_lim = left > 0.001 ? (int)(left * 1000) : 1;
	int rc = glp_intopt(lp, &io);
	int status = glp_mip_status(lp);
	if (status == GLP_NOFEAS) {
		r = pl_set_err(err, -ENOSPC, "optimal: no placement satisfies the capacities");
		goto out;
	}
	if (status != GLP_OPT && status != GLP_FEAS) {
		r = pl_set_err(err, -ETIMEDOUT, "optimal: no placement found within %.1f s (glpk code %d)",
			       time_limit, rc);
		goto out;
	}
	for (unsigned v = 0; v < p->nvms; v++) {
		target_of[v] = 0;
		for (unsigned t = 0; t < T; t++)
			if (glp_mip_col_val(lp, xcol(&m, v, t)) > 0.5)
				target_of[v] = t;
	}
	*optimal = status == GLP_OPT;
	*gap = status == GLP_OPT ? 0.0 : m.gap;
	if (status == GLP_OPT)
		*lower = pl_content_cost(p, target_of);
	else if (m.bound > 0)
		*lower = (uint64_t)ceil(m.bound - 1e-6 * (1.0 + m.bound));
out:
	if (lp)
		glp_delete_prob(lp);
	free(ia);
	free(ja);
	free(ar);
	free(m.ycls);
	return r;
}
