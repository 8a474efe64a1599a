/*
 * agent.c - the LD_PRELOAD constructor of libbpftime-agent.so: find the
 * session, apply what the registry says, and keep applying it.
 *
 * bpftime-run puts this object in LD_PRELOAD and the session directory in
 * BPFTIME_SESSION_DIR (supervisor/agent_env.c) for every process it starts;
 * both are inherited by children and survive exec, so every dynamically
 * linked descendant runs this constructor. Without BPFTIME_SESSION_DIR the
 * agent does nothing at all.
 *
 * Phases:
 *   1. map the registry (written only to count the map descriptions we
 *      open, see agent_prog.c) and the agents file
 *      (hooks/agent_proto.h), claim this process' PROC entry;
 *   2. scan the registry once, synchronously, before main(): a probe the
 *      tool attached before starting us (bpftrace -c, a libbpf loader that
 *      forks and execs) fires from the first instruction of main();
 *   3. start one watcher thread that sleeps in FUTEX_WAIT on the registry's
 *      generation word (the supervisor wakes it, emul/registry.c), rescans,
 *      and stores the generation it applied in its PROC entry. Supervisors
 *      wait for that acknowledgement before answering the attaching tool.
 * The watcher blocks every signal, so the host's signals stay where the host
 * expects them. After fork() the child gets its own PROC entry and watcher
 * (the probes themselves are in the inherited text).
 *
 * Cost when nothing matches: the scan at start (a walk of the registry's
 * slot headers) and one sleeping thread. No syscall is intercepted until a
 * syscall tracepoint applies to this process (attach.c).
 *
 * The agent never writes to the host's stdout/stderr unless BPFTIME_LOG asks
 * for it, and never exits the process: every failure is logged (when asked)
 * and leaves the process running untraced.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/xstate.h"
#include "maps/maps.h"

struct agent_session agent_sess;

static struct agent_proc *self_proc; /* our PROC entry, NULL when none could be claimed */
static pthread_mutex_t scan_lock = PTHREAD_MUTEX_INITIALIZER;

static void agent_log_sink(enum bt_log_level level, const char *fmt, va_list ap)
{
	char buf[512];
	int n;

	/* A log line from a hit path: stdio uses wide vector registers (hooks/xstate.h). */
	hook_xstate_save();
	n = snprintf(buf, sizeof(buf), "bpftime-agent[%d]: ", (int)getpid());

	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	/* One write(2): lines of several processes do not interleave. */
	if (write(STDERR_FILENO, buf, strlen(buf)) < 0)
		return;
	(void)level;
}

static void agent_log_silent(enum bt_log_level level, const char *fmt, va_list ap)
{
	(void)level;
	(void)fmt;
	(void)ap;
}

static int map_file(const char *dir, const char *name, size_t sz, int prot, bool create, void **out)
{
	char path[4096];
	struct stat st;
	void *p;
	_cleanup_close_ int fd = -1;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, (prot & PROT_WRITE ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0),
		  0600);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if ((size_t)st.st_size < sz) {
		if (!create)
			return -EINVAL;
		if (ftruncate(fd, (off_t)sz) < 0)
			return -errno;
	}
	p = mmap(NULL, sz, prot, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	*out = p;
	return 0;
}

/* Every agent writes the same header bytes; the magic last (CAS), so a reader that sees it sees the rest. */
static void proto_init_header(struct agent_proto *pr)
{
	uint64_t zero = 0;

	pr->hdr.version = AGENT_PROTO_VERSION;
	pr->hdr.hdr_sz = AGENT_PROTO_HDR_SZ;
	pr->hdr.cpu_cnt = AGENT_CPU_MAX;
	pr->hdr.proc_cnt = AGENT_PROC_MAX;
	__atomic_compare_exchange_n(&pr->hdr.magic, &zero, AGENT_PROTO_MAGIC, false, __ATOMIC_RELEASE,
				    __ATOMIC_RELAXED);
}

static bool pid_alive(int32_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* Claim a PROC entry: ours from before an exec, a free one, or one whose owner died. */
static struct agent_proc *proc_claim(void)
{
	struct agent_proto *pr = agent_sess.proto;
	int32_t me = (int32_t)agent_pid();

	for (int i = 0; i < AGENT_PROC_MAX; i++)
		if (__atomic_load_n(&pr->proc[i].pid, __ATOMIC_ACQUIRE) == me)
			return &pr->proc[i];
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < AGENT_PROC_MAX; i++) {
			struct agent_proc *e = &pr->proc[i];
			int32_t old = __atomic_load_n(&e->pid, __ATOMIC_ACQUIRE);

			if (pass == 0 ? old != 0 : (old == 0 || pid_alive(old)))
				continue;
			__atomic_store_n(&e->flags, 0, __ATOMIC_RELAXED);
			if (__atomic_compare_exchange_n(&e->pid, &old, me, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
				return e;
		}
	}
	return NULL;
}

static void proc_ack(uint32_t gen)
{
	if (!self_proc)
		return;
	/* Pairs with the load-acquire in emu_agents_wait() (emul/agent_wait.c). */
	__atomic_store_n(&self_proc->ack_gen, gen, __ATOMIC_RELEASE);
	if (!(self_proc->flags & AGENT_PROC_READY))
		__atomic_or_fetch(&self_proc->flags, AGENT_PROC_READY, __ATOMIC_RELEASE);
}

/* One pass: read the generation first, so a change during the scan causes another pass. */
static uint32_t scan_once(void)
{
	uint32_t gen = __atomic_load_n(&agent_sess.reg->generation, __ATOMIC_ACQUIRE);

	pthread_mutex_lock(&scan_lock);
	agent_attach_scan();
	agent_tail_scan(); /* the programs prog arrays name, before the ack */
	pthread_mutex_unlock(&scan_lock);
	proc_ack(gen);
	return gen;
}

static void *watcher_main(void *arg)
{
	uint32_t seen = (uint32_t)(uintptr_t)arg;

	for (;;) {
		/* Sleeps while the generation is still the one we applied. */
		syscall(SYS_futex, &agent_sess.reg->generation, FUTEX_WAIT, seen, NULL, NULL, 0);
		if (__atomic_load_n(&agent_sess.reg->generation, __ATOMIC_ACQUIRE) == seen)
			continue;
		seen = scan_once();
	}
	return NULL;
}

static void watcher_start(uint32_t seen)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t th;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	err = pthread_create(&th, &attr, watcher_main, (void *)(uintptr_t)seen);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err)
		log_warn("cannot start the watcher thread (%s): later attachments will not reach this process\n",
			 strerror(err));
	else
		pthread_setname_np(th, "bpftime-agent");
}

/*
 * fork(): the child re-applies the registry before fork() returns in it
 * (a pid-filtered probe of the parent's must not fire there, a link made
 * for the child's pid must be there when the child runs), with its own
 * first scan. That scan may attach and detach probes, which takes the probe
 * engine's lock; the engine (hooks/uprobe.c) holds it across fork() and
 * releases it in its own child handler, registered at its first attach,
 * after ours. So once the engine is in use (fork_uprobes_used), the scan
 * moves to a second child handler registered after the engine's, once an
 * attach has succeeded (agent_fork_after_uprobes()). If a fork falls between the engine's
 * registration and ours, the child scans on its new watcher instead, and
 * its entry says it has not applied anything yet, so emu_agents_wait()
 * waits for it.
 */
static bool fork_uprobes_used;    /* the engine has been (or is being) used; under scan_lock */
static bool fork_late_registered; /* agent_atfork_child_late() runs after the engine's handler */
static bool fork_scan_pending;    /* set in the child by the first handler for the second */

static void fork_scan_now(void)
{
	watcher_start(scan_once());
}

static void agent_atfork_child(void)
{
	agent_ids_after_fork();
	/* The parent's lock is copied in whatever state it was; only this thread exists now. */
	pthread_mutex_init(&scan_lock, NULL);
	self_proc = proc_claim();
	if (fork_late_registered) {
		fork_scan_pending = true;
	} else if (fork_uprobes_used) {
		uint32_t gen = __atomic_load_n(&agent_sess.reg->generation, __ATOMIC_ACQUIRE);

		if (self_proc)
			__atomic_store_n(&self_proc->ack_gen, gen - 1, __ATOMIC_RELEASE);
		watcher_start(gen - 1); /* a generation not seen yet: it scans at once */
	} else {
		fork_scan_now();
	}
}

static void agent_atfork_child_late(void)
{
	if (fork_scan_pending) {
		fork_scan_pending = false;
		fork_scan_now();
	}
}

void agent_fork_before_uprobes(void)
{
	fork_uprobes_used = true;
}

void agent_fork_after_uprobes(void)
{
	if (fork_late_registered)
		return;
	if (pthread_atfork(NULL, NULL, agent_atfork_child_late) == 0)
		fork_late_registered = true;
}

static void agent_atexit(void)
{
	if (bt_log_get_level() >= BT_LOG_DEBUG)
		agent_attach_report();
	/* agent_pid(): no syscall a tracepoint could see at exit. */
	if (self_proc && __atomic_load_n(&self_proc->pid, __ATOMIC_RELAXED) == (int32_t)agent_pid())
		__atomic_store_n(&self_proc->pid, 0, __ATOMIC_RELEASE);
}

__attribute__((constructor(200))) static void agent_init(void)
{
	const char *dir = getenv(AGENT_ENV_SESSION);
	const char *lvl = getenv("BPFTIME_LOG");
	void *p;
	int err;

	if (!dir || !*dir)
		return;
	if (lvl && *lvl) {
		bt_log_set_fn(agent_log_sink);
		bt_log_init_from_env();
	} else {
		bt_log_set_fn(agent_log_silent);
	}
	agent_sess.dir = strdup(dir);
	if (!agent_sess.dir)
		return;
	err = map_file(dir, "registry", EMU_REG_FILE_SZ, PROT_READ | PROT_WRITE, false, &p);
	if (err) {
		log_warn("session '%s': cannot map its registry (%s): this process is not traced\n", dir,
			 strerror(-err));
		return;
	}
	agent_sess.reg = p;
	if (agent_sess.reg->magic != EMU_REG_MAGIC || agent_sess.reg->version != EMU_REG_VERSION) {
		log_warn("session '%s': registry version %u is not %u: this process is not traced\n", dir,
			 agent_sess.reg->version, EMU_REG_VERSION);
		agent_sess.reg = NULL;
		return;
	}
	err = map_file(dir, AGENT_PROTO_FILE_NAME, AGENT_PROTO_FILE_SZ, PROT_READ | PROT_WRITE, true, &p);
	if (err) {
		log_warn("session '%s': cannot map the agents file (%s): this process is not traced\n", dir,
			 strerror(-err));
		agent_sess.reg = NULL;
		return;
	}
	agent_sess.proto = p;
	proto_init_header(agent_sess.proto);
	agent_sess.cpu_cnt = map_possible_cpus();
	if (agent_sess.cpu_cnt > AGENT_CPU_MAX)
		agent_sess.cpu_cnt = AGENT_CPU_MAX;
	agent_ids_init();
	self_proc = proc_claim();
	if (!self_proc)
		log_warn("no free entry in the agents table: attachments will not wait for this process\n");
	pthread_atfork(NULL, NULL, agent_atfork_child);
	atexit(agent_atexit);
	watcher_start(scan_once());
}
