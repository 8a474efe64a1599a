/*
 * htab.h - private to the hash family (maps/hash.c, maps/htab_alloc.c,
 * maps/htab_batch.c): the shared layout of a hash map's body and the
 * process-local view of it.
 *
 * Body layout (offsets from the start of the map file; type_u64[] index):
 *
 *   OFFSET          SIZE                         DESCRIPTION
 *   0               n_buckets * 8                struct htab_bucket: lock word + chain head
 *   tu[1] ctl       256                          struct htab_ctl (counters, each on its own line)
 *   tu[2] fl        ncpu * 64                    per-CPU freelists (struct htab_fl)
 *   tu[3] elems     pool_cnt * elem_sz           elements (struct htab_elem + key [+ value])
 *   tu[5] pcpu      ncpu * pcpu_stride           per-CPU types: value slots, CPU-major;
 *                                                element i of CPU c at c * pcpu_stride +
 *                                                i * (8 + stride): a struct map_seqlock,
 *                                                then the value, so CPUs share no line
 *
 *   type_u64: [0] n_buckets, [1] ctl_off, [2] fl_off, [3] elems_off, [4] elem_sz,
 *             [5] pcpu_off, [6] pcpu_stride, [7] pool_cnt, [8] seed
 *
 * Chains are "nulls" lists (include/linux/list_nulls.h): the last `next` is
 * HTAB_NULLS | bucket, so a lock-free reader that followed a recycled
 * element into another bucket's chain notices at the end and restarts.
 *
 * Element lifecycle, each step made by the holder of the bucket lock unless
 * noted: FREE (in a freelist, or never used: index >= ctl.bump) -> INFLIGHT
 * (state = pid + 2, taken by a writer) -> LINKED (published in a chain) ->
 * INFLIGHT (being deleted) -> FREE (pushed back). A writer killed while an
 * element is INFLIGHT leaves its pid there; htab_reclaim() finds such
 * elements of dead pids and puts them back where they belong.
 *
 * wlock (per element): a seqcount and a writer lock in one 64-bit word, low
 * half the count (odd while the key/value bytes are rewritten: a recycled
 * element being filled, or an in-place update), high half the writer's pid
 * while odd. Writers take it with one CAS (even -> odd + pid), so an update
 * of an existing key needs no bucket lock; lock-free readers validate their
 * reads against the count, as with a seqcount; a waiter that finds the
 * writer dead closes the count (maps/lock.c explains the liveness check).
 * Per-CPU values have a struct map_seqlock per (element, CPU) slot instead,
 * so a program's update on one CPU writes no line another CPU uses.
 */
#ifndef MAPS_HTAB_H
#define MAPS_HTAB_H

#include <stdatomic.h>
#include <stdint.h>

#include "maps/maps_int.h"

#define HTAB_NULLS 0x80000000u
#define HTAB_NIL 0xffffffffu
#define HTAB_FREE 0u
#define HTAB_LINKED 1u
#define HTAB_INFLIGHT(pid) ((pid) + 2u)
#define HTAB_ELEM_HDR_SZ 32u
#define HTAB_MAX_CHAIN_RESTARTS 64u
/* LRU clock counts: inserted elements survive one pass of the hand, looked-up ones two. */
#define HTAB_REF_NEW 1u
#define HTAB_REF_USED 2u

struct htab_bucket {
	_Atomic uint32_t lock; /* 0 or owner pid (maps/lock.c) */
	_Atomic uint32_t head; /* element index or HTAB_NULLS | bucket */
};

struct htab_elem {
	_Atomic uint64_t wlock; /* low 32: seqcount (odd: being rewritten); high 32: writer pid */
	_Atomic uint32_t next;  /* chain link (bucket lock); HTAB_NULLS | bucket ends it */
	_Atomic uint32_t state; /* HTAB_FREE, HTAB_LINKED or HTAB_INFLIGHT(pid) */
	uint32_t hash;          /* full hash of the key, written under wlock */
	_Atomic uint32_t fnext; /* freelist link while FREE */
	_Atomic uint8_t ref;    /* LRU: passes of the clock hand left before eviction */
	uint8_t pad[7];
	/* key (round_up(key_size, 8)), then the value unless per-CPU */
};
_Static_assert(sizeof(struct htab_elem) == HTAB_ELEM_HDR_SZ, "layout");

/* Counters shared by all processes, each on its own cache line. */
struct htab_ctl {
	_Atomic uint32_t bump;      /* elements [0, bump) have been handed out (bump_lock) */
	_Atomic uint32_t bump_lock; /* pid-owned (maps/lock.c) */
	_Atomic uint32_t bump_op;   /* index + 1 being handed out, 0 none: repair record */
	uint8_t pad0[52];
	_Atomic uint32_t hand; /* LRU clock hand */
	uint8_t pad1[60];
	_Atomic uint32_t reclaim_lock; /* serialises htab_reclaim() (pid-owned) */
	uint32_t reclaim_seen;         /* dead_seen at the last reclaim (reclaim_lock) */
	_Atomic uint64_t reclaim_ns;   /* CLOCK_MONOTONIC of the last reclaim */
	uint8_t pad2[48];
	_Atomic uint32_t dead_seen; /* bumped when a dead lock owner was found: reclaim needed */
	uint8_t pad3[60];
};
_Static_assert(sizeof(struct htab_ctl) == 256, "layout");

/*
 * One CPU's freelist: a stack linked through htab_elem.fnext, under a
 * pid-owned lock, with a one-entry redo record so that a holder killed
 * between its stores is repaired by the next holder (maps/htab_alloc.c).
 */
struct htab_fl {
	_Atomic uint32_t lock;   /* 0 or owner pid */
	_Atomic uint32_t head;   /* element index + 1, 0: empty */
	_Atomic uint32_t op_idx; /* element index + 1 of the pop/push in progress */
	_Atomic uint32_t op;     /* HTAB_FL_NONE, HTAB_FL_POP or HTAB_FL_PUSH */
	uint8_t pad[48];
};
_Static_assert(sizeof(struct htab_fl) == 64, "layout");
#define HTAB_FL_NONE 0u
#define HTAB_FL_POP 1u
#define HTAB_FL_PUSH 2u

/* Process-local view (struct map.priv). */
struct htab {
	struct htab_bucket *buckets;
	uint8_t *elems;
	uint8_t *pcpu;
	struct htab_ctl *ctl;
	uint8_t *fl; /* ncpu heads, 64 bytes apart */
	uint64_t elem_sz;
	uint64_t pcpu_stride;
	uint64_t slot_sz; /* 8 + round_up(value_size, 8) */
	uint64_t seed;
	uint32_t mask; /* n_buckets - 1 */
	uint32_t pool_cnt;
	uint32_t key_size;
	uint32_t key_stride;
	uint32_t ncpu;
	bool percpu;
	bool lru;
};

static inline struct htab_elem *htab_elem_at(const struct htab *h, uint32_t idx)
{
	return (struct htab_elem *)(h->elems + (uint64_t)idx * h->elem_sz);
}

static inline uint8_t *htab_key(struct htab_elem *e)
{
	return (uint8_t *)e + HTAB_ELEM_HDR_SZ;
}

/* The value of a non-per-CPU element. */
static inline uint8_t *htab_value(const struct htab *h, struct htab_elem *e)
{
	return (uint8_t *)e + HTAB_ELEM_HDR_SZ + h->key_stride;
}

static inline uint32_t htab_index_of(const struct htab *h, const struct htab_elem *e)
{
	return (uint32_t)(((const uint8_t *)e - h->elems) / h->elem_sz);
}

/* Per-CPU slot (seqlock + value) of element @idx on @cpu. */
static inline struct map_seqlock *htab_slot(const struct htab *h, uint32_t idx, uint32_t cpu)
{
	return (struct map_seqlock *)(h->pcpu + cpu * h->pcpu_stride + (uint64_t)idx * h->slot_sz);
}

static inline uint8_t *htab_slot_value(const struct htab *h, uint32_t idx, uint32_t cpu)
{
	return (uint8_t *)htab_slot(h, idx, cpu) + sizeof(struct map_seqlock);
}

static inline uint32_t htab_seq_begin(struct htab_elem *e)
{
	/* Pairs with the store-release in htab_elem_unlock(). */
	return (uint32_t)atomic_load_explicit(&e->wlock, memory_order_acquire);
}

static inline bool htab_seq_retry(struct htab_elem *e, uint32_t s)
{
	atomic_thread_fence(memory_order_acquire);
	return (uint32_t)atomic_load_explicit(&e->wlock, memory_order_relaxed) != s;
}

/* maps/htab_alloc.c */
uint32_t htab_alloc_elem(struct map *m, struct htab *h);
void htab_free_elem(struct htab *h, struct htab_elem *e);
/* Put elements left INFLIGHT by dead processes back (in a chain or free). Returns how many freed. */
uint32_t htab_reclaim(struct map *m, struct htab *h);
/* LRU: evict one element chosen by the clock hand. Call without a bucket lock. 0 or -E2BIG. */
int htab_lru_evict(struct map *m, struct htab *h);

/* maps/hash.c: the helper-side lookup (called directly by maps/helpers.c) */
void *map_htab_lookup(struct map *m, const void *key);
long map_htab_update(struct map *m, const void *key, const void *value, uint64_t flags);
long map_htab_delete(struct map *m, const void *key);

/* maps/hash.c, for the allocator and the batches */
void htab_elem_lock(struct htab_elem *e);
void htab_elem_unlock(struct htab_elem *e);
/* Close an odd count left by a dead writer (the element is known to be abandoned). */
void htab_elem_reset(struct htab_elem *e);
void htab_bucket_lock(struct htab *h, struct htab_bucket *b);
void htab_bucket_unlock(struct htab_bucket *b);
bool htab_chain_contains(struct htab *h, struct htab_bucket *b, uint32_t idx, _Atomic uint32_t **link);
void htab_unlink_locked(struct map *m, struct htab *h, _Atomic uint32_t *link, struct htab_elem *e);
void htab_copy_value_out(struct map *m, struct htab *h, struct htab_elem *e, void *value, bool locked);

/* maps/htab_batch.c */
int htab_lookup_batch(struct map *m, struct map_batch *b, bool do_delete);

#endif /* MAPS_HTAB_H */
