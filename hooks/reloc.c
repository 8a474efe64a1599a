/*
 * reloc.c - move the instructions displaced by a 5-byte jmp into a trampoline
 * so that they do there exactly what they did at the probed address.
 *
 * Capstone decodes (we never hand-decode x86). Each displaced instruction is
 * copied, and fixed up where its meaning depends on where it sits:
 *  - RIP-relative memory operands (mov/lea/cmp/jmp *... with disp32 off %rip)
 *    get their displacement recomputed for the new address;
 *  - jmp rel8/rel32 and jcc rel8/rel32 are re-encoded with rel32, or, when the
 *    target is beyond ±2 GiB of the trampoline, as an absolute indirect jmp
 *    (jcc: the inverted condition skips over it);
 *  - call rel32 becomes "push the original return address; jmp target", so the
 *    callee returns straight to the probed code (unwinders and
 *    __builtin_return_address see what they would have seen);
 *  - a branch to an instruction inside the displaced range goes to its copy;
 *    one to the probed address itself goes back to the site (so it hits again,
 *    as a breakpoint would).
 * The copy ends with a jmp to the first byte after the displaced range, unless
 * its last instruction never falls through (ret, jmp).
 *
 * Refused, with the kernel's logic of arch/x86/kernel/uprobes.c in mind (it
 * single-steps what it cannot emulate, which we cannot do cheaply):
 *  -ENOSPC      the code stops (ret/jmp/ud2/hlt...) before 5 bytes: what
 *               follows may be another function or a branch target (uprobe.c
 *               then relocates only the first instruction, for an int3);
 *  -EOPNOTSUPP  loop/loopcc/jrcxz, xbegin, far/indirect-far transfers,
 *               int/iret/sysenter and privileged instructions, a branch into the
 *               middle of a displaced instruction;
 *  -EBUSY       an int3 already sits in the range (a debugger's breakpoint);
 *  -ERANGE      a RIP-relative operand out of reach of the trampoline;
 *  -EINVAL      bytes that do not decode.
 * What we cannot see from here: a branch from elsewhere into the displaced
 * bytes after the first. site_check.c looks for those in the enclosing
 * function and makes such a site an int3 (which leaves them intact).
 */
#include "config.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/log.h"
#include "hooks/hooks_int.h"

#define MAX_INSNS HOOK_INSN_MAX

struct emit {
	uint8_t *buf;
	uint32_t len;
	uint32_t cap;
	int err;
};

static void put(struct emit *e, const void *p, uint32_t n)
{
	if (e->err)
		return;
	if (e->len + n > e->cap) {
		e->err = -E2BIG;
		return;
	}
	memcpy(e->buf + e->len, p, n);
	e->len += n;
}

static void put8(struct emit *e, uint8_t b)
{
	put(e, &b, 1);
}

static void put32(struct emit *e, uint32_t v)
{
	put(e, &v, 4);
}

static bool fits32(int64_t v)
{
	return v >= INT32_MIN && v <= INT32_MAX;
}

/* jmp to an absolute address from dest + e->len. */
static void emit_jmp(struct emit *e, uint64_t dest, uint64_t target)
{
	int64_t rel = (int64_t)(target - (dest + e->len + 5));

	if (fits32(rel)) {
		put8(e, 0xe9);
		put32(e, (uint32_t)rel);
	} else {
		static const uint8_t ind[] = { 0xff, 0x25, 0, 0, 0, 0 }; /* jmp *0(%rip) */

		put(e, ind, sizeof(ind));
		put(e, &target, 8);
	}
}

/* jcc (condition code 0..15) to an absolute address. */
static void emit_jcc(struct emit *e, uint64_t dest, uint8_t cc, uint64_t target)
{
	int64_t rel = (int64_t)(target - (dest + e->len + 6));

	if (fits32(rel)) {
		put8(e, 0x0f);
		put8(e, 0x80 | cc);
		put32(e, (uint32_t)rel);
	} else {
		put8(e, 0x70 | (cc ^ 1)); /* inverted condition skips the 14-byte jmp */
		put8(e, 14);
		emit_jmp(e, dest, target);
	}
}

/* call emulation: push the return address the original call would have pushed, then jmp. */
static void emit_call(struct emit *e, uint64_t dest, uint64_t ret, uint64_t target)
{
	static const uint8_t lea[] = { 0x48, 0x8d, 0x64, 0x24, 0xf8 }; /* lea -8(%rsp),%rsp */
	static const uint8_t mov_lo[] = { 0xc7, 0x04, 0x24 };	       /* movl $imm,(%rsp) */
	static const uint8_t mov_hi[] = { 0xc7, 0x44, 0x24, 0x04 };    /* movl $imm,4(%rsp) */

	put(e, lea, sizeof(lea));
	put(e, mov_lo, sizeof(mov_lo));
	put32(e, (uint32_t)ret);
	put(e, mov_hi, sizeof(mov_hi));
	put32(e, (uint32_t)(ret >> 32));
	emit_jmp(e, dest, target);
}

enum insn_kind {
	K_PLAIN,    /* copy, fix RIP-relative operand if any */
	K_JMP,	    /* jmp rel8/rel32 */
	K_JCC,	    /* jcc rel8/rel32 */
	K_CALL,	    /* call rel32 */
	K_STOP,	    /* copy; never falls through (ret, jmp *, ud2, hlt) */
};

struct insn {
	uint64_t addr;
	uint32_t off, size;
	uint8_t bytes[16];
	enum insn_kind kind;
	uint8_t cc;		/* K_JCC */
	uint64_t target;	/* K_JMP/K_JCC/K_CALL */
	int disp_off;		/* RIP-relative disp32 offset in bytes, -1: none */
};

static bool has_group(const cs_insn *ci, uint8_t g)
{
	for (int i = 0; i < ci->detail->groups_count; i++)
		if (ci->detail->groups[i] == g)
			return true;
	return false;
}

static int classify(const cs_insn *ci, struct insn *in)
{
	const cs_x86 *x = &ci->detail->x86;
	const uint8_t op0 = x->opcode[0], op1 = x->opcode[1];

	in->kind = K_PLAIN;
	in->disp_off = -1;
	switch (ci->id) {
	case X86_INS_INT3:
		log_debug("hooks: int3 at %#llx: already a breakpoint there\n",
			  (unsigned long long)ci->address);
		return -EBUSY;
	case X86_INS_LOOP: case X86_INS_LOOPE: case X86_INS_LOOPNE:
	case X86_INS_JRCXZ: case X86_INS_JECXZ: case X86_INS_XBEGIN:
	case X86_INS_INT: case X86_INS_INTO: case X86_INS_INT1:
	case X86_INS_IRET: case X86_INS_IRETD: case X86_INS_IRETQ:
	case X86_INS_SYSENTER: case X86_INS_SYSEXIT: case X86_INS_SYSRET:
	case X86_INS_LJMP: case X86_INS_LCALL: case X86_INS_RETF: case X86_INS_RETFQ:
		log_debug("hooks: %s at %#llx cannot be relocated\n", ci->mnemonic,
			  (unsigned long long)ci->address);
		return -EOPNOTSUPP;
	case X86_INS_RET: case X86_INS_UD2: case X86_INS_HLT:
		in->kind = K_STOP;
		break;
	default:
		break;
	}
	if (has_group(ci, X86_GRP_PRIVILEGE)) {
		log_debug("hooks: privileged %s at %#llx\n", ci->mnemonic,
			  (unsigned long long)ci->address);
		return -EOPNOTSUPP;
	}
	if (has_group(ci, X86_GRP_BRANCH_RELATIVE)) {
		if (x->op_count != 1 || x->operands[0].type != X86_OP_IMM)
			return -EOPNOTSUPP;
		in->target = (uint64_t)x->operands[0].imm;
		if (op0 == 0xeb || op0 == 0xe9) {
			in->kind = K_JMP;
		} else if (op0 == 0xe8) {
			in->kind = K_CALL;
		} else if (op0 >= 0x70 && op0 <= 0x7f) {
			in->kind = K_JCC;
			in->cc = op0 & 0xf;
		} else if (op0 == 0x0f && op1 >= 0x80 && op1 <= 0x8f) {
			in->kind = K_JCC;
			in->cc = op1 & 0xf;
		} else {
			log_debug("hooks: relative branch %s at %#llx cannot be relocated\n",
				  ci->mnemonic, (unsigned long long)ci->address);
			return -EOPNOTSUPP;
		}
		return 0;
	}
	/* Indirect jmp (jmp *%rax, jmp *mem, notrack): never falls through. */
	if (ci->id == X86_INS_JMP)
		in->kind = K_STOP;
	for (int i = 0; i < x->op_count; i++) {
		if (x->operands[i].type == X86_OP_MEM && x->operands[i].mem.base == X86_REG_RIP) {
			if (x->encoding.disp_size != 4 || !x->encoding.disp_offset)
				return -EOPNOTSUPP;
			in->disp_off = x->encoding.disp_offset;
		}
	}
	return 0;
}

static int decode(const uint8_t *code, uint32_t avail, uint64_t addr, uint32_t min_len,
		  struct insn *ins, int *n)
{
	csh h;
	cs_insn *ci;
	uint32_t off = 0;
	int cnt = 0, err = 0;

	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	ci = cs_malloc(h);
	if (!ci) {
		cs_close(&h);
		return -ENOMEM;
	}
	while (off < min_len) {
		const uint8_t *p = code + off;
		size_t left = avail - off;
		uint64_t a = addr + off;
		struct insn *in = &ins[cnt];

		if (cnt == MAX_INSNS || !cs_disasm_iter(h, &p, &left, &a, ci)) {
			log_debug("hooks: cannot decode the instruction at %#llx\n",
				  (unsigned long long)(addr + off));
			err = -EINVAL;
			break;
		}
		in->addr = ci->address;
		in->off = off;
		in->size = ci->size;
		memcpy(in->bytes, ci->bytes, ci->size);
		err = classify(ci, in);
		if (err)
			break;
		off += ci->size;
		cnt++;
		if ((in->kind == K_STOP || in->kind == K_JMP) && off < min_len) {
			log_debug("hooks: code at %#llx ends after %u bytes: too short for a %u-byte jmp\n",
				  (unsigned long long)addr, off, min_len);
			err = -ENOSPC;
			break;
		}
	}
	cs_free(ci, 1);
	cs_close(&h);
	*n = cnt;
	return err;
}

/*
 * Where a branch to @target must go from the trampoline: the copy of a
 * displaced instruction, the site itself, or unchanged. -EOPNOTSUPP for the
 * middle of an instruction.
 */
static int map_target(const struct insn *ins, int n, const uint32_t *new_off, uint64_t addr,
		      uint32_t patch_len, uint64_t dest, uint64_t *target)
{
	if (*target <= addr || *target >= addr + patch_len)
		return 0;
	for (int i = 0; i < n; i++) {
		if (ins[i].addr == *target) {
			*target = dest + new_off[i];
			return 0;
		}
	}
	log_debug("hooks: a branch at %#llx targets the middle of a displaced instruction\n",
		  (unsigned long long)addr);
	return -EOPNOTSUPP;
}

static int emit_all(const struct insn *ins, int n, uint64_t addr, uint32_t patch_len,
		    uint64_t dest, uint32_t *new_off, struct emit *e)
{
	for (int i = 0; i < n; i++) {
		const struct insn *in = &ins[i];
		uint64_t target = in->target;
		int err;

		new_off[i] = e->len;
		if (in->kind == K_JMP || in->kind == K_JCC || in->kind == K_CALL) {
			err = map_target(ins, n, new_off, addr, patch_len, dest, &target);
			if (err)
				return err;
		}
		switch (in->kind) {
		case K_JMP:
			emit_jmp(e, dest, target);
			break;
		case K_JCC:
			emit_jcc(e, dest, in->cc, target);
			break;
		case K_CALL: {
			/* Returning into the middle of the site would land on our jmp:
			 * only a call ending the displaced range may return there. */
			uint64_t ret = in->addr + in->size;

			if (i != n - 1) {
				log_debug("hooks: call at %#llx inside the displaced range\n",
					  (unsigned long long)in->addr);
				return -EOPNOTSUPP;
			}
			emit_call(e, dest, ret, target);
			break;
		}
		case K_PLAIN:
		case K_STOP: {
			uint8_t b[16];

			memcpy(b, in->bytes, in->size);
			if (in->disp_off >= 0) {
				int32_t old;
				int64_t abs, rel;

				memcpy(&old, b + in->disp_off, 4);
				abs = (int64_t)(in->addr + in->size) + old;
				rel = abs - (int64_t)(dest + e->len + in->size);
				if (!fits32(rel)) {
					log_debug("hooks: RIP-relative operand at %#llx out of reach\n",
						  (unsigned long long)in->addr);
					return -ERANGE;
				}
				int32_t r32 = (int32_t)rel;

				memcpy(b + in->disp_off, &r32, 4);
			}
			put(e, b, in->size);
			break;
		}
		}
	}
	return e->err;
}

/*
 * Relocate the instructions at @addr (a copy of which, @avail bytes long, is
 * at @insn) that cover at least @min_len bytes (5 for a jmp; 1 for an int3,
 * which displaces only the first instruction) to run at @dest. On success
 * @out holds the code and the number of bytes displaced at the site.
 */
int hook_reloc_build(const uint8_t *insn, uint32_t avail, uint64_t addr, uint64_t dest,
		     uint32_t min_len, struct hook_reloc *out)
{
	struct insn ins[MAX_INSNS];
	uint32_t new_off[MAX_INSNS] = { 0 };
	struct emit e = { .buf = out->code, .cap = sizeof(out->code) };
	int n = 0, err;
	uint32_t patch_len;

	if (min_len < 1 || min_len > 5)
		return -EINVAL;
	err = decode(insn, avail, addr, min_len, ins, &n);
	if (err)
		return err;
	patch_len = ins[n - 1].off + ins[n - 1].size;
	if (patch_len > HOOK_PATCH_MAX)
		return -EOPNOTSUPP;
	/*
	 * Two passes: the first fixes the copy offsets (branch sizes depend only
	 * on reach, which does not change between passes), the second resolves
	 * forward branches inside the range with them.
	 */
	err = emit_all(ins, n, addr, patch_len, dest, new_off, &e);
	if (err)
		return err;
	e.len = 0;
	err = emit_all(ins, n, addr, patch_len, dest, new_off, &e);
	if (err)
		return err;
	if (ins[n - 1].kind != K_STOP && ins[n - 1].kind != K_JMP && ins[n - 1].kind != K_CALL)
		emit_jmp(&e, dest, addr + patch_len);
	if (e.err)
		return e.err;
	out->code_len = e.len;
	out->patch_len = patch_len;
	out->inner = ins[0].size < 5;
	out->insn_cnt = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		out->insn_off[i] = (uint8_t)ins[i].off;
		out->insn_new[i] = (uint16_t)new_off[i];
	}
	return 0;
}
