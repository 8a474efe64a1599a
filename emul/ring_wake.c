/*
 * ring_wake.c - the supervisor's ring waker: turns a producer's wake-up of a
 * ring buffer or BPF output perf ring into an event on the epoll sets that
 * watch the ring (emul/epoll.c adds our eventfd to them).
 *
 * The tool: a futex word in the ring's shared memory. Producers already
 * follow the kernel's wakeup rule there (maps/ringbuf.c ringbuf_wake():
 * "the consumer has caught up to this record", BPF_RB_NO_WAKEUP and
 * BPF_RB_FORCE_WAKEUP as bpf_ringbuf_commit(); maps/perf_ring.c
 * map_perf_page_committed(): wakeup_events / watermark as
 * kernel/events/ring_buffer.c); a wake-up bumps the word and makes the
 * FUTEX_WAKE syscall only when the word's waiter count is non-zero. One
 * thread here sleeps on the words of all watched rings at once with
 * futex_waitv(2) (Linux 5.16) and writes the ring's eventfd when its word
 * moved and the ring holds unread data.
 *
 * Why a futex and not an eventfd the producer writes: producers are BPF
 * programs in any traced process (the agent), in our PROG_TEST_RUN child or
 * in another bpftime-run of the session. A futex word in the ring needs no
 * fd in any of them, no socket round trip to obtain one, and costs them
 * nothing but an atomic add while nobody sleeps; an eventfd would have to
 * be passed to every producer process, and written (a syscall) at every
 * wake-up whether anyone waits or not. The price is this one thread.
 *
 * Latency: producer's FUTEX_WAKE, our wake-up, write(eventfd), the
 * consumer's epoll_wait returns: two wake-ups, tens of microseconds on this
 * VM (bench/ring_wake_bench.c measures it against the kernel).
 *
 * Level-triggered semantics without a busy loop. The kernel's ring poll
 * reports EPOLLIN while data is unread (ringbuf_map_poll_kern(),
 * perf_poll()). An eventfd we kept readable while data is unread would need
 * us to notice, at once, when the consumer catches up, or its next
 * epoll_wait would spin; nobody tells us that. So epoll.c registers the
 * eventfd EPOLLET: every write is one event. We write when the word moves
 * with data unread, and again every EMU_WAKE_TICK_MS while data stays
 * unread (a consumer that left records behind, e.g. a callback that
 * stopped early, is woken again, as with the kernel's level trigger, within
 * one tick). When every watched ring is drained we sleep with no timeout.
 *
 * Waiter count. Each watch holds one count on its ring's word for as long
 * as it exists (a consumer with the ring in an epoll set is "waiting", as
 * its epoll entry sits on the kernel ring's wait queue), so producers of a
 * watched ring make the FUTEX_WAKE syscall once per wake-up the kernel's
 * rule asks for: per record for perf rings with wakeup_events = 1 (what
 * the kernel does too), once per catch-up for ring buffers. A bpftime-run
 * killed with SIGKILL leaves its count behind: producers then pay a
 * useless FUTEX_WAKE per wake-up, nothing worse.
 *
 * Locking: watches[] is changed by the notification thread (epoll_ctl,
 * object frees) under rw_lock, which the waker holds while it scans. The
 * waker does not hold it while it sleeps; a change bumps rw_ctl, a word it
 * also waits on. A mapping removed while futex_waitv() sets up gives EFAULT
 * and a rescan. Nothing here touches the emul session.
 *
 * DIVERGES: more than FUTEX_WAITV_MAX - 1 watched rings are served, beyond
 * that number, by the EMU_WAKE_TICK_MS timer alone; without futex_waitv
 * (before Linux 5.16) every ring is (one log line says so).
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/maps_ext.h"

#ifndef SYS_futex_waitv
#define SYS_futex_waitv 449 /* Linux 5.16, x86-64 */
#endif

/* Offsets of maps/ringbuf.c's producer page words (its file comment). */
#define RB_WAKE_SEQ_OFF (MAP_RINGBUF_PROD_OFF + 128u)
#define RB_WAITERS_OFF (MAP_RINGBUF_PROD_OFF + 132u)

struct rw_watch {
	const struct emu_obj *obj;      /* identity for unwatch; never dereferenced by the waker */
	void *map;                      /* our own mapping of the ring's control page(s) */
	size_t map_sz;
	_Atomic uint32_t *seq;          /* futex word */
	_Atomic uint32_t *waiters;      /* we hold one count while the watch exists */
	const _Atomic uint64_t *head;   /* producer position */
	const _Atomic uint64_t *tail;   /* consumer position */
	int efd;                        /* our duplicate of obj->wake_fd */
	uint32_t seen;                  /* seq at our last scan */
	uint64_t signalled_ns;          /* CLOCK_MONOTONIC of our last write, 0: never */
};

static pthread_mutex_t rw_lock = PTHREAD_MUTEX_INITIALIZER;
static struct rw_watch *watches;   /* under rw_lock */
static int watch_cnt, watch_cap;   /* under rw_lock */
static _Atomic uint32_t rw_ctl;    /* bumped at every change of watches[] */
static bool rw_started;            /* under rw_lock */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void ctl_bump(void)
{
	atomic_fetch_add_explicit(&rw_ctl, 1, memory_order_seq_cst);
	syscall(SYS_futex, &rw_ctl, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static bool watch_pending(const struct rw_watch *w)
{
	/* Pairs with the producer's store-release of its position. */
	return atomic_load_explicit(w->head, memory_order_acquire) != atomic_load_explicit(w->tail, memory_order_acquire);
}

static void watch_signal(struct rw_watch *w, uint64_t now)
{
	uint64_t one = 1, drop;

	/* One EPOLLET event per write; the count itself means nothing. Full (never, in
	 * practice: 2^64 - 2 writes): reset it and write again. */
	if (write(w->efd, &one, sizeof(one)) < 0 && errno == EAGAIN) {
		if (read(w->efd, &drop, sizeof(drop)) == sizeof(drop))
			(void)!write(w->efd, &one, sizeof(one));
	}
	w->signalled_ns = now ? now : 1;
}

static void *waker_main(void *arg)
{
	struct futex_waitv wv[FUTEX_WAITV_MAX];
	const uint64_t tick_ns = (uint64_t)EMU_WAKE_TICK_MS * 1000000ull;
	bool have_waitv = true;

	(void)arg;
	for (;;) {
		struct timespec ts;
		bool timed = false;
		uint64_t now = now_ns();
		int n = 0;

		memset(wv, 0, sizeof(wv));
		pthread_mutex_lock(&rw_lock);
		wv[n].uaddr = (uintptr_t)&rw_ctl;
		wv[n].val = atomic_load_explicit(&rw_ctl, memory_order_seq_cst);
		wv[n++].flags = FUTEX_32 | FUTEX_PRIVATE_FLAG;
		for (int i = 0; i < watch_cnt; i++) {
			struct rw_watch *w = &watches[i];
			/* Pairs with the seq_cst add in the producer's wake (Dekker on waiters, file comment). */
			uint32_t seq = atomic_load_explicit(w->seq, memory_order_seq_cst);
			bool pending = watch_pending(w);

			if (pending && (seq != w->seen || !w->signalled_ns || now - w->signalled_ns >= tick_ns))
				watch_signal(w, now);
			w->seen = seq;
			if (pending || n == FUTEX_WAITV_MAX || !have_waitv)
				timed = true;
			if (n < FUTEX_WAITV_MAX) {
				wv[n].uaddr = (uintptr_t)w->seq;
				wv[n].val = seq;
				wv[n++].flags = FUTEX_32; /* shared: the word is in a file mapping */
			}
		}
		pthread_mutex_unlock(&rw_lock);
		if (timed) {
			uint64_t t = now + tick_ns;

			ts.tv_sec = (time_t)(t / 1000000000ull);
			ts.tv_nsec = (long)(t % 1000000000ull);
		}
		if (have_waitv) {
			if (syscall(SYS_futex_waitv, wv, n, 0, timed ? &ts : NULL, CLOCK_MONOTONIC) >= 0 ||
			    errno != ENOSYS)
				continue; /* woken, timed out, EAGAIN (a word moved), EFAULT (unwatched): rescan */
			log_info("futex_waitv is not available: ring wake-ups come every %d ms\n", EMU_WAKE_TICK_MS);
			have_waitv = false;
		}
		/* Timer only: sleep on rw_ctl for one tick. */
		{
			struct timespec rel = { 0, (long)tick_ns };

			syscall(SYS_futex, &rw_ctl, FUTEX_WAIT_PRIVATE, (uint32_t)wv[0].val, &rel, NULL, 0);
		}
	}
	return NULL;
}

/* Map the ring's control words; fills the pointers of @w. */
static int watch_map(const struct emu_obj *o, struct rw_watch *w)
{
	uint8_t *p;

	if (o->kind == EMU_REG_PERF && o->slot->type == EMU_REG_PERF_BPF_OUTPUT) {
		p = mmap(NULL, EMU_PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		w->map = p;
		w->map_sz = EMU_PAGE_SZ;
		w->head = (const _Atomic uint64_t *)&((struct perf_event_mmap_page *)p)->data_head;
		w->tail = (const _Atomic uint64_t *)&((struct perf_event_mmap_page *)p)->data_tail;
		w->seq = (_Atomic uint32_t *)(p + MAP_PERF_PG_WAKE_SEQ_OFF);
		w->waiters = (_Atomic uint32_t *)(p + MAP_PERF_PG_WAITERS_OFF);
		return 0;
	}
	if (o->kind == EMU_REG_MAP && o->slot->type == BPF_MAP_TYPE_RINGBUF) {
		/* kernel/bpf/ringbuf.c layout: consumer_pos on page 0, producer_pos on page 1. */
		p = mmap(NULL, 2 * EMU_PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
		if (p == MAP_FAILED)
			return -errno;
		w->map = p;
		w->map_sz = 2 * EMU_PAGE_SZ;
		w->tail = (const _Atomic uint64_t *)(p + MAP_RINGBUF_CONS_OFF);
		w->head = (const _Atomic uint64_t *)(p + MAP_RINGBUF_PROD_OFF);
		w->seq = (_Atomic uint32_t *)(p + RB_WAKE_SEQ_OFF);
		w->waiters = (_Atomic uint32_t *)(p + RB_WAITERS_OFF);
		return 0;
	}
	return -EPERM; /* what epoll_ctl says for a file without poll support */
}

int emu_ring_wake_watch(struct emu_obj *o)
{
	struct rw_watch w = { .obj = o, .efd = -1 };
	struct rw_watch *cur = NULL;
	uint64_t drop;
	pthread_t th;
	int err = 0;

	pthread_mutex_lock(&rw_lock);
	for (int i = 0; i < watch_cnt; i++)
		if (watches[i].obj == o)
			cur = &watches[i]; /* one watch per ring; its eventfd serves every epoll set */
	if (cur)
		goto arm;
	err = watch_map(o, &w);
	if (err)
		goto out;
	w.efd = fcntl(o->wake_fd, F_DUPFD_CLOEXEC, 0);
	if (w.efd < 0) {
		err = -errno;
		goto err_unmap;
	}
	if (watch_cnt == watch_cap) {
		int cap = watch_cap ? 2 * watch_cap : 16;
		struct rw_watch *nw = realloc(watches, (size_t)cap * sizeof(*nw));

		if (!nw) {
			err = -ENOMEM;
			goto err_close;
		}
		watches = nw;
		watch_cap = cap;
	}
	if (!rw_started) {
		sigset_t all, old;

		/* The waker takes no signal: they belong to the main loop's signalfd. */
		sigfillset(&all);
		pthread_sigmask(SIG_BLOCK, &all, &old);
		err = -pthread_create(&th, NULL, waker_main, NULL);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		if (err)
			goto err_close;
		pthread_detach(th);
		rw_started = true;
	}
	/* Register before the waker first reads seq (Dekker, file comment). */
	atomic_fetch_add_explicit(w.waiters, 1, memory_order_seq_cst);
	w.seen = atomic_load_explicit(w.seq, memory_order_seq_cst);
	watches[watch_cnt] = w;
	cur = &watches[watch_cnt++];
	ctl_bump();
arm:
	/*
	 * The caller adds the eventfd to an epoll set next, and epoll reports an
	 * item at once when the file is readable then (ep_insert()). So make it
	 * readable exactly when the ring holds unread data: write, or empty the
	 * count. Under rw_lock, so a wake-up the waker raises for data arriving
	 * now comes after our read and is not lost.
	 */
	if (watch_pending(cur))
		watch_signal(cur, now_ns());
	else
		(void)!read(cur->efd, &drop, sizeof(drop)); /* EAGAIN when already empty */
	goto out;
err_close:
	close(w.efd);
err_unmap:
	munmap(w.map, w.map_sz);
out:
	pthread_mutex_unlock(&rw_lock);
	return err;
}

void emu_ring_wake_unwatch(const struct emu_obj *o)
{
	pthread_mutex_lock(&rw_lock);
	for (int i = 0; i < watch_cnt; i++) {
		struct rw_watch *w = &watches[i];

		if (w->obj != o)
			continue;
		atomic_fetch_sub_explicit(w->waiters, 1, memory_order_seq_cst);
		munmap(w->map, w->map_sz);
		close(w->efd);
		watches[i] = watches[--watch_cnt];
		ctl_bump();
		break;
	}
	pthread_mutex_unlock(&rw_lock);
}
