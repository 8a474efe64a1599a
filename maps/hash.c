/*
 * hash.c - BPF_MAP_TYPE_HASH, PERCPU_HASH, LRU_HASH and LRU_PERCPU_HASH:
 * creation checks, lock-free lookup, locked update/delete, get_next_key and
 * for_each. Layout and element lifecycle: maps/htab.h. Allocation, reclaim
 * after dead writers and LRU eviction: maps/htab_alloc.c. Batches:
 * maps/htab_batch.c.
 *
 * Mirrors kernel/bpf/hashtab.c: htab_map_alloc_check() and htab_map_alloc()
 * for the errnos, check_flags() for BPF_NOEXIST/BPF_EXIST, and the iteration
 * order of htab_map_get_next_key() (bucket by bucket, chain order; a missing
 * key restarts at the first element of the table).
 *
 * Readers (helper lookups, syscall lookups) take no lock: they walk the nulls
 * chain validating each element's seqcount and restart when an element under
 * them was rewritten or the walk ended in another bucket's chain. Updates of
 * an existing key take only that element's write lock (or, per-CPU, the
 * calling CPU's slot lock), found lock-free; inserts and deletes take the
 * bucket's spinlock (maps/lock.c) and publish with single store-release
 * operations, so the chain is consistent after every store and a writer
 * killed at any instant leaves at most an element INFLIGHT for htab_reclaim().
 *
 * DIVERGES: an update of an existing key writes the value in place under the
 * element's seqcount (the kernel swaps in a new element for HASH and
 * LRU_HASH). Syscall-side copies are still never torn; a program holding a
 * pointer from an earlier lookup sees the new value instead of the old one,
 * which the kernel only guarantees until the old element is recycled.
 * DIVERGES: BPF_F_NO_PREALLOC maps still carve elements from their file;
 * the flag only skips committing that memory at creation.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/hashfn.h"
#include "maps/htab.h"

/* HTAB_CREATE_FLAG_MASK in kernel/bpf/hashtab.c. */
#define HTAB_CREATE_FLAG_MASK                                                              \
	(BPF_F_NO_PREALLOC | BPF_F_NO_COMMON_LRU | BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK |    \
	 BPF_F_ZERO_SEED)
/* sizeof(struct htab_elem) in the kernel (x86_64), used by its size limit. */
#define KERNEL_HTAB_ELEM_SZ 48u
#define HTAB_PCPU_ALIGN 64u

static bool type_percpu(uint32_t t)
{
	return t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

static bool type_lru(uint32_t t)
{
	return t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/* htab_map_alloc_check(), then the size checks of htab_map_alloc(). */
static int htab_alloc_check(struct map_params *p)
{
	bool percpu = type_percpu(p->map_type), lru = type_lru(p->map_type);
	bool percpu_lru = p->map_flags & BPF_F_NO_COMMON_LRU;
	bool prealloc = !(p->map_flags & BPF_F_NO_PREALLOC);
	uint64_t max, n_buckets;

	/* DIVERGES: BPF_F_ZERO_SEED needs CAP_SYS_ADMIN in the kernel; we have no capabilities. */
	if ((p->map_flags & ~HTAB_CREATE_FLAG_MASK) ||
	    (p->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) ==
		    (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (!lru && percpu_lru)
		return -EINVAL;
	if (lru && !prealloc)
		return -ENOTSUPP;
	if (p->numa_node != MAP_NUMA_NO_NODE && (percpu || percpu_lru))
		return -EINVAL;
	if (p->max_entries == 0 || p->key_size == 0 || p->value_size == 0)
		return -EINVAL;
	if ((uint64_t)p->key_size + p->value_size >= MAP_KMALLOC_MAX_SIZE - KERNEL_HTAB_ELEM_SZ)
		return -E2BIG;
	if (percpu && map_round8(p->value_size) > MAP_PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	max = p->max_entries;
	if (percpu_lru) {
		/* htab_map_alloc(): each CPU's LRU list gets the same number of elements. */
		uint64_t r = (max + p->ncpu - 1) / p->ncpu * p->ncpu;

		max = r > UINT32_MAX ? max / p->ncpu * p->ncpu : r;
		p->max_entries = (uint32_t)max;
	}
	if (max > (1ull << 31))
		return -E2BIG;
	for (n_buckets = 1; n_buckets < max; n_buckets <<= 1)
		;
	/* n_buckets > U32_MAX / sizeof(struct bucket) (16 bytes in the kernel). */
	if (n_buckets > UINT32_MAX / 16)
		return -E2BIG;
	return 0;
}

static int htab_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint64_t n_buckets = 1, ctl_off, fl_off, elems_off, elem_sz, pcpu_off, pcpu_stride = 0, slot_sz;
	uint64_t pool = p->max_entries, seed = 0, end;
	bool percpu = type_percpu(p->map_type);

	while (n_buckets < pool)
		n_buckets <<= 1;
	elem_sz = HTAB_ELEM_HDR_SZ + map_round8(p->key_size) + (percpu ? 0 : map_round8(p->value_size));
	ctl_off = (n_buckets * sizeof(struct htab_bucket) + 63) & ~63ull;
	fl_off = ctl_off + sizeof(struct htab_ctl);
	elems_off = fl_off + (uint64_t)p->ncpu * 64;
	pcpu_off = elems_off + pool * elem_sz;
	pcpu_off = (pcpu_off + HTAB_PCPU_ALIGN - 1) & ~(uint64_t)(HTAB_PCPU_ALIGN - 1);
	end = pcpu_off;
	slot_sz = sizeof(struct map_seqlock) + map_round8(p->value_size);
	if (percpu) {
		pcpu_stride = pool * slot_sz;
		pcpu_stride = (pcpu_stride + HTAB_PCPU_ALIGN - 1) & ~(uint64_t)(HTAB_PCPU_ALIGN - 1);
		end += pcpu_stride * p->ncpu;
	}
	/* The kernel's allocation of such a table fails with -ENOMEM. */
	if (end > ((uint64_t)1 << 44))
		return -ENOMEM;
	if (!(p->map_flags & BPF_F_ZERO_SEED) &&
	    getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		seed = (uint64_t)(uintptr_t)&seed ^ HASHFN_K1;
	hdr->type_u64[0] = n_buckets;
	hdr->type_u64[1] = ctl_off;
	hdr->type_u64[2] = fl_off;
	hdr->type_u64[3] = elems_off;
	hdr->type_u64[4] = elem_sz;
	hdr->type_u64[5] = pcpu_off;
	hdr->type_u64[6] = pcpu_stride;
	hdr->type_u64[7] = pool;
	hdr->type_u64[8] = seed;
	*body_sz = end;
	return 0;
}

static int htab_attach(struct map *m)
{
	uint64_t n_buckets = m->tu[0], ctl_off = m->tu[1], fl_off = m->tu[2], elems_off = m->tu[3];
	uint64_t elem_sz = m->tu[4], pcpu_off = m->tu[5], pcpu_stride = m->tu[6], pool = m->tu[7];
	bool percpu = type_percpu(m->map_type);
	struct htab *h;

	/* The header is shared with clients: check every offset before trusting it. */
	if (n_buckets == 0 || (n_buckets & (n_buckets - 1)) || n_buckets < pool ||
	    n_buckets > (1ull << 31) || pool != m->max_entries ||
	    elem_sz != HTAB_ELEM_HDR_SZ + map_round8(m->key_size) +
			       (percpu ? 0 : map_round8(m->value_size)) ||
	    ctl_off < n_buckets * sizeof(struct htab_bucket) || ctl_off % 64 ||
	    fl_off < ctl_off + sizeof(struct htab_ctl) || elems_off < fl_off + (uint64_t)m->ncpu * 64 ||
	    fl_off % 64 || elems_off % 8 || pcpu_off < elems_off + pool * elem_sz || pcpu_off % 64 ||
	    pcpu_off > m->body_sz)
		return -EINVAL;
	if (percpu && (pcpu_stride < pool * (sizeof(struct map_seqlock) + m->value_stride) ||
		       pcpu_off + pcpu_stride * m->ncpu > m->body_sz))
		return -EINVAL;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->buckets = (struct htab_bucket *)m->base;
	h->ctl = (struct htab_ctl *)(m->base + ctl_off);
	h->fl = m->base + fl_off;
	h->elems = m->base + elems_off;
	h->pcpu = m->base + pcpu_off;
	h->elem_sz = elem_sz;
	h->pcpu_stride = pcpu_stride;
	h->slot_sz = sizeof(struct map_seqlock) + m->value_stride;
	h->seed = m->tu[8];
	h->mask = (uint32_t)(n_buckets - 1);
	h->pool_cnt = (uint32_t)pool;
	h->key_size = m->key_size;
	h->key_stride = map_round8(m->key_size);
	h->ncpu = m->ncpu;
	h->percpu = percpu;
	h->lru = type_lru(m->map_type);
	m->priv = h;
	return 0;
}

static int htab_init(struct map *m)
{
	struct htab *h = m->priv;

	/* Empty chains end in their own bucket's nulls marker. */
	for (uint32_t i = 0; i <= h->mask; i++)
		atomic_store_explicit(&h->buckets[i].head, HTAB_NULLS | i, memory_order_relaxed);
	return 0;
}

static void htab_detach(struct map *m)
{
	zfree(&m->priv);
}

/* ---- locking ---- */

/*
 * Close what a dead holder left half-done in this chain (see maps/htab.h).
 * Element write locks it held repair themselves when someone waits on them.
 */
static void bucket_repair(struct htab *h, struct htab_bucket *b)
{
	uint32_t idx = atomic_load_explicit(&b->head, memory_order_relaxed), steps = 0;

	while (!(idx & HTAB_NULLS) && idx < h->pool_cnt && steps++ < h->pool_cnt) {
		struct htab_elem *e = htab_elem_at(h, idx);

		/* Published but not yet marked, or marked for delete but not unlinked. */
		if (atomic_load_explicit(&e->state, memory_order_relaxed) != HTAB_LINKED)
			atomic_store_explicit(&e->state, HTAB_LINKED, memory_order_relaxed);
		idx = atomic_load_explicit(&e->next, memory_order_relaxed);
	}
	atomic_fetch_add_explicit(&h->ctl->dead_seen, 1, memory_order_relaxed);
}

void htab_bucket_lock(struct htab *h, struct htab_bucket *b)
{
	if (map_lock_acquire(&b->lock))
		bucket_repair(h, b);
}

void htab_bucket_unlock(struct htab_bucket *b)
{
	map_lock_release(&b->lock);
}

#define ELEM_CHECK_SPINS (1u << 12)
#define ELEM_STALE_SPINS (ELEM_CHECK_SPINS * 256u) /* about a second of backed-off spinning */

/* A waiter found @e odd for long: if its writer is gone, close the count. */
static void elem_repair(struct htab_elem *e, uint64_t v, bool waited_long)
{
	uint32_t owner = (uint32_t)(v >> 32);

	if (owner && owner != map_lock_self() && map_lock_owner_gone(owner, waited_long) &&
	    atomic_compare_exchange_strong_explicit(&e->wlock, &v, (uint64_t)((uint32_t)v + 1),
						    memory_order_release, memory_order_relaxed))
		log_warn("maps: element writer pid %u died; element released\n", owner);
}

void htab_elem_lock(struct htab_elem *e)
{
	uint32_t self = map_lock_self(), spins = 0, backoff = 1;

	for (;;) {
		uint64_t v = atomic_load_explicit(&e->wlock, memory_order_relaxed);
		uint32_t s = (uint32_t)v;

		if (!(s & 1)) {
			uint64_t nv = ((uint64_t)self << 32) | (uint32_t)(s + 1);

			/* Pairs with the store-release in htab_elem_unlock(). */
			if (atomic_compare_exchange_weak_explicit(&e->wlock, &v, nv,
								  memory_order_acq_rel,
								  memory_order_relaxed)) {
				/* Data stores stay after the odd count (seqcount writer side). */
				atomic_thread_fence(memory_order_release);
				return;
			}
			continue;
		}
		for (uint32_t i = 0; i < backoff; i++)
			__builtin_ia32_pause();
		if (backoff < 32)
			backoff <<= 1;
		if (++spins % ELEM_CHECK_SPINS == 0)
			elem_repair(e, v, spins >= ELEM_STALE_SPINS);
	}
}

void htab_elem_unlock(struct htab_elem *e)
{
	uint32_t s = (uint32_t)atomic_load_explicit(&e->wlock, memory_order_relaxed);

	/* Pairs with the load-acquire in htab_seq_begin() and the CAS in htab_elem_lock(). */
	atomic_store_explicit(&e->wlock, (uint64_t)(uint32_t)(s + 1), memory_order_release);
}

void htab_elem_reset(struct htab_elem *e)
{
	uint64_t v = atomic_load_explicit(&e->wlock, memory_order_relaxed);

	if ((uint32_t)v & 1)
		atomic_store_explicit(&e->wlock, (uint64_t)(uint32_t)((uint32_t)v + 1),
				      memory_order_release);
}

/* A reader met an odd count: wait for the writer, repairing after a dead one. */
static void elem_wait(struct htab_elem *e)
{
	uint32_t spins = 0;

	for (;;) {
		uint64_t v = atomic_load_explicit(&e->wlock, memory_order_relaxed);

		if (!((uint32_t)v & 1))
			return;
		__builtin_ia32_pause();
		if (++spins % ELEM_CHECK_SPINS == 0)
			elem_repair(e, v, spins >= ELEM_STALE_SPINS * 32);
	}
}

static inline struct htab_bucket *bucket_of(struct htab *h, uint32_t hash)
{
	return &h->buckets[hash & h->mask];
}

/* ---- lookup ---- */

/*
 * Lock-free search. Returns the element holding @key with *seq_out the even
 * seqcount under which it matched (callers that copy or write re-check it),
 * or NULL.
 */
static struct htab_elem *find_rcu(struct htab *h, uint32_t hash, const void *key,
				  uint32_t *seq_out)
{
	struct htab_bucket *b = bucket_of(h, hash);

restart:;
	/* Pairs with the store-release that publishes an element in insert_locked()/unlink. */
	uint32_t idx = atomic_load_explicit(&b->head, memory_order_acquire), steps = 0;

	while (!(idx & HTAB_NULLS)) {
		struct htab_elem *e;
		uint32_t s, next;

		if (__builtin_expect(idx >= h->pool_cnt || ++steps > h->pool_cnt, 0))
			return NULL; /* corrupted by a client writing our file: treat as absent */
		e = htab_elem_at(h, idx);
		s = htab_seq_begin(e);
		if (__builtin_expect(s & 1, 0)) {
			elem_wait(e);
			goto restart;
		}
		if (e->hash == hash && hashfn_key_eq(htab_key(e), key, h->key_size)) {
			if (htab_seq_retry(e, s))
				goto restart;
			if (seq_out)
				*seq_out = s;
			return e;
		}
		next = atomic_load_explicit(&e->next, memory_order_acquire);
		if (htab_seq_retry(e, s))
			goto restart;
		idx = next;
	}
	/* Ended in another bucket's chain: we followed a recycled element. */
	if (__builtin_expect((idx & ~HTAB_NULLS) != (hash & h->mask), 0)) {
		__builtin_ia32_pause();
		goto restart;
	}
	return NULL;
}

/* Search under the bucket lock; *link is the word that points at the element. */
static struct htab_elem *find_locked(struct htab *h, struct htab_bucket *b, uint32_t hash,
				     const void *key, _Atomic uint32_t **link)
{
	_Atomic uint32_t *l = &b->head;
	uint32_t idx = atomic_load_explicit(l, memory_order_relaxed), steps = 0;

	while (!(idx & HTAB_NULLS)) {
		struct htab_elem *e;

		if (idx >= h->pool_cnt || ++steps > h->pool_cnt)
			return NULL;
		e = htab_elem_at(h, idx);
		if (e->hash == hash && hashfn_key_eq(htab_key(e), key, h->key_size)) {
			if (link)
				*link = l;
			return e;
		}
		l = &e->next;
		idx = atomic_load_explicit(l, memory_order_relaxed);
	}
	return NULL;
}

bool htab_chain_contains(struct htab *h, struct htab_bucket *b, uint32_t want,
			 _Atomic uint32_t **link)
{
	_Atomic uint32_t *l = &b->head;
	uint32_t idx = atomic_load_explicit(l, memory_order_relaxed), steps = 0;

	while (!(idx & HTAB_NULLS) && idx < h->pool_cnt && steps++ < h->pool_cnt) {
		if (idx == want) {
			if (link)
				*link = l;
			return true;
		}
		l = &htab_elem_at(h, idx)->next;
		idx = atomic_load_explicit(l, memory_order_relaxed);
	}
	return false;
}

static inline void *value_ptr(struct map *m, struct htab *h, struct htab_elem *e, uint32_t cpu)
{
	if (h->percpu)
		return htab_slot_value(h, htab_index_of(h, e), cpu);
	return htab_value(h, e);
}

static inline void lru_touch(struct htab *h, struct htab_elem *e)
{
	/* Write only when needed: a read-mostly line stays shared across CPUs. */
	if (h->lru && atomic_load_explicit(&e->ref, memory_order_relaxed) != HTAB_REF_USED)
		atomic_store_explicit(&e->ref, HTAB_REF_USED, memory_order_relaxed);
}

void *map_htab_lookup(struct map *m, const void *key)
{
	struct htab *h = m->priv;
	struct htab_elem *e = find_rcu(h, hashfn_key(key, h->key_size, h->seed), key, NULL);

	if (!e)
		return NULL;
	lru_touch(h, e);
	return value_ptr(m, h, e, h->percpu ? map_cpu_fast(h->ncpu) : 0);
}

static void *htab_lookup_percpu(struct map *m, const void *key, uint32_t cpu)
{
	struct htab *h = m->priv;
	struct htab_elem *e = find_rcu(h, hashfn_key(key, h->key_size, h->seed), key, NULL);

	if (!e)
		return NULL;
	lru_touch(h, e);
	return value_ptr(m, h, e, cpu);
}

/*
 * Copy the syscall-side value (per-CPU: every CPU's stride bytes, each slot
 * under its seqlock). Returns false if the element was rewritten meanwhile
 * (its count is no longer @s): the caller looks it up again.
 */
static bool copy_value_checked(struct map *m, struct htab *h, struct htab_elem *e, uint32_t s,
			       void *value)
{
	if (h->percpu) {
		uint32_t idx = htab_index_of(h, e);

		for (uint32_t c = 0; c < h->ncpu; c++)
			map_seqlock_copy_out(htab_slot(h, idx, c),
					     (uint8_t *)value + (size_t)c * m->value_stride,
					     htab_slot_value(h, idx, c), m->value_stride);
	} else {
		map_value_copy(m, value, htab_value(h, e));
		if (m->spin_lock_off >= 0)
			memset((uint8_t *)value + m->spin_lock_off, 0, 4);
	}
	return !htab_seq_retry(e, s);
}

/* Copy out of an element that cannot be recycled (caller holds its bucket lock). */
void htab_copy_value_out(struct map *m, struct htab *h, struct htab_elem *e, void *value,
			 bool locked)
{
	if (locked && !h->percpu) {
		map_value_copy_out(m, value, htab_value(h, e), true);
		return;
	}
	/* In-place writers do not take the bucket lock: still validate against them. */
	for (;;) {
		uint32_t s = htab_seq_begin(e);

		if (s & 1) {
			elem_wait(e);
			continue;
		}
		if (copy_value_checked(m, h, e, s, value))
			return;
	}
}

static int htab_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	struct htab *h = m->priv;
	uint32_t hash = hashfn_key(key, h->key_size, h->seed), s;

	for (;;) {
		struct htab_elem *e = find_rcu(h, hash, key, &s);

		if (!e)
			return -ENOENT;
		if (flags & BPF_F_LOCK) {
			map_value_copy_out(m, value, htab_value(h, e), true);
			return 0;
		}
		/* Rewritten while we copied (in-place update or recycling): copy again. */
		if (copy_value_checked(m, h, e, s, value))
			return 0;
	}
}

/* ---- update / delete ---- */

/* Fill a fresh (INFLIGHT, unpublished) element: key, hash and value, under its write lock. */
static void fill_new(struct map *m, struct htab *h, struct htab_elem *e, uint32_t hash,
		     const void *key, const void *value, bool sys)
{
	htab_elem_lock(e);
	e->hash = hash;
	memcpy(htab_key(e), key, h->key_size);
	if (h->percpu) {
		uint32_t idx = htab_index_of(h, e), me = sys ? 0 : map_cpu_fast(h->ncpu);

		for (uint32_t c = 0; c < h->ncpu; c++) {
			struct map_seqlock *sl = htab_slot(h, idx, c);
			uint8_t *dst = htab_slot_value(h, idx, c);

			map_seqlock_write_lock(sl);
			if (sys) {
				memcpy(dst, (const uint8_t *)value + (size_t)c * m->value_stride,
				       m->value_stride);
			} else {
				/* pcpu_init_value(): a new element shows zeros on other CPUs.
				 * DIVERGES: the kernel long-copies round_up(value_size, 8)
				 * bytes from the program; we copy value_size, padding zero. */
				memset(dst, 0, m->value_stride);
				if (c == me)
					memcpy(dst, value, m->value_size);
			}
			map_seqlock_write_unlock(sl);
		}
	} else {
		memcpy(htab_value(h, e), value, m->value_size);
		/* check_and_init_map_value(): a new element's lock starts unlocked. */
		if (m->spin_lock_off >= 0)
			memset(htab_value(h, e) + m->spin_lock_off, 0, 4);
	}
	/* LRU: one pass of the hand before it can go; looked-up elements get two. */
	atomic_store_explicit(&e->ref, HTAB_REF_NEW, memory_order_relaxed);
	htab_elem_unlock(e);
}

/*
 * Overwrite the value of an existing element found with count @s (or, with
 * @s == HTAB_NIL, one the caller holds the bucket lock of). Per-CPU: the
 * helper writes this CPU's slot, the syscall side every slot, each under its
 * own slot lock. Returns -EAGAIN if the element stopped being that key's
 * (deleted or recycled) before we could write: the caller retries locked.
 */
static int write_existing(struct map *m, struct htab *h, struct htab_elem *e, uint32_t s,
			  uint32_t hash, const void *key, const void *value, bool sys)
{
	if (h->percpu) {
		uint32_t idx = htab_index_of(h, e), c = sys ? 0 : map_cpu_fast(h->ncpu);
		uint32_t end = sys ? h->ncpu : c + 1;

		for (; c < end; c++) {
			struct map_seqlock *sl = htab_slot(h, idx, c);

			map_seqlock_write_lock(sl);
			/* A recycler takes the element lock before any slot: checked under ours. */
			if (s != HTAB_NIL &&
			    ((uint32_t)atomic_load_explicit(&e->wlock, memory_order_acquire) != s ||
			     atomic_load_explicit(&e->state, memory_order_relaxed) != HTAB_LINKED)) {
				map_seqlock_write_unlock(sl);
				return -EAGAIN;
			}
			if (sys)
				memcpy(htab_slot_value(h, idx, c),
				       (const uint8_t *)value + (size_t)c * m->value_stride,
				       m->value_stride);
			else
				memcpy(htab_slot_value(h, idx, c), value, m->value_size);
			map_seqlock_write_unlock(sl);
		}
		lru_touch(h, e);
		return 0;
	}
	htab_elem_lock(e);
	/* Nobody can recycle it while we hold its lock; check it is still this key's. */
	if (atomic_load_explicit(&e->state, memory_order_relaxed) != HTAB_LINKED ||
	    e->hash != hash || !hashfn_key_eq(htab_key(e), key, h->key_size)) {
		htab_elem_unlock(e);
		return -EAGAIN;
	}
	map_value_copy(m, htab_value(h, e), value);
	htab_elem_unlock(e);
	lru_touch(h, e);
	return 0;
}

/* Publish a filled INFLIGHT element at the head of @b's chain. */
static void insert_locked(struct htab *h, struct htab_bucket *b, struct htab_elem *e)
{
	uint32_t idx = htab_index_of(h, e);

	atomic_store_explicit(&e->next, atomic_load_explicit(&b->head, memory_order_relaxed),
			      memory_order_relaxed);
	/* Pairs with the load-acquire of the head in find_rcu(). */
	atomic_store_explicit(&b->head, idx, memory_order_release);
	/* After the publish: a writer killed in between leaves INFLIGHT in-chain, fixed by repair. */
	atomic_store_explicit(&e->state, HTAB_LINKED, memory_order_relaxed);
}

void htab_unlink_locked(struct map *m, struct htab *h, _Atomic uint32_t *link, struct htab_elem *e)
{
	/* Mark first: killed after this, repair sees it in the chain and re-marks it LINKED. */
	atomic_store_explicit(&e->state, HTAB_INFLIGHT(map_lock_self()), memory_order_relaxed);
	/* Pairs with the load-acquire of next/head in find_rcu(). */
	atomic_store_explicit(link, atomic_load_explicit(&e->next, memory_order_relaxed),
			      memory_order_release);
	htab_free_elem(h, e);
}

static long htab_update_common(struct map *m, const void *key, const void *value, uint64_t flags,
			       bool sys)
{
	struct htab *h = m->priv;
	uint32_t hash, idx, s, op = (uint32_t)(flags & ~(uint64_t)BPF_F_LOCK), tries = 0;
	struct htab_bucket *b;
	struct htab_elem *e;
	bool reclaimed = false;

	/* htab_map_update_elem() / __htab_percpu_map_update_elem() / htab_lru_map_update_elem(). */
	if (h->percpu || h->lru) {
		if (flags > BPF_EXIST)
			return -EINVAL;
	} else if (op > BPF_EXIST) {
		return -EINVAL;
	}
	if ((flags & BPF_F_LOCK) && m->spin_lock_off < 0)
		return -EINVAL;
	hash = hashfn_key(key, h->key_size, h->seed);
	b = bucket_of(h, hash);
	/* Fast path: the key exists; write it in place without the bucket lock. */
	e = find_rcu(h, hash, key, &s);
	if (e) {
		if (op == BPF_NOEXIST)
			return -EEXIST;
		if (flags & BPF_F_LOCK) {
			/* Like the kernel: an existing element is updated under its own lock only. */
			map_value_copy_in(m, htab_value(h, e), value, true);
			return 0;
		}
		if (write_existing(m, h, e, s, hash, key, value, sys) == 0)
			return 0;
	} else if (op == BPF_EXIST) {
		return -ENOENT;
	}
again:
	htab_bucket_lock(h, b);
	e = find_locked(h, b, hash, key, NULL);
	/* check_flags() */
	if (e && op == BPF_NOEXIST) {
		htab_bucket_unlock(b);
		return -EEXIST;
	}
	if (!e && op == BPF_EXIST) {
		htab_bucket_unlock(b);
		return -ENOENT;
	}
	if (e) {
		if (flags & BPF_F_LOCK)
			map_value_copy_in(m, htab_value(h, e), value, true);
		else
			write_existing(m, h, e, HTAB_NIL, hash, key, value, sys);
		htab_bucket_unlock(b);
		return 0;
	}
	idx = htab_alloc_elem(m, h);
	if (idx == HTAB_NIL) {
		htab_bucket_unlock(b);
		/* Elements held by killed writers first (cheap unless one died recently). */
		if (!reclaimed) {
			reclaimed = true;
			if (htab_reclaim(m, h))
				goto again;
		}
		if (h->lru && tries++ < 16 && htab_lru_evict(m, h) == 0)
			goto again;
		return -E2BIG;
	}
	e = htab_elem_at(h, idx);
	fill_new(m, h, e, hash, key, value, sys);
	insert_locked(h, b, e);
	htab_bucket_unlock(b);
	return 0;
}

static int htab_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return (int)htab_update_common(m, key, value, flags, true);
}

long map_htab_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return htab_update_common(m, key, value, flags, false);
}

long map_htab_delete(struct map *m, const void *key)
{
	struct htab *h = m->priv;
	uint32_t hash = hashfn_key(key, h->key_size, h->seed);
	struct htab_bucket *b = bucket_of(h, hash);
	_Atomic uint32_t *link;
	struct htab_elem *e;

	htab_bucket_lock(h, b);
	e = find_locked(h, b, hash, key, &link);
	if (!e) {
		htab_bucket_unlock(b);
		return -ENOENT;
	}
	htab_unlink_locked(m, h, link, e);
	htab_bucket_unlock(b);
	return 0;
}

static int htab_sys_delete(struct map *m, const void *key)
{
	return (int)map_htab_delete(m, key);
}

/* htab_map_lookup_and_delete_elem(): copy, then delete, under the bucket lock. */
static int htab_sys_lookup_and_delete(struct map *m, const void *key, void *value, uint64_t flags)
{
	struct htab *h = m->priv;
	uint32_t hash = hashfn_key(key, h->key_size, h->seed);
	struct htab_bucket *b = bucket_of(h, hash);
	_Atomic uint32_t *link;
	struct htab_elem *e;

	htab_bucket_lock(h, b);
	e = find_locked(h, b, hash, key, &link);
	if (!e) {
		htab_bucket_unlock(b);
		return -ENOENT;
	}
	htab_copy_value_out(m, h, e, value, flags & BPF_F_LOCK);
	htab_unlink_locked(m, h, link, e);
	htab_bucket_unlock(b);
	return 0;
}

/* ---- iteration ---- */

/* First key of the first non-empty bucket from @i on (locked per bucket: syscall side only). */
static int first_from(struct htab *h, uint32_t i, void *next_key)
{
	for (; i <= h->mask; i++) {
		struct htab_bucket *b = &h->buckets[i];
		uint32_t idx;

		if (atomic_load_explicit(&b->head, memory_order_acquire) & HTAB_NULLS)
			continue;
		htab_bucket_lock(h, b);
		idx = atomic_load_explicit(&b->head, memory_order_relaxed);
		if (!(idx & HTAB_NULLS) && idx < h->pool_cnt) {
			memcpy(next_key, htab_key(htab_elem_at(h, idx)), h->key_size);
			htab_bucket_unlock(b);
			return 0;
		}
		htab_bucket_unlock(b);
	}
	return -ENOENT;
}

/* htab_map_get_next_key(): the element after @key in its chain, else the next buckets. */
static int htab_get_next_key(struct map *m, const void *key, void *next_key)
{
	struct htab *h = m->priv;
	struct htab_bucket *b;
	struct htab_elem *e;
	uint32_t hash, idx;

	if (!key)
		return first_from(h, 0, next_key);
	hash = hashfn_key(key, h->key_size, h->seed);
	b = bucket_of(h, hash);
	htab_bucket_lock(h, b);
	e = find_locked(h, b, hash, key, NULL);
	if (!e) {
		htab_bucket_unlock(b);
		return first_from(h, 0, next_key);
	}
	idx = atomic_load_explicit(&e->next, memory_order_relaxed);
	if (!(idx & HTAB_NULLS) && idx < h->pool_cnt) {
		memcpy(next_key, htab_key(htab_elem_at(h, idx)), h->key_size);
		htab_bucket_unlock(b);
		return 0;
	}
	htab_bucket_unlock(b);
	return first_from(h, (hash & h->mask) + 1, next_key);
}

/*
 * bpf_for_each_hash_elem(): every element, no lock held while the callback
 * runs (it may update or delete). A chain that changes under the walk may make
 * us skip or revisit an element, as the kernel's RCU walk may.
 */
static long htab_for_each(struct map *m, map_for_each_fn fn, void *ctx, uint64_t flags)
{
	struct htab *h = m->priv;
	uint32_t cpu = map_cpu_fast(h->ncpu);
	long n = 0;

	for (uint32_t i = 0; i <= h->mask; i++) {
		uint32_t idx = atomic_load_explicit(&h->buckets[i].head, memory_order_acquire);
		uint32_t steps = 0;

		while (!(idx & HTAB_NULLS) && idx < h->pool_cnt && steps++ < h->pool_cnt) {
			struct htab_elem *e = htab_elem_at(h, idx);
			uint32_t next = atomic_load_explicit(&e->next, memory_order_acquire);

			if (atomic_load_explicit(&e->state, memory_order_relaxed) == HTAB_LINKED) {
				n++;
				if (fn(m, htab_key(e), value_ptr(m, h, e, cpu), ctx))
					return n;
			}
			idx = next;
		}
	}
	return n;
}

#define HTAB_OPS(nm, lp)                                                                   \
	{                                                                                  \
		.name = nm, .alloc_check = htab_alloc_check, .layout = htab_layout,        \
		.init = htab_init, .attach = htab_attach, .detach = htab_detach,           \
		.sys_lookup = htab_sys_lookup, .sys_update = htab_sys_update,              \
		.sys_delete = htab_sys_delete,                                             \
		.sys_lookup_and_delete = htab_sys_lookup_and_delete,                       \
		.get_next_key = htab_get_next_key, .lookup_batch = htab_lookup_batch,      \
		.has_update_batch = true, .has_delete_batch = true, .has_lookup_and_delete = true,                   \
		.lookup = map_htab_lookup, .update = map_htab_update, .delete = map_htab_delete,       \
		.lookup_percpu = lp, .for_each = htab_for_each,                            \
	}

const struct map_ops map_hash_ops = HTAB_OPS("hash", NULL);
const struct map_ops map_percpu_hash_ops = HTAB_OPS("percpu_hash", htab_lookup_percpu);
const struct map_ops map_lru_hash_ops = HTAB_OPS("lru_hash", NULL);
const struct map_ops map_lru_percpu_hash_ops = HTAB_OPS("lru_percpu_hash", htab_lookup_percpu);
