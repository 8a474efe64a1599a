/*
 * hashfn.h - the key hash of the hash maps, private to maps/.
 *
 * The kernel hashes keys with jhash (include/linux/jhash.h), a byte-at-a-time
 * mixer from 1996. We only need what it gives a hash table: every key byte
 * affects the bucket, seeds defeat chosen-key collisions, and the result is
 * the same in every process (the seed lives in the map header). Our own
 * function reads 8 bytes at a time and finishes with a 64-bit
 * multiply-xorshift avalanche, so a 4- or 8-byte key costs two multiplies.
 * Keys of 4, 8 and 16 bytes get straight-line code.
 */
#ifndef MAPS_HASHFN_H
#define MAPS_HASHFN_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#define HASHFN_K1 0x9e3779b97f4a7c15ULL
#define HASHFN_K2 0xc2b2ae3d27d4eb4fULL
#define HASHFN_K3 0x165667b19e3779f9ULL

static inline uint64_t hashfn_mix(uint64_t h)
{
	h ^= h >> 32;
	h *= HASHFN_K2;
	h ^= h >> 29;
	h *= HASHFN_K3;
	h ^= h >> 32;
	return h;
}

static inline uint64_t hashfn_rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static inline uint32_t hashfn_key(const void *key, uint32_t len, uint64_t seed)
{
	const uint8_t *p = key;
	uint64_t h = seed ^ ((uint64_t)len * HASHFN_K1), tail = 0;
	uint32_t v32;

	switch (len) {
	case 4:
		memcpy(&v32, p, 4);
		return (uint32_t)hashfn_mix(h ^ ((uint64_t)v32 * HASHFN_K1));
	case 8:
		return (uint32_t)hashfn_mix(h ^ (hashfn_rd64(p) * HASHFN_K1));
	default:
		break;
	}
	while (len >= 8) {
		h = (h ^ (hashfn_rd64(p) * HASHFN_K1));
		h = ((h << 27) | (h >> 37)) * HASHFN_K2;
		p += 8;
		len -= 8;
	}
	if (len) {
		memcpy(&tail, p, len);
		h ^= tail * HASHFN_K3;
		h = ((h << 31) | (h >> 33)) * HASHFN_K1;
	}
	return (uint32_t)hashfn_mix(h);
}

static inline bool hashfn_key_eq(const void *a, const void *b, uint32_t len)
{
	uint64_t x, y, x2, y2;
	uint32_t u, v;

	switch (len) {
	case 4:
		memcpy(&u, a, 4);
		memcpy(&v, b, 4);
		return u == v;
	case 8:
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		return x == y;
	case 16:
		memcpy(&x, a, 8);
		memcpy(&y, b, 8);
		memcpy(&x2, (const uint8_t *)a + 8, 8);
		memcpy(&y2, (const uint8_t *)b + 8, 8);
		return ((x ^ y) | (x2 ^ y2)) == 0;
	default:
		return memcmp(a, b, len) == 0;
	}
}

#endif /* MAPS_HASHFN_H */
