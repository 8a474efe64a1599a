/* agent_skel.bpf.c - the BPF side of the agent's libbpf skeleton test: a
 * uprobe and a uretprobe attached by function name that write ring buffer
 * records, a syscall tracepoint, and global variables in .rodata (a pid
 * filter set before load), .data and .bss (counters the loader reads through
 * the skeleton's mmap). */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct event {
	__u32 kind; /* 0 entry, 1 return */
	__u32 tid;
	__s64 val;  /* argument or return value */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

const volatile __u32 filter_tgid = 0; /* .rodata */
__u64 scale = 1;                      /* .data */
__u64 entries, returns, getpids;      /* .bss */

static __always_inline int mine(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == filter_tgid;
}

SEC("uprobe")
int BPF_KPROBE(on_entry, long x)
{
	struct event *e;

	if (!mine())
		return 0;
	__sync_fetch_and_add(&entries, 1);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->kind = 0;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->val = x;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(on_return, long ret)
{
	struct event e = { .kind = 1 };

	if (!mine())
		return 0;
	__sync_fetch_and_add(&returns, 1);
	e.tid = (__u32)bpf_get_current_pid_tgid();
	e.val = ret * (long)scale;
	bpf_ringbuf_output(&events, &e, sizeof(e), 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int on_getpid(void *ctx)
{
	if (mine())
		__sync_fetch_and_add(&getpids, 1);
	return 0;
}

char _license[] SEC("license") = "GPL";
