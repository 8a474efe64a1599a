/*
 * stackmap.c - BPF_MAP_TYPE_STACK_TRACE and bpf_get_stackid().
 *
 * Mirrors kernel/bpf/stackmap.c: 4-byte keys that are stack ids, values of
 * value_size / 8 instruction pointers (value_size a multiple of 8, at most
 * perf_event_max_stack entries), a table of roundup_pow_of_two(max_entries)
 * buckets each holding at most one stack, max_entries preallocated stack
 * records on a free list. A stack's id is jhash2(ips, 0) & (n_buckets - 1);
 * a bucket holding another stack gives -EEXIST unless BPF_F_REUSE_STACKID
 * (then it is replaced); BPF_F_FAST_STACK_CMP compares hashes only; no free
 * record gives -ENOMEM. From the syscall side LOOKUP copies the stack and
 * zero-fills the rest of the value, LOOKUP_AND_DELETE also frees it (as
 * Linux 6.x), DELETE frees the bucket (ids at or
 * above n_buckets: -ENOENT on lookup, -E2BIG on delete), UPDATE is -EINVAL,
 * GET_NEXT_KEY walks non-empty buckets in id order.
 *
 * Walking a stack is not a map's job: the agent collects the instruction
 * pointers (user stacks by unwinding the traced thread) and either calls
 * map_get_stackid() with them, or registers a collector that the
 * bpf_get_stackid helper calls (maps/maps_ext.h).
 *
 * Body layout:
 *
 *   OFFSET        SIZE                      DESCRIPTION
 *   0             4                         lock: maps/lock.c spinlock over all below
 *   4             4                         free_top: number of free records
 *   64            4 * n_buckets             bucket -> record index + 1 (0 = empty)
 *   tu[1]         4 * max_entries           free list (stack of record indexes)
 *   tu[2]         rec_sz * max_entries      records: u32 hash, u32 nr, u64 ip[value_size / 8]
 *
 *   type_u64: [0] n_buckets, [1] free list offset, [2] records offset, [3] rec_sz.
 *
 * DIVERGES: the kernel's lookups are lock-free under RCU; here the few
 * stores of an operation run under one spinlock. A holder killed inside
 * can at worst leak one record from the free list (the bucket store comes
 * last), never corrupt a stack.
 * DIVERGES: with BPF_F_STACK_BUILD_ID every frame is stored as the kernel's
 * fallback {status BPF_STACK_BUILD_ID_IP, ip}: resolving build ids is the
 * agent's job and not done yet.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/jhash.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

/* STACK_CREATE_FLAG_MASK. */
#define STACK_CREATE_FLAG_MASK (BPF_F_NUMA_NODE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_STACK_BUILD_ID)
#define STACK_BUCKETS_OFF 64u
#define STACK_DEFAULT_MAX_STACK 127u /* sysctl_perf_event_max_stack default */

struct stack_ctl {
	_Atomic uint32_t lock;
	uint32_t free_top;
};

struct stack_rec {
	uint32_t hash;
	uint32_t nr;
	uint64_t ip[];
};

/* /proc/sys/kernel/perf_event_max_stack, as the kernel's sysctl. */
static uint32_t perf_max_stack(void)
{
	char buf[32] = { 0 };
	int fd = open("/proc/sys/kernel/perf_event_max_stack", O_RDONLY | O_CLOEXEC);
	long v;

	if (fd < 0)
		return STACK_DEFAULT_MAX_STACK;
	if (read(fd, buf, sizeof(buf) - 1) <= 0)
		buf[0] = 0;
	close(fd);
	v = strtol(buf, NULL, 10);
	return v > 0 && v < 1000000 ? (uint32_t)v : STACK_DEFAULT_MAX_STACK;
}

static bool build_id_mode(const struct map *m)
{
	return m->map_flags & BPF_F_STACK_BUILD_ID;
}

/* stack_map_data_size(): bytes per frame. */
static uint32_t frame_sz(const struct map *m)
{
	return build_id_mode(m) ? sizeof(struct bpf_stack_build_id) : sizeof(uint64_t);
}

/* stack_map_alloc()'s checks. */
static int stack_alloc_check(struct map_params *p)
{
	if (p->map_flags & ~STACK_CREATE_FLAG_MASK)
		return -EINVAL;
	if (p->max_entries == 0 || p->key_size != 4 || p->value_size < 8 || p->value_size % 8)
		return -EINVAL;
	if (p->map_flags & BPF_F_STACK_BUILD_ID) {
		if (p->value_size % sizeof(struct bpf_stack_build_id) ||
		    p->value_size / sizeof(struct bpf_stack_build_id) > perf_max_stack())
			return -EINVAL;
	} else if (p->value_size / 8 > perf_max_stack()) {
		return -EINVAL;
	}
	if (p->max_entries > (1u << 31))
		return -E2BIG;
	return 0;
}

static uint64_t roundup_pow2(uint64_t v)
{
	uint64_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static int stack_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint64_t nb = roundup_pow2(p->max_entries);
	uint64_t rec_sz = sizeof(struct stack_rec) + p->value_size;
	uint64_t free_off = STACK_BUCKETS_OFF + nb * 4;
	uint64_t rec_off = (free_off + (uint64_t)p->max_entries * 4 + 7) & ~7ull;

	hdr->type_u64[0] = nb;
	hdr->type_u64[1] = free_off;
	hdr->type_u64[2] = rec_off;
	hdr->type_u64[3] = rec_sz;
	*body_sz = rec_off + rec_sz * p->max_entries;
	return 0;
}

static int stack_attach(struct map *m)
{
	uint64_t nb = m->tu[0], free_off = m->tu[1], rec_off = m->tu[2], rec_sz = m->tu[3];

	if (nb != roundup_pow2(m->max_entries) || free_off != STACK_BUCKETS_OFF + nb * 4 ||
	    rec_off < free_off + (uint64_t)m->max_entries * 4 || rec_off % 8 ||
	    rec_sz != sizeof(struct stack_rec) + m->value_size ||
	    rec_off + rec_sz * m->max_entries > m->body_sz)
		return -EINVAL;
	return 0;
}

static inline struct stack_ctl *ctl(struct map *m)
{
	return (struct stack_ctl *)m->base;
}

static inline _Atomic uint32_t *bucket(struct map *m, uint32_t id)
{
	return (_Atomic uint32_t *)(m->base + STACK_BUCKETS_OFF) + id;
}

static inline uint32_t *freelist(struct map *m)
{
	return (uint32_t *)(m->base + m->tu[1]);
}

/* Record @ref (index + 1) from a bucket; NULL if out of range (the file is client-writable). */
static inline struct stack_rec *rec(struct map *m, uint32_t ref)
{
	if (ref == 0 || ref > m->max_entries)
		return NULL;
	return (struct stack_rec *)(m->base + m->tu[2] + (uint64_t)(ref - 1) * m->tu[3]);
}

/* Every record starts on the free list (prealloc_elems_and_freelist()). */
static int stack_init(struct map *m)
{
	for (uint32_t i = 0; i < m->max_entries; i++)
		freelist(m)[i] = i + 1;
	ctl(m)->free_top = m->max_entries;
	return 0;
}

static uint32_t free_pop(struct map *m)
{
	uint32_t top = ctl(m)->free_top;

	if (top == 0 || top > m->max_entries)
		return 0;
	ctl(m)->free_top = top - 1;
	return freelist(m)[top - 1];
}

static void free_push(struct map *m, uint32_t ref)
{
	uint32_t top = ctl(m)->free_top;

	if (ref == 0 || top >= m->max_entries)
		return;
	freelist(m)[top] = ref;
	ctl(m)->free_top = top + 1;
}

/* The frames a record holds, as the value the syscall side copies out. */
static void rec_copy_out(struct map *m, const struct stack_rec *r, void *value)
{
	uint32_t nr = r->nr <= m->value_size / frame_sz(m) ? r->nr : m->value_size / frame_sz(m);
	uint8_t *v = value;

	if (build_id_mode(m)) {
		for (uint32_t i = 0; i < nr; i++) {
			struct bpf_stack_build_id b;

			memset(&b, 0, sizeof(b));
			b.status = BPF_STACK_BUILD_ID_IP;
			b.ip = r->ip[i];
			memcpy(v + (size_t)i * sizeof(b), &b, sizeof(b));
		}
	} else {
		memcpy(v, r->ip, (size_t)nr * 8);
	}
	memset(v + (size_t)nr * frame_sz(m), 0, m->value_size - (size_t)nr * frame_sz(m));
}

long map_get_stackid(struct map *m, const uint64_t *ips, uint32_t nr, uint64_t flags)
{
	uint32_t skip = flags & BPF_F_SKIP_FIELD_MASK, trace_nr, hash, id, cur, ref;
	uint32_t max_depth;
	struct stack_rec *b, *n;

	if (m->map_type != BPF_MAP_TYPE_STACK_TRACE)
		return -EINVAL;
	if (flags & ~(uint64_t)(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP |
				BPF_F_REUSE_STACKID))
		return -EINVAL;
	/* __bpf_get_stackid(): skipping everything is "couldn't fetch". */
	if (nr <= skip)
		return -EFAULT;
	max_depth = m->value_size / frame_sz(m);
	trace_nr = nr - skip < max_depth ? nr - skip : max_depth;
	ips += skip;
	hash = map_jhash2(ips, trace_nr * 2, 0);
	id = hash & (uint32_t)(m->tu[0] - 1);
	(void)map_lock_acquire(&ctl(m)->lock); /* see the file comment on dead holders */
	cur = atomic_load_explicit(bucket(m, id), memory_order_relaxed);
	b = rec(m, cur);
	if (b && b->hash == hash) {
		if ((flags & BPF_F_FAST_STACK_CMP) ||
		    (b->nr == trace_nr && memcmp(b->ip, ips, (size_t)trace_nr * 8) == 0)) {
			map_lock_release(&ctl(m)->lock);
			return id;
		}
	}
	if (b && !(flags & BPF_F_REUSE_STACKID)) {
		map_lock_release(&ctl(m)->lock);
		return -EEXIST;
	}
	ref = free_pop(m);
	n = rec(m, ref);
	if (!n) {
		map_lock_release(&ctl(m)->lock);
		return -ENOMEM;
	}
	memcpy(n->ip, ips, (size_t)trace_nr * 8);
	n->hash = hash;
	n->nr = trace_nr;
	atomic_store_explicit(bucket(m, id), ref, memory_order_release);
	if (cur)
		free_push(m, cur);
	map_lock_release(&ctl(m)->lock);
	return id;
}

/* The agent's stack walker for the bpf_get_stackid helper. */
static map_stack_collect_fn collector;
static void *collector_ctx;

void map_stack_set_collector(map_stack_collect_fn fn, void *ctx)
{
	collector = fn;
	collector_ctx = ctx;
}

long map_get_stackid_ctx(void *ctx, struct map *m, uint64_t flags)
{
	uint32_t skip = flags & BPF_F_SKIP_FIELD_MASK, max_depth, max_stack = perf_max_stack();
	uint64_t ips[1024];
	int nr;

	if (m->map_type != BPF_MAP_TYPE_STACK_TRACE ||
	    (flags & ~(uint64_t)(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_FAST_STACK_CMP |
				 BPF_F_REUSE_STACKID)))
		return -EINVAL;
	/* bpf_get_stackid(): depth asked of the walker. */
	max_depth = m->value_size / frame_sz(m) + skip;
	if (max_depth > max_stack)
		max_depth = max_stack;
	if (max_depth > sizeof(ips) / sizeof(ips[0]))
		max_depth = sizeof(ips) / sizeof(ips[0]);
	if (!collector)
		return -EFAULT;
	nr = collector(ctx, (flags & BPF_F_USER_STACK) != 0, ips, max_depth, collector_ctx);
	if (nr < 0)
		return -EFAULT;
	return map_get_stackid(m, ips, (uint32_t)nr, flags);
}

/* bpf_stackmap_extract() without delete: copy under the lock. */
static int stack_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	uint32_t id = *(const uint32_t *)key;
	struct stack_rec *r;

	if (id >= m->tu[0])
		return -ENOENT;
	(void)map_lock_acquire(&ctl(m)->lock);
	r = rec(m, atomic_load_explicit(bucket(m, id), memory_order_relaxed));
	if (!r) {
		map_lock_release(&ctl(m)->lock);
		return -ENOENT;
	}
	rec_copy_out(m, r, value);
	map_lock_release(&ctl(m)->lock);
	return 0;
}

/* bpf_stackmap_extract() with delete (BPF_MAP_LOOKUP_AND_DELETE_ELEM, Linux 6.x). */
static int stack_sys_lookup_and_delete(struct map *m, const void *key, void *value, uint64_t flags)
{
	uint32_t id = *(const uint32_t *)key, old;
	struct stack_rec *r;

	if (id >= m->tu[0])
		return -ENOENT;
	(void)map_lock_acquire(&ctl(m)->lock);
	old = atomic_exchange_explicit(bucket(m, id), 0, memory_order_relaxed);
	r = rec(m, old);
	if (!r) {
		map_lock_release(&ctl(m)->lock);
		return -ENOENT;
	}
	rec_copy_out(m, r, value);
	free_push(m, old);
	map_lock_release(&ctl(m)->lock);
	return 0;
}

/* stack_map_delete_elem(). */
static int stack_sys_delete(struct map *m, const void *key)
{
	uint32_t id = *(const uint32_t *)key, old;

	if (id >= m->tu[0])
		return -E2BIG;
	(void)map_lock_acquire(&ctl(m)->lock);
	old = atomic_exchange_explicit(bucket(m, id), 0, memory_order_relaxed);
	if (old)
		free_push(m, old);
	map_lock_release(&ctl(m)->lock);
	return old ? 0 : -ENOENT;
}

/* stack_map_get_next_key(). */
static int stack_get_next_key(struct map *m, const void *key, void *next_key)
{
	uint32_t nb = (uint32_t)m->tu[0], id;

	if (!key) {
		id = 0;
	} else {
		id = *(const uint32_t *)key;
		if (id >= nb || !atomic_load_explicit(bucket(m, id), memory_order_relaxed))
			id = 0;
		else
			id++;
	}
	while (id < nb && !atomic_load_explicit(bucket(m, id), memory_order_relaxed))
		id++;
	if (id >= nb)
		return -ENOENT;
	*(uint32_t *)next_key = id;
	return 0;
}

static int stack_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	b->count = 0;
	return -ENOTSUPP;
}

static int stack_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long stack_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long stack_delete(struct map *m, const void *key)
{
	return stack_sys_delete(m, key);
}

const struct map_ops map_stack_trace_ops = {
	.name = "stack_trace",
	.alloc_check = stack_alloc_check,
	.layout = stack_layout,
	.init = stack_init,
	.attach = stack_attach,
	.sys_lookup = stack_sys_lookup,
	.sys_update = stack_sys_update,
	.sys_delete = stack_sys_delete,
	.sys_lookup_and_delete = stack_sys_lookup_and_delete,
	.has_lookup_and_delete = true,
	.get_next_key = stack_get_next_key,
	.lookup_batch = stack_lookup_batch,
	.update = stack_update,
	.delete = stack_delete,
};
