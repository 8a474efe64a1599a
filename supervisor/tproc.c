/*
 * tproc.c - a pidfd per calling thread, kept across notifications, through
 * which the supervisor takes copies of the caller's fds (pidfd_getfd(2)).
 *
 * Why: every bpf() command that names an object by fd must learn which file
 * the caller's fd is now (emul/fdtable.c identifies objects by inode so that
 * dup, fork and SCM_RIGHTS just work). stat("/proc/<tid>/fd/<n>") walks four
 * procfs path components and revalidates the fd link: 2.7 us on this VM.
 * pidfd_getfd() + fstat() + close() on a pidfd we already hold: about
 * 1.5 us. Opening the pidfd costs another 1.5 us, so it is kept for the next
 * call of the same thread (bench/sup_README.md has the figures).
 *
 * What is cached is only "which task is tid N", never "which file is fd M":
 * every lookup asks the kernel for the caller's fd table as it is now, so a
 * close, a reopen or a dup2 over the fd between two calls is always seen.
 * (A cache of fd -> object would have to hold a reference to the target's
 * file description to validate it with kcmp(KCMP_FILE), and that reference
 * would keep the description open and hide the close that emul/lifetime.c
 * waits for.)
 *
 * Why a cached pidfd cannot name the wrong task: a pidfd is bound to one
 * struct pid. The calling thread has been blocked in the notified syscall
 * since before RECV, so it holds tid N for the whole call. If the cached
 * pidfd was opened for an earlier holder of tid N, that holder is dead
 * (two live tasks never share a tid), and pidfd_getfd() on it fails with
 * ESRCH: we reopen and retry. If it succeeds, its task was alive and held
 * tid N at that moment, so it is the caller. An exec() by another thread
 * moves the leader's struct pid to the exec'ing thread (de_thread()), which
 * is then the caller; the pidfd follows it, and the fd table it reads is the
 * caller's current one. PIDFD_THREAD (Linux 6.9) makes the pidfd name the
 * thread itself, so a thread that did unshare(CLONE_FILES) is read right.
 *
 * Not thread-safe: the notification thread and the main thread call it
 * under serve_lock (notify.c). The table is small and replaced LRU-first;
 * a replaced entry only costs its next caller one pidfd_open().
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/compat.h"
#include "common/utils.h"

#define TPROC_CNT 64

struct tproc {
	pid_t tid;      /* 0: free */
	int pidfd;      /* PIDFD_THREAD pidfd of tid */
	uint64_t used;  /* LRU clock */
};

static struct tproc tprocs[TPROC_CNT];
static uint64_t tproc_clock;

static struct tproc *tproc_find(pid_t tid)
{
	struct tproc *victim = &tprocs[0];

	for (int i = 0; i < TPROC_CNT; i++) {
		if (tprocs[i].tid == tid)
			return &tprocs[i];
		if (tprocs[i].used < victim->used)
			victim = &tprocs[i];
	}
	if (victim->tid)
		zclose(&victim->pidfd);
	victim->tid = 0;
	return victim;
}

/* The pidfd for @tid (opened now unless cached); -errno if none can be opened. */
static int tproc_pidfd(struct tproc *p, pid_t tid)
{
	int fd;

	if (p->tid == tid)
		return p->pidfd;
	fd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
	if (fd < 0)
		return -errno;
	p->tid = tid;
	p->pidfd = fd;
	return fd;
}

int sup_tproc_getfd(pid_t tid, int tfd)
{
	struct tproc *p;
	int pidfd, fd;

	if (tfd < 0 || tid <= 0)
		return -EBADF;
	p = tproc_find(tid);
	p->used = ++tproc_clock;
	for (int attempt = 0; attempt < 2; attempt++) {
		pidfd = tproc_pidfd(p, tid);
		if (pidfd < 0)
			return pidfd == -ESRCH ? -ENOENT : pidfd;
		fd = (int)syscall(SYS_pidfd_getfd, pidfd, tfd, 0);
		if (fd >= 0)
			return fd;
		if (errno != ESRCH)
			return -errno;
		/* The cached pidfd's task is gone: tid was reused (file comment). */
		zclose(&p->pidfd);
		p->tid = 0;
	}
	return -ENOENT;
}

void sup_tproc_reset(void)
{
	for (int i = 0; i < TPROC_CNT; i++) {
		if (tprocs[i].tid)
			zclose(&tprocs[i].pidfd);
		tprocs[i] = (struct tproc){ 0 };
	}
}
