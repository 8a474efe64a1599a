/*
 * notify.c - the seccomp user-notification loop (seccomp_unotify(2)).
 *
 * Two threads. The serving thread blocks in SECCOMP_IOCTL_NOTIF_RECV itself;
 * for each notification it builds a struct emu_target over the calling
 * thread, lets emul/ answer, then replies:
 *   - a plain value or errno with SECCOMP_IOCTL_NOTIF_SEND;
 *   - a new fd with SECCOMP_IOCTL_NOTIF_ADDFD + SECCOMP_ADDFD_FLAG_SEND,
 *     which installs the fd and answers atomically (the target never sees a
 *     half-done call), honouring O_CLOEXEC from the call;
 *   - "not ours" with SECCOMP_USER_NOTIF_FLAG_CONTINUE.
 * The main thread waits on an epoll set holding a signalfd, the session's
 * event fds and the pidfds of pending calls (see below), and reaps children.
 * Both take serve_lock around everything that touches the emul session,
 * which is single-threaded.
 *
 * Why the serving thread sleeps in RECV and not in epoll_wait: with
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (set in launch.c) the kernel wakes the
 * listener's wait queue with wake_up_poll_on_current_cpu() and answers with
 * complete_on_current_cpu() (kernel/seccomp.c, Linux 6.6): the target and
 * the supervisor hand the CPU to each other like a synchronous IPC. A task
 * sleeping in RECV is on that wait queue (recv_wait_event()); an epoll
 * waiter is not: epoll's own callback (ep_poll_callback() in
 * fs/eventpoll.c) then wakes it with a plain wake_up(), which drops the
 * current-CPU hint, and every round trip paid a cross-CPU wake-up. Measured
 * on this VM (bench/sup_bench.sh): 15.4 us -> see bench/sup_README.md.
 *
 * ENOENT from RECV, SEND or ADDFD means the target died or was interrupted by
 * a signal: not an error, nothing to undo beyond closing our fd (crun's
 * seccomp_notify.c treats it the same way). When the last filtered task is
 * gone the kernel wakes RECV (seccomp_notify_detach()) and the listener
 * polls EPOLLHUP: the serving thread ends.
 *
 * Why one serving thread is enough: every step is bounded. Reading target
 * memory does not wait for the target to run, a dead target yields
 * ESRCH/ENOENT at once, and no emulated command blocks: the one that runs
 * user code, PROG_TEST_RUN, runs it in a child and comes back as a pending
 * reply, answered by the main thread when the child's pidfd turns readable.
 * So one slow or dying target cannot hold up the others.
 *
 * Buffers are sized with SECCOMP_GET_NOTIF_SIZES, because struct
 * seccomp_notif may grow in future kernels.
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
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

static char tag_signal, tag_events; /* epoll tags: their addresses */

static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

static int t_read(const struct emu_target *t, uint64_t addr, void *buf, size_t len)
{
	return sup_tmem_read(t->tid, addr, buf, len);
}

static int t_write(const struct emu_target *t, uint64_t addr, const void *buf, size_t len)
{
	return sup_tmem_write(t->tid, addr, buf, len);
}

/*
 * Which file the caller's fd is: through the thread's cached pidfd
 * (tproc.c), else, when pidfd_getfd() is refused (a non-dumpable target,
 * a kernel without PIDFD_THREAD), stat() of the /proc/<tid>/fd link, which
 * needs only PTRACE_MODE_READ. Either way the answer is the fd table as it
 * is now, never a cached one.
 */
static int t_fd_stat(const struct emu_target *t, int tfd, struct stat *st)
{
	char path[64];
	int fd;

	if (tfd < 0)
		return -EBADF;
	fd = sup_tproc_getfd(t->tid, tfd);
	if (fd >= 0) {
		int err = fstat(fd, st) < 0 ? -errno : 0;

		close(fd);
		return err;
	}
	if (fd == -EBADF || fd == -ENOENT)
		return fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)t->tid, tfd);
	if (stat(path, st) < 0)
		return errno == ENOENT ? -EBADF : -errno;
	return 0;
}

/* A copy of the caller's fd (its own thread's fd table: it may have unshared it). */
static int t_fd_get(const struct emu_target *t, int tfd)
{
	return sup_tproc_getfd(t->tid, tfd);
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

/* Everything that touches the emul session runs under this lock (file comment). */
static pthread_mutex_t serve_lock = PTHREAD_MUTEX_INITIALIZER;

struct serve_args {
	struct emu_session *s;
	int ep;             /* the main thread's epoll set: pending calls are added to it */
	int lfd;
	size_t req_sz;      /* SECCOMP_GET_NOTIF_SIZES */
	size_t resp_sz;
	bool stopping;      /* under serve_lock: the session is going away, touch nothing */
};

static void serve_one(struct serve_args *a, struct seccomp_notif *req, struct seccomp_notif_resp *resp)
{
	struct notify_ctx c = { .listener_fd = a->lfd };
	struct emu_target t = { .ops = &notify_target_ops, .priv = &c };
	struct emu_reply r = { .install_fd = -1 };
	uint64_t args[6];
	int err, i;

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
		err = emu_syscall(a->s, &t, req->data.nr, args, &r);
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
				if (epoll_ctl(a->ep, EPOLL_CTL_ADD, pc->fd, &ev) == 0)
					return; /* answered in pending_done() */
				free(pc);
			}
			emu_pending_free(r.pending);
			r = (struct emu_reply){ .val = -ENOMEM, .install_fd = -1 };
		}
	}
	reply(a->lfd, resp, req->id, &r);
}

/* The serving thread: RECV, answer, repeat, until no filtered task is left. */
static void *serve_main(void *arg)
{
	struct serve_args *a = arg;
	_cleanup_free_ struct seccomp_notif *req = calloc(1, a->req_sz);
	_cleanup_free_ struct seccomp_notif_resp *resp = calloc(1, a->resp_sz);

	if (!req || !resp) {
		log_error("cannot allocate the notification buffers\n");
		goto out;
	}
	for (;;) {
		memset(req, 0, a->req_sz);
		if (ioctl(a->lfd, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
			struct pollfd p = { .fd = a->lfd, .events = POLLIN };

			if (errno == EINTR)
				continue;
			if (errno != ENOENT) {
				log_error("SECCOMP_IOCTL_NOTIF_RECV: %s\n", strerror(errno));
				goto out;
			}
			/* ENOENT: the target was killed between wake-up and RECV, or no
			 * filtered task is left (seccomp_notify_poll() says EPOLLHUP). */
			if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLERR)))
				goto out;
			continue;
		}
		pthread_mutex_lock(&serve_lock);
		if (a->stopping) {
			pthread_mutex_unlock(&serve_lock);
			goto out;
		}
		serve_one(a, req, resp);
		pthread_mutex_unlock(&serve_lock);
	}
out:
	/* Our own duplicate of the listener (sup_notify_loop()): the caller closes its copy freely. */
	close(a->lfd);
	return NULL;
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
	_cleanup_free_ struct seccomp_notif_resp *resp = NULL;
	_cleanup_close_ int ep = -1, sfd = -1;
	/* Static: a serving thread still blocked in RECV when we return may read it. */
	static struct serve_args a;
	struct epoll_event ev;
	pthread_t serve_thread;
	sigset_t mask;
	bool child_done = false, reap = true;
	int code = 1;
	size_t i;

	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0) {
		sizes.seccomp_notif = sizeof(struct seccomp_notif);
		sizes.seccomp_notif_resp = sizeof(struct seccomp_notif_resp);
	}
	resp = calloc(1, MAX(sizes.seccomp_notif_resp, sizeof(*resp)));
	if (!resp)
		return 1;

	/* Blocked before the serving thread starts, so it inherits the mask. */
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
	/* Close events on our objects (emul/lifetime.c). */
	ev = (struct epoll_event){ .events = EPOLLIN, .data.ptr = &tag_events };
	epoll_ctl(ep, EPOLL_CTL_ADD, emu_session_event_fd(s), &ev);

	a = (struct serve_args){ .s = s, .ep = ep, .lfd = fcntl(lfd, F_DUPFD_CLOEXEC, 0),
				 .req_sz = MAX(sizes.seccomp_notif, sizeof(struct seccomp_notif)),
				 .resp_sz = MAX(sizes.seccomp_notif_resp, sizeof(*resp)) };
	if (a.lfd < 0 || pthread_create(&serve_thread, NULL, serve_main, &a)) {
		log_error("cannot start the notification thread\n");
		if (a.lfd >= 0)
			close(a.lfd);
		return 1;
	}
	pthread_detach(serve_thread);

	for (;;) {
		struct epoll_event evs[4];
		int n, status;
		pid_t p = 0;

		/* Reap everything that has exited (we are their subreaper), only after a
		 * SIGCHLD: a waitpid per notification would cost every emulated call.
		 * Under serve_lock: the serving thread forks PROG_TEST_RUN children and
		 * opens their pidfds in one locked step, and a child reaped between the
		 * two would make pidfd_open() fail with ESRCH. */
		pthread_mutex_lock(&serve_lock);
		while (reap && (p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p == child) {
				child_done = true;
				code = status_code(status);
			}
		}
		pthread_mutex_unlock(&serve_lock);
		if (reap && p < 0 && errno == ECHILD && child_done)
			break;
		reap = false;

		/* Ring wake-ups need no tick here: emul/ring_wake.c has a thread of its own. */
		n = epoll_wait(ep, evs, ARRAY_SIZE(evs), -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			log_error("epoll_wait: %s\n", strerror(errno));
			break;
		}
		pthread_mutex_lock(&serve_lock);
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
			} else {
				pending_done(s, ep, evs[k].data.ptr, resp);
			}
		}
		pthread_mutex_unlock(&serve_lock);
	}
	/* The caller closes the session next: a serving thread that wakes later must not touch it. */
	pthread_mutex_lock(&serve_lock);
	a.stopping = true;
	pthread_mutex_unlock(&serve_lock);
	return code;
}
