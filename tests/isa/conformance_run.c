/*
 * conformance_run.c - all vectors of shared/conformance/tests through the
 * assembler and the interpreter, checking r0 against "-- result".
 *
 * For every file: assemble "-- asm" (jit/asm.c); if the file also has
 * "-- raw" (lddw.data), the assembly must equal it word for word and the raw
 * words are what runs (README §1: raw takes precedence). The program runs
 * with r1 = a writable copy of "-- mem" and r2 = its length, in the
 * conformance environment (helper 5, jit/conformance.c). Expects exactly
 * ISA_CONFORMANCE_CNT files, so a shrunken directory cannot pass.
 * Exit: 0 all pass, 1 any failure, 77 when shared/ is absent.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/isa/vector.h"

#define ISA_CONFORMANCE_CNT 313

static int only_data(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && !strcmp(d->d_name + len - 5, ".data");
}

int main(void)
{
	const char *shared = isa_shared_dir();
	struct dirent **names;
	char dir[4096], path[8192];
	int n, failed = 0;

	if (!shared) {
		printf("SKIP: shared/conformance not found (set BPFTIME_SHARED)\n");
		return 77;
	}
	snprintf(dir, sizeof(dir), "%s/conformance/tests", shared);
	n = scandir(dir, &names, only_data, alphasort);
	if (n < 0) {
		printf("FAIL: cannot list %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		failed += isa_vector_run(path, names[i]->d_name, ISA_RAW_WORDS);
		free(names[i]);
	}
	free(names);
	printf("conformance: %d/%d passed\n", n - failed, n);
	if (n != ISA_CONFORMANCE_CNT) {
		printf("FAIL: expected %d vectors in %s, found %d\n", ISA_CONFORMANCE_CNT, dir, n);
		return 1;
	}
	return failed ? 1 : 0;
}
