/*
 * log.c - the supervisor's log sink.
 *
 * Every module logs through common/log.h; bpftime-run installs this sink so
 * lines carry a "bpftime-run:" prefix and the level, and go either to stderr
 * or to the file given with --log-file (opened O_APPEND so several
 * bpftime-run instances may share it; each line is one write(2)).
 */
#include "supervisor/sup.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static int log_fd = STDERR_FILENO;

static void sup_log_sink(enum bt_log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "error", "warning", "info", "debug" };
	char line[1024];
	int n, m;

	n = snprintf(line, sizeof(line), "bpftime-run[%d]: %s: ", (int)getpid(), tag[level]);
	m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	if (m < 0)
		return;
	n += m;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	if (n > 0 && line[n - 1] != '\n' && (size_t)n < sizeof(line) - 1)
		line[n++] = '\n';
	/* One write per line keeps lines whole when several writers share the file. */
	if (write(log_fd, line, (size_t)n) < 0)
		return;
}

int sup_log_open(const char *path)
{
	if (path) {
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);

		if (fd < 0)
			return -errno;
		log_fd = fd;
	}
	bt_log_set_fn(sup_log_sink);
	return 0;
}
