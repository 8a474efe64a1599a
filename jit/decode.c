/*
 * decode.c - the decoder: raw instructions in, forms of jit/opcodes.h out,
 * malformed programs refused with one precise line.
 *
 * The field rules come from the table in opcodes.h (RFC 9669 §3: "unused
 * fields ... must be zero"); the program-level rules mirror what the
 * kernel's verifier checks before it looks at values: check_subprogs()
 * (jumps stay inside their subprogram, each subprogram ends in exit or a
 * jump), the ld_imm64 pair check in resolve_pseudo_ldimm64(), and
 * check_max_stack_depth() (call chains, no recursion) in
 * kernel/bpf/verifier.c. Nothing here looks at register values: that is the
 * verifier's job.
 *
 * Programs are decoded once, at load; a linear pass plus a DFS over the call
 * graph, both O(insns).
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/utils.h"
#include "jit/decode.h"

const struct jit_opcode_info jit_opcode_table[JIT_OP__CNT] = {
#define X(N, CODE, MN, SYN, D, S, O, I, V)                                                         \
	[JIT_OP_##N] = { .code = (CODE), .syntax = JIT_SYN_##SYN, .isa = (V), .name = #N,         \
			 .mnemonic = (MN), .dst = D, .src = S, .off = O, .imm = I },
	JIT_OPCODES(X)
#undef X
};

/* Forms sharing an opcode byte, chained: first[code] then next[op]. */
static uint16_t by_code_first[256];
static uint16_t by_code_next[JIT_OP__CNT];
static pthread_once_t by_code_once = PTHREAD_ONCE_INIT;

static void by_code_build(void)
{
	for (int c = 0; c < 256; c++)
		by_code_first[c] = JIT_OP__CNT;
	/* Walk backwards so each chain keeps table order. */
	for (int op = JIT_OP__CNT - 1; op >= 0; op--) {
		uint8_t c = jit_opcode_table[op].code;

		by_code_next[op] = by_code_first[c];
		by_code_first[c] = op;
	}
}

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

enum field { F_DST, F_SRC, F_OFF, F_IMM, F_NONE };
static const char *const field_names[] = { "dst_reg", "src_reg", "offset", "imm" };

static int32_t field_value(const struct bpf_insn *insn, enum field f)
{
	switch (f) {
	case F_DST:
		return insn->dst_reg;
	case F_SRC:
		return insn->src_reg;
	case F_OFF:
		return insn->off;
	default:
		return insn->imm;
	}
}

static const struct jit_field_spec *field_spec(const struct jit_opcode_info *row, enum field f)
{
	switch (f) {
	case F_DST:
		return &row->dst;
	case F_SRC:
		return &row->src;
	case F_OFF:
		return &row->off;
	default:
		return &row->imm;
	}
}

static bool field_ok(const struct jit_field_spec *spec, int32_t v)
{
	switch (spec->rule) {
	case JIT_F_ZERO:
		return v == 0;
	case JIT_F_ANY:
		return true;
	case JIT_F_EQ:
		return v == spec->val;
	case JIT_F_LE:
		return v >= 0 && v <= spec->val;
	case JIT_F_REG:
		return v <= 10;
	case JIT_F_WREG:
		return v <= 9;
	}
	return false;
}

/* Explain why field @f of @insn breaks @row's rule. */
static void field_explain(const struct jit_opcode_info *row, const struct bpf_insn *insn,
			  enum field f, char *why, size_t why_sz)
{
	const struct jit_field_spec *spec = field_spec(row, f);
	int32_t v = field_value(insn, f);
	const char *fname = field_names[f];

	switch (spec->rule) {
	case JIT_F_ZERO:
		say(why, why_sz, "%s: reserved field %s must be 0, is %d", row->mnemonic, fname, v);
		break;
	case JIT_F_EQ:
		say(why, why_sz, "%s: %s must be %d, is %d", row->mnemonic, fname, spec->val, v);
		break;
	case JIT_F_LE:
		say(why, why_sz, "%s: %s %d is not in 0..%d", row->mnemonic, fname, v, spec->val);
		break;
	case JIT_F_REG:
		say(why, why_sz, "%s: invalid register r%d in %s", row->mnemonic, v, fname);
		break;
	case JIT_F_WREG:
		if (v == 10)
			say(why, why_sz, "%s: cannot write r10 (the frame pointer is read-only)%s",
			    row->mnemonic, f == F_SRC ? " through src_reg" : "");
		else
			say(why, why_sz, "%s: invalid register r%d in %s", row->mnemonic, v, fname);
		break;
	}
}

static enum field row_first_bad(const struct jit_opcode_info *row, const struct bpf_insn *insn,
				int *bad_cnt)
{
	enum field first = F_NONE;

	/* A field that selects the form (JIT_F_EQ) weighs more than the others:
	 * if it matches, this is the form the program meant, and its other
	 * fields are what is wrong. */
	*bad_cnt = 0;
	for (enum field f = F_DST; f <= F_IMM; f++) {
		const struct jit_field_spec *spec = field_spec(row, f);

		if (field_ok(spec, field_value(insn, f)))
			continue;
		if (first == F_NONE)
			first = f;
		*bad_cnt += spec->rule == JIT_F_EQ ? 10 : 1;
	}
	return first;
}

int jit_decode_insn(const struct bpf_insn *insn, enum jit_op *op, char *why, size_t why_sz)
{
	uint16_t best = JIT_OP__CNT;
	enum field best_field = F_NONE;
	int best_bad = 100;
	int variants = 0;

	pthread_once(&by_code_once, by_code_build);
	for (uint16_t cand = by_code_first[insn->code]; cand != JIT_OP__CNT;
	     cand = by_code_next[cand]) {
		int bad;
		enum field f = row_first_bad(&jit_opcode_table[cand], insn, &bad);

		if (f == F_NONE) {
			*op = cand;
			return 0;
		}
		variants++;
		if (bad < best_bad) {
			best = cand;
			best_bad = bad;
			best_field = f;
		}
	}
	if (best == JIT_OP__CNT) {
		say(why, why_sz, "unknown opcode 0x%02x", insn->code);
		return -EINVAL;
	}

	/* Several forms share this opcode and the field that selects among them
	 * matches none: list the values that would. */
	if (variants > 1 && field_spec(&jit_opcode_table[best], best_field)->rule == JIT_F_EQ) {
		char list[400] = "";
		size_t len = 0;

		for (uint16_t cand = by_code_first[insn->code]; cand != JIT_OP__CNT;
		     cand = by_code_next[cand]) {
			const struct jit_field_spec *s = field_spec(&jit_opcode_table[cand], best_field);
			int32_t v = s->rule == JIT_F_EQ ? s->val : 0;

			if (s->rule != JIT_F_EQ && s->rule != JIT_F_ZERO)
				continue;
			if (len < sizeof(list))
				len += snprintf(list + len, sizeof(list) - len,
						best_field == F_IMM ? "%s0x%x (%s)" : "%s%d (%s)",
						len ? ", " : "", v, jit_opcode_table[cand].mnemonic);
		}
		if (best_field == F_IMM)
			say(why, why_sz, "opcode 0x%02x: imm 0x%x selects no operation (valid: %s)",
			    insn->code, (uint32_t)insn->imm, list);
		else
			say(why, why_sz, "opcode 0x%02x: %s %d selects no operation (valid: %s)",
			    insn->code, field_names[best_field], field_value(insn, best_field), list);
		return -EINVAL;
	}
	field_explain(&jit_opcode_table[best], insn, best_field, why, why_sz);
	return -EINVAL;
}

void jit_decoded_free(struct jit_decoded *d)
{
	if (!d)
		return;
	zfree(&d->ops);
	zfree(&d->subprog_start);
	free(d);
}

static bool is_jump(uint16_t op)
{
	if (op >= JIT_OP__CNT)
		return false;
	switch (jit_opcode_table[op].syntax) {
	case JIT_SYN_JA:
	case JIT_SYN_JA32:
	case JIT_SYN_JCC:
		return true;
	default:
		return false;
	}
}

static int64_t jump_target(const struct bpf_insn *insn, uint32_t i, uint16_t op)
{
	int64_t rel = op == JIT_OP_JA32 ? insn->imm : insn->off;

	return (int64_t)i + 1 + rel;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Index of the subprogram holding slot @i (subprog_start is sorted). */
static uint32_t subprog_of(const struct jit_decoded *d, uint32_t i)
{
	uint32_t lo = 0, hi = d->subprog_cnt;

	while (hi - lo > 1) {
		uint32_t mid = (lo + hi) / 2;

		if (d->subprog_start[mid] <= i)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Slot @i is an ld_imm64 of a subprogram address (its target starts a
 * subprogram, as bpf_pseudo_func() targets do in add_subprog_and_kfunc(),
 * kernel/bpf/verifier.c). */
static bool is_pseudo_func(const struct bpf_insn *insns, const struct jit_decoded *d, uint32_t i)
{
	return d->ops[i] == JIT_OP_LDDW && insns[i].src_reg == BPF_PSEUDO_FUNC;
}

static int subprogs_find(const struct bpf_insn *insns, struct jit_decoded *d, char *log,
			 size_t log_sz)
{
	uint32_t cnt = 1;

	for (uint32_t i = 0; i < d->insn_cnt; i++)
		if (d->ops[i] == JIT_OP_CALL_LOCAL || is_pseudo_func(insns, d, i))
			cnt++;
	d->subprog_start = calloc(cnt, sizeof(*d->subprog_start));
	if (!d->subprog_start)
		return -ENOMEM;
	d->subprog_start[0] = 0;
	cnt = 1;
	for (uint32_t i = 0; i < d->insn_cnt; i++) {
		const char *what = "local call";
		int64_t t;

		if (is_pseudo_func(insns, d, i))
			what = "callback (ld_imm64 BPF_PSEUDO_FUNC)";
		else if (d->ops[i] != JIT_OP_CALL_LOCAL)
			continue;
		t = (int64_t)i + 1 + insns[i].imm;
		if (t < 0 || t >= d->insn_cnt) {
			say(log, log_sz, "insn %u: %s to %lld is outside the program (0..%u)", i, what,
			    (long long)t, d->insn_cnt - 1);
			return -EINVAL;
		}
		if (d->ops[t] == JIT_OP_LDDW_HI) {
			say(log, log_sz, "insn %u: %s into the middle of the lddw at %lld", i, what,
			    (long long)t - 1);
			return -EINVAL;
		}
		/* DIVERGES: the kernel would let the verifier judge a callback
		 * that is the main program; it makes no sense, refuse it here. */
		if (t == 0) {
			say(log, log_sz, "insn %u: %s to 0, the main program", i, what);
			return -EINVAL;
		}
		d->subprog_start[cnt++] = (uint32_t)t;
	}
	qsort(d->subprog_start, cnt, sizeof(*d->subprog_start), cmp_u32);
	/* Deduplicate. */
	d->subprog_cnt = 0;
	for (uint32_t k = 0; k < cnt; k++)
		if (!d->subprog_cnt || d->subprog_start[d->subprog_cnt - 1] != d->subprog_start[k])
			d->subprog_start[d->subprog_cnt++] = d->subprog_start[k];
	return 0;
}

/* Mirrors check_subprogs() in kernel/bpf/verifier.c: jumps stay within their
 * subprogram, and the last slot of each is exit or an unconditional jump. */
static int jumps_check(const struct bpf_insn *insns, const struct jit_decoded *d, char *log,
		       size_t log_sz)
{
	for (uint32_t s = 0; s < d->subprog_cnt; s++) {
		uint32_t start = d->subprog_start[s];
		uint32_t end = s + 1 < d->subprog_cnt ? d->subprog_start[s + 1] : d->insn_cnt;
		uint16_t last = d->ops[end - 1];

		for (uint32_t i = start; i < end; i++) {
			int64_t t;

			if (!is_jump(d->ops[i]))
				continue;
			t = jump_target(&insns[i], i, d->ops[i]);
			if (t < start || t >= end) {
				if (t < 0 || t >= d->insn_cnt)
					say(log, log_sz,
					    "insn %u: jump out of range to %lld (program has %u slots)",
					    i, (long long)t, d->insn_cnt);
				else
					say(log, log_sz,
					    "insn %u: jump to %lld leaves its subprogram (%u..%u)", i,
					    (long long)t, start, end - 1);
				return -EINVAL;
			}
			if (d->ops[t] == JIT_OP_LDDW_HI) {
				say(log, log_sz, "insn %u: jump into the middle of the lddw at %lld",
				    i, (long long)t - 1);
				return -EINVAL;
			}
		}
		if (last != JIT_OP_EXIT && last != JIT_OP_JA && last != JIT_OP_JA32) {
			say(log, log_sz,
			    "insn %u: execution falls through off the end of %s (last instruction is not exit or ja)",
			    end - 1, s + 1 < d->subprog_cnt ? "a subprogram" : "the program");
			return -EINVAL;
		}
	}
	return 0;
}

/* Longest chain of local calls from subprogram @s; colours catch recursion
 * (check_max_stack_depth() in kernel/bpf/verifier.c refuses it too). */
enum { WHITE, GREY, BLACK };

static int depth_dfs(const struct bpf_insn *insns, const struct jit_decoded *d, uint32_t s,
		     uint8_t *colour, uint32_t *depth, char *log, size_t log_sz)
{
	uint32_t start = d->subprog_start[s];
	uint32_t end = s + 1 < d->subprog_cnt ? d->subprog_start[s + 1] : d->insn_cnt;
	uint32_t best = 0;

	colour[s] = GREY;
	for (uint32_t i = start; i < end; i++) {
		uint32_t callee;
		int err;

		if (d->ops[i] != JIT_OP_CALL_LOCAL)
			continue;
		callee = subprog_of(d, (uint32_t)((int64_t)i + 1 + insns[i].imm));
		if (colour[callee] == GREY) {
			say(log, log_sz, "insn %u: recursive local call (subprogram at %u)", i,
			    d->subprog_start[callee]);
			return -EINVAL;
		}
		if (colour[callee] == WHITE) {
			err = depth_dfs(insns, d, callee, colour, depth, log, log_sz);
			if (err)
				return err;
		}
		if (depth[callee] + 1 > best)
			best = depth[callee] + 1;
		if (best > JIT_MAX_CALL_DEPTH) {
			say(log, log_sz, "insn %u: local calls nest %u deep (limit %d)", i, best,
			    JIT_MAX_CALL_DEPTH);
			return -E2BIG;
		}
	}
	depth[s] = best;
	colour[s] = BLACK;
	return 0;
}

static int calls_check(const struct bpf_insn *insns, struct jit_decoded *d, char *log,
		       size_t log_sz)
{
	_cleanup_free_ uint8_t *colour = calloc(d->subprog_cnt, 1);
	_cleanup_free_ uint32_t *depth = calloc(d->subprog_cnt, sizeof(*depth));
	int err;

	if (!colour || !depth)
		return -ENOMEM;
	/* Every subprogram, reachable or not, so recursion anywhere is refused. */
	for (uint32_t s = d->subprog_cnt; s-- > 0;) {
		if (colour[s] != WHITE)
			continue;
		err = depth_dfs(insns, d, s, colour, depth, log, log_sz);
		if (err)
			return err;
	}
	d->max_call_depth = depth[0];
	return 0;
}

static int helper_check(const struct bpf_insn *insn, uint32_t i, const struct jit_env *env,
			char *log, size_t log_sz)
{
	int32_t id = insn->imm;

	if (!env)
		return 0;
	if (id == JIT_HELPER_TAIL_CALL && env->tail_call)
		return 0;
	if (id >= 0 && (uint32_t)id < env->helper_cnt && env->helpers && env->helpers[id])
		return 0;
	/* Same words as the kernel: "invalid func unknown#%d" (check_helper_call()). */
	say(log, log_sz, "insn %u: invalid func unknown#%d (no such helper)", i, id);
	return -EINVAL;
}

int jit_decode_prog(const struct bpf_insn *insns, uint32_t insn_cnt, const struct jit_env *env,
		    struct jit_decoded **out, char *log, size_t log_sz)
{
	struct jit_decoded *d;
	char why[512];
	int err;

	if (log && log_sz)
		log[0] = '\0';
	if (!insns || insn_cnt == 0) {
		say(log, log_sz, "program has no instructions");
		return -EINVAL;
	}
	if (insn_cnt > JIT_MAX_INSNS) {
		say(log, log_sz, "program has %u instructions, more than %u", insn_cnt,
		    JIT_MAX_INSNS);
		return -E2BIG;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->insn_cnt = insn_cnt;
	d->ops = calloc(insn_cnt, sizeof(*d->ops));
	if (!d->ops) {
		err = -ENOMEM;
		goto err_free;
	}

	for (uint32_t i = 0; i < insn_cnt; i++) {
		enum jit_op op;
		const struct bpf_insn *hi;

		err = jit_decode_insn(&insns[i], &op, why, sizeof(why));
		if (err) {
			say(log, log_sz, "insn %u: %s", i, why);
			goto err_free;
		}
		d->ops[i] = op;
		if (op == JIT_OP_CALL) {
			err = helper_check(&insns[i], i, env, log, log_sz);
			if (err)
				goto err_free;
		}
		if (op != JIT_OP_LDDW)
			continue;
		/* RFC 9669 §5.4: the second slot has opcode 0 and only imm set. */
		if (i + 1 >= insn_cnt) {
			say(log, log_sz, "insn %u: lddw is cut in half (its second slot is missing)", i);
			err = -EINVAL;
			goto err_free;
		}
		hi = &insns[i + 1];
		if (hi->code || hi->dst_reg || hi->src_reg || hi->off) {
			say(log, log_sz,
			    "insn %u: second slot of the lddw at %u must have opcode, registers and offset 0 (opcode 0x%02x dst %u src %u off %d)",
			    i + 1, i, hi->code, hi->dst_reg, hi->src_reg, hi->off);
			err = -EINVAL;
			goto err_free;
		}
		d->ops[++i] = JIT_OP_LDDW_HI;
	}

	err = subprogs_find(insns, d, log, log_sz);
	if (err)
		goto err_free;
	err = jumps_check(insns, d, log, log_sz);
	if (err)
		goto err_free;
	err = calls_check(insns, d, log, log_sz);
	if (err)
		goto err_free;
	*out = d;
	return 0;

err_free:
	if (err == -ENOMEM)
		say(log, log_sz, "out of memory decoding %u instructions", insn_cnt);
	jit_decoded_free(d);
	return err;
}

int jit_decode_refs(const struct bpf_insn *insns, uint32_t insn_cnt, jit_ref_fn fn, void *cookie)
{
	for (uint32_t i = 0; i < insn_cnt; i++) {
		const struct bpf_insn *insn = &insns[i];
		struct jit_ref ref = { .insn_idx = i, .insn = insn };
		int ret;

		if (insn->code == (BPF_LD | BPF_IMM | BPF_DW)) {
			/* A subprogram address is no reference to anything outside. */
			if (insn->src_reg == 0 || insn->src_reg == BPF_PSEUDO_FUNC) {
				i++;
				continue;
			}
			ref.kind = JIT_REF_LD_IMM64;
			i++;
		} else if (insn->code == (BPF_JMP | BPF_CALL)) {
			if (insn->src_reg == BPF_PSEUDO_CALL)
				continue;
			ref.kind = insn->src_reg == 0 ? JIT_REF_HELPER : JIT_REF_KFUNC;
			ref.helper_id = insn->imm;
		} else if (insn->code == (BPF_JMP | BPF_CALL | BPF_X)) {
			ref.kind = JIT_REF_CALLX;
		} else {
			continue;
		}
		ret = fn(cookie, &ref);
		if (ret)
			return ret;
	}
	return 0;
}
