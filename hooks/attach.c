/*
 * attach.c - link -> hook wiring: make this process' probes match the
 * session registry.
 *
 * A registry perf event (emul/registry_layout.h) applies to this process
 * when it is enabled, has a program, its pid filter is -1 or our pid, and
 *   - uprobe/uretprobe: its path names a file mapped here (matched by device
 *     and inode, hooks/hooks.h hook_resolve_file_offset()), as the kernel's
 *     uprobe applies to every mm that maps the inode (kernel/events/uprobes.c);
 *   - tracepoint: its id is a syscall event (hooks/tp_event.h);
 *   - timer (cpu-clock sampling, bpftrace interval:/profile:): we opened it;
 *     a thread of ours runs the program every period.
 * A raw tracepoint link (BPF_RAW_TRACEPOINT_OPEN, emul/raw_tp.c: registry
 * kind EMU_REG_LINK, not a perf event) applies to every process, as the
 * kernel's sys_enter/sys_exit fire for every task; it runs with the
 * syscall tracepoints, at every syscall number (hooks/raw_tp.c builds its
 * context). A uprobe_multi link (emul/uprobe_multi.c) applies where its
 * file is mapped and its pid filter (0: all) matches; each of its offsets
 * becomes a uprobe of its own here, with its own cookie.
 * Each scan marks what applies, attaches what is new (registry kind + id +
 * program id as the key, so SET_BPF of another program re-attaches) and detaches what
 * no longer applies (disabled, freed, program replaced). One thread scans at
 * a time (agent.c holds the scan lock).
 *
 * Syscall tracepoints: the first one that applies installs the syscall
 * interception (hooks/syscall.h), never earlier, so untraced processes pay
 * nothing. Handlers read an immutable table, per syscall number, of the
 * links to run, published with a release store; the enable flags are set
 * after publishing and cleared before retiring.
 *
 * DIVERGES: a retired table and the links it names are never freed: a
 * syscall handler may still be reading them and there is no grace period
 * for syscall handlers yet. It costs a few KiB per tracepoint detach.
 * DIVERGES: a file mapped after a scan (dlopen) gets its probes at the next
 * registry change, not at mmap time as in the kernel.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"
#include "hooks/hooks.h"
#include "hooks/syscall.h"
#include "hooks/tp_ctx.h"
#include "hooks/tp_event.h"
#include "hooks/xstate.h"

/* agent_link.type of links that are not perf events (beside enum emu_reg_perf_type). */
#define AGENT_LINK_RAW_TP 0x100 /* a raw tracepoint link */
#define AGENT_LINK_UMULTI 0x101 /* one offset of a uprobe_multi link */

struct agent_link {
	struct agent_link *next;
	uint32_t perf_id; /* registry id: of the perf event, or of the link (AGENT_LINK_*) */
	uint32_t prog_id;
	uint32_t type; /* EMU_REG_PERF_UPROBE / _TRACEPOINT / _TIMER, or AGENT_LINK_* */
	bool seen;     /* marked by the current scan */
	struct agent_prog *prog;
	uint64_t cookie;
	/* uprobes, uprobe_multi offsets */
	struct hook_probe *probe;
	uint64_t func_ip;
	/* tracepoints */
	const struct tp_event *tp;
	/* raw tracepoints */
	uint32_t raw_tp; /* EMU_REG_RAW_TP_SYS_ENTER / _EXIT */
	/* timers (interval:/profile:) */
	uint64_t period_ns;
	uint32_t timer_stop; /* futex word: 1 asks the thread to leave */
	pthread_t timer_thread;
};

/* A chain element of a published table (each table owns its nodes). */
struct tp_node {
	struct agent_link *l;
	struct tp_node *next;
};

/*
 * A consistent copy of a perf slot's payload (seqlock, emul/registry.c). A
 * raw tracepoint link is read into the same shape (raw_tp_read()): type
 * AGENT_LINK_RAW_TP, p.tp_id = the raw tracepoint, enabled, pid -1.
 */
struct perf_view {
	uint32_t id;
	uint32_t type;
	struct emu_reg_perf p;
};

/* Per syscall number: enter and exit chains; [HOOK_SYS_NR_MAX] holds raw_syscalls. */
struct tp_table {
	struct tp_node *enter[HOOK_SYS_NR_MAX + 1];
	struct tp_node *exit[HOOK_SYS_NR_MAX + 1];
	bool any_raw_enter, any_raw_exit;
	struct tp_node nodes[]; /* one per tracepoint link */
};

static struct agent_link *links;
static struct tp_table *tp_live; /* read by syscall handlers (acquire) */
static bool sys_installed;
static unsigned int uprobe_fail_logged;

static bool perf_read(const struct emu_reg_slot *s, struct perf_view *v)
{
	for (int tries = 0; tries < 1000; tries++) {
		/* Pairs with emu_reg_write_begin()/_end() (emul/registry.c). */
		uint32_t seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);

		if (seq & 1)
			continue;
		v->id = s->id;
		v->type = s->type;
		memcpy(&v->p, &s->u.perf, sizeof(v->p));
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		if (__atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq &&
		    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE) {
			v->p.path[sizeof(v->p.path) - 1] = 0;
			return true;
		}
	}
	return false;
}

/* A raw tracepoint link's fields are fixed once published; a reused slot changes its id. */
static bool raw_tp_read(const struct emu_reg_slot *s, struct perf_view *v)
{
	uint32_t id = __atomic_load_n(&s->id, __ATOMIC_RELAXED);

	memset(v, 0, sizeof(*v));
	v->id = id;
	v->type = AGENT_LINK_RAW_TP;
	v->p.prog_id = s->u.link.prog_id;
	v->p.tp_id = s->u.link.raw_tp;
	v->p.bpf_cookie = s->u.link.bpf_cookie;
	v->p.flags = EMU_REG_PERF_ENABLED;
	v->p.pid = -1;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE &&
	       __atomic_load_n(&s->id, __ATOMIC_RELAXED) == id;
}

/* Attached HOOK_UPROBE_VEC_CLEAN: nothing up to a helper's wrapper touches a
 * vector register (hooks/xstate.h), so a hit saves none. */
HOOK_VEC_CLEAN_BEGIN
static void uprobe_handler(struct pt_regs *regs, void *data)
{
	struct agent_link *l = data;

	agent_prog_run(l->prog, regs, regs, l->func_ip, l->cookie);
}
HOOK_VEC_CLEAN_END

/* ---- sampling timers ---- */

/*
 * struct bpf_perf_event_data (include/uapi/linux/bpf_perf_event.h): the
 * registers at the sample, the period, the sampled address. The kernel
 * samples whatever the CPU ran; a timer thread has no interrupted frame to
 * report, so regs are zero (ustack is empty, as for an idle CPU).
 */
struct perf_event_ctx {
	struct pt_regs regs;
	uint64_t sample_period;
	uint64_t addr;
};

static void *timer_main(void *arg)
{
	struct agent_link *l = arg;
	struct perf_event_ctx ctx = { .sample_period = l->period_ns };
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		uint64_t ns = (uint64_t)next.tv_nsec + l->period_ns;

		next.tv_sec += (time_t)(ns / 1000000000ull);
		next.tv_nsec = (long)(ns % 1000000000ull);
		/* Sleeps until the deadline or until detach wakes it (absolute CLOCK_MONOTONIC). */
		syscall(SYS_futex, &l->timer_stop, FUTEX_WAIT_BITSET, 0, &next, NULL, FUTEX_BITSET_MATCH_ANY);
		if (__atomic_load_n(&l->timer_stop, __ATOMIC_ACQUIRE))
			break;
		{
			struct timespec now;

			clock_gettime(CLOCK_MONOTONIC, &now);
			if (now.tv_sec < next.tv_sec || (now.tv_sec == next.tv_sec && now.tv_nsec < next.tv_nsec))
				continue; /* woken early: not a tick */
		}
		memset(&ctx.regs, 0, sizeof(ctx.regs));
		agent_prog_run(l->prog, &ctx, NULL, 0, l->cookie);
	}
	return NULL;
}

static int timer_start(struct agent_link *l)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&l->timer_thread, NULL, timer_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void timer_stop(struct agent_link *l)
{
	__atomic_store_n(&l->timer_stop, 1, __ATOMIC_RELEASE);
	syscall(SYS_futex, &l->timer_stop, FUTEX_WAKE, 1, NULL, NULL, 0);
	pthread_join(l->timer_thread, NULL);
}

/* ---- syscall tracepoints ---- */

/* @args: the argument registers, on exit too (raw tracepoints show them in pt_regs). */
static void tp_run_chain(const struct tp_node *n, bool is_exit, long nr, const unsigned long args[6], long ret)
{
	unsigned char ctx[TP_CTX_MAX_SZ] __attribute__((aligned(8)));
	static const unsigned long none[6];

	for (; n; n = n->next) {
		if (n->l->type == AGENT_LINK_RAW_TP) {
			agent_raw_tp_run(n->l->prog, n->l->cookie, is_exit, nr, args, ret);
			continue;
		}
		if (tp_ctx_fill(n->l->tp, ctx, sizeof(ctx), nr, is_exit ? none : args, ret, agent_tid()) < 0)
			continue;
		agent_prog_run(n->l->prog, ctx, NULL, 0, n->l->cookie);
	}
}

static int sys_enter(long nr, unsigned long args[6], long *ret, void *arg)
{
	/* Pairs with the store-release in tp_publish(). */
	struct tp_table *t = __atomic_load_n(&tp_live, __ATOMIC_ACQUIRE);

	(void)ret;
	(void)arg;
	if (t && nr >= 0 && nr < HOOK_SYS_NR_MAX) {
		tp_run_chain(t->enter[HOOK_SYS_NR_MAX], false, nr, args, 0);
		tp_run_chain(t->enter[nr], false, nr, args, 0);
	}
	return HOOK_SYS_RUN;
}

static void sys_exit(long nr, long *ret, void *arg)
{
	struct tp_table *t = __atomic_load_n(&tp_live, __ATOMIC_ACQUIRE);

	(void)arg;
	if (t && nr >= 0 && nr < HOOK_SYS_NR_MAX) {
		const unsigned long *args = hook_syscalls_exit_args(ret);

		tp_run_chain(t->exit[HOOK_SYS_NR_MAX], true, nr, args, *ret);
		tp_run_chain(t->exit[nr], true, nr, args, *ret);
	}
}

static unsigned int tp_mask(const struct tp_table *t, int nr)
{
	unsigned int m = 0;

	if (!t)
		return 0;
	if (t->enter[nr] || t->any_raw_enter)
		m |= HOOK_SYS_ENTER;
	if (t->exit[nr] || t->any_raw_exit)
		m |= HOOK_SYS_EXIT;
	return m;
}

/* Rebuild the table from the tracepoint links and swap it in. */
static void tp_publish(void)
{
	struct tp_table *t = NULL, *old = tp_live;
	size_t cnt = 0;
	int err;

	for (struct agent_link *l = links; l; l = l->next)
		if (l->type == EMU_REG_PERF_TRACEPOINT || l->type == AGENT_LINK_RAW_TP)
			cnt++;
	if (cnt) {
		size_t k = 0;

		t = calloc(1, sizeof(*t) + cnt * sizeof(t->nodes[0]));
		if (!t) {
			log_warn("syscall tracepoints: out of memory, keeping the previous set\n");
			return;
		}
		for (struct agent_link *l = links; l; l = l->next) {
			bool every, is_exit;
			int idx;

			if (l->type == AGENT_LINK_RAW_TP) {
				/* Raw tracepoints fire at every syscall, as raw_syscalls:* do. */
				every = true;
				is_exit = l->raw_tp == EMU_REG_RAW_TP_SYS_EXIT;
			} else if (l->type == EMU_REG_PERF_TRACEPOINT) {
				every = l->tp->is_raw;
				is_exit = l->tp->is_exit;
			} else {
				continue;
			}
			idx = every ? HOOK_SYS_NR_MAX : l->tp->nr;
			if (idx < 0 || idx > HOOK_SYS_NR_MAX)
				continue;
			t->nodes[k].l = l;
			if (is_exit) {
				t->nodes[k].next = t->exit[idx];
				t->exit[idx] = &t->nodes[k];
				t->any_raw_exit |= every;
			} else {
				t->nodes[k].next = t->enter[idx];
				t->enter[idx] = &t->nodes[k];
				t->any_raw_enter |= every;
			}
			k++;
		}
		if (!sys_installed) {
			hook_syscalls_set_handler(sys_enter, sys_exit, NULL);
			err = hook_syscalls_install();
			if (err < 0) {
				log_warn("syscall tracepoints: cannot intercept syscalls in this process: %s\n",
					 strerror(-err));
				free(t);
				return;
			}
			sys_installed = true;
		}
	}
	/* Widen first (new table, then its flags), narrow last (flags, then the table). */
	__atomic_store_n(&tp_live, t, __ATOMIC_RELEASE);
	if (!sys_installed)
		return;
	for (int nr = 0; nr < HOOK_SYS_NR_MAX; nr++) {
		unsigned int m = tp_mask(t, nr);

		if (m != tp_mask(old, nr))
			hook_syscalls_enable_mask(nr, m);
	}
	/* old is retired, not freed: see the DIVERGES note in the file comment. */
}

/* ---- scan ---- */

/* Perf event ids and link ids are separate id spaces: the key includes which one. */
static bool is_raw(uint32_t type)
{
	return type == AGENT_LINK_RAW_TP || type == AGENT_LINK_UMULTI;
}

static struct agent_link *link_find(uint32_t type, uint32_t perf_id, uint32_t prog_id)
{
	for (struct agent_link *l = links; l; l = l->next)
		if (l->perf_id == perf_id && l->prog_id == prog_id && is_raw(l->type) == is_raw(type))
			return l;
	return NULL;
}

static bool pid_matches(int32_t pid)
{
	return pid == -1 || pid == (int32_t)agent_pid();
}

/*
 * The USDT semaphore (ref_ctr_offset, config[63:32] of the uprobe PMU) of a
 * uprobe, or NULL. The engine increments it before the site is patched and
 * decrements it after the bytes are restored, so code guarded by it
 * (`if (sem) <probe nop>`) only reaches the site while it is patched.
 * Only a writable private mapping of the file counts, as
 * valid_ref_ctr_vma() in kernel/events/uprobes.c: bcc's Python tools send
 * a garbage ref_ctr_offset of 6 (the ELF header, read-only), which the
 * kernel leaves alone, and so do we.
 * DIVERGES: the kernel remembers a counter whose mapping does not exist yet
 * (delayed_uprobe_add()) and increments it when it is mapped; we look once,
 * at attach.
 */
static uint16_t *ref_ctr_find(const struct perf_view *v)
{
	uint16_t *ctr;
	int err = hook_resolve_ref_ctr(v->p.path, v->p.ref_ctr_offset, &ctr);

	if (err) {
		log_debug("uprobe %s+0x%llx: semaphore at file offset 0x%llx left alone: %s\n", v->p.path,
			  (unsigned long long)v->p.offset, (unsigned long long)v->p.ref_ctr_offset,
			  strerror(-err));
		return NULL;
	}
	return ctr;
}

static int link_new(const struct perf_view *v, struct agent_link **out)
{
	struct agent_link *l = calloc(1, sizeof(*l));
	void *addr;
	int err;

	if (!l)
		return -ENOMEM;
	l->perf_id = v->id;
	l->prog_id = v->p.prog_id;
	l->type = v->type;
	l->cookie = v->p.bpf_cookie;
	if (v->type == EMU_REG_PERF_TIMER) {
		/* The opener's agent runs it: once per event, as the kernel's timer interrupt. */
		if (v->p.reserved != (uint32_t)agent_pid()) {
			err = -ESRCH;
			goto err_free;
		}
		l->period_ns = v->p.offset;
	} else if (v->type == AGENT_LINK_RAW_TP) {
		l->raw_tp = v->p.tp_id;
		if (l->raw_tp != EMU_REG_RAW_TP_SYS_ENTER && l->raw_tp != EMU_REG_RAW_TP_SYS_EXIT) {
			err = -EINVAL;
			goto err_free;
		}
	} else if (v->type == EMU_REG_PERF_UPROBE) {
		err = hook_resolve_file_offset(v->p.path, v->p.offset, &addr);
		if (err)
			goto err_free; /* not mapped here: the probe is for other processes */
	} else {
		err = tp_event_lookup_id(v->p.tp_id, &l->tp);
		if (err) {
			log_info("perf event %u: tracepoint id %u is not a syscall event bpftime traces\n", v->id,
				 v->p.tp_id);
			goto err_free;
		}
	}
	err = agent_prog_get(v->p.prog_id, &l->prog);
	if (err)
		goto err_free;
	/* The programs its prog arrays name, before it can run (hooks/agent_tail.c). */
	agent_tail_scan();
	if (v->type == EMU_REG_PERF_TIMER) {
		err = timer_start(l);
		if (err) {
			log_warn("perf event %u: cannot start its timer thread: %s\n", v->id, strerror(-err));
			goto err_put;
		}
		log_debug("attached timer every %llu ns (perf %u, prog %u)\n", (unsigned long long)l->period_ns, v->id,
			  v->p.prog_id);
	} else if (v->type == EMU_REG_PERF_UPROBE) {
		struct hook_uprobe_opts opts = { .sz = sizeof(opts), .flags = HOOK_UPROBE_VEC_CLEAN };

		l->func_ip = (uint64_t)(uintptr_t)addr;
		if (v->p.ref_ctr_offset)
			opts.ref_ctr = ref_ctr_find(v);
		agent_fork_before_uprobes();
		err = hook_uprobe_attach(addr, v->p.flags & EMU_REG_PERF_RETPROBE ? HOOK_URETPROBE : HOOK_UPROBE,
					 uprobe_handler, l, &opts, &l->probe);
		if (!err)
			agent_fork_after_uprobes(); /* an attach has initialised the engine */
		if (err) {
			if (uprobe_fail_logged++ < 16)
				log_warn("uprobe %s+0x%llx: cannot patch it: %s\n", v->p.path,
					 (unsigned long long)v->p.offset, strerror(-err));
			goto err_put;
		}
		log_debug("attached %s %s+0x%llx (perf %u, prog %u)\n",
			  v->p.flags & EMU_REG_PERF_RETPROBE ? "uretprobe" : "uprobe", v->p.path,
			  (unsigned long long)v->p.offset, v->id, v->p.prog_id);
	} else if (v->type == AGENT_LINK_RAW_TP) {
		log_debug("attached raw tracepoint %s (link %u, prog %u)\n",
			  l->raw_tp == EMU_REG_RAW_TP_SYS_EXIT ? "sys_exit" : "sys_enter", v->id, v->p.prog_id);
	} else {
		log_debug("attached tracepoint %s:%s (perf %u, prog %u)\n", l->tp->category, l->tp->name, v->id,
			  v->p.prog_id);
	}
	*out = l;
	return 0;

err_put:
	agent_prog_put(l->prog);
err_free:
	free(l);
	return err;
}

/* Negative cache: perf events (by id and program) that do not apply to this process. */
struct skip_ent {
	uint32_t type, perf_id, prog_id;
};
static struct skip_ent *skips;
static size_t skip_cnt, skip_cap;

static bool skip_has(uint32_t type, uint32_t perf_id, uint32_t prog_id)
{
	for (size_t i = 0; i < skip_cnt; i++)
		if (skips[i].perf_id == perf_id && skips[i].prog_id == prog_id && is_raw(skips[i].type) == is_raw(type))
			return true;
	return false;
}

static void skip_add(uint32_t type, uint32_t perf_id, uint32_t prog_id)
{
	if (skip_cnt == skip_cap) {
		size_t cap = skip_cap ? skip_cap * 2 : 32;
		struct skip_ent *n = realloc(skips, cap * sizeof(*n));

		if (!n)
			return;
		skips = n;
		skip_cap = cap;
	}
	skips[skip_cnt++] = (struct skip_ent){ type, perf_id, prog_id };
}

/* ---- uprobe_multi links ---- */

static unsigned int umulti_fail_logged;

/* The link's probe list, as emul/uprobe_multi.c wrote it (registry_layout.h). */
static int umulti_read(uint32_t id, struct emu_reg_umulti *h, uint64_t **arrays)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	size_t sz;

	snprintf(path, sizeof(path), "%s/obj/bpf-link-%u", agent_sess.dir, id);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (pread(fd, h, sizeof(*h), 0) != (ssize_t)sizeof(*h) || h->magic != EMU_REG_UMULTI_MAGIC || !h->cnt ||
	    h->cnt > (1u << 20))
		return -EINVAL;
	h->path[sizeof(h->path) - 1] = 0;
	sz = 3 * (size_t)h->cnt * sizeof(uint64_t);
	*arrays = malloc(sz);
	if (!*arrays)
		return -ENOMEM;
	if (pread(fd, *arrays, sz, sizeof(*h)) != (ssize_t)sz) {
		zfree(arrays);
		return -EINVAL;
	}
	return 0;
}

/* Patch every offset of link @id here; 0 if at least one was, else why none applies. */
static int umulti_attach(uint32_t id, uint32_t prog_id)
{
	_cleanup_free_ uint64_t *arr = NULL;
	struct emu_reg_umulti h;
	unsigned int done = 0;
	void *addr;
	int err;

	err = umulti_read(id, &h, &arr);
	if (err)
		return err;
	if (h.pid && h.pid != (int32_t)agent_pid())
		return -ESRCH; /* uprobe_multi_link_filter(): another process */
	if (hook_resolve_file_offset(h.path, arr[0], &addr))
		return -ENOENT; /* the file is not mapped here */
	for (uint32_t i = 0; i < h.cnt; i++) {
		struct agent_link *l = calloc(1, sizeof(*l));

		if (!l)
			return done ? 0 : -ENOMEM;
		l->perf_id = id;
		l->prog_id = prog_id;
		l->type = AGENT_LINK_UMULTI;
		l->cookie = arr[2 * h.cnt + i];
		err = hook_resolve_file_offset(h.path, arr[i], &addr);
		if (!err)
			err = agent_prog_get(prog_id, &l->prog);
		if (err) {
			free(l);
			continue;
		}
		l->func_ip = (uint64_t)(uintptr_t)addr;
		agent_fork_before_uprobes();
		err = hook_uprobe_attach_file(h.path, arr[i], arr[h.cnt + i],
					      h.flags & COMPAT_BPF_F_UPROBE_MULTI_RETURN ? HOOK_URETPROBE : HOOK_UPROBE,
					      uprobe_handler, l, &l->probe);
		if (!err)
			agent_fork_after_uprobes();
		if (err) {
			if (umulti_fail_logged++ < 16)
				log_warn("uprobe_multi link %u: %s+0x%llx: cannot patch it: %s\n", id, h.path,
					 (unsigned long long)arr[i], strerror(-err));
			agent_prog_put(l->prog);
			free(l);
			continue;
		}
		l->seen = true;
		l->next = links;
		links = l;
		done++;
	}
	log_debug("attached uprobe_multi link %u: %u of %u offsets in %s (prog %u)\n", id, done, h.cnt, h.path,
		  prog_id);
	return done ? 0 : -ENOENT;
}

static void umulti_scan(const struct emu_reg_slot *s)
{
	uint32_t id = __atomic_load_n(&s->id, __ATOMIC_RELAXED), prog_id = s->u.link.prog_id;
	bool found = false;

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE || s->id != id || !prog_id)
		return;
	for (struct agent_link *l = links; l; l = l->next)
		if (l->type == AGENT_LINK_UMULTI && l->perf_id == id && l->prog_id == prog_id) {
			l->seen = true;
			found = true;
		}
	if (found || skip_has(AGENT_LINK_UMULTI, id, prog_id))
		return;
	if (umulti_attach(id, prog_id))
		skip_add(AGENT_LINK_UMULTI, id, prog_id);
}

void agent_attach_report(void)
{
	for (struct agent_link *l = links; l; l = l->next)
		if (l->type == EMU_REG_PERF_UPROBE || l->type == AGENT_LINK_UMULTI)
			log_debug("uprobe (perf %u, prog %u): hits missed at the site %llu\n", l->perf_id, l->prog_id,
				  (unsigned long long)hook_probe_missed(l->probe));
	log_debug("runs skipped (recursion or stuck run locks): %llu\n", (unsigned long long)agent_runs_missed());
}

void agent_attach_scan(void)
{
	struct emu_reg_slot *slots = (struct emu_reg_slot *)((char *)agent_sess.reg + EMU_REG_HDR_SZ);
	struct agent_link **pp, *l;
	bool tp_changed = false;

	for (l = links; l; l = l->next)
		l->seen = false;
	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT; i++) {
		struct emu_reg_slot *s = &slots[i];
		struct perf_view v;

		/* Pairs with the store-release in emu_reg_publish(). */
		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE)
			continue;
		if (s->kind == EMU_REG_LINK && s->type == COMPAT_BPF_LINK_TYPE_UPROBE_MULTI) {
			umulti_scan(s);
			continue;
		}
		if (s->kind == EMU_REG_LINK && s->type == BPF_LINK_TYPE_RAW_TRACEPOINT) {
			if (!raw_tp_read(s, &v))
				continue; /* freed while we read it */
			goto view;
		}
		if (s->kind != EMU_REG_PERF)
			continue;
		if (s->type != EMU_REG_PERF_UPROBE && s->type != EMU_REG_PERF_TRACEPOINT &&
		    s->type != EMU_REG_PERF_TIMER)
			continue;
		if (!perf_read(s, &v)) {
			/* Mid-update for too long: keep what we have for it. */
			for (l = links; l; l = l->next)
				if (l->perf_id == s->id && !is_raw(l->type))
					l->seen = true;
			continue;
		}
view:
		if (!(v.p.flags & EMU_REG_PERF_ENABLED) || !v.p.prog_id || !pid_matches(v.p.pid))
			continue;
		l = link_find(v.type, v.id, v.p.prog_id);
		if (l) {
			l->seen = true;
			continue;
		}
		if (skip_has(v.type, v.id, v.p.prog_id))
			continue;
		if (link_new(&v, &l)) {
			skip_add(v.type, v.id, v.p.prog_id);
			continue;
		}
		l->seen = true;
		l->next = links;
		links = l;
		if (l->type == EMU_REG_PERF_TRACEPOINT || l->type == AGENT_LINK_RAW_TP)
			tp_changed = true;
	}
	/* Detach what no longer applies. */
	for (pp = &links; (l = *pp);) {
		if (l->seen) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		if (l->type == EMU_REG_PERF_TIMER) {
			timer_stop(l); /* joined: no run of it is left */
			log_debug("detached timer (perf %u, prog %u)\n", l->perf_id, l->prog_id);
			agent_prog_put(l->prog);
			free(l);
		} else if (l->type == EMU_REG_PERF_UPROBE || l->type == AGENT_LINK_UMULTI) {
			/* Returns once no thread runs the handler: l may go. */
			uint64_t missed = hook_probe_missed(l->probe);

			hook_uprobe_detach(l->probe);
			log_debug("detached uprobe (perf %u, prog %u; hits missed at the site %llu, runs skipped %llu)\n",
				  l->perf_id, l->prog_id, (unsigned long long)missed,
				  (unsigned long long)agent_runs_missed());
			agent_prog_put(l->prog);
			free(l);
		} else {
			tp_changed = true;
			log_debug("detached %s (id %u, prog %u)\n", l->tp ? l->tp->name : "raw tracepoint", l->perf_id,
				  l->prog_id);
			/* Retired with the table that names it (file comment). */
		}
	}
	if (tp_changed)
		tp_publish();
}
