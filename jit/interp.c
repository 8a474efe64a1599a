/*
 * interp.c - the interpreter: runs the pre-decoded array jit/prog.c built.
 *
 * Dispatch is computed goto ("labels as values"), as in ___bpf_prog_run()
 * in kernel/bpf/core.c: the label table is generated from JIT_OPCODES() in
 * jit/opcodes.h, so a form without a handler does not compile. It is
 * direct-threaded: the loader stores each slot's handler address in the slot,
 * so dispatch is one load and one indirect jump. A few superinstructions
 * (widening idioms, "rX = rY; rX += k", add + conditional jump; see
 * pinsn_fuse() in jit/prog.c) cut dispatches and indirect-branch misses in
 * the code clang emits for loops, and bpf_map_lookup_elem on an array runs
 * inline when the loader proved which map it reads (pinsn_inline_lookups(),
 * the kernel's map_gen_lookup). Each handler
 * does its work and jumps straight to the next one; there is no bounds,
 * opcode or field check in the loop, because jit_decode_prog() proved at
 * load that every jump lands on an instruction, every subprogram ends in
 * exit, and every field is valid. What remains at run time is what only
 * values decide: division by a register that is 0 or -1, callx's register,
 * the depth of local calls after a tail call, and whether a legacy packet
 * load (LD_ABS/LD_IND) falls inside the packet (the embedder's hook says).
 *
 * Semantics are RFC 9669's (cited per handler group). Memory accesses go
 * through memcpy() so unaligned addresses are defined behaviour (one mov on
 * x86-64); atomics use __atomic builtins, which are lock-free and
 * address-free for 4 and 8 bytes and therefore correct on memory shared
 * between processes. Memory safety is the verifier's business: like the
 * kernel's interpreter, this code dereferences what the program computes.
 *
 * Each run has its own registers and stack: (JIT_MAX_CALL_DEPTH + 1) frames
 * of JIT_STACK_SZ bytes on the host stack (4.5 KiB), r10 pointing to the top
 * of the current frame. The stack is not cleared, as in the kernel; reading
 * uninitialised stack is for the verifier to refuse.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/log.h"
#include "jit/jit_int.h"

/*
 * No SSE in this file: the interpreter runs on probe hit paths where the
 * agent has saved no vector register (hooks/xstate.h); helpers save them
 * before touching any. BPF has no floating point, so nothing is lost.
 * Not under AddressSanitizer: gcc 12 with -fsanitize=address,undefined and
 * general-regs-only produced a wrong interpreter here (jumps and atomics
 * of tests/check_jit.c failed); that build is never preloaded into a traced
 * process (its e2e tests skip), so it needs no vector-clean hit path.
 */
#ifndef __SANITIZE_ADDRESS__
#pragma GCC target("general-regs-only")
#endif

/*
 * initial-exec: read on every run and every helper that needs the run, so
 * it must not cost a __tls_get_addr() call when libjit is linked into the
 * agent .so. The agent is loaded by LD_PRELOAD (static TLS), never dlopen()ed;
 * every other user of libjit is an executable.
 */
static __thread struct jit_run *run_current __attribute__((tls_model("initial-exec")));

struct jit_run *jit_run_current(void)
{
	return run_current;
}

int jit_run_stop(uint64_t r0)
{
	struct jit_run *run = run_current;

	if (!run)
		return -ESRCH;
	run->stop = 1;
	run->stop_r0 = r0;
	return 0;
}

/* What a local call saves: RFC 9669 §4.3.1, r6-r9 are callee-saved, and the
 * callee gets a fresh frame (r10 moves down one frame). */
struct frame {
	const struct jit_pinsn *ret;
	const struct jit_prog *prog; /* differs from the callee's after a tail call */
	uint64_t r6, r7, r8, r9;
};

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* 64-bit division is slower than 32-bit on many x86 cores; when both
 * operands fit in 32 bits (common: clang without ALU32 widens u32 math to
 * 64 bits) the handlers use the 32-bit instruction, as clang's "bypass slow
 * division" does. The result is the same either way. */
#define NARROW(a, b) ((((a) | (b)) >> 32) == 0)

/* Loads and stores of any alignment. */
#define LOAD(type, addr)                                                                           \
	({                                                                                         \
		type v_;                                                                           \
		memcpy(&v_, (const void *)(uintptr_t)(addr), sizeof(v_));                          \
		v_;                                                                                \
	})
#define STORE(type, addr, val)                                                                     \
	do {                                                                                       \
		type v_ = (type)(val);                                                             \
		memcpy((void *)(uintptr_t)(addr), &v_, sizeof(v_));                                \
	} while (0)

static const void *const *handlers;

const void *const *jit_interp_handlers(void)
{
	/* Computed-goto labels exist only inside their function: ask it. */
	if (!__atomic_load_n(&handlers, __ATOMIC_ACQUIRE))
		jit_interp_run(NULL, 0, 0, NULL);
	return handlers;
}

/*
 * Run @p from @entry with r1..r5 = @args[0..4] on a fresh stack, as the run
 * @run (filled by the caller: prog, ctx, tail_call_cnt, depth, prev). A
 * top-level run starts at depth 0; a callback (jit_callback_call()) one frame
 * below its caller's frames, so the local calls it may still make are
 * JIT_MAX_CALL_DEPTH - run->depth. @p NULL only publishes the handler table.
 */
static int interp(const struct jit_prog *p, const struct jit_pinsn *entry, const uint64_t *args,
		  struct jit_run *run, uint64_t *r0)
{
	static const void *const labels[JIT_IOP__CNT] = {
#define X(N, ...) [JIT_OP_##N] = &&op_##N,
		JIT_OPCODES(X)
#undef X
		[JIT_IOP_LDDW_HI] = &&op_LDDW_HI,
		[JIT_IOP_TAIL_CALL] = &&op_TAIL_CALL,
		[JIT_IOP_ZEXT32_2] = &&op_ZEXT32_2,
		[JIT_IOP_SEXT32_2] = &&op_SEXT32_2,
		[JIT_IOP_MOV_ZEXT32_3] = &&op_MOV_ZEXT32_3,
		[JIT_IOP_MOV_SEXT32_3] = &&op_MOV_SEXT32_3,
		[JIT_IOP_MOV_ADD_2] = &&op_MOV_ADD_2,
		[JIT_IOP_ARRAY_LOOKUP] = &&op_ARRAY_LOOKUP,
		[JIT_IOP_PERCPU_ARRAY_LOOKUP] = &&op_PERCPU_ARRAY_LOOKUP,
		[JIT_IOP_LD_ARRAY_LOOKUP] = &&op_LD_ARRAY_LOOKUP,
		[JIT_IOP_LD_PERCPU_ARRAY_LOOKUP] = &&op_LD_PERCPU_ARRAY_LOOKUP,
		[JIT_IOP_MOV_THEN_EXIT] = &&op_MOV_THEN_EXIT,
		[JIT_IOP_MOV_THEN_ATOMIC_ADD64] = &&op_MOV_THEN_ATOMIC_ADD64,
		[JIT_IOP_MOV_THEN_ATOMIC_ADD32] = &&op_MOV_THEN_ATOMIC_ADD32,
#define X(N) [JIT_IOP_ADD_THEN_##N] = &&op_ADD_THEN_##N,
		JIT_FUSE_JCC(X)
#undef X
#define X(N) [JIT_IOP_ADD32_THEN_##N] = &&op_ADD32_THEN_##N,
		JIT_FUSE_JCC32(X)
#undef X
	};
	uint8_t stack[(JIT_MAX_CALL_DEPTH + 1) * JIT_STACK_SZ] __attribute__((aligned(16)));
	struct frame frames[JIT_MAX_CALL_DEPTH];
	const struct jit_prog *cur = p;
	const struct jit_pinsn *pc;
	uint64_t reg[11];
	unsigned int depth = 0, max_depth;
	int err = 0;

	if (unlikely(!p)) {
		/* Pairs with the acquire load in jit_interp_handlers(). */
		__atomic_store_n(&handlers, labels, __ATOMIC_RELEASE);
		return 0;
	}
	max_depth = JIT_MAX_CALL_DEPTH - run->depth;
	pc = entry;

	/* One store each: "reg[11] = { 0 }" compiles to rep stos, whose start-up
	 * cost was a third of an empty program's run (bench/README-agent.md). */
	reg[0] = 0;
	reg[1] = args[0];
	reg[2] = args[1];
	reg[3] = args[2];
	reg[4] = args[3];
	reg[5] = args[4];
	reg[6] = 0;
	reg[7] = 0;
	reg[8] = 0;
	reg[9] = 0;
	reg[10] = (uint64_t)(uintptr_t)(stack + sizeof(stack));
	run_current = run;

#define DST reg[pc->dst]
#define SRC reg[pc->src]
#define DST32 ((uint32_t)reg[pc->dst])
#define SRC32 ((uint32_t)reg[pc->src])
#define IMM ((int64_t)pc->imm)
#define IMM32 ((uint32_t)pc->imm)
#define DISPATCH() goto *pc->h
#define NEXT()                                                                                     \
	do {                                                                                       \
		pc++;                                                                              \
		DISPATCH();                                                                        \
	} while (0)
#define JUMP_IF(cond)                                                                              \
	do {                                                                                       \
		pc += (cond) ? pc->off + 1 : 1;                                                    \
		DISPATCH();                                                                        \
	} while (0)

	DISPATCH();

	/* ALU64 and ALU32, RFC 9669 §4.1. ALU32 works on the low halves and
	 * zero-extends the result into the upper 32 bits. */
#define ALU(N, OP)                                                                                 \
	op_##N##64_IMM : DST = DST OP(uint64_t) IMM;                                               \
	NEXT();                                                                                    \
	op_##N##64_REG : DST = DST OP SRC;                                                         \
	NEXT();                                                                                    \
	op_##N##32_IMM : DST = (uint32_t)(DST32 OP IMM32);                                         \
	NEXT();                                                                                    \
	op_##N##32_REG : DST = (uint32_t)(DST32 OP SRC32);                                         \
	NEXT();
	ALU(ADD, +)
	ALU(SUB, -)
	ALU(MUL, *)
	ALU(OR, |)
	ALU(AND, &)
	ALU(XOR, ^)
#undef ALU

	/* Shifts: the K forms were masked at load; the X forms mask here. */
op_LSH64_IMM:
	DST <<= IMM;
	NEXT();
op_LSH64_REG:
	DST <<= SRC & 63;
	NEXT();
op_LSH32_IMM:
	DST = (uint32_t)(DST32 << IMM);
	NEXT();
op_LSH32_REG:
	DST = (uint32_t)(DST32 << (SRC & 31));
	NEXT();
op_RSH64_IMM:
	DST >>= IMM;
	NEXT();
op_RSH64_REG:
	DST >>= SRC & 63;
	NEXT();
op_RSH32_IMM:
	DST = DST32 >> IMM;
	NEXT();
op_RSH32_REG:
	DST = DST32 >> (SRC & 31);
	NEXT();
	/* Arithmetic right shift of a negative value is implementation-defined
	 * in C; gcc and clang define it as sign-propagating. */
op_ARSH64_IMM:
	DST = (uint64_t)((int64_t)DST >> IMM);
	NEXT();
op_ARSH64_REG:
	DST = (uint64_t)((int64_t)DST >> (SRC & 63));
	NEXT();
op_ARSH32_IMM:
	DST = (uint32_t)((int32_t)DST32 >> IMM);
	NEXT();
op_ARSH32_REG:
	DST = (uint32_t)((int32_t)DST32 >> (SRC & 31));
	NEXT();

	/* Division: K forms with 0 or -1 were rewritten at load (jit/prog.c). */
op_DIV64_IMM:
	if (likely(NARROW(DST, (uint64_t)IMM)))
		DST = DST32 / IMM32;
	else
		DST = DST / (uint64_t)IMM;
	NEXT();
op_DIV32_IMM:
	DST = DST32 / IMM32;
	NEXT();
op_DIV64_REG:
	if (likely(NARROW(DST, SRC)))
		DST = SRC32 ? DST32 / SRC32 : 0;
	else
		DST = SRC ? DST / SRC : 0;
	NEXT();
op_DIV32_REG:
	DST = SRC32 ? DST32 / SRC32 : 0;
	NEXT();
op_MOD64_IMM:
	if (likely(NARROW(DST, (uint64_t)IMM)))
		DST = DST32 % IMM32;
	else
		DST = DST % (uint64_t)IMM;
	NEXT();
op_MOD32_IMM:
	DST = DST32 % IMM32;
	NEXT();
op_MOD64_REG:
	if (likely(NARROW(DST, SRC)))
		DST = SRC32 ? DST32 % SRC32 : DST;
	else
		DST = SRC ? DST % SRC : DST;
	NEXT();
op_MOD32_REG:
	DST = SRC32 ? DST32 % SRC32 : DST32;
	NEXT();
	/* sdiv/smod truncate toward zero, as C does; INT_MIN / -1 (which traps
	 * on x86) is INT_MIN and INT_MIN % -1 is 0 (RFC 9669 §4.1). */
op_SDIV64_IMM:
	DST = (uint64_t)((int64_t)DST / IMM);
	NEXT();
op_SDIV32_IMM:
	DST = (uint32_t)((int32_t)DST32 / (int32_t)IMM);
	NEXT();
op_SDIV64_REG:
	if (unlikely(SRC == 0))
		DST = 0;
	else if (unlikely((int64_t)SRC == -1))
		DST = -DST;
	else
		DST = (uint64_t)((int64_t)DST / (int64_t)SRC);
	NEXT();
op_SDIV32_REG:
	if (unlikely(SRC32 == 0))
		DST = 0;
	else if (unlikely((int32_t)SRC32 == -1))
		DST = (uint32_t)-DST32;
	else
		DST = (uint32_t)((int32_t)DST32 / (int32_t)SRC32);
	NEXT();
op_SMOD64_IMM:
	DST = (uint64_t)((int64_t)DST % IMM);
	NEXT();
op_SMOD32_IMM:
	DST = (uint32_t)((int32_t)DST32 % (int32_t)IMM);
	NEXT();
op_SMOD64_REG:
	if (unlikely((int64_t)SRC == -1))
		DST = 0;
	else if (likely(SRC != 0))
		DST = (uint64_t)((int64_t)DST % (int64_t)SRC);
	NEXT();
op_SMOD32_REG:
	if (unlikely((int32_t)SRC32 == -1))
		DST = 0;
	else if (likely(SRC32 != 0))
		DST = (uint32_t)((int32_t)DST32 % (int32_t)SRC32);
	else
		DST = DST32;
	NEXT();

op_NEG64:
	DST = -DST;
	NEXT();
op_NEG32:
	DST = (uint32_t)-DST32;
	NEXT();
op_MOV64_IMM:
	DST = (uint64_t)IMM;
	NEXT();
op_MOV64_REG:
	DST = SRC;
	NEXT();
op_MOV32_IMM:
	DST = IMM32;
	NEXT();
op_MOV32_REG:
	DST = SRC32;
	NEXT();
	/* Fused widening idioms (jit/prog.c, pinsn_fuse()). */
op_ZEXT32_2:
	DST = DST32;
	pc += 2;
	DISPATCH();
op_SEXT32_2:
	DST = (uint64_t)(int64_t)(int32_t)DST32;
	pc += 2;
	DISPATCH();
op_MOV_ZEXT32_3:
	DST = SRC32;
	pc += 3;
	DISPATCH();
op_MOV_SEXT32_3:
	DST = (uint64_t)(int64_t)(int32_t)SRC32;
	pc += 3;
	DISPATCH();
op_MOV_ADD_2:
	DST = SRC + (uint64_t)(int64_t)pc[1].imm;
	pc += 2;
	DISPATCH();
	/* mov64 imm, then straight into the next slot's handler (jit/prog.c). */
op_MOV_THEN_EXIT:
	DST = (uint64_t)IMM;
	pc++;
	goto op_EXIT;
op_MOV_THEN_ATOMIC_ADD64:
	DST = (uint64_t)IMM;
	pc++;
	goto op_ATOMIC_ADD64;
op_MOV_THEN_ATOMIC_ADD32:
	DST = (uint64_t)IMM;
	pc++;
	goto op_ATOMIC_ADD32;
#define X(N)                                                                                       \
	op_ADD_THEN_##N : DST += (uint64_t)IMM;                                                    \
	pc++;                                                                                      \
	goto op_##N;
	JIT_FUSE_JCC(X)
#undef X
#define X(N)                                                                                       \
	op_ADD32_THEN_##N : DST = (uint32_t)(DST32 + IMM32);                                       \
	pc++;                                                                                      \
	goto op_##N;
	JIT_FUSE_JCC32(X)
#undef X
op_MOVSX864:
	DST = (uint64_t)(int64_t)(int8_t)SRC;
	NEXT();
op_MOVSX1664:
	DST = (uint64_t)(int64_t)(int16_t)SRC;
	NEXT();
op_MOVSX3264:
	DST = (uint64_t)(int64_t)(int32_t)SRC;
	NEXT();
op_MOVSX832:
	DST = (uint32_t)(int32_t)(int8_t)SRC;
	NEXT();
op_MOVSX1632:
	DST = (uint32_t)(int32_t)(int16_t)SRC;
	NEXT();

	/* Byte swaps, RFC 9669 §4.2: to-little-endian on this little-endian
	 * host only truncates; to-big-endian and bswap reverse; both zero-extend. */
op_LE16:
	DST = (uint16_t)DST;
	NEXT();
op_LE32:
	DST = DST32;
	NEXT();
op_LE64:
	NEXT();
op_BE16:
op_BSWAP16:
	DST = __builtin_bswap16((uint16_t)DST);
	NEXT();
op_BE32:
op_BSWAP32:
	DST = __builtin_bswap32(DST32);
	NEXT();
op_BE64:
op_BSWAP64:
	DST = __builtin_bswap64(DST);
	NEXT();

	/* Jumps, RFC 9669 §4.3: K forms compare with the sign-extended imm
	 * (JMP) or its low 32 bits (JMP32). */
op_JA:
	pc += pc->off + 1;
	DISPATCH();
op_JA32:
	pc += pc->imm + 1;
	DISPATCH();
#define JCC(N, OP, T64, T32)                                                                       \
	op_##N##_IMM : JUMP_IF((T64)DST OP(T64) IMM);                                              \
	op_##N##_REG : JUMP_IF((T64)DST OP(T64) SRC);                                              \
	op_##N##32_IMM : JUMP_IF((T32)DST32 OP(T32) IMM32);                                        \
	op_##N##32_REG : JUMP_IF((T32)DST32 OP(T32) SRC32);
	JCC(JEQ, ==, uint64_t, uint32_t)
	JCC(JNE, !=, uint64_t, uint32_t)
	JCC(JGT, >, uint64_t, uint32_t)
	JCC(JGE, >=, uint64_t, uint32_t)
	JCC(JLT, <, uint64_t, uint32_t)
	JCC(JLE, <=, uint64_t, uint32_t)
	JCC(JSGT, >, int64_t, int32_t)
	JCC(JSGE, >=, int64_t, int32_t)
	JCC(JSLT, <, int64_t, int32_t)
	JCC(JSLE, <=, int64_t, int32_t)
#undef JCC
op_JSET_IMM:
	JUMP_IF(DST & (uint64_t)IMM);
op_JSET_REG:
	JUMP_IF(DST & SRC);
op_JSET32_IMM:
	JUMP_IF(DST32 & IMM32);
op_JSET32_REG:
	JUMP_IF(DST32 & SRC32);

	/* Helper calls: r0 = fn(r1..r5). A helper may end the run (jit_run_stop()). */
op_CALL:
	reg[0] = pc->fn(reg[1], reg[2], reg[3], reg[4], reg[5]);
	if (unlikely(run->stop))
		goto out_stopped;
	NEXT();
	/* bpf_map_lookup_elem inlined on an array (jit/prog.c,
	 * pinsn_inline_lookups()): the key is the u32 at r2; an index past
	 * max_entries gives NULL, as array_map_gen_lookup() in
	 * kernel/bpf/arraymap.c. r1-r5 are left as the helper path leaves them.
	 * The per-CPU form (percpu_array_map_gen_lookup()) takes this CPU's
	 * copy, the CPU chosen by the embedder's rule (struct jit_array_geom),
	 * which for maps/ is map_percpu_array_lookup_fast()'s: rseq cpu_id when
	 * below ncpu, else its slow path; the index is checked first, as there.
	 * The _LD forms sit on the ld_imm64 r1 = map right before the call and
	 * do both (one dispatch fewer); the call slot keeps the plain form. */
#define ARRAY_LOOKUP(G)                                                                            \
	do {                                                                                       \
		const struct jit_array_geom *g_ = (G);                                             \
		uint32_t k_ = LOAD(uint32_t, reg[2]);                                              \
                                                                                                   \
		reg[0] = likely(k_ < g_->max_entries)                                              \
				 ? (uint64_t)(uintptr_t)(g_->base + k_ * g_->elem_sz)              \
				 : 0;                                                              \
	} while (0)
#define PERCPU_ARRAY_LOOKUP(G)                                                                     \
	do {                                                                                       \
		const struct jit_array_geom *g_ = (G);                                             \
		uint32_t k_ = LOAD(uint32_t, reg[2]);                                              \
		uint32_t c_ = UINT32_MAX;                                                          \
                                                                                                   \
		reg[0] = 0;                                                                        \
		if (likely(k_ < g_->max_entries)) {                                                \
			if (likely(g_->cpu_tp_off != INT64_MIN))                                   \
				c_ = __atomic_load_n(                                              \
					(const uint32_t *)((const char *)__builtin_thread_pointer() + \
							   g_->cpu_tp_off),                        \
					__ATOMIC_RELAXED);                                         \
			if (unlikely(c_ >= g_->ncpu))                                              \
				c_ = g_->cpu_slow(g_->ncpu);                                       \
			reg[0] = (uint64_t)(uintptr_t)(g_->base + c_ * g_->cpu_stride +            \
						       k_ * g_->elem_sz);                          \
		}                                                                                  \
	} while (0)
op_ARRAY_LOOKUP:
	ARRAY_LOOKUP(pc->geom);
	NEXT();
op_PERCPU_ARRAY_LOOKUP:
	PERCPU_ARRAY_LOOKUP(pc->geom);
	NEXT();
op_LD_ARRAY_LOOKUP:
	reg[1] = pc[1].u64;
	ARRAY_LOOKUP(pc->geom);
	pc += 3;
	DISPATCH();
op_LD_PERCPU_ARRAY_LOOKUP:
	reg[1] = pc[1].u64;
	PERCPU_ARRAY_LOOKUP(pc->geom);
	pc += 3;
	DISPATCH();
#undef ARRAY_LOOKUP
#undef PERCPU_ARRAY_LOOKUP
op_CALLX: {
	uint64_t id = DST;

	if (id == JIT_HELPER_TAIL_CALL && cur->tail_call)
		goto tail_call;
	if (unlikely(id >= cur->helper_cnt || !cur->helpers[id])) {
		log_warn("jit: callx through r%u = %llu, which names no helper\n", pc->dst,
			 (unsigned long long)id);
		err = -EINVAL;
		goto out;
	}
	reg[0] = cur->helpers[id](reg[1], reg[2], reg[3], reg[4], reg[5]);
	if (unlikely(run->stop))
		goto out_stopped;
	NEXT();
}
op_TAIL_CALL:
tail_call: {
	/* bpf_tail_call(ctx, prog_array, index): on success continue at the first
	 * instruction of the next program, registers and frame as they are
	 * (r1 still holds ctx); on failure fall through, r0 unchanged, as
	 * ___bpf_prog_run() does in kernel/bpf/core.c. At most
	 * MAX_TAIL_CALL_CNT (33) tail calls, taken or found empty, per run. */
	const struct jit_prog *next = NULL;
	int ret;

	if (run->tail_call_cnt >= JIT_MAX_TAIL_CALL_CNT)
		NEXT();
	ret = cur->tail_call(cur->cookie, reg[2], (uint32_t)reg[3], &next);
	/* The kernel counts a call that found an empty slot, not one whose
	 * index was out of range (bpf_tail_call() order in ___bpf_prog_run()). */
	if (ret == -ENOENT)
		run->tail_call_cnt++;
	if (ret || !next)
		NEXT();
	run->tail_call_cnt++;
	run->prog = cur = next;
	pc = next->code;
	DISPATCH();
}
op_CALL_LOCAL:
	if (unlikely(depth >= max_depth)) {
		log_warn("jit: local calls (and callbacks) nest deeper than %d\n", JIT_MAX_CALL_DEPTH);
		err = -E2BIG;
		goto out;
	}
	frames[depth] = (struct frame){ pc + 1, cur, reg[6], reg[7], reg[8], reg[9] };
	depth++;
	run->depth++;
	reg[10] -= JIT_STACK_SZ;
	pc += pc->imm + 1;
	DISPATCH();
op_EXIT:
	if (!depth)
		goto out;
	depth--;
	run->depth--;
	pc = frames[depth].ret;
	run->prog = cur = frames[depth].prog;
	reg[6] = frames[depth].r6;
	reg[7] = frames[depth].r7;
	reg[8] = frames[depth].r8;
	reg[9] = frames[depth].r9;
	reg[10] += JIT_STACK_SZ;
	DISPATCH();
op_CALL_KFUNC:
op_LDDW_HI:
	/* jit/prog.c refuses kfuncs, and no jump lands on an lddw's second slot:
	 * reaching this is a bug in the loader, reported rather than trusted. */
	log_error("jit: internal error: slot %td is not executable\n", pc - cur->code);
	err = -EFAULT;
	goto out;

	/* Loads and stores, RFC 9669 §5.1 (MEMSX sign-extends, §5.2). */
op_LDXB:
	DST = LOAD(uint8_t, SRC + pc->off);
	NEXT();
op_LDXH:
	DST = LOAD(uint16_t, SRC + pc->off);
	NEXT();
op_LDXW:
	DST = LOAD(uint32_t, SRC + pc->off);
	NEXT();
op_LDXDW:
	DST = LOAD(uint64_t, SRC + pc->off);
	NEXT();
op_LDXSB:
	DST = (uint64_t)(int64_t)LOAD(int8_t, SRC + pc->off);
	NEXT();
op_LDXSH:
	DST = (uint64_t)(int64_t)LOAD(int16_t, SRC + pc->off);
	NEXT();
op_LDXSW:
	DST = (uint64_t)(int64_t)LOAD(int32_t, SRC + pc->off);
	NEXT();
op_STB:
	STORE(uint8_t, DST + pc->off, IMM);
	NEXT();
op_STH:
	STORE(uint16_t, DST + pc->off, IMM);
	NEXT();
op_STW:
	STORE(uint32_t, DST + pc->off, IMM);
	NEXT();
op_STDW:
	STORE(uint64_t, DST + pc->off, IMM);
	NEXT();
op_STXB:
	STORE(uint8_t, DST + pc->off, SRC);
	NEXT();
op_STXH:
	STORE(uint16_t, DST + pc->off, SRC);
	NEXT();
op_STXW:
	STORE(uint32_t, DST + pc->off, SRC);
	NEXT();
op_STXDW:
	STORE(uint64_t, DST + pc->off, SRC);
	NEXT();
op_LDDW:
	DST = pc[1].u64;
	pc += 2;
	DISPATCH();

	/* Legacy packet loads, RFC 9669 §5.5, as the kernel runs them after
	 * bpf_gen_ld_abs() (net/core/filter.c) rewrote them: the offset is imm,
	 * or src + imm added in 64 bits and passed on as an int (so truncated to
	 * 32 bits); r0 = the bytes in network order, zero-extended; bytes
	 * outside the packet end the program with r0 = 0. The embedder finds
	 * the bytes (jit_env.packet_pointer). r1-r5 are left as they were: the
	 * kernel's helper call clobbers them, so a verified program cannot read
	 * them, and leaving them costs nothing. */
#define LD_PKT(OFF, SZ)                                                                            \
	do {                                                                                       \
		const uint8_t *b_ = cur->packet_pointer(cur->cookie, reg[6], (OFF), (SZ));         \
                                                                                                   \
		if (unlikely(!b_)) {                                                               \
			/* The whole run ends, from any depth (jit_run_stop()'s path). */          \
			run->stop = 1;                                                             \
			run->stop_r0 = 0;                                                          \
			goto out_stopped;                                                          \
		}                                                                                  \
		if ((SZ) == 1)                                                                     \
			reg[0] = b_[0];                                                            \
		else if ((SZ) == 2)                                                                \
			reg[0] = __builtin_bswap16(LOAD(uint16_t, b_));                            \
		else                                                                               \
			reg[0] = __builtin_bswap32(LOAD(uint32_t, b_));                            \
	} while (0)
#define IND_OFF ((int32_t)(uint32_t)(SRC + (uint64_t)IMM))
op_LDABSB:
	LD_PKT(pc->imm, 1);
	NEXT();
op_LDABSH:
	LD_PKT(pc->imm, 2);
	NEXT();
op_LDABSW:
	LD_PKT(pc->imm, 4);
	NEXT();
op_LDINDB:
	LD_PKT(IND_OFF, 1);
	NEXT();
op_LDINDH:
	LD_PKT(IND_OFF, 2);
	NEXT();
op_LDINDW:
	LD_PKT(IND_OFF, 4);
	NEXT();
#undef IND_OFF
#undef LD_PKT

	/* Atomics, RFC 9669 §5.3: sequentially consistent read-modify-write of
	 * 4 or 8 bytes at dst + off. FETCH forms put the old value in src (32-bit
	 * forms zero-extend it); cmpxchg compares with r0 and puts the old value
	 * in r0. */
#define ATOMIC_PTR(T) ((T *)(uintptr_t)(DST + pc->off))
#define ATOMIC_RMW(N, FN)                                                                          \
	op_ATOMIC_##N##64 : (void)FN(ATOMIC_PTR(uint64_t), SRC, __ATOMIC_SEQ_CST);                 \
	NEXT();                                                                                    \
	op_ATOMIC_##N##32 : (void)FN(ATOMIC_PTR(uint32_t), SRC32, __ATOMIC_SEQ_CST);               \
	NEXT();                                                                                    \
	op_ATOMIC_FETCH_##N##64 : SRC = FN(ATOMIC_PTR(uint64_t), SRC, __ATOMIC_SEQ_CST);           \
	NEXT();                                                                                    \
	op_ATOMIC_FETCH_##N##32 : SRC = FN(ATOMIC_PTR(uint32_t), SRC32, __ATOMIC_SEQ_CST);         \
	NEXT();
	ATOMIC_RMW(ADD, __atomic_fetch_add)
	ATOMIC_RMW(OR, __atomic_fetch_or)
	ATOMIC_RMW(AND, __atomic_fetch_and)
	ATOMIC_RMW(XOR, __atomic_fetch_xor)
#undef ATOMIC_RMW
op_ATOMIC_XCHG64:
	SRC = __atomic_exchange_n(ATOMIC_PTR(uint64_t), SRC, __ATOMIC_SEQ_CST);
	NEXT();
op_ATOMIC_XCHG32:
	SRC = __atomic_exchange_n(ATOMIC_PTR(uint32_t), SRC32, __ATOMIC_SEQ_CST);
	NEXT();
op_ATOMIC_CMPXCHG64: {
	uint64_t old = reg[0];

	__atomic_compare_exchange_n(ATOMIC_PTR(uint64_t), &old, SRC, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	reg[0] = old;
	NEXT();
}
op_ATOMIC_CMPXCHG32: {
	uint32_t old = (uint32_t)reg[0];

	__atomic_compare_exchange_n(ATOMIC_PTR(uint32_t), &old, SRC32, 0, __ATOMIC_SEQ_CST,
				    __ATOMIC_SEQ_CST);
	reg[0] = old;
	NEXT();
}
#undef ATOMIC_PTR

out_stopped:
	reg[0] = run->stop_r0;
out:
	run_current = run->prev;
	*r0 = err ? 0 : reg[0];
	return err;
}

/* A top-level run; inlined into the entry points, which run on every probe hit. */
static inline __attribute__((always_inline)) int run_top(const struct jit_prog *p, uint64_t r1, uint64_t r2,
							  uint64_t *r0)
{
	const uint64_t args[5] = { r1, r2 };
	struct jit_run run = { .prog = p, .ctx = r1, .prev = run_current };

	return interp(p, p->code, args, &run, r0);
}

int jit_interp_run(const struct jit_prog *p, uint64_t r1, uint64_t r2, uint64_t *r0)
{
	if (!p)
		return interp(NULL, NULL, NULL, NULL, NULL);
	return run_top(p, r1, r2, r0);
}

/* Is @idx the first slot of a subprogram some BPF_PSEUDO_FUNC of @p names?
 * (p->cb_start is sorted.) */
static bool cb_start_known(const struct jit_prog *p, uint32_t idx)
{
	uint32_t lo = 0, hi = p->cb_cnt;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (p->cb_start[mid] == idx)
			return true;
		if (p->cb_start[mid] < idx)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

int jit_callback_call(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
		      uint64_t *r0)
{
	struct jit_run *parent = run_current;
	const uint64_t args[5] = { r1, r2, r3, r4, r5 };
	const struct jit_prog *p;
	struct jit_run run;
	uintptr_t base, addr = (uintptr_t)fn;
	int err;

	*r0 = 0;
	if (!parent)
		return -ESRCH;
	/* An earlier callback ended the program (jit_run_stop() or a fault):
	 * the helper must not run more of it. */
	if (parent->stop)
		return -ECANCELED;
	/* The handle is the address of the callback's pre-decoded first slot
	 * in the program now running (jit/prog.c, lddw_resolve()). A value the
	 * program made up, or one from another program, names no slot of a
	 * BPF_PSEUDO_FUNC target here and is refused. */
	p = parent->prog;
	base = (uintptr_t)p->code;
	if (addr < base || addr - base >= (uintptr_t)p->insn_cnt * sizeof(*p->code) ||
	    (addr - base) % sizeof(*p->code) ||
	    !cb_start_known(p, (uint32_t)((addr - base) / sizeof(*p->code)))) {
		log_warn("jit: callback 0x%llx is not a subprogram of the running program\n",
			 (unsigned long long)fn);
		return -EINVAL;
	}
	/* The callback is one more frame, like the kernel's callback frames
	 * (push_callback_call() in kernel/bpf/verifier.c). */
	if (parent->depth + 1 > JIT_MAX_CALL_DEPTH) {
		log_warn("jit: callbacks and local calls nest deeper than %d\n", JIT_MAX_CALL_DEPTH);
		return -E2BIG;
	}
	run = (struct jit_run){ .prog = p, .ctx = parent->ctx, .tail_call_cnt = parent->tail_call_cnt,
				.depth = parent->depth + 1, .prev = parent };
	err = interp(p, (const struct jit_pinsn *)addr, args, &run, r0);
	parent->tail_call_cnt = run.tail_call_cnt;
	/* jit_run_stop() in a callback ends the whole program, and so does a
	 * fault (with r0 = 0, as a fault of the program itself does). */
	if (run.stop || err) {
		parent->stop = 1;
		parent->stop_r0 = err ? 0 : run.stop_r0;
	}
	return err;
}

int jit_prog_exec(const struct jit_prog *p, uint64_t r1, uint64_t r2, uint64_t *r0)
{
	return jit_interp_run(p, r1, r2, r0);
}

uint64_t jit_prog_run(const struct jit_prog *p, void *ctx)
{
	uint64_t r0;

	run_top(p, (uint64_t)(uintptr_t)ctx, 0, &r0);
	return r0;
}

uint64_t jit_prog_run_mem(const struct jit_prog *p, void *mem, size_t mem_sz)
{
	uint64_t r0;

	jit_interp_run(p, (uint64_t)(uintptr_t)mem, mem_sz, &r0);
	return r0;
}
