/*
 * agent_vec.c - vector registers survive BPF programs that call helpers, in
 * a traced process (tests/e2e/agent-vec.sh). Run as root on the kernel (a
 * reference: the kernel saves every register) and unprivileged under
 * bpftime-run, where the programs run in this process through the agent and
 * the registers are saved lazily (hooks/xstate.c).
 *
 * One program, loaded as KPROBE (for a uprobe on vec_target, a function
 * whose entry is a 5-byte nop) and as TRACEPOINT (for sys_enter_getpid of
 * this process), calls bpf_map_update_elem on a hash map,
 * bpf_ringbuf_output, bpf_probe_read_user_str and bpf_snprintf, and stores
 * what each returned in the hash map, plus a run counter (runs of other
 * processes return at once: the kernel runs a tracepoint's programs for
 * every task). The main loop
 * loads known values into zmm0-31 and k1-k7 (ymm0-15 or xmm0-15 on smaller
 * CPUs), calls vec_target and issues getpid through a `mov $39,%eax;
 * syscall` site of its own, and compares the registers afterwards.
 *
 * Output (identical on both sides): "regs ok N/N", the helpers' results and
 * the run count.
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/kuprobe.h"

#define ROUNDS 200

static const char msg[] = "hello from the probed process";

/* The probed function, and the syscall site in a function of its own (the
 * syscall rewriter needs unwind info and skips functions Capstone cannot
 * decode, such as the AVX-512 code below). */
__asm__(".text\n"
	".p2align 4\n"
	".globl vec_target\n"
	".type vec_target, @function\n"
	"vec_target:\n"
	".cfi_startproc\n"
	".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"ret\n"
	".cfi_endproc\n"
	".size vec_target, .-vec_target\n"
	".p2align 4\n"
	".globl vec_getpid\n"
	".type vec_getpid, @function\n"
	"vec_getpid:\n"
	".cfi_startproc\n"
	"mov $39, %eax\n"
	"syscall\n"
	"ret\n"
	".cfi_endproc\n"
	".size vec_getpid, .-vec_getpid\n");
void vec_target(void);
void vec_getpid(void);

uint8_t vpat[32][64] __attribute__((aligned(64)));
uint8_t vout[32][64] __attribute__((aligned(64)));
uint64_t kpat[8], kout[8];

#define V16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define V32(M) V16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) M(28) \
	M(29) M(30) M(31)
#define K17(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define LZ(n) "vmovdqu64 vpat+" #n "*64(%%rip), %%zmm" #n "\n"
#define SZ(n) "vmovdqu64 %%zmm" #n ", vout+" #n "*64(%%rip)\n"
#define LY(n) "vmovdqu vpat+" #n "*64(%%rip), %%ymm" #n "\n"
#define SY(n) "vmovdqu %%ymm" #n ", vout+" #n "*64(%%rip)\n"
#define LX(n) "movdqu vpat+" #n "*64(%%rip), %%xmm" #n "\n"
#define SX(n) "movdqu %%xmm" #n ", vout+" #n "*64(%%rip)\n"
#define LK(n) "kmovq kpat+" #n "*8(%%rip), %%k" #n "\n"
#define SK(n) "kmovq %%k" #n ", kout+" #n "*8(%%rip)\n"
#define CLOB                                                                                       \
	"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", \
		"xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11",    \
		"xmm12", "xmm13", "xmm14", "xmm15"

enum width { W_XMM, W_YMM, W_ZMM };

static __attribute__((noinline)) void regs_call(enum width w, int sys)
{
	if (w == W_ZMM && sys)
		__asm__ volatile(V32(LZ) K17(LK) "call vec_getpid\n" V32(SZ) K17(SK) "vzeroupper\n" ::: CLOB);
	else if (w == W_ZMM)
		__asm__ volatile(V32(LZ) K17(LK) "call vec_target\n" V32(SZ) K17(SK) "vzeroupper\n" ::: CLOB);
	else if (w == W_YMM && sys)
		__asm__ volatile(V16(LY) "call vec_getpid\n" V16(SY) "vzeroupper\n" ::: CLOB);
	else if (w == W_YMM)
		__asm__ volatile(V16(LY) "call vec_target\n" V16(SY) "vzeroupper\n" ::: CLOB);
	else if (sys)
		__asm__ volatile(V16(LX) "call vec_getpid\n" V16(SX) ::: CLOB);
	else
		__asm__ volatile(V16(LX) "call vec_target\n" V16(SX) ::: CLOB);
}

static int regs_round(enum width w, int sys, int round)
{
	size_t sz = w == W_ZMM ? 64 : w == W_YMM ? 32 : 16;
	int n = w == W_ZMM ? 32 : 16;

	for (int i = 0; i < 32 * 64; i++)
		vpat[i / 64][i % 64] = (uint8_t)(i * 11 + round);
	for (int i = 1; i < 8; i++)
		kpat[i] = 0x9e3779b97f4a7c15ull * (uint64_t)(i + round);
	memset(vout, 0, sizeof(vout));
	memset(kout, 0, sizeof(kout));
	regs_call(w, sys);
	for (int i = 0; i < n; i++)
		if (memcmp(vout[i], vpat[i], sz)) {
			fprintf(stderr, "agent_vec: %s: vector register %d changed\n",
				sys ? "traced getpid" : "probed call", i);
			return 0;
		}
	if (w == W_ZMM && memcmp(kout + 1, kpat + 1, 7 * sizeof(kout[0]))) {
		fprintf(stderr, "agent_vec: %s: an opmask register changed\n", sys ? "traced getpid" : "probed call");
		return 0;
	}
	return 1;
}

#define INSN(c, d, s, o, i) ((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define LD_MAP(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_FD, 0, fd), INSN(0, 0, 0, 0, 0)
#define LD_MAP_VALUE(d, fd) INSN(BPF_LD | BPF_DW | BPF_IMM, d, BPF_PSEUDO_MAP_VALUE, 0, fd), INSN(0, 0, 0, 0, 0)
#define LD_IMM64(d, v) INSN(BPF_LD | BPF_DW | BPF_IMM, d, 0, 0, (int32_t)(uint32_t)(v)), \
	INSN(0, 0, 0, 0, (int32_t)(uint32_t)((uint64_t)(v) >> 32))
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define ST_W(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_W, d, 0, o, i)
#define ST_DW(d, o, i) INSN(BPF_ST | BPF_MEM | BPF_DW, d, 0, o, i)
#define STX_DW(d, s, o) INSN(BPF_STX | BPF_MEM | BPF_DW, d, s, o, 0)
#define CALL(f) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, f)
#define EXIT() INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)

/* results[key] = r0 via the hash map; the key goes at r10-4, the value at r10-16. */
#define SAVE_R0(key)                                                                               \
	STX_DW(BPF_REG_10, BPF_REG_0, -16), ST_W(BPF_REG_10, -4, key), LD_MAP(BPF_REG_1, hash_fd),   \
		MOV_REG(BPF_REG_2, BPF_REG_10), ADD_IMM(BPF_REG_2, -4), MOV_REG(BPF_REG_3, BPF_REG_10), \
		ADD_IMM(BPF_REG_3, -16), MOV_IMM(BPF_REG_4, 0), CALL(BPF_FUNC_map_update_elem)

static int load_prog(enum bpf_prog_type type, int hash_fd, int rb_fd, int fmt_fd, int cnt_fd)
{
	struct bpf_insn insns[] = {
		/* This process only: the kernel runs a tracepoint's programs for
		 * every task, whatever the perf event's pid. */
		CALL(BPF_FUNC_get_current_pid_tgid),
		INSN(BPF_ALU64 | BPF_RSH | BPF_K, BPF_REG_0, 0, 0, 32),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, getpid()),
		MOV_IMM(BPF_REG_0, 0),
		EXIT(),
		/* bpf_ringbuf_output(rb, &v, 8, 0), v = 42 */
		ST_DW(BPF_REG_10, -24, 42),
		LD_MAP(BPF_REG_1, rb_fd),
		MOV_REG(BPF_REG_2, BPF_REG_10),
		ADD_IMM(BPF_REG_2, -24),
		MOV_IMM(BPF_REG_3, 8),
		MOV_IMM(BPF_REG_4, 0),
		CALL(BPF_FUNC_ringbuf_output),
		SAVE_R0(1),
		/* bpf_probe_read_user_str(buf at r10-96, 48, msg) */
		MOV_REG(BPF_REG_1, BPF_REG_10),
		ADD_IMM(BPF_REG_1, -96),
		MOV_IMM(BPF_REG_2, 48),
		LD_IMM64(BPF_REG_3, (uintptr_t)msg),
		CALL(BPF_FUNC_probe_read_user_str),
		SAVE_R0(2),
		/* bpf_snprintf(out at r10-160, 64, "n=%d s=%s", args at r10-176, 16):
		 * args[0] = 7, args[1] = the string just read */
		ST_DW(BPF_REG_10, -176, 7),
		MOV_REG(BPF_REG_1, BPF_REG_10),
		ADD_IMM(BPF_REG_1, -96),
		STX_DW(BPF_REG_10, BPF_REG_1, -168),
		MOV_REG(BPF_REG_1, BPF_REG_10),
		ADD_IMM(BPF_REG_1, -160),
		MOV_IMM(BPF_REG_2, 64),
		LD_MAP_VALUE(BPF_REG_3, fmt_fd),
		MOV_REG(BPF_REG_4, BPF_REG_10),
		ADD_IMM(BPF_REG_4, -176),
		MOV_IMM(BPF_REG_5, 16),
		CALL(BPF_FUNC_snprintf),
		SAVE_R0(3),
		/* runs: lock *(u64 *)lookup(cnt, 0) += 1 */
		ST_W(BPF_REG_10, -4, 0),
		MOV_REG(BPF_REG_2, BPF_REG_10),
		ADD_IMM(BPF_REG_2, -4),
		LD_MAP(BPF_REG_1, cnt_fd),
		CALL(BPF_FUNC_map_lookup_elem),
		INSN(BPF_JMP | BPF_JEQ | BPF_K, BPF_REG_0, 0, 2, 0),
		MOV_IMM(BPF_REG_1, 1),
		INSN(BPF_STX | BPF_ATOMIC | BPF_DW, BPF_REG_0, BPF_REG_1, 0, BPF_ADD),
		MOV_IMM(BPF_REG_0, 0),
		EXIT(),
	};
	char log[4096] = "";
	LIBBPF_OPTS(bpf_prog_load_opts, o, .log_buf = log, .log_size = sizeof(log), .log_level = 1);
	int fd = bpf_prog_load(type, "agent_vec", "GPL", insns, sizeof(insns) / sizeof(insns[0]), &o);

	if (fd < 0)
		fprintf(stderr, "agent_vec: load: %s\n%s\n", strerror(errno), log);
	return fd;
}

int main(void)
{
	static const char fmt[16] = "n=%d s=%s";
	enum width w = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") ? W_ZMM
		       : __builtin_cpu_supports("avx")					     ? W_YMM
												     : W_XMM;
	LIBBPF_OPTS(bpf_map_create_opts, ro, .map_flags = BPF_F_RDONLY_PROG);
	struct perf_event_attr attr;
	char exe[4096], path[128];
	uint32_t zero = 0;
	uint64_t off, v;
	int hash_fd, rb_fd, fmt_fd, cnt_fd, kfd, tfd, ufd, pfd, id, ok_call = 0, ok_sys = 0;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		return 1;
	exe[n] = 0;
	hash_fd = bpf_map_create(BPF_MAP_TYPE_HASH, "vec_res", 4, 8, 16, NULL);
	rb_fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "vec_rb", 0, 0, 1 << 16, NULL);
	fmt_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vec_fmt", 4, sizeof(fmt), 1, &ro);
	cnt_fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "vec_cnt", 4, 8, 1, NULL);
	if (hash_fd < 0 || rb_fd < 0 || fmt_fd < 0 || cnt_fd < 0) {
		fprintf(stderr, "agent_vec: map create: %s\n", strerror(errno));
		return 1;
	}
	if (bpf_map_update_elem(fmt_fd, &zero, fmt, 0) || bpf_map_freeze(fmt_fd)) {
		fprintf(stderr, "agent_vec: format map: %s\n", strerror(errno));
		return 1;
	}
	kfd = load_prog(BPF_PROG_TYPE_KPROBE, hash_fd, rb_fd, fmt_fd, cnt_fd);
	tfd = load_prog(BPF_PROG_TYPE_TRACEPOINT, hash_fd, rb_fd, fmt_fd, cnt_fd);
	if (kfd < 0 || tfd < 0)
		return 1;
	if (kup_file_offset((const void *)vec_target, &off) || kup_uprobe_attr(exe, off, false, &attr)) {
		fprintf(stderr, "agent_vec: no uprobe PMU\n");
		return 1;
	}
	ufd = kup_perf_attach(&attr, getpid(), -1, kfd);
	snprintf(path, sizeof(path), "/sys/kernel/tracing/events/syscalls/sys_enter_getpid/id");
	if (ufd < 0 || kup_read_int(path, NULL, &id)) {
		fprintf(stderr, "agent_vec: uprobe attach or tracepoint id: %s\n", strerror(ufd < 0 ? -ufd : errno));
		return 1;
	}
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_TRACEPOINT;
	attr.config = (uint64_t)id;
	attr.sample_period = 1;
	pfd = kup_perf_attach(&attr, getpid(), -1, tfd);
	if (pfd < 0) {
		fprintf(stderr, "agent_vec: tracepoint attach: %s\n", strerror(-pfd));
		return 1;
	}
	for (int r = 0; r < ROUNDS; r++) {
		ok_call += regs_round(w, 0, r);
		ok_sys += regs_round(w, 1, r);
	}
	close(pfd);
	close(ufd);
	printf("probed call: regs ok %d/%d\n", ok_call, ROUNDS);
	printf("traced getpid: regs ok %d/%d\n", ok_sys, ROUNDS);
	for (uint32_t k = 1; k <= 3; k++) {
		v = 0xdead;
		bpf_map_lookup_elem(hash_fd, &k, &v);
		printf("helper %u returned %lld\n", k, (long long)v);
	}
	v = 0;
	bpf_map_lookup_elem(cnt_fd, &zero, &v);
	printf("runs %llu\n", (unsigned long long)v);
	return 0;
}
