/*
 * log.h - the one logging path of bpftime, after libbpf_set_print().
 *
 * Every module logs through bt_log(); the sink is a callback the embedding
 * program sets (the supervisor writes to stderr or a log file; the in-process
 * agent stays silent unless BPFTIME_LOG asks). Verbosity comes from
 * bt_log_set_level() or the BPFTIME_LOG environment variable
 * (error|warn|info|debug or 0-3).
 */
#ifndef COMMON_LOG_H
#define COMMON_LOG_H

#include <stdarg.h>

enum bt_log_level {
	BT_LOG_ERROR = 0,
	BT_LOG_WARN = 1,
	BT_LOG_INFO = 2,
	BT_LOG_DEBUG = 3,
};

typedef void (*bt_log_fn)(enum bt_log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/** Set the sink; NULL restores the default (stderr). Returns the previous sink. */
bt_log_fn bt_log_set_fn(bt_log_fn fn);
/** Set the verbosity; messages above it are dropped. */
void bt_log_set_level(enum bt_log_level level);
enum bt_log_level bt_log_get_level(void);
/** Read BPFTIME_LOG from the environment, if set. */
void bt_log_init_from_env(void);

void bt_log(enum bt_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) bt_log(BT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) bt_log(BT_LOG_WARN, __VA_ARGS__)
#define log_info(...) bt_log(BT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) bt_log(BT_LOG_DEBUG, __VA_ARGS__)

#endif /* COMMON_LOG_H */
