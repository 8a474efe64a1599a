/*
 * maps.h - the contract of the maps module: BPF maps that live in shared
 * memory and are used at once by the supervisor (answering emulated bpf()
 * commands), by the loader (mmap of the map fd) and by every traced process
 * where programs run (the agent).
 *
 * Each map is one memfd (layout: maps/shm_layout.h). map_create() makes it,
 * map_open_fd() maps it in any other process at any address. A struct map is
 * a process-local, refcounted handle onto that shared file.
 *
 * Two families of operations:
 *  - map_sys_*(): what bpf(2) commands do. They COPY keys and values in and
 *    out, apply the syscall-side rules (frozen maps, BPF_F_RDONLY/WRONLY,
 *    per-CPU value layout) and return the kernel's errnos. Used by emul/.
 *  - map_lookup_elem() and friends: the BPF-helper fast path used by running
 *    programs. Lookup returns a pointer into shared memory (per-CPU maps: the
 *    current CPU's slot). maps/helpers.c wraps them as jit_helper_fn.
 *
 * Per-CPU maps index their slots with the CPU the calling thread runs on (from
 * rseq, read without a syscall). A thread may migrate mid-operation; the map's
 * own operations stay correct (they never tear or corrupt), but a program's
 * non-atomic read-modify-write of its per-CPU slot (`*val += 1`) is only safe
 * because the agent runs programs under a per-CPU run lock, as the kernel runs
 * them with migration disabled. That lock is the agent's job, not maps/.
 *
 * Concurrency: every operation may run concurrently from any number of
 * threads and processes. Hash lookups take no lock. Writers take short
 * per-bucket (hash) or per-stripe (array) spinlocks that record the owner's
 * pid; a waiter that spins too long checks whether the owner died
 * (SIGKILL) and takes the lock over (maps/lock.c). All processes of a session
 * must share one pid namespace for that check.
 *
 * Known limits (no kernel analogue, since kernel code cannot be stopped while
 * it holds a lock): a process that is STOPPED (SIGSTOP, a debugger) inside a
 * map write blocks other writers of that bucket or element until it resumes;
 * the capacity an element held by a killed writer is recovered by the next
 * insert that needs it, at most about a second later. A client holding the
 * fd can write anything into the file (it must be able to, to mmap arrays):
 * map_open_fd() validates the header, and every index read from shared memory
 * is bounds-checked, so corruption can lose or garble entries but not crash
 * the supervisor or the agent. For the same reason a client can mmap a frozen
 * map writable, which the kernel refuses with -EPERM, and BPF_MAP_FREEZE
 * cannot see (and refuse with -EBUSY) writable mappings that exist.
 */
#ifndef MAPS_MAPS_H
#define MAPS_MAPS_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

struct map;

/** Optional creation parameters the bpf_attr cannot carry (size-versioned). */
struct map_create_opts {
	size_t sz;             /* sizeof(struct map_create_opts) as the caller knows it */
	uint32_t id;           /* map id to report in info (the supervisor allocates ids) */
	int32_t spin_lock_off; /* offset of struct bpf_spin_lock in the value (from BTF), or -1 */
};

/**
 * map_create() - create a map from the MAP_CREATE fields of @attr.
 *
 * Validates like kernel/bpf/syscall.c map_create() and the type's
 * map_alloc_check (name characters, map_extra, flags, sizes, max_entries,
 * numa node) and commits the memory unless BPF_F_NO_PREALLOC.
 * @opts may be NULL (id 0, no spin lock).
 * On success *out holds a reference; release with map_put(). The map's memfd
 * is map_fd(*out) (O_CLOEXEC).
 * Returns 0, -EINVAL (bad attr/flags/sizes, unknown type), -E2BIG (sizes over
 * the kernel's limits), -ENOTSUPP (524; e.g. LRU with BPF_F_NO_PREALLOC, as
 * the kernel), -ENOMEM (memory could not be committed), -EMFILE and friends
 * from memfd_create().
 */
int map_create(const union bpf_attr *attr, const struct map_create_opts *opts, struct map **out);

/**
 * map_open_fd() - map an existing map from its memfd, at any address.
 *
 * Does not take or keep @fd: the mapping holds the file, so the caller may
 * close @fd at once (map_fd() of such a handle is -1), and a process can open
 * more maps than its RLIMIT_NOFILE.
 * Returns 0 with a reference in *out, -EINVAL if @fd is not a sealed bpftime
 * map file of a known ABI version or its header is inconsistent, -errno from
 * fstat/mmap.
 */
int map_open_fd(int fd, struct map **out);

/** Take another reference. */
struct map *map_get(struct map *m);
/** Drop a reference; the last one unmaps and closes. Accepts NULL. */
void map_put(struct map *m);
/** The memfd of a map made by map_create() (owned by the map; dup it to keep it past map_put()); -1 for map_open_fd() handles. */
int map_fd(const struct map *m);

uint32_t map_type(const struct map *m);
uint32_t map_key_size(const struct map *m);
uint32_t map_value_size(const struct map *m);
uint32_t map_max_entries(const struct map *m);
uint32_t map_flags(const struct map *m);
/** Size of a value buffer on the syscall side: per-CPU maps use round_up(value_size, 8) * possible CPUs. */
uint32_t map_sys_value_size(const struct map *m);
/** Number of possible CPUs (from /sys/devices/system/cpu/possible). */
uint32_t map_possible_cpus(void);
/** Size of the opaque in/out batch token: 4 (a bucket index) for hash maps, key_size otherwise. */
uint32_t map_batch_token_size(const struct map *m);

/** Fill the map fields of @info as BPF_OBJ_GET_INFO_BY_FD does. Returns 0. */
int map_get_info(const struct map *m, struct bpf_map_info *info);

/* ---- syscall side (copying; used by emul/ for bpf() commands) ---- */

/**
 * map_sys_lookup_elem() - BPF_MAP_LOOKUP_ELEM.
 * @value: map_sys_value_size() bytes. @flags: 0 or BPF_F_LOCK.
 * Returns 0, -ENOENT (no element), -EINVAL (flags other than BPF_F_LOCK, or
 * BPF_F_LOCK without a spin lock in the value), -EPERM (map created
 * BPF_F_WRONLY), -ENOTSUPP (type has no syscall lookup).
 */
int map_sys_lookup_elem(struct map *m, const void *key, void *value, uint64_t flags);
/**
 * map_sys_update_elem() - BPF_MAP_UPDATE_ELEM.
 * @flags: BPF_ANY, BPF_NOEXIST or BPF_EXIST, optionally | BPF_F_LOCK.
 * Returns 0, -EINVAL (bad flags; array: BPF_NOEXIST gives -EEXIST), -EEXIST,
 * -ENOENT, -E2BIG (array index out of range; hash full), -ENOMEM,
 * -EPERM (map frozen or created BPF_F_RDONLY).
 */
int map_sys_update_elem(struct map *m, const void *key, const void *value, uint64_t flags);
/** map_sys_delete_elem() - BPF_MAP_DELETE_ELEM. -ENOENT, -EINVAL (arrays), -EPERM (frozen/RDONLY). */
int map_sys_delete_elem(struct map *m, const void *key);
/**
 * map_sys_get_next_key() - BPF_MAP_GET_NEXT_KEY.
 * @key NULL or not present: the first key (hash: first element of the first
 * non-empty bucket; array: index 0). Returns -ENOENT after the last key.
 */
int map_sys_get_next_key(struct map *m, const void *key, void *next_key);
/** map_sys_lookup_and_delete_elem() - hash types only (else -ENOTSUPP); flags 0 or BPF_F_LOCK. */
int map_sys_lookup_and_delete_elem(struct map *m, const void *key, void *value, uint64_t flags);
/** map_sys_freeze() - BPF_MAP_FREEZE: -EBUSY if already frozen, -EPERM if BPF_F_RDONLY. */
int map_sys_freeze(struct map *m);
/** True once frozen. */
int map_is_frozen(const struct map *m);

/**
 * The batch commands. Buffers are in the caller's memory: @in_batch/@out_batch
 * hold map_batch_token_size() bytes; @keys holds count keys, @values count
 * values of map_sys_value_size() bytes. On return @count is the number of
 * elements processed (also on error), as the kernel writes batch.count back.
 */
struct map_batch {
	const void *in_batch; /* NULL: start from the beginning */
	void *out_batch;
	void *keys;
	void *values;
	uint32_t count;
	uint64_t elem_flags;
	uint64_t flags;
};
/** Returns 0 (more may follow), -ENOENT (iteration finished; count may be > 0), -ENOSPC (a hash bucket does not fit in count), -EINVAL. */
int map_sys_lookup_batch(struct map *m, struct map_batch *b);
int map_sys_lookup_and_delete_batch(struct map *m, struct map_batch *b);
/** Updates keys[i]/values[i] with elem_flags (0 or BPF_F_LOCK: BPF_ANY); stops at the first error. */
int map_sys_update_batch(struct map *m, struct map_batch *b);
/** Deletes keys[i]; stops at the first error. Arrays: -ENOTSUPP. */
int map_sys_delete_batch(struct map *m, struct map_batch *b);

/* ---- BPF-helper side (programs; pointer returning, no syscalls) ---- */

/** bpf_map_lookup_elem: pointer to the value in shared memory (per-CPU: this CPU's slot) or NULL. */
void *map_lookup_elem(struct map *m, const void *key);
/** bpf_map_update_elem: 0 or -errno as the kernel helper. */
long map_update_elem(struct map *m, const void *key, const void *value, uint64_t flags);
/** bpf_map_delete_elem: 0 or -errno as the kernel helper. */
long map_delete_elem(struct map *m, const void *key);
/** bpf_map_lookup_percpu_elem: @cpu's slot, NULL if not per-CPU, absent or cpu >= possible CPUs. */
void *map_lookup_percpu_elem(struct map *m, const void *key, uint32_t cpu);

/** Callback of map_for_each_elem(): return 0 to continue, 1 to stop. */
typedef uint64_t (*map_for_each_fn)(struct map *m, const void *key, void *value, void *ctx);
/**
 * map_for_each_elem() - bpf_for_each_map_elem: call @fn for each element
 * (per-CPU: this CPU's slot), with no lock held during the call.
 * Returns the number of elements visited (including one that returned 1),
 * -EINVAL if @flags != 0, -ENOTSUPP for types that cannot be iterated.
 */
long map_for_each_elem(struct map *m, map_for_each_fn fn, void *ctx, uint64_t flags);

/**
 * Geometry of an ARRAY or PERCPU_ARRAY, for a JIT that inlines array lookups
 * as the kernel's verifier does (array_map_gen_lookup() in
 * kernel/bpf/arraymap.c): the value of index i < max_entries on CPU c is at
 * base + c * cpu_stride + i * elem_size + value_off (cpu_stride is 0 for
 * ARRAY). Valid, and constant, for as long as the caller holds a reference.
 */
struct map_array_geom {
	uint8_t *base;
	uint64_t elem_size;
	uint64_t value_off;
	uint64_t cpu_stride;
	uint32_t max_entries;
	uint32_t ncpu;
};
/** Fill @g; -EINVAL if @m is not an ARRAY or PERCPU_ARRAY. */
int map_array_geometry(const struct map *m, struct map_array_geom *g);

/** Current CPU index as per-CPU maps use it (< map_possible_cpus()). */
uint32_t map_current_cpu(void);

#endif /* MAPS_MAPS_H */
