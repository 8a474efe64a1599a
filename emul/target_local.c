/*
 * target_local.c - a struct emu_target that is the calling process itself,
 * for unit tests and the fuzzer. Memory goes through process_vm_readv/
 * writev on our own pid, so a bad pointer from a test gives EFAULT instead
 * of a crash, exactly as for a remote target.
 */
#define _GNU_SOURCE
#include "emul/emul.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/uio.h>
#include <unistd.h>

static int l_rw(uint64_t addr, void *buf, size_t len, bool write_)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (!len)
		return 0;
	if (!addr)
		return -EFAULT;
	n = write_ ? process_vm_writev(getpid(), &local, 1, &remote, 1, 0)
		   : process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : -EFAULT;
}

static int l_read(const struct emu_target *t, uint64_t addr, void *buf, size_t len)
{
	return l_rw(addr, buf, len, false);
}

static int l_write(const struct emu_target *t, uint64_t addr, const void *buf, size_t len)
{
	return l_rw(addr, (void *)buf, len, true);
}

static int l_fd_stat(const struct emu_target *t, int tfd, struct stat *st)
{
	if (tfd < 0 || fstat(tfd, st) < 0)
		return -EBADF;
	return 0;
}

static int l_fd_get(const struct emu_target *t, int tfd)
{
	int fd = tfd < 0 ? -1 : fcntl(tfd, F_DUPFD_CLOEXEC, 0);

	return fd < 0 ? -EBADF : fd;
}

static int l_valid(const struct emu_target *t)
{
	return 0;
}

static const struct emu_target_ops local_ops = {
	.read = l_read, .write = l_write, .fd_stat = l_fd_stat, .fd_get = l_fd_get, .valid = l_valid,
};

void emu_target_local_init(struct emu_target *t)
{
	t->ops = &local_ops;
	t->pid = getpid();
	t->tid = getpid();
	t->priv = NULL;
}

int64_t emu_reply_apply_local(struct emu_reply *r)
{
	int64_t v;

	if (r->pending) {
		/* Wait for the test-run child, then finish the call in this process. */
		struct pollfd pfd = { .fd = r->pending_fd, .events = POLLIN };
		struct emu_target t;

		while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
			;
		emu_target_local_init(&t);
		if (emu_pending_finish(&t, r->pending, r))
			return -ESRCH;
	}
	if (r->install_fd >= 0) {
		v = fcntl(r->install_fd, r->cloexec ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
		if (v < 0)
			v = -errno;
		close(r->install_fd);
		r->install_fd = -1;
		return v;
	}
	if (r->cont)
		return -ENOSYS;
	return r->val;
}
