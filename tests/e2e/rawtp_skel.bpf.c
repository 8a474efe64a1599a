/* rawtp_skel.bpf.c - the BPF side of the raw tracepoint e2e test
 * (tests/e2e/rawtp-skel.sh): SEC("raw_tp/sys_enter") and
 * SEC("raw_tp/sys_exit") programs that read the syscall's pt_regs the way
 * kernel raw tracepoint programs do (BPF_CORE_READ and
 * bpf_probe_read_kernel through args[0]), counting getpid calls and writes
 * to one fd by the worker threads of one process, and a third program
 * attached by hand with a BPF cookie. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define NR_WRITE 1
#define NR_GETPID 39
#define ENOSYS 38

/* The kernel's x86-64 struct pt_regs; CO-RE finds "pt_regs" in vmlinux BTF. */
struct pt_regs___rawtp {
	unsigned long r15, r14, r13, r12, bp, bx, r11, r10, r9, r8, ax, cx, dx, si, di, orig_ax, ip, cs, flags, sp, ss;
} __attribute__((preserve_access_index));

__u32 filter_tgid = 0;                  /* .bss: the process whose syscalls count */
__u64 null_fd = ~0ULL;                   /* .data: the fd whose writes count */
__u64 enter_getpid, exit_getpid, getpid_ret_sum;
__u64 enter_write, enter_write_len, exit_write, exit_write_ret;
__u64 enter_bad, exit_bad;              /* ctx/regs disagreements */
__u64 cookie_hits, cookie_seen;

__u64 other_getpid;                     /* by other threads of the process (diagnostics) */

/* "rtworker", the loader's worker threads: under bpftime the process also has the
 * agent's own thread, whose syscalls a kernel run does not have. */
#define WORKER_COMM 0x72656b726f777472ULL

__u32 check_comm = 1; /* 0 for bench/rawtp_bench.sh: the tgid filter alone */

static __always_inline int mine(void)
{
	__u64 comm[2] = { 0, 0 };

	if ((bpf_get_current_pid_tgid() >> 32) != filter_tgid)
		return 0;
	if (!check_comm)
		return 1;
	bpf_get_current_comm(comm, sizeof(comm));
	return comm[0] == WORKER_COMM && !(comm[1] & 0xff);
}

static __always_inline int mine_other(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == filter_tgid;
}

SEC("raw_tp/sys_enter")
int on_enter(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs___rawtp *regs = (void *)ctx->args[0];
	unsigned long id = ctx->args[1], fd = 0;
	long ax;

	if (!mine()) {
		if (id == NR_GETPID && mine_other())
			__sync_fetch_and_add(&other_getpid, 1);
		return 0;
	}
	ax = BPF_CORE_READ(regs, ax);
	if (BPF_CORE_READ(regs, orig_ax) != id || ax != -ENOSYS)
		__sync_fetch_and_add(&enter_bad, 1);
	if (id == NR_GETPID)
		__sync_fetch_and_add(&enter_getpid, 1);
	if (id == NR_WRITE) {
		bpf_probe_read_kernel(&fd, sizeof(fd), &regs->di);
		if (fd == null_fd) {
			__sync_fetch_and_add(&enter_write, 1);
			__sync_fetch_and_add(&enter_write_len, BPF_CORE_READ(regs, dx));
		}
	}
	return 0;
}

SEC("raw_tp/sys_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs___rawtp *regs = (void *)ctx->args[0];
	long ret = (long)ctx->args[1];
	unsigned long nr;

	if (!mine())
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
	if ((long)BPF_CORE_READ(regs, ax) != ret)
		__sync_fetch_and_add(&exit_bad, 1);
	if (nr == NR_GETPID) {
		__sync_fetch_and_add(&exit_getpid, 1);
		__sync_fetch_and_add(&getpid_ret_sum, ret);
	}
	/* The argument registers are still the syscall's at exit. */
	if (nr == NR_WRITE && BPF_CORE_READ(regs, di) == null_fd) {
		__sync_fetch_and_add(&exit_write, 1);
		__sync_fetch_and_add(&exit_write_ret, ret);
	}
	return 0;
}

/* Attached by the loader with BPF_RAW_TRACEPOINT_OPEN and a cookie (libbpf 1.1 cannot). */
SEC("raw_tp/sys_enter")
int on_cookie(struct bpf_raw_tracepoint_args *ctx)
{
	if (!mine() || ctx->args[1] != NR_GETPID)
		return 0;
	__sync_fetch_and_add(&cookie_hits, 1);
	cookie_seen = bpf_get_attach_cookie(ctx);
	return 0;
}

char _license[] SEC("license") = "GPL";
