/*
 * helpers_sup.c - the helper table programs get inside the supervisor, for
 * PROG_LOAD's decoder check and for PROG_TEST_RUN.
 *
 * Every helper id the kernel defines (below EMU_HELPER_MAX) is present, so
 * the decoder refuses exactly the ids the kernel does not know ("invalid func
 * unknown#N"). Helpers that make sense in a test run are implemented here;
 * any other one ends the run and makes PROG_TEST_RUN fail with ENOTSUPP and
 * a log line, rather than return a made-up value. The real helpers run in
 * the traced processes (hooks/). The clocks and bpf_get_prandom_u32() are
 * the agent's own (maps/helpers_common.c); what depends on the context is
 * here: the pid/tgid is the test-run caller's, the CPU is the child's.
 */
#define _GNU_SOURCE
#include "emul/helpers_sup.h"

#include <errno.h>

#include "emul/emul_int.h"

#include <stdlib.h>
#include <sched.h>
#include <unistd.h>

#include "jit/jit.h"
#include "maps/helpers.h"
#include "emul/skb.h"

static __thread int helper_missing;
static __thread uint64_t run_pid_tgid;
static __thread struct emu_session *run_session;

static uint64_t h_unavailable(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	helper_missing = 1;
	jit_run_stop(0);
	return 0;
}

static uint64_t h_get_smp_processor_id(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	int cpu = sched_getcpu();

	return cpu < 0 ? 0 : (uint64_t)cpu;
}

static uint64_t h_get_current_pid_tgid(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e)
{
	return run_pid_tgid;
}

/*
 * bpf_perf_event_output(ctx, map, flags, data, size) (kernel/trace/bpf_trace.c):
 * the PERF_EVENT_ARRAY slot of the current CPU (or flags' index) names a
 * perf event; the record goes into its ring. bpftrace's BEGIN and END probes
 * print this way, run through PROG_TEST_RUN.
 */
static uint64_t h_perf_event_output(uint64_t ctx, uint64_t map, uint64_t flags, uint64_t data, uint64_t size)
{
	uint64_t idx = flags & BPF_F_INDEX_MASK;
	struct emu_obj *o;
	uint32_t id;
	int err;

	if (flags & ~(uint64_t)BPF_F_INDEX_MASK)
		return (uint64_t)-EINVAL;
	if (idx == BPF_F_CURRENT_CPU)
		idx = UINT32_MAX; /* emu_map_perf_slot() picks the current CPU */
	err = emu_map_perf_slot((void *)(uintptr_t)map, (uint32_t)idx, &id);
	if (err)
		return (uint64_t)(int64_t)err;
	if (!run_session || emu_obj_by_id(run_session, EMU_REG_PERF, id, &o))
		return (uint64_t)-ENOENT;
	return (uint64_t)(int64_t)emu_perf_ring_output(o, (const void *)(uintptr_t)data, (uint32_t)size);
}

static jit_helper_fn table[EMU_HELPER_MAX];

const jit_helper_fn *emu_helpers_sup(void)
{
	if (!table[1]) {
		for (int i = 1; i < EMU_HELPER_MAX; i++)
			table[i] = h_unavailable;
		table[BPF_FUNC_ktime_get_ns] = map_helper_ktime_get_ns;
		table[BPF_FUNC_get_prandom_u32] = map_helper_get_prandom_u32;
		table[BPF_FUNC_get_smp_processor_id] = h_get_smp_processor_id;
		table[BPF_FUNC_get_current_pid_tgid] = h_get_current_pid_tgid;
		table[BPF_FUNC_ktime_get_boot_ns] = map_helper_ktime_get_boot_ns;
		table[BPF_FUNC_ktime_get_coarse_ns] = map_helper_ktime_get_coarse_ns;
		/* bpf_map_lookup_elem, _update_elem, _delete_elem, spin locks, ring buffers ...
		 * (maps/helpers.c); then ours, which win: bpftime-run keeps PERF_EVENT_ARRAY slots
		 * as perf event ids of its own rings (emul/perf_ring.c), not maps/ perf rings. */
		emu_map_helpers_fill(table, EMU_HELPER_MAX);
		table[BPF_FUNC_perf_event_output] = h_perf_event_output;
		/* bpf_loop, bpf_for_each_map_elem: callbacks run by jit/. */
		map_helpers_cb_fill(table, EMU_HELPER_MAX);
		/* bpf_skb_load_bytes, ...: only for the ctx of a socket-buffer test run (helpers_skb.c). */
		emu_skb_helpers_fill(table, EMU_HELPER_MAX);
	}
	return table;
}

bool emu_helpers_sup_has(int32_t id)
{
	const jit_helper_fn *t = emu_helpers_sup();

	return id > 0 && id < EMU_HELPER_MAX && t[id] && t[id] != h_unavailable;
}

void emu_helpers_run_begin(uint64_t pid_tgid, struct emu_session *s)
{
	helper_missing = 0;
	run_pid_tgid = pid_tgid;
	/* A fresh sequence per run: the child must not replay a state it inherited. */
	map_helper_prandom_seed(0);
	run_session = s;
}

void emu_helpers_run_fail(void)
{
	h_unavailable(0, 0, 0, 0, 0);
}

bool emu_helpers_run_missing(void)
{
	return helper_missing != 0;
}
