/*
 * htab_alloc.c - where hash elements come from and go back to: per-CPU
 * lock-free freelists, a bump pointer over never-used elements, the repair of
 * elements a killed writer left INFLIGHT, and LRU eviction.
 *
 * The kernel preallocates max_entries elements onto a per-CPU freelist
 * (kernel/bpf/percpu_freelist.c) and fails an insert with -E2BIG when it is
 * empty; capacity here is the same, pool_cnt == max_entries, so the number
 * of elements a map can hold is exactly the kernel's. Each CPU's freelist is
 * a Treiber stack whose head packs {tag:32, index+1:32}; the tag changes on
 * every push and pop, so a head that was popped and pushed back in between
 * (ABA) fails the CAS. Elements never used yet are handed out by a bump
 * counter, so creating a BPF_F_NO_PREALLOC map touches none of them.
 *
 * Kill safety: every element a writer holds is marked INFLIGHT(pid) right
 * after it is taken and until it is published or pushed back (maps/htab.h).
 * htab_reclaim() scans for INFLIGHT elements of dead pids and either re-marks
 * them LINKED (they made it into a chain) or frees them. It runs when an
 * insert finds no free element, at most once a second unless a lock was taken
 * over from a dead owner since the last scan. DIVERGES (no kernel analogue):
 * a SIGKILL landing exactly between a freelist CAS and the state store right
 * after it (a couple of instructions) still loses that one element.
 *
 * LRU (kernel/bpf/bpf_lru_list.c keeps active/inactive lists per CPU or
 * shared). DIVERGES: we approximate LRU with the CLOCK algorithm: lookups
 * set a per-element reference bit, the shared hand sweeps elements in index
 * order, clearing set bits and evicting the first element whose bit is clear.
 * The evicted element is one not referenced during the last sweep, not
 * necessarily the least recently used one. BPF_F_NO_COMMON_LRU is accepted
 * (and max_entries rounded as the kernel does) but uses the same clock.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "maps/htab.h"

static inline _Atomic uint64_t *fl_head(struct htab *h, uint32_t cpu)
{
	return (_Atomic uint64_t *)(h->fl + (uint64_t)cpu * 64);
}

static uint32_t fl_pop(struct htab *h, uint32_t cpu)
{
	_Atomic uint64_t *hd = fl_head(h, cpu);
	/* Pairs with the CAS-release in fl_push(): the element's fnext is visible. */
	uint64_t old = atomic_load_explicit(hd, memory_order_acquire);

	for (;;) {
		uint32_t i1 = (uint32_t)old, n1;
		uint64_t nw;

		if (i1 == 0 || i1 > h->pool_cnt)
			return HTAB_NIL;
		n1 = atomic_load_explicit(&htab_elem_at(h, i1 - 1)->fnext, memory_order_relaxed);
		nw = (((old >> 32) + 1) << 32) | n1;
		if (atomic_compare_exchange_weak_explicit(hd, &old, nw, memory_order_acquire,
							  memory_order_acquire))
			return i1 - 1;
	}
}

static void fl_push(struct htab *h, uint32_t cpu, uint32_t idx)
{
	_Atomic uint64_t *hd = fl_head(h, cpu);
	struct htab_elem *e = htab_elem_at(h, idx);
	uint64_t old = atomic_load_explicit(hd, memory_order_relaxed), nw;

	do {
		atomic_store_explicit(&e->fnext, (uint32_t)old, memory_order_relaxed);
		nw = (((old >> 32) + 1) << 32) | (uint64_t)(idx + 1);
		/* Pairs with the load-acquire in fl_pop(). */
	} while (!atomic_compare_exchange_weak_explicit(hd, &old, nw, memory_order_release,
							memory_order_relaxed));
}

uint32_t htab_alloc_elem(struct map *m, struct htab *h)
{
	uint32_t cpu = map_cpu_fast(h->ncpu), idx, b;

	idx = fl_pop(h, cpu);
	if (idx == HTAB_NIL) {
		b = atomic_load_explicit(&h->ctl->bump, memory_order_relaxed);
		while (b < h->pool_cnt) {
			if (atomic_compare_exchange_weak_explicit(&h->ctl->bump, &b, b + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				idx = b;
				break;
			}
		}
	}
	for (uint32_t i = 1; idx == HTAB_NIL && i < h->ncpu; i++)
		idx = fl_pop(h, (cpu + i) % h->ncpu);
	if (idx == HTAB_NIL)
		return HTAB_NIL;
	atomic_store_explicit(&htab_elem_at(h, idx)->state, HTAB_INFLIGHT(map_lock_self()),
			      memory_order_relaxed);
	return idx;
}

void htab_free_elem(struct htab *h, struct htab_elem *e)
{
	atomic_store_explicit(&e->state, HTAB_FREE, memory_order_relaxed);
	fl_push(h, map_cpu_fast(h->ncpu), htab_index_of(h, e));
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A small per-call cache of liveness answers: one /proc lookup per pid. */
struct pid_cache {
	uint32_t pid[16];
	bool dead[16];
	uint32_t n;
};

static bool pid_dead(struct pid_cache *c, uint32_t pid)
{
	for (uint32_t i = 0; i < c->n; i++)
		if (c->pid[i] == pid)
			return c->dead[i];
	bool d = pid != map_lock_self() && map_lock_owner_dead(pid);

	if (c->n < 16) {
		c->pid[c->n] = pid;
		c->dead[c->n++] = d;
	}
	return d;
}

uint32_t htab_reclaim(struct map *m, struct htab *h)
{
	struct htab_ctl *ctl = h->ctl;
	uint32_t self = map_lock_self(), owner = 0, freed = 0, n, seen;
	uint64_t now = now_ns();
	struct pid_cache pc = { .n = 0 };

	seen = atomic_load_explicit(&ctl->dead_seen, memory_order_relaxed);
	if (seen == ctl->reclaim_seen &&
	    now - atomic_load_explicit(&ctl->reclaim_ns, memory_order_relaxed) < 1000000000ull)
		return 0;
	/* Try-lock; a dead scanner's lock is taken over. */
	if (!atomic_compare_exchange_strong_explicit(&ctl->reclaim_lock, &owner, self,
						     memory_order_acquire, memory_order_relaxed)) {
		if (owner == self || !map_lock_owner_dead(owner) ||
		    !atomic_compare_exchange_strong_explicit(&ctl->reclaim_lock, &owner, self,
							     memory_order_acquire,
							     memory_order_relaxed))
			return 0;
	}
	ctl->reclaim_seen = seen;
	atomic_store_explicit(&ctl->reclaim_ns, now, memory_order_relaxed);
	n = atomic_load_explicit(&ctl->bump, memory_order_relaxed);
	if (n > h->pool_cnt)
		n = h->pool_cnt;
	for (uint32_t i = 0; i < n; i++) {
		struct htab_elem *e = htab_elem_at(h, i);
		uint32_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
		struct htab_bucket *b;

		if (st < 2 || !pid_dead(&pc, st - 2))
			continue;
		b = &h->buckets[e->hash & h->mask];
		htab_bucket_lock(h, b);
		if (atomic_load_explicit(&e->state, memory_order_relaxed) == st) {
			if (htab_chain_contains(h, b, i, NULL)) {
				atomic_store_explicit(&e->state, HTAB_LINKED, memory_order_relaxed);
			} else {
				uint32_t s = atomic_load_explicit(&e->seq, memory_order_relaxed);

				if (s & 1)
					atomic_store_explicit(&e->seq, s + 1, memory_order_release);
				htab_free_elem(h, e);
				freed++;
			}
		}
		htab_bucket_unlock(b);
	}
	map_lock_release(&ctl->reclaim_lock);
	return freed;
}

int htab_lru_evict(struct map *m, struct htab *h)
{
	uint32_t n = atomic_load_explicit(&h->ctl->bump, memory_order_relaxed);
	uint64_t tries;

	if (n > h->pool_cnt)
		n = h->pool_cnt;
	if (!n)
		return -E2BIG;
	/* Two sweeps: the first may only clear reference bits. */
	for (tries = 2ull * n + 2; tries; tries--) {
		uint32_t i = atomic_fetch_add_explicit(&h->ctl->hand, 1, memory_order_relaxed) % n;
		struct htab_elem *e = htab_elem_at(h, i);
		_Atomic uint32_t *link;
		struct htab_bucket *b;

		if (atomic_load_explicit(&e->state, memory_order_relaxed) != HTAB_LINKED)
			continue;
		if (atomic_load_explicit(&e->ref, memory_order_relaxed)) {
			atomic_store_explicit(&e->ref, 0, memory_order_relaxed);
			continue;
		}
		b = &h->buckets[e->hash & h->mask];
		htab_bucket_lock(h, b);
		if (atomic_load_explicit(&e->state, memory_order_relaxed) == HTAB_LINKED &&
		    htab_chain_contains(h, b, i, &link)) {
			htab_unlink_locked(m, h, link, e);
			htab_bucket_unlock(b);
			return 0;
		}
		htab_bucket_unlock(b);
	}
	return -E2BIG;
}
