/*
 * syscall_hook.c - the public side of in-process syscall interception:
 * install, per-number enable flags, handlers, and the C half of the stubs.
 *
 * Design (why not the alternatives):
 * - ptrace and seccomp user notification cost a context switch or two per
 *   syscall, far more than the kernel tracepoint we must not exceed.
 * - zpoline maps page zero to turn `syscall` into `call *%rax`; that needs
 *   vm.mmap_min_addr = 0, a system setting we may not change.
 * - Syscall User Dispatch (prctl PR_SET_SYSCALL_USER_DISPATCH, 5.11+) needs
 *   no privilege but delivers a SIGSYS per intercepted syscall, microseconds
 *   each, and cannot leave untraced syscalls free.
 * So we rewrite: each `syscall` of the loaded objects whose preceding
 * instruction can be displaced (hooks/syscall_scan.c) jumps to its own
 * trampoline (hooks/syscall_tramp.c), which tests hook_sys_flags[nr] and
 * calls the stubs (hooks/syscall_stub.S) only when the number is traced.
 *
 * Covered: syscalls issued through rewritten sites of the objects loaded
 * when hook_syscalls_install() runs (libc, ld.so, libpthread-like code and
 * any DSO or the executable itself), on every thread, in forked children
 * (they inherit the rewritten text), in vfork and clone children, in signal
 * handlers, with SA_RESTART restarts transparent (the kernel restarts the
 * trampoline's own `syscall`). An exec starts a fresh image, which the
 * preloaded agent must install into again (from its constructor).
 *
 * Not covered (each is a missed event, never a crash):
 * - sites where neither the instruction before the syscall (>= 5 bytes) nor
 *   the one after it (>= 3 bytes, no branch to it in the function, no
 *   indirect jump in the function) can be displaced, %rip-relative ones,
 *   and syscalls in functions without an unwind entry; on Debian 12's glibc
 *   2.36 that is 8 of 526 sites in libc (thread exit loops, two futex
 *   calls, aio) and 2 of 46 in ld.so (hook_syscalls_get_stats() counts
 *   them); code jumping straight to a `syscall` instruction;
 * - when install runs while other threads exist (attaching to a running
 *   program): "post" sites (e.g. read(), _exit()) and "pre" sites whose five
 *   bytes straddle a 16-byte block (hooks/syscall_tramp.c); 393 of 572 sites
 *   are rewritten then, against 562 when single-threaded;
 * - objects loaded after install until install is called again (the agent
 *   is expected to call it after dlopen; it patches only new objects), and
 *   code generated at run time (JITs);
 * - statically linked programs (the agent is never loaded);
 * - the vDSO (clock_gettime, gettimeofday, time, getcpu do not enter the
 *   kernel there either, so the kernel's tracepoints miss them too);
 * - syscall numbers >= HOOK_SYS_NR_MAX.
 * Syscall User Dispatch would catch those, but it delivers a SIGSYS for
 * every syscall outside one allowed address range, so it cannot coexist
 * with "untraced costs nothing" unless every trampoline's `syscall` lives in
 * one range, and a SIGSYS handler cannot run vfork or clone on the
 * caller's stack; it is not implemented.
 *
 * DIVERGES from the kernel's tracepoints: syscalls made by the handlers
 * themselves are not reported (a per-thread depth counter; the kernel has no
 * such recursion). A raw clone(CLONE_VM) child without CLONE_SETTLS shares
 * that counter with its parent, so while both run a handler at the same time
 * one event can be lost. A restarted syscall (SA_RESTART) is one enter/exit
 * pair here; the kernel shows a sys_exit with -ERESTARTSYS and a second
 * enter. The x86-64 only: the trampolines and stubs are x86-64 code.
 */
#include "config.h"

#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/syscall_int.h"
#include "hooks/xstate.h"

uint8_t hook_sys_flags[HOOK_SYS_NR_MAX];

static hook_sys_enter_fn enter_fn;
static hook_sys_exit_fn exit_fn;
static void *handler_ctx;

static __thread int hook_depth __attribute__((tls_model("initial-exec")));

#define MAX_OBJECTS 512

static pthread_mutex_t install_lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t done_lo[MAX_OBJECTS]; /* exec ranges already scanned, by start */
static unsigned int done_cnt;
static struct hook_syscalls_stats stats;

/*
 * The stubs saved the general registers and xmm0-15; wider vector state is
 * saved only if the handler is about to touch it (hooks/xstate.h: a
 * handler calls hook_xstate_save() before libc string functions).
 */
void hook_sys_enter_c(struct hook_sys_frame *f)
{
	struct hook_xstate xs;
	hook_sys_enter_fn fn;
	int saved_errno;

	if (hook_depth)
		return;
	/* Pairs with the release stores in hook_syscalls_set_handler(). */
	fn = __atomic_load_n(&enter_fn, __ATOMIC_ACQUIRE);
	if (!fn)
		return;
	hook_depth++;
	saved_errno = errno;
	hook_xstate_begin(&xs);
	f->skip = fn(f->nr, f->args, &f->ret, __atomic_load_n(&handler_ctx, __ATOMIC_RELAXED)) ==
		  HOOK_SYS_SKIP;
	hook_xstate_end(&xs);
	errno = saved_errno;
	hook_depth--;
}

void hook_sys_exit_c(struct hook_sys_frame *f)
{
	struct hook_xstate xs;
	hook_sys_exit_fn fn;
	int saved_errno;

	if (hook_depth)
		return;
	fn = __atomic_load_n(&exit_fn, __ATOMIC_ACQUIRE);
	if (!fn)
		return;
	hook_depth++;
	saved_errno = errno;
	hook_xstate_begin(&xs);
	fn(f->nr, &f->ret, __atomic_load_n(&handler_ctx, __ATOMIC_RELAXED));
	hook_xstate_end(&xs);
	errno = saved_errno;
	hook_depth--;
}

void hook_syscalls_set_handler(hook_sys_enter_fn enter, hook_sys_exit_fn exit, void *ctx)
{
	__atomic_store_n(&handler_ctx, ctx, __ATOMIC_RELAXED);
	/* Pairs with the acquire loads in hook_sys_enter_c()/hook_sys_exit_c(). */
	__atomic_store_n(&enter_fn, enter, __ATOMIC_RELEASE);
	__atomic_store_n(&exit_fn, exit, __ATOMIC_RELEASE);
}

int hook_syscalls_enable_mask(int nr, unsigned int mask)
{
	if (nr < 0 || nr >= HOOK_SYS_NR_MAX || (mask & ~(HOOK_SYS_ENTER | HOOK_SYS_EXIT)))
		return -EINVAL;
	/* Trampolines read the byte with a plain load; a byte store is atomic on x86. */
	__atomic_store_n(&hook_sys_flags[nr], (uint8_t)mask, __ATOMIC_RELAXED);
	return 0;
}

int hook_syscalls_enable(int nr, bool on)
{
	return hook_syscalls_enable_mask(nr, on ? HOOK_SYS_ENTER | HOOK_SYS_EXIT : 0);
}

void hook_syscalls_enable_all(bool on)
{
	int nr;

	for (nr = 0; nr < HOOK_SYS_NR_MAX; nr++)
		hook_syscalls_enable(nr, on);
}

void hook_syscalls_get_stats(struct hook_syscalls_stats *out)
{
	pthread_mutex_lock(&install_lock);
	*out = stats;
	pthread_mutex_unlock(&install_lock);
}

struct collect {
	struct hook_sys_object *objs;
	unsigned int cnt;
	uintptr_t vdso;
};

static bool done_has(uintptr_t lo)
{
	unsigned int i;

	for (i = 0; i < done_cnt; i++)
		if (done_lo[i] == lo)
			return true;
	return false;
}

static int collect_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct collect *c = data;
	const void *eh = NULL;
	int i;

	for (i = 0; i < info->dlpi_phnum; i++)
		if (info->dlpi_phdr[i].p_type == PT_GNU_EH_FRAME)
			eh = (const void *)(info->dlpi_addr + info->dlpi_phdr[i].p_vaddr);
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct hook_sys_object *o;
		uintptr_t lo;

		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		lo = info->dlpi_addr + ph->p_vaddr;
		/* The vDSO is the kernel's; never write to it. */
		if (c->vdso && c->vdso >= info->dlpi_addr + ph->p_vaddr - ph->p_offset &&
		    c->vdso < lo + ph->p_memsz)
			return 0;
		if (done_has(lo) || c->cnt >= MAX_OBJECTS)
			continue;
		o = &c->objs[c->cnt++];
		memset(o, 0, sizeof(*o));
		o->name = info->dlpi_name && *info->dlpi_name ? info->dlpi_name : "(main program)";
		o->lo = lo;
		o->hi = lo + ph->p_memsz;
		o->eh = eh;
	}
	return 0;
}

int hook_syscalls_install(void)
{
	struct collect c = { 0 };
	int err = 0, total = 0;
	unsigned int i;

	pthread_mutex_lock(&install_lock);
	c.objs = calloc(MAX_OBJECTS, sizeof(*c.objs));
	if (!c.objs) {
		err = -ENOMEM;
		goto out;
	}
	c.vdso = getauxval(AT_SYSINFO_EHDR);
	dl_iterate_phdr(collect_cb, &c);
	for (i = 0; i < c.cnt; i++) {
		struct hook_sys_object *o = &c.objs[i];
		unsigned int patched = 0, unreachable = 0;

		err = hook_sys_scan(o, o->eh);
		if (!err)
			err = hook_sys_tramp_patch_object(o, &patched, &unreachable);
		stats.objects++;
		stats.sites += o->found;
		stats.patched += patched;
		stats.unpatchable += o->found - o->site_cnt + o->unsafe;
		stats.unreachable += unreachable;
		total += (int)patched;
		log_debug("syscall hooks: %s: %u syscall sites, %u rewritten\n", o->name, o->found,
			  patched);
		zfree(&o->sites);
		if (err == -ENOMEM)
			break;
		/* Other failures (mprotect refused) leave this object untraced, already
		 * logged; it is not scanned again. */
		err = 0;
		if (done_cnt < MAX_OBJECTS)
			done_lo[done_cnt++] = o->lo;
	}
	for (; i < c.cnt; i++)
		zfree(&c.objs[i].sites);
	free(c.objs);
out:
	pthread_mutex_unlock(&install_lock);
	return err ? err : total;
}
