/*
 * compat.h - kernel UAPI constants that Debian 12's linux-libc-dev (6.1) lacks.
 *
 * We build against the distribution's <linux/bpf.h>, <linux/seccomp.h> and
 * <linux/perf_event.h> and define here, each under #ifndef, only what newer
 * kernels added. Every constant names the kernel release that introduced it.
 */
#ifndef COMMON_COMPAT_H
#define COMMON_COMPAT_H

#include <linux/seccomp.h>

/* Linux 5.0 */
#ifndef SECCOMP_GET_NOTIF_SIZES
#define SECCOMP_GET_NOTIF_SIZES 3
#endif
/* Linux 5.9 */
#ifndef SECCOMP_IOCTL_NOTIF_ADDFD
#define SECCOMP_IOCTL_NOTIF_ADDFD _IOW('!', 3, struct seccomp_notif_addfd)
#endif
/* Linux 5.14 */
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif
/* Linux 6.6: wake the supervisor on the same CPU, ~10x cheaper round trips. */
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS _IOW('!', 4, __u64)
#endif
/* Linux 6.9: pidfd_open() of any thread, not only a thread-group leader (= O_EXCL). */
#ifndef PIDFD_THREAD
#define PIDFD_THREAD 0200
#endif

/* Linux 6.6: uprobe_multi links and their attach type. */
#define COMPAT_BPF_TRACE_UPROBE_MULTI 48
#define COMPAT_BPF_LINK_TYPE_UPROBE_MULTI 12

/* Linux 5.16 (Debian 12's headers have it, kept for older build hosts). */
#define COMPAT_BPF_MAP_TYPE_BLOOM_FILTER 30

#endif /* COMMON_COMPAT_H */
