/*
 * fuzz_decode.c - bytes as instructions: the decoder must refuse or accept
 * without crashing, and an accepted program must run without crashing.
 *
 * There is no verifier yet, so an accepted program may dereference any
 * address it computes, or loop forever. We run only what cannot: programs
 * whose memory accesses all go through r10 with an offset inside the frame
 * (r10 is read-only, so such accesses stay in the program's own stack), and
 * whose jumps all go forward (with no local-call recursion, which the decoder
 * refuses, and at most 33 tail calls, they then terminate). Everything else
 * is decoded and loaded only. Helpers 1..6 and a tail-call hook that
 * re-enters the same program are provided, and pseudo ld_imm64 forms resolve
 * to constants, so those paths are reached too. Programs that never read
 * memory (so uninitialised stack cannot make two runs differ) also run a
 * second time loaded without superinstructions, and r0 must match: a
 * differential test of pinsn_fuse() (jit/prog.c).
 *
 * Built with --enable-fuzzers (clang -fsanitize=fuzzer). Without libFuzzer,
 * main() replays the files named on the command line.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/decode.h"
#include "jit/jit.h"
#include "jit/jit_int.h"

static uint64_t helper_sum(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return a + b + c + d + e;
}

static uint64_t helper_stop(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	if (a & 1)
		jit_run_stop(a);
	return a;
}

static const jit_helper_fn helpers[7] = {
	[1] = helper_sum, [2] = helper_stop, [3] = helper_sum,
	[4] = helper_sum, [5] = helper_stop, [6] = helper_sum,
};

static const struct jit_prog *current;

static int resolve(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	if (insn[0].imm < 0)
		return -EBADF;
	*value = (uint64_t)(uint32_t)insn[0].imm * 8;
	return 0;
}

static int tail_call(void *cookie, uint64_t prog_array, uint32_t index,
		     const struct jit_prog **next)
{
	if (index & 1)
		return -ENOENT;
	*next = current;
	return 0;
}

/* True if running @insns cannot touch memory outside its own stack or loop;
 * *@reads_memory tells whether it loads anything. */
static bool safe_to_run(const struct bpf_insn *insns, uint32_t cnt, const struct jit_decoded *d,
			bool *reads_memory)
{
	*reads_memory = false;
	for (uint32_t i = 0; i < cnt; i++) {
		const struct jit_opcode_info *r;
		unsigned int sz = 8;
		int base;

		if (d->ops[i] == JIT_OP_LDDW_HI)
			continue;
		r = &jit_opcode_table[d->ops[i]];
		switch (r->syntax) {
		case JIT_SYN_JA:
		case JIT_SYN_JCC:
			if (insns[i].off < 0)
				return false;
			break;
		case JIT_SYN_JA32:
			if (insns[i].imm < 0)
				return false;
			break;
		case JIT_SYN_LDX:
		case JIT_SYN_ST:
		case JIT_SYN_STX:
		case JIT_SYN_ATOMIC:
			base = r->syntax == JIT_SYN_LDX ? insns[i].src_reg : insns[i].dst_reg;
			if (r->syntax == JIT_SYN_LDX || r->syntax == JIT_SYN_ATOMIC)
				*reads_memory = true;
			switch (r->code & 0x18) {
			case 0x00: sz = 4; break;
			case 0x08: sz = 2; break;
			case 0x10: sz = 1; break;
			}
			/* Atomics need natural alignment; keep them aligned. */
			if (base != 10 || insns[i].off < -JIT_STACK_SZ || insns[i].off + (int)sz > 0 ||
			    (r->syntax == JIT_SYN_ATOMIC && (insns[i].off % (int)sz)))
				return false;
			break;
		default:
			break;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t cnt = (uint32_t)(size / sizeof(struct bpf_insn));
	struct bpf_insn *insns;
	struct jit_decoded *d = NULL;
	struct jit_prog *prog = NULL;
	struct jit_env env = {
		.sz = sizeof(env),
		.helpers = helpers,
		.helper_cnt = 7,
		.resolve_ld_imm64 = resolve,
		.tail_call = tail_call,
	};
	char log[512];
	bool reads_memory;
	uint64_t r0, r0_plain;
	int err, err_plain;

	if (cnt > 4096)
		return 0;
	insns = malloc(cnt ? cnt * sizeof(*insns) : 1);
	if (!insns)
		return 0;
	memcpy(insns, data, cnt * sizeof(*insns));
	if (jit_decode_prog(insns, cnt, &env, &d, log, sizeof(log)) == 0) {
		if (jit_prog_load(insns, cnt, &env, &prog, log, sizeof(log)) == 0) {
			if (safe_to_run(insns, cnt, d, &reads_memory)) {
				current = prog;
				err = jit_prog_exec(prog, 0, 0, &r0);
				if (!reads_memory) {
					struct jit_prog *plain = NULL;

					jit_fuse_enabled = 0;
					if (jit_prog_load(insns, cnt, &env, &plain, log, sizeof(log)))
						abort();
					jit_fuse_enabled = 1;
					current = plain;
					err_plain = jit_prog_exec(plain, 0, 0, &r0_plain);
					if (err != err_plain || r0 != r0_plain)
						abort(); /* superinstructions changed the result */
					jit_prog_free(plain);
				}
			}
			jit_prog_free(prog);
		}
		jit_decoded_free(d);
	} else if (!log[0]) {
		abort(); /* every refusal must say why */
	}
	free(insns);
	return 0;
}

#ifndef FUZZ_LIBFUZZER
int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t buf[65536];
		size_t n;

		if (!f) {
			perror(argv[i]);
			return 1;
		}
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		LLVMFuzzerTestOneInput(buf, n);
	}
	return 0;
}
#endif
