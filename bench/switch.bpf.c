/* switch: a toy bytecode machine, 16 opcodes dispatched by a switch over a
 * 64-entry program run 8 times (branch-heavy code). */
#include "bench/bench.h"

#define CODE 64
#define ROUNDS 8

SEC("socket")
int switch_vm(void *ctx)
{
	__u8 code[CODE];
	__u32 seed = 99, acc = 1, x = 3;

	OPAQUE(seed);
	for (int i = 0; i < CODE; i++) {
		seed = seed * 1103515245 + 12345;
		code[i] = (seed >> 16) & 15;
	}
	for (int r = 0; r < ROUNDS; r++) {
		for (int pc = 0; pc < CODE; pc++) {
			switch (code[pc]) {
			case 0: acc += x; break;
			case 1: acc -= x; break;
			case 2: acc ^= x << 3; break;
			case 3: acc |= 1u << (x & 31); break;
			case 4: acc &= ~x; break;
			case 5: x = acc >> 3; break;
			case 6: x += 7; break;
			case 7: acc = acc * 5 + 1; break;
			case 8: x ^= acc; break;
			case 9: acc = (acc << 1) | (acc >> 31); break;
			case 10: x = x * 3; break;
			case 11: acc += r; break;
			case 12: acc -= pc; break;
			case 13: x = x ? acc / x : acc; break;
			case 14: acc ^= 0x5a5a5a5a; break;
			default: x--; break;
			}
			BARRIER();
		}
	}
	return acc ^ x;
}

char LICENSE[] SEC("license") = "GPL";
