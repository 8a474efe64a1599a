/*
 * agent_bench.c - what a traced program pays for real BPF programs on its
 * uprobes and syscall tracepoints, through the kernel's API only.
 *
 * The same binary runs twice (bench/agent_bench.sh): natively as root, so the
 * kernel's uprobes and tracepoints run the programs, and unprivileged under
 * bpftime-run, so the same bpf()/perf_event_open()/ioctl() calls are answered
 * by bpftime and the programs run in this process through the preloaded agent.
 * It attaches to its own functions, like bench/hook_bench's kernel side: the
 * uprobe PMU with config1 = our path and config2 = the file offset,
 * BPF_PROG_TYPE_KPROBE programs, PERF_EVENT_IOC_SET_BPF + ENABLE.
 *
 * Modes (each prints "row <name> <ns>" lines, medians of RUNS repetitions):
 *   probes RUNS   per-hit cost of an empty uprobe, a uprobe counting into an
 *                 ARRAY map (lookup + atomic add), an empty uretprobe, the
 *                 counter in a PERCPU_ARRAY (pcount), on three
 *                 kinds of entry (tests/hooks_targets.S: nop5, push %rbp, mov
 *                 which the kernel single-steps); per hit = the probed
 *                 function against its unprobed twin in alternating batches
 *                 (bench/timing.h bench_time_hit());
 *   sys RUNS      getpid(): untraced with no tracepoint at all, untraced while
 *                 a tracepoint on another syscall is attached (the interception
 *                 is installed), and traced by a counting sys_enter_getpid
 *                 TRACEPOINT program; costs are per call, base subtracted;
 *   startup RUNS  fork + exec of this binary to main() and exit, with the
 *                 environment as given (under bpftime-run: the agent is
 *                 preloaded) and with LD_PRELOAD/BPFTIME_* removed.
 */
#define _GNU_SOURCE
#include "config.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <link.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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

struct kind {
	const char *name;
	void *fn;
	target_fn call;
	target_fn twin; /* an unprobed copy (bench/timing.h) */
	long warmup; /* untimed calls after each attach: fewer where the kernel single-steps */
};

static const struct kind kinds[] = {
	{ "nop5", (void *)t_nop5, t_nop5, t_nop5_twin, 20000 },
	{ "push", (void *)t_push, call_push, call_push_twin, 20000 },
	{ "mov1step", (void *)t_mov, t_mov, t_mov_twin, 2000 },
};

/* pcount: the same counter in a PERCPU_ARRAY, as bpftrace's count() (the
 * agent then runs it under a per-CPU run lock, hooks/agent_prog.c). */
enum body { B_EMPTY, B_COUNT, B_RET, B_PCOUNT, B_NR };
static const char *const body_names[] = { "empty", "count", "ret", "pcount" };

static char exe_path[4096];
static int prog_fds[B_NR];
static int tp_prog_fd = -1;
static int count_map_fd = -1;
static int pcount_map_fd = -1;

/* Wall time of each timed loop (bench/timing.h); AGENT_BENCH_MS overrides. */
static uint64_t min_ns = 40000000;

static double time_calls(target_fn fn, long warmup)
{
	return bench_time_calls(fn, warmup, min_ns);
}

static long do_getpid(long a)
{
	(void)a;
	return syscall(SYS_getpid);
}

static int load_progs(void)
{
	count_map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "ab_count", 4, 8, 1, NULL);
	if (count_map_fd < 0)
		return count_map_fd;
	prog_fds[B_EMPTY] = kup_load_empty(BPF_PROG_TYPE_KPROBE, "ab_empty");
	prog_fds[B_RET] = prog_fds[B_EMPTY];
	prog_fds[B_COUNT] = kup_load_count(BPF_PROG_TYPE_KPROBE, "ab_count", count_map_fd);
	pcount_map_fd = bpf_map_create(BPF_MAP_TYPE_PERCPU_ARRAY, "ab_pcount", 4, 8, 1, NULL);
	prog_fds[B_PCOUNT] = pcount_map_fd < 0 ? pcount_map_fd
					       : kup_load_count(BPF_PROG_TYPE_KPROBE, "ab_pcount", pcount_map_fd);
	tp_prog_fd = kup_load_count(BPF_PROG_TYPE_TRACEPOINT, "ab_tp_count", count_map_fd);
	if (prog_fds[B_EMPTY] < 0 || prog_fds[B_COUNT] < 0 || prog_fds[B_PCOUNT] < 0 || tp_prog_fd < 0)
		return -1;
	return 0;
}

static int uprobe_attach(const struct kind *k, enum body b)
{
	struct perf_event_attr attr;
	uint64_t off;

	if (kup_file_offset((const void *)k->fn, &off) ||
	    kup_uprobe_attr(exe_path, off, b == B_RET, &attr))
		return -ENOENT;
	return kup_perf_attach(&attr, -1, 0, prog_fds[b]);
}

static int tp_attach(const char *event)
{
	struct perf_event_attr attr;
	char path[256];
	int id;

	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/syscalls/%s/id", event);
	if (kup_read_int(path, NULL, &id))
		return -ENOENT;
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (uint64_t)id;
	attr.sample_period = 1;
	return kup_perf_attach(&attr, -1, 0, tp_prog_fd);
}

static void mode_probes(int runs)
{
	for (size_t ki = 0; ki < sizeof(kinds) / sizeof(kinds[0]); ki++) {
		for (int b = 0; b < B_NR; b++) {
			double v[64];
			int n = 0;

			for (int r = 0; r < runs; r++) {
				int fd = uprobe_attach(&kinds[ki], b);

				if (fd < 0) {
					fprintf(stderr, "agent_bench: attach %s/%s: %s\n", kinds[ki].name,
						body_names[b], strerror(-fd));
					break;
				}
				v[n++] = bench_time_hit(kinds[ki].call, kinds[ki].twin, kinds[ki].warmup, min_ns);
				close(fd);
			}
			if (n)
				printf("row %s/%s %.2f\n", kinds[ki].name, body_names[b], bench_median(v, n));
		}
	}
}

static void mode_sys(int runs)
{
	const long warmup = 20000;
	double none[64], untraced[64], traced[64];
	int n = 0;

	for (int r = 0; r < runs; r++) {
		double base = time_calls(do_getpid, warmup);
		int other = tp_attach("sys_enter_getppid"), fd;

		if (other < 0) {
			fprintf(stderr, "agent_bench: tracepoint sys_enter_getppid: %s\n", strerror(-other));
			return;
		}
		untraced[n] = time_calls(do_getpid, warmup) - base;
		fd = tp_attach("sys_enter_getpid");
		if (fd < 0) {
			fprintf(stderr, "agent_bench: tracepoint sys_enter_getpid: %s\n", strerror(-fd));
			close(other);
			return;
		}
		traced[n] = time_calls(do_getpid, warmup) - base;
		close(fd);
		close(other);
		none[n++] = base;
	}
	printf("row getpid/base %.2f\n", bench_median(none, n));
	printf("row getpid/untraced %.2f\n", bench_median(untraced, n));
	printf("row getpid/traced %.2f\n", bench_median(traced, n));
}

static double spawn_ns(char **envp, int n)
{
	char *argv[] = { exe_path, (char *)"exit", NULL };
	uint64_t t0 = bench_now_ns();

	for (int i = 0; i < n; i++) {
		pid_t p = fork();

		if (p == 0) {
			execve(exe_path, argv, envp);
			_exit(127);
		}
		waitpid(p, NULL, 0);
	}
	return (double)(bench_now_ns() - t0) / n / 1000.0;
}

extern char **environ;

static void mode_startup(int runs)
{
	char *clean[512];
	double with[64], without[64];
	int k = 0;

	for (char **e = environ; *e && k < 511; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) && strncmp(*e, "BPFTIME_", 8))
			clean[k++] = *e;
	clean[k] = NULL;
	for (int r = 0; r < runs; r++) {
		with[r] = spawn_ns(environ, 50);
		without[r] = spawn_ns(clean, 50);
	}
	printf("row startup/env-us %.1f\n", bench_median(with, runs));
	printf("row startup/clean-us %.1f\n", bench_median(without, runs));
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[2]) : 5;
	ssize_t n;

	if (argc > 1 && !strcmp(argv[1], "exit"))
		return 0;
	if (runs < 1 || runs > 64)
		runs = 5;
	if (getenv("AGENT_BENCH_MS") && atoi(getenv("AGENT_BENCH_MS")) > 0)
		min_ns = (uint64_t)atoi(getenv("AGENT_BENCH_MS")) * 1000000ULL;
	n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	if (n < 0)
		return 1;
	exe_path[n] = 0;
	if (argc > 1 && !strcmp(argv[1], "startup")) {
		mode_startup(runs);
		return 0;
	}
	if (load_progs()) {
		fprintf(stderr, "agent_bench: cannot load BPF programs: %s\n", strerror(errno));
		return 1;
	}
	if (argc > 1 && !strcmp(argv[1], "sys"))
		mode_sys(runs);
	else
		mode_probes(runs);
	return 0;
}
