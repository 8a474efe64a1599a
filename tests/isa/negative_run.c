/*
 * negative_run.c - every shared/conformance/negative/unused-*.data program
 * must be refused by the decoder, each with a reason naming instruction 0
 * or 1 and the field that is not zero (README "negative": one byte per
 * token in their raw sections). Expects exactly ISA_NEGATIVE_CNT files.
 * Exit: 0 all refused, 1 otherwise, 77 when shared/ is absent.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jit/conformance.h"
#include "jit/decode.h"
#include "jit/jit.h"
#include "tests/isa/vector.h"

#define ISA_NEGATIVE_CNT 45

static int only_unused(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return !strncmp(d->d_name, "unused-", 7) && len > 5 && !strcmp(d->d_name + len - 5, ".data");
}

/* The field name the file name promises: "unused-add64_imm-src" -> "src_reg". */
static const char *field_of(const char *name)
{
	const char *dash = strrchr(name, '-');

	if (!dash)
		return "";
	if (!strncmp(dash, "-src", 4))
		return "src_reg";
	if (!strncmp(dash, "-dst", 4))
		return "dst_reg";
	if (!strncmp(dash, "-offset", 7))
		return "offset";
	if (!strncmp(dash, "-imm", 4))
		return "imm";
	return "";
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
	snprintf(dir, sizeof(dir), "%s/conformance/negative", shared);
	n = scandir(dir, &names, only_unused, alphasort);
	if (n < 0) {
		printf("FAIL: cannot list %s: %s\n", dir, strerror(errno));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		const char *name = names[i]->d_name;
		struct isa_vector v;
		struct jit_prog *prog = NULL;
		char log[256] = "";
		int err;

		snprintf(path, sizeof(path), "%s/%s", dir, name);
		err = isa_vector_load(path, ISA_RAW_BYTES, &v, log, sizeof(log));
		if (err || !v.raw) {
			printf("FAIL %s: cannot read raw section %s\n", name, log);
			failed++;
			goto next;
		}
		err = jit_prog_load(v.raw, v.raw_cnt, jit_conformance_env(), &prog, log, sizeof(log));
		if (err != -EINVAL) {
			printf("FAIL %s: load returned %d, expected -EINVAL (%s)\n", name, err, log);
			failed++;
		} else if (strncmp(log, "insn ", 5) || !strstr(log, field_of(name))) {
			printf("FAIL %s: message does not name the insn and %s: %s\n", name,
			       field_of(name), log);
			failed++;
		} else {
			printf("ok %s: %s\n", name, log);
		}
		jit_prog_free(prog);
		isa_vector_release(&v);
next:
		free(names[i]);
	}
	free(names);
	printf("negative: %d/%d refused\n", n - failed, n);
	if (n != ISA_NEGATIVE_CNT) {
		printf("FAIL: expected %d unused-* vectors in %s, found %d\n", ISA_NEGATIVE_CNT, dir, n);
		return 1;
	}
	return failed ? 1 : 0;
}
