/*
 * ldabs_bench.c - the legacy packet loads (LD_ABS/LD_IND, RFC 9669 §5.5)
 * under BPF_PROG_TEST_RUN: a socket filter that parses an IPv4/TCP frame the
 * classic way (protocol, addresses, IHL, ports through LD_IND: 7 packet
 * loads), run "repeat" times; prints "ldabs_filter <average ns per run>"
 * from the kernel's (or bpftime's) duration. bench/ldabs_bench.sh runs it
 * on the kernel (root) and under bpftime-run (uid 65534) and prints the
 * ratio. Not part of make check.
 * Usage: ldabs_bench [repeat]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define I(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })

static long sys_bpf(int cmd, union bpf_attr *a)
{
	long r = syscall(SYS_bpf, cmd, a, sizeof(*a));

	return r < 0 ? -errno : r;
}

int main(int argc, char **argv)
{
	unsigned repeat = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 100000;
	static unsigned char frame[74] = { 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 8, 0 };
	struct bpf_insn p[] = {
		I(BPF_ALU64 | BPF_MOV | BPF_X, 6, 1, 0, 0),
		I(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 9),           /* protocol */
		I(BPF_JMP | BPF_JNE | BPF_K, 0, 0, 12, 6),         /* not TCP: 0 */
		I(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 12),          /* saddr */
		I(BPF_ALU64 | BPF_MOV | BPF_X, 8, 0, 0, 0),
		I(BPF_LD | BPF_ABS | BPF_W, 0, 0, 0, 16),          /* daddr */
		I(BPF_ALU64 | BPF_XOR | BPF_X, 8, 0, 0, 0),
		I(BPF_LD | BPF_ABS | BPF_B, 0, 0, 0, 0),           /* version/IHL */
		I(BPF_ALU64 | BPF_AND | BPF_K, 0, 0, 0, 0xf),
		I(BPF_ALU64 | BPF_LSH | BPF_K, 0, 0, 0, 2),
		I(BPF_ALU64 | BPF_MOV | BPF_X, 7, 0, 0, 0),
		I(BPF_LD | BPF_IND | BPF_H, 0, 7, 0, 0),           /* sport */
		I(BPF_ALU64 | BPF_XOR | BPF_X, 8, 0, 0, 0),
		I(BPF_LD | BPF_IND | BPF_H, 0, 7, 0, 2),           /* dport */
		I(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1, 80),
		I(BPF_ALU64 | BPF_MOV | BPF_K, 8, 0, 0, 0),
		I(BPF_ALU64 | BPF_MOV | BPF_X, 0, 8, 0, 0),
		I(BPF_JMP | BPF_EXIT, 0, 0, 0, 0),
	};
	union bpf_attr a;
	long fd, rc;

	memcpy(frame + 14, "\x45\x00\x00\x3c\x12\x34\x40\x00\x40\x06\x00\x00\x0a\x00\x00\x01\x0a\x00\x00\x02", 20);
	memcpy(frame + 34, "\x30\x39\x00\x50\x00\x00\x00\x01\x00\x00\x00\x00\xa0\x02\xfa\xf0\x00\x00\x00\x00", 20);
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (unsigned long)p;
	a.insn_cnt = sizeof(p) / sizeof(p[0]);
	a.license = (unsigned long)"GPL";
	fd = sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0) {
		fprintf(stderr, "PROG_LOAD: %s\n", strerror((int)-fd));
		return 1;
	}
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (unsigned)fd;
	a.test.data_in = (unsigned long)frame;
	a.test.data_size_in = sizeof(frame);
	a.test.repeat = repeat;
	rc = sys_bpf(BPF_PROG_TEST_RUN, &a);
	if (rc < 0) {
		fprintf(stderr, "PROG_TEST_RUN: %s\n", strerror((int)-rc));
		return 1;
	}
	if (a.test.retval != (0x0a000001u ^ 0x0a000002u ^ 0x3039u)) {
		fprintf(stderr, "wrong result 0x%x\n", a.test.retval);
		return 1;
	}
	printf("ldabs_filter %u\n", a.test.duration);
	return 0;
}
