/*
 * asm.h - the contract of the assembler for the conformance text syntax
 * (shared/conformance/README.md §2, the syntax of bpf_conformance and uBPF
 * test files). Used by the conformance tests, the bpftime-asm tool and unit
 * tests that want readable programs.
 */
#ifndef JIT_ASM_H
#define JIT_ASM_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

/**
 * jit_asm_assemble() - assemble a program.
 * @text: NUL-terminated source; '#' starts a comment, one instruction or
 *        label per line
 * @out: on success a malloc()ed array of *@insn_cnt slots (lddw counts 2);
 *       the caller frees it
 * @log: on failure one line "line N: reason", may be NULL
 *
 * The assembler checks syntax and operand ranges (imm 32 bits, offset
 * 16 bits, labels defined), not ISA rules: it encodes %r11..%r15 and any
 * register combination, so negative tests can be written in it; the decoder
 * (jit/decode.h) judges the result.
 * Returns 0; -EINVAL for a syntax error or an empty program; -ENOMEM.
 */
int jit_asm_assemble(const char *text, struct bpf_insn **out, uint32_t *insn_cnt, char *log,
		     size_t log_sz);

/**
 * jit_disasm_insn() - one instruction as conformance-syntax text.
 * @insns: the instruction and what follows it (an lddw needs its second slot)
 * @left: slots available at @insns
 * @buf: receives the text, NUL-terminated (truncated to @buf_sz)
 *
 * Jump and local-call targets are printed relative ("ja +3"), so the text of
 * a whole program assembles back to the same words, except ld_imm64 pseudo
 * forms, whose src_reg the syntax cannot express (printed as a comment).
 * Returns the number of slots used (1, or 2 for lddw), or -EINVAL for an
 * instruction jit_decode_insn() refuses or an lddw missing its second slot
 * (@buf then holds the reason).
 */
int jit_disasm_insn(const struct bpf_insn *insns, uint32_t left, char *buf, size_t buf_sz);

#endif /* JIT_ASM_H */
