/*
 * decode.h - the contract of the decoder: turn raw instructions into
 * instruction forms of jit/opcodes.h and refuse malformed programs before
 * anything runs them.
 *
 * Users: jit_prog_load() (jit/prog.c), the verifier (verifier/), and the
 * supervisor's PROG_LOAD, which also needs the helper ids and map references
 * of a program without running it (jit_decode_refs()).
 *
 * Messages are written to a caller buffer as one line: "insn N: what is
 * wrong" (N is the index of the 8-byte slot, as in the kernel's verifier log),
 * so they can go straight into a PROG_LOAD log_buf.
 */
#ifndef JIT_DECODE_H
#define JIT_DECODE_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

#include "jit/jit.h"
#include "jit/opcodes.h"

/* Largest program we accept: BPF_COMPLEXITY_LIMIT_INSNS in include/linux/bpf.h. */
#define JIT_MAX_INSNS 1000000u
/* Nested bpf-to-bpf calls below the main program.
 * DIVERGES: the kernel allows MAX_CALL_FRAMES (8) frames in all, main
 * included, and 512 bytes of stack for all of them together; we give every
 * frame its own 512 bytes and allow 8 nested calls on top of main, so we
 * accept a superset. The verifier is where the kernel's limits belong. */
#define JIT_MAX_CALL_DEPTH 8
/* BPF_FUNC_tail_call: the one helper the interpreter runs itself. */
#define JIT_HELPER_TAIL_CALL 12

/* Marks the second slot of an lddw in jit_decoded.ops. */
#define JIT_OP_LDDW_HI JIT_OP__CNT

/* A validated program: the form of each slot and its subprograms. */
struct jit_decoded {
	uint32_t insn_cnt;       /* slots, lddw counts 2 */
	uint16_t *ops;           /* [insn_cnt] enum jit_op, JIT_OP_LDDW_HI for lddw's 2nd slot */
	uint32_t subprog_cnt;    /* >= 1: main plus every local-call target */
	uint32_t *subprog_start; /* [subprog_cnt] first slot of each, ascending; [0] = 0 */
	uint32_t max_call_depth; /* deepest chain of local calls below main, <= JIT_MAX_CALL_DEPTH */
};

/**
 * jit_decode_insn() - decode one slot (not the second half of an lddw).
 * @insn: the instruction
 * @op: on success the form (enum jit_op)
 * @why: buffer for the reason of a refusal (no "insn N:" prefix), may be NULL
 *
 * Checks the opcode and every field the form reserves or constrains
 * (registers r0..r10, r10 never written, reserved fields zero).
 * Returns 0, or -EINVAL with @why filled.
 */
int jit_decode_insn(const struct bpf_insn *insn, enum jit_op *op, char *why, size_t why_sz);

/**
 * jit_decode_prog() - validate a whole program.
 * @env: if not NULL, helper call ids must name a helper of @env (id 12,
 *       bpf_tail_call, needs env->tail_call instead); NULL skips that check
 * @out: on success a new struct jit_decoded; release with jit_decoded_free()
 * @log: one-line reason on failure ("insn N: ..."), may be NULL
 *
 * Beyond jit_decode_insn() for every slot: lddw has a second slot whose
 * opcode, registers and offset are zero; every jump lands inside its own
 * subprogram and not on an lddw's second slot; local calls land inside the
 * program; every subprogram ends in exit or ja (no fall-through); no local
 * call recursion; call depth at most JIT_MAX_CALL_DEPTH.
 *
 * Returns 0; -EINVAL for a malformed program or unknown helper; -E2BIG for
 * more than JIT_MAX_INSNS slots or calls nested too deep; -ENOMEM.
 */
int jit_decode_prog(const struct bpf_insn *insns, uint32_t insn_cnt, const struct jit_env *env,
		    struct jit_decoded **out, char *log, size_t log_sz);

/** jit_decoded_free() - release a jit_decode_prog() result; NULL is fine. */
void jit_decoded_free(struct jit_decoded *d);

/* What jit_decode_refs() reports. */
enum jit_ref_kind {
	JIT_REF_HELPER,   /* call helper by id: helper_id */
	JIT_REF_LD_IMM64, /* lddw with src_reg != 0 (map fd / map value / ...): insn[0..1] */
	JIT_REF_KFUNC,    /* call with src_reg 2: helper_id holds the BTF id */
	JIT_REF_CALLX,    /* call by register: id known only at run time */
};

struct jit_ref {
	enum jit_ref_kind kind;
	uint32_t insn_idx;            /* slot of the instruction */
	int32_t helper_id;            /* JIT_REF_HELPER, JIT_REF_KFUNC */
	const struct bpf_insn *insn;  /* the instruction (2 slots for JIT_REF_LD_IMM64) */
};

typedef int (*jit_ref_fn)(void *cookie, const struct jit_ref *ref);

/**
 * jit_decode_refs() - report every helper call and ld_imm64 pseudo reference.
 *
 * Call on a program jit_decode_prog() accepted. @fn is called in program
 * order; a non-zero return stops the walk and is returned.
 * Returns 0, or the first non-zero value @fn returned.
 */
int jit_decode_refs(const struct bpf_insn *insns, uint32_t insn_cnt, jit_ref_fn fn, void *cookie);

#endif /* JIT_DECODE_H */
