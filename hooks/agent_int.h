/*
 * agent_int.h - private contract between the files of the in-process agent
 * (libbpftime-agent.so): agent.c (constructor, session, watcher thread),
 * attach.c (registry scan -> uprobes, syscall tracepoints and raw tracepoint
 * links), raw_tp.c (the sys_enter/sys_exit raw tracepoint context), agent_prog.c
 * (program and map loading, the per-CPU run lock), agent_perf.c (perf ring
 * producer) and helpers_proc.c (the helpers that need a process).
 */
#ifndef HOOKS_AGENT_INT_H
#define HOOKS_AGENT_INT_H

#include <linux/futex.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "emul/registry_layout.h"
#include "hooks/agent_proto.h"
#include "jit/jit.h"

struct map;
struct tp_event;

/* The session this process belongs to; set once by agent.c before any scan. */
struct agent_session {
	char *dir;                 /* <session dir> */
	struct emu_reg_hdr *reg;   /* registry; we only write fd_cnt of maps we open */
	struct agent_proto *proto; /* <dir>/agents, read-write */
	uint32_t cpu_cnt;          /* run locks in use: min(possible CPUs, AGENT_CPU_MAX) */
};
extern struct agent_session agent_sess;

/* ---- agent_prog.c: programs, maps, runs ---- */
struct agent_prog {
	struct agent_prog *next; /* cache list, under the scan (one thread) */
	uint32_t id;
	uint32_t type;            /* enum bpf_prog_type */
	uint32_t ref_cnt;         /* links using it; touched by the scan only */
	bool need_cpu;            /* runs under a per-CPU run lock (agent_prog.c, prog_needs_cpu()) */
	struct jit_prog *jp;
};

/* Per-thread state of the run in progress (helpers read it). */
struct pt_regs;
struct agent_run_ctx {
	const struct pt_regs *regs; /* uprobe runs: the probed frame (bpf_get_stack); else NULL */
	uint64_t func_ip;  /* bpf_get_func_ip() */
	uint64_t cookie;   /* bpf_get_attach_cookie() */
	uint32_t cpu;      /* the CPU slot whose run lock we hold */
	bool active;
	/* Bytes probe_read may memcpy (they belong to the run's context); 0: none. Set by the
	 * caller of agent_prog_run() around the run (hooks/raw_tp.c). */
	const void *safe;
	size_t safe_sz;
};
struct agent_run_ctx *agent_run_ctx(void);

/** Load (or find) program @id from the session; on success *out has a reference. */
int agent_prog_get(uint32_t id, struct agent_prog **out);
void agent_prog_put(struct agent_prog *p);
/** Map @id of the session, opened in this process (cached for the process' life). */
int agent_map_by_id(uint32_t id, struct map **out);
/**
 * Run @p with @ctx under a per-CPU run lock; @func_ip and @cookie are what
 * the helpers report. Returns r0, or 0 when the run was skipped.
 */
uint64_t agent_prog_run(struct agent_prog *p, void *ctx, const struct pt_regs *regs, uint64_t func_ip,
			uint64_t cookie);
/** Runs skipped because every run lock stayed taken by dead or stuck holders. */
uint64_t agent_runs_missed(void);
/** Call @fn for every map this process has opened (the scan's thread only). */
void agent_maps_each(void (*fn)(struct map *m, void *arg), void *arg);

/* ---- agent_tail.c: bpf_tail_call() ---- */
/** jit_env.tail_call: the program in slot @index of prog array @prog_array, loaded here. */
int agent_tail_call(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next);
/** Load every program the prog arrays opened here name (after each registry scan). */
void agent_tail_scan(void);

/* ---- agent_perf.c: BPF output perf rings ---- */
/** Write one PERF_RECORD_SAMPLE with @size raw bytes into perf event @perf_id's ring. */
int agent_perf_output(uint32_t perf_id, const void *data, uint32_t size);

/* ---- helpers_proc.c ---- */
#define AGENT_HELPER_MAX 212 /* __BPF_FUNC_MAX_ID at Linux 6.1, as emul/helpers_sup.h */
const jit_helper_fn *agent_helpers(void);
/** Thread id / process id, cached (reset after fork). */
pid_t agent_tid(void);
pid_t agent_pid(void);
void agent_ids_after_fork(void);
/** Append one line to <session dir>/trace_pipe (bpf_trace_printk). */
void agent_trace_write(const char *text, size_t len);
/** The uid/gid the kernel would report (outside any user namespace we were put in). */
void agent_ids_init(void);

/* ---- raw_tp.c ---- */
/**
 * Run @p as the kernel runs a raw tracepoint program at sys_enter (@is_exit
 * false: @nr, its six argument registers @args) or sys_exit (@ret too):
 * ctx = { struct pt_regs *, nr or ret }. Calling thread, from a syscall hook.
 */
void agent_raw_tp_run(struct agent_prog *p, uint64_t cookie, bool is_exit, long nr, const unsigned long args[6],
		      long ret);

/* ---- agent.c ---- */
/** Around the first use of the probe engine (scan thread): see the fork comment in agent.c. */
void agent_fork_before_uprobes(void);
void agent_fork_after_uprobes(void);

/* ---- attach.c ---- */
/** Apply the registry: attach what applies to this process, detach what no longer does. */
void agent_attach_scan(void);
/** log_debug() the missed-hit counters of every probe (at exit, with BPFTIME_LOG=debug). */
void agent_attach_report(void);

/* agent_poll_waker.c: a registration of one mixed poll() call. */
struct agent_poll_wait {
	uint32_t *words[FUTEX_WAITV_MAX - 1]; /* the rings' futex words (their mappings outlive it) */
	uint32_t vals[FUTEX_WAITV_MAX - 1];   /* their values when the caller saw the rings empty */
	uint32_t cnt;
	int efd;			      /* eventfd written once when a word moves */
	bool fired;			      /* under the waker's lock */
	struct agent_poll_wait *next;
};
/** Watch @w's words until agent_poll_waker_del(); @w stays the caller's.
 *  Return: 0; -ENOSPC when the process already watches too many words;
 *  -EINVAL bad @w; -ENOSYS without futex_waitv(2); -EAGAIN/-ENOMEM
 *  when the thread cannot start. */
int agent_poll_waker_add(struct agent_poll_wait *w);
/** Stop watching @w (it is not written after this returns). */
void agent_poll_waker_del(struct agent_poll_wait *w);

#endif /* HOOKS_AGENT_INT_H */
