/*
 * check_jit.c - the "jit" suite: the decoder's refusals (each reason with its
 * exact message and errno), the RFC 9669 edge cases the interpreter must get
 * right, and the hooks (helpers, jit_run_current(), tail calls,
 * ld_imm64 resolution). Programs are written in the conformance assembler
 * syntax so each test reads like what it checks.
 */
#include <check.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/asm.h"
#include "jit/conformance.h"
#include "jit/decode.h"
#include "jit/jit.h"

static char msg[1024];

static struct bpf_insn *assemble(const char *text, uint32_t *cnt)
{
	struct bpf_insn *insns = NULL;
	char log[256];
	int err = jit_asm_assemble(text, &insns, cnt, log, sizeof(log));

	ck_assert_msg(err == 0, "assembler: %s", log);
	return insns;
}

/* Load @insns with @env; returns the load error, message in msg. */
static int load_raw(const struct bpf_insn *insns, uint32_t cnt, const struct jit_env *env,
		    struct jit_prog **prog)
{
	msg[0] = '\0';
	return jit_prog_load(insns, cnt, env, prog, msg, sizeof(msg));
}

static int load_asm(const char *text, const struct jit_env *env, struct jit_prog **prog)
{
	uint32_t cnt;
	struct bpf_insn *insns = assemble(text, &cnt);
	int err = load_raw(insns, cnt, env, prog);

	free(insns);
	return err;
}

/* Assemble, load in the conformance env, run with r1 = mem; r0 out. */
static uint64_t run_asm_mem(const char *text, void *mem, size_t mem_sz)
{
	struct jit_prog *prog = NULL;
	uint64_t r0 = 0;
	int err = load_asm(text, jit_conformance_env(), &prog);

	ck_assert_msg(err == 0, "load: %s", msg);
	err = jit_prog_exec(prog, (uint64_t)(uintptr_t)mem, mem_sz, &r0);
	ck_assert_int_eq(err, 0);
	jit_prog_free(prog);
	return r0;
}

static uint64_t run_asm(const char *text)
{
	return run_asm_mem(text, NULL, 0);
}

static void refused(const char *text, const struct jit_env *env, int want_err, const char *want)
{
	struct jit_prog *prog = NULL;
	int err = load_asm(text, env, &prog);

	ck_assert_int_eq(err, want_err);
	ck_assert_ptr_null(prog);
	ck_assert_str_eq(msg, want);
}

static void refused_raw(const struct bpf_insn *insns, uint32_t cnt, int want_err, const char *want)
{
	struct jit_prog *prog = NULL;
	int err = load_raw(insns, cnt, jit_conformance_env(), &prog);

	ck_assert_int_eq(err, want_err);
	ck_assert_ptr_null(prog);
	ck_assert_str_eq(msg, want);
}

/* ---------------------------------------------------------------- decode */

static int32_t field_sample(const struct jit_field_spec *spec, int32_t reg)
{
	switch (spec->rule) {
	case JIT_F_EQ:
		return spec->val;
	case JIT_F_ANY:
		return 3;
	case JIT_F_LE:
		return spec->val;
	case JIT_F_REG:
	case JIT_F_WREG:
		return reg;
	default:
		return 0;
	}
}

/* Every row of opcodes.h decodes back to itself: no two forms overlap. */
START_TEST(test_decode_every_form_is_unambiguous)
{
	for (int op = 0; op < JIT_OP__CNT; op++) {
		const struct jit_opcode_info *r = &jit_opcode_table[op];
		struct bpf_insn insn = {
			.code = r->code,
			.dst_reg = field_sample(&r->dst, 1),
			.src_reg = field_sample(&r->src, 2),
			.off = field_sample(&r->off, 0),
			.imm = field_sample(&r->imm, 0),
		};
		enum jit_op got = JIT_OP__CNT;
		char why[256] = "";

		ck_assert_msg(jit_decode_insn(&insn, &got, why, sizeof(why)) == 0, "%s: %s", r->name, why);
		ck_assert_msg(got == (enum jit_op)op, "%s decodes as %s", r->name,
			      jit_opcode_table[got].name);
	}
}
END_TEST

START_TEST(test_decode_unknown_opcode_einval)
{
	/* 0x38 would be LD|ABS|DW, which no ISA version has (nor the kernel's
	 * BPF_INSN_MAP in kernel/bpf/core.c). */
	struct bpf_insn p[] = { { .code = 0x38 }, { .code = 0x95 } };

	refused_raw(p, 2, -EINVAL, "insn 0: unknown opcode 0x38");
	p[0].code = 0x58; /* LD|IND|DW */
	refused_raw(p, 2, -EINVAL, "insn 0: unknown opcode 0x58");
}
END_TEST

/* RFC 9669 §5.5 and check_ld_abs() (kernel/bpf/verifier.c): dst and offset are
 * reserved, and src too for the ABS forms; IND's src is a register. */
START_TEST(test_decode_packet_load_reserved_fields_einval)
{
	struct bpf_insn p[] = { { .code = 0x30, .imm = 9 }, { .code = 0x95 } };

	p[0].dst_reg = 1;
	refused_raw(p, 2, -EINVAL, "insn 0: ldabsb: reserved field dst_reg must be 0, is 1");
	p[0].dst_reg = 0;
	p[0].off = 4;
	refused_raw(p, 2, -EINVAL, "insn 0: ldabsb: reserved field offset must be 0, is 4");
	p[0].off = 0;
	p[0].src_reg = 2;
	refused_raw(p, 2, -EINVAL, "insn 0: ldabsb: reserved field src_reg must be 0, is 2");
	p[0].code = 0x40; /* ldindw: src is its register */
	p[0].src_reg = 11;
	refused_raw(p, 2, -EINVAL, "insn 0: ldindw: invalid register r11 in src_reg");
	p[0].src_reg = 10;
	p[0].dst_reg = 3;
	refused_raw(p, 2, -EINVAL, "insn 0: ldindw: reserved field dst_reg must be 0, is 3");
}
END_TEST

/* Without jit_env.packet_pointer (every program type but the skb ones) the
 * forms decode but do not load. */
START_TEST(test_load_packet_load_without_hook_einval)
{
	refused("mov %r6, %r1\nldabsb 9\nexit", jit_conformance_env(), -EINVAL,
		"insn 1: ldabsb: BPF_LD_[ABS|IND] instructions not allowed for this program type (no packet access)");
	refused("mov %r6, %r1\nldindw %r2, 0\nexit", NULL, -EINVAL,
		"insn 1: ldindw: BPF_LD_[ABS|IND] instructions not allowed for this program type (no packet access)");
}
END_TEST

START_TEST(test_decode_reserved_field_einval)
{
	struct bpf_insn p[] = { { .code = 0x07, .src_reg = 3, .imm = 1 }, { .code = 0x95 } };

	refused_raw(p, 2, -EINVAL, "insn 0: add: reserved field src_reg must be 0, is 3");
}
END_TEST

START_TEST(test_decode_invalid_register_einval)
{
	refused("mov %r0, 0\nmov %r11, 1\nexit", NULL, -EINVAL,
		"insn 1: mov: invalid register r11 in dst_reg");
	refused("mov %r0, %r12\nexit", NULL, -EINVAL, "insn 0: mov: invalid register r12 in src_reg");
}
END_TEST

START_TEST(test_decode_write_r10_einval)
{
	refused("mov %r10, 1\nexit", NULL, -EINVAL,
		"insn 0: mov: cannot write r10 (the frame pointer is read-only)");
	refused("ldxdw %r10, [%r1]\nexit", NULL, -EINVAL,
		"insn 0: ldxdw: cannot write r10 (the frame pointer is read-only)");
	/* Found by fuzz_decode: fetching atomics and xchg write their src. */
	refused("lock fetch xor32 [%r10-4], %r10\nexit", NULL, -EINVAL,
		"insn 0: lock fetch xor32: cannot write r10 (the frame pointer is read-only) through src_reg");
	refused("lock xchg [%r10-8], %r10\nexit", NULL, -EINVAL,
		"insn 0: lock xchg: cannot write r10 (the frame pointer is read-only) through src_reg");
	/* ... while the plain forms and cmpxchg only read it. */
	ck_assert_uint_eq(run_asm("stdw [%r10-8], 0\nlock add [%r10-8], %r10\nmov %r0, 0\nexit"), 0);
	ck_assert_uint_eq(run_asm("stdw [%r10-8], 1\nmov %r0, 0\nlock cmpxchg [%r10-8], %r10\nexit"), 1);
}
END_TEST

START_TEST(test_decode_store_through_r10_ok)
{
	ck_assert_uint_eq(run_asm("stdw [%r10-8], 42\nldxdw %r0, [%r10-8]\nexit"), 42);
}
END_TEST

START_TEST(test_decode_jump_out_of_range_einval)
{
	refused("ja +5\nexit", NULL, -EINVAL, "insn 0: jump out of range to 6 (program has 2 slots)");
	refused("jeq %r1, 0, -3\nexit", NULL, -EINVAL,
		"insn 0: jump out of range to -2 (program has 2 slots)");
}
END_TEST

START_TEST(test_decode_jump_into_lddw_einval)
{
	refused("ja +1\nlddw %r0, 1\nexit", NULL, -EINVAL,
		"insn 0: jump into the middle of the lddw at 1");
}
END_TEST

START_TEST(test_decode_lddw_cut_in_half_einval)
{
	struct bpf_insn p[] = { { .code = 0x95 }, { .code = 0x18, .imm = 1 } };

	refused_raw(p, 2, -EINVAL, "insn 1: lddw is cut in half (its second slot is missing)");
}
END_TEST

START_TEST(test_decode_lddw_second_slot_not_zero_einval)
{
	struct bpf_insn p[] = { { .code = 0x18, .imm = 1 }, { .code = 0x95 }, { .code = 0x95 } };

	refused_raw(p, 3, -EINVAL,
		    "insn 1: second slot of the lddw at 0 must have opcode, registers and offset 0 (opcode 0x95 dst 0 src 0 off 0)");
}
END_TEST

START_TEST(test_decode_fall_through_einval)
{
	refused("mov %r0, 0", NULL, -EINVAL,
		"insn 0: execution falls through off the end of the program (last instruction is not exit or ja)");
	refused("mov %r0, 0\njeq %r0, 0, -2", NULL, -EINVAL,
		"insn 1: execution falls through off the end of the program (last instruction is not exit or ja)");
}
END_TEST

START_TEST(test_decode_subprog_fall_through_einval)
{
	/* f (slots 2..2) ends in mov and would run into g. */
	refused("call local f\ncall local g\nexit\nf:\nmov %r0, 1\ng:\nexit", NULL, -EINVAL,
		"insn 3: execution falls through off the end of a subprogram (last instruction is not exit or ja)");
}
END_TEST

START_TEST(test_decode_jump_leaves_subprog_einval)
{
	refused("call local f\nexit\nf:\nja -2\nexit", NULL, -EINVAL,
		"insn 2: jump to 1 leaves its subprogram (2..3)");
}
END_TEST

START_TEST(test_decode_unknown_helper_einval)
{
	refused("call 7\nexit", jit_conformance_env(), -EINVAL,
		"insn 0: invalid func unknown#7 (no such helper)");
	refused("call -1\nexit", jit_conformance_env(), -EINVAL,
		"insn 0: invalid func unknown#-1 (no such helper)");
	/* Tail calls need env->tail_call. */
	refused("call 12\nexit", jit_conformance_env(), -EINVAL,
		"insn 0: invalid func unknown#12 (no such helper)");
}
END_TEST

START_TEST(test_load_without_env_refuses_helper_calls)
{
	refused("call 1\nexit", NULL, -EINVAL, "insn 0: invalid func unknown#1 (no such helper)");
}
END_TEST

START_TEST(test_decode_no_env_skips_helper_check)
{
	uint32_t cnt;
	struct bpf_insn *p = assemble("call 7\nexit", &cnt);
	struct jit_decoded *d = NULL;

	ck_assert_int_eq(jit_decode_prog(p, cnt, NULL, &d, msg, sizeof(msg)), 0);
	ck_assert_uint_eq(d->ops[0], JIT_OP_CALL);
	ck_assert_uint_eq(d->ops[1], JIT_OP_EXIT);
	jit_decoded_free(d);
	free(p);
}
END_TEST

START_TEST(test_decode_local_call_out_of_range_einval)
{
	refused("call local +10\nexit", NULL, -EINVAL,
		"insn 0: local call to 11 is outside the program (0..1)");
}
END_TEST

START_TEST(test_decode_recursion_einval)
{
	refused("call local f\nexit\nf:\ncall local f\nexit", NULL, -EINVAL,
		"insn 2: recursive local call (subprogram at 2)");
}
END_TEST

/* A chain of @depth nested local calls, main -> f1 -> ... -> f<depth>;
 * each level adds 1 to r0 on the way back. */
static char *call_chain(int depth)
{
	static char text[4096];
	size_t len = 0;

	len += snprintf(text + len, sizeof(text) - len, "call local f1\nexit\n");
	for (int i = 1; i <= depth; i++) {
		if (i < depth)
			len += snprintf(text + len, sizeof(text) - len,
					"f%d:\ncall local f%d\nadd %%r0, 1\nexit\n", i, i + 1);
		else
			len += snprintf(text + len, sizeof(text) - len, "f%d:\nmov %%r0, 1\nexit\n", i);
	}
	return text;
}

START_TEST(test_decode_call_depth_e2big)
{
	struct jit_prog *prog = NULL;

	ck_assert_int_eq(load_asm(call_chain(JIT_MAX_CALL_DEPTH + 1), NULL, &prog), -E2BIG);
	ck_assert_str_eq(msg, "insn 0: local calls nest 9 deep (limit 8)");
}
END_TEST

START_TEST(test_decode_empty_einval)
{
	refused_raw(NULL, 0, -EINVAL, "program has no instructions");
}
END_TEST

START_TEST(test_decode_atomic_bad_op_einval)
{
	struct bpf_insn p[] = { { .code = 0xdb, .dst_reg = 10, .src_reg = 1, .off = -8, .imm = 0x12 },
				{ .code = 0x95 } };

	refused_raw(p, 2, -EINVAL,
		    "insn 0: opcode 0xdb: imm 0x12 selects no operation (valid: 0x0 (lock add), 0x40 (lock or), 0x50 (lock and), 0xa0 (lock xor), 0x1 (lock fetch add), 0x41 (lock fetch or), 0x51 (lock fetch and), 0xa1 (lock fetch xor), 0xe1 (lock xchg), 0xf1 (lock cmpxchg))");
}
END_TEST

START_TEST(test_decode_end_bad_width_einval)
{
	struct bpf_insn p[] = { { .code = 0xdc, .imm = 8 }, { .code = 0x95 } };

	refused_raw(p, 2, -EINVAL,
		    "insn 0: opcode 0xdc: imm 0x8 selects no operation (valid: 0x10 (be16), 0x20 (be32), 0x40 (be64))");
}
END_TEST

START_TEST(test_decode_kfunc_enotsup)
{
	refused("call runtime 5\nexit", NULL, -ENOTSUP,
		"insn 0: kfunc calls (call with src_reg 2, BTF id 5) are not supported");
}
END_TEST

static int refs_seen[8][3];
static int refs_cnt;

static int ref_record(void *cookie, const struct jit_ref *ref)
{
	refs_seen[refs_cnt][0] = ref->kind;
	refs_seen[refs_cnt][1] = ref->insn_idx;
	refs_seen[refs_cnt][2] = ref->kind == JIT_REF_LD_IMM64 ? ref->insn[0].imm : ref->helper_id;
	refs_cnt++;
	return 0;
}

START_TEST(test_decode_refs_lists_helpers_and_maps)
{
	struct bpf_insn p[] = {
		{ .code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = 7 },
		{ .code = 0 },
		{ .code = 0x85, .imm = 1 },                           /* map_lookup_elem */
		{ .code = 0x18, .dst_reg = 2, .imm = 5 },             /* plain constant: not a ref */
		{ .code = 0 },
		{ .code = 0x85, .src_reg = BPF_PSEUDO_CALL, .imm = 1 }, /* local: not a ref */
		{ .code = 0x95 },
		{ .code = 0x85, .imm = 6 },                           /* trace_printk */
		{ .code = 0x95 },
	};

	refs_cnt = 0;
	ck_assert_int_eq(jit_decode_refs(p, 9, ref_record, NULL), 0);
	ck_assert_int_eq(refs_cnt, 3);
	ck_assert_int_eq(refs_seen[0][0], JIT_REF_LD_IMM64);
	ck_assert_int_eq(refs_seen[0][1], 0);
	ck_assert_int_eq(refs_seen[0][2], 7);
	ck_assert_int_eq(refs_seen[1][0], JIT_REF_HELPER);
	ck_assert_int_eq(refs_seen[1][1], 2);
	ck_assert_int_eq(refs_seen[1][2], 1);
	ck_assert_int_eq(refs_seen[2][0], JIT_REF_HELPER);
	ck_assert_int_eq(refs_seen[2][1], 7);
	ck_assert_int_eq(refs_seen[2][2], 6);
}
END_TEST

/* ---------------------------------------------------------------- interp */

START_TEST(test_interp_div_by_zero_gives_zero)
{
	ck_assert_uint_eq(run_asm("mov %r0, 7\nmov %r1, 0\ndiv %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov %r0, 7\ndiv %r0, 0\nexit"), 0);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000007\nmov %r1, 0\ndiv32 %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov %r0, 7\nmov %r1, 0\nsdiv %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov %r0, -7\nsdiv32 %r0, 0\nexit"), 0);
}
END_TEST

START_TEST(test_interp_div64_wide_and_narrow_operands)
{
	/* Both the 32-bit fast path and the 64-bit path of div/mod. */
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000001\nmov %r1, 3\ndiv %r0, %r1\nexit"), 0x55555555ull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000001\nmov %r1, 3\nmod %r0, %r1\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 7\nlddw %r1, 0x100000000\ndiv %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov %r0, 7\nlddw %r1, 0x100000000\nmod %r0, %r1\nexit"), 7);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0xfffffff0\nmov %r1, 16\ndiv %r0, %r1\nexit"), 0x0fffffffull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000001\ndiv %r0, 3\nexit"), 0x55555555ull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000001\nmod %r0, 3\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0xfffffff1\nmod %r0, 16\nexit"), 1);
	/* A negative imm is sign-extended: the divisor is 2^64 - 1. */
	ck_assert_uint_eq(run_asm("mov %r0, -1\ndiv %r0, -1\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 5\ndiv %r0, -1\nexit"), 0);
}
END_TEST

START_TEST(test_interp_mod_by_zero_keeps_dst)
{
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000007\nmov %r1, 0\nmod %r0, %r1\nexit"),
			  0x100000007ull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000007\nmod %r0, 0\nexit"), 0x100000007ull);
	/* ALU32 still zero-extends the unchanged value. */
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000007\nmov %r1, 0\nmod32 %r0, %r1\nexit"), 7);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x100000007\nmod32 %r0, 0\nexit"), 7);
	ck_assert_uint_eq(run_asm("lddw %r0, -7\nmov %r1, 0\nsmod %r0, %r1\nexit"),
			  (uint64_t)-7);
	ck_assert_uint_eq(run_asm("lddw %r0, -7\nsmod32 %r0, 0\nexit"), 0xfffffff9ull);
}
END_TEST

START_TEST(test_interp_intmin_sdiv_minus_one)
{
	ck_assert_uint_eq(run_asm("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsdiv %r0, %r1\nexit"),
			  0x8000000000000000ull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit"),
			  0x8000000000000000ull);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x8000000000000000\nmov %r1, -1\nsmod %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x8000000000000000\nsmod %r0, -1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0x80000000\nmov %r1, -1\nsdiv32 %r0, %r1\nexit"),
			  0x80000000ull);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0x80000000\nsdiv32 %r0, -1\nexit"), 0x80000000ull);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0x80000000\nmov %r1, -1\nsmod32 %r0, %r1\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0x80000000\nsmod32 %r0, -1\nexit"), 0);
	/* Truncation toward zero; the remainder takes the dividend's sign. */
	ck_assert_uint_eq(run_asm("mov %r0, -7\nsdiv %r0, 2\nexit"), (uint64_t)-3);
	ck_assert_uint_eq(run_asm("mov %r0, -7\nsmod %r0, 2\nexit"), (uint64_t)-1);
	ck_assert_uint_eq(run_asm("mov %r0, 7\nsmod %r0, -2\nexit"), 1);
}
END_TEST

START_TEST(test_interp_shift_masking)
{
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nlsh %r0, 65\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nlsh %r0, -1\nexit"), 0x8000000000000000ull);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 33\nlsh32 %r0, %r1\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nlsh32 %r0, 33\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 4\nrsh32 %r0, 34\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, -8\narsh %r0, 66\nexit"), (uint64_t)-2);
	ck_assert_uint_eq(run_asm("mov32 %r0, -8\nmov %r1, 33\narsh32 %r0, %r1\nexit"),
			  0xfffffffcull);
}
END_TEST

START_TEST(test_interp_alu32_zero_extends)
{
	ck_assert_uint_eq(run_asm("mov32 %r0, -1\nexit"), 0xffffffffull);
	ck_assert_uint_eq(run_asm("mov %r0, -1\nadd32 %r0, 1\nexit"), 0);
	ck_assert_uint_eq(run_asm("lddw %r0, 0xffffffff00000001\nmov32 %r0, %r0\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nneg32 %r0\nexit"), 0xffffffffull);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nneg %r0\nexit"), UINT64_MAX);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit"), 0x8877);
	ck_assert_uint_eq(run_asm("lddw %r0, 0x1122334455667788\nle32 %r0\nexit"), 0x55667788);
	ck_assert_uint_eq(run_asm("mov %r1, -2\nmovsx832 %r0, %r1\nexit"), 0xfffffffeull);
	ck_assert_uint_eq(run_asm("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit"), (uint64_t)-128);
	/* 64-bit K forms sign-extend the immediate. */
	ck_assert_uint_eq(run_asm("mov %r0, 0\nor %r0, -1\nexit"), UINT64_MAX);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nor32 %r0, -1\nexit"), 0xffffffffull);
}
END_TEST

START_TEST(test_interp_fused_widening_idioms)
{
	/* jit/prog.c fuses these sequences; results must be the unfused ones. */
	ck_assert_uint_eq(run_asm("mov %r1, -5\nmov %r0, %r1\nlsh %r0, 32\nrsh %r0, 32\nexit"),
			  0xfffffffbull);
	ck_assert_uint_eq(run_asm("mov32 %r1, 0xfffffffb\nmov %r0, %r1\nlsh %r0, 32\narsh %r0, 32\nexit"),
			  (uint64_t)-5);
	ck_assert_uint_eq(run_asm("mov %r0, -5\nlsh %r0, 32\nrsh %r0, 32\nexit"), 0xfffffffbull);
	ck_assert_uint_eq(run_asm("mov32 %r0, 0xfffffffb\nlsh %r0, 32\narsh %r0, 32\nexit"),
			  (uint64_t)-5);
	/* Shifts by other amounts, or on another register, are not the idiom. */
	ck_assert_uint_eq(run_asm("mov %r0, -1\nlsh %r0, 32\nrsh %r0, 31\nexit"), 0x1fffffffeull);
	ck_assert_uint_eq(run_asm("mov %r0, -1\nmov %r1, -1\nlsh %r0, 32\nrsh %r1, 32\nexit"),
			  0xffffffff00000000ull);
	/* Landing on the second or third slot runs only what is there. */
	ck_assert_uint_eq(run_asm("mov %r0, -1\nmov %r1, 3\nja +1\nmov %r0, %r1\nlsh %r0, 32\nrsh %r0, 32\nexit"),
			  0xffffffffull);
	ck_assert_uint_eq(run_asm("mov %r0, -1\nmov %r1, 3\nja +2\nmov %r0, %r1\nlsh %r0, 32\nrsh %r0, 32\nexit"),
			  0xffffffffull);
}
END_TEST

START_TEST(test_interp_fused_mov_add_and_add_jcc)
{
	/* "r1 = r10; r1 += -8" (one fused slot), and jumping onto the add alone. */
	ck_assert_uint_eq(run_asm("mov %r1, %r10\nadd %r1, -8\nstdw [%r1], 5\nldxdw %r0, [%r10-8]\nexit"), 5);
	ck_assert_uint_eq(run_asm("mov %r1, 100\nja +1\nmov %r1, %r10\nadd %r1, -8\nmov %r0, %r1\nexit"), 92);
	/* add64 + each conditional jump, K and X, taken and not taken. */
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, %r1\nadd %r1, 1\njne %r1, 10, l\nexit"), 45);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, 0\nmov %r2, 10\nl:\nadd %r0, %r1\nadd %r1, 1\njlt %r1, %r2, l\nexit"), 45);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, -5\nl:\nadd %r0, 1\nadd %r1, 1\njslt %r1, 0, l\nexit"), 5);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, -5\nmov %r2, -1\nl:\nadd %r0, 1\nadd %r1, 1\njsle %r1, %r2, l\nexit"), 5);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, 1\nadd %r1, 3\njgt %r1, 20, e\nja l\ne:\nexit"), 7);
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov %r1, 0\nl:\nadd %r0, 1\nadd %r1, 1\njset %r1, 8, e\nja l\ne:\nexit"), 8);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 1\nadd %r1, 1\njeq %r1, 2, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 1\nadd %r1, 1\njge %r1, 3, +1\nmov %r0, 2\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 1\nadd %r1, -2\njsgt %r1, -1, +1\nmov %r0, 2\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 1\nadd %r1, -2\njsge %r1, -1, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 1\nadd %r1, 1\njle %r1, 1, +1\nmov %r0, 2\nexit"), 2);
	/* add32 + 32-bit jumps: the add wraps and zero-extends before the compare. */
	ck_assert_uint_eq(run_asm("mov %r0, 0\nmov32 %r1, 0\nl:\nadd %r0, 1\nadd32 %r1, 1\njne32 %r1, 7, l\nexit"), 7);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, -1\nadd32 %r1, 1\njeq %r1, 0, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov32 %r1, -3\nmov32 %r2, -1\nadd32 %r1, 1\njslt32 %r1, %r2, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nlddw %r1, 0x1fffffffe\nadd32 %r1, 1\njgt32 %r1, -2, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r0, 1\nmov %r1, 0\nadd32 %r1, 4\njset32 %r1, 3, +1\nmov %r0, 2\nexit"), 2);
}
END_TEST

START_TEST(test_interp_jmp32_compares_low_half)
{
	ck_assert_uint_eq(run_asm("lddw %r1, 0x100000000\nmov %r0, 1\njeq32 %r1, 0, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("lddw %r1, 0x100000000\nmov %r0, 1\njeq %r1, 0, +1\nmov %r0, 2\nexit"), 2);
	ck_assert_uint_eq(run_asm("mov %r1, -1\nmov %r0, 1\njsgt %r1, -2, +1\nmov %r0, 2\nexit"), 1);
	ck_assert_uint_eq(run_asm("mov %r1, -1\nmov %r0, 1\njgt %r1, -2, +1\nmov %r0, 2\nexit"), 1);
}
END_TEST

START_TEST(test_interp_atomics)
{
	uint64_t m[2] = { 10, 0x1ffffffffull };

	/* fetch add returns the old value and updates memory. */
	ck_assert_uint_eq(run_asm_mem("mov %r2, 5\nlock fetch add [%r1], %r2\nmov %r0, %r2\nexit", m,
				      sizeof(m)), 10);
	ck_assert_uint_eq(m[0], 15);
	ck_assert_uint_eq(run_asm_mem("mov %r2, 3\nlock or [%r1], %r2\nldxdw %r0, [%r1]\nexit", m,
				      sizeof(m)), 15);
	ck_assert_uint_eq(run_asm_mem("mov %r2, 6\nlock fetch and [%r1], %r2\nmov %r0, %r2\nexit", m,
				      sizeof(m)), 15);
	ck_assert_uint_eq(m[0], 6);
	ck_assert_uint_eq(run_asm_mem("mov %r2, 5\nlock xor [%r1], %r2\nldxdw %r0, [%r1]\nexit", m,
				      sizeof(m)), 3);
	ck_assert_uint_eq(run_asm_mem("mov %r2, 9\nlock xchg [%r1], %r2\nmov %r0, %r2\nexit", m,
				      sizeof(m)), 3);
	ck_assert_uint_eq(m[0], 9);
	/* cmpxchg: r0 gets the old value; memory changes only on a match. */
	ck_assert_uint_eq(run_asm_mem("mov %r0, 1\nmov %r2, 77\nlock cmpxchg [%r1], %r2\nexit", m,
				      sizeof(m)), 9);
	ck_assert_uint_eq(m[0], 9);
	ck_assert_uint_eq(run_asm_mem("mov %r0, 9\nmov %r2, 77\nlock cmpxchg [%r1], %r2\nexit", m,
				      sizeof(m)), 9);
	ck_assert_uint_eq(m[0], 77);
	/* 32-bit forms touch 4 bytes and zero-extend what they fetch. */
	ck_assert_uint_eq(run_asm_mem("mov %r2, -1\nlock fetch add32 [%r1+8], %r2\nmov %r0, %r2\nexit",
				      m, sizeof(m)), 0xffffffffull);
	ck_assert_uint_eq(m[1], 0x1fffffffeull);
	ck_assert_uint_eq(run_asm_mem("mov %r0, -2\nmov %r2, 4\nlock cmpxchg32 [%r1+8], %r2\nexit", m,
				      sizeof(m)), 0xfffffffeull);
	ck_assert_uint_eq(m[1], 0x100000004ull);
}
END_TEST

START_TEST(test_interp_atomics_shared_between_processes)
{
	/* Two processes run the same program on one MAP_SHARED page: every
	 * increment must land (64-bit add, 32-bit fetch-add, and a cmpxchg
	 * retry loop), so the totals are exact whatever the interleaving. */
	const char *text = "mov %r2, 0\n"
			   "l:\n"
			   "mov %r3, 1\n"
			   "lock add [%r1], %r3\n"
			   "mov %r4, 2\n"
			   "lock fetch add32 [%r1+8], %r4\n"
			   "retry:\n"
			   "ldxdw %r0, [%r1+16]\n"
			   "mov %r5, %r0\n"
			   "add %r5, 3\n"
			   "mov %r6, %r0\n"
			   "lock cmpxchg [%r1+16], %r5\n"
			   "jne %r0, %r6, retry\n"
			   "add %r2, 1\n"
			   "jne %r2, 20000, l\n"
			   "mov %r0, 0\n"
			   "exit";
	uint64_t *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct jit_prog *prog = NULL;
	int status;
	pid_t pid;

	ck_assert_ptr_ne(shared, MAP_FAILED);
	ck_assert_int_eq(load_asm(text, NULL, &prog), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	jit_prog_run(prog, shared);
	if (pid == 0)
		_exit(0);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_uint_eq(shared[0], 2 * 20000);
	ck_assert_uint_eq(shared[1], 2 * 2 * 20000); /* 32-bit slot, upper half untouched */
	ck_assert_uint_eq(shared[2], 3 * 2 * 20000);
	jit_prog_free(prog);
	munmap(shared, 4096);
}
END_TEST

START_TEST(test_interp_local_call_stack_isolation)
{
	/* Each frame has its own 512 bytes: the callee's [r10-8] is not the
	 * caller's, r10 differs by 512, and r6-r9 survive the call. */
	const char *text = "stdw [%r10-8], 111\n"
			   "mov %r6, 6\nmov %r9, 9\n"
			   "mov %r7, %r10\n"
			   "call local f\n"
			   "sub %r7, %r0\n"            /* caller r10 - callee r10 */
			   "jne %r7, 512, bad\n"
			   "jne %r6, 6, bad\n"
			   "jne %r9, 9, bad\n"
			   "ldxdw %r0, [%r10-8]\n"
			   "exit\n"
			   "bad:\nmov %r0, -1\nexit\n"
			   "f:\nstdw [%r10-8], 222\nmov %r6, 0\nmov %r9, 0\nmov %r0, %r10\nexit";

	ck_assert_uint_eq(run_asm(text), 111);
}
END_TEST

START_TEST(test_interp_local_calls_nest_eight_deep)
{
	struct jit_prog *prog = NULL;
	uint64_t r0 = 0;

	ck_assert_int_eq(load_asm(call_chain(JIT_MAX_CALL_DEPTH), NULL, &prog), 0);
	ck_assert_int_eq(jit_prog_exec(prog, 0, 0, &r0), 0);
	ck_assert_uint_eq(r0, JIT_MAX_CALL_DEPTH);
	jit_prog_free(prog);
}
END_TEST

static uint64_t helper_args[5];
static const struct jit_prog *helper_saw_prog;
static uint64_t helper_saw_ctx;

static uint64_t helper_sum(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	struct jit_run *run = jit_run_current();

	helper_args[0] = a, helper_args[1] = b, helper_args[2] = c, helper_args[3] = d;
	helper_args[4] = e;
	helper_saw_prog = run ? run->prog : NULL;
	helper_saw_ctx = run ? run->ctx : 0;
	return a + b + c + d + e;
}

static uint64_t helper_stop(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	ck_assert_int_eq(jit_run_stop(a), 0);
	return 1;
}

static const jit_helper_fn test_helpers[] = { [1] = helper_sum, [2] = helper_stop };
static const struct jit_env test_env = {
	.sz = sizeof(struct jit_env),
	.helpers = test_helpers,
	.helper_cnt = 3,
};

START_TEST(test_interp_helper_args_and_current_run)
{
	struct jit_prog *prog = NULL;
	uint64_t ctx = 0;
	uint64_t r0;

	ck_assert_int_eq(load_asm("mov %r6, %r1\nmov %r1, 1\nmov %r2, 2\nmov %r3, 3\nmov %r4, 4\n"
				  "mov %r5, 5\ncall 1\nexit",
				  &test_env, &prog),
			 0);
	ck_assert_ptr_null(jit_run_current());
	r0 = jit_prog_run(prog, &ctx);
	ck_assert_uint_eq(r0, 15);
	ck_assert_uint_eq(helper_args[0], 1);
	ck_assert_uint_eq(helper_args[4], 5);
	ck_assert_ptr_eq(helper_saw_prog, prog);
	ck_assert_uint_eq(helper_saw_ctx, (uint64_t)(uintptr_t)&ctx);
	ck_assert_ptr_null(jit_run_current());
	ck_assert_int_eq(jit_run_stop(0), -ESRCH);
	jit_prog_free(prog);
}
END_TEST

START_TEST(test_interp_helper_stop_ends_run)
{
	struct jit_prog *prog = NULL;
	uint64_t r0 = 0;

	ck_assert_int_eq(load_asm("mov %r1, 42\ncall local f\nmov %r0, 1\nexit\nf:\ncall 2\nmov %r0, 2\nexit",
				  &test_env, &prog),
			 0);
	ck_assert_int_eq(jit_prog_exec(prog, 0, 0, &r0), 0);
	ck_assert_uint_eq(r0, 42);
	jit_prog_free(prog);
}
END_TEST

START_TEST(test_interp_unwind_helper_zero_stops)
{
	/* uBPF semantics of helper 5 (jit/conformance.c): 0 ends the run with r0 = 0. */
	ck_assert_uint_eq(run_asm("mov %r1, 0\ncall 5\nmov %r0, 2\nexit"), 0);
	ck_assert_uint_eq(run_asm("mov %r1, 3\ncall 5\nadd %r0, 2\nexit"), 5);
}
END_TEST

START_TEST(test_interp_callx_unknown_id_einval)
{
	struct jit_prog *prog = NULL;
	uint64_t r0 = 123;

	ck_assert_int_eq(load_asm("mov %r2, 4\ncall %r2\nexit", jit_conformance_env(), &prog), 0);
	ck_assert_int_eq(jit_prog_exec(prog, 0, 0, &r0), -EINVAL);
	ck_assert_uint_eq(r0, 0);
	jit_prog_free(prog);
}
END_TEST

static int tail_calls_offered;

static int tail_self(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next)
{
	tail_calls_offered++;
	if (index >= 4)
		return -E2BIG; /* past max_entries */
	if (index != 0)
		return -ENOENT;
	*next = *(struct jit_prog **)cookie;
	return 0;
}

START_TEST(test_interp_tail_call_limit_33)
{
	/* Each run bumps *ctx, then tail-calls slot r3; the 34th tail call is
	 * refused (MAX_TAIL_CALL_CNT) and execution falls through. */
	static struct jit_prog *self;
	struct jit_env env = { .sz = sizeof(env), .tail_call = tail_self, .cookie = &self };
	uint64_t counter = 0, r0 = 0;

	ck_assert_int_eq(load_asm("ldxdw %r2, [%r1]\nadd %r2, 1\nstxdw [%r1], %r2\n"
				  "mov %r0, 7\nmov %r2, 0\nmov %r3, 0\ncall 12\n"
				  "add %r0, 2\nexit",
				  &env, &self),
			 0);
	tail_calls_offered = 0;
	ck_assert_int_eq(jit_prog_exec(self, (uint64_t)(uintptr_t)&counter, 0, &r0), 0);
	ck_assert_uint_eq(counter, 1 + JIT_MAX_TAIL_CALL_CNT);
	ck_assert_int_eq(tail_calls_offered, JIT_MAX_TAIL_CALL_CNT);
	ck_assert_uint_eq(r0, 9); /* r0 unchanged by the failed call, then +2 */
	jit_prog_free(self);
}
END_TEST

START_TEST(test_interp_tail_call_empty_slot_falls_through)
{
	static struct jit_prog *self;
	struct jit_env env = { .sz = sizeof(env), .tail_call = tail_self, .cookie = &self };
	uint64_t counter = 0, r0 = 0;

	ck_assert_int_eq(load_asm("ldxdw %r2, [%r1]\nadd %r2, 1\nstxdw [%r1], %r2\n"
				  "mov %r0, 7\nmov %r2, 0\nmov %r3, 1\ncall 12\nexit",
				  &env, &self),
			 0);
	ck_assert_int_eq(jit_prog_exec(self, (uint64_t)(uintptr_t)&counter, 0, &r0), 0);
	ck_assert_uint_eq(counter, 1);
	ck_assert_uint_eq(r0, 7);
	jit_prog_free(self);
}
END_TEST

START_TEST(test_interp_tail_call_empty_slots_count_toward_limit)
{
	/* 40 calls to an out-of-range index (not counted), then 40 to an empty
	 * slot (counted: only 33 reach the hook), then slot 0 is refused. */
	static struct jit_prog *self;
	struct jit_env env = { .sz = sizeof(env), .tail_call = tail_self, .cookie = &self };
	uint64_t r0 = 0;

	ck_assert_int_eq(load_asm("mov %r6, 0\n"
				  "big:\nmov %r2, 0\nmov %r3, 9\ncall 12\nadd %r6, 1\njlt %r6, 40, big\n"
				  "mov %r6, 0\n"
				  "empty:\nmov %r2, 0\nmov %r3, 1\ncall 12\nadd %r6, 1\njlt %r6, 40, empty\n"
				  "mov %r0, 7\nmov %r2, 0\nmov %r3, 0\ncall 12\nexit",
				  &env, &self),
			 0);
	tail_calls_offered = 0;
	ck_assert_int_eq(jit_prog_exec(self, 0, 0, &r0), 0);
	ck_assert_int_eq(tail_calls_offered, 40 + JIT_MAX_TAIL_CALL_CNT);
	ck_assert_uint_eq(r0, 7);
	jit_prog_free(self);
}
END_TEST

START_TEST(test_interp_tail_call_from_subprog_returns_to_caller)
{
	/* The tail-called program replaces the subprogram's frame: its exit
	 * returns to the subprogram's caller (as the kernel does when
	 * bpf-to-bpf calls and tail calls mix). */
	static struct jit_prog *target;
	struct jit_env env = { .sz = sizeof(env), .tail_call = tail_self, .cookie = &target };
	struct jit_prog *main_prog = NULL;
	uint64_t r0 = 0;

	ck_assert_int_eq(load_asm("mov %r6, 1\nmov %r0, 5\nexit", NULL, &target), 0);
	ck_assert_int_eq(load_asm("mov %r6, 7\ncall local f\nadd %r0, %r6\nadd %r0, 100\nexit\n"
				  "f:\nmov %r2, 0\nmov %r3, 0\ncall 12\nmov %r0, 50\nexit",
				  &env, &main_prog),
			 0);
	ck_assert_int_eq(jit_prog_exec(main_prog, 0, 0, &r0), 0);
	ck_assert_uint_eq(r0, 5 + 7 + 100); /* r6 restored from main's frame */
	jit_prog_free(main_prog);
	jit_prog_free(target);
}
END_TEST

static int resolves;

static int resolve_map(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	resolves++;
	if (insn[0].src_reg == BPF_PSEUDO_MAP_FD && insn[0].imm == 3) {
		*value = 0xfeed0000beefull;
		return 0;
	}
	if (insn[0].src_reg == BPF_PSEUDO_MAP_VALUE) {
		*value = 0x1000 + (uint64_t)insn[1].imm; /* value offset in the 2nd imm */
		return 0;
	}
	return -EBADF;
}

START_TEST(test_interp_ld_imm64_pseudo_resolved_at_load)
{
	struct bpf_insn p[] = {
		{ .code = 0x18, .dst_reg = 0, .src_reg = BPF_PSEUDO_MAP_FD, .imm = 3 },
		{ .code = 0 },
		{ .code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_VALUE, .imm = 3 },
		{ .code = 0, .imm = 16 },
		{ .code = 0x0f, .dst_reg = 0, .src_reg = 1 }, /* add r0, r1 */
		{ .code = 0x95 },
	};
	struct jit_env env = { .sz = sizeof(env), .resolve_ld_imm64 = resolve_map };
	struct jit_prog *prog = NULL;

	resolves = 0;
	ck_assert_int_eq(load_raw(p, 6, &env, &prog), 0);
	ck_assert_int_eq(resolves, 2);
	/* The program keeps its instructions as given, pseudo forms unresolved. */
	ck_assert_uint_eq(jit_prog_insn_cnt(prog), 6);
	ck_assert_int_eq(memcmp(jit_prog_insns(prog), p, sizeof(p)), 0);
	ck_assert_uint_eq(jit_prog_run(prog, NULL), 0xfeed0000beefull + 0x1010);
	ck_assert_uint_eq(jit_prog_run(prog, NULL), 0xfeed0000beefull + 0x1010);
	ck_assert_int_eq(resolves, 2); /* nothing is resolved while running */
	jit_prog_free(prog);
	prog = NULL;

	/* The hook's error comes back, with the instruction named. */
	p[0].imm = 4;
	ck_assert_int_eq(load_raw(p, 6, &env, &prog), -EBADF);
	ck_assert_str_eq(msg, "insn 0: ld_imm64 with src_reg 1 imm 4 could not be resolved: Bad file descriptor");
	/* No hook at all. */
	ck_assert_int_eq(load_raw(p, 6, NULL, &prog), -EINVAL);
	ck_assert_str_eq(msg, "insn 0: ld_imm64 with src_reg 1 needs a resolver and none is set");
	/* A subprogram address is jit's own business, never the resolver's: here
	 * its target (slot 5, the exit) would cut main off before its exit. */
	p[0].src_reg = BPF_PSEUDO_FUNC;
	resolves = 0;
	ck_assert_int_eq(load_raw(p, 6, &env, &prog), -EINVAL);
	ck_assert_int_eq(resolves, 0);
	ck_assert_ptr_null(prog);
}
END_TEST

/* ------------------------------------------------------------------- asm */

START_TEST(test_asm_errors_name_the_line)
{
	struct bpf_insn *insns = NULL;
	uint32_t cnt;
	char log[128];

	ck_assert_int_eq(jit_asm_assemble("mov %r0, 1\nfoo %r0\nexit", &insns, &cnt, log, sizeof(log)),
			 -EINVAL);
	ck_assert_str_eq(log, "line 2: unknown mnemonic 'foo'");
	ck_assert_int_eq(jit_asm_assemble("ja nowhere\nexit", &insns, &cnt, log, sizeof(log)), -EINVAL);
	ck_assert_str_eq(log, "line 1: undefined label 'nowhere'");
	ck_assert_int_eq(jit_asm_assemble("mov %r0, 4294967296\nexit", &insns, &cnt, log, sizeof(log)),
			 -EINVAL);
	ck_assert_str_eq(log, "line 1: immediate 4294967296 does not fit in 32 bits");
	ck_assert_int_eq(jit_asm_assemble("ldxw %r0, [%r1+40000]\nexit", &insns, &cnt, log, sizeof(log)),
			 -EINVAL);
	ck_assert_str_eq(log, "line 1: offset 40000 does not fit in 16 bits");
	ck_assert_int_eq(jit_asm_assemble("add %r0\nexit", &insns, &cnt, log, sizeof(log)), -EINVAL);
	ck_assert_str_eq(log, "line 1: 'add' takes 2 operands, got 1");
	ck_assert_int_eq(jit_asm_assemble("# nothing\n", &insns, &cnt, log, sizeof(log)), -EINVAL);
	ck_assert_str_eq(log, "line 0: no instructions");
	ck_assert_ptr_null(insns);
}
END_TEST

START_TEST(test_asm_encodings)
{
	uint32_t cnt;
	struct bpf_insn *p = assemble("sdiv32 %r1, -3\nmovsx1664 %r2, %r3\nlock fetch xor32 [%r10-4], %r4\n"
				      "swap16 %r5\nja32 +1\ncall %r6\nexit\nlddw %r7, 0x8877665544332211",
				      &cnt);

	ck_assert_uint_eq(cnt, 9);
	ck_assert_uint_eq(p[0].code, 0x34);
	ck_assert_int_eq(p[0].off, 1);
	ck_assert_int_eq(p[0].imm, -3);
	ck_assert_uint_eq(p[1].code, 0xbf);
	ck_assert_int_eq(p[1].off, 16);
	ck_assert_uint_eq(p[1].src_reg, 3);
	ck_assert_uint_eq(p[2].code, 0xc3);
	ck_assert_int_eq(p[2].imm, 0xa1);
	ck_assert_int_eq(p[2].off, -4);
	ck_assert_uint_eq(p[2].dst_reg, 10);
	ck_assert_uint_eq(p[3].code, 0xd7);
	ck_assert_int_eq(p[3].imm, 16);
	ck_assert_uint_eq(p[4].code, 0x06);
	ck_assert_int_eq(p[4].imm, 1);
	ck_assert_int_eq(p[4].off, 0);
	ck_assert_uint_eq(p[5].code, 0x8d);
	ck_assert_uint_eq(p[5].dst_reg, 6);
	ck_assert_uint_eq(p[7].code, 0x18);
	ck_assert_uint_eq((uint32_t)p[7].imm, 0x44332211u);
	ck_assert_uint_eq((uint32_t)p[8].imm, 0x88776655u);
	free(p);
}
END_TEST

START_TEST(test_asm_lddw_with_trailing_comma_takes_two_slots)
{
	/* Found by fuzz_asm: both passes must agree on the size of "lddw,". */
	uint32_t cnt;
	struct bpf_insn *p = assemble("lddw, %r0, 0x100000005\nexit", &cnt);

	ck_assert_uint_eq(cnt, 3);
	ck_assert_uint_eq(p[0].code, 0x18);
	ck_assert_int_eq(p[0].imm, 5);
	ck_assert_int_eq(p[1].imm, 1);
	ck_assert_uint_eq(p[2].code, 0x95);
	free(p);
}
END_TEST

START_TEST(test_disasm_text_and_refusals)
{
	struct bpf_insn p[] = {
		{ .code = 0x18, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = 5 },
		{ .code = 0 },
		{ .code = 0x7b, .dst_reg = 10, .src_reg = 1, .off = -16 },
		{ .code = 0x61, .dst_reg = 0, .src_reg = 1 },
		{ .code = 0xb6, .imm = 1 }, /* JMP32 | JLE | K */
		{ .code = 0x07, .src_reg = 1 },
	};
	char buf[128];

	ck_assert_int_eq(jit_disasm_insn(&p[0], 6, buf, sizeof(buf)), 2);
	ck_assert_str_eq(buf, "lddw %r1, 0x5 # pseudo src_reg 1");
	ck_assert_int_eq(jit_disasm_insn(&p[2], 4, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "stxdw [%r10-16], %r1");
	ck_assert_int_eq(jit_disasm_insn(&p[3], 3, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "ldxw %r0, [%r1]");
	ck_assert_int_eq(jit_disasm_insn(&p[4], 2, buf, sizeof(buf)), 1);
	ck_assert_str_eq(buf, "jle32 %r0, 1, +0");
	ck_assert_int_eq(jit_disasm_insn(&p[5], 1, buf, sizeof(buf)), -EINVAL);
	ck_assert_str_eq(buf, "add: reserved field src_reg must be 0, is 1");
	ck_assert_int_eq(jit_disasm_insn(&p[0], 1, buf, sizeof(buf)), -EINVAL);
	ck_assert_str_eq(buf, "lddw is cut in half (its second slot is missing)");
}
END_TEST

/* ------------------------------------------------------- packet loads */

/* A 64-byte packet: a model of the embedder's hook (offsets 0..63 only). */
static uint8_t pkt[64];
static uint64_t pkt_seen_ctx;
static int32_t pkt_seen_off;
static uint32_t pkt_seen_size;
static int pkt_calls;

static const void *pkt_pointer(void *cookie, uint64_t ctx, int32_t off, uint32_t size)
{
	(void)cookie;
	pkt_seen_ctx = ctx;
	pkt_seen_off = off;
	pkt_seen_size = size;
	pkt_calls++;
	if (off < 0 || (uint64_t)off + size > sizeof(pkt))
		return NULL;
	return pkt + off;
}

static const struct jit_env pkt_env = { .sz = sizeof(pkt_env), .packet_pointer = pkt_pointer };

/* Run @text with r1 = 0x1000 (the "ctx"); r0 out. */
static uint64_t run_pkt(const char *text)
{
	struct jit_prog *prog = NULL;
	uint64_t r0 = 0;
	int err = load_asm(text, &pkt_env, &prog);

	ck_assert_msg(err == 0, "load: %s", msg);
	pkt_calls = 0;
	pkt_seen_ctx = 0;
	err = jit_prog_exec(prog, 0x1000, 0, &r0);
	ck_assert_int_eq(err, 0);
	jit_prog_free(prog);
	return r0;
}

static void pkt_fill(void)
{
	for (unsigned i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 3 + 1);
	pkt[9] = 0x06;
	memcpy(pkt + 60, "\xfe\xdc\xba\x98", 4);
}

/* r0 = the bytes in network order, zero-extended; the hook gets r6 as ctx. */
START_TEST(test_interp_packet_loads_network_order)
{
	pkt_fill();
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsb 9\nexit"), 0x06);
	ck_assert_uint_eq(pkt_seen_ctx, 0x1000);
	ck_assert_int_eq(pkt_seen_off, 9);
	ck_assert_uint_eq(pkt_seen_size, 1);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsh 0\nexit"), (uint64_t)pkt[0] << 8 | pkt[1]);
	ck_assert_uint_eq(pkt_seen_size, 2);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsw 1\nexit"),
			  (uint64_t)pkt[1] << 24 | (uint64_t)pkt[2] << 16 | pkt[3] << 8 | pkt[4]);
	ck_assert_uint_eq(pkt_seen_size, 4);
	/* Not sign-extended (the kernel's helper returns a u32). */
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsw 60\nexit"), 0xfedcba98);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nlddw %r0, 0xffffffffffffffff\nldabsb 60\nexit"), 0xfe);
	/* IND: src + imm. */
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r7, 5\nldindb %r7, 4\nexit"), 0x06);
	ck_assert_int_eq(pkt_seen_off, 9);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r7, 70\nldindh %r7, -10\nexit"), 0xfedc);
	/* r6-r9 survive, the program goes on after the load. */
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r7, 3\nmov %r8, 4\nmov %r9, 5\nldabsb 9\n"
				  "add %r0, %r7\nadd %r0, %r8\nadd %r0, %r9\nmov %r1, %r6\nsub %r1, 0x1000\n"
				  "add %r0, %r1\nexit"),
			  6 + 3 + 4 + 5);
}
END_TEST

/* The last bytes in range load; one byte further ends the program with r0 = 0. */
START_TEST(test_interp_packet_loads_boundary_and_out_of_range)
{
	pkt_fill();
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsb 63\nexit"), pkt[63]);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsh 62\nexit"), (uint64_t)pkt[62] << 8 | pkt[63]);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nldabsw 60\nexit"), 0xfedcba98);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r0, 7\nldabsb 64\nmov %r0, 99\nexit"), 0);
	ck_assert_int_eq(pkt_calls, 1);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r0, 7\nldabsh 63\nmov %r0, 99\nexit"), 0);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r0, 7\nldabsw 61\nmov %r0, 99\nexit"), 0);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r0, 7\nldabsb -1\nmov %r0, 99\nexit"), 0);
	ck_assert_int_eq(pkt_seen_off, -1);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r7, 60\nldindw %r7, 1\nmov %r0, 99\nexit"), 0);
	/* From a subprogram, the whole program ends (RFC 9669 §5.5: "aborted"). */
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\ncall local sub\nmov %r0, 5\nexit\n"
				  "sub:\nldabsb 100\nmov %r0, 3\nexit"),
			  0);
}
END_TEST

/* LD_IND adds in 64 bits and hands the low 32 bits on as an int, as the
 * kernel's rewrite does (bpf_gen_ld_abs(): r2 = src + imm, then an int arg). */
START_TEST(test_interp_packet_ind_offset_truncated_to_32_bits)
{
	pkt_fill();
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nlddw %r7, 0x100000005\nldindb %r7, 4\nexit"), 0x06);
	ck_assert_int_eq(pkt_seen_off, 9);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nlddw %r7, 0xffffffff\nldindb %r7, 10\nexit"), 0x06);
	ck_assert_int_eq(pkt_seen_off, 9);
	/* 0x80000000 + 0 is INT_MIN; -0x100000 (SKF_NET_OFF) passes through as is. */
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov32 %r7, 0x80000000\nldindb %r7, 0\nexit"), 0);
	ck_assert_int_eq(pkt_seen_off, INT32_MIN);
	ck_assert_uint_eq(run_pkt("mov %r6, %r1\nmov %r7, 0\nldindb %r7, -1048576\nexit"), 0);
	ck_assert_int_eq(pkt_seen_off, -0x100000);
}
END_TEST

START_TEST(test_asm_packet_loads_round_trip)
{
	static const char *const lines[] = { "ldabsw 9", "ldabsh -1048567", "ldabsb 0", "ldindw %r7, 0",
					     "ldindh %r10, -4", "ldindb %r0, 2147483647" };
	static const uint8_t codes[] = { 0x20, 0x28, 0x30, 0x40, 0x48, 0x50 };
	char buf[128];

	for (unsigned i = 0; i < sizeof(codes); i++) {
		uint32_t cnt;
		struct bpf_insn *p = assemble(lines[i], &cnt);

		ck_assert_uint_eq(cnt, 1);
		ck_assert_uint_eq(p[0].code, codes[i]);
		ck_assert_uint_eq(p[0].dst_reg, 0);
		ck_assert_int_eq(p[0].off, 0);
		ck_assert_int_eq(jit_disasm_insn(p, 1, buf, sizeof(buf)), 1);
		ck_assert_str_eq(buf, lines[i]);
		free(p);
	}
}
END_TEST

START_TEST(test_load_env_size_versioning)
{
	struct {
		struct jit_env env;
		uint64_t newer_field;
	} big = { .env = { .sz = sizeof(big), .helpers = test_helpers, .helper_cnt = 3 } };
	struct jit_env small = { .sz = offsetof(struct jit_env, helper_cnt) + sizeof(uint32_t),
				 .helpers = test_helpers, .helper_cnt = 3,
				 .tail_call = tail_self /* past sz: must be ignored */ };
	struct jit_prog *prog = NULL;

	/* Newer caller, unknown field zero: fine. */
	ck_assert_int_eq(load_asm("mov %r1, 2\ncall 1\nexit", &big.env, &prog), 0);
	ck_assert_uint_eq(jit_prog_run(prog, NULL), 2);
	jit_prog_free(prog);
	prog = NULL;
	/* ... unknown field set: refused. */
	big.newer_field = 1;
	ck_assert_int_eq(load_asm("exit", &big.env, &prog), -E2BIG);
	ck_assert_ptr_null(prog);
	/* Older caller: helpers are read, the fields past its size are not, so
	 * call 12 is an unknown helper rather than a tail call. */
	refused("call 12\nexit", &small, -EINVAL, "insn 0: invalid func unknown#12 (no such helper)");
	small.sz = 4;
	refused("exit", &small, -EINVAL, "struct jit_env is too small (sz 4)");
}
END_TEST

static Suite *jit_suite(void)
{
	Suite *s = suite_create("jit");
	TCase *tc = tcase_create("decode");

	tcase_add_test(tc, test_decode_every_form_is_unambiguous);
	tcase_add_test(tc, test_decode_unknown_opcode_einval);
	tcase_add_test(tc, test_decode_packet_load_reserved_fields_einval);
	tcase_add_test(tc, test_decode_reserved_field_einval);
	tcase_add_test(tc, test_decode_invalid_register_einval);
	tcase_add_test(tc, test_decode_write_r10_einval);
	tcase_add_test(tc, test_decode_store_through_r10_ok);
	tcase_add_test(tc, test_decode_jump_out_of_range_einval);
	tcase_add_test(tc, test_decode_jump_into_lddw_einval);
	tcase_add_test(tc, test_decode_lddw_cut_in_half_einval);
	tcase_add_test(tc, test_decode_lddw_second_slot_not_zero_einval);
	tcase_add_test(tc, test_decode_fall_through_einval);
	tcase_add_test(tc, test_decode_subprog_fall_through_einval);
	tcase_add_test(tc, test_decode_jump_leaves_subprog_einval);
	tcase_add_test(tc, test_decode_unknown_helper_einval);
	tcase_add_test(tc, test_decode_no_env_skips_helper_check);
	tcase_add_test(tc, test_load_without_env_refuses_helper_calls);
	tcase_add_test(tc, test_decode_local_call_out_of_range_einval);
	tcase_add_test(tc, test_decode_recursion_einval);
	tcase_add_test(tc, test_decode_call_depth_e2big);
	tcase_add_test(tc, test_decode_empty_einval);
	tcase_add_test(tc, test_decode_atomic_bad_op_einval);
	tcase_add_test(tc, test_decode_end_bad_width_einval);
	tcase_add_test(tc, test_decode_kfunc_enotsup);
	tcase_add_test(tc, test_decode_refs_lists_helpers_and_maps);
	suite_add_tcase(s, tc);

	tc = tcase_create("interp");
	tcase_add_test(tc, test_interp_div_by_zero_gives_zero);
	tcase_add_test(tc, test_interp_mod_by_zero_keeps_dst);
	tcase_add_test(tc, test_interp_div64_wide_and_narrow_operands);
	tcase_add_test(tc, test_interp_intmin_sdiv_minus_one);
	tcase_add_test(tc, test_interp_shift_masking);
	tcase_add_test(tc, test_interp_alu32_zero_extends);
	tcase_add_test(tc, test_interp_jmp32_compares_low_half);
	tcase_add_test(tc, test_interp_fused_widening_idioms);
	tcase_add_test(tc, test_interp_fused_mov_add_and_add_jcc);
	tcase_add_test(tc, test_interp_atomics);
	tcase_add_test(tc, test_interp_atomics_shared_between_processes);
	tcase_add_test(tc, test_interp_local_call_stack_isolation);
	tcase_add_test(tc, test_interp_local_calls_nest_eight_deep);
	tcase_add_test(tc, test_interp_helper_args_and_current_run);
	tcase_add_test(tc, test_interp_helper_stop_ends_run);
	tcase_add_test(tc, test_interp_unwind_helper_zero_stops);
	tcase_add_test(tc, test_interp_callx_unknown_id_einval);
	tcase_add_test(tc, test_interp_tail_call_limit_33);
	tcase_add_test(tc, test_interp_tail_call_empty_slot_falls_through);
	tcase_add_test(tc, test_interp_tail_call_from_subprog_returns_to_caller);
	tcase_add_test(tc, test_interp_tail_call_empty_slots_count_toward_limit);
	tcase_add_test(tc, test_interp_ld_imm64_pseudo_resolved_at_load);
	tcase_add_test(tc, test_load_env_size_versioning);
	tcase_add_test(tc, test_interp_packet_loads_network_order);
	tcase_add_test(tc, test_interp_packet_loads_boundary_and_out_of_range);
	tcase_add_test(tc, test_interp_packet_ind_offset_truncated_to_32_bits);
	tcase_add_test(tc, test_load_packet_load_without_hook_einval);
	suite_add_tcase(s, tc);

	tc = tcase_create("asm");
	tcase_add_test(tc, test_asm_errors_name_the_line);
	tcase_add_test(tc, test_asm_encodings);
	tcase_add_test(tc, test_asm_lddw_with_trailing_comma_takes_two_slots);
	tcase_add_test(tc, test_disasm_text_and_refusals);
	tcase_add_test(tc, test_asm_packet_loads_round_trip);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jit_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
