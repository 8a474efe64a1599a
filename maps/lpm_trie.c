/*
 * lpm_trie.c - BPF_MAP_TYPE_LPM_TRIE: longest-prefix-match lookups on keys
 * struct bpf_lpm_trie_key_u8 { u32 prefixlen; u8 data[key_size - 4]; }.
 *
 * Mirrors kernel/bpf/lpm_trie.c for everything a client can observe:
 * creation rules (BPF_F_NO_PREALLOC required, data 1..256 bytes), lookup =
 * the stored prefix of greatest length <= the key's prefixlen that matches
 * the key's bits (bits counted from the most significant bit of data[0]),
 * update/delete errnos (prefixlen > 8 * data size: -EINVAL; BPF_NOEXIST on
 * an existing prefix -EEXIST; BPF_EXIST on a missing one -ENOENT; a new
 * prefix in a full trie -ENOSPC, replacing one never is), data bytes past
 * prefixlen stored as given and returned by get_next_key, and
 * get_next_key's postorder: more specific prefixes before the prefixes
 * that contain them, and otherwise the prefix whose first differing bit is
 * 0 first (the order trie_get_next_key() walks the kernel's trie in; a
 * missing or NULL key restarts at the first).
 *
 * Not the kernel's structure: the elements are kept in one array of slot
 * references sorted in that postorder, each element knowing its parent
 * (the longest stored prefix containing it). A lookup is one binary search
 * plus a short walk up parents (see lpm_match_len()); get_next_key is the
 * next array entry. Writers insert or remove with a
 * memmove of 4-byte references, under a spinlock and a seqcount that
 * lookups retry on. Values live in fixed slots that never move, so a value
 * pointer a program got stays valid until its element is deleted or
 * replaced (replacing writes a new slot, as the kernel allocates a new node).
 * Workload: tries of thousands to a few hundred thousand prefixes, updated
 * rarely, looked up often.
 *
 * Body layout:
 *
 *   OFFSET     SIZE                       DESCRIPTION
 *   0          64                         struct lpm_ctl: lock, seq, n_entries,
 *                                         free_top, bump (slots never used yet)
 *   64         4 * (max_prefixlen + 1)    number of elements per prefix length
 *   tu[1]      4 * max_entries            index: slot refs (index + 1) in postorder
 *   tu[2]      4 * (max_entries + 1)      free stack of slot refs
 *   tu[3]      slot_sz * (max_entries + 1) slots: u32 prefixlen, u32 parent ref, data,
 *                                         value at tu[5] from the slot start
 *
 *   type_u64: [0] data_size, [1] index off, [2] free off, [3] slots off,
 *             [4] slot_sz, [5] value offset in a slot.
 *
 * One slot more than max_entries exists so a replace in a full trie has
 * somewhere to build the new element. Memory is not committed up front
 * (BPF_F_NO_PREALLOC is mandatory, as in the kernel); pages fault in as
 * slots are first used.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

#include "maps/maps_ext.h"
#include "maps/maps_int.h"

#define LPM_DATA_SIZE_MAX 256u
#define LPM_DATA_SIZE_MIN 1u
#define LPM_KEY_HDR 4u /* offsetof(struct bpf_lpm_trie_key_u8, data) */
/* KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - sizeof(struct lpm_trie_node) (40 on x86_64). */
#define LPM_VAL_SIZE_MAX (MAP_KMALLOC_MAX_SIZE - LPM_DATA_SIZE_MAX - 40u)
#define LPM_CREATE_FLAG_MASK (BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | MAP_F_ACCESS_MASK)
#define LPM_LENS_OFF 64u

struct lpm_ctl {
	_Atomic uint32_t lock; /* maps/lock.c spinlock: writers */
	_Atomic uint32_t seq;  /* odd while the index or counts change */
	uint32_t n_entries;
	uint32_t free_top;
	uint32_t bump;
};

static bool flags_access_ok(uint32_t flags)
{
	return (flags & (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG)) !=
	       (BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG);
}

/* trie_alloc()'s checks. */
static int lpm_alloc_check(struct map_params *p)
{
	if (p->max_entries == 0 || !(p->map_flags & BPF_F_NO_PREALLOC) ||
	    (p->map_flags & ~LPM_CREATE_FLAG_MASK) || !flags_access_ok(p->map_flags) ||
	    p->key_size < LPM_KEY_HDR + LPM_DATA_SIZE_MIN ||
	    p->key_size > LPM_KEY_HDR + LPM_DATA_SIZE_MAX || p->value_size < 1 ||
	    p->value_size > LPM_VAL_SIZE_MAX)
		return -EINVAL;
	return 0;
}

static int lpm_layout(const struct map_params *p, struct map_shm_hdr *hdr, uint64_t *body_sz)
{
	uint64_t ds = p->key_size - LPM_KEY_HDR, n = p->max_entries;
	uint64_t idx_off = (LPM_LENS_OFF + 4 * (ds * 8 + 1) + 7) & ~7ull;
	uint64_t free_off = idx_off + 4 * n;
	uint64_t slot_off = (free_off + 4 * (n + 1) + 63) & ~63ull;
	uint64_t val_off = (8 + ds + 7) & ~7ull;
	uint64_t slot_sz = val_off + map_round8(p->value_size);

	if (slot_sz * (n + 1) > ((uint64_t)1 << 44))
		return -ENOMEM;
	hdr->type_u64[0] = ds;
	hdr->type_u64[1] = idx_off;
	hdr->type_u64[2] = free_off;
	hdr->type_u64[3] = slot_off;
	hdr->type_u64[4] = slot_sz;
	hdr->type_u64[5] = val_off;
	*body_sz = slot_off + slot_sz * (n + 1);
	return 0;
}

static int lpm_attach(struct map *m)
{
	uint64_t ds = m->tu[0], n = m->max_entries;

	if (ds + LPM_KEY_HDR != m->key_size || m->tu[1] < LPM_LENS_OFF + 4 * (ds * 8 + 1) ||
	    m->tu[2] < m->tu[1] + 4 * n || m->tu[3] < m->tu[2] + 4 * (n + 1) ||
	    m->tu[5] < 8 + ds || m->tu[4] < m->tu[5] + m->value_size ||
	    m->tu[3] + m->tu[4] * (n + 1) > m->body_sz)
		return -EINVAL;
	return 0;
}

static inline struct lpm_ctl *ctl(struct map *m)
{
	return (struct lpm_ctl *)m->base;
}

static inline uint32_t *lens(struct map *m)
{
	return (uint32_t *)(m->base + LPM_LENS_OFF);
}

static inline uint32_t *index_arr(struct map *m)
{
	return (uint32_t *)(m->base + m->tu[1]);
}

static inline uint32_t *free_arr(struct map *m)
{
	return (uint32_t *)(m->base + m->tu[2]);
}

static inline uint32_t max_len(const struct map *m)
{
	return (uint32_t)m->tu[0] * 8;
}

/* Slot @ref (1-based); refs come from the shared file, so they are range-checked. */
static inline uint8_t *slot(struct map *m, uint32_t ref)
{
	if (ref == 0 || ref > m->max_entries + 1)
		ref = 1;
	return m->base + m->tu[3] + (uint64_t)(ref - 1) * m->tu[4];
}

/* The ref of the slot at @s (inverse of slot()). */
static inline uint32_t index_ref(struct map *m, const uint8_t *s)
{
	return (uint32_t)((uint64_t)(s - (m->base + m->tu[3])) / m->tu[4]) + 1;
}

static inline uint32_t slot_len(const uint8_t *s)
{
	uint32_t l;

	memcpy(&l, s, 4);
	return l;
}

static inline const uint8_t *slot_data(const uint8_t *s)
{
	return s + 8;
}

/* The slot of the longest stored proper prefix of this element (0: none), kept by writers. */
static inline uint32_t slot_parent(const uint8_t *s)
{
	uint32_t p;

	memcpy(&p, s + 4, 4);
	return p;
}

static inline void set_parent(uint8_t *s, uint32_t p)
{
	memcpy(s + 4, &p, 4);
}

static inline uint32_t n_entries(struct map *m)
{
	uint32_t n = ctl(m)->n_entries;

	return n <= m->max_entries ? n : m->max_entries;
}

static inline int bit_at(const uint8_t *d, uint32_t i)
{
	return (d[i / 8] >> (7 - i % 8)) & 1;
}

/*
 * The postorder of the kernel's trie as a comparison: negative if prefix
 * (a, alen) comes before (b, blen). Prefixes that differ within both
 * lengths are ordered by the first differing bit (0 first); if one
 * contains the other, the longer (more specific) comes first.
 */
/* The first bit index < @n where @a and @b differ, or @n. */
static uint32_t first_diff(const uint8_t *a, const uint8_t *b, uint32_t n)
{
	uint32_t i = 0;

	while (i + 8 <= n && a[i / 8] == b[i / 8])
		i += 8;
	if (i < n && a[i / 8] != b[i / 8]) {
		uint32_t d = i + (uint32_t)__builtin_clz((uint32_t)(a[i / 8] ^ b[i / 8]) << 24);

		return d < n ? d : n;
	}
	return n;
}

static int lpm_cmp(const uint8_t *a, uint32_t alen, const uint8_t *b, uint32_t blen)
{
	uint32_t minlen = alen < blen ? alen : blen, d = first_diff(a, b, minlen);

	if (d < minlen)
		return bit_at(a, d) - bit_at(b, d);
	if (alen == blen)
		return 0;
	return alen > blen ? -1 : 1;
}

/* Binary search: 1 and *pos = its position if present, else 0 and *pos = where it goes. */
static int lpm_find(struct map *m, const uint8_t *data, uint32_t len, uint32_t n, uint32_t *pos)
{
	uint32_t lo = 0, hi = n;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		const uint8_t *s = slot(m, index_arr(m)[mid]);
		int c = lpm_cmp(data, len, slot_data(s), slot_len(s));

		if (c == 0) {
			*pos = mid;
			return 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	*pos = lo;
	return 0;
}

/*
 * The slot of the longest stored prefix of (@data, @klen), or NULL. Caller
 * handles the seqcount. One binary search, then at most a walk up parents:
 * in postorder every stored prefix containing the key comes after the
 * key's position, with nothing but non-containing subtrees in between.
 * So let X be the first element after that position: if X contains the key
 * it is the longest match; else X and the key first differ at bit d, every
 * stored prefix containing the key is no longer than d, and those are
 * exactly X's stored ancestors of length <= d: walk X's parents to the
 * first one that short.
 */
static uint8_t *lpm_match_len(struct map *m, const uint8_t *data, uint32_t klen)
{
	uint32_t n = n_entries(m), pos, xl, minl, d, ref;
	const uint8_t *x;

	if (lpm_find(m, data, klen, n, &pos))
		return slot(m, index_arr(m)[pos]);
	if (pos >= n)
		return NULL;
	x = slot(m, index_arr(m)[pos]);
	xl = slot_len(x);
	minl = xl < klen ? xl : klen;
	d = first_diff(data, slot_data(x), minl);
	if (d == minl && xl <= klen)
		return (uint8_t *)x;
	ref = slot_parent(x);
	/* Bounded: a chain of proper prefixes is at most max_len long (the file is shared). */
	for (uint32_t i = 0; ref && i <= max_len(m); i++) {
		uint8_t *p = slot(m, ref);

		if (slot_len(p) <= d)
			return p;
		ref = slot_parent(p);
	}
	return NULL;
}

static uint8_t *lpm_match(struct map *m, const uint8_t *key)
{
	uint32_t klen;

	memcpy(&klen, key, 4);
	if (klen > max_len(m))
		return NULL;
	return lpm_match_len(m, key + LPM_KEY_HDR, klen);
}

/* Does the stored element @s lie inside prefix (@data, @len)? */
static bool inside(const uint8_t *s, const uint8_t *data, uint32_t len)
{
	return slot_len(s) >= len && first_diff(slot_data(s), data, len) == len;
}

/*
 * Re-point parents in the subtree of prefix (@data, @len), which in
 * postorder is the run of elements just before position @pos: those whose
 * parent is @from get @to. Writers only, inside the seqcount write section.
 */
static void reparent(struct map *m, uint32_t pos, const uint8_t *data, uint32_t len, uint32_t from,
		     uint32_t to)
{
	while (pos-- > 0) {
		uint8_t *s = slot(m, index_arr(m)[pos]);

		if (!inside(s, data, len))
			break;
		if (slot_parent(s) == from)
			set_parent(s, to);
	}
}

/*
 * A reader that sees an odd count for long checks through the lock: a live
 * writer makes it wait, while an odd count left by a writer that died (or
 * written by a client into the shared file) gets closed.
 */
static void lpm_seq_wait(struct map *m, uint32_t *spins)
{
	__builtin_ia32_pause();
	if (++*spins % MAP_SEQ_WAIT_SPINS)
		return;
	(void)map_lock_acquire(&ctl(m)->lock);
	if (atomic_load_explicit(&ctl(m)->seq, memory_order_relaxed) & 1)
		map_seq_write_end(&ctl(m)->seq);
	map_lock_release(&ctl(m)->lock);
}

static void *lpm_lookup(struct map *m, const void *key)
{
	uint32_t spins = 0;

	for (;;) {
		uint32_t s = map_seq_read_begin(&ctl(m)->seq);
		uint8_t *hit;

		if (s & 1) {
			lpm_seq_wait(m, &spins);
			continue;
		}
		hit = lpm_match(m, key);
		if (!map_seq_read_retry(&ctl(m)->seq, s))
			return hit ? hit + m->tu[5] : NULL;
	}
}

static int lpm_sys_lookup(struct map *m, const void *key, void *value, uint64_t flags)
{
	uint32_t spins = 0;

	for (;;) {
		uint32_t s = map_seq_read_begin(&ctl(m)->seq);
		uint8_t *hit;

		if (s & 1) {
			lpm_seq_wait(m, &spins);
			continue;
		}
		hit = lpm_match(m, key);
		if (hit)
			memcpy(value, hit + m->tu[5], m->value_size);
		/* Retrying also covers the slot being freed and reused during the copy. */
		if (!map_seq_read_retry(&ctl(m)->seq, s))
			return hit ? 0 : -ENOENT;
	}
}

static uint32_t slot_alloc(struct map *m)
{
	struct lpm_ctl *c = ctl(m);

	if (c->free_top && c->free_top <= m->max_entries + 1)
		return free_arr(m)[--c->free_top];
	if (c->bump < m->max_entries + 1)
		return ++c->bump;
	return 0;
}

static void slot_free(struct map *m, uint32_t ref)
{
	struct lpm_ctl *c = ctl(m);

	if (c->free_top < m->max_entries + 1)
		free_arr(m)[c->free_top++] = ref;
}

/* trie_update_elem(). */
static long lpm_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	const uint8_t *k = key;
	uint32_t klen, n, pos, ref, old = 0, parent = 0;
	uint8_t *s;
	int found;

	if (flags > BPF_EXIST)
		return -EINVAL;
	memcpy(&klen, k, 4);
	if (klen > max_len(m))
		return -EINVAL;
	(void)map_lock_acquire(&ctl(m)->lock);
	/* A dead writer may have left the count odd: close it (the index is valid at every step). */
	if (atomic_load_explicit(&ctl(m)->seq, memory_order_relaxed) & 1)
		map_seq_write_end(&ctl(m)->seq);
	n = n_entries(m);
	found = lpm_find(m, k + LPM_KEY_HDR, klen, n, &pos);
	if (found && flags == BPF_NOEXIST) {
		map_lock_release(&ctl(m)->lock);
		return -EEXIST;
	}
	if (!found && flags == BPF_EXIST) {
		map_lock_release(&ctl(m)->lock);
		return -ENOENT;
	}
	if (!found && n == m->max_entries) {
		map_lock_release(&ctl(m)->lock);
		return -ENOSPC;
	}
	ref = slot_alloc(m);
	if (!ref) {
		map_lock_release(&ctl(m)->lock);
		return -ENOMEM;
	}
	/* Build the new element off to the side, then publish it. */
	s = slot(m, ref);
	memcpy(s, &klen, 4);
	memcpy(s + 8, k + LPM_KEY_HDR, m->tu[0]);
	memcpy(s + m->tu[5], value, m->value_size);
	if (found) {
		old = index_arr(m)[pos];
		parent = slot_parent(slot(m, old));
	} else if (klen) {
		uint8_t *p = lpm_match_len(m, k + LPM_KEY_HDR, klen - 1);

		parent = p ? index_ref(m, p) : 0;
	}
	set_parent(s, parent);
	map_seq_write_begin(&ctl(m)->seq);
	if (found) {
		index_arr(m)[pos] = ref;
		reparent(m, pos, k + LPM_KEY_HDR, klen, old, ref);
	} else {
		memmove(&index_arr(m)[pos + 1], &index_arr(m)[pos], (size_t)(n - pos) * 4);
		index_arr(m)[pos] = ref;
		ctl(m)->n_entries = n + 1;
		lens(m)[klen]++;
		reparent(m, pos, k + LPM_KEY_HDR, klen, parent, ref);
	}
	map_seq_write_end(&ctl(m)->seq);
	if (old)
		slot_free(m, old);
	map_lock_release(&ctl(m)->lock);
	return 0;
}

/* trie_delete_elem(). */
static long lpm_delete(struct map *m, const void *key)
{
	const uint8_t *k = key;
	uint32_t klen, n, pos, ref;

	memcpy(&klen, k, 4);
	if (klen > max_len(m))
		return -EINVAL;
	(void)map_lock_acquire(&ctl(m)->lock);
	if (atomic_load_explicit(&ctl(m)->seq, memory_order_relaxed) & 1)
		map_seq_write_end(&ctl(m)->seq);
	n = n_entries(m);
	if (!lpm_find(m, k + LPM_KEY_HDR, klen, n, &pos)) {
		map_lock_release(&ctl(m)->lock);
		return -ENOENT;
	}
	ref = index_arr(m)[pos];
	map_seq_write_begin(&ctl(m)->seq);
	reparent(m, pos, k + LPM_KEY_HDR, klen, ref, slot_parent(slot(m, ref)));
	memmove(&index_arr(m)[pos], &index_arr(m)[pos + 1], (size_t)(n - pos - 1) * 4);
	ctl(m)->n_entries = n - 1;
	if (lens(m)[klen])
		lens(m)[klen]--;
	map_seq_write_end(&ctl(m)->seq);
	slot_free(m, ref);
	map_lock_release(&ctl(m)->lock);
	return 0;
}

static int lpm_sys_update(struct map *m, const void *key, const void *value, uint64_t flags)
{
	return (int)lpm_update(m, key, value, flags);
}

static int lpm_sys_delete(struct map *m, const void *key)
{
	return (int)lpm_delete(m, key);
}

/* trie_get_next_key(): postorder; a NULL, invalid or missing key restarts at the first. */
static int lpm_get_next_key(struct map *m, const void *key, void *next_key)
{
	uint32_t spins = 0;

	for (;;) {
		uint32_t s = map_seq_read_begin(&ctl(m)->seq), n, pos = 0, klen = 0;
		const uint8_t *src = NULL;

		if (s & 1) {
			lpm_seq_wait(m, &spins);
			continue;
		}
		n = n_entries(m);
		if (key)
			memcpy(&klen, key, 4);
		if (n && key && klen <= max_len(m) &&
		    lpm_find(m, (const uint8_t *)key + LPM_KEY_HDR, klen, n, &pos))
			pos++;
		else
			pos = 0;
		if (pos < n) {
			src = slot(m, index_arr(m)[pos]);
			memcpy(next_key, src, 4);
			memcpy((uint8_t *)next_key + LPM_KEY_HDR, slot_data(src), m->tu[0]);
		}
		if (!map_seq_read_retry(&ctl(m)->seq, s))
			return src ? 0 : -ENOENT;
	}
}

const struct map_ops map_lpm_trie_ops = {
	.name = "lpm_trie",
	.alloc_check = lpm_alloc_check,
	.layout = lpm_layout,
	.attach = lpm_attach,
	.sys_lookup = lpm_sys_lookup,
	.sys_update = lpm_sys_update,
	.sys_delete = lpm_sys_delete,
	.get_next_key = lpm_get_next_key,
	.has_update_batch = true,
	.has_delete_batch = true,
	.lookup = lpm_lookup,
	.update = lpm_update,
	.delete = lpm_delete,
};
