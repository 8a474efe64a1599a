/*
 * maps_int.h - private to the maps/ sources: the process-local handle (struct map),
 * the per-type operations table (struct map_ops, after the kernel's
 * bpf_map_ops in include/linux/bpf.h) and the shared building blocks
 * (process-shared locks, CPU numbering, hashing).
 *
 * Adding a map type: write maps/<type>.c defining `const struct map_ops
 * map_<type>_ops`, declare it below, and add one line to the table in
 * maps/types.c. map.c does the generic checks (syscall-side permissions,
 * frozen state, flag words the kernel checks in syscall.c) before calling an
 * op; ops check what the kernel's per-type code checks. Any op may be NULL:
 * map.c then answers as the kernel does for a type without it (usually
 * -ENOTSUPP or -EINVAL).
 */
#ifndef MAPS_MAPS_INT_H
#define MAPS_MAPS_INT_H

#include <linux/bpf.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/rseq.h>

#include "maps/maps.h"
#include "maps/shm_layout.h"

/* The kernel's ENOTSUPP (include/linux/errno.h), not in userspace headers. */
#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/* KMALLOC_MAX_SIZE on x86_64 with 4 KiB pages (1 << (PAGE_SHIFT + MAX_PAGE_ORDER)). */
#define MAP_KMALLOC_MAX_SIZE (1u << 22)
/* PCPU_MIN_UNIT_SIZE (include/linux/percpu.h): the per-CPU value limit. */
#define MAP_PCPU_MIN_UNIT_SIZE (32u << 10)
#define MAP_NUMA_NO_NODE 0xffffffffu
/* BPF_F_ACCESS_MASK in include/linux/bpf.h. */
#define MAP_F_ACCESS_MASK (BPF_F_RDONLY | BPF_F_RDONLY_PROG | BPF_F_WRONLY | BPF_F_WRONLY_PROG)

#define MAP_PAGE_SZ 4096u

/* Creation parameters after the generic checks in map.c. */
struct map_params {
	uint32_t map_type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries; /* a type's alloc may round it (LRU with BPF_F_NO_COMMON_LRU) */
	uint32_t map_flags;
	uint32_t numa_node; /* MAP_NUMA_NO_NODE unless BPF_F_NUMA_NODE */
	uint64_t map_extra;
	int32_t spin_lock_off;
	uint32_t ncpu;
	uint32_t inner_map_fd; /* ARRAY_OF_MAPS / HASH_OF_MAPS (second stream) */
	const union bpf_attr *attr;
};

struct map;

struct map_ops {
	const char *name;
	/* Kernel map_alloc_check: validate @p; may adjust p->max_entries. */
	int (*alloc_check)(struct map_params *p);
	/* Size of the body (before page rounding); fills hdr->type_u64[]. */
	int (*layout)(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz);
	/* Initialise the freshly zeroed body (freelists, ...). Runs once, in the creator. */
	int (*init)(struct map *m);
	/* Derive process-local pointers from the validated header; check type_u64[] against body_sz. */
	int (*attach)(struct map *m);
	/* Release process-local state from attach (not the shared body). */
	void (*detach)(struct map *m);

	/* Syscall side: copy in/out, value buffers of map_sys_value_size(). */
	int (*sys_lookup)(struct map *m, const void *key, void *value, uint64_t flags);
	int (*sys_update)(struct map *m, const void *key, const void *value, uint64_t flags);
	int (*sys_delete)(struct map *m, const void *key);
	int (*sys_lookup_and_delete)(struct map *m, const void *key, void *value, uint64_t flags);
	int (*get_next_key)(struct map *m, const void *key, void *next_key);
	/* Batch: NULL means the generic key-walking version (kernel generic_map_*_batch) for
	 * lookup/update/delete, and -ENOTSUPP for lookup_and_delete. */
	int (*lookup_batch)(struct map *m, struct map_batch *b, bool do_delete);
	bool has_update_batch;         /* kernel sets map_update_batch (else -ENOTSUPP) */
	bool has_delete_batch;         /* kernel sets map_delete_batch */
	bool has_lookup_and_delete;    /* kernel allows BPF_MAP_LOOKUP_AND_DELETE_ELEM */

	/* Helper side. */
	void *(*lookup)(struct map *m, const void *key);
	long (*update)(struct map *m, const void *key, const void *value, uint64_t flags);
	long (*delete)(struct map *m, const void *key);
	void *(*lookup_percpu)(struct map *m, const void *key, uint32_t cpu);
	long (*for_each)(struct map *m, map_for_each_fn fn, void *ctx, uint64_t flags);
	/* queue/stack helpers (second stream). */
	long (*push)(struct map *m, const void *value, uint64_t flags);
	long (*pop)(struct map *m, void *value);
	long (*peek)(struct map *m, void *value);
};

/*
 * The process-local handle. Geometry is copied out of the validated shared
 * header at open time and never re-read, so the fast path reads only this
 * struct (one cache line) plus the element it touches.
 */
struct map {
	/* hot: read on every helper call */
	const struct map_ops *ops;
	uint8_t *base;       /* start of the mapped file (the body) */
	uint32_t key_size;
	uint32_t value_size;
	uint32_t value_stride; /* round_up(value_size, 8) */
	uint32_t max_entries;
	uint32_t ncpu;
	uint32_t map_flags;
	uint32_t map_type;
	int32_t spin_lock_off;
	void *priv; /* type-private process-local state (owned by attach/detach) */
	uint64_t tu[MAP_SHM_TYPE_U64_CNT]; /* copy of hdr->type_u64 */

	/* cold */
	struct map_shm_hdr *hdr;
	uint64_t file_sz;
	uint64_t body_sz;
	int fd;
	_Atomic int refcnt;
};

/* The type table (maps/types.c). */
const struct map_ops *map_ops_find(uint32_t map_type);

extern const struct map_ops map_array_ops;
extern const struct map_ops map_percpu_array_ops;
extern const struct map_ops map_hash_ops;
extern const struct map_ops map_percpu_hash_ops;
extern const struct map_ops map_lru_hash_ops;
extern const struct map_ops map_lru_percpu_hash_ops;
/* Second maps stream (maps/Makemodule-b.am). */
extern const struct map_ops map_ringbuf_ops;
extern const struct map_ops map_perf_event_array_ops;
extern const struct map_ops map_prog_array_ops;
extern const struct map_ops map_queue_ops;
extern const struct map_ops map_stack_ops;
extern const struct map_ops map_bloom_filter_ops;
extern const struct map_ops map_stack_trace_ops;
extern const struct map_ops map_array_of_maps_ops;
extern const struct map_ops map_hash_of_maps_ops;
extern const struct map_ops map_lpm_trie_ops;

/* ---- locks (maps/lock.c) ---- */

/*
 * A process-shared spinlock: one 32-bit word in shared memory, 0 when free,
 * else the owner's pid. map_lock_acquire() returns 0, or 1 when it took the
 * lock over from a dead owner: the caller must then repair what the lock
 * protects before using it.
 */
int map_lock_acquire_slow(_Atomic uint32_t *lock, uint32_t self);
/* The pid stored in lock words, cached (and refreshed in a forked child). */
extern uint32_t map_lock_pid __attribute__((visibility("hidden")));
uint32_t map_lock_self_init(void);

static inline uint32_t map_lock_self(void)
{
	uint32_t p = map_lock_pid;

	return __builtin_expect(p != 0, 1) ? p : map_lock_self_init();
}

static inline int map_lock_acquire(_Atomic uint32_t *lock)
{
	uint32_t self = map_lock_self(), cur = 0;

	/* Pairs with the store-release in map_lock_release(). */
	if (__builtin_expect(atomic_compare_exchange_strong_explicit(
				     lock, &cur, self, memory_order_acquire, memory_order_relaxed),
			     1))
		return 0;
	return map_lock_acquire_slow(lock, self);
}

static inline void map_lock_release(_Atomic uint32_t *lock)
{
	/* Pairs with the CAS-acquire in map_lock_acquire(). */
	atomic_store_explicit(lock, 0, memory_order_release);
}
/* Whether @pid is dead (no such process, or a zombie). */
bool map_lock_owner_dead(uint32_t pid);
/*
 * Dead, or (once @waited_long) alive but mapping no bpftime map file: a pid
 * reused by an unrelated process after the owner died.
 */
bool map_lock_owner_gone(uint32_t pid, bool waited_long);

/* Seqcount helpers (even = stable, odd = write in progress). */
static inline uint32_t map_seq_read_begin(const _Atomic uint32_t *seq)
{
	/* Pairs with the store-release in map_seq_write_end(). */
	return atomic_load_explicit(seq, memory_order_acquire);
}

static inline bool map_seq_read_retry(const _Atomic uint32_t *seq, uint32_t start)
{
	/* Order the data reads before the re-check (Linux read_seqcount_retry). */
	atomic_thread_fence(memory_order_acquire);
	return atomic_load_explicit(seq, memory_order_relaxed) != start;
}

static inline void map_seq_write_begin(_Atomic uint32_t *seq)
{
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	/* Data stores must not become visible before the odd count. */
	atomic_thread_fence(memory_order_release);
}

static inline void map_seq_write_end(_Atomic uint32_t *seq)
{
	/* Pairs with map_seq_read_begin(). */
	atomic_store_explicit(seq, atomic_load_explicit(seq, memory_order_relaxed) + 1,
			      memory_order_release);
}

/*
 * A lock word plus the seqcount it guards, for data that is rewritten in
 * place (array values). Writers: map_seqlock_write_lock() / _unlock();
 * readers copy without the lock and retry while the count moves. A reader
 * that sees an odd count for too long takes the lock once, which repairs an
 * odd count left by a dead writer.
 */
struct map_seqlock {
	_Atomic uint32_t lock;
	_Atomic uint32_t seq;
};
/* After taking the lock over from a dead writer: close the count it left odd. */
void map_seqlock_repair(struct map_seqlock *sl);

static inline void map_seqlock_write_lock(struct map_seqlock *sl)
{
	if (__builtin_expect(map_lock_acquire(&sl->lock), 0))
		map_seqlock_repair(sl);
	map_seq_write_begin(&sl->seq);
}

static inline void map_seqlock_write_unlock(struct map_seqlock *sl)
{
	map_seq_write_end(&sl->seq);
	map_lock_release(&sl->lock);
}
void map_seqlock_copy_out(struct map_seqlock *sl, void *dst, const void *src, size_t sz);
/* Spins a reader waits on an odd count before it checks the writer (via the lock). */
#define MAP_SEQ_WAIT_SPINS (1u << 12)

/* ---- CPUs (maps/cpu.c) ---- */
uint32_t map_cpu_possible(void);
/* Parse a cpulist like "0-3,8,10-11": returns highest+1 or -EINVAL. */
int map_cpu_parse_list(const char *s);
uint32_t map_cpu_current_slow(void);
/* The rare path of map_cpu_fast(): no rseq, or a CPU number >= @ncpu. */
uint32_t map_cpu_slow(uint32_t ncpu) __attribute__((cold));

/*
 * Offset of glibc's struct rseq from the thread pointer, or INT64_MIN when
 * rseq is not registered (glibc < 2.35, GLIBC_TUNABLES=glibc.pthread.rseq=0).
 * Set once by a constructor in maps/cpu.c from __rseq_offset/__rseq_size;
 * hidden, so the fast path reads it PC-relative instead of through the GOT.
 */
extern int64_t map_cpu_rseq_off __attribute__((visibility("hidden")));

/*
 * The current CPU, clamped below @ncpu. The kernel keeps rseq->cpu_id
 * current on every return to user space, so this is two loads and no
 * syscall. Without rseq fall back to sched_getcpu() (vDSO).
 */
static inline uint32_t map_cpu_fast(uint32_t ncpu)
{
	int64_t off = map_cpu_rseq_off;

	if (__builtin_expect(off != INT64_MIN, 1)) {
		const struct rseq *rs =
			(const struct rseq *)((const char *)__builtin_thread_pointer() + off);
		uint32_t c = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

		if (__builtin_expect(c < ncpu, 1))
			return c;
	}
	return map_cpu_slow(ncpu);
}

/* ---- hashing (maps/hashfn.h) ---- */

/* ---- spin lock inside values (BPF_F_LOCK) ---- */
void map_value_lock(struct map *m, void *value);
void map_value_unlock(struct map *m, void *value);
/* Copy a value leaving the bpf_spin_lock bytes untouched (kernel copy_map_value). */
void map_value_copy_skip_lock(const struct map *m, void *dst, const void *src);

static inline void map_value_copy(const struct map *m, void *dst, const void *src)
{
	if (__builtin_expect(m->spin_lock_off < 0, 1))
		memcpy(dst, src, m->value_size);
	else
		map_value_copy_skip_lock(m, dst, src);
}
/* Syscall-side copies: optionally under the value's lock; copies out show the lock as 0. */
void map_value_copy_out(struct map *m, void *dst, void *src, bool locked);
void map_value_copy_in(struct map *m, void *dst, const void *src, bool locked);

/* Generic batches (maps/batch.c), kernel generic_map_*_batch(). */
int map_batch_generic_lookup(struct map *m, struct map_batch *b);
int map_batch_generic_update(struct map *m, struct map_batch *b);
int map_batch_generic_delete(struct map *m, struct map_batch *b);

static inline uint32_t map_round8(uint32_t v)
{
	return (v + 7u) & ~7u;
}

static inline uint64_t map_page_round(uint64_t v)
{
	return (v + MAP_PAGE_SZ - 1) & ~(uint64_t)(MAP_PAGE_SZ - 1);
}

#endif /* MAPS_MAPS_INT_H */
