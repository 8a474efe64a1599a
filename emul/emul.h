/*
 * emul.h - the contract of the emulation module: the kernel ABI bpftime
 * answers in place of the kernel (bpf(2), perf_event_open(2), the perf
 * ioctls and epoll_ctl on bpftime fds).
 *
 * emul/ never talks seccomp. It sees the calling process through a
 * struct emu_target, whose operations read and write its memory and look at
 * its fds. The supervisor implements them with process_vm_readv and
 * /proc/<pid>/fd (supervisor/notify.c); tests and the fuzzer use the calling
 * process itself (emul/target_local.c). A call's answer is a struct
 * emu_reply: a value or negative errno, possibly an fd to install in the
 * target (the syscall then returns the new fd number), or "continue": let
 * the kernel run the syscall itself.
 */
#ifndef EMUL_EMUL_H
#define EMUL_EMUL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

struct emu_target;
struct emu_session;

struct emu_target_ops {
	/* Copy exactly len bytes from/to target address addr; 0, -EFAULT, or -ENOENT (target gone). */
	int (*read)(const struct emu_target *t, uint64_t addr, void *buf, size_t len);
	int (*write)(const struct emu_target *t, uint64_t addr, const void *buf, size_t len);
	/* stat(2) of the file behind target fd tfd: 0, -EBADF. */
	int (*fd_stat)(const struct emu_target *t, int tfd, struct stat *st);
	/* A local duplicate (O_CLOEXEC) of target fd tfd, or -EBADF. Caller closes. */
	int (*fd_get)(const struct emu_target *t, int tfd);
	/* 0 while the call is still pending, -ENOENT when the target went away. */
	int (*valid)(const struct emu_target *t);
};

struct emu_target {
	const struct emu_target_ops *ops;
	pid_t pid;  /* thread group of the caller, in the supervisor's pid namespace */
	pid_t tid;  /* calling thread */
	void *priv; /* for the ops */
};

struct emu_pending;

struct emu_reply {
	int64_t val;     /* return value, or -errno */
	int install_fd;  /* >= 0: install this (our) fd in the target and return its number; we close it */
	bool cloexec;    /* with install_fd: O_CLOEXEC on the new fd */
	bool cont;       /* let the kernel execute the syscall unchanged */
	/* The answer comes later (a PROG_TEST_RUN child): when pending_fd is readable,
	 * call emu_pending_finish() and reply with what it fills in. */
	struct emu_pending *pending;
	int pending_fd;
};

/**
 * Finish a pending call once its pending_fd is readable. Fills *r (never
 * pending again) and returns 0, or -ENOENT when the target went away (no
 * reply needed). Frees @p either way.
 */
int emu_pending_finish(const struct emu_target *t, struct emu_pending *p, struct emu_reply *r);
/** Drop a pending call without answering it (the target is gone). */
void emu_pending_free(struct emu_pending *p);

/**
 * Open (or join) the session named @name (NULL: "default") of the calling
 * user: the shared object registry and pin directory under
 * $XDG_RUNTIME_DIR/bpftime/<name>, or /dev/shm/bpftime-<uid>-<name>.
 * On success *out holds the session; release with emu_session_close(), which
 * removes the shared state when this was the last process using it.
 * Returns 0, -EINVAL (bad name), or the errno of the failing file operation.
 */
int emu_session_open(const char *name, struct emu_session **out);
void emu_session_close(struct emu_session *s);
/** The directory bind-mounted on /sys/fs/bpf, and the prepared tracefs tree (or NULL). */
const char *emu_session_bpffs_dir(const struct emu_session *s);
const char *emu_session_tracefs_dir(const struct emu_session *s);
/** The session directory itself (what the in-process agent is told, hooks/agent_proto.h). */
const char *emu_session_dir(const struct emu_session *s);

/**
 * Answer one trapped syscall. @nr is the x86-64 syscall number, @args its six
 * raw arguments. Fills *r and returns 0; returns -ENOENT when the target went
 * away before we could act (no reply is needed then).
 */
int emu_syscall(struct emu_session *s, const struct emu_target *t, int nr, const uint64_t args[6],
		struct emu_reply *r);

/** bpf(2) alone: the same contract as emu_syscall(). */
int emu_bpf(struct emu_session *s, const struct emu_target *t, int cmd, uint64_t uattr, uint32_t size,
	    struct emu_reply *r);

/*
 * Ring wake-ups (emul/ring_wake.c) need no help from the caller: a thread of
 * their own sleeps on the rings' futex words. EMU_WAKE_TICK_MS is how often
 * a ring that still holds unread data is signalled again.
 */
#define EMU_WAKE_TICK_MS 5

/**
 * Object lifetime (emul/lifetime.c): the caller polls emu_session_event_fd()
 * for reading and then calls emu_session_events(), which frees objects whose
 * last fd was closed.
 */
int emu_session_event_fd(const struct emu_session *s);
void emu_session_events(struct emu_session *s);


/** A target that is the calling process itself (tests, fuzzing). */
void emu_target_local_init(struct emu_target *t);
/**
 * Apply a reply as the kernel would return it in the calling process: the
 * installed fd (a dup of install_fd, which is closed) or the value; errors
 * are returned as -errno.
 */
int64_t emu_reply_apply_local(struct emu_reply *r);

#endif /* EMUL_EMUL_H */
