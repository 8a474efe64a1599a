/*
 * text_poke.c - write 5 bytes of live code while other threads may be running
 * it: the kernel's text_poke_bp() sequence (arch/x86/kernel/alternative.c),
 * done from user space.
 *
 *   1. make the page(s) read+write+exec (other threads keep executing them,
 *      so they cannot lose exec even for a moment); remember their old mode;
 *   2. if the site has an instruction boundary inside its first 5 bytes,
 *      park every runnable thread, moving any that sits on such a boundary
 *      (quiesce_begin(), below);
 *   3. write int3 over the first byte, serialise every CPU running our
 *      threads; a thread reaching the site now traps, and our SIGTRAP handler
 *      moves it to the site's trampoline (complete before we start);
 *   4. write bytes 1..4; serialise;  5. write byte 0; serialise;
 *   6. release the parked threads and restore the page mode: the window with
 *      write+exec is these few writes.
 * Serialising is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE), the
 * user-space counterpart of text_poke_sync()'s IPIs (membarrier(2)).
 * Restoring the original bytes is the same without step 2: no thread can be
 * inside a jmp.
 *
 * Threads parked inside the site: a thread preempted (or stopped in a signal
 * handler) after executing the first instruction of, say, `push %rbp; mov
 * %rsp,%rbp` would resume in the middle of our jmp; step 2 moves it. Sites
 * whose first instruction is 5 bytes or longer (a nop5 entry) skip step 2.
 * Remaining risks: a thread with SIGTRAP blocked (attach fails with -EBUSY
 * after two seconds unless it sleeps or exits), a thread that hits the int3
 * with SIGTRAP blocked (the kernel kills the process, as for any int3), a
 * thread created during the few microseconds of steps 3-5 that is preempted
 * on an inner boundary, and a branch from elsewhere into bytes 1..4 that site_check.c
 * could not see.
 *
 * An int3 site (hook_text_poke_int3()): only step 3, for good. The site's
 * first instruction stays an int3 and every hit goes through the SIGTRAP
 * handler to the trampoline, as the kernel's uprobes do. Bytes 1..4 never
 * change, so a branch to them from elsewhere (the instruction after a USDT
 * probe's 1-byte nop is routinely one) still finds the original code.
 *
 * SIGTRAP is the one signal we handle. The handler is installed at the first
 * attach and stays: a trap from our int3 can be delivered after the window
 * closed, and it must still be redirected. Sites are immortal, so the lookup
 * (a walk of the push-only site list) is async-signal-safe. Other SIGTRAPs are
 * passed to the handler that was there before us, or get the default action.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/hooks_int.h"

#define PAGE_SZ 4096ULL
#define SCAN_WAIT_NS (2ULL * 1000 * 1000 * 1000)

static struct sigaction old_trap;
static int sync_cmd; /* membarrier command that serialises cores, 0: none */
HOOK_HOT static void quiesce_handle(ucontext_t *uc);
static int scan_cookie; /* its address tags our queued SIGTRAPs */

HOOK_HOT static void trap_handler(int sig, siginfo_t *si, void *ucv)
{
	ucontext_t *uc = ucv;
	uint64_t ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];

	if (si->si_code == SI_QUEUE && si->si_value.sival_ptr == &scan_cookie) {
		quiesce_handle(uc);
		return;
	}
	if (si->si_code == SI_KERNEL) {
		for (struct hook_site *s = hook_site_registry_head(); s; s = s->next) {
			uint8_t *tramp;

			if (s->addr != ip - 1)
				continue;
			/* Pairs with the release store in site_build_tramp() (uprobe.c). */
			tramp = __atomic_load_n(&s->tramp, __ATOMIC_ACQUIRE);
			if (!tramp)
				break;
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(uintptr_t)(tramp + HOOK_SLOT_STUB_OFF);
			return;
		}
	}
	if (old_trap.sa_flags & SA_SIGINFO) {
		old_trap.sa_sigaction(sig, si, ucv);
	} else if (old_trap.sa_handler == SIG_IGN) {
		return;
	} else if (old_trap.sa_handler != SIG_DFL) {
		old_trap.sa_handler(sig);
	} else {
		/*
		 * Not ours and nobody else wants it: give the host what it would
		 * have had without us. A foreign int3 is re-executed under the
		 * default action; anything else is re-sent to this thread.
		 */
		signal(SIGTRAP, SIG_DFL);
		if (si->si_code == SI_KERNEL && *(uint8_t *)(uintptr_t)(ip - 1) == 0xcc)
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)(ip - 1);
		else
			syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGTRAP);
	}
}

int hook_text_poke_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = trap_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTRAP, &sa, &old_trap)) {
		int err = -errno;

		log_debug("hooks: sigaction(SIGTRAP): %s\n", strerror(-err));
		return err;
	}
	if (!syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE, 0, 0))
		sync_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE;
	else if (!syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
		sync_cmd = MEMBARRIER_CMD_PRIVATE_EXPEDITED;
	else
		log_debug("hooks: membarrier unavailable: relying on mprotect's TLB shootdown\n");
	return 0;
}

static void sync_cores(void)
{
	__builtin___clear_cache((char *)0, (char *)0); /* a no-op on x86: coherent I-cache */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (sync_cmd)
		syscall(__NR_membarrier, sync_cmd, 0, 0);
}

/*
 * Quiescing (before step 2). For each other thread we read
 * /proc/self/task/<tid>/syscall (proc(5)): a thread blocked in the kernel
 * shows its user pc; one that is running or runnable (preempted) shows
 * "running". Runnable threads get a queued SIGTRAP carrying our cookie; their
 * handler (quiesce_handle(), from trap_handler()) moves a pc found on an
 * instruction boundary inside the site to the copy of that instruction in the
 * trampoline — the copy continues exactly where the thread was — acknowledges,
 * and waits (sched_yield) until the patch is complete. A blocked thread cannot
 * be moved, so we wait for one blocked inside to leave; one blocked elsewhere
 * that wakes up meets the int3. While threads wait in the handler the patcher
 * must not take locks they may hold: no malloc, no stdio until released.
 *
 * Why before the int3 and not after: SIGTRAP is not a real-time signal, so a
 * queued one and an int3 trap pending together merge into one delivery, and a
 * thread at site+1 could then not tell "executed the first instruction" from
 * "trapped on the int3". With every runnable thread parked first, none can
 * trap. A dropped queued signal (merged with an older pending SIGTRAP) is
 * re-sent every 10 ms until acknowledged. Threads that were asleep may wake
 * while we wait, so we look again until a pass finds nobody new; what is left
 * is a thread waking (or being created) in the microseconds between the last
 * pass and the int3, and preempted right on an inner boundary.
 */
#define QUIESCE_MAX 4096

static struct {
	uint32_t active;		/* 1 while a patch waits for acknowledgements */
	uint32_t released;		/* 1 once the patch is complete */
	uint32_t inside;		/* handlers currently in quiesce_handle() */
	uint32_t cnt;
	const struct hook_site *site;
	pid_t tid[QUIESCE_MAX];
	uint32_t acked[QUIESCE_MAX];
} q;

HOOK_HOT static void quiesce_handle(ucontext_t *uc)
{
	const struct hook_site *site;
	uint64_t ip;
	pid_t tid;

	__atomic_fetch_add(&q.inside, 1, __ATOMIC_ACQ_REL);
	if (!__atomic_load_n(&q.active, __ATOMIC_ACQUIRE))
		goto out; /* a late re-send: the patch is done */
	site = q.site;
	ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	if (ip > site->addr && ip < site->addr + site->patch_len) {
		for (int i = 1; i < site->insn_cnt; i++) {
			if (ip != site->addr + site->insn_off[i])
				continue;
			uc->uc_mcontext.gregs[REG_RIP] =
				(greg_t)(uintptr_t)(site->tramp + HOOK_SLOT_CODE_OFF + site->insn_new[i]);
			break;
		}
	}
	tid = (pid_t)syscall(SYS_gettid);
	for (uint32_t i = 0; i < q.cnt; i++)
		if (q.tid[i] == tid)
			/* Pairs with the acquire load in quiesce_begin(). */
			__atomic_store_n(&q.acked[i], 1, __ATOMIC_RELEASE);
	/* Pairs with the release store in quiesce_end(). */
	while (!__atomic_load_n(&q.released, __ATOMIC_ACQUIRE))
		sched_yield();
out:
	__atomic_fetch_sub(&q.inside, 1, __ATOMIC_ACQ_REL);
}

enum thread_state { T_GONE, T_BLOCKED_OUTSIDE, T_BLOCKED_INSIDE, T_RUNNING };

static enum thread_state thread_state(pid_t tid, const struct hook_site *site)
{
	char path[64], buf[256];
	ssize_t n;
	_cleanup_close_ int fd = -1;
	char *last;
	uint64_t pc;

	snprintf(path, sizeof(path), "/proc/self/task/%d/syscall", (int)tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return T_GONE;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return T_GONE;
	buf[n] = 0;
	if (!strncmp(buf, "running", 7))
		return T_RUNNING;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	last = strrchr(buf, ' ');
	pc = last ? strtoull(last + 1, NULL, 0) : 0;
	return pc > site->addr && pc < site->addr + site->patch_len ? T_BLOCKED_INSIDE
								     : T_BLOCKED_OUTSIDE;
}

/* The other threads of this process. Called before quiescing (it allocates). */
static int task_tids(pid_t **out, uint32_t *cnt)
{
	pid_t self = (pid_t)syscall(SYS_gettid);
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	uint32_t n = 0, cap = 0;
	pid_t *v = NULL;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		pid_t tid = (pid_t)atoi(de->d_name);

		if (tid <= 0 || tid == self)
			continue;
		if (n == cap) {
			pid_t *nv = realloc(v, (cap = cap ? 2 * cap : 64) * sizeof(*v));

			if (!nv) {
				free(v);
				closedir(d);
				return -ENOMEM;
			}
			v = nv;
		}
		v[n++] = tid;
	}
	closedir(d);
	*out = v;
	*cnt = n;
	return 0;
}

static void quiesce_send(pid_t tid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	si.si_signo = SIGTRAP;
	si.si_code = SI_QUEUE;
	si.si_pid = getpid();
	si.si_uid = getuid();
	si.si_value.sival_ptr = &scan_cookie;
	syscall(SYS_rt_tgsigqueueinfo, getpid(), tid, SIGTRAP, &si);
}

static void quiesce_end(void)
{
	/* Pairs with the acquire loads in quiesce_handle(). */
	__atomic_store_n(&q.active, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&q.released, 1, __ATOMIC_RELEASE);
	while (__atomic_load_n(&q.inside, __ATOMIC_ACQUIRE))
		sched_yield();
	q.cnt = 0;
}

/* Add the runnable threads of @tids (entries already added are negated) and signal them. */
static int quiesce_add_runnable(const struct hook_site *site, pid_t *tids, uint32_t cnt,
				uint32_t *added)
{
	uint64_t waited = 0;

	*added = 0;
	for (uint32_t i = 0; i < cnt; i++) {
		enum thread_state st;

		if (tids[i] <= 0)
			continue;
		while ((st = thread_state(tids[i], site)) == T_BLOCKED_INSIDE) {
			struct timespec ts = { 0, 200 * 1000 };

			if (waited >= SCAN_WAIT_NS)
				return -EBUSY;
			nanosleep(&ts, NULL);
			waited += 200 * 1000;
		}
		if (st == T_GONE)
			tids[i] = 0;
		if (st != T_RUNNING)
			continue;
		if (q.cnt == QUIESCE_MAX)
			return -EBUSY;
		q.acked[q.cnt] = 0;
		q.tid[q.cnt++] = tids[i];
		tids[i] = -tids[i];
		quiesce_send(q.tid[q.cnt - 1]);
		(*added)++;
	}
	return 0;
}

static int quiesce_wait_acks(const struct hook_site *site)
{
	for (unsigned int round = 0;; round++) {
		struct timespec ts = { 0, 100 * 1000 };
		uint32_t pending = 0;

		for (uint32_t i = 0; i < q.cnt; i++) {
			if (!q.tid[i] || __atomic_load_n(&q.acked[i], __ATOMIC_ACQUIRE))
				continue;
			if (round && round % 100 == 0) {
				enum thread_state st = thread_state(q.tid[i], site);

				if (st == T_GONE || st == T_BLOCKED_OUTSIDE) {
					/* Exited, or asleep outside the site: its
					 * signal will park it if it wakes in time. */
					q.tid[i] = 0;
					continue;
				}
				if (st == T_RUNNING)
					quiesce_send(q.tid[i]); /* the last one may have merged */
			}
			pending++;
		}
		if (!pending)
			return 0;
		if (round * 100 * 1000ULL >= SCAN_WAIT_NS)
			return -EBUSY;
		nanosleep(&ts, NULL);
	}
}

/*
 * Park every runnable thread in quiesce_handle(); see above. Threads that
 * were asleep may wake while we wait for the others, so we look again until
 * a pass finds no new runnable thread (at most 8 passes). No allocation here.
 */
static int quiesce_begin(const struct hook_site *site, pid_t *tids, uint32_t cnt)
{
	int err;

	q.site = site;
	q.cnt = 0;
	q.released = 0;
	/* Pairs with the acquire load in quiesce_handle(). */
	__atomic_store_n(&q.active, 1, __ATOMIC_RELEASE);
	for (int pass = 0; pass < 8; pass++) {
		uint32_t added;

		err = quiesce_add_runnable(site, tids, cnt, &added);
		if (err)
			return err;
		err = quiesce_wait_acks(site);
		if (err || !added)
			return err;
	}
	return 0;
}

struct page_mode {
	uint64_t page;
	int prot;
};

/* Open the page(s) of [addr, addr + len): an int3 at the very end of a
 * mapping must not need the (absent) next page. */
static int pages_open(uint64_t addr, uint32_t len, struct page_mode pm[2], int *npages)
{
	uint64_t first = addr & ~(PAGE_SZ - 1), last = (addr + len - 1) & ~(PAGE_SZ - 1);
	int n = first == last ? 1 : 2;

	for (int i = 0; i < n; i++) {
		struct hook_maps_ent e;
		int err;

		pm[i].page = first + (uint64_t)i * PAGE_SZ;
		err = hook_maps_find(pm[i].page, &e);
		if (err)
			return err;
		pm[i].prot = e.prot;
	}
	for (int i = 0; i < n; i++) {
		if (mprotect((void *)(uintptr_t)pm[i].page, PAGE_SZ,
			     PROT_READ | PROT_WRITE | PROT_EXEC)) {
			int err = -errno;

			log_debug("hooks: mprotect rwx %#llx: %s\n",
				  (unsigned long long)pm[i].page, strerror(-err));
			while (i--)
				mprotect((void *)(uintptr_t)pm[i].page, PAGE_SZ, pm[i].prot);
			return err;
		}
	}
	*npages = n;
	return 0;
}

static int pages_close(const struct page_mode *pm, int n)
{
	int ret = 0;

	for (int i = 0; i < n; i++) {
		if (mprotect((void *)(uintptr_t)pm[i].page, PAGE_SZ, pm[i].prot) && !ret) {
			ret = -errno;
			/* The bytes are written; only the mode is off. Not an error
			 * for the caller, whose patch is complete. */
			log_warn("hooks: cannot restore the mode of page %#llx: %s\n",
				 (unsigned long long)pm[i].page, strerror(-ret));
		}
	}
	return ret;
}

static int poke5(struct hook_site *site, const uint8_t *bytes, bool scan)
{
	uint8_t *p = (uint8_t *)(uintptr_t)site->addr;
	_cleanup_free_ pid_t *tids = NULL;
	struct page_mode pm[2];
	uint32_t ntids = 0;
	int n = 0, err;

	err = pages_open(site->addr, 5, pm, &n);
	if (err)
		return err;
	if (scan) {
		err = task_tids(&tids, &ntids);
		if (err == -ENOMEM)
			goto out_close;
		if (err)
			log_debug("hooks: /proc/self/task unreadable (%s): threads are not checked\n",
				  strerror(-err));
		err = quiesce_begin(site, tids, ntids);
		if (err) {
			quiesce_end();
			log_debug("hooks: a thread stays inside %#llx+%u or does not answer SIGTRAP\n",
				  (unsigned long long)site->addr, site->patch_len);
			goto out_close;
		}
	}
	/* From here to quiesce_end(): no malloc, no stdio (threads are parked). */
	__atomic_store_n(&p[0], 0xcc, __ATOMIC_RELAXED);
	sync_cores();
	for (int i = 1; i < 5; i++)
		__atomic_store_n(&p[i], bytes[i], __ATOMIC_RELAXED);
	sync_cores();
	__atomic_store_n(&p[0], bytes[0], __ATOMIC_RELAXED);
	sync_cores();
	if (scan)
		quiesce_end();
out_close:
	pages_close(pm, n);
	return err;
}

/*
 * Put an int3 over the first byte of @site and leave it there (see the file
 * comment). A 1-byte store needs neither parking threads nor a second pass:
 * a thread fetches either the old byte or the int3 (the first step of
 * text_poke_bp() relies on the same).
 */
static int poke1(struct hook_site *site, uint8_t byte)
{
	uint8_t *p = (uint8_t *)(uintptr_t)site->addr;
	struct page_mode pm[2];
	int n = 0, err;

	err = pages_open(site->addr, 1, pm, &n);
	if (err)
		return err;
	__atomic_store_n(&p[0], byte, __ATOMIC_RELAXED);
	sync_cores();
	pages_close(pm, n);
	return 0;
}

int hook_text_poke_int3(struct hook_site *site)
{
	return poke1(site, 0xcc);
}

/*
 * Replace the first 5 bytes of @site with @jmp5. @inner: the site has an
 * instruction boundary strictly inside its first 5 bytes (reloc.c knows).
 */
int hook_text_poke_jmp(struct hook_site *site, const uint8_t *jmp5, bool inner)
{
	return poke5(site, jmp5, inner);
}

/*
 * Put the original bytes back (no thread can be inside a jmp: no scan). An
 * int3 site gets only its first byte back: bytes 1..4 were never ours, and
 * may by now be another site's jmp (a 3-byte function followed by a probed
 * one) or lie past the end of the mapping.
 */
int hook_text_poke_restore(struct hook_site *site, bool int3)
{
	if (int3)
		return poke1(site, site->orig[0]);
	return poke5(site, site->orig, false);
}
