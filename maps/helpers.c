/*
 * helpers.c - the map helpers as programs call them: jit_helper_fn wrappers
 * (five u64 registers in, one out) around the fast path in maps.h, and the
 * function that installs them in a helper table by helper id.
 *
 * r1 is the struct map * that an ld_imm64 with BPF_PSEUDO_MAP_FD resolved to
 * in this process; the verifier guarantees its type and that key/value point
 * to key_size/value_size readable bytes (include/uapi/linux/bpf.h describes
 * each helper's contract and return values).
 */
#include "config.h"

#include <errno.h>

#include "maps/array_fast.h"
#include "maps/helpers.h"
#include "maps/htab.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define REG_PTR(r) ((void *)(uintptr_t)(r))

static inline bool type_is_htab(uint32_t t)
{
	return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH || t == BPF_MAP_TYPE_LRU_HASH ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH;
}

/*
 * The hottest helper: the common types are reached without going through the
 * ops table (one indirect call fewer), arrays fully inline.
 */
uint64_t map_helper_lookup_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct map *m = REG_PTR(r1);
	uint32_t t = m->map_type;

	/* Branches, not a switch: a jump table would add an indirect jump. */
	if (t == BPF_MAP_TYPE_ARRAY)
		return (uint64_t)(uintptr_t)map_array_lookup_fast(m, REG_PTR(r2));
	if (type_is_htab(t))
		return (uint64_t)(uintptr_t)map_htab_lookup(m, REG_PTR(r2));
	if (t == BPF_MAP_TYPE_PERCPU_ARRAY)
		return (uint64_t)(uintptr_t)map_percpu_array_lookup_fast(m, REG_PTR(r2));
	return (uint64_t)(uintptr_t)map_lookup_elem(m, REG_PTR(r2));
}

/*
 * DIVERGES: the kernel's verifier rejects a program that updates or deletes in
 * a BPF_F_RDONLY_PROG map, so the helpers never see one. Until verifier/ does
 * the same, the helpers refuse at run time with -EPERM.
 */
uint64_t map_helper_update_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct map *m = REG_PTR(r1);
	uint32_t t = m->map_type;

	if (__builtin_expect(m->map_flags & BPF_F_RDONLY_PROG, 0))
		return (uint64_t)-EPERM;
	if (t == BPF_MAP_TYPE_ARRAY || t == BPF_MAP_TYPE_PERCPU_ARRAY)
		return (uint64_t)map_array_update(m, REG_PTR(r2), REG_PTR(r3), r4);
	if (type_is_htab(t))
		return (uint64_t)map_htab_update(m, REG_PTR(r2), REG_PTR(r3), r4);
	return (uint64_t)map_update_elem(m, REG_PTR(r2), REG_PTR(r3), r4);
}

uint64_t map_helper_delete_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct map *m = REG_PTR(r1);

	if (__builtin_expect(m->map_flags & BPF_F_RDONLY_PROG, 0))
		return (uint64_t)-EPERM;
	if (type_is_htab(m->map_type))
		return (uint64_t)map_htab_delete(m, REG_PTR(r2));
	return (uint64_t)map_delete_elem(m, REG_PTR(r2));
}

uint64_t map_helper_lookup_percpu_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				       uint64_t r5)
{
	return (uint64_t)(uintptr_t)map_lookup_percpu_elem(REG_PTR(r1), REG_PTR(r2), (uint32_t)r3);
}

/* bpf_spin_lock(struct bpf_spin_lock *): the same pid-owned lock as BPF_F_LOCK copies. */
uint64_t map_helper_spin_lock(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)map_lock_acquire((_Atomic uint32_t *)REG_PTR(r1));
	return 0;
}

uint64_t map_helper_spin_unlock(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	map_lock_release((_Atomic uint32_t *)REG_PTR(r1));
	return 0;
}

void map_helpers_fill(jit_helper_fn *table, uint32_t cnt)
{
	static const struct {
		uint32_t id;
		jit_helper_fn fn;
	} own[] = {
		{ BPF_FUNC_map_lookup_elem, map_helper_lookup_elem },
		{ BPF_FUNC_map_update_elem, map_helper_update_elem },
		{ BPF_FUNC_map_delete_elem, map_helper_delete_elem },
		{ BPF_FUNC_map_lookup_percpu_elem, map_helper_lookup_percpu_elem },
		{ BPF_FUNC_spin_lock, map_helper_spin_lock },
		{ BPF_FUNC_spin_unlock, map_helper_spin_unlock },
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (own[i].id < cnt)
			table[own[i].id] = own[i].fn;
	map_helpers_b_fill(table, cnt);
}
