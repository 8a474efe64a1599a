/*
 * syscall_int.h - shared by hooks/syscall_*.c only: the register frame the
 * stubs build, the flag table the trampolines test, and the site scanner's
 * output.
 */
#ifndef HOOKS_SYSCALL_INT_H
#define HOOKS_SYSCALL_INT_H

#include <stddef.h>
#include <stdint.h>

#include "hooks/syscall.h"

/*
 * Built on the stack by hook_sys_enter_stub / hook_sys_exit_stub
 * (hooks/syscall_stub.S); offsets are used by the assembly.
 *
 * OFFSET SIZE
 *      0    8  nr      rax at entry (enter), rcx (exit); enter may rewrite it
 *      8   48  args    rdi rsi rdx r10 r8 r9
 *     56    8  ret     exit: rax; enter: value returned when skipping
 *     64    8  skip    enter: HOOK_SYS_RUN/HOOK_SYS_SKIP
 */
struct hook_sys_frame {
	long nr;
	unsigned long args[6];
	long ret;
	long skip;
};
_Static_assert(offsetof(struct hook_sys_frame, args) == 8, "stub layout");
_Static_assert(offsetof(struct hook_sys_frame, ret) == 56, "stub layout");
_Static_assert(offsetof(struct hook_sys_frame, skip) == 64, "stub layout");
_Static_assert(sizeof(struct hook_sys_frame) == 72, "stub layout");

/* Per syscall number: HOOK_SYS_ENTER | HOOK_SYS_EXIT. Read by trampolines without locks. */
extern uint8_t hook_sys_flags[HOOK_SYS_NR_MAX];

/* Called by the stubs. */
void hook_sys_enter_c(struct hook_sys_frame *f);
void hook_sys_exit_c(struct hook_sys_frame *f);
void hook_sys_enter_stub(void);
void hook_sys_exit_stub(void);

/*
 * One patchable site. Either the instruction before `syscall` is displaced
 * (pre_len >= 5, addr = that instruction, the syscall stays in place), or
 * the syscall and the instruction after it are (post_len >= 3, addr = the
 * syscall). The trampoline runs pre code, the syscall logic, post code, then
 * jumps to back.
 */
struct hook_sys_site {
	uintptr_t addr;  /* where the 5-byte jmp goes */
	uintptr_t back;  /* first byte after everything displaced */
	uint8_t len;     /* bytes overwritten at addr (5 + nop padding) */
	uint8_t pre_len, post_len;
	uint8_t pre[15], post[15];
	int nr;          /* constant syscall number (mov $nr,%eax before it), or -1 */
	uintptr_t tramp; /* its trampoline once patched, else 0 */
};

struct hook_sys_object {
	const char *name;
	uintptr_t lo, hi;   /* executable range */
	const void *eh;     /* its .eh_frame_hdr (PT_GNU_EH_FRAME), or NULL */
	struct hook_sys_site *sites;
	unsigned int site_cnt, site_cap;
	unsigned int found;  /* syscall instructions at instruction boundaries */
	unsigned int unsafe; /* left alone: other threads ran and no atomic store fits */
};

/* hooks/syscall_scan.c: fill @obj->sites for the executable range. */
int hook_sys_scan(struct hook_sys_object *obj, const void *eh_frame_hdr);

/* hooks/syscall_tramp.c */
#define HOOK_SYS_TRAMP_MAX 1024 /* bytes a trampoline may take, upper bound */
size_t hook_sys_tramp_emit(uint8_t *buf, uintptr_t at, const struct hook_sys_site *s);
int hook_sys_tramp_patch_object(struct hook_sys_object *obj, unsigned int *patched,
				unsigned int *unreachable);

#endif /* HOOKS_SYSCALL_INT_H */
