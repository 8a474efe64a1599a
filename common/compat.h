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

/*
 * Linux 6.6: uprobe_multi links and their attach type. bpf_attr.link_create
 * gained uprobe_multi {path, offsets, ref_ctr_offsets, cookies (u64 each,
 * from offset 16), cnt, flags, pid (u32 each)}, and
 * BPF_LINK_CREATE_LAST_FIELD became link_create.uprobe_multi.pid (end 60).
 * bpf_link_info.uprobe_multi {path, offsets, ref_ctr_offsets, cookies,
 * path_size, count, flags, pid} (from offset 16) made the struct 64 bytes.
 */
#define COMPAT_BPF_TRACE_UPROBE_MULTI 48
#define COMPAT_BPF_LINK_TYPE_UPROBE_MULTI 12
#define COMPAT_BPF_F_UPROBE_MULTI_RETURN (1U << 0)
#define COMPAT_UPROBE_MULTI_CNT_MAX (1U << 20) /* MAX_UPROBE_MULTI_CNT, kernel/trace/bpf_trace.c */
#define COMPAT_LINK_CREATE_END 60
#define COMPAT_BPF_LINK_INFO_SZ 64
#include <linux/types.h>
struct compat_uprobe_multi_attr { /* at offset 16 of bpf_attr (link_create) */
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 cnt, flags, pid;
};
struct compat_uprobe_multi_info { /* at offset 16 of bpf_link_info */
	__u64 path, offsets, ref_ctr_offsets, cookies;
	__u32 path_size, count, flags, pid;
};

/*
 * Linux 6.10: a BPF cookie for raw tracepoints. bpf_attr.raw_tracepoint
 * gained `__u32 :32; __aligned_u64 cookie;` after prog_fd (offset 16, and
 * BPF_RAW_TRACEPOINT_OPEN_LAST_FIELD became raw_tracepoint.cookie), and
 * bpf_link_info.raw_tracepoint the same after tp_name_len (offset 32).
 */
#define COMPAT_RAW_TP_ATTR_COOKIE_OFF 16
#define COMPAT_RAW_TP_ATTR_END 24
#define COMPAT_RAW_TP_INFO_COOKIE_OFF 32

/* Linux 5.16 (Debian 12's headers have it, kept for older build hosts). */
#define COMPAT_BPF_MAP_TYPE_BLOOM_FILTER 30

#endif /* COMMON_COMPAT_H */
