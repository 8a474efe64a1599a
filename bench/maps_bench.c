/*
 * maps_bench.c - per-operation cost of bpftime's maps against the kernel's,
 * side by side, 1 and 2 threads.
 *
 * Kernel side: the XDP programs of maps_bench.bpf.o, each doing 1000 map
 * operations per run, run through BPF_PROG_TEST_RUN with `repeat`; the kernel
 * reports the mean duration of one run, so ns/op = duration / 1000. This is
 * the kernel at its best: JITed code, array and hash lookups inlined by the
 * verifier (map_gen_lookup), no syscall per operation.
 * bpftime side: the same loops in C, calling the helpers through a helper
 * table of jit_helper_fn (an indirect call per operation, as the jit does).
 * "lookup/inline" rows: for arrays, the kernel inlines the lookup into the
 * program (no call at all); these rows run the address computation a JIT
 * would inline from map_array_geometry(), against the same kernel figure.
 *
 * Threads are pinned one per CPU; with 2 threads both work on the same map at
 * once and the figure is the mean per-thread ns/op: "2s" has both threads walk
 * the same keys in the same order (the worst case: every line bounces, and
 * writers queue on the same lock), "2d" starts the thread on CPU c at key
 * c * 512 (the two threads work on different halves of the map at any time). Each figure is the
 * median of several runs (default 7). Needs root for the kernel side; without
 * it only bpftime's column is printed.
 * Usage: maps_bench [runs [repeat [filter]]], filter a substring of "map op".
 */
#include "config.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/rseq.h>
#include <time.h>

#include "maps/helpers.h"
#include "maps/maps.h"
#include "bench/stats.h"

#define OPS 1000
#define KEYS 1024
#define MAX 1024
#define MAX_RUNS 31

enum op { OP_LOOKUP, OP_UPDATE, OP_DELETE, OP_LOOKUP_INLINE };
static const char *const op_names[] = { "lookup", "update", "delete+insert", "lookup/inline" };
/* 1: one thread; 2s: two threads on the same keys in step; 2d: two threads 512 keys apart. */
static const char *const thr_names[] = { "1", "2s", "2d" };

struct bench_map {
	const char *name;
	uint32_t type;
	struct map *m;
	int kfd;
};

static struct bench_map maps[] = {
	{ "hash", BPF_MAP_TYPE_HASH, NULL, -1 },
	{ "array", BPF_MAP_TYPE_ARRAY, NULL, -1 },
	{ "pcpu_hash", BPF_MAP_TYPE_PERCPU_HASH, NULL, -1 },
	{ "pcpu_array", BPF_MAP_TYPE_PERCPU_ARRAY, NULL, -1 },
	{ "lru_hash", BPF_MAP_TYPE_LRU_HASH, NULL, -1 },
};

struct line {
	int map;
	enum op op;
};

static const struct line lines[] = {
	{ 0, OP_LOOKUP }, { 0, OP_UPDATE }, { 0, OP_DELETE }, { 1, OP_LOOKUP },
	{ 1, OP_LOOKUP_INLINE }, { 1, OP_UPDATE }, { 2, OP_LOOKUP }, { 2, OP_UPDATE },
	{ 2, OP_DELETE }, { 3, OP_LOOKUP }, { 3, OP_LOOKUP_INLINE }, { 3, OP_UPDATE },
	{ 4, OP_LOOKUP }, { 4, OP_UPDATE }, { 4, OP_DELETE },
};

/* The helper table, read through a volatile pointer so calls stay indirect. */
static jit_helper_fn helpers[256];
static jit_helper_fn *volatile helper_tab = helpers;
static volatile uint64_t sink;
static uint32_t repeat = 300;

/*
 * The thread's CPU time, not wall time: the kernel's test_run timer
 * (bpf_test_timer_continue() in net/bpf/test_run.c) stops while the task is
 * rescheduled, so on a shared, loaded machine wall time would charge bpftime
 * for other processes' time slices and the kernel not.
 */
static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t stagger;

/* One run of the bpftime loop, as the kernel program does it. */
static void bpftime_loop(struct map *m, enum op op, uint32_t cpu)
{
	jit_helper_fn *t = helper_tab;
	uint32_t base = cpu * stagger;
	uint64_t sum = 0;

	for (uint32_t i = 0; i < OPS; i++) {
		uint32_t k = (base + i) & (KEYS - 1);
		uint64_t v = i;

		switch (op) {
		case OP_LOOKUP: {
			uint64_t *p = (uint64_t *)(uintptr_t)t[BPF_FUNC_map_lookup_elem](
				(uintptr_t)m, (uintptr_t)&k, 0, 0, 0);
			if (p)
				sum += *p;
			break;
		}
		case OP_UPDATE:
			t[BPF_FUNC_map_update_elem]((uintptr_t)m, (uintptr_t)&k, (uintptr_t)&v,
						    BPF_ANY, 0);
			break;
		case OP_DELETE:
			t[BPF_FUNC_map_delete_elem]((uintptr_t)m, (uintptr_t)&k, 0, 0, 0);
			t[BPF_FUNC_map_update_elem]((uintptr_t)m, (uintptr_t)&k, (uintptr_t)&v,
						    BPF_ANY, 0);
			break;
		case OP_LOOKUP_INLINE:
			break;
		}
	}
	sink = sum;
}

/*
 * The array lookup a JIT would inline, as the kernel's verifier inlines it
 * (array_map_gen_lookup()): bounds check and address arithmetic from
 * map_array_geometry(); per-CPU reads the CPU from glibc's rseq area.
 */
static void bpftime_inline_loop(struct map *m, uint32_t cpu)
{
	struct map_array_geom g;
	uint32_t base = cpu * stagger;
	uint64_t sum = 0;

	map_array_geometry(m, &g);
	for (uint32_t i = 0; i < OPS; i++) {
		uint32_t k = (base + i) & (KEYS - 1);
		uint8_t *p = g.base + g.value_off;

		if (__builtin_expect(k >= g.max_entries, 0))
			continue;
		if (g.cpu_stride) {
			const struct rseq *rs = (const struct rseq *)((const char *)__builtin_thread_pointer() +
								      __rseq_offset);
			uint32_t c = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

			p += (c < g.ncpu ? c : 0) * g.cpu_stride;
		}
		sum += *(uint64_t *)(p + (uint64_t)k * g.elem_size);
		__asm__ volatile("" ::: "memory"); /* one lookup per iteration, as the kernel loop */
	}
	sink = sum;
}

struct worker {
	pthread_t th;
	int cpu;
	const struct line *ln;
	bool kernel;
	int prog_fd;
	pthread_barrier_t *bar;
	double ns_per_op;
	int err;
};

static void pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct bench_map *bm = &maps[w->ln->map];

	pin(w->cpu);
	pthread_barrier_wait(w->bar);
	if (w->kernel) {
		uint8_t pkt[64] = { 0 };
		LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt),
			    .repeat = repeat);

		w->err = bpf_prog_test_run_opts(w->prog_fd, &o);
		w->ns_per_op = (double)o.duration / OPS;
	} else {
		uint64_t t0 = now_ns();

		for (uint32_t r = 0; r < repeat; r++) {
			if (w->ln->op == OP_LOOKUP_INLINE)
				bpftime_inline_loop(bm->m, (uint32_t)w->cpu);
			else
				bpftime_loop(bm->m, w->ln->op, (uint32_t)w->cpu);
		}
		w->ns_per_op = (double)(now_ns() - t0) / ((double)repeat * OPS);
	}
	return NULL;
}

static double measure(const struct line *ln, bool kernel, int prog_fd, int nthreads)
{
	struct worker w[2];
	pthread_barrier_t bar;
	double sum = 0;

	pthread_barrier_init(&bar, NULL, (unsigned)nthreads);
	for (int i = 0; i < nthreads; i++) {
		w[i] = (struct worker){ .cpu = i, .ln = ln, .kernel = kernel, .prog_fd = prog_fd,
					.bar = &bar };
		pthread_create(&w[i].th, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(w[i].th, NULL);
		if (w[i].err)
			fprintf(stderr, "maps_bench: test_run failed: %s\n", strerror(-w[i].err));
		sum += w[i].ns_per_op;
	}
	pthread_barrier_destroy(&bar);
	return sum / nthreads;
}

static int populate(void)
{
	uint32_t ncpu = map_possible_cpus();
	uint64_t *val = calloc(ncpu, 8);

	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		union bpf_attr a;
		int err;

		memset(&a, 0, sizeof(a));
		a.map_type = maps[i].type;
		a.key_size = 4;
		a.value_size = 8;
		a.max_entries = MAX;
		err = map_create(&a, NULL, &maps[i].m);
		if (err) {
			fprintf(stderr, "maps_bench: map_create %s: %s\n", maps[i].name, strerror(-err));
			return err;
		}
		for (uint32_t k = 0; k < KEYS; k++) {
			for (uint32_t c = 0; c < ncpu; c++)
				val[c] = k;
			map_sys_update_elem(maps[i].m, &k, val, BPF_ANY);
			if (maps[i].kfd >= 0)
				bpf_map_update_elem(maps[i].kfd, &k, val, BPF_ANY);
		}
	}
	free(val);
	return 0;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 7;
	char path[4096];
	struct bpf_object *obj = NULL;
	bool have_kernel = false;
	int stagger_fd = -1;

	const char *filter = argc > 3 ? argv[3] : NULL;

	if (argc > 2)
		repeat = (uint32_t)atoi(argv[2]);
	if (runs < 1 || runs > MAX_RUNS)
		runs = 7;
	map_helpers_fill(helpers, 256);
	snprintf(path, sizeof(path), "%s/bench/maps_bench.bpf.o", BPFTIME_BUILDDIR);
	libbpf_set_print(NULL);
	obj = bpf_object__open_file(path, NULL);
	if (obj && !libbpf_get_error(obj) && bpf_object__load(obj) == 0) {
		have_kernel = true;
		for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
			maps[i].kfd = bpf_object__find_map_fd_by_name(obj, maps[i].name);
		stagger_fd = bpf_object__find_map_fd_by_name(obj, ".data.stagger");
	} else {
		fprintf(stderr, "maps_bench: cannot load %s (need root): bpftime column only\n", path);
		obj = NULL;
	}
	if (populate())
		return 1;
	printf("maps_bench: %d runs (median), %u x %d ops per run, CPUs %u, ns per operation\n", runs,
	       repeat, OPS, map_possible_cpus());
	printf("%-11s %-14s %3s %11s %11s %17s\n", "map", "op", "thr", "kernel", "bpftime",
	       "kernel/bpftime");
	for (size_t li = 0; li < sizeof(lines) / sizeof(lines[0]); li++) {
		const struct line *ln = &lines[li];
		char prog[64], label[64];
		int prog_fd = -1;

		snprintf(label, sizeof(label), "%s %s", maps[ln->map].name, op_names[ln->op]);
		if (filter && !strstr(label, filter))
			continue;
		snprintf(prog, sizeof(prog), "%s_%s", maps[ln->map].name,
			 ln->op == OP_LOOKUP || ln->op == OP_LOOKUP_INLINE ? "lookup"
			 : ln->op == OP_UPDATE				   ? "update"
									   : "delete");
		if (have_kernel) {
			struct bpf_program *p = bpf_object__find_program_by_name(obj, prog);

			prog_fd = p ? bpf_program__fd(p) : -1;
		}
		/* 1 thread; 2 threads walking the same keys in step; 2 threads 512 keys apart. */
		for (int mode = 0; mode < 3; mode++) {
			int nt = mode ? 2 : 1;
			double kv[MAX_RUNS], bv[MAX_RUNS], km = 0, bmed;
			uint32_t zero = 0;

			stagger = mode == 2 ? KEYS / 2 : 0;
			if (stagger_fd >= 0 && bpf_map_update_elem(stagger_fd, &zero, &stagger, 0))
				prog_fd = -1;
			for (int r = 0; r < runs; r++) {
				if (prog_fd >= 0)
					kv[r] = measure(ln, true, prog_fd, nt);
				bv[r] = measure(ln, false, -1, nt);
			}
			bmed = bench_median(bv, runs);
			if (prog_fd >= 0) {
				km = bench_median(kv, runs);
				printf("%-11s %-14s %3s %11.2f %11.2f %16.2fx\n", maps[ln->map].name,
				       op_names[ln->op], thr_names[mode], km, bmed, km / bmed);
			} else {
				printf("%-11s %-14s %3s %11s %11.2f %17s\n", maps[ln->map].name,
				       op_names[ln->op], thr_names[mode], "-", bmed, "-");
			}
			fflush(stdout);
		}
	}
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++)
		map_put(maps[i].m);
	bpf_object__close(obj);
	return 0;
}
