/*
 * skb_raw.c - BPF_PROG_TEST_RUN on socket-buffer programs through raw bpf()
 * calls: hand-assembled SOCKET_FILTER, SCHED_CLS and CGROUP_SKB programs
 * read __sk_buff fields into cb[] (which ctx_out returns), touch the packet
 * directly and through helpers, and every attr rule of
 * bpf_prog_test_run_skb() (net/bpf/test_run.c) is tried: short frames,
 * ctx_in fields that must be zero, ENOSPC on data_out and ctx_out, flags,
 * cpu, repeat; the legacy packet loads LD_ABS/LD_IND. Each case prints one line of what came back (errno, retval,
 * sizes, bytes); tests/e2e/skb-run.sh runs this as root against the kernel
 * and as uid 65534 under bpftime-run and compares the two outputs line by
 * line. The duration is not printed (it is a time), only whether it is
 * below one second.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV64_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define MOV64_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define ADD64_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define SUB64_REG(d, s) INSN(BPF_ALU64 | BPF_SUB | BPF_X, d, s, 0, 0)
#define OR64_REG(d, s) INSN(BPF_ALU64 | BPF_OR | BPF_X, d, s, 0, 0)
#define LSH64_IMM(d, i) INSN(BPF_ALU64 | BPF_LSH | BPF_K, d, 0, 0, i)
#define RSH64_IMM(d, i) INSN(BPF_ALU64 | BPF_RSH | BPF_K, d, 0, 0, i)
#define XOR32_IMM(d, i) INSN(BPF_ALU | BPF_XOR | BPF_K, d, 0, 0, i)
#define LDX(sz, d, s, o) INSN(BPF_LDX | BPF_MEM | (sz), d, s, o, 0)
#define STX(sz, d, s, o) INSN(BPF_STX | BPF_MEM | (sz), d, s, o, 0)
#define ST(sz, d, o, i) INSN(BPF_ST | BPF_MEM | (sz), d, 0, o, i)
#define JGT_REG(d, s, o) INSN(BPF_JMP | BPF_JGT | BPF_X, d, s, o, 0)
#define LD64(d, v) INSN(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int)(v)), INSN(0, 0, 0, 0, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define SKB(f) ((short)offsetof(struct __sk_buff, f))

static long sys_bpf(int cmd, union bpf_attr *a)
{
	long r = syscall(SYS_bpf, cmd, a, sizeof(*a));

	return r < 0 ? -errno : r;
}

static long load(unsigned type, const struct bpf_insn *insns, unsigned cnt)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (unsigned long)insns;
	a.insn_cnt = cnt;
	a.license = (unsigned long)"GPL";
	return sys_bpf(BPF_PROG_LOAD, &a);
}

/* A program storing five u32 ctx fields (by offset) into cb[0..4]; returns 1 (CGROUP_SKB allows 0 or 1). */
static long load_fields(unsigned type, const short off[5])
{
	struct bpf_insn p[12];
	unsigned n = 0;

	for (int i = 0; i < 5; i++) {
		p[n++] = LDX(BPF_W, 2, 1, off[i]);
		p[n++] = STX(BPF_W, 1, 2, (short)(SKB(cb) + 4 * i));
	}
	p[n++] = MOV64_IMM(0, 1);
	p[n++] = EXIT();
	return load(type, p, n);
}

struct run {
	const void *in;
	unsigned in_sz;
	unsigned out_sz;         /* data_size_out; buffer is 8192 */
	int no_out;              /* data_out NULL */
	const struct __sk_buff *ctx;
	unsigned ctx_in_sz;      /* 0 = sizeof(*ctx) when ctx */
	unsigned ctx_out_sz;     /* 0 = no ctx_out */
	unsigned repeat, flags, cpu, batch;
};

static void hex(const char *tag, const void *p, unsigned n)
{
	const unsigned char *b = p;

	printf(" %s=", tag);
	for (unsigned i = 0; i < n; i++)
		printf("%02x", b[i]);
}

static void run(const char *name, long fd, const struct run *r)
{
	static unsigned char out[16384];
	static unsigned char ctx_buf[512];
	static struct __sk_buff ctx_out;
	union bpf_attr a;
	long rc;

	if (fd < 0) {
		printf("%s: load %ld\n", name, fd);
		return;
	}
	memset(out, 0xa5, sizeof(out));
	memset(&ctx_out, 0xa5, sizeof(ctx_out));
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (unsigned)fd;
	a.test.data_in = (unsigned long)r->in;
	a.test.data_size_in = r->in_sz;
	if (!r->no_out)
		a.test.data_out = (unsigned long)out;
	a.test.data_size_out = r->out_sz;
	if (r->ctx) {
		memset(ctx_buf, 0, sizeof(ctx_buf));
		memcpy(ctx_buf, r->ctx, sizeof(*r->ctx));
		a.test.ctx_in = (unsigned long)ctx_buf;
		a.test.ctx_size_in = r->ctx_in_sz ? r->ctx_in_sz : sizeof(*r->ctx);
	}
	if (r->ctx_out_sz) {
		a.test.ctx_out = (unsigned long)&ctx_out;
		a.test.ctx_size_out = r->ctx_out_sz;
	}
	a.test.repeat = r->repeat;
	a.test.flags = r->flags;
	a.test.cpu = r->cpu;
	a.test.batch_size = r->batch;
	rc = sys_bpf(BPF_PROG_TEST_RUN, &a);
	printf("%s: rc=%ld retval=%u size_out=%u ctx_size_out=%u dur<1s=%d", name, rc, a.test.retval,
	       a.test.data_size_out, a.test.ctx_size_out, a.test.duration < 1000000000u);
	if (!r->no_out && (rc == 0 || rc == -ENOSPC))
		hex("data", out, a.test.data_size_out < 96 ? a.test.data_size_out + 2 : 96);
	if (r->ctx_out_sz && (rc == 0 || rc == -ENOSPC))
		hex("ctx", &ctx_out, sizeof(ctx_out));
	printf("\n");
}

int main(void)
{
	static unsigned char v4[74], v6[62], arp[42], big[3712 + 1], tiny[15];
	static const short f_a[5] = { SKB(len), SKB(protocol), SKB(pkt_type), SKB(ifindex), SKB(mark) };
	static const short f_b[5] = { SKB(priority), SKB(ingress_ifindex), SKB(hash), SKB(queue_mapping), SKB(vlan_present) };
	static const short f_c[5] = { SKB(tc_index), SKB(tc_classid), SKB(napi_id), SKB(wire_len), SKB(gso_segs) };
	static const short f_d[5] = { SKB(gso_size), SKB(vlan_tci), SKB(vlan_proto), SKB(cb[0]), SKB(cb[4]) };
	static const unsigned types[3] = { BPF_PROG_TYPE_SOCKET_FILTER, BPF_PROG_TYPE_SCHED_CLS, BPF_PROG_TYPE_CGROUP_SKB };
	static const char *tname[3] = { "socket", "tc", "cgskb" };
	struct __sk_buff ctx;
	char name[64];
	long fd;

	/* IPv4/TCP to 10.0.0.2 from 10.0.0.1, dst MAC 00:..:00 (the loopback's address). */
	memcpy(v4 + 6, "\x02\x00\x00\x00\x00\x01\x08\x00", 8);
	memcpy(v4 + 14, "\x45\x00\x00\x3c\x12\x34\x40\x00\x40\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02", 20);
	memcpy(v4 + 34, "\x30\x39\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\xa0\x02\xfa\xf0\x00\x00\x00\x00", 20);
	for (unsigned i = 54; i < sizeof(v4); i++)
		v4[i] = (unsigned char)i;
	/* IPv6, broadcast destination. */
	memset(v6, 0xff, 6);
	memcpy(v6 + 6, "\x02\x00\x00\x00\x00\x01\x86\xdd\x60\x00\x00\x00\x00\x08\x11\x40", 16);
	v6[37] = 1;
	v6[53] = 2;
	/* ARP to a multicast MAC. */
	memcpy(arp, "\x01\x00\x5e\x00\x00\x01\x02\x00\x00\x00\x00\x01\x08\x06", 14);
	memcpy(big, v4, sizeof(v4));
	memcpy(tiny, "\x02\x00\x00\x00\x00\x09\x02\x00\x00\x00\x00\x01\x08\x00", 14);

	for (int t = 0; t < 3; t++) {
		const short *fs[4] = { f_a, f_b, f_c, f_d };

		for (int f = 0; f < 4; f++) {
			fd = load_fields(types[t], fs[f]);
			snprintf(name, sizeof(name), "%s fields %c v4", tname[t], 'a' + f);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
			snprintf(name, sizeof(name), "%s fields %c v6", tname[t], 'a' + f);
			run(name, fd, &(struct run){ .in = v6, .in_sz = sizeof(v6), .ctx_out_sz = sizeof(ctx) });
			snprintf(name, sizeof(name), "%s fields %c arp", tname[t], 'a' + f);
			run(name, fd, &(struct run){ .in = arp, .in_sz = sizeof(arp), .ctx_out_sz = sizeof(ctx) });
			snprintf(name, sizeof(name), "%s fields %c tiny", tname[t], 'a' + f);
			run(name, fd, &(struct run){ .in = tiny, .in_sz = sizeof(tiny), .ctx_out_sz = sizeof(ctx) });
			if (f == 0) {
				memset(&ctx, 0, sizeof(ctx));
				ctx.mark = 0x11;
				ctx.priority = 0x22;
				ctx.ingress_ifindex = 0x33;
				ctx.ifindex = 1;
				ctx.cb[0] = 0x44;
				ctx.cb[4] = 0x55;
				ctx.tstamp = 0x66;
				ctx.wire_len = 1000;
				ctx.gso_segs = 3;
				ctx.gso_size = 1400;
				ctx.hwtstamp = 0x77;
				snprintf(name, sizeof(name), "%s fields %c ctx_in", tname[t], 'a' + f);
				run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx,
							     .ctx_out_sz = sizeof(ctx) });
				/* Packet type against another device (broadcast ff:..:ff is that device's). */
				memset(&ctx, 0, sizeof(ctx));
				ctx.ifindex = 2;
				snprintf(name, sizeof(name), "%s fields %c ifindex 2 v6", tname[t], 'a' + f);
				run(name, fd, &(struct run){ .in = v6, .in_sz = sizeof(v6), .ctx = &ctx,
							     .ctx_out_sz = sizeof(ctx) });
			}
			if (f == 1 || f == 2) {
				memset(&ctx, 0, sizeof(ctx));
				ctx.priority = 9;
				ctx.ingress_ifindex = 4;
				ctx.wire_len = 100;
				snprintf(name, sizeof(name), "%s fields %c ctx_in", tname[t], 'a' + f);
				run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx,
							     .ctx_out_sz = sizeof(ctx) });
			}
			if (fd >= 0)
				close((int)fd);
		}
	}

	/* tc: data_end - data, first byte flipped through direct packet access. */
	{
		struct bpf_insn p[] = {
			LDX(BPF_W, 2, 1, SKB(data)),
			LDX(BPF_W, 3, 1, SKB(data_end)),
			MOV64_REG(0, 3),
			SUB64_REG(0, 2),
			MOV64_REG(4, 2),
			ADD64_IMM(4, 14),
			JGT_REG(4, 3, 3),
			LDX(BPF_B, 5, 2, 12),
			XOR32_IMM(5, 0xff),
			STX(BPF_B, 2, 5, 12),
			EXIT(),
		};

		for (int t = 1; t < 3; t++) {
			fd = load(types[t], p, sizeof(p) / sizeof(p[0]));
			snprintf(name, sizeof(name), "%s direct v4", tname[t]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4) });
			snprintf(name, sizeof(name), "%s direct tiny", tname[t]);
			run(name, fd, &(struct run){ .in = tiny, .in_sz = sizeof(tiny) });
			if (fd >= 0)
				close((int)fd);
		}
		/* CGROUP_SKB may read the packet, not write it: data_end - data and byte 12 into cb[0], cb[1]. */
		{
			struct bpf_insn q[] = {
				LDX(BPF_W, 2, 1, SKB(data)),
				LDX(BPF_W, 3, 1, SKB(data_end)),
				MOV64_REG(0, 3),
				SUB64_REG(0, 2),
				STX(BPF_W, 1, 0, SKB(cb[0])),
				MOV64_REG(4, 2),
				ADD64_IMM(4, 14),
				JGT_REG(4, 3, 2),
				LDX(BPF_B, 5, 2, 12),
				STX(BPF_W, 1, 5, SKB(cb[1])),
				MOV64_IMM(0, 1),
				EXIT(),
			};

			fd = load(BPF_PROG_TYPE_CGROUP_SKB, q, sizeof(q) / sizeof(q[0]));
			run("cgskb direct read v4", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
			if (fd >= 0)
				close((int)fd);
		}
		fd = load(BPF_PROG_TYPE_SOCKET_FILTER, p, sizeof(p) / sizeof(p[0]));
		printf("socket direct access load: %s\n", fd == -EACCES ? "EACCES" : fd < 0 ? "other error" : "loaded");
		if (fd >= 0)
			close((int)fd);
	}

	/* Helpers: load 4 bytes at 12, store 2 bytes at 0, pull, load past the end. */
	{
		struct bpf_insn p[] = {
			MOV64_REG(6, 1),
			MOV64_IMM(2, 12),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 4),
			CALL(BPF_FUNC_skb_load_bytes),
			MOV64_REG(7, 0),
			LDX(BPF_W, 8, 10, -8),
			STX(BPF_W, 6, 8, SKB(cb[0])),
			ST(BPF_H, 10, -16, 0x4242),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 0),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -16),
			MOV64_IMM(4, 2),
			MOV64_IMM(5, 0),
			CALL(BPF_FUNC_skb_store_bytes),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 20),
			CALL(BPF_FUNC_skb_pull_data),
			STX(BPF_W, 6, 0, SKB(cb[2])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 4000),
			CALL(BPF_FUNC_skb_pull_data),
			STX(BPF_W, 6, 0, SKB(cb[3])),
			MOV64_REG(1, 6),
			LDX(BPF_W, 2, 6, SKB(len)),
			ADD64_IMM(2, -2),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 4),
			CALL(BPF_FUNC_skb_load_bytes),
			STX(BPF_W, 6, 0, SKB(cb[4])),
			MOV64_REG(0, 7),
			EXIT(),
		};

		for (int t = 0; t < 3; t++) {
			fd = load(types[t], p, sizeof(p) / sizeof(p[0]));
			snprintf(name, sizeof(name), "%s helpers v4", tname[t]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
			if (fd >= 0)
				close((int)fd);
		}
	}

	/* bpf_skb_load_bytes_relative(): from the MAC and the network header, past the tail, bad start. */
	{
		struct bpf_insn p[] = {
			MOV64_REG(6, 1),
			ST(BPF_DW, 10, -8, 0),
			MOV64_IMM(2, 12),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 2),
			MOV64_IMM(5, BPF_HDR_START_MAC),
			CALL(BPF_FUNC_skb_load_bytes_relative),
			LDX(BPF_W, 7, 10, -8),
			LSH64_IMM(0, 16),
			OR64_REG(7, 0),
			STX(BPF_W, 6, 7, SKB(cb[0])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 9),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 1),
			MOV64_IMM(5, BPF_HDR_START_NET),
			CALL(BPF_FUNC_skb_load_bytes_relative),
			LDX(BPF_W, 7, 10, -8),
			STX(BPF_W, 6, 7, SKB(cb[1])),
			STX(BPF_W, 6, 0, SKB(cb[2])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 73),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 2),
			MOV64_IMM(5, BPF_HDR_START_MAC),
			CALL(BPF_FUNC_skb_load_bytes_relative),
			LDX(BPF_W, 7, 10, -8),
			LSH64_IMM(0, 16),
			OR64_REG(7, 0),
			STX(BPF_W, 6, 7, SKB(cb[3])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 0),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 4),
			MOV64_IMM(5, 2),
			CALL(BPF_FUNC_skb_load_bytes_relative),
			STX(BPF_W, 6, 0, SKB(cb[4])),
			MOV64_IMM(0, 1),
			EXIT(),
		};

		for (int t = 0; t < 3; t++) {
			fd = load(types[t], p, sizeof(p) / sizeof(p[0]));
			snprintf(name, sizeof(name), "%s load_bytes_relative v4", tname[t]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
			snprintf(name, sizeof(name), "%s load_bytes_relative arp", tname[t]);
			run(name, fd, &(struct run){ .in = arp, .in_sz = sizeof(arp), .ctx_out_sz = sizeof(ctx) });
			if (fd >= 0)
				close((int)fd);
		}
	}

	/* bpf_skb_change_tail(cb[0]) then bpf_skb_change_head(cb[2]); then a byte through the new data pointer. */
	{
		struct bpf_insn p[] = {
			MOV64_REG(6, 1),
			LDX(BPF_W, 2, 6, SKB(cb[0])),
			MOV64_IMM(3, 0),
			CALL(BPF_FUNC_skb_change_tail),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_REG(1, 6),
			LDX(BPF_W, 2, 6, SKB(cb[2])),
			MOV64_IMM(3, 0),
			CALL(BPF_FUNC_skb_change_head),
			STX(BPF_W, 6, 0, SKB(cb[3])),
			ST(BPF_DW, 10, -8, 0),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 0),
			MOV64_REG(3, 10),
			ADD64_IMM(3, -8),
			MOV64_IMM(4, 1),
			MOV64_IMM(5, BPF_HDR_START_NET),
			CALL(BPF_FUNC_skb_load_bytes_relative),
			LDX(BPF_W, 7, 10, -8),
			LSH64_IMM(0, 8),
			OR64_REG(7, 0),
			STX(BPF_W, 6, 7, SKB(cb[4])),
			LDX(BPF_W, 2, 6, SKB(data)),
			LDX(BPF_W, 3, 6, SKB(data_end)),
			MOV64_REG(0, 3),
			SUB64_REG(0, 2),
			MOV64_REG(4, 2),
			ADD64_IMM(4, 1),
			JGT_REG(4, 3, 1),
			ST(BPF_B, 2, 0, 0x77),
			EXIT(),
		};
		static const unsigned vals[][2] = { { 84, 4 }, { 74, 0 }, { 16064, 0 }, { 16064, 1 }, { 14, 0 }, { 13, 0 },
						    { 100, 16000 }, { 20, 16044 }, { 20, 16045 }, { 0xffffffffu, 0xffffffffu },
						    { 30, 20 } };

		fd = load(BPF_PROG_TYPE_SCHED_CLS, p, sizeof(p) / sizeof(p[0]));
		for (unsigned i = 0; i < sizeof(vals) / sizeof(vals[0]); i++) {
			memset(&ctx, 0, sizeof(ctx));
			ctx.cb[0] = vals[i][0];
			ctx.cb[2] = vals[i][1];
			snprintf(name, sizeof(name), "tc change tail %u head %u", vals[i][0], vals[i][1]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .out_sz = 8192, .ctx = &ctx,
						     .ctx_out_sz = sizeof(ctx) });
		}
		if (fd >= 0)
			close((int)fd);
		fd = load(BPF_PROG_TYPE_CGROUP_SKB, p, sizeof(p) / sizeof(p[0]));
		printf("cgskb change_tail load: %ld\n", fd);
	}

	/* Checksum helpers: IPv4 header checksum (offset 24), TCP checksum (offset 50), error cases. */
	{
		struct bpf_insn p[] = {
			MOV64_REG(6, 1),
			MOV64_IMM(2, 24),
			LD64(3, 0x0100000a), /* saddr 10.0.0.1 as loaded from memory */
			LD64(4, 0x6300000a), /* 10.0.0.99 */
			MOV64_IMM(5, 4),
			CALL(BPF_FUNC_l3_csum_replace),
			STX(BPF_W, 6, 0, SKB(cb[0])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 50),
			LD64(3, 0x0100000a),
			LD64(4, 0x6300000a),
			MOV64_IMM(5, BPF_F_PSEUDO_HDR | 4),
			CALL(BPF_FUNC_l4_csum_replace),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 50),
			MOV64_IMM(3, 0x3930),
			MOV64_IMM(4, 0x3131),
			MOV64_IMM(5, 2),
			CALL(BPF_FUNC_l4_csum_replace),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 24),
			MOV64_IMM(3, 0),
			MOV64_IMM(4, 0x1234),
			MOV64_IMM(5, 0),
			CALL(BPF_FUNC_l3_csum_replace),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 24),
			MOV64_IMM(3, 0x0045),
			MOV64_IMM(4, 0x0046),
			MOV64_IMM(5, 2),
			CALL(BPF_FUNC_l3_csum_replace),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 25),
			MOV64_IMM(3, 0),
			MOV64_IMM(4, 0),
			MOV64_IMM(5, 4),
			CALL(BPF_FUNC_l3_csum_replace),
			STX(BPF_W, 6, 0, SKB(cb[2])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 24),
			MOV64_IMM(3, 1),
			MOV64_IMM(4, 0),
			MOV64_IMM(5, 0),
			CALL(BPF_FUNC_l3_csum_replace),
			STX(BPF_W, 6, 0, SKB(cb[3])),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 72),
			MOV64_IMM(3, 0),
			MOV64_IMM(4, 0),
			MOV64_IMM(5, 4 | BPF_F_MARK_MANGLED_0),
			CALL(BPF_FUNC_l4_csum_replace),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 70),
			MOV64_IMM(3, 0x4746),
			MOV64_IMM(4, 0x0),
			MOV64_IMM(5, 2 | BPF_F_MARK_MANGLED_0 | BPF_F_MARK_ENFORCE),
			CALL(BPF_FUNC_l4_csum_replace),
			MOV64_REG(1, 6),
			MOV64_IMM(2, 24),
			MOV64_IMM(3, 0),
			MOV64_IMM(4, 0),
			MOV64_IMM(5, 0x100),
			CALL(BPF_FUNC_l3_csum_replace),
			STX(BPF_W, 6, 0, SKB(cb[4])),
			MOV64_IMM(0, 0),
			EXIT(),
		};
		static unsigned char udp[74];

		fd = load(BPF_PROG_TYPE_SCHED_CLS, p, sizeof(p) / sizeof(p[0]));
		run("tc csum v4", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
		memcpy(udp, v4, sizeof(udp));
		udp[24] = 0x12, udp[25] = 0x34, udp[50] = 0xff, udp[51] = 0xfe;
		run("tc csum v4 nonzero", fd, &(struct run){ .in = udp, .in_sz = sizeof(udp), .ctx_out_sz = sizeof(ctx) });
		if (fd >= 0)
			close((int)fd);
		fd = load(BPF_PROG_TYPE_SOCKET_FILTER, p, sizeof(p) / sizeof(p[0]));
		printf("socket csum load: %ld\n", fd);
	}

	/* bpf_csum_diff(): from = cb[0..1], to = cb[2..3], seed = cb[4], constant sizes per program. */
	{
		struct bpf_insn p[] = {
			LDX(BPF_W, 2, 1, SKB(cb[0])), STX(BPF_W, 10, 2, -16),
			LDX(BPF_W, 2, 1, SKB(cb[1])), STX(BPF_W, 10, 2, -12),
			LDX(BPF_W, 2, 1, SKB(cb[2])), STX(BPF_W, 10, 2, -32),
			LDX(BPF_W, 2, 1, SKB(cb[3])), STX(BPF_W, 10, 2, -28),
			LDX(BPF_W, 5, 1, SKB(cb[4])),
			MOV64_IMM(2, 0),
			MOV64_IMM(4, 0),
			MOV64_REG(1, 10), ADD64_IMM(1, -16),
			MOV64_REG(3, 10), ADD64_IMM(3, -32),
			CALL(BPF_FUNC_csum_diff),
			EXIT(),
		};
		static const unsigned v[][7] = {
			{ 0x0100000a, 0, 0x6300000a, 0, 0, 4, 4 }, { 0x0100000a, 0x12345678, 0x6300000a, 0x9abcdef0, 0x1234, 8, 8 },
			{ 0, 0, 0xffffffff, 0, 0, 0, 4 }, { 0xffffffff, 0, 0, 0, 0, 4, 0 }, { 0, 0, 0, 0, 0x1234, 0, 0 },
			{ 1, 0, 1, 0, 0xffffffff, 4, 4 }, { 5, 6, 7, 8, 9, 8, 4 }, { 0, 0, 0, 0, 0, 3, 4 },
			{ 0xffffffff, 0xffffffff, 0xfffefdfc, 0x01020304, 0x80000000, 8, 7 }, { 0x12345678, 0, 0xabcdef01, 0, 7, 2, 1 },
		};

		for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
			p[9].imm = (int)v[i][5];
			p[10].imm = (int)v[i][6];
			fd = load(BPF_PROG_TYPE_SCHED_CLS, p, sizeof(p) / sizeof(p[0]));
			memset(&ctx, 0, sizeof(ctx));
			for (int k = 0; k < 5; k++)
				ctx.cb[k] = v[i][k];
			snprintf(name, sizeof(name), "tc csum_diff %u", i);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
			if (fd >= 0)
				close((int)fd);
		}
	}

	/* bpf_redirect(): TC_ACT_REDIRECT, or TC_ACT_SHOT for unknown flags. */
	{
		struct bpf_insn p[] = { MOV64_IMM(1, 5), MOV64_IMM(2, 0), CALL(BPF_FUNC_redirect), EXIT() };
		static const int flags[] = { 0, BPF_F_INGRESS, 2, -1 };

		for (unsigned i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			p[1].imm = flags[i];
			fd = load(BPF_PROG_TYPE_SCHED_CLS, p, 4);
			snprintf(name, sizeof(name), "tc redirect flags %d", flags[i]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4) });
			if (fd >= 0)
				close((int)fd);
		}
		fd = load(BPF_PROG_TYPE_SOCKET_FILTER, p, 4);
		printf("socket redirect load: %ld\n", fd < 0 ? fd : 0L);
		if (fd >= 0)
			close((int)fd);
	}

	/* Not IP: an 802.2 (LLC) frame and a raw 802.3 frame. */
	{
		static unsigned char llc[60] = { 2, 0, 0, 0, 0, 9, 2, 0, 0, 0, 0, 1, 0x00, 0x2e, 0x42, 0x42, 3 };
		static unsigned char raw[60] = { 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0x00, 0x2e, 0xff, 0xff };

		fd = load_fields(BPF_PROG_TYPE_SCHED_ACT, f_a);
		run("act fields a v4", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
		if (fd >= 0)
			close((int)fd);
		fd = load_fields(BPF_PROG_TYPE_SCHED_CLS, f_a);
		run("tc fields a llc", fd, &(struct run){ .in = llc, .in_sz = sizeof(llc), .ctx_out_sz = sizeof(ctx) });
		run("tc fields a raw 802.3", fd, &(struct run){ .in = raw, .in_sz = sizeof(raw), .ctx_out_sz = sizeof(ctx) });
		run("tc fields a raw 802.3 short", fd, &(struct run){ .in = raw, .in_sz = 15, .ctx_out_sz = sizeof(ctx) });
		if (fd >= 0)
			close((int)fd);
	}

	/* The ctx passed to a bpf-to-bpf call and spilled to the stack there: both are still the ctx. */
	{
		struct bpf_insn p[] = {
			INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1),
			EXIT(),
			STX(BPF_DW, 10, 1, -8),
			MOV64_IMM(1, 0),
			LDX(BPF_DW, 3, 10, -8),
			LDX(BPF_W, 0, 3, SKB(protocol)),
			EXIT(),
		};
		struct bpf_insn bad[] = {
			INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1),
			EXIT(),
			STX(BPF_DW, 10, 1, -8),
			MOV64_IMM(1, 0),
			LDX(BPF_DW, 3, 10, -8),
			LDX(BPF_W, 0, 3, SKB(family)),
			EXIT(),
		};

		fd = load(BPF_PROG_TYPE_SCHED_CLS, p, sizeof(p) / sizeof(p[0]));
		run("tc subprog spilled ctx", fd, &(struct run){ .in = v6, .in_sz = sizeof(v6) });
		if (fd >= 0)
			close((int)fd);
		fd = load(BPF_PROG_TYPE_SCHED_CLS, bad, sizeof(bad) / sizeof(bad[0]));
		printf("tc subprog spilled ctx family load: %ld\n", fd < 0 ? fd : 0L);
		if (fd >= 0)
			close((int)fd);
	}

	/* The attr rules, on a tc program returning len. */
	{
		struct bpf_insn p[] = { LDX(BPF_W, 0, 1, SKB(len)), EXIT() };

		fd = load(BPF_PROG_TYPE_SCHED_CLS, p, 2);
		run("short frame", fd, &(struct run){ .in = v4, .in_sz = 13 });
		run("ethernet header only", fd, &(struct run){ .in = v4, .in_sz = 14 });
		run("no data", fd, &(struct run){ 0 });
		run("largest frame", fd, &(struct run){ .in = big, .in_sz = 3712, .out_sz = 8192 });
		run("too large frame", fd, &(struct run){ .in = big, .in_sz = 3713 });
		run("data_out too small", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .out_sz = 20 });
		run("no data_out", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .no_out = 1 });
		run("repeat 1000", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .repeat = 1000 });
		run("flags", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .flags = BPF_F_TEST_RUN_ON_CPU });
		run("cpu", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .cpu = 1 });
		run("batch", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .batch = 1 });
		run("ctx_out only", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
		run("ctx_out too small", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = 20 });
		memset(&ctx, 0, sizeof(ctx));
		run("ctx zero", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		run("ctx short", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx, .ctx_in_sz = 8 });
		run("ctx long zero tail", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx, .ctx_in_sz = 300 });
		ctx.len = 5;
		run("ctx len set", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.protocol = 8;
		run("ctx protocol set", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.tc_index = 1;
		run("ctx tc_index set", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.data = 1;
		run("ctx data set", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.tstamp_type = 1;
		run("ctx tstamp_type set", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.wire_len = 10;
		run("ctx wire_len < len", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		ctx.wire_len = 65536;
		run("ctx wire_len 65536", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		ctx.wire_len = 65537;
		run("ctx wire_len 65537", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.gso_segs = 65535;
		run("ctx gso_segs 65535", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx, .ctx_out_sz = sizeof(ctx) });
		ctx.gso_segs = 65536;
		run("ctx gso_segs 65536", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		memset(&ctx, 0, sizeof(ctx));
		ctx.ifindex = 1;
		run("ctx ifindex 1", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx, .ctx_out_sz = sizeof(ctx) });
		ctx.ifindex = 2; /* the first real device, if any: ENODEV otherwise, on both sides */
		run("ctx ifindex 2", fd, &(struct run){ .in = arp, .in_sz = sizeof(arp), .ctx = &ctx, .ctx_out_sz = sizeof(ctx) });
		ctx.ifindex = 99999;
		run("ctx ifindex missing", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx });
		{
			static unsigned char longctx[300];

			longctx[250] = 1;
			fd = fd < 0 ? fd : fd;
			{
				union bpf_attr a;

				memset(&a, 0, sizeof(a));
				a.test.prog_fd = (unsigned)fd;
				a.test.data_in = (unsigned long)v4;
				a.test.data_size_in = sizeof(v4);
				a.test.ctx_in = (unsigned long)longctx;
				a.test.ctx_size_in = sizeof(longctx);
				printf("ctx long non-zero tail: rc=%ld\n", sys_bpf(BPF_PROG_TEST_RUN, &a));
			}
		}
		if (fd >= 0)
			close((int)fd);
	}

	/* ctx accesses the kernel refuses at load. */
	{
		struct bpf_insn fam[] = { LDX(BPF_W, 0, 1, SKB(family)), EXIT() };
		struct bpf_insn wlen[] = { ST(BPF_W, 1, SKB(len), 1), MOV64_IMM(0, 0), EXIT() };
		struct bpf_insn odd[] = { LDX(BPF_W, 0, 1, 2), EXIT() };
		struct bpf_insn past[] = { LDX(BPF_W, 0, 1, 192), EXIT() };
		struct bpf_insn narrow[] = { LDX(BPF_B, 0, 1, SKB(protocol)), LDX(BPF_H, 2, 1, SKB(len)),
					     LSH64_IMM(0, 16), OR64_REG(0, 2), EXIT() };

		printf("tc family load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, fam, 2) < 0 ? -1L : 0L);
		printf("tc write len load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, wlen, 3) < 0 ? -1L : 0L);
		printf("tc misaligned load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, odd, 2) < 0 ? -1L : 0L);
		printf("tc past end load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, past, 2) < 0 ? -1L : 0L);
		fd = load(BPF_PROG_TYPE_SCHED_CLS, narrow, 5);
		run("tc narrow loads", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4) });
	}

	/*
	 * Legacy packet loads (LD_ABS/LD_IND, RFC 9669 §5.5; bpf_gen_ld_abs() and
	 * bpf_skb_load_helper_*() in net/core/filter.c): r0 = the bytes in network
	 * order into cb[1], r0 >> 32 into cb[2], return 1; out of range ends the
	 * program with 0 (cb[1], cb[2] keep ctx_in's). Offsets from data (the IP
	 * header for socket filters, the MAC header for tc), past the tail, and
	 * negative ones: SKF_NET_OFF (-0x100000) and SKF_LL_OFF (-0x200000) count
	 * from the network / MAC header, down to the skb's head (64 bytes before
	 * the frame); anything below SKF_LL_OFF fails.
	 */
	{
		struct bpf_insn ind[] = {
			MOV64_REG(6, 1),
			LDX(BPF_W, 7, 6, SKB(cb[0])),
			INSN(BPF_LD | BPF_IND | BPF_B, 0, 7, 0, 0),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_REG(8, 0),
			RSH64_IMM(8, 32),
			STX(BPF_W, 6, 8, SKB(cb[2])),
			MOV64_IMM(0, 1),
			EXIT(),
		};
		struct bpf_insn abs[] = {
			MOV64_REG(6, 1),
			INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 0),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_REG(8, 0),
			RSH64_IMM(8, 32),
			STX(BPF_W, 6, 8, SKB(cb[2])),
			MOV64_IMM(0, 1),
			EXIT(),
		};
		static const unsigned sizes[3] = { BPF_B, BPF_H, BPF_W };
		static const char szname[3] = { 'b', 'h', 'w' };
		static const struct { int imm; unsigned cb0; } ic[] = {
			{ 0, 0 }, { 0, 9 }, { 0, 23 }, { 0, 56 }, { 0, 58 }, { 0, 59 }, { 0, 60 }, { 0, 70 }, { 0, 71 },
			{ 0, 72 }, { 0, 73 }, { 0, 74 }, { 0, 0x7fffffff }, { 0, 0x80000000u }, { 0, 0xfff00000u },
			{ 0, 0xfff00009u }, { 0, 0xfff0003bu }, { 0, 0xfff0003cu }, { 0, 0xffeffff2u }, { 0, 0xffefffffu },
			{ 0, 0xffe00000u }, { 0, 0xffe0000cu }, { 0, 0xffdffffeu }, { 0, 0xffdfffc0u }, { 0, 0xffdfffbfu },
			{ 0, 0xffffffffu }, { 0, 0xfffff000u }, { 0, 0xffc00000u },
			/* src + imm in 64 bits, then the low 32 bits as an int: 0xffffffff + 10 is 9 */
			{ 10, 0xffffffffu }, { 10, 0 }, { -1, 0 }, { -1, 10 }, { 5, 4 },
		};
		static const int ai[] = { 9, 23, 12, 0, 58, 71, -0x100000 + 9, -0x200000 + 12, -0x200000 - 1, 100000 };

		for (int t = 0; t < 2; t++) {
			for (int z = 0; z < 3; z++) {
				int last_imm = 0x7fffffff;

				fd = -1;
				for (unsigned k = 0; k < sizeof(ic) / sizeof(ic[0]); k++) {
					if (ic[k].imm != last_imm) {
						if (fd >= 0)
							close((int)fd);
						ind[2].code = BPF_LD | BPF_IND | sizes[z];
						ind[2].imm = ic[k].imm;
						fd = load(types[t], ind, sizeof(ind) / sizeof(ind[0]));
						last_imm = ic[k].imm;
					}
					memset(&ctx, 0, sizeof(ctx));
					ctx.cb[0] = ic[k].cb0;
					ctx.cb[1] = 0xaaaa;
					ctx.cb[2] = 0xbbbb;
					snprintf(name, sizeof(name), "%s ldind%c r7=0x%x imm %d", tname[t], szname[z], ic[k].cb0,
						 ic[k].imm);
					run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx = &ctx,
								     .ctx_out_sz = sizeof(ctx) });
				}
				if (fd >= 0)
					close((int)fd);
				for (unsigned k = 0; k < sizeof(ai) / sizeof(ai[0]); k++) {
					abs[1].code = BPF_LD | BPF_ABS | sizes[z];
					abs[1].imm = ai[k];
					fd = load(types[t], abs, sizeof(abs) / sizeof(abs[0]));
					snprintf(name, sizeof(name), "%s ldabs%c %d", tname[t], szname[z], ai[k]);
					run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .ctx_out_sz = sizeof(ctx) });
					if (fd >= 0)
						close((int)fd);
				}
			}
		}
		/* The protocol byte of an IPv6 frame (next header 17), through the network header. */
		abs[1].code = BPF_LD | BPF_ABS | BPF_B;
		abs[1].imm = -0x100000 + 6;
		fd = load(BPF_PROG_TYPE_SCHED_CLS, abs, sizeof(abs) / sizeof(abs[0]));
		run("tc ldabsb net+6 v6", fd, &(struct run){ .in = v6, .in_sz = sizeof(v6), .ctx_out_sz = sizeof(ctx) });
		if (fd >= 0)
			close((int)fd);
	}

	/* After bpf_skb_change_head(cb[3]) SKF_LL_OFF counts from the new MAC header, SKF_NET_OFF as before: byte cb[0] into cb[1]. */
	{
		struct bpf_insn p[] = {
			MOV64_REG(6, 1),
			LDX(BPF_W, 2, 6, SKB(cb[3])),
			MOV64_IMM(3, 0),
			CALL(BPF_FUNC_skb_change_head),
			STX(BPF_W, 6, 0, SKB(cb[4])),
			LDX(BPF_W, 7, 6, SKB(cb[0])),
			INSN(BPF_LD | BPF_IND | BPF_B, 0, 7, 0, 0),
			STX(BPF_W, 6, 0, SKB(cb[1])),
			MOV64_IMM(0, 1),
			EXIT(),
		};
		static const unsigned hk[][2] = { { 0, 0xffe0000c }, { 8, 0xffe00014 }, { 100, 0xffe00070 }, { 8, 0xffe00000 },
						  { 8, 0xffe00051 }, { 8, 0xffe00052 }, { 8, 0xfff00000 }, { 8, 0xfff00009 },
						  { 8, 0 }, { 8, 20 }, { 8, 81 }, { 8, 82 } };

		fd = load(BPF_PROG_TYPE_SCHED_CLS, p, sizeof(p) / sizeof(p[0]));
		for (unsigned k = 0; k < sizeof(hk) / sizeof(hk[0]); k++) {
			memset(&ctx, 0, sizeof(ctx));
			ctx.cb[3] = hk[k][0];
			ctx.cb[0] = hk[k][1];
			ctx.cb[1] = 0xaaaa;
			snprintf(name, sizeof(name), "tc change head %u ldindb 0x%x", hk[k][0], hk[k][1]);
			run(name, fd, &(struct run){ .in = v4, .in_sz = sizeof(v4), .out_sz = 8192, .ctx = &ctx,
						     .ctx_out_sz = sizeof(ctx) });
		}
		if (fd >= 0)
			close((int)fd);
	}

	/* What the kernel refuses at load (check_ld_abs(), check_abnormal_return()). */
	{
		struct bpf_insn ok[] = { MOV64_REG(6, 1), INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 9), EXIT() };
		struct bpf_insn dst[] = { MOV64_REG(6, 1), INSN(BPF_LD | BPF_ABS | BPF_B, 1, 0, 0, 9), EXIT() };
		struct bpf_insn off[] = { MOV64_REG(6, 1), INSN(BPF_LD | BPF_IND | BPF_W, 0, 6, 2, 9), EXIT() };
		struct bpf_insn src[] = { MOV64_REG(6, 1), INSN(BPF_LD | BPF_ABS | BPF_H, 0, 3, 0, 9), EXIT() };
		struct bpf_insn dw[] = { MOV64_REG(6, 1), INSN(BPF_LD | BPF_ABS | BPF_DW, 0, 0, 0, 9), EXIT() };
		struct bpf_insn r6[] = { MOV64_IMM(6, 0), INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 9), EXIT() };
		struct bpf_insn sub[] = { MOV64_REG(6, 1), INSN(BPF_JMP | BPF_CALL, 0, BPF_PSEUDO_CALL, 0, 1), EXIT(),
					  INSN(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 9), EXIT() };

		fd = load(BPF_PROG_TYPE_CGROUP_SKB, ok, 3);
		printf("cgskb ldabs load errno: %ld\n", fd < 0 ? fd : 0L);
		if (fd >= 0)
			close((int)fd);
		fd = load(BPF_PROG_TYPE_SCHED_ACT, ok, 3);
		run("act ldabsb 9", fd, &(struct run){ .in = v4, .in_sz = sizeof(v4) });
		if (fd >= 0)
			close((int)fd);
		printf("socket ldabs dst 1 load: %ld\n", load(BPF_PROG_TYPE_SOCKET_FILTER, dst, 3));
		printf("socket ldind off 2 load: %ld\n", load(BPF_PROG_TYPE_SOCKET_FILTER, off, 3));
		printf("tc ldabs src 3 load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, src, 3));
		printf("tc ldabs dw load: %ld\n", load(BPF_PROG_TYPE_SCHED_CLS, dw, 3));
		printf("socket ldabs r6 scalar load: %ld\n", load(BPF_PROG_TYPE_SOCKET_FILTER, r6, 3));
		printf("socket ldabs in subprog load: %ld\n", load(BPF_PROG_TYPE_SOCKET_FILTER, sub, 5));
	}
	return 0;
}
