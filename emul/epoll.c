/*
 * epoll.c - making epoll work on ring buffer and perf buffer fds.
 *
 * The problem: bpftime's ring fds are memfds or tmpfs files, so mmap gives
 * the kernel layout, but epoll_ctl(ADD) on a regular file fails with EPERM
 * and poll(2) always reports it ready. libbpf's ring_buffer__new() and
 * bpftrace's perf buffers need epoll; bcc needs poll.
 *
 * The design: the filter traps epoll_ctl(EPOLL_CTL_ADD) only (rare: once per
 * fd per epoll set). For a bpftime ring fd, the supervisor takes the
 * target's epoll instance with pidfd_getfd(), adds an eventfd it owns with
 * the target's own epoll_event (so the target gets its data.u64 back) and
 * replies 0. Every other epoll_ctl continues to the kernel. The eventfd is
 * level-triggered: the supervisor keeps it readable exactly while the ring
 * holds unread data, comparing producer and consumer positions in the
 * shared mapping on a short tick (EMU_WAKE_TICK_MS) while any ring is
 * watched; an in-process producer may also write the eventfd for an
 * immediate wake-up. Consumers never read the eventfd; they read the ring,
 * the positions become equal, and the next tick drains it.
 *
 * Exercised end to end by libbpf's ring_buffer__poll() (tests/e2e/sup-skel.sh)
 * and bpftrace's perf buffers (tests/e2e/sup-bpftrace.sh).
 *
 * DIVERGES: wake-up latency is up to one tick; EPOLL_CTL_DEL of such an fd
 * returns ENOENT (the epoll item is ours). poll(2)/ppoll(2) never reach
 * us: the agent answers them in the traced process (hooks/agent_poll.c), so
 * a statically linked consumer that polls a ring still sees it always ready.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/agent_proto.h"

/* Attach the position pointers of a ring we can compare. */
static int ring_watch_init(struct emu_obj *o)
{
	void *p;

	if (o->ring_map)
		return 0;
	if (o->kind == EMU_REG_PERF && o->slot->type == EMU_REG_PERF_BPF_OUTPUT) {
		struct perf_event_mmap_page *pg;

		p = mmap(NULL, EMU_PAGE_SZ, PROT_READ, MAP_SHARED, o->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		pg = p;
		/* Who to poke after a write into the empty ring (hooks/agent_perf.c, emul/agent_wait.c). */
		{
			void *w = mmap(NULL, EMU_PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);

			if (w != MAP_FAILED) {
				__atomic_store_n((uint32_t *)((char *)w + AGENT_PERF_WAKER_OFF), (uint32_t)getpid(),
						 __ATOMIC_RELEASE);
				munmap(w, EMU_PAGE_SZ);
			}
		}
		o->ring_map = p;
		o->ring_map_sz = EMU_PAGE_SZ;
		o->ring_head = (volatile uint64_t *)&pg->data_head;
		o->ring_tail = (volatile uint64_t *)&pg->data_tail;
		return 0;
	}
	if (o->kind == EMU_REG_MAP && o->slot->type == BPF_MAP_TYPE_RINGBUF) {
		/* kernel/bpf/ringbuf.c layout: consumer_pos on page 0, producer_pos on page 1. */
		p = mmap(NULL, 2 * EMU_PAGE_SZ, PROT_READ, MAP_SHARED, o->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		o->ring_map = p;
		o->ring_map_sz = 2 * EMU_PAGE_SZ;
		o->ring_tail = (volatile uint64_t *)p;
		o->ring_head = (volatile uint64_t *)((char *)p + EMU_PAGE_SZ);
		return 0;
	}
	return -EPERM; /* what epoll_ctl says for a file without poll support */
}

int emu_epoll_ctl(struct emu_session *s, const struct emu_target *t, const uint64_t args[6], struct emu_reply *r)
{
	_cleanup_close_ int ep = -1, dup_fd = -1;
	struct epoll_event ev;
	struct emu_obj *o;
	int err;

	if ((int)args[1] != EPOLL_CTL_ADD || emu_fd_lookup(s, t, (int)args[2], 0, &o)) {
		r->cont = true;
		return 0;
	}
	if (o->kind == EMU_REG_PERF)
		(void)emu_perf_ring_learn_size(s, o, t->tid);
	err = ring_watch_init(o);
	if (err)
		return r->val = err, 0;
	if (t->ops->read(t, args[3], &ev, sizeof(ev)))
		return r->val = -EFAULT, 0;
	if (t->ops->valid(t))
		return -ENOENT;
	if (o->wake_fd < 0) {
		o->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (o->wake_fd < 0)
			return r->val = -errno, 0;
	}
	ep = t->ops->fd_get(t, (int)args[0]);
	if (ep < 0)
		return r->val = -EBADF, 0;
	/* A distinct fd number for the same eventfd file: one epoll item per target fd. */
	dup_fd = fcntl(o->wake_fd, F_DUPFD_CLOEXEC, 0);
	if (dup_fd < 0)
		return r->val = -errno, 0;
	ev.events &= ~(uint32_t)EPOLLEXCLUSIVE;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, dup_fd, &ev) < 0)
		return r->val = errno == EINVAL ? -EBADF : -errno, 0;
	log_debug("epoll_ctl: %s fd %d of pid %d now wakes epoll fd %d\n",
		  o->kind == EMU_REG_MAP ? "ringbuf" : "perf buffer", (int)args[2], (int)t->pid, (int)args[0]);
	r->val = 0;
	emu_wake_tick(s);
	return 0;
}

bool emu_wake_active(struct emu_session *s)
{
	for (struct emu_obj *o = s->objs; o; o = o->next)
		if (o->wake_fd >= 0)
			return true;
	return false;
}

void emu_wake_tick(struct emu_session *s)
{
	for (struct emu_obj *o = s->objs; o; o = o->next) {
		bool pending;
		uint64_t v = 1;

		if (o->wake_fd < 0 || !o->ring_head)
			continue;
		/* Pairs with the producer's store-release of its position. */
		pending = __atomic_load_n(o->ring_head, __ATOMIC_ACQUIRE) != __atomic_load_n(o->ring_tail, __ATOMIC_ACQUIRE);
		if (pending && !o->wake_on) {
			if (write(o->wake_fd, &v, sizeof(v)) == sizeof(v))
				o->wake_on = true;
		} else if (!pending && o->wake_on) {
			if (read(o->wake_fd, &v, sizeof(v)) >= 0 || errno == EAGAIN)
				o->wake_on = false;
		}
	}
}
