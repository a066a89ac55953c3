/* summary.c - the sharing summary: contents grouped by their holder set. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "scatter.h"

struct sc_summary {
	unsigned vms, words;
	size_t n, cap;
	struct sc_class *classes;
	uint64_t *bits;       /* words per class, in class order before sorting */
};

static int cmp_class(const void *a, const void *b, void *arg)
{
	const struct sc_class *x = a, *y = b;
	unsigned words = *(const unsigned *)arg, nx = 0, ny = 0;
	for (unsigned w = 0; w < words; w++) {
		nx += (unsigned)__builtin_popcountll(x->holders[w]);
		ny += (unsigned)__builtin_popcountll(y->holders[w]);
	}
	if (nx != ny)
		return nx > ny ? -1 : 1;
	if (x->contents != y->contents)
		return x->contents > y->contents ? -1 : 1;
	for (unsigned w = 0; w < words; w++)
		if (x->holders[w] != y->holders[w])
			return x->holders[w] < y->holders[w] ? -1 : 1;
	return 0;
}

int sc_summary_build(const sc_index *ix, sc_summary **out, vms_err *err)
{
	unsigned words = sc_index_holder_words(ix);
	uint32_t ncontents = sc_index_contents(ix);
	sc_summary *s = calloc(1, sizeof(*s));
	uint32_t *table = NULL;          /* class index + 1, 0 = empty */
	uint64_t tmask = 1023;
	int r = 0;
	if (!s)
		return vms_err_set(err, -ENOMEM, "out of memory");
	s->vms = sc_index_vms(ix);
	s->words = words;
	table = calloc(tmask + 1, sizeof(*table));
	if (!table)
		goto nomem;
	for (uint32_t id = 1; id <= ncontents; id++) {
		const uint64_t *h = sc_index_holders(ix, id);
		uint64_t i = XXH3_64bits(h, words * sizeof(*h)) & tmask;
		while (table[i] && memcmp(s->bits + (size_t)(table[i] - 1) * words, h,
					  words * sizeof(*h)) != 0)
			i = (i + 1) & tmask;
		if (!table[i]) {
			if (s->n == s->cap) {
				size_t ncap = s->cap ? s->cap * 2 : 64;
				struct sc_class *nc = realloc(s->classes, ncap * sizeof(*nc));
				if (!nc)
					goto nomem;
				s->classes = nc;
				uint64_t *nb = realloc(s->bits, ncap * words * sizeof(*nb));
				if (!nb)
					goto nomem;
				s->bits = nb;
				s->cap = ncap;
			}
			memcpy(s->bits + s->n * words, h, words * sizeof(*h));
			s->classes[s->n] = (struct sc_class){ 0 };
			table[i] = (uint32_t)++s->n;
			if (s->n * 2 > tmask + 1) {    /* rehash */
				uint64_t nmask = tmask * 2 + 1;
				uint32_t *nt = calloc(nmask + 1, sizeof(*nt));
				if (!nt)
					goto nomem;
				for (size_t c = 0; c < s->n; c++) {
					uint64_t j = XXH3_64bits(s->bits + c * words, words * sizeof(*h)) & nmask;
					while (nt[j])
						j = (j + 1) & nmask;
					nt[j] = (uint32_t)(c + 1);
				}
				free(table);
				table = nt;
				tmask = nmask;
				i = XXH3_64bits(h, words * sizeof(*h)) & tmask;
				while (table[i] != s->n)
					i = (i + 1) & tmask;
			}
		}
		struct sc_class *c = &s->classes[table[i] - 1];
		c->contents++;
		c->pages += sc_index_content_refs(ix, id);
	}
	for (size_t c = 0; c < s->n; c++)
		s->classes[c].holders = s->bits + c * words;
	if (s->n > 1)
		qsort_r(s->classes, s->n, sizeof(*s->classes), cmp_class, &s->words);
	*out = s;
	s = NULL;
	goto out;
nomem:
	r = vms_err_set(err, -ENOMEM, "out of memory");
out:
	free(table);
	sc_summary_free(s);
	return r;
}

size_t sc_summary_classes(const sc_summary *s) { return s->n; }
const struct sc_class *sc_summary_class(const sc_summary *s, size_t i) { return &s->classes[i]; }

int sc_summary_matrix(const sc_summary *s, uint64_t *matrix, vms_err *err)
{
	unsigned *held = malloc(s->vms * sizeof(*held));
	if (!held)
		return vms_err_set(err, -ENOMEM, "out of memory");
	memset(matrix, 0, (size_t)s->vms * s->vms * sizeof(*matrix));
	for (size_t c = 0; c < s->n; c++) {
		unsigned k = 0;
		for (unsigned w = 0; w < s->words; w++)
			for (uint64_t bits = s->classes[c].holders[w]; bits; bits &= bits - 1)
				held[k++] = w * 64 + (unsigned)__builtin_ctzll(bits);
		for (unsigned a = 0; a < k; a++)
			for (unsigned b = 0; b < k; b++)
				matrix[(size_t)held[a] * s->vms + held[b]] += s->classes[c].contents;
	}
	free(held);
	return 0;
}

void sc_summary_free(sc_summary *s)
{
	if (!s)
		return;
	free(s->classes);
	free(s->bits);
	free(s);
}
