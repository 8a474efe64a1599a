/*
 * filter.c - the classic-BPF seccomp filter bpftime-run installs in CMD.
 *
 * Only what bpftime must answer is sent to the supervisor:
 *   - bpf(2), every command;
 *   - perf_event_open(2), every call (events bpftime does not emulate are
 *     let through with SECCOMP_USER_NOTIF_FLAG_CONTINUE);
 *   - ioctl(2) ONLY for the perf request numbers bpftime serves, selected by
 *     an argument comparison in the filter itself, so a terminal, socket or
 *     block-device ioctl never leaves the kernel;
 *   - statfs(2), so /sys/fs/bpf reports BPF_FS_MAGIC: libbpf and bpftool
 *     refuse to pin elsewhere (rare call: df(1), a few library checks);
 *   - epoll_ctl(2) ONLY for EPOLL_CTL_ADD, so the supervisor can give ring
 *     buffer and perf buffer fds a wakeup source (see emul/epoll.c).
 * Everything else is SCMP_ACT_ALLOW and costs nothing beyond the filter run.
 * The filter sees raw syscalls, so static binaries and Go programs, which do
 * not go through libc, are covered as well.
 *
 * ioctl's request is an unsigned int in the kernel (fs/ioctl.c), but the
 * register is 64 bits and libc may leave garbage in the upper half, so the
 * comparison masks to 32 bits, as the kernel does.
 */
#include "supervisor/sup.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/syscall.h>

#include "common/compat.h"
#include "common/log.h"

static const unsigned long perf_ioctls[] = {
	PERF_EVENT_IOC_ENABLE, PERF_EVENT_IOC_DISABLE, PERF_EVENT_IOC_ID,
	PERF_EVENT_IOC_SET_BPF, PERF_EVENT_IOC_QUERY_BPF,
};

int sup_filter_install(void)
{
	scmp_filter_ctx ctx;
	int err, fd;
	size_t i;

	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/*
	 * SECCOMP_FILTER_FLAG_SPEC_ALLOW: without it the kernel forces the
	 * speculative-store-bypass mitigation on every filtered task, which
	 * made unrelated syscalls 2-3x slower on this VM (MSR writes trap to
	 * the hypervisor). The filter guards no secrets; the workload keeps
	 * whatever mitigation it had.
	 */
	/* The kernel's own errno on failure (EBUSY: a listener exists already), not ECANCELED. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_API_SYSRAWRC, 1);
	/* A binary tree over syscall numbers: unrelated syscalls take a few compares. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_SSB, 1);
	if (err)
		log_info("cannot ask for SECCOMP_FILTER_FLAG_SPEC_ALLOW (%s); syscalls may be slower\n", strerror(-err));
	err = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(bpf), 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(perf_event_open), 0);
	for (i = 0; !err && i < sizeof(perf_ioctls) / sizeof(perf_ioctls[0]); i++)
		err = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(ioctl), 1,
				       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffUL, perf_ioctls[i]));
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(statfs), 0);
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_NOTIFY, SCMP_SYS(epoll_ctl), 1,
				       SCMP_A1(SCMP_CMP_EQ, EPOLL_CTL_ADD));
	if (err) {
		log_error("cannot build the seccomp filter: %s\n", strerror(-err));
		seccomp_release(ctx);
		return err;
	}
	err = seccomp_load(ctx);
	if (err) {
		seccomp_release(ctx);
		return err;
	}
	fd = seccomp_notify_fd(ctx);
	seccomp_release(ctx); /* the listener fd stays open: release does not close it */
	return fd >= 0 ? fd : -EINVAL;
}
