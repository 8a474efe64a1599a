/*
 * isa_run.c - our own ISA vectors, the .data files in tests/isa (uBPF's format, as
 * STYLE.md §8 asks): "-- asm" or "-- raw" (one 64-bit word per slot), then
 * "-- result" (r0) or "-- error" (the start of the decoder's message). They
 * pin the decoder's refusals and a few RFC 9669 cases; the LLVM back end
 * will run the same files. Exit: 0 all pass, 1 otherwise.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/isa/vector.h"

static int only_data(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && !strcmp(d->d_name + len - 5, ".data");
}

int main(void)
{
	const char *src = getenv("BPFTIME_SRCDIR");
	struct dirent **names;
	char dir[4096], path[8192];
	int n, failed = 0;

	snprintf(dir, sizeof(dir), "%s/tests/isa", src && *src ? src : BPFTIME_SRCDIR);
	n = scandir(dir, &names, only_data, alphasort);
	if (n <= 0) {
		printf("FAIL: no .data files in %s: %s\n", dir, n < 0 ? strerror(errno) : "empty");
		return 1;
	}
	for (int i = 0; i < n; i++) {
		int bad;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		bad = isa_vector_run(path, names[i]->d_name, ISA_RAW_WORDS);
		if (!bad)
			printf("ok %s\n", names[i]->d_name);
		failed += bad;
		free(names[i]);
	}
	free(names);
	printf("isa: %d/%d passed\n", n - failed, n);
	return failed ? 1 : 0;
}
