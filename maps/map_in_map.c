/*
 * map_in_map.c - BPF_MAP_TYPE_ARRAY_OF_MAPS and BPF_MAP_TYPE_HASH_OF_MAPS:
 * an array (maps/fd_array.c) or hash table (maps/hash.c) whose values are
 * other maps.
 *
 * Mirrors kernel/bpf/map_in_map.c (bpf_map_meta_alloc: the inner map given
 * by attr->inner_map_fd at creation becomes a template; one level only;
 * bpf_map_meta_equal: every map stored later must have the template's type,
 * key size, value size, flags and spin lock, and for ARRAY/PERCPU_ARRAY
 * templates without BPF_F_INNER_MAP the same max_entries, else -EINVAL), the
 * array-of-maps half of kernel/bpf/arraymap.c and the hash-of-maps half of
 * kernel/bpf/hashtab.c (value_size must be 4; a program's lookup returns the
 * inner map; the syscall side stores map fds and reads back map ids).
 *
 * As for the other fd arrays, slots hold map ids (emul/ turns the client's
 * fds into ids). Two hooks connect ids and fds to struct map handles in this
 * process: the fd resolver (the inner_map_fd of MAP_CREATE) and the id
 * resolver (an id stored in a slot, when a program looks it up or the
 * syscall side stores it). A process-local table caches id -> handle.
 *
 * The template lives in the shared header's type_u64[12..15] (the array and
 * hash layouts use type_u64[0..8] at most):
 *   [12] inner map_type | key_size << 32   [13] value_size | map_flags << 32
 *   [14] max_entries                        [15] spin_lock_off + 1 | MIM_TAG << 32
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "common/log.h"
#include "maps/fd_array.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define MIM_T0 12
#define MIM_TAG 0x4d494dull /* "MIM" */

_Static_assert(MAP_SHM_TYPE_U64_CNT > MIM_T0 + 3, "template slots");

static map_fd_resolve_fn fd_resolver;
static map_id_resolve_fn id_resolver;
static void *resolver_ctx;
static pthread_mutex_t mim_mu = PTHREAD_MUTEX_INITIALIZER;

void map_in_map_set_resolvers(map_fd_resolve_fn fd_fn, map_id_resolve_fn id_fn, void *ctx)
{
	pthread_mutex_lock(&mim_mu);
	fd_resolver = fd_fn;
	id_resolver = id_fn;
	resolver_ctx = ctx;
	pthread_mutex_unlock(&mim_mu);
}

static bool is_map_in_map_type(uint32_t t)
{
	return t == BPF_MAP_TYPE_ARRAY_OF_MAPS || t == BPF_MAP_TYPE_HASH_OF_MAPS;
}

/* ---- process-local id -> map table ---- */

#define MIM_REG_CAP 4096u

static struct {
	_Atomic uint32_t id;
	_Atomic(struct map *) map;
} reg[MIM_REG_CAP];

static uint32_t reg_hash(uint32_t id)
{
	return (id * 2654435761u) % MIM_REG_CAP;
}

int map_in_map_register(struct map *m)
{
	uint32_t id = m->hdr->id, h = reg_hash(id), i;
	int err = -ENOSPC;

	if (!id)
		return -EINVAL;
	pthread_mutex_lock(&mim_mu);
	for (i = 0; i < MIM_REG_CAP; i++, h = (h + 1) % MIM_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_relaxed);

		if (cur == id || cur == 0) {
			struct map *old = atomic_load_explicit(&reg[h].map, memory_order_relaxed);

			/* Handle before id: a reader that sees the id sees the handle. */
			atomic_store_explicit(&reg[h].map, map_get(m), memory_order_release);
			atomic_store_explicit(&reg[h].id, id, memory_order_release);
			map_put(old);
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&mim_mu);
	return err;
}

void map_in_map_unregister(uint32_t id)
{
	uint32_t h = reg_hash(id), i;

	pthread_mutex_lock(&mim_mu);
	for (i = 0; i < MIM_REG_CAP && id; i++, h = (h + 1) % MIM_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_relaxed);

		if (cur == 0)
			break;
		if (cur == id) {
			map_put(atomic_exchange(&reg[h].map, NULL));
			break;
		}
	}
	pthread_mutex_unlock(&mim_mu);
}

struct map *map_in_map_find(uint32_t id)
{
	uint32_t h = reg_hash(id), i;
	map_id_resolve_fn fn;
	struct map *m = NULL;
	void *ctx;

	for (i = 0; i < MIM_REG_CAP && id; i++, h = (h + 1) % MIM_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_acquire);

		if (cur == 0)
			break;
		if (cur == id) {
			m = atomic_load_explicit(&reg[h].map, memory_order_acquire);
			if (m)
				return m;
			break;
		}
	}
	if (!id)
		return NULL;
	pthread_mutex_lock(&mim_mu);
	fn = id_resolver;
	ctx = resolver_ctx;
	pthread_mutex_unlock(&mim_mu);
	if (!fn || fn(id, &m, ctx) || !m)
		return NULL;
	if (m->hdr->id != id || map_in_map_register(m)) {
		map_put(m);
		return NULL;
	}
	map_put(m); /* the table holds it now */
	return m;
}

/* ---- the template ---- */

/* bpf_map_meta_alloc(): resolve inner_map_fd and record what later maps must match. */
static int template_fill(const struct map_params *p, struct map_shm_hdr *hdr)
{
	map_fd_resolve_fn fn;
	struct map *inner = NULL;
	void *ctx;
	int err;

	pthread_mutex_lock(&mim_mu);
	fn = fd_resolver;
	ctx = resolver_ctx;
	pthread_mutex_unlock(&mim_mu);
	if (!fn) {
		log_warn("map_in_map: no resolver for inner_map_fd %u is installed\n", p->inner_map_fd);
		return -EBADF;
	}
	err = fn((int)p->inner_map_fd, &inner, ctx);
	if (err || !inner)
		return err ? err : -EBADF;
	/* Does not support more than one level of maps in maps. */
	if (is_map_in_map_type(inner->map_type)) {
		map_put(inner);
		return -EINVAL;
	}
	hdr->type_u64[MIM_T0] = inner->map_type | (uint64_t)inner->key_size << 32;
	hdr->type_u64[MIM_T0 + 1] = inner->value_size | (uint64_t)inner->map_flags << 32;
	hdr->type_u64[MIM_T0 + 2] = inner->max_entries;
	hdr->type_u64[MIM_T0 + 3] = (uint32_t)(inner->spin_lock_off + 1) | MIM_TAG << 32;
	map_put(inner);
	return 0;
}

/* bpf_map_meta_equal() / array_map_meta_equal() against the template. */
static bool template_equal(const struct map *m, const struct map *inner)
{
	uint32_t type = (uint32_t)m->tu[MIM_T0], flags = (uint32_t)(m->tu[MIM_T0 + 1] >> 32);

	if (inner->map_type != type || inner->key_size != (uint32_t)(m->tu[MIM_T0] >> 32) ||
	    inner->value_size != (uint32_t)m->tu[MIM_T0 + 1] || inner->map_flags != flags ||
	    (uint32_t)(inner->spin_lock_off + 1) != (uint32_t)m->tu[MIM_T0 + 3])
		return false;
	if ((type == BPF_MAP_TYPE_ARRAY || type == BPF_MAP_TYPE_PERCPU_ARRAY) &&
	    !(flags & BPF_F_INNER_MAP))
		return inner->max_entries == m->tu[MIM_T0 + 2];
	return true;
}

/* bpf_map_fd_get_ptr(): the map named by @id must exist and match the template. */
static int check_inner(struct map *m, uint32_t id)
{
	struct map *inner;

	if (!id)
		return -EBADF;
	inner = map_in_map_find(id);
	if (!inner)
		return -EBADF;
	return template_equal(m, inner) ? 0 : -EINVAL;
}

static int template_attach(struct map *m)
{
	return (m->tu[MIM_T0 + 3] >> 32) == MIM_TAG ? 0 : -EINVAL;
}

/* ---- ARRAY_OF_MAPS ---- */

static int aom_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	int err = map_fd_array_layout(p, hdr, body_sz);

	return err ? err : template_fill(p, hdr);
}

static int aom_attach(struct map *m)
{
	int err = map_fd_array_attach(m);

	return err ? err : template_attach(m);
}

/* bpf_fd_array_map_update_elem(): flags, index, then the map (template check). */
static int aom_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	uint32_t idx = *(const uint32_t *)key;
	int err;

	if (flags != BPF_ANY)
		return -EINVAL;
	if (idx >= m->max_entries)
		return -E2BIG;
	err = check_inner(m, *(const uint32_t *)value);
	return err ? err : map_fd_array_sys_update(m, key, value, flags);
}

/*
 * generic_map_lookup_batch() as Linux 6.18 runs it for an array of maps:
 * empty slots (-ENOENT) are skipped, not retried; out_batch is the last
 * index visited, written only if something was copied; the walk ends with
 * -ENOENT once past the last index.
 */
static int aom_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	uint32_t max_cnt = b->count, cp = 0, prev = 0, key;
	bool have_prev = b->in_batch != NULL;
	int err = 0;

	b->count = 0;
	if (do_delete)
		return -ENOTSUPP;
	if (b->elem_flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if (b->elem_flags & BPF_F_LOCK)
		return -EINVAL; /* no bpf_spin_lock in a 4-byte id */
	if (!max_cnt)
		return 0;
	if (have_prev)
		memcpy(&prev, b->in_batch, sizeof(prev));
	while (cp < max_cnt) {
		err = map_fd_array_get_next_key(m, have_prev ? &prev : NULL, &key);
		if (err)
			break;
		prev = key;
		have_prev = true;
		err = map_fd_array_sys_lookup(m, &key, (uint8_t *)b->values + (size_t)cp * 4, 0);
		if (err == -ENOENT)
			continue;
		if (err)
			break;
		memcpy((uint8_t *)b->keys + (size_t)cp * 4, &key, 4);
		cp++;
	}
	b->count = cp;
	if (cp && b->out_batch)
		memcpy(b->out_batch, &prev, sizeof(prev));
	return err;
}

/* array_of_map_lookup_elem(): the inner map itself. */
static void *aom_lookup(struct map *m, const void *key)
{
	uint32_t id = map_fd_array_slot(m, *(const uint32_t *)key);

	return id ? map_in_map_find(id) : NULL;
}

static long mim_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long mim_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

const struct map_ops map_array_of_maps_ops = {
	.has_update_batch = true,
	.name = "array_of_maps",
	.alloc_check = map_fd_array_alloc_check,
	.layout = aom_layout,
	.attach = aom_attach,
	.sys_lookup = map_fd_array_sys_lookup,
	.sys_update = aom_sys_update,
	.sys_delete = map_fd_array_sys_delete,
	.get_next_key = map_fd_array_get_next_key,
	.lookup_batch = aom_lookup_batch,
	.lookup = aom_lookup,
	.update = mim_update,
	.delete = mim_delete,
};

/* ---- HASH_OF_MAPS: the hash table of maps/hash.c storing ids ---- */

/* fd_htab_map_alloc_check(). */
static int hom_alloc_check(struct map_params *p)
{
	if (p->value_size != sizeof(uint32_t))
		return -EINVAL;
	return map_hash_ops.alloc_check(p);
}

static int hom_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	int err = map_hash_ops.layout(p, hdr, body_sz);

	return err ? err : template_fill(p, hdr);
}

static int hom_init(struct map *m)
{
	return map_hash_ops.init ? map_hash_ops.init(m) : 0;
}

static int hom_attach(struct map *m)
{
	int err = map_hash_ops.attach ? map_hash_ops.attach(m) : 0;

	if (err)
		return err;
	err = template_attach(m);
	if (err && map_hash_ops.detach)
		map_hash_ops.detach(m);
	return err;
}

static void hom_detach(struct map *m)
{
	if (map_hash_ops.detach)
		map_hash_ops.detach(m);
}

static int hom_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	return map_hash_ops.sys_lookup(m, key, value, flags);
}

/* bpf_fd_htab_map_update_elem(): the map first, then the hash table's own rules. */
static int hom_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	int err = check_inner(m, *(const uint32_t *)value);

	return err ? err : map_hash_ops.sys_update(m, key, value, flags);
}

static int hom_sys_delete(struct map *m, const void *key)
{
	return map_hash_ops.sys_delete(m, key);
}

static int hom_get_next_key(struct map *m, const void *key, void *next_key)
{
	return map_hash_ops.get_next_key(m, key, next_key);
}

static int hom_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	if (!map_hash_ops.lookup_batch) {
		b->count = 0;
		return -ENOTSUPP;
	}
	return map_hash_ops.lookup_batch(m, b, do_delete);
}

/* htab_of_map_lookup_elem(). */
static void *hom_lookup(struct map *m, const void *key)
{
	uint32_t *p = map_hash_ops.lookup(m, key), id;

	if (!p)
		return NULL;
	id = __atomic_load_n(p, __ATOMIC_ACQUIRE);
	return id ? map_in_map_find(id) : NULL;
}

const struct map_ops map_hash_of_maps_ops = {
	.name = "hash_of_maps",
	.alloc_check = hom_alloc_check,
	.layout = hom_layout,
	.init = hom_init,
	.attach = hom_attach,
	.detach = hom_detach,
	.sys_lookup = hom_sys_lookup,
	.sys_update = hom_sys_update,
	.sys_delete = hom_sys_delete,
	.get_next_key = hom_get_next_key,
	.lookup_batch = hom_lookup_batch,
	.has_update_batch = true,
	.has_delete_batch = true,
	.lookup = hom_lookup,
	.update = mim_update,
	.delete = mim_delete,
};
