/*
 * maps_interp_bench.c - array lookups from a real BPF program: the kernel's
 * BPF_PROG_TEST_RUN (JITed, lookup inlined by the verifier's map_gen_lookup)
 * against bpftime's interpreter, with the lookup as a helper call and
 * inlined by the loader (struct jit_env.inline_lookup, jit/prog.c).
 *
 * One program, the same instructions on both sides: a loop of 1000
 * iterations, each storing key = i & 1023 on the stack and calling
 * bpf_map_lookup_elem on a 1024-entry ARRAY (or PERCPU_ARRAY) of u64 = key,
 * adding the value to a sum it returns (499500, checked on both sides). The
 * baseline program is the same with the call replaced by "r0 = r2" (r0
 * then points at the key, a u64 equal to the value: same sum, same
 * instruction count), so "lookup - baseline" is what one lookup costs on
 * top of a register move, the figure to compare with the kernel's. It
 * has the shape of the loop clang emits for maps_bench.bpf.c's array_lookup
 * (without its per-CPU start key), written out by hand so this bench needs
 * no ELF relocation. Figures are ns per loop iteration (lookup plus the loop
 * around it, the same on both sides), median of several runs, thread CPU
 * time, on CPU 0; programs are XDP, as in maps_bench. Needs root for the
 * kernel column.
 * Usage: maps_interp_bench [runs [repeat]]
 */
#include "config.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jit/jit.h"
#include "maps/helpers.h"
#include "maps/maps.h"
#include "bench/stats.h"

#define OPS 1000
#define KEYS 1024
#define MAX_RUNS 31
#define EXPECT_SUM (OPS * (OPS - 1) / 2)

#define I(c, d, s, o, i) { .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) }

static struct bpf_insn prog[] = {
	I(BPF_ALU64 | BPF_MOV | BPF_K, 6, 0, 0, 0),          /* 0: sum = 0 */
	I(BPF_ALU64 | BPF_MOV | BPF_K, 7, 0, 0, 0),          /* 1: i = 0 */
	I(BPF_ALU64 | BPF_MOV | BPF_X, 1, 7, 0, 0),          /* 2: loop: r1 = i */
	I(BPF_ALU64 | BPF_AND | BPF_K, 1, 0, 0, KEYS - 1),   /* 3: r1 &= 1023 */
	I(BPF_STX | BPF_MEM | BPF_DW, 10, 1, -8, 0),         /* 4: *(u64 *)(fp - 8) = r1 (the u32 key) */
	I(BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0),         /* 5: r2 = fp */
	I(BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -8),         /* 6: r2 -= 8 */
	I(BPF_LD | BPF_DW | BPF_IMM, 1, BPF_PSEUDO_MAP_FD, 0, 0), /* 7: r1 = map (imm set below) */
	I(0, 0, 0, 0, 0),                                    /* 8 */
	I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem), /* 9 (baseline: r0 = r2) */
	I(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 2, 0),            /* 10: if !r0 goto 13 */
	I(BPF_LDX | BPF_MEM | BPF_DW, 1, 0, 0, 0),           /* 11: r1 = *(u64 *)r0 */
	I(BPF_ALU64 | BPF_ADD | BPF_X, 6, 1, 0, 0),          /* 12: sum += r1 */
	I(BPF_ALU64 | BPF_ADD | BPF_K, 7, 0, 0, 1),          /* 13: i++ */
	I(BPF_JMP | BPF_JNE | BPF_K, 7, 0, -13, OPS),        /* 14: if i != 1000 goto 2 */
	I(BPF_ALU64 | BPF_MOV | BPF_X, 0, 6, 0, 0),          /* 15: r0 = sum */
	I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),                   /* 16 */
};

static struct map *cur_map;
static jit_helper_fn helpers[256];
static volatile uint64_t sink;

static int resolve(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	(void)cookie;
	if (insn[0].src_reg != BPF_PSEUDO_MAP_FD)
		return -EINVAL;
	*value = (uint64_t)(uintptr_t)cur_map;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	/* Thread CPU time: the kernel's test_run timer also stops while the
	 * task is off CPU (bpf_test_timer_continue() in net/bpf/test_run.c). */
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static double run_bpftime(const struct jit_prog *p, uint32_t repeat)
{
	uint64_t t0 = now_ns(), r0 = 0;

	for (uint32_t r = 0; r < repeat; r++)
		r0 += jit_prog_run(p, NULL);
	sink = r0;
	if (r0 != (uint64_t)EXPECT_SUM * repeat)
		fprintf(stderr, "maps_interp_bench: bpftime sum %llu, expected %llu\n",
			(unsigned long long)r0, (unsigned long long)EXPECT_SUM * repeat);
	return (double)(now_ns() - t0) / ((double)repeat * OPS);
}

static double run_kernel(int fd, uint32_t repeat)
{
	uint8_t pkt[64] = { 0 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(fd, &o);

	if (err || o.retval != EXPECT_SUM) {
		fprintf(stderr, "maps_interp_bench: kernel test_run: %d, retval %u\n", err, o.retval);
		return -1;
	}
	return (double)o.duration / OPS;
}

static int bench_type(uint32_t type, const char *name, int runs, uint32_t repeat)
{
	uint32_t ncpu = map_possible_cpus();
	struct jit_env env = { .sz = sizeof(env), .helpers = helpers, .helper_cnt = 256,
			       .resolve_ld_imm64 = resolve };
	struct jit_prog *ph = NULL, *pi = NULL, *p0 = NULL;
	double kv[MAX_RUNS], k0[MAX_RUNS], hv[MAX_RUNS], iv[MAX_RUNS], b0[MAX_RUNS];
	double km, kb, hm, im, bm;
	uint64_t *val = calloc(ncpu, 8);
	union bpf_attr a;
	char log[256];
	int kfd, pfd = -1, pfd0 = -1, err;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = KEYS;
	err = map_create(&a, NULL, &cur_map);
	if (err || !val) {
		fprintf(stderr, "maps_interp_bench: map_create: %s\n", strerror(-err));
		return 1;
	}
	kfd = bpf_map_create(type, NULL, 4, 8, KEYS, NULL);
	for (uint32_t k = 0; k < KEYS; k++) {
		for (uint32_t c = 0; c < ncpu; c++)
			val[c] = k;
		map_sys_update_elem(cur_map, &k, val, BPF_ANY);
		if (kfd >= 0)
			bpf_map_update_elem(kfd, &k, val, BPF_ANY);
	}
	if (kfd >= 0) {
		prog[7].imm = kfd;
		pfd = bpf_prog_load(BPF_PROG_TYPE_XDP, "lookup", "GPL", prog,
				    sizeof(prog) / sizeof(prog[0]), NULL);
		if (pfd < 0)
			fprintf(stderr, "maps_interp_bench: kernel prog_load: %s\n", strerror(errno));
	}
	err = jit_prog_load(prog, sizeof(prog) / sizeof(prog[0]), &env, &ph, log, sizeof(log));
	env.inline_lookup = map_jit_inline_lookup;
	if (!err)
		err = jit_prog_load(prog, sizeof(prog) / sizeof(prog[0]), &env, &pi, log,
				    sizeof(log));
	if (err) {
		fprintf(stderr, "maps_interp_bench: jit_prog_load: %s\n", log);
		return 1;
	}
	/* The baseline: the call slot becomes "r0 = r2". */
	prog[9] = (struct bpf_insn)I(BPF_ALU64 | BPF_MOV | BPF_X, 0, 2, 0, 0);
	if (kfd >= 0)
		pfd0 = bpf_prog_load(BPF_PROG_TYPE_XDP, "base", "GPL", prog,
				     sizeof(prog) / sizeof(prog[0]), NULL);
	err = jit_prog_load(prog, sizeof(prog) / sizeof(prog[0]), &env, &p0, log, sizeof(log));
	prog[9] = (struct bpf_insn)I(BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_map_lookup_elem);
	if (err) {
		fprintf(stderr, "maps_interp_bench: jit_prog_load: %s\n", log);
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		if (pfd >= 0 && pfd0 >= 0) {
			kv[r] = run_kernel(pfd, repeat);
			k0[r] = run_kernel(pfd0, repeat);
		}
		hv[r] = run_bpftime(ph, repeat);
		iv[r] = run_bpftime(pi, repeat);
		b0[r] = run_bpftime(p0, repeat);
	}
	hm = bench_median(hv, runs);
	im = bench_median(iv, runs);
	bm = bench_median(b0, runs);
	if (pfd >= 0 && pfd0 >= 0) {
		km = bench_median(kv, runs);
		kb = bench_median(k0, runs);
		printf("%-11s %-9s %9.2f %13.2f %13.2f %15.2fx %15.2fx\n", name, "program", km, hm,
		       im, km / hm, km / im);
		printf("%-11s %-9s %9.2f %13.2f %13.2f %16s %16s\n", name, "baseline", kb, bm, bm,
		       "", "");
		printf("%-11s %-9s %9.2f %13.2f %13.2f %15.2fx ", name, "lookup", km - kb, hm - bm,
		       im - bm, (km - kb) / (hm - bm));
		/* The fused "r1 = map; lookup" slot is one dispatch where the
		 * baseline has two (ld_imm64, mov), so its extra cost can be <= 0. */
		if (im - bm > 0)
			printf("%15.2fx\n", (km - kb) / (im - bm));
		else
			printf("%16s\n", "bpftime<=0");
	} else {
		printf("%-11s %-9s %9s %13.2f %13.2f\n", name, "program", "-", hm, im);
		printf("%-11s %-9s %9s %13.2f %13.2f\n", name, "baseline", "-", bm, bm);
		printf("%-11s %-9s %9s %13.2f %13.2f\n", name, "lookup", "-", hm - bm, im - bm);
	}
	jit_prog_free(ph);
	jit_prog_free(pi);
	jit_prog_free(p0);
	map_put(cur_map);
	free(val);
	if (pfd >= 0)
		close(pfd);
	if (pfd0 >= 0)
		close(pfd0);
	if (kfd >= 0)
		close(kfd);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 7;
	uint32_t repeat = argc > 2 ? (uint32_t)atoi(argv[2]) : 1000;
	cpu_set_t set;

	if (runs < 1 || runs > MAX_RUNS)
		runs = 7;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	map_helpers_fill(helpers, 256);
	printf("maps_interp_bench: %d runs (median), %u x %d lookups per run, ns per iteration\n",
	       runs, repeat, OPS);
	printf("%-11s %-9s %9s %13s %13s %16s %16s\n", "map", "row", "kernel", "bpftime-call",
	       "bpftime-inl", "kernel/call", "kernel/inl");
	if (bench_type(BPF_MAP_TYPE_ARRAY, "array", runs, repeat) ||
	    bench_type(BPF_MAP_TYPE_PERCPU_ARRAY, "pcpu_array", runs, repeat))
		return 1;
	return 0;
}
