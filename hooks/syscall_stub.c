/*
 * syscall_stub.c - the two out-of-line stubs a syscall trampoline calls when
 * a syscall is traced: save what a C call may clobber, build a
 * struct hook_sys_frame (hooks/syscall_int.h), call hook_sys_enter_c() /
 * hook_sys_exit_c(), restore.
 *
 * Entry contract (set up by the trampoline, hooks/syscall_tramp.c): the
 * caller has already moved %rsp below the 128-byte red zone (System V x86-64
 * ABI §3.2.2) and called us, so our pushes never clobber the interrupted
 * code's red zone. rcx and r11 are free: the syscall instruction clobbers
 * them anyway (Intel SDM, SYSCALL). All other general registers are
 * preserved, except that enter returns rax/rcx/r11 and exit returns rax as
 * documented below. xmm0-15 are saved here with 16 movaps each way: the
 * code around a syscall may keep values in them (a syscall preserves them)
 * and our C code, built without -mavx, uses them. Everything wider (ymm,
 * zmm, opmasks) is saved only when a handler is about to call something
 * that may touch it (hooks/xstate.c, armed by hook_sys_enter_c() and
 * hook_sys_exit_c()).
 *
 * This replaced an XSAVEC/XRSTOR of the whole state around every traced
 * syscall, which was most of the cost of one (about 160 ns on this AVX-512
 * VM, whatever the requested-feature mask).
 */
#include "hooks/syscall_int.h"

__asm__(
	"	.text\n"
	"\n"
	".macro SAVE_GPRS\n"
	"	push	%rbp\n"
	"	.cfi_def_cfa_offset 16\n"
	"	.cfi_offset %rbp, -16\n"
	"	mov	%rsp, %rbp\n"
	"	.cfi_def_cfa_register %rbp\n"
	"	sub	$80, %rsp\n"
	"	mov	%rdi, 8(%rsp)\n"
	"	mov	%rsi, 16(%rsp)\n"
	"	mov	%rdx, 24(%rsp)\n"
	"	mov	%r10, 32(%rsp)\n"
	"	mov	%r8, 40(%rsp)\n"
	"	mov	%r9, 48(%rsp)\n"
	"	movq	$0, 64(%rsp)\n"
	".endm\n"
	"\n"
	".macro SAVE_XMM\n"
	"	sub	$256, %rsp\n"
	"	and	$-16, %rsp		/* SysV: 16-byte aligned at the call below */\n"
	"	movaps	%xmm0, 0(%rsp)\n"
	"	movaps	%xmm1, 16(%rsp)\n"
	"	movaps	%xmm2, 32(%rsp)\n"
	"	movaps	%xmm3, 48(%rsp)\n"
	"	movaps	%xmm4, 64(%rsp)\n"
	"	movaps	%xmm5, 80(%rsp)\n"
	"	movaps	%xmm6, 96(%rsp)\n"
	"	movaps	%xmm7, 112(%rsp)\n"
	"	movaps	%xmm8, 128(%rsp)\n"
	"	movaps	%xmm9, 144(%rsp)\n"
	"	movaps	%xmm10, 160(%rsp)\n"
	"	movaps	%xmm11, 176(%rsp)\n"
	"	movaps	%xmm12, 192(%rsp)\n"
	"	movaps	%xmm13, 208(%rsp)\n"
	"	movaps	%xmm14, 224(%rsp)\n"
	"	movaps	%xmm15, 240(%rsp)\n"
	"	lea	-80(%rbp), %rdi\n"
	".endm\n"
	"\n"
	".macro RESTORE_FRAME\n"
	"	movaps	0(%rsp), %xmm0\n"
	"	movaps	16(%rsp), %xmm1\n"
	"	movaps	32(%rsp), %xmm2\n"
	"	movaps	48(%rsp), %xmm3\n"
	"	movaps	64(%rsp), %xmm4\n"
	"	movaps	80(%rsp), %xmm5\n"
	"	movaps	96(%rsp), %xmm6\n"
	"	movaps	112(%rsp), %xmm7\n"
	"	movaps	128(%rsp), %xmm8\n"
	"	movaps	144(%rsp), %xmm9\n"
	"	movaps	160(%rsp), %xmm10\n"
	"	movaps	176(%rsp), %xmm11\n"
	"	movaps	192(%rsp), %xmm12\n"
	"	movaps	208(%rsp), %xmm13\n"
	"	movaps	224(%rsp), %xmm14\n"
	"	movaps	240(%rsp), %xmm15\n"
	"	lea	-80(%rbp), %rsp\n"
	"	mov	8(%rsp), %rdi\n"
	"	mov	16(%rsp), %rsi\n"
	"	mov	24(%rsp), %rdx\n"
	"	mov	32(%rsp), %r10\n"
	"	mov	40(%rsp), %r8\n"
	"	mov	48(%rsp), %r9\n"
	".endm\n"
	"\n"
	"	.globl	hook_sys_enter_stub\n"
	"	.type	hook_sys_enter_stub, @function\n"
	"hook_sys_enter_stub:\n"
	"	.cfi_startproc\n"
	"	SAVE_GPRS\n"
	"	mov	%rax, 0(%rsp)		/* frame.nr */\n"
	"	mov	%rax, 56(%rsp)		/* frame.ret: a skip that sets no value returns nr */\n"
	"	SAVE_XMM\n"
	"	call	hook_sys_enter_c@PLT\n"
	"	RESTORE_FRAME\n"
	"	mov	0(%rsp), %rcx\n"
	"	mov	64(%rsp), %r11\n"
	"	mov	%rcx, %rax\n"
	"	test	%r11, %r11\n"
	"	cmovnz	56(%rsp), %rax\n"
	"	leave\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	hook_sys_enter_stub, .-hook_sys_enter_stub\n"
	"\n"
	"	.globl	hook_sys_exit_stub\n"
	"	.type	hook_sys_exit_stub, @function\n"
	"hook_sys_exit_stub:\n"
	"	.cfi_startproc\n"
	"	SAVE_GPRS\n"
	"	mov	%rcx, 0(%rsp)		/* frame.nr */\n"
	"	mov	%rax, 56(%rsp)		/* frame.ret */\n"
	"	SAVE_XMM\n"
	"	call	hook_sys_exit_c@PLT\n"
	"	RESTORE_FRAME\n"
	"	mov	56(%rsp), %rax\n"
	"	leave\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	hook_sys_exit_stub, .-hook_sys_exit_stub\n"
);
