/*
 * xstate.h - lazy saving of the vector registers a handler may clobber,
 * shared by the uprobe engine (hooks/dispatch.c) and the syscall stubs
 * (hooks/syscall_hook.c). See hooks/xstate.c for why and how.
 *
 * Contract for code that runs between hook_xstate_begin() and
 * hook_xstate_end() on a hit path: it may use xmm0-15 freely (the
 * trampolines and stubs save those on every hit) but must call
 * hook_xstate_save() before anything that may touch other vector state:
 * any libc routine that can reach an AVX/AVX-512 string function (memcpy,
 * memset, memcmp, strlen, snprintf, malloc, ...), a BPF helper (the agent
 * wraps its helper table, hooks/helpers_proc.c), a log call. gcc without
 * -mavx only ever emits SSE code, so plain C is fine.
 */
#ifndef HOOKS_XSTATE_H
#define HOOKS_XSTATE_H

#include <stdbool.h>
#include <stdint.h>

/* zmm0-31 (64 bytes each) and k0-7 (8 bytes each): the most we save. */
#define HOOK_XSTATE_AREA_SZ (32 * 64 + 8 * 8)

/* One per handler invocation, on the C entry's stack (so nesting works). */
struct hook_xstate {
	uint8_t area[HOOK_XSTATE_AREA_SZ] __attribute__((aligned(64)));
	struct hook_xstate *prev; /* the invocation this one interrupted (a signal handler's hit) */
	bool saved;		  /* area holds the registers; restore at end */
	bool upper_init;	  /* ymm/zmm0-15 upper halves were in their initial state */
};

/** Arm @xs for this thread: hook_xstate_save() will save into it. Async-signal-safe. */
void hook_xstate_begin(struct hook_xstate *xs);
/**
 * Restore what hook_xstate_save() saved into @xs, if anything, and disarm.
 * No vector register other than xmm0-15 may change after this returns and
 * before the interrupted code resumes.
 */
void hook_xstate_end(struct hook_xstate *xs);
/** Save the extended vector state into the armed area, once; a no-op when not armed. */
void hook_xstate_save(void);
/** Which form this CPU gets: "zmm0-31+k0-7", "ymm0-15" or "none (SSE only)". */
const char *hook_xstate_kind(void);

#endif /* HOOKS_XSTATE_H */
