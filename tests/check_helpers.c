/*
 * check_helpers.c - the helpers both helper tables share (maps/helpers_common.c),
 * called through each table: the agent's (hooks/helpers_proc.c, compiled into
 * this binary, with its run context and session stood in for below) and
 * PROG_TEST_RUN's (emul/helpers_sup.c). Where one implementation serves both,
 * both tables must hold it and give the same answers: the same clocks, the
 * same random sequence from the same state. What stays context-specific
 * (which helpers each table offers at all, the agent's unwrapped vector-clean
 * entries) must be as before.
 */
#define _GNU_SOURCE
#include "config.h"

#include <check.h>
#include <errno.h>
#include <linux/bpf.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "emul/helpers_sup.h"
#include "hooks/agent_int.h"
#include "maps/helpers.h"

/* ---- what hooks/helpers_proc.c takes from the rest of the agent ---- */

struct agent_session agent_sess;
static struct agent_run_ctx run_ctx;

struct agent_run_ctx *agent_run_ctx(void)
{
	return &run_ctx;
}

int agent_perf_output(uint32_t perf_id, const void *data, uint32_t size)
{
	(void)perf_id;
	(void)data;
	(void)size;
	return -ENOTSUP;
}

/* ---- the tests ---- */

static const int clock_ids[] = { BPF_FUNC_ktime_get_ns, BPF_FUNC_ktime_get_boot_ns,
				 BPF_FUNC_ktime_get_coarse_ns };
static const clockid_t clock_of[] = { CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_MONOTONIC_COARSE };
static const jit_helper_fn shared_clock[] = { map_helper_ktime_get_ns, map_helper_ktime_get_boot_ns,
					      map_helper_ktime_get_coarse_ns };

static uint64_t now_ns(clockid_t c)
{
	struct timespec ts;

	clock_gettime(c, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Both tables hold the one implementation; the agent's stays unwrapped (vector-clean run path). */
START_TEST(test_common_clocks_one_implementation)
{
	const jit_helper_fn *sup = emu_helpers_sup(), *agent = agent_helpers();

	ck_assert_ptr_eq(sup[clock_ids[_i]], shared_clock[_i]);
	ck_assert_ptr_eq(agent[clock_ids[_i]], shared_clock[_i]);
	ck_assert(emu_helpers_sup_has(clock_ids[_i]));
}
END_TEST

/* Read the same clock through both tables, interleaved: the readings are ordered. */
START_TEST(test_common_clocks_agree)
{
	const jit_helper_fn *sup = emu_helpers_sup(), *agent = agent_helpers();
	int id = clock_ids[_i];

	for (int i = 0; i < 100; i++) {
		uint64_t c0 = now_ns(clock_of[_i]);
		uint64_t s1 = sup[id](0, 0, 0, 0, 0);
		uint64_t a = agent[id](0, 0, 0, 0, 0);
		uint64_t s2 = sup[id](0, 0, 0, 0, 0);
		uint64_t c1 = now_ns(clock_of[_i]);

		ck_assert_uint_le(c0, s1);
		ck_assert_uint_le(s1, a);
		ck_assert_uint_le(a, s2);
		ck_assert_uint_le(s2, c1);
	}
}
END_TEST

/* bpf_ktime_get_tai_ns stays agent-only: the test-run table did not offer it before either. */
START_TEST(test_common_tai_agent_only)
{
	const jit_helper_fn *agent = agent_helpers();
	uint64_t c0, a, c1;

	ck_assert_ptr_eq(agent[BPF_FUNC_ktime_get_tai_ns], map_helper_ktime_get_tai_ns);
	ck_assert(!emu_helpers_sup_has(BPF_FUNC_ktime_get_tai_ns));
	c0 = now_ns(CLOCK_TAI);
	a = agent[BPF_FUNC_ktime_get_tai_ns](0, 0, 0, 0, 0);
	c1 = now_ns(CLOCK_TAI);
	ck_assert_uint_le(c0, a);
	ck_assert_uint_le(a, c1);
}
END_TEST

/* xorshift64* (Vigna, "An experimental exploration of Marsaglia's xorshift generators", shifts
 * 12/25/27), upper 32 bits of the product: the published recurrence restated, as a reference. */
static uint32_t ref_next(uint64_t *x)
{
	*x ^= *x >> 12;
	*x ^= *x << 25;
	*x ^= *x >> 27;
	return (uint32_t)((*x * 0x2545F4914F6CDD1Dull) >> 32);
}

/* The same state gives the same sequence through either table (the agent's goes through its
 * vector-saving wrapper, which must pass the value through unchanged). */
START_TEST(test_common_prandom_same_sequence)
{
	const jit_helper_fn *sup = emu_helpers_sup(), *agent = agent_helpers();
	uint32_t s[16], a[16];
	uint64_t ref = 0x9e3779b97f4a7c15ull;

	ck_assert_ptr_eq(sup[BPF_FUNC_get_prandom_u32], map_helper_get_prandom_u32);
	ck_assert_ptr_nonnull(agent[BPF_FUNC_get_prandom_u32]);
	map_helper_prandom_seed(0x9e3779b97f4a7c15ull);
	for (int i = 0; i < 16; i++)
		s[i] = (uint32_t)sup[BPF_FUNC_get_prandom_u32](0, 0, 0, 0, 0);
	map_helper_prandom_seed(0x9e3779b97f4a7c15ull);
	for (int i = 0; i < 16; i++)
		a[i] = (uint32_t)agent[BPF_FUNC_get_prandom_u32](0, 0, 0, 0, 0);
	for (int i = 0; i < 16; i++) {
		ck_assert_uint_eq(s[i], a[i]);
		ck_assert_uint_eq(s[i], ref_next(&ref));
	}
}
END_TEST

/* A test run starts from a fresh seed, not from whatever state its thread had. */
START_TEST(test_common_prandom_run_reseeds)
{
	const jit_helper_fn *sup = emu_helpers_sup();
	uint64_t ref = 0x9e3779b97f4a7c15ull;
	int same = 0;

	map_helper_prandom_seed(0x9e3779b97f4a7c15ull);
	emu_helpers_run_begin(0, NULL);
	for (int i = 0; i < 4; i++)
		same += (uint32_t)sup[BPF_FUNC_get_prandom_u32](0, 0, 0, 0, 0) == ref_next(&ref);
	ck_assert_int_lt(same, 4);
	ck_assert(!emu_helpers_run_missing());
}
END_TEST

/* Of the shared helpers, the agent installs the clocks unwrapped (its vector-clean run path calls
 * them without a save) and bpf_get_prandom_u32 behind a vector-saving wrapper, as before. */
START_TEST(test_agent_wrapping_unchanged)
{
	const jit_helper_fn *agent = agent_helpers();

	for (int i = 0; i < 3; i++)
		ck_assert_ptr_eq(agent[clock_ids[i]], shared_clock[i]);
	ck_assert_ptr_eq(agent[BPF_FUNC_ktime_get_tai_ns], map_helper_ktime_get_tai_ns);
	ck_assert_ptr_nonnull(agent[BPF_FUNC_get_prandom_u32]);
	ck_assert_ptr_ne(agent[BPF_FUNC_get_prandom_u32], map_helper_get_prandom_u32);
}
END_TEST

static Suite *helpers_suite(void)
{
	Suite *s = suite_create("helpers");
	TCase *tc = tcase_create("common");

	tcase_add_loop_test(tc, test_common_clocks_one_implementation, 0, 3);
	tcase_add_loop_test(tc, test_common_clocks_agree, 0, 3);
	tcase_add_test(tc, test_common_tai_agent_only);
	tcase_add_test(tc, test_common_prandom_same_sequence);
	tcase_add_test(tc, test_common_prandom_run_reseeds);
	tcase_add_test(tc, test_agent_wrapping_unchanged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(helpers_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
