/*
 * helpers.h - contract: the map helpers as jit_helper_fn, for the helper
 * table the jit calls through (jit/jit.h struct jit_env).
 *
 * bpf_for_each_map_elem (164) runs a BPF subprogram as its callback, through
 * jit_callback_call(): it is in maps/helpers_cb.c and installed, with jit's
 * bpf_loop, by map_helpers_cb_fill(), not by map_helpers_fill().
 */
#ifndef MAPS_HELPERS_H
#define MAPS_HELPERS_H

#include <stdint.h>

#include "jit/jit.h"

/** bpf_map_lookup_elem(map, key): value pointer or 0. */
uint64_t map_helper_lookup_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_map_update_elem(map, key, value, flags): 0 or -errno. */
uint64_t map_helper_update_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_map_delete_elem(map, key): 0 or -errno. */
uint64_t map_helper_delete_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_map_lookup_percpu_elem(map, key, cpu): value pointer or 0. */
uint64_t map_helper_lookup_percpu_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				       uint64_t r5);
/** bpf_spin_lock(lock) / bpf_spin_unlock(lock): process-shared, dead-owner safe. Return 0. */
uint64_t map_helper_spin_lock(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_spin_unlock(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

/**
 * map_jit_inline_lookup() - struct jit_env.inline_lookup for our maps:
 * @map_ptr is a struct map * (what resolve_ld_imm64 gives for a map, as
 * for the helpers above); fills @out for ARRAY and PERCPU_ARRAY.
 * @cookie is unused. The geometry is valid while the map is referenced.
 * Returns 0, -EOPNOTSUPP for other map types, -EINVAL for a NULL map.
 */
int map_jit_inline_lookup(void *cookie, uint64_t map_ptr, struct jit_array_geom *out);

/** Install the helpers above into @table (indexed by BPF_FUNC_* id, @cnt entries). */
void map_helpers_fill(jit_helper_fn *table, uint32_t cnt);

/* bpf_for_each_map_elem (maps/helpers_cb.c): runs the callback with
 * jit_callback_call(), so only for programs run by jit/. */
uint64_t map_helper_for_each_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/* Install the callback helpers, bpf_loop (jit_helper_loop()) and
 * bpf_for_each_map_elem, in @table (ids below @cnt). Links jit/. */
void map_helpers_cb_fill(jit_helper_fn *table, uint32_t cnt);

/*
 * The context-free helpers both helper tables share (maps/helpers_common.c):
 * the agent's (hooks/helpers_proc.c) and PROG_TEST_RUN's (emul/helpers_sup.c).
 * The clocks are built general-regs-only: the agent calls them on its
 * vector-clean run path without saving vector registers (hooks/xstate.h).
 */
/** bpf_ktime_get_ns(): CLOCK_MONOTONIC in ns. */
uint64_t map_helper_ktime_get_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_ktime_get_boot_ns(): CLOCK_BOOTTIME in ns. */
uint64_t map_helper_ktime_get_boot_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_ktime_get_coarse_ns(): CLOCK_MONOTONIC_COARSE in ns. */
uint64_t map_helper_ktime_get_coarse_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_ktime_get_tai_ns(): CLOCK_TAI in ns. */
uint64_t map_helper_ktime_get_tai_ns(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_get_prandom_u32(): the next value of this thread's generator (may touch vector registers). */
uint64_t map_helper_get_prandom_u32(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/**
 * Set this thread's generator state: 0 makes the next bpf_get_prandom_u32()
 * draw a fresh seed from getrandom() (a forked child calls it so it does not
 * repeat its parent's sequence); any other value replays a fixed sequence (tests).
 */
void map_helper_prandom_seed(uint64_t seed);

#endif /* MAPS_HELPERS_H */
