/*
 * poll_bench.c - what the agent's poll() interposer (hooks/agent_poll.c)
 * costs a poll() call: N calls of poll({pipe}, 1, 0) on an empty pipe, and,
 * with "rings", the same after opening one BPF output perf ring (so the
 * session holds a ring and every fd costs an fstat), then N calls of
 * poll({ring}, 1, 0). Prints "<case> <ns per call>". bench/poll_bench.sh runs
 * it natively and under bpftime-run and prints the ratios.
 */
#define _GNU_SOURCE
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double ns_per_call(struct pollfd *p, long n)
{
	struct timespec a, b;

	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++)
		if (poll(p, 1, 0) < 0)
			return -1;
	clock_gettime(CLOCK_MONOTONIC, &b);
	return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	struct perf_event_attr pa;
	struct pollfd p;
	int pp[2], fd;

	if (pipe(pp) < 0)
		return 1;
	p = (struct pollfd){ .fd = pp[0], .events = POLLIN };
	printf("pipe_no_rings %.0f\n", ns_per_call(&p, n));
	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_SOFTWARE;
	pa.size = sizeof(pa);
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pa.sample_type = PERF_SAMPLE_RAW;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	fd = (int)syscall(SYS_perf_event_open, &pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0 || mmap(NULL, 9 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED) {
		perror("perf ring");
		return 1;
	}
	printf("pipe_rings_exist %.0f\n", ns_per_call(&p, n));
	p.fd = fd;
	printf("empty_ring %.0f\n", ns_per_call(&p, n));
	return 0;
}
