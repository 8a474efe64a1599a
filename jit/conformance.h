/*
 * conformance.h - the execution environment the conformance vectors assume
 * (shared/conformance/README.md §3): helper 5 is uBPF's "unwind" helper.
 * Used by bpftime-conformance-plugin and the ISA tests.
 */
#ifndef JIT_CONFORMANCE_H
#define JIT_CONFORMANCE_H

#include "jit/jit.h"

/* The id of the "unwind" helper in the conformance environment. */
#define JIT_CONFORMANCE_UNWIND_HELPER 5

/**
 * jit_conformance_env() - helpers for conformance vectors: only id 5, which
 * returns its first argument and, when that is 0, ends the program with
 * r0 = 0 (uBPF's unwind_stack_extension_index behaviour). Static storage;
 * never freed.
 */
const struct jit_env *jit_conformance_env(void);

#endif /* JIT_CONFORMANCE_H */
