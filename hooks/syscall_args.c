/*
 * syscall_args.c - the argument registers a syscall ran with, seen from its
 * exit handler.
 *
 * The kernel's sys_exit raw tracepoint hands programs the task's pt_regs,
 * whose di/si/dx/r10/r8/r9 still hold the arguments: the syscall instruction
 * and the kernel's return path preserve every register but rax, rcx and
 * r11 (Intel SDM, SYSCALL/SYSRET; arch/x86/entry/entry_64.S). Our exit stub
 * saves those same registers into its struct hook_sys_frame after the
 * syscall returned (hooks/syscall_stub.c), and hook_sys_exit_c() hands the
 * handler a pointer to the frame's ret field, so the arguments sit at a
 * fixed place before it. Kept apart from the stubs so the hot path is not
 * touched: this is pointer arithmetic on what the handler already has.
 */
#include <stddef.h>

#include "hooks/syscall_int.h"

const unsigned long *hook_syscalls_exit_args(const long *ret)
{
	/* hook_sys_exit_c() passes &f->ret (hooks/syscall_hook.c). */
	const struct hook_sys_frame *f =
		(const struct hook_sys_frame *)(const void *)((const char *)ret - offsetof(struct hook_sys_frame, ret));

	return f->args;
}
