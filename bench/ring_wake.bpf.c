/* ring_wake.bpf.c - producers for bench/ring_wake_bench.c, attached as
 * uprobes to its trigger function: each hit puts one record holding
 * bpf_ktime_get_ns() (CLOCK_MONOTONIC) into a ring buffer or a perf buffer,
 * so the consumer can tell how long the wake-up took. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 65536);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pb SEC(".maps");

SEC("uprobe")
int rb_submit(void *ctx)
{
	__u64 *e = bpf_ringbuf_reserve(&rb, sizeof(*e), 0);

	if (!e)
		return 1;
	*e = bpf_ktime_get_ns();
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uprobe")
int pb_output(void *ctx)
{
	__u64 ts = bpf_ktime_get_ns();

	return bpf_perf_event_output(ctx, &pb, BPF_F_CURRENT_CPU, &ts, sizeof(ts));
}

char LICENSE[] SEC("license") = "GPL";
