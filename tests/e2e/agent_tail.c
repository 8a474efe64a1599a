/*
 * agent_tail.c - a libbpf 1.1 skeleton loader for the tail-call e2e test
 * (tests/e2e/agent-tail.sh), run as root on the kernel and unprivileged under
 * bpftime-run, with identical output expected.
 *
 * tail_entry is attached to this process' own tail_target(sel, val); it
 * tail-calls through jmp[sel]. The loader fills jmp with prog fds
 * (bpf_map_update_elem), calls tail_target() and prints the .bss counters
 * after each phase:
 *   1. jmp = { tail_a, tail_b, empty, empty } (filled before the attach):
 *      N calls with sel 0, 2N with sel 1, N with sel 3 (empty slot: falls
 *      through), N with sel 7 (past max_entries: falls through);
 *   2. jmp[0] = tail_b: N calls with sel 0 now run tail_b;
 *   3. jmp[1] deleted: N calls with sel 1 fall through;
 *   4. a thread calls tail_target(0, 1) without pause while jmp[0] goes
 *      from tail_b to tail_a; the loader waits for 1000 calls before and
 *      after the update. Prints whether every call ran exactly one of the
 *      two programs and both ran (the split itself depends on timing);
 *   5. jmp[2] = tail_loop, a program in no array before: once it runs,
 *      3 calls with sel 2 (tail_loop calls itself: 33 tail calls per run,
 *      then it falls through).
 * Before the first call the loader waits until tail_target's first byte
 * changed (the probe is in place).
 *
 *   agent_tail [N]   (default 1000)
 *
 * The same with the probed calls in another process (the traced process is
 * not the loader; its agent loads the programs the array names):
 *
 *   agent_tail target N DIR        waits for DIR/go1, calls sel 0 N times,
 *                                  sel 1 2N times, sel 3 N times, creates
 *                                  DIR/done1; waits for DIR/go2, calls sel
 *                                  0 N times, creates DIR/done2
 *   agent_tail loader N DIR PATH   attaches tail_entry to tail_target in
 *                                  PATH (every process), fills jmp,
 *                                  creates DIR/go1, waits for DIR/done1,
 *                                  prints "remote 1"; sets jmp[0] = tail_b,
 *                                  creates DIR/go2, waits for DIR/done2,
 *                                  prints "remote 2"
 * Each wait gives up after 60 s (exit 3).
 *
 *   agent_tail bench CALLS RUNS    per-hit cost (bench/tail_bench.sh): the
 *                                  median over RUNS of CALLS calls that tail-
 *                                  call into tail_a, and of CALLS calls whose
 *                                  slot is empty; prints "row <name> <ns>"
 */
#define _GNU_SOURCE
#include <errno.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/agent_tail.skel.h"

static volatile long sink;
static long calls_done;
static int stop;

__attribute__((noinline, optimize("no-omit-frame-pointer"))) long tail_target(long sel, long val)
{
	__asm__ volatile("" ::: "memory");
	return sel + val;
}

/*
 * A kernel uprobe writes an int3 over the first byte of the probed
 * function, bpftime a jmp: once it differs from what it was before the
 * attach, the probe is in place in this process (bpftime's attach reply
 * waits for the agents only up to 200 ms).
 */
static unsigned char first_byte(void)
{
	long (*volatile f)(long, long) = tail_target;

	return *(volatile const unsigned char *)(const void *)f;
}

static int wait_probed(unsigned char orig)
{
	for (int i = 0; first_byte() == orig; i++) {
		if (i > 12000)
			return -1;
		usleep(5000);
	}
	return 0;
}

static void *spinner(void *arg)
{
	(void)arg;
	while (!__atomic_load_n(&stop, __ATOMIC_ACQUIRE)) {
		sink += tail_target(0, 1);
		__atomic_add_fetch(&calls_done, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void wait_calls(long more)
{
	long until = __atomic_load_n(&calls_done, __ATOMIC_ACQUIRE) + more;

	while (__atomic_load_n(&calls_done, __ATOMIC_ACQUIRE) < until)
		usleep(1000);
}

static void report(const char *phase, const struct agent_tail *s)
{
	printf("%s: entries=%llu fallthrough=%llu a=%llu b=%llu sum_a=%llu sum_b=%llu loop=%llu loop_end=%llu\n",
	       phase, (unsigned long long)s->bss->entries, (unsigned long long)s->bss->fallthrough,
	       (unsigned long long)s->bss->runs_a, (unsigned long long)s->bss->runs_b,
	       (unsigned long long)s->bss->sum_a, (unsigned long long)s->bss->sum_b,
	       (unsigned long long)s->bss->runs_loop, (unsigned long long)s->bss->loop_end);
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static int set_slot(const struct agent_tail *s, unsigned int idx, const struct bpf_program *p)
{
	int fd = bpf_program__fd(p);

	if (bpf_map_update_elem(bpf_map__fd(s->maps.jmp), &idx, &fd, BPF_ANY)) {
		perror("prog array update");
		return -1;
	}
	return 0;
}

static int marker_wait(const char *dir, const char *name)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	for (int i = 0; access(path, F_OK); i++) {
		if (i > 12000)
			return -1;
		usleep(5000);
	}
	return 0;
}

static int marker_make(const char *dir, const char *name)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f)
		return -1;
	fclose(f);
	return 0;
}

static int target_main(long n, const char *dir)
{
	unsigned char orig = first_byte();

	printf("ready\n");
	fflush(stdout);
	if (marker_wait(dir, "go1") || wait_probed(orig))
		return 3;
	for (long i = 0; i < n; i++)
		sink += tail_target(0, i);
	for (long i = 0; i < 2 * n; i++)
		sink += tail_target(1, i);
	for (long i = 0; i < n; i++)
		sink += tail_target(3, i);
	if (marker_make(dir, "done1") || marker_wait(dir, "go2"))
		return 3;
	for (long i = 0; i < n; i++)
		sink += tail_target(0, 1);
	return marker_make(dir, "done2") ? 3 : 0;
}

static int loader_main(const char *dir, const char *path)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	struct agent_tail *s;

	s = agent_tail__open_and_load();
	if (!s) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	/* The slots first: the target's agent loads what they name before it patches. */
	if (set_slot(s, 0, s->progs.tail_a) || set_slot(s, 1, s->progs.tail_b))
		return 1;
	uo.func_name = "tail_target";
	s->links.tail_entry = bpf_program__attach_uprobe_opts(s->progs.tail_entry, -1, path, 0, &uo);
	if (!s->links.tail_entry) {
		fprintf(stderr, "attach failed\n");
		return 1;
	}
	if (marker_make(dir, "go1") || marker_wait(dir, "done1"))
		return 3;
	report("remote 1", s);
	if (set_slot(s, 0, s->progs.tail_b) || marker_make(dir, "go2") || marker_wait(dir, "done2"))
		return 3;
	report("remote 2", s);
	agent_tail__destroy(s);
	return 0;
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double per_call_median(long sel, long calls, int runs)
{
	double v[64];

	for (int r = 0; r < runs; r++) {
		double t0 = now_ns();

		for (long i = 0; i < calls; i++)
			sink += tail_target(sel, 1);
		v[r] = (now_ns() - t0) / (double)calls;
	}
	qsort(v, (size_t)runs, sizeof(v[0]), cmp_double);
	return runs % 2 ? v[runs / 2] : (v[runs / 2 - 1] + v[runs / 2]) / 2;
}

static int bench_main(long calls, int runs)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	struct agent_tail *s;
	unsigned char orig;

	if (runs < 1 || runs > 64 || calls < 1)
		return 2;
	s = agent_tail__open_and_load();
	if (!s || set_slot(s, 0, s->progs.tail_a))
		return 1;
	orig = first_byte();
	uo.func_name = "tail_target";
	s->links.tail_entry = bpf_program__attach_uprobe_opts(s->progs.tail_entry, 0, "/proc/self/exe", 0, &uo);
	if (!s->links.tail_entry || wait_probed(orig))
		return 1;
	printf("row tail-call %.1f\n", per_call_median(0, calls, runs));
	printf("row empty-slot %.1f\n", per_call_median(3, calls, runs));
	agent_tail__destroy(s);
	return 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	long n = argc > 1 ? atol(argv[1]) : 1000;
	unsigned long long a0, b0, e0, l0;
	struct agent_tail *s;
	unsigned char orig;
	unsigned int idx;
	pthread_t th;
	int fd;

	libbpf_set_print(quiet);
	if (argc > 3 && !strcmp(argv[1], "target"))
		return target_main(atol(argv[2]), argv[3]);
	if (argc > 4 && !strcmp(argv[1], "loader"))
		return loader_main(argv[3], argv[4]);
	if (argc > 3 && !strcmp(argv[1], "bench"))
		return bench_main(atol(argv[2]), atoi(argv[3]));
	s = agent_tail__open_and_load();
	if (!s) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	if (set_slot(s, 0, s->progs.tail_a) || set_slot(s, 1, s->progs.tail_b))
		return 1;
	orig = first_byte();
	uo.func_name = "tail_target";
	s->links.tail_entry = bpf_program__attach_uprobe_opts(s->progs.tail_entry, 0, "/proc/self/exe", 0, &uo);
	if (!s->links.tail_entry || wait_probed(orig)) {
		fprintf(stderr, "attach failed\n");
		return 1;
	}

	for (long i = 0; i < n; i++)
		sink += tail_target(0, i);
	for (long i = 0; i < 2 * n; i++)
		sink += tail_target(1, i);
	for (long i = 0; i < n; i++)
		sink += tail_target(3, i) + tail_target(7, i);
	report("phase 1", s);

	if (set_slot(s, 0, s->progs.tail_b))
		return 1;
	for (long i = 0; i < n; i++)
		sink += tail_target(0, 1);
	report("phase 2", s);

	idx = 1;
	if (bpf_map_delete_elem(bpf_map__fd(s->maps.jmp), &idx)) {
		perror("prog array delete");
		return 1;
	}
	for (long i = 0; i < n; i++)
		sink += tail_target(1, 1);
	report("phase 3", s);
	/* The kernel's answer for an empty slot (fd_array_map_delete_elem()). */
	printf("delete of an empty slot: %d\n", bpf_map_delete_elem(bpf_map__fd(s->maps.jmp), &idx) ? -errno : 0);
	fd = bpf_program__fd(s->progs.tail_a);
	idx = 4;
	printf("update past max_entries: %d\n",
	       bpf_map_update_elem(bpf_map__fd(s->maps.jmp), &idx, &fd, BPF_ANY) ? -errno : 0);
	idx = 3;
	printf("update with a map fd: %d\n",
	       bpf_map_update_elem(bpf_map__fd(s->maps.jmp), &idx, &(int){ bpf_map__fd(s->maps.jmp) }, BPF_ANY) ? -errno : 0);
	printf("update with BPF_NOEXIST: %d\n",
	       bpf_map_update_elem(bpf_map__fd(s->maps.jmp), &idx, &fd, BPF_NOEXIST) ? -errno : 0);

	a0 = s->bss->runs_a;
	b0 = s->bss->runs_b;
	e0 = s->bss->entries;
	pthread_create(&th, NULL, spinner, NULL);
	wait_calls(1000);
	if (set_slot(s, 0, s->progs.tail_a))
		return 1;
	wait_calls(1000);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	printf("phase 4: every call ran one program: %s; tail_b ran before the update: %s; tail_a after: %s\n",
	       s->bss->entries - e0 == (unsigned long long)calls_done &&
			       (s->bss->runs_a - a0) + (s->bss->runs_b - b0) == (unsigned long long)calls_done
		       ? "yes"
		       : "no",
	       s->bss->runs_b - b0 >= 1000 ? "yes" : "no", s->bss->runs_a - a0 >= 1000 ? "yes" : "no");

	/*
	 * A program that was in no prog array before (so loaded nowhere yet).
	 * The kernel runs it from the next call on; a traced process loads it
	 * at the rescan that the update's reply waits for, but that wait is
	 * bounded (200 ms), so under heavy load a first call may still fall
	 * through: call until it runs (60 s at most), then count 3 calls.
	 */
	if (set_slot(s, 2, s->progs.tail_loop))
		return 1;
	for (int i = 0; !s->bss->runs_loop && i < 60000; i++) {
		sink += tail_target(2, 0);
		if (!s->bss->runs_loop)
			usleep(1000);
	}
	l0 = s->bss->runs_loop;
	e0 = s->bss->loop_end;
	for (long i = 0; i < 3; i++)
		sink += tail_target(2, 0);
	printf("phase 5: a program entered after attach ran: %s; 3 more calls: loop=%llu loop_end=%llu\n",
	       l0 ? "yes" : "no", s->bss->runs_loop - l0, s->bss->loop_end - e0);
	agent_tail__destroy(s);
	return 0;
}
