/* order.c - the order of multicast groups: a Hamiltonian path over the
 * groups whose edge cost is the number of receivers that join or leave,
 * |a XOR b|. Exact (Held-Karp dynamic programming) up to EXACT_MAX groups,
 * nearest neighbour from several starts plus 2-opt beyond. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

#define EXACT_MAX 16u
#define NN_STARTS 32u
#define TWO_OPT_SECONDS 2.0

static unsigned dist(const uint64_t *sets, size_t a, size_t b)
{
	return (unsigned)__builtin_popcountll(sets[a] ^ sets[b]);
}

/* dp[mask * n + last]: cheapest path through `mask` ending at `last`. */
static int order_exact(const uint64_t *sets, size_t n, size_t *order, vmsplan_error *err)
{
	size_t states = ((size_t)1 << n) * n;
	uint32_t *dp = malloc(states * sizeof(*dp));
	uint8_t *from = malloc(states);
	if (!dp || !from) {
		free(dp);
		free(from);
		return pl_set_err(err, -ENOMEM, "out of memory");
	}
	memset(dp, 0xff, states * sizeof(*dp));
	for (size_t i = 0; i < n; i++)
		dp[((size_t)1 << i) * n + i] = 0;
	for (size_t mask = 1; mask < ((size_t)1 << n); mask++)
		for (size_t last = 0; last < n; last++) {
			uint32_t cur = dp[mask * n + last];
			if (cur == UINT32_MAX || !(mask >> last & 1))
				continue;
			for (size_t next = 0; next < n; next++) {
				if (mask >> next & 1)
					continue;
				size_t m2 = mask | (size_t)1 << next;
				uint32_t c = cur + dist(sets, last, next);
				if (c < dp[m2 * n + next]) {
					dp[m2 * n + next] = c;
					from[m2 * n + next] = (uint8_t)last;
				}
			}
		}
	size_t full = ((size_t)1 << n) - 1, last = 0;
	for (size_t i = 1; i < n; i++)
		if (dp[full * n + i] < dp[full * n + last])
			last = i;
	for (size_t k = n; k-- > 0;) {
		order[k] = last;
		size_t prev = from[full * n + last];
		full &= ~((size_t)1 << last);
		last = prev;
	}
	free(dp);
	free(from);
	return 1;
}

static uint64_t path_cost(const uint64_t *sets, const size_t *order, size_t n)
{
	uint64_t c = 0;
	for (size_t i = 1; i < n; i++)
		c += dist(sets, order[i - 1], order[i]);
	return c;
}

static int order_heuristic(const uint64_t *sets, size_t n, size_t *order, vmsplan_error *err)
{
	size_t *cur = malloc(n * sizeof(*cur));
	uint8_t *used = malloc(n);
	if (!cur || !used) {
		free(cur);
		free(used);
		return pl_set_err(err, -ENOMEM, "out of memory");
	}
	uint64_t best = UINT64_MAX;
	size_t starts = n < NN_STARTS ? n : NN_STARTS;
	for (size_t s = 0; s < starts; s++) {
		memset(used, 0, n);
		cur[0] = s * n / starts;
		used[cur[0]] = 1;
		for (size_t k = 1; k < n; k++) {
			size_t pick = SIZE_MAX;
			unsigned dmin = UINT32_MAX;
			for (size_t j = 0; j < n; j++)
				if (!used[j] && dist(sets, cur[k - 1], j) < dmin) {
					dmin = dist(sets, cur[k - 1], j);
					pick = j;
				}
			cur[k] = pick;
			used[pick] = 1;
		}
		uint64_t c = path_cost(sets, cur, n);
		if (c < best) {
			best = c;
			memcpy(order, cur, n * sizeof(*cur));
		}
	}
	/* 2-opt on the open path: reverse order[i..j] when that is cheaper */
	double deadline = pl_now() + TWO_OPT_SECONDS;
	for (int improved = 1; improved && pl_now() < deadline;) {
		improved = 0;
		for (size_t i = 0; i + 1 < n; i++)
			for (size_t j = i + 1; j < n; j++) {
				long before = 0, after = 0;
				if (i > 0) {
					before += dist(sets, order[i - 1], order[i]);
					after += dist(sets, order[i - 1], order[j]);
				}
				if (j + 1 < n) {
					before += dist(sets, order[j], order[j + 1]);
					after += dist(sets, order[i], order[j + 1]);
				}
				if (after < before) {
					for (size_t a = i, b = j; a < b; a++, b--) {
						size_t tmp = order[a];
						order[a] = order[b];
						order[b] = tmp;
					}
					improved = 1;
				}
			}
	}
	free(cur);
	free(used);
	return 0;
}

int vmsplan_order_groups(const uint64_t *sets, size_t n, size_t *order, vmsplan_error *err)
{
	if (n <= 1) {
		if (n == 1)
			order[0] = 0;
		return 1;
	}
	if (n <= EXACT_MAX)
		return order_exact(sets, n, order, err);
	return order_heuristic(sets, n, order, err);
}
