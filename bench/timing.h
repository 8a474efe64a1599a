/*
 * timing.h - how the uprobe benchmarks (bench/hook_bench, bench/agent_bench)
 * time a probed function: ns per call over a loop long enough to drown the
 * clock's resolution, a preemption or a frequency step on this shared VM.
 *
 * The loop runs in doubling batches until at least @min_ns have passed, so
 * a 2 ns call and a 12 µs single-stepped kernel uprobe are both measured
 * over the same wall time. A warm-up batch runs first and is not timed:
 * the first hits after an attach pay one-time costs (the trampoline page
 * and the handler's stack pages faulted in, per-thread registration, cold
 * caches and branch predictors) that are not the per-hit cost we report.
 */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H

#include <stdint.h>
#include <time.h>

#include "bench/stats.h"

typedef long (*bench_target_fn)(long);

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/** ns per call of @fn: @warmup untimed calls, then batches until @min_ns have elapsed. */
static inline double bench_time_calls(bench_target_fn volatile fn, long warmup, uint64_t min_ns)
{
	uint64_t t0, dt;
	long sink = 0, n = 0, batch = 256;

	for (long i = 0; i < warmup; i++)
		sink += fn(i);
	t0 = bench_now_ns();
	do {
		for (long i = 0; i < batch; i++)
			sink += fn(i);
		n += batch;
		dt = bench_now_ns() - t0;
		if (batch < (1L << 20))
			batch *= 2;
	} while (dt < min_ns);
	__asm__ volatile("" : : "r"(sink));
	return (double)dt / (double)n;
}

/*
 * Per-hit cost of a probe on @probed: its time per call minus that of
 * @twin, an unprobed byte-for-byte copy (tests/hooks_targets.S), measured
 * in alternating batches of about 20 µs each until @min_ns have passed; the
 * median over batch pairs. A neighbour's burst of load, a preemption or a
 * frequency change then lands in one pair, and the median ignores it,
 * where timing the two sides one after the other (before and after the
 * attach) moved the difference by tens of percent on this shared VM.
 */
static inline double bench_time_hit(bench_target_fn volatile probed, bench_target_fn volatile twin,
				    long warmup, uint64_t min_ns)
{
	static double diff[4096];
	uint64_t t0, t1, t2, start;
	long sink = 0, batch = 16;
	int n = 0;

	for (long i = 0; i < warmup; i++)
		sink += probed(i) + twin(i);
	/* Grow the batch until one probed batch takes >= 20 µs. */
	for (;;) {
		t0 = bench_now_ns();
		for (long i = 0; i < batch; i++)
			sink += probed(i);
		if (bench_now_ns() - t0 >= 20000 || batch >= (1L << 20))
			break;
		batch *= 2;
	}
	start = bench_now_ns();
	do {
		t0 = bench_now_ns();
		for (long i = 0; i < batch; i++)
			sink += probed(i);
		t1 = bench_now_ns();
		for (long i = 0; i < batch; i++)
			sink += twin(i);
		t2 = bench_now_ns();
		diff[n++] = ((double)(t1 - t0) - (double)(t2 - t1)) / (double)batch;
	} while (n < (int)(sizeof(diff) / sizeof(diff[0])) && t2 - start < min_ns);
	__asm__ volatile("" : : "r"(sink));
	return bench_median(diff, n);
}

#endif /* BENCH_TIMING_H */
