/*
 * opcodes.h - the one description of the eBPF instruction set (RFC 9669).
 *
 * Every instruction form the runtime accepts is one row of JIT_OPCODES().
 * A "form" is an opcode byte plus, where the ISA overloads one opcode, the
 * field value that tells the variants apart: sdiv/smod are div/mod with
 * offset 1 (RFC 9669 §4.1), movsx is mov with offset 8/16/32 (§4.1), the
 * byte swaps select their width with imm (§4.2), the atomics select their
 * operation with imm (§5.3), and calls select helper / local / kfunc with
 * src_reg (§4.3.1). Each row says, for dst/src/offset/imm, what the field
 * must hold; anything else is refused by the decoder (jit/decode.c).
 *
 * Users expand the table with their own X():
 *   - jit/decode.c builds its validation table from it;
 *   - jit/interp.c builds the computed-goto label table, so an interpreter
 *     missing a handler for a row does not compile;
 *   - jit/asm.c assembles by looking up (mnemonic, syntax) in it;
 *   - the LLVM back end and the verifier will switch on JIT_OP_<NAME>.
 *
 * Row: X(NAME, OPCODE, MNEMONIC, SYNTAX, DST, SRC, OFF, IMM, ISA)
 *   NAME      suffix of enum jit_op (JIT_OP_ADD64_IMM ...)
 *   OPCODE    the opcode byte
 *   MNEMONIC  the conformance assembler's spelling (shared/conformance/README.md §2)
 *   SYNTAX    operand shape for the assembler (enum jit_syntax without JIT_SYN_)
 *   DST..IMM  field rules (JIT_Z, JIT_ANY, JIT_EQ(v), JIT_REG, JIT_WREG, JIT_LE(v))
 *   ISA       the ISA version that introduced the form (bpf_conformance's v1..v4)
 *
 * Legacy packet loads (LD_ABS/LD_IND, RFC 9669 §5.5; the conformance suite's
 * "packet" group) read the packet of the context in r6 and need the
 * embedder's jit_env.packet_pointer; a program using them without one is
 * refused at load (jit/prog.c).
 */
#ifndef JIT_OPCODES_H
#define JIT_OPCODES_H

#include <stdint.h>

/* Opcode byte fields (RFC 9669 §3). <linux/bpf.h> names most of these; we
 * only add what older headers lack. */
#define JIT_CLASS(code) ((code)&0x07)
#define JIT_CLASS_LD 0x00
#define JIT_CLASS_LDX 0x01
#define JIT_CLASS_ST 0x02
#define JIT_CLASS_STX 0x03
#define JIT_CLASS_ALU 0x04
#define JIT_CLASS_JMP 0x05
#define JIT_CLASS_JMP32 0x06
#define JIT_CLASS_ALU64 0x07

/* What a field of one instruction form must hold. */
enum jit_field_rule {
	JIT_F_ZERO = 0, /* reserved: must be 0 */
	JIT_F_ANY,      /* any value (offsets, immediates) */
	JIT_F_EQ,       /* exactly val (the value selects this form) */
	JIT_F_LE,       /* 0..val (lddw's src_reg pseudo kinds) */
	JIT_F_REG,      /* a register the instruction reads: r0..r10 */
	JIT_F_WREG,     /* a register the instruction writes: r0..r9 (r10 is read-only) */
};

struct jit_field_spec {
	uint8_t rule;   /* enum jit_field_rule */
	int32_t val;    /* for JIT_F_EQ / JIT_F_LE */
};

#define JIT_Z { JIT_F_ZERO, 0 }
#define JIT_ANY { JIT_F_ANY, 0 }
#define JIT_EQ(v) { JIT_F_EQ, (v) }
#define JIT_LE(v) { JIT_F_LE, (v) }
#define JIT_REG { JIT_F_REG, 0 }
#define JIT_WREG { JIT_F_WREG, 0 }

/* Operand shapes of the conformance assembler syntax. */
enum jit_syntax {
	JIT_SYN_ALU,    /* op dst, src|imm           (X form if src is a register) */
	JIT_SYN_ALU1,   /* neg dst                   */
	JIT_SYN_END,    /* le16 dst                  */
	JIT_SYN_MOVSX,  /* movsx864 dst, %src        */
	JIT_SYN_LDX,    /* ldxw dst, [src+off]       */
	JIT_SYN_ST,     /* stw [dst+off], imm        */
	JIT_SYN_STX,    /* stxw [dst+off], %src      */
	JIT_SYN_ATOMIC, /* lock [fetch] add [dst+off], %src */
	JIT_SYN_LDDW,   /* lddw dst, imm64           */
	JIT_SYN_JA,     /* ja target                 (offset) */
	JIT_SYN_JA32,   /* ja32 target               (imm) */
	JIT_SYN_JCC,    /* jeq dst, src|imm, target  */
	JIT_SYN_CALL,   /* call [helper] N           */
	JIT_SYN_CALLL,  /* call local label          */
	JIT_SYN_CALLR,  /* call runtime N            */
	JIT_SYN_CALLX,  /* call [helper] %rN         */
	JIT_SYN_EXIT,   /* exit                      */
	JIT_SYN_LDABS,  /* ldabsw imm                (packet[imm]) */
	JIT_SYN_LDIND,  /* ldindw %src, imm          (packet[src + imm]) */
};

/* ALU and ALU64 pairs: the K form reads imm (src must be 0), the X form reads
 * src (imm must be 0). RFC 9669 §4.1: offset must be 0 unless it selects
 * sdiv/smod/movsx. */
#define JIT_ALU_KX(X, N, OP, MN, V)                                                              \
	X(N##64_IMM, 0x07 | (OP), MN, ALU, JIT_WREG, JIT_Z, JIT_Z, JIT_ANY, V)                   \
	X(N##64_REG, 0x0f | (OP), MN, ALU, JIT_WREG, JIT_REG, JIT_Z, JIT_Z, V)                   \
	X(N##32_IMM, 0x04 | (OP), MN "32", ALU, JIT_WREG, JIT_Z, JIT_Z, JIT_ANY, V)              \
	X(N##32_REG, 0x0c | (OP), MN "32", ALU, JIT_WREG, JIT_REG, JIT_Z, JIT_Z, V)

/* sdiv/smod: the div/mod opcodes with offset 1 (RFC 9669 §4.1, ISA v4). */
#define JIT_ALU_SIGNED_KX(X, N, OP, MN)                                                          \
	X(N##64_IMM, 0x07 | (OP), MN, ALU, JIT_WREG, JIT_Z, JIT_EQ(1), JIT_ANY, 4)               \
	X(N##64_REG, 0x0f | (OP), MN, ALU, JIT_WREG, JIT_REG, JIT_EQ(1), JIT_Z, 4)               \
	X(N##32_IMM, 0x04 | (OP), MN "32", ALU, JIT_WREG, JIT_Z, JIT_EQ(1), JIT_ANY, 4)          \
	X(N##32_REG, 0x0c | (OP), MN "32", ALU, JIT_WREG, JIT_REG, JIT_EQ(1), JIT_Z, 4)

/* Conditional jumps: JMP (64-bit compare) and JMP32 (low 32 bits), K and X. */
#define JIT_JCC_KX(X, N, OP, MN, V)                                                              \
	X(N##_IMM, 0x05 | (OP), MN, JCC, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, V)                    \
	X(N##_REG, 0x0d | (OP), MN, JCC, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, V)                    \
	X(N##32_IMM, 0x06 | (OP), MN "32", JCC, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, 3)             \
	X(N##32_REG, 0x0e | (OP), MN "32", JCC, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, 3)

/* Atomics (RFC 9669 §5.3): STX | ATOMIC | W (0xc3) or DW (0xdb), imm = op.
 * SRC is WREG (JIT_WREG) for the forms that load the old value into src
 * (FETCH, xchg), so r10 cannot be overwritten that way; REG otherwise. (The
 * rule is pasted, not passed: JIT_REG's braces hold a comma.) */
#define JIT_ATOMIC_PAIR(X, N, IMM, MN, SRC)                                                      \
	X(N##64, 0xdb, "lock " MN, ATOMIC, JIT_REG, JIT_##SRC, JIT_ANY, JIT_EQ(IMM), 3)          \
	X(N##32, 0xc3, "lock " MN "32", ATOMIC, JIT_REG, JIT_##SRC, JIT_ANY, JIT_EQ(IMM), 3)

/* clang-format off */
#define JIT_OPCODES(X)                                                                           \
	/* ALU / ALU64, RFC 9669 §4.1 */                                                         \
	JIT_ALU_KX(X, ADD, 0x00, "add", 1)                                                       \
	JIT_ALU_KX(X, SUB, 0x10, "sub", 1)                                                       \
	JIT_ALU_KX(X, MUL, 0x20, "mul", 1)                                                       \
	JIT_ALU_KX(X, DIV, 0x30, "div", 1)                                                       \
	JIT_ALU_KX(X, OR, 0x40, "or", 1)                                                         \
	JIT_ALU_KX(X, AND, 0x50, "and", 1)                                                       \
	JIT_ALU_KX(X, LSH, 0x60, "lsh", 1)                                                       \
	JIT_ALU_KX(X, RSH, 0x70, "rsh", 1)                                                       \
	JIT_ALU_KX(X, MOD, 0x90, "mod", 1)                                                       \
	JIT_ALU_KX(X, XOR, 0xa0, "xor", 1)                                                       \
	JIT_ALU_KX(X, MOV, 0xb0, "mov", 1)                                                       \
	JIT_ALU_KX(X, ARSH, 0xc0, "arsh", 1)                                                     \
	JIT_ALU_SIGNED_KX(X, SDIV, 0x30, "sdiv")                                                 \
	JIT_ALU_SIGNED_KX(X, SMOD, 0x90, "smod")                                                 \
	X(NEG64, 0x87, "neg", ALU1, JIT_WREG, JIT_Z, JIT_Z, JIT_Z, 1)                            \
	X(NEG32, 0x84, "neg32", ALU1, JIT_WREG, JIT_Z, JIT_Z, JIT_Z, 1)                          \
	X(MOVSX864, 0xbf, "movsx864", MOVSX, JIT_WREG, JIT_REG, JIT_EQ(8), JIT_Z, 4)             \
	X(MOVSX1664, 0xbf, "movsx1664", MOVSX, JIT_WREG, JIT_REG, JIT_EQ(16), JIT_Z, 4)          \
	X(MOVSX3264, 0xbf, "movsx3264", MOVSX, JIT_WREG, JIT_REG, JIT_EQ(32), JIT_Z, 4)          \
	X(MOVSX832, 0xbc, "movsx832", MOVSX, JIT_WREG, JIT_REG, JIT_EQ(8), JIT_Z, 4)             \
	X(MOVSX1632, 0xbc, "movsx1632", MOVSX, JIT_WREG, JIT_REG, JIT_EQ(16), JIT_Z, 4)          \
	/* Byte swaps, RFC 9669 §4.2 */                                                          \
	X(LE16, 0xd4, "le16", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(16), 1)                        \
	X(LE32, 0xd4, "le32", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(32), 1)                        \
	X(LE64, 0xd4, "le64", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(64), 1)                        \
	X(BE16, 0xdc, "be16", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(16), 1)                        \
	X(BE32, 0xdc, "be32", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(32), 1)                        \
	X(BE64, 0xdc, "be64", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(64), 1)                        \
	X(BSWAP16, 0xd7, "bswap16", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(16), 4)                  \
	X(BSWAP32, 0xd7, "bswap32", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(32), 4)                  \
	X(BSWAP64, 0xd7, "bswap64", END, JIT_WREG, JIT_Z, JIT_Z, JIT_EQ(64), 4)                  \
	/* Jumps, RFC 9669 §4.3 */                                                               \
	X(JA, 0x05, "ja", JA, JIT_Z, JIT_Z, JIT_ANY, JIT_Z, 1)                                   \
	X(JA32, 0x06, "ja32", JA32, JIT_Z, JIT_Z, JIT_Z, JIT_ANY, 4)                             \
	JIT_JCC_KX(X, JEQ, 0x10, "jeq", 1)                                                       \
	JIT_JCC_KX(X, JGT, 0x20, "jgt", 1)                                                       \
	JIT_JCC_KX(X, JGE, 0x30, "jge", 1)                                                       \
	JIT_JCC_KX(X, JSET, 0x40, "jset", 1)                                                     \
	JIT_JCC_KX(X, JNE, 0x50, "jne", 1)                                                       \
	JIT_JCC_KX(X, JSGT, 0x60, "jsgt", 1)                                                     \
	JIT_JCC_KX(X, JSGE, 0x70, "jsge", 1)                                                     \
	JIT_JCC_KX(X, JLT, 0xa0, "jlt", 2)                                                       \
	JIT_JCC_KX(X, JLE, 0xb0, "jle", 2)                                                       \
	JIT_JCC_KX(X, JSLT, 0xc0, "jslt", 2)                                                     \
	JIT_JCC_KX(X, JSLE, 0xd0, "jsle", 2)                                                     \
	/* Calls, RFC 9669 §4.3.1: src_reg 0 helper id, 1 local (pc-relative), 2 kfunc */       \
	X(CALL, 0x85, "call", CALL, JIT_Z, JIT_EQ(0), JIT_Z, JIT_ANY, 1)                         \
	X(CALL_LOCAL, 0x85, "call local", CALLL, JIT_Z, JIT_EQ(1), JIT_Z, JIT_ANY, 3)            \
	X(CALL_KFUNC, 0x85, "call runtime", CALLR, JIT_Z, JIT_EQ(2), JIT_Z, JIT_ANY, 3)          \
	/* callx: helper id in the register named by dst (as LLVM and bpf_conformance encode it) */ \
	X(CALLX, 0x8d, "call", CALLX, JIT_REG, JIT_Z, JIT_Z, JIT_Z, 4)                           \
	X(EXIT, 0x95, "exit", EXIT, JIT_Z, JIT_Z, JIT_Z, JIT_Z, 1)                               \
	/* Loads and stores, RFC 9669 §5.1, §5.2 (MEMSX: ISA v4) */                              \
	X(LDXW, 0x61, "ldxw", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 1)                         \
	X(LDXH, 0x69, "ldxh", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 1)                         \
	X(LDXB, 0x71, "ldxb", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 1)                         \
	X(LDXDW, 0x79, "ldxdw", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 1)                       \
	X(LDXSW, 0x81, "ldxsw", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 4)                       \
	X(LDXSH, 0x89, "ldxsh", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 4)                       \
	X(LDXSB, 0x91, "ldxsb", LDX, JIT_WREG, JIT_REG, JIT_ANY, JIT_Z, 4)                       \
	X(STW, 0x62, "stw", ST, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, 1)                             \
	X(STH, 0x6a, "sth", ST, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, 1)                             \
	X(STB, 0x72, "stb", ST, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, 1)                             \
	X(STDW, 0x7a, "stdw", ST, JIT_REG, JIT_Z, JIT_ANY, JIT_ANY, 1)                           \
	X(STXW, 0x63, "stxw", STX, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, 1)                          \
	X(STXH, 0x6b, "stxh", STX, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, 1)                          \
	X(STXB, 0x73, "stxb", STX, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, 1)                          \
	X(STXDW, 0x7b, "stxdw", STX, JIT_REG, JIT_REG, JIT_ANY, JIT_Z, 1)                        \
	/* Atomics, RFC 9669 §5.3 */                                                             \
	JIT_ATOMIC_PAIR(X, ATOMIC_ADD, 0x00, "add", REG)                                              \
	JIT_ATOMIC_PAIR(X, ATOMIC_OR, 0x40, "or", REG)                                                \
	JIT_ATOMIC_PAIR(X, ATOMIC_AND, 0x50, "and", REG)                                              \
	JIT_ATOMIC_PAIR(X, ATOMIC_XOR, 0xa0, "xor", REG)                                              \
	JIT_ATOMIC_PAIR(X, ATOMIC_FETCH_ADD, 0x01, "fetch add", WREG)                                  \
	JIT_ATOMIC_PAIR(X, ATOMIC_FETCH_OR, 0x41, "fetch or", WREG)                                    \
	JIT_ATOMIC_PAIR(X, ATOMIC_FETCH_AND, 0x51, "fetch and", WREG)                                  \
	JIT_ATOMIC_PAIR(X, ATOMIC_FETCH_XOR, 0xa1, "fetch xor", WREG)                                  \
	JIT_ATOMIC_PAIR(X, ATOMIC_XCHG, 0xe1, "xchg", WREG)                                            \
	JIT_ATOMIC_PAIR(X, ATOMIC_CMPXCHG, 0xf1, "cmpxchg", REG)                                      \
	/* 64-bit immediate load, RFC 9669 §5.4: src_reg 0 plain, 1..6 pseudo forms */          \
	X(LDDW, 0x18, "lddw", LDDW, JIT_WREG, JIT_LE(6), JIT_Z, JIT_ANY, 1)                     \
	/* Legacy packet loads, RFC 9669 §5.5: r0 = ntoh(packet[imm] or [src + imm]), the   \
	 * packet being the one of the context in r6. dst and offset are reserved (0);     \
	 * no DW form (check_ld_abs() and BPF_INSN_MAP in kernel/bpf/core.c). */            \
	X(LDABSW, 0x20, "ldabsw", LDABS, JIT_Z, JIT_Z, JIT_Z, JIT_ANY, 1)                        \
	X(LDABSH, 0x28, "ldabsh", LDABS, JIT_Z, JIT_Z, JIT_Z, JIT_ANY, 1)                        \
	X(LDABSB, 0x30, "ldabsb", LDABS, JIT_Z, JIT_Z, JIT_Z, JIT_ANY, 1)                        \
	X(LDINDW, 0x40, "ldindw", LDIND, JIT_Z, JIT_REG, JIT_Z, JIT_ANY, 1)                      \
	X(LDINDH, 0x48, "ldindh", LDIND, JIT_Z, JIT_REG, JIT_Z, JIT_ANY, 1)                      \
	X(LDINDB, 0x50, "ldindb", LDIND, JIT_Z, JIT_REG, JIT_Z, JIT_ANY, 1)
/* clang-format on */

/* One enumerator per form, in table order. */
enum jit_op {
#define JIT_X_ENUM(N, ...) JIT_OP_##N,
	JIT_OPCODES(JIT_X_ENUM)
#undef JIT_X_ENUM
	JIT_OP__CNT, /* number of forms in the table */
};

/* A row of the table as data, for code that prefers a lookup to a macro. */
struct jit_opcode_info {
	uint8_t code;           /* opcode byte */
	uint8_t syntax;         /* enum jit_syntax */
	uint8_t isa;            /* 1..4 */
	const char *name;       /* "ADD64_IMM" */
	const char *mnemonic;   /* "add" */
	struct jit_field_spec dst, src, off, imm;
};

/** The table as data, indexed by enum jit_op (jit/decode.c). */
extern const struct jit_opcode_info jit_opcode_table[JIT_OP__CNT];

#endif /* JIT_OPCODES_H */
