/*
 * jit.h - the contract of the execution module: load an eBPF program once
 * (decode, validate, resolve ld_imm64 pseudo forms), then run it many times.
 *
 * Back ends: the interpreter (jit/interp.c, always built) and, later, the
 * LLVM JIT (jit/llvm.c). Callers never pick one directly; jit_prog_run()
 * uses the best one the program was prepared for.
 *
 * Programs are not thread-bound: one struct jit_prog may run on many threads
 * at once. Each run gets its own stack (512 bytes per frame, as the kernel).
 */
#ifndef JIT_JIT_H
#define JIT_JIT_H

#include <linux/bpf.h>
#include <stddef.h>
#include <stdint.h>

struct jit_prog;

/* A helper, by the kernel's convention: five u64 arguments in, one u64 out. */
typedef uint64_t (*jit_helper_fn)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

/*
 * What the embedding supplies at load time. Everything is optional; a program
 * that needs a missing piece is refused at load with a precise message.
 */
struct jit_env {
	size_t sz; /* sizeof(struct jit_env) as the caller knows it */
	/* Helpers indexed by id; NULL entries are unknown helpers. */
	const jit_helper_fn *helpers;
	uint32_t helper_cnt;
	/*
	 * Resolve an ld_imm64 whose src_reg is a pseudo form (BPF_PSEUDO_MAP_FD,
	 * BPF_PSEUDO_MAP_VALUE, BPF_PSEUDO_MAP_IDX, BPF_PSEUDO_MAP_IDX_VALUE,
	 * BPF_PSEUDO_BTF_ID, BPF_PSEUDO_FUNC) into the 64-bit value the program
	 * sees. Returns 0 or -errno.
	 */
	int (*resolve_ld_imm64)(void *cookie, const struct bpf_insn insn[2], uint64_t *value);
	/*
	 * bpf_tail_call(ctx, prog_array, index): find the program to continue in.
	 * Returns 0 and sets *next, or -ENOENT when the slot is empty.
	 */
	int (*tail_call)(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next);
	void *cookie;
};

#endif /* JIT_JIT_H */
