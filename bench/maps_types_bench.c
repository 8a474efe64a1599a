/*
 * maps_types_bench.c - per-operation cost of the second group of map
 * helpers, bpftime against the kernel, side by side: ring buffer output and
 * reserve+submit, perf event output, queue push+pop, bloom filter push and
 * peek, LPM trie lookup.
 *
 * Kernel side: a socket filter that calls the helper K times in straight-line
 * code (no loop), run through BPF_PROG_TEST_RUN with `repeat`; the kernel
 * reports the mean duration of one run, so ns/op = duration / K. The ring
 * buffers are emptied between measurements so no output fails for space.
 * bpftime side: the same K calls through the helper table (an indirect call
 * per operation, as the jit does), timed with CLOCK_MONOTONIC.
 * One thread, pinned to CPU 0 (perf output needs the event's CPU). Each
 * figure is the median of several runs (default 7). Needs root for the
 * kernel column. Usage: maps_types_bench [runs [repeat]].
 */
#include "config.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "maps/helpers.h"
#include "maps/maps.h"
#include "maps/maps_ext.h"
#include "tests/check_maps_kprog.h"

#define K 50
#define MAX_RUNS 31

static jit_helper_fn tbl[256];
static int runs = 7, repeat = 100;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_d);
	return v[n / 2];
}

/* Kernel: ns per helper call, or -1. @reset runs before each measurement. */
static double kernel_ns(int pfd, void (*reset)(void *), void *arg)
{
	double v[MAX_RUNS];
	uint8_t pkt[64] = { 0 };

	if (pfd < 0)
		return -1;
	for (int r = 0; r < runs; r++) {
		union bpf_attr a;

		if (reset)
			reset(arg);
		memset(&a, 0, sizeof(a));
		a.test.prog_fd = pfd;
		a.test.data_in = (uintptr_t)pkt;
		a.test.data_size_in = sizeof(pkt);
		a.test.repeat = repeat;
		if (kbpf(BPF_PROG_TEST_RUN, &a) || a.test.retval != 0) {
			fprintf(stderr, "kernel run failed (retval %d)\n", (int)a.test.retval);
			return -1;
		}
		v[r] = (double)a.test.duration / K;
	}
	return median(v, runs);
}

typedef void (*bench_fn)(void *arg);

/* bpftime: ns per helper call of @fn, which makes K calls. */
static double ours_ns(bench_fn fn, void *arg, void (*reset)(void *), void *rarg)
{
	double v[MAX_RUNS];

	for (int r = 0; r < runs; r++) {
		double t0;

		if (reset)
			reset(rarg);
		t0 = now_ns();
		for (int i = 0; i < repeat; i++)
			fn(arg);
		v[r] = (now_ns() - t0) / ((double)repeat * K);
	}
	return median(v, runs);
}

static void row(const char *what, double k, double b)
{
	if (k > 0)
		printf("%-32s %10.1f %10.1f %8.2f\n", what, k, b, b / k);
	else
		printf("%-32s %10s %10.1f %8s\n", what, "-", b, "-");
}

/* ---- kernel programs: K calls in a row ---- */

static struct bpf_insn prog[4096];
static int n;

static void emit(struct bpf_insn i)
{
	prog[n++] = i;
}

static void emit_map(int reg, int fd)
{
	emit(KI(BPF_LD | BPF_DW | BPF_IMM, reg, BPF_PSEUDO_MAP_FD, 0, fd));
	emit(KI(0, 0, 0, 0, 0));
}

static void emit_stack_init(void)
{
	n = 0;
	emit(KMOV_REG(BPF_REG_6, BPF_REG_1));
	for (int off = -8; off >= -128; off -= 8)
		emit(KST_DW(BPF_REG_10, off, 0x01020304));
}

static int load(void)
{
	emit(KMOV_IMM(BPF_REG_0, 0));
	emit(KEXIT());
	int fd = kprog_load(prog, (uint32_t)n);

	if (fd < 0)
		fprintf(stderr, "load: %d\n%s\n", fd, kprog_log);
	return fd;
}

/* Every call's r0 must be 0: r7 |= r0, return r7 at the end. */
static int load_checked(void)
{
	emit(KMOV_REG(BPF_REG_0, BPF_REG_7));
	emit(KEXIT());
	int fd = kprog_load(prog, (uint32_t)n);

	if (fd < 0)
		fprintf(stderr, "load: %d\n%s\n", fd, kprog_log);
	return fd;
}

static int kprog_output(int mfd, int size)
{
	emit_stack_init();
	emit(KMOV_IMM(BPF_REG_7, 0));
	for (int i = 0; i < K; i++) {
		emit_map(BPF_REG_1, mfd);
		emit(KMOV_REG(BPF_REG_2, BPF_REG_10));
		emit(KADD_IMM(BPF_REG_2, -128));
		emit(KMOV_IMM(BPF_REG_3, size));
		emit(KMOV_IMM(BPF_REG_4, 0));
		emit(KCALL(BPF_FUNC_ringbuf_output));
		emit(KI(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0));
	}
	return load_checked();
}

static int kprog_reserve(int mfd, int size)
{
	emit_stack_init();
	for (int i = 0; i < K; i++) {
		emit_map(BPF_REG_1, mfd);
		emit(KMOV_IMM(BPF_REG_2, size));
		emit(KMOV_IMM(BPF_REG_3, 0));
		emit(KCALL(BPF_FUNC_ringbuf_reserve));
		emit(KJEQ_IMM(BPF_REG_0, 0, 3));
		emit(KMOV_REG(BPF_REG_1, BPF_REG_0));
		emit(KMOV_IMM(BPF_REG_2, 0));
		emit(KCALL(BPF_FUNC_ringbuf_submit));
	}
	return load();
}

static int kprog_perf(int mfd, int size)
{
	emit_stack_init();
	emit(KMOV_IMM(BPF_REG_7, 0));
	for (int i = 0; i < K; i++) {
		emit(KMOV_REG(BPF_REG_1, BPF_REG_6));
		emit_map(BPF_REG_2, mfd);
		emit(KI(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_3, 0, 0, (int32_t)0xffffffff));
		emit(KI(0, 0, 0, 0, 0));
		emit(KMOV_REG(BPF_REG_4, BPF_REG_10));
		emit(KADD_IMM(BPF_REG_4, -128));
		emit(KMOV_IMM(BPF_REG_5, size));
		emit(KCALL(BPF_FUNC_perf_event_output));
		emit(KI(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0));
	}
	return load_checked();
}

/* push+pop pairs (K/2 each), or K bloom pushes / peeks. */
static int kprog_qs(int mfd, int which)
{
	emit_stack_init();
	emit(KMOV_IMM(BPF_REG_7, 0));
	for (int i = 0; i < K; i++) {
		int f = which == 0 ? (i & 1 ? BPF_FUNC_map_pop_elem : BPF_FUNC_map_push_elem)
				   : which == 1 ? BPF_FUNC_map_push_elem : BPF_FUNC_map_peek_elem;

		emit_map(BPF_REG_1, mfd);
		emit(KMOV_REG(BPF_REG_2, BPF_REG_10));
		emit(KADD_IMM(BPF_REG_2, -16));
		emit(KMOV_IMM(BPF_REG_3, 0));
		emit(KCALL(f));
		emit(KI(BPF_ALU64 | BPF_OR | BPF_X, BPF_REG_7, BPF_REG_0, 0, 0));
	}
	return load_checked();
}

/* K LPM lookups of one 8-byte key {prefixlen 32, 10.1.2.3}; r7 |= (r0 == 0). */
static int kprog_lpm(int mfd)
{
	emit_stack_init();
	emit(KST_DW(BPF_REG_10, -8, 0));
	emit(KI(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -8, 32));
	emit(KI(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, -4, 0x0302010a));
	emit(KMOV_IMM(BPF_REG_7, 0));
	for (int i = 0; i < K; i++) {
		emit_map(BPF_REG_1, mfd);
		emit(KMOV_REG(BPF_REG_2, BPF_REG_10));
		emit(KADD_IMM(BPF_REG_2, -8));
		emit(KCALL(BPF_FUNC_map_lookup_elem));
		emit(KJNE_IMM(BPF_REG_0, 0, 1));
		emit(KMOV_IMM(BPF_REG_7, 1));
	}
	return load_checked();
}

/* ---- bpftime loops ---- */

struct arg {
	struct map *m;
	uint64_t size;
	uint8_t buf[128];
};

static void b_output(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++)
		tbl[BPF_FUNC_ringbuf_output]((uintptr_t)a->m, (uintptr_t)a->buf, a->size, 0, 0);
}

static void b_reserve(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++) {
		uint64_t s = tbl[BPF_FUNC_ringbuf_reserve]((uintptr_t)a->m, a->size, 0, 0, 0);

		if (s)
			tbl[BPF_FUNC_ringbuf_submit](s, 0, 0, 0, 0);
	}
}

static void b_perf(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++)
		tbl[BPF_FUNC_perf_event_output](0, (uintptr_t)a->m, BPF_F_CURRENT_CPU,
						(uintptr_t)a->buf, a->size);
}

static void b_pushpop(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i += 2) {
		tbl[BPF_FUNC_map_push_elem]((uintptr_t)a->m, (uintptr_t)a->buf, 0, 0, 0);
		tbl[BPF_FUNC_map_pop_elem]((uintptr_t)a->m, (uintptr_t)a->buf, 0, 0, 0);
	}
}

static void b_push(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++)
		tbl[BPF_FUNC_map_push_elem]((uintptr_t)a->m, (uintptr_t)a->buf, 0, 0, 0);
}

static void b_peek(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++)
		tbl[BPF_FUNC_map_peek_elem]((uintptr_t)a->m, (uintptr_t)a->buf, 0, 0, 0);
}

static void b_lpm(void *p)
{
	struct arg *a = p;

	for (int i = 0; i < K; i++)
		tbl[BPF_FUNC_map_lookup_elem]((uintptr_t)a->m, (uintptr_t)a->buf, 0, 0, 0);
}

/* ---- emptying the rings between measurements ---- */

struct ring_view {
	volatile uint64_t *cons;
	volatile uint64_t *prod;
};

static void ring_reset(void *p)
{
	struct ring_view *v = p;

	*v->cons = *v->prod;
}

static void perf_reset(void *p)
{
	struct perf_event_mmap_page *u = p;

	u->data_tail = u->data_head;
}

static int view_ring(int fd, struct ring_view *v)
{
	void *c = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	void *pr = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 4096);

	if (c == MAP_FAILED || pr == MAP_FAILED)
		return -1;
	v->cons = c;
	v->prod = pr;
	return 0;
}

static int map_new(uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t max, uint32_t flags,
		   uint64_t extra, struct map **m, int *kfd)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = max;
	a.map_flags = flags;
	a.map_extra = extra;
	*kfd = kmap_create_attr(&a);
	if (*kfd < 0)
		*kfd = -1;
	return map_create(&a, NULL, m);
}

int main(int argc, char **argv)
{
	struct map *rb, *pa, *q, *bl, *lpm;
	int krb, kpa, kq, kbl, klpm, kev = -1;
	struct ring_view kv = { 0 }, bv = { 0 };
	struct map_perf_ring *ring;
	void *kperf = NULL, *bperf;
	struct arg a = { 0 };
	cpu_set_t set;
	uint32_t zero = 0;

	if (argc > 1)
		runs = atoi(argv[1]);
	if (argc > 2)
		repeat = atoi(argv[2]);
	if (runs < 1 || runs > MAX_RUNS || repeat < 1)
		return 2;
	CPU_ZERO(&set);
	CPU_SET(0, &set);
	sched_setaffinity(0, sizeof(set), &set);
	map_helpers_fill(tbl, 256);

	if (map_new(BPF_MAP_TYPE_RINGBUF, 0, 0, 1u << 24, 0, 0, &rb, &krb) ||
	    map_new(BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, map_possible_cpus(), 0, 0, &pa, &kpa) ||
	    map_new(BPF_MAP_TYPE_QUEUE, 0, 8, 64, 0, 0, &q, &kq) ||
	    map_new(BPF_MAP_TYPE_BLOOM_FILTER, 0, 8, 10000, 0, 3, &bl, &kbl) ||
	    map_new(BPF_MAP_TYPE_LPM_TRIE, 8, 8, 4096, BPF_F_NO_PREALLOC, 0, &lpm, &klpm)) {
		fprintf(stderr, "map creation failed\n");
		return 1;
	}
	view_ring(map_fd(rb), &bv);
	if (krb >= 0)
		view_ring(krb, &kv);

	/* Perf rings of 256 data pages on CPU 0, both sides. */
	{
		struct map_perf_ring_opts o = { .sz = sizeof(o), .id = 1, .data_pages = 256, .cpu = 0,
						.type = PERF_TYPE_SOFTWARE,
						.config = PERF_COUNT_SW_BPF_OUTPUT };

		if (map_perf_ring_create(&o, &ring) || map_perf_ring_register(ring))
			return 1;
		map_sys_update_elem(pa, &zero, &o.id, BPF_ANY);
		bperf = mmap(NULL, 257 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
			     map_perf_ring_fd(ring), 0);
		if (kpa >= 0) {
			struct perf_event_attr pe;

			memset(&pe, 0, sizeof(pe));
			pe.size = sizeof(pe);
			pe.type = PERF_TYPE_SOFTWARE;
			pe.config = PERF_COUNT_SW_BPF_OUTPUT;
			pe.sample_type = PERF_SAMPLE_RAW;
			pe.sample_period = 1;
			kev = (int)syscall(__NR_perf_event_open, &pe, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
			if (kev >= 0) {
				kperf = mmap(NULL, 257 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, kev, 0);
				kmap_update(kpa, &zero, &kev, BPF_ANY);
			}
		}
	}
	/* 1000 prefixes of lengths 8..32 under 10.0.0.0/8, and the looked-up key's /24. */
	for (uint32_t i = 0; i < 1000; i++) {
		uint8_t key[8];
		uint64_t v = i;
		uint32_t len = 8 + i % 25, addr = 0x0a000000u | (i * 2654435761u >> 8);

		memcpy(key, &len, 4);
		key[4] = (uint8_t)(addr >> 24);
		key[5] = (uint8_t)(addr >> 16);
		key[6] = (uint8_t)(addr >> 8);
		key[7] = (uint8_t)addr;
		map_sys_update_elem(lpm, key, &v, BPF_ANY);
		if (klpm >= 0)
			kmap_update(klpm, key, &v, BPF_ANY);
	}
	{
		uint8_t key[8] = { 24, 0, 0, 0, 10, 1, 2, 0 };
		uint64_t v = 7;

		map_sys_update_elem(lpm, key, &v, BPF_ANY);
		if (klpm >= 0)
			kmap_update(klpm, key, &v, BPF_ANY);
	}

	printf("# %d runs x %d repeats x %d calls, median ns per helper call, CPU 0\n", runs, repeat, K);
	printf("%-32s %10s %10s %8s\n", "operation", "kernel", "bpftime", "ratio");
	a.m = rb;
	for (int sz = 8; sz <= 128; sz *= 16) {
		char what[64];

		a.size = (uint64_t)sz;
		snprintf(what, sizeof(what), "ringbuf_output %d B", sz);
		row(what, kernel_ns(krb >= 0 ? kprog_output(krb, sz) : -1, ring_reset, &kv),
		    ours_ns(b_output, &a, ring_reset, &bv));
		snprintf(what, sizeof(what), "ringbuf_reserve+submit %d B", sz);
		row(what, kernel_ns(krb >= 0 ? kprog_reserve(krb, sz) : -1, ring_reset, &kv),
		    ours_ns(b_reserve, &a, ring_reset, &bv));
	}
	a.m = pa;
	for (int sz = 8; sz <= 128; sz *= 16) {
		char what[64];

		a.size = (uint64_t)sz;
		snprintf(what, sizeof(what), "perf_event_output %d B", sz);
		row(what, kernel_ns(kperf ? kprog_perf(kpa, sz) : -1, perf_reset, kperf),
		    ours_ns(b_perf, &a, perf_reset, bperf));
	}
	a.m = q;
	row("queue push+pop (per call)", kernel_ns(kq >= 0 ? kprog_qs(kq, 0) : -1, NULL, NULL),
	    ours_ns(b_pushpop, &a, NULL, NULL));
	a.m = bl;
	row("bloom push (k=3)", kernel_ns(kbl >= 0 ? kprog_qs(kbl, 1) : -1, NULL, NULL),
	    ours_ns(b_push, &a, NULL, NULL));
	{
		/* Peek the pushed value: 0 (maybe present) on both sides. */
		row("bloom peek (k=3)", kernel_ns(kbl >= 0 ? kprog_qs(kbl, 2) : -1, NULL, NULL),
		    ours_ns(b_peek, &a, NULL, NULL));
	}
	a.m = lpm;
	{
		uint8_t key[8] = { 32, 0, 0, 0, 10, 1, 2, 3 };

		memcpy(a.buf, key, sizeof(key));
		if (!map_lookup_elem(lpm, key))
			fprintf(stderr, "lpm: key not found\n");
		row("lpm_trie lookup (1001 prefixes)",
		    kernel_ns(klpm >= 0 ? kprog_lpm(klpm) : -1, NULL, NULL),
		    ours_ns(b_lpm, &a, NULL, NULL));
	}
	return 0;
}
