/* sup_cb.bpf.c - callbacks under PROG_TEST_RUN (tests/e2e/sup-cb.sh): a
 * SEC("syscall") program using bpf_loop (early stop, nested local call in the
 * callback, flags != 0, too many loops) and bpf_for_each_map_elem over an
 * ARRAY and a HASH. Results go to .bss; the loader prints them. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, __u32);
	__type(value, __u64);
} arr SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} hash SEC(".maps");

__u64 loop_sum, loop_ret, loop_stop_ret, loop_zero_ret;
__s64 loop_flags_ret, loop_big_ret;
__u64 arr_sum, arr_cnt, hash_sum, hash_cnt, hash_stop_cnt;
__s64 arr_ret, hash_ret, hash_stop_ret;
__u32 stop_at = 1000, stop_key = 1000, stopping;

/* The counters live in .bss (map memory, unknown to the verifier), so the
 * kernel's verifier of the callbacks converges. */
static __attribute__((noinline)) __u64 twice(__u64 x)
{
	volatile __u64 y = x; /* its own stack frame */

	return y * 2;
}

static long loop_cb(__u32 index, void *data)
{
	loop_sum += twice(index);
	return index == stop_at ? 1 : 0;
}

static long each_cb(struct bpf_map *map, const void *key, void *value, void *data)
{
	__u32 k = *(__u32 *)key;
	__u64 v = *(__u64 *)value;

	if (stopping) {
		hash_stop_cnt++;
	} else if (data) {
		hash_sum += v + k;
		hash_cnt++;
	} else {
		arr_sum += v + k;
		arr_cnt++;
	}
	return k == stop_key ? 1 : 0;
}

SEC("syscall")
int run_callbacks(void *ctx)
{
	__u64 dummy = 0;

	loop_ret = bpf_loop(10, loop_cb, NULL, 0);
	stop_at = 4;
	loop_stop_ret = bpf_loop(10, loop_cb, NULL, 0);
	loop_zero_ret = bpf_loop(0, loop_cb, NULL, 0);
	loop_flags_ret = bpf_loop(3, loop_cb, NULL, 1);
	loop_big_ret = bpf_loop((1u << 23) + 1, loop_cb, NULL, 0);

	arr_ret = bpf_for_each_map_elem(&arr, each_cb, NULL, 0);
	hash_ret = bpf_for_each_map_elem(&hash, each_cb, &dummy, 0);
	stopping = 1;
	stop_key = 2;
	hash_stop_ret = bpf_for_each_map_elem(&hash, each_cb, &dummy, 0);
	return 42;
}

char LICENSE[] SEC("license") = "GPL";
