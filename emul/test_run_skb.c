/*
 * test_run_skb.c - BPF_PROG_TEST_RUN for socket-buffer programs
 * (SOCKET_FILTER, SCHED_CLS, SCHED_ACT, CGROUP_SKB): bpf_prog_test_run_skb()
 * in net/bpf/test_run.c, as Linux 6.18 answers on this machine.
 *
 * The kernel builds an skb around data_in on the loopback device (or the
 * device ctx_in.ifindex names), takes the protocol and packet type from
 * the Ethernet header (eth_type_trans(), net/ethernet/eth.c) and pulls that
 * header; tc programs get it pushed back (their data starts at the MAC
 * header), the others see the network header first and get 14 zero bytes
 * in front of data_out. ctx_in/ctx_out are a struct __sk_buff of which only
 * mark, priority, ingress_ifindex, ifindex, cb[], tstamp, wire_len,
 * gso_segs, gso_size and hwtstamp may be non-zero (convert___skb_to_skb()).
 *
 * bpftime gives the program a real struct __sk_buff (struct emu_skb_area,
 * emul/skb.h) in a run area below 4 GiB, filled with what the kernel's
 * rewritten ctx loads would read, so that the 32-bit data/data_end/data_meta
 * are usable pointers. PROG_LOAD refused any access to a field we do not
 * fill (skb_check.c). The packet lives in head[] after EMU_SKB_HEADROOM
 * bytes of headroom, is never reallocated, and is linear: at most 3712 bytes in (the kernel's
 * limit for one page), at most 16064 after bpf_skb_change_tail/head.
 *
 * The run itself, the crash containment and the reply are test_run.c's.
 */
#define _GNU_SOURCE
#include "emul/test_run_int.h"

#include <stddef.h>

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "emul/skb.h"
#include "jit/jit.h"

/* Kept in the area after the program-visible part: the caller's ctx and what the finish needs. */
struct skb_run {
	struct emu_skb_area area; /* first: the run area's ctx pointer is &area.ctx */
	struct __sk_buff user;    /* ctx_in as converted (zero when only ctx_out was given) */
	uint32_t has_ctx;         /* ctx_in or ctx_out given (bpf_ctx_init() allocated one) */
	uint32_t l2;              /* data starts at the MAC header (tc) */
	uint32_t pkt_len;         /* qdisc_skb_cb.pkt_len: wire_len */
	uint32_t ifindex;         /* skb->dev->ifindex */
};

#define PACKET_HOST_ 0
#define PACKET_BROADCAST_ 1
#define PACKET_MULTICAST_ 2
#define PACKET_OTHERHOST_ 3

/* The device's address and broadcast address, from sysfs; loopback (ifindex 1) has both zero. */
static int dev_addrs(uint32_t ifindex, uint8_t addr[6], uint8_t bcast[6])
{
	char name[IF_NAMESIZE], path[96], buf[64];
	const char *files[2] = { "address", "broadcast" };
	uint8_t *outs[2] = { addr, bcast };

	memset(addr, 0, 6);
	memset(bcast, 0, 6);
	if (ifindex <= 1)
		return 0;
	/* DIVERGES: the kernel looks in the caller's network namespace; we look in the supervisor's. */
	if (!if_indextoname(ifindex, name))
		return -ENODEV;
	for (int k = 0; k < 2; k++) {
		_cleanup_close_ int fd = -1;
		unsigned int b[6];
		ssize_t n;

		snprintf(path, sizeof(path), "/sys/class/net/%s/%s", name, files[k]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		if (n <= 0)
			continue;
		buf[n] = 0;
		if (sscanf(buf, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) == 6)
			for (int i = 0; i < 6; i++)
				outs[k][i] = (uint8_t)b[i];
	}
	return 0;
}

/* eth_type_trans(): packet type against the device, protocol from the header (802.3 length field rules). */
static void eth_type_trans(const uint8_t *frame, uint32_t size, const uint8_t addr[6], const uint8_t bcast[6],
			   uint32_t *pkt_type, uint32_t *protocol)
{
	uint16_t proto;

	if (memcmp(frame, addr, 6) == 0)
		*pkt_type = PACKET_HOST_;
	else if (frame[0] & 1)
		*pkt_type = memcmp(frame, bcast, 6) == 0 ? PACKET_BROADCAST_ : PACKET_MULTICAST_;
	else
		*pkt_type = PACKET_OTHERHOST_;
	memcpy(&proto, frame + 12, 2); /* network order, as skb->protocol */
	if (frame[12] >= 0x06) {       /* eth_proto_is_802_3(): >= ETH_P_802_3_MIN (0x0600) */
		*protocol = proto;
	} else if (size >= EMU_SKB_ETH_HLEN + 2 && frame[14] == 0xff && frame[15] == 0xff) {
		*protocol = 0x0100; /* htons(ETH_P_802_3): raw 802.3 (Novell) */
	} else {
		*protocol = 0x0400; /* htons(ETH_P_802_2) */
	}
}

static bool range_zero(const void *p, size_t from, size_t to)
{
	const uint8_t *b = p;

	for (size_t i = from; i < to; i++)
		if (b[i])
			return false;
	return true;
}

/* convert___skb_to_skb(): which ctx_in fields may be set, and their limits. */
int emu_skb_ctx_in_check(const struct __sk_buff *c, uint32_t len)
{
#define OFF(f) offsetof(struct __sk_buff, f)
#define END(f) offsetofend(struct __sk_buff, f)
	if (!range_zero(c, 0, OFF(mark)) || !range_zero(c, END(mark), OFF(priority)) ||
	    !range_zero(c, END(ifindex), OFF(cb)) || !range_zero(c, END(cb), OFF(tstamp)) ||
	    !range_zero(c, END(gso_segs), OFF(gso_size)) || !range_zero(c, END(gso_size), OFF(hwtstamp)) ||
	    !range_zero(c, END(hwtstamp), sizeof(*c)))
		return -EINVAL;
#undef OFF
#undef END
	if (c->wire_len && (c->wire_len < len || c->wire_len > 65536)) /* GSO_LEGACY_MAX_SIZE */
		return -EINVAL;
	if (c->gso_segs > 65535) /* GSO_MAX_SEGS */
		return -EINVAL;
	return 0;
}

/* bpf_ctx_init(): ctx_in may be shorter (zero-filled) or longer with zeros past the struct. */
static int ctx_in_read(const struct emu_target *t, const union bpf_attr *a, struct __sk_buff *c)
{
	uint32_t size = a->test.ctx_size_in;

	memset(c, 0, sizeof(*c));
	if (!a->test.ctx_in)
		return 0;
	if (size > sizeof(*c)) {
		uint8_t tail[256];

		/* bpf_check_uarg_tail_zero(): more than a page is E2BIG outright. */
		if (size > EMU_PAGE_SZ)
			return -E2BIG;
		for (uint64_t off = sizeof(*c); off < size; off += sizeof(tail)) {
			size_t n = MIN(sizeof(tail), size - off);

			if (t->ops->read(t, a->test.ctx_in + off, tail, n))
				return -EFAULT;
			if (!range_zero(tail, 0, n))
				return -E2BIG;
		}
	}
	if (t->ops->read(t, a->test.ctx_in, c, MIN((size_t)size, sizeof(*c))))
		return -EFAULT;
	return 0;
}

int emu_test_run_skb(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, const union bpf_attr *a,
		     uint64_t uattr, struct emu_reply *r)
{
	uint32_t type = o->slot->type, size = a->test.data_size_in, repeat = a->test.repeat ? a->test.repeat : 1;
	struct emu_pending *p;
	struct skb_run *run;
	struct emu_skb_area *ar;
	uint8_t *frame, addr[6], bcast[6];
	uint32_t len;
	int err;

	if (a->test.flags || a->test.cpu || a->test.batch_size)
		return -EINVAL;
	/* bpf_test_init() */
	if (size < EMU_SKB_ETH_HLEN || size > EMU_SKB_MAX_DATA)
		return -EINVAL;
	err = emu_test_run_pending_new(type, sizeof(struct skb_run), true, a, uattr, &p);
	if (err)
		return err;
	run = (struct skb_run *)(void *)p->ra->data;
	ar = &run->area;
	frame = ar->head + EMU_SKB_HEADROOM;
	if (t->ops->read(t, a->test.data_in, frame, size)) {
		err = -EFAULT;
		goto err_free;
	}
	err = ctx_in_read(t, a, &run->user);
	if (err)
		goto err_free;
	run->has_ctx = a->test.ctx_in || a->test.ctx_out;
	run->l2 = type == BPF_PROG_TYPE_SCHED_CLS || type == BPF_PROG_TYPE_SCHED_ACT;
	run->ifindex = run->user.ifindex > 1 ? run->user.ifindex : 1;
	err = dev_addrs(run->ifindex, addr, bcast);
	if (err)
		goto err_free;
	eth_type_trans(frame, size, addr, bcast, &ar->ctx.pkt_type, &ar->ctx.protocol);
	len = size - EMU_SKB_ETH_HLEN;
	/* The kernel wants a whole IP header behind an IPv4 or IPv6 frame (here: EINVAL for less). */
	if ((ar->ctx.protocol == 0x0008 && len < 20) || (ar->ctx.protocol == 0xdd86 && len < 40)) {
		err = -EINVAL;
		goto err_free;
	}
	ar->mac_off = EMU_SKB_HEADROOM;
	ar->net_off = EMU_SKB_HEADROOM + EMU_SKB_ETH_HLEN;
	ar->data_off = run->l2 ? ar->mac_off : ar->net_off;
	ar->len = run->l2 ? size : len;
	if (run->has_ctx) {
		err = emu_skb_ctx_in_check(&run->user, ar->len);
		if (err)
			goto err_free;
	}
	run->pkt_len = run->user.wire_len ? run->user.wire_len : ar->len;

	/* What the rewritten ctx loads read (bpf_convert_ctx_access(), net/core/filter.c). */
	ar->ctx.len = ar->len;
	ar->ctx.mark = run->user.mark;
	ar->ctx.priority = run->user.priority;
	ar->ctx.ingress_ifindex = run->user.ingress_ifindex;
	ar->ctx.ifindex = run->ifindex;
	memcpy(ar->ctx.cb, run->user.cb, sizeof(ar->ctx.cb));
	ar->ctx.tstamp = run->user.tstamp;
	ar->ctx.wire_len = run->pkt_len;
	ar->ctx.gso_segs = run->user.gso_segs;
	ar->ctx.gso_size = run->user.gso_size;
	ar->ctx.hwtstamp = run->user.hwtstamp;
	emu_skb_data_pointers(ar);

	emu_skb_helpers_bind(ar);
	err = emu_test_run_start(s, ((struct emu_prog_priv *)o->priv)->jp, p, repeat,
				 ((uint64_t)t->pid << 32) | (uint32_t)t->tid, r);
	emu_skb_helpers_bind(NULL);
	if (err)
		goto err_free;
	return 0;
err_free:
	emu_pending_free(p);
	return err;
}

int emu_test_run_skb_finish(const struct emu_target *t, struct emu_pending *p)
{
	struct skb_run *run = (struct skb_run *)(void *)p->ra->data;
	struct emu_skb_area *ar = &run->area;
	const union bpf_attr *a = &p->a;
	uint32_t size, copy;
	int ret = 0;

	/*
	 * The area is shared with the program's process, which nothing verified:
	 * check the offsets before the supervisor reads through them.
	 */
	if (ar->data_off > sizeof(ar->head) || ar->len > sizeof(ar->head) - ar->data_off ||
	    ar->len > EMU_SKB_MAX_LEN || (!run->l2 && ar->data_off < EMU_SKB_ETH_HLEN)) {
		log_warn("PROG_TEST_RUN: the program corrupted its socket buffer's bounds; it was not verified\n");
		return -EINVAL;
	}
	if (!run->l2) {
		/* The network-layer types get the Ethernet header back, zeroed. */
		ar->data_off -= EMU_SKB_ETH_HLEN;
		memset(ar->head + ar->data_off, 0, EMU_SKB_ETH_HLEN);
		ar->len += EMU_SKB_ETH_HLEN;
	}
	/* bpf_test_finish() */
	size = ar->len;
	copy = size;
	if (a->test.data_size_out && copy > a->test.data_size_out) {
		copy = a->test.data_size_out;
		ret = -ENOSPC;
	}
	if (a->test.data_out && t->ops->write(t, a->test.data_out, ar->head + ar->data_off, copy))
		return -EFAULT;
	if (emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.data_size_out), size) ||
	    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.retval), (uint32_t)p->ra->retval) ||
	    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.duration),
				 p->ra->duration_ns > UINT32_MAX ? UINT32_MAX : (uint32_t)p->ra->duration_ns))
		return -EFAULT;
	if (ret || !run->has_ctx || !a->test.ctx_out)
		return ret;
	/* convert_skb_to___skb(), then bpf_ctx_finish() */
	run->user.mark = ar->ctx.mark;
	run->user.priority = ar->ctx.priority;
	run->user.ifindex = run->ifindex;
	run->user.tstamp = ar->ctx.tstamp;
	memcpy(run->user.cb, ar->ctx.cb, sizeof(run->user.cb));
	run->user.wire_len = run->pkt_len;
	copy = sizeof(run->user);
	if (copy > a->test.ctx_size_out) {
		copy = a->test.ctx_size_out;
		ret = -ENOSPC;
	}
	if (t->ops->write(t, a->test.ctx_out, &run->user, copy) ||
	    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.ctx_size_out), sizeof(run->user)))
		return -EFAULT;
	return ret;
}
