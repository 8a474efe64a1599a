/*
 * helpers_common.c - the helpers whose meaning does not depend on where the
 * program runs: the clocks (bpf_ktime_get_ns, _boot_ns, _coarse_ns, _tai_ns)
 * and bpf_get_prandom_u32. One implementation serves both helper tables: the
 * agent's, for programs in traced processes (hooks/helpers_proc.c), and the
 * supervisor's, for PROG_TEST_RUN in its disposable child (emul/helpers_sup.c).
 *
 * Helpers whose answer depends on the context (whose pid/tid, which CPU,
 * where trace_printk writes, how memory is read fault-safely) stay with
 * their table: each context has its own source for those facts.
 *
 * The clocks are on the agent's vector-clean run path: the agent installs
 * them unwrapped (helper_vector_free() in hooks/helpers_proc.c), so they are
 * built general-regs-only, as HOOK_VEC_CLEAN_BEGIN in hooks/xstate.h does
 * (the pragma is spelled out here: maps/ does not depend on hooks/), and
 * call only clock_gettime(), which hooks/xstate.c checks is vector-free.
 */
#include "config.h"

#include <stdint.h>
#include <sys/random.h>
#include <time.h>

#include "maps/helpers.h"

typedef uint64_t u64;

/* Same as HOOK_VEC_CLEAN_BEGIN/_END (hooks/xstate.h). */
_Pragma("GCC push_options") _Pragma("GCC target(\"general-regs-only\")")

/* kernel/bpf/helpers.c: ktime_get_mono_fast_ns(), ktime_get_boot_fast_ns(),
 * ktime_get_coarse_ns(), ktime_get_tai_fast_ns(): the matching POSIX clocks. */
static u64 clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (u64)ts.tv_sec * 1000000000ull + (u64)ts.tv_nsec;
}

u64 map_helper_ktime_get_ns(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return clock_ns(CLOCK_MONOTONIC);
}

u64 map_helper_ktime_get_boot_ns(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return clock_ns(CLOCK_BOOTTIME);
}

u64 map_helper_ktime_get_coarse_ns(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return clock_ns(CLOCK_MONOTONIC_COARSE);
}

u64 map_helper_ktime_get_tai_ns(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return clock_ns(CLOCK_TAI);
}

_Pragma("GCC pop_options")

/* 0: draw a seed at the next call. initial-exec: the agent is preloaded, never dlopen()ed. */
static __thread uint64_t rnd_state __attribute__((tls_model("initial-exec")));

/*
 * bpf_user_rnd_u32() (kernel/bpf/core.c) keeps a per-CPU prandom state; we
 * keep one per thread (xorshift64*), seeded from getrandom(). Not on the
 * vector-clean path: the agent calls it through its saving wrapper.
 */
u64 map_helper_get_prandom_u32(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	uint64_t x = rnd_state;

	if (!x) {
		if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != sizeof(x) || !x)
			x = clock_ns(CLOCK_MONOTONIC) | 1;
	}
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rnd_state = x;
	return (uint32_t)((x * 0x2545F4914F6CDD1Dull) >> 32);
}

void map_helper_prandom_seed(uint64_t seed)
{
	rnd_state = seed;
}
