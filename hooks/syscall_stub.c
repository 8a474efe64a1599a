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
 * documented below. Vector/x87 state is saved with XSAVE because the code
 * around a syscall may keep values in xmm/ymm registers (a syscall preserves
 * them) and handlers call libc routines that use AVX.
 *
 * That save dominates the cost of a traced syscall (about 160 of 170 ns on
 * an AVX-512 machine), so there are two paths (Intel SDM vol. 1 ch. 13):
 * - light: when XGETBV(ECX=1) reports that no AVX-family component (AVX,
 *   opmask, ZMM_Hi256, Hi16_ZMM) is in use, i.e. all hold their initial
 *   (zero) values, only the x87/SSE state is saved (FXSAVE). Afterwards it is
 *   restored and the AVX family is put back to its initial state with an
 *   XRSTOR whose XSTATE_BV is 0, so the state is exactly what it was.
 * - full: otherwise XSAVEC (or XSAVE without it) and XRSTOR of everything.
 * Components outside those (PKRU, AMX tiles) are left alone: handlers do
 * not write them. The mode is kept in frame slot 72.
 *
 * enter: in  rax = nr, rdi rsi rdx r10 r8 r9 = args
 *        out rcx = nr (maybe rewritten), r11 = skip flag,
 *            rax = skip ? frame.ret : nr, args reloaded from the frame
 * exit:  in  rax = ret, rcx = nr; out rax = frame.ret (maybe rewritten)
 *
 * Written as top-level asm in a C file so the build needs no assembler
 * configuration (AM_PROG_AS). Calls go through the PLT and data through the
 * GOT so the same object links into executables and the agent .so.
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
	"/* Leaves the mode in frame slot 72 (-8(%rbp)): 1 light, 0 full. */\n"
	".macro SAVE_XSTATE\n"
	"	mov	hook_sys_xsave_sz@GOTPCREL(%rip), %r11\n"
	"	sub	(%r11), %rsp\n"
	"	and	$-64, %rsp\n"
	"	xor	%r11d, %r11d		/* XRSTOR faults unless header bytes 8..63 are zero */\n"
	"	mov	%r11, 512(%rsp)\n"
	"	mov	%r11, 520(%rsp)\n"
	"	mov	%r11, 528(%rsp)\n"
	"	mov	%r11, 536(%rsp)\n"
	"	mov	%r11, 544(%rsp)\n"
	"	mov	%r11, 552(%rsp)\n"
	"	mov	%r11, 560(%rsp)\n"
	"	mov	%r11, 568(%rsp)\n"
	"	mov	hook_sys_light_mask@GOTPCREL(%rip), %r11\n"
	"	mov	(%r11), %r11d\n"
	"	test	%r11d, %r11d\n"
	"	jz	3f\n"
	"	mov	$1, %ecx\n"
	"	xgetbv				/* XINUSE: components not in their initial state */\n"
	"	test	%r11d, %eax\n"
	"	jnz	3f\n"
	"	movq	$1, -8(%rbp)\n"
	"	fxsave64 (%rsp)\n"
	"	jmp	4f\n"
	"3:	movq	$0, -8(%rbp)\n"
	"	mov	$-1, %eax\n"
	"	mov	$-1, %edx\n"
	"	mov	hook_sys_xsavec@GOTPCREL(%rip), %r11\n"
	"	cmpb	$0, (%r11)\n"
	"	je	1f\n"
	"	xsavec64 (%rsp)			/* compacted, skips components in their initial state */\n"
	"	jmp	4f\n"
	"1:	xsave64	(%rsp)\n"
	"4:	lea	-80(%rbp), %rdi\n"
	".endm\n"
	"\n"
	".macro RESTORE_FRAME\n"
	"	cmpq	$0, -8(%rbp)\n"
	"	je	5f\n"
	"	fxrstor64 (%rsp)\n"
	"	/* Put the AVX family back to its initial state, as it was on entry:\n"
	"	 * XSTATE_BV is 0 in the (zeroed) header, so XRSTOR initializes every\n"
	"	 * component in RFBM; it reloads MXCSR from the FXSAVE image. */\n"
	"	mov	hook_sys_light_mask@GOTPCREL(%rip), %r11\n"
	"	mov	(%r11), %eax\n"
	"	xor	%edx, %edx\n"
	"	xrstor64 (%rsp)\n"
	"	jmp	6f\n"
	"5:	mov	$-1, %eax\n"
	"	mov	$-1, %edx\n"
	"	xrstor64 (%rsp)\n"
	"6:	lea	-80(%rbp), %rsp\n"
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
	"	SAVE_XSTATE\n"
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
	"	SAVE_XSTATE\n"
	"	call	hook_sys_exit_c@PLT\n"
	"	RESTORE_FRAME\n"
	"	mov	56(%rsp), %rax\n"
	"	leave\n"
	"	.cfi_def_cfa %rsp, 8\n"
	"	ret\n"
	"	.cfi_endproc\n"
	"	.size	hook_sys_exit_stub, .-hook_sys_exit_stub\n"
);
