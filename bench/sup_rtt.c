/*
 * sup_rtt.c - round trip of one bpf(BPF_MAP_LOOKUP_ELEM) call: run it under
 * bpftime-run to time the emulated call (seccomp notification, supervisor,
 * reply), or as root without it to time the kernel's own syscall.
 * bench/sup_bench.sh runs both and prints the ratio.
 *
 * Prints: "<median ns> <p90 ns>" over ITER calls after a warm-up.
 * An optional argument repeats the whole measurement that many times (for
 * attaching a profiler: `perf record -g -p <bpftime-run pid>`).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ITER 20000

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static uint64_t now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 1;
	static uint64_t t[ITER];
	union bpf_attr a;
	uint32_t key = 0;
	uint64_t val = 0;
	long fd;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_ARRAY;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 1;
	fd = sys_bpf(BPF_MAP_CREATE, &a);
	if (fd < 0) {
		fprintf(stderr, "sup_rtt: MAP_CREATE: %s\n", strerror(errno));
		return 1;
	}
again:
	for (int i = -1000; i < ITER; i++) {
		uint64_t t0;

		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)fd;
		a.key = (uintptr_t)&key;
		a.value = (uintptr_t)&val;
		t0 = now();
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a) < 0) {
			fprintf(stderr, "sup_rtt: MAP_LOOKUP_ELEM: %s\n", strerror(errno));
			return 1;
		}
		if (i >= 0)
			t[i] = now() - t0;
	}
	qsort(t, ITER, sizeof(t[0]), cmp);
	printf("%llu %llu\n", (unsigned long long)t[ITER / 2], (unsigned long long)t[ITER * 9 / 10]);
	if (--rounds > 0)
		goto again;
	return 0;
}
