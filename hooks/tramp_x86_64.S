/*
 * tramp_x86_64.S - the register save/restore shared by every probe site: it
 * builds a kernel-layout struct pt_regs (arch/x86/include/asm/ptrace.h; see
 * hooks/hooks.h) on the stack, calls the C dispatcher, and resumes.
 *
 * Entry (hook_tramp_entry) is reached from a site's stub (hooks_int.h, slot
 * layout) with the red zone already stepped over and the stub's resume address
 * on top of the stack:
 *
 *   orig_sp - 128 .. orig_sp    the probed code's red zone (never written)
 *   orig_sp - 136               resume address in the stub (site at -27 from it)
 *   orig_sp - 144               saved rflags (pushfq)
 *   orig_sp - 312               struct pt_regs (168 bytes)
 *
 * No vector register is saved here: the C dispatcher and the agent's BPF
 * run path use none (general-regs-only), and what a handler may touch is
 * saved in C, only when needed (hooks/xstate.c; hook_dispatch_entry()).
 *
 * The fast path restores the flags without popfq (RESTORE_FLAGS) and returns
 * into the stub, which restores rsp and runs the displaced instructions. When the dispatcher returns non-zero
 * the handler moved ip or sp: we then store rflags and ip just below the new
 * sp (new sp >= orig sp, so below its red zone and above our frame), load all
 * registers, switch rsp with one load, popfq and `ret $128`.
 *
 * Return (hook_tramp_ret) is where hijacked return addresses point. It keeps a
 * slot for the real return address (returned by hook_dispatch_ret()), builds
 * pt_regs the same way and jumps through that slot. Only xmm0/xmm1 (the
 * SysV return registers) are live there.
 *
 * The C code is plain SysV: rdi = regs, rsi = site; we align rsp to 16 and keep
 * the frame in rbp, which is saved in pt_regs like every other register.
 */
	/* The engine's hit-path section (HOOK_HOT in hooks_int.h). */
	.section bpftime_hooks_text, "ax", @progbits

.macro SAVE_GPRS
	mov	%r15, 0(%rsp)
	mov	%r14, 8(%rsp)
	mov	%r13, 16(%rsp)
	mov	%r12, 24(%rsp)
	mov	%rbp, 32(%rsp)
	mov	%rbx, 40(%rsp)
	mov	%r11, 48(%rsp)
	mov	%r10, 56(%rsp)
	mov	%r9, 64(%rsp)
	mov	%r8, 72(%rsp)
	mov	%rax, 80(%rsp)
	mov	%rcx, 88(%rsp)
	mov	%rdx, 96(%rsp)
	mov	%rsi, 104(%rsp)
	mov	%rdi, 112(%rsp)
	movq	$-1, 120(%rsp)		/* orig_ax: -1 as for an int3 trap */
	movq	$0x33, 136(%rsp)	/* cs: __USER_CS */
	movq	$0x2b, 160(%rsp)	/* ss: __USER_DS */
	mov	168(%rsp), %rax		/* rflags pushed just above pt_regs */
	mov	%rax, 144(%rsp)
.endm

/*
 * Arithmetic flags and DF from pt_regs->flags, without popfq (microcoded and
 * slow, ~15 cycles): sahf loads SF ZF AF PF CF, an add sets OF, std sets DF
 * (we ran the handler with cld). Other bits (TF, AC, ...) are never changed
 * by our code, so they still hold the probed code's values. Clobbers rax;
 * call before LOAD_GPRS.
 */
.macro RESTORE_FLAGS
	testl	$0x400, 144(%rsp)
	jz	1f
	std
1:
	movzbl	145(%rsp), %eax		/* flags bits 8..15; OF is bit 11 */
	shr	$3, %eax
	and	$1, %eax
	add	$0x7f, %al		/* 1 + 0x7f overflows: OF = saved OF */
	movb	144(%rsp), %ah
	sahf
.endm

/* Everything except rsp, from the pt_regs at (%rsp). */
.macro LOAD_GPRS
	mov	0(%rsp), %r15
	mov	8(%rsp), %r14
	mov	16(%rsp), %r13
	mov	24(%rsp), %r12
	mov	32(%rsp), %rbp
	mov	40(%rsp), %rbx
	mov	48(%rsp), %r11
	mov	56(%rsp), %r10
	mov	64(%rsp), %r9
	mov	72(%rsp), %r8
	mov	80(%rsp), %rax
	mov	88(%rsp), %rcx
	mov	96(%rsp), %rdx
	mov	104(%rsp), %rsi
	mov	112(%rsp), %rdi
.endm

	.globl	hook_tramp_entry
	.hidden	hook_tramp_entry
	.type	hook_tramp_entry, @function
	.p2align 4
hook_tramp_entry:
	pushfq
	lea	-168(%rsp), %rsp
	SAVE_GPRS
	lea	312(%rsp), %rax
	mov	%rax, 152(%rsp)		/* sp: the probed code's rsp */
	mov	176(%rsp), %rsi		/* resume address in the stub */
	mov	-27(%rsi), %rsi		/* HOOK_SLOT_SITE_OFF - HOOK_SLOT_RESUME_OFF */
	cld				/* SysV: DF clear on function entry */
	mov	%rsp, %rdi
	mov	%rsp, %rbp
	and	$-16, %rsp
	call	hook_dispatch_entry
	mov	%rbp, %rsp
	test	%eax, %eax
	jnz	2f
	RESTORE_FLAGS			/* as the handler left them */
	LOAD_GPRS
	lea	176(%rsp), %rsp		/* skip the pushed rflags */
	ret				/* to the stub's resume code */
2:
	mov	152(%rsp), %rax		/* new sp (>= orig sp, checked in C) */
	mov	128(%rsp), %rcx
	mov	%rcx, -136(%rax)	/* ip, below the new red zone */
	mov	144(%rsp), %rcx
	mov	%rcx, -144(%rax)	/* rflags */
	lea	-144(%rax), %rax
	mov	%rax, 120(%rsp)		/* orig_ax slot is free now */
	LOAD_GPRS
	mov	120(%rsp), %rsp
	popfq
	ret	$128
	.size	hook_tramp_entry, .-hook_tramp_entry

	.globl	hook_tramp_ret
	.hidden	hook_tramp_ret
	.type	hook_tramp_ret, @function
	.p2align 4
hook_tramp_ret:
	lea	-8(%rsp), %rsp		/* slot for the real return address */
	pushfq
	lea	-168(%rsp), %rsp
	SAVE_GPRS
	lea	184(%rsp), %rax
	mov	%rax, 152(%rsp)		/* sp after the return */
	cld
	mov	%rsp, %rdi
	mov	%rsp, %rbp
	lea	-32(%rsp), %rsp
	and	$-16, %rsp
	movaps	%xmm0, 0(%rsp)
	movaps	%xmm1, 16(%rsp)
	call	hook_dispatch_ret
	movaps	0(%rsp), %xmm0
	movaps	16(%rsp), %xmm1
	mov	%rbp, %rsp
	mov	%rax, 176(%rsp)		/* where to return */
	RESTORE_FLAGS
	LOAD_GPRS
	/*
	 * An indirect jmp, not ret: the return stack is already off by one
	 * after the hijacked ret, and a ret would mispredict again. The slot
	 * at -8 is inside the red zone, which signal delivery skips, and the
	 * caller keeps nothing there across a call.
	 */
	lea	184(%rsp), %rsp
	jmp	*-8(%rsp)
	.size	hook_tramp_ret, .-hook_tramp_ret

	.section .note.GNU-stack, "", @progbits
