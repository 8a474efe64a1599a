/*
 * bench_isa.c - how fast bpftime runs eBPF compared with the kernel.
 *
 *   bench_isa [-r REPS] [-t MS] [-n ITERS] [-K] [-R] PROG.bpf.o...
 *
 * For each object, the first program is taken as libbpf sees it after
 * bpf_object__open() (bpf_program__insns(); the programs use no maps and no
 * subprograms, so no relocation is pending) and run by every back end in
 * `backends[]`:
 *   interp  jit_prog_run() (jit/interp.c), timed here with the thread's CPU
 *           clock (CLOCK_THREAD_CPUTIME_ID), so other load on the machine
 *           does not count, as it does not for the kernel's timer;
 *   kernel  the same object loaded as BPF_PROG_TYPE_SOCKET_FILTER and run with
 *           BPF_PROG_TEST_RUN and repeat, the kernel's own per-run average
 *           (bpf_test_run() in net/bpf/test_run.c); needs root, and runs
 *           whatever the kernel uses (its JIT when bpf_jit_enable=1).
 * Each back end is measured REPS times (default 5) for about MS milliseconds
 * each (default 100) and the median ns/run is printed, with the ratio of
 * every back end to the kernel, and a check that all back ends returned the
 * same r0 (the kernel reports the low 32 bits).
 *
 * Adding a column (the LLVM JIT) is adding one entry to backends[].
 * Not part of make check: timings on a shared VM are noise, not pass/fail.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jit/jit.h"

#define MAX_REPS 51
#define DATA_SZ 64 /* packet handed to SOCKET_FILTER runs (>= ETH_HLEN) */

struct bench_case {
	const char *path;
	const char *name;           /* object file name, name_len chars of it */
	int name_len;
	struct bpf_object *obj;     /* opened, not loaded */
	struct bpf_insn *insns;     /* copy taken before any load */
	uint32_t insn_cnt;
};

struct bench_backend {
	const char *name;
	bool is_reference; /* the kernel: other columns get a ratio to it */
	/* Prepare @c; store state in *@st. -ENOTSUP/-EPERM: column shows why not. */
	int (*prepare)(struct bench_case *c, void **st, char *why, size_t why_sz);
	/* Run @iters times; average ns per run and the result. */
	int (*measure)(void *st, uint32_t iters, double *ns, uint64_t *r0);
	void (*release)(void *st);
	uint64_t r0_mask; /* bits of r0 the back end reports */
};

static uint8_t data[DATA_SZ];

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* CPU time of this thread: time spent preempted by other load is not ours,
 * just as the kernel's test_run timer stops while it reschedules
 * (bpf_test_timer_continue() in net/bpf/test_run.c). */
static double cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* ------------------------------------------------------------ interp */

static int interp_prepare(struct bench_case *c, void **st, char *why, size_t why_sz)
{
	struct jit_prog *p;
	int err = jit_prog_load(c->insns, c->insn_cnt, NULL, &p, why, why_sz);

	if (err)
		return err;
	*st = p;
	return 0;
}

static int interp_measure(void *st, uint32_t iters, double *ns, uint64_t *r0)
{
	const struct jit_prog *p = st;
	uint64_t r = 0;
	double t0 = cpu_ns();

	for (uint32_t i = 0; i < iters; i++)
		r = jit_prog_run(p, data);
	*ns = (cpu_ns() - t0) / iters;
	*r0 = r;
	return 0;
}

static void interp_release(void *st)
{
	jit_prog_free(st);
}

/* ------------------------------------------------------------ kernel */

struct kernel_state {
	struct bpf_object *obj;
	int fd;
};

static int kernel_prepare(struct bench_case *c, void **st, char *why, size_t why_sz)
{
	struct kernel_state *k;
	struct bpf_program *prog;
	int err;

	if (geteuid() != 0) {
		snprintf(why, why_sz, "not root");
		return -EPERM;
	}
	k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	/* A second open: the interpreter's copy stays as libbpf first saw it. */
	k->obj = bpf_object__open_file(c->path, NULL);
	if (!k->obj) {
		err = -errno;
		snprintf(why, why_sz, "open: %s", strerror(-err));
		free(k);
		return err;
	}
	prog = bpf_object__next_program(k->obj, NULL);
	bpf_program__set_type(prog, BPF_PROG_TYPE_SOCKET_FILTER);
	err = bpf_object__load(k->obj);
	if (err) {
		snprintf(why, why_sz, "load: %s", strerror(-err));
		bpf_object__close(k->obj);
		free(k);
		return err;
	}
	k->fd = bpf_program__fd(prog);
	*st = k;
	return 0;
}

static int kernel_measure(void *st, uint32_t iters, double *ns, uint64_t *r0)
{
	struct kernel_state *k = st;
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = data, .data_size_in = sizeof(data),
		    .repeat = (int)iters);
	double t0 = now_ns();
	int err = bpf_prog_test_run_opts(k->fd, &o);

	if (err)
		return -errno;
	/* duration is the kernel's own per-run average, in whole ns; below 10 ns
	 * use our wall clock instead, which includes the syscall once. */
	*ns = o.duration >= 10 ? (double)o.duration : (now_ns() - t0) / iters;
	*r0 = o.retval;
	return 0;
}

static void kernel_release(void *st)
{
	struct kernel_state *k = st;

	if (!k)
		return;
	bpf_object__close(k->obj);
	free(k);
}

static const struct bench_backend backends[] = {
	{ "interp", false, interp_prepare, interp_measure, interp_release, UINT64_MAX },
	{ "kernel", true, kernel_prepare, kernel_measure, kernel_release, UINT32_MAX },
};
#define BACKEND_CNT (sizeof(backends) / sizeof(backends[0]))

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct column {
	bool ok;
	char why[64];
	double median_ns;
	uint64_t r0;
};

/* Median of @reps measurements of about @target_ms each. */
static uint32_t fixed_iters; /* -n: no calibration (for callgrind and perf) */

static int backend_bench(const struct bench_backend *b, void *st, int reps, double target_ms,
			 double *median, uint64_t *r0)
{
	double samples[MAX_REPS], ns = 1;
	uint32_t iters = 1;
	int err;

	if (fixed_iters) {
		iters = fixed_iters;
		goto measure;
	}
	/* Calibrate: grow iters until one measurement takes >= 1/10 of the target. */
	for (;;) {
		err = b->measure(st, iters, &ns, r0);
		if (err)
			return err;
		if (ns * iters >= target_ms * 1e5 || iters >= (1u << 30))
			break;
		iters *= 4;
	}
	iters = (uint32_t)(target_ms * 1e6 / (ns > 0.5 ? ns : 0.5)) + 1;
measure:
	for (int i = 0; i < reps; i++) {
		err = b->measure(st, iters, &samples[i], r0);
		if (err)
			return err;
	}
	qsort(samples, reps, sizeof(samples[0]), cmp_double);
	*median = samples[reps / 2];
	return 0;
}

static int case_open(struct bench_case *c, const char *path)
{
	struct bpf_program *prog;
	const struct bpf_insn *insns;

	c->path = path;
	c->obj = bpf_object__open_file(path, NULL);
	if (!c->obj)
		return -errno;
	prog = bpf_object__next_program(c->obj, NULL);
	if (!prog)
		return -ENOENT;
	/* Name rows after the object ("primes.v3"): one source gives several. */
	c->name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	c->name_len = strstr(c->name, ".bpf.o") ? (int)(strstr(c->name, ".bpf.o") - c->name)
						 : (int)strlen(c->name);
	insns = bpf_program__insns(prog);
	c->insn_cnt = (uint32_t)bpf_program__insn_cnt(prog);
	c->insns = malloc(c->insn_cnt * sizeof(*insns));
	if (!c->insns)
		return -ENOMEM;
	memcpy(c->insns, insns, c->insn_cnt * sizeof(*insns));
	return 0;
}

static void case_close(struct bench_case *c)
{
	bpf_object__close(c->obj);
	free(c->insns);
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_isa [-r REPS] [-t MS] [-n ITERS] [-K] [-R] PROG.bpf.o...\n"
			"  -r REPS  measurements per back end, median printed (default 5, max %d)\n"
			"  -t MS    length of one measurement (default 100)\n"
			"  -n ITERS runs per measurement, no calibration\n"
			"  -K       skip the kernel column\n"
			"  -R       fail unless every back end runs every program\n",
		MAX_REPS);
	return 2;
}

int main(int argc, char **argv)
{
	int reps = 5, opt, failures = 0;
	double target_ms = 100;
	bool no_kernel = false, require_all = false;

	while ((opt = getopt(argc, argv, "r:t:n:KRh")) != -1) {
		switch (opt) {
		case 'r':
			reps = atoi(optarg);
			if (reps < 1 || reps > MAX_REPS)
				return usage();
			break;
		case 't':
			target_ms = atof(optarg);
			if (target_ms <= 0)
				return usage();
			break;
		case 'n':
			fixed_iters = (uint32_t)strtoul(optarg, NULL, 0);
			if (!fixed_iters)
				return usage();
			break;
		case 'K':
			no_kernel = true;
			break;
		case 'R':
			require_all = true;
			break;
		default:
			return usage();
		}
	}
	if (optind >= argc)
		return usage();
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)i;
	libbpf_set_print(NULL);

	printf("%-14s %6s", "program", "insns");
	for (size_t b = 0; b < BACKEND_CNT; b++)
		printf(" %12s", backends[b].name);
	for (size_t b = 0; b < BACKEND_CNT; b++)
		if (!backends[b].is_reference)
			printf(" %14s", "");
	printf("  r0\n");
	printf("%-14s %6s", "", "");
	for (size_t b = 0; b < BACKEND_CNT; b++)
		printf(" %12s", "ns/run");
	for (size_t b = 0; b < BACKEND_CNT; b++)
		if (!backends[b].is_reference)
			printf(" %14s", "x kernel");
	printf("\n");

	for (int a = optind; a < argc; a++) {
		struct bench_case c = { 0 };
		struct column col[BACKEND_CNT] = { 0 };
		double ref_ns = 0;
		bool same = true;
		uint64_t r0 = 0;
		int err = case_open(&c, argv[a]);
		int first = -1;

		if (err) {
			fprintf(stderr, "%s: cannot open: %s\n", argv[a], strerror(-err));
			case_close(&c);
			failures++;
			continue;
		}
		for (size_t b = 0; b < BACKEND_CNT; b++) {
			void *st = NULL;

			if (no_kernel && backends[b].is_reference) {
				snprintf(col[b].why, sizeof(col[b].why), "skipped");
				continue;
			}
			err = backends[b].prepare(&c, &st, col[b].why, sizeof(col[b].why));
			if (!err)
				err = backend_bench(&backends[b], st, reps, target_ms,
						    &col[b].median_ns, &col[b].r0);
			if (err && !col[b].why[0])
				snprintf(col[b].why, sizeof(col[b].why), "%s", strerror(-err));
			if (st)
				backends[b].release(st);
			col[b].ok = !err;
			if (err) {
				fprintf(stderr, "%.*s: %s: %s\n", c.name_len, c.name, backends[b].name,
					col[b].why);
				if (require_all)
					failures++;
				continue;
			}
			if (backends[b].is_reference)
				ref_ns = col[b].median_ns;
			/* Compare results on the bits every back end reports. */
			if (first < 0) {
				first = (int)b;
				r0 = col[b].r0;
			} else {
				uint64_t mask = backends[b].r0_mask & backends[first].r0_mask;

				if ((col[b].r0 & mask) != (r0 & mask))
					same = false;
			}
		}
		printf("%-14.*s %6u", c.name_len, c.name, c.insn_cnt);
		for (size_t b = 0; b < BACKEND_CNT; b++) {
			if (col[b].ok)
				printf(" %12.1f", col[b].median_ns);
			else
				printf(" %12s", "-");
		}
		for (size_t b = 0; b < BACKEND_CNT; b++) {
			if (backends[b].is_reference)
				continue;
			if (col[b].ok && ref_ns > 0)
				printf(" %13.2fx", col[b].median_ns / ref_ns);
			else
				printf(" %14s", "-");
		}
		printf("  %s 0x%llx\n", same ? "same" : "DIFFERENT", (unsigned long long)r0);
		if (!same)
			failures++;
		case_close(&c);
	}
	return failures ? 1 : 0;
}
