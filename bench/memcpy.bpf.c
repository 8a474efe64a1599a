/* memcpy: fill a 192-byte buffer, copy it byte by byte 8 times into another,
 * checksum the copy (byte loads and stores on the stack). */
#include "bench/bench.h"

#define SZ 192
#define ROUNDS 8

SEC("socket")
int memcpy_bytes(void *ctx)
{
	__u8 src[SZ], dst[SZ];
	__u32 seed = 0x12345678, sum = 0;

	OPAQUE(seed);
	for (int i = 0; i < SZ; i++) {
		seed = seed * 1103515245 + 12345;
		src[i] = seed >> 16;
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < SZ; i++) {
			dst[i] = src[i] + r;
			BARRIER();
		}
	}
	for (int i = 0; i < SZ; i++)
		sum = sum * 31 + dst[i];
	return sum;
}

char LICENSE[] SEC("license") = "GPL";
