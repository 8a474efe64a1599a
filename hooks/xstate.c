/*
 * xstate.c - save the vector registers a probe or syscall handler clobbers,
 * only when it is about to clobber them.
 *
 * The interrupted code may keep values in any vector register: at a probe
 * inside a function, across an inline `syscall` (glibc keeps xmm values
 * live across it; the kernel preserves every register but rcx and r11),
 * and at a function entry in the argument registers (xmm0-7, and
 * __m256/__m512 arguments in ymm0-7/zmm0-7). libc's string functions,
 * reached from BPF helpers (map updates, ring buffer output,
 * probe_read_str, snprintf), use AVX2 or AVX-512 on this machine: glibc's
 * EVEX variants use ymm16-31 and the opmask registers, its AVX2 variants
 * end in vzeroupper, which zeroes the upper halves of ymm/zmm0-15.
 *
 * Saving everything with XSAVEC/XRSTOR on every hit, as the syscall stubs
 * did, cost about 160 ns a hit on this AVX-512 VM, whatever the
 * requested-feature mask (measured: 130-230 ns for an SSE-only mask as for
 * the full one; the instructions themselves are the cost), and even 16
 * movaps each way are about 2 ns of a 20 ns probe hit. So the save is lazy:
 * the hit's C entry arms a save area on its stack (hook_xstate_begin()),
 * the code up to the first helper is built to use no vector register at
 * all (HOOK_VEC_CLEAN_BEGIN), and the first thing that may touch one (a
 * helper, a log line, a thread's first registration) calls
 * hook_xstate_save(), which stores with plain vector moves what libc may
 * touch: zmm0-31 and k0-7 with AVX-512 BW (about 20 ns), ymm0-15 with AVX,
 * xmm0-15 otherwise. hook_xstate_end() loads them back. A program that
 * calls no helper (or only inlined array lookups) pays nothing. Handlers
 * that may use xmm0-15 without calling us get them saved up front
 * (hook_xstate_save_xmm(), or the syscall stubs' movaps).
 *
 * The libc functions the clean path may still call without a save were
 * checked on Debian 12's glibc 2.36 to use no vector register:
 * sched_getcpu (rseq), syscall, clock_gettime (and the vDSO's, built
 * without SSE like the kernel), __errno_location, mmap, mremap.
 *
 * x87/MMX state, MXCSR and AMX tiles are not saved: neither our code nor
 * libc's string and stdio functions change them (printf of long double is
 * not reachable: BPF's snprintf has no floating point).
 *
 * Restoring ymm/zmm0-15 with vector loads marks their upper halves in use
 * even if they were in their initial state (Intel SDM vol. 1 §13.6), which
 * makes later SSE code slower on some Intel cores; so when XGETBV(1) said
 * they were initial at the save, the restore ends with vzeroupper, which
 * returns them to that state and keeps the low 128 bits.
 */
#include "config.h"

#include <cpuid.h>
#include <stddef.h>

#include "hooks/xstate.h"

HOOK_VEC_CLEAN_BEGIN

/* The hit-path section of hooks/hooks_int.h (HOOK_HOT): a probe on this
 * code would recurse, so attach refuses sites inside it. */
#define XS_HOT __attribute__((section("bpftime_hooks_text")))

enum { XS_UNKNOWN, XS_NONE, XS_YMM, XS_ZMM };

static int xs_mode;	   /* XS_*; set once, racing setters agree */
static bool xs_has_xinuse; /* XGETBV with ECX = 1 works */

__thread struct hook_xstate *hook_xstate_cur __attribute__((tls_model("initial-exec")));

XS_HOT static uint64_t xgetbv(uint32_t ecx)
{
	uint32_t lo, hi;

	__asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(ecx));
	return (uint64_t)hi << 32 | lo;
}

/* Intel SDM vol. 1 §13.2 (OSXSAVE, XCR0), §14.3 (AVX), §15.2 (AVX-512: XCR0
 * bits 5-7 opmask, ZMM_Hi256, Hi16_ZMM); CPUID.(7,0):EBX bit 16 AVX512F,
 * bit 30 AVX512BW (64-bit opmask registers); CPUID.(0DH,1):EAX bit 2 XINUSE. */
XS_HOT static int xs_detect(void)
{
	unsigned int a, b, c, d;
	uint64_t xcr0;

	if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) || !(c & (1u << 28)))
		return XS_NONE;
	xcr0 = xgetbv(0);
	if ((xcr0 & 0x6) != 0x6)
		return XS_NONE;
	if (__get_cpuid_max(0, NULL) >= 0xd) {
		__cpuid_count(0xd, 1, a, b, c, d);
		xs_has_xinuse = (a >> 2) & 1;
	}
	if (__get_cpuid_max(0, NULL) >= 7) {
		__cpuid_count(7, 0, a, b, c, d);
		/* Without BW (only Xeon Phi) the opmasks are 16 bits and glibc
		 * picks no EVEX routine; ymm is then all it can touch. */
		if ((b & (1u << 16)) && (b & (1u << 30)) && (xcr0 & 0xe0) == 0xe0)
			return XS_ZMM;
	}
	return XS_YMM;
}

XS_HOT static int xs_mode_get(void)
{
	int m = __atomic_load_n(&xs_mode, __ATOMIC_RELAXED);

	if (__builtin_expect(m == XS_UNKNOWN, 0)) {
		m = xs_detect();
		__atomic_store_n(&xs_mode, m, __ATOMIC_RELAXED);
	}
	return m;
}

const char *hook_xstate_kind(void)
{
	switch (xs_mode_get()) {
	case XS_ZMM:
		return "zmm0-31+k0-7";
	case XS_YMM:
		return "ymm0-15";
	default:
		return "xmm0-15";
	}
}

#define X8(M, a, b, c, d, e, f, g, h) M(a) M(b) M(c) M(d) M(e) M(f) M(g) M(h)
#define ZMM_SAVE(n) "vmovdqu64 %%zmm" #n ", " #n "*64(%0)\n\t"
#define ZMM_LOAD(n) "vmovdqu64 " #n "*64(%0), %%zmm" #n "\n\t"
#define YMM_SAVE(n) "vmovdqu %%ymm" #n ", " #n "*32(%0)\n\t"
#define YMM_LOAD(n) "vmovdqu " #n "*32(%0), %%ymm" #n "\n\t"
#define K_SAVE(n) "kmovq %%k" #n ", 2048+" #n "*8(%0)\n\t"
#define K_LOAD(n) "kmovq 2048+" #n "*8(%0), %%k" #n "\n\t"
/*
 * The loads below name no clobbers: in general-regs-only code the compiler
 * may not name vector registers, and holds nothing in them; callers hold
 * nothing in them across the call either (SysV: all caller-saved).
 */


XS_HOT void hook_xstate_save(void)
{
	struct hook_xstate *xs = hook_xstate_cur;
	int m;

	if (!xs || xs->saved)
		return;
	m = xs_mode_get();
	if (m == XS_ZMM) {
		__asm__ volatile(X8(ZMM_SAVE, 0, 1, 2, 3, 4, 5, 6, 7) X8(ZMM_SAVE, 8, 9, 10, 11, 12, 13, 14, 15)
				 X8(ZMM_SAVE, 16, 17, 18, 19, 20, 21, 22, 23)
				 X8(ZMM_SAVE, 24, 25, 26, 27, 28, 29, 30, 31)
				 X8(K_SAVE, 0, 1, 2, 3, 4, 5, 6, 7)
				 :
				 : "r"(xs->area)
				 : "memory");
	} else if (m == XS_YMM) {
		__asm__ volatile(X8(YMM_SAVE, 0, 1, 2, 3, 4, 5, 6, 7) X8(YMM_SAVE, 8, 9, 10, 11, 12, 13, 14, 15)
				 :
				 : "r"(xs->area)
				 : "memory");
	} else {
		/* SSE only: xmm0-15 are all there is (unless saved already). */
		if (!xs->saved_xmm)
			hook_xstate_save_xmm(xs);
		return;
	}
	/* Bit 2 AVX (ymm0-15 upper halves), bit 6 ZMM_Hi256 (zmm0-15 bits 256-511). */
	xs->upper_init = xs_has_xinuse && !(xgetbv(1) & 0x44);
	xs->saved = true;
}

/* Only reached with xs->saved set, so in the ZMM or YMM form; xmm0-15
 * saved by hook_xstate_save_xmm() are put back by hook_xstate_end() after. */
XS_HOT void hook_xstate_restore(struct hook_xstate *xs)
{
	if (xs_mode == XS_ZMM)
		__asm__ volatile(X8(ZMM_LOAD, 0, 1, 2, 3, 4, 5, 6, 7) X8(ZMM_LOAD, 8, 9, 10, 11, 12, 13, 14, 15)
				 X8(ZMM_LOAD, 16, 17, 18, 19, 20, 21, 22, 23)
				 X8(ZMM_LOAD, 24, 25, 26, 27, 28, 29, 30, 31)
				 X8(K_LOAD, 0, 1, 2, 3, 4, 5, 6, 7)
				 :
				 : "r"(xs->area)
				 : "memory");
	else
		__asm__ volatile(X8(YMM_LOAD, 0, 1, 2, 3, 4, 5, 6, 7) X8(YMM_LOAD, 8, 9, 10, 11, 12, 13, 14, 15)
				 :
				 : "r"(xs->area)
				 : "memory");
	if (xs->upper_init)
		__asm__ volatile("vzeroupper" ::: "memory");
	xs->saved = false;
}

HOOK_VEC_CLEAN_END
