/*
 * notify.c - the seccomp user-notification loop (seccomp_unotify(2)).
 *
 * One thread waits on an epoll set holding the listener fd and a signalfd.
 * For each notification it builds a struct emu_target over the calling
 * thread, lets emul/ answer, then replies:
 *   - a plain value or errno with SECCOMP_IOCTL_NOTIF_SEND;
 *   - a new fd with SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND,
 *     which installs the fd and answers atomically (the target never sees a
 *     half-done call), honouring O_CLOEXEC from the call;
 *   - "not ours" with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
 * ENOENT from RECV, SEND or ADDFD means the target died or was interrupted by
 * a signal: not an error, nothing to undo beyond closing our fd (crun's
 * seccomp_notify.c treats it the same way).
 *
 * Why one thread is enough: every step is bounded. Reading target memory
 * with process_vm_readv does not wait for the target to run, a dead target
 * yields ESRCH/ENOENT at once, and no emulated command blocks: the one that
 * runs user code, PROG_TEST_RUN, runs it in a child and comes back as a
 * pending reply, answered when the child's pidfd turns readable. So one
 * slow or dying target cannot hold up the others.
 *
 * Buffers are sized with SECCOMP_GET_NOTIF_SIZES, because struct
 * seccomp_notif may grow in future kernels.
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"
#include "emul/emul.h"

struct notify_ctx {
	int listener_fd;
	uint64_t id;
	pid_t tid;
};

static char tag_signal, tag_listener, tag_events; /* epoll tags: their addresses */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int t_read(const struct emu_target *t, uint64_t addr, void *buf, size_t len)
{
	return sup_tmem_read(t->tid, addr, buf, len);
}

static int t_write(const struct emu_target *t, uint64_t addr, const void *buf, size_t len)
{
	return sup_tmem_write(t->tid, addr, buf, len);
}

static int t_fd_stat(const struct emu_target *t, int tfd, struct stat *st)
{
	char path[64];

	if (tfd < 0)
		return -EBADF;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->tid, tfd);
	if (stat(path, st) < 0)
		return errno == ENOENT ? -EBADF : -errno;
	return 0;
}

static pid_t tgid_of(pid_t tid)
{
	char path[64], line[128];
	pid_t tgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)tid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Tgid: %d", &tgid) == 1)
			break;
	fclose(f);
	return tgid;
}

static int t_fd_get(const struct emu_target *t, int tfd)
{
	_cleanup_close_ int pidfd = -1;
	pid_t tgid = tgid_of(t->tid);
	int fd;

	if (tfd < 0 || tgid < 0)
		return -EBADF;
	pidfd = (int)syscall(SYS_pidfd_open, tgid, 0);
	if (pidfd < 0)
		return -ESRCH;
	fd = (int)syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
	if (fd < 0)
		return errno == EBADF ? -EBADF : -errno;
	return fd;
}

static int t_valid(const struct emu_target *t)
{
	const struct notify_ctx *c = t->priv;

	/* seccomp_unotify(2): re-validate the id after reading target memory. */
	if (ioctl(c->listener_fd, SECCOMP_IOCTL_NOTIF_ID_VALID, &c->id) < 0)
		return -ENOENT;
	return 0;
}

static const struct emu_target_ops notify_target_ops = {
	.read = t_read,
	.write = t_write,
	.fd_stat = t_fd_stat,
	.fd_get = t_fd_get,
	.valid = t_valid,
};

static void reply(int lfd, struct seccomp_notif_resp *resp, uint64_t id, struct emu_reply *r)
{
	memset(resp, 0, sizeof(*resp));
	resp->id = id;
	if (r->install_fd >= 0) {
		struct seccomp_notif_addfd addfd = {
			.id = id,
			.flags = SECCOMP_ADDFD_FLAG_SEND,
			.srcfd = (uint32_t)r->install_fd,
			.newfd = 0,
			.newfd_flags = r->cloexec ? O_CLOEXEC : 0,
		};

		if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd) < 0 && errno != ENOENT) {
			/* EMFILE in the target, for example: answer with that errno. */
			resp->error = -errno;
			if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
				log_debug("SEND after failed ADDFD: %s\n", strerror(errno));
		}
		zclose(&r->install_fd);
		return;
	}
	if (r->cont) {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else if (r->val < 0) {
		resp->error = (int32_t)r->val;
	} else {
		resp->val = r->val;
	}
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		log_debug("SEND failed: %s\n", strerror(errno));
}

/* A call answered later: emul/test_run.c's child runs; we wait for its pidfd in the loop. */
struct pending_call {
	struct notify_ctx c;
	pid_t tid;
	struct emu_pending *p;
	int fd;
};

static void pending_done(struct emu_session *s, int ep, struct pending_call *pc, struct seccomp_notif_resp *resp)
{
	struct emu_target t = { .ops = &notify_target_ops, .priv = &pc->c, .pid = pc->tid, .tid = pc->tid };
	struct emu_reply r = { .install_fd = -1 };

	epoll_ctl(ep, EPOLL_CTL_DEL, pc->fd, NULL);
	if (emu_pending_finish(&t, pc->p, &r) == 0)
		reply(pc->c.listener_fd, resp, pc->c.id, &r);
	free(pc);
}

static void serve_one(struct emu_session *s, int ep, int lfd, struct seccomp_notif *req,
		      struct seccomp_notif_resp *resp, size_t req_sz)
{
	struct notify_ctx c = { .listener_fd = lfd };
	struct emu_target t = { .ops = &notify_target_ops, .priv = &c };
	struct emu_reply r = { .install_fd = -1 };
	uint64_t args[6];
	int err, i;

	memset(req, 0, req_sz);
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the target was killed between wake-up and RECV. */
		if (errno != ENOENT && errno != EINTR)
			log_debug("RECV failed: %s\n", strerror(errno));
		return;
	}
	c.id = req->id;
	c.tid = (pid_t)req->pid;
	t.pid = (pid_t)req->pid;
	t.tid = (pid_t)req->pid;
	for (i = 0; i < 6; i++)
		args[i] = req->data.args[i];
	log_debug("pid %d: syscall %d (0x%llx, 0x%llx, 0x%llx)\n", (int)req->pid, req->data.nr,
		  (unsigned long long)args[0], (unsigned long long)args[1], (unsigned long long)args[2]);
	if (req->data.arch != AUDIT_ARCH_X86_64) {
		r.cont = true; /* the filter only traps x86-64 calls; be safe anyway */
	} else {
		err = emu_syscall(s, &t, req->data.nr, args, &r);
		if (err == -ENOENT) {
			zclose(&r.install_fd);
			return;
		}
		if (r.pending) {
			struct pending_call *pc = calloc(1, sizeof(*pc));
			struct epoll_event ev = { .events = EPOLLIN };

			if (pc) {
				pc->c = c;
				pc->tid = t.tid;
				pc->p = r.pending;
				pc->fd = r.pending_fd;
				ev.data.ptr = pc;
				if (epoll_ctl(ep, EPOLL_CTL_ADD, pc->fd, &ev) == 0)
					return; /* answered in pending_done() */
				free(pc);
			}
			emu_pending_free(r.pending);
			r = (struct emu_reply){ .val = -ENOMEM, .install_fd = -1 };
		}
	}
	reply(lfd, resp, req->id, &r);
}

static int status_code(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return 1;
}

int sup_notify_loop(struct emu_session *s, int lfd, pid_t child)
{
	struct seccomp_notif_sizes sizes = { 0 };
	_cleanup_free_ struct seccomp_notif *req = NULL;
	_cleanup_free_ struct seccomp_notif_resp *resp = NULL;
	_cleanup_close_ int ep = -1, sfd = -1;
	struct epoll_event ev;
	sigset_t mask;
	bool child_done = false, listener_open = true, reap = true;
	int code = 1;
	size_t i;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		sizes.seccomp_notif = sizeof(struct seccomp_notif);
		sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
	}
	req = calloc(1, MAX(sizes.seccomp_notif, sizeof(*req)));
	resp = calloc(1, MAX(sizes.seccomp_notif_resp, sizeof(*resp)));
	if (!req || !resp)
		return 1;

	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	for (i = 0; i < ARRAY_SIZE(forwarded); i++)
		sigaddset(&mask, forwarded[i]);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (sfd < 0 || ep < 0)
		return 1;
	/* data.ptr NULL-based tags for our own fds; pending calls use their record's address. */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &tag_signal };
	epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &tag_listener };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
	/* Close events on our objects (emul/lifetime.c). */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &tag_events };
	epoll_ctl(ep, EPOLL_CTL_ADD, emu_session_event_fd(s), &ev);

	for (;;) {
		struct epoll_event evs[4];
		int n, status;
		pid_t p = 0;

		/* Reap everything that has exited (we are their subreaper), only after a
		 * SIGCHLD: a waitpid per notification would cost every emulated call. */
		while (reap && (p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p == child) {
				child_done = true;
				code = status_code(status);
			}
		}
		if (reap && p < 0 && errno == ECHILD && child_done)
			break;
		reap = false;

		/* While a ring is watched by a target's epoll set, tick to keep its wake-up current (emul/epoll.c). */
		n = epoll_wait(ep, evs, ARRAY_SIZE(evs), emu_wake_active(s) ? EMU_WAKE_TICK_MS : -1);
		if (n >= 0 && emu_wake_active(s))
			emu_wake_tick(s);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s\n", strerror(errno));
			break;
		}
		for (int k = 0; k < n; k++) {
			if (evs[k].data.ptr == &tag_signal) {
				struct signalfd_siginfo si;

				while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
					if (si.ssi_signo == SIGCHLD)
						reap = true;
					else if (!child_done)
						kill(child, (int)si.ssi_signo);
				}
			} else if (evs[k].data.ptr == &tag_events) {
				emu_session_events(s);
			} else if (evs[k].data.ptr != &tag_listener) {
				pending_done(s, ep, evs[k].data.ptr, resp);
			} else if (evs[k].events & EPOLLIN) {
				serve_one(s, ep, lfd, req, resp, MAX(sizes.seccomp_notif, sizeof(*req)));
			} else if (listener_open && (evs[k].events & (EPOLLHUP | EPOLLERR))) {
				/* No filtered task is left; keep waiting for children only. */
				epoll_ctl(ep, EPOLL_CTL_DEL, lfd, NULL);
				listener_open = false;
			}
		}
	}
	return code;
}
