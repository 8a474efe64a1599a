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

/* ================= helper wrappers (maps/helpers_b.c) ================= */

#include "jit/jit.h"

uint64_t map_helper_ringbuf_output(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_reserve(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_submit(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_discard(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);
uint64_t map_helper_ringbuf_query(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

/** Install the helpers above into @table (indexed by BPF_FUNC_* id); map_helpers_fill() calls it. */
void map_helpers_b_fill(jit_helper_fn *table, uint32_t cnt);

#endif /* MAPS_MAPS_EXT_H */
