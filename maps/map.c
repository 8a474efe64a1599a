/*
 * map.c - the generic half of every map: creation-time checks, the
 * process-local handle's lifetime, and the dispatch of syscall-side and
 * helper-side operations through struct map_ops.
 *
 * Mirrors kernel/bpf/syscall.c: map_create() (the checks before and after
 * ops->map_alloc_check), map_get_sys_perms() (BPF_F_RDONLY/WRONLY and frozen
 * maps lose syscall-side write access), map_lookup_elem(), map_update_elem(),
 * map_delete_elem(), map_get_next_key(), map_lookup_and_delete_elem() and
 * map_freeze(). The per-type checks live in each type's file.
 *
 * A struct map is created once per process per map; the fast path (the
 * helpers) reads only the handle and the element, never the shared header.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/map_shm.h"
#include "maps/maps_int.h"

/* nr_node_ids: highest possible NUMA node + 1 (1 when the kernel has no NUMA). */
static uint32_t numa_nodes_possible(void)
{
	char buf[256];
	ssize_t len;
	int fd, r;

	fd = open("/sys/devices/system/node/possible", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 1;
	buf[len] = 0;
	r = map_cpu_parse_list(buf);
	return r > 0 ? (uint32_t)r : 1;
}

/* Mirrors bpf_obj_name_cpy() in kernel/bpf/syscall.c: [A-Za-z0-9_.], NUL within 16 bytes. */
static int name_check(const char *src, char *dst)
{
	size_t i;

	memset(dst, 0, MAP_SHM_NAME_LEN);
	for (i = 0; i < MAP_SHM_NAME_LEN; i++) {
		if (!src[i])
			return 0;
		if (!isalnum((unsigned char)src[i]) && src[i] != '_' && src[i] != '.')
			return -EINVAL;
		dst[i] = src[i];
	}
	return -EINVAL;
}

static void map_free(struct map *m)
{
	if (!m)
		return;
	if (m->ops && m->ops->detach)
		m->ops->detach(m);
	map_shm_unmap(m->base, m->file_sz);
	zclose(&m->fd);
	free(m);
}

/* Copy the validated header into the handle and let the type derive its pointers. */
static int map_attach(struct map *m, void *base, uint64_t file_sz, int fd)
{
	struct map_shm_hdr *hdr = (struct map_shm_hdr *)((uint8_t *)base + file_sz - MAP_SHM_HDR_SZ);

	m->base = base;
	m->file_sz = file_sz;
	m->fd = fd;
	m->hdr = hdr;
	m->body_sz = hdr->body_sz;
	m->map_type = hdr->map_type;
	m->key_size = hdr->key_size;
	m->value_size = hdr->value_size;
	m->value_stride = map_round8(hdr->value_size);
	m->max_entries = hdr->max_entries;
	m->map_flags = hdr->map_flags;
	m->ncpu = hdr->ncpu;
	m->spin_lock_off = hdr->spin_lock_off;
	memcpy(m->tu, hdr->type_u64, sizeof(m->tu));
	atomic_store(&m->refcnt, 1);
	m->ops = map_ops_find(m->map_type);
	if (!m->ops)
		return -EINVAL;
	if (m->ncpu == 0 || m->ncpu > 65536)
		return -EINVAL;
	if (m->spin_lock_off >= 0 &&
	    ((uint32_t)m->spin_lock_off % 4 || (uint32_t)m->spin_lock_off + 4 > m->value_size))
		return -EINVAL;
	return m->ops->attach ? m->ops->attach(m) : 0;
}

int map_create(const union bpf_attr *attr, const struct map_create_opts *opts, struct map **out)
{
	struct map_params p = { 0 };
	const struct map_ops *ops;
	struct map_shm_hdr *hdr;
	char name[MAP_SHM_NAME_LEN];
	uint64_t body_sz = 0, file_sz;
	struct map *m;
	void *base;
	int fd, err;

	/* The order of these checks follows map_create() in kernel/bpf/syscall.c. */
	if (attr->btf_vmlinux_value_type_id) {
		if (attr->map_type != BPF_MAP_TYPE_STRUCT_OPS || attr->btf_key_type_id ||
		    attr->btf_value_type_id)
			return -EINVAL;
	} else if (attr->btf_key_type_id && !attr->btf_value_type_id) {
		return -EINVAL;
	}
	if (attr->map_type != BPF_MAP_TYPE_BLOOM_FILTER && attr->map_extra != 0)
		return -EINVAL;
	/* bpf_get_file_flag(): RDONLY and WRONLY together make no sense. */
	if ((attr->map_flags & BPF_F_RDONLY) && (attr->map_flags & BPF_F_WRONLY))
		return -EINVAL;
	p.numa_node = (attr->map_flags & BPF_F_NUMA_NODE) ? attr->numa_node : MAP_NUMA_NO_NODE;
	if (p.numa_node != MAP_NUMA_NO_NODE && p.numa_node >= numa_nodes_possible())
		return -EINVAL;
	ops = map_ops_find(attr->map_type);
	if (!ops) {
		log_warn("map: type %u is not supported by bpftime\n", attr->map_type);
		return -EINVAL;
	}
	p.map_type = attr->map_type;
	p.key_size = attr->key_size;
	p.value_size = attr->value_size;
	p.max_entries = attr->max_entries;
	p.map_flags = attr->map_flags;
	p.map_extra = attr->map_extra;
	p.inner_map_fd = attr->inner_map_fd;
	p.ncpu = map_cpu_possible();
	p.attr = attr;
	p.spin_lock_off = -1;
	if (opts && opts->sz >= offsetof(struct map_create_opts, spin_lock_off) + sizeof(int32_t))
		p.spin_lock_off = opts->spin_lock_off;
	if (p.spin_lock_off >= 0 &&
	    ((uint32_t)p.spin_lock_off % 4 || (uint32_t)p.spin_lock_off + 4 > p.value_size))
		return -EINVAL;
	err = ops->alloc_check(&p);
	if (err)
		return err;
	if (attr->map_ifindex) {
		/* DIVERGES: no device offload in userspace; the kernel fails too without such a netdev. */
		log_warn("map: offload to ifindex %u is not supported\n", attr->map_ifindex);
		return -EINVAL;
	}
	err = name_check(attr->map_name, name);
	if (err)
		return err;

	/* The header is built on the stack, then copied: type layouts fill type_u64[]. */
	struct map_shm_hdr h = { 0 };
	err = ops->layout(&p, &h, &body_sz);
	if (err)
		return err;
	body_sz = map_page_round(body_sz ? body_sz : MAP_PAGE_SZ);
	file_sz = body_sz + MAP_SHM_HDR_SZ;
	if (file_sz < body_sz || file_sz > ((uint64_t)1 << 46))
		return -ENOMEM;

	err = map_shm_create(name, file_sz, !(p.map_flags & BPF_F_NO_PREALLOC), &fd, &base);
	if (err)
		return err;
	hdr = (struct map_shm_hdr *)((uint8_t *)base + body_sz);
	h.magic = MAP_SHM_MAGIC;
	h.abi_version = MAP_SHM_ABI_VERSION;
	h.hdr_sz = sizeof(h);
	h.file_sz = file_sz;
	h.body_sz = body_sz;
	h.map_type = p.map_type;
	h.key_size = p.key_size;
	h.value_size = p.value_size;
	h.max_entries = p.max_entries;
	h.map_flags = p.map_flags;
	h.ncpu = p.ncpu;
	h.id = opts && opts->sz >= offsetof(struct map_create_opts, id) + sizeof(uint32_t) ? opts->id : 0;
	h.numa_node = p.numa_node;
	memcpy(h.name, name, sizeof(h.name));
	h.map_extra = p.map_extra;
	h.btf_key_type_id = attr->btf_key_type_id;
	h.btf_value_type_id = attr->btf_value_type_id;
	h.btf_vmlinux_value_type_id = attr->btf_vmlinux_value_type_id;
	h.spin_lock_off = p.spin_lock_off;
	memcpy(hdr, &h, sizeof(h));

	m = calloc(1, sizeof(*m));
	if (!m) {
		map_shm_unmap(base, file_sz);
		close(fd);
		return -ENOMEM;
	}
	err = map_attach(m, base, file_sz, fd);
	if (err)
		goto err_free;
	if (ops->init) {
		err = ops->init(m);
		if (err)
			goto err_free;
	}
	*out = m;
	return 0;
err_free:
	map_free(m);
	return err;
}

int map_open_fd(int fd, struct map **out)
{
	struct map_params p = { 0 };
	struct map_shm_hdr *hdr;
	uint64_t file_sz;
	struct map *m;
	void *base;
	int dfd, err;

	err = map_shm_open(fd, &dfd, &base, &file_sz);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m) {
		map_shm_unmap(base, file_sz);
		return -ENOMEM;
	}
	hdr = (struct map_shm_hdr *)((uint8_t *)base + file_sz - MAP_SHM_HDR_SZ);
	/* Re-run the creation checks on what the header claims: it is shared with clients. */
	if (!map_ops_find(hdr->map_type)) {
		err = -EINVAL;
		goto err_free;
	}
	p.map_type = hdr->map_type;
	p.key_size = hdr->key_size;
	p.value_size = hdr->value_size;
	p.max_entries = hdr->max_entries;
	p.map_flags = hdr->map_flags;
	p.numa_node = hdr->numa_node;
	p.map_extra = hdr->map_extra;
	p.ncpu = hdr->ncpu;
	p.spin_lock_off = hdr->spin_lock_off;
	err = map_ops_find(hdr->map_type)->alloc_check(&p);
	if (err || p.max_entries != hdr->max_entries) {
		err = -EINVAL;
		goto err_free;
	}
	err = map_attach(m, base, file_sz, dfd);
	if (err)
		goto err_free;
	*out = m;
	return 0;
err_free:
	m->base = base;
	m->file_sz = file_sz;
	m->fd = dfd;
	m->ops = NULL;
	map_free(m);
	return err;
}

struct map *map_get(struct map *m)
{
	atomic_fetch_add_explicit(&m->refcnt, 1, memory_order_relaxed);
	return m;
}

void map_put(struct map *m)
{
	if (!m)
		return;
	/* Pairs with itself: the last dropper sees every earlier user's writes. */
	if (atomic_fetch_sub_explicit(&m->refcnt, 1, memory_order_acq_rel) == 1)
		map_free(m);
}

int map_fd(const struct map *m)
{
	return m->fd;
}

uint32_t map_type(const struct map *m)
{
	return m->map_type;
}

uint32_t map_key_size(const struct map *m)
{
	return m->key_size;
}

uint32_t map_value_size(const struct map *m)
{
	return m->value_size;
}

uint32_t map_max_entries(const struct map *m)
{
	return m->max_entries;
}

uint32_t map_flags(const struct map *m)
{
	return m->map_flags;
}

static bool map_is_percpu_type(uint32_t t)
{
	return t == BPF_MAP_TYPE_PERCPU_ARRAY || t == BPF_MAP_TYPE_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

uint32_t map_sys_value_size(const struct map *m)
{
	/* bpf_map_value_size() in kernel/bpf/syscall.c. */
	if (map_is_percpu_type(m->map_type))
		return m->value_stride * m->ncpu;
	return m->value_size;
}

uint32_t map_batch_token_size(const struct map *m)
{
	switch (m->map_type) {
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
		return sizeof(uint32_t); /* a bucket index (hashtab.c __htab_map_lookup_and_delete_batch) */
	default:
		return m->key_size;
	}
}

int map_get_info(const struct map *m, struct bpf_map_info *info)
{
	const struct map_shm_hdr *hdr = m->hdr;

	memset(info, 0, sizeof(*info));
	info->type = m->map_type;
	info->id = hdr->id;
	info->key_size = m->key_size;
	info->value_size = m->value_size;
	info->max_entries = m->max_entries;
	info->map_flags = m->map_flags;
	memcpy(info->name, hdr->name, sizeof(info->name));
	info->name[sizeof(info->name) - 1] = 0;
	info->btf_key_type_id = hdr->btf_key_type_id;
	info->btf_value_type_id = hdr->btf_value_type_id;
	info->btf_vmlinux_value_type_id = hdr->btf_vmlinux_value_type_id;
	info->map_extra = hdr->map_extra;
	return 0;
}

int map_is_frozen(const struct map *m)
{
	/* Pairs with the store-release in map_sys_freeze(). */
	return atomic_load_explicit((_Atomic uint32_t *)&m->hdr->frozen, memory_order_acquire) != 0;
}

/* map_get_sys_perms(): what the syscall side may do with this map. */
static bool sys_can_read(const struct map *m)
{
	return !(m->map_flags & BPF_F_WRONLY);
}

static bool sys_can_write(const struct map *m)
{
	return !(m->map_flags & BPF_F_RDONLY) && !map_is_frozen(m);
}

static bool has_spin_lock(const struct map *m)
{
	return m->spin_lock_off >= 0;
}

int map_sys_lookup_elem(struct map *m, const void *key, void *value, uint64_t flags)
{
	if (flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if (!sys_can_read(m))
		return -EPERM;
	if ((flags & BPF_F_LOCK) && !has_spin_lock(m))
		return -EINVAL;
	if (!m->ops->sys_lookup)
		return -ENOTSUPP;
	return m->ops->sys_lookup(m, key, value, flags);
}

int map_sys_update_elem(struct map *m, const void *key, const void *value, uint64_t flags)
{
	if (!sys_can_write(m))
		return -EPERM;
	if ((flags & BPF_F_LOCK) && !has_spin_lock(m))
		return -EINVAL;
	if (!m->ops->sys_update)
		return -ENOTSUPP;
	return m->ops->sys_update(m, key, value, flags);
}

int map_sys_delete_elem(struct map *m, const void *key)
{
	if (!sys_can_write(m))
		return -EPERM;
	if (!m->ops->sys_delete)
		return -EINVAL;
	return m->ops->sys_delete(m, key);
}

int map_sys_get_next_key(struct map *m, const void *key, void *next_key)
{
	if (!sys_can_read(m))
		return -EPERM;
	if (!m->ops->get_next_key)
		return -ENOTSUPP;
	return m->ops->get_next_key(m, key, next_key);
}

int map_sys_lookup_and_delete_elem(struct map *m, const void *key, void *value, uint64_t flags)
{
	if (flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if (!sys_can_read(m) || !sys_can_write(m))
		return -EPERM;
	if (flags && (m->map_type == BPF_MAP_TYPE_QUEUE || m->map_type == BPF_MAP_TYPE_STACK))
		return -EINVAL;
	if ((flags & BPF_F_LOCK) && !has_spin_lock(m))
		return -EINVAL;
	if (!m->ops->has_lookup_and_delete || !m->ops->sys_lookup_and_delete)
		return -ENOTSUPP;
	return m->ops->sys_lookup_and_delete(m, key, value, flags);
}

int map_sys_freeze(struct map *m)
{
	uint32_t expected = 0;

	/* map_freeze(): maps with special fields (bpf_spin_lock, timers...) cannot be frozen. */
	if (has_spin_lock(m))
		return -ENOTSUPP;
	/* A frozen map has lost write permission, so a second freeze is -EPERM here. */
	if (!sys_can_write(m))
		return -EPERM;
	/*
	 * DIVERGES: the kernel returns -EBUSY while a writable mmap exists
	 * (map->writecnt). Clients mmap our memfd directly, which we cannot count.
	 * Pairs with the load-acquire in map_is_frozen().
	 */
	if (!atomic_compare_exchange_strong_explicit((_Atomic uint32_t *)&m->hdr->frozen, &expected,
						     1, memory_order_release, memory_order_relaxed))
		return -EBUSY;
	return 0;
}

/* ---- batches: syscall.c bpf_map_do_batch() permission checks, then the type or generic code ---- */

int map_sys_lookup_batch(struct map *m, struct map_batch *b)
{
	if (!sys_can_read(m))
		return -EPERM;
	if (m->ops->lookup_batch)
		return m->ops->lookup_batch(m, b, false);
	if (!m->ops->get_next_key || !m->ops->sys_lookup)
		return -ENOTSUPP;
	return map_batch_generic_lookup(m, b);
}

int map_sys_lookup_and_delete_batch(struct map *m, struct map_batch *b)
{
	if (!sys_can_read(m) || !sys_can_write(m))
		return -EPERM;
	if (!m->ops->lookup_batch)
		return -ENOTSUPP;
	return m->ops->lookup_batch(m, b, true);
}

int map_sys_update_batch(struct map *m, struct map_batch *b)
{
	if (!sys_can_write(m))
		return -EPERM;
	if (!m->ops->has_update_batch || !m->ops->sys_update)
		return -ENOTSUPP;
	return map_batch_generic_update(m, b);
}

int map_sys_delete_batch(struct map *m, struct map_batch *b)
{
	if (!sys_can_write(m))
		return -EPERM;
	if (!m->ops->has_delete_batch || !m->ops->sys_delete)
		return -ENOTSUPP;
	return map_batch_generic_delete(m, b);
}

/* ---- helper side ---- */

void *map_lookup_elem(struct map *m, const void *key)
{
	return m->ops->lookup ? m->ops->lookup(m, key) : NULL;
}

long map_update_elem(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return m->ops->update ? m->ops->update(m, key, value, flags) : -EINVAL;
}

long map_delete_elem(struct map *m, const void *key)
{
	return m->ops->delete ? m->ops->delete(m, key) : -EINVAL;
}

void *map_lookup_percpu_elem(struct map *m, const void *key, uint32_t cpu)
{
	if (!m->ops->lookup_percpu || cpu >= m->ncpu)
		return NULL;
	return m->ops->lookup_percpu(m, key, cpu);
}

long map_for_each_elem(struct map *m, map_for_each_fn fn, void *ctx, uint64_t flags)
{
	if (flags)
		return -EINVAL;
	if (!m->ops->for_each)
		return -ENOTSUPP;
	return m->ops->for_each(m, fn, ctx, flags);
}
