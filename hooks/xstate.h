/*
 * xstate.h - lazy saving of the vector registers a handler may clobber,
 * shared by the uprobe engine (hooks/dispatch.c) and the syscall stubs
 * (hooks/syscall_hook.c). See hooks/xstate.c for why and how.
 *
 * Contract for code that runs between hook_xstate_begin() and
 * hook_xstate_end() on a hit path: before anything that may touch a vector
 * register it calls hook_xstate_save(), which saves, once per hit, every
 * register libc can touch (xmm/ymm/zmm, opmasks). "Anything" is: a libc
 * routine that can reach an SSE/AVX/AVX-512 string function (memcpy,
 * memset, memcmp, strlen, snprintf, malloc, ...), a BPF helper (the agent
 * wraps its helper table, hooks/helpers_proc.c), a log call, and any C code
 * built with vector registers allowed. The engine's hit path and the
 * agent's BPF run path are built general-regs-only (HOOK_VEC_CLEAN_BEGIN).
 * Handlers that are not get xmm0-15 saved for them: uprobe handlers
 * attached without HOOK_UPROBE_VEC_CLEAN (hook_xstate_save_xmm() in
 * hooks/dispatch.c) and syscall handlers (the stubs save xmm0-15); gcc
 * without -mavx emits nothing wider, so such C code may use them freely.
 */
#ifndef HOOKS_XSTATE_H
#define HOOKS_XSTATE_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Functions between these compile to general-purpose registers only: no
 * SSE even for struct copies or zeroing. Every function a vector-clean
 * path calls before hook_xstate_save() must be inside such a region (or
 * be libc code checked to use no vector register: see hooks/xstate.c).
 */
#define HOOK_VEC_CLEAN_BEGIN _Pragma("GCC push_options") _Pragma("GCC target(\"general-regs-only\")")
#define HOOK_VEC_CLEAN_END _Pragma("GCC pop_options")

/* zmm0-31 (64 bytes each) and k0-7 (8 bytes each): the most we save. */
#define HOOK_XSTATE_AREA_SZ (32 * 64 + 8 * 8)

/* One per handler invocation, on the C entry's stack (so nesting works). */
struct hook_xstate {
	uint8_t area[HOOK_XSTATE_AREA_SZ] __attribute__((aligned(64)));
	uint8_t xmm[16 * 16] __attribute__((aligned(16))); /* xmm0-15, hook_xstate_save_xmm() */
	struct hook_xstate *prev; /* the invocation this one interrupted (a signal handler's hit) */
	bool saved;		  /* area holds the registers; restore at end */
	bool saved_xmm;		  /* xmm holds xmm0-15 as the interrupted code left them */
	bool upper_init;	  /* ymm/zmm0-15 upper halves were in their initial state */
};

/* The armed area of this thread (hooks/xstate.c); NULL outside a hit. */
extern __thread struct hook_xstate *hook_xstate_cur
	__attribute__((tls_model("initial-exec"), visibility("hidden")));

/** Save the vector state libc may touch into the armed area, once; a no-op when not armed. */
void hook_xstate_save(void);
/** Put back the wide state saved into @xs (hook_xstate_end()'s slow path). */
void hook_xstate_restore(struct hook_xstate *xs);
/** Which form this CPU gets: "zmm0-31+k0-7", "ymm0-15" or "xmm0-15". */
const char *hook_xstate_kind(void);

/* Inline: they run on every hit, on vector-clean paths too. */
HOOK_VEC_CLEAN_BEGIN

#define HOOK_XSTATE_X8(M, a, b, c, d, e, f, g, h) M(a) M(b) M(c) M(d) M(e) M(f) M(g) M(h)
#define HOOK_XSTATE_XSAVE(n) "movaps %%xmm" #n ", " #n "*16(%0)\n\t"
#define HOOK_XSTATE_XLOAD(n) "movaps " #n "*16(%0), %%xmm" #n "\n\t"

/*
 * Save xmm0-15 into @xs (for handlers that may use them); restored by
 * hook_xstate_end(). The asm names no clobbers: general-regs-only code may
 * not, and keeps nothing in vector registers.
 */
static inline void hook_xstate_save_xmm(struct hook_xstate *xs)
{
	__asm__ volatile(HOOK_XSTATE_X8(HOOK_XSTATE_XSAVE, 0, 1, 2, 3, 4, 5, 6, 7)
			 HOOK_XSTATE_X8(HOOK_XSTATE_XSAVE, 8, 9, 10, 11, 12, 13, 14, 15)
			 :
			 : "r"(xs->xmm)
			 : "memory");
	xs->saved_xmm = true;
}

/** Arm @xs for this thread: hook_xstate_save() will save into it. Async-signal-safe. */
static inline void hook_xstate_begin(struct hook_xstate *xs)
{
	xs->saved = false;
	xs->saved_xmm = false;
	xs->prev = hook_xstate_cur;
	hook_xstate_cur = xs;
}

/**
 * Restore what was saved into @xs, if anything, and disarm. No vector
 * register may change after this returns and before the interrupted code
 * resumes.
 */
static inline void hook_xstate_end(struct hook_xstate *xs)
{
	if (__builtin_expect(xs->saved, 0))
		hook_xstate_restore(xs);
	/* After the wide restore: a handler saved for may have changed xmm
	 * before hook_xstate_save() took them. */
	if (xs->saved_xmm)
		__asm__ volatile(HOOK_XSTATE_X8(HOOK_XSTATE_XLOAD, 0, 1, 2, 3, 4, 5, 6, 7)
				 HOOK_XSTATE_X8(HOOK_XSTATE_XLOAD, 8, 9, 10, 11, 12, 13, 14, 15)
				 :
				 : "r"(xs->xmm)
				 : "memory");
	hook_xstate_cur = xs->prev;
}
HOOK_VEC_CLEAN_END

#endif /* HOOKS_XSTATE_H */
