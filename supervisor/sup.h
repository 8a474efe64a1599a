/*
 * sup.h - the private contract of the supervisor module (bpftime-run).
 *
 * The supervisor is four small pieces: launch.c forks the target and hands
 * the seccomp listener back, filter.c builds the classic-BPF filter, notify.c
 * runs the RECV/SEND loop and tmem.c reads and writes target memory. main.c is
 * the command-line edge and log.c the log sink. The kernel ABI itself lives
 * in emul/ and never sees seccomp.
 */
#ifndef SUPERVISOR_SUP_H
#define SUPERVISOR_SUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct emu_session;

struct sup_launch_opts {
	char *const *argv;   /* CMD and its arguments, NULL-terminated */
	bool private_ns;     /* private mount namespace with /sys/fs/bpf and tracefs files */
	const char *bpffs_dir;   /* session directory bind-mounted on /sys/fs/bpf (or NULL) */
	const char *tracefs_dir; /* prepared tracefs tree bind-mounted on /sys/kernel/tracing (or NULL) */
	const char *session_dir; /* handed to the in-process agent (agent_env.c), or NULL: no agent */
};

/**
 * Fork CMD under a seccomp filter that notifies us. On success *pid is the
 * child and *listener_fd the notification fd (O_CLOEXEC). Returns 0 or -errno;
 * on failure a one-line reason has been logged.
 */
int sup_launch(const struct sup_launch_opts *o, pid_t *pid, int *listener_fd);

/**
 * In the child before exec: LD_PRELOAD the agent and tell it the session
 * (agent_env.c); warns once when @cmd is statically linked.
 */
void sup_agent_env_setup(const char *session_dir, const char *cmd);

/**
 * Serve map memfds to the agents of our processes on <session>/agent-<pid>.sock
 * from a thread of its own (agent_server.c). Returns 0 or -errno (logged).
 */
int sup_agent_server_start(const char *session_dir);
void sup_agent_server_stop(void);

/** Build and load the filter in the calling process; returns the listener fd or -errno. */
int sup_filter_install(void);

/**
 * Serve notifications until CMD and all its descendants are gone. Forwards
 * SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 to the child.
 * Returns the exit status bpftime-run should use (CMD's, or 128+signal).
 */
int sup_notify_loop(struct emu_session *s, int listener_fd, pid_t child);

/** Target memory: read/write exactly len bytes or fail with -EFAULT. */
int sup_tmem_read(pid_t pid, uint64_t addr, void *buf, size_t len);
int sup_tmem_write(pid_t pid, uint64_t addr, const void *buf, size_t len);

/**
 * A local duplicate (O_CLOEXEC) of fd @tfd of thread @tid, through a pidfd
 * kept per thread (tproc.c). Returns the fd (caller closes), -EBADF (no such
 * fd), -ENOENT (the thread is gone), -EPERM/-errno (pidfd_getfd refused).
 * Called under the notify loop's lock only.
 */
int sup_tproc_getfd(pid_t tid, int tfd);
/** Close every cached pidfd. */
void sup_tproc_reset(void);

/** Log sink: stderr, or a file when path is set. Returns 0 or -errno. */
int sup_log_open(const char *path);

#endif /* SUPERVISOR_SUP_H */
