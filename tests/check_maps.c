/*
 * check_maps.c - the "maps" suite: one TCase per map type, exact errnos and
 * contents, and where the machine allows it (root), the same operation
 * sequence run on the real kernel map of the same type with the results
 * compared (struct pair below). Plus cross-process use of one map, limits
 * (a 1 GiB map, 10,000 maps) and the per-CPU layout.
 */
#include "config.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "maps/helpers.h"
#include "maps/maps.h"
#include "tests/check_maps_kernel.h"

#ifndef ENOTSUPP
#define ENOTSUPP 524
#endif

/* ---- the pair: a bpftime map and the kernel's, driven in lock step ---- */

static int kernel_ok = -1;

static bool kernel_available(void)
{
	if (kernel_ok < 0) {
		union bpf_attr a = { 0 };
		int fd;

		a.map_type = BPF_MAP_TYPE_ARRAY;
		a.key_size = 4;
		a.value_size = 4;
		a.max_entries = 1;
		fd = kmap_create_attr(&a);
		kernel_ok = fd >= 0;
		if (fd >= 0)
			close(fd);
		else
			fprintf(stderr, "check_maps: kernel maps unavailable (%s): comparing with bpftime only\n",
				strerror(-fd));
	}
	return kernel_ok;
}

struct pair {
	struct map *m;
	int kfd;
};

static union bpf_attr mk_attr(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max, uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	a.map_flags = flags;
	return a;
}

/* Create both; assert the kernel agrees on the result. Returns bpftime's err. */
static int pair_create(const union bpf_attr *a, struct pair *p)
{
	int err;

	p->m = NULL;
	p->kfd = -1;
	err = map_create(a, NULL, &p->m);
	if (kernel_available()) {
		int kfd = kmap_create_attr(a);

		ck_assert_msg((kfd >= 0 ? 0 : kfd) == err,
			      "create type %u ksz %u vsz %u max %u flags %#x: kernel %d bpftime %d",
			      a->map_type, a->key_size, a->value_size, a->max_entries, a->map_flags,
			      kfd >= 0 ? 0 : kfd, err);
		p->kfd = kfd;
	}
	return err;
}

static void pair_destroy(struct pair *p)
{
	map_put(p->m);
	if (p->kfd >= 0)
		close(p->kfd);
}

static struct pair pair_new(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max, uint32_t flags)
{
	union bpf_attr a = mk_attr(type, ksz, vsz, max, flags);
	struct pair p;

	ck_assert_int_eq(pair_create(&a, &p), 0);
	return p;
}

#define KCHECK(p, kexpr, ours, what)                                                           \
	do {                                                                                   \
		if ((p)->kfd >= 0) {                                                           \
			int kr_ = (kexpr);                                                     \
			ck_assert_msg(kr_ == (ours), "%s: kernel %d bpftime %d", what, kr_,    \
				      (ours));                                                 \
		}                                                                              \
	} while (0)

static int p_update(struct pair *p, const void *k, const void *v, uint64_t flags)
{
	int err = map_sys_update_elem(p->m, k, v, flags);

	KCHECK(p, kmap_update(p->kfd, k, v, flags), err, "update");
	return err;
}

static int p_delete(struct pair *p, const void *k)
{
	int err = map_sys_delete_elem(p->m, k);

	KCHECK(p, kmap_delete(p->kfd, k), err, "delete");
	return err;
}

/* Lookup on both; values must match byte for byte when found. */
static int p_lookup(struct pair *p, const void *k, void *v, uint64_t flags)
{
	uint32_t vsz = map_sys_value_size(p->m);
	int err = map_sys_lookup_elem(p->m, k, v, flags);

	if (p->kfd >= 0) {
		uint8_t *kv = calloc(1, vsz);
		int kr = kmap_lookup(p->kfd, k, kv, flags);

		ck_assert_msg(kr == err, "lookup: kernel %d bpftime %d", kr, err);
		if (!err)
			ck_assert_msg(memcmp(kv, v, vsz) == 0, "lookup: values differ");
		free(kv);
	}
	return err;
}

static int p_lookup_and_delete(struct pair *p, const void *k, void *v, uint64_t flags)
{
	uint32_t vsz = map_sys_value_size(p->m);
	int err = map_sys_lookup_and_delete_elem(p->m, k, v, flags);

	if (p->kfd >= 0) {
		uint8_t *kv = calloc(1, vsz);
		int kr = kmap_lookup_and_delete(p->kfd, k, kv, flags);

		ck_assert_msg(kr == err, "lookup_and_delete: kernel %d bpftime %d", kr, err);
		if (!err)
			ck_assert_msg(memcmp(kv, v, vsz) == 0, "lookup_and_delete: values differ");
		free(kv);
	}
	return err;
}

/* get_next_key where the order is defined (arrays): same error and same next key. */
static int p_next_same(struct pair *p, const void *k, void *next)
{
	int err = map_sys_get_next_key(p->m, k, next);

	if (p->kfd >= 0) {
		uint8_t kn[64] = { 0 };
		int kr = kmap_next(p->kfd, k, kn);

		ck_assert_msg(kr == err, "next_key: kernel %d bpftime %d", kr, err);
		if (!err)
			ck_assert_msg(memcmp(kn, next, map_key_size(p->m)) == 0, "next_key differs");
	}
	return err;
}

static int p_freeze(struct pair *p)
{
	int err = map_sys_freeze(p->m);

	KCHECK(p, kmap_freeze(p->kfd), err, "freeze");
	return err;
}

/* ---- ARRAY ---- */

struct create_case {
	uint32_t type, ksz, vsz, max, flags;
	uint64_t map_extra;
	const char *name;
	uint32_t numa;
	int err;
	bool ours_only; /* the kernel's answer changed across versions: no comparison */
};

static const struct create_case array_create_cases[] = {
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, "ok", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 8, 4, 1, 0, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 0, 1, 0, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 0, 0, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NO_PREALLOC, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_ZERO_SEED, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY | BPF_F_WRONLY, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_RDONLY_PROG, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_WRONLY, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_MMAPABLE, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_INNER_MAP, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_PRESERVE_ELEMS, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NUMA_NODE, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, BPF_F_NUMA_NODE, 0, "", 200, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 1, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, "bad-name", 0, -EINVAL },
	{ BPF_MAP_TYPE_ARRAY, 4, 4, 1, 0, 0, "a.b_C9", 0, 0 },
	{ BPF_MAP_TYPE_ARRAY, 4, 0x80000000u, 1, 0, 0, "", 0, -E2BIG },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, 0, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_MMAPABLE, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_INNER_MAP, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, BPF_F_NUMA_NODE, 0, "", 0, -EINVAL },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32768, 1, 0, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32761, 1, 0, 0, "", 0, 0 },
	{ BPF_MAP_TYPE_PERCPU_ARRAY, 4, 32769, 1, 0, 0, "", 0, -E2BIG },
	{ 9999, 4, 4, 1, 0, 0, "", 0, -EINVAL },
};

static void run_create_case(const struct create_case *c)
{
	union bpf_attr a = mk_attr(c->type, c->ksz, c->vsz, c->max, c->flags);
	struct pair p;
	int err;

	a.map_extra = c->map_extra;
	a.numa_node = c->numa;
	strncpy(a.map_name, c->name, sizeof(a.map_name) - 1);
	if (c->ours_only) {
		p.kfd = -1;
		err = map_create(&a, NULL, &p.m);
	} else {
		err = pair_create(&a, &p);
	}
	ck_assert_msg(err == c->err, "case type %u ksz %u vsz %u flags %#x: want %d got %d", c->type,
		      c->ksz, c->vsz, c->flags, c->err, err);
	if (!err)
		ck_assert_uint_eq(map_flags(p.m), c->flags);
	pair_destroy(&p);
}

START_TEST(test_array_create_checks_match_kernel)
{
	run_create_case(&array_create_cases[_i]);
}
END_TEST

START_TEST(test_array_ops_errnos_and_next_key)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 12, 4, 0);
	uint8_t v[12], out[12];
	uint32_t k, next;

	for (k = 0; k < 4; k++) {
		memset(v, 0x10 + k, sizeof(v));
		ck_assert_int_eq(p_update(&p, &k, v, BPF_ANY), 0);
	}
	k = 2;
	ck_assert_int_eq(p_update(&p, &k, v, BPF_NOEXIST), -EEXIST);
	ck_assert_int_eq(p_update(&p, &k, v, BPF_EXIST), 0);
	ck_assert_int_eq(p_update(&p, &k, v, 3), -EINVAL);
	ck_assert_int_eq(p_update(&p, &k, v, BPF_F_LOCK), -EINVAL);
	k = 4;
	ck_assert_int_eq(p_update(&p, &k, v, BPF_ANY), -E2BIG);
	ck_assert_int_eq(p_lookup(&p, &k, out, 0), -ENOENT);
	ck_assert_int_eq(p_delete(&p, &k), -EINVAL);
	k = 1;
	ck_assert_int_eq(p_delete(&p, &k), -EINVAL);
	ck_assert_int_eq(p_lookup(&p, &k, out, 0), 0);
	memset(v, 0x11, sizeof(v));
	ck_assert_mem_eq(out, v, sizeof(v));
	ck_assert_int_eq(p_lookup(&p, &k, out, 2), -EINVAL);
	ck_assert_int_eq(p_lookup(&p, &k, out, BPF_F_LOCK), -EINVAL);
	ck_assert_int_eq(p_lookup_and_delete(&p, &k, out, 0), -ENOTSUPP);

	ck_assert_int_eq(p_next_same(&p, NULL, &next), 0);
	ck_assert_uint_eq(next, 0);
	k = 99;
	ck_assert_int_eq(p_next_same(&p, &k, &next), 0);
	ck_assert_uint_eq(next, 0);
	k = 1;
	ck_assert_int_eq(p_next_same(&p, &k, &next), 0);
	ck_assert_uint_eq(next, 2);
	k = 3;
	ck_assert_int_eq(p_next_same(&p, &k, &next), -ENOENT);

	/* The helper side sees the same bytes through a pointer. */
	k = 3;
	uint8_t *pv = map_lookup_elem(p.m, &k);
	ck_assert_ptr_nonnull(pv);
	ck_assert_uint_eq(pv[0], 0x13);
	k = 4;
	ck_assert_ptr_null(map_lookup_elem(p.m, &k));
	ck_assert_int_eq(map_update_elem(p.m, &k, v, 0), -E2BIG);
	ck_assert_int_eq(map_delete_elem(p.m, &k), -EINVAL);
	pair_destroy(&p);
}
END_TEST

START_TEST(test_array_freeze_and_rdonly_match_kernel)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0);
	uint64_t v = 7, out;
	uint32_t k = 0;

	ck_assert_int_eq(p_update(&p, &k, &v, 0), 0);
	ck_assert_int_eq(p_freeze(&p), 0);
	ck_assert_int_eq(p_update(&p, &k, &v, 0), -EPERM);
	ck_assert_int_eq(p_freeze(&p), -EPERM);
	ck_assert_int_eq(p_lookup(&p, &k, &out, 0), 0);
	ck_assert_uint_eq(out, 7);
	ck_assert(map_is_frozen(p.m));
	/* Programs may still write a frozen map unless BPF_F_RDONLY_PROG (the verifier's job). */
	ck_assert_int_eq(map_update_elem(p.m, &k, &v, 0), 0);
	pair_destroy(&p);

	p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 8, 2, BPF_F_RDONLY);
	ck_assert_int_eq(p_update(&p, &k, &v, 0), -EPERM);
	ck_assert_int_eq(p_lookup(&p, &k, &out, 0), 0);
	ck_assert_int_eq(p_freeze(&p), -EPERM);
	pair_destroy(&p);

	p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 8, 2, BPF_F_WRONLY);
	ck_assert_int_eq(p_update(&p, &k, &v, 0), 0);
	ck_assert_int_eq(p_lookup(&p, &k, &out, 0), -EPERM);
	ck_assert_int_eq(p_next_same(&p, NULL, &k), -EPERM);
	pair_destroy(&p);
}
END_TEST

START_TEST(test_array_batch_matches_kernel)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 4, 5, 0);
	uint32_t k, v, keys[8], vals[8], kkeys[8], kvals[8], out = 0, kout = 0, cnt, kcnt;
	struct map_batch b;
	int err, kr;

	for (k = 0; k < 5; k++) {
		v = 100 + k;
		ck_assert_int_eq(p_update(&p, &k, &v, 0), 0);
	}
	memset(&b, 0, sizeof(b));
	b.keys = keys;
	b.values = vals;
	b.out_batch = &out;
	b.count = 3;
	err = map_sys_lookup_batch(p.m, &b);
	ck_assert_int_eq(err, 0);
	ck_assert_uint_eq(b.count, 3);
	ck_assert_uint_eq(out, 2);
	ck_assert_uint_eq(keys[2], 2);
	ck_assert_uint_eq(vals[2], 102);
	if (p.kfd >= 0) {
		kcnt = 3;
		kr = kmap_batch(BPF_MAP_LOOKUP_BATCH, p.kfd, NULL, &kout, kkeys, kvals, &kcnt, 0);
		ck_assert_int_eq(kr, err);
		ck_assert_uint_eq(kcnt, b.count);
		ck_assert_uint_eq(kout, out);
		ck_assert_mem_eq(kkeys, keys, 12);
		ck_assert_mem_eq(kvals, vals, 12);
	}
	/* Second call: 2 left, then the end of the walk (-ENOENT, count 2). */
	b.in_batch = &out;
	b.count = 3;
	err = map_sys_lookup_batch(p.m, &b);
	ck_assert_int_eq(err, -ENOENT);
	ck_assert_uint_eq(b.count, 2);
	ck_assert_uint_eq(out, 4);
	if (p.kfd >= 0) {
		kcnt = 3;
		kr = kmap_batch(BPF_MAP_LOOKUP_BATCH, p.kfd, &kout, &kout, kkeys, kvals, &kcnt, 0);
		ck_assert_int_eq(kr, err);
		ck_assert_uint_eq(kcnt, b.count);
		ck_assert_uint_eq(kout, out);
	}
	/* Bad elem_flags; count 0; lookup_and_delete and delete are not array commands. */
	b.in_batch = NULL;
	b.count = 2;
	b.elem_flags = 1;
	ck_assert_int_eq(map_sys_lookup_batch(p.m, &b), -EINVAL);
	cnt = 2;
	KCHECK(&p, kmap_batch(BPF_MAP_LOOKUP_BATCH, p.kfd, NULL, &kout, kkeys, kvals, &cnt, 1), -EINVAL,
	       "batch elem_flags");
	b.elem_flags = 0;
	b.count = 0;
	ck_assert_int_eq(map_sys_lookup_batch(p.m, &b), 0);
	b.count = 2;
	ck_assert_int_eq(map_sys_lookup_and_delete_batch(p.m, &b), -ENOTSUPP);
	cnt = 2;
	KCHECK(&p, kmap_batch(BPF_MAP_LOOKUP_AND_DELETE_BATCH, p.kfd, NULL, &kout, kkeys, kvals, &cnt, 0),
	       -ENOTSUPP, "lookup_and_delete_batch");
	ck_assert_int_eq(map_sys_delete_batch(p.m, &b), -ENOTSUPP);
	cnt = 2;
	KCHECK(&p, kmap_batch(BPF_MAP_DELETE_BATCH, p.kfd, NULL, NULL, kkeys, NULL, &cnt, 0), -ENOTSUPP,
	       "delete_batch");
	/* Update batch stops at the first bad key (index 7 -> -E2BIG), count = done. */
	keys[0] = 0;
	keys[1] = 7;
	keys[2] = 1;
	vals[0] = vals[1] = vals[2] = 55;
	b.count = 3;
	err = map_sys_update_batch(p.m, &b);
	ck_assert_int_eq(err, -E2BIG);
	ck_assert_uint_eq(b.count, 1);
	if (p.kfd >= 0) {
		kcnt = 3;
		kr = kmap_batch(BPF_MAP_UPDATE_BATCH, p.kfd, NULL, NULL, keys, vals, &kcnt, 0);
		ck_assert_int_eq(kr, err);
		ck_assert_uint_eq(kcnt, 1);
	}
	pair_destroy(&p);
}
END_TEST

START_TEST(test_array_mmapable_kernel_layout)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 12, 3, BPF_F_MMAPABLE);
	uint8_t v[12];
	uint32_t k;

	for (k = 0; k < 3; k++) {
		memset(v, 0xa0 + k, sizeof(v));
		ck_assert_int_eq(p_update(&p, &k, v, 0), 0);
	}
	/* A client maps the fd at offset 0: index i at i * round_up(12, 8) = i * 16. */
	uint8_t *mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd(p.m), 0);
	ck_assert_ptr_ne(mem, MAP_FAILED);
	for (k = 0; k < 3; k++) {
		ck_assert_uint_eq(mem[k * 16], 0xa0 + k);
		ck_assert_uint_eq(mem[k * 16 + 11], 0xa0 + k);
		ck_assert_uint_eq(mem[k * 16 + 12], 0);
	}
	if (p.kfd >= 0) {
		uint8_t *kmem = mmap(NULL, 4096, PROT_READ, MAP_SHARED, p.kfd, 0);

		ck_assert_ptr_ne(kmem, MAP_FAILED);
		ck_assert_mem_eq(kmem, mem, 48);
		munmap(kmem, 4096);
	}
	/* Writes through the client's mapping are what lookups return. */
	mem[16] = 0x42;
	k = 1;
	ck_assert_int_eq(map_sys_lookup_elem(p.m, &k, v, 0), 0);
	ck_assert_uint_eq(v[0], 0x42);
	munmap(mem, 4096);
	pair_destroy(&p);
}
END_TEST

START_TEST(test_percpu_array_layout_matches_kernel)
{
	uint32_t ncpu = map_possible_cpus(), k = 1, c;
	struct pair p = pair_new(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 12, 2, 0);
	uint8_t *v, *out;

	ck_assert_uint_eq(map_sys_value_size(p.m), 16 * ncpu);
	v = calloc(ncpu, 16);
	out = calloc(ncpu, 16);
	for (c = 0; c < ncpu; c++)
		memset(v + c * 16, 0x30 + c, 16); /* padding bytes too: the kernel keeps them */
	ck_assert_int_eq(p_update(&p, &k, v, 0), 0);
	ck_assert_int_eq(p_update(&p, &k, v, BPF_F_LOCK), -EINVAL);
	ck_assert_int_eq(p_update(&p, &k, v, BPF_NOEXIST), -EEXIST);
	ck_assert_int_eq(p_lookup(&p, &k, out, 0), 0);
	ck_assert_mem_eq(out, v, 16 * ncpu);
	for (c = 0; c < ncpu; c++) {
		uint8_t *slot = map_lookup_percpu_elem(p.m, &k, c);

		ck_assert_ptr_nonnull(slot);
		ck_assert_uint_eq(slot[0], 0x30 + c);
	}
	ck_assert_ptr_null(map_lookup_percpu_elem(p.m, &k, ncpu));
	/* The helper update writes this CPU's slot only. */
	uint8_t nv[12];
	memset(nv, 0x77, sizeof(nv));
	ck_assert_int_eq(map_update_elem(p.m, &k, nv, 0), 0);
	uint8_t *mine = map_lookup_elem(p.m, &k);
	ck_assert_ptr_nonnull(mine);
	ck_assert_uint_eq(mine[5], 0x77);
	ck_assert_int_eq(map_sys_lookup_elem(p.m, &k, out, 0), 0);
	int seen = 0;
	for (c = 0; c < ncpu; c++)
		seen += out[c * 16] == 0x77;
	ck_assert_int_eq(seen, 1);
	free(v);
	free(out);
	pair_destroy(&p);
}
END_TEST

static uint64_t sum_cb(struct map *m, const void *key, void *value, void *ctx)
{
	uint64_t *acc = ctx;

	acc[0] += *(uint32_t *)value;
	acc[1]++;
	return *(const uint32_t *)key == 2;
}

START_TEST(test_array_for_each_stops_on_one)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 4, 5, 0);
	uint64_t acc[2] = { 0, 0 };
	uint32_t k, v;

	for (k = 0; k < 5; k++) {
		v = k + 1;
		ck_assert_int_eq(map_update_elem(p.m, &k, &v, 0), 0);
	}
	ck_assert_int_eq(map_for_each_elem(p.m, sum_cb, acc, 0), 3);
	ck_assert_uint_eq(acc[0], 1 + 2 + 3);
	ck_assert_int_eq(map_for_each_elem(p.m, sum_cb, acc, 1), -EINVAL);
	pair_destroy(&p);
}
END_TEST

START_TEST(test_map_open_fd_from_other_process)
{
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
	uint64_t v = 0;
	uint32_t k = 3;
	pid_t pid;
	int st;

	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct map *m2;
		uint64_t nv = 0xfeed;

		/* Like an agent: open from an fd, close it, keep using the map. */
		int fd = dup(map_fd(p.m));

		if (fd < 0 || map_open_fd(fd, &m2))
			_exit(1);
		close(fd);
		if (map_fd(m2) != -1)
			_exit(5);
		if (map_max_entries(m2) != 4 || map_value_size(m2) != 8)
			_exit(2);
		if (map_sys_update_elem(m2, &k, &nv, 0))
			_exit(3);
		uint64_t *ptr = map_lookup_elem(m2, &k);
		if (!ptr || *ptr != 0xfeed)
			_exit(4);
		__atomic_fetch_add(ptr, 1, __ATOMIC_RELAXED);
		map_put(m2);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFEXITED(st));
	ck_assert_int_eq(WEXITSTATUS(st), 0);
	ck_assert_int_eq(map_sys_lookup_elem(p.m, &k, &v, 0), 0);
	ck_assert_uint_eq(v, 0xfeee);
	pair_destroy(&p);
}
END_TEST

START_TEST(test_map_open_fd_rejects_foreign_files)
{
	struct map *m = NULL;
	int fd = memfd_create("not-a-map", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(map_open_fd(fd, &m), -EINVAL);
	ck_assert_int_eq(ftruncate(fd, 8192), 0);
	ck_assert_int_eq(map_open_fd(fd, &m), -EINVAL);
	close(fd);
	ck_assert_int_eq(map_open_fd(-1, &m), -EBADF);
	ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_map_info_and_name)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_ARRAY, 4, 8, 3, BPF_F_RDONLY_PROG);
	struct map_create_opts o = { .sz = sizeof(o), .id = 42, .spin_lock_off = -1 };
	struct bpf_map_info info;
	struct map *m;

	strcpy(a.map_name, "counts.bss");
	ck_assert_int_eq(map_create(&a, &o, &m), 0);
	ck_assert_int_eq(map_get_info(m, &info), 0);
	ck_assert_uint_eq(info.type, BPF_MAP_TYPE_ARRAY);
	ck_assert_uint_eq(info.id, 42);
	ck_assert_uint_eq(info.key_size, 4);
	ck_assert_uint_eq(info.value_size, 8);
	ck_assert_uint_eq(info.max_entries, 3);
	ck_assert_uint_eq(info.map_flags, BPF_F_RDONLY_PROG);
	ck_assert_str_eq(info.name, "counts.bss");
	/* The memfd says what it is. */
	char link[64], target[128];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", map_fd(m));
	ssize_t n = readlink(link, target, sizeof(target) - 1);
	ck_assert_int_gt(n, 0);
	target[n] = 0;
	ck_assert_ptr_nonnull(strstr(target, "/memfd:bpf-map:counts.bss"));
	map_put(m);
}
END_TEST

START_TEST(test_array_1gib_map)
{
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_ARRAY, 4, 1u << 20, 1024, BPF_F_MMAPABLE);
	long avail_kb = 0;
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	struct map *m;

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %ld kB", &avail_kb) == 1)
			break;
	if (f)
		fclose(f);
	if (avail_kb < 4L << 20) {
		fprintf(stderr, "check_maps: skipping the 1 GiB map (MemAvailable %ld kB)\n", avail_kb);
		return;
	}
	ck_assert_int_eq(map_create(&a, NULL, &m), 0);
	uint32_t k = 1023;
	uint8_t *v = map_lookup_elem(m, &k);
	ck_assert_ptr_nonnull(v);
	v[(1u << 20) - 1] = 9;
	k = 0;
	ck_assert_ptr_eq(map_lookup_elem(m, &k), (uint8_t *)v - 1023UL * (1u << 20));
	map_put(m);
}
END_TEST

START_TEST(test_ten_thousand_maps)
{
	enum { N = 10000 };
	struct rlimit rl;
	struct map **ms = calloc(N, sizeof(*ms));
	union bpf_attr a = mk_attr(BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
	uint32_t k = 2;
	uint64_t v, out;
	int i;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	/* One fd per map, as with the kernel's maps. */
	if (rl.rlim_cur < N + 100) {
		rl.rlim_cur = rl.rlim_max < N + 100 ? rl.rlim_max : N + 100;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < N + 100) {
		fprintf(stderr, "check_maps: RLIMIT_NOFILE %lu too low for 10,000 maps, skipped\n",
			(unsigned long)rl.rlim_cur);
		free(ms);
		return;
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(map_create(&a, NULL, &ms[i]), 0);
		v = (uint64_t)i * 3;
		ck_assert_int_eq(map_sys_update_elem(ms[i], &k, &v, 0), 0);
	}
	for (i = 0; i < N; i++) {
		ck_assert_int_eq(map_sys_lookup_elem(ms[i], &k, &out, 0), 0);
		ck_assert_uint_eq(out, (uint64_t)i * 3);
		map_put(ms[i]);
	}
	free(ms);
}
END_TEST

/*
 * A preallocated map bigger than half of the memory available is refused
 * with ENOMEM (maps/shm.c), as the kernel's may-fail area allocation would,
 * instead of committing memory until the OOM killer runs.
 */
START_TEST(test_huge_prealloc_map_enomem)
{
	unsigned long long kb = 0;
	char line[128];
	union bpf_attr a;
	struct map *m = NULL;
	FILE *f = fopen("/proc/meminfo", "re");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_uint_gt(kb, 0);
	/* 4 KiB values, enough of them for 3/4 of what is available. */
	a = mk_attr(BPF_MAP_TYPE_ARRAY, 4, 4096, (uint32_t)(kb * 3 / 4 / 4), 0);
	ck_assert_int_eq(map_create(&a, NULL, &m), -ENOMEM);
	ck_assert_ptr_null(m);
}
END_TEST

START_TEST(test_cpu_list_parse)
{
	extern int map_cpu_parse_list(const char *s);

	ck_assert_int_eq(map_cpu_parse_list("0-3\n"), 4);
	ck_assert_int_eq(map_cpu_parse_list("0"), 1);
	ck_assert_int_eq(map_cpu_parse_list("0,2-5,9\n"), 10);
	ck_assert_int_eq(map_cpu_parse_list(""), -EINVAL);
	ck_assert_int_eq(map_cpu_parse_list("3-1"), -EINVAL);
	ck_assert_int_eq(map_cpu_parse_list("x"), -EINVAL);
	ck_assert_uint_lt(map_current_cpu(), map_possible_cpus());
}
END_TEST

START_TEST(test_helper_wrappers_table)
{
	jit_helper_fn table[256] = { 0 };
	struct pair p = pair_new(BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0);
	uint32_t k = 1;
	uint64_t v = 5;

	map_helpers_fill(table, 256);
	ck_assert_ptr_nonnull(table[BPF_FUNC_map_lookup_elem]);
	ck_assert_uint_eq(table[BPF_FUNC_map_update_elem]((uintptr_t)p.m, (uintptr_t)&k, (uintptr_t)&v,
							  BPF_ANY, 0),
			  0);
	ck_assert_uint_eq(table[BPF_FUNC_map_update_elem]((uintptr_t)p.m, (uintptr_t)&k, (uintptr_t)&v,
							  BPF_NOEXIST, 0),
			  (uint64_t)-EEXIST);
	uint64_t *ptr = (uint64_t *)(uintptr_t)table[BPF_FUNC_map_lookup_elem]((uintptr_t)p.m,
									     (uintptr_t)&k, 0, 0, 0);
	ck_assert_ptr_nonnull(ptr);
	ck_assert_uint_eq(*ptr, 5);
	k = 2;
	ck_assert_uint_eq(table[BPF_FUNC_map_lookup_elem]((uintptr_t)p.m, (uintptr_t)&k, 0, 0, 0), 0);
	pair_destroy(&p);
	/* A program may not write a BPF_F_RDONLY_PROG map (the syscall side may). */
	p = pair_new(BPF_MAP_TYPE_HASH, 4, 8, 2, BPF_F_RDONLY_PROG);
	k = 1;
	ck_assert_int_eq(map_sys_update_elem(p.m, &k, &v, 0), 0);
	ck_assert_uint_eq(table[BPF_FUNC_map_update_elem]((uintptr_t)p.m, (uintptr_t)&k, (uintptr_t)&v,
							  BPF_ANY, 0),
			  (uint64_t)-EPERM);
	ck_assert_uint_eq(table[BPF_FUNC_map_delete_elem]((uintptr_t)p.m, (uintptr_t)&k, 0, 0, 0),
			  (uint64_t)-EPERM);
	ck_assert_uint_ne(table[BPF_FUNC_map_lookup_elem]((uintptr_t)p.m, (uintptr_t)&k, 0, 0, 0), 0);
	pair_destroy(&p);
}
END_TEST

#include "tests/check_maps_hash.inc"
#include "tests/check_maps_robust.inc"
#include "tests/check_maps_model.inc"

int main(void)
{
	Suite *s = suite_create("maps");
	TCase *tc;
	SRunner *sr;
	int failed;

	tc = tcase_create("array");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_array_create_checks_match_kernel, 0,
			    sizeof(array_create_cases) / sizeof(array_create_cases[0]));
	tcase_add_test(tc, test_array_ops_errnos_and_next_key);
	tcase_add_test(tc, test_array_freeze_and_rdonly_match_kernel);
	tcase_add_test(tc, test_array_batch_matches_kernel);
	tcase_add_test(tc, test_array_mmapable_kernel_layout);
	tcase_add_test(tc, test_array_for_each_stops_on_one);
	tcase_add_test(tc, test_array_1gib_map);
	suite_add_tcase(s, tc);

	tc = tcase_create("percpu_array");
	tcase_add_test(tc, test_percpu_array_layout_matches_kernel);
	suite_add_tcase(s, tc);

	tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_map_open_fd_from_other_process);
	tcase_add_test(tc, test_map_open_fd_rejects_foreign_files);
	tcase_add_test(tc, test_map_info_and_name);
	tcase_add_test(tc, test_ten_thousand_maps);
	tcase_add_test(tc, test_cpu_list_parse);
	tcase_add_test(tc, test_huge_prealloc_map_enomem);
	tcase_add_test(tc, test_helper_wrappers_table);
	suite_add_tcase(s, tc);

	hash_tcases_add(s);
	robust_tcases_add(s);
	model_tcases_add(s);

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
