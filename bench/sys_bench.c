/*
 * sys_bench.c - what a syscall tracepoint costs: bpftime's in-process
 * rewriting (hooks/syscall_*.c) against the kernel's tracepoint, side by side
 * in one run. Not part of make check; see bench/README-syscalls.md.
 *
 * Every measurement runs in its own forked child (rewriting cannot be undone
 * within a process) that does `loops` getpid() calls. The modes are
 * interleaved, RUNS rounds of all modes, so load changes on a shared
 * machine hit every mode alike; we print the median ns per call, the ratio
 * to the plain syscall and the number of events counted.
 *   plain            no interception installed
 *   hooks-untraced   rewriting installed, getpid not traced (one flag test)
 *   hooks-enter      getpid traced, counting enter handler
 *   hooks-enter+exit getpid traced, counting enter and exit handlers
 *   kernel-tp-noprog tracepoint syscalls:sys_enter_getpid enabled by a
 *                    counting perf event (sample_period 0, like perf stat),
 *                    no BPF program (root only)
 *   kernel-tp-bpf    counting BPF program on syscalls:sys_enter_getpid,
 *                    attached like bcc/bpftrace (root only)
 * The kernel modes need root and tracefs; tracefs is mounted in a private
 * mount namespace so the host's mounts are left as they were.
 */
#include "config.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks/syscall.h"

#define RUNS 11

static long loops = 300000;
static volatile long *counter; /* shared with the children: events of the last one */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double run_loop(void)
{
	uint64_t t0;
	long i;

	t0 = now_ns();
	for (i = 0; i < loops; i++)
		getpid();
	return (double)(now_ns() - t0) / (double)loops;
}

static int count_enter(long nr, unsigned long args[6], long *ret, void *ctx)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
	return HOOK_SYS_RUN;
}

static void count_exit(long nr, long *ret, void *ctx)
{
	__atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
}

static int tracefs_id(const char *event, int *id)
{
	char path[256], buf[32];
	int fd;
	ssize_t n;

	if (access("/sys/kernel/tracing/events", F_OK)) {
		if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) ||
		    mount("nodev", "/sys/kernel/tracing", "tracefs", 0, NULL))
			return -errno;
	}
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/%s/id", event);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -EIO;
	buf[n] = '\0';
	*id = atoi(buf);
	return 0;
}

/* r1 = &map[0]; (*r0)++ atomically: the smallest "count" program, as bpftrace's @c = count(). */
static int load_count_prog(int map_fd)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = BPF_REG_10, .off = -4, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = BPF_REG_2, .src_reg = BPF_REG_10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = BPF_REG_2, .imm = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = BPF_REG_1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = BPF_REG_0, .off = 2, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = BPF_REG_0, .src_reg = BPF_REG_1, .imm = BPF_ADD },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = BPF_REG_0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "sys_bench_cnt", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
}

/* @sample: 1 as bcc/bpftrace open it for a BPF program, 0 for a pure counter. */
static int perf_tp_open(int id, int sample)
{
	struct perf_event_attr attr = {
		.type = PERF_TYPE_TRACEPOINT,
		.size = sizeof(attr),
		.config = (uint64_t)id,
		.sample_period = (uint64_t)sample,
		.wakeup_events = (uint32_t)sample,
	};

	return (int)syscall(SYS_perf_event_open, &attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
}

enum mode { PLAIN, HOOKS_UNTRACED, HOOKS_ENTER, HOOKS_BOTH, KERNEL_NOPROG, KERNEL_BPF, MODE_CNT };
static const char *mode_name[] = { "plain", "hooks-untraced", "hooks-enter", "hooks-enter+exit",
				   "kernel-tp-noprog", "kernel-tp-bpf" };

/* Child: set the mode up, measure, write the median to @fd. Returns a status for _exit. */
static int child_run(enum mode m, int fd)
{
	double med;
	int id = 0, map_fd = -1, prog_fd = -1, pfd = -1, err;
	uint32_t key = 0;
	uint64_t val = 0, val0 = 0;
	long i;

	switch (m) {
	case PLAIN:
		break;
	case HOOKS_UNTRACED:
	case HOOKS_ENTER:
	case HOOKS_BOTH:
		if (hook_syscalls_install() <= 0)
			return 2;
		hook_syscalls_set_handler(count_enter, count_exit, NULL);
		if (m != HOOKS_UNTRACED)
			hook_syscalls_enable_mask(SYS_getpid, m == HOOKS_BOTH ? HOOK_SYS_ENTER | HOOK_SYS_EXIT
									      : HOOK_SYS_ENTER);
		break;
	case KERNEL_NOPROG:
	case KERNEL_BPF:
		err = tracefs_id("syscalls/sys_enter_getpid", &id);
		if (err)
			return 3;
		pfd = perf_tp_open(id, m == KERNEL_BPF);
		if (pfd < 0)
			return 4;
		if (m == KERNEL_BPF) {
			map_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "sys_bench", 4, 8, 1, NULL);
			prog_fd = map_fd < 0 ? -1 : load_count_prog(map_fd);
			if (prog_fd < 0 || ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog_fd))
				return 5;
		}
		if (ioctl(pfd, PERF_EVENT_IOC_ENABLE, 0))
			return 6;
		break;
	default:
		return 1;
	}
	for (i = 0; i < loops / 10; i++) /* warm up */
		getpid();
	*counter = 0;
	if (m == KERNEL_BPF)
		bpf_map_lookup_elem(map_fd, &key, &val0);
	med = run_loop();
	if (m == KERNEL_BPF) {
		bpf_map_lookup_elem(map_fd, &key, &val);
		*counter = (long)(val - val0);
	}
	if (write(fd, &med, sizeof(med)) != sizeof(med))
		return 7;
	return 0;
}

/* One measurement of mode @m in a fresh child; -1 if it could not run. */
static double measure(enum mode m, long *events, int *status)
{
	double v = -1;
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		_exit(child_run(m, p[1]));
	}
	close(p[1]);
	if (read(p[0], &v, sizeof(v)) != sizeof(v))
		v = -1;
	close(p[0]);
	waitpid(pid, status, 0);
	*events = *counter;
	return v;
}

int main(int argc, char **argv)
{
	static double v[MODE_CNT][RUNS];
	double res[MODE_CNT];
	long events[MODE_CNT];
	int status[MODE_CNT];
	int m, r;

	if (argc > 1)
		loops = atol(argv[1]);
	counter = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (counter == MAP_FAILED)
		return 1;
	for (r = 0; r < RUNS; r++)
		for (m = 0; m < MODE_CNT; m++)
			v[m][r] = measure((enum mode)m, &events[m], &status[m]);
	for (m = 0; m < MODE_CNT; m++) {
		qsort(v[m], RUNS, sizeof(v[m][0]), cmp_d);
		res[m] = v[m][0] < 0 ? -1 : v[m][RUNS / 2];
		if (res[m] < 0)
			fprintf(stderr, "%s: not measured (child status %d%s)\n", mode_name[m],
				WEXITSTATUS(status[m]),
				m >= KERNEL_NOPROG ? ", needs root and tracefs" : "");
	}
	printf("getpid() cost, median of %d interleaved runs x %ld calls (ns/call)\n", RUNS, loops);
	printf("%-18s %10s %12s %14s %10s\n", "mode", "ns/call", "vs plain", "added ns", "events");
	for (m = 0; m < MODE_CNT; m++) {
		if (res[m] < 0)
			continue;
		printf("%-18s %10.1f %11.2fx %14.1f %10ld\n", mode_name[m], res[m], res[m] / res[PLAIN],
		       res[m] - res[PLAIN], events[m]);
	}
	if (res[HOOKS_ENTER] > 0 && res[KERNEL_BPF] > 0)
		printf("added cost of a traced getpid, kernel-tp-bpf / hooks-enter = %.2fx\n",
		       (res[KERNEL_BPF] - res[PLAIN]) / (res[HOOKS_ENTER] - res[PLAIN]));
	return 0;
}
