/* strcmp: compare a 128-byte string with 16 variants that differ at
 * different positions (byte loads, compares, early exits). */
#include "bench/bench.h"

#define LEN 128

static __always_inline int str_cmp(const char *a, const char *b)
{
	for (int i = 0; i < LEN; i++) {
		if (a[i] != b[i])
			return (unsigned char)a[i] - (unsigned char)b[i];
		if (!a[i])
			return 0;
		BARRIER();
	}
	return 0;
}

SEC("socket")
int strcmp_many(void *ctx)
{
	char a[LEN], b[LEN];
	__u32 seed = 7, acc = 0;

	OPAQUE(seed);
	for (int i = 0; i < LEN - 1; i++) {
		seed = seed * 1664525 + 1013904223;
		a[i] = b[i] = 'a' + (seed >> 24) % 26;
	}
	a[LEN - 1] = b[LEN - 1] = 0;
	for (int k = 0; k < 16; k++) {
		int pos = LEN - 2 - k * 7;

		b[pos] = 'A';
		acc = acc * 3 + (__u32)str_cmp(a, b);
		b[pos] = a[pos];
	}
	return acc;
}

char LICENSE[] SEC("license") = "GPL";
