/* test_index.c - the page index against an independent computation: every
 * page of a synthetic rack is sorted by its bytes (qsort + memcmp, no
 * hashing), and every count, class and matrix entry is derived from the
 * sorted runs and compared with what the index reports. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "scatter/index_int.h"
#include "test_tmp.h"
#include "tools/synth/synth.h"

#define PAGE 4096u

struct rack {
	char dir[128];
	unsigned n;
	uint64_t pages;
	uint8_t **mem;        /* mem[v]: pages*PAGE bytes */
	kvm_mem **src;
};

static void rack_make(struct rack *r, const struct synth_params *p)
{
	snprintf(r->dir, sizeof(r->dir), "%s/rack.XXXXXX", test_root);
	assert_non_null(mkdtemp(r->dir));
	vms_err e = { 0 };
	assert_int_equal(synth_write_rack(p, r->dir, &e), 0);
	r->n = p->vms;
	r->pages = p->pages;
	r->mem = calloc(r->n, sizeof(*r->mem));
	r->src = calloc(r->n, sizeof(*r->src));
	for (unsigned v = 0; v < r->n; v++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/vm%u.img", r->dir, v + 1);
		assert_int_equal(kvm_mem_open(path, &r->src[v], &e), 0);
		assert_true(kvm_mem_pages(r->src[v]) == p->pages);
		r->mem[v] = malloc(p->pages * PAGE);
		for (uint64_t pg = 0; pg < p->pages; pg++)
			synth_page(p, v, pg, r->mem[v] + pg * PAGE);
	}
}

static void rack_free(struct rack *r)
{
	for (unsigned v = 0; v < r->n; v++) {
		char path[256];
		snprintf(path, sizeof(path), "%s/vm%u.img", r->dir, v + 1);
		unlink(path);
		kvm_mem_close(r->src[v]);
		free(r->mem[v]);
	}
	rmdir(r->dir);
	free(r->mem);
	free(r->src);
}

static sc_index *rack_index_bits(struct rack *r, unsigned threads, unsigned hash_bits)
{
	sc_index *ix = NULL;
	vms_err e = { 0 };
	assert_int_equal(sc_index_new(r->n, threads, &ix, &e), 0);
	if (hash_bits)
		sc_index_test_hash_bits(ix, hash_bits);
	for (unsigned v = 0; v < r->n; v++) {
		char name[16];
		snprintf(name, sizeof(name), "vm%u", v + 1);
		assert_int_equal(sc_index_add(ix, name, r->src[v], NULL, NULL, &e), 0);
	}
	return ix;
}

static sc_index *rack_index(struct rack *r, unsigned threads)
{
	return rack_index_bits(r, threads, 0);
}

/* ---- the independent computation --------------------------------------- */

struct ref { const uint8_t *p; unsigned vm; uint64_t page; };

static int cmp_ref(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c = memcmp(x->p, y->p, PAGE);
	if (c)
		return c;
	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	return x->page < y->page ? -1 : (x->page > y->page);
}

static int is_zero(const uint8_t *p)
{
	for (unsigned i = 0; i < PAGE; i++)
		if (p[i])
			return 0;
	return 1;
}

static void check_against_brute_force(struct rack *r, sc_index *ix)
{
	unsigned n = r->n, words = (n + 63) / 64;
	size_t total = (size_t)n * r->pages, nref = 0;
	struct ref *refs = malloc(total * sizeof(*refs));
	struct sc_vm_stats *want = calloc(n, sizeof(*want)), *got = calloc(n, sizeof(*got));
	struct sc_rack_stats want_rack = { 0 }, got_rack;
	uint64_t *want_matrix = calloc((size_t)n * n, sizeof(uint64_t));
	uint64_t *got_matrix = calloc((size_t)n * n, sizeof(uint64_t));

	for (unsigned v = 0; v < n; v++) {
		want[v].pages = r->pages;
		for (uint64_t pg = 0; pg < r->pages; pg++) {
			const uint8_t *p = r->mem[v] + pg * PAGE;
			if (is_zero(p)) {
				want[v].zero_pages++;
				assert_int_equal(sc_index_page(ix, v, pg), SC_ZERO_CONTENT);
			} else {
				refs[nref++] = (struct ref){ p, v, pg };
			}
		}
		want_rack.pages += r->pages;
		want_rack.zero_pages += want[v].zero_pages;
	}
	qsort(refs, nref, sizeof(*refs), cmp_ref);

	/* Classes as (holder bitmap, contents, pages) found by linear search. */
	size_t nclass = 0;
	uint64_t *cls_bits = calloc(nref + 1, words * sizeof(uint64_t));
	uint64_t *cls_contents = calloc(nref + 1, sizeof(uint64_t));
	uint64_t *cls_pages = calloc(nref + 1, sizeof(uint64_t));
	uint64_t *bits = calloc(words, sizeof(uint64_t));
	uint8_t *seen_id = calloc((size_t)sc_index_contents(ix) + 1, 1);

	for (size_t i = 0; i < nref;) {
		size_t j = i;
		while (j < nref && memcmp(refs[i].p, refs[j].p, PAGE) == 0)
			j++;
		/* run [i, j): one distinct content */
		uint32_t id = sc_index_page(ix, refs[i].vm, refs[i].page);
		assert_true(id != SC_ZERO_CONTENT);
		assert_false(seen_id[id]);           /* distinct contents, distinct ids */
		seen_id[id] = 1;
		assert_int_equal(sc_index_content_refs(ix, id), j - i);
		memset(bits, 0, words * sizeof(uint64_t));
		unsigned holders = 0;
		for (size_t k = i; k < j; k++) {
			assert_int_equal(sc_index_page(ix, refs[k].vm, refs[k].page), id);
			uint64_t bit = 1ull << (refs[k].vm % 64);
			if (!(bits[refs[k].vm / 64] & bit)) {
				bits[refs[k].vm / 64] |= bit;
				want[refs[k].vm].distinct_nonzero++;
				holders++;
			}
		}
		assert_memory_equal(sc_index_holders(ix, id), bits, words * sizeof(uint64_t));
		for (size_t k = i; k < j; k++) {
			if (holders >= 2)
				want[refs[k].vm].inter_identical++;
			if (j - i == 1)
				want[refs[k].vm].unique++;
		}
		want_rack.distinct_nonzero++;
		want_rack.shared_contents += holders >= 2;
		for (unsigned a = 0; a < n; a++)
			for (unsigned b = 0; b < n; b++)
				if ((bits[a / 64] >> (a % 64) & 1) && (bits[b / 64] >> (b % 64) & 1))
					want_matrix[(size_t)a * n + b]++;
		size_t c = 0;
		while (c < nclass && memcmp(cls_bits + c * words, bits, words * sizeof(uint64_t)) != 0)
			c++;
		if (c == nclass)
			memcpy(cls_bits + nclass++ * words, bits, words * sizeof(uint64_t));
		cls_contents[c]++;
		cls_pages[c] += j - i;
		i = j;
	}
	for (unsigned v = 0; v < n; v++)
		want[v].self_identical = r->pages - want[v].zero_pages - want[v].distinct_nonzero;
	assert_int_equal(sc_index_contents(ix), want_rack.distinct_nonzero);

	vms_err e = { 0 };
	assert_int_equal(sc_index_stats(ix, got, &got_rack, &e), 0);
	assert_memory_equal(got, want, n * sizeof(*want));
	assert_memory_equal(&got_rack, &want_rack, sizeof(want_rack));

	sc_summary *s = NULL;
	assert_int_equal(sc_summary_build(ix, &s, &e), 0);
	assert_int_equal(sc_summary_classes(s), nclass);
	for (size_t k = 0; k < sc_summary_classes(s); k++) {
		const struct sc_class *k1 = sc_summary_class(s, k);
		size_t c = 0;
		while (c < nclass && memcmp(cls_bits + c * words, k1->holders, words * 8) != 0)
			c++;
		assert_true(c < nclass);
		assert_int_equal(k1->contents, cls_contents[c]);
		assert_int_equal(k1->pages, cls_pages[c]);
	}
	assert_int_equal(sc_summary_matrix(s, got_matrix, &e), 0);
	assert_memory_equal(got_matrix, want_matrix, (size_t)n * n * sizeof(uint64_t));
	sc_summary_free(s);

	free(refs); free(want); free(got); free(want_matrix); free(got_matrix);
	free(cls_bits); free(cls_contents); free(cls_pages); free(bits); free(seen_id);
}

static void run_case(const struct synth_params *p)
{
	struct rack r;
	rack_make(&r, p);
	sc_index *one = rack_index(&r, 1), *three = rack_index(&r, 3);
	check_against_brute_force(&r, one);
	check_against_brute_force(&r, three);
	/* same ids whatever the thread count */
	for (unsigned v = 0; v < r.n; v++)
		for (uint64_t pg = 0; pg < r.pages; pg++)
			assert_int_equal(sc_index_page(one, v, pg), sc_index_page(three, v, pg));
	sc_index_free(one);
	sc_index_free(three);
	rack_free(&r);
}

static void test_default_mix(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 5;
	p.pages = 1500;      /* not a multiple of the chunk size */
	p.pool = 600;
	run_case(&p);
}

static void test_one_vm(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 1;
	p.pages = 700;
	run_case(&p);
}

static void test_all_zero(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 2;
	p.pages = 300;
	p.zero = 1.0;
	p.self = p.inter = 0;
	run_case(&p);
}

static void test_identical_vms(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 3;
	p.pages = 513;
	p.identical = 1;
	run_case(&p);
}

static void test_single_page_vms(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 3;
	p.pages = 1;
	run_case(&p);
}

static void test_more_than_64_vms(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 70;
	p.pages = 40;
	p.pool = 30;
	run_case(&p);
}

/* With a 12-bit hash thousands of different contents collide: only the
 * byte comparison keeps them apart, and the counts must still be exact. */
static void test_hash_collisions(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 3;
	p.pages = 1200;
	p.pool = 500;
	struct rack r;
	rack_make(&r, &p);
	sc_index *ix = rack_index_bits(&r, 2, 12);
	check_against_brute_force(&r, ix);
	sc_index_free(ix);
	rack_free(&r);
}

/* Sparse copies of a rack's images (zero pages: holes, but every third one
 * written out as data) index to the same ids and digests as the dense files,
 * their holes are found exactly, and indexing leaves them sparse. */
static void test_sparse_images(void **state)
{
	(void)state;
	struct synth_params p;
	synth_defaults(&p);
	p.vms = 3;
	p.pages = 1100;
	struct rack r;
	rack_make(&r, &p);
	sc_index *dense = NULL, *sparse = NULL;
	vms_err e = { 0 };
	assert_int_equal(sc_index_new(r.n, 1, &dense, &e), 0);
	assert_int_equal(sc_index_new(r.n, 2, &sparse, &e), 0);
	sc_index_set_digests(dense, 1);
	sc_index_set_digests(sparse, 1);
	kvm_mem *src[3];
	struct stat before[3];
	for (unsigned v = 0; v < r.n; v++) {
		char path[256], name[16];
		snprintf(path, sizeof(path), "%s/sparse%u.img", r.dir, v + 1);
		snprintf(name, sizeof(name), "vm%u", v + 1);
		int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(ftruncate(fd, (off_t)(r.pages * PAGE)), 0);
		for (uint64_t pg = 0; pg < r.pages; pg++) {
			const uint8_t *b = r.mem[v] + pg * PAGE;
			if (!vms_page_is_zero(b) || pg % 3 == 0)
				assert_int_equal(pwrite(fd, b, PAGE, (off_t)(pg * PAGE)), (ssize_t)PAGE);
		}
		close(fd);
		assert_int_equal(stat(path, &before[v]), 0);
		assert_int_equal(kvm_mem_open(path, &src[v], &e), 0);

		/* the holes: exactly the zero pages not written, where the file
		 * system keeps holes at all */
		uint8_t *hole = malloc(r.pages);
		long holes = kvm_mem_holes(src[v], 0, r.pages, hole, &e), want = 0;
		assert_true(holes >= 0);
		int sparse_fs = (uint64_t)before[v].st_blocks * 512 < r.pages * PAGE;
		for (uint64_t pg = 0; pg < r.pages; pg++) {
			int expect = sparse_fs && vms_page_is_zero(r.mem[v] + pg * PAGE) && pg % 3 != 0;
			assert_int_equal(hole[pg], expect);
			want += expect;
		}
		assert_int_equal(holes, want);
		assert_int_equal(kvm_mem_holes(src[v], r.pages, 1, hole, &e), -ERANGE);
		free(hole);

		assert_int_equal(sc_index_add(dense, name, r.src[v], NULL, NULL, &e), 0);
		assert_int_equal(sc_index_add(sparse, name, src[v], NULL, NULL, &e), 0);
	}
	check_against_brute_force(&r, sparse);
	for (unsigned v = 0; v < r.n; v++) {
		for (uint64_t pg = 0; pg < r.pages; pg++)
			assert_int_equal(sc_index_page(dense, v, pg), sc_index_page(sparse, v, pg));
		/* the digest is the SHA-256 of the bytes, holes read as zeros */
		uint8_t want[32], got_dense[32], got_sparse[32];
		unsigned len = 32;
		assert_int_equal(EVP_Digest(r.mem[v], r.pages * PAGE, want, &len, EVP_sha256(), NULL), 1);
		assert_int_equal(sc_index_vm_digest(dense, v, got_dense), 0);
		assert_int_equal(sc_index_vm_digest(sparse, v, got_sparse), 0);
		assert_memory_equal(got_dense, want, 32);
		assert_memory_equal(got_sparse, want, 32);
		/* nothing was allocated in the holes */
		char path[256];
		struct stat after;
		snprintf(path, sizeof(path), "%s/sparse%u.img", r.dir, v + 1);
		assert_int_equal(stat(path, &after), 0);
		assert_int_equal(after.st_blocks, before[v].st_blocks);
		kvm_mem_close(src[v]);
		unlink(path);
	}
	sc_index_free(dense);
	sc_index_free(sparse);
	rack_free(&r);
}

static void write_file(const char *path, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	char *buf = calloc(1, len + 1);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	free(buf);
	close(fd);
}

static void test_bad_sources(void **state)
{
	(void)state;
	char dir[128], path[256];
	snprintf(dir, sizeof(dir), "%s/bad.XXXXXX", test_root);
	assert_non_null(mkdtemp(dir));
	kvm_mem *m = NULL;
	vms_err e = { 0 };

	snprintf(path, sizeof(path), "%s/empty.img", dir);
	write_file(path, 0);
	assert_int_equal(kvm_mem_open(path, &m, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "empty"));
	unlink(path);

	snprintf(path, sizeof(path), "%s/odd.img", dir);
	write_file(path, 4097);
	assert_int_equal(kvm_mem_open(path, &m, &e), -EINVAL);
	assert_non_null(strstr(e.msg, "multiple of 4096"));
	unlink(path);

	snprintf(path, sizeof(path), "%s/missing.img", dir);
	assert_int_equal(kvm_mem_open(path, &m, &e), -ENOENT);
	assert_non_null(strstr(e.msg, "missing.img"));

	assert_int_equal(kvm_mem_open(dir, &m, &e), -EINVAL);
	assert_null(m);

	snprintf(path, sizeof(path), "%s/ok.img", dir);
	write_file(path, 8192);
	assert_int_equal(kvm_mem_open(path, &m, &e), 0);
	uint8_t buf[PAGE];
	assert_int_equal(kvm_mem_read(m, 2, 1, buf, &e), -ERANGE);
	assert_int_equal(kvm_mem_read(m, 1, 2, buf, &e), -ERANGE);
	assert_int_equal(kvm_mem_read(m, UINT64_MAX, 1, buf, &e), -ERANGE);

	sc_index *ix = NULL;
	assert_int_equal(sc_index_new(0, 1, &ix, &e), -EINVAL);
	assert_int_equal(sc_index_new(2, 0, &ix, &e), -EINVAL);
	assert_int_equal(sc_index_new(2, 1, &ix, &e), 0);
	assert_int_equal(sc_index_add(ix, "bad/name", m, NULL, NULL, &e), -EINVAL);
	assert_int_equal(sc_index_add(ix, "", m, NULL, NULL, &e), -EINVAL);
	assert_int_equal(sc_index_add(ix, "a", m, NULL, NULL, &e), 0);
	assert_int_equal(sc_index_add(ix, "a", m, NULL, NULL, &e), -EEXIST);
	assert_int_equal(sc_index_add(ix, "b", m, NULL, NULL, &e), 0);
	assert_int_equal(sc_index_add(ix, "c", m, NULL, NULL, &e), -ENOSPC);
	sc_index_free(ix);
	kvm_mem_close(m);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_default_mix),
		cmocka_unit_test(test_one_vm),
		cmocka_unit_test(test_all_zero),
		cmocka_unit_test(test_identical_vms),
		cmocka_unit_test(test_single_page_vms),
		cmocka_unit_test(test_more_than_64_vms),
		cmocka_unit_test(test_hash_collisions),
		cmocka_unit_test(test_sparse_images),
		cmocka_unit_test(test_bad_sources),
	};
	return cmocka_run_group_tests(tests, test_tmp_setup, test_tmp_teardown);
}
