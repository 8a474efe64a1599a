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

#endif /* JIT_ASM_H */
