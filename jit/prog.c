/*
 * prog.c - loading a program: decode and validate it (jit/decode.c), resolve
 * its ld_imm64 pseudo forms through the embedding's hook, and pre-decode it
 * into the array the interpreter runs (struct jit_pinsn, jit/jit_int.h).
 *
 * Loading is where every check that does not depend on register values
 * happens, once, so that the interpreter loop has none (the kernel makes the
 * same split between bpf_check() and ___bpf_prog_run() in kernel/bpf/core.c).
 * The rewrites below keep exact RFC 9669 semantics; each names the rule it
 * relies on.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utils.h"
#include "jit/jit_int.h"

#ifndef offsetofend
#define offsetofend(type, member) (offsetof(type, member) + sizeof(((type *)0)->member))
#endif

static void say(char *buf, size_t sz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *buf, size_t sz, const char *fmt, ...)
{
	va_list ap;

	if (!buf || !sz)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sz, fmt, ap);
	va_end(ap);
}

void jit_prog_free(struct jit_prog *p)
{
	if (!p)
		return;
	zfree(&p->code);
	zfree(&p->insns);
	zfree(&p->helpers);
	zfree(&p->geoms);
	zfree(&p->cb_start);
	free(p);
}

uint32_t jit_prog_insn_cnt(const struct jit_prog *p)
{
	return p->insn_cnt;
}

const struct bpf_insn *jit_prog_insns(const struct jit_prog *p)
{
	return p->insns;
}

/* Constant divisors: RFC 9669 §4.1 fixes x/0 = 0, x%0 = x, and for the
 * signed forms INT_MIN/-1 = INT_MIN (i.e. -x, wrapping) and x%-1 = 0. Turn
 * them into plain moves so the run-time handlers for K forms need no test. */
static void alu_const_fold(unsigned int *op, struct jit_pinsn *pi)
{
	int32_t k = pi->imm;

	switch (*op) {
	case JIT_OP_DIV64_IMM:
	case JIT_OP_DIV32_IMM:
	case JIT_OP_SDIV64_IMM:
	case JIT_OP_SDIV32_IMM:
		if (k == 0) {
			*op = JIT_OP_MOV64_IMM; /* 0 is already zero-extended */
			pi->imm = 0;
		} else if (k == -1 && *op == JIT_OP_SDIV64_IMM) {
			*op = JIT_OP_NEG64;
		} else if (k == -1 && *op == JIT_OP_SDIV32_IMM) {
			*op = JIT_OP_NEG32;
		}
		break;
	case JIT_OP_MOD64_IMM:
	case JIT_OP_SMOD64_IMM:
		if (k == 0) { /* dst unchanged */
			*op = JIT_OP_MOV64_REG;
			pi->src = pi->dst;
			pi->imm = 0;
		} else if (k == -1 && *op == JIT_OP_SMOD64_IMM) {
			*op = JIT_OP_MOV64_IMM;
			pi->imm = 0;
		}
		break;
	case JIT_OP_MOD32_IMM:
	case JIT_OP_SMOD32_IMM:
		if (k == 0) { /* dst unchanged, but ALU32 still zero-extends */
			*op = JIT_OP_MOV32_REG;
			pi->src = pi->dst;
			pi->imm = 0;
		} else if (k == -1 && *op == JIT_OP_SMOD32_IMM) {
			*op = JIT_OP_MOV64_IMM;
			pi->imm = 0;
		}
		break;
	/* Shift counts are masked to the operand width (RFC 9669 §4.1, "shift
	 * operations use a mask of 0x3F (63) for 64-bit and 0x1F (31) for 32-bit"). */
	case JIT_OP_LSH64_IMM:
	case JIT_OP_RSH64_IMM:
	case JIT_OP_ARSH64_IMM:
		pi->imm = k & 63;
		break;
	case JIT_OP_LSH32_IMM:
	case JIT_OP_RSH32_IMM:
	case JIT_OP_ARSH32_IMM:
		pi->imm = k & 31;
		break;
	default:
		break;
	}
}

static int lddw_resolve(const struct bpf_insn *insn, uint32_t i, const struct jit_env *env,
			const struct jit_prog *p, uint64_t *value, char *log, size_t log_sz)
{
	int err;

	if (insn->src_reg == 0) {
		*value = (uint64_t)(uint32_t)insn[0].imm | (uint64_t)(uint32_t)insn[1].imm << 32;
		return 0;
	}
	if (insn->src_reg == BPF_PSEUDO_FUNC) {
		/* The callback handle: the address of the target's pre-decoded
		 * slot, which jit_callback_call() checks against p->cb_start.
		 * jit_decode_prog() proved the target starts a subprogram. */
		*value = (uint64_t)(uintptr_t)&p->code[(int64_t)i + 1 + insn->imm];
		return 0;
	}
	if (!env->resolve_ld_imm64) {
		say(log, log_sz, "insn %u: ld_imm64 with src_reg %u needs a resolver and none is set",
		    i, insn->src_reg);
		return -EINVAL;
	}
	err = env->resolve_ld_imm64(env->cookie, insn, value);
	if (err) {
		say(log, log_sz, "insn %u: ld_imm64 with src_reg %u imm %d could not be resolved: %s",
		    i, insn->src_reg, insn->imm, strerror(-err));
		return err;
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* The subprograms a BPF_PSEUDO_FUNC names, sorted and unique: the only
 * slots jit_callback_call() will enter. */
static int cb_starts_collect(const struct bpf_insn *insns, const struct jit_decoded *d,
			     struct jit_prog *p)
{
	uint32_t cnt = 0;

	for (uint32_t i = 0; i < d->insn_cnt; i++)
		if (d->ops[i] == JIT_OP_LDDW && insns[i].src_reg == BPF_PSEUDO_FUNC)
			cnt++;
	if (!cnt)
		return 0;
	p->cb_start = calloc(cnt, sizeof(*p->cb_start));
	if (!p->cb_start)
		return -ENOMEM;
	for (uint32_t i = 0; i < d->insn_cnt; i++)
		if (d->ops[i] == JIT_OP_LDDW && insns[i].src_reg == BPF_PSEUDO_FUNC)
			p->cb_start[p->cb_cnt++] = (uint32_t)((int64_t)i + 1 + insns[i].imm);
	qsort(p->cb_start, cnt, sizeof(*p->cb_start), cmp_u32);
	cnt = 0;
	for (uint32_t k = 0; k < p->cb_cnt; k++)
		if (!cnt || p->cb_start[cnt - 1] != p->cb_start[k])
			p->cb_start[cnt++] = p->cb_start[k];
	p->cb_cnt = cnt;
	return 0;
}

static int pinsn_build(const struct bpf_insn *insns, const struct jit_decoded *d,
		       const struct jit_env *env, struct jit_prog *p, char *log, size_t log_sz)
{
	struct jit_pinsn *code = p->code;

	const void *const *handlers = jit_interp_handlers();

	for (uint32_t i = 0; i < d->insn_cnt; i++) {
		const struct bpf_insn *insn = &insns[i];
		struct jit_pinsn *pi = &code[i];
		unsigned int op = d->ops[i];
		int err;

		pi->dst = insn->dst_reg;
		pi->src = insn->src_reg;
		pi->off = insn->off;
		pi->imm = insn->imm;

		switch (op) {
		case JIT_OP_LDDW:
			/* The constant lives in the second slot, which is never dispatched. */
			err = lddw_resolve(insn, i, env, p, &code[i + 1].u64, log, log_sz);
			if (err)
				return err;
			pi->src = 0;
			pi->imm = 0;
			code[i + 1].h = handlers[JIT_IOP_LDDW_HI];
			i++;
			break;
		case JIT_OP_JA32:
		case JIT_OP_CALL_LOCAL:
			pi->src = 0; /* imm already holds the displacement */
			break;
		case JIT_OP_LDABSW:
		case JIT_OP_LDABSH:
		case JIT_OP_LDABSB:
		case JIT_OP_LDINDW:
		case JIT_OP_LDINDH:
		case JIT_OP_LDINDB:
			/* The kernel refuses them for program types without an skb
			 * (check_ld_abs(), kernel/bpf/verifier.c); here the embedder
			 * says so by not providing the packet. */
			if (!env->packet_pointer) {
				say(log, log_sz,
				    "insn %u: %s: BPF_LD_[ABS|IND] instructions not allowed for this program type (no packet access)",
				    i, jit_opcode_table[op].mnemonic);
				return -EINVAL;
			}
			break;
		case JIT_OP_CALL_KFUNC:
			say(log, log_sz, "insn %u: kfunc calls (call with src_reg 2, BTF id %d) are not supported",
			    i, insn->imm);
			return -ENOTSUP;
		case JIT_OP_CALL:
			if (insn->imm == JIT_HELPER_TAIL_CALL && env->tail_call) {
				op = JIT_IOP_TAIL_CALL;
				break;
			}
			/* jit_decode_prog() checked the id against env. */
			pi->fn = env->helpers[insn->imm];
			break;
		default:
			alu_const_fold(&op, pi);
			break;
		}
		pi->h = handlers[op];
	}
	return 0;
}

int jit_fuse_enabled = 1;

static bool is_shift32(const struct jit_decoded *d, const struct jit_pinsn *code, uint32_t i,
		       unsigned int op, uint8_t dst)
{
	return i < d->insn_cnt && d->ops[i] == op && code[i].imm == 32 && code[i].dst == dst;
}

/*
 * Superinstructions: clang without ALU32 (-mcpu=v1/v2) widens every 32-bit
 * value with "r <<= 32; r >>= 32" (or s>>= for signed), often right after a
 * move. Slot i gets a handler that does the whole sequence and skips past
 * it; slots i+1 and i+2 keep their own handlers, so a jump landing on them
 * still runs exactly what the program says. Only straight-line ALU slots are
 * fused, so nothing can branch out between them; an add64 followed by a
 * conditional jump keeps both, but reaches the jump's handler by a direct
 * goto, which the CPU predicts, instead of an indirect dispatch.
 */
static void pinsn_fuse(const struct jit_decoded *d, struct jit_pinsn *code)
{
	const void *const *handlers = jit_interp_handlers();

	for (uint32_t i = 0; i + 1 < d->insn_cnt; i++) {
		uint8_t x = code[i].dst;

		if (d->ops[i] == JIT_OP_MOV64_REG && is_shift32(d, code, i + 1, JIT_OP_LSH64_IMM, x)) {
			if (is_shift32(d, code, i + 2, JIT_OP_RSH64_IMM, x))
				code[i].h = handlers[JIT_IOP_MOV_ZEXT32_3];
			else if (is_shift32(d, code, i + 2, JIT_OP_ARSH64_IMM, x))
				code[i].h = handlers[JIT_IOP_MOV_SEXT32_3];
		} else if (d->ops[i] == JIT_OP_MOV64_REG && d->ops[i + 1] == JIT_OP_ADD64_IMM &&
			   code[i + 1].dst == x) {
			code[i].h = handlers[JIT_IOP_MOV_ADD_2];
		} else if (d->ops[i] == JIT_OP_ADD64_IMM && code[i].h == handlers[JIT_OP_ADD64_IMM]) {
			/* (a folded constant division keeps its own handler) */
			switch (d->ops[i + 1]) {
#define X(N)                                                                                       \
	case JIT_OP_##N:                                                                           \
		code[i].h = handlers[JIT_IOP_ADD_THEN_##N];                                        \
		break;
				JIT_FUSE_JCC(X)
#undef X
			default:
				break;
			}
		} else if (d->ops[i] == JIT_OP_ADD32_IMM) {
			switch (d->ops[i + 1]) {
#define X(N)                                                                                       \
	case JIT_OP_##N:                                                                           \
		code[i].h = handlers[JIT_IOP_ADD32_THEN_##N];                                      \
		break;
				JIT_FUSE_JCC32(X)
#undef X
			default:
				break;
			}
		} else if (d->ops[i] == JIT_OP_MOV64_IMM && code[i].h == handlers[JIT_OP_MOV64_IMM]) {
			if (d->ops[i + 1] == JIT_OP_EXIT)
				code[i].h = handlers[JIT_IOP_MOV_THEN_EXIT];
			else if (d->ops[i + 1] == JIT_OP_ATOMIC_ADD64)
				code[i].h = handlers[JIT_IOP_MOV_THEN_ATOMIC_ADD64];
			else if (d->ops[i + 1] == JIT_OP_ATOMIC_ADD32)
				code[i].h = handlers[JIT_IOP_MOV_THEN_ATOMIC_ADD32];
		} else if (is_shift32(d, code, i, JIT_OP_LSH64_IMM, x)) {
			if (is_shift32(d, code, i + 1, JIT_OP_RSH64_IMM, x))
				code[i].h = handlers[JIT_IOP_ZEXT32_2];
			else if (is_shift32(d, code, i + 1, JIT_OP_ARSH64_IMM, x))
				code[i].h = handlers[JIT_IOP_SEXT32_2];
		}
	}
}

/*
 * Inline array lookups, as the kernel's verifier does: do_misc_fixups() in
 * kernel/bpf/verifier.c replaces "call bpf_map_lookup_elem" by the map's
 * map_gen_lookup() sequence (array_map_gen_lookup() and
 * percpu_array_map_gen_lookup() in kernel/bpf/arraymap.c) when the verifier
 * knows which map r1 holds at that call on every path. We have no
 * verifier state at load, so we prove "r1 is this map" with a purely
 * local, conservative rule: walking back from the call inside its basic
 * block, the first instruction that writes r1 is an ld_imm64 with
 * BPF_PSEUDO_MAP_FD or BPF_PSEUDO_MAP_IDX (so its value is a map, not an
 * arbitrary constant or a map value address), and no slot after that
 * ld_imm64 up to and including the call is the target of a jump, a local
 * call or a call's return. Anything else (r1 copied from another register,
 * a jump, call, exit or jump target in between, an atomic naming r1) keeps
 * the helper call. A program whose map comes from elsewhere (map-in-map,
 * spilled and reloaded r1) is therefore correct, only not inlined.
 *
 * When the ld_imm64 is right before the call, its slot gets a handler
 * that does both (one dispatch fewer); the call slot keeps the plain
 * inlined form.
 *
 * The inlined form writes r0 only. DIVERGES: the kernel's sequence also
 * clobbers r1 (it adds the value offset to the map pointer in place); the
 * ABI makes r1-r5 undefined after a helper call, so a verified program
 * cannot tell, and our helper path leaves r1-r5 as they were too, so both
 * paths here agree exactly. DIVERGES: for arrays of unprivileged programs
 * the kernel also masks the index (index_mask, Spectre v1); we do not, as
 * map_array_lookup_fast() (maps/array_fast.h) does not.
 */
static bool ends_block(unsigned int op)
{
	switch (jit_opcode_table[op].syntax) {
	case JIT_SYN_JA:
	case JIT_SYN_JA32:
	case JIT_SYN_JCC:
	case JIT_SYN_CALL:
	case JIT_SYN_CALLL:
	case JIT_SYN_CALLR:
	case JIT_SYN_CALLX:
	case JIT_SYN_EXIT:
		return true;
	default:
		return false;
	}
}

/* Does slot @insn of form @op (not a block end) write r@r? Atomics count if
 * they name r@r at all (FETCH/xchg write src, cmpxchg writes r0). */
static bool writes_reg(unsigned int op, const struct bpf_insn *insn, uint8_t r)
{
	switch (jit_opcode_table[op].syntax) {
	case JIT_SYN_ST:
	case JIT_SYN_STX:
		return false;
	case JIT_SYN_ATOMIC:
		return insn->dst_reg == r || insn->src_reg == r || r == 0;
	default:
		return insn->dst_reg == r;
	}
}

/* Mark every slot control can reach other than by falling through. */
static void mark_targets(const struct jit_decoded *d, const struct bpf_insn *insns, uint8_t *tgt)
{
	tgt[0] = 1;
	for (uint32_t s = 0; s < d->subprog_cnt; s++)
		tgt[d->subprog_start[s]] = 1;
	for (uint32_t i = 0; i < d->insn_cnt; i++) {
		unsigned int op = d->ops[i];
		int64_t t;

		if (op == JIT_OP_LDDW_HI)
			continue;
		switch (jit_opcode_table[op].syntax) {
		case JIT_SYN_JA:
		case JIT_SYN_JCC:
			t = (int64_t)i + 1 + insns[i].off;
			break;
		case JIT_SYN_JA32:
			t = (int64_t)i + 1 + insns[i].imm;
			break;
		case JIT_SYN_CALLL:
			t = (int64_t)i + 1; /* where the callee returns to */
			break;
		default:
			continue;
		}
		/* jit_decode_prog() proved targets in range; stay safe anyway. */
		if (t >= 0 && t < d->insn_cnt)
			tgt[t] = 1;
	}
}

/* The lddw slot whose value r1 holds at call slot @c, or -1 if not provable. */
static int64_t r1_map_source(const struct jit_decoded *d, const struct bpf_insn *insns,
			     const uint8_t *tgt, uint32_t c)
{
	uint32_t s = c;

	while (s > 0) {
		unsigned int op;

		if (tgt[s])
			return -1;
		op = d->ops[s - 1];
		if (op == JIT_OP_LDDW_HI) {
			const struct bpf_insn *ld = &insns[s - 2];

			if (ld->dst_reg != 1) {
				s -= 2;
				continue;
			}
			if (ld->src_reg != BPF_PSEUDO_MAP_FD && ld->src_reg != BPF_PSEUDO_MAP_IDX)
				return -1;
			return (int64_t)s - 2;
		}
		if (ends_block(op) || writes_reg(op, &insns[s - 1], 1))
			return -1;
		s--;
	}
	return -1;
}

static int pinsn_inline_lookups(const struct bpf_insn *insns, const struct jit_decoded *d,
				const struct jit_env *env, struct jit_prog *p)
{
	const void *const *handlers = jit_interp_handlers();
	_cleanup_free_ uint8_t *tgt = NULL;
	uint32_t calls = 0;

	for (uint32_t i = 0; i < d->insn_cnt; i++)
		if (d->ops[i] == JIT_OP_CALL && insns[i].imm == BPF_FUNC_map_lookup_elem)
			calls++;
	if (!calls)
		return 0;
	tgt = calloc(d->insn_cnt, 1);
	p->geoms = calloc(calls, sizeof(*p->geoms));
	if (!tgt || !p->geoms)
		return -ENOMEM;
	mark_targets(d, insns, tgt);
	for (uint32_t c = 0; c < d->insn_cnt; c++) {
		struct jit_array_geom g = { 0 };
		int64_t ld;

		if (d->ops[c] != JIT_OP_CALL || insns[c].imm != BPF_FUNC_map_lookup_elem)
			continue;
		ld = r1_map_source(d, insns, tgt, c);
		if (ld < 0)
			continue;
		/* The resolved map pointer is in the lddw's second slot. */
		if (env->inline_lookup(env->cookie, p->code[ld + 1].u64, &g))
			continue; /* not an array: the helper handles it */
		if (!g.base || !g.elem_sz || (g.cpu_stride && (!g.ncpu || !g.cpu_slow))) {
			log_warn("jit: inline_lookup gave an unusable geometry for the map at insn %lld; "
				 "calling the helper instead\n", (long long)ld);
			continue;
		}
		p->geoms[p->geom_cnt] = g;
		p->code[c].geom = &p->geoms[p->geom_cnt++];
		p->code[c].h = handlers[g.cpu_stride ? JIT_IOP_PERCPU_ARRAY_LOOKUP : JIT_IOP_ARRAY_LOOKUP];
		/* "r1 = map" right before the call (the common shape): the lddw
		 * slot does both. A jump to the lddw still runs both; nothing can
		 * jump to the call (r1_map_source() checked). */
		if (ld + 2 == c) {
			p->code[ld].geom = p->code[c].geom;
			p->code[ld].h = handlers[g.cpu_stride ? JIT_IOP_LD_PERCPU_ARRAY_LOOKUP
							      : JIT_IOP_LD_ARRAY_LOOKUP];
		}
	}
	return 0;
}

int jit_prog_load(const struct bpf_insn *insns, uint32_t insn_cnt, const struct jit_env *env,
		  struct jit_prog **out, char *log, size_t log_sz)
{
	struct jit_env env_copy = { .sz = sizeof(env_copy) };
	struct jit_decoded *d = NULL;
	struct jit_prog *p;
	int err;

	/* No env means no helpers: decode against an empty table so helper calls
	 * are refused rather than resolved through NULL. A caller built against
	 * an older, shorter struct jit_env gets defaults (0) for the fields it
	 * lacks; a newer, longer one is accepted only if the fields we do not
	 * know are 0 (the rule of OPTS_VALID() in libbpf and of
	 * bpf_check_uarg_tail_zero() in kernel/bpf/syscall.c). */
	if (env) {
		if (env->sz < offsetofend(struct jit_env, sz)) {
			say(log, log_sz, "struct jit_env is too small (sz %zu)", env->sz);
			return -EINVAL;
		}
		for (size_t i = sizeof(*env); i < env->sz; i++) {
			if (((const unsigned char *)env)[i]) {
				say(log, log_sz,
				    "struct jit_env has unknown non-zero fields (sz %zu, we know %zu)",
				    env->sz, sizeof(*env));
				return -E2BIG;
			}
		}
		memcpy(&env_copy, env, MIN(env->sz, sizeof(env_copy)));
		env_copy.sz = sizeof(env_copy);
	}
	env = &env_copy;
	err = jit_decode_prog(insns, insn_cnt, env, &d, log, log_sz);
	if (err)
		return err;

	p = calloc(1, sizeof(*p));
	if (!p) {
		err = -ENOMEM;
		goto err_free_decoded;
	}
	p->insn_cnt = insn_cnt;
	p->max_call_depth = d->max_call_depth;
	p->code = calloc(insn_cnt, sizeof(*p->code));
	p->insns = malloc((size_t)insn_cnt * sizeof(*insns));
	if (!p->code || !p->insns) {
		err = -ENOMEM;
		goto err_free_prog;
	}
	memcpy(p->insns, insns, (size_t)insn_cnt * sizeof(*insns));
	p->tail_call = env->tail_call;
	p->cookie = env->cookie;
	p->packet_pointer = env->packet_pointer;
	if (env->helper_cnt && env->helpers) {
		p->helpers = calloc(env->helper_cnt, sizeof(*p->helpers));
		if (!p->helpers) {
			err = -ENOMEM;
			goto err_free_prog;
		}
		memcpy(p->helpers, env->helpers, env->helper_cnt * sizeof(*p->helpers));
		p->helper_cnt = env->helper_cnt;
	}
	err = cb_starts_collect(insns, d, p);
	if (err)
		goto err_free_prog;
	err = pinsn_build(insns, d, env, p, log, log_sz);
	if (err)
		goto err_free_prog;
	if (jit_fuse_enabled)
		pinsn_fuse(d, p->code);
	if (env->inline_lookup) {
		err = pinsn_inline_lookups(insns, d, env, p);
		if (err)
			goto err_free_prog;
	}
	jit_decoded_free(d);
	*out = p;
	return 0;

err_free_prog:
	if (err == -ENOMEM)
		say(log, log_sz, "out of memory loading %u instructions", insn_cnt);
	jit_prog_free(p);
err_free_decoded:
	jit_decoded_free(d);
	return err;
}
