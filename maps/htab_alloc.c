/*
 * htab_alloc.c - where hash elements come from and go back to: per-CPU
 * freelists, a bump pointer over never-used elements, the repair of elements
 * a killed writer left INFLIGHT, and LRU eviction.
 *
 * The kernel preallocates max_entries elements onto a per-CPU freelist
 * (kernel/bpf/percpu_freelist.c) and fails an insert with -E2BIG when it is
 * empty; capacity here is the same, pool_cnt == max_entries, so the number
 * of elements a map can hold is exactly the kernel's. Elements never used yet
 * are handed out by a bump counter, so creating a BPF_F_NO_PREALLOC map
 * touches none of them.
 *
 * Kill safety. A lock-free (Treiber) stack cannot be made kill-safe: between
 * the CAS that pops an element and the store that records who holds it, a
 * SIGKILL loses the element, and no one can later tell "popped by a dead
 * process" from "still in the stack". So each CPU's freelist (and the bump
 * counter) is a short critical section under a pid-owned spinlock
 * (maps/lock.c) that first writes a redo record (which element, pop or
 * push); whoever next takes a lock whose holder died reads the record and
 * either finishes or undoes the step. Lists are per CPU, so the lock is
 * almost always uncontended and stays in the local cache: the cost is the
 * same single atomic operation a Treiber stack pays.
 *
 * Every element a writer holds is INFLIGHT(pid) from the moment it leaves a
 * freelist until it is published or pushed back (maps/htab.h).
 * htab_reclaim() scans for INFLIGHT elements of dead pids and either re-marks
 * them LINKED (they made it into a chain) or frees them. It runs when an
 * insert finds no free element (before an LRU evicts), at most once a second
 * unless a lock was taken over from a dead owner since the last scan: the
 * capacity a killed writer held is back at most about a second after its
 * death, as soon as an insert needs it.
 *
 * LRU (kernel/bpf/bpf_lru_list.c keeps active/inactive lists per CPU or
 * shared; new elements enter the inactive list, lookups mark them referenced).
 * DIVERGES: we approximate LRU with a CLOCK algorithm: each element has a small
 * count, set to 1 on insert and 2 on lookup; the shared hand sweeps elements
 * in index order, counting down and evicting the first element at 0. So an
 * element never looked up goes before one that was, and both before one
 * looked up again since the hand last passed, but among equals the order is
 * index order, not recency: the kernel may evict a different key. BPF_F_NO_COMMON_LRU is accepted
 * (and max_entries rounded as the kernel does) but uses the same clock.
 */
#include "config.h"

#include <errno.h>
#include <time.h>

#include "maps/htab.h"

static inline struct htab_fl *fl_at(struct htab *h, uint32_t cpu)
{
	return (struct htab_fl *)(h->fl + (uint64_t)cpu * sizeof(struct htab_fl));
}

/* Push with the list locked. */
static void fl_push_locked(struct htab *h, struct htab_fl *fl, uint32_t idx)
{
	struct htab_elem *e = htab_elem_at(h, idx);

	atomic_store_explicit(&fl->op_idx, idx + 1, memory_order_relaxed);
	atomic_store_explicit(&fl->op, HTAB_FL_PUSH, memory_order_relaxed);
	atomic_store_explicit(&e->state, HTAB_FREE, memory_order_relaxed);
	atomic_store_explicit(&e->fnext, atomic_load_explicit(&fl->head, memory_order_relaxed),
			      memory_order_relaxed);
	atomic_store_explicit(&fl->head, idx + 1, memory_order_relaxed); /* the commit */
	atomic_store_explicit(&fl->op, HTAB_FL_NONE, memory_order_relaxed);
}

/*
 * The previous holder died inside a pop or push: finish or undo it, so that
 * afterwards the element is FREE and in exactly one list. A pop marks the
 * element INFLIGHT before its commit (the head store); a push marks it FREE.
 */
static uint32_t fl_repair(struct htab *h, struct htab_fl *fl)
{
	uint32_t pushed = 0;

	uint32_t op = atomic_load_explicit(&fl->op, memory_order_relaxed);
	uint32_t i1 = atomic_load_explicit(&fl->op_idx, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&fl->head, memory_order_relaxed);

	if (op != HTAB_FL_NONE && i1 >= 1 && i1 <= h->pool_cnt) {
		if (op == HTAB_FL_POP && head == i1)
			/* Not committed: still in the list, only the mark to undo. */
			atomic_store_explicit(&htab_elem_at(h, i1 - 1)->state, HTAB_FREE,
					      memory_order_relaxed);
		else if (head != i1) {
			/* A committed pop nobody received, or an uncommitted push. */
			fl_push_locked(h, fl, i1 - 1);
			pushed = 1;
		}
	}
	atomic_store_explicit(&fl->op, HTAB_FL_NONE, memory_order_relaxed);
	return pushed;
}

/* Returns how many elements a repair put back. */
static uint32_t fl_lock(struct htab *h, struct htab_fl *fl)
{
	if (map_lock_acquire(&fl->lock)) {
		/* Its holder was inside an update too: have the next reclaim run now. */
		atomic_fetch_add_explicit(&h->ctl->dead_seen, 1, memory_order_relaxed);
		return fl_repair(h, fl);
	}
	return 0;
}

static uint32_t fl_pop(struct htab *h, uint32_t cpu)
{
	struct htab_fl *fl = fl_at(h, cpu);
	uint32_t i1;

	/* Peek without the lock: an empty list costs no atomic operation. */
	if (!atomic_load_explicit(&fl->head, memory_order_relaxed))
		return HTAB_NIL;
	fl_lock(h, fl);
	i1 = atomic_load_explicit(&fl->head, memory_order_relaxed);
	if (i1 == 0 || i1 > h->pool_cnt) {
		map_lock_release(&fl->lock);
		return HTAB_NIL;
	}
	struct htab_elem *e = htab_elem_at(h, i1 - 1);

	atomic_store_explicit(&fl->op_idx, i1, memory_order_relaxed);
	atomic_store_explicit(&fl->op, HTAB_FL_POP, memory_order_relaxed);
	atomic_store_explicit(&e->state, HTAB_INFLIGHT(map_lock_self()), memory_order_relaxed);
	atomic_store_explicit(&fl->head, atomic_load_explicit(&e->fnext, memory_order_relaxed),
			      memory_order_relaxed); /* the commit */
	atomic_store_explicit(&fl->op, HTAB_FL_NONE, memory_order_relaxed);
	map_lock_release(&fl->lock);
	return i1 - 1;
}

/* Hand out a never-used element. */
static uint32_t bump_take(struct htab *h)
{
	struct htab_ctl *ctl = h->ctl;
	uint32_t b, idx = HTAB_NIL;

	if (atomic_load_explicit(&ctl->bump, memory_order_relaxed) >= h->pool_cnt)
		return HTAB_NIL;
	if (map_lock_acquire(&ctl->bump_lock)) {
		/* A dead holder may have marked an element without moving bump: unmark it. */
		uint32_t op = atomic_load_explicit(&ctl->bump_op, memory_order_relaxed);

		b = atomic_load_explicit(&ctl->bump, memory_order_relaxed);
		if (op && op - 1 == b && b < h->pool_cnt)
			atomic_store_explicit(&htab_elem_at(h, b)->state, HTAB_FREE,
					      memory_order_relaxed);
		atomic_store_explicit(&ctl->bump_op, 0, memory_order_relaxed);
	}
	b = atomic_load_explicit(&ctl->bump, memory_order_relaxed);
	if (b < h->pool_cnt) {
		atomic_store_explicit(&ctl->bump_op, b + 1, memory_order_relaxed);
		atomic_store_explicit(&htab_elem_at(h, b)->state, HTAB_INFLIGHT(map_lock_self()),
				      memory_order_relaxed);
		atomic_store_explicit(&ctl->bump, b + 1, memory_order_relaxed); /* the commit */
		atomic_store_explicit(&ctl->bump_op, 0, memory_order_relaxed);
		idx = b;
	}
	map_lock_release(&ctl->bump_lock);
	return idx;
}

uint32_t htab_alloc_elem(struct map *m, struct htab *h)
{
	uint32_t cpu = map_cpu_fast(h->ncpu), idx;

	idx = fl_pop(h, cpu);
	if (idx == HTAB_NIL)
		idx = bump_take(h);
	for (uint32_t i = 1; idx == HTAB_NIL && i < h->ncpu; i++)
		idx = fl_pop(h, (cpu + i) % h->ncpu);
	return idx;
}

void htab_free_elem(struct htab *h, struct htab_elem *e)
{
	struct htab_fl *fl = fl_at(h, map_cpu_fast(h->ncpu));

	fl_lock(h, fl);
	fl_push_locked(h, fl, htab_index_of(h, e));
	map_lock_release(&fl->lock);
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
	/* Gone also if the pid was reused by a process that maps no bpftime map. */
	bool d = pid != map_lock_self() && map_lock_owner_gone(pid, true);

	if (c->n < 16) {
		c->pid[c->n] = pid;
		c->dead[c->n++] = d;
	}
	return d;
}

uint32_t htab_reclaim(struct map *m, struct htab *h)
{
	struct htab_ctl *ctl = h->ctl;
	uint32_t self = map_lock_self(), owner = 0, freed = 0, n, seen, cand = 0;
	uint64_t now = now_ns();
	struct pid_cache pc = { .n = 0 };
	uint32_t dead[16], ndead = 0;

	seen = atomic_load_explicit(&ctl->dead_seen, memory_order_relaxed);
	if (seen == ctl->reclaim_seen &&
	    now - atomic_load_explicit(&ctl->reclaim_ns, memory_order_relaxed) < 1000000000ull)
		return 0;
	/* Try-lock; a dead scanner's lock is taken over. */
	if (!atomic_compare_exchange_strong_explicit(&ctl->reclaim_lock, &owner, self,
						     memory_order_acquire, memory_order_relaxed)) {
		if (owner == self || !map_lock_owner_gone(owner, true) ||
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
	/*
	 * 1. Which pids holding elements are dead now. Only these are acted on in
	 * step 3: a pid that dies later may still be inside a list operation.
	 */
	for (uint32_t i = 0; i < n && ndead < 16; i++) {
		uint32_t st = atomic_load_explicit(&htab_elem_at(h, i)->state, memory_order_relaxed);
		bool known = false;

		if (st < 2 || !pid_dead(&pc, st - 2))
			continue;
		cand++;
		for (uint32_t j = 0; j < ndead; j++)
			known |= dead[j] == st - 2;
		if (!known)
			dead[ndead++] = st - 2;
	}
	/*
	 * 2. Repair every freelist: a pop or push a dead holder was inside is
	 * finished or undone (an element it was pushing may be FREE yet in no
	 * list), so afterwards no INFLIGHT element of a pid found dead in step 1 is in a list.
	 */
	for (uint32_t c = 0; c < h->ncpu; c++) {
		freed += fl_lock(h, fl_at(h, c));
		map_lock_release(&fl_at(h, c)->lock);
	}
	if (!cand)
		goto out;
	/* 3. Each INFLIGHT element of those pids is in its chain (LINKED) or nowhere (free it). */
	for (uint32_t i = 0; i < n; i++) {
		struct htab_elem *e = htab_elem_at(h, i);
		uint32_t st = atomic_load_explicit(&e->state, memory_order_relaxed);
		struct htab_bucket *b;
		bool is_dead = false;

		for (uint32_t j = 0; j < ndead && st >= 2; j++)
			is_dead |= dead[j] == st - 2;
		if (!is_dead)
			continue;
		b = &h->buckets[e->hash & h->mask];
		htab_bucket_lock(h, b);
		if (atomic_load_explicit(&e->state, memory_order_relaxed) == st) {
			if (htab_chain_contains(h, b, i, NULL)) {
				atomic_store_explicit(&e->state, HTAB_LINKED, memory_order_relaxed);
			} else {
				htab_elem_reset(e);
				htab_free_elem(h, e);
				freed++;
			}
		}
		htab_bucket_unlock(b);
	}
out:
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
	/* Three sweeps: the first two may only count references down. */
	for (tries = 3ull * n + 2; tries; tries--) {
		uint32_t i = atomic_fetch_add_explicit(&h->ctl->hand, 1, memory_order_relaxed) % n;
		struct htab_elem *e = htab_elem_at(h, i);
		_Atomic uint32_t *link;
		struct htab_bucket *b;

		if (atomic_load_explicit(&e->state, memory_order_relaxed) != HTAB_LINKED)
			continue;
		uint8_t ref = atomic_load_explicit(&e->ref, memory_order_relaxed);

		if (ref) {
			atomic_store_explicit(&e->ref, (uint8_t)(ref - 1), memory_order_relaxed);
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
