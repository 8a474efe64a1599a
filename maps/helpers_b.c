/*
 * helpers_b.c - jit_helper_fn wrappers for the helpers of the second group
 * of map types: ring buffers, queues/stacks/bloom filters (push/pop/peek),
 * perf event output and stack ids. Same convention as maps/helpers.c: r1 is
 * the struct map * the program's ld_imm64 resolved to in this process; the
 * verifier has checked argument types and sizes (include/uapi/linux/bpf.h
 * documents each helper's return values, which these return unchanged).
 */
#include "config.h"

#include <errno.h>

#include "maps/helpers.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define REG_PTR(r) ((void *)(uintptr_t)(r))

/* bpf_ringbuf_output(map, data, size, flags): 0, -EINVAL, -EAGAIN. */
uint64_t map_helper_ringbuf_output(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return (uint64_t)map_ringbuf_output(REG_PTR(r1), REG_PTR(r2), r3, r4);
}

/* bpf_ringbuf_reserve(map, size, flags): sample or NULL. */
uint64_t map_helper_ringbuf_reserve(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				    uint64_t r5)
{
	return (uint64_t)(uintptr_t)map_ringbuf_reserve(REG_PTR(r1), r2, r3);
}

/* bpf_ringbuf_submit(sample, flags) / discard: void helpers, r0 = 0 as the kernel's BPF_CALL. */
uint64_t map_helper_ringbuf_submit(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	map_ringbuf_submit(REG_PTR(r1), r2);
	return 0;
}

uint64_t map_helper_ringbuf_discard(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				    uint64_t r5)
{
	map_ringbuf_discard(REG_PTR(r1), r2);
	return 0;
}

/* bpf_ringbuf_query(map, flags). */
uint64_t map_helper_ringbuf_query(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return map_ringbuf_query(REG_PTR(r1), r2);
}

/* bpf_perf_event_output(ctx, map, flags, data, size). */
uint64_t map_helper_perf_event_output(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
				      uint64_t r5)
{
	return (uint64_t)map_perf_event_output(REG_PTR(r2), r3, REG_PTR(r4), r5);
}

long map_push_elem(struct map *m, const void *value, uint64_t flags)
{
	return m->ops->push ? m->ops->push(m, value, flags) : -EINVAL;
}

long map_pop_elem(struct map *m, void *value)
{
	return m->ops->pop ? m->ops->pop(m, value) : -EINVAL;
}

long map_peek_elem(struct map *m, void *value)
{
	return m->ops->peek ? m->ops->peek(m, value) : -EINVAL;
}

/* bpf_map_push_elem(map, value, flags) / pop(map, value) / peek(map, value). */
uint64_t map_helper_push_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return (uint64_t)map_push_elem(REG_PTR(r1), REG_PTR(r2), r3);
}

uint64_t map_helper_pop_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return (uint64_t)map_pop_elem(REG_PTR(r1), REG_PTR(r2));
}

uint64_t map_helper_peek_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return (uint64_t)map_peek_elem(REG_PTR(r1), REG_PTR(r2));
}

/* bpf_get_stackid(ctx, map, flags). */
uint64_t map_helper_get_stackid(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	return (uint64_t)map_get_stackid_ctx(REG_PTR(r1), REG_PTR(r2), r3);
}

void map_helpers_b_fill(jit_helper_fn *table, uint32_t cnt)
{
	static const struct {
		uint32_t id;
		jit_helper_fn fn;
	} own[] = {
		{ BPF_FUNC_ringbuf_output, map_helper_ringbuf_output },
		{ BPF_FUNC_ringbuf_reserve, map_helper_ringbuf_reserve },
		{ BPF_FUNC_ringbuf_submit, map_helper_ringbuf_submit },
		{ BPF_FUNC_ringbuf_discard, map_helper_ringbuf_discard },
		{ BPF_FUNC_ringbuf_query, map_helper_ringbuf_query },
		{ BPF_FUNC_perf_event_output, map_helper_perf_event_output },
		{ BPF_FUNC_map_push_elem, map_helper_push_elem },
		{ BPF_FUNC_map_pop_elem, map_helper_pop_elem },
		{ BPF_FUNC_map_peek_elem, map_helper_peek_elem },
		{ BPF_FUNC_get_stackid, map_helper_get_stackid },
	};

	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (own[i].id < cnt)
			table[own[i].id] = own[i].fn;
}
