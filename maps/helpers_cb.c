/*
 * helpers_cb.c - bpf_for_each_map_elem, the map helper that calls back into
 * the running program, and the one function that installs the callback
 * helpers (this one and jit's bpf_loop) in an embedder's helper table.
 *
 * bpf_for_each_map_elem(map, callback_fn, callback_ctx, flags) follows
 * include/uapi/linux/bpf.h and the maps' map_for_each_callback
 * (bpf_for_each_array_elem() in kernel/bpf/arraymap.c,
 * bpf_for_each_hash_elem() in kernel/bpf/hashtab.c):
 * callback(map, &key, &value, callback_ctx), 0 continues, 1 stops; the
 * result is the number of elements visited (the stopping one included),
 * -EINVAL for flags != 0. The walk is map_for_each_elem() (maps/maps.h); the
 * callback is run with jit_callback_call() (jit/jit.h).
 *
 * Kept apart from maps/helpers.c so that programs linking maps/ without
 * jit/ (the maps suites) do not pull in the interpreter.
 */
#include "config.h"

#include <errno.h>
#include <linux/bpf.h>

#include "maps/helpers.h"
#include "maps/maps.h"

struct cb_state {
	uint64_t fn;
	uint64_t ctx;
	int err;
};

static uint64_t each_elem(struct map *m, const void *key, void *value, void *cookie)
{
	struct cb_state *st = cookie;
	uint64_t ret;

	st->err = jit_callback_call(st->fn, (uint64_t)(uintptr_t)m, (uint64_t)(uintptr_t)key,
				    (uint64_t)(uintptr_t)value, st->ctx, 0, &ret);
	/* Stop on a callback error too (the program is ending anyway). */
	return st->err ? 1 : ret != 0;
}

uint64_t map_helper_for_each_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct cb_state st = { .fn = r2, .ctx = r3 };
	long n;

	(void)r5;
	if (r4)
		return (uint64_t)-EINVAL;
	n = map_for_each_elem((struct map *)(uintptr_t)r1, each_elem, &st, 0);
	/* DIVERGES: a bad callback handle or a fault in the callback is
	 * returned as the error; the kernel's verifier makes both impossible. */
	if (st.err)
		return (uint64_t)(int64_t)st.err;
	return (uint64_t)(int64_t)n;
}

void map_helpers_cb_fill(jit_helper_fn *table, uint32_t cnt)
{
	if (BPF_FUNC_loop < cnt)
		table[BPF_FUNC_loop] = jit_helper_loop;
	if (BPF_FUNC_for_each_map_elem < cnt)
		table[BPF_FUNC_for_each_map_elem] = map_helper_for_each_elem;
}
