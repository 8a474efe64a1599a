/*
 * disasm.c - the inverse of jit/asm.c: one instruction back to the
 * conformance text syntax (shared/conformance/README.md §2), driven by the
 * same SYNTAX column of jit/opcodes.h. For logs (the verifier prints the
 * instruction it refuses, as kernel/bpf/disasm.c does for the kernel's log)
 * and for `bpftime-asm -d`. Round trip: assembling the text of a program
 * gives back its words (checked over all conformance vectors).
 */
#include <errno.h>
#include <stdio.h>

#include "jit/asm.h"
#include "jit/decode.h"

/* "[%r1+8]", "[%r1-8]", "[%r1]" */
static void mem_fmt(char *buf, size_t sz, unsigned int reg, int16_t off)
{
	if (off)
		snprintf(buf, sz, "[%%r%u%+d]", reg, off);
	else
		snprintf(buf, sz, "[%%r%u]", reg);
}

int jit_disasm_insn(const struct bpf_insn *insns, uint32_t left, char *buf, size_t buf_sz)
{
	const struct bpf_insn *in = insns;
	const struct jit_opcode_info *r;
	enum jit_op op;
	char why[256], mem[32], src[24];
	uint64_t imm64;

	if (!left) {
		snprintf(buf, buf_sz, "no instruction");
		return -EINVAL;
	}
	if (jit_decode_insn(in, &op, why, sizeof(why))) {
		snprintf(buf, buf_sz, "%s", why);
		return -EINVAL;
	}
	r = &jit_opcode_table[op];
	if (r->src.rule == JIT_F_REG)
		snprintf(src, sizeof(src), "%%r%u", in->src_reg);
	else
		snprintf(src, sizeof(src), "%d", in->imm);

	switch (r->syntax) {
	case JIT_SYN_ALU:
		snprintf(buf, buf_sz, "%s %%r%u, %s", r->mnemonic, in->dst_reg, src);
		break;
	case JIT_SYN_ALU1:
	case JIT_SYN_END:
		snprintf(buf, buf_sz, "%s %%r%u", r->mnemonic, in->dst_reg);
		break;
	case JIT_SYN_MOVSX:
		snprintf(buf, buf_sz, "%s %%r%u, %%r%u", r->mnemonic, in->dst_reg, in->src_reg);
		break;
	case JIT_SYN_LDX:
		mem_fmt(mem, sizeof(mem), in->src_reg, in->off);
		snprintf(buf, buf_sz, "%s %%r%u, %s", r->mnemonic, in->dst_reg, mem);
		break;
	case JIT_SYN_ST:
		mem_fmt(mem, sizeof(mem), in->dst_reg, in->off);
		snprintf(buf, buf_sz, "%s %s, %d", r->mnemonic, mem, in->imm);
		break;
	case JIT_SYN_STX:
	case JIT_SYN_ATOMIC:
		mem_fmt(mem, sizeof(mem), in->dst_reg, in->off);
		snprintf(buf, buf_sz, "%s %s, %%r%u", r->mnemonic, mem, in->src_reg);
		break;
	case JIT_SYN_LDDW:
		if (left < 2) {
			snprintf(buf, buf_sz, "lddw is cut in half (its second slot is missing)");
			return -EINVAL;
		}
		imm64 = (uint64_t)(uint32_t)in[0].imm | (uint64_t)(uint32_t)in[1].imm << 32;
		if (in->src_reg)
			snprintf(buf, buf_sz, "lddw %%r%u, 0x%llx # pseudo src_reg %u", in->dst_reg,
				 (unsigned long long)imm64, in->src_reg);
		else
			snprintf(buf, buf_sz, "lddw %%r%u, 0x%llx", in->dst_reg,
				 (unsigned long long)imm64);
		return 2;
	case JIT_SYN_JA:
		snprintf(buf, buf_sz, "ja %+d", in->off);
		break;
	case JIT_SYN_JA32:
		snprintf(buf, buf_sz, "ja32 %+d", in->imm);
		break;
	case JIT_SYN_JCC:
		snprintf(buf, buf_sz, "%s %%r%u, %s, %+d", r->mnemonic, in->dst_reg, src, in->off);
		break;
	case JIT_SYN_CALL:
	case JIT_SYN_CALLR:
		snprintf(buf, buf_sz, "%s %d", r->mnemonic, in->imm);
		break;
	case JIT_SYN_CALLL:
		snprintf(buf, buf_sz, "call local %+d", in->imm);
		break;
	case JIT_SYN_CALLX:
		snprintf(buf, buf_sz, "call %%r%u", in->dst_reg);
		break;
	case JIT_SYN_EXIT:
		snprintf(buf, buf_sz, "exit");
		break;
	case JIT_SYN_LDABS:
		snprintf(buf, buf_sz, "%s %d", r->mnemonic, in->imm);
		break;
	case JIT_SYN_LDIND:
		snprintf(buf, buf_sz, "%s %%r%u, %d", r->mnemonic, in->src_reg, in->imm);
		break;
	}
	return 1;
}
