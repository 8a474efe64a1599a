/*
 * maps_bench.bpf.c - the kernel half of bench/maps_bench: XDP programs run
 * through BPF_PROG_TEST_RUN, each doing MAPS_BENCH_OPS map operations per
 * run, one program per (map type, operation). The userspace half runs the
 * same loops through bpftime's helper functions.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAPS_BENCH_OPS 1000
#define MAPS_BENCH_KEYS 1024 /* all present; a power of two so key_at() is branch-free */
#define MAPS_BENCH_MAX 1024

#define DEF_MAP(nm, ty)                                      \
	struct {                                             \
		__uint(type, ty);                            \
		__uint(max_entries, MAPS_BENCH_MAX);         \
		__type(key, __u32);                          \
		__type(value, __u64);                        \
	} nm SEC(".maps")

DEF_MAP(hash, BPF_MAP_TYPE_HASH);
DEF_MAP(array, BPF_MAP_TYPE_ARRAY);
DEF_MAP(pcpu_hash, BPF_MAP_TYPE_PERCPU_HASH);
DEF_MAP(pcpu_array, BPF_MAP_TYPE_PERCPU_ARRAY);
DEF_MAP(lru_hash, BPF_MAP_TYPE_LRU_HASH);

__u64 sink;
/* Threads start stagger * cpu keys apart (0: all threads walk the same keys in step). */
__u32 stagger SEC(".data.stagger") = 0;

static __always_inline __u32 first_key(void)
{
	return bpf_get_smp_processor_id() * stagger;
}

static __always_inline __u32 key_at(__u32 base, __u32 i)
{
	return (base + i) & (MAPS_BENCH_KEYS - 1);
}

/* All keys are present; lookups hit. */
#define LOOKUP_PROG(m)                                                 \
	SEC("xdp") int m##_lookup(struct xdp_md *ctx)                  \
	{                                                              \
		__u64 sum = 0;                                         \
		__u32 base = first_key();                              \
		for (__u32 i = 0; i < MAPS_BENCH_OPS; i++) {           \
			__u32 k = key_at(base, i);                     \
			__u64 *v = bpf_map_lookup_elem(&m, &k);        \
			if (v)                                         \
				sum += *v;                             \
		}                                                      \
		sink = sum;                                            \
		return XDP_PASS;                                       \
	}

/* Overwrite existing keys (BPF_ANY). */
#define UPDATE_PROG(m)                                                 \
	SEC("xdp") int m##_update(struct xdp_md *ctx)                  \
	{                                                              \
		__u32 base = first_key();                              \
		for (__u32 i = 0; i < MAPS_BENCH_OPS; i++) {           \
			__u32 k = key_at(base, i);                     \
			__u64 v = i;                                   \
			bpf_map_update_elem(&m, &k, &v, BPF_ANY);      \
		}                                                      \
		return XDP_PASS;                                       \
	}

/* Delete an existing key, then insert it again: one delete + one insert per op. */
#define DELETE_PROG(m)                                                 \
	SEC("xdp") int m##_delete(struct xdp_md *ctx)                  \
	{                                                              \
		__u32 base = first_key();                              \
		for (__u32 i = 0; i < MAPS_BENCH_OPS; i++) {           \
			__u32 k = key_at(base, i);                     \
			__u64 v = i;                                   \
			bpf_map_delete_elem(&m, &k);                   \
			bpf_map_update_elem(&m, &k, &v, BPF_ANY);      \
		}                                                      \
		return XDP_PASS;                                       \
	}

LOOKUP_PROG(hash)
UPDATE_PROG(hash)
DELETE_PROG(hash)
LOOKUP_PROG(array)
UPDATE_PROG(array)
LOOKUP_PROG(pcpu_hash)
UPDATE_PROG(pcpu_hash)
DELETE_PROG(pcpu_hash)
LOOKUP_PROG(pcpu_array)
UPDATE_PROG(pcpu_array)
LOOKUP_PROG(lru_hash)
UPDATE_PROG(lru_hash)
DELETE_PROG(lru_hash)

char LICENSE[] SEC("license") = "GPL";
