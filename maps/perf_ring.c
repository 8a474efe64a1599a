/*
 * perf_ring.c - a perf event's mmap ring buffer in shared memory: one memfd
 * that a client (bpftrace, bcc, libbpf's perf_buffer) mmaps exactly as it
 * mmaps a perf event fd, and that producers in any process of the session
 * write PERF_RECORD_SAMPLE / PERF_RECORD_LOST records into.
 *
 * Mirrors kernel/events/ring_buffer.c (perf_output_begin/end: the
 * CIRC_SPACE >= size test against data_tail, the lost counter emitted as a
 * PERF_RECORD_LOST ahead of the next record that fits, data_head published
 * after the record, wakeup_events / watermark wakeups) and
 * kernel/events/core.c (perf_prepare_sample/perf_output_sample for
 * PERF_SAMPLE_RAW: u32 size then data, padded so that u32 + data + pad is a
 * multiple of 8, the pad bytes skipped rather than written, as the kernel's; perf_event_init_userpage for the control page).
 *
 * File layout:
 *
 *   OFFSET    SIZE          DESCRIPTION
 *   0         4096          struct perf_event_mmap_page (UAPI): data_head at
 *                           1024 (store-release by producers), data_tail at
 *                           1032 (written by the consumer), data_offset 1040
 *                           (= 4096), data_size 1048 (= data pages * 4096)
 *             2048..2175    struct pr_priv below: bpftime's producer state,
 *                           in the page's unused tail (clients ignore it)
 *   4096      cap * 4096    data area; the first data_pages pages are used
 *
 * The data pages in use are fixed once (at creation or later with
 * map_perf_ring_set_pages(), before anything is written), because a client
 * decides the size only when it mmaps 1 + 2^n pages; capacity (file size)
 * is fixed at creation.
 *
 * Concurrency: the kernel writes a per-CPU ring from one CPU with
 * preemption off; here threads of many processes may target the same ring
 * (a thread migrates, or several run on one CPU), so producers serialize on
 * a maps/lock.c spinlock (dead owners are taken over; data_head is published
 * by one store at the end, so a dead writer leaves nothing to repair).
 * Everything in the control page may be scribbled on by the client that
 * maps it RW; producers only trust their process-local copy of the geometry
 * and mask every offset, so a hostile client can corrupt only its own data.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define PR_MAGIC 0x474e495246524550ull /* "PERFRING" */
#define PR_PRIV_OFF 2048u
#define PR_LOST_REC_SZ 24u /* struct { perf_event_header; u64 id; u64 lost; } */

_Static_assert(offsetof(struct perf_event_mmap_page, data_head) == 1024, "perf ABI");
_Static_assert(offsetof(struct perf_event_mmap_page, data_tail) == 1032, "perf ABI");
_Static_assert(offsetof(struct perf_event_mmap_page, data_offset) == 1040, "perf ABI");
_Static_assert(offsetof(struct perf_event_mmap_page, data_size) == 1048, "perf ABI");
_Static_assert(sizeof(struct perf_event_mmap_page) <= PR_PRIV_OFF, "perf ABI");

struct pr_priv {
	uint64_t magic;
	_Atomic uint32_t lock;     /* maps/lock.c spinlock over everything below and the data */
	_Atomic uint32_t wake_seq; /* futex word, bumped at every wakeup */
	_Atomic uint32_t waiters;  /* sleepers in map_perf_ring_wait() */
	_Atomic uint32_t data_pages; /* 0 until sized; then a power of two <= capacity */
	uint64_t lost;             /* records dropped since the last PERF_RECORD_LOST */
	uint64_t event_id;         /* id written into PERF_RECORD_LOST */
	uint64_t config;           /* perf_event_attr.config */
	uint32_t type;             /* perf_event_attr.type */
	int32_t cpu;               /* the event's cpu, -1 for any */
	uint32_t wakeup_events;
	uint32_t watermark;        /* bytes; 0: half the data area */
	uint32_t events;           /* samples since the last wakeup_events wakeup */
	uint32_t id;
	uint64_t wakeup_head;      /* data_head at the last watermark wakeup */
};
_Static_assert(PR_PRIV_OFF + sizeof(struct pr_priv) <= 4096, "layout");

struct map_perf_ring {
	uint8_t *base;
	uint64_t file_sz;
	uint32_t cap_pages;
	int fd;
	_Atomic int refcnt;
	map_perf_ring_notify_fn notify;
	void *notify_ctx;
};

static inline struct perf_event_mmap_page *up(const struct map_perf_ring *r)
{
	return (struct perf_event_mmap_page *)r->base;
}

static inline struct pr_priv *priv(const struct map_perf_ring *r)
{
	return (struct pr_priv *)(r->base + PR_PRIV_OFF);
}

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static void ring_free(struct map_perf_ring *r)
{
	if (!r)
		return;
	if (r->base)
		munmap(r->base, r->file_sz);
	zclose(&r->fd);
	free(r);
}

/* Map @fd (taking ownership) after checking its size. */
static uint32_t ring_pages(const struct map_perf_ring *r);

static int ring_map(int fd, struct map_perf_ring **out)
{
	struct map_perf_ring *r;
	struct stat st;
	uint64_t cap;

	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	if (st.st_size < 2 * (off_t)MAP_PAGE_SZ || st.st_size % MAP_PAGE_SZ) {
		close(fd);
		return -EINVAL;
	}
	cap = (uint64_t)st.st_size / MAP_PAGE_SZ - 1;
	if (!is_pow2(cap) || cap > MAP_PERF_RING_MAX_PAGES) {
		close(fd);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r) {
		close(fd);
		return -ENOMEM;
	}
	r->fd = fd;
	r->file_sz = (uint64_t)st.st_size;
	r->cap_pages = (uint32_t)cap;
	atomic_store(&r->refcnt, 1);
	r->base = mmap(NULL, r->file_sz, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r->base == MAP_FAILED) {
		int err = -errno;

		r->base = NULL;
		ring_free(r);
		return err;
	}
	*out = r;
	return 0;
}

int map_perf_ring_create(const struct map_perf_ring_opts *o, struct map_perf_ring **out)
{
	struct map_perf_ring *r;
	uint32_t cap = o->cap_pages ? o->cap_pages : o->data_pages;
	struct pr_priv *pp;
	int fd, err;

	if (o->sz < sizeof(*o))
		return -EINVAL;
	if (!cap)
		cap = MAP_PERF_RING_DEFAULT_PAGES;
	if (!is_pow2(cap) || cap > MAP_PERF_RING_MAX_PAGES ||
	    (o->data_pages && (!is_pow2(o->data_pages) || o->data_pages > cap)))
		return -EINVAL;
	fd = memfd_create("bpftime-perf-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)(cap + 1) * MAP_PAGE_SZ) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		err = -errno;
		close(fd);
		return err;
	}
	err = ring_map(fd, &r);
	if (err)
		return err;
	/* perf_event_init_userpage(). */
	up(r)->cap_bit0_is_deprecated = 1;
	up(r)->size = offsetof(struct perf_event_mmap_page, __reserved);
	up(r)->data_offset = MAP_PAGE_SZ;
	pp = priv(r);
	pp->magic = PR_MAGIC;
	pp->event_id = o->event_id;
	pp->config = o->config;
	pp->type = o->type;
	pp->cpu = o->cpu;
	pp->wakeup_events = o->wakeup_events;
	pp->watermark = o->watermark;
	pp->id = o->id;
	if (o->data_pages) {
		err = map_perf_ring_set_pages(r, o->data_pages);
		if (err) {
			ring_free(r);
			return err;
		}
	}
	*out = r;
	return 0;
}

int map_perf_ring_open(int fd, struct map_perf_ring **out)
{
	struct map_perf_ring *r;
	int dfd, err;

	dfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (dfd < 0)
		return -errno;
	err = ring_map(dfd, &r);
	if (err)
		return err;
	if (priv(r)->magic != PR_MAGIC) {
		ring_free(r);
		return -EINVAL;
	}
	if (ring_pages(r))
		(void)madvise(r->base, (size_t)(ring_pages(r) + 1) * MAP_PAGE_SZ, MADV_POPULATE_WRITE);
	*out = r;
	return 0;
}

int map_perf_ring_set_pages(struct map_perf_ring *r, uint32_t data_pages)
{
	struct pr_priv *pp = priv(r);
	uint32_t cur;

	if (!is_pow2(data_pages) || data_pages > r->cap_pages)
		return -EINVAL;
	cur = atomic_load_explicit(&pp->data_pages, memory_order_acquire);
	if (cur == data_pages)
		return 0;
	/* Like a second mmap of a different size on a perf fd. */
	if (cur)
		return -EBUSY;
	/* Commit the pages now, so a producer never faults for memory (maps/shm.c). */
	if (fallocate(r->fd, 0, 0, (off_t)(data_pages + 1) * MAP_PAGE_SZ) < 0)
		return errno == ENOSPC ? -ENOMEM : -errno;
	up(r)->data_size = (uint64_t)data_pages * MAP_PAGE_SZ;
	/* Prefault this process's mapping (see ringbuf_attach() in maps/ringbuf.c). */
	(void)madvise(r->base, (size_t)(data_pages + 1) * MAP_PAGE_SZ, MADV_POPULATE_WRITE);
	/* Pairs with the load-acquire in ring_pages(). */
	if (!atomic_compare_exchange_strong_explicit(&pp->data_pages, &cur, data_pages,
						     memory_order_release, memory_order_relaxed))
		return cur == data_pages ? 0 : -EBUSY;
	return 0;
}

struct map_perf_ring *map_perf_ring_get(struct map_perf_ring *r)
{
	atomic_fetch_add_explicit(&r->refcnt, 1, memory_order_relaxed);
	return r;
}

void map_perf_ring_put(struct map_perf_ring *r)
{
	if (r && atomic_fetch_sub_explicit(&r->refcnt, 1, memory_order_acq_rel) == 1)
		ring_free(r);
}

int map_perf_ring_fd(const struct map_perf_ring *r)
{
	return r->fd;
}

uint32_t map_perf_ring_id(const struct map_perf_ring *r)
{
	return priv(r)->id;
}

/* Pages in use, validated against this process's capacity (the page is client-writable). */
static uint32_t ring_pages(const struct map_perf_ring *r)
{
	uint32_t n = atomic_load_explicit(&priv(r)->data_pages, memory_order_acquire);

	return is_pow2(n) && n <= r->cap_pages ? n : 0;
}

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void ring_wake(struct map_perf_ring *r)
{
	struct pr_priv *pp = priv(r);

	/* Dekker with map_perf_ring_wait(), as ringbuf_wake() in maps/ringbuf.c. */
	atomic_fetch_add_explicit(&pp->wake_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&pp->waiters, memory_order_seq_cst))
		futex(&pp->wake_seq, FUTEX_WAKE, INT_MAX, NULL);
	if (r->notify)
		r->notify(r, r->notify_ctx);
}

/* ---- the runtime's bare perf pages (maps_ext.h, MAP_PERF_PG_*) ---- */

_Static_assert(offsetof(struct perf_event_mmap_page, __reserved) <= MAP_PERF_PG_WAKEUP_HEAD_OFF &&
		       MAP_PERF_PG_WAITERS_OFF + 4 <= offsetof(struct perf_event_mmap_page, data_head),
	       "wake-up words inside __reserved");

static inline _Atomic uint32_t *pg_u32(void *pg, uint32_t off)
{
	return (_Atomic uint32_t *)((uint8_t *)pg + off);
}

void map_perf_page_wake(void *pg)
{
	/*
	 * Dekker with every sleeper (emul/ring_wake.c, hooks/agent_poll.c):
	 * bump the sequence, then look for sleepers; a sleeper registers, then
	 * re-reads the sequence. Both seq_cst, so one of them sees the other,
	 * and nobody sleeps through a wake-up we skipped the syscall for.
	 */
	atomic_fetch_add_explicit(pg_u32(pg, MAP_PERF_PG_WAKE_SEQ_OFF), 1, memory_order_seq_cst);
	if (atomic_load_explicit(pg_u32(pg, MAP_PERF_PG_WAITERS_OFF), memory_order_seq_cst))
		futex(pg_u32(pg, MAP_PERF_PG_WAKE_SEQ_OFF), FUTEX_WAKE, INT_MAX, NULL); /* shared: no FUTEX_PRIVATE_FLAG */
}

bool map_perf_page_committed(void *pg, uint64_t head, uint64_t data_sz, uint32_t samples)
{
	_Atomic uint32_t *events = pg_u32(pg, MAP_PERF_PG_EVENTS_OFF);
	_Atomic uint64_t *wakeup_head = (_Atomic uint64_t *)((uint8_t *)pg + MAP_PERF_PG_WAKEUP_HEAD_OFF);
	uint32_t wev = atomic_load_explicit(pg_u32(pg, MAP_PERF_PG_WAKEUP_EVENTS_OFF), memory_order_relaxed);
	uint32_t wm = atomic_load_explicit(pg_u32(pg, MAP_PERF_PG_WATERMARK_OFF), memory_order_relaxed);
	uint64_t last = atomic_load_explicit(wakeup_head, memory_order_relaxed);
	bool wake = false;

	/* perf_output_sample(): every wakeup_events samples (not with attr.watermark, where it is 0). */
	if (wev && samples) {
		uint32_t n = atomic_load_explicit(events, memory_order_relaxed) + samples;

		if (n >= wev) {
			n = 0;
			wake = true;
		}
		atomic_store_explicit(events, n, memory_order_relaxed);
	}
	/* __perf_output_begin(): more than the watermark since the last wake-up;
	 * ring_buffer_init() makes it half the ring when unset or too big. */
	if (!wm || wm >= data_sz)
		wm = (uint32_t)(data_sz / 2);
	/* DIVERGES: the kernel moves its mark by whole watermarks (local_add(rb->watermark,
	 * &rb->wakeup)); we move it to head, so one burst over several watermarks wakes once. */
	if (wm && head - last > wm) {
		atomic_store_explicit(wakeup_head, head, memory_order_relaxed);
		wake = true;
	}
	if (wake)
		map_perf_page_wake(pg);
	return wake;
}

/* Copy into the data area at @pos (wrapping), as perf's __output_copy(). */
static void ring_put(uint8_t *d, uint64_t dsz, uint64_t pos, const void *src, uint64_t n)
{
	uint64_t off = pos & (dsz - 1), first = n < dsz - off ? n : dsz - off;

	memcpy(d + off, src, first);
	if (n > first)
		memcpy(d, (const uint8_t *)src + first, n - first);
}

long map_perf_ring_output(struct map_perf_ring *r, const void *data, uint64_t size)
{
	struct perf_event_mmap_page *u = up(r);
	struct pr_priv *pp = priv(r);
	uint64_t dsz, head, tail, need, rec, raw;
	struct perf_event_header eh;
	uint8_t *d = r->base + MAP_PAGE_SZ;
	uint32_t pages = ring_pages(r), raw32;
	bool wake = false;

	/* No buffer yet: perf_output_begin() fails with -ENOSPC when event->rb is NULL. */
	if (!pages)
		return -ENOSPC;
	dsz = (uint64_t)pages * MAP_PAGE_SZ;
	/* perf_prepare_sample(): raw->size = round_up(size + 4, 8) - 4. */
	raw = ((size + sizeof(uint32_t) + 7) & ~7ull) - sizeof(uint32_t);
	rec = sizeof(eh) + sizeof(uint32_t) + raw;
	/* DIVERGES: header.size is a u16; the kernel would truncate it, we refuse. */
	if (size > UINT16_MAX || rec > UINT16_MAX)
		return -E2BIG;
	(void)map_lock_acquire(&pp->lock); /* nothing to repair: see the file comment */
	need = rec + (pp->lost ? PR_LOST_REC_SZ : 0);
	head = atomic_load_explicit((_Atomic uint64_t *)&u->data_head, memory_order_relaxed);
	/* Pairs with the consumer's store-release of data_tail (libbpf ring_buffer_write_tail). */
	tail = atomic_load_explicit((_Atomic uint64_t *)&u->data_tail, memory_order_acquire);
	/* ring_buffer_has_space(): CIRC_SPACE(head, tail, size) >= size. */
	if (((tail - (head + 1)) & (dsz - 1)) < need) {
		pp->lost++;
		map_lock_release(&pp->lock);
		return -ENOSPC;
	}
	if (pp->lost) {
		struct {
			struct perf_event_header h;
			uint64_t id, lost;
		} lr = { { PERF_RECORD_LOST, 0, PR_LOST_REC_SZ }, pp->event_id, pp->lost };

		ring_put(d, dsz, head, &lr, sizeof(lr));
		head += sizeof(lr);
		pp->lost = 0;
	}
	/* DIVERGES: misc is always PERF_RECORD_MISC_USER: our programs run in user context. */
	eh.type = PERF_RECORD_SAMPLE;
	eh.misc = PERF_RECORD_MISC_USER;
	eh.size = (uint16_t)rec;
	ring_put(d, dsz, head, &eh, sizeof(eh));
	raw32 = (uint32_t)raw;
	ring_put(d, dsz, head + sizeof(eh), &raw32, sizeof(raw32));
	ring_put(d, dsz, head + sizeof(eh) + sizeof(raw32), data, size);
	/* The pad is skipped, not written (__output_skip() in perf_output_sample()). */
	head += rec;
	/* Pairs with the consumer's smp_load_acquire(data_head) (libbpf ring_buffer_read_head). */
	atomic_store_explicit((_Atomic uint64_t *)&u->data_head, head, memory_order_release);
	/* perf_output_sample()/perf_output_begin(): wakeup_events, else the watermark. */
	if (pp->wakeup_events) {
		if (++pp->events >= pp->wakeup_events) {
			pp->events = 0;
			wake = true;
		}
	}
	if (head - pp->wakeup_head > (pp->watermark && pp->watermark < dsz ? pp->watermark : dsz / 2)) {
		pp->wakeup_head = head;
		wake = true;
	}
	map_lock_release(&pp->lock);
	if (wake)
		ring_wake(r);
	return 0;
}

uint64_t map_perf_ring_lost(const struct map_perf_ring *r)
{
	return priv(r)->lost;
}

int map_perf_ring_set_notify(struct map_perf_ring *r, map_perf_ring_notify_fn fn, void *ctx)
{
	r->notify = fn;
	r->notify_ctx = ctx;
	return 0;
}

uint32_t map_perf_ring_wake_seq(struct map_perf_ring *r)
{
	return atomic_load_explicit(&priv(r)->wake_seq, memory_order_seq_cst);
}

int map_perf_ring_wait(struct map_perf_ring *r, uint32_t seen, int timeout_ms)
{
	struct pr_priv *pp = priv(r);
	struct timespec ts, *tsp = NULL;
	int ret = 0;

	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	atomic_fetch_add_explicit(&pp->waiters, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&pp->wake_seq, memory_order_seq_cst) != seen) {
		ret = 1;
		goto out;
	}
	if (futex(&pp->wake_seq, FUTEX_WAIT, seen, tsp) < 0 && errno == EINTR)
		ret = -EINTR;
	if (ret == 0 && atomic_load_explicit(&pp->wake_seq, memory_order_seq_cst) != seen)
		ret = 1;
out:
	atomic_fetch_sub_explicit(&pp->waiters, 1, memory_order_seq_cst);
	return ret;
}

int map_perf_ring_check_output(const struct map_perf_ring *r, uint32_t cpu)
{
	const struct pr_priv *pp = priv(r);

	/* __bpf_perf_event_output(): only BPF_OUTPUT software events, on this CPU. */
	if (pp->type != PERF_TYPE_SOFTWARE || pp->config != PERF_COUNT_SW_BPF_OUTPUT)
		return -EINVAL;
	if (pp->cpu >= 0 && (uint32_t)pp->cpu != cpu)
		return -EOPNOTSUPP;
	return 0;
}

/* ---- process-local registry: ring id -> ring ---- */

#define PR_REG_CAP 4096u

static struct {
	_Atomic uint32_t id;
	_Atomic(struct map_perf_ring *) ring;
} reg[PR_REG_CAP];
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static map_perf_ring_resolve_fn resolver;
static void *resolver_ctx;

static uint32_t reg_hash(uint32_t id)
{
	return (id * 2654435761u) % PR_REG_CAP;
}

int map_perf_ring_register(struct map_perf_ring *r)
{
	uint32_t id = map_perf_ring_id(r), h = reg_hash(id), i;
	int err = -ENOSPC;

	if (!id)
		return -EINVAL;
	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < PR_REG_CAP; i++, h = (h + 1) % PR_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_relaxed);

		if (cur == id || cur == 0) {
			struct map_perf_ring *old = atomic_load_explicit(&reg[h].ring, memory_order_relaxed);

			/* Ring before id: a reader that sees the id sees the ring (acquire below). */
			atomic_store_explicit(&reg[h].ring, map_perf_ring_get(r), memory_order_release);
			atomic_store_explicit(&reg[h].id, id, memory_order_release);
			map_perf_ring_put(old);
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
	return err;
}

void map_perf_ring_unregister(uint32_t id)
{
	uint32_t h = reg_hash(id), i;

	pthread_mutex_lock(&reg_mu);
	for (i = 0; i < PR_REG_CAP && id; i++, h = (h + 1) % PR_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_relaxed);

		if (cur == 0)
			break;
		if (cur == id) {
			/* The id stays as a tombstone so later probes continue past it. */
			map_perf_ring_put(atomic_exchange(&reg[h].ring, NULL));
			break;
		}
	}
	pthread_mutex_unlock(&reg_mu);
}

void map_perf_ring_set_resolver(map_perf_ring_resolve_fn fn, void *ctx)
{
	pthread_mutex_lock(&reg_mu);
	resolver = fn;
	resolver_ctx = ctx;
	pthread_mutex_unlock(&reg_mu);
}

struct map_perf_ring *map_perf_ring_find(uint32_t id)
{
	uint32_t h = reg_hash(id), i;
	map_perf_ring_resolve_fn fn;
	struct map_perf_ring *r;
	void *ctx;

	for (i = 0; i < PR_REG_CAP && id; i++, h = (h + 1) % PR_REG_CAP) {
		uint32_t cur = atomic_load_explicit(&reg[h].id, memory_order_acquire);

		if (cur == 0)
			break;
		if (cur == id) {
			r = atomic_load_explicit(&reg[h].ring, memory_order_acquire);
			if (r)
				return r;
			break;
		}
	}
	if (!id)
		return NULL;
	pthread_mutex_lock(&reg_mu);
	fn = resolver;
	ctx = resolver_ctx;
	pthread_mutex_unlock(&reg_mu);
	if (!fn || fn(id, &r, ctx) || !r)
		return NULL;
	if (map_perf_ring_id(r) != id || map_perf_ring_register(r)) {
		map_perf_ring_put(r);
		return NULL;
	}
	map_perf_ring_put(r); /* the registry holds it now */
	return r;
}
