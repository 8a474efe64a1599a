/*
 * skb_check.c - what PROG_LOAD checks of a socket-buffer program's context
 * accesses and helper calls while bpftime has no verifier.
 *
 * The kernel rewrites every load and store through the __sk_buff context
 * into an access to the real struct sk_buff (convert_ctx_access in
 * kernel/bpf/verifier.c, bpf_convert_ctx_access() in net/core/filter.c),
 * after checking it against the program type's table
 * (sk_filter_is_valid_access(), tc_cls_act_is_valid_access(),
 * cg_skb_is_valid_access()). bpftime instead gives the program a real
 * struct __sk_buff whose fields hold the values (test_run_skb.c), so plain
 * loads read the right thing; what must not happen is a load of a field we
 * do not fill (the socket behind skb->sk, the sk_* family/address fields) or
 * a store the kernel would refuse. So we find the instructions that may
 * access the context: a small forward data-flow over "this register / this
 * 8-byte stack slot may hold the ctx pointer" (r1 at entry; moves, spills
 * and fills keep it; anything else clears it; a bpf-to-bpf call passes
 * r1-r5 to the callee, whose frame has its own stack). The union over all
 * paths is taken, so an access through a register that holds the ctx on
 * any path is checked. Accesses in callbacks (bpf_loop) are not followed:
 * their r1 is not the ctx.
 *
 * ACCESS[] below is the kernel's answer on this machine (Linux 6.18), field
 * by field, per type and per access size, for reads and writes: one
 * PROG_LOAD per cell, read off by a probe program. Fields the kernel allows
 * but bpftime does not model are refused with EINVAL and a "bpftime:" line
 * (DIVERGES: the kernel loads them).
 *
 * Cost: linear in instructions times the lattice height (16 registers +
 * 64 slots, each bit only ever set), and 16 bytes of state per instruction.
 */
#include "emul/skb.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "emul/helpers_sup.h"

#define SKB_CTX_SZ ((int)sizeof(struct __sk_buff))

bool emu_skb_prog_type(uint32_t t)
{
	return t == BPF_PROG_TYPE_SOCKET_FILTER || t == BPF_PROG_TYPE_SCHED_CLS || t == BPF_PROG_TYPE_SCHED_ACT ||
	       t == BPF_PROG_TYPE_CGROUP_SKB;
}

/*
 * Per 4-byte offset of struct __sk_buff: for SOCKET_FILTER, SCHED_CLS (and
 * SCHED_ACT, which shares tc_cls_act_is_valid_access()), CGROUP_SKB, a mask
 * of allowed access sizes: bit 0..3 = read of 1, 2, 4, 8 bytes; bit 4..7 =
 * write of 1, 2, 4, 8 bytes. A narrow access inside a field uses the row of
 * the field's first 4 bytes and must be aligned to its size.
 */
static const uint8_t ACCESS[SKB_CTX_SZ / 4][3] = {
	{ 0x07, 0x07, 0x07 }, /* 0 len */
	{ 0x07, 0x07, 0x07 }, /* 4 pkt_type */
	{ 0x07, 0x47, 0x47 }, /* 8 mark */
	{ 0x07, 0x47, 0x07 }, /* 12 queue_mapping */
	{ 0x07, 0x07, 0x07 }, /* 16 protocol */
	{ 0x07, 0x07, 0x07 }, /* 20 vlan_present */
	{ 0x07, 0x07, 0x07 }, /* 24 vlan_tci */
	{ 0x07, 0x07, 0x07 }, /* 28 vlan_proto */
	{ 0x07, 0x47, 0x47 }, /* 32 priority */
	{ 0x07, 0x07, 0x07 }, /* 36 ingress_ifindex */
	{ 0x07, 0x07, 0x07 }, /* 40 ifindex */
	{ 0x07, 0x47, 0x07 }, /* 44 tc_index */
	{ 0xff, 0xff, 0xff }, /* 48 cb[0] */
	{ 0x77, 0x77, 0x77 }, /* 52 cb[1] */
	{ 0xff, 0xff, 0xff }, /* 56 cb[2] */
	{ 0x77, 0x77, 0x77 }, /* 60 cb[3] */
	{ 0x77, 0x77, 0x77 }, /* 64 cb[4] */
	{ 0x07, 0x07, 0x07 }, /* 68 hash */
	{ 0x00, 0x47, 0x00 }, /* 72 tc_classid */
	{ 0x00, 0x04, 0x04 }, /* 76 data */
	{ 0x00, 0x04, 0x04 }, /* 80 data_end */
	{ 0x07, 0x07, 0x07 }, /* 84 napi_id */
	{ 0x00, 0x00, 0x07 }, /* 88 family */
	{ 0x00, 0x00, 0x04 }, /* 92 remote_ip4 */
	{ 0x00, 0x00, 0x04 }, /* 96 local_ip4 */
	{ 0x00, 0x00, 0x04 }, /* 100 remote_ip6 */
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x04 }, /* 116 local_ip6 */
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x04 },
	{ 0x00, 0x00, 0x07 }, /* 132 remote_port */
	{ 0x00, 0x00, 0x07 }, /* 136 local_port */
	{ 0x00, 0x04, 0x00 }, /* 140 data_meta */
	{ 0x00, 0x00, 0x00 }, /* 144 flow_keys */
	{ 0x00, 0x00, 0x00 },
	{ 0x00, 0x88, 0x88 }, /* 152 tstamp */
	{ 0x00, 0x00, 0x00 },
	{ 0x00, 0x07, 0x00 }, /* 160 wire_len */
	{ 0x07, 0x07, 0x07 }, /* 164 gso_segs */
	{ 0x08, 0x08, 0x08 }, /* 168 sk */
	{ 0x00, 0x00, 0x00 },
	{ 0x07, 0x07, 0x07 }, /* 176 gso_size */
	{ 0x00, 0x01, 0x00 }, /* 180 tstamp_type */
	{ 0x00, 0x08, 0x08 }, /* 184 hwtstamp */
	{ 0x00, 0x00, 0x00 },
};

static int type_col(uint32_t t)
{
	return t == BPF_PROG_TYPE_SOCKET_FILTER ? 0 : t == BPF_PROG_TYPE_CGROUP_SKB ? 2 : 1;
}

static int say(int (*log)(void *, const char *), void *cookie, int err, const char *msg)
{
	if (log)
		log(cookie, msg);
	return err;
}

/* One access through the ctx: allowed by the kernel, and modelled by bpftime? */
static int access_check(uint32_t type, uint32_t i, int off, int size, bool write,
			int (*log)(void *, const char *), void *cookie)
{
	char msg[160];
	int bit = size == 1 ? 0 : size == 2 ? 1 : size == 4 ? 2 : 3;

	if (off < 0 || off + size > SKB_CTX_SZ || off % size ||
	    !(ACCESS[off / 4][type_col(type)] & (1u << (bit + (write ? 4 : 0))))) {
		/* check_ctx_access() */
		snprintf(msg, sizeof(msg), "invalid bpf_context access off=%d size=%d", off, size);
		return say(log, cookie, -EACCES, msg);
	}
	if ((off >= (int)offsetof(struct __sk_buff, family) && off < (int)offsetof(struct __sk_buff, data_meta)) ||
	    (off >= (int)offsetof(struct __sk_buff, sk) && off < (int)offsetof(struct __sk_buff, gso_size))) {
		/* DIVERGES: the kernel reads these from the socket of the skb; bpftime has no socket model. */
		snprintf(msg, sizeof(msg), "bpftime: insn %u: __sk_buff field at offset %d (socket fields) is not supported",
			 i, off);
		return say(log, cookie, -EINVAL, msg);
	}
	return 0;
}

/* Two kinds of pointer are followed: the ctx, and packet pointers loaded from it (data, data_meta, data_end). */
enum { K_CTX, K_PKT, K_CNT };

struct ctx_state {
	uint16_t regs[K_CNT];  /* bit r: r<r> may hold a pointer of that kind */
	uint16_t seen;
	uint16_t queued;       /* in the worklist */
	uint64_t slots[K_CNT]; /* bit k: the 8 bytes at fp - 8 * (k + 1) may hold one */
};

static int slot_of(int16_t off)
{
	return off < 0 && off >= -512 && off % 8 == 0 ? -off / 8 - 1 : -1;
}

static bool has(const struct ctx_state *st, int k, int reg)
{
	return st->regs[k] >> reg & 1;
}

static void set(struct ctx_state *st, int k, int reg, bool on)
{
	st->regs[k] = (uint16_t)((st->regs[k] & ~(1u << reg)) | ((unsigned)on << reg));
}

/* The state after insn @i, and where it goes next (up to two successors; -1 = none). */
static void transfer(const struct bpf_insn *in, uint32_t i, struct ctx_state *st, int64_t next[2],
		     int64_t *callee)
{
	uint8_t cls = BPF_CLASS(in->code), op = BPF_OP(in->code), mode = BPF_MODE(in->code);
	int s;

	next[0] = (int64_t)i + 1;
	next[1] = -1;
	*callee = -1;
	switch (cls) {
	case BPF_ALU64:
	case BPF_ALU: {
		bool x = BPF_SRC(in->code) == BPF_X;

		if (cls == BPF_ALU64 && op == BPF_MOV && x && in->off == 0) {
			for (int k = 0; k < K_CNT; k++)
				set(st, k, in->dst_reg, has(st, k, in->src_reg));
		} else if (cls == BPF_ALU64 && (op == BPF_ADD || op == BPF_SUB)) {
			/* Packet pointer arithmetic keeps a packet pointer (so does scalar + pkt). */
			bool pkt = has(st, K_PKT, in->dst_reg) || (op == BPF_ADD && x && has(st, K_PKT, in->src_reg));

			set(st, K_CTX, in->dst_reg, false);
			set(st, K_PKT, in->dst_reg, pkt);
		} else {
			for (int k = 0; k < K_CNT; k++)
				set(st, k, in->dst_reg, false);
		}
		break;
	}
	case BPF_LDX: {
		bool from_ctx = has(st, K_CTX, in->src_reg), pkt;

		s = in->src_reg == BPF_REG_10 && BPF_SIZE(in->code) == BPF_DW ? slot_of(in->off) : -1;
		pkt = from_ctx && BPF_SIZE(in->code) == BPF_W &&
		      (in->off == (int16_t)offsetof(struct __sk_buff, data) ||
		       in->off == (int16_t)offsetof(struct __sk_buff, data_end) ||
		       in->off == (int16_t)offsetof(struct __sk_buff, data_meta));
		for (int k = 0; k < K_CNT; k++)
			set(st, k, in->dst_reg, s >= 0 && (st->slots[k] >> s & 1));
		if (pkt)
			set(st, K_PKT, in->dst_reg, true);
		break;
	}
	case BPF_ST:
	case BPF_STX:
		if (in->dst_reg == BPF_REG_10) {
			s = slot_of((int16_t)(in->off & ~7));
			for (int k = 0; k < K_CNT && s >= 0; k++) {
				st->slots[k] &= ~(1ull << s);
				if (cls == BPF_STX && mode == BPF_MEM && BPF_SIZE(in->code) == BPF_DW && in->off % 8 == 0 &&
				    has(st, k, in->src_reg))
					st->slots[k] |= 1ull << s;
			}
		}
		if (cls == BPF_STX && mode == BPF_ATOMIC) /* fetch forms write src (or r0 for cmpxchg) */
			for (int k = 0; k < K_CNT; k++)
				st->regs[k] &= (uint16_t)~((1u << in->src_reg) | 1u);
		break;
	case BPF_LD:
		for (int k = 0; k < K_CNT; k++)
			if (in->code == (BPF_LD | BPF_IMM | BPF_DW))
				set(st, k, in->dst_reg, false);
			else
				st->regs[k] &= (uint16_t)~0x3fu; /* LD_ABS/IND clobber r0-r5 */
		if (in->code == (BPF_LD | BPF_IMM | BPF_DW))
			next[0] = (int64_t)i + 2;
		break;
	case BPF_JMP:
	case BPF_JMP32:
		if (op == BPF_EXIT) {
			next[0] = -1;
		} else if (op == BPF_CALL) {
			if (in->src_reg == BPF_PSEUDO_CALL)
				*callee = (int64_t)i + in->imm + 1;
			for (int k = 0; k < K_CNT; k++)
				st->regs[k] &= (uint16_t)~0x3fu;
		} else if (op == BPF_JA) {
			next[0] = (int64_t)i + 1 + (cls == BPF_JMP32 ? in->imm : in->off);
		} else {
			next[1] = (int64_t)i + 1 + in->off;
		}
		break;
	}
}

static bool merge(struct ctx_state *dst, const struct ctx_state *src)
{
	bool grew = !dst->seen;

	for (int k = 0; k < K_CNT; k++) {
		grew |= (dst->regs[k] | src->regs[k]) != dst->regs[k] || (dst->slots[k] | src->slots[k]) != dst->slots[k];
		dst->regs[k] |= src->regs[k];
		dst->slots[k] |= src->slots[k];
	}
	dst->seen = 1;
	return grew;
}

/* The fields the kernel stores in 16 bits: which ones the program reads and writes (bit per field). */
static void narrow_note(int16_t off, bool write, uint32_t *r, uint32_t *w)
{
	static const int16_t fields[] = { offsetof(struct __sk_buff, queue_mapping), offsetof(struct __sk_buff, tc_index),
					  offsetof(struct __sk_buff, tc_classid) };

	for (uint32_t k = 0; k < sizeof(fields) / sizeof(fields[0]); k++)
		if (off >= fields[k] && off < fields[k] + 4)
			*(write ? w : r) |= 1u << k;
}

static int helper_check(uint32_t type, const struct bpf_insn *in, uint32_t i, int (*log)(void *, const char *),
			void *cookie)
{
	char msg[256];

	if (in->src_reg != 0)
		return 0;
	/* Packet-changing helpers are tc's (tc_cls_act_func_proto()); sk_filter_func_proto() and
	 * cg_skb_func_proto() do not offer them. */
	if (type != BPF_PROG_TYPE_SCHED_CLS && type != BPF_PROG_TYPE_SCHED_ACT) {
		static const struct { int id; const char *name; } tc_only[] = {
			{ BPF_FUNC_skb_store_bytes, "bpf_skb_store_bytes" },
			{ BPF_FUNC_skb_pull_data, "bpf_skb_pull_data" },
			{ BPF_FUNC_l3_csum_replace, "bpf_l3_csum_replace" },
			{ BPF_FUNC_l4_csum_replace, "bpf_l4_csum_replace" },
			{ BPF_FUNC_skb_change_tail, "bpf_skb_change_tail" },
			{ BPF_FUNC_skb_change_head, "bpf_skb_change_head" },
			{ BPF_FUNC_csum_diff, "bpf_csum_diff" },
			{ BPF_FUNC_redirect, "bpf_redirect" },
		};

		for (size_t k = 0; k < sizeof(tc_only) / sizeof(tc_only[0]); k++)
			if (in->imm == tc_only[k].id) {
				snprintf(msg, sizeof(msg), "program of this type cannot use helper %s#%d", tc_only[k].name,
					 in->imm);
				return say(log, cookie, -EINVAL, msg);
			}
	}
	/* bpf_tail_call: the interpreter runs it through the prog array (sup_tail_call(), emul/prog_cmds.c). */
	if (in->imm == BPF_FUNC_tail_call || emu_helpers_sup_has(in->imm))
		return 0;
	snprintf(msg, sizeof(msg),
		 "bpftime: insn %u: helper #%d is not available to socket-buffer programs in bpftime "
		 "(test runs provide skb_load_bytes(_relative), skb_store_bytes, skb_pull_data, skb_change_tail/head, l3/l4_csum_replace, csum_diff, redirect, maps, time)",
		 i, in->imm);
	return say(log, cookie, -EINVAL, msg);
}

int emu_skb_prog_check(const struct bpf_insn *insns, uint32_t cnt, uint32_t prog_type,
		       int (*log)(void *cookie, const char *msg), void *log_cookie)
{
	struct ctx_state *st;
	uint32_t *work, nwork = 0, narrow_r = 0, narrow_w = 0;
	int err = 0;

	st = calloc(cnt, sizeof(*st));
	work = malloc(((size_t)cnt + 1) * sizeof(*work));
	if (!st || !work) {
		free(st);
		free(work);
		return -ENOMEM;
	}
	st[0].regs[K_CTX] = 1u << BPF_REG_1;
	st[0].seen = 1;
	st[0].queued = 1;
	work[nwork++] = 0;
	/* A worklist of instructions whose input state grew; each is queued at most once, so it holds at most cnt. */
	while (nwork) {
		uint32_t i = work[--nwork];
		struct ctx_state out;
		int64_t next[2], callee;

		st[i].queued = 0;
		out = st[i];
		transfer(&insns[i], i, &out, next, &callee);
		for (int k = 0; k < 3; k++) {
			int64_t j = k < 2 ? next[k] : callee;
			/* A callee starts with r1-r5 and a fresh frame. */
			struct ctx_state entry = { .regs = { (uint16_t)(st[i].regs[K_CTX] & 0x3e),
							     (uint16_t)(st[i].regs[K_PKT] & 0x3e) } };

			if (j < 0 || j >= cnt || !merge(&st[j], k < 2 ? &out : &entry) || st[j].queued)
				continue;
			st[j].queued = 1;
			work[nwork++] = (uint32_t)j;
		}
	}
	for (uint32_t i = 0; i < cnt && !err; i++) {
		const struct bpf_insn *in = &insns[i];
		uint8_t cls = BPF_CLASS(in->code);
		int size;

		switch (BPF_SIZE(in->code)) {
		case BPF_B: size = 1; break;
		case BPF_H: size = 2; break;
		case BPF_W: size = 4; break;
		default: size = 8; break;
		}
		if (!st[i].seen)
			continue;
		if (cls == BPF_LDX && BPF_MODE(in->code) == BPF_MEM && in->src_reg != BPF_REG_10 &&
		    has(&st[i], K_CTX, in->src_reg))
			err = access_check(prog_type, i, in->off, size, false, log, log_cookie);
		else if (cls == BPF_LDX && in->src_reg != BPF_REG_10 && has(&st[i], K_CTX, in->src_reg))
			err = say(log, log_cookie, -EACCES, "invalid bpf_context access (sign-extending load)");
		else if ((cls == BPF_ST || cls == BPF_STX) && in->dst_reg != BPF_REG_10 &&
			 has(&st[i], K_PKT, in->dst_reg) && prog_type == BPF_PROG_TYPE_CGROUP_SKB) {
			/* may_access_direct_pkt_data(): cgroup skb programs read the packet, never write it. */
			char msg[80];

			snprintf(msg, sizeof(msg), "R%d cannot write into pkt", in->dst_reg);
			err = say(log, log_cookie, -EACCES, msg);
		} else if ((cls == BPF_ST || cls == BPF_STX) && in->dst_reg != BPF_REG_10 &&
			   has(&st[i], K_CTX, in->dst_reg)) {
			if (cls == BPF_STX && BPF_MODE(in->code) == BPF_ATOMIC) {
				char msg[80];

				snprintf(msg, sizeof(msg), "BPF_ATOMIC stores into R%d ctx is not allowed", in->dst_reg);
				err = say(log, log_cookie, -EACCES, msg);
			} else {
				err = access_check(prog_type, i, in->off, size, true, log, log_cookie);
			}
		} else if (cls == BPF_JMP && BPF_OP(in->code) == BPF_CALL) {
			err = helper_check(prog_type, in, i, log, log_cookie);
		} else if (cls == BPF_LD && (BPF_MODE(in->code) == BPF_ABS || BPF_MODE(in->code) == BPF_IND) &&
			   !has(&st[i], K_CTX, BPF_REG_6)) {
			/* check_ld_abs(): the packet is found through the ctx in r6. Ours is a "may hold"
			 * analysis, so only an r6 that holds the ctx on no path is refused here; at run
			 * time the packet hook checks r6 is the run's ctx (emu_skb_packet_pointer()). */
			err = say(log, log_cookie, -EINVAL, "at the time of BPF_LD_ABS|IND R6 != pointer to skb");
		}
		if (!err && (cls == BPF_LDX || cls == BPF_ST || cls == BPF_STX) &&
		    has(&st[i], K_CTX, cls == BPF_LDX ? in->src_reg : in->dst_reg))
			narrow_note(in->off, cls != BPF_LDX, &narrow_r, &narrow_w);
		if (cls == BPF_LD && in->code == (BPF_LD | BPF_IMM | BPF_DW))
			i++;
	}
	if (!err && (narrow_r & narrow_w)) {
		char msg[200];

		/* DIVERGES: the kernel keeps these in 16 bits (and ignores queue_mapping >= 0xffff), so a read
		 * after a write sees the truncated value; bpftime keeps the 32 bits the program wrote. */
		snprintf(msg, sizeof(msg),
			 "bpftime: __sk_buff's queue_mapping, tc_index and tc_classid are 16-bit in the kernel; "
			 "a program that writes and reads one of them is not supported");
		err = say(log, log_cookie, -EINVAL, msg);
	}
	free(st);
	free(work);
	return err;
}
