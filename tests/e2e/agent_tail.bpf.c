/* agent_tail.bpf.c - the BPF side of the tail-call test (tests/e2e/agent-tail.sh):
 * a uprobe entry program that tail-calls through a BPF_MAP_TYPE_PROG_ARRAY
 * into the program its first argument selects, three targets that count
 * into .bss (two read the probed function's second argument from the ctx
 * they were passed on), one of which tail-calls itself until the kernel's
 * limit of 33 stops it. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp SEC(".maps");

__u64 entries, fallthrough, runs_a, runs_b, sum_a, sum_b, runs_loop, loop_end; /* .bss */

SEC("uprobe")
int BPF_KPROBE(tail_entry, long sel, long val)
{
	__sync_fetch_and_add(&entries, 1);
	bpf_tail_call(ctx, &jmp, (__u32)sel);
	/* Reached only when the tail call did not happen. */
	__sync_fetch_and_add(&fallthrough, 1);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tail_a, long sel, long val)
{
	__sync_fetch_and_add(&runs_a, 1);
	__sync_fetch_and_add(&sum_a, val);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tail_b, long sel, long val)
{
	__sync_fetch_and_add(&runs_b, 1);
	__sync_fetch_and_add(&sum_b, val);
	return 0;
}

SEC("uprobe")
int BPF_KPROBE(tail_loop, long sel)
{
	__sync_fetch_and_add(&runs_loop, 1);
	bpf_tail_call(ctx, &jmp, (__u32)sel);
	__sync_fetch_and_add(&loop_end, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
