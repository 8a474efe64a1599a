/*
 * tmem.c - reading and writing the target's memory.
 *
 * process_vm_readv/writev copy between address spaces in one call and fail
 * cleanly (EFAULT) on unmapped or protected target pages, so a hostile or
 * dying workload cannot fault the supervisor. Partial transfers count as
 * failures: the kernel's copy_from_user() would have failed the whole call
 * too (-EFAULT). Callers read each argument ONCE into a local copy and only
 * look at that copy afterwards (seccomp_unotify(2), "Caveats": the target's
 * memory may change under us).
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <errno.h>
#include <sys/uio.h>

int sup_tmem_read(pid_t pid, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (!addr)
		return -EFAULT;
	n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return errno == ESRCH ? -ENOENT : -EFAULT;
	return (size_t)n == len ? 0 : -EFAULT;
}

int sup_tmem_write(pid_t pid, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { .iov_base = (void *)buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n;

	if (len == 0)
		return 0;
	if (!addr)
		return -EFAULT;
	n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
	if (n < 0)
		return errno == ESRCH ? -ENOENT : -EFAULT;
	return (size_t)n == len ? 0 : -EFAULT;
}
