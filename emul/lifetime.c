/*
 * lifetime.c - when an object dies: last fd closed, no pin, nobody using it.
 *
 * The kernel frees a program, map, link or BTF object when its last
 * reference goes; closing the last fd of a link or perf event detaches it.
 * bpftime must see those closes although they happen in other processes,
 * possibly after a dup(), fork() or SCM_RIGHTS transfer.
 *
 * How: every fd we install is a NEW open file description of the object's
 * backing file (reopened through /proc/self/fd), never our own. dup, fork
 * and SCM_RIGHTS share a description, so each description handed out is
 * released exactly once, when its last copy (or mapping) goes, and the
 * kernel then reports IN_CLOSE_* on the inode to our inotify watch. So
 *     fd_cnt = descriptions handed out - close events seen
 * counts live descriptions exactly. Our own long-lived description
 * (emu_obj.fd) is never counted and is closed only after the watch is
 * removed. A lost event (IN_Q_OVERFLOW) can only leave fd_cnt too high: we
 * may leak an object, never free one in use.
 *
 * ref_cnt counts everything else that keeps an object alive: a pin, a link
 * or perf event holding a program, a link holding its perf event, a program
 * holding its maps (kernel: bpf_prog_put(), bpf_link_put(), map refs in
 * used_maps). An object is freed when both counts are zero.
 *
 * DIVERGES: removing a pin file does not drop its reference yet (pinned
 * objects live until the session ends); only the bpftime-run that created
 * an object watches it, so closes it alone can see.
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
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

int emu_life_init(struct emu_session *s)
{
	s->ino_fd = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	return s->ino_fd < 0 ? -errno : 0;
}

int emu_session_event_fd(const struct emu_session *s)
{
	return s->ino_fd;
}

int emu_obj_watch(struct emu_session *s, struct emu_obj *o)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fd);
	o->wd = inotify_add_watch(s->ino_fd, path, IN_CLOSE_WRITE | IN_CLOSE_NOWRITE);
	return o->wd < 0 ? -errno : 0;
}

int emu_obj_reply_fd(struct emu_obj *o, bool cloexec, struct emu_reply *r)
{
	char path[64];
	int fd, flags = O_RDWR;

	if (o->kind == EMU_REG_BTF && o->slot->u.btf.kernel_btf)
		flags = O_RDONLY;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", o->fd);
	/* Pairs with the decrement in emu_session_events(): a failed install closes this
	 * description and the close event balances the count. */
	__atomic_add_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
	fd = open(path, flags | O_CLOEXEC);
	if (fd < 0) {
		__atomic_sub_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
		return -errno;
	}
	r->install_fd = fd;
	r->cloexec = cloexec;
	r->val = 0;
	return 0;
}

void emu_obj_get(struct emu_obj *o)
{
	__atomic_add_fetch(&o->slot->ref_cnt, 1, __ATOMIC_ACQ_REL);
}

static void obj_free(struct emu_session *s, struct emu_obj *o);

void emu_obj_put(struct emu_session *s, struct emu_obj *o)
{
	if (__atomic_sub_fetch(&o->slot->ref_cnt, 1, __ATOMIC_ACQ_REL) == 0 &&
	    __atomic_load_n(&o->slot->fd_cnt, __ATOMIC_ACQUIRE) == 0 && o->wd >= 0)
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
	inotify_rm_watch(s->ino_fd, o->wd);
	o->wd = -1;
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
	if (o->ring_map)
		munmap(o->ring_map, o->ring_map_sz);
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
			struct emu_obj *o;

			p += sizeof(*ev) + ev->len;
			if (ev->mask & IN_Q_OVERFLOW) {
				log_warn("inotify queue overflow: some closed bpf objects will not be freed\n");
				continue;
			}
			if (!(ev->mask & (IN_CLOSE_WRITE | IN_CLOSE_NOWRITE)))
				continue;
			for (o = s->objs; o; o = o->next)
				if (o->wd == ev->wd)
					break;
			if (!o)
				continue;
			if (__atomic_sub_fetch(&o->slot->fd_cnt, 1, __ATOMIC_ACQ_REL) == 0 &&
			    __atomic_load_n(&o->slot->ref_cnt, __ATOMIC_ACQUIRE) == 0)
				obj_free(s, o);
		}
	}
}
