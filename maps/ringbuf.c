/*
 * ringbuf.c - BPF_MAP_TYPE_RINGBUF: a multi-producer, single-consumer byte
 * ring that unmodified libbpf (ring_buffer__add/consume/poll) reads by
 * mmapping the map's fd.
 *
 * Mirrors kernel/bpf/ringbuf.c: records with an 8-byte header {u32 len, u32
 * pg_off}, len carrying BPF_RINGBUF_BUSY_BIT while the producer writes and
 * BPF_RINGBUF_DISCARD_BIT for discarded records, data 8-byte aligned,
 * reservation under one lock in position order, commit by an exchange of len
 * (the consumer's smp_load_acquire(len) in libbpf's ringbuf_process_ring()
 * pairs with it), the "producer may not get more than size - 1 bytes ahead of
 * the consumer or of the oldest uncommitted record" rule (pending_pos, since
 * Linux 6.10), and the wakeup rule of bpf_ringbuf_commit().
 *
 * Body layout (file offsets; the consumer maps [0, 4096) RW and
 * [4096, 8192 + 2 * size) RO, exactly libbpf's two mmap calls):
 *
 *   OFFSET            SIZE        DESCRIPTION
 *   0                 8           consumer_pos (u64), written by the consumer only
 *   8                 4088        zero
 *   4096              8           producer_pos (u64), store-release by producers
 *   4104              8           pending_pos (u64): oldest maybe-uncommitted record
 *   4160              4           lock: maps/lock.c spinlock (owner pid), guards
 *                                 producer_pos, pending_pos and record headers
 *                                 between reservation and publication
 *   4224              4           wake_seq: bumped at every wakeup (futex word)
 *   4228              4           waiters: processes sleeping in map_ringbuf_wait()
 *   8192              size        data, records at (pos & (size - 1))
 *   8192 + size       size        second copy of data
 *
 *   type_u64: [0] size (= max_entries, a power-of-two multiple of 4096).
 *
 * The second copy. The kernel maps the data pages twice so a record that
 * runs past the end continues at the start; one shared file cannot alias
 * itself, so the file holds two copies instead. A reserved record's pointer
 * is hdr + 8 in the first copy and the program writes size bytes from there:
 * the part past the end lands in the second copy, which is exactly where a
 * libbpf consumer (who reads records contiguously from the header) reads it.
 * At commit the wrapped part is also copied to the start of the first copy,
 * so a consumer that reads a wrapped record in two pieces sees it too.
 * Headers never wrap (records are 8-byte aligned in a page-multiple ring).
 *
 * Dead producers. The lock is maps/lock.c's: a waiter takes it over from a
 * SIGKILLed holder; nothing needs repair because producer_pos is published
 * last, by one store. A record reserved by a process that then died would,
 * in the kernel's semantics, stay BUSY forever and stall the consumer at it
 * (the kernel never has that problem: programs cannot die mid-record).
 * DIVERGES: while a record is BUSY its pg_off field holds the reserving
 * process's pid (the consumer ignores pg_off; the kernel stores a page
 * offset there, which we write at commit). A reservation that finds the ring
 * blocked only by such a record of a dead pid, and map_ringbuf_reap(), turn
 * it into a discarded record (CAS on len, so a live committer always wins).
 *
 * Finding the ring from a sample. bpf_ringbuf_submit(sample) gets no map;
 * the kernel trusts pg_off to find its ring. Here the data pages are shared
 * with clients, so pg_off cannot be trusted: a process-local registry of
 * mapped rings is searched for the one whose data area holds the pointer.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define RB_BUSY_BIT (1u << 31)    /* BPF_RINGBUF_BUSY_BIT */
#define RB_DISCARD_BIT (1u << 30) /* BPF_RINGBUF_DISCARD_BIT */
#define RB_HDR_SZ 8u              /* BPF_RINGBUF_HDR_SZ */
#define RB_MAX_RECORD_SZ (UINT_MAX / 4) /* RINGBUF_MAX_RECORD_SZ */
/* RINGBUF_MAX_DATA_SZ with RINGBUF_PGOFF = 1: above any u32 max_entries on 64-bit. */
#define RB_MAX_DATA_SZ ((((uint64_t)1 << 24) - 3) * MAP_PAGE_SZ)

struct rb_prod_page {
	_Atomic uint64_t producer_pos;
	_Atomic uint64_t pending_pos;
	uint8_t pad0[48];
	_Atomic uint32_t lock;
	uint8_t pad1[60];
	_Atomic uint32_t wake_seq;
	_Atomic uint32_t waiters;
};
_Static_assert(offsetof(struct rb_prod_page, pending_pos) == 8, "layout");
_Static_assert(offsetof(struct rb_prod_page, lock) == 64, "layout");
_Static_assert(offsetof(struct rb_prod_page, wake_seq) == 128, "layout");
_Static_assert(offsetof(struct rb_prod_page, waiters) == 132, "layout");

struct rb_hdr {
	_Atomic uint32_t len;
	uint32_t pg_off;
};

/* Process-local state of one mapped ring (m->priv). */
struct rb_local {
	map_ringbuf_notify_fn notify;
	void *notify_ctx;
};

static inline _Atomic uint64_t *cons_pos(struct map *m)
{
	return (_Atomic uint64_t *)(m->base + MAP_RINGBUF_CONS_OFF);
}

static inline struct rb_prod_page *prod(struct map *m)
{
	return (struct rb_prod_page *)(m->base + MAP_RINGBUF_PROD_OFF);
}

static inline uint8_t *data(struct map *m)
{
	return m->base + MAP_RINGBUF_DATA_OFF;
}

static inline uint64_t ring_sz(const struct map *m)
{
	return m->tu[0];
}

/*
 * The header at ring position @pos. Positions are multiples of 8 unless a
 * client scribbled on them; rounding down keeps every header access aligned
 * and inside the first copy whatever the shared words say.
 */
static inline struct rb_hdr *rec_at(struct map *m, uint64_t pos)
{
	return (struct rb_hdr *)(data(m) + (pos & (ring_sz(m) - 1) & ~7ull));
}

/* ---- the registry: sample pointer -> ring, process-local ---- */

#define RB_REG_CHUNK 256u
#define RB_REG_CHUNKS 64u

static _Atomic(struct map *) *reg_chunks[RB_REG_CHUNKS];
static _Atomic uint32_t reg_hwm; /* slots [0, hwm) may be in use */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;

static inline _Atomic(struct map *) *reg_slot(uint32_t i)
{
	return &reg_chunks[i / RB_REG_CHUNK][i % RB_REG_CHUNK];
}

static int reg_add(struct map *m)
{
	uint32_t i, hwm;
	int err = 0;

	pthread_mutex_lock(&reg_mu);
	hwm = atomic_load_explicit(&reg_hwm, memory_order_relaxed);
	for (i = 0; i < hwm; i++)
		if (!atomic_load_explicit(reg_slot(i), memory_order_relaxed))
			break;
	if (i == hwm) {
		if (i == RB_REG_CHUNK * RB_REG_CHUNKS) {
			log_warn("ringbuf: more than %u ring buffers mapped in this process\n", i);
			err = -EMFILE;
			goto out;
		}
		if (!reg_chunks[i / RB_REG_CHUNK]) {
			reg_chunks[i / RB_REG_CHUNK] = calloc(RB_REG_CHUNK, sizeof(**reg_chunks));
			if (!reg_chunks[i / RB_REG_CHUNK]) {
				err = -ENOMEM;
				goto out;
			}
		}
	}
	/* Pairs with the load-acquire in reg_find(). */
	atomic_store_explicit(reg_slot(i), m, memory_order_release);
	if (i == hwm)
		atomic_store_explicit(&reg_hwm, hwm + 1, memory_order_release);
out:
	pthread_mutex_unlock(&reg_mu);
	return err;
}

static void reg_del(struct map *m)
{
	uint32_t i, hwm;

	pthread_mutex_lock(&reg_mu);
	hwm = atomic_load_explicit(&reg_hwm, memory_order_relaxed);
	for (i = 0; i < hwm; i++)
		if (atomic_load_explicit(reg_slot(i), memory_order_relaxed) == m)
			atomic_store_explicit(reg_slot(i), NULL, memory_order_relaxed);
	pthread_mutex_unlock(&reg_mu);
}

/*
 * The ring whose data area holds @sample. A caller that has a sample holds
 * (through its program) a reference to the map, so the map cannot go away
 * during the search.
 */
static struct map *reg_find(const void *sample)
{
	uint32_t i, hwm = atomic_load_explicit(&reg_hwm, memory_order_acquire);
	const uint8_t *p = sample;

	for (i = 0; i < hwm; i++) {
		struct map *m = atomic_load_explicit(reg_slot(i), memory_order_acquire);

		if (m && p >= data(m) + RB_HDR_SZ && p < data(m) + ring_sz(m) + RB_HDR_SZ &&
		    ((uintptr_t)p & 7) == 0)
			return m;
	}
	return NULL;
}

/* ---- map ops ---- */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* ringbuf_map_alloc() in kernel/bpf/ringbuf.c. */
static int ringbuf_alloc_check(struct map_params *p)
{
	if (p->map_flags & ~(uint32_t)BPF_F_NUMA_NODE)
		return -EINVAL;
	if (p->key_size || p->value_size || !is_pow2(p->max_entries) ||
	    p->max_entries % MAP_PAGE_SZ)
		return -EINVAL;
	/* RINGBUF_MAX_DATA_SZ (-E2BIG) is above any u32 max_entries on 64-bit. */
	_Static_assert(RB_MAX_DATA_SZ > UINT32_MAX, "RINGBUF_MAX_DATA_SZ");
	return 0;
}

static int ringbuf_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	hdr->type_u64[0] = p->max_entries;
	*body_sz = MAP_RINGBUF_DATA_OFF + 2 * (uint64_t)p->max_entries;
	return 0;
}

static int ringbuf_attach(struct map *m)
{
	struct rb_local *l;
	int err;

	if (m->tu[0] != m->max_entries || !is_pow2(m->tu[0]) || m->tu[0] % MAP_PAGE_SZ ||
	    m->body_sz < MAP_RINGBUF_DATA_OFF + 2 * m->tu[0])
		return -EINVAL;
	/*
	 * Prefault this process's page tables for the positions and data (the
	 * memory is committed already): the kernel's producer never faults on
	 * its vmap, and a minor fault per fresh page would double the cost of
	 * a 128-byte record. Best effort: older kernels lack the advice.
	 */
	(void)madvise(m->base, MAP_RINGBUF_DATA_OFF + 2 * m->tu[0], MADV_POPULATE_WRITE);
	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	m->priv = l;
	err = reg_add(m);
	if (err) {
		free(l);
		m->priv = NULL;
	}
	return err;
}

static void ringbuf_detach(struct map *m)
{
	if (!m->priv)
		return;
	reg_del(m);
	free(m->priv);
	m->priv = NULL;
}

/* The kernel's ringbuf_map_{lookup,update,delete}_elem/get_next_key: all -ENOTSUPP. */
static int ringbuf_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	return -ENOTSUPP;
}

static int ringbuf_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -ENOTSUPP;
}

static int ringbuf_sys_delete(struct map *m, const void *key)
{
	return -ENOTSUPP;
}

static int ringbuf_get_next_key(struct map *m, const void *key, void *next_key)
{
	return -ENOTSUPP;
}

/* No batch ops in ringbuf_map_ops: BPF_DO_BATCH gives -ENOTSUPP. */
static int ringbuf_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	b->count = 0;
	return -ENOTSUPP;
}

static long ringbuf_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -ENOTSUPP;
}

static long ringbuf_delete(struct map *m, const void *key)
{
	return -ENOTSUPP;
}

/* ---- wakeups ---- */

static long futex(_Atomic uint32_t *uaddr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, uaddr, op, val, ts, NULL, 0);
}

static void ringbuf_wake(struct map *m)
{
	struct rb_prod_page *pp = prod(m);
	struct rb_local *l = m->priv;

	/*
	 * Dekker with map_ringbuf_wait(): bump the sequence, then look for
	 * sleepers; the sleeper registers, then re-reads the sequence. Both
	 * seq_cst, so one of them sees the other.
	 */
	atomic_fetch_add_explicit(&pp->wake_seq, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&pp->waiters, memory_order_seq_cst))
		futex(&pp->wake_seq, FUTEX_WAKE, INT_MAX, NULL); /* shared: no FUTEX_PRIVATE_FLAG */
	if (l && l->notify)
		l->notify(m, l->notify_ctx);
}

/* ---- producer side ---- */

static uint32_t rec_total(uint32_t hdr_len)
{
	/* round_up((len & ~DISCARD) + HDR, 8), as the pending_pos walk in __bpf_ringbuf_reserve(). */
	return map_round8((hdr_len & ~(RB_BUSY_BIT | RB_DISCARD_BIT)) + RB_HDR_SZ);
}

/* Turn a BUSY record of a dead producer into a discarded one. Returns true if it did. */
static bool reap_record(struct rb_hdr *h)
{
	uint32_t len = atomic_load_explicit(&h->len, memory_order_acquire);
	uint32_t pid = __atomic_load_n(&h->pg_off, __ATOMIC_RELAXED);

	if (!(len & RB_BUSY_BIT) || !map_lock_owner_dead(pid))
		return false;
	/* A live committer's exchange wins over this CAS; a dead one never comes. */
	return atomic_compare_exchange_strong_explicit(
		&h->len, &len, (len & ~RB_BUSY_BIT) | RB_DISCARD_BIT, memory_order_release,
		memory_order_relaxed);
}

void *map_ringbuf_reserve(struct map *m, uint64_t size, uint64_t flags)
{
	struct rb_prod_page *pp;
	uint64_t cons, pend, prod_pos, new_prod, mask;
	struct rb_hdr *h;
	uint32_t len;
	int tries = 0;

	/* bpf_ringbuf_reserve(): any flag makes it fail. */
	if (flags || m->map_type != BPF_MAP_TYPE_RINGBUF)
		return NULL;
	if (size > RB_MAX_RECORD_SZ)
		return NULL;
	len = map_round8((uint32_t)size + RB_HDR_SZ);
	if (len > ring_sz(m))
		return NULL;
	pp = prod(m);
	mask = ring_sz(m) - 1;
retry:
	/* Pairs with the consumer's store-release of consumer_pos (libbpf ringbuf_process_ring). */
	cons = atomic_load_explicit(cons_pos(m), memory_order_acquire);
	(void)map_lock_acquire(&pp->lock); /* nothing to repair: see the file comment */
	pend = atomic_load_explicit(&pp->pending_pos, memory_order_relaxed);
	prod_pos = atomic_load_explicit(&pp->producer_pos, memory_order_relaxed);
	new_prod = prod_pos + len;
	/* Step over committed records at the pending position. */
	while (pend < prod_pos) {
		uint32_t hl, t;

		h = rec_at(m, pend);
		hl = atomic_load_explicit(&h->len, memory_order_acquire);
		if (hl & RB_BUSY_BIT)
			break;
		t = rec_total(hl);
		/* A header scribbled on by a client must not push pending_pos past producer_pos. */
		if (t > prod_pos - pend)
			t = (uint32_t)(prod_pos - pend);
		pend += t;
	}
	atomic_store_explicit(&pp->pending_pos, pend, memory_order_relaxed);
	if (new_prod - cons > mask || new_prod - pend > mask) {
		/* The pending walk stopped at a BUSY record, which then blocks the consumer too. */
		bool busy_at_pend = pend < prod_pos;

		map_lock_release(&pp->lock);
		/* Blocked behind an uncommitted record: maybe its producer died (file comment). */
		if (busy_at_pend && tries++ < 64 &&
		    reap_record(rec_at(m, pend))) {
			ringbuf_wake(m);
			goto retry;
		}
		return NULL;
	}
	h = rec_at(m, prod_pos);
	atomic_store_explicit(&h->len, (uint32_t)size | RB_BUSY_BIT, memory_order_relaxed);
	h->pg_off = map_lock_self();
	/* Pairs with the consumer's smp_load_acquire(producer_pos). */
	atomic_store_explicit(&pp->producer_pos, new_prod, memory_order_release);
	map_lock_release(&pp->lock);
	return (uint8_t *)h + RB_HDR_SZ;
}

static void ringbuf_commit(void *sample, uint64_t flags, bool discard)
{
	struct map *m = reg_find(sample);
	struct rb_hdr *h;
	uint64_t rec_off, end, sz, cons;
	uint32_t len, new_len;

	if (!m) {
		log_warn("ringbuf: submit/discard of %p, which is no reserved sample\n", sample);
		return;
	}
	sz = ring_sz(m);
	h = (struct rb_hdr *)((uint8_t *)sample - RB_HDR_SZ);
	rec_off = (uint8_t *)h - data(m);
	len = atomic_load_explicit(&h->len, memory_order_relaxed);
	if (!(len & RB_BUSY_BIT)) {
		log_warn("ringbuf: record at %llu committed twice\n", (unsigned long long)rec_off);
		return;
	}
	new_len = len & ~(RB_BUSY_BIT | RB_DISCARD_BIT);
	/* Mirror the part that ran into the second copy to the start of the first. */
	end = rec_off + RB_HDR_SZ + new_len;
	if (!discard && end > sz && end <= 2 * sz)
		memcpy(data(m), data(m) + sz, end - sz);
	/* What the kernel stores (minus its RINGBUF_PGOFF non-mmapable pages): no consumer reads it. */
	h->pg_off = (uint32_t)((MAP_RINGBUF_DATA_OFF + rec_off) / MAP_PAGE_SZ);
	if (discard)
		new_len |= RB_DISCARD_BIT;
	/*
	 * A full barrier like the kernel's xchg(): the record's bytes become
	 * visible before len (pairs with smp_load_acquire(len_ptr) in libbpf's
	 * ringbuf_process_ring()), and the consumer_pos load below cannot move
	 * before the store (else a wakeup could be lost).
	 */
	atomic_exchange_explicit(&h->len, new_len, memory_order_seq_cst);
	cons = atomic_load_explicit(cons_pos(m), memory_order_acquire) & (sz - 1);
	if (flags & BPF_RB_FORCE_WAKEUP)
		ringbuf_wake(m);
	else if (cons == rec_off && !(flags & BPF_RB_NO_WAKEUP))
		ringbuf_wake(m);
}

void map_ringbuf_submit(void *sample, uint64_t flags)
{
	ringbuf_commit(sample, flags, false);
}

void map_ringbuf_discard(void *sample, uint64_t flags)
{
	ringbuf_commit(sample, flags, true);
}

long map_ringbuf_output(struct map *m, const void *src, uint64_t size, uint64_t flags)
{
	void *rec;

	if (flags & ~(uint64_t)(BPF_RB_NO_WAKEUP | BPF_RB_FORCE_WAKEUP))
		return -EINVAL;
	rec = map_ringbuf_reserve(m, size, 0);
	if (!rec)
		return -EAGAIN;
	memcpy(rec, src, size);
	ringbuf_commit(rec, flags, false);
	return 0;
}

uint64_t map_ringbuf_query(struct map *m, uint64_t flags)
{
	if (m->map_type != BPF_MAP_TYPE_RINGBUF)
		return 0;
	switch (flags) {
	case BPF_RB_AVAIL_DATA:
		return map_ringbuf_avail(m);
	case BPF_RB_RING_SIZE:
		return ring_sz(m);
	case BPF_RB_CONS_POS:
		return atomic_load_explicit(cons_pos(m), memory_order_acquire);
	case BPF_RB_PROD_POS:
		return atomic_load_explicit(&prod(m)->producer_pos, memory_order_acquire);
	default:
		return 0;
	}
}

/* ---- consumer-facing hooks ---- */

uint64_t map_ringbuf_avail(struct map *m)
{
	/* ringbuf_avail_data_sz(). */
	uint64_t c = atomic_load_explicit(cons_pos(m), memory_order_acquire);
	uint64_t p = atomic_load_explicit(&prod(m)->producer_pos, memory_order_acquire);

	return p - c;
}

uint8_t *map_ringbuf_data_area(struct map *m)
{
	return m->map_type == BPF_MAP_TYPE_RINGBUF ? data(m) : NULL;
}

int map_ringbuf_set_notify(struct map *m, map_ringbuf_notify_fn fn, void *ctx)
{
	struct rb_local *l = m->priv;

	if (m->map_type != BPF_MAP_TYPE_RINGBUF || !l)
		return -EINVAL;
	l->notify = fn;
	l->notify_ctx = ctx;
	return 0;
}

uint32_t map_ringbuf_wake_seq(struct map *m)
{
	if (m->map_type != BPF_MAP_TYPE_RINGBUF)
		return 0;
	return atomic_load_explicit(&prod(m)->wake_seq, memory_order_seq_cst);
}

int map_ringbuf_wait(struct map *m, uint32_t seen, int timeout_ms)
{
	struct rb_prod_page *pp;
	struct timespec ts, *tsp = NULL;
	int ret = 0;

	if (m->map_type != BPF_MAP_TYPE_RINGBUF)
		return -EINVAL;
	pp = prod(m);
	if (timeout_ms >= 0) {
		ts.tv_sec = timeout_ms / 1000;
		ts.tv_nsec = (long)(timeout_ms % 1000) * 1000000L;
		tsp = &ts;
	}
	/* Pairs with the seq_cst pair in ringbuf_wake(). */
	atomic_fetch_add_explicit(&pp->waiters, 1, memory_order_seq_cst);
	if (atomic_load_explicit(&pp->wake_seq, memory_order_seq_cst) != seen ||
	    map_ringbuf_avail(m)) {
		ret = 1;
		goto out;
	}
	if (futex(&pp->wake_seq, FUTEX_WAIT, seen, tsp) < 0) {
		if (errno == EINTR)
			ret = -EINTR;
		else if (errno == EAGAIN)
			ret = 1;
	}
	if (ret == 0 && (atomic_load_explicit(&pp->wake_seq, memory_order_seq_cst) != seen ||
			 map_ringbuf_avail(m)))
		ret = 1;
out:
	atomic_fetch_sub_explicit(&pp->waiters, 1, memory_order_seq_cst);
	return ret;
}

int map_ringbuf_reap(struct map *m)
{
	uint64_t c, p, pos;
	int n = 0;

	if (m->map_type != BPF_MAP_TYPE_RINGBUF)
		return -EINVAL;
	c = atomic_load_explicit(cons_pos(m), memory_order_acquire);
	p = atomic_load_explicit(&prod(m)->producer_pos, memory_order_acquire);
	/* A consumer_pos written by a client may be anything: walk at most one ring. */
	if (p - c > ring_sz(m))
		c = p - ring_sz(m);
	for (pos = c; pos < p;) {
		struct rb_hdr *h = rec_at(m, pos);
		uint32_t hl = atomic_load_explicit(&h->len, memory_order_acquire);

		if ((hl & RB_BUSY_BIT) && reap_record(h))
			n++;
		pos += rec_total(hl);
	}
	if (n)
		ringbuf_wake(m);
	return n;
}

const struct map_ops map_ringbuf_ops = {
	.name = "ringbuf",
	.alloc_check = ringbuf_alloc_check,
	.layout = ringbuf_layout,
	.attach = ringbuf_attach,
	.detach = ringbuf_detach,
	.sys_lookup = ringbuf_sys_lookup,
	.sys_update = ringbuf_sys_update,
	.sys_delete = ringbuf_sys_delete,
	.get_next_key = ringbuf_get_next_key,
	.lookup_batch = ringbuf_lookup_batch,
	.update = ringbuf_update,
	.delete = ringbuf_delete,
};
