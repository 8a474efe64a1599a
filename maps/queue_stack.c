/*
 * queue_stack.c - BPF_MAP_TYPE_QUEUE (FIFO) and BPF_MAP_TYPE_STACK (LIFO).
 *
 * Mirrors kernel/bpf/queue_stack_maps.c: no keys (key_size 0), a ring of
 * max_entries + 1 value slots with head (next push) and tail (oldest),
 * empty when head == tail, full when head + 1 == tail; push with BPF_EXIST
 * overwrites the oldest element when full, else a full map gives -E2BIG;
 * peek/pop of an empty map zero the value and give -ENOENT. From the
 * syscall side LOOKUP is peek, UPDATE is push, LOOKUP_AND_DELETE is pop
 * (syscall.c), DELETE and GET_NEXT_KEY are -EINVAL.
 *
 * Body layout:
 *
 *   OFFSET  SIZE                          DESCRIPTION
 *   0       4                             lock: maps/lock.c spinlock over head,
 *                                         tail and the slots
 *   4       4                             head: slot the next push writes (< size)
 *   8       4                             tail: oldest slot (< size)
 *   64      (max_entries + 1) * value_size  slots
 *
 *   type_u64: [0] size = max_entries + 1.
 *
 * Every update of head/tail is one store, made after the slot it covers is
 * written, so a holder killed mid-operation leaves a consistent ring (at
 * worst a push that overwrote the oldest element lost it without adding
 * the new one); the lock's dead-owner takeover needs no repair. head and
 * tail are re-validated on every use, since clients can write the file.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define QS_SLOTS_OFF 64u
/* QUEUE_STACK_CREATE_FLAG_MASK. */
#define QS_CREATE_FLAG_MASK (BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK)

struct qs_ctl {
	_Atomic uint32_t lock;
	uint32_t head;
	uint32_t tail;
};

static inline struct qs_ctl *ctl(struct map *m)
{
	return (struct qs_ctl *)m->base;
}

static inline uint32_t qs_size(const struct map *m)
{
	return (uint32_t)m->tu[0];
}

static inline uint8_t *slot(struct map *m, uint32_t i)
{
	return m->base + QS_SLOTS_OFF + (uint64_t)i * m->value_size;
}

/* bpf_map_flags_access_ok(). */
static bool flags_access_ok(uint32_t flags)
{
	return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
	       (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

/* queue_stack_map_alloc_check(). */
static int qs_alloc_check(struct map_params *p)
{
	if (p->max_entries == 0 || p->key_size != 0 || p->value_size == 0 ||
	    (p->map_flags & ~QS_CREATE_FLAG_MASK) || !flags_access_ok(p->map_flags))
		return -EINVAL;
	if (p->value_size > MAP_KMALLOC_MAX_SIZE)
		return -E2BIG;
	return 0;
}

static int qs_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint64_t size = (uint64_t)p->max_entries + 1;

	/* The kernel's bpf_map_area_alloc of such a size fails. */
	if (size * p->value_size > ((uint64_t)1 << 40))
		return -ENOMEM;
	hdr->type_u64[0] = size;
	*body_sz = QS_SLOTS_OFF + size * p->value_size;
	return 0;
}

static int qs_attach(struct map *m)
{
	if (m->tu[0] != (uint64_t)m->max_entries + 1 ||
	    QS_SLOTS_OFF + m->tu[0] * m->value_size > m->body_sz)
		return -EINVAL;
	return 0;
}

/* Indexes from the shared file, forced in range (a client may have scribbled on them). */
static void load_idx(struct map *m, uint32_t *head, uint32_t *tail)
{
	*head = ctl(m)->head % qs_size(m);
	*tail = ctl(m)->tail % qs_size(m);
}

static long qs_get(struct map *m, void *value, bool delete)
{
	bool stack = m->map_type == BPF_MAP_TYPE_STACK;
	uint32_t head, tail, idx;

	(void)map_lock_acquire(&ctl(m)->lock);
	load_idx(m, &head, &tail);
	if (head == tail) {
		map_lock_release(&ctl(m)->lock);
		memset(value, 0, m->value_size);
		return -ENOENT;
	}
	if (stack) {
		/* __stack_map_get(): the newest, just below head. */
		idx = head ? head - 1 : qs_size(m) - 1;
		memcpy(value, slot(m, idx), m->value_size);
		if (delete)
			ctl(m)->head = idx;
	} else {
		/* __queue_map_get(): the oldest, at tail. */
		memcpy(value, slot(m, tail), m->value_size);
		if (delete)
			ctl(m)->tail = tail + 1 >= qs_size(m) ? 0 : tail + 1;
	}
	map_lock_release(&ctl(m)->lock);
	return 0;
}

static long qs_peek(struct map *m, void *value)
{
	return qs_get(m, value, false);
}

static long qs_pop(struct map *m, void *value)
{
	return qs_get(m, value, true);
}

/* queue_stack_map_push_elem(). */
static long qs_push(struct map *m, const void *value, uint64_t flags)
{
	uint32_t head, tail, next;

	if ((flags & BPF_NOEXIST) || flags > BPF_EXIST)
		return -EINVAL;
	(void)map_lock_acquire(&ctl(m)->lock);
	load_idx(m, &head, &tail);
	next = head + 1 >= qs_size(m) ? 0 : head + 1;
	if (next == tail) {
		if (!(flags & BPF_EXIST)) {
			map_lock_release(&ctl(m)->lock);
			return -E2BIG;
		}
		/* BPF_EXIST makes room by dropping the oldest element. */
		tail = tail + 1 >= qs_size(m) ? 0 : tail + 1;
		ctl(m)->tail = tail;
	}
	memcpy(slot(m, head), value, m->value_size);
	ctl(m)->head = next;
	map_lock_release(&ctl(m)->lock);
	return 0;
}

static int qs_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	return (int)qs_peek(m, value);
}

static int qs_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return (int)qs_push(m, value, flags);
}

static int qs_sys_lookup_and_delete(struct map *m, const void *key, void *value, uint64_t flags)
{
	return (int)qs_pop(m, value);
}

/* queue_stack_map_{update,delete}_elem / get_next_key: -EINVAL; lookup_elem: NULL. */
static int qs_sys_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

static int qs_get_next_key(struct map *m, const void *key, void *next_key)
{
	return -EINVAL;
}

static long qs_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return -EINVAL;
}

static long qs_delete(struct map *m, const void *key)
{
	return -EINVAL;
}

static void *qs_lookup(struct map *m, const void *key)
{
	return NULL;
}

/* No batch ops in queue_map_ops/stack_map_ops: BPF_DO_BATCH gives -ENOTSUPP. */
static int qs_lookup_batch(struct map *m, struct map_batch *b, bool do_delete)
{
	b->count = 0;
	return -ENOTSUPP;
}

#define QS_OPS(nm)                                                                             \
	{                                                                                      \
		.name = nm, .alloc_check = qs_alloc_check, .layout = qs_layout,                \
		.attach = qs_attach, .sys_lookup = qs_sys_lookup, .sys_update = qs_sys_update, \
		.sys_delete = qs_sys_delete,                                                   \
		.sys_lookup_and_delete = qs_sys_lookup_and_delete,                             \
		.get_next_key = qs_get_next_key, .lookup_batch = qs_lookup_batch,              \
		.has_lookup_and_delete = true, .lookup = qs_lookup, .update = qs_update,       \
		.delete = qs_delete, .push = qs_push, .pop = qs_pop, .peek = qs_peek,          \
	}

const struct map_ops map_queue_ops = QS_OPS("queue");
const struct map_ops map_stack_ops = QS_OPS("stack");
