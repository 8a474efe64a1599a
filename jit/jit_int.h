/*
 * jit_int.h - what the jit/ sources share and nobody else sees: the loaded program
 * and its pre-decoded instruction array.
 *
 * The interpreter never runs raw struct bpf_insn. jit/prog.c turns each slot
 * into a struct jit_pinsn once, at load, doing there everything that does not
 * depend on register values: the form is already known (no opcode decoding
 * in the loop), immediates are sign-extended, shift amounts masked,
 * constant divisions by 0 and -1 rewritten to what RFC 9669 §4.1 says they
 * give, ja32's displacement moved to off, lddw folded into one constant
 * (pseudo forms resolved), and helper ids turned into function pointers.
 */
#ifndef JIT_JIT_INT_H
#define JIT_JIT_INT_H

#include <stdint.h>

#include "jit/decode.h"
#include "jit/jit.h"
#include "jit/opcodes.h"

/* The 64-bit conditional jumps an "add64 dst, imm" may be fused with
 * (loop counters: "r1 += 1; if r1 != 192 goto loop"). */
#define JIT_FUSE_JCC(X)                                                                            \
	X(JEQ_IMM) X(JEQ_REG) X(JNE_IMM) X(JNE_REG) X(JGT_IMM) X(JGT_REG) X(JGE_IMM) X(JGE_REG)  \
	X(JLT_IMM) X(JLT_REG) X(JLE_IMM) X(JLE_REG) X(JSGT_IMM) X(JSGT_REG) X(JSGE_IMM)          \
	X(JSGE_REG) X(JSLT_IMM) X(JSLT_REG) X(JSLE_IMM) X(JSLE_REG) X(JSET_IMM) X(JSET_REG)

/* The same for "add32 dst, imm" and the 32-bit jumps (clang -mcpu=v3). */
#define JIT_FUSE_JCC32(X)                                                                          \
	X(JEQ32_IMM) X(JEQ32_REG) X(JNE32_IMM) X(JNE32_REG) X(JGT32_IMM) X(JGT32_REG)             \
	X(JGE32_IMM) X(JGE32_REG) X(JLT32_IMM) X(JLT32_REG) X(JLE32_IMM) X(JLE32_REG)             \
	X(JSGT32_IMM) X(JSGT32_REG) X(JSGE32_IMM) X(JSGE32_REG) X(JSLT32_IMM) X(JSLT32_REG)       \
	X(JSLE32_IMM) X(JSLE32_REG) X(JSET32_IMM) X(JSET32_REG)

/* Forms the loader creates beyond the table in opcodes.h. */
enum jit_iop {
	JIT_IOP_LDDW_HI = JIT_OP__CNT, /* second slot of an lddw: never executed */
	JIT_IOP_TAIL_CALL,             /* call 12 (bpf_tail_call) with env->tail_call set */
	/* Fused sequences (jit/prog.c, pinsn_fuse()): the slot runs itself and
	 * the next one or two, which keep their own handlers for jumps that land
	 * on them. They are the zero-/sign-extension idioms clang emits for
	 * 32-bit values when it may not use ALU32 (-mcpu=v1/v2, the default). */
	JIT_IOP_ZEXT32_2,   /* dst <<= 32; dst >>= 32        -> dst = (u32)dst */
	JIT_IOP_SEXT32_2,   /* dst <<= 32; dst s>>= 32       -> dst = (s32)dst */
	JIT_IOP_MOV_ZEXT32_3, /* dst = src; dst <<= 32; dst >>= 32  -> dst = (u32)src */
	JIT_IOP_MOV_SEXT32_3, /* dst = src; dst <<= 32; dst s>>= 32 -> dst = (s32)src */
	JIT_IOP_MOV_ADD_2,    /* dst = src; dst += imm            -> dst = src + imm (r2 = r10; r2 += -8) */
	/* call 1 (bpf_map_lookup_elem) on an array whose map r1 provably holds
	 * (jit/prog.c, pinsn_inline_lookups()): r0 = address or 0, computed
	 * from the slot's struct jit_array_geom, as the kernel's
	 * array_map_gen_lookup() / percpu_array_map_gen_lookup() do. */
	JIT_IOP_ARRAY_LOOKUP,
	JIT_IOP_PERCPU_ARRAY_LOOKUP,
	/* The same on the slot of "r1 = map" when it is right before the call:
	 * ld_imm64 + lookup in one dispatch, continuing after the call. */
	JIT_IOP_LD_ARRAY_LOOKUP,
	JIT_IOP_LD_PERCPU_ARRAY_LOOKUP,
	/* mov64 dst, imm, then a direct goto to the next slot's handler: the
	 * "r0 = 0; exit" that ends nearly every program and the "r1 = 1; lock
	 * *(u64 *)(r0 + 0) += r1" of every counter (bpftrace's count()). */
	JIT_IOP_MOV_THEN_EXIT,
	JIT_IOP_MOV_THEN_ATOMIC_ADD64,
	JIT_IOP_MOV_THEN_ATOMIC_ADD32,
	/* add64 dst, imm, then a direct (well-predicted) goto to the handler of
	 * the jump in the next slot instead of an indirect dispatch. */
#define JIT_X_IOP(N) JIT_IOP_ADD_THEN_##N,
	JIT_FUSE_JCC(JIT_X_IOP)
#undef JIT_X_IOP
#define JIT_X_IOP(N) JIT_IOP_ADD32_THEN_##N,
	JIT_FUSE_JCC32(JIT_X_IOP)
#undef JIT_X_IOP
	JIT_IOP__CNT,
};

/*
 * One pre-decoded slot; 16 bytes so four share a cache line. Direct
 * threading: @h is the address of the interpreter's handler for the form
 * (from jit_interp_handlers()), so dispatch is one load and one indirect
 * jump, with no table lookup.
 */
struct jit_pinsn {
	const void *h; /* handler label in jit_interp_run() */
	union {
		struct {
			uint8_t dst; /* 0..10 */
			uint8_t src; /* 0..10 */
			int16_t off; /* memory offset; for jumps the target minus (this slot + 1) */
			int32_t imm; /* immediate (shifts masked); for ja32 and local calls
				      * the target minus (this slot + 1) */
		};
		uint64_t u64;     /* second slot of an lddw: the whole constant */
		jit_helper_fn fn; /* CALL: the helper */
		const struct jit_array_geom *geom; /* *ARRAY_LOOKUP: in jit_prog.geoms
						    * (the _LD forms: in place of lddw's
						    * dst, which is r1) */
	};
};
_Static_assert(sizeof(struct jit_pinsn) == 16, "jit_pinsn must stay 16 bytes");

struct jit_prog {
	uint32_t insn_cnt;         /* slots */
	struct jit_pinsn *code;    /* [insn_cnt] */
	struct bpf_insn *insns;    /* [insn_cnt] copy of what was loaded (for other back ends) */
	jit_helper_fn *helpers;    /* [helper_cnt] copy of env->helpers, for callx */
	uint32_t helper_cnt;
	uint32_t max_call_depth;   /* from jit_decode_prog() */
	int (*tail_call)(void *cookie, uint64_t prog_array, uint32_t index,
			 const struct jit_prog **next);
	void *cookie;              /* env->cookie */
	struct jit_array_geom *geoms; /* [geom_cnt] one per inlined map lookup */
	uint32_t geom_cnt;
	const void *(*packet_pointer)(void *cookie, uint64_t ctx, int32_t off, uint32_t size);
				   /* env->packet_pointer, for LD_ABS/LD_IND */
	uint32_t *cb_start;        /* [cb_cnt] sorted first slots of BPF_PSEUDO_FUNC targets */
	uint32_t cb_cnt;
};

/* jit/prog.c: apply pinsn_fuse() at load (default 1). A knob for tests
 * that compare fused and unfused runs; not for concurrent use. */
extern int jit_fuse_enabled;

/* jit/interp.c: run @p from its first slot. */
int jit_interp_run(const struct jit_prog *p, uint64_t r1, uint64_t r2, uint64_t *r0);

/* jit/interp.c: handler addresses indexed by enum jit_op / enum jit_iop. */
const void *const *jit_interp_handlers(void);

#endif /* JIT_JIT_INT_H */
