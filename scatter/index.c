/* index.c - the page index: content ids per page, holders per content.
 * See scatter.h for the identity rule and the memory budget. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include <openssl/evp.h>
#include <xxhash.h>
#if defined(__x86_64__) && defined(HAVE_XXH_DISPATCH)
/* libxxhash picks the widest vector unit (AVX2, AVX-512) at run time */
#include <xxh_x86dispatch.h>
#define page_hash(p) XXH3_128bits_dispatch((p), KVM_PAGE_SIZE)
#else
#define page_hash(p) XXH3_128bits((p), KVM_PAGE_SIZE)
#endif

#include "index_int.h"

struct content {
	XXH128_hash_t hash;
	uint32_t rep_vm;      /* where the content was first seen */
	uint32_t refs;        /* pages holding it, whole rack */
	uint64_t rep_page;
};

struct vm {
	char name[SC_NAME_MAX];
	kvm_mem *mem;
	uint64_t pages;
	uint32_t *map;        /* content id per page */
	int has_digest;
	uint8_t digest[32];   /* SHA-256 of the memory, when digests are on */
};

struct sc_index {
	unsigned nvms, added, threads, words;
	int digests;                  /* take a SHA-256 per VM while indexing */
	EVP_MD_CTX *md;               /* the digest of the VM being added */
	struct vm *vms;
	struct content *contents;     /* [0] unused (zero page) */
	uint64_t *holders;            /* words per content */
	uint32_t ncontents, cap;      /* ids 1..ncontents; arrays sized cap+1 */
	uint32_t *table;              /* open addressing: content ids, 0 = empty */
	uint64_t tmask;
	uint64_t test_mask;           /* index_int.h: 0, or keep only these hash bits */
	uint8_t scratch[KVM_PAGE_SIZE] __attribute__((aligned(64)));
};

int sc_index_new(unsigned nvms, unsigned threads, sc_index **out, vms_err *err)
{
	if (nvms == 0 || nvms > SC_MAX_VMS)
		return vms_err_set(err, -EINVAL, "the number of VMs must be 1..%u", SC_MAX_VMS);
	if (threads == 0 || threads > SC_MAX_THREADS)
		return vms_err_set(err, -EINVAL, "the number of threads must be 1..%u", SC_MAX_THREADS);
	sc_index *ix = calloc(1, sizeof(*ix));
	if (!ix)
		return vms_err_set(err, -ENOMEM, "out of memory");
	ix->nvms = nvms;
	ix->threads = threads;
	ix->words = (nvms + 63) / 64;
	ix->vms = calloc(nvms, sizeof(*ix->vms));
	ix->tmask = (1u << 16) - 1;
	ix->table = calloc(ix->tmask + 1, sizeof(*ix->table));
	if (!ix->vms || !ix->table) {
		sc_index_free(ix);
		return vms_err_set(err, -ENOMEM, "out of memory");
	}
	*out = ix;
	return 0;
}

void sc_index_free(sc_index *ix)
{
	if (!ix)
		return;
	for (unsigned i = 0; ix->vms && i < ix->nvms; i++)
		free(ix->vms[i].map);
	free(ix->vms);
	free(ix->contents);
	free(ix->holders);
	free(ix->table);
	EVP_MD_CTX_free(ix->md);
	free(ix);
}

void sc_index_set_digests(sc_index *ix, int on)
{
	ix->digests = on;
}

int sc_index_vm_digest(const sc_index *ix, unsigned vm, uint8_t out[32])
{
	if (vm >= ix->added || !ix->vms[vm].has_digest)
		return -ENODATA;
	memcpy(out, ix->vms[vm].digest, 32);
	return 0;
}

/* ---- the content table ------------------------------------------------------- */

static int grow_contents(sc_index *ix)
{
	if (ix->ncontents < ix->cap)
		return 0;
	if (ix->cap >= UINT32_MAX / 2)
		return -E2BIG;
	uint32_t ncap = ix->cap ? ix->cap * 2 : 4096;
	struct content *c = realloc(ix->contents, ((size_t)ncap + 1) * sizeof(*c));
	if (!c)
		return -ENOMEM;
	ix->contents = c;
	uint64_t *h = realloc(ix->holders, ((size_t)ncap + 1) * ix->words * sizeof(*h));
	if (!h)
		return -ENOMEM;
	memset(h + ((size_t)ix->cap + 1) * ix->words, 0,
	       (size_t)(ncap - ix->cap) * ix->words * sizeof(*h));
	ix->holders = h;
	ix->cap = ncap;
	return 0;
}

static int grow_table(sc_index *ix)
{
	if ((uint64_t)ix->ncontents * 2 < ix->tmask + 1)
		return 0;
	uint64_t nmask = ix->tmask * 2 + 1;
	uint32_t *t = calloc(nmask + 1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (uint32_t id = 1; id <= ix->ncontents; id++) {
		uint64_t i = ix->contents[id].hash.low64 & nmask;
		while (t[i])
			i = (i + 1) & nmask;
		t[i] = id;
	}
	free(ix->table);
	ix->table = t;
	ix->tmask = nmask;
	return 0;
}

/* Byte-compare `page` with content `id`'s first occurrence. `chunk` holds the
 * pages [first, first+n) of VM `vm` that are being inserted right now. */
static int same_content(sc_index *ix, uint32_t id, const uint8_t *page, unsigned vm,
			uint64_t first, size_t n, const uint8_t *chunk, vms_err *err)
{
	const struct content *c = &ix->contents[id];
	const uint8_t *other;
	if (c->rep_vm == vm && c->rep_page >= first && c->rep_page < first + n) {
		other = chunk + (c->rep_page - first) * KVM_PAGE_SIZE;
	} else {
		int r = kvm_mem_view(ix->vms[c->rep_vm].mem, c->rep_page, 1, ix->scratch, &other, err);
		if (r < 0)
			return r;
	}
	return memcmp(page, other, KVM_PAGE_SIZE) == 0;
}

void sc_index_test_hash_bits(sc_index *ix, unsigned bits)
{
	ix->test_mask = bits >= 1 && bits <= 63 ? (1ull << bits) - 1 : 0;
}

/* Feed a chunk to the VM's SHA-256: runs of non-zero pages from the chunk,
 * zero pages from a zero page (the holes of a sparse image stay untouched). */
static int digest_chunk(EVP_MD_CTX *md, const uint8_t *chunk, size_t n, const uint8_t *zero)
{
	static const uint8_t zero_page[KVM_PAGE_SIZE];
	for (size_t p = 0, run; p < n; p += run) {
		for (run = 1; p + run < n && zero[p + run] == zero[p]; run++)
			;
		for (size_t i = 0; zero[p] && i < run; i++)
			if (EVP_DigestUpdate(md, zero_page, KVM_PAGE_SIZE) != 1)
				return -EIO;
		if (!zero[p] && EVP_DigestUpdate(md, chunk + p * KVM_PAGE_SIZE, run * KVM_PAGE_SIZE) != 1)
			return -EIO;
	}
	return 0;
}

/* Insert pages [first, first+n) of VM `vm`, whose bytes are in `chunk`, whose
 * zero flags are in `zero` and whose hashes are in `hash`. */
static int insert_chunk(sc_index *ix, unsigned vm, uint64_t first, size_t n,
			const uint8_t *chunk, const XXH128_hash_t *hash, const uint8_t *zero,
			vms_err *err)
{
	struct vm *v = &ix->vms[vm];
	if (ix->md && digest_chunk(ix->md, chunk, n, zero) < 0)
		return vms_err_set(err, -EIO, "SHA-256 failed");
	for (size_t p = 0; p < n; p++) {
		const uint8_t *page = chunk + p * KVM_PAGE_SIZE;
		if (p + 4 < n && !zero[p + 4])     /* hide the table's cache miss */
			__builtin_prefetch(&ix->table[hash[p + 4].low64 & ix->tmask]);
		if (zero[p]) {
			v->map[first + p] = SC_ZERO_CONTENT;
			continue;
		}
		XXH128_hash_t h = hash[p];
		if (ix->test_mask)
			h = (XXH128_hash_t){ .low64 = h.low64 & ix->test_mask };
		uint64_t i = h.low64 & ix->tmask;
		unsigned same = 0;
		uint32_t id = 0;
		while (ix->table[i]) {
			uint32_t cand = ix->table[i];
			if (same < SC_SAME_HASH_MAX && XXH128_isEqual(ix->contents[cand].hash, h)) {
				same++;
				int r = same_content(ix, cand, page, vm, first, n, chunk, err);
				if (r < 0)
					return r;
				if (r) {
					id = cand;
					break;
				}
			}
			i = (i + 1) & ix->tmask;
		}
		if (!id) {
			if (ix->ncontents == UINT32_MAX - 1)
				return vms_err_set(err, -E2BIG, "more than %u distinct contents", UINT32_MAX - 1);
			int r = grow_contents(ix);
			if (r < 0)
				return vms_err_set(err, r, "content table: %s", strerror(-r));
			id = ++ix->ncontents;
			ix->contents[id] = (struct content){ .hash = h, .rep_vm = vm, .rep_page = first + p };
			ix->table[i] = id;
			r = grow_table(ix);
			if (r < 0)
				return vms_err_set(err, r, "content table: %s", strerror(-r));
		}
		if (ix->contents[id].refs == UINT32_MAX)
			return vms_err_set(err, -E2BIG, "a content occurs more than %u times", UINT32_MAX);
		ix->contents[id].refs++;
		ix->holders[(size_t)id * ix->words + vm / 64] |= 1ull << (vm % 64);
		v->map[first + p] = id;
	}
	return 0;
}

/* ---- hashing: inline, or by worker threads through a ring of chunk slots ---- */

enum { SLOT_FREE, SLOT_BUSY, SLOT_READY };

struct slot {
	int state;
	int rc;
	uint64_t chunk;
	uint8_t *buf;                 /* scratch for sources that copy */
	const uint8_t *pages;         /* the chunk's bytes (in buf or mapped) */
	XXH128_hash_t *hash;
	uint8_t *zero;                /* 1: the page is all zero (not hashed) */
	vms_err err;
};

struct pool {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	kvm_mem *mem;
	uint64_t pages, nchunks, next;  /* next chunk to hash */
	int abort;
	unsigned nslots;
	struct slot *slots;
};

static size_t chunk_len(uint64_t pages, uint64_t chunk)
{
	uint64_t first = chunk * SC_CHUNK_PAGES, left = pages - first;
	return left < SC_CHUNK_PAGES ? (size_t)left : SC_CHUNK_PAGES;
}

/* Read a chunk and, for each page, either flag it as zero (a hole of a
 * sparse image, never touched, or byte-exact test) or hash it. */
static int hash_chunk(kvm_mem *mem, uint64_t pages, uint64_t chunk, uint8_t *buf,
		      const uint8_t **view, XXH128_hash_t *hash, uint8_t *zero, vms_err *err)
{
	size_t n = chunk_len(pages, chunk);
	long holes = kvm_mem_holes(mem, chunk * SC_CHUNK_PAGES, n, zero, err);
	if (holes < 0)
		return (int)holes;
	int r = kvm_mem_view(mem, chunk * SC_CHUNK_PAGES, n, buf, view, err);
	if (r < 0)
		return r;
	for (size_t p = 0; p < n; p++) {
		const uint8_t *page = *view + p * KVM_PAGE_SIZE;
		if (zero[p])
			continue;
		zero[p] = (uint8_t)vms_page_is_zero(page);
		if (!zero[p])
			hash[p] = page_hash(page);
	}
	return 0;
}

/* With the lock held: if the next chunk's slot is free, take the chunk, hash
 * it with the lock dropped and mark it ready. Returns 0 when there was
 * nothing to take. */
static int hash_next(struct pool *pl)
{
	if (pl->abort || pl->next >= pl->nchunks || pl->slots[pl->next % pl->nslots].state != SLOT_FREE)
		return 0;
	uint64_t chunk = pl->next++;
	struct slot *s = &pl->slots[chunk % pl->nslots];
	s->state = SLOT_BUSY;
	s->chunk = chunk;
	pthread_mutex_unlock(&pl->lock);
	int r = hash_chunk(pl->mem, pl->pages, chunk, s->buf, &s->pages, s->hash, s->zero, &s->err);
	pthread_mutex_lock(&pl->lock);
	s->rc = r;
	s->state = SLOT_READY;
	pthread_cond_broadcast(&pl->cond);
	return 1;
}

static void *worker(void *arg)
{
	struct pool *pl = arg;
	pthread_mutex_lock(&pl->lock);
	while (!pl->abort && pl->next < pl->nchunks)
		if (!hash_next(pl))
			pthread_cond_wait(&pl->cond, &pl->lock);
	pthread_mutex_unlock(&pl->lock);
	return NULL;
}

static void progress_at(sc_progress_fn progress, void *ctx, unsigned vm, uint64_t chunk,
			uint64_t pages)
{
	if (progress && (chunk % 64 == 0 || (chunk + 1) * SC_CHUNK_PAGES >= pages)) {
		uint64_t done = (chunk + 1) * SC_CHUNK_PAGES;
		progress(ctx, vm, done < pages ? done : pages, pages);
	}
}

static int index_inline(sc_index *ix, unsigned vm, sc_progress_fn progress, void *ctx,
			vms_err *err)
{
	struct vm *v = &ix->vms[vm];
	uint8_t *buf = aligned_alloc(64, SC_CHUNK_PAGES * KVM_PAGE_SIZE);
	XXH128_hash_t *hash = malloc(SC_CHUNK_PAGES * sizeof(*hash));
	uint8_t zero[SC_CHUNK_PAGES];
	int r = 0;
	if (!buf || !hash) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	uint64_t nchunks = (v->pages + SC_CHUNK_PAGES - 1) / SC_CHUNK_PAGES;
	for (uint64_t c = 0; c < nchunks && r == 0; c++) {
		const uint8_t *view;
		r = hash_chunk(v->mem, v->pages, c, buf, &view, hash, zero, err);
		if (r == 0)
			r = insert_chunk(ix, vm, c * SC_CHUNK_PAGES, chunk_len(v->pages, c), view, hash,
					 zero, err);
		progress_at(progress, ctx, vm, c, v->pages);
	}
out:
	free(buf);
	free(hash);
	return r;
}

static int index_threaded(sc_index *ix, unsigned vm, sc_progress_fn progress, void *ctx,
			  vms_err *err)
{
	struct vm *v = &ix->vms[vm];
	struct pool pl = {
		.mem = v->mem, .pages = v->pages,
		.nchunks = (v->pages + SC_CHUNK_PAGES - 1) / SC_CHUNK_PAGES,
		.nslots = 4 * ix->threads,
	};
	pthread_t tids[SC_MAX_THREADS];
	unsigned started = 0;
	int r = 0;
	pthread_mutex_init(&pl.lock, NULL);
	pthread_cond_init(&pl.cond, NULL);
	pl.slots = calloc(pl.nslots, sizeof(*pl.slots));
	if (!pl.slots) {
		r = vms_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < pl.nslots; i++) {
		pl.slots[i].buf = aligned_alloc(64, SC_CHUNK_PAGES * KVM_PAGE_SIZE);
		pl.slots[i].hash = malloc(SC_CHUNK_PAGES * sizeof(XXH128_hash_t));
		pl.slots[i].zero = malloc(SC_CHUNK_PAGES);
		if (!pl.slots[i].buf || !pl.slots[i].hash || !pl.slots[i].zero) {
			r = vms_err_set(err, -ENOMEM, "out of memory");
			goto out;
		}
	}
	/* threads - 1 workers hash; the calling thread inserts, in order, and
	 * hashes too whenever the chunk it needs next is not ready */
	for (; started < ix->threads - 1; started++) {
		if (pthread_create(&tids[started], NULL, worker, &pl) != 0) {
			r = vms_err_set(err, -EAGAIN, "cannot start hashing threads");
			goto out;
		}
	}
	for (uint64_t c = 0; c < pl.nchunks && r == 0; c++) {
		struct slot *s = &pl.slots[c % pl.nslots];
		pthread_mutex_lock(&pl.lock);
		while (!(s->state == SLOT_READY && s->chunk == c))
			if (!hash_next(&pl))     /* rather than wait, hash too */
				pthread_cond_wait(&pl.cond, &pl.lock);
		pthread_mutex_unlock(&pl.lock);
		if (s->rc < 0) {
			r = s->rc;
			if (err)
				*err = s->err;
		} else {
			r = insert_chunk(ix, vm, c * SC_CHUNK_PAGES, chunk_len(v->pages, c), s->pages,
					 s->hash, s->zero, err);
		}
		pthread_mutex_lock(&pl.lock);
		s->state = SLOT_FREE;
		pthread_cond_broadcast(&pl.cond);
		pthread_mutex_unlock(&pl.lock);
		progress_at(progress, ctx, vm, c, v->pages);
	}
out:
	pthread_mutex_lock(&pl.lock);
	pl.abort = 1;
	pthread_cond_broadcast(&pl.cond);
	pthread_mutex_unlock(&pl.lock);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	for (unsigned i = 0; pl.slots && i < pl.nslots; i++) {
		free(pl.slots[i].buf);
		free(pl.slots[i].hash);
		free(pl.slots[i].zero);
	}
	free(pl.slots);
	pthread_cond_destroy(&pl.cond);
	pthread_mutex_destroy(&pl.lock);
	return r;
}

int sc_index_add(sc_index *ix, const char *name, kvm_mem *mem,
		 sc_progress_fn progress, void *ctx, vms_err *err)
{
	if (ix->added == ix->nvms)
		return vms_err_set(err, -ENOSPC, "index is full (%u VMs)", ix->nvms);
	if (!vms_name_valid(name, strlen(name), SC_NAME_MAX))
		return vms_err_set(err, -EINVAL, "invalid VM name '%s' (1-%u characters of A-Z a-z 0-9 . _ -, not starting with . or -)",
				   name, SC_NAME_MAX - 1);
	for (unsigned i = 0; i < ix->added; i++)
		if (strcmp(ix->vms[i].name, name) == 0)
			return vms_err_set(err, -EEXIST, "VM name '%s' given twice", name);
	uint64_t pages = kvm_mem_pages(mem);
	if (pages == 0 || pages > UINT32_MAX)
		return vms_err_set(err, -EINVAL, "%s: %llu pages (must be 1..%u)", name,
				   (unsigned long long)pages, UINT32_MAX);
	unsigned vm = ix->added;
	struct vm *v = &ix->vms[vm];
	v->map = malloc(pages * sizeof(*v->map));
	if (!v->map)
		return vms_err_set(err, -ENOMEM, "%s: out of memory for the page map", name);
	memcpy(v->name, name, strlen(name) + 1);
	v->mem = mem;
	v->pages = pages;
	ix->added++;
	if (ix->digests) {
		if (!ix->md && !(ix->md = EVP_MD_CTX_new()))
			return vms_err_set(err, -ENOMEM, "out of memory");
		if (EVP_DigestInit_ex(ix->md, EVP_sha256(), NULL) != 1)
			return vms_err_set(err, -EIO, "SHA-256 failed to start");
	}
	int r = ix->threads == 1 ? index_inline(ix, vm, progress, ctx, err)
				 : index_threaded(ix, vm, progress, ctx, err);
	if (r < 0)
		return vms_err_prefix(err, r, "indexing %s", name);
	unsigned dlen = 32;
	if (ix->md && EVP_DigestFinal_ex(ix->md, v->digest, &dlen) == 1)
		v->has_digest = 1;
	if (ix->added == ix->nvms)
		for (unsigned i = 0; i < ix->nvms; i++)
			ix->vms[i].mem = NULL;
	return 0;
}

/* ---- queries ------------------------------------------------------------- */

unsigned sc_index_vms(const sc_index *ix) { return ix->added; }
const char *sc_index_vm_name(const sc_index *ix, unsigned vm) { return ix->vms[vm].name; }
uint64_t sc_index_vm_pages(const sc_index *ix, unsigned vm) { return ix->vms[vm].pages; }
uint32_t sc_index_page(const sc_index *ix, unsigned vm, uint64_t page) { return ix->vms[vm].map[page]; }
uint32_t sc_index_contents(const sc_index *ix) { return ix->ncontents; }
uint32_t sc_index_content_refs(const sc_index *ix, uint32_t cid) { return ix->contents[cid].refs; }
unsigned sc_index_holder_words(const sc_index *ix) { return ix->words; }

void sc_index_content_where(const sc_index *ix, uint32_t cid, unsigned *vm, uint64_t *page)
{
	*vm = ix->contents[cid].rep_vm;
	*page = ix->contents[cid].rep_page;
}

const uint64_t *sc_index_holders(const sc_index *ix, uint32_t cid)
{
	return ix->holders + (size_t)cid * ix->words;
}

static unsigned holder_count(const sc_index *ix, uint32_t cid)
{
	const uint64_t *h = sc_index_holders(ix, cid);
	unsigned n = 0;
	for (unsigned w = 0; w < ix->words; w++)
		n += (unsigned)__builtin_popcountll(h[w]);
	return n;
}

int sc_index_stats(const sc_index *ix, struct sc_vm_stats *vm, struct sc_rack_stats *rack,
		   vms_err *err)
{
	uint8_t *multi = malloc((size_t)ix->ncontents + 1);   /* 1: held by >= 2 VMs */
	if (!multi)
		return vms_err_set(err, -ENOMEM, "out of memory");
	memset(rack, 0, sizeof(*rack));
	memset(vm, 0, ix->added * sizeof(*vm));
	multi[0] = 0;
	for (uint32_t id = 1; id <= ix->ncontents; id++) {
		multi[id] = holder_count(ix, id) >= 2;
		rack->shared_contents += multi[id];
		const uint64_t *h = sc_index_holders(ix, id);
		for (unsigned w = 0; w < ix->words; w++)
			for (uint64_t bits = h[w]; bits; bits &= bits - 1)
				vm[w * 64 + (unsigned)__builtin_ctzll(bits)].distinct_nonzero++;
	}
	rack->distinct_nonzero = ix->ncontents;
	for (unsigned i = 0; i < ix->added; i++) {
		struct sc_vm_stats *s = &vm[i];
		const struct vm *v = &ix->vms[i];
		s->pages = v->pages;
		for (uint64_t p = 0; p < v->pages; p++) {
			uint32_t id = v->map[p];
			if (id == SC_ZERO_CONTENT) {
				s->zero_pages++;
				continue;
			}
			s->inter_identical += multi[id];
			s->unique += ix->contents[id].refs == 1;
		}
		s->self_identical = s->pages - s->zero_pages - s->distinct_nonzero;
		rack->pages += s->pages;
		rack->zero_pages += s->zero_pages;
	}
	free(multi);
	return 0;
}

/* ---- lookups by content (live streams) ------------------------------------------ */

static XXH128_hash_t hash_of(const sc_index *ix, const uint8_t *page)
{
	XXH128_hash_t h = page_hash(page);
	if (ix->test_mask)
		h = (XXH128_hash_t){ .low64 = h.low64 & ix->test_mask };
	return h;
}

int sc_index_content_is(const sc_index *ix, uint32_t cid, const uint8_t *page)
{
	return cid >= 1 && cid <= ix->ncontents && XXH128_isEqual(ix->contents[cid].hash, hash_of(ix, page));
}

uint32_t sc_index_find(const sc_index *ix, const uint8_t *page)
{
	if (ix->ncontents == 0 || vms_page_is_zero(page))
		return SC_ZERO_CONTENT;
	XXH128_hash_t h = hash_of(ix, page);
	for (uint64_t i = h.low64 & ix->tmask; ix->table[i]; i = (i + 1) & ix->tmask)
		if (XXH128_isEqual(ix->contents[ix->table[i]].hash, h))
			return ix->table[i];
	return SC_ZERO_CONTENT;
}
