/*
 * maps.c - read this process's memory map (/proc/self/maps, proc(5)) and turn
 * a (file, offset) probe site into an address, as the kernel's uprobe PMU
 * names sites (kernel/trace/trace_uprobe.c: path + offset into the inode).
 *
 * The file is matched by device and inode against each mapping, never by name:
 * the name in maps is whatever path the loader used, may be a symlink target,
 * and may say "(deleted)". An overlay filesystem reports the underlying
 * device in maps but its own in stat(); for that case we fall back to inode
 * plus the canonical path.
 *
 * Only attach/detach and resolution read the map; nothing here is on the hit
 * path. Lines are parsed with sscanf from a stdio stream we own (the host's
 * stdio buffers are never touched).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/hooks_int.h"

static void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

int hook_maps_walk(hook_maps_fn fn, void *arg)
{
	__attribute__((cleanup(fclosep))) FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128];

	if (!f) {
		int err = -errno;

		log_debug("hooks: /proc/self/maps: %s\n", strerror(-err));
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		struct hook_maps_ent e = { 0 };
		char perms[8] = "";
		int path_at = 0, ret;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n",
			   &e.start, &e.end, perms, &e.off, &e.dev_major, &e.dev_minor, &e.ino,
			   &path_at) < 7)
			continue;
		e.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
			 (perms[2] == 'x' ? PROT_EXEC : 0);
		e.shared = perms[3] == 's';
		if (path_at > 0) {
			size_t n = strcspn(line + path_at, "\n");

			if (n >= sizeof(e.path))
				n = sizeof(e.path) - 1;
			memcpy(e.path, line + path_at, n);
		}
		ret = fn(&e, arg);
		if (ret)
			return ret > 0 ? 0 : ret;
	}
	return 0;
}

struct find_arg {
	uint64_t addr;
	struct hook_maps_ent *out;
	bool found;
};

static int find_cb(const struct hook_maps_ent *e, void *arg)
{
	struct find_arg *a = arg;

	if (a->addr >= e->start && a->addr < e->end) {
		*a->out = *e;
		a->found = true;
		return 1;
	}
	return 0;
}

/* The mapping holding @addr, or -ENOENT. */
int hook_maps_find(uint64_t addr, struct hook_maps_ent *out)
{
	struct find_arg a = { .addr = addr, .out = out };
	int err = hook_maps_walk(find_cb, &a);

	if (err)
		return err;
	return a.found ? 0 : -ENOENT;
}

/*
 * Which mapping of a file holds a file offset. Two callers want different
 * mappings of the same file: a probe site wants the code (prefer the
 * executable mapping), a USDT semaphore wants the data the kernel would
 * count in (valid_ref_ctr_vma() in kernel/events/uprobes.c: writable and
 * private). Files are matched by device and inode; overlayfs reports
 * another device in /proc/self/maps than stat() does, so the canonical
 * path is the fallback.
 */
struct resolve_arg {
	dev_t dev;
	ino_t ino;
	const char *real;	/* canonical path, for the overlayfs fallback */
	uint64_t off;
	bool ref_ctr;		/* want a writable private mapping (a USDT semaphore) */
	uint64_t addr;		/* best match so far */
	int score;		/* code: 4 dev+ino and exec ... 1 path fallback; ref_ctr: 1 found */
};

static int resolve_cb(const struct hook_maps_ent *e, void *arg)
{
	struct resolve_arg *a = arg;
	bool same_dev = makedev(e->dev_major, e->dev_minor) == a->dev;
	int score;

	if (e->ino != a->ino || a->off < e->off || a->off - e->off >= e->end - e->start)
		return 0;
	if (!same_dev && (!a->real || strcmp(e->path, a->real)))
		return 0;
	if (a->ref_ctr) {
		if (!(e->prot & PROT_WRITE) || e->shared)
			return 0;
		a->score = 1;
		a->addr = e->start + (a->off - e->off);
		return 1;
	}
	/* Prefer the executable mapping: a probe site is code. */
	score = (same_dev ? 2 : 1) + ((e->prot & PROT_EXEC) ? 2 : 0);
	if (score > a->score) {
		a->score = score;
		a->addr = e->start + (a->off - e->off);
	}
	return 0;
}

static int resolve(const char *path, uint64_t off, bool ref_ctr, uint64_t *addr)
{
	_cleanup_free_ char *real = NULL;
	struct resolve_arg a = { .off = off, .ref_ctr = ref_ctr };
	struct stat st;
	int err;

	if (stat(path, &st)) {
		err = -errno;
		log_debug("hooks: stat %s: %s\n", path, strerror(-err));
		return err;
	}
	real = realpath(path, NULL);
	a.dev = st.st_dev;
	a.ino = st.st_ino;
	a.real = real;
	err = hook_maps_walk(resolve_cb, &a);
	if (err)
		return err;
	if (!a.score) {
		log_debug("hooks: offset %#llx of %s %s\n", (unsigned long long)off, path,
			  ref_ctr ? "is in no writable private mapping here" : "is not mapped in this process");
		return -ENOENT;
	}
	*addr = a.addr;
	return 0;
}

int hook_resolve_file_offset(const char *path, uint64_t off, void **addr)
{
	uint64_t a;
	int err;

	if (!path || !addr)
		return -EINVAL;
	err = resolve(path, off, false, &a);
	if (!err)
		*addr = (void *)(uintptr_t)a;
	return err;
}

int hook_resolve_ref_ctr(const char *path, uint64_t off, uint16_t **ctr)
{
	uint64_t a;
	int err;

	if (!path || !ctr)
		return -EINVAL;
	if (off & 1)
		return -EINVAL; /* uprobe_register(): IS_ALIGNED(ref_ctr_offset, sizeof(short)) */
	err = resolve(path, off, true, &a);
	if (!err)
		*ctr = (uint16_t *)(uintptr_t)a;
	return err;
}
