/*
 * perf_ring.c - the producer side of a BPF_OUTPUT perf event's ring, as the
 * kernel writes it (kernel/events/ring_buffer.c, perf_output_begin() /
 * perf_output_end(); record layout from include/uapi/linux/perf_event.h).
 *
 * The ring is the event's backing file: page 0 is struct
 * perf_event_mmap_page, data pages follow. The consumer (bpftrace, bcc,
 * libbpf's perf_buffer) maps 1 + 2^n pages and reads records between
 * data_tail (its position) and data_head (ours). The producer must know the
 * data size the consumer mapped; the kernel fixes it at mmap time and
 * stores it in data_size. We learn it from the consumer's mapping of the
 * file (/proc/<pid>/maps) when it enables the event or adds it to an epoll
 * set, and store it in data_size too, where producers in other processes
 * (the agent) read it.
 *
 * A record is struct perf_event_header { PERF_RECORD_SAMPLE, misc 0, size }
 * followed by u32 raw size and the raw bytes, padded so the record is a
 * multiple of 8 bytes (perf_prepare_sample(): raw->size is rounded so that
 * size + sizeof(u32) is 8-aligned). A record that does not fit is dropped,
 * as the kernel counts it lost.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <inttypes.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/maps_ext.h"

int emu_perf_ring_learn_size(struct emu_session *s, struct emu_obj *o, pid_t pid)
{
	struct perf_event_mmap_page *pg;
	char path[64], line[4608], want[64];
	uint64_t data_sz = 0;
	FILE *f;

	if (o->slot->type != EMU_REG_PERF_BPF_OUTPUT)
		return 0;
	/* The consumer mapped the file through one of its link names (lifetime.c): "perf_event.<id>.". */
	snprintf(want, sizeof(want), "/perf_event.%u.", o->id);
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi, off;

		if (!strstr(line, want) || sscanf(line, "%lx-%lx %*s %lx", &lo, &hi, &off) != 3 || off != 0)
			continue;
		if (hi - lo > EMU_PAGE_SZ)
			data_sz = hi - lo - EMU_PAGE_SZ;
	}
	fclose(f);
	if (!data_sz || (data_sz & (data_sz - 1)) || data_sz > (uint64_t)o->slot->u.perf.data_pages * EMU_PAGE_SZ)
		return -ENOENT;
	pg = mmap(NULL, EMU_PAGE_SZ, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	if (pg == MAP_FAILED)
		return -errno;
	pg->data_offset = EMU_PAGE_SZ;
	/* Pairs with the acquire load in emu_perf_ring_output() and in the agent's producer. */
	__atomic_store_n(&pg->data_size, data_sz, __ATOMIC_RELEASE);
	munmap(pg, EMU_PAGE_SZ);
	log_debug("perf event %u: consumer maps %" PRIu64 " data bytes\n", o->id, data_sz);
	return 0;
}

int emu_perf_ring_output(struct emu_obj *o, const void *data, uint32_t size)
{
	struct perf_event_mmap_page *pg;
	size_t map_sz = (size_t)(1 + o->slot->u.perf.data_pages) * EMU_PAGE_SZ;
	uint64_t head, tail, data_sz, rec_sz, raw_sz;
	struct perf_event_header hdr;
	uint8_t *base;
	int err = 0;

	if (o->slot->type != EMU_REG_PERF_BPF_OUTPUT)
		return -EINVAL;
	base = mmap(NULL, map_sz, PROT_READ | PROT_WRITE, MAP_SHARED, o->fd, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	pg = (struct perf_event_mmap_page *)base;
	data_sz = __atomic_load_n(&pg->data_size, __ATOMIC_ACQUIRE);
	if (!data_sz) {
		err = -ENOENT; /* nobody mapped the ring: the kernel has no buffer either */
		goto out;
	}
	raw_sz = ((size + sizeof(uint32_t) + 7) & ~7ull) - sizeof(uint32_t);
	rec_sz = sizeof(hdr) + sizeof(uint32_t) + raw_sz;
	head = __atomic_load_n(&pg->data_head, __ATOMIC_RELAXED);
	/* Pairs with the consumer's store-release of data_tail (libbpf ring_buffer_write_tail()). */
	tail = __atomic_load_n(&pg->data_tail, __ATOMIC_ACQUIRE);
	if (head - tail + rec_sz > data_sz) {
		err = -ENOSPC;
		goto out;
	}
	hdr.type = PERF_RECORD_SAMPLE;
	hdr.misc = 0;
	hdr.size = (uint16_t)rec_sz;
	{
		uint8_t rec[sizeof(hdr) + sizeof(uint32_t) + 65536 + 8];
		uint32_t r32 = (uint32_t)raw_sz;

		if (rec_sz > sizeof(rec)) {
			err = -E2BIG;
			goto out;
		}
		memset(rec, 0, rec_sz);
		memcpy(rec, &hdr, sizeof(hdr));
		memcpy(rec + sizeof(hdr), &r32, sizeof(r32));
		memcpy(rec + sizeof(hdr) + sizeof(r32), data, size);
		for (uint64_t i = 0; i < rec_sz; i++)
			base[EMU_PAGE_SZ + ((head + i) & (data_sz - 1))] = rec[i];
	}
	/* perf_output_put_handle(): publish the record with a release store of data_head. */
	__atomic_store_n(&pg->data_head, head + rec_sz, __ATOMIC_RELEASE);
	/* The kernel's wakeup rule; the futex word wakes an epoll or poll() consumer. */
	map_perf_page_committed(pg, head + rec_sz, data_sz, 1);
out:
	munmap(base, map_sz);
	return err;
}
