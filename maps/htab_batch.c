/*
 * htab_batch.c - BPF_MAP_LOOKUP_BATCH and BPF_MAP_LOOKUP_AND_DELETE_BATCH for
 * the hash family.
 *
 * Mirrors __htab_map_lookup_and_delete_batch() in kernel/bpf/hashtab.c: the
 * batch token is a u32 bucket index; whole buckets are copied (under the
 * bucket lock) or none of a bucket is; a bucket that does not fit in the
 * remaining count ends the call (-ENOSPC if nothing was copied yet); empty
 * buckets are skipped even once count is reached; reaching the last bucket
 * gives -ENOENT. out_batch is the next bucket to visit and count the number
 * of elements copied. Since our hash function differs from the kernel's
 * jhash, which keys share a bucket differs too; the rules above do not.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "maps/htab.h"

static uint32_t chain_count(struct htab *h, struct htab_bucket *b)
{
	uint32_t idx = atomic_load_explicit(&b->head, memory_order_relaxed), n = 0;

	while (!(idx & HTAB_NULLS) && idx < h->pool_cnt && n < h->pool_cnt) {
		n++;
		idx = atomic_load_explicit(&htab_elem_at(h, idx)->next, memory_order_relaxed);
	}
	return n;
}

int htab_lookup_batch(struct map *m, struct map_batch *bt, bool do_delete)
{
	struct htab *h = m->priv;
	uint32_t max_cnt = bt->count, total = 0, batch = 0, vsz = map_sys_value_size(m);
	bool locked = bt->elem_flags & BPF_F_LOCK;
	int ret = 0;

	if ((bt->elem_flags & ~(uint64_t)BPF_F_LOCK) || (locked && m->spin_lock_off < 0))
		return -EINVAL;
	if (bt->flags)
		return -EINVAL;
	if (!max_cnt)
		return 0;
	bt->count = 0;
	if (bt->in_batch)
		memcpy(&batch, bt->in_batch, sizeof(batch));
	if (batch > h->mask)
		return -ENOENT;
	for (;;) {
		struct htab_bucket *b = &h->buckets[batch];
		uint32_t cnt = 0, idx;

		if (!(atomic_load_explicit(&b->head, memory_order_acquire) & HTAB_NULLS)) {
			htab_bucket_lock(h, b);
			cnt = chain_count(h, b);
			if (cnt > max_cnt - total) {
				if (total == 0)
					ret = -ENOSPC;
				htab_bucket_unlock(b);
				break;
			}
			idx = atomic_load_explicit(&b->head, memory_order_relaxed);
			for (uint32_t i = 0; i < cnt; i++) {
				struct htab_elem *e = htab_elem_at(h, idx);
				uint32_t next = atomic_load_explicit(&e->next, memory_order_relaxed);

				memcpy((uint8_t *)bt->keys + (size_t)(total + i) * m->key_size,
				       htab_key(e), m->key_size);
				htab_copy_value_out(m, h, e,
						    (uint8_t *)bt->values + (size_t)(total + i) * vsz,
						    locked);
				/* Each element is the chain's head when its turn comes. */
				if (do_delete)
					htab_unlink_locked(m, h, &b->head, e);
				idx = next;
			}
			htab_bucket_unlock(b);
		}
		total += cnt;
		batch++;
		if (batch > h->mask) {
			ret = -ENOENT;
			break;
		}
	}
	if (bt->out_batch)
		memcpy(bt->out_batch, &batch, sizeof(batch));
	bt->count = total;
	return ret;
}
