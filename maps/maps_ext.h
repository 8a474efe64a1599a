/*
 * maps_ext.h - contract: what the embedding (supervisor, agent, jit) needs
 * beyond maps.h to run the "special" map types whose kernel versions talk to
 * other kernel objects: ring buffers that wake a consumer sleeping in epoll,
 * perf event arrays whose slots are perf events, program arrays whose slots
 * are programs, maps of maps, and stack traces collected by the agent.
 *
 * maps/ owns the shared-memory side of each; the embedding owns the objects
 * the kernel would own (fds, programs, processes) and plugs them in through
 * the hooks below. Every hook is optional: without it the map still works,
 * and what needs it fails with the errno the kernel gives for an empty slot.
 */
#ifndef MAPS_MAPS_EXT_H
#define MAPS_MAPS_EXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "maps/maps.h"

/* ================= RINGBUF (maps/ringbuf.c) ================= */

/*
 * Consumer-side geometry, as a consumer mmaps the map's fd (map_fd()):
 * offset 0, one page, RW: consumer_pos (u64); offset 4096, 4096 + 2 * size
 * bytes, RO: producer_pos (u64) then the data area twice (the second copy is
 * kept current for records that wrap). Exactly libbpf's ring_buffer__add().
 */
#define MAP_RINGBUF_CONS_OFF 0u
#define MAP_RINGBUF_PROD_OFF 4096u
#define MAP_RINGBUF_DATA_OFF 8192u

/** Called in the producer's process when the kernel's rule says "wake the consumer". */
typedef void (*map_ringbuf_notify_fn)(struct map *m, void *ctx);

/**
 * map_ringbuf_set_notify() - register a process-local wakeup callback.
 *
 * Every process that produces into @m (the agent in each traced process, or
 * the supervisor itself) may register one; it is called after each
 * committed record that the kernel would wake the consumer for
 * (kernel/bpf/ringbuf.c bpf_ringbuf_commit(): the consumer has caught up to
 * the record, unless BPF_RB_NO_WAKEUP; always with BPF_RB_FORCE_WAKEUP), from
 * the helper's own thread, with no lock held. Typical use: write(eventfd)
 * where the supervisor made the client's epoll watch that eventfd.
 * Independently of callbacks, every wakeup bumps a futex word in the shared
 * producer page (see map_ringbuf_wait()), so a waiter in any process works
 * without registering anything. @fn NULL unregisters.
 * Returns 0 or -EINVAL if @m is not a ring buffer.
 */
int map_ringbuf_set_notify(struct map *m, map_ringbuf_notify_fn fn, void *ctx);

/** The wakeup sequence: changes at every wakeup. Read it before checking for data. */
uint32_t map_ringbuf_wake_seq(struct map *m);

/**
 * map_ringbuf_wait() - sleep until the wakeup sequence differs from @seen
 * (or data is available), at most @timeout_ms (-1: forever). Cross-process
 * (a shared futex). Returns 1 if woken or data is available, 0 on timeout,
 * -EINTR, -EINVAL (not a ring buffer).
 */
int map_ringbuf_wait(struct map *m, uint32_t seen, int timeout_ms);

/** Bytes between consumer_pos and producer_pos (what epoll's EPOLLIN means). */
uint64_t map_ringbuf_avail(struct map *m);

/**
 * map_ringbuf_reap() - turn records still BUSY whose producer process died
 * into discarded records, so the consumer can pass them; wakes the consumer
 * if any. Call when a traced process exits (reservations from a live
 * producer are never touched). Returns the number of records repaired.
 */
int map_ringbuf_reap(struct map *m);

/** The first copy of the data area in this process's mapping (tools and tests). */
uint8_t *map_ringbuf_data_area(struct map *m);

/* Helper-side ring buffer operations (the kernel helpers' return values). */
/** bpf_ringbuf_reserve(): sample pointer or NULL (flags != 0, too big, no space). */
void *map_ringbuf_reserve(struct map *m, uint64_t size, uint64_t flags);
/** bpf_ringbuf_submit()/discard(): @sample from map_ringbuf_reserve() in this process. */
void map_ringbuf_submit(void *sample, uint64_t flags);
void map_ringbuf_discard(void *sample, uint64_t flags);
/** bpf_ringbuf_output(): 0, -EINVAL (bad flags), -EAGAIN (no space). */
long map_ringbuf_output(struct map *m, const void *data, uint64_t size, uint64_t flags);
/** bpf_ringbuf_query(): BPF_RB_AVAIL_DATA, RING_SIZE, CONS_POS, PROD_POS; 0 for others. */
uint64_t map_ringbuf_query(struct map *m, uint64_t flags);

/* ================= perf rings (maps/perf_ring.c) ================= */

/*
 * A perf event's mmap ring in shared memory: a memfd the supervisor hands to
 * the client as the perf event fd (perf_event_open of PERF_COUNT_SW_BPF_OUTPUT),
 * which the client mmaps as 1 + 2^n pages exactly as a kernel perf fd
 * (struct perf_event_mmap_page, then the data pages), and which
 * bpf_perf_event_output() in any process writes PERF_RECORD_SAMPLE (raw)
 * and PERF_RECORD_LOST records into.
 */
struct map_perf_ring;

#define MAP_PERF_RING_MAX_PAGES (1u << 16)
#define MAP_PERF_RING_DEFAULT_PAGES 64u

struct map_perf_ring_opts {
	size_t sz;              /* sizeof(struct map_perf_ring_opts) */
	uint32_t id;            /* non-zero id the PERF_EVENT_ARRAY slots store (the supervisor's) */
	uint32_t data_pages;    /* 2^n data pages, or 0: set later with map_perf_ring_set_pages() */
	uint32_t cap_pages;     /* capacity (file size - 1 page), 2^n; 0: data_pages or 64 */
	int32_t cpu;            /* perf_event_open cpu, -1 any */
	uint32_t type;          /* perf_event_attr.type (PERF_TYPE_SOFTWARE for BPF output) */
	uint64_t config;        /* perf_event_attr.config (PERF_COUNT_SW_BPF_OUTPUT) */
	uint32_t wakeup_events; /* perf_event_attr.wakeup_events (0: watermark only) */
	uint32_t watermark;     /* perf_event_attr.wakeup_watermark if attr.watermark, else 0 */
	uint64_t event_id;      /* the id PERF_RECORD_LOST carries */
};

/** Create a ring (memfd, sealed size). *out holds a reference (map_perf_ring_put()). -EINVAL, -ENOMEM, -errno. */
int map_perf_ring_create(const struct map_perf_ring_opts *o, struct map_perf_ring **out);
/** Map a ring from its fd (dup'ed) in this process. -EINVAL if not a ring. */
int map_perf_ring_open(int fd, struct map_perf_ring **out);
/** Fix the data pages in use once the client's mmap size is known. -EINVAL, -EBUSY (already sized differently). */
int map_perf_ring_set_pages(struct map_perf_ring *r, uint32_t data_pages);
struct map_perf_ring *map_perf_ring_get(struct map_perf_ring *r);
void map_perf_ring_put(struct map_perf_ring *r);
int map_perf_ring_fd(const struct map_perf_ring *r);
uint32_t map_perf_ring_id(const struct map_perf_ring *r);
/**
 * map_perf_ring_output() - write one PERF_SAMPLE_RAW sample (preceded by a
 * PERF_RECORD_LOST if records were dropped). Returns 0, -ENOSPC (full or not
 * sized; counted as lost when full), -E2BIG (record over 64 KiB).
 */
long map_perf_ring_output(struct map_perf_ring *r, const void *data, uint64_t size);
/** Records dropped since the last PERF_RECORD_LOST was written. */
uint64_t map_perf_ring_lost(const struct map_perf_ring *r);
/** -EINVAL unless a BPF_OUTPUT software event; -EOPNOTSUPP if bound to a CPU other than @cpu. */
int map_perf_ring_check_output(const struct map_perf_ring *r, uint32_t cpu);

typedef void (*map_perf_ring_notify_fn)(struct map_perf_ring *r, void *ctx);
/** Process-local wakeup callback (kernel wakeup_events/watermark rule), as map_ringbuf_set_notify(). */
int map_perf_ring_set_notify(struct map_perf_ring *r, map_perf_ring_notify_fn fn, void *ctx);
uint32_t map_perf_ring_wake_seq(struct map_perf_ring *r);
/** Sleep until the wakeup sequence moves from @seen: 1, 0 (timeout), -EINTR. Cross-process. */
int map_perf_ring_wait(struct map_perf_ring *r, uint32_t seen, int timeout_ms);

/*
 * Wake-ups of the perf rings the runtime hands out (emul/perf_event.c:
 * a bare perf_event_mmap_page, then the data pages; producers are
 * hooks/agent_perf.c and emul/perf_ring.c). The kernel's wakeup rule
 * (kernel/events/ring_buffer.c perf_output_put_handle(), core.c
 * perf_output_sample(): every wakeup_events samples, or when more than the
 * watermark was written since the last wake-up, half the ring by default)
 * is kept in words inside the page's __reserved area, which consumers never
 * read:
 *
 *   OFFSET  SIZE  DESCRIPTION
 *   976     8     wakeup_head: data_head at the last watermark wake-up (producer)
 *   984     4     wakeup_events: perf_event_attr.wakeup_events, 0 if attr.watermark
 *   988     4     watermark: wakeup_watermark in bytes if attr.watermark, else 0
 *   992     4     events: samples since the last wakeup_events wake-up (producer)
 *   1016    4     wake_seq: futex word, bumped at every wake-up
 *   1020    4     waiters: sleepers on wake_seq (the supervisor's ring waker,
 *                 the agent's poll()); a producer makes the FUTEX_WAKE syscall
 *                 only when this is non-zero
 *
 * The producer-side words are written by one producer at a time (the
 * agent's per-CPU run lock, hooks/agent_proto.h); a client that scribbles
 * on them can only lose or add wake-ups of its own ring.
 */
#define MAP_PERF_PG_WAKEUP_HEAD_OFF 976u
#define MAP_PERF_PG_WAKEUP_EVENTS_OFF 984u
#define MAP_PERF_PG_WATERMARK_OFF 988u
#define MAP_PERF_PG_EVENTS_OFF 992u
#define MAP_PERF_PG_WAKE_SEQ_OFF 1016u
#define MAP_PERF_PG_WAITERS_OFF 1020u

/**
 * map_perf_page_committed() - after publishing data_head = @head with
 * @samples new PERF_RECORD_SAMPLEs in the ring whose control page is @pg
 * and data area @data_sz bytes: apply the wakeup rule and wake the waiters
 * if it says so. Returns true if it woke (for tests).
 */
bool map_perf_page_committed(void *pg, uint64_t head, uint64_t data_sz, uint32_t samples);
/** Bump the page's wake_seq and FUTEX_WAKE its waiters, if any (PERF_EVENT_IOC_REFRESH-free forced wake-up). */
void map_perf_page_wake(void *pg);

/*
 * Process-local id -> ring table that bpf_perf_event_output() uses to turn a
 * PERF_EVENT_ARRAY slot (a ring id) into a mapped ring. The embedding
 * registers the rings it has, or sets a resolver that opens a ring by id on
 * first use (e.g. the agent asks the supervisor for the fd). The table holds
 * a reference; unregister only when no program of this process can run.
 */
int map_perf_ring_register(struct map_perf_ring *r);
void map_perf_ring_unregister(uint32_t id);
typedef int (*map_perf_ring_resolve_fn)(uint32_t id, struct map_perf_ring **out, void *ctx);
void map_perf_ring_set_resolver(map_perf_ring_resolve_fn fn, void *ctx);
/** The registered ring for @id (resolving it if needed), or NULL. No reference is taken. */
struct map_perf_ring *map_perf_ring_find(uint32_t id);

/* ================= fd arrays (maps/fd_array.c) ================= */

/*
 * PERF_EVENT_ARRAY, PROG_ARRAY (and ARRAY_OF_MAPS when present) store, per
 * slot, the id of the object the syscall-side fd named: a perf ring id, a
 * program id, a map id. emul/ turns the client's fd into that id before
 * calling map_sys_update_elem(m, &key, &id, BPF_ANY) (an id of 0 gives
 * -EBADF, the kernel's errno for a bad fd) and checks object compatibility
 * itself (prog type: -EINVAL as bpf_prog_map_compatible()).
 * map_sys_lookup_elem() returns the id (PROG_ARRAY: prog id, as the kernel;
 * PERF_EVENT_ARRAY: -ENOTSUPP, as the kernel).
 */

/**
 * map_perf_event_output() - bpf_perf_event_output(ctx, map, flags, data, size).
 * Returns 0, -EINVAL (flags outside BPF_F_INDEX_MASK, or the slot's event is
 * not a BPF output event), -E2BIG (index >= max_entries, or record > 64 KiB),
 * -ENOENT (empty slot, or a ring this process cannot resolve), -EOPNOTSUPP
 * (event bound to another CPU), -ENOSPC (ring full: counted as lost).
 */
long map_perf_event_output(struct map *m, uint64_t flags, const void *data, uint64_t size);

/**
 * map_prog_array_get() - the program id in slot @idx, for bpf_tail_call()
 * (the jit's jit_env.tail_call resolves the id to a loaded program).
 * Returns 0, -ENOENT (empty slot or idx out of range), -EINVAL (not a prog array).
 */
int map_prog_array_get(struct map *m, uint32_t idx, uint32_t *prog_id);

/* ================= ARRAY_OF_MAPS, HASH_OF_MAPS (maps/map_in_map.c) ================= */

/*
 * Slots hold map ids (emul/ turns the client's map fds into ids, as for
 * PROG_ARRAY); map_sys_lookup_elem() returns the id, a program's
 * map_lookup_elem() returns the inner struct map * of this process.
 * Two hooks tie fds and ids to handles in this process:
 *  - the fd resolver turns MAP_CREATE's inner_map_fd into a map (a new
 *    reference in *out), whose type/sizes/flags become the template every
 *    stored map must match (-EINVAL otherwise; a map of maps as inner map:
 *    -EINVAL; no resolver or unknown fd: -EBADF);
 *  - the id resolver opens the map with a given id (e.g. by asking the
 *    supervisor for its fd and calling map_open_fd()).
 * Maps this process already has can be registered by id instead
 * (map_in_map_register(); the id is the one given in map_create_opts).
 */
typedef int (*map_fd_resolve_fn)(int fd, struct map **out, void *ctx);
typedef int (*map_id_resolve_fn)(uint32_t id, struct map **out, void *ctx);
void map_in_map_set_resolvers(map_fd_resolve_fn fd_fn, map_id_resolve_fn id_fn, void *ctx);
/** Register @m under its id (takes a reference). -EINVAL if it has no id, -ENOSPC if the table is full. */
int map_in_map_register(struct map *m);
void map_in_map_unregister(uint32_t id);
/** The handle for map @id in this process (resolving it if needed), or NULL. No reference is taken. */
struct map *map_in_map_find(uint32_t id);

/* ================= QUEUE, STACK, BLOOM_FILTER (maps/queue_stack.c, maps/bloom_filter.c) ================= */

/*
 * The kernel helpers map_push_elem/pop_elem/peek_elem. QUEUE/STACK: push
 * flags BPF_ANY or BPF_EXIST (overwrite the oldest when full), else -EINVAL;
 * -E2BIG when full; pop/peek -ENOENT (value zeroed) when empty.
 * BLOOM_FILTER: push BPF_ANY only; peek 0 (maybe present) or -ENOENT; pop
 * -EOPNOTSUPP. Other types: -EINVAL (the verifier never lets that happen).
 * Syscall side: map_sys_lookup_elem() peeks (BLOOM_FILTER: @value is the
 * INPUT, emul/ copies the user's value in first, as syscall.c does),
 * map_sys_update_elem() pushes, map_sys_lookup_and_delete_elem() pops.
 */
long map_push_elem(struct map *m, const void *value, uint64_t flags);
long map_pop_elem(struct map *m, void *value);
long map_peek_elem(struct map *m, void *value);

/* ================= STACK_TRACE (maps/stackmap.c) ================= */

/**
 * map_get_stackid() - bpf_get_stackid() on an already collected call chain.
 * @ips: @nr instruction pointers, innermost first (what the kernel's
 *       get_perf_callchain() gives); the first (flags & BPF_F_SKIP_FIELD_MASK)
 *       are skipped, at most value_size / 8 are stored.
 * Returns the stack id (>= 0), -EINVAL (bad flags, not a stack map), -EFAULT
 * (nr <= skip), -EEXIST (the bucket holds another stack and no
 * BPF_F_REUSE_STACKID), -ENOMEM (no free record).
 */
long map_get_stackid(struct map *m, const uint64_t *ips, uint32_t nr, uint64_t flags);

/**
 * The agent's stack walker: fill @ips with at most @max_depth frames of the
 * stack of the current program run (@ctx is the program's ctx), the user
 * stack if @user, else the kernel stack (which a userspace runtime does not
 * have: return 0 frames). Returns the number of frames or -errno.
 */
typedef int (*map_stack_collect_fn)(void *ctx, int user, uint64_t *ips, uint32_t max_depth, void *cookie);
void map_stack_set_collector(map_stack_collect_fn fn, void *cookie);
/** bpf_get_stackid(ctx, map, flags) through the collector: -EFAULT without one. */
long map_get_stackid_ctx(void *ctx, struct map *m, uint64_t flags);

/* ================= helper wrappers (maps/helpers_b.c) ================= */

#include "jit/jit.h"

uint64_t map_helper_ringbuf_output(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_reserve(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_submit(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_discard(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_query(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_push_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_pop_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_peek_elem(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_get_stackid(ctx, map, flags). */
uint64_t map_helper_get_stackid(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
/** bpf_perf_event_output(ctx, map, flags, data, size). */
uint64_t map_helper_perf_event_output(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

/** Install the helpers above into @table (indexed by BPF_FUNC_* id); map_helpers_fill() calls it. */
void map_helpers_b_fill(jit_helper_fn *table, uint32_t cnt);

#endif /* MAPS_MAPS_EXT_H */
