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
 * Where bpf_map_lookup_elem(map, &key) finds the value of an array map, so
 * the interpreter can compute it instead of calling the helper (see
 * jit_env.inline_lookup). For a u32 key k < max_entries the value is at
 *   base + cpu * cpu_stride + k * elem_sz
 * where cpu is 0 for an ARRAY (cpu_stride 0) and, for a PERCPU_ARRAY, the
 * current CPU by the embedder's rule: the u32 at thread pointer + cpu_tp_off
 * (glibc's rseq area, struct rseq.cpu_id) when cpu_tp_off != INT64_MIN and
 * that value is < ncpu, else cpu_slow(ncpu). k >= max_entries gives NULL.
 */
struct jit_array_geom {
	uint8_t *base;       /* value of key 0 on CPU 0 (value offset included) */
	uint64_t elem_sz;    /* bytes between consecutive keys */
	uint64_t cpu_stride; /* bytes between CPUs' copies; 0 = not per-CPU */
	uint32_t max_entries;
	uint32_t ncpu;       /* per-CPU: copies per key, >= 1 */
	int64_t cpu_tp_off;  /* per-CPU: offset of a u32 CPU number from the thread
			      * pointer, or INT64_MIN */
	uint32_t (*cpu_slow)(uint32_t ncpu); /* per-CPU: the CPU (< ncpu) when the fast read fails */
};

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
	 * Returns 0 and sets *next; -ENOENT when the slot is empty (this counts
	 * toward the limit of 33, as in the kernel); any other error, e.g. -E2BIG
	 * for an index past max_entries, does not count. Called from the run's
	 * thread; must not block.
	 */
	int (*tail_call)(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next);
	void *cookie;
	/*
	 * Optional (added after tail_call; older callers leave it out of sz):
	 * describe the map that an ld_imm64 with BPF_PSEUDO_MAP_FD or
	 * BPF_PSEUDO_MAP_IDX resolved to (@map_ptr, the value resolve_ld_imm64
	 * gave), so that bpf_map_lookup_elem on it can run inline, as the
	 * kernel's verifier rewrites it with map_gen_lookup (do_misc_fixups()
	 * in kernel/bpf/verifier.c, array_map_gen_lookup() in
	 * kernel/bpf/arraymap.c). Fill @out and return 0 for an ARRAY or
	 * PERCPU_ARRAY; return -EOPNOTSUPP (or any error) for anything else,
	 * and the call stays a helper call. Called at load only. The geometry
	 * must stay valid for the life of the program (the embedder holds the
	 * map for as long as the program, as prog->aux->used_maps does).
	 * maps/ provides map_jit_inline_lookup() (maps/maps.h) for this.
	 */
	int (*inline_lookup)(void *cookie, uint64_t map_ptr, struct jit_array_geom *out);
	/*
	 * Optional (added after inline_lookup): the packet of a context, for
	 * the legacy packet loads LD_ABS/LD_IND (RFC 9669 §5.5). @ctx is the
	 * program's r6, @off the offset the instruction computed (imm, or
	 * src + imm truncated to 32 bits), @size 1, 2 or 4. Return the address
	 * of the @size bytes, or NULL when they are not in the packet: the run
	 * then ends with r0 = 0, as the kernel's rewritten LD_ABS does
	 * (bpf_gen_ld_abs() in net/core/filter.c). What a negative @off means
	 * (SKF_NET_OFF, SKF_LL_OFF) is the embedder's business: jit/ knows no
	 * packet layout. Called from the run's thread; must not block. A
	 * program with LD_ABS/LD_IND is refused at load when this is NULL.
	 */
	const void *(*packet_pointer)(void *cookie, uint64_t ctx, int32_t off, uint32_t size);
};

/* Kernel limit on chained tail calls: MAX_TAIL_CALL_CNT in include/linux/bpf.h. */
#define JIT_MAX_TAIL_CALL_CNT 33
/* Stack bytes per frame: MAX_BPF_STACK in include/linux/filter.h. */
#define JIT_STACK_SZ 512

/**
 * jit_prog_load() - decode, validate and prepare a program.
 * @insns: @insn_cnt raw slots (lddw counts 2); copied, the caller keeps its buffer
 * @env: helpers and hooks; copied (the helper table too), but env->cookie must
 *       stay valid for the life of the program; NULL means no helpers, no pseudo
 *       ld_imm64 and no tail calls
 * @out: on success the program; release with jit_prog_free()
 * @log: on failure one line "insn N: reason" (or a reason without index), may be NULL
 *
 * ld_imm64 pseudo forms are resolved here through env->resolve_ld_imm64, so
 * a run only ever sees plain constants. BPF_PSEUDO_FUNC (src_reg 4, imm =
 * the callback subprogram's first slot minus this slot + 1) is resolved by
 * jit/ itself into a callback handle for jit_callback_call(); its target
 * becomes a subprogram start, as in add_subprog_and_kfunc() in
 * kernel/bpf/verifier.c, and must obey the same rules as a local call's. With env->inline_lookup set, a
 * bpf_map_lookup_elem call whose r1 is provably one array map is rewritten
 * into inline address arithmetic (see jit/prog.c for the exact rule); the
 * result is the same as the helper's.
 *
 * @env->sz may be smaller than sizeof(struct jit_env) (an older caller: the
 * missing fields are taken as 0) or larger (a newer caller: the extra bytes
 * must be 0).
 *
 * Returns 0 or:
 *   -EINVAL  malformed program or unknown helper (see jit_decode_prog()), or
 *            a pseudo ld_imm64 without env->resolve_ld_imm64, or env->sz
 *            smaller than the sz field itself;
 *   -E2BIG   env->sz larger than we know with non-zero bytes past our struct;
 *   -E2BIG   (also) too many instructions or local calls nested too deep;
 *   -EINVAL  (also) LD_ABS/LD_IND without env->packet_pointer;
 *   -ENOTSUP kfunc calls (call src_reg 2), which are not implemented yet;
 *   -ENOMEM;
 *   or the error env->resolve_ld_imm64 returned.
 */
int jit_prog_load(const struct bpf_insn *insns, uint32_t insn_cnt, const struct jit_env *env,
		  struct jit_prog **out, char *log, size_t log_sz);

/** jit_prog_free() - release a program; NULL is fine. No run may be in progress. */
void jit_prog_free(struct jit_prog *p);

/** jit_prog_insn_cnt() - slots of the program as loaded. */
uint32_t jit_prog_insn_cnt(const struct jit_prog *p);

/**
 * jit_prog_insns() - the instructions as loaded (before ld_imm64 resolution),
 * jit_prog_insn_cnt() of them; owned by @p, valid until jit_prog_free().
 */
const struct bpf_insn *jit_prog_insns(const struct jit_prog *p);

/**
 * jit_prog_exec() - run with r1 and r2 as given; the general entry point.
 * @r0: the program's result (r0 at the outermost exit)
 *
 * Thread-safe: runs share nothing but @p, which they do not modify.
 * Returns 0, or a run-time fault (the program stops, *r0 = 0):
 *   -EINVAL  callx with a register that names no helper;
 *   -E2BIG   local calls nested deeper than JIT_MAX_CALL_DEPTH at run time
 *            (possible only after a tail call from inside a subprogram);
 *   -EFAULT  an internal inconsistency of the loader (a bug; logged).
 * A helper that ends the run with jit_run_stop() is a normal end: 0 and its r0.
 */
int jit_prog_exec(const struct jit_prog *p, uint64_t r1, uint64_t r2, uint64_t *r0);

/**
 * jit_prog_run() - run with r1 = @ctx; returns r0 (0 after a run-time fault,
 * which is logged with log_warn()). This is what a hook calls.
 */
uint64_t jit_prog_run(const struct jit_prog *p, void *ctx);

/** jit_prog_run_mem() - run with r1 = @mem, r2 = @mem_sz (the conformance model). */
uint64_t jit_prog_run_mem(const struct jit_prog *p, void *mem, size_t mem_sz);

/*
 * The run in progress on this thread, for helpers that need to know which
 * program they serve (bpf_get_func_ip, bpf_tail_call, perf output ...).
 * Valid only while a helper called by the program executes; runs nest (a
 * helper may run another program), each sees its own.
 */
struct jit_run {
	const struct jit_prog *prog; /* the program now executing (changes on tail calls) */
	uint64_t ctx;                /* r1 at entry: the ctx pointer (or mem) */
	uint32_t tail_call_cnt;      /* tail calls taken so far, <= JIT_MAX_TAIL_CALL_CNT */
	int stop;                    /* set by jit_run_stop() */
	uint64_t stop_r0;            /* r0 to return when stopping */
	struct jit_run *prev;        /* the run this one interrupted, or NULL */
	uint32_t depth;              /* frames in use below main: local calls and
				      * callbacks (jit_callback_call()), <= JIT_MAX_CALL_DEPTH */
};

/** jit_run_current() - the innermost run on this thread, NULL outside any run. */
struct jit_run *jit_run_current(void);

/**
 * jit_run_stop() - called from a helper: end the current run right after the
 * helper returns, as if it had executed exit with r0 = @r0 in the outermost
 * frame. This is uBPF's "unwind" helper behaviour.
 * Returns 0, or -ESRCH outside a run.
 */
int jit_run_stop(uint64_t r0);

/**
 * jit_callback_call() - called from a helper (bpf_loop, bpf_for_each_map_elem
 * ...): run the callback subprogram @fn of the current run (jit_run_current())
 * with r1..r5 as given, and put its r0 in *@r0.
 * @fn: a callback handle, the value an ld_imm64 BPF_PSEUDO_FUNC of the running
 *      program gave (hostile input: anything else is refused)
 *
 * The callback runs as one more frame of the same program: a fresh 512-byte
 * stack of its own (r10 never overlaps the frames in use), the caller's
 * registers (r6-r9 included) untouched, counting toward JIT_MAX_CALL_DEPTH
 * together with the local calls in progress and those it makes itself.
 * jit_run_stop() inside the callback, or a fault, ends the calling program
 * too when the helper returns (a fault with r0 = 0).
 *
 * Returns 0, or -ESRCH outside a run; -ECANCELED once the run is ending (an
 * earlier callback stopped or faulted); -EINVAL if @fn is not a callback of the
 * running program; -E2BIG if the frames would nest deeper than
 * JIT_MAX_CALL_DEPTH; or the callback's own run-time fault (see
 * jit_prog_exec()). On error *@r0 = 0.
 */
int jit_callback_call(uint64_t fn, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5,
		      uint64_t *r0);

/* Kernel limit on bpf_loop iterations: BPF_MAX_LOOPS in include/linux/bpf.h. */
#define JIT_MAX_LOOPS (1u << 23)

/**
 * jit_helper_loop() - the helper bpf_loop (BPF_FUNC_loop, 181):
 * long bpf_loop(u32 nr_loops, void *callback_fn, void *callback_ctx, u64 flags)
 * as in kernel/bpf/bpf_iter.c: callback(index, ctx) for index 0.. until
 * nr_loops or the callback returns 1; returns the iterations done, -EINVAL for
 * flags != 0, -E2BIG for nr_loops > JIT_MAX_LOOPS. Embedders put it at index
 * BPF_FUNC_loop of their helper table (jit/helpers_cb.c).
 */
uint64_t jit_helper_loop(uint64_t nr_loops, uint64_t fn, uint64_t ctx, uint64_t flags, uint64_t r5);

#endif /* JIT_JIT_H */
