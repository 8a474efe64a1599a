/*
 * bloom_filter.c - BPF_MAP_TYPE_BLOOM_FILTER.
 *
 * Mirrors kernel/bpf/bloom_filter.c: no keys, map_extra's low 4 bits give
 * the number of hash functions (0 means 5), a bit array of
 * roundup_pow_of_two(max_entries * k * 7 / 5) bits (at least 64; 2^32 when
 * that overflows), bit i of value v = jhash2/jhash(v, seed + i) & mask, push
 * sets the bits (BPF_ANY only), peek tests them (-ENOENT when one is clear),
 * pop/delete/get_next_key -EOPNOTSUPP. The seed is random unless
 * BPF_F_ZERO_SEED; with it and the kernel's jhash (maps/jhash.h) a filter
 * here answers every peek exactly as the kernel's, false positives included.
 *
 * From the syscall side (kernel/bpf/syscall.c) LOOKUP copies the *value* in
 * and peeks (emul/ must pass the user's value buffer as input), UPDATE
 * pushes, LOOKUP_AND_DELETE is -ENOTSUPP.
 *
 * Body layout:
 *
 *   OFFSET  SIZE               DESCRIPTION
 *   0       bitset_bytes       the bit array as u64 words (bit b in word b / 64),
 *                              set with atomic fetch-or, read with relaxed loads
 *
 *   type_u64: [0] nr_hash_funcs, [1] bitset_mask, [2] hash_seed, [3] bitset_bytes.
 *
 * No lock: bits only ever go from 0 to 1, so concurrent pushes and peeks
 * are as safe as the kernel's set_bit/test_bit.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

#include "maps/jhash.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

/* BLOOM_CREATE_FLAG_MASK. */
#define BLOOM_CREATE_FLAG_MASK (BPF_F_NUMA_NODE | BPF_F_ZERO_SEED | MAP_F_ACCESS_MASK)

static bool flags_access_ok(uint32_t flags)
{
	return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
	       (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

/* bloom_map_alloc_check() then the checks at the top of bloom_map_alloc(). */
static int bloom_alloc_check(struct map_params *p)
{
	if (p->value_size > MAP_KMALLOC_MAX_SIZE)
		return -E2BIG;
	if (p->key_size != 0 || p->value_size == 0 || p->max_entries == 0 ||
	    (p->map_flags & ~BLOOM_CREATE_FLAG_MASK) || !flags_access_ok(p->map_flags) ||
	    (p->map_extra & ~0xfull))
		return -EINVAL;
	return 0;
}

static uint32_t roundup_pow2(uint32_t v)
{
	uint32_t r = 1;

	while (r < v)
		r <<= 1;
	return r;
}

static int bloom_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint32_t k = p->map_extra ? (uint32_t)p->map_extra : 5;
	uint64_t nr_bits = (uint64_t)p->max_entries * k, bytes, mask;
	uint32_t seed = 0;

	/* bloom_map_alloc(): n * k / 5 * 7 in u32 arithmetic, overflow means 2^32 bits. */
	if (nr_bits > UINT32_MAX || (nr_bits / 5) * 7 > UINT32_MAX ||
	    (nr_bits / 5) * 7 > (1ull << 31)) {
		bytes = ((uint64_t)UINT32_MAX + 7) / 8;
		mask = UINT32_MAX;
	} else {
		nr_bits = (nr_bits / 5) * 7;
		nr_bits = nr_bits <= 64 ? 64 : roundup_pow2((uint32_t)nr_bits);
		bytes = nr_bits / 8;
		mask = nr_bits - 1;
	}
	bytes = (bytes + 7) & ~7ull;
	if (!(p->map_flags & BPF_F_ZERO_SEED) &&
	    getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		return -errno;
	hdr->type_u64[0] = k;
	hdr->type_u64[1] = mask;
	hdr->type_u64[2] = seed;
	hdr->type_u64[3] = bytes;
	*body_sz = bytes;
	return 0;
}

static int bloom_attach(struct map *m)
{
	uint64_t k = m->tu[0], mask = m->tu[1], bytes = m->tu[3];

	if (k == 0 || k > 15 || mask > UINT32_MAX || bytes > m->body_sz || bytes * 8 < mask + 1)
		return -EINVAL;
	return 0;
}

static inline uint32_t bloom_hash(struct map *m, const void *value, uint32_t i)
{
	uint32_t seed = (uint32_t)m->tu[2] + i, h;

	if (m->value_size % 4 == 0)
		h = map_jhash2(value, m->value_size / 4, seed);
	else
		h = map_jhash(value, m->value_size, seed);
	return h & (uint32_t)m->tu[1];
}

static long bloom_peek(struct map *m, void *value)
{
	_Atomic uint64_t *bits = (_Atomic uint64_t *)m->base;

	for (uint32_t i = 0; i < m->tu[0]; i++) {
		uint32_t h = bloom_hash(m, value, i);

		if (!(atomic_load_explicit(&bits[h / 64], memory_order_relaxed) & (1ull << (h % 64))))
			return -ENOENT;
	}
	return 0;
}

static long bloom_push(struct map *m, const void *value, uint64_t flags)
{
	_Atomic uint64_t *bits = (_Atomic uint64_t *)m->base;

	if (flags != BPF_ANY)
		return -EINVAL;
	for (uint32_t i = 0; i < m->tu[0]; i++) {
		uint32_t h = bloom_hash(m, value, i);

		atomic_fetch_or_explicit(&bits[h / 64], 1ull << (h % 64), memory_order_relaxed);
	}
	return 0;
}

static long bloom_pop(struct map *m, void *value)
{
	return -EOPNOTSUPP;
}

static int bloom_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	return (int)bloom_peek(m, value);
}

static int bloom_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return (int)bloom_push(m, value, flags);
}

static int bloom_sys_delete(struct map *m, const void *key)
{
	return -EOPNOTSUPP;
}

static int bloom_get_next_key(struct map *m, const void *key, void *next_key)
{
	return -EOPNOTSUPP;
}

/* bloom_map_lookup_elem/update_elem from a program: use peek/push instead. */
static void *bloom_lookup(struct map *m, const void *key)
{
	return NULL;
}

static long bloom_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long bloom_delete(struct map *m, const void *key)
{
	return -EOPNOTSUPP;
}

static int bloom_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	b->count = 0;
	return -ENOTSUPP;
}

const struct map_ops map_bloom_filter_ops = {
	.name = "bloom_filter",
	.alloc_check = bloom_alloc_check,
	.layout = bloom_layout,
	.attach = bloom_attach,
	.sys_lookup = bloom_sys_lookup,
	.sys_update = bloom_sys_update,
	.sys_delete = bloom_sys_delete,
	.get_next_key = bloom_get_next_key,
	.lookup_batch = bloom_lookup_batch,
	.lookup = bloom_lookup,
	.update = bloom_update,
	.delete = bloom_delete,
	.push = bloom_push,
	.pop = bloom_pop,
	.peek = bloom_peek,
};
