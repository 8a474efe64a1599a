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

#include "jit/asm.h"
#include "jit/conformance.h"
#include "jit/jit.h"
#include "tests/isa/vector.h"

#define ISA_CONFORMANCE_CNT 313

static int only_data(const struct dirent *d)
{
	size_t len = strlen(d->d_name);

	return len > 5 && !strcmp(d->d_name + len - 5, ".data");
}

/* Returns 0 if the vector passes; prints why not otherwise. */
static int vector_run(const char *path, const char *name)
{
	struct isa_vector v;
	struct bpf_insn *insns = NULL;
	struct jit_prog *prog = NULL;
	uint32_t cnt = 0;
	uint64_t r0 = 0;
	char log[256] = "";
	void *mem = NULL;
	int err, ret = 1;

	err = isa_vector_load(path, ISA_RAW_WORDS, &v, log, sizeof(log));
	if (err) {
		printf("FAIL %s: cannot read: %s %s\n", name, strerror(-err), log);
		return 1;
	}
	if (v.skipped || !v.has_result || !v.asm_text) {
		printf("FAIL %s: no asm or result section\n", name);
		goto out;
	}
	err = jit_asm_assemble(v.asm_text, &insns, &cnt, log, sizeof(log));
	if (err) {
		printf("FAIL %s: assembler: %s\n", name, log);
		goto out;
	}
	if (v.raw) {
		if (v.raw_cnt != cnt || memcmp(v.raw, insns, cnt * sizeof(*insns))) {
			printf("FAIL %s: assembled program differs from its raw section\n", name);
			goto out;
		}
	}
	err = jit_prog_load(v.raw ? v.raw : insns, v.raw ? v.raw_cnt : cnt, jit_conformance_env(),
			    &prog, log, sizeof(log));
	if (err) {
		printf("FAIL %s: load: %s (%s)\n", name, log, strerror(-err));
		goto out;
	}
	if (v.mem_sz) {
		mem = malloc(v.mem_sz);
		if (!mem)
			goto out;
		memcpy(mem, v.mem, v.mem_sz);
	}
	err = jit_prog_exec(prog, (uint64_t)(uintptr_t)mem, v.mem_sz, &r0);
	if (err) {
		printf("FAIL %s: run: %s\n", name, strerror(-err));
		goto out;
	}
	if (r0 != v.result) {
		printf("FAIL %s: r0 = 0x%llx, expected 0x%llx\n", name, (unsigned long long)r0,
		       (unsigned long long)v.result);
		goto out;
	}
	ret = 0;
out:
	free(mem);
	jit_prog_free(prog);
	free(insns);
	isa_vector_release(&v);
	return ret;
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
		failed += vector_run(path, names[i]->d_name);
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
