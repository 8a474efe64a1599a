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

static inline void *map_percpu_array_lookup_fast(struct map *m, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	if (__builtin_expect(idx >= m->max_entries, 0))
		return NULL;
	return m->base + map_cpu_fast(m->ncpu) * m->tu[0] + (uint64_t)idx * m->tu[3] + m->tu[4];
}

#endif /* MAPS_ARRAY_FAST_H */
