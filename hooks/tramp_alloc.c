/*
 * tramp_alloc.c - find a page for a site's trampoline within reach of a
 * `jmp rel32` from the site (±2 GiB), as close to it as the address space
 * allows.
 *
 * We read the gaps between mappings from /proc/self/maps, pick the free page
 * nearest to the site whose whole range [lo, hi] of required targets stays
 * within rel32 reach, and map it with MAP_FIXED_NOREPLACE (Linux 4.17), so a
 * concurrent mmap() by another thread of the host cannot be clobbered: if it
 * took the gap first we get EEXIST and look again. The page comes back
 * read+write; the caller writes it and makes it read+exec (never both).
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks_int.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000 /* Linux 4.17 */
#endif

#define REACH ((uint64_t)INT32_MAX - 2 * HOOK_SLOT_SZ)
#define LOW_LIMIT 0x10000ULL		/* above vm.mmap_min_addr's default */
#define HIGH_LIMIT 0x7ffffffff000ULL	/* top of the 47-bit user address space */

struct gap_arg {
	uint64_t addr, lo, hi;
	uint64_t prev_end;
	uint64_t best;
	uint64_t best_dist;
};

static uint64_t dist(uint64_t x, uint64_t y)
{
	return x > y ? x - y : y - x;
}

/* |x - y| is convex: checking the corners of [lo, hi] x [page, end] suffices. */
static bool reachable(uint64_t page, uint64_t lo, uint64_t hi)
{
	uint64_t end = page + HOOK_SLOT_SZ;

	return dist(lo, page) <= REACH && dist(lo, end) <= REACH && dist(hi, page) <= REACH &&
	       dist(hi, end) <= REACH;
}

static void consider(struct gap_arg *a, uint64_t gs, uint64_t ge)
{
	uint64_t cand, d;

	if (gs < LOW_LIMIT)
		gs = LOW_LIMIT;
	if (ge > HIGH_LIMIT)
		ge = HIGH_LIMIT;
	if (ge <= gs || ge - gs < HOOK_SLOT_SZ)
		return;
	/* The page of the gap nearest to the site. */
	if (ge <= a->addr)
		cand = ge - HOOK_SLOT_SZ;
	else if (gs >= a->addr)
		cand = gs;
	else
		cand = a->addr & ~(uint64_t)(HOOK_SLOT_SZ - 1);
	d = dist(cand, a->addr);
	if (d < a->best_dist && reachable(cand, a->lo, a->hi)) {
		a->best = cand;
		a->best_dist = d;
	}
}

static int gap_cb(const struct hook_maps_ent *e, void *arg)
{
	struct gap_arg *a = arg;

	consider(a, a->prev_end, e->start);
	a->prev_end = e->end;
	return 0;
}

/*
 * Map one read+write page within rel32 reach of every address in [@lo, @hi]
 * (which contains @addr), nearest @addr. On success *out is the page; the
 * caller owns it (munmap on failure, mprotect to read+exec once written).
 */
int hook_tramp_alloc_near(uint64_t addr, uint64_t lo, uint64_t hi, uint8_t **out)
{
	for (int attempt = 0; attempt < 8; attempt++) {
		struct gap_arg a = { .addr = addr, .lo = lo, .hi = hi, .best_dist = UINT64_MAX };
		void *p;
		int err;

		err = hook_maps_walk(gap_cb, &a);
		if (err)
			return err;
		consider(&a, a.prev_end, HIGH_LIMIT);
		if (a.best_dist == UINT64_MAX) {
			log_debug("hooks: no free page within ±2 GiB of %#llx\n",
				  (unsigned long long)addr);
			return -ERANGE;
		}
		p = mmap((void *)(uintptr_t)a.best, HOOK_SLOT_SZ, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p == MAP_FAILED) {
			if (errno == EEXIST)
				continue; /* somebody took the gap since we read the map */
			err = -errno;
			log_debug("hooks: mmap near %#llx: %s\n", (unsigned long long)addr,
				  strerror(-err));
			return err;
		}
		if ((uintptr_t)p != a.best) {
			/* A kernel older than 4.17 ignored MAP_FIXED_NOREPLACE. */
			munmap(p, HOOK_SLOT_SZ);
			continue;
		}
		*out = p;
		return 0;
	}
	return -EBUSY;
}
