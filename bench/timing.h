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

#endif /* BENCH_TIMING_H */
