/*
 * jhash.h - Bob Jenkins' lookup3 hash as the kernel uses it
 * (include/linux/jhash.h: jhash() over bytes, jhash2() over u32 words,
 * JHASH_INITVAL 0xdeadbeef), private to maps/.
 *
 * Only maps whose hash is observable need the kernel's exact function: a
 * BLOOM_FILTER created with BPF_F_ZERO_SEED gives the same false positives
 * as the kernel's only if it sets the same bits. The hash tables use their
 * own faster hash (maps/hashfn.h), since bucket placement is not ABI.
 */
#ifndef MAPS_JHASH_H
#define MAPS_JHASH_H

#include <stdint.h>
#include <string.h>

#define MAP_JHASH_INITVAL 0xdeadbeefu

static inline uint32_t map_jhash_rol(uint32_t w, unsigned s)
{
	return (w << s) | (w >> (32 - s));
}

/* lookup3's mix(): reversible mixing of three words. */
#define MAP_JHASH_MIX(a, b, c)                                                                 \
	do {                                                                                   \
		a -= c; a ^= map_jhash_rol(c, 4); c += b;                                      \
		b -= a; b ^= map_jhash_rol(a, 6); a += c;                                      \
		c -= b; c ^= map_jhash_rol(b, 8); b += a;                                      \
		a -= c; a ^= map_jhash_rol(c, 16); c += b;                                     \
		b -= a; b ^= map_jhash_rol(a, 19); a += c;                                     \
		c -= b; c ^= map_jhash_rol(b, 4); b += a;                                      \
	} while (0)

/* lookup3's final(): irreversible avalanche of three words into c. */
#define MAP_JHASH_FINAL(a, b, c)                                                               \
	do {                                                                                   \
		c ^= b; c -= map_jhash_rol(b, 14);                                             \
		a ^= c; a -= map_jhash_rol(c, 11);                                             \
		b ^= a; b -= map_jhash_rol(a, 25);                                             \
		c ^= b; c -= map_jhash_rol(b, 16);                                             \
		a ^= c; a -= map_jhash_rol(c, 4);                                              \
		b ^= a; b -= map_jhash_rol(a, 14);                                             \
		c ^= b; c -= map_jhash_rol(b, 24);                                             \
	} while (0)

/* jhash(): @len bytes; words are read little-endian (x86's unaligned loads). */
static inline uint32_t map_jhash(const void *key, uint32_t len, uint32_t initval)
{
	const uint8_t *k = key;
	uint32_t a, b, c, w[3];

	a = b = c = MAP_JHASH_INITVAL + len + initval;
	while (len > 12) {
		memcpy(w, k, 12);
		a += w[0];
		b += w[1];
		c += w[2];
		MAP_JHASH_MIX(a, b, c);
		len -= 12;
		k += 12;
	}
	if (!len)
		return c;
	/* The last 1..12 bytes, zero-extended, as the kernel's byte-wise switch adds them. */
	w[0] = w[1] = w[2] = 0;
	memcpy(w, k, len);
	a += w[0];
	b += w[1];
	c += w[2];
	MAP_JHASH_FINAL(a, b, c);
	return c;
}

/* jhash2(): @cnt u32 words (read with memcpy: @key need not be aligned). */
static inline uint32_t map_jhash2(const void *key, uint32_t cnt, uint32_t initval)
{
	const uint8_t *k = key;
	uint32_t a, b, c, w[3];

	a = b = c = MAP_JHASH_INITVAL + (cnt << 2) + initval;
	while (cnt > 3) {
		memcpy(w, k, 12);
		a += w[0];
		b += w[1];
		c += w[2];
		MAP_JHASH_MIX(a, b, c);
		cnt -= 3;
		k += 12;
	}
	if (!cnt)
		return c;
	w[0] = w[1] = w[2] = 0;
	memcpy(w, k, (size_t)cnt * 4);
	a += w[0];
	b += w[1];
	c += w[2];
	MAP_JHASH_FINAL(a, b, c);
	return c;
}

#endif /* MAPS_JHASH_H */
