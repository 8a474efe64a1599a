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
 * written by the ring waker (ring_wake.c) when the ring's producers wake
 * their consumer by the kernel's rule, and is added EPOLLET, so each write
 * is one event and a consumer that has read everything is not woken again
 * (ring_wake.c explains how level-triggered behaviour is kept for a
 * consumer that leaves data unread). Consumers never read the eventfd.
 *
 * Exercised end to end by libbpf's ring_buffer__poll() (tests/e2e/sup-skel.sh,
 * tests/e2e/agent-skel.sh) and bpftrace's perf buffers
 * (tests/e2e/sup-bpftrace.sh).
 *
 * DIVERGES: EPOLL_CTL_DEL and EPOLL_CTL_MOD of such an fd return ENOENT
 * (the epoll item is ours); EPOLLOUT is never reported (neither does the
 * kernel for a ring buffer or perf ring); a caller's EPOLLET is implied and
 * EPOLLEXCLUSIVE dropped. poll(2)/ppoll(2) never reach us: the agent
 * answers them in the traced process (hooks/agent_poll.c), so a statically
 * linked consumer that polls a ring still sees it always ready.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"

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
	if (!((o->kind == EMU_REG_PERF && o->slot->type == EMU_REG_PERF_BPF_OUTPUT) ||
	      (o->kind == EMU_REG_MAP && o->slot->type == BPF_MAP_TYPE_RINGBUF)))
		return r->val = -EPERM, 0; /* what epoll_ctl says for a file without poll support */
	if (o->kind == EMU_REG_PERF)
		(void)emu_perf_ring_learn_size(s, o, t->tid);
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
	err = emu_ring_wake_watch(o);
	if (err)
		return r->val = err, 0;
	ev.events &= ~(uint32_t)(EPOLLEXCLUSIVE | EPOLLOUT | EPOLLWRNORM);
	ev.events |= EPOLLET;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, dup_fd, &ev) < 0)
		return r->val = errno == EINVAL ? -EBADF : -errno, 0;
	log_debug("epoll_ctl: %s fd %d of pid %d now wakes epoll fd %d\n",
		  o->kind == EMU_REG_MAP ? "ringbuf" : "perf buffer", (int)args[2], (int)t->pid, (int)args[0]);
	r->val = 0;
	return 0;
}
