/*
 * helpers_cb.c - bpf_loop, the helper that calls a callback of the running
 * program (jit_callback_call() in jit/interp.c) a number of times.
 *
 * Semantics and return values are those of bpf_loop() in
 * kernel/bpf/bpf_iter.c: flags must be 0 (-EINVAL), at most BPF_MAX_LOOPS
 * (1 << 23) iterations (-E2BIG), callback(index, callback_ctx) for index
 * 0, 1, ... until nr_loops or until it returns 1; the result is the number
 * of iterations run, the one that returned 1 included. The verifier makes
 * the kernel's callback return 0 or 1; we have none at run time, so any
 * non-zero value stops, which is what the kernel's "if (ret) return i + 1"
 * does with it too.
 *
 * It lives in jit/ because it needs nothing but the run; the map iteration
 * helper, which also needs maps/, is in maps/helpers_cb.c.
 */
#include <errno.h>
#include <stdint.h>

#include "jit/jit.h"

uint64_t jit_helper_loop(uint64_t nr_loops, uint64_t fn, uint64_t ctx, uint64_t flags, uint64_t r5)
{
	/* The kernel's helper takes u32 nr_loops: the upper half is ignored. */
	uint32_t n = (uint32_t)nr_loops;

	(void)r5;
	if (flags)
		return (uint64_t)-EINVAL;
	if (n > JIT_MAX_LOOPS)
		return (uint64_t)-E2BIG;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t ret;
		int err = jit_callback_call(fn, i, ctx, 0, 0, 0, &ret);

		/* DIVERGES: the kernel's verifier proves the callback valid; a
		 * bad handle or a fault here ends the loop with the error (a
		 * fault also ends the program, see jit_callback_call()). */
		if (err)
			return (uint64_t)(int64_t)err;
		if (ret)
			return (uint64_t)i + 1;
	}
	return n;
}
