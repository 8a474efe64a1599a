/*
 * agent_poll.c - poll(2) and ppoll(2) on bpftime ring fds, in the traced
 * process.
 *
 * A BPF output perf event's fd and a BPF_MAP_TYPE_RINGBUF map's fd are, under
 * bpftime, regular files (tmpfs or memfd) so that mmap gives the kernel's
 * layout. For a regular file the kernel's poll reports POLLIN|POLLOUT at
 * once, so a consumer that waits with poll() instead of epoll (bcc 0.26's
 * perf_reader_poll() in libbcc) spins on an empty ring. epoll is answered by
 * the supervisor (emul/epoll.c); poll() never leaves the process, so the
 * agent answers it here by interposing the libc symbols poll, ppoll and their
 * _FORTIFY_SOURCE twins (__poll_chk, __ppoll_chk).
 *
 * Which fds are rings: the registry (emul/registry_layout.h) records the
 * st_dev/st_ino of every object's backing file. We keep the (dev, ino) of the
 * live BPF_OUTPUT perf events and RINGBUF maps, rescanned only when the
 * registry generation moves. Cost for a call with no ring in the session:
 * one load of the generation and one compare. While the session has rings,
 * each fd of the call costs one fstat().
 *
 * Readiness mirrors the kernel: a perf ring is readable while data_head !=
 * data_tail (perf_poll() in kernel/events/core.c wakes on each record with
 * wakeup_events = 1, as bcc sets), a ringbuf while producer_pos !=
 * consumer_pos (ringbuf_map_poll_kern() in kernel/bpf/ringbuf.c). Positions
 * are read through a read-only mapping of the fd's first pages, made for the
 * duration of the call.
 *
 * Waiting. When every fd of the call is a ring (bcc's perf_reader_poll(),
 * one perf ring per CPU), the wait is a futex_waitv(2) on the rings' futex
 * words (maps/maps_ext.h MAP_PERF_PG_*, maps/ringbuf.c wake_seq): we count
 * ourselves in each ring's waiters, re-check the positions, and sleep until
 * a producer applies the kernel's wakeup rule (the consumer has caught up:
 * ringbuf; wakeup_events / watermark: perf) or the timeout. A producer pays
 * the FUTEX_WAKE syscall only while someone is counted. Wake-up latency:
 * one futex wake-up, microseconds. A signal ends the wait with EINTR, as it
 * ends poll().
 *
 * Otherwise (other fds in the set as well, ppoll() with a signal mask) the
 * ring fds are replaced by -1 (ignored by poll) in a copy of the set, and
 * the real poll()/ppoll() waits on the other fds plus an eventfd that the
 * agent's waker thread (agent_poll_waker.c) writes when one of the rings'
 * futex words moves: the same futex protocol, one hop more (the thread),
 * tens of microseconds (bench/ring_wake_bench.sh rb-mixed/pb-mixed), no
 * periodic wake-up. A signal mask is applied by the real ppoll(), atomically.
 * Why a thread and not an eventfd written by producers or the supervisor's
 * epoll: see agent_poll_waker.c. Only when that is impossible (a ring we
 * cannot map writable, more than FUTEX_WAITV_MAX - 1 ring words watched in
 * the process at once, no futex_waitv) does the real poll wait in slices of
 * at most AGENT_POLL_TICK_MS, the rings rechecked after each.
 *
 * DIVERGES: in that last case, wake-up latency for ring data is up to one
 * tick (5 ms), and a waiting poll() wakes every tick (a few microseconds of
 * CPU each); select()/pselect() are not interposed (no eBPF client we run
 * uses them on ring fds); a ring fd never reports POLLHUP/POLLERR; a mixed
 * wait costs an eventfd (created and closed per call) and starts one
 * helper thread in the process (signals blocked, 64 KiB stack).
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/maps_ext.h"

#define AGENT_POLL_TICK_MS 5
#define AGENT_POLL_RING_MAX 512 /* rings remembered per session scan */
#define AGENT_POLL_STACK_FDS 64 /* fd sets up to this size are copied on the stack */
#define PAGE_SZ 4096u

#define EXPORT __attribute__((visibility("default")))

struct ring_id {
	uint64_t dev;
	uint64_t ino;
	uint32_t kind; /* EMU_REG_PERF or EMU_REG_MAP */
};

static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ring_id rings[AGENT_POLL_RING_MAX];
static uint32_t rings_gen;   /* atomic; registry generation of the last scan (written under rings_lock) */
static int rings_cnt = -1;   /* atomic; -1: never scanned */
static bool no_waitv;        /* atomic; futex_waitv said ENOSYS (before Linux 5.16) */

/*
 * Mappings of the rings' control pages, kept across calls: a mmap() and a
 * munmap() per ring per call cost more than the wait itself, and the
 * munmap() of a multi-threaded process interrupts every CPU it ran on (TLB
 * shootdown), right between the wake-up and the consumer's read. A mapping
 * is dropped when its ring leaves the registry (rings_rescan()) and no call
 * is using it. All fields under rings_lock.
 */
struct ring_cmap {
	uint64_t dev, ino;
	void *map;       /* NULL: free slot */
	size_t map_sz;
	bool rw;         /* mapped writable: the futex wait is possible */
	bool dead;       /* the ring is gone: unmap when users drops to 0 */
	int users;       /* calls using the mapping now */
};
static struct ring_cmap cmaps[AGENT_POLL_RING_MAX];

typedef int (*poll_fn)(struct pollfd *, nfds_t, int);
typedef int (*ppoll_fn)(struct pollfd *, nfds_t, const struct timespec *, const sigset_t *);

static int sys_poll(struct pollfd *fds, nfds_t n, int timeout)
{
	static poll_fn real;
	poll_fn f = __atomic_load_n(&real, __ATOMIC_RELAXED);

	if (!f) {
		f = (poll_fn)dlsym(RTLD_NEXT, "poll");
		if (!f) {
			struct timespec ts = { timeout / 1000, (long)(timeout % 1000) * 1000000 };

			return (int)syscall(SYS_ppoll, fds, n, timeout < 0 ? NULL : &ts, NULL, sizeof(sigset_t));
		}
		__atomic_store_n(&real, f, __ATOMIC_RELAXED);
	}
	return f(fds, n, timeout);
}

static int sys_ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	static ppoll_fn real;
	ppoll_fn f = __atomic_load_n(&real, __ATOMIC_RELAXED);

	if (!f) {
		f = (ppoll_fn)dlsym(RTLD_NEXT, "ppoll");
		if (!f)
			return (int)syscall(SYS_ppoll, fds, n, ts, mask, sizeof(sigset_t));
		__atomic_store_n(&real, f, __ATOMIC_RELAXED);
	}
	return f(fds, n, ts, mask);
}

/* Remember the rings of the session; called when the registry generation moved. */
static void rings_rescan(uint32_t gen)
{
	const uint8_t *base = (const uint8_t *)agent_sess.reg + EMU_REG_HDR_SZ;
	int cnt = 0;

	for (uint32_t i = 0; i < EMU_REG_SLOT_CNT && cnt < AGENT_POLL_RING_MAX; i++) {
		const struct emu_reg_slot *sl = (const void *)(base + (size_t)i * EMU_REG_SLOT_SZ);

		if (__atomic_load_n(&sl->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE)
			continue;
		if (!((sl->kind == EMU_REG_PERF && sl->type == EMU_REG_PERF_BPF_OUTPUT) ||
		      (sl->kind == EMU_REG_MAP && sl->type == BPF_MAP_TYPE_RINGBUF)))
			continue;
		rings[cnt++] = (struct ring_id){ sl->dev, sl->ino, sl->kind };
	}
	for (int c = 0; c < AGENT_POLL_RING_MAX; c++) {
		struct ring_cmap *cm = &cmaps[c];
		bool live = false;

		if (!cm->map || cm->dead)
			continue;
		for (int i = 0; i < cnt && !live; i++)
			live = rings[i].dev == cm->dev && rings[i].ino == cm->ino;
		if (live)
			continue;
		cm->dead = true;
		if (!cm->users) {
			munmap(cm->map, cm->map_sz);
			*cm = (struct ring_cmap){ 0 };
		}
	}
	/* Count first, then the generation: a reader that sees this generation sees this count. */
	__atomic_store_n(&rings_cnt, cnt, __ATOMIC_RELEASE);
	__atomic_store_n(&rings_gen, gen, __ATOMIC_RELEASE);
}

/* The fast check: does this session hold any ring at all? */
static bool rings_exist(void)
{
	uint32_t gen;

	if (!agent_sess.reg)
		return false;
	gen = __atomic_load_n(&agent_sess.reg->generation, __ATOMIC_ACQUIRE);
	if (gen == __atomic_load_n(&rings_gen, __ATOMIC_ACQUIRE) && __atomic_load_n(&rings_cnt, __ATOMIC_RELAXED) >= 0)
		return __atomic_load_n(&rings_cnt, __ATOMIC_RELAXED) > 0;
	pthread_mutex_lock(&rings_lock);
	if (rings_cnt < 0 || gen != __atomic_load_n(&rings_gen, __ATOMIC_RELAXED))
		rings_rescan(gen);
	pthread_mutex_unlock(&rings_lock);
	return __atomic_load_n(&rings_cnt, __ATOMIC_ACQUIRE) > 0;
}

/* The kind of ring @fd is (EMU_REG_PERF / EMU_REG_MAP), or 0; its file in *st. */
static uint32_t ring_kind(int fd, struct stat *st_out)
{
	struct stat st;
	uint32_t kind = 0;

	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	*st_out = st;
	pthread_mutex_lock(&rings_lock);
	for (int i = 0; i < rings_cnt; i++)
		if (rings[i].dev == (uint64_t)st.st_dev && rings[i].ino == (uint64_t)st.st_ino) {
			kind = rings[i].kind;
			break;
		}
	pthread_mutex_unlock(&rings_lock);
	return kind;
}

/* One ring of the call: where its two positions are. */
struct ring_view {
	nfds_t idx; /* index in the caller's set */
	struct ring_cmap *cm; /* the cached mapping it uses, or NULL: map/map_sz are ours */
	void *map;
	size_t map_sz;
	const uint64_t *head, *tail;
	uint32_t *seq, *waiters; /* futex word and waiter count; NULL if mapped read-only */
};

static void ring_view_fill(struct ring_view *v, uint32_t kind, bool rw)
{
	if (kind == EMU_REG_PERF) {
		const struct perf_event_mmap_page *pg = v->map;

		v->head = (const uint64_t *)&pg->data_head;
		v->tail = (const uint64_t *)&pg->data_tail;
		v->seq = (uint32_t *)((uint8_t *)v->map + MAP_PERF_PG_WAKE_SEQ_OFF);
		v->waiters = (uint32_t *)((uint8_t *)v->map + MAP_PERF_PG_WAITERS_OFF);
	} else {
		/* kernel/bpf/ringbuf.c: consumer_pos on page 0, producer_pos on page 1;
		 * maps/ringbuf.c: wake_seq and waiters at 128 and 132 in page 1. */
		v->tail = v->map;
		v->head = (const uint64_t *)((const uint8_t *)v->map + PAGE_SZ);
		v->seq = (uint32_t *)((uint8_t *)v->map + PAGE_SZ + 128);
		v->waiters = (uint32_t *)((uint8_t *)v->map + PAGE_SZ + 132);
	}
	if (!rw)
		v->seq = v->waiters = NULL;
}

/* Map @fd's control page(s): writable if the fd allows it (the futex wait needs the waiter count). */
static void *ring_map(int fd, size_t sz, bool *rw)
{
	void *p = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);

	*rw = p != MAP_FAILED;
	if (p == MAP_FAILED)
		p = mmap(NULL, sz, PROT_READ, MAP_SHARED, fd, 0); /* an fd opened read-only: the tick path */
	return p;
}

static int ring_view_open(int fd, uint32_t kind, const struct stat *st, struct ring_view *v)
{
	struct ring_cmap *cm = NULL, *free_cm = NULL;
	bool rw;

	v->map_sz = kind == EMU_REG_PERF ? PAGE_SZ : 2 * PAGE_SZ;
	pthread_mutex_lock(&rings_lock);
	for (int c = 0; c < AGENT_POLL_RING_MAX && !cm; c++) {
		if (cmaps[c].map && !cmaps[c].dead && cmaps[c].dev == (uint64_t)st->st_dev &&
		    cmaps[c].ino == (uint64_t)st->st_ino)
			cm = &cmaps[c];
		else if (!cmaps[c].map && !free_cm)
			free_cm = &cmaps[c];
	}
	if (!cm && free_cm) {
		void *p = ring_map(fd, v->map_sz, &rw);

		if (p != MAP_FAILED) {
			cm = free_cm;
			*cm = (struct ring_cmap){ .dev = (uint64_t)st->st_dev, .ino = (uint64_t)st->st_ino, .map = p,
						  .map_sz = v->map_sz, .rw = rw };
		}
	}
	if (cm) {
		cm->users++;
		v->cm = cm;
		v->map = cm->map;
		rw = cm->rw;
	}
	pthread_mutex_unlock(&rings_lock);
	if (!cm) {
		/* No cache slot: a mapping for this call only. */
		v->cm = NULL;
		v->map = ring_map(fd, v->map_sz, &rw);
		if (v->map == MAP_FAILED)
			return -errno;
	}
	ring_view_fill(v, kind, rw);
	return 0;
}

static void ring_view_close(struct ring_view *v)
{
	if (!v->cm) {
		munmap(v->map, v->map_sz);
		return;
	}
	pthread_mutex_lock(&rings_lock);
	if (!--v->cm->users && v->cm->dead) {
		munmap(v->cm->map, v->cm->map_sz);
		*v->cm = (struct ring_cmap){ 0 };
	}
	pthread_mutex_unlock(&rings_lock);
}

static bool ring_view_pending(const struct ring_view *v)
{
	/* Pairs with the producer's store-release of its position. */
	return __atomic_load_n(v->head, __ATOMIC_ACQUIRE) != __atomic_load_n(v->tail, __ATOMIC_ACQUIRE);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Sleep until a ring's futex word moves or @deadline (ms, CLOCK_MONOTONIC;
 * < 0: none). Returns 0 (woken, or data arrived meanwhile), 1 (timed out),
 * -1 with errno (EINTR: a signal; ENOSYS: no futex_waitv).
 */
static int rings_futex_wait(struct ring_view *views, nfds_t cnt, int64_t deadline)
{
	struct futex_waitv wv[FUTEX_WAITV_MAX];
	struct timespec ts;
	int ret = 0, saved;
	nfds_t v;

	/* Dekker with the producer's wake (maps/perf_ring.c map_perf_page_wake(), maps/ringbuf.c
	 * ringbuf_wake()): count ourselves in, then read the word and the positions. */
	for (v = 0; v < cnt; v++)
		__atomic_fetch_add(views[v].waiters, 1, __ATOMIC_SEQ_CST);
	memset(wv, 0, sizeof(wv));
	for (v = 0; v < cnt; v++) {
		wv[v].uaddr = (uintptr_t)views[v].seq;
		wv[v].val = __atomic_load_n(views[v].seq, __ATOMIC_SEQ_CST);
		wv[v].flags = FUTEX_32; /* shared: the word is in a file mapping */
	}
	for (v = 0; v < cnt; v++)
		if (ring_view_pending(&views[v]))
			goto out;
	if (deadline >= 0) {
		ts.tv_sec = (time_t)(deadline / 1000);
		ts.tv_nsec = (long)(deadline % 1000) * 1000000L;
	}
	if (syscall(SYS_futex_waitv, wv, (unsigned int)cnt, 0, deadline >= 0 ? &ts : NULL, CLOCK_MONOTONIC) < 0) {
		if (errno == ETIMEDOUT)
			ret = 1;
		else if (errno == EINTR || errno == ENOSYS)
			ret = -1;
		/* EAGAIN: a word moved before we slept; EFAULT cannot happen (our own mapping). */
	}
out:
	saved = errno;
	for (v = 0; v < cnt; v++)
		__atomic_fetch_sub(views[v].waiters, 1, __ATOMIC_SEQ_CST);
	errno = saved;
	return ret;
}

/*
 * Before a mixed wait: count ourselves in each ring's waiters (so producers
 * make the FUTEX_WAKE syscall), read the words, check the rings are still
 * empty, hand the words to the waker thread with a fresh eventfd. Returns 0
 * (armed: poll on pw->efd, then waker_disarm()), 1 (a ring has data: nothing
 * armed), -1 (cannot: wait in slices).
 */
static int waker_arm(struct ring_view *views, nfds_t cnt, struct agent_poll_wait *pw)
{
	nfds_t v;
	int ret = 0;

	pw->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pw->efd < 0)
		return -1;
	pw->cnt = (uint32_t)cnt;
	/* Dekker with the producer's wake, as in rings_futex_wait(). */
	for (v = 0; v < cnt; v++)
		__atomic_fetch_add(views[v].waiters, 1, __ATOMIC_SEQ_CST);
	for (v = 0; v < cnt; v++) {
		pw->words[v] = views[v].seq;
		pw->vals[v] = __atomic_load_n(views[v].seq, __ATOMIC_SEQ_CST);
	}
	for (v = 0; v < cnt && !ret; v++)
		if (ring_view_pending(&views[v]))
			ret = 1;
	if (!ret && agent_poll_waker_add(pw))
		ret = -1;
	if (ret) {
		for (v = 0; v < cnt; v++)
			__atomic_fetch_sub(views[v].waiters, 1, __ATOMIC_SEQ_CST);
		close(pw->efd);
	}
	return ret;
}

static void waker_disarm(struct ring_view *views, nfds_t cnt, struct agent_poll_wait *pw)
{
	agent_poll_waker_del(pw);
	close(pw->efd);
	for (nfds_t v = 0; v < cnt; v++)
		__atomic_fetch_sub(views[v].waiters, 1, __ATOMIC_SEQ_CST);
}

/*
 * The wait with rings in the set. @timeout_ms < 0: forever. @mask: as
 * ppoll's (NULL for poll). Returns what poll returns, errno set on -1.
 */
static int poll_rings(struct pollfd *fds, nfds_t n, int64_t timeout_ms, const struct timespec *orig_ts,
		      const sigset_t *mask, bool is_ppoll)
{
	struct pollfd stack_copy[AGENT_POLL_STACK_FDS + 1]; /* + the waker's eventfd */
	struct ring_view stack_views[AGENT_POLL_STACK_FDS];
	struct pollfd *copy = stack_copy;
	struct ring_view *views = stack_views;
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	nfds_t view_cnt = 0;
	bool use_futex, use_waker;
	int ret = -1, saved;

	if (n > AGENT_POLL_STACK_FDS) {
		copy = calloc(n + 1, sizeof(*copy));
		views = calloc(n, sizeof(*views));
		if (!copy || !views) {
			free(copy);
			free(views);
			errno = ENOMEM;
			return -1;
		}
	}
	memcpy(copy, fds, n * sizeof(*fds));
	for (nfds_t i = 0; i < n; i++) {
		struct stat st;
		uint32_t kind = ring_kind(fds[i].fd, &st);

		if (!kind || ring_view_open(fds[i].fd, kind, &st, &views[view_cnt]))
			continue; /* not ours (or unmappable): the kernel answers for it */
		views[view_cnt++].idx = i;
		copy[i].fd = -1;
	}
	if (!view_cnt) {
		/* No ring in this set: the caller's own call, unchanged. */
		ret = is_ppoll ? sys_ppoll(fds, n, orig_ts, mask) : sys_poll(fds, n, (int)timeout_ms);
		goto out;
	}
	/* Only rings to wait for, all mappable for the futex: sleep on their words. */
	use_futex = view_cnt <= FUTEX_WAITV_MAX && !mask && !__atomic_load_n(&no_waitv, __ATOMIC_RELAXED);
	for (nfds_t i = 0; use_futex && i < n; i++)
		if (copy[i].fd >= 0)
			use_futex = false;
	for (nfds_t v = 0; use_futex && v < view_cnt; v++)
		if (!views[v].seq)
			use_futex = false;
	/* Other fds too: the real poll() waits on them and on an eventfd the
	 * waker thread writes when a ring's word moves (agent_poll_waker.c). */
	use_waker = !use_futex && view_cnt < FUTEX_WAITV_MAX && !__atomic_load_n(&no_waitv, __ATOMIC_RELAXED);
	for (nfds_t v = 0; use_waker && v < view_cnt; v++)
		if (!views[v].seq)
			use_waker = false;
	for (;;) {
		struct agent_poll_wait pw;
		int ready = 0, tmo, k;
		bool waited;

		for (nfds_t v = 0; v < view_cnt; v++) {
			struct pollfd *p = &fds[views[v].idx];

			p->revents = ring_view_pending(&views[v]) ? (short)(p->events & (POLLIN | POLLRDNORM)) : 0;
			ready += p->revents != 0;
		}
		if (use_futex && !ready && timeout_ms != 0) {
			int w = rings_futex_wait(views, view_cnt, deadline);

			if (w == 0)
				continue; /* woken: look at the rings again */
			if (w < 0 && errno == EINTR)
				break; /* ret -1, errno EINTR, as poll() */
			if (w < 0) {
				__atomic_store_n(&no_waitv, true, __ATOMIC_RELAXED); /* ENOSYS: the tick path */
				use_futex = false;
				continue;
			}
			/* Timed out: the last look below reports what is there. */
			for (nfds_t i = 0; i < n; i++)
				if (fds[i].fd < 0)
					fds[i].revents = 0;
			for (nfds_t v = 0; v < view_cnt; v++) {
				struct pollfd *p = &fds[views[v].idx];

				p->revents = ring_view_pending(&views[v]) ? (short)(p->events & (POLLIN | POLLRDNORM)) : 0;
				ready += p->revents != 0;
			}
			ret = ready;
			break;
		}
		if (ready && use_futex) {
			/* Nothing else in the set: report the rings without a syscall. */
			for (nfds_t i = 0; i < n; i++)
				if (fds[i].fd < 0)
					fds[i].revents = 0;
			ret = ready;
			break;
		}
		if (ready || timeout_ms == 0) {
			tmo = 0;
		} else if (deadline < 0) {
			tmo = AGENT_POLL_TICK_MS;
		} else {
			int64_t left = deadline - now_ms();

			tmo = left <= 0 ? 0 : left < AGENT_POLL_TICK_MS ? (int)left : AGENT_POLL_TICK_MS;
		}
		waited = false;
		if (tmo != 0 && use_waker) {
			int w = waker_arm(views, view_cnt, &pw);

			if (w < 0)
				use_waker = false; /* too many words watched, no thread: slices */
			else if (w == 0) {
				waited = true;
				copy[n] = (struct pollfd){ .fd = pw.efd, .events = POLLIN };
				tmo = deadline < 0 ? -1 : (int)MIN(MAX(deadline - now_ms(), 0), (int64_t)INT_MAX);
			} else {
				continue; /* data arrived meanwhile: look again */
			}
		}
		if (is_ppoll) {
			struct timespec ts = { tmo / 1000, (long)(tmo % 1000) * 1000000 };

			k = sys_ppoll(copy, n + waited, tmo < 0 ? NULL : &ts, mask);
		} else {
			k = sys_poll(copy, n + waited, tmo);
		}
		if (waited) {
			saved = errno;
			waker_disarm(views, view_cnt, &pw);
			if (k > 0 && copy[n].revents)
				k--; /* the eventfd: a ring's word moved, the loop looks at the rings */
			errno = saved;
		}
		if (k < 0)
			break;
		if (waited && k == 0 && (deadline < 0 || now_ms() < deadline))
			continue;
		for (nfds_t i = 0; i < n; i++)
			if (copy[i].fd >= 0 || fds[i].fd < 0)
				fds[i].revents = copy[i].revents;
		if (k + ready > 0 || tmo == 0 || (deadline >= 0 && now_ms() >= deadline)) {
			/* A last look at the rings before reporting a timeout. */
			if (k + ready == 0 || waited)
				for (nfds_t v = 0; v < view_cnt; v++) {
					struct pollfd *p = &fds[views[v].idx];

					p->revents = ring_view_pending(&views[v]) ? (short)(p->events & (POLLIN | POLLRDNORM)) : 0;
					ready += p->revents != 0;
				}
			ret = k + ready;
			break;
		}
	}
out:
	saved = errno;
	for (nfds_t v = 0; v < view_cnt; v++)
		ring_view_close(&views[v]);
	if (copy != stack_copy) {
		free(copy);
		free(views);
	}
	errno = saved;
	return ret;
}

EXPORT int poll(struct pollfd *fds, nfds_t nfds, int timeout)
{
	if (!nfds || !rings_exist())
		return sys_poll(fds, nfds, timeout);
	return poll_rings(fds, nfds, timeout, NULL, NULL, false);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask)
{
	int64_t ms;

	if (!nfds || !rings_exist())
		return sys_ppoll(fds, nfds, tmo, mask);
	if (tmo && (tmo->tv_sec < 0 || tmo->tv_nsec < 0 || tmo->tv_nsec >= 1000000000L)) {
		errno = EINVAL;
		return -1;
	}
	/* Rounded up to whole milliseconds: a wait never ends early. */
	ms = tmo ? (int64_t)tmo->tv_sec * 1000 + (tmo->tv_nsec + 999999) / 1000000 : -1;
	return poll_rings(fds, nfds, ms, tmo, mask, true);
}

/* glibc's _FORTIFY_SOURCE entry points (debug/poll_chk.c): the same, after the size check. */
EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
EXPORT int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		abort(); /* what __chk_fail() ends in */
	return poll(fds, nfds, timeout);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask,
		       size_t fdslen);
EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *tmo, const sigset_t *mask,
		       size_t fdslen)
{
	if (fdslen / sizeof(*fds) < nfds)
		abort();
	return ppoll(fds, nfds, tmo, mask);
}
