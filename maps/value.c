/*
 * value.c - values that embed a struct bpf_spin_lock (BPF_F_LOCK).
 *
 * The kernel copies such values with copy_map_value(), which skips the lock
 * word, and with BPF_F_LOCK takes that lock around the copy
 * (copy_map_value_locked() in kernel/bpf/helpers.c). Where the lock sits comes
 * from BTF, which emul/ parses; maps/ only gets its offset (spin_lock_off).
 *
 * The lock word is our process-shared spinlock (maps/lock.c): 4 bytes, 0 when
 * free, else the owner's pid, so a program's bpf_spin_lock() in one process
 * and a syscall-side BPF_F_LOCK copy in another exclude each other, and a
 * holder killed in between does not wedge the value.
 */
#include "config.h"

#include <string.h>

#include "maps/maps_int.h"

void map_value_lock(struct map *m, void *value)
{
	/* Nothing to repair: the protected bytes are the program's own data. */
	(void)map_lock_acquire((_Atomic uint32_t *)((uint8_t *)value + m->spin_lock_off));
}

void map_value_unlock(struct map *m, void *value)
{
	map_lock_release((_Atomic uint32_t *)((uint8_t *)value + m->spin_lock_off));
}

void map_value_copy_skip_lock(const struct map *m, void *dst, const void *src)
{
	uint32_t off = (uint32_t)m->spin_lock_off;

	memcpy(dst, src, off);
	memcpy((uint8_t *)dst + off + 4, (const uint8_t *)src + off + 4, m->value_size - off - 4);
}

void map_value_copy_out(struct map *m, void *dst, void *src, bool locked)
{
	if (locked)
		map_value_lock(m, src);
	map_value_copy(m, dst, src);
	if (locked)
		map_value_unlock(m, src);
	/* check_and_init_map_value(): the caller sees the lock word as zero. */
	if (m->spin_lock_off >= 0)
		memset((uint8_t *)dst + m->spin_lock_off, 0, 4);
}

void map_value_copy_in(struct map *m, void *dst, const void *src, bool locked)
{
	if (locked)
		map_value_lock(m, dst);
	map_value_copy(m, dst, src);
	if (locked)
		map_value_unlock(m, dst);
}
