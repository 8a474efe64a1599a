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
 *   tu[2] fl        ncpu * 64                    per-CPU freelist heads (u64 {tag:32, idx:32})
 *   tu[3] elems     pool_cnt * elem_sz           elements (struct htab_elem + key [+ value])
 *   tu[5] pcpu      ncpu * pcpu_stride           per-CPU types: values, CPU-major,
 *                                                element i of CPU c at c * pcpu_stride + i * stride
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
 * seq (per element): odd while the key/value bytes are rewritten (a recycled
 * element being filled, or an in-place update); lock-free readers validate
 * their reads against it, as with a seqcount.
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
#define HTAB_ELEM_HDR_SZ 24u
#define HTAB_MAX_CHAIN_RESTARTS 64u

struct htab_bucket {
	_Atomic uint32_t lock; /* 0 or owner pid (maps/lock.c) */
	_Atomic uint32_t head; /* element index or HTAB_NULLS | bucket */
};

struct htab_elem {
	_Atomic uint32_t seq;   /* even: stable; odd: bytes being rewritten */
	_Atomic uint32_t next;  /* chain link (bucket lock); HTAB_NULLS | bucket ends it */
	_Atomic uint32_t state; /* HTAB_FREE, HTAB_LINKED or HTAB_INFLIGHT(pid) */
	uint32_t hash;          /* full hash of the key, written while INFLIGHT */
	_Atomic uint32_t fnext; /* freelist link while FREE */
	_Atomic uint8_t ref;    /* LRU: referenced since the clock hand last passed */
	uint8_t pad[3];
	/* key (round_up(key_size, 8)), then the value unless per-CPU */
};
_Static_assert(sizeof(struct htab_elem) == HTAB_ELEM_HDR_SZ, "layout");

/* Counters shared by all processes, each on its own cache line. */
struct htab_ctl {
	_Atomic uint32_t bump; /* elements [0, bump) have been handed out at least once */
	uint8_t pad0[60];
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

/* Process-local view (struct map.priv). */
struct htab {
	struct htab_bucket *buckets;
	uint8_t *elems;
	uint8_t *pcpu;
	struct htab_ctl *ctl;
	uint8_t *fl; /* ncpu heads, 64 bytes apart */
	uint64_t elem_sz;
	uint64_t pcpu_stride;
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

static inline uint8_t *htab_pcpu_value(const struct htab *h, uint32_t idx, uint32_t cpu,
				       uint32_t stride)
{
	return h->pcpu + cpu * h->pcpu_stride + (uint64_t)idx * stride;
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

/* maps/hash.c, for the allocator and the batches */
void htab_bucket_lock(struct htab *h, struct htab_bucket *b);
void htab_bucket_unlock(struct htab_bucket *b);
bool htab_chain_contains(struct htab *h, struct htab_bucket *b, uint32_t idx, _Atomic uint32_t **link);
void htab_unlink_locked(struct map *m, struct htab *h, _Atomic uint32_t *link, struct htab_elem *e);
void htab_copy_value_out(struct map *m, struct htab *h, struct htab_elem *e, void *value, bool locked);

/* maps/htab_batch.c */
int htab_lookup_batch(struct map *m, struct map_batch *b, bool do_delete);

#endif /* MAPS_HTAB_H */
