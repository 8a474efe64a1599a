/*
 * conformance.c - the environment of the bpf_conformance vectors.
 *
 * Upstream's vectors come from uBPF, whose test plugin registers helper 5 as
 * its "unwind" helper: it returns its first argument, and uBPF's interpreter
 * ends the program (r0 = 0) when that helper returns 0 (ubpf_vm.c, the
 * unwind_stack_extension_index check after EBPF_OP_CALL). call_unwind_fail.data
 * and callx.data call it with r1 = -1 and expect the program to go on.
 * We do the same through jit_run_stop(), the interpreter's documented hook.
 */
#include "jit/conformance.h"

static uint64_t conformance_unwind(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5)
{
	if (r1 == 0)
		jit_run_stop(0);
	return r1;
}

static const jit_helper_fn conformance_helpers[JIT_CONFORMANCE_UNWIND_HELPER + 1] = {
	[JIT_CONFORMANCE_UNWIND_HELPER] = conformance_unwind,
};

static const struct jit_env conformance_env = {
	.sz = sizeof(struct jit_env),
	.helpers = conformance_helpers,
	.helper_cnt = JIT_CONFORMANCE_UNWIND_HELPER + 1,
};

const struct jit_env *jit_conformance_env(void)
{
	return &conformance_env;
}
