/*
 * check_jit_maps.c - the jit and maps/ together: bpf_map_lookup_elem on
 * ARRAY and PERCPU_ARRAY inlined by the loader (struct jit_env.inline_lookup,
 * jit/prog.c pinsn_inline_lookups(), glue maps/jit_glue.c) must give exactly
 * what the helper path gives, and must not be applied where r1 is not
 * provably the map (the kernel's rule: do_misc_fixups() in
 * kernel/bpf/verifier.c inlines only when the map is known at the call).
 *
 * Every program here returns r0 of the lookup (the value's address or 0),
 * so results are compared as addresses, which is stricter than values.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/utils.h"
#include "jit/jit.h"
#include "jit/jit_int.h"
#include "maps/helpers.h"
#include "maps/maps.h"

/* Raw instruction builders (RFC 9669 §3 encoding). */
#define I(c, d, s, o, i)                                                                           \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define STXW(dst, off, src) I(BPF_STX | BPF_MEM | BPF_W, dst, src, off, 0)
#define MOV64_REG(d, s) I(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, k) I(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, k)
#define ADD64_IMM(d, k) I(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, k)
#define LD_MAP(d, fd) I(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), I(0, 0, 0, 0, 0)
#define LD_MAP_VALUE(d, fd)                                                                        \
	I(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_VALUE, 0, fd), I(0, 0, 0, 0, 0)
#define JNE_IMM(d, k, o) I(BPF_JMP | BPF_JNE | BPF_K, d, 0, o, k)
#define CALL(id) I(BPF_JMP | BPF_CALL, 0, 0, 0, id)
#define CALL_LOCAL(off) I(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, off)
/* r = the subprogram starting at this slot + 1 + off (a callback handle). */
#define LD_FUNC(d, off) I(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_FUNC, 0, off), I(0, 0, 0, 0, 0)
#define LD_IMM64(d, v)                                                                             \
	I(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int32_t)(uint32_t)(v)),                             \
		I(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define STDW(dst, off, k) I(BPF_ST | BPF_MEM | BPF_DW, dst, 0, off, k)
#define STXDW(dst, off, src) I(BPF_STX | BPF_MEM | BPF_DW, dst, src, off, 0)
#define LDXDW(dst, src, off) I(BPF_LDX | BPF_MEM | BPF_DW, dst, src, off, 0)
#define ADD64_REG(d, s) I(BPF_ALU64 | BPF_ADD | BPF_X, d, s, 0, 0)
#define LSH64_IMM(d, k) I(BPF_ALU64 | BPF_LSH | BPF_K, d, 0, 0, k)
#define JNE_REG(d, s, o) I(BPF_JMP | BPF_JNE | BPF_X, d, s, o, 0)
#define JSGE_IMM(d, k, o) I(BPF_JMP | BPF_JSGE | BPF_K, d, 0, o, k)
#define EXIT() I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

#define FD_A 3 /* maps[0] */
#define FD_B 4 /* maps[1] */
#define MAX_ENTRIES 7

static struct map *maps[2];
static jit_helper_fn helpers[256];
static int hook_calls;
static char msg[256];

static int resolve(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	(void)cookie;
	if (insn[0].src_reg == BPF_PSEUDO_MAP_FD && (insn[0].imm == FD_A || insn[0].imm == FD_B)) {
		*value = (uint64_t)(uintptr_t)maps[insn[0].imm - FD_A];
		return 0;
	}
	if (insn[0].src_reg == BPF_PSEUDO_MAP_VALUE && insn[0].imm == FD_A) {
		*value = (uint64_t)(uintptr_t)map_lookup_elem(maps[0], &(uint32_t){ 0 });
		return 0;
	}
	return -EBADF;
}

static int hook(void *cookie, uint64_t map_ptr, struct jit_array_geom *out)
{
	hook_calls++;
	return map_jit_inline_lookup(cookie, map_ptr, out);
}

/* The same, but as if rseq were not registered: every per-CPU lookup takes cpu_slow. */
static int hook_no_rseq(void *cookie, uint64_t map_ptr, struct jit_array_geom *out)
{
	int err = map_jit_inline_lookup(cookie, map_ptr, out);

	if (!err)
		out->cpu_tp_off = INT64_MIN;
	return err;
}

/* A broken embedder: claims success but gives a geometry without a base. */
static int hook_no_base(void *cookie, uint64_t map_ptr, struct jit_array_geom *out)
{
	int err = map_jit_inline_lookup(cookie, map_ptr, out);

	out->base = NULL;
	return err;
}

static struct jit_env env_with(int (*fn)(void *, uint64_t, struct jit_array_geom *))
{
	return (struct jit_env){ .sz = sizeof(struct jit_env), .helpers = helpers,
				 .helper_cnt = 256, .resolve_ld_imm64 = resolve, .inline_lookup = fn };
}

static void maps_setup(uint32_t type_a, uint32_t type_b)
{
	uint32_t types[2] = { type_a, type_b };
	uint32_t ncpu = map_possible_cpus();

	map_helpers_fill(helpers, 256);
	for (int i = 0; i < 2; i++) {
		union bpf_attr a;
		uint64_t val[64];

		memset(&a, 0, sizeof(a));
		a.map_type = types[i];
		a.key_size = 4;
		a.value_size = 8;
		a.max_entries = MAX_ENTRIES;
		ck_assert_int_eq(map_create(&a, NULL, &maps[i]), 0);
		ck_assert_uint_le(ncpu, 64);
		for (uint32_t k = 0; k < MAX_ENTRIES; k++) {
			for (uint32_t c = 0; c < ncpu; c++)
				val[c] = 1000 * (i + 1) + 10 * k + c;
			ck_assert_int_eq(map_sys_update_elem(maps[i], &k, val, BPF_ANY), 0);
		}
	}
}

static void arrays_setup(void)
{
	maps_setup(BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_ARRAY);
}

static void percpu_setup(void)
{
	cpu_set_t set;
	int cpu = sched_getcpu();

	/* Stay on one CPU so "this CPU" means the same thing to the program
	 * and to the comparison. */
	ck_assert_int_ge(cpu, 0);
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	ck_assert_int_eq(sched_setaffinity(0, sizeof(set), &set), 0);
	maps_setup(BPF_MAP_TYPE_PERCPU_ARRAY, BPF_MAP_TYPE_HASH);
}

static void maps_teardown(void)
{
	for (int i = 0; i < 2; i++) {
		map_put(maps[i]);
		maps[i] = NULL;
	}
}

static struct jit_prog *load(const struct bpf_insn *insns, uint32_t cnt, const struct jit_env *env)
{
	struct jit_prog *p = NULL;
	int err = jit_prog_load(insns, cnt, env, &p, msg, sizeof(msg));

	ck_assert_msg(err == 0, "load: %d %s", err, msg);
	return p;
}

static uint64_t exec2(const struct jit_prog *p, uint64_t r1, uint64_t r2)
{
	uint64_t r0 = 0xdead;

	ck_assert_int_eq(jit_prog_exec(p, r1, r2, &r0), 0);
	return r0;
}

/* How many lookups the loader inlined, and that they are the call slots. */
static uint32_t inlined(const struct jit_prog *p)
{
	const void *const *h = jit_interp_handlers();
	uint32_t n = 0;

	for (uint32_t i = 0; i < p->insn_cnt; i++)
		if (p->code[i].h == h[JIT_IOP_ARRAY_LOOKUP] ||
		    p->code[i].h == h[JIT_IOP_PERCPU_ARRAY_LOOKUP])
			n++;
	ck_assert_uint_eq(n, p->geom_cnt);
	return n;
}

/* r1 = key at entry; returns lookup(map A, &key). */
static const struct bpf_insn prog_simple[] = {
	STXW(10, -4, 1),
	MOV64_REG(2, 10),
	ADD64_IMM(2, -4),
	LD_MAP(1, FD_A),
	CALL(BPF_FUNC_map_lookup_elem),
	EXIT(),
};

static const uint64_t keys[] = { 0, 1, MAX_ENTRIES - 1, MAX_ENTRIES, MAX_ENTRIES + 1, 0x7fffffff,
				 0xffffffff, 0x100000000ull /* the key is the low 32 bits: 0 */ };

START_TEST(test_array_lookup_inlined_matches_helper)
{
	struct jit_env on = env_with(hook), off = env_with(NULL);
	struct jit_prog *pi, *ph;

	hook_calls = 0;
	pi = load(prog_simple, ARRAY_SIZE(prog_simple), &on);
	ph = load(prog_simple, ARRAY_SIZE(prog_simple), &off);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_uint_eq(inlined(pi), 1);
	ck_assert_uint_eq(inlined(ph), 0);
	/* ld_imm64 right before the call: fused into its slot. */
	ck_assert_int_eq(pi->code[3].h == jit_interp_handlers()[JIT_IOP_LD_ARRAY_LOOKUP], 1);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		uint32_t k = (uint32_t)keys[i];
		uint64_t want = (uint64_t)(uintptr_t)map_lookup_elem(maps[0], &k);

		ck_assert_uint_eq(exec2(pi, keys[i], 0), want);
		ck_assert_uint_eq(exec2(ph, keys[i], 0), want);
		if (k < MAX_ENTRIES) {
			ck_assert_uint_ne(want, 0);
			ck_assert_uint_eq(*(uint64_t *)(uintptr_t)want, 1000 + 10 * k);
		} else {
			ck_assert_uint_eq(want, 0);
		}
	}
	jit_prog_free(pi);
	jit_prog_free(ph);
}
END_TEST

/* A map other than an array keeps the helper call and its result. */
START_TEST(test_hash_lookup_stays_helper_call)
{
	struct bpf_insn p[ARRAY_SIZE(prog_simple)];
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	memcpy(p, prog_simple, sizeof(p));
	p[3].imm = FD_B; /* the hash map */
	hook_calls = 0;
	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_int_eq(hook_calls, 1);
	ck_assert_uint_eq(inlined(pi), 0);
	for (uint32_t k = 0; k < MAX_ENTRIES + 2; k++) {
		uint64_t want = (uint64_t)(uintptr_t)map_lookup_elem(maps[1], &k);

		ck_assert_uint_eq(exec2(pi, k, 0), want);
		ck_assert_uint_eq(want == 0, k >= MAX_ENTRIES);
	}
	jit_prog_free(pi);
}
END_TEST

/* The call itself is a jump target, reached with r1 = map B or map A:
 * r1 is not one constant there, so no inlining; both paths stay right. */
START_TEST(test_call_is_jump_target_not_inlined)
{
	static const struct bpf_insn p[] = {
		STXW(10, -4, 1),
		MOV64_REG(6, 2), /* selector */
		MOV64_REG(2, 10),
		ADD64_IMM(2, -4),
		LD_MAP(1, FD_B),
		JNE_IMM(6, 0, 2), /* -> the call with r1 = B */
		LD_MAP(1, FD_A),
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	maps_teardown();
	maps_setup(BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_PERCPU_ARRAY);
	hook_calls = 0;
	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_int_eq(hook_calls, 0);
	ck_assert_uint_eq(inlined(pi), 0);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++) {
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
		ck_assert_uint_eq(exec2(pi, k, 1), (uintptr_t)map_lookup_elem(maps[1], &k));
	}
	jit_prog_free(pi);
}
END_TEST

/* A jump lands between the ld_imm64 and the call (on the key set-up):
 * no inlining; a jump onto the ld_imm64 itself is fine and is inlined. */
START_TEST(test_jump_into_sequence_not_inlined)
{
	struct bpf_insn p[] = {
		STXW(10, -4, 1),
		MOV64_REG(6, 2),
		LD_MAP(1, FD_B),
		JNE_IMM(6, 0, 3), /* -> slot 8, between ld A and the call */
		LD_MAP(1, FD_A),
		MOV64_IMM(3, 0),
		MOV64_REG(2, 10), /* slot 8 */
		ADD64_IMM(2, -4),
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_uint_eq(inlined(pi), 0);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++) {
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
		ck_assert_uint_eq(exec2(pi, k, 1), (uintptr_t)map_lookup_elem(maps[1], &k));
	}
	jit_prog_free(pi);

	/* Retarget the jump to the ld_imm64 of A (slot 5): now every path to
	 * the call loads A right before it. */
	p[4].off = 0;
	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_uint_eq(inlined(pi), 1);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++) {
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
		ck_assert_uint_eq(exec2(pi, k, 1), (uintptr_t)map_lookup_elem(maps[0], &k));
	}
	jit_prog_free(pi);
}
END_TEST

/* A jump onto the fused "ld_imm64 r1 = map; call" runs both. */
START_TEST(test_jump_onto_fused_ld_inlined)
{
	static const struct bpf_insn p[] = {
		STXW(10, -4, 1),
		MOV64_REG(6, 2),
		MOV64_REG(2, 10),
		ADD64_IMM(2, -4),
		JNE_IMM(6, 0, 2), /* -> slot 7 */
		LD_MAP(1, FD_B),
		LD_MAP(1, FD_A), /* slot 7 */
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_uint_eq(inlined(pi), 1);
	ck_assert_int_eq(pi->code[7].h == jit_interp_handlers()[JIT_IOP_LD_ARRAY_LOOKUP], 1);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++) {
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
		ck_assert_uint_eq(exec2(pi, k, 1), (uintptr_t)map_lookup_elem(maps[0], &k));
	}
	jit_prog_free(pi);
}
END_TEST

/* r1 written after the ld_imm64 (copied through r3), or r1 loaded with a
 * map value address (BPF_PSEUDO_MAP_VALUE): not provably the map. */
START_TEST(test_r1_not_provably_map_not_inlined)
{
	static const struct bpf_insn copied[] = {
		STXW(10, -4, 1),
		MOV64_REG(2, 10),
		ADD64_IMM(2, -4),
		LD_MAP(3, FD_A),
		MOV64_REG(1, 3),
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	static const struct bpf_insn overwritten[] = {
		STXW(10, -4, 1),
		MOV64_REG(2, 10),
		LD_MAP(1, FD_B),
		ADD64_IMM(2, -4),
		LD_MAP(1, FD_A), /* this one is the map at the call */
		ADD64_IMM(1, 0), /* but r1 is written after it */
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	static const struct bpf_insn value_addr[] = {
		STXW(10, -4, 1),
		MOV64_REG(2, 10),
		ADD64_IMM(2, -4),
		LD_MAP_VALUE(1, FD_A),
		CALL(BPF_FUNC_map_lookup_elem),
		EXIT(),
	};
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	hook_calls = 0;
	pi = load(copied, ARRAY_SIZE(copied), &on);
	ck_assert_uint_eq(inlined(pi), 0);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++)
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
	jit_prog_free(pi);
	pi = load(overwritten, ARRAY_SIZE(overwritten), &on);
	ck_assert_uint_eq(inlined(pi), 0);
	for (uint32_t k = 0; k < MAX_ENTRIES + 1; k++)
		ck_assert_uint_eq(exec2(pi, k, 0), (uintptr_t)map_lookup_elem(maps[0], &k));
	jit_prog_free(pi);
	/* Loaded only: a verifier would refuse to run it (r1 is no map). */
	pi = load(value_addr, ARRAY_SIZE(value_addr), &on);
	ck_assert_uint_eq(inlined(pi), 0);
	jit_prog_free(pi);
	ck_assert_int_eq(hook_calls, 0);
}
END_TEST

/* Two lookups after one ld_imm64: the first is inlined, the second (a call
 * in between) is not, and still sees r1 = the map, as after a real call in
 * this interpreter. An unrelated lddw between ld and call does not matter. */
START_TEST(test_second_lookup_after_call_uses_helper)
{
	static const struct bpf_insn p[] = {
		STXW(10, -4, 1),
		MOV64_REG(2, 10),
		ADD64_IMM(2, -4),
		LD_MAP(1, FD_A),
		LD_MAP(4, FD_B),
		CALL(BPF_FUNC_map_lookup_elem),
		MOV64_REG(6, 0),
		CALL(BPF_FUNC_map_lookup_elem),
		I(BPF_ALU64 | BPF_SUB | BPF_X, 0, 6, 0, 0), /* r0 -= r6: 0 if both agree */
		EXIT(),
	};
	struct jit_env on = env_with(hook);
	struct jit_prog *pi;

	pi = load(p, ARRAY_SIZE(p), &on);
	ck_assert_uint_eq(inlined(pi), 1);
	for (uint32_t k = 0; k < MAX_ENTRIES + 3; k++)
		ck_assert_uint_eq(exec2(pi, k, 0), 0);
	jit_prog_free(pi);
}
END_TEST

static void check_percpu_keys(const struct jit_prog *pi, const struct jit_prog *ps,
			      const struct jit_prog *ph, uint32_t cpu);

/* Per-CPU: this CPU's copy, the same address map_lookup_percpu_elem()
 * gives for the current CPU, and the helper path gives; also when the
 * fast CPU read is unavailable (cpu_slow). */
START_TEST(test_percpu_array_lookup_inlined_matches_helper)
{
	struct jit_env on = env_with(hook), slow = env_with(hook_no_rseq), off = env_with(NULL);
	struct jit_prog *pi, *ps, *ph;
	uint32_t ncpu = map_possible_cpus(), visited = 0;

	pi = load(prog_simple, ARRAY_SIZE(prog_simple), &on);
	ps = load(prog_simple, ARRAY_SIZE(prog_simple), &slow);
	ph = load(prog_simple, ARRAY_SIZE(prog_simple), &off);
	ck_assert_uint_eq(inlined(pi), 1);
	ck_assert_uint_eq(inlined(ps), 1);
	ck_assert_uint_eq(inlined(ph), 0);
	ck_assert_int_eq(pi->code[5].h == jit_interp_handlers()[JIT_IOP_PERCPU_ARRAY_LOOKUP], 1);
	ck_assert_int_eq(pi->code[3].h == jit_interp_handlers()[JIT_IOP_LD_PERCPU_ARRAY_LOOKUP], 1);
	/* On every CPU we may run on (pinned there), so a wrong CPU shows. */
	for (uint32_t c = 0; c < ncpu; c++) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c, &set);
		if (sched_setaffinity(0, sizeof(set), &set))
			continue; /* offline or outside our cpuset */
		visited++;
		check_percpu_keys(pi, ps, ph, c);
	}
	ck_assert_uint_ge(visited, 1);
	jit_prog_free(pi);
	jit_prog_free(ps);
	jit_prog_free(ph);
}
END_TEST

static void check_percpu_keys(const struct jit_prog *pi, const struct jit_prog *ps,
			      const struct jit_prog *ph, uint32_t cpu)
{
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		uint32_t k = (uint32_t)keys[i];
		uint64_t want = (uint64_t)(uintptr_t)map_lookup_percpu_elem(maps[0], &k, cpu);

		ck_assert_uint_eq(map_current_cpu(), cpu); /* pinned */
		ck_assert_uint_eq(exec2(pi, keys[i], 0), want);
		ck_assert_uint_eq(exec2(ps, keys[i], 0), want);
		ck_assert_uint_eq(exec2(ph, keys[i], 0), want);
		if (k < MAX_ENTRIES)
			ck_assert_uint_eq(*(uint64_t *)(uintptr_t)want, 1000 + 10 * k + cpu);
		else
			ck_assert_uint_eq(want, 0);
	}
}

/* A geometry the loader cannot use is ignored (logged): the helper runs. */
START_TEST(test_unusable_geometry_keeps_helper_call)
{
	struct jit_env bad = env_with(hook_no_base);
	struct jit_prog *p;

	p = load(prog_simple, ARRAY_SIZE(prog_simple), &bad);
	ck_assert_uint_eq(inlined(p), 0);
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++) {
		uint32_t k = (uint32_t)keys[i];

		ck_assert_uint_eq(exec2(p, keys[i], 0), (uintptr_t)map_lookup_elem(maps[0], &k));
	}
	jit_prog_free(p);
}
END_TEST

/* An older caller (struct jit_env without inline_lookup) still loads, and
 * simply gets no inlining. */
START_TEST(test_old_env_without_hook_loads)
{
	struct jit_env on = env_with(hook);
	struct jit_prog *p;

	on.sz = offsetof(struct jit_env, inline_lookup);
	hook_calls = 0;
	p = load(prog_simple, ARRAY_SIZE(prog_simple), &on);
	ck_assert_int_eq(hook_calls, 0);
	ck_assert_uint_eq(inlined(p), 0);
	ck_assert_uint_eq(exec2(p, 2, 0), (uintptr_t)map_lookup_elem(maps[0], &(uint32_t){ 2 }));
	jit_prog_free(p);
}
END_TEST


/* ------------------------------------------------------------- callbacks */

/*
 * bpf_loop (jit/helpers_cb.c) and bpf_for_each_map_elem (maps/helpers_cb.c)
 * running BPF_PSEUDO_FUNC callbacks through jit_callback_call(). Expected
 * values follow bpf_loop() in kernel/bpf/bpf_iter.c and
 * bpf_for_each_array_elem()/bpf_for_each_hash_elem().
 */

static uint64_t loop_flags;

static void cb_setup(void)
{
	maps_setup(BPF_MAP_TYPE_ARRAY, BPF_MAP_TYPE_HASH);
	map_helpers_cb_fill(helpers, 256);
	loop_flags = 0;
}

/*
 * main(r1 = nr_loops, r2 = stop_at): ctx = {sum, stop_at} on main's stack;
 * r0 = bpf_loop(nr_loops, cb, &ctx, loop_flags); returns (r0 << 32) + sum,
 * or 0x7bad if r6/r8 did not survive the call. cb(index, ctx) clobbers
 * r6, r8 and its own stack (which must not be main's), adds index to sum
 * and returns 1 when index == stop_at.
 */
static struct jit_prog *loop_prog_load(void)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(6, 1),                  /* 0 */
		MOV64_REG(8, 1),                  /* 1 */
		STDW(10, -16, 0),                 /* 2 */
		STXDW(10, -8, 2),                 /* 3 */
		LD_IMM64(7, (uintptr_t)&loop_flags), /* 4-5 */
		LDXDW(4, 7, 0),                   /* 6 */
		MOV64_REG(1, 6),                  /* 7 */
		LD_FUNC(2, 20 - 9),               /* 8-9: cb at 20 */
		MOV64_REG(3, 10),                 /* 10 */
		ADD64_IMM(3, -16),                /* 11 */
		CALL(BPF_FUNC_loop),              /* 12 */
		JNE_REG(6, 8, 4),                 /* 13 -> 18 */
		LSH64_IMM(0, 32),                 /* 14 */
		LDXDW(1, 10, -16),                /* 15 */
		ADD64_REG(0, 1),                  /* 16 */
		EXIT(),                           /* 17 */
		MOV64_IMM(0, 0x7bad),             /* 18 */
		EXIT(),                           /* 19 */
		MOV64_IMM(6, 0xbad),              /* 20: cb */
		MOV64_IMM(8, 0xbee),              /* 21 */
		STDW(10, -8, -1),                 /* 22 */
		STDW(10, -16, -1),                /* 23 */
		LDXDW(3, 2, 0),                   /* 24 */
		ADD64_REG(3, 1),                  /* 25 */
		STXDW(2, 0, 3),                   /* 26 */
		MOV64_IMM(0, 0),                  /* 27 */
		LDXDW(4, 2, 8),                   /* 28 */
		JNE_REG(1, 4, 1),                 /* 29 -> 31 */
		MOV64_IMM(0, 1),                  /* 30 */
		EXIT(),                           /* 31 */
	};
	struct jit_env env = env_with(NULL);

	return load(insns, ARRAY_SIZE(insns), &env);
}

#define RES(ret, sum) (((uint64_t)(int64_t)(ret) << 32) + (sum))

START_TEST(test_loop_sums_indexes)
{
	struct jit_prog *p = loop_prog_load();

	ck_assert_uint_eq(exec2(p, 10, UINT64_MAX), RES(10, 45));
	ck_assert_uint_eq(exec2(p, 1, UINT64_MAX), RES(1, 0));
	/* u32 nr_loops: the upper half of r1 is not looked at. */
	ck_assert_uint_eq(exec2(p, (1ull << 32) | 3, UINT64_MAX), RES(3, 3));
	jit_prog_free(p);
}
END_TEST

START_TEST(test_loop_early_stop_and_limits)
{
	struct jit_prog *p = loop_prog_load();

	/* Returning 1 at index 5 stops; the stopping iteration counts. */
	ck_assert_uint_eq(exec2(p, 10, 5), RES(6, 15));
	ck_assert_uint_eq(exec2(p, 10, 0), RES(1, 0));
	ck_assert_uint_eq(exec2(p, 0, UINT64_MAX), RES(0, 0));
	/* BPF_MAX_LOOPS itself is allowed, one more is -E2BIG. */
	ck_assert_uint_eq(exec2(p, 1u << 23, 3), RES(4, 6));
	ck_assert_uint_eq(exec2(p, (1u << 23) + 1, 3), RES(-E2BIG, 0));
	loop_flags = 1;
	ck_assert_uint_eq(exec2(p, 10, UINT64_MAX), RES(-EINVAL, 0));
	jit_prog_free(p);
}
END_TEST

/*
 * Frames: main calls a local subprogram, which calls bpf_loop; the callback
 * does a local call too (sub(x) = 2 * x, using its own stack). The sum is
 * 2 * (0 + 1 + 2 + 3) = 12 and r7 of both callers survives.
 */
START_TEST(test_loop_nested_frames)
{
	const struct bpf_insn insns[] = {
		MOV64_IMM(7, 77),                 /* 0 */
		CALL_LOCAL(4 - 2),                /* 1 -> 4 */
		ADD64_REG(0, 7),                  /* 2: + 77 */
		EXIT(),                           /* 3 */
		MOV64_IMM(7, 0),                  /* 4: sub_main */
		STDW(10, -8, 0),                  /* 5 */
		MOV64_IMM(1, 4),                  /* 6 */
		LD_FUNC(2, 16 - 8),               /* 7-8: cb at 16 */
		MOV64_REG(3, 10),                 /* 9 */
		ADD64_IMM(3, -8),                 /* 10 */
		MOV64_IMM(4, 0),                  /* 11 */
		CALL(BPF_FUNC_loop),              /* 12 */
		LDXDW(0, 10, -8),                 /* 13: sum */
		ADD64_REG(0, 7),                  /* 14: + 0 (r7 survived the callback) */
		EXIT(),                           /* 15 */
		MOV64_REG(6, 2),                  /* 16: cb(index, ctx) */
		MOV64_IMM(7, 1000),               /* 17 */
		CALL_LOCAL(24 - 19),              /* 18 -> 24 */
		LDXDW(1, 6, 0),                   /* 19 */
		ADD64_REG(1, 0),                  /* 20 */
		STXDW(6, 0, 1),                   /* 21 */
		MOV64_IMM(0, 0),                  /* 22 */
		EXIT(),                           /* 23 */
		STXDW(10, -8, 1),                 /* 24: sub(x), on its own stack */
		LDXDW(0, 10, -8),                 /* 25 */
		ADD64_REG(0, 0),                  /* 26 */
		EXIT(),                           /* 27 */
	};
	struct jit_env env = env_with(NULL);
	struct jit_prog *p = load(insns, ARRAY_SIZE(insns), &env);

	ck_assert_uint_eq(exec2(p, 0, 0), 12 + 77);
	jit_prog_free(p);
}
END_TEST

/*
 * A callback that calls bpf_loop on itself: each level is one more frame,
 * so it runs JIT_MAX_CALL_DEPTH times (main is frame 0) and the innermost
 * bpf_loop gets -E2BIG, which it records. ctx = {calls, first error}.
 */
START_TEST(test_loop_depth_limit)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(6, 1),                  /* 0: ctx */
		MOV64_IMM(1, 1),                  /* 1 */
		LD_FUNC(2, 8 - 3),                /* 2-3: cb at 8 */
		MOV64_REG(3, 6),                  /* 4 */
		MOV64_IMM(4, 0),                  /* 5 */
		CALL(BPF_FUNC_loop),              /* 6 */
		EXIT(),                           /* 7 */
		MOV64_REG(6, 2),                  /* 8: cb(index, ctx) */
		LDXDW(1, 6, 0),                   /* 9 */
		ADD64_IMM(1, 1),                  /* 10 */
		STXDW(6, 0, 1),                   /* 11 */
		MOV64_IMM(1, 1),                  /* 12 */
		LD_FUNC(2, 8 - 14),               /* 13-14: itself */
		MOV64_REG(3, 6),                  /* 15 */
		MOV64_IMM(4, 0),                  /* 16 */
		CALL(BPF_FUNC_loop),              /* 17 */
		JSGE_IMM(0, 0, 1),                /* 18 -> 20 */
		STXDW(6, 8, 0),                   /* 19 */
		MOV64_IMM(0, 0),                  /* 20 */
		EXIT(),                           /* 21 */
	};
	struct jit_env env = env_with(NULL);
	struct jit_prog *p = load(insns, ARRAY_SIZE(insns), &env);
	uint64_t ctx[2] = { 0, 0 };

	ck_assert_uint_eq(exec2(p, (uintptr_t)ctx, 0), 1);
	ck_assert_uint_eq(ctx[0], JIT_MAX_CALL_DEPTH);
	ck_assert_int_eq((int64_t)ctx[1], -E2BIG);
	jit_prog_free(p);
}
END_TEST

/* Handles the program made up, or the slot after a real one, name no
 * callback: bpf_loop says -EINVAL and calls nothing. */
START_TEST(test_loop_bogus_handle)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(6, 1),                  /* 0: mode */
		LD_FUNC(2, 12 - 2),               /* 1-2: cb at 12 */
		JNE_IMM(6, 1, 1),                 /* 3 -> 5 */
		ADD64_IMM(2, 16),                 /* 4: mode 1: the next slot */
		JNE_IMM(6, 2, 1),                 /* 5 -> 7 */
		MOV64_IMM(2, 0x1234),             /* 6: mode 2: made up */
		MOV64_IMM(1, 3),                  /* 7 */
		MOV64_IMM(3, 0),                  /* 8 */
		MOV64_IMM(4, 0),                  /* 9 */
		CALL(BPF_FUNC_loop),              /* 10 */
		EXIT(),                           /* 11 */
		MOV64_IMM(0, 0),                  /* 12: cb */
		EXIT(),                           /* 13 */
	};
	struct jit_env env = env_with(NULL);
	struct jit_prog *p = load(insns, ARRAY_SIZE(insns), &env);

	ck_assert_uint_eq(exec2(p, 0, 0), 3);
	ck_assert_int_eq((int64_t)exec2(p, 1, 0), -EINVAL);
	ck_assert_int_eq((int64_t)exec2(p, 2, 0), -EINVAL);
	jit_prog_free(p);
}
END_TEST

static int stop_calls;

static uint64_t h_stop(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)r1, (void)r2, (void)r3, (void)r4, (void)r5;
	stop_calls++;
	ck_assert_int_eq(jit_run_stop(77), 0);
	return 0;
}

/* jit_run_stop() in a callback ends the whole program: bpf_loop runs no
 * further iteration and the program's result is the stop value. */
START_TEST(test_loop_stop_in_callback)
{
	const struct bpf_insn insns[] = {
		MOV64_IMM(1, 10),                 /* 0 */
		LD_FUNC(2, 7 - 2),                /* 1-2: cb at 7 */
		MOV64_IMM(3, 0),                  /* 3 */
		MOV64_IMM(4, 0),                  /* 4 */
		CALL(BPF_FUNC_loop),              /* 5 */
		EXIT(),                           /* 6 */
		CALL(200),                        /* 7: cb */
		MOV64_IMM(0, 0),                  /* 8 */
		EXIT(),                           /* 9 */
	};
	struct jit_env env = env_with(NULL);
	struct jit_prog *p;

	helpers[200] = h_stop;
	p = load(insns, ARRAY_SIZE(insns), &env);
	stop_calls = 0;
	ck_assert_uint_eq(exec2(p, 0, 0), 77);
	ck_assert_int_eq(stop_calls, 1);
	ck_assert_ptr_null(jit_run_current());
	jit_prog_free(p);
	helpers[200] = NULL;
}
END_TEST

START_TEST(test_callback_outside_run)
{
	uint64_t r0 = 5;

	ck_assert_int_eq(jit_callback_call(0x1000, 0, 0, 0, 0, 0, &r0), -ESRCH);
	ck_assert_uint_eq(r0, 0);
}
END_TEST

/*
 * main(r1 = ctx {sum, count, stop_n, flags}):
 * r0 = bpf_for_each_map_elem(map, cb, ctx, flags). cb adds *value to sum,
 * counts, and returns 1 when count reaches stop_n.
 */
static struct jit_prog *for_each_prog_load(int fd)
{
	const struct bpf_insn insns[] = {
		MOV64_REG(6, 1),                  /* 0 */
		LD_MAP(1, fd),                    /* 1-2 */
		LD_FUNC(2, 9 - 4),                /* 3-4: cb at 9 */
		MOV64_REG(3, 6),                  /* 5 */
		LDXDW(4, 6, 24),                  /* 6 */
		CALL(BPF_FUNC_for_each_map_elem), /* 7 */
		EXIT(),                           /* 8 */
		LDXDW(5, 3, 0),                   /* 9: cb(map, key, value, ctx) */
		LDXDW(0, 4, 0),                   /* 10 */
		ADD64_REG(0, 5),                  /* 11 */
		STXDW(4, 0, 0),                   /* 12 */
		LDXDW(5, 4, 8),                   /* 13 */
		ADD64_IMM(5, 1),                  /* 14 */
		STXDW(4, 8, 5),                   /* 15 */
		LDXDW(1, 4, 16),                  /* 16 */
		MOV64_IMM(0, 0),                  /* 17 */
		JNE_REG(5, 1, 1),                 /* 18 -> 20 */
		MOV64_IMM(0, 1),                  /* 19 */
		EXIT(),                           /* 20 */
	};
	struct jit_env env = env_with(NULL);

	return load(insns, ARRAY_SIZE(insns), &env);
}

struct fe_ctx {
	uint64_t sum, count, stop_n, flags;
};

static uint64_t for_each_run(const struct jit_prog *p, struct fe_ctx *c, uint64_t stop_n,
			     uint64_t flags)
{
	*c = (struct fe_ctx){ .stop_n = stop_n, .flags = flags };
	return exec2(p, (uintptr_t)c, 0);
}

START_TEST(test_for_each_array)
{
	struct jit_prog *p = for_each_prog_load(FD_A);
	struct fe_ctx c;

	/* Values are 1000 + 10 * key (maps_setup()). */
	ck_assert_uint_eq(for_each_run(p, &c, 0, 0), MAX_ENTRIES);
	ck_assert_uint_eq(c.count, MAX_ENTRIES);
	ck_assert_uint_eq(c.sum, 7 * 1000 + 10 * 21);
	/* Array order is key order: stopping at the 3rd visits keys 0, 1, 2. */
	ck_assert_uint_eq(for_each_run(p, &c, 3, 0), 3);
	ck_assert_uint_eq(c.count, 3);
	ck_assert_uint_eq(c.sum, 1000 + 1010 + 1020);
	ck_assert_uint_eq(for_each_run(p, &c, 1, 0), 1);
	ck_assert_uint_eq(c.sum, 1000);
	ck_assert_int_eq((int64_t)for_each_run(p, &c, 0, 1), -EINVAL);
	ck_assert_uint_eq(c.count, 0);
	jit_prog_free(p);
}
END_TEST

START_TEST(test_for_each_hash)
{
	struct jit_prog *p = for_each_prog_load(FD_B);
	struct fe_ctx c;

	/* Values are 2000 + 10 * key, keys 0..6. */
	ck_assert_uint_eq(for_each_run(p, &c, 0, 0), MAX_ENTRIES);
	ck_assert_uint_eq(c.count, MAX_ENTRIES);
	ck_assert_uint_eq(c.sum, 7 * 2000 + 10 * 21);
	ck_assert_uint_eq(for_each_run(p, &c, 3, 0), 3);
	ck_assert_uint_eq(c.count, 3);
	ck_assert_int_eq((int64_t)for_each_run(p, &c, 0, 4), -EINVAL);
	ck_assert_uint_eq(c.count, 0);
	/* Deleted elements are not visited. */
	ck_assert_int_eq(map_sys_delete_elem(maps[1], &(uint32_t){ 4 }), 0);
	ck_assert_uint_eq(for_each_run(p, &c, 0, 0), MAX_ENTRIES - 1);
	ck_assert_uint_eq(c.sum, 7 * 2000 + 10 * 21 - 2040);
	jit_prog_free(p);
}
END_TEST

static int load_err(const struct bpf_insn *insns, uint32_t cnt)
{
	struct jit_env env = env_with(NULL);
	struct jit_prog *p = NULL;
	int err = jit_prog_load(insns, cnt, &env, &p, msg, sizeof(msg));

	ck_assert_ptr_null(p);
	return err;
}

START_TEST(test_pseudo_func_must_start_subprogram)
{
	const struct bpf_insn outside[] = { LD_FUNC(0, 10), EXIT() };
	const struct bpf_insn mid_lddw[] = { LD_FUNC(0, 4), MOV64_IMM(0, 0), EXIT(), LD_IMM64(1, 5),
					     EXIT() };
	/* Slot 2 would start a subprogram, leaving main without its exit. */
	const struct bpf_insn mid_main[] = { LD_FUNC(0, 0), MOV64_IMM(0, 0), EXIT() };
	const struct bpf_insn to_main[] = { LD_FUNC(0, -1), EXIT() };

	ck_assert_int_eq(load_err(outside, ARRAY_SIZE(outside)), -EINVAL);
	ck_assert_str_eq(msg, "insn 0: callback (ld_imm64 BPF_PSEUDO_FUNC) to 11 is outside the program (0..2)");
	ck_assert_int_eq(load_err(mid_lddw, ARRAY_SIZE(mid_lddw)), -EINVAL);
	ck_assert_str_eq(msg, "insn 0: callback (ld_imm64 BPF_PSEUDO_FUNC) into the middle of the lddw at 4");
	ck_assert_int_eq(load_err(mid_main, ARRAY_SIZE(mid_main)), -EINVAL);
	ck_assert_int_eq(load_err(to_main, ARRAY_SIZE(to_main)), -EINVAL);
	ck_assert_str_eq(msg, "insn 0: callback (ld_imm64 BPF_PSEUDO_FUNC) to 0, the main program");
}
END_TEST

static Suite *jit_maps_suite(void)
{
	Suite *s = suite_create("jit_maps");
	TCase *tc = tcase_create("array");

	tcase_add_checked_fixture(tc, arrays_setup, maps_teardown);
	tcase_add_test(tc, test_array_lookup_inlined_matches_helper);
	tcase_add_test(tc, test_call_is_jump_target_not_inlined);
	tcase_add_test(tc, test_jump_into_sequence_not_inlined);
	tcase_add_test(tc, test_jump_onto_fused_ld_inlined);
	tcase_add_test(tc, test_r1_not_provably_map_not_inlined);
	tcase_add_test(tc, test_second_lookup_after_call_uses_helper);
	tcase_add_test(tc, test_old_env_without_hook_loads);
	tcase_add_test(tc, test_unusable_geometry_keeps_helper_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("percpu_array");
	tcase_add_checked_fixture(tc, percpu_setup, maps_teardown);
	tcase_add_test(tc, test_percpu_array_lookup_inlined_matches_helper);
	tcase_add_test(tc, test_hash_lookup_stays_helper_call);
	suite_add_tcase(s, tc);

	tc = tcase_create("callbacks");
	tcase_add_checked_fixture(tc, cb_setup, maps_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_loop_sums_indexes);
	tcase_add_test(tc, test_loop_early_stop_and_limits);
	tcase_add_test(tc, test_loop_nested_frames);
	tcase_add_test(tc, test_loop_depth_limit);
	tcase_add_test(tc, test_loop_bogus_handle);
	tcase_add_test(tc, test_loop_stop_in_callback);
	tcase_add_test(tc, test_callback_outside_run);
	tcase_add_test(tc, test_for_each_array);
	tcase_add_test(tc, test_for_each_hash);
	tcase_add_test(tc, test_pseudo_func_must_start_subprogram);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(jit_maps_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
