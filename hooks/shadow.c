/*
 * shadow.c - the per-thread shadow stack behind uretprobes.
 *
 * On entry to a function with return probes we swap the return address on the
 * stack for hook_tramp_ret and remember {real return address, stack slot,
 * site}; the return trampoline pops it. This is the kernel's return_instance
 * chain (kernel/events/uprobes.c prepare_uretprobe()/handle_trampoline()), kept
 * in a thread-owned mmap()ed array that doubles with mremap() (no malloc: the
 * probed function may be malloc itself). Push and pop run on every hit and are
 * inline in hooks_int.h; this file keeps the rare growth path.
 *
 * Frames abandoned by longjmp() or by a C++ exception that unwound through
 * them leave stale entries. As the kernel does (arch_uretprobe_is_alive() in
 * arch/x86/kernel/uprobes.c), we drop entries whose slot lies at or below the
 * new entry's slot on push — those frames are dead — and, on return, entries
 * deeper than the returning frame. Limits, as for the kernel: a C++ exception
 * unwinding through a hijacked frame finds hook_tramp_ret as return address
 * and has no unwind info for it (std::terminate); code switching stacks
 * (coroutines, swapcontext) can make live entries look dead.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>

#include "common/log.h"
#include "hooks/hooks_int.h"

#define SHADOW_INIT_CNT (8192 / sizeof(struct hook_shadow_ent))

HOOK_HOT int hook_shadow_grow(struct hook_thread *t)
{
	size_t old_sz = (size_t)t->cap * sizeof(*t->shadow);
	size_t new_cnt = t->cap ? (size_t)t->cap * 2 : SHADOW_INIT_CNT;
	void *p;

	if (new_cnt > UINT32_MAX / 2)
		return -E2BIG;
	if (!t->shadow)
		p = mmap(NULL, new_cnt * sizeof(*t->shadow), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	else
		p = mremap(t->shadow, old_sz, new_cnt * sizeof(*t->shadow), MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return -errno;
	t->shadow = p;
	t->cap = (uint32_t)new_cnt;
	return 0;
}
