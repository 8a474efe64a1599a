/*
 * insn_check.c - the structural program check PROG_LOAD does while there is
 * no verifier, and the program tag.
 *
 * The checks and their messages follow kernel/bpf/verifier.c
 * (check_subprogs(), resolve_pseudo_ldimm64(), do_check()'s opcode
 * switch, check_helper_call()) so a refusal reads like the kernel's: the
 * instruction index first, then what is wrong. Encodings follow RFC 9669
 * (§3 instruction encoding, §4 arithmetic and jumps, §5 load and store).
 *
 * This is a decoder, not a verifier: it does not track register types,
 * bounds or stack, so programs that the kernel would refuse for memory
 * safety are accepted (PROG_LOAD's log says so).
 */
#include "emul/insn_check.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define HELPER_MAX 212 /* __BPF_FUNC_MAX_ID at Linux 6.1; newer kernels know a few more */

static int fail(const struct insn_check_env *env, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail(const struct insn_check_env *env, int err, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (env->log)
		env->log(env->log_cookie, msg);
	return err;
}

static bool alu_op_ok(uint8_t code)
{
	uint8_t op = code & 0xf0;

	return op <= BPF_END; /* add..end; 0xe0/0xf0 are unused (RFC 9669 §4.1) */
}

static bool jmp_op_ok(uint8_t code, bool jmp32)
{
	uint8_t op = code & 0xf0;

	if (op == BPF_CALL || op == BPF_EXIT)
		return !jmp32 && (code & 0x08) == 0;
	return op <= BPF_JSLE;
}

static bool size_ok(uint8_t code)
{
	(void)code;
	return true; /* all four sizes are valid for every load/store mode we accept */
}

int emu_insn_check(struct bpf_insn *insns, const struct insn_check_env *env)
{
	uint32_t cnt = env->cnt;
	uint8_t last;

	for (uint32_t i = 0; i < cnt; i++) {
		struct bpf_insn *in = &insns[i];
		uint8_t cls = BPF_CLASS(in->code), mode = BPF_MODE(in->code);

		if (in->dst_reg > 10 || in->src_reg > 10)
			return fail(env, -EINVAL, "R%d is invalid", in->dst_reg > 10 ? in->dst_reg : in->src_reg);
		switch (cls) {
		case BPF_ALU:
		case BPF_ALU64:
			if (!alu_op_ok(in->code))
				return fail(env, -EINVAL, "invalid BPF_ALU opcode %x", in->code);
			if (in->dst_reg == 10)
				return fail(env, -EACCES, "frame pointer is read only");
			break;
		case BPF_JMP:
		case BPF_JMP32: {
			uint8_t op = in->code & 0xf0;
			int64_t target;

			if (!jmp_op_ok(in->code, cls == BPF_JMP32))
				return fail(env, -EINVAL, "unknown opcode %02x", in->code);
			if (op == BPF_EXIT)
				break;
			if (op == BPF_CALL) {
				if (in->src_reg == 0 && (in->imm <= 0 || in->imm >= HELPER_MAX))
					return fail(env, -EINVAL, "invalid func unknown#%d", in->imm);
				if (in->src_reg == BPF_PSEUDO_CALL) {
					target = (int64_t)i + in->imm + 1;
					if (target < 0 || target >= cnt)
						return fail(env, -EINVAL, "call to invalid destination");
				}
				if (in->src_reg == BPF_PSEUDO_KFUNC_CALL)
					return fail(env, -EINVAL, "calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF");
				break;
			}
			/* gotol (JMP32 | JA) uses imm, everything else off (RFC 9669 §4.3). */
			if (cls == BPF_JMP32 && op == BPF_JA)
				target = (int64_t)i + in->imm + 1;
			else
				target = (int64_t)i + in->off + 1;
			if (target < 0 || target >= cnt)
				return fail(env, -EINVAL, "jump out of range from insn %u to %lld", i, (long long)target);
			break;
		}
		case BPF_LD:
			if (in->code == (BPF_LD | BPF_IMM | BPF_DW)) {
				struct bpf_insn *hi;

				if (i + 1 >= cnt || insns[i + 1].code != 0 || insns[i + 1].dst_reg ||
				    insns[i + 1].src_reg || insns[i + 1].off)
					return fail(env, -EINVAL, "invalid bpf_ld_imm64 insn");
				hi = &insns[i + 1];
				if (in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_VALUE) {
					uint32_t id;
					int err;

					if (in->src_reg == BPF_PSEUDO_MAP_FD && hi->imm)
						return fail(env, -EINVAL, "unrecognized bpf_ld_imm64 insn");
					err = env->resolve_map(env->cookie, in->imm, &id);
					if (err == -EBADF)
						return fail(env, err, "fd %d is not pointing to valid bpf_map", in->imm);
					if (err)
						return fail(env, err, "fd %d is not pointing to valid bpf_map", in->imm);
					in->imm = (int32_t)id;
				} else if (in->src_reg == BPF_PSEUDO_MAP_IDX || in->src_reg == BPF_PSEUDO_MAP_IDX_VALUE ||
					   in->src_reg == BPF_PSEUDO_BTF_ID) {
					return fail(env, -EINVAL, "bpftime: ld_imm64 pseudo source %d is not supported yet",
						    in->src_reg);
				} else if (in->src_reg != 0 && in->src_reg != BPF_PSEUDO_FUNC) {
					return fail(env, -EINVAL, "unrecognized bpf_ld_imm64 insn");
				}
				if (in->dst_reg == 10)
					return fail(env, -EACCES, "frame pointer is read only");
				i++;
				break;
			}
			if ((mode == BPF_ABS || mode == BPF_IND) && BPF_SIZE(in->code) != BPF_DW) {
				if (env->prog_type != BPF_PROG_TYPE_SOCKET_FILTER &&
				    env->prog_type != BPF_PROG_TYPE_SCHED_CLS && env->prog_type != BPF_PROG_TYPE_SCHED_ACT)
					return fail(env, -EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
				break;
			}
			return fail(env, -EINVAL, "unknown opcode %02x", in->code);
		case BPF_LDX:
			if ((mode != BPF_MEM && mode != 0x80 /* MEMSX */) || !size_ok(in->code))
				return fail(env, -EINVAL, "unknown opcode %02x", in->code);
			if (in->dst_reg == 10)
				return fail(env, -EACCES, "frame pointer is read only");
			break;
		case BPF_ST:
			if (mode != BPF_MEM)
				return fail(env, -EINVAL, "unknown opcode %02x", in->code);
			break;
		case BPF_STX:
			if (mode != BPF_MEM && mode != BPF_ATOMIC)
				return fail(env, -EINVAL, "unknown opcode %02x", in->code);
			if (mode == BPF_ATOMIC && BPF_SIZE(in->code) != BPF_W && BPF_SIZE(in->code) != BPF_DW)
				return fail(env, -EINVAL, "invalid atomic operand size");
			break;
		}
	}
	last = insns[cnt - 1].code;
	if (last != (BPF_JMP | BPF_EXIT) && last != (BPF_JMP | BPF_JA) && last != (BPF_JMP32 | BPF_JA))
		return fail(env, -EINVAL, "last insn is not an exit or jmp");
	return 0;
}

/* SHA-1 (FIPS 180-4), enough for the 8-byte program tag the kernel reports. */
struct sha1 {
	uint32_t h[5];
	uint8_t buf[64];
	uint64_t len;
	size_t fill;
};

static uint32_t rol(uint32_t x, int n)
{
	return (x << n) | (x >> (32 - n));
}

static void sha1_block(struct sha1 *c, const uint8_t *p)
{
	uint32_t w[80], a = c->h[0], b = c->h[1], d3 = c->h[2], d = c->h[3], e = c->h[4];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	for (int i = 0; i < 80; i++) {
		uint32_t f, k, tmp;

		if (i < 20) {
			f = (b & d3) | (~b & d);
			k = 0x5a827999;
		} else if (i < 40) {
			f = b ^ d3 ^ d;
			k = 0x6ed9eba1;
		} else if (i < 60) {
			f = (b & d3) | (b & d) | (d3 & d);
			k = 0x8f1bbcdc;
		} else {
			f = b ^ d3 ^ d;
			k = 0xca62c1d6;
		}
		tmp = rol(a, 5) + f + e + k + w[i];
		e = d;
		d = d3;
		d3 = rol(b, 30);
		b = a;
		a = tmp;
	}
	c->h[0] += a;
	c->h[1] += b;
	c->h[2] += d3;
	c->h[3] += d;
	c->h[4] += e;
}

static void sha1_update(struct sha1 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->len += n;
	while (n--) {
		c->buf[c->fill++] = *p++;
		if (c->fill == 64) {
			sha1_block(c, c->buf);
			c->fill = 0;
		}
	}
}

void emu_insn_tag(const struct bpf_insn *insns, uint32_t cnt, uint8_t tag[8])
{
	struct sha1 c = { { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 }, { 0 }, 0, 0 };
	uint64_t bits;
	uint8_t pad = 0x80, zero = 0, lenb[8];
	bool was_ld_map = false;

	/* kernel/bpf/core.c, bpf_prog_calc_tag(): map ld_imm64 imms are zeroed first. */
	for (uint32_t i = 0; i < cnt; i++) {
		struct bpf_insn in = insns[i];

		if (was_ld_map) {
			was_ld_map = false;
			in.imm = 0;
		} else if (in.code == (BPF_LD | BPF_IMM | BPF_DW) &&
			   (in.src_reg == BPF_PSEUDO_MAP_FD || in.src_reg == BPF_PSEUDO_MAP_VALUE)) {
			was_ld_map = true;
			in.imm = 0;
		}
		sha1_update(&c, &in, sizeof(in));
	}
	bits = c.len * 8;
	sha1_update(&c, &pad, 1);
	while (c.fill != 56)
		sha1_update(&c, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha1_update(&c, lenb, 8);
	for (int i = 0; i < 8; i++)
		tag[i] = (uint8_t)(c.h[i / 4] >> (24 - 8 * (i % 4)));
}
