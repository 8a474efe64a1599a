/* go_loader.bpf.c - the BPF side of the Go loader test (go_loader/main.go,
 * cilium/ebpf): a uprobe and a uretprobe on bt_target() of agent_target
 * that count into a hash map and send every argument and return value
 * through a ring buffer, and a syscalls:sys_enter_getpid tracepoint that
 * counts the target's getpid calls and sends its pid through a perf buffer. Loaded and attached by a static Go binary, so the
 * whole loader side goes through raw syscalls that only the seccomp filter
 * sees. */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "GPL";

struct event {
	__u32 kind; /* 0 entry, 1 return */
	__u32 pad;
	__s64 val;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 18);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} pids SEC(".maps");

static __always_inline void bump(__u32 kind)
{
	__u64 one = 1, *v;

	v = bpf_map_lookup_elem(&counts, &kind);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &kind, &one, BPF_NOEXIST);
}

static __always_inline void count(__u32 kind, __s64 val)
{
	struct event *e;

	bump(kind);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return;
	e->kind = kind;
	e->pad = 0;
	e->val = val;
	bpf_ringbuf_submit(e, 0);
}

SEC("uprobe/bt_target")
int BPF_KPROBE(go_entry, int x)
{
	count(0, x);
	return 0;
}

SEC("uretprobe/bt_target")
int BPF_KRETPROBE(go_return, int ret)
{
	count(1, ret);
	return 0;
}

/* The tracepoint sees every process; the test's target is the one named
 * "ago_target" (the kernel side runs on the whole machine, where other
 * tests may be running programs of their own). */
static const char target_comm[] = "ago_target";

SEC("tracepoint/syscalls/sys_enter_getpid")
int go_getpid(void *ctx)
{
	char comm[16] = {};
	__u64 tgid;

	bpf_get_current_comm(comm, sizeof(comm));
	for (int i = 0; i < (int)sizeof(target_comm); i++)
		if (comm[i] != target_comm[i])
			return 0;
	bump(2);
	tgid = bpf_get_current_pid_tgid() >> 32;
	bpf_perf_event_output(ctx, &pids, BPF_F_CURRENT_CPU, &tgid, sizeof(tgid));
	return 0;
}
