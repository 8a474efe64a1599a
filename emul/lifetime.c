/*
 * lifetime.c - when an object dies: last fd closed, no pin, nobody using it.
 *
 * The kernel frees a program, map, link or BTF object when its last
 * reference goes; closing the last fd of a link or perf event detaches it.
 * bpftime must see those closes although they happen in other processes,
 * possibly after a dup(), fork() or SCM_RIGHTS transfer.
 *
 * How: every fd we install is a NEW open file description, opened through
 * its own hard link <session>/obj/fd/<kind>.<id>.<seq> of the object's
 * backing file. dup, fork and SCM_RIGHTS share a description, so each
 * description is released exactly once, when its last copy (or mapping)
 * goes, and inotify then reports IN_CLOSE_* on obj/fd/ with that link's
 * name. One name per description matters: inotify merges identical
 * consecutive events, so counting events on the inode would lose closes.
 * The owner of the object (the bpftime-run that created it) removes the
 * link and decrements fd_cnt; our own long-lived description (emu_obj.fd)
 * is opened on the main file and never counted. A lost event
 * (IN_Q_OVERFLOW) can only leave fd_cnt too high: we may leak an object,
 * never free one in use. Files we cannot hard-link (a memfd, the kernel's
 * BTF) are simply not tracked.
 *
 * ref_cnt counts everything else that keeps an object alive: a pin, a link
 * or perf event holding a program, a link holding its perf event, a program
 * holding its maps (kernel: bpf_prog_put(), bpf_link_put(), map refs in
 * used_maps). An object is freed when both counts are zero.
 *
 * DIVERGES: only the bpftime-run that created an object watches it, so
 * closes it alone can see; an object outlives its creator's exit if others
 * still use it, until the session ends.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

int emu_life_init(struct emu_session *s)
{
	s->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (s->ino_fd < 0)
		return -errno;
	if (mkdir(s->fd_dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	s->fd_dir_wd = inotify_add_watch(s->ino_fd, s->fd_dir, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
	if (s->fd_dir_wd < 0)
		return -errno;
	return 0;
}

int emu_session_event_fd(const struct emu_session *s)
{
	return s->ino_fd;
}

/* A new description of @o through its own link name; counted in fd_cnt. */
int emu_obj_open_tracked(struct emu_session *s, struct emu_obj *o, int flags)
{
	static uint32_t seq;
	char src[64], name[4096];
	int fd;

	snprintf(src, sizeof(src), "/proc/self/fd/%d", o->fd);
	if (o->kind == EMU_REG_BTF && o->slot->u.btf.kernel_btf) {
		fd = open(src, O_RDONLY | O_CLOEXEC);
		return fd < 0 ? -errno : fd;
	}
	snprintf(name, sizeof(name), "%s/%s.%u.%u.%u", s->fd_dir, emu_kind_name(o->kind), o->id, (unsigned)getpid(),
		 ++seq);
	if (linkat(AT_FDCWD, src, AT_FDCWD, name, AT_SYMLINK_FOLLOW) < 0) {
		/*
		 * Not linkable (a map's memfd): watch the inode itself. Its close
		 * events carry no name, and two identical unread ones merge, so a
		 * burst of closes can leave fd_cnt high (a leak, never an early free).
		 */
		if (o->wd < 0 && o->slot->owner_pid == (uint32_t)getpid())
			o->wd = inotify_add_watch(s->ino_fd, src, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
		fd = open(src, flags | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		/* The owner's inode watch (set up when it handed out the first fd) sees this close too. */
		if (o->wd >= 0 || o->slot->owner_pid != (uint32_t)getpid())
			__atomic_add_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
		return fd;
	}
	/* Pairs with the decrement in emu_session_events(); a failed install closes the
	 * description, whose close event balances the count. */
	__atomic_add_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
	fd = open(name, flags | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		fd = -errno;
		__atomic_sub_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
		unlink(name);
	}
	return fd;
}

int emu_obj_reply_fd(struct emu_session *s, struct emu_obj *o, bool cloexec, struct emu_reply *r)
{
	int fd = emu_obj_open_tracked(s, o, O_RDWR);

	if (fd < 0)
		return fd;
	r->install_fd = fd;
	r->cloexec = cloexec;
	r->val = 0;
	return 0;
}

/*
 * Pins: a pin file in the workload's /sys/fs/bpf is a file in the session's
 * bpffs/ tree. Removing it (rm, unlink(2)) drops the pin's reference, as
 * unlinking a bpffs inode does (kernel/bpf/inode.c, bpf_free_inode()). We
 * watch the pin's directory for IN_DELETE. A renamed pin keeps its
 * reference (DIVERGES only in that a pin moved to another directory is no
 * longer watched, so deleting it later does not release the object).
 */
int emu_pin_watch(struct emu_session *s, struct emu_obj *o, const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct emu_pin *p;

	if (!slash || (size_t)(slash - path) >= sizeof(dir) || strlen(slash + 1) >= sizeof(p->name))
		return -EINVAL;
	memcpy(dir, path, (size_t)(slash - path));
	dir[slash - path] = 0;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->wd = inotify_add_watch(s->ino_fd, dir, IN_DELETE);
	if (p->wd < 0) {
		free(p);
		return -errno;
	}
	snprintf(p->name, sizeof(p->name), "%s", slash + 1);
	p->kind = o->kind;
	p->id = o->id;
	p->next = s->pins;
	s->pins = p;
	return 0;
}

static void pin_removed(struct emu_session *s, int wd, const char *name)
{
	struct emu_pin **pp, *p;
	struct emu_obj *o;

	for (pp = &s->pins; (p = *pp); pp = &p->next) {
		if (p->wd != wd || strcmp(p->name, name) != 0)
			continue;
		*pp = p->next;
		if (!emu_obj_by_id(s, p->kind, p->id, &o))
			emu_obj_put(s, o);
		free(p);
		return;
	}
}

void emu_pins_free(struct emu_session *s)
{
	struct emu_pin *p, *next;

	for (p = s->pins; p; p = next) {
		next = p->next;
		free(p);
	}
	s->pins = NULL;
}

void emu_obj_get(struct emu_obj *o)
{
	__atomic_add_fetch(&o->slot->ref_cnt, 1, __ATOMIC_ACQ_REL);
}

static void obj_free(struct emu_session *s, struct emu_obj *o);

void emu_obj_put(struct emu_session *s, struct emu_obj *o)
{
	if (__atomic_sub_fetch(&o->slot->ref_cnt, 1, __ATOMIC_ACQ_REL) == 0 &&
	    __atomic_load_n(&o->slot->fd_cnt, __ATOMIC_ACQUIRE) == 0 && o->slot->owner_pid == (uint32_t)getpid())
		obj_free(s, o);
}

static void put_id(struct emu_session *s, enum emu_reg_kind kind, uint32_t id)
{
	struct emu_obj *o;

	if (id && !emu_obj_by_id(s, kind, id, &o))
		emu_obj_put(s, o);
}

static void obj_unlink(struct emu_session *s, struct emu_obj *o)
{
	struct emu_obj **pp;

	for (pp = &s->objs; *pp; pp = &(*pp)->next)
		if (*pp == o) {
			*pp = o->next;
			return;
		}
}

static void obj_free(struct emu_session *s, struct emu_obj *o)
{
	struct emu_reg_slot *slot = o->slot;
	char path[4096];

	log_debug("object kind %u id %u: last reference gone, freeing\n", o->kind, o->id);
	if (o->wd >= 0)
		inotify_rm_watch(s->ino_fd, o->wd);
	obj_unlink(s, o);
	/* Unpublish first, so nobody finds it while we drop what it held. */
	emu_reg_release(s, slot);
	switch (o->kind) {
	case EMU_REG_LINK:
		/* bpf_perf_link_release(): the event loses its program, the link its event. */
		emu_link_detach(s, o);
		break;
	case EMU_REG_PERF:
		/* perf_event_free_bpf_prog(): a SET_BPF program goes with its event. */
		if (slot->u.perf.prog_id)
			put_id(s, EMU_REG_PROG, slot->u.perf.prog_id);
		break;
	case EMU_REG_PROG:
		for (uint32_t i = 0; i < slot->u.prog.map_cnt; i++)
			put_id(s, EMU_REG_MAP, slot->u.prog.map_ids[i]);
		put_id(s, EMU_REG_BTF, slot->u.prog.btf_id);
		break;
	case EMU_REG_MAP:
		emu_map_release(s, o);
		put_id(s, EMU_REG_BTF, slot->u.map.btf_id);
		break;
	default:
		break;
	}
	if (o->kind != EMU_REG_MAP) {
		snprintf(path, sizeof(path), "%s/%s-%u", s->obj_dir, emu_kind_name(o->kind), o->id);
		unlink(path);
	}
	if (o->priv_free)
		o->priv_free(o->priv);
	emu_ring_wake_unwatch(o);
	zclose(&o->wake_fd);
	zclose(&o->fd);
	free(o);
	/* The slot may be reused now. Pairs with the CAS in emu_reg_claim(). */
	__atomic_store_n(&slot->state, EMU_REG_FREE, __ATOMIC_RELEASE);
}

void emu_session_events(struct emu_session *s)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	ssize_t n;

	while ((n = read(s->ino_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			struct inotify_event *ev = (struct inotify_event *)p;
			char kind[16], path[4096];
			unsigned id, pid, seq;
			struct emu_obj *o;

			p += sizeof(*ev) + ev->len;
			if ((ev->mask & IN_DELETE) && ev->len && ev->wd != s->fd_dir_wd) {
				pin_removed(s, ev->wd, ev->name);
				continue;
			}
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warn("inotify queue overflow: some closed bpf objects will not be freed\n");
				continue;
			}
			if (!(ev->mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)))
				continue;
			if (!ev->len) {
				/* An inode watch (memfd maps). */
				for (o = s->objs; o; o = o->next)
					if (o->wd == ev->wd)
						break;
				if (o && o->slot->owner_pid == (uint32_t)getpid() &&
				    __atomic_load_n(&o->slot->fd_cnt, __ATOMIC_ACQUIRE) > 0 &&
				    __atomic_sub_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL) == 0 &&
				    __atomic_load_n(&o->slot->ref_cnt, __ATOMIC_ACQUIRE) == 0)
					obj_free(s, o);
				continue;
			}
			if (sscanf(ev->name, "%15[a-z_-].%u.%u.%u", kind, &id, &pid, &seq) != 4)
				continue;
			for (o = s->objs; o; o = o->next)
				if (o->id == id && !strcmp(emu_kind_name(o->kind), kind))
					break;
			/* Only the owner counts; the link name is ours to remove then. */
			if (!o || o->slot->owner_pid != (uint32_t)getpid())
				continue;
			snprintf(path, sizeof(path), "%s/%s", s->fd_dir, ev->name);
			if (unlink(path) < 0)
				continue; /* already counted (a duplicate event) */
			if (__atomic_sub_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL) == 0 &&
			    __atomic_load_n(&o->slot->ref_cnt, __ATOMIC_ACQUIRE) == 0)
				obj_free(s, o);
		}
	}
}
