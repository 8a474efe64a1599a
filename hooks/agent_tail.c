/*
 * agent_tail.c - bpf_tail_call() for programs running in this process.
 *
 * A BPF_MAP_TYPE_PROG_ARRAY slot holds a program ID in shared memory
 * (maps/fd_array.c; emul/map_cmds.c turns the loader's prog fd into it).
 * The kernel's slot holds a program pointer, so its tail call is one load
 * and a jump (___bpf_prog_run() in kernel/bpf/core.c). Here, the id must
 * name a program already made runnable in this process: loading one means
 * reading its instructions, asking bpftime-run for its maps over a socket
 * and JIT work, none of which may happen on a probed thread in the middle
 * of a run. So loading is eager, from the registry watcher: after every
 * scan (agent.c), every prog array this process has opened (because a
 * program loaded here uses it) is walked, and each program it names that
 * is not yet runnable here is loaded, until nothing new turns up (a loaded
 * program may use further prog arrays). The supervisor bumps the registry
 * generation on every prog array update or delete and answers the tool
 * only once every agent has rescanned (emu_reg_changed_wait() in
 * emul/registry.c), so "update the slot, then trigger the probe" runs the
 * new program, as with the kernel's xchg of the pointer.
 *
 * The run path (agent_tail_call()) reads the slot with acquire (maps/) and
 * looks the id up in a push-only list published with release stores: no
 * lock, no allocation, no syscall. Entries are never removed, and the
 * programs they name keep their reference for the life of the process.
 * DIVERGES: the kernel drops a program when the last array slot (and fd)
 * naming it goes; we keep a loaded tail-call target until exit (a few KiB
 * per program, and programs are few).
 * DIVERGES: a slot whose program has not been loaded here yet (an update
 * whose ack wait timed out, a load that failed: logged) reads as empty.
 */
#include "hooks/agent_int.h"
#include "hooks/xstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "maps/maps.h"
#include "maps/maps_ext.h"

struct tail_ent {
	struct tail_ent *next; /* immutable once published */
	uint32_t id;
	struct agent_prog *p; /* holds a reference */
};

/* Head of the push-only list: written by the scan (one thread), read by runs (acquire). */
static struct tail_ent *tail_head;
/* Program ids whose load failed: not retried at every scan (the scan's thread only). */
static uint32_t *tail_bad;
static size_t tail_bad_cnt, tail_bad_cap;

static struct tail_ent *tail_find(uint32_t id)
{
	/* Pairs with the store-release in tail_add(). */
	for (struct tail_ent *e = __atomic_load_n(&tail_head, __ATOMIC_ACQUIRE); e; e = e->next)
		if (e->id == id)
			return e;
	return NULL;
}

int agent_tail_call(void *cookie, uint64_t prog_array, uint32_t index, const struct jit_prog **next)
{
	struct map *m = (struct map *)(uintptr_t)prog_array;
	struct tail_ent *e;
	uint32_t id;

	(void)cookie;
	/* The run path is vector-clean and maps/ is not (hooks/xstate.h): save
	 * first, once per hit, as a helper's wrapper would. */
	hook_xstate_save();
	if (!m || map_type(m) != BPF_MAP_TYPE_PROG_ARRAY)
		return -EINVAL;
	/* bpf_tail_call() order: an index past the end does not count toward the limit... */
	if (index >= map_max_entries(m))
		return -E2BIG;
	/* ...an empty slot does. */
	if (map_prog_array_get(m, index, &id))
		return -ENOENT;
	e = tail_find(id);
	if (!e)
		return -ENOENT;
	*next = e->p->jp;
	return 0;
}

static bool tail_bad_has(uint32_t id)
{
	for (size_t i = 0; i < tail_bad_cnt; i++)
		if (tail_bad[i] == id)
			return true;
	return false;
}

static void tail_bad_add(uint32_t id)
{
	if (tail_bad_cnt == tail_bad_cap) {
		size_t cap = tail_bad_cap ? tail_bad_cap * 2 : 16;
		uint32_t *n = realloc(tail_bad, cap * sizeof(*n));

		if (!n)
			return;
		tail_bad = n;
		tail_bad_cap = cap;
	}
	tail_bad[tail_bad_cnt++] = id;
}

/* Load program @id and publish it; 1 when a program was added, 0 or -errno otherwise. */
static int tail_add(uint32_t id)
{
	struct tail_ent *e;
	int err;

	if (tail_find(id) || tail_bad_has(id))
		return 0;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	err = agent_prog_get(id, &e->p);
	if (err) {
		log_warn("prog id %u: named by a prog array, but cannot be loaded here: %s\n", id, strerror(-err));
		tail_bad_add(id);
		free(e);
		return err;
	}
	e->id = id;
	e->next = tail_head;
	/* Pairs with the load-acquire in tail_find(): the program is complete before it shows. */
	__atomic_store_n(&tail_head, e, __ATOMIC_RELEASE);
	log_debug("prog id %u loaded as a tail call target\n", id);
	return 1;
}

struct scan_arg {
	bool added;
};

static void scan_map(struct map *m, void *arg)
{
	struct scan_arg *a = arg;
	uint32_t n;

	if (map_type(m) != BPF_MAP_TYPE_PROG_ARRAY)
		return;
	n = map_max_entries(m);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id;

		if (!map_prog_array_get(m, i, &id) && tail_add(id) > 0)
			a->added = true;
	}
}

void agent_tail_scan(void)
{
	struct scan_arg a;

	/* A newly loaded program may have opened further prog arrays: repeat until stable
	 * (each pass loads at least one program, and ids are finite). */
	do {
		a.added = false;
		agent_maps_each(scan_map, &a);
	} while (a.added);
}
