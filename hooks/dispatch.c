/*
 * dispatch.c - the hit path: what runs, in C, each time a patched site or a
 * hijacked return is reached (called from tramp_x86_64.S with pt_regs built).
 *
 * This is the only code that runs per hit, so it takes no lock, makes no
 * syscall and allocates nothing (except once per thread: hook_thread_register(),
 * and when a thread's shadow stack first grows). The handler lists are immutable
 * arrays read with one acquire load each; the per-thread counter makes detach
 * wait for us (thread.c). A thread already inside a handler skips the handlers
 * and counts a miss, like the kernel's per-CPU bpf_prog_active guard
 * (kernel/trace/bpf_trace.c, trace_call_bpf()).
 *
 * Mirrors kernel/events/uprobes.c handler_chain() (entry: run the consumers,
 * then prepare_uretprobe() if any has a return handler) and handle_trampoline()
 * (return: ip = the original return address, then the return consumers).
 */
#include "config.h"

#include <stdint.h>

#include "common/log.h"
#include "hooks/xstate.h"

/*
 * No vector register is used from here to the handlers: the trampoline
 * saved none, and what a handler may touch is saved by it (hooks/xstate.h)
 * or, for handlers not marked HOOK_UPROBE_VEC_CLEAN, here. The inline
 * helpers of hooks_int.h are compiled the same way.
 */
HOOK_VEC_CLEAN_BEGIN
#include "hooks/hooks_int.h"

/* Flags a handler may change: CF PF AF ZF SF DF OF (not TF, IF, IOPL, ...). */
#define HOOK_FLAGS_USER_MASK 0xcd5ULL

HOOK_HOT static void run_list(const struct hook_list *l, struct pt_regs *regs)
{
	for (uint32_t i = 0; i < l->cnt; i++)
		l->ent[i].fn(regs, l->ent[i].data);
}

HOOK_HOT static void count_miss(struct hook_site *site)
{
	__atomic_fetch_add(&site->missed, 1, __ATOMIC_RELAXED);
}

/*
 * The first hit of a thread registers it (mmap, pthread_setspecific): that
 * may reach libc code using wide vector registers, so save them first.
 */
HOOK_HOT static struct hook_thread *thread_register_hit(void)
{
	hook_xstate_save();
	return hook_thread_register();
}

/*
 * Returns 0 to resume with the displaced instructions, 1 to resume at regs->ip
 * with rsp = regs->sp (the handler redirected). The trampoline saved the
 * general registers only; vector registers are saved when a handler is
 * about to touch them (hooks/xstate.h).
 */
HOOK_HOT int hook_dispatch_entry(struct pt_regs *regs, struct hook_site *site)
{
	struct hook_thread *t = hook_thread_self_tls;
	const uint64_t sp = regs->sp;
	const uint64_t flags = regs->flags;
	const struct hook_list *l;
	struct hook_xstate xs;
	int redirect = 0;

	regs->ip = site->addr;
	hook_xstate_begin(&xs);
	if (__builtin_expect(!t, 0)) {
		t = thread_register_hit();
		if (!t) {
			count_miss(site);
			goto out;
		}
	}
	if (__builtin_expect(t->ctr & 1, 0)) {
		count_miss(site);
		goto out;
	}
	hook_thread_enter(t);
	/* Pairs with the release stores in publish() (uprobe.c). */
	l = __atomic_load_n(&site->entry_list, __ATOMIC_ACQUIRE);
	if (l) {
		if (l->save_xmm)
			hook_xstate_save_xmm(&xs);
		run_list(l, regs);
	}
	regs->flags = (flags & ~HOOK_FLAGS_USER_MASK) | (regs->flags & HOOK_FLAGS_USER_MASK);
	if (__builtin_expect(regs->ip != site->addr || regs->sp != sp, 0)) {
		if (regs->sp < sp) {
			static int warned;

			if (!__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED)) {
				hook_xstate_save();
				log_debug("hooks: a handler at %#llx lowered sp; ignored\n",
					  (unsigned long long)site->addr);
			}
			regs->sp = sp;
		}
		redirect = 1;
	} else if (__atomic_load_n(&site->ret_list, __ATOMIC_ACQUIRE)) {
		/* DIVERGES: the kernel also hijacks when a consumer redirected; we
		 * do not, since the return slot may no longer be at sp. */
		if (hook_shadow_push(t, site, regs))
			count_miss(site);
	}
	hook_thread_leave(t);
out:
	hook_xstate_end(&xs);
	return redirect;
}

HOOK_HOT uint64_t hook_dispatch_ret(struct pt_regs *regs)
{
	struct hook_thread *t = hook_thread_self_tls;
	struct hook_shadow_ent ent;
	const uint64_t flags = regs->flags;
	const struct hook_list *l;
	struct hook_xstate xs;

	if (!t || hook_shadow_pop(t, regs->sp, &ent)) {
		/*
		 * No record of the frame we return from: the stack was switched
		 * or corrupted under us and the real return address is lost.
		 * The kernel sends SIGILL here (handle_trampoline(), "sigill:");
		 * we do the same with ud2 rather than run at a guessed address.
		 */
		log_error("hooks: uretprobe return at sp %#llx has no shadow entry\n",
			  (unsigned long long)regs->sp);
		__builtin_trap();
	}
	regs->ip = ent.ret;
	if (t->ctr & 1) {
		count_miss(ent.site);
		return ent.ret;
	}
	hook_thread_enter(t);
	hook_xstate_begin(&xs);
	/* Pairs with the release stores in publish() (uprobe.c). */
	l = __atomic_load_n(&ent.site->ret_list, __ATOMIC_ACQUIRE);
	if (l)
		run_list(l, regs);
	hook_xstate_end(&xs);
	hook_thread_leave(t);
	regs->flags = (flags & ~HOOK_FLAGS_USER_MASK) | (regs->flags & HOOK_FLAGS_USER_MASK);
	return regs->ip;
}

HOOK_VEC_CLEAN_END
