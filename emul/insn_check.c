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

#include "emul/skb.h"

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

static bool is_ld_abs_ind(uint8_t code)
{
	return BPF_CLASS(code) == BPF_LD && (BPF_MODE(code) == BPF_ABS || BPF_MODE(code) == BPF_IND);
}

/*
 * check_abnormal_return() (kernel/bpf/verifier.c): an LD_ABS/LD_IND may end
 * the program from inside a subprogram, which the kernel allows only for
 * subprograms described by BTF func_info. Subprograms start at the targets
 * of local calls and of ld_imm64 BPF_PSEUDO_FUNC (add_subprog_and_kfunc()),
 * so an LD_ABS at or after the first such target is inside one.
 * DIVERGES: with func_info the kernel accepts it; we refuse it all the
 * same (an exit there would need to end the caller too).
 */
static int ld_abs_subprog_check(const struct bpf_insn *insns, const struct insn_check_env *env)
{
	int64_t first_sub = env->cnt;

	for (uint32_t i = 0; i < env->cnt; i++) {
		const struct bpf_insn *in = &insns[i];
		int64_t t = (int64_t)i + in->imm + 1;

		if ((in->code == (BPF_JMP | BPF_CALL) && in->src_reg == BPF_PSEUDO_CALL) ||
		    (in->code == (BPF_LD | BPF_IMM | BPF_DW) && in->src_reg == BPF_PSEUDO_FUNC))
			if (t > 0 && t < first_sub)
				first_sub = t;
		if (in->code == (BPF_LD | BPF_IMM | BPF_DW))
			i++;
	}
	for (int64_t i = first_sub; i < env->cnt; i++)
		if (is_ld_abs_ind(insns[i].code))
			return fail(env, -EINVAL, "LD_ABS is not allowed in subprogs without BTF");
	return 0;
}

int emu_insn_check(struct bpf_insn *insns, const struct insn_check_env *env)
{
	uint32_t cnt = env->cnt;
	uint8_t last;
	int ret;

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
			/* Legacy packet loads (RFC 9669 §5.5): check_ld_abs() in kernel/bpf/verifier.c,
			 * may_access_skb() for the types; the DW size is no opcode at all
			 * (BPF_INSN_MAP, kernel/bpf/core.c), so it falls to "unknown opcode". */
			if ((mode == BPF_ABS || mode == BPF_IND) && BPF_SIZE(in->code) != BPF_DW) {
				if (env->prog_type != BPF_PROG_TYPE_SOCKET_FILTER &&
				    env->prog_type != BPF_PROG_TYPE_SCHED_CLS && env->prog_type != BPF_PROG_TYPE_SCHED_ACT)
					return fail(env, -EINVAL, "BPF_LD_[ABS|IND] instructions not allowed for this program type");
				if (in->dst_reg != 0 || in->off != 0 || (mode == BPF_ABS && in->src_reg != 0))
					return fail(env, -EINVAL, "BPF_LD_[ABS|IND] uses reserved fields");
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
	ret = ld_abs_subprog_check(insns, env);
	if (ret)
		return ret;
	last = insns[cnt - 1].code;
	if (last != (BPF_JMP | BPF_EXIT) && last != (BPF_JMP | BPF_JA) && last != (BPF_JMP32 | BPF_JA))
		return fail(env, -EINVAL, "last insn is not an exit or jmp");
	/* Socket-buffer programs: ctx accesses and helpers must be ones the test run models (skb_check.c). */
	if (emu_skb_prog_type(env->prog_type))
		return emu_skb_prog_check(insns, cnt, env->prog_type, env->log, env->log_cookie);
	return 0;
}

/*
 * SHA-256 (FIPS 180-4 §6.2), enough for the program tag: Linux 6.18 (this
 * machine) computes it with SHA-256 (kernel/bpf/core.c, bpf_prog_calc_tag());
 * kernels before 6.17 used SHA-1 and report other tags.
 */
static const uint32_t k256[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
	0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
	0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
	0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
	0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

struct sha256 {
	uint32_t h[8];
	uint8_t buf[64];
	uint64_t len;
	size_t fill;
};

static uint32_t ror(uint32_t x, int n)
{
	return (x >> n) | (x << (32 - n));
}

static void sha256_block(struct sha256 *c, const uint8_t *p)
{
	uint32_t w[64], v[8];

	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 64; i++) {
		uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
		uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);

		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	memcpy(v, c->h, sizeof(v));
	for (int i = 0; i < 64; i++) {
		uint32_t S1 = ror(v[4], 6) ^ ror(v[4], 11) ^ ror(v[4], 25);
		uint32_t ch = (v[4] & v[5]) ^ (~v[4] & v[6]);
		uint32_t t1 = v[7] + S1 + ch + k256[i] + w[i];
		uint32_t S0 = ror(v[0], 2) ^ ror(v[0], 13) ^ ror(v[0], 22);
		uint32_t maj = (v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]);

		memmove(&v[1], &v[0], 7 * sizeof(v[0]));
		v[4] += t1;
		v[0] = t1 + S0 + maj;
	}
	for (int i = 0; i < 8; i++)
		c->h[i] += v[i];
}

static void sha256_update(struct sha256 *c, const void *data, size_t n)
{
	const uint8_t *p = data;

	c->len += n;
	while (n--) {
		c->buf[c->fill++] = *p++;
		if (c->fill == 64) {
			sha256_block(c, c->buf);
			c->fill = 0;
		}
	}
}

void emu_insn_tag(const struct bpf_insn *insns, uint32_t cnt, uint8_t tag[8])
{
	struct sha256 c = { { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
			      0x5be0cd19 },
			    { 0 },
			    0,
			    0 };
	uint64_t bits;
	uint8_t pad = 0x80, zero = 0, lenb[8];
	bool was_ld_map = false;

	/* bpf_prog_calc_tag(): map ld_imm64 imms are zeroed first, so the tag does not depend on fds. */
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
		sha256_update(&c, &in, sizeof(in));
	}
	bits = c.len * 8;
	sha256_update(&c, &pad, 1);
	while (c.fill != 56)
		sha256_update(&c, &zero, 1);
	for (int i = 0; i < 8; i++)
		lenb[i] = (uint8_t)(bits >> (56 - 8 * i));
	sha256_update(&c, lenb, 8);
	for (int i = 0; i < 8; i++)
		tag[i] = (uint8_t)(c.h[i / 4] >> (24 - 8 * (i % 4)));
}
