/*
 * agent_proto.h - the supervisor <-> agent protocol: one small shared file,
 * <session dir>/agents, next to the registry (emul/registry_layout.h).
 *
 * The registry says WHAT must be attached; this file carries the two things
 * agents and supervisors must agree on at run time:
 *
 *  1. Acknowledgements. Each process running the agent owns one PROC entry
 *     and stores there the registry generation it has fully applied (probes
 *     attached or detached). A supervisor that changes a perf event
 *     (PERF_EVENT_IOC_ENABLE/DISABLE, SET_BPF, LINK_CREATE) waits, bounded
 *     by AGENT_ACK_TIMEOUT_MS, until every live entry has acknowledged the
 *     new generation before it answers the tool. That is what lets bpftrace
 *     attach a uprobe and call the probed function right away, as it does
 *     with the kernel (kernel/events/uprobes.c installs the breakpoint
 *     before perf_event_open/ioctl returns).
 *  2. Per-CPU run locks. Programs index per-CPU map values and per-CPU
 *     perf rings with "the current CPU"; the kernel makes that safe by
 *     running programs with migration disabled (bpf_prog_run_pin_on_cpu()).
 *     In user space a thread can be preempted or migrate at any time, so an
 *     agent takes the run lock of a CPU slot for the whole run, and the run
 *     uses that slot as its CPU. Locks are session-wide, since every process
 *     of the session shares the maps.
 *
 * Layout (little endian, fixed-width, no pointers; STYLE.md §5):
 *   OFFSET  SIZE          DESCRIPTION
 *   0       8             magic AGENT_PROTO_MAGIC (written once by the creator)
 *   8       4             version AGENT_PROTO_VERSION
 *   12      4             header size (64)
 *   16      4             run lock count AGENT_CPU_MAX
 *   20      4             proc entry count AGENT_PROC_MAX
 *   24      40            reserved, zero
 *   64      64*CPU_MAX    run locks: u32 owner tid (0: free; CAS 0->tid,
 *                         store-release 0 to unlock), rest of the line unused
 *   ..      16*PROC_MAX   proc entries: i32 pid (0: free; CAS to claim, the
 *                         owner stores 0 on exit), u32 acked generation
 *                         (store-release by the owner; a supervisor
 *                         load-acquires it), u32 flags (AGENT_PROC_*), u32 zero
 * The file is created (O_CREAT, ftruncate to AGENT_PROTO_FILE_SZ) by the
 * first agent; supervisors only open it (no file: no agent to wait for).
 * Concurrent creators are harmless because every field starts as zero and
 * every agent writes the same header bytes.
 */
#ifndef HOOKS_AGENT_PROTO_H
#define HOOKS_AGENT_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define AGENT_PROTO_MAGIC 0x31544e4547414250ULL /* "PBAGENT1" */
#define AGENT_PROTO_VERSION 1
#define AGENT_PROTO_HDR_SZ 64
#define AGENT_CPU_MAX 256
#define AGENT_PROC_MAX 2048
#define AGENT_PROTO_FILE_NAME "agents"
#define AGENT_ACK_TIMEOUT_MS 200

/* The agent's environment, set by bpftime-run (supervisor/agent_env.c). */
#define AGENT_ENV_SESSION "BPFTIME_SESSION_DIR"
#define AGENT_ENV_SO "BPFTIME_AGENT"
#define AGENT_ENV_SOCK "BPFTIME_AGENT_SOCK" /* map memfd server (supervisor/agent_server.c) */

/*
 * In a BPF output ring's perf_event_mmap_page, inside __reserved (which
 * consumers never read): the pending lost-record count (u64). The wake-up
 * words sit next to it (MAP_PERF_PG_* in maps/maps_ext.h).
 */
#define AGENT_PERF_LOST_OFF 1008u

#define AGENT_PROC_READY (1u << 0) /* initial scan done: acks are meaningful */

struct agent_proto_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_sz;
	uint32_t cpu_cnt;
	uint32_t proc_cnt;
	uint8_t reserved[40];
};

struct agent_run_lock {
	uint32_t owner_tid; /* atomic: 0 free, else the holder's tid */
	uint8_t pad[60];    /* one cache line per lock */
};

struct agent_proc {
	int32_t pid;        /* atomic: 0 free */
	uint32_t ack_gen;   /* atomic: registry generation fully applied */
	uint32_t flags;     /* AGENT_PROC_* */
	uint32_t reserved;
};

struct agent_proto {
	struct agent_proto_hdr hdr;
	struct agent_run_lock lock[AGENT_CPU_MAX];
	struct agent_proc proc[AGENT_PROC_MAX];
};

#define AGENT_PROTO_FILE_SZ ((sizeof(struct agent_proto) + 4095) & ~(size_t)4095)

_Static_assert(sizeof(struct agent_proto_hdr) == AGENT_PROTO_HDR_SZ, "agents header");
_Static_assert(sizeof(struct agent_run_lock) == 64, "run lock line");
_Static_assert(sizeof(struct agent_proc) == 16, "proc entry");
_Static_assert(offsetof(struct agent_proto, lock) == 64, "locks offset");
_Static_assert(offsetof(struct agent_proto, proc) == 64 + 64 * AGENT_CPU_MAX, "procs offset");

#endif /* HOOKS_AGENT_PROTO_H */
