/*
 * tp_event.c - the syscall tracepoint event table: lookup by name, id and
 * syscall number, and the tracefs format parser.
 *
 * The raw table (hooks/tracefs_data/tp_syscalls_data.c) holds each event's
 * format text verbatim. On first use we parse every format once into
 * `struct tp_event` (fields with offset/size/signedness), so the layout a
 * program sees is the one the format file states, never an assumption. The
 * parser follows the line syntax printed by print_event_fields() /
 * f_show() in kernel/trace/trace_events.c:
 *	"\tfield:<type> <name>;\toffset:<u>;\tsize:<u>;\tsigned:<0|1>;\n"
 *
 * Workload: a few lookups when a client attaches; nothing on the syscall
 * path (hooks/syscall_*.c index events by number through tp_event_lookup_nr()
 * once, at enable time).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "hooks/tp_event.h"
#include "hooks/tp_event_int.h"

/* Syscall numbers we index; x86-64 uses 0..469 on 6.18 (x32 starts at 512). */
#define TP_NR_MAX 512

static struct tp_event *events;
static unsigned int event_cnt;
static int by_nr[2][TP_NR_MAX]; /* [is_exit][nr] -> index + 1, 0 = none */
static int table_err;
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static int parse_uint(const char *p, const char *key, unsigned long *out, const char **end)
{
	size_t klen = strlen(key);
	char *e;

	if (strncmp(p, key, klen) != 0)
		return -EINVAL;
	p += klen;
	if (*p < '0' || *p > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoul(p, &e, 10);
	if (errno || *e != ';')
		return -EINVAL;
	*end = e + 1;
	return 0;
}

/* One line after "field:"; the declaration is "<type> <name>" and the name is the last word. */
static int parse_field(const char *line, const char *eol, struct tp_field *f)
{
	const char *decl = line + strlen("field:");
	const char *semi = memchr(decl, ';', (size_t)(eol - decl));
	const char *sp, *p;
	unsigned long v;
	size_t tlen, nlen;
	int err;

	if (!semi)
		return -EINVAL;
	for (sp = semi; sp > decl && sp[-1] != ' '; sp--)
		;
	if (sp == decl)
		return -EINVAL;
	nlen = (size_t)(semi - sp);
	tlen = (size_t)(sp - 1 - decl);
	while (tlen && decl[tlen - 1] == ' ')
		tlen--;
	if (!nlen || !tlen)
		return -EINVAL;
	if (nlen >= sizeof(f->name) || tlen >= sizeof(f->type))
		return -E2BIG;
	memcpy(f->name, sp, nlen);
	f->name[nlen] = '\0';
	memcpy(f->type, decl, tlen);
	f->type[tlen] = '\0';

	p = semi + 1;
	while (*p == '\t' || *p == ' ')
		p++;
	err = parse_uint(p, "offset:", &v, &p);
	if (err || v > UINT16_MAX)
		return -EINVAL;
	f->off = (uint16_t)v;
	while (*p == '\t' || *p == ' ')
		p++;
	err = parse_uint(p, "size:", &v, &p);
	if (err || v > UINT16_MAX)
		return -EINVAL;
	f->sz = (uint16_t)v;
	while (*p == '\t' || *p == ' ')
		p++;
	err = parse_uint(p, "signed:", &v, &p);
	if (err || v > 1)
		return -EINVAL;
	f->is_signed = v;
	if (p > eol)
		return -EINVAL;
	return 0;
}

int tp_format_parse(const char *text, struct tp_field *fields, unsigned int max, unsigned int *cnt)
{
	const char *line = text;
	unsigned int n = 0;
	int err;

	*cnt = 0;
	while (*line) {
		const char *eol = strchr(line, '\n');
		const char *p = line;

		if (!eol)
			eol = line + strlen(line);
		while (*p == '\t' || *p == ' ')
			p++;
		if (strncmp(p, "field:", 6) == 0) {
			if (n >= max)
				return -E2BIG;
			err = parse_field(p, eol, &fields[n]);
			if (err)
				return err;
			n++;
		}
		line = *eol ? eol + 1 : eol;
	}
	*cnt = n;
	return 0;
}

static void table_build(void)
{
	unsigned int i;

	events = calloc(tp_syscalls_raw_cnt, sizeof(*events));
	if (!events) {
		table_err = -ENOMEM;
		return;
	}
	for (i = 0; i < tp_syscalls_raw_cnt; i++) {
		const struct tp_event_raw *r = &tp_syscalls_raw[i];
		struct tp_event *ev = &events[i];
		unsigned int j;
		int err;

		ev->category = r->category;
		ev->name = r->name;
		ev->id = r->id;
		ev->nr = r->nr;
		ev->is_exit = r->is_exit;
		ev->is_raw = strcmp(r->category, "raw_syscalls") == 0;
		ev->format = r->format;
		err = tp_format_parse(r->format, ev->fields, TP_EVENT_FIELD_MAX, &ev->field_cnt);
		if (err) {
			/* Generated data: a parse failure is a generator or parser bug. */
			log_error("tracefs data: format of %s:%s does not parse (%d)\n", r->category,
				  r->name, err);
			table_err = err;
			return;
		}
		for (j = 0; j < ev->field_cnt; j++) {
			uint32_t end = (uint32_t)ev->fields[j].off + ev->fields[j].sz;

			if (end > ev->ctx_sz)
				ev->ctx_sz = end;
		}
		if (!ev->is_raw && r->nr >= 0 && r->nr < TP_NR_MAX)
			by_nr[ev->is_exit][r->nr] = (int)i + 1;
	}
	event_cnt = tp_syscalls_raw_cnt;
}

static int table_get(void)
{
	pthread_once(&table_once, table_build);
	return table_err;
}

int tp_event_lookup(const char *category, const char *name, const struct tp_event **out)
{
	unsigned int i;
	int err = table_get();

	if (err)
		return err;
	for (i = 0; i < event_cnt; i++) {
		if (!strcmp(events[i].name, name) && !strcmp(events[i].category, category)) {
			*out = &events[i];
			return 0;
		}
	}
	return -ENOENT;
}

int tp_event_lookup_id(uint32_t id, const struct tp_event **out)
{
	unsigned int i;
	int err = table_get();

	if (err)
		return err;
	for (i = 0; i < event_cnt; i++) {
		if (events[i].id == id) {
			*out = &events[i];
			return 0;
		}
	}
	return -ENOENT;
}

int tp_event_lookup_nr(int nr, bool is_exit, const struct tp_event **out)
{
	int err = table_get();

	if (err)
		return err;
	if (nr < 0 || nr >= TP_NR_MAX || !by_nr[is_exit][nr])
		return -ENOENT;
	*out = &events[by_nr[is_exit][nr] - 1];
	return 0;
}

unsigned int tp_event_count(void)
{
	return table_get() ? 0 : event_cnt;
}

const struct tp_event *tp_event_at(unsigned int idx)
{
	if (table_get() || idx >= event_cnt)
		return NULL;
	return &events[idx];
}

const char *tp_event_kernel_release(void)
{
	return tp_syscalls_kernel_release;
}

const struct tp_field *tp_event_field(const struct tp_event *ev, const char *name)
{
	unsigned int i;

	for (i = 0; i < ev->field_cnt; i++)
		if (!strcmp(ev->fields[i].name, name))
			return &ev->fields[i];
	return NULL;
}
