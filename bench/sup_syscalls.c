/*
 * sup_syscalls.c - syscalls bpftime-run must NOT slow down: the filter lets
 * them through in the kernel, with no notification. Two loops:
 *   write   - 1-byte write(2) to /dev/null, ITER times;
 *   epoll   - a ping-pong over a pipe watched by epoll: write, epoll_wait,
 *             read (the epoll fd's own sockets/pipes; EPOLL_CTL_ADD happens
 *             once, before the loop);
 *   ioctl   - FIONREAD on the pipe (an ioctl the filter tells apart from
 *             the perf ioctls by its request number).
 * Prints "<write ns/op> <epoll ns/op> <ioctl ns/op>", each the median of 5
 * rounds. bench/sup_bench.sh runs it with and without bpftime-run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define ITER 200000
#define ROUNDS 5

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(void)
{
	double w[ROUNDS], e[ROUNDS], io[ROUNDS];
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC), p[2], ep, n;
	struct epoll_event ev = { .events = EPOLLIN }, out;
	char c = 'x';

	if (null < 0 || pipe(p) < 0 || (ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return 1;
	ev.data.fd = p[0];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev) < 0)
		return 1;
	for (int r = 0; r < ROUNDS; r++) {
		uint64_t t0 = now();

		for (int i = 0; i < ITER; i++)
			if (write(null, &c, 1) != 1)
				return 1;
		w[r] = (double)(now() - t0) / ITER;
		t0 = now();
		for (int i = 0; i < ITER / 4; i++) {
			if (write(p[1], &c, 1) != 1 || epoll_wait(ep, &out, 1, -1) != 1 || read(p[0], &c, 1) != 1)
				return 1;
		}
		e[r] = (double)(now() - t0) / (ITER / 4);
		t0 = now();
		for (int i = 0; i < ITER; i++)
			if (ioctl(p[0], FIONREAD, &n) < 0)
				return 1;
		io[r] = (double)(now() - t0) / ITER;
	}
	qsort(w, ROUNDS, sizeof(w[0]), cmp);
	qsort(e, ROUNDS, sizeof(e[0]), cmp);
	qsort(io, ROUNDS, sizeof(io[0]), cmp);
	printf("%.1f %.1f %.1f\n", w[ROUNDS / 2], e[ROUNDS / 2], io[ROUNDS / 2]);
	return 0;
}
