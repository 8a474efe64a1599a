/*
 * agent_prog.c - programs and maps of the session, made runnable in this
 * process, and the per-CPU run lock every run takes.
 *
 * Loading mirrors what the kernel did at BPF_PROG_LOAD time, from what the
 * supervisor recorded (emul/registry_layout.h): instructions from
 * <session>/obj/bpf-prog-<id>, with every ld_imm64 map reference already
 * rewritten to a MAP ID. Those ids become this process' struct map pointers
 * (BPF_PSEUDO_MAP_FD) or value addresses (BPF_PSEUDO_MAP_VALUE, arrays only,
 * as map_direct_value_addr() in kernel/bpf/arraymap.c) through
 * jit_env.resolve_ld_imm64.
 *
 * A map is one memfd owned by the bpftime-run that created it (maps/,
 * emul/map_cmds.c). We cannot open /proc/<owner>/fd/N from the user
 * namespace bpftime-run puts us in, so our bpftime-run hands us a new
 * description over a unix socket (supervisor/agent_server.c), and we map it
 * with map_open_fd(). Maps stay open for the life of the process (a handful
 * per tool).
 *
 * The run lock: see hooks/agent_proto.h. A run takes the lock of the CPU it
 * runs on, or of any other free CPU slot, and runs "on" that slot: per-CPU
 * map values (maps/ picks the slot from rseq's cpu_id) and
 * bpf_get_smp_processor_id() both see the slot's number, because we point
 * maps/' rseq offset at a thread-local stand-in that holds it. So
 * `*percpu_val += 1` is exact with any number of threads, as with the
 * kernel's migrate_disable(). When every slot is held (more runs than CPUs,
 * holders preempted) we yield and retry: the holders are in the middle of
 * short runs. A holder that died (SIGKILL in a run) is detected by its tid
 * and its lock taken over.
 *
 * Only programs that can observe the CPU slot take the lock (decided once at
 * load, prog_needs_cpu()): those using a per-CPU map, a perf event array
 * (one producer per CPU ring, hooks/agent_perf.c), a map of maps or a
 * program array (whose inner maps and programs we cannot see at load),
 * bpf_get_smp_processor_id() or bpf_trace_printk() (which prints the CPU).
 * Every other program runs without it: the lock costs a locked
 * compare-and-swap and a store on a cache line shared by every traced
 * process, plus sched_getcpu(), which was a third of a uprobe hit's cost
 * (bench/README-agent.md). Such a program's maps are safe for concurrent
 * use from any number of threads, as in the kernel, where programs on
 * different CPUs run at the same time anyway.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/xstate.h"
#include "maps/helpers.h"
#include "maps/maps.h"

/*
 * maps/cpu.c reads the current CPU from a struct rseq at this offset from the
 * thread pointer (cpu_id at +4). It is a hidden symbol of the maps module,
 * which is linked into this object; pointing it at agent_cpu_tls below makes
 * per-CPU maps use the run lock's slot. Set before the first program loads.
 */
extern int64_t map_cpu_rseq_off __attribute__((visibility("hidden")));
/*
 * maps/lock.c initialises its lock owner id in a constructor under
 * pthread_once(). Our constructor runs first (priority 200), and a syscall
 * tracepoint program run from inside that once (its getpid()) would wait for
 * itself: finish the once before any program can run.
 */
extern uint32_t map_lock_self_init(void);

struct cpu_standin {
	uint32_t cpu_id_start;
	uint32_t cpu_id; /* what maps/ reads as rseq->cpu_id */
};
static __thread struct cpu_standin agent_cpu_tls __attribute__((tls_model("initial-exec")));
static __thread struct agent_run_ctx run_ctx __attribute__((tls_model("initial-exec")));
static bool cpu_standin_set;
static int64_t cpu_standin_off; /* what map_cpu_rseq_off must hold while we run programs */
static uint64_t runs_missed;

struct map_ent {
	struct map_ent *next;
	uint32_t id;
	struct map *m;
};
static struct map_ent *map_cache;
static struct agent_prog *prog_cache;

HOOK_VEC_CLEAN_BEGIN
struct agent_run_ctx *agent_run_ctx(void)
{
	return &run_ctx;
}
HOOK_VEC_CLEAN_END

uint64_t agent_runs_missed(void)
{
	return __atomic_load_n(&runs_missed, __ATOMIC_RELAXED);
}

static struct emu_reg_slot *slot_find(uint32_t kind, uint32_t id)
{
	struct emu_reg_slot *slots = (struct emu_reg_slot *)((char *)agent_sess.reg + EMU_REG_HDR_SZ);

	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *s = &slots[i];

		/* Pairs with the store-release in emu_reg_publish() (emul/registry.c). */
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE && s->kind == kind && s->id == id)
			return s;
	}
	return NULL;
}

/*
 * A new open file description of map @id's memfd, from bpftime-run's map
 * server (supervisor/agent_server.c): one request, one fd by SCM_RIGHTS.
 */
static int map_memfd_open(uint32_t id)
{
	const char *path = getenv(AGENT_ENV_SOCK);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char cbuf[CMSG_SPACE(sizeof(int))] = { 0 };
	int32_t err = -EPROTO;
	struct iovec iov = { .iov_base = &err, .iov_len = sizeof(err) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *cm;
	_cleanup_close_ int s = -1;
	int fd;

	if (!path || strlen(path) >= sizeof(sa.sun_path))
		return -ENOTCONN;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	if (send(s, &id, sizeof(id), MSG_NOSIGNAL) != (ssize_t)sizeof(id))
		return -errno;
	if (recvmsg(s, &msg, MSG_CMSG_CLOEXEC) != (ssize_t)sizeof(err))
		return -EPROTO;
	cm = CMSG_FIRSTHDR(&msg);
	if (err < 0)
		return err;
	if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
		return -EPROTO;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

int agent_map_by_id(uint32_t id, struct map **out)
{
	struct emu_reg_slot *slot;
	struct map_ent *e;
	int fd, err;

	for (e = map_cache; e; e = e->next)
		if (e->id == id) {
			*out = e->m;
			return 0;
		}
	slot = slot_find(EMU_REG_MAP, id);
	if (!slot)
		return -ENOENT;
	fd = map_memfd_open(id);
	if (fd < 0) {
		log_warn("map id %u: bpftime-run's map server did not give it: %s\n", id, strerror(-fd));
		return fd;
	}
	/*
	 * A new open file description of the memfd: its owner watches the inode
	 * and counts every close as one of the descriptions it handed out
	 * (emul/lifetime.c). Count ours, so our close at exit balances it.
	 */
	__atomic_add_fetch(&slot->fd_cnt, 1, __ATOMIC_ACQ_REL);
	e = calloc(1, sizeof(*e));
	if (!e) {
		close(fd);
		return -ENOMEM;
	}
	err = map_open_fd(fd, &e->m);
	close(fd);
	if (err) {
		log_warn("map id %u: not a bpftime map (%s)\n", id, strerror(-err));
		free(e);
		return err;
	}
	log_debug("map id %u (owner %u) mapped\n", id, slot->owner_pid);
	e->id = id;
	e->next = map_cache;
	map_cache = e;
	*out = e->m;
	return 0;
}

void agent_maps_each(void (*fn)(struct map *m, void *arg), void *arg)
{
	for (struct map_ent *e = map_cache; e; e = e->next)
		fn(e->m, arg);
}

static int resolve_ld_imm64(void *cookie, const struct bpf_insn insn[2], uint64_t *value)
{
	struct map *m;
	int err;

	(void)cookie;
	switch (insn[0].src_reg) {
	case BPF_PSEUDO_MAP_FD:
	case BPF_PSEUDO_MAP_VALUE: {
		err = agent_map_by_id((uint32_t)insn[0].imm, &m);
		if (err)
			return err;
		if (insn[0].src_reg == BPF_PSEUDO_MAP_FD) {
			*value = (uint64_t)(uintptr_t)m;
			return 0;
		}
		/* map_direct_value_addr(): arrays with one value area only. */
		{
			uint32_t zero = 0, off = (uint32_t)insn[1].imm;
			void *v;

			if (map_type(m) != BPF_MAP_TYPE_ARRAY || off >= map_value_size(m))
				return -EINVAL;
			v = map_lookup_elem(m, &zero);
			if (!v)
				return -EINVAL;
			*value = (uint64_t)(uintptr_t)((char *)v + off);
			return 0;
		}
	}
	default:
		log_warn("ld_imm64 pseudo form %u is not supported by the agent\n", insn[0].src_reg);
		return -EOPNOTSUPP;
	}
}

static int read_insns(uint32_t id, uint32_t cnt, struct bpf_insn **out)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	struct bpf_insn *buf;
	size_t want = (size_t)cnt * sizeof(*buf);
	ssize_t n;

	if (!cnt || cnt > 1000000)
		return -EINVAL;
	snprintf(path, sizeof(path), "%s/obj/bpf-prog-%u", agent_sess.dir, id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	buf = malloc(want);
	if (!buf)
		return -ENOMEM;
	n = pread(fd, buf, want, 0);
	if (n != (ssize_t)want) {
		free(buf);
		return n < 0 ? -errno : -EINVAL;
	}
	*out = buf;
	return 0;
}

/*
 * Can a run of these instructions observe which CPU slot it runs on? See
 * the file comment. Map types not listed as safe, unknown maps and
 * helpers that read the slot all say yes: a needless lock costs time, a
 * missing one corrupts per-CPU data.
 */
static bool prog_needs_cpu(const struct bpf_insn *insns, uint32_t cnt)
{
	for (uint32_t i = 0; i < cnt; i++) {
		const struct bpf_insn *in = &insns[i];

		if (in->code == (BPF_JMP | BPF_CALL | BPF_X))
			return true; /* callx: which helper is known only at run time */
		if (in->code == (BPF_JMP | BPF_CALL) && in->src_reg == 0) {
			switch (in->imm) {
			case BPF_FUNC_get_smp_processor_id:
			case BPF_FUNC_trace_printk:
			case BPF_FUNC_trace_vprintk:
			case BPF_FUNC_perf_event_output:
			case BPF_FUNC_tail_call:
				return true;
			}
		} else if (in->code == (BPF_LD | BPF_DW | BPF_IMM) && i + 1 < cnt) {
			struct map *m;

			if (in->src_reg == BPF_PSEUDO_MAP_FD || in->src_reg == BPF_PSEUDO_MAP_VALUE) {
				if (agent_map_by_id((uint32_t)in->imm, &m))
					return true;
				switch (map_type(m)) {
				case BPF_MAP_TYPE_ARRAY:
				case BPF_MAP_TYPE_HASH:
				case BPF_MAP_TYPE_LRU_HASH:
				case BPF_MAP_TYPE_RINGBUF:
				case BPF_MAP_TYPE_STACK_TRACE:
				case BPF_MAP_TYPE_QUEUE:
				case BPF_MAP_TYPE_STACK:
				case BPF_MAP_TYPE_BLOOM_FILTER:
				case BPF_MAP_TYPE_LPM_TRIE:
					break;
				default:
					return true;
				}
			}
			i++; /* the second half of the ld_imm64 */
		}
	}
	return false;
}

int agent_prog_get(uint32_t id, struct agent_prog **out)
{
	/* Array lookups are inlined as the kernel's verifier does (map_gen_lookup);
	 * per-CPU ones then read the run lock's CPU, which map_cpu_rseq_off points
	 * at below before any program is loaded. */
	struct jit_env env = { .sz = sizeof(env), .resolve_ld_imm64 = resolve_ld_imm64,
			       .tail_call = agent_tail_call, .inline_lookup = map_jit_inline_lookup };
	struct emu_reg_slot *slot;
	struct bpf_insn *insns = NULL;
	struct agent_prog *p;
	char log[256] = "";
	int err;

	for (p = prog_cache; p; p = p->next)
		if (p->id == id) {
			p->ref_cnt++;
			*out = p;
			return 0;
		}
	slot = slot_find(EMU_REG_PROG, id);
	if (!slot)
		return -ENOENT;
	if (!cpu_standin_set) {
		map_lock_self_init();
		/* Only runs of ours use maps in this process; see the file comment. */
		cpu_standin_off = (int64_t)((char *)&agent_cpu_tls - (char *)__builtin_thread_pointer());
		map_cpu_rseq_off = cpu_standin_off;
		cpu_standin_set = true;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->id = id;
	p->type = slot->type;
	err = read_insns(id, slot->u.prog.insn_cnt, &insns);
	if (err) {
		log_warn("prog id %u: cannot read its instructions: %s\n", id, strerror(-err));
		free(p);
		return err;
	}
	env.helpers = agent_helpers();
	env.helper_cnt = AGENT_HELPER_MAX;
	err = jit_prog_load(insns, slot->u.prog.insn_cnt, &env, &p->jp, log, sizeof(log));
	if (!err)
		p->need_cpu = prog_needs_cpu(insns, slot->u.prog.insn_cnt);
	free(insns);
	if (err) {
		log_warn("prog id %u (%.16s): cannot load it in this process: %s\n", id, slot->name, log);
		free(p);
		return err;
	}
	p->ref_cnt = 1;
	p->next = prog_cache;
	prog_cache = p;
	*out = p;
	return 0;
}

void agent_prog_put(struct agent_prog *p)
{
	struct agent_prog **pp;

	if (!p || --p->ref_cnt)
		return;
	for (pp = &prog_cache; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	jit_prog_free(p->jp);
	free(p);
}

/*
 * The run path is vector-clean (hooks/xstate.h): a uprobe hit saved no
 * vector register before it. Only its contended slow path calls libc beyond
 * sched_getcpu(), after saving them.
 */
HOOK_VEC_CLEAN_BEGIN
static bool tid_alive(uint32_t tid)
{
	return kill((pid_t)tid, 0) == 0 || errno != ESRCH;
}

static uint64_t coarse_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * Take a run lock; returns its CPU slot, or -1 after RUN_LOCK_GIVEUP_MS
 * without any slot coming free (holders stopped by a debugger or SIGSTOP):
 * skipping a run then beats hanging the traced program. Busy holders that
 * were merely preempted free their slot within a time slice or two, so
 * under load we wait for them rather than lose events.
 */
#define RUN_LOCK_GIVEUP_MS 2000
static int run_lock(uint32_t tid)
{
	struct agent_proto *pr = agent_sess.proto;
	uint32_t n = agent_sess.cpu_cnt, start = (uint32_t)sched_getcpu();
	uint64_t t0 = 0;

	if ((int32_t)start < 0)
		start = 0;
	if (n && start >= n) /* more CPUs than run locks: rare, so the division is too */
		start %= n;
	for (unsigned int round = 0;; round++) {
		for (uint32_t i = 0; i < n; i++) {
			/* start + i < 2n: a subtraction instead of a division on every run */
			uint32_t c = start + i >= n ? start + i - n : start + i, zero = 0;
			uint32_t *w = &pr->lock[c].owner_tid;

			if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 &&
			    __atomic_compare_exchange_n(w, &zero, tid, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
				return (int)c;
		}
		if (!round)
			hook_xstate_save(); /* sched_yield, kill, clock_gettime below */
		if (round && round % 4096 == 0) {
			/* A holder killed in a run never unlocks: take its lock over. */
			for (uint32_t c = 0; c < n; c++) {
				uint32_t *w = &pr->lock[c].owner_tid, old = __atomic_load_n(w, __ATOMIC_RELAXED);

				if (old && !tid_alive(old) &&
				    __atomic_compare_exchange_n(w, &old, tid, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
					return (int)c;
			}
			if (!t0)
				t0 = coarse_ms();
			else if (coarse_ms() - t0 > RUN_LOCK_GIVEUP_MS)
				return -1;
		}
		sched_yield();
	}
}

/* The run of a program that can observe its CPU slot: under the slot's run lock. */
static __attribute__((noinline)) uint64_t run_locked(struct agent_prog *p, void *ctx)
{
	uint64_t r0;
	int cpu;

	cpu = run_lock((uint32_t)agent_tid());
	if (cpu < 0) {
		__atomic_add_fetch(&runs_missed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	agent_cpu_tls.cpu_id = (uint32_t)cpu;
	/*
	 * maps/cpu.c's constructor sets the offset to glibc's rseq; ours runs
	 * earlier (priority 200) and may already have loaded programs, so
	 * re-point it here: one compare per run, a store once.
	 */
	if (__builtin_expect(map_cpu_rseq_off != cpu_standin_off, 0))
		map_cpu_rseq_off = cpu_standin_off;
	run_ctx.cpu = (uint32_t)cpu;
	run_ctx.active = true;
	r0 = jit_prog_run(p->jp, ctx);
	run_ctx.active = false;
	/* Pairs with the CAS in run_lock(): our writes to per-CPU data are visible to the next holder. */
	__atomic_store_n(&agent_sess.proto->lock[cpu].owner_tid, 0, __ATOMIC_RELEASE);
	return r0;
}

/* The common case stays small (no callee-saved registers to spill): it runs on every hit. */
uint64_t agent_prog_run(struct agent_prog *p, void *ctx, const struct pt_regs *regs, uint64_t func_ip,
			uint64_t cookie)
{
	uint64_t r0;

	if (run_ctx.active) {
		/* A program's helper reached another probe on this thread: the kernel's
		 * bpf_prog_active recursion check skips it. */
		__atomic_add_fetch(&runs_missed, 1, __ATOMIC_RELAXED);
		return 0;
	}
	run_ctx.regs = regs;
	run_ctx.func_ip = func_ip;
	run_ctx.cookie = cookie;
	if (__builtin_expect(p->need_cpu, 0))
		return run_locked(p, ctx);
	/* Nothing in it reads the CPU slot: no run lock (file comment). */
	run_ctx.active = true;
	r0 = jit_prog_run(p->jp, ctx);
	run_ctx.active = false;
	return r0;
}
HOOK_VEC_CLEAN_END
