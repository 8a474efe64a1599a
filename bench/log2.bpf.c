/* log2: integer log2 of 64 pseudo-random values by shifting (shifts, compares,
 * tight loops). */
#include "bench/bench.h"

#define N 48

SEC("socket")
int log2_sum(void *ctx)
{
	__u64 arr[N];
	__u64 x = 0x9e3779b97f4a7c15ULL;
	__u32 sum = 0;

	OPAQUE(x);
	for (int i = 0; i < N; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		arr[i] = x >> (i & 63);
	}
	for (int i = 0; i < N; i++) {
		__u64 v = arr[i];
		__u32 l = 0;

		for (int j = 0; j < 64 && v > 1; j++) {
			v >>= 1;
			l++;
			BARRIER();
		}
		sum += l;
	}
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
