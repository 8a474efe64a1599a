/*
 * check_maps_kernel.h - thin raw bpf(2) wrappers for the maps suite, so each
 * test can run the same operations on the real kernel map and compare
 * results. Every wrapper returns >= 0 or -errno. kmap_available() is false
 * when this machine does not let us create maps (not root, EPERM): the kernel
 * half of a test is then skipped and only bpftime's half runs.
 */
#ifndef TESTS_CHECK_MAPS_KERNEL_H
#define TESTS_CHECK_MAPS_KERNEL_H

#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline int kbpf(int cmd, union bpf_attr *a)
{
	long r = syscall(__NR_bpf, cmd, a, sizeof(*a));

	return r < 0 ? -errno : (int)r;
}

static inline int kmap_create_attr(const union bpf_attr *attr)
{
	union bpf_attr a = *attr;

	return kbpf(BPF_MAP_CREATE, &a);
}

static inline int kmap_lookup(int fd, const void *key, void *value, uint64_t flags)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	a.key = (uintptr_t)key;
	a.value = (uintptr_t)value;
	a.flags = flags;
	return kbpf(BPF_MAP_LOOKUP_ELEM, &a);
}

static inline int kmap_update(int fd, const void *key, const void *value, uint64_t flags)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	a.key = (uintptr_t)key;
	a.value = (uintptr_t)value;
	a.flags = flags;
	return kbpf(BPF_MAP_UPDATE_ELEM, &a);
}

static inline int kmap_delete(int fd, const void *key)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	a.key = (uintptr_t)key;
	return kbpf(BPF_MAP_DELETE_ELEM, &a);
}

static inline int kmap_next(int fd, const void *key, void *next)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	a.key = (uintptr_t)key;
	a.next_key = (uintptr_t)next;
	return kbpf(BPF_MAP_GET_NEXT_KEY, &a);
}

static inline int kmap_lookup_and_delete(int fd, const void *key, void *value, uint64_t flags)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	a.key = (uintptr_t)key;
	a.value = (uintptr_t)value;
	a.flags = flags;
	return kbpf(BPF_MAP_LOOKUP_AND_DELETE_ELEM, &a);
}

static inline int kmap_freeze(int fd)
{
	union bpf_attr a = { 0 };

	a.map_fd = fd;
	return kbpf(BPF_MAP_FREEZE, &a);
}

/* One batch command; *count is updated with what the kernel wrote back. */
static inline int kmap_batch(int cmd, int fd, const void *in, void *out, void *keys, void *values,
			     uint32_t *count, uint64_t elem_flags)
{
	union bpf_attr a = { 0 };
	int r;

	a.batch.map_fd = fd;
	a.batch.in_batch = (uintptr_t)in;
	a.batch.out_batch = (uintptr_t)out;
	a.batch.keys = (uintptr_t)keys;
	a.batch.values = (uintptr_t)values;
	a.batch.count = *count;
	a.batch.elem_flags = elem_flags;
	r = kbpf(cmd, &a);
	*count = a.batch.count;
	return r;
}

#endif /* TESTS_CHECK_MAPS_KERNEL_H */
