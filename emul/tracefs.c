/*
 * tracefs.c - the tracefs files clients read, served without tracefs.
 *
 * tracefs is root-only and usually not mounted, yet bpftrace, bcc and libbpf
 * read events/<category>/<name>/{id,format} before perf_event_open(
 * PERF_TYPE_TRACEPOINT), and libbcc reads uprobe_events at detach. So each
 * session holds a prepared tree, <session>/tracing, which launch.c
 * bind-mounts on /sys/kernel/tracing in the workload's mount namespace:
 * plain files, readable by the user, no open(2) trapping.
 *
 * The event data (syscalls:sys_enter_* / sys_exit_*, raw_syscalls:*, their
 * ids and format text, captured from this kernel's tracefs) is the table of
 * the syscall-hooks module (hooks/tp_event.h, hooks/tracefs_data/), which
 * the agent uses for the same ids, so an id a client reads here is the id
 * the agent fires. A data file can replace it ($BPFTIME_TRACEFS_DATA; used
 * by tests), one record per event:
 *     === <category>/<name> <id>
 *     <format text, verbatim, up to the next "=== " line>
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/tp_event.h"

/* Ids the tree serves; perf_event_open(TRACEPOINT) accepts only these. */
static uint32_t *known_ids;
static size_t known_cnt;

bool emu_tracefs_id_known(uint64_t id)
{
	for (size_t i = 0; i < known_cnt; i++)
		if (known_ids[i] == id)
			return true;
	return false;
}

static int write_text(const char *path, const char *text, size_t len)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);

	if (fd < 0)
		return -errno;
	if (len && write(fd, text, len) != (ssize_t)len)
		return -EIO;
	return 0;
}

static int add_known(uint32_t id)
{
	uint32_t *n;

	if (emu_tracefs_id_known(id))
		return 0;
	n = realloc(known_ids, (known_cnt + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	known_ids = n;
	known_ids[known_cnt++] = id;
	return 0;
}

static int flush_event(const char *root, const char *ev, unsigned id, const char *fmt, size_t fmt_len, bool write_files)
{
	char path[4096], idtxt[32], *slash;
	int err, n;

	if (strstr(ev, "..") || ev[0] == '/' || !(slash = strchr(ev, '/')))
		return -EINVAL;
	err = add_known(id);
	if (err || !write_files)
		return err;
	snprintf(path, sizeof(path), "%s/events/%.*s", root, (int)(slash - ev), ev);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	snprintf(path, sizeof(path), "%s/events/%s", root, ev);
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return -errno;
	n = snprintf(idtxt, sizeof(idtxt), "%u\n", id);
	snprintf(path, sizeof(path), "%s/events/%s/id", root, ev);
	err = write_text(path, idtxt, (size_t)n);
	if (err)
		return err;
	snprintf(path, sizeof(path), "%s/events/%s/format", root, ev);
	return write_text(path, fmt, fmt_len);
}

static FILE *open_data(void)
{
	const char *env = getenv("BPFTIME_TRACEFS_DATA");

	return env && *env ? fopen(env, "re") : NULL;
}

/* The built-in table (hooks/tp_event.h). */
static int prepare_builtin(struct emu_session *s, bool write_files)
{
	char ev[256], path[4096];
	FILE *avail = NULL;
	int err = 0;

	/* available_events: "category:name" per line (bpftrace -l, perf list read it). */
	if (write_files) {
		snprintf(path, sizeof(path), "%s/available_events", s->tracefs_dir);
		avail = fopen(path, "we");
	}
	for (unsigned int i = 0; !err && i < tp_event_count(); i++) {
		const struct tp_event *e = tp_event_at(i);

		snprintf(ev, sizeof(ev), "%s/%s", e->category, e->name);
		err = flush_event(s->tracefs_dir, ev, e->id, e->format, strlen(e->format), write_files);
		if (avail)
			fprintf(avail, "%s:%s\n", e->category, e->name);
	}
	if (avail)
		fclose(avail);
	if (!err && strcmp(tp_event_kernel_release(), "") != 0) {
		struct utsname u;

		if (uname(&u) == 0 && strcmp(u.release, tp_event_kernel_release()) != 0)
			log_info("tracepoint ids and formats were captured on Linux %s, this is %s\n",
				 tp_event_kernel_release(), u.release);
	}
	return err;
}

int emu_tracefs_prepare(struct emu_session *s)
{
	char path[4096], line[4096], ev[256] = { 0 };
	char *fmt = NULL;
	size_t fmt_len = 0, fmt_cap = 0;
	unsigned id = 0;
	struct stat st;
	bool write_files;
	FILE *f;
	int err = 0;

	/* Another bpftime-run of the session may have built the tree already. */
	write_files = stat(s->tracefs_dir, &st) < 0;
	if (write_files) {
		if (mkdir(s->tracefs_dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		snprintf(path, sizeof(path), "%s/events", s->tracefs_dir);
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			return -errno;
		snprintf(path, sizeof(path), "%s/uprobe_events", s->tracefs_dir);
		err = write_text(path, "", 0);
		if (err)
			return err;
	}
	f = open_data();
	if (!f)
		return prepare_builtin(s, write_files);
	while (!err && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "=== ", 4)) {
			if (ev[0])
				err = flush_event(s->tracefs_dir, ev, id, fmt ? fmt : "", fmt_len, write_files);
			fmt_len = 0;
			if (sscanf(line + 4, "%255s %u", ev, &id) != 2)
				err = -EINVAL;
			continue;
		}
		if (fmt_len + strlen(line) + 1 > fmt_cap) {
			char *n;

			fmt_cap = (fmt_cap + strlen(line) + 1) * 2;
			n = realloc(fmt, fmt_cap);
			if (!n) {
				err = -ENOMEM;
				break;
			}
			fmt = n;
		}
		memcpy(fmt + fmt_len, line, strlen(line));
		fmt_len += strlen(line);
	}
	if (!err && ev[0])
		err = flush_event(s->tracefs_dir, ev, id, fmt ? fmt : "", fmt_len, write_files);
	free(fmt);
	fclose(f);
	return err;
}
