/*
 * syscall.h - in-process syscall interception for syscall tracepoints.
 *
 * hook_syscalls_install() rewrites the `syscall` instructions of the loaded
 * objects (libc, ld.so, every other DSO and the executable; not the vDSO)
 * into jumps to per-site trampolines. A trampoline tests one byte of a
 * per-syscall-number flag table: clear means the syscall runs as before at
 * the cost of that test and two jumps; set means the enter and/or exit
 * handler runs with the syscall number, the six argument registers and the
 * return value. See hooks/syscall_hook.c for what is and is not covered.
 */
#ifndef HOOKS_SYSCALL_H
#define HOOKS_SYSCALL_H

#include <stdbool.h>

/* Syscall numbers below this have a flag byte; higher ones are never reported. */
#define HOOK_SYS_NR_MAX 512

/* Flag bits for hook_syscalls_enable_mask(). */
#define HOOK_SYS_ENTER 1u
#define HOOK_SYS_EXIT 2u

/* Return values of an enter handler. */
#define HOOK_SYS_RUN 0  /* run the syscall (arguments may have been changed) */
#define HOOK_SYS_SKIP 1 /* do not run it; *ret is what the caller gets */

/**
 * hook_sys_enter_fn - called before a traced syscall, on the calling thread.
 * @nr: syscall number; @args: rdi, rsi, rdx, r10, r8, r9, writable; @ret:
 * the result to return when skipping. Return HOOK_SYS_RUN or HOOK_SYS_SKIP.
 * Syscalls the handler itself makes are not reported (per-thread guard).
 */
typedef int (*hook_sys_enter_fn)(long nr, unsigned long args[6], long *ret, void *ctx);

/**
 * hook_sys_exit_fn - called after a traced syscall returned @ret (a negative
 * errno on failure, as the kernel returns it); not called for syscalls that
 * do not return (exit, exit_group, successful execve, rt_sigreturn).
 * *ret may be changed.
 */
typedef void (*hook_sys_exit_fn)(long nr, long *ret, void *ctx);

/**
 * hook_syscalls_exit_args() - inside a hook_sys_exit_fn, the six argument
 * registers (rdi, rsi, rdx, r10, r8, r9) as the syscall left them, which are
 * the arguments it ran with (a syscall preserves them). @ret: the handler's
 * own @ret argument, nothing else. Valid until the handler returns.
 */
const unsigned long *hook_syscalls_exit_args(const long *ret);

struct hook_syscalls_stats {
	unsigned int objects;     /* loaded objects scanned */
	unsigned int sites;       /* `syscall` instructions found at instruction boundaries */
	unsigned int patched;     /* rewritten to jump to a trampoline */
	unsigned int unpatchable; /* no relocatable >= 5-byte instruction before it */
	unsigned int unreachable; /* no trampoline memory within +-2 GiB */
};

/**
 * hook_syscalls_install() - patch every loaded object. Call it before other
 * threads start (the LD_PRELOAD constructor); later calls patch objects
 * loaded since (dlopen) and leave patched ones alone.
 * Return: number of sites patched by this call (>= 0); -ENOTSUP if the CPU
 * lacks XSAVE; -ENOMEM; -errno of mprotect() (the site is left untouched).
 */
int hook_syscalls_install(void);

/** hook_syscalls_set_handler() - set the handlers (NULL: none) and their @ctx. Thread-safe. */
void hook_syscalls_set_handler(hook_sys_enter_fn enter, hook_sys_exit_fn exit, void *ctx);

/**
 * hook_syscalls_enable_mask() - which of enter/exit are reported for @nr.
 * Return: 0; -EINVAL if @nr is outside [0, HOOK_SYS_NR_MAX) or @mask has other bits.
 */
int hook_syscalls_enable_mask(int nr, unsigned int mask);

/** hook_syscalls_enable() - report both enter and exit of @nr (or neither). */
int hook_syscalls_enable(int nr, bool on);

/** hook_syscalls_enable_all() - every syscall number (raw_syscalls:*). */
void hook_syscalls_enable_all(bool on);

/** hook_syscalls_get_stats() - counters of the installs so far. */
void hook_syscalls_get_stats(struct hook_syscalls_stats *out);

#endif /* HOOKS_SYSCALL_H */
