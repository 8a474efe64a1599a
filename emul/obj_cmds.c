/*
 * obj_cmds.c - pins (BPF_OBJ_PIN, BPF_OBJ_GET), the id space
 * (*_GET_NEXT_ID, *_GET_FD_BY_ID) and BPF_ENABLE_STATS
 * (kernel/bpf/syscall.c and kernel/bpf/inode.c).
 *
 * Pins: the workload sees the session's bpffs/ directory at /sys/fs/bpf
 * (bind mount, supervisor/launch.c). A pin is a regular file there whose
 * content names the object ("bpftime-pin <kind> <id>\n"); the file belongs
 * to the user, so ls, rm and mkdir work as on bpffs. We accept absolute
 * paths under /sys/fs/bpf/ only and map them onto bpffs/ ourselves, so the
 * supervisor never follows a path through the workload's namespace.
 * DIVERGES: the kernel resolves relative paths against the caller's cwd and
 * accepts any bpffs mount point; we answer EPERM ("not on a bpf
 * filesystem") for anything else.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/mman.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

#define BPFFS_PREFIX "/sys/fs/bpf/"

static const char *const kind_word[] = {
	[EMU_REG_PROG] = "prog", [EMU_REG_MAP] = "map", [EMU_REG_LINK] = "link", [EMU_REG_BTF] = "btf",
};

static int read_user_path(const struct emu_target *t, uint64_t uptr, char *buf, size_t max)
{
	/* strncpy_from_user() of PATH_MAX: a fault is EFAULT, no NUL is ENAMETOOLONG. */
	for (size_t i = 0; i < max; i += 64) {
		size_t n = MIN((size_t)64, max - i);
		int err = t->ops->read(t, uptr + i, buf + i, n);

		if (err) {
			/* The string may end just before an unmapped page: retry byte by byte. */
			for (size_t j = i; j < i + n; j++) {
				err = t->ops->read(t, uptr + j, buf + j, 1);
				if (err)
					return err == -ENOENT ? err : -EFAULT;
				if (!buf[j])
					return 0;
			}
		}
		if (memchr(buf + i, 0, n))
			return 0;
	}
	return -ENAMETOOLONG;
}

/* Map a user path onto the session's bpffs directory. */
static int pin_path(struct emu_session *s, const char *upath, char *out, size_t out_sz)
{
	const char *rest;

	if (!*upath)
		return -ENOENT;
	if (!strcmp(upath, "/sys/fs/bpf"))
		return -EEXIST;
	if (strncmp(upath, BPFFS_PREFIX, strlen(BPFFS_PREFIX)) != 0)
		return -EPERM;
	rest = upath + strlen(BPFFS_PREFIX);
	while (*rest == '/')
		rest++;
	if (!*rest)
		return -EEXIST; /* the mount point itself exists */
	if (strstr(rest, "/../") || !strncmp(rest, "../", 3) || !strcmp(rest, "..") ||
	    (strlen(rest) >= 3 && !strcmp(rest + strlen(rest) - 3, "/..")))
		return -EPERM;
	if ((size_t)snprintf(out, out_sz, "%s/%s", s->bpffs_dir, rest) >= out_sz)
		return -ENAMETOOLONG;
	return 0;
}

static int obj_pin(struct emu_session *s, const struct emu_target *t, union bpf_attr *a)
{
	char upath[PATH_MAX], path[PATH_MAX + 256], text[64];
	struct emu_obj *o;
	int err, fd, n;

	if (a->file_flags)
		return -EINVAL;
	err = emu_fd_lookup(s, t, (int)a->bpf_fd, 0, &o);
	if (err)
		return err;
	if (o->kind == EMU_REG_PERF)
		return -EINVAL;
	err = read_user_path(t, a->pathname, upath, sizeof(upath));
	if (err)
		return err;
	err = pin_path(s, upath, path, sizeof(path));
	if (err)
		return err;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	n = snprintf(text, sizeof(text), "bpftime-pin %s %u\n", kind_word[o->kind], o->id);
	if (write(fd, text, (size_t)n) != n) {
		err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	close(fd);
	emu_obj_get(o); /* the pin's reference, dropped when the pin file is removed */
	if (emu_pin_watch(s, o, path))
		log_info("pin %s will keep its object until the session ends\n", upath);
	log_debug("OBJ_PIN: %s id %u at %s\n", kind_word[o->kind], o->id, upath);
	return 0;
}

static int obj_get(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	char upath[PATH_MAX], path[PATH_MAX + 256], text[64] = { 0 }, word[8];
	struct emu_obj *o;
	unsigned id;
	int err, fd;
	ssize_t n;

	if (a->bpf_fd != 0 || (a->file_flags & ~(BPF_F_RDONLY | BPF_F_WRONLY)) ||
	    (a->file_flags & (BPF_F_RDONLY | BPF_F_WRONLY)) == (BPF_F_RDONLY | BPF_F_WRONLY))
		return -EINVAL;
	err = read_user_path(t, a->pathname, upath, sizeof(upath));
	if (err)
		return err;
	err = pin_path(s, upath, path, sizeof(path));
	if (err == -EEXIST)
		return -EACCES; /* the directory is not an object */
	if (err)
		return err;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ELOOP ? -EACCES : -errno;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n < 0)
		return errno == EISDIR ? -EACCES : -EIO;
	/* bpf_inode_type(): a file that is not a pinned object gives EACCES. */
	if (sscanf(text, "bpftime-pin %7s %u", word, &id) != 2)
		return -EACCES;
	for (int k = EMU_REG_PROG; k <= EMU_REG_BTF; k++) {
		if (strcmp(word, kind_word[k]) != 0)
			continue;
		err = emu_obj_by_id(s, (enum emu_reg_kind)k, id, &o);
		if (err)
			return err;
		return emu_obj_reply_fd(s, o, true, r);
	}
	return -EACCES;
}

static int next_id(struct emu_session *s, const struct emu_target *t, enum emu_reg_kind kind,
		   union bpf_attr *a, uint64_t uattr)
{
	uint32_t id;

	if (kind == EMU_REG_BTF) {
		struct emu_obj *v;

		(void)emu_btf_vmlinux(s, &v); /* vmlinux BTF (id 1) exists as on the kernel */
	}
	id = emu_reg_next_id(s, kind, a->start_id);
	if (!id)
		return -ENOENT;
	/* put_user(next_id, &uattr->next_id) */
	return t->ops->write(t, uattr + offsetof(union bpf_attr, next_id), &id, sizeof(id));
}

static int fd_by_id(struct emu_session *s, enum emu_reg_kind kind, union bpf_attr *a, struct emu_reply *r)
{
	struct emu_obj *o;
	uint32_t id;
	int err;

	if (kind == EMU_REG_MAP) {
		if (a->open_flags & ~(BPF_F_RDONLY | BPF_F_WRONLY) ||
		    (a->open_flags & (BPF_F_RDONLY | BPF_F_WRONLY)) == (BPF_F_RDONLY | BPF_F_WRONLY))
			return -EINVAL;
		id = a->map_id;
	} else if (kind == EMU_REG_PROG) {
		id = a->prog_id;
	} else if (kind == EMU_REG_BTF) {
		id = a->btf_id;
		if (id == 1)
			return emu_btf_vmlinux(s, &o) ?: emu_obj_reply_fd(s, o, true, r);
	} else {
		id = a->link_id;
	}
	err = emu_obj_by_id(s, kind, id, &o);
	if (err)
		return err;
	return emu_obj_reply_fd(s, o, true, r);
}

int emu_obj_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *a, uint64_t uattr,
		struct emu_reply *r)
{
	switch (cmd) {
	case BPF_OBJ_PIN:
		return obj_pin(s, t, a);
	case BPF_OBJ_GET:
		return obj_get(s, t, a, r);
	case BPF_PROG_GET_NEXT_ID:
		return next_id(s, t, EMU_REG_PROG, a, uattr);
	case BPF_MAP_GET_NEXT_ID:
		return next_id(s, t, EMU_REG_MAP, a, uattr);
	case BPF_BTF_GET_NEXT_ID:
		return next_id(s, t, EMU_REG_BTF, a, uattr);
	case BPF_LINK_GET_NEXT_ID:
		return next_id(s, t, EMU_REG_LINK, a, uattr);
	case BPF_PROG_GET_FD_BY_ID:
		return fd_by_id(s, EMU_REG_PROG, a, r);
	case BPF_MAP_GET_FD_BY_ID:
		return fd_by_id(s, EMU_REG_MAP, a, r);
	case BPF_BTF_GET_FD_BY_ID:
		return fd_by_id(s, EMU_REG_BTF, a, r);
	case BPF_LINK_GET_FD_BY_ID:
		return fd_by_id(s, EMU_REG_LINK, a, r);
	case BPF_ENABLE_STATS:
		/* bpf_enable_stats(): only BPF_STATS_RUN_TIME exists. */
		if (a->enable_stats.type != BPF_STATS_RUN_TIME)
			return -EINVAL;
		log_info("BPF_ENABLE_STATS: bpftime does not collect run-time statistics (run_time_ns stays 0)\n");
		{
			int fd = memfd_create("bpf-stats", MFD_CLOEXEC);

			if (fd < 0)
				return -errno;
			r->install_fd = fd;
			r->cloexec = true;
		}
		return 0;
	}
	return -EINVAL;
}

/*
 * statfs(2) on the pin directory: the file system type is BPF_FS_MAGIC, as
 * on a real bpffs (libbpf's check_path() and bpftool's is_bpffs() test it);
 * the other fields are those of the session directory. Any other path
 * continues to the kernel.
 */
int emu_statfs(struct emu_session *s, const struct emu_target *t, const uint64_t args[6], struct emu_reply *r)
{
	char upath[PATH_MAX], path[PATH_MAX + 256];
	struct statfs st;
	int err;

	err = read_user_path(t, args[0], upath, sizeof(upath));
	if (err == -ENOENT)
		return err;
	if (err || (strcmp(upath, "/sys/fs/bpf") && strncmp(upath, BPFFS_PREFIX, strlen(BPFFS_PREFIX)))) {
		r->cont = true;
		return 0;
	}
	err = pin_path(s, upath, path, sizeof(path));
	if (err == -EEXIST)
		snprintf(path, sizeof(path), "%s", s->bpffs_dir);
	else if (err) {
		r->cont = true;
		return 0;
	}
	if (statfs(path, &st) < 0)
		return r->val = -errno, 0;
	st.f_type = BPF_FS_MAGIC;
	if (t->ops->write(t, args[1], &st, sizeof(st)))
		return r->val = -EFAULT, 0;
	r->val = 0;
	return 0;
}
