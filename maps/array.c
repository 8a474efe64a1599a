/*
 * array.c - BPF_MAP_TYPE_ARRAY and BPF_MAP_TYPE_PERCPU_ARRAY.
 *
 * Mirrors kernel/bpf/arraymap.c: 4-byte keys that are indexes below
 * max_entries, values preallocated and zeroed, no delete (-EINVAL), updates
 * in place, BPF_NOEXIST always -EEXIST, out-of-range update -E2BIG,
 * get_next_key from an absent or out-of-range key restarts at 0.
 *
 * Body layout (offsets from the start of the map file). An element is one
 * value slot; stride = round_up(value_size, 8).
 *
 *   ARRAY with BPF_F_MMAPABLE (clients may mmap the fd, so the kernel's layout):
 *   OFFSET   SIZE                               DESCRIPTION
 *   0        page_round(max_entries * stride)   value i at i * stride, exactly as
 *                                               kernel/bpf/arraymap.c array_map_mmap()
 *                                               shows it (libbpf .bss/.data/.rodata)
 *   tu[1]    nstripes * 8                       struct map_seqlock stripes: index i is
 *                                               guarded by stripe i % nstripes
 *
 *   ARRAY without BPF_F_MMAPABLE (nobody can map it, so we choose):
 *   0        max_entries * (8 + stride)         element i at i * (8 + stride): its own
 *                                               struct map_seqlock, then the value, so
 *                                               lock and value share a cache line
 *
 *   PERCPU_ARRAY:
 *   0        ncpu * cpu_stride                  CPU-major: element (c, i) at
 *                                               c * cpu_stride + i * (8 + stride), each
 *                                               with its own seqlock, so CPUs never
 *                                               share a line or a lock
 *
 *   type_u64: [0] cpu_stride (0 unless per-CPU), [1] stripes offset, [2] nstripes
 *             (both 0 unless mmapable), [3] element size, [4] value offset in the element.
 *
 * Concurrency: lookups through the helper return a pointer into the body,
 * as the kernel does; programs own what they do through it. Whole-value
 * writes (update from a helper or the syscall side) take the element's (or
 * stripe's) seqlock, and syscall-side copies retry while its count moves, so
 * a copied value is never torn. A per-CPU helper update locks only its own
 * CPU's slot. DIVERGES: the kernel copies array values
 * with no lock at all (a concurrent syscall lookup may see a torn value).
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <string.h>

#include "common/log.h"
#include "maps/array_fast.h"
#include "maps/maps_int.h"

#define ARRAY_MAX_STRIPES 1024u
#define ARRAY_CPU_ALIGN 64u

/* ARRAY_CREATE_FLAG_MASK in kernel/bpf/arraymap.c. */
#define ARRAY_CREATE_FLAG_MASK                                                             \
	(BPF_F_NUMA_NODE | BPF_F_MMAPABLE | MAP_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS |      \
	 BPF_F_INNER_MAP)

static bool is_percpu(const struct map *m)
{
	return m->map_type == BPF_MAP_TYPE_PERCPU_ARRAY;
}

/* bpf_map_flags_access_ok() in include/linux/bpf.h. */
static bool flags_access_ok(uint32_t flags)
{
	return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
	       (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

/* array_map_alloc_check() in kernel/bpf/arraymap.c. */
static int array_alloc_check(struct map_params *p)
{
	bool percpu = p->map_type == BPF_MAP_TYPE_PERCPU_ARRAY;

	if (p->max_entries == 0 || p->key_size != 4 || p->value_size == 0 ||
	    (p->map_flags & ~ARRAY_CREATE_FLAG_MASK) || !flags_access_ok(p->map_flags) ||
	    (percpu && p->numa_node != MAP_NUMA_NO_NODE))
		return -EINVAL;
	if (p->map_type != BPF_MAP_TYPE_ARRAY && (p->map_flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP)))
		return -EINVAL;
	if (p->map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY && (p->map_flags & BPF_F_PRESERVE_ELEMS))
		return -EINVAL;
	if (p->value_size > INT_MAX)
		return -E2BIG;
	if (percpu && map_round8(p->value_size) > MAP_PCPU_MIN_UNIT_SIZE)
		return -E2BIG;
	return 0;
}

static uint32_t stripes_for(uint32_t max_entries)
{
	uint32_t n = 1;

	while (n < max_entries && n < ARRAY_MAX_STRIPES)
		n <<= 1;
	return n;
}

static bool params_mmapable(uint32_t type, uint32_t flags)
{
	return type == BPF_MAP_TYPE_ARRAY && (flags & BPF_F_MMAPABLE);
}

static int array_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint64_t stride = map_round8(p->value_size), data, cpu_stride = 0, elem_sz, val_off;
	uint32_t nstripes = 0;

	if (params_mmapable(p->map_type, p->map_flags)) {
		elem_sz = stride;
		val_off = 0;
		nstripes = stripes_for(p->max_entries);
		data = map_page_round((uint64_t)p->max_entries * stride);
	} else {
		elem_sz = sizeof(struct map_seqlock) + stride;
		val_off = sizeof(struct map_seqlock);
		data = (uint64_t)p->max_entries * elem_sz;
		if (p->map_type == BPF_MAP_TYPE_PERCPU_ARRAY) {
			cpu_stride = (data + ARRAY_CPU_ALIGN - 1) & ~(uint64_t)(ARRAY_CPU_ALIGN - 1);
			data = cpu_stride * p->ncpu;
		}
		data = (data + 7) & ~7ull;
	}
	/* The kernel fails the vmalloc of such a size with -ENOMEM. */
	if (data > ((uint64_t)1 << 44))
		return -ENOMEM;
	hdr->type_u64[0] = cpu_stride;
	hdr->type_u64[1] = nstripes ? data : 0;
	hdr->type_u64[2] = nstripes;
	hdr->type_u64[3] = elem_sz;
	hdr->type_u64[4] = val_off;
	*body_sz = data + (uint64_t)nstripes * sizeof(struct map_seqlock);
	return 0;
}

static int array_attach(struct map *m)
{
	uint64_t stride = m->value_stride, cpu_stride = m->tu[0], seq_off = m->tu[1];
	uint64_t nstripes = m->tu[2], elem_sz = m->tu[3], val_off = m->tu[4];
	uint64_t data;

	/* The header is shared with clients: check it against what the flags imply. */
	if (params_mmapable(m->map_type, m->map_flags)) {
		data = (uint64_t)m->max_entries * stride;
		if (cpu_stride || elem_sz != stride || val_off || nstripes == 0 ||
		    (nstripes & (nstripes - 1)) || nstripes > ARRAY_MAX_STRIPES || seq_off < data ||
		    seq_off % 8 || seq_off + nstripes * sizeof(struct map_seqlock) > m->body_sz)
			return -EINVAL;
		return 0;
	}
	if (elem_sz != stride + sizeof(struct map_seqlock) || val_off != sizeof(struct map_seqlock) ||
	    nstripes || seq_off)
		return -EINVAL;
	data = (uint64_t)m->max_entries * elem_sz;
	if (m->map_type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		if (cpu_stride < data || cpu_stride % 8 || cpu_stride * m->ncpu > m->body_sz)
			return -EINVAL;
	} else if (cpu_stride || data > m->body_sz) {
		return -EINVAL;
	}
	return 0;
}

static inline uint8_t *elem(struct map *m, uint32_t idx, uint32_t cpu)
{
	return m->base + cpu * m->tu[0] + (uint64_t)idx * m->tu[3];
}

static inline uint8_t *val(struct map *m, uint32_t idx, uint32_t cpu)
{
	return elem(m, idx, cpu) + m->tu[4];
}

static inline struct map_seqlock *seqlock_of(struct map *m, uint32_t idx, uint32_t cpu)
{
	if (m->tu[2])
		return (struct map_seqlock *)(m->base + m->tu[1]) + (idx & (m->tu[2] - 1));
	return (struct map_seqlock *)elem(m, idx, cpu);
}

static int array_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	uint32_t idx = *(const uint32_t *)key, cpu;

	if (idx >= m->max_entries)
		return -ENOENT;
	if (is_percpu(m)) {
		/* bpf_percpu_array_copy(): round_up(value_size, 8) bytes per possible CPU. */
		for (cpu = 0; cpu < m->ncpu; cpu++)
			map_seqlock_copy_out(seqlock_of(m, idx, cpu),
					     (uint8_t *)value + (size_t)cpu * m->value_stride,
					     val(m, idx, cpu), m->value_stride);
		return 0;
	}
	if (flags & BPF_F_LOCK) {
		map_value_copy_out(m, value, val(m, idx, 0), true);
		return 0;
	}
	map_seqlock_copy_out(seqlock_of(m, idx, 0), value, val(m, idx, 0), m->value_size);
	if (m->spin_lock_off >= 0)
		memset((uint8_t *)value + m->spin_lock_off, 0, 4);
	return 0;
}

static long array_update_common(struct map *m, const void *key, const void *value,
				uint64_t flags, bool sys)
{
	uint32_t idx = *(const uint32_t *)key, cpu;
	struct map_seqlock *sl;

	if (is_percpu(m) && sys) {
		/* bpf_percpu_array_update(): BPF_F_LOCK is not allowed either. */
		if (flags > BPF_EXIST)
			return -EINVAL;
	} else if ((flags & ~(uint64_t)BPF_F_LOCK) > BPF_EXIST) {
		return -EINVAL;
	}
	if (idx >= m->max_entries)
		return -E2BIG;
	if (flags & BPF_NOEXIST)
		return -EEXIST;
	if ((flags & BPF_F_LOCK) && m->spin_lock_off < 0)
		return -EINVAL;
	if (is_percpu(m)) {
		if (sys) {
			for (cpu = 0; cpu < m->ncpu; cpu++) {
				sl = seqlock_of(m, idx, cpu);
				map_seqlock_write_lock(sl);
				memcpy(val(m, idx, cpu),
				       (const uint8_t *)value + (size_t)cpu * m->value_stride,
				       m->value_stride);
				map_seqlock_write_unlock(sl);
			}
		} else {
			cpu = map_cpu_fast(m->ncpu);
			sl = seqlock_of(m, idx, cpu);
			map_seqlock_write_lock(sl);
			memcpy(val(m, idx, cpu), value, m->value_size);
			map_seqlock_write_unlock(sl);
		}
		return 0;
	}
	if (flags & BPF_F_LOCK) {
		map_value_copy_in(m, val(m, idx, 0), value, true);
		return 0;
	}
	sl = seqlock_of(m, idx, 0);
	map_seqlock_write_lock(sl);
	map_value_copy(m, val(m, idx, 0), value);
	map_seqlock_write_unlock(sl);
	return 0;
}

static int array_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return (int)array_update_common(m, key, value, flags, true);
}

long map_array_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return array_update_common(m, key, value, flags, false);
}

static int array_get_next_key(struct map *m, const void *key, void *next_key)
{
	uint32_t idx = key ? *(const uint32_t *)key : UINT32_MAX;

	if (idx >= m->max_entries) {
		*(uint32_t *)next_key = 0;
		return 0;
	}
	if (idx == m->max_entries - 1)
		return -ENOENT;
	*(uint32_t *)next_key = idx + 1;
	return 0;
}

static int array_sys_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

static long array_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

static void *array_lookup(struct map *m, const void *key)
{
	return map_array_lookup_fast(m, key);
}

void *map_percpu_array_lookup_slow(struct map *m, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	return val(m, idx, map_cpu_slow(m->ncpu));
}

static void *percpu_array_lookup(struct map *m, const void *key)
{
	return map_percpu_array_lookup_fast(m, key);
}

static void *percpu_array_lookup_percpu(struct map *m, const void *key, uint32_t cpu)
{
	uint32_t idx = *(const uint32_t *)key;

	if (idx >= m->max_entries || cpu >= m->ncpu)
		return NULL;
	return val(m, idx, cpu);
}

/* bpf_for_each_array_elem(): every index, stop when the callback returns non-zero. */
static long array_for_each(struct map *m, map_for_each_fn fn, void *ctx, uint64_t flags)
{
	uint32_t i, cpu = map_cpu_fast(m->ncpu);
	long n = 0;

	for (i = 0; i < m->max_entries; i++) {
		uint32_t key = i;

		n++;
		if (fn(m, &key, val(m, i, is_percpu(m) ? cpu : 0), ctx))
			break;
	}
	return n;
}

int map_array_geometry(const struct map *m, struct map_array_geom *g)
{
	if (m->map_type != BPF_MAP_TYPE_ARRAY && m->map_type != BPF_MAP_TYPE_PERCPU_ARRAY)
		return -EINVAL;
	g->base = m->base;
	g->cpu_stride = m->tu[0];
	g->elem_size = m->tu[3];
	g->value_off = m->tu[4];
	g->max_entries = m->max_entries;
	g->ncpu = m->ncpu;
	return 0;
}

const struct map_ops map_array_ops = {
	.has_update_batch = true,
	.name = "array",
	.alloc_check = array_alloc_check,
	.layout = array_layout,
	.attach = array_attach,
	.sys_lookup = array_sys_lookup,
	.sys_update = array_sys_update,
	.sys_delete = array_sys_delete,
	.get_next_key = array_get_next_key,
	.lookup = array_lookup,
	.update = map_array_update,
	.delete = array_delete,
	.for_each = array_for_each,
};

const struct map_ops map_percpu_array_ops = {
	.has_update_batch = true,
	.name = "percpu_array",
	.alloc_check = array_alloc_check,
	.layout = array_layout,
	.attach = array_attach,
	.sys_lookup = array_sys_lookup,
	.sys_update = array_sys_update,
	.sys_delete = array_sys_delete,
	.get_next_key = array_get_next_key,
	.lookup = percpu_array_lookup,
	.update = map_array_update,
	.delete = array_delete,
	.lookup_percpu = percpu_array_lookup_percpu,
	.for_each = array_for_each,
};
