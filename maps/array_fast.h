/*
 * array_fast.h - private to maps/: the array lookups as inline functions,
 * so the helper wrappers (maps/helpers.c) reach an array element without a
 * second indirect call, as the kernel's verifier inlines array lookups
 * (array_map_gen_lookup() in kernel/bpf/arraymap.c). Geometry: maps/array.c.
 */
#ifndef MAPS_ARRAY_FAST_H
#define MAPS_ARRAY_FAST_H

#include "maps/maps_int.h"

/* type_u64 of arrays: [0] cpu_stride, [3] element size, [4] value offset. */
static inline void *map_array_lookup_fast(struct map *m, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	if (__builtin_expect(idx >= m->max_entries, 0))
		return NULL;
	return m->base + (uint64_t)idx * m->tu[3] + m->tu[4];
}

/* The helper-side update of ARRAY and PERCPU_ARRAY (maps/array.c). */
long map_array_update(struct map *m, const void *key, const void *value, uint64_t flags);

void *map_percpu_array_lookup_slow(struct map *m, const void *key) __attribute__((cold));

/* Every exit is a return or a tail call, so no registers need saving. */
static inline void *map_percpu_array_lookup_fast(struct map *m, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;
	int64_t off = map_cpu_rseq_off;

	if (__builtin_expect(idx >= m->max_entries, 0))
		return NULL;
	if (__builtin_expect(off != INT64_MIN, 1)) {
		const struct rseq *rs =
			(const struct rseq *)((const char *)__builtin_thread_pointer() + off);
		uint32_t c = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

		if (__builtin_expect(c < m->ncpu, 1))
			return m->base + c * m->tu[0] + (uint64_t)idx * m->tu[3] + m->tu[4];
	}
	return map_percpu_array_lookup_slow(m, key);
}

#endif /* MAPS_ARRAY_FAST_H */
