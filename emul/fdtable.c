/*
 * fdtable.c - which object a target fd stands for.
 *
 * An fd bpftime hands out is always an open file whose (st_dev, st_ino) is
 * recorded in the object's registry slot: a map's memfd (so mmap works with
 * the kernel layout), or a file under <session>/obj/ for programs, BTF,
 * links and perf events. The target may dup it, fork, or pass it over
 * SCM_RIGHTS: every copy still names the same inode, so we identify an
 * object by stat(/proc/<tid>/fd/<n>) and never keep per-process fd tables,
 * which could not follow those moves. This is how the kernel itself works
 * (fdget() then file->private_data), with the inode as private_data.
 *
 * The session keeps a local list of the objects this bpftime-run has
 * touched; a miss falls back to the shared registry, so an object created
 * by another bpftime-run of the session is found too.
 *
 * When an object dies (last fd closed, last pin removed, nobody holding
 * it) is lifetime.c's business.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

static const char *const kind_name[] = {
	[EMU_REG_PROG] = "bpf-prog", [EMU_REG_MAP] = "bpf-map", [EMU_REG_LINK] = "bpf-link",
	[EMU_REG_BTF] = "btf", [EMU_REG_PERF] = "perf_event",
};

const char *emu_kind_name(enum emu_reg_kind kind)
{
	return kind > 0 && kind < EMU_REG_KIND_MAX ? kind_name[kind] : "?";
}

static void obj_add(struct emu_session *s, struct emu_obj *o)
{
	o->wake_fd = -1;
	o->wd = -1;
	o->next = s->objs;
	s->objs = o;
}

int emu_obj_new(struct emu_session *s, enum emu_reg_kind kind, const char *name, uint32_t type,
		const void *data, size_t data_sz, size_t file_sz, struct emu_obj **out)
{
	struct emu_reg_slot *slot;
	struct emu_obj *o;
	struct stat st;
	char path[4096];
	int err, fd;

	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	err = emu_reg_claim(s, kind, &slot);
	if (err)
		goto err_free;
	snprintf(path, sizeof(path), "%s/%s-%u", s->obj_dir, kind_name[kind], slot->id);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = -errno;
		goto err_release;
	}
	o->fd = fd;
	if (data_sz && pwrite(fd, data, data_sz, 0) != (ssize_t)data_sz) {
		err = errno ? -errno : -ENOSPC;
		goto err_unlink;
	}
	if (file_sz > data_sz && ftruncate(fd, (off_t)file_sz) < 0) {
		err = -errno;
		goto err_unlink;
	}
	if (fstat(fd, &st) < 0) {
		err = -errno;
		goto err_unlink;
	}
	o->kind = kind;
	o->id = slot->id;
	o->slot = slot;
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	slot->dev = st.st_dev;
	slot->ino = st.st_ino;
	slot->type = type;
	if (name)
		strncpy(slot->name, name, sizeof(slot->name) - 1);
	obj_add(s, o);
	*out = o;
	return 0;

err_unlink:
	unlink(path);
	close(fd);
err_release:
	emu_reg_release(s, slot);
err_free:
	free(o);
	return err;
}

int emu_obj_adopt(struct emu_session *s, enum emu_reg_kind kind, int fd, const char *name, uint32_t type,
		  struct emu_obj **out)
{
	struct emu_reg_slot *slot;
	int err;

	err = emu_reg_claim(s, kind, &slot);
	if (err)
		return err;
	err = emu_obj_adopt_slot(s, slot, fd, name, type, out);
	if (err) {
		emu_reg_release(s, slot);
		__atomic_store_n(&slot->state, EMU_REG_FREE, __ATOMIC_RELEASE);
	}
	return err;
}

int emu_obj_adopt_slot(struct emu_session *s, struct emu_reg_slot *slot, int fd, const char *name, uint32_t type,
		       struct emu_obj **out)
{
	enum emu_reg_kind kind = slot->kind;
	struct emu_obj *o;
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->kind = kind;
	o->id = slot->id;
	o->slot = slot;
	o->fd = fd;
	o->dev = st.st_dev;
	o->ino = st.st_ino;
	slot->dev = st.st_dev;
	slot->ino = st.st_ino;
	slot->type = type;
	if (name)
		strncpy(slot->name, name, sizeof(slot->name) - 1);
	obj_add(s, o);
	*out = o;
	return 0;
}

/* Open the object of a registry slot published by another bpftime-run (or by us earlier). */
static int obj_from_slot(struct emu_session *s, struct emu_reg_slot *slot, struct emu_obj **out)
{
	struct emu_obj *o;
	char path[4096];
	int fd;

	for (o = s->objs; o; o = o->next)
		if (o->slot == slot) {
			*out = o;
			return 0;
		}
	if (slot->kind == EMU_REG_MAP) {
		struct stat st;

		/* A map lives in its creator's memfd; reopen it through the creator's fd table
		 * (same user, so /proc allows it) and make sure it is still that map. */
		snprintf(path, sizeof(path), "/proc/%u/fd/%u", slot->owner_pid, slot->u.map.owner_fd);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			return -ENOENT;
		if (fstat(fd, &st) < 0 || st.st_ino != slot->ino || st.st_dev != slot->dev) {
			close(fd);
			return -ENOENT;
		}
		goto have_fd;
	}
	if (slot->kind == EMU_REG_BTF && slot->u.btf.kernel_btf)
		snprintf(path, sizeof(path), "/sys/kernel/btf/vmlinux");
	else
		snprintf(path, sizeof(path), "%s/%s-%u", s->obj_dir, kind_name[slot->kind], slot->id);
	fd = open(path, (slot->u.btf.kernel_btf && slot->kind == EMU_REG_BTF ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -ENOENT;
have_fd:
	if (slot->owner_pid != (uint32_t)getpid() && !(slot->kind == EMU_REG_BTF && slot->u.btf.kernel_btf)) {
		/* Someone else's object: hold it through a tracked description, so its
		 * owner sees our close when we exit. */
		struct emu_obj tmp = { .kind = slot->kind, .id = slot->id, .slot = slot, .fd = fd, .wd = -1 };
		int tfd = emu_obj_open_tracked(s, &tmp, O_RDWR);

		close(fd);
		if (tfd < 0)
			return -ENOENT;
		fd = tfd;
	}
	o = calloc(1, sizeof(*o));
	if (!o) {
		close(fd);
		return -ENOMEM;
	}
	o->kind = slot->kind;
	o->id = slot->id;
	o->slot = slot;
	o->fd = fd;
	o->dev = (dev_t)slot->dev;
	o->ino = (ino_t)slot->ino;
	obj_add(s, o);
	*out = o;
	return 0;
}

int emu_fd_lookup(struct emu_session *s, const struct emu_target *t, int tfd, enum emu_reg_kind kind,
		  struct emu_obj **out)
{
	struct emu_reg_slot *slot;
	struct emu_obj *o;
	struct stat st;
	int err;

	if (tfd < 0)
		return -EBADF;
	err = t->ops->fd_stat(t, tfd, &st);
	if (err)
		return err;
	/* Sockets, pipes, ttys...: not on a file system our objects live on, so not ours,
	 * without a registry scan (epoll_ctl ADD of every socket passes here). */
	if (st.st_dev != s->obj_devs[0] && st.st_dev != s->obj_devs[1] && st.st_dev != s->obj_devs[2])
		return -EINVAL;
	for (o = s->objs; o; o = o->next)
		if (o->ino == st.st_ino && o->dev == st.st_dev)
			goto found;
	slot = emu_reg_find_ino(s, st.st_dev, st.st_ino);
	if (!slot)
		return -EINVAL; /* an fd, but not a bpf object: the kernel's __bpf_map_get() says EINVAL */
	err = obj_from_slot(s, slot, &o);
	if (err)
		return err == -ENOENT ? -EINVAL : err;
found:
	if (kind && o->kind != kind)
		return -EINVAL;
	if (__atomic_load_n(&o->slot->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE)
		return -EINVAL;
	*out = o;
	return 0;
}

int emu_obj_by_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id, struct emu_obj **out)
{
	struct emu_reg_slot *slot;
	struct emu_obj *o;

	for (o = s->objs; o; o = o->next)
		if (o->kind == kind && o->id == id &&
		    __atomic_load_n(&o->slot->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE) {
			*out = o;
			return 0;
		}
	slot = emu_reg_find_id(s, kind, id);
	if (!slot)
		return -ENOENT;
	return obj_from_slot(s, slot, out);
}

void emu_objs_free(struct emu_session *s)
{
	struct emu_obj *o, *next;

	for (o = s->objs; o; o = next) {
		next = o->next;
		if (o->priv_free)
			o->priv_free(o->priv);
		emu_ring_wake_unwatch(o);
		zclose(&o->wake_fd);
		zclose(&o->fd);
		free(o);
	}
	s->objs = NULL;
}

int emu_copy_name(char dst[16], const char src[16])
{
	/* Mirrors bpf_obj_name_cpy() in kernel/bpf/syscall.c: [A-Za-z0-9_.], NUL within 16 bytes. */
	int i;

	memset(dst, 0, 16);
	for (i = 0; i < 16 && src[i]; i++) {
		char c = src[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
		      c == '.'))
			return -EINVAL;
		dst[i] = c;
	}
	if (i == 16)
		return -EINVAL;
	return 0;
}

uint64_t emu_now_boottime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
