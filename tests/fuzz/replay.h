/*
 * replay.h - what the fuzz targets' replay mode (their main() without
 * libFuzzer, part of make check) shares: a fixed pseudo-random sequence,
 * reading a whole file, and replaying a target's regression corpus.
 * Header-only and static: each fuzz target is one translation unit.
 */
#ifndef TESTS_FUZZ_REPLAY_H
#define TESTS_FUZZ_REPLAY_H

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint64_t fuzz_rng_state = 0x9e3779b97f4a7c15ull;

/* xorshift64: the same sequence on every run, so a replay failure reproduces. */
static inline uint64_t fuzz_rng(void)
{
	fuzz_rng_state ^= fuzz_rng_state << 13;
	fuzz_rng_state ^= fuzz_rng_state >> 7;
	fuzz_rng_state ^= fuzz_rng_state << 17;
	return fuzz_rng_state;
}

/* The whole of @path in a malloc()ed buffer (procfs and sysfs files report no size); NULL on failure. */
static inline uint8_t *fuzz_file_read(const char *path, size_t *sz)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			uint8_t *nb = realloc(buf, cap = cap ? cap * 2 : 1 << 20);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, cap - n, f);
		n += r;
	} while (r);
	fclose(f);
	*sz = n;
	return buf;
}

/*
 * The inputs that once broke a parser: tests/fuzz/corpus/@target/ under
 * $BPFTIME_SRCDIR (make check sets it), replayed one by one. Returns how many.
 */
static inline int fuzz_corpus_replay(const char *target)
{
	const char *src = getenv("BPFTIME_SRCDIR");
	char dir[4096], path[8192];
	struct dirent *de;
	int cnt = 0;
	DIR *d;

	snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src ? src : ".", target);
	d = opendir(dir);
	if (!d)
		return 0;
	while ((de = readdir(d))) {
		size_t n = 0;
		uint8_t *in;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		in = fuzz_file_read(path, &n);
		if (!in)
			continue;
		LLVMFuzzerTestOneInput(in, n);
		free(in);
		cnt++;
	}
	closedir(d);
	return cnt;
}

#endif /* TESTS_FUZZ_REPLAY_H */
