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
 * XSAVEC (compacted form, CPUID.(EAX=0DH,ECX=1):EAX[1]) is used when the
 * CPU has it; it skips components in their initial state. That save and
 * restore is most of the cost of a traced syscall (about 160 ns on this
 * AVX-512 VM, where glibc leaves zmm16-31 and the opmask registers in use).
 * A lighter path (FXSAVE, then XRSTOR re-initializing the AVX family, taken
 * when XGETBV(ECX=1) shows no AVX state in use) was tried and measured
 * slower here (FXSAVE+FXRSTOR 75 ns, the re-initializing XRSTOR 88 ns).
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
	"	mov	$-1, %eax\n"
	"	mov	$-1, %edx\n"
	"	xrstor64 (%rsp)\n"
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
