/*
 * log.c - the log sink and level shared by every module (see log.h).
 *
 * The level is read on every call from one relaxed atomic, so changing it
 * from another thread needs no lock; the sink pointer likewise.
 */
#include "common/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((format(printf, 2, 0)))
static void default_sink(enum bt_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "error", "warn", "info", "debug" };

	fprintf(stderr, "bpftime: %s: ", tag[level]);
	vfprintf(stderr, fmt, ap);
}

static bt_log_fn log_sink = default_sink;
static int log_level = BT_LOG_WARN;

bt_log_fn bt_log_set_fn(bt_log_fn fn)
{
	return __atomic_exchange_n(&log_sink, fn ? fn : default_sink, __ATOMIC_RELAXED);
}

void bt_log_set_level(enum bt_log_level level)
{
	__atomic_store_n(&log_level, (int)level, __ATOMIC_RELAXED);
}

enum bt_log_level bt_log_get_level(void)
{
	return (enum bt_log_level)__atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

void bt_log_init_from_env(void)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	const char *v = getenv("BPFTIME_LOG");

	if (!v || !*v)
		return;
	for (int i = 0; i < 4; i++) {
		if (!strcmp(v, names[i]) || (v[0] == '0' + i && !v[1])) {
			bt_log_set_level((enum bt_log_level)i);
			return;
		}
	}
}

void bt_log(enum bt_log_level level, const char *fmt, ...)
{
	va_list ap;
	bt_log_fn sink;

	if ((int)level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	sink = __atomic_load_n(&log_sink, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	sink(level, fmt, ap);
	va_end(ap);
}
