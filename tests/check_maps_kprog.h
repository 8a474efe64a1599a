/*
 * check_maps_kprog.h - tiny raw eBPF programs for the maps_types suite: the
 * kernel half of a comparison runs a helper (bpf_ringbuf_output, map_push_elem,
 * ...) inside the kernel through BPF_PROG_TEST_RUN of a socket filter, so the
 * helper's return value can be compared with ours. Instructions are built
 * from the field layout in include/uapi/linux/bpf.h (RFC 9669 §3).
 */
#ifndef TESTS_CHECK_MAPS_KPROG_H
#define TESTS_CHECK_MAPS_KPROG_H

#include <linux/bpf.h>
#include <stdint.h>
#include <string.h>

#include "tests/check_maps_kernel.h"

#define KI(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
/* dst = imm (64-bit mov of a sign-extended 32-bit immediate) */
#define KMOV_IMM(d, i) KI(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define KMOV_REG(d, s) KI(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define KADD_IMM(d, i) KI(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define KCALL(f) KI(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define KEXIT() KI(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define KJNE_IMM(d, i, off) KI(BPF_JMP | BPF_JNE | BPF_K, d, 0, off, i)
#define KJEQ_IMM(d, i, off) KI(BPF_JMP | BPF_JEQ | BPF_K, d, 0, off, i)
#define KST_DW(d, off, i) KI(BPF_ST | BPF_MEM | BPF_DW, d, 0, off, i)
#define KSTX_DW(d, s, off) KI(BPF_STX | BPF_MEM | BPF_DW, d, s, off, 0)
#define KLDX_DW(d, s, off) KI(BPF_LDX | BPF_MEM | BPF_DW, d, s, off, 0)
/* ld_imm64 dst = map fd (two slots) */
#define KLD_MAP(d, fd) KI(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), KI(0, 0, 0, 0, 0)
#define KLD_IMM64(d, v) KI(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int32_t)(uint32_t)(v)), \
		KI(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))

static char kprog_log[65536];

/* Load a program of @type; returns the prog fd or -errno (the verifier log is in kprog_log). */
static inline int kprog_load_type(uint32_t type, const struct bpf_insn *insns, uint32_t cnt)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uintptr_t)insns;
	a.insn_cnt = cnt;
	a.license = (uintptr_t)"GPL";
	a.log_buf = (uintptr_t)kprog_log;
	a.log_size = sizeof(kprog_log);
	a.log_level = 1;
	kprog_log[0] = 0;
	return kbpf(BPF_PROG_LOAD, &a);
}

/* A socket filter (BPF_PROG_TEST_RUN on a packet). */
static inline int kprog_load(const struct bpf_insn *insns, uint32_t cnt)
{
	return kprog_load_type(BPF_PROG_TYPE_SOCKET_FILTER, insns, cnt);
}

/* Run a raw tracepoint program once (ctx: one u64 argument); r0 in *ret. */
static inline int kprog_run_raw_tp(int fd, uint32_t *ret)
{
	uint64_t args[1] = { 0 };
	union bpf_attr a;
	int err;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = fd;
	a.test.ctx_in = (uintptr_t)args;
	a.test.ctx_size_in = sizeof(args);
	err = kbpf(BPF_PROG_TEST_RUN, &a);
	if (err)
		return err;
	*ret = a.test.retval;
	return 0;
}

/* Run once on a 64-byte packet; returns 0 and the program's r0 (u32) in *ret, or -errno. */
static inline int kprog_run(int fd, uint32_t *ret)
{
	uint8_t pkt[64] = { 0 };
	union bpf_attr a;
	int err;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = fd;
	a.test.data_in = (uintptr_t)pkt;
	a.test.data_size_in = sizeof(pkt);
	a.test.repeat = 1;
	err = kbpf(BPF_PROG_TEST_RUN, &a);
	if (err)
		return err;
	*ret = a.test.retval;
	return 0;
}

#endif /* TESTS_CHECK_MAPS_KPROG_H */
