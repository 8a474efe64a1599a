/*
 * agent_perf.c - the producer side of BPF output perf rings, in the traced
 * process (bpf_perf_event_output() from a program run by the agent).
 *
 * The ring is the perf event's backing file <session>/obj/perf_event-<id>
 * (emul/perf_event.c): page 0 is struct perf_event_mmap_page, the data pages
 * follow. The consumer (bpftrace, bcc, libbpf's perf_buffer) has mapped it
 * and the supervisor has stored the data size it mapped in data_size
 * (emul/perf_ring.c). Records are written as kernel/events/ring_buffer.c
 * writes them: struct perf_event_header {PERF_RECORD_SAMPLE, 0, size}, u32
 * raw size, raw bytes padded so the record is 8-byte aligned
 * (perf_prepare_sample()), then data_head is published with a release store
 * (perf_output_put_handle()).
 *
 * One producer per ring at a time: a program writes the ring of the CPU slot
 * whose run lock it holds (hooks/agent_proto.h), as a kernel CPU writes only
 * its own ring. A record that does not fit is counted, and the count is
 * reported before the next record that fits as PERF_RECORD_LOST {id, lost},
 * as perf_output_begin() does; the pending count lives in the page's
 * reserved area (which consumers never read), so every producer process
 * sees it.
 *
 * Wake-ups follow the kernel's rule (wakeup_events / watermark, kept in the
 * page by emul/perf_event.c): map_perf_page_committed() bumps a futex word
 * in the page and makes the FUTEX_WAKE syscall only if someone sleeps on it
 * (the supervisor's ring waker for an epoll consumer, emul/ring_wake.c, or
 * a consumer's poll(), hooks/agent_poll.c). Nobody waiting: no syscall.
 *
 * DIVERGES: an explicit index in flags other than the run's CPU slot may
 * race with that slot's producer; bpftrace, bcc and libbpf use
 * BPF_F_CURRENT_CPU.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "maps/maps_ext.h"

#define PAGE_SZ 4096u
#define LOST_OFF AGENT_PERF_LOST_OFF

_Static_assert(MAP_PERF_PG_EVENTS_OFF + 4 <= LOST_OFF && LOST_OFF + 8 <= MAP_PERF_PG_WAKE_SEQ_OFF,
	       "lost counter inside __reserved, clear of the wake-up words (maps/maps_ext.h)");

struct ring {
	struct ring *next;
	uint32_t id;
	uint8_t *base;
	size_t map_sz;
};

/*
 * Ring handles come from a static pool, not malloc(): a syscall tracepoint
 * program may run inside malloc (its mmap or brk) and output from there.
 */
#define RING_POOL_CNT 1024
static struct ring ring_pool[RING_POOL_CNT];
static unsigned int ring_pool_used;
static struct ring *rings;
static pthread_mutex_t rings_lock = PTHREAD_MUTEX_INITIALIZER;

static int ring_open(uint32_t id, struct ring **out)
{
	char path[4096];
	_cleanup_close_ int fd = -1;
	struct ring *r;
	struct stat st;
	void *p;

	snprintf(path, sizeof(path), "%s/obj/perf_event-%u", agent_sess.dir, id);
	fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (st.st_size < 2 * PAGE_SZ)
		return -EINVAL;
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		return -errno;
	if (ring_pool_used == RING_POOL_CNT) {
		munmap(p, (size_t)st.st_size);
		return -ENOMEM;
	}
	r = &ring_pool[ring_pool_used++];
	r->id = id;
	r->base = p;
	r->map_sz = (size_t)st.st_size;
	*out = r;
	return 0;
}

static int ring_get(uint32_t id, struct ring **out)
{
	struct ring *r;
	int err = 0;

	/* Rings are never removed from the list: a lock-free read is safe. */
	for (r = __atomic_load_n(&rings, __ATOMIC_ACQUIRE); r; r = r->next)
		if (r->id == id) {
			*out = r;
			return 0;
		}
	pthread_mutex_lock(&rings_lock);
	for (r = rings; r; r = r->next)
		if (r->id == id)
			break;
	if (!r) {
		err = ring_open(id, &r);
		if (!err) {
			r->next = rings;
			__atomic_store_n(&rings, r, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&rings_lock);
	if (!err)
		*out = r;
	return err;
}

static void ring_copy(struct ring *r, uint64_t data_sz, uint64_t pos, const void *src, size_t len)
{
	uint8_t *data = r->base + PAGE_SZ;
	uint64_t off = pos & (data_sz - 1);
	size_t first = len < data_sz - off ? len : (size_t)(data_sz - off);

	memcpy(data + off, src, first);
	memcpy(data, (const uint8_t *)src + first, len - first);
}

int agent_perf_output(uint32_t perf_id, const void *data, uint32_t size)
{
	struct perf_event_mmap_page *pg;
	uint64_t head, tail, data_sz, rec_sz, *lost;
	uint32_t raw_sz;
	struct ring *r;
	int err;

	err = ring_get(perf_id, &r);
	if (err)
		return -ENOENT;
	pg = (struct perf_event_mmap_page *)r->base;
	lost = (uint64_t *)((uint8_t *)pg + LOST_OFF);
	/* Pairs with the store-release in emu_perf_ring_learn_size() (emul/perf_ring.c). */
	data_sz = __atomic_load_n(&pg->data_size, __ATOMIC_ACQUIRE);
	if (!data_sz || (data_sz & (data_sz - 1)) || data_sz + PAGE_SZ > r->map_sz)
		return -ENOENT; /* nobody mapped the ring: the kernel has no buffer either */
	raw_sz = (uint32_t)(((size + sizeof(uint32_t) + 7) & ~7ull) - sizeof(uint32_t));
	rec_sz = sizeof(struct perf_event_header) + sizeof(uint32_t) + raw_sz;
	if (rec_sz > 0xffff)
		return -E2BIG;
	head = __atomic_load_n(&pg->data_head, __ATOMIC_RELAXED);
	/* Pairs with the consumer's store-release of data_tail (libbpf perf_buffer, bpftrace). */
	tail = __atomic_load_n(&pg->data_tail, __ATOMIC_ACQUIRE);
	if (*lost) {
		struct {
			struct perf_event_header hdr;
			uint64_t id;
			uint64_t lost;
		} rec = { { PERF_RECORD_LOST, 0, sizeof(rec) }, perf_id, *lost };

		if (head - tail + sizeof(rec) + rec_sz > data_sz) {
			(*lost)++;
			return -ENOSPC;
		}
		ring_copy(r, data_sz, head, &rec, sizeof(rec));
		head += sizeof(rec);
		*lost = 0;
	} else if (head - tail + rec_sz > data_sz) {
		(*lost)++;
		return -ENOSPC;
	}
	{
		struct perf_event_header hdr = { PERF_RECORD_SAMPLE, 0, (uint16_t)rec_sz };
		uint8_t pad[8] = { 0 };

		ring_copy(r, data_sz, head, &hdr, sizeof(hdr));
		ring_copy(r, data_sz, head + sizeof(hdr), &raw_sz, sizeof(raw_sz));
		ring_copy(r, data_sz, head + sizeof(hdr) + sizeof(raw_sz), data, size);
		ring_copy(r, data_sz, head + sizeof(hdr) + sizeof(raw_sz) + size, pad, raw_sz - size);
	}
	/* perf_output_put_handle(): pairs with the consumer's load-acquire of data_head. */
	__atomic_store_n(&pg->data_head, head + rec_sz, __ATOMIC_RELEASE);
	map_perf_page_committed(pg, head + rec_sz, data_sz, 1);
	return 0;
}
