/*
 * fd_array.c - the arrays whose syscall-side values are fds of other
 * objects: BPF_MAP_TYPE_PERF_EVENT_ARRAY (perf event fds) and
 * BPF_MAP_TYPE_PROG_ARRAY (program fds, for bpf_tail_call), plus the
 * bpf_perf_event_output() helper that writes through the former.
 *
 * Mirrors the fd-array half of kernel/bpf/arraymap.c
 * (fd_array_map_alloc_check, bpf_fd_array_map_lookup_elem,
 * bpf_fd_array_map_update_elem, fd_array_map_delete_elem,
 * prog_fd_array_sys_lookup_elem) and __bpf_perf_event_output() in
 * kernel/trace/bpf_trace.c.
 *
 * The kernel stores object pointers; a shared file can only store ids. Each
 * slot holds the id of the object the fd named (a perf ring id from
 * maps/perf_ring.c, a program id), 0 when empty; emul/ translates fds to ids
 * (see maps/maps_ext.h). Readers in any process load a slot with acquire
 * and resolve the id through the process's own table, so slots change
 * atomically under running programs, as the kernel's xchg of pointers.
 *
 * Body layout:
 *
 *   OFFSET  SIZE              DESCRIPTION
 *   0       4 * max_entries   u32 object id per index (0 = empty); written
 *                             by atomic exchange, read with load-acquire
 *
 *   type_u64: unused.
 *
 * DIVERGES: the kernel clears the slots a map fd installed when that fd is
 * closed (perf_event_fd_array_release, unless BPF_F_PRESERVE_ELEMS) and
 * when the perf event goes away; that is fd lifetime, which emul/ tracks:
 * it calls map_sys_delete_elem() for those slots.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "maps/fd_array.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

/* ARRAY_CREATE_FLAG_MASK in kernel/bpf/arraymap.c. */
#define FD_ARRAY_CREATE_FLAG_MASK                                                          \
	(BPF_F_NUMA_NODE | BPF_F_MMAPABLE | MAP_F_ACCESS_MASK | BPF_F_PRESERVE_ELEMS |      \
	 BPF_F_INNER_MAP)

/* fd_array_map_alloc_check() then array_map_alloc_check(). */
int map_fd_array_alloc_check(struct map_params *p)
{
	if (p->value_size != sizeof(uint32_t))
		return -EINVAL;
	/* Programs cannot access fd arrays' values at all. */
	if (p->map_flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG))
		return -EINVAL;
	if (p->max_entries == 0 || p->key_size != 4 || (p->map_flags & ~FD_ARRAY_CREATE_FLAG_MASK))
		return -EINVAL;
	if (p->map_flags & (BPF_F_MMAPABLE | BPF_F_INNER_MAP))
		return -EINVAL;
	if (p->map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY && (p->map_flags & BPF_F_PRESERVE_ELEMS))
		return -EINVAL;
	return 0;
}

int map_fd_array_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	*body_sz = (uint64_t)p->max_entries * sizeof(uint32_t);
	return 0;
}

int map_fd_array_attach(struct map *m)
{
	if ((uint64_t)m->max_entries * sizeof(uint32_t) > m->body_sz || m->value_size != 4 ||
	    m->key_size != 4)
		return -EINVAL;
	return 0;
}

static inline _Atomic uint32_t *slot(struct map *m, uint32_t idx)
{
	return (_Atomic uint32_t *)m->base + idx;
}

/* bpf_fd_array_map_lookup_elem(): only types with map_fd_sys_lookup_elem answer. */
int map_fd_array_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	uint32_t idx = *(const uint32_t *)key, id;

	if (m->map_type == BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return -ENOTSUPP;
	if (idx >= m->max_entries)
		return -ENOENT;
	id = atomic_load_explicit(slot(m, idx), memory_order_acquire);
	if (!id)
		return -ENOENT;
	/* prog_fd_array_sys_lookup_elem(): the program's id. */
	*(uint32_t *)value = id;
	return 0;
}

/* bpf_fd_array_map_update_elem(): BPF_ANY only, then the index, then the fd (here its id). */
int map_fd_array_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	uint32_t idx = *(const uint32_t *)key, id = *(const uint32_t *)value;

	if (flags != BPF_ANY)
		return -EINVAL;
	if (idx >= m->max_entries)
		return -E2BIG;
	if (!id)
		return -EBADF;
	/* Pairs with the load-acquire of readers: the object is set up before its id shows. */
	atomic_exchange_explicit(slot(m, idx), id, memory_order_acq_rel);
	return 0;
}

/* fd_array_map_delete_elem(). */
int map_fd_array_sys_delete(struct map *m, const void *key)
{
	uint32_t idx = *(const uint32_t *)key;

	if (idx >= m->max_entries)
		return -E2BIG;
	return atomic_exchange_explicit(slot(m, idx), 0, memory_order_acq_rel) ? 0 : -ENOENT;
}

/* array_map_get_next_key(). */
int map_fd_array_get_next_key(struct map *m, const void *key, void *next_key)
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

/* The kernel's fd arrays have no batch ops (BPF_DO_BATCH gives -ENOTSUPP). */
int map_fd_array_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	b->count = 0;
	return -ENOTSUPP;
}

/* Programs cannot update or delete fd arrays through helpers (the verifier refuses). */
static long fd_array_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long fd_array_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

uint32_t map_fd_array_slot(struct map *m, uint32_t idx)
{
	if (idx >= m->max_entries)
		return 0;
	return atomic_load_explicit(slot(m, idx), memory_order_acquire);
}

long map_perf_event_output(struct map *m, uint64_t flags, const void *data, uint64_t size)
{
	uint64_t idx = flags & BPF_F_INDEX_MASK;
	uint32_t cpu, id;
	struct map_perf_ring *r;
	int err;

	if (m->map_type != BPF_MAP_TYPE_PERF_EVENT_ARRAY)
		return -EINVAL;
	/* bpf_perf_event_output() in kernel/trace/bpf_trace.c. */
	if (flags & ~(uint64_t)BPF_F_INDEX_MASK)
		return -EINVAL;
	cpu = map_cpu_fast(m->ncpu);
	if (idx == BPF_F_CURRENT_CPU)
		idx = cpu;
	if (idx >= m->max_entries)
		return -E2BIG;
	id = atomic_load_explicit(slot(m, (uint32_t)idx), memory_order_acquire);
	if (!id)
		return -ENOENT;
	r = map_perf_ring_find(id);
	if (!r) {
		log_debug("perf_event_array: ring %u is not known in this process\n", id);
		return -ENOENT;
	}
	err = map_perf_ring_check_output(r, cpu);
	if (err)
		return err;
	return map_perf_ring_output(r, data, size);
}

int map_prog_array_get(struct map *m, uint32_t idx, uint32_t *prog_id)
{
	uint32_t id;

	if (m->map_type != BPF_MAP_TYPE_PROG_ARRAY)
		return -EINVAL;
	if (idx >= m->max_entries)
		return -ENOENT;
	id = atomic_load_explicit(slot(m, idx), memory_order_acquire);
	if (!id)
		return -ENOENT;
	*prog_id = id;
	return 0;
}

const struct map_ops map_perf_event_array_ops = {
	.name = "perf_event_array",
	.alloc_check = map_fd_array_alloc_check,
	.layout = map_fd_array_layout,
	.attach = map_fd_array_attach,
	.sys_lookup = map_fd_array_sys_lookup,
	.sys_update = map_fd_array_sys_update,
	.sys_delete = map_fd_array_sys_delete,
	.get_next_key = map_fd_array_get_next_key,
	.lookup_batch = map_fd_array_lookup_batch,
	.update = fd_array_update,
	.delete = fd_array_delete,
};

const struct map_ops map_prog_array_ops = {
	.name = "prog_array",
	.alloc_check = map_fd_array_alloc_check,
	.layout = map_fd_array_layout,
	.attach = map_fd_array_attach,
	.sys_lookup = map_fd_array_sys_lookup,
	.sys_update = map_fd_array_sys_update,
	.sys_delete = map_fd_array_sys_delete,
	.get_next_key = map_fd_array_get_next_key,
	.lookup_batch = map_fd_array_lookup_batch,
	.update = fd_array_update,
	.delete = fd_array_delete,
};
