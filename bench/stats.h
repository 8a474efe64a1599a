/*
 * stats.h - the one statistic the host-side benchmarks print: the median of
 * several runs (this VM is noisy; a median ignores the runs that a neighbour
 * disturbed, where a mean would not).
 */
#ifndef BENCH_STATS_H
#define BENCH_STATS_H

#include <stdlib.h>

static inline int bench_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/** Sorts @v in place and returns its median (the mean of the middle two for even @n). */
static inline double bench_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), bench_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif /* BENCH_STATS_H */
