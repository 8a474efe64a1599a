/*
 * hooks_targets.S - probe targets for tests/check_hooks.c and bench/hook_bench.c,
 * written in assembly so that each starts with exactly the instruction the
 * test is about (a compiler would choose its own prologue).
 */
	.text

/* push %rbp prologue: returns a + b. */
	.globl	t_push
	.type	t_push, @function
	.p2align 4
t_push:
	push	%rbp
	mov	%rsp, %rbp
	lea	(%rdi,%rsi), %rax
	pop	%rbp
	ret
	.size	t_push, .-t_push

/* endbr64 first (CET-enabled builds): returns a + 1. */
	.globl	t_endbr
	.type	t_endbr, @function
	.p2align 4
t_endbr:
	endbr64
	push	%rbp
	mov	%rsp, %rbp
	lea	1(%rdi), %rax
	pop	%rbp
	ret
	.size	t_endbr, .-t_endbr

/* 5-byte nop first (what -fpatchable-function-entry / USDT-style sites give): a + 2. */
	.globl	t_nop5
	.type	t_nop5, @function
	.p2align 4
t_nop5:
	.byte	0x0f, 0x1f, 0x44, 0x00, 0x00	/* nopl 0x0(%rax,%rax,1) */
	lea	2(%rdi), %rax
	ret
	.size	t_nop5, .-t_nop5

/* An instruction the kernel single-steps out of line (mov): a + 3. */
	.globl	t_mov
	.type	t_mov, @function
	.p2align 4
t_mov:
	mov	%rdi, %rax
	add	$3, %rax
	ret
	.size	t_mov, .-t_mov

/* RIP-relative load first: t_data + a. */
	.globl	t_riprel
	.type	t_riprel, @function
	.p2align 4
t_riprel:
	mov	t_data(%rip), %rax
	add	%rdi, %rax
	ret
	.size	t_riprel, .-t_riprel

/* RIP-relative operand plus an immediate (disp32 then imm32): t_data == 1000. */
	.globl	t_ripcmp
	.type	t_ripcmp, @function
	.p2align 4
t_ripcmp:
	cmpq	$1000, t_data(%rip)
	je	1f
	xor	%eax, %eax
	ret
1:	mov	$1, %eax
	ret
	.size	t_ripcmp, .-t_ripcmp

/* RIP-relative lea then a store through it: *t_data2 = a; returns a * 2. */
	.globl	t_riplea
	.type	t_riplea, @function
	.p2align 4
t_riplea:
	lea	t_data2(%rip), %rcx
	mov	%rdi, (%rcx)
	lea	(%rdi,%rdi), %rax
	ret
	.size	t_riplea, .-t_riplea

/* A jcc inside the first 5 bytes: a ? a + 1 : 42. */
	.globl	t_jcc
	.type	t_jcc, @function
	.p2align 4
t_jcc:
	test	%rdi, %rdi
	jz	1f
	lea	1(%rdi), %rax
	ret
1:	mov	$42, %eax
	ret
	.size	t_jcc, .-t_jcc

/* A tail call (jmp rel32 is the whole 5 bytes): t_nop5(a) = a + 2. */
	.globl	t_tail
	.type	t_tail, @function
	.p2align 4
t_tail:
	.byte	0xe9			/* jmp rel32 (gas would pick rel8) */
	.long	t_nop5 - . - 4
	.size	t_tail, .-t_tail

/* A call first: t_inc(a) + 10 = a + 11. */
	.globl	t_call
	.type	t_call, @function
	.p2align 4
t_call:
	call	t_inc
	lea	10(%rdi), %rax
	ret
	.size	t_call, .-t_call

	.type	t_inc, @function
	.p2align 4
t_inc:
	lea	1(%rdi), %rdi
	ret
	.size	t_inc, .-t_inc

/* Shorter than 5 bytes: gets an int3. */
	.globl	t_short
	.type	t_short, @function
	.p2align 4
t_short:
	xor	%eax, %eax
	ret
	.size	t_short, .-t_short

/* A short jmp ends the code after 2 bytes: gets an int3. */
	.globl	t_jmp8
	.type	t_jmp8, @function
	.p2align 4
t_jmp8:
	jmp	t_short
	.size	t_jmp8, .-t_jmp8

/*
 * Functions shorter than a jmp, each immediately followed by the next one (no
 * padding): a jmp at t_tiny would cover t_tiny_next's first 2 bytes, one at
 * t_fall (4 bytes, no ret: it falls through into t_fall_next, as hand-written
 * assembly does) t_fall_next's first byte. They must get an int3.
 * t_tiny() = 0, t_tiny_next(x) = x + 1 (5 bytes: a jmp fits),
 * t_fall(x) = 4x + 1, t_fall_next(x) = x + 1 (4 bytes).
 */
	.globl	t_tiny
	.type	t_tiny, @function
	.p2align 4
t_tiny:
	xor	%eax, %eax
	ret
	.size	t_tiny, .-t_tiny

	.globl	t_tiny_next
	.type	t_tiny_next, @function
t_tiny_next:
	lea	1(%rdi), %rax
	ret
	.size	t_tiny_next, .-t_tiny_next

	.globl	t_fall
	.type	t_fall, @function
	.p2align 4
t_fall:
	add	%edi, %edi
	add	%edi, %edi
	.size	t_fall, .-t_fall

	.globl	t_fall_next
	.type	t_fall_next, @function
t_fall_next:
	lea	1(%rdi), %eax
	ret
	.size	t_fall_next, .-t_fall_next

/* A loop instruction cannot be relocated: returns rcx-based garbage, never called. */
	.globl	t_loop
	.type	t_loop, @function
	.p2align 4
t_loop:
1:	loop	1b
	nop
	nop
	nop
	ret
	.size	t_loop, .-t_loop

/* Floating point: x + y, with the sum live in xmm0 across the probe at t_fadd+1. */
	.globl	t_fadd
	.type	t_fadd, @function
	.p2align 4
t_fadd:
	push	%rbp
	mov	%rsp, %rbp
	addsd	%xmm1, %xmm0
	pop	%rbp
	ret
	.size	t_fadd, .-t_fadd

/* Recursive Fibonacci with a frame: fib(0) = 0, fib(1) = 1. */
	.globl	t_fib
	.type	t_fib, @function
	.p2align 4
t_fib:
	push	%rbp
	mov	%rsp, %rbp
	push	%rbx
	push	%r12
	mov	%rdi, %rbx
	cmp	$2, %rdi
	jb	2f
	lea	-1(%rdi), %rdi
	call	t_fib
	mov	%rax, %r12
	lea	-2(%rbx), %rdi
	call	t_fib
	add	%r12, %rax
	jmp	3f
2:	mov	%rdi, %rax
3:	pop	%r12
	pop	%rbx
	pop	%rbp
	ret
	.size	t_fib, .-t_fib

/* A leaf that keeps a value in its red zone across the probed offset t_redzone+8: a + 5. */
	.globl	t_redzone
	.type	t_redzone, @function
	.p2align 4
t_redzone:
	mov	%rdi, -8(%rsp)		/* 5 bytes */
	movq	$5, -16(%rsp)		/* 9 bytes: the probe goes at +5 */
	mov	-8(%rsp), %rax
	add	-16(%rsp), %rax
	ret
	.size	t_redzone, .-t_redzone

/* Signed overflow of a + b, decided by a jo that a probe at t_ovf+6 displaces. */
	.globl	t_ovf
	.type	t_ovf, @function
	.p2align 4
t_ovf:
	mov	%rdi, %rax
	add	%rsi, %rax
	jo	1f
	xor	%eax, %eax
	ret
1:	mov	$1, %eax
	ret
	.size	t_ovf, .-t_ovf

/* Calls fn(arg) from a frame of its own (for longjmp through a uretprobe). */
	.globl	t_invoke
	.type	t_invoke, @function
	.p2align 4
t_invoke:
	push	%rbp
	mov	%rsp, %rbp
	mov	%rdi, %rax
	mov	%rsi, %rdi
	call	*%rax
	pop	%rbp
	ret
	.size	t_invoke, .-t_invoke

/*
 * A USDT-style probe site: a 1-byte nop that odd arguments branch over, to
 * the instruction right after it (what -O2 makes of `if (x) probe();`):
 * t_usdt(a) = a + 8. t_usdt_site is the nop.
 */
	.globl	t_usdt, t_usdt_site
	.type	t_usdt, @function
	.p2align 4
t_usdt:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	1f
t_usdt_site:
	nop
1:	add	$3, %rax
	add	$5, %rax
	ret
	.size	t_usdt, .-t_usdt

/*
 * A USDT-style site nothing branches into: odd arguments branch over the nop
 * and the add after it, to site + 5, exactly the end of the 5 bytes a jmp
 * covers (nop + 4-byte add). t_usdt_jmp(a) = a + 5, + 3 for even a.
 */
	.globl	t_usdt_jmp, t_usdt_jmp_site
	.type	t_usdt_jmp, @function
	.p2align 4
t_usdt_jmp:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	1f
t_usdt_jmp_site:
	nop
	add	$3, %rax
1:	add	$5, %rax
	ret
	.size	t_usdt_jmp, .-t_usdt_jmp

/*
 * A func+offset site (t_inner_site = t_inner + 2) whose loop head is 3 bytes
 * in, inside the 7 bytes a jmp would cover: t_inner(a) = a for a >= 1.
 */
	.globl	t_inner, t_inner_site
	.type	t_inner, @function
	.p2align 4
t_inner:
	xor	%eax, %eax
t_inner_site:
	mov	%rdi, %rcx
1:	add	$1, %rax
	sub	$1, %rcx
	jnz	1b
	ret
	.size	t_inner, .-t_inner

/* A function entry that a loop branches back to at +2: t_entryloop(a) = a for a >= 1. */
	.globl	t_entryloop
	.type	t_entryloop, @function
	.p2align 4
t_entryloop:
	xor	%eax, %eax
1:	add	$1, %rax
	sub	$1, %rdi
	jnz	1b
	ret
	.size	t_entryloop, .-t_entryloop

/*
 * A jump table (position independent, as -O2 -fPIE emits switch): 0 -> 10,
 * 1 -> 20, 2 -> 30, anything else -> -1. t_switch_site is the lea after the
 * range check: no direct branch targets it, but the indirect jmp could.
 */
	.globl	t_switch, t_switch_site
	.type	t_switch, @function
	.p2align 4
t_switch:
	cmp	$2, %rdi
	ja	9f
t_switch_site:
	lea	8f(%rip), %rdx
	movslq	(%rdx,%rdi,4), %rax
	add	%rdx, %rax
	jmp	*%rax
10:	mov	$10, %eax
	ret
11:	mov	$20, %eax
	ret
12:	mov	$30, %eax
	ret
9:	mov	$-1, %rax
	ret
	.size	t_switch, .-t_switch
	.section .rodata
	.p2align 2
8:	.long	10b - 8b, 11b - 8b, 12b - 8b
	.text

/*
 * Hot/cold splitting, as GCC's -freorder-blocks-and-partition emits it: the
 * parent jumps to its foo.cold part, which jumps back into the parent's
 * middle. t_split: odd a -> a + 110, a & 2 -> a + 10 (the parent jumps into
 * the cold part's middle, 4 bytes after t_split_cold_site), else a + 1.
 * t_split2: the same without the jump into the middle (odd a -> a + 110,
 * else a + 1). t_split3: like t_split, but its cold part returns instead of
 * jumping back, so nothing names its parent.
 */
	.globl	t_split, t_split_cold_site
	.type	t_split, @function
	.p2align 4
t_split:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	t_split.cold
	test	$2, %dil
	jnz	t_split_cold_in
	add	$1, %rax
9:	ret
	.size	t_split, .-t_split
	.type	t_split.cold, @function
t_split.cold:
t_split_cold_site:
	add	$100, %rax
t_split_cold_in:
	add	$10, %rax
	jmp	9b
	.size	t_split.cold, .-t_split.cold

	.globl	t_split2, t_split2_cold_site
	.type	t_split2, @function
	.p2align 4
t_split2:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	t_split2.cold
	add	$1, %rax
9:	ret
	.size	t_split2, .-t_split2
	.type	t_split2.cold, @function
t_split2.cold:
t_split2_cold_site:
	add	$100, %rax
	add	$10, %rax
	jmp	9b
	.size	t_split2.cold, .-t_split2.cold

	.globl	t_split3, t_split3_cold_site
	.type	t_split3, @function
	.p2align 4
t_split3:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	t_split3.cold
	test	$2, %dil
	jnz	t_split3_cold_in
	add	$1, %rax
	ret
	.size	t_split3, .-t_split3
	.type	t_split3.cold, @function
t_split3.cold:
t_split3_cold_site:
	add	$100, %rax
t_split3_cold_in:
	add	$10, %rax
	ret
	.size	t_split3.cold, .-t_split3.cold

/*
 * Code shared between neighbours, as hand-written assembly does (glibc's
 * mempcpy jumps to memcpy+3): t_nb_pre(a) = 2a + 7 jumps into t_nb's middle
 * (t_nb + 3, inside the bytes an entry jmp would cover); t_nb(a) = a + 7.
 */
	.globl	t_nb_pre, t_nb
	.type	t_nb_pre, @function
	.p2align 4
t_nb_pre:
	mov	%rdi, %rax
	add	%rdi, %rax
	jmp	1f
	.size	t_nb_pre, .-t_nb_pre
	.type	t_nb, @function
t_nb:
	mov	%rdi, %rax
1:	add	$7, %rax
	ret
	.size	t_nb, .-t_nb

	.data
	.globl	t_data, t_data2, t_sema
	.p2align 3
t_data:	.quad	1000
t_data2: .quad	0
t_sema:	.short	0

/*
 * Unprobed twins of t_push, t_nop5 and t_mov, byte for byte: the benchmarks
 * (bench/timing.h) time a probed function against its twin in alternating
 * batches, so machine load hits both sides alike.
 */
	.text
	.globl	t_push_twin
	.type	t_push_twin, @function
	.p2align 4
t_push_twin:
	push	%rbp
	mov	%rsp, %rbp
	lea	(%rdi,%rsi), %rax
	pop	%rbp
	ret
	.size	t_push_twin, .-t_push_twin

	.globl	t_nop5_twin
	.type	t_nop5_twin, @function
	.p2align 4
t_nop5_twin:
	.byte	0x0f, 0x1f, 0x44, 0x00, 0x00
	lea	2(%rdi), %rax
	ret
	.size	t_nop5_twin, .-t_nop5_twin

	.globl	t_mov_twin
	.type	t_mov_twin, @function
	.p2align 4
t_mov_twin:
	mov	%rdi, %rax
	add	$3, %rax
	ret
	.size	t_mov_twin, .-t_mov_twin

/* Twins of t_usdt and t_usdt_jmp (same bytes, no site label). */
	.globl	t_usdt_twin
	.type	t_usdt_twin, @function
	.p2align 4
t_usdt_twin:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	1f
	nop
1:	add	$3, %rax
	add	$5, %rax
	ret
	.size	t_usdt_twin, .-t_usdt_twin

	.globl	t_usdt_jmp_twin
	.type	t_usdt_jmp_twin, @function
	.p2align 4
t_usdt_jmp_twin:
	mov	%rdi, %rax
	test	$1, %dil
	jnz	1f
	nop
	add	$3, %rax
1:	add	$5, %rax
	ret
	.size	t_usdt_jmp_twin, .-t_usdt_jmp_twin

	.section .note.GNU-stack, "", @progbits
