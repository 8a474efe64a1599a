/*
 * jit_glue.c - what the jit needs to inline bpf_map_lookup_elem on arrays
 * (struct jit_env.inline_lookup, jit/jit.h): the geometry of an ARRAY or
 * PERCPU_ARRAY in the jit's terms, from map_array_geometry() (maps/array.c).
 *
 * The kernel's verifier does the same with map_gen_lookup
 * (array_map_gen_lookup() and percpu_array_map_gen_lookup() in
 * kernel/bpf/arraymap.c). The jit must not know struct map, so the glue
 * lives here, on the side that already depends on the jit (helpers.c).
 *
 * Invariant the inlined code relies on: for every key and CPU, the address
 * it computes is the one map_array_lookup_fast() / map_percpu_array_lookup_fast()
 * (maps/array_fast.h) return, including the choice of CPU: rseq's cpu_id when
 * below ncpu, else map_cpu_slow() (maps/cpu.c).
 */
#include "config.h"

#include <errno.h>
#include <stddef.h>

#include "maps/helpers.h"
#include "maps/maps_int.h"

int map_jit_inline_lookup(void *cookie, uint64_t map_ptr, struct jit_array_geom *out)
{
	const struct map *m = (const struct map *)(uintptr_t)map_ptr;
	struct map_array_geom g;
	int err;

	(void)cookie;
	if (!m)
		return -EINVAL;
	err = map_array_geometry(m, &g);
	if (err)
		return -EOPNOTSUPP; /* not an array: the helper call stays */
	*out = (struct jit_array_geom){
		.base = g.base + g.value_off,
		.elem_sz = g.elem_size,
		.max_entries = g.max_entries,
	};
	if (m->map_type == BPF_MAP_TYPE_PERCPU_ARRAY) {
		int64_t off = map_cpu_rseq_off;

		out->cpu_stride = g.cpu_stride;
		out->ncpu = g.ncpu;
		out->cpu_tp_off = off == INT64_MIN ? INT64_MIN
						   : off + (int64_t)offsetof(struct rseq, cpu_id);
		out->cpu_slow = map_cpu_slow;
	}
	return 0;
}
