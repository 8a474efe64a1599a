/*
 * launch.c - start CMD under the seccomp filter and take its listener fd.
 *
 * Phase by phase, in the child (after bubblewrap's acquire_privs essay):
 *   1. Optional private mount namespace. An unprivileged user first enters a
 *      new user namespace where it is uid 0 (bpftrace 0.17 insists on
 *      geteuid() == 0; files the workload creates still belong to the real
 *      user on disk, because uid 0 inside maps to that user outside). Then the
 *      session's pin directory is bind-mounted on /sys/fs/bpf and the prepared
 *      tracefs tree on /sys/kernel/tracing (and /sys/kernel/debug/tracing,
 *      where older loaders look), so clients find what they look
 *      for without any privilege and without trapping open(2).
 *   2. PR_SET_NO_NEW_PRIVS, then the filter (filter.c), which yields the
 *      listener fd.
 *   3. The listener goes to the parent over a socketpair with SCM_RIGHTS, as
 *      crun does (src/libcrun/seccomp_notify.c), and the child waits for one
 *      byte back, so the parent has set its flags before CMD makes a call.
 *   4. execvp(CMD). The socket is O_CLOEXEC: EOF tells the parent that exec
 *      worked; an errno value written before _exit() says why it did not.
 * The parent is a child subreaper, so CMD's descendants stay ours to reap
 * and bpftime-run returns only when all of them are gone.
 */
#define _GNU_SOURCE
#include "supervisor/sup.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"

enum launch_step { STEP_USERNS = 1, STEP_MOUNT, STEP_FILTER, STEP_SEND, STEP_EXEC };

static const char *const step_name[] = {
	[STEP_USERNS] = "create a user and mount namespace",
	[STEP_MOUNT] = "prepare /sys/fs/bpf and /sys/kernel/tracing",
	[STEP_FILTER] = "install the seccomp filter",
	[STEP_SEND] = "pass the seccomp listener to bpftime-run",
	[STEP_EXEC] = "run",
};

static int write_file(const char *path, const char *text)
{
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	size_t len = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, len) != (ssize_t)len)
		return -errno;
	return 0;
}

static int enter_private_ns(const struct sup_launch_opts *o)
{
	uid_t uid = geteuid();
	gid_t gid = getegid();
	char map[64];
	int err;

	if (uid != 0) {
		if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
			return -errno;
		err = write_file("/proc/self/setgroups", "deny");
		if (err && err != -ENOENT)
			return err;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)uid);
		err = write_file("/proc/self/uid_map", map);
		if (err)
			return err;
		snprintf(map, sizeof(map), "0 %u 1", (unsigned)gid);
		err = write_file("/proc/self/gid_map", map);
		if (err)
			return err;
	} else if (unshare(CLONE_NEWNS) < 0) {
		return -errno;
	}
	return 0;
}

/*
 * Loaders written before tracefs had its own mount point look for it under
 * debugfs, at /sys/kernel/debug/tracing (cilium/ebpf before 0.10, for one).
 * Give them the same tree there. Without debugfs that directory does not
 * exist and sysfs will not let us create it, so a small tmpfs on
 * /sys/kernel/debug holds the mount point (in our namespace only). Best
 * effort: a loader that reads /sys/kernel/tracing works either way.
 */
static void mount_debug_tracing(const char *dir)
{
	if (mount(dir, "/sys/kernel/debug/tracing", NULL, MS_BIND | MS_REC, NULL) == 0)
		return;
	if (errno == ENOENT &&
	    mount("tmpfs", "/sys/kernel/debug", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=16k") == 0 &&
	    (mkdir("/sys/kernel/debug/tracing", 0755) == 0 || errno == EEXIST) &&
	    mount(dir, "/sys/kernel/debug/tracing", NULL, MS_BIND | MS_REC, NULL) == 0)
		return;
	log_debug("no tracefs tree at /sys/kernel/debug/tracing (%s); /sys/kernel/tracing has it\n", strerror(errno));
}

static int prepare_mounts(const struct sup_launch_opts *o)
{
	/* Our mounts must not propagate back to the host. */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		return -errno;
	if (o->bpffs_dir && mount(o->bpffs_dir, "/sys/fs/bpf", NULL, MS_BIND, NULL) < 0)
		return -errno;
	if (o->tracefs_dir && mount(o->tracefs_dir, "/sys/kernel/tracing", NULL, MS_BIND | MS_REC, NULL) < 0)
		return -errno;
	if (o->tracefs_dir)
		mount_debug_tracing(o->tracefs_dir);
	return 0;
}

/* The child's failure report: which step, and the errno. */
struct launch_fail {
	int step;
	int err;
};

/* Are we ourselves under a seccomp filter already (e.g. inside another bpftime-run)? */
static bool under_seccomp_filter(void)
{
	char line[128];
	bool yes = false;
	FILE *f = fopen("/proc/self/status", "re");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "Seccomp:", 8)) {
			yes = strtol(line + 8, NULL, 10) == 2;
			break;
		}
	fclose(f);
	return yes;
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char byte = 'L';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&msg);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -errno;
}

/* The listener fd, or -ECHILD with *f filled when the child reported a failure instead. */
static int recv_fd(int sock, struct launch_fail *f)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	char buf[sizeof(struct launch_fail)];
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			      .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;
	int fd;

	do
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&msg);
	if (n == (ssize_t)sizeof(*f) && !c) {
		memcpy(f, buf, sizeof(*f));
		return -ECHILD;
	}
	if (n != 1 || !c || c->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

static _Noreturn void child_fail(int sock, int step, int err)
{
	struct launch_fail f = { step, -err };

	if (write(sock, &f, sizeof(f)) < 0)
		_exit(127);
	_exit(127);
}

static _Noreturn void child_run(const struct sup_launch_opts *o, int sock)
{
	char ack;
	int err, lfd;

	if (o->private_ns) {
		err = enter_private_ns(o);
		if (err)
			child_fail(sock, STEP_USERNS, err);
		err = prepare_mounts(o);
		if (err)
			child_fail(sock, STEP_MOUNT, err);
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		child_fail(sock, STEP_FILTER, -errno);
	lfd = sup_filter_install();
	if (lfd < 0)
		child_fail(sock, STEP_FILTER, lfd);
	err = send_fd(sock, lfd);
	if (err)
		child_fail(sock, STEP_SEND, err);
	close(lfd);
	if (read(sock, &ack, 1) != 1)
		_exit(127);
	sup_agent_env_setup(o->session_dir, o->argv[0]);
	execvp(o->argv[0], o->argv);
	child_fail(sock, STEP_EXEC, -errno);
}

int sup_launch(const struct sup_launch_opts *o, pid_t *pidp, int *listener_fd)
{
	struct launch_fail f;
	int sv[2], lfd, err;
	pid_t pid;
	ssize_t n;

	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
		log_warn("cannot become a child subreaper (%s): orphaned descendants will not be waited for\n",
			 strerror(errno));
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		close(sv[0]);
		child_run(o, sv[1]);
	}
	close(sv[1]);

	lfd = recv_fd(sv[0], &f);
	if (lfd == -ECHILD)
		goto report;
	if (lfd < 0)
		goto child_failed;
	/* Linux 6.6: synchronous wake-up makes a round trip ~10x cheaper. */
	if (ioctl(lfd, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP) < 0)
		log_info("SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP unavailable (%s): emulated calls will be slower\n",
			 strerror(errno));
	if (write(sv[0], "G", 1) != 1) {
		close(lfd);
		goto child_failed;
	}
	n = read(sv[0], &f, sizeof(f));
	if (n == (ssize_t)sizeof(f)) {
		close(lfd);
		goto report;
	}
	close(sv[0]);
	*pidp = pid;
	*listener_fd = lfd;
	return 0;

child_failed:
	n = read(sv[0], &f, sizeof(f));
	if (n != (ssize_t)sizeof(f)) {
		f.step = STEP_SEND;
		f.err = EPROTO;
	}
report:
	close(sv[0]);
	waitpid(pid, NULL, 0);
	if (f.step < STEP_USERNS || f.step > STEP_EXEC)
		f.step = STEP_SEND;
	if (f.step == STEP_EXEC)
		log_error("cannot run '%s': %s\n", o->argv[0], strerror(f.err));
	else if (f.step == STEP_FILTER && (f.err == EBUSY || under_seccomp_filter()))
		log_error("cannot %s: %s (hint: CMD already runs under a seccomp notification supervisor, e.g. another bpftime-run; nesting is not supported)\n",
			  step_name[f.step], strerror(f.err));
	else if (f.step == STEP_FILTER && (f.err == EINVAL || f.err == EOPNOTSUPP || f.err == EFAULT))
		log_error("cannot %s: %s (hint: bpftime-run needs a kernel with CONFIG_SECCOMP_FILTER and seccomp user notification, Linux 5.9 or newer)\n",
			  step_name[f.step], strerror(f.err));
	else if (f.step == STEP_USERNS)
		log_error("cannot %s: %s (hint: unprivileged user namespaces may be disabled; try --no-namespace, or check kernel.unprivileged_userns_clone)\n",
			  step_name[f.step], strerror(f.err));
	else
		log_error("cannot %s: %s\n", step_name[f.step], strerror(f.err));
	return f.err == 0 ? -EPROTO : -f.err;
}
