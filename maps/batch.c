/*
 * batch.c - the generic batch commands, for types whose batch token is a key
 * (arrays), and the update/delete batches every type shares.
 *
 * Mirrors generic_map_lookup_batch(), generic_map_update_batch() and
 * generic_map_delete_batch() in kernel/bpf/syscall.c:
 *  - elem_flags may only hold BPF_F_LOCK (-EINVAL otherwise, or without a spin lock);
 *  - count 0 is a no-op returning 0;
 *  - lookup walks get_next_key from in_batch (NULL: the start), copies up to
 *    count elements, returns -ENOENT when the walk ends, and writes the last
 *    key visited to out_batch when at least one element was copied;
 *  - update and delete stop at the first failing element; count says how many
 *    succeeded. Update uses BPF_ANY (plus BPF_F_LOCK from elem_flags).
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "maps/maps_int.h"

/* MAP_LOOKUP_RETRIES in syscall.c: an element deleted between next_key and lookup. */
#define BATCH_LOOKUP_RETRIES 3

static int elem_flags_check(struct map *m, uint64_t elem_flags)
{
	if (elem_flags & ~(uint64_t)BPF_F_LOCK)
		return -EINVAL;
	if ((elem_flags & BPF_F_LOCK) && m->spin_lock_off < 0)
		return -EINVAL;
	return 0;
}

int map_batch_generic_lookup(struct map *m, struct map_batch *b)
{
	uint32_t max_cnt = b->count, cp = 0, vsz = map_sys_value_size(m);
	int retry = BATCH_LOOKUP_RETRIES, err;
	uint8_t *prev, *key, *bufs, *tmp;
	bool have_prev;

	err = elem_flags_check(m, b->elem_flags);
	if (err)
		return err;
	if (!max_cnt)
		return 0;
	b->count = 0;
	bufs = malloc(2 * (size_t)m->key_size);
	if (!bufs)
		return -ENOMEM;
	prev = bufs;
	key = bufs + m->key_size;
	have_prev = b->in_batch != NULL;
	if (have_prev)
		memcpy(prev, b->in_batch, m->key_size);
	while (cp < max_cnt) {
		err = m->ops->get_next_key(m, have_prev ? prev : NULL, key);
		if (err)
			break;
		err = m->ops->sys_lookup(m, key, (uint8_t *)b->values + (size_t)cp * vsz,
					 b->elem_flags);
		if (err == -ENOENT) {
			if (retry) {
				retry--;
				continue;
			}
			err = -EINTR;
			break;
		}
		if (err)
			break;
		memcpy((uint8_t *)b->keys + (size_t)cp * m->key_size, key, m->key_size);
		tmp = prev;
		prev = key;
		key = tmp;
		have_prev = true;
		retry = BATCH_LOOKUP_RETRIES;
		cp++;
	}
	b->count = cp;
	if (cp && b->out_batch)
		memcpy(b->out_batch, prev, m->key_size);
	free(bufs);
	return err;
}

int map_batch_generic_update(struct map *m, struct map_batch *b)
{
	uint32_t cnt = b->count, cp, vsz = map_sys_value_size(m);
	int err = 0;

	err = elem_flags_check(m, b->elem_flags);
	if (err)
		return err;
	if (!cnt)
		return 0;
	for (cp = 0; cp < cnt; cp++) {
		err = map_sys_update_elem(m, (uint8_t *)b->keys + (size_t)cp * m->key_size,
					  (uint8_t *)b->values + (size_t)cp * vsz, b->elem_flags);
		if (err)
			break;
	}
	b->count = cp;
	return err;
}

int map_batch_generic_delete(struct map *m, struct map_batch *b)
{
	uint32_t cnt = b->count, cp;
	int err = 0;

	err = elem_flags_check(m, b->elem_flags);
	if (err)
		return err;
	if (!cnt)
		return 0;
	for (cp = 0; cp < cnt; cp++) {
		err = m->ops->sys_delete(m, (uint8_t *)b->keys + (size_t)cp * m->key_size);
		if (err)
			break;
	}
	b->count = cp;
	return err;
}
