/*
 * raw_tp.c - what a BPF_PROG_TYPE_RAW_TRACEPOINT program sees at the
 * sys_enter and sys_exit raw tracepoints, and its run.
 *
 * The kernel calls the program with a u64 array of the tracepoint's
 * arguments (__bpf_trace_run() in kernel/trace/bpf_trace.c; TP_PROTO of
 * sys_enter/sys_exit in include/trace/events/syscalls.h):
 *   sys_enter: args[0] = struct pt_regs * of the syscall, args[1] = id (nr)
 *   sys_exit:  args[0] = struct pt_regs *,                args[1] = ret
 * The pointer is a kernel address; programs read it with
 * bpf_probe_read_kernel() or BPF_CORE_READ() (PT_REGS_PARM1_CORE_SYSCALL()
 * in libbpf's bpf_tracing.h reads di through it). Here it points at a
 * kernel-layout struct pt_regs (hooks/hooks.h) on this thread's stack,
 * which the agent's probe_read helpers read like any memory of ours.
 *
 * The verifier lets a raw tracepoint program load ctx[0..11]
 * (raw_tp_prog_is_valid_access(), MAX_BPF_FUNC_ARGS): words past the
 * tracepoint's two are zero here rather than stale stack.
 *
 * What the frame holds, as do_syscall_64() leaves it (arch/x86/entry/):
 * orig_ax = nr; ax = -ENOSYS on entry, the return value on exit; di, si, dx,
 * r10, r8, r9 = the arguments (on exit too: a syscall preserves them);
 * cs/ss = the user selectors 0x33/0x2b.
 * DIVERGES: ip, sp, flags, cx, r11 and the callee-saved registers (bx, bp,
 * r12-r15) are 0: the syscall hooks (hooks/syscall.h) hand over only the
 * number and the six argument registers.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <string.h>

#include "hooks/hooks.h"
#include "hooks/xstate.h"

#define RAW_TP_CTX_ARGS 12 /* MAX_BPF_FUNC_ARGS */
#define USER_CS 0x33       /* __USER_CS, arch/x86/include/asm/segment.h */
#define USER_DS 0x2b       /* __USER_DS */

struct raw_tp_ctx {
	uint64_t args[RAW_TP_CTX_ARGS];
	struct pt_regs regs;
};

void agent_raw_tp_run(struct agent_prog *p, uint64_t cookie, bool is_exit, long nr, const unsigned long args[6],
		      long ret)
{
	struct raw_tp_ctx c;

	/* The syscall stubs saved xmm0-15 only; memset may be libc's AVX-512 one (hooks/xstate.h). */
	hook_xstate_save();
	memset(&c, 0, sizeof(c));
	c.regs.orig_ax = (uint64_t)nr;
	c.regs.ax = is_exit ? (uint64_t)ret : (uint64_t)-ENOSYS;
	c.regs.di = args[0];
	c.regs.si = args[1];
	c.regs.dx = args[2];
	c.regs.r10 = args[3];
	c.regs.r8 = args[4];
	c.regs.r9 = args[5];
	c.regs.cs = USER_CS;
	c.regs.ss = USER_DS;
	c.args[0] = (uint64_t)(uintptr_t)&c.regs;
	c.args[1] = is_exit ? (uint64_t)ret : (uint64_t)nr;
	{
		/* bpf_probe_read_kernel() of the pt_regs copy: a memcpy (helpers_proc.c). */
		struct agent_run_ctx *rc = agent_run_ctx();
		const void *old = rc->safe;
		size_t old_sz = rc->safe_sz;

		rc->safe = &c.regs;
		rc->safe_sz = sizeof(c.regs);
		agent_prog_run(p, c.args, NULL, 0, cookie);
		rc->safe = old;
		rc->safe_sz = old_sz;
	}
}
