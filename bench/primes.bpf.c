/* primes: count primes below LIMIT by trial division (division, modulo,
 * nested data-dependent loops). */
#include "bench/bench.h"

#define LIMIT 500

SEC("socket")
int primes(void *ctx)
{
	__u32 limit = LIMIT, count = 0;

	OPAQUE(limit);
	for (__u32 n = 2; n < LIMIT && n < limit; n++) {
		int prime = 1;

		for (__u32 d = 2; d < 64 && d * d <= n; d++) {
			if (n % d == 0) {
				prime = 0;
				break;
			}
		}
		count += prime;
	}
	return count;
}

char LICENSE[] SEC("license") = "GPL";
