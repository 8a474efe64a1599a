/*
 * helpers_skb.c - the socket-buffer helpers a test run provides
 * (net/core/filter.c): bpf_skb_load_bytes(_relative), bpf_skb_store_bytes,
 * bpf_skb_pull_data, bpf_skb_change_tail, bpf_skb_change_head,
 * bpf_l3_csum_replace, bpf_l4_csum_replace, bpf_csum_diff, bpf_redirect; and the
 * one case of bpf_perf_event_output an skb program adds (packet bytes).
 *
 * The test-run skb is always linear and never reallocated (test_run_skb.c),
 * so "make the first N bytes writable" (skb_ensure_writable()) reduces to
 * "N <= len"; only change_tail/head move data_end/data, and they refresh
 * the ctx's pointers as bpf_compute_data_pointers() does. The checksum arithmetic is
 * the kernel's one's-complement helpers (include/net/checksum.h,
 * net/core/utils.c inet_proto_csum_replace*()) for an skb whose ip_summed is
 * CHECKSUM_NONE, as a test-run skb is: only the checksum field changes.
 *
 * Each helper first checks that r1 is the ctx of the run bound by
 * emu_skb_helpers_bind(); anything else (an XDP program calling an skb
 * helper, which the kernel would refuse at load) ends the run as a missing
 * helper, so PROG_TEST_RUN fails with ENOTSUPP rather than touch memory
 * that is not an skb.
 */
#include "emul/skb.h"

#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "emul/helpers_sup.h"

static struct emu_skb_area *bound;

void emu_skb_helpers_bind(struct emu_skb_area *area)
{
	bound = area;
}

static struct emu_skb_area *area_of(uint64_t ctx)
{
	if (!bound || ctx != (uint64_t)(uintptr_t)&bound->ctx) {
		emu_helpers_run_fail();
		return NULL;
	}
	return bound;
}

static uint8_t *data_of(struct emu_skb_area *a)
{
	return a->head + a->data_off;
}

void emu_skb_data_pointers(struct emu_skb_area *a)
{
	a->ctx.len = a->len;
	a->ctx.data = (uint32_t)(uintptr_t)data_of(a);
	a->ctx.data_meta = a->ctx.data;
	a->ctx.data_end = (uint32_t)(uintptr_t)(data_of(a) + a->len);
}

/* include/uapi/linux/filter.h: negative LD_ABS/LD_IND offsets name a header. */
#define SKF_NET_OFF_ (-0x100000)
#define SKF_LL_OFF_ (-0x200000)

/*
 * LD_ABS/LD_IND, as bpf_skb_load_helper_{8,16,32}() in net/core/filter.c
 * (Linux 6.15+, bpf_skb_load_helper_convert_offset()): an offset >= 0
 * counts from data; SKF_NET_OFF + k (0 <= k < 1 MiB) from the network
 * header, SKF_LL_OFF + k from the MAC header; anything lower fails. The
 * bytes must end by the tail (the test-run skb is linear, so "headlen -
 * offset >= len" or skb_copy_bits() both come to that). Both headers lie
 * at or after skb->head, so no lower bound is needed.
 */
const void *emu_skb_packet_pointer(void *cookie, uint64_t ctx, int32_t off, uint32_t size)
{
	struct emu_skb_area *a = area_of(ctx);
	uint64_t at;

	(void)cookie;
	if (!a)
		return NULL;
	if (off >= 0)
		at = (uint64_t)a->data_off + (uint64_t)off;
	else if (off >= SKF_NET_OFF_)
		at = (uint64_t)a->net_off + (uint64_t)((int64_t)off - SKF_NET_OFF_);
	else if (off >= SKF_LL_OFF_)
		at = (uint64_t)a->mac_off + (uint64_t)((int64_t)off - SKF_LL_OFF_);
	else
		return NULL;
	if (at + size > (uint64_t)a->data_off + a->len)
		return NULL;
	return a->head + at;
}

/* bpf_skb_load_bytes(skb, offset, to, len): 0, or -EFAULT with @to zeroed (skb_header_pointer() failed). */
static uint64_t h_skb_load_bytes(uint64_t ctx, uint64_t off64, uint64_t to, uint64_t len64, uint64_t r5)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t off = (uint32_t)off64, len = (uint32_t)len64;

	(void)r5;
	if (!a)
		return 0;
	if (off > INT32_MAX || (uint64_t)off + len > a->len) {
		memset((void *)(uintptr_t)to, 0, len);
		return (uint64_t)-EFAULT;
	}
	memcpy((void *)(uintptr_t)to, data_of(a) + off, len);
	return 0;
}

/*
 * bpf_skb_load_bytes_relative(skb, offset, to, len, start_header): from the
 * MAC or the network header, within mac header .. tail. The test-run skb's
 * MAC header is the frame's first byte (its network header 14 bytes later)
 * even when the program's data starts at the network header, until
 * bpf_skb_change_head() moves it to the new front.
 */
static uint64_t h_skb_load_bytes_relative(uint64_t ctx, uint64_t off64, uint64_t to, uint64_t len64, uint64_t start)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t off = (uint32_t)off64, len = (uint32_t)len64;
	uint64_t tail, from;

	if (!a)
		return 0;
	tail = (uint64_t)a->data_off + a->len;
	from = start == BPF_HDR_START_MAC ? a->mac_off : a->net_off;
	if (off > 0xffff || (start != BPF_HDR_START_MAC && start != BPF_HDR_START_NET) || from + off < a->mac_off ||
	    from + off + len > tail) {
		memset((void *)(uintptr_t)to, 0, len);
		return (uint64_t)-EFAULT;
	}
	memcpy((void *)(uintptr_t)to, a->head + from + off, len);
	return 0;
}

/* bpf_skb_store_bytes(skb, offset, from, len, flags) */
static uint64_t h_skb_store_bytes(uint64_t ctx, uint64_t off64, uint64_t from, uint64_t len64, uint64_t flags)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t off = (uint32_t)off64, len = (uint32_t)len64;

	if (!a)
		return 0;
	if (flags & ~(uint64_t)(BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH))
		return (uint64_t)-EINVAL;
	if (off > INT32_MAX)
		return (uint64_t)-EFAULT;
	if ((uint64_t)off + len > a->len) /* bpf_try_make_writable() */
		return (uint64_t)-EFAULT;
	/* BPF_F_RECOMPUTE_CSUM adjusts skb->csum only under CHECKSUM_COMPLETE: not in a test run. */
	memmove(data_of(a) + off, (const void *)(uintptr_t)from, len);
	if (flags & BPF_F_INVALIDATE_HASH)
		a->ctx.hash = 0;
	return 0;
}

/* bpf_skb_pull_data(skb, len): the whole skb is linear already; only a length past the end fails. */
static uint64_t h_skb_pull_data(uint64_t ctx, uint64_t len64, uint64_t r3, uint64_t r4, uint64_t r5)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t len = (uint32_t)len64;

	(void)r3, (void)r4, (void)r5;
	if (!a)
		return 0;
	return len > a->len ? (uint64_t)-ENOMEM : 0;
}

/* One's-complement arithmetic on 32-bit partial sums (include/net/checksum.h). */
static uint32_t csum_add(uint32_t a, uint32_t b)
{
	uint32_t r = a + b;

	return r + (r < b);
}

static uint16_t csum_fold(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

static uint16_t csum16_add(uint16_t c, uint16_t addend)
{
	uint16_t r = (uint16_t)(c + addend);

	return (uint16_t)(r + (r < addend));
}

/*
 * csum_partial() as arch/x86/lib/csum-partial_64.c computes it: a 64-bit
 * one's-complement sum of the seed and the buffer's little-endian 64-bit
 * words (the tail zero-padded), folded to 32 bits. End-around-carry sums do
 * not depend on the order of the additions, so this is bit-exact.
 */
static uint32_t csum_partial(const uint8_t *p, uint32_t len, uint32_t seed)
{
	uint64_t sum = seed, w;

	while (len) {
		uint32_t n = len < 8 ? len : 8;

		w = 0;
		memcpy(&w, p, n);
		sum += w;
		sum += sum < w;
		p += n;
		len -= n;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	return (uint32_t)sum;
}

/*
 * bpf_csum_diff(from, from_size, to, to_size, seed): the sum of to (with
 * the seed) minus the sum of from, folded to 16 bits (not complemented), as
 * Linux 6.13+ returns it on every architecture.
 */
static uint64_t h_csum_diff(uint64_t from, uint64_t from_sz, uint64_t to, uint64_t to_sz, uint64_t seed)
{
	uint32_t s = csum_add(csum_partial((const uint8_t *)(uintptr_t)to, (uint32_t)to_sz, (uint32_t)seed),
			      ~csum_partial((const uint8_t *)(uintptr_t)from, (uint32_t)from_sz, 0));

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return s;
}

/* Where the 16-bit checksum field is, if offset is even and inside the packet. */
static int csum_field(struct emu_skb_area *a, uint32_t off, uint16_t **out)
{
	if (off > 0xffff || (off & 1) || off + 2 > a->len)
		return -EFAULT;
	*out = (uint16_t *)(void *)(data_of(a) + off);
	return 0;
}

/* bpf_l3_csum_replace(skb, offset, from, to, flags): csum_replace2/4, or a precomputed diff (size 0). */
static uint64_t h_l3_csum_replace(uint64_t ctx, uint64_t off64, uint64_t from, uint64_t to, uint64_t flags)
{
	struct emu_skb_area *a = area_of(ctx);
	uint16_t *p, v;
	int err;

	if (!a)
		return 0;
	if (flags & ~(uint64_t)BPF_F_HDR_FIELD_MASK)
		return (uint64_t)-EINVAL;
	err = csum_field(a, (uint32_t)off64, &p);
	if (err)
		return (uint64_t)(int64_t)err;
	memcpy(&v, p, 2);
	switch (flags & BPF_F_HDR_FIELD_MASK) {
	case 0:
		if (from)
			return (uint64_t)-EINVAL;
		v = csum_fold(csum_add((uint32_t)to, ~(uint32_t)v)); /* csum_replace_by_diff() */
		break;
	case 2:
		v = (uint16_t)~csum16_add(csum16_add((uint16_t)~v, (uint16_t)~(uint16_t)from), (uint16_t)to);
		break;
	case 4:
		v = csum_fold(csum_add(csum_add(~(uint32_t)v, ~(uint32_t)from), (uint32_t)to));
		break;
	default:
		return (uint64_t)-EINVAL;
	}
	memcpy(p, &v, 2);
	return 0;
}

/*
 * bpf_l4_csum_replace(skb, offset, from, to, flags): inet_proto_csum_replace2/4
 * or _by_diff for CHECKSUM_NONE (the pseudo-header flag changes nothing
 * then), with BPF_F_MARK_MANGLED_0's rule for UDP's "no checksum" zero.
 */
static uint64_t h_l4_csum_replace(uint64_t ctx, uint64_t off64, uint64_t from, uint64_t to, uint64_t flags)
{
	const uint64_t known = BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE | BPF_F_PSEUDO_HDR | BPF_F_HDR_FIELD_MASK |
			       (1ull << 7) /* BPF_F_IPV6, Linux 6.16 */;
	struct emu_skb_area *a = area_of(ctx);
	bool mmzero = flags & BPF_F_MARK_MANGLED_0, mforce = flags & BPF_F_MARK_ENFORCE;
	uint16_t *p, v;
	int err;

	if (!a)
		return 0;
	if (flags & ~known)
		return (uint64_t)-EINVAL;
	err = csum_field(a, (uint32_t)off64, &p);
	if (err)
		return (uint64_t)(int64_t)err;
	memcpy(&v, p, 2);
	if (mmzero && !mforce && !v)
		return 0;
	switch (flags & BPF_F_HDR_FIELD_MASK) {
	case 0:
		if (from)
			return (uint64_t)-EINVAL;
		v = csum_fold(csum_add((uint32_t)to, ~(uint32_t)v));
		break;
	case 2:
		from = (uint16_t)from;
		to = (uint16_t)to;
		/* fallthrough */
	case 4:
		/* csum_partial() over { ~from, to } starting from ~sum. */
		v = csum_fold(csum_add(csum_add(~(uint32_t)v, ~(uint32_t)from), (uint32_t)to));
		break;
	default:
		return (uint64_t)-EINVAL;
	}
	if (mmzero && !v)
		v = 0xffff; /* CSUM_MANGLED_0 */
	memcpy(p, &v, 2);
	return 0;
}

/*
 * bpf_skb_change_tail(skb, new_len, flags): grow (new bytes zeroed,
 * bpf_skb_grow_rcsum()) or trim, between the network header offset
 * (__bpf_skb_min_len(): no transport header is set in a test run) and
 * BPF_SKB_MAX_LEN.
 */
static uint64_t h_skb_change_tail(uint64_t ctx, uint64_t len64, uint64_t flags, uint64_t r4, uint64_t r5)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t new_len = (uint32_t)len64, min_len;

	(void)r4, (void)r5;
	if (!a)
		return 0;
	min_len = a->net_off > a->data_off ? a->net_off - a->data_off : 0;
	if (flags || new_len > EMU_SKB_MAX_LEN || new_len < min_len ||
	    (uint64_t)a->data_off + new_len > sizeof(a->head))
		return (uint64_t)-EINVAL;
	if (new_len > a->len)
		memset(data_of(a) + a->len, 0, new_len - a->len);
	a->len = new_len;
	emu_skb_data_pointers(a);
	return 0;
}

/* bpf_skb_change_head(skb, head_room, flags): push zeroed bytes in front; the MAC header moves there. */
static uint64_t h_skb_change_head(uint64_t ctx, uint64_t room64, uint64_t flags, uint64_t r4, uint64_t r5)
{
	struct emu_skb_area *a = area_of(ctx);
	uint32_t room = (uint32_t)room64, new_len;

	(void)r4, (void)r5;
	if (!a)
		return 0;
	new_len = a->len + room; /* u32, as the kernel: a wrap is caught below */
	if (flags || new_len > EMU_SKB_MAX_LEN || new_len < a->len || room > a->data_off)
		return (uint64_t)-EINVAL;
	a->data_off -= room;
	memset(data_of(a), 0, room);
	a->mac_off = a->data_off;
	a->len = new_len;
	emu_skb_data_pointers(a);
	return 0;
}

/*
 * bpf_redirect(ifindex, flags) from tc: records the target and answers
 * TC_ACT_REDIRECT, or TC_ACT_SHOT for a flag other than BPF_F_INGRESS. A test
 * run does nothing with the verdict. It takes no ctx, so it checks that an
 * skb run is bound: XDP's bpf_redirect (another contract) is not this one.
 */
static uint64_t h_redirect(uint64_t ifindex, uint64_t flags, uint64_t r3, uint64_t r4, uint64_t r5)
{
	(void)ifindex, (void)r3, (void)r4, (void)r5;
	if (!bound) {
		emu_helpers_run_fail();
		return 0;
	}
	return flags & ~(uint64_t)BPF_F_INGRESS ? 2 /* TC_ACT_SHOT */ : 7 /* TC_ACT_REDIRECT */;
}

/*
 * bpf_perf_event_output() from an skb program may append packet bytes
 * (BPF_F_CTXLEN_MASK, bpf_skb_event_output()); the supervisor's output
 * does not, so such a call ends the run (ENOTSUPP) instead of writing a
 * record without them. Every other call goes to the supervisor's helper.
 */
static jit_helper_fn perf_output_next;

static uint64_t h_skb_perf_event_output(uint64_t ctx, uint64_t map, uint64_t flags, uint64_t data, uint64_t size)
{
	if (bound && ctx == (uint64_t)(uintptr_t)&bound->ctx && (flags & BPF_F_CTXLEN_MASK)) {
		log_info("PROG_TEST_RUN: bpf_perf_event_output with packet bytes (BPF_F_CTXLEN_MASK) is not "
			 "supported by bpftime\n");
		emu_helpers_run_fail();
		return 0;
	}
	return perf_output_next(ctx, map, flags, data, size);
}

void emu_skb_helpers_fill(jit_helper_fn *table, uint32_t cnt)
{
	if (cnt <= BPF_FUNC_skb_change_head)
		return;
	if (table[BPF_FUNC_perf_event_output] && table[BPF_FUNC_perf_event_output] != h_skb_perf_event_output) {
		perf_output_next = table[BPF_FUNC_perf_event_output];
		table[BPF_FUNC_perf_event_output] = h_skb_perf_event_output;
	}
	table[BPF_FUNC_skb_load_bytes] = h_skb_load_bytes;
	table[BPF_FUNC_skb_load_bytes_relative] = h_skb_load_bytes_relative;
	table[BPF_FUNC_skb_store_bytes] = h_skb_store_bytes;
	table[BPF_FUNC_skb_pull_data] = h_skb_pull_data;
	table[BPF_FUNC_skb_change_tail] = h_skb_change_tail;
	table[BPF_FUNC_skb_change_head] = h_skb_change_head;
	table[BPF_FUNC_l3_csum_replace] = h_l3_csum_replace;
	table[BPF_FUNC_csum_diff] = h_csum_diff;
	table[BPF_FUNC_redirect] = h_redirect;
	table[BPF_FUNC_l4_csum_replace] = h_l4_csum_replace;
}
