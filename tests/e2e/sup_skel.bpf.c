/* sup_skel.bpf.c - a libbpf skeleton program for the end-to-end test: global
 * data in .rodata, .data and .bss, a hash map, a ring buffer, a SEC("syscall") program
 * that PROG_TEST_RUN executes, and a tracepoint and a uprobe program that
 * the loader attaches through perf events and BPF_LINK_CREATE. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u32 factor = 3; /* .rodata, set before load */
__u64 input = 7;                 /* .data */
__u64 output;                    /* .bss */
__u64 runs;                      /* .bss */

SEC("syscall")
int compute(void *ctx)
{
	__u32 key = 1;
	__u64 one = 1, *v;

	output = input * factor;
	runs++;
	bpf_ringbuf_output(&events, &output, sizeof(output), 0);
	v = bpf_map_lookup_elem(&calls, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&calls, &key, &one, BPF_ANY);
	return (int)output;
}

__u64 getpids; /* .bss: tracepoint hits */
__u64 targets; /* .bss: uprobe hits */

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	__sync_fetch_and_add(&getpids, 1);
	return 0;
}

SEC("uprobe")
int on_target(void *ctx)
{
	__sync_fetch_and_add(&targets, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
