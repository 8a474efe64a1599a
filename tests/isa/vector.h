/*
 * vector.h - reading one bpf_conformance / uBPF test file (.data), by the
 * rules of shared/conformance/README.md §1. Test code only.
 */
#ifndef TESTS_ISA_VECTOR_H
#define TESTS_ISA_VECTOR_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct isa_vector {
	char *asm_text;         /* "-- asm" section, or NULL */
	struct bpf_insn *raw;   /* "-- raw" section, or NULL */
	uint32_t raw_cnt;       /* slots in raw */
	uint8_t *mem;           /* "-- mem" bytes, or NULL */
	size_t mem_sz;
	bool has_result;
	uint64_t result;        /* "-- result" */
	bool has_error;         /* "-- error" present (text may be empty) */
	char *error;            /* its first line, trailing space trimmed */
	bool skipped;           /* unknown section header: the file is skipped */
};

/* How "-- raw" is written: one 64-bit word per slot (tests/), or one byte
 * per token (negative/unused-*, README §"negative"). */
enum isa_raw_format { ISA_RAW_WORDS, ISA_RAW_BYTES };

/* Parse @path. Returns 0, -errno from reading, or -EINVAL with @why set. */
int isa_vector_load(const char *path, enum isa_raw_format fmt, struct isa_vector *v, char *why,
		    size_t why_sz);
void isa_vector_release(struct isa_vector *v);

/* Assemble (or take raw), load in the conformance environment and run one
 * vector: r0 must equal "-- result", or the load must fail with a message
 * that starts with the "-- error" text. Returns 0 on pass, 1 on failure (reason printed). */
int isa_vector_run(const char *path, const char *name, enum isa_raw_format fmt);

/* The shared/ folder: $BPFTIME_SHARED, else BPFTIME_SRCDIR/../shared;
 * NULL if neither holds conformance/. */
const char *isa_shared_dir(void);

#endif /* TESTS_ISA_VECTOR_H */
