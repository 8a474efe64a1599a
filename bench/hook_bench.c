/*
 * hook_bench.c - per-hit cost of the in-process probe engine (hooks/) against
 * the kernel's uprobes, on the same binary and the same functions, in one run.
 *
 * Three probe bodies: an empty handler, a handler that counts into a shared
 * array with an atomic add, and an empty uretprobe. Three kinds of function
 * entry (tests/hooks_targets.S), because the kernel's cost depends on it: a
 * 5-byte nop (t_nop5), push %rbp (t_push, emulated by the kernel) and mov (t_mov,
 * which the kernel single-steps out of line). Plus two USDT-style sites (a
 * 1-byte nop inside a function, tests/hooks_targets.S) of the same shape:
 * t_usdt_jmp_site, which nothing branches into (hooks/site_check.c gives it a
 * jmp), and t_usdt_site, whose next byte is a branch target (an int3, every
 * hit through our SIGTRAP handler); the kernel emulates the nop on both.
 * Return probes make no sense in a function's middle: not measured there.
 *
 * The kernel side is what bpftrace/libbpf do: perf_event_open() on the uprobe
 * PMU (type from /sys/bus/event_source/devices/uprobe/type, config1 = path,
 * config2 = file offset, the retprobe bit from .../format/retprobe), a
 * BPF_PROG_TYPE_KPROBE program loaded with bpf_prog_load() ("r0 = 0; exit", or
 * an atomic add into an array map), PERF_EVENT_IOC_SET_BPF. It needs root; if
 * it fails the kernel column says why.
 *
 * Per hit = time per call of the probed function - that of its unprobed
 * twin, in alternating batches (bench/timing.h), and we print the median of
 * several runs. Usage: hook_bench [runs (default 5)] [ours]
 * ("ours" skips the kernel side).
 */
#include "config.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <link.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "hooks/hooks.h"
#include "hooks/xstate.h"
#include "tests/hooks_targets.h"
#include "bench/kuprobe.h"
#include "bench/stats.h"
#include "bench/timing.h"

typedef bench_target_fn target_fn;

static long call_push(long a)
{
	return t_push(a, 1);
}

static long call_push_twin(long a)
{
	return t_push_twin(a, 1);
}

/* Even arguments: every call passes the probed nop. */
static long call_usdt_jmp(long a)
{
	return t_usdt_jmp(a & ~1L);
}

static long call_usdt_jmp_twin(long a)
{
	return t_usdt_jmp_twin(a & ~1L);
}

static long call_usdt_int3(long a)
{
	return t_usdt(a & ~1L);
}

static long call_usdt_int3_twin(long a)
{
	return t_usdt_twin(a & ~1L);
}

struct kind {
	const char *name;
	void *fn;	    /* probed address */
	target_fn call;	    /* how to call it */
	target_fn twin;	    /* an unprobed copy (bench/timing.h) */
	long kernel_warmup; /* untimed calls after a kernel attach (slow) */
	bool mid;	    /* not a function entry: no uretprobe */
};

static const struct kind kinds[] = {
	{ "nop5", (void *)t_nop5, t_nop5, t_nop5_twin, 20000, false },
	{ "push %rbp", (void *)t_push, call_push, call_push_twin, 20000, false },
	{ "mov (1-step)", (void *)t_mov, t_mov, t_mov_twin, 2000, false },
	{ "usdt nop, jmp", (void *)t_usdt_jmp_site, call_usdt_jmp, call_usdt_jmp_twin, 20000, true },
	{ "usdt nop, int3", (void *)t_usdt_site, call_usdt_int3, call_usdt_int3_twin, 20000, true },
};

enum body { B_EMPTY, B_COUNT, B_RET, B_NR };
static const char *const body_names[] = { "empty uprobe", "count (atomic)", "empty uretprobe" };

/* Wall time of each timed loop (bench/timing.h). */
#define MIN_NS 40000000ULL

static uint64_t shared_counts[64];

/* Built and attached vector-clean (HOOK_UPROBE_VEC_CLEAN), as the agent's
 * handler is: the hit then saves no vector register. */
HOOK_VEC_CLEAN_BEGIN
static void empty_fn(struct pt_regs *regs, void *data)
{
}

static void count_fn(struct pt_regs *regs, void *data)
{
	__atomic_fetch_add(&shared_counts[0], 1, __ATOMIC_RELAXED);
}
HOOK_VEC_CLEAN_END

/* ---- our engine ---- */

static double ours_once(const struct kind *k, enum body b)
{
	struct hook_probe *p = NULL;
	double with;
	int err;

	struct hook_uprobe_opts opts = { .sz = sizeof(opts), .flags = HOOK_UPROBE_VEC_CLEAN };

	err = hook_uprobe_attach(k->fn, b == B_RET ? HOOK_URETPROBE : HOOK_UPROBE,
				 b == B_COUNT ? count_fn : empty_fn, NULL, &opts, &p);
	if (err) {
		fprintf(stderr, "hook_bench: attach %s: %s\n", k->name, strerror(-err));
		return -1;
	}
	with = bench_time_hit(k->call, k->twin, 20000, MIN_NS);
	hook_uprobe_detach(p);
	return with;
}

/* ---- the kernel ---- */

static int prog_fds[B_NR];
static int count_map_fd = -1;
static char exe_path[4096];
static const char *kernel_why;

static int load_progs(void)
{
	count_map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hb_count", 4, 8, 1, NULL);
	if (count_map_fd < 0)
		return count_map_fd;
	prog_fds[B_EMPTY] = kup_load_empty(BPF_PROG_TYPE_KPROBE, "hb_empty");
	if (prog_fds[B_EMPTY] < 0)
		return prog_fds[B_EMPTY];
	prog_fds[B_RET] = prog_fds[B_EMPTY];
	prog_fds[B_COUNT] = kup_load_count(BPF_PROG_TYPE_KPROBE, "hb_count", count_map_fd);
	return prog_fds[B_COUNT] < 0 ? prog_fds[B_COUNT] : 0;
}

static int kernel_attach(const struct kind *k, enum body b)
{
	struct perf_event_attr attr;
	uint64_t off;

	if (kup_file_offset((const void *)k->fn, &off) ||
	    kup_uprobe_attr(exe_path, off, b == B_RET, &attr))
		return -ENOENT;
	attr.wakeup_events = 1;
	return kup_perf_attach(&attr, 0 /* this process */, -1, prog_fds[b]);
}

static double kernel_once(const struct kind *k, enum body b)
{
	double with;
	int fd;

	fd = kernel_attach(k, b);
	if (fd < 0) {
		kernel_why = strerror(-fd);
		return -1;
	}
	with = bench_time_hit(k->call, k->twin, k->kernel_warmup, MIN_NS);
	close(fd);
	return with;
}

int main(int argc, char **argv)
{
	int runs = argc > 1 ? atoi(argv[1]) : 5;
	ssize_t n;
	int kernel_ok;

	if (runs < 1 || runs > 99)
		runs = 5;
	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	if (n < 0) {
		perror("readlink /proc/self/exe");
		return 1;
	}
	exe_path[n] = 0;
	if (argc > 2 && !strcmp(argv[2], "ours")) {
		kernel_ok = 0;
		kernel_why = "skipped (\"ours\" given)";
	} else {
		kernel_ok = load_progs() == 0;
		if (!kernel_ok)
			kernel_why = "cannot load BPF programs (run as root)";
	}

	printf("hook_bench: per-hit cost in ns, median of %d runs (kernel: BPF kprobe-type prog on the uprobe PMU)\n\n",
	       runs);
	printf("%-15s %-17s %12s %12s %10s\n", "entry", "probe", "kernel ns", "bpftime ns", "ratio");
	for (size_t ki = 0; ki < sizeof(kinds) / sizeof(kinds[0]); ki++) {
		for (int b = 0; b < B_NR; b++) {
			double ours[99], kern[99], mo, mk = -1;
			int kn = 0;

			if (kinds[ki].mid && b == B_RET)
				continue;
			for (int r = 0; r < runs; r++) {
				ours[r] = ours_once(&kinds[ki], b);
				if (kernel_ok) {
					double v = kernel_once(&kinds[ki], b);

					if (v >= 0)
						kern[kn++] = v;
				}
			}
			mo = bench_median(ours, runs);
			if (kn)
				mk = bench_median(kern, kn);
			if (mk >= 0)
				printf("%-15s %-17s %12.1f %12.2f %9.1fx\n", kinds[ki].name,
				       body_names[b], mk, mo, mo > 0 ? mk / mo : 0.0);
			else
				printf("%-15s %-17s %12s %12.2f %10s\n", kinds[ki].name,
				       body_names[b], "n/a", mo, "-");
		}
	}
	if (kernel_why)
		printf("\nkernel side unavailable: %s\n", kernel_why);
	return 0;
}
