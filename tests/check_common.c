/* check_common.c - the "common" suite: log levels and the BPFTIME_LOG variable. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/utils.h"

static char last[256];
static int calls;

static void capture(enum bt_log_level level, const char *fmt, va_list ap)
{
	calls++;
	vsnprintf(last, sizeof(last), fmt, ap);
}

START_TEST(test_log_level_filters)
{
	bt_log_set_fn(capture);
	bt_log_set_level(BT_LOG_WARN);
	calls = 0;
	log_debug("hidden %d\n", 1);
	ck_assert_int_eq(calls, 0);
	log_warn("shown %d\n", 2);
	ck_assert_int_eq(calls, 1);
	ck_assert_str_eq(last, "shown 2\n");
	bt_log_set_fn(NULL);
}
END_TEST

START_TEST(test_log_env_names_and_digits)
{
	setenv("BPFTIME_LOG", "debug", 1);
	bt_log_init_from_env();
	ck_assert_int_eq(bt_log_get_level(), BT_LOG_DEBUG);
	setenv("BPFTIME_LOG", "0", 1);
	bt_log_init_from_env();
	ck_assert_int_eq(bt_log_get_level(), BT_LOG_ERROR);
	setenv("BPFTIME_LOG", "bogus", 1);
	bt_log_init_from_env();
	ck_assert_int_eq(bt_log_get_level(), BT_LOG_ERROR);
	unsetenv("BPFTIME_LOG");
}
END_TEST

START_TEST(test_steal_fd_leaves_minus_one)
{
	int fd = 7;

	ck_assert_int_eq(steal_fd(&fd), 7);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(ROUND_UP(13, 8), 16);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("common");
	TCase *tc = tcase_create("log");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, test_log_level_filters);
	tcase_add_test(tc, test_log_env_names_and_digits);
	tcase_add_test(tc, test_steal_fd_leaves_minus_one);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
