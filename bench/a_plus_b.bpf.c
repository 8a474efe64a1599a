/* a_plus_b: the smallest useful program; measures the cost of one run. */
#include "bench/bench.h"

SEC("socket")
int a_plus_b(void *ctx)
{
	__u64 a = 40, b = 2;

	OPAQUE(a);
	OPAQUE(b);
	return a + b;
}

char LICENSE[] SEC("license") = "GPL";
