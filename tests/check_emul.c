/*
 * check_emul.c - the "emul" suite: the bpf() ABI bpftime answers, checked
 * against the real kernel's bpf() in the same test where the kernel is
 * reachable (we run as root in CI). The emulator is driven in-process with
 * the local target (emul/target_local.c), so memory faults and fds behave
 * as for a traced process.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "emul/emul.h"
#include "emul/emul_int.h"

static struct emu_session *S;
static struct emu_target T;
static char sess_name[64];

static void setup(void)
{
	snprintf(sess_name, sizeof(sess_name), "check-emul-%d", (int)getpid());
	ck_assert_int_eq(emu_session_open(sess_name, &S), 0);
	emu_target_local_init(&T);
	bt_log_init_from_env();
}

static void teardown(void)
{
	emu_session_close(S);
	S = NULL;
}

/* bpftime's answer, as the caller would see it: fd or value, or -errno. */
static long ebpf(int cmd, void *attr, unsigned size)
{
	struct emu_reply r;

	ck_assert_int_eq(emu_bpf(S, &T, cmd, (uint64_t)(uintptr_t)attr, size, &r), 0);
	return (long)emu_reply_apply_local(&r);
}

/* The kernel's answer, or -ENOSYS-like sentinel when bpf() is not allowed to us. */
static long kbpf(int cmd, void *attr, unsigned size)
{
	long r = syscall(SYS_bpf, cmd, attr, size);

	return r < 0 ? -errno : r;
}

static int kernel_ok = -1;

static int have_kernel(void)
{
	if (kernel_ok < 0) {
		struct bpf_insn in[2] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K }, { .code = BPF_JMP | BPF_EXIT } };
		union bpf_attr a = { 0 };
		long fd;

		a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		a.insns = (uintptr_t)in;
		a.insn_cnt = 2;
		a.license = (uintptr_t) "GPL";
		fd = kbpf(BPF_PROG_LOAD, &a, sizeof(a));
		kernel_ok = fd >= 0;
		if (fd >= 0)
			close((int)fd);
	}
	return kernel_ok;
}

/* Same call to both; assert both give @want (a value >= 0 means "an fd", closed afterwards). */
#define BOTH(cmd, attr, size, want)                                                  \
	do {                                                                         \
		long e_ = ebpf((cmd), (attr), (size));                               \
		if ((want) >= 0) {                                                   \
			ck_assert_int_ge(e_, 0);                                     \
			close((int)e_);                                              \
		} else {                                                             \
			ck_assert_int_eq(e_, (want));                                \
		}                                                                    \
		if (have_kernel()) {                                                 \
			long k_ = kbpf((cmd), (attr), (size));                       \
			if ((want) >= 0) {                                           \
				ck_assert_int_ge(k_, 0);                             \
				close((int)k_);                                      \
			} else {                                                     \
				ck_assert_int_eq(k_, (want));                        \
			}                                                            \
		}                                                                    \
	} while (0)

static struct bpf_insn trivial[2] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K }, { .code = BPF_JMP | BPF_EXIT } };

static void prog_attr(union bpf_attr *a, uint32_t type, struct bpf_insn *insns, uint32_t cnt)
{
	memset(a, 0, sizeof(*a));
	a->prog_type = type;
	a->insns = (uintptr_t)insns;
	a->insn_cnt = cnt;
	a->license = (uintptr_t) "GPL";
}

/* ---- dispatch: attr size rules ---- */

START_TEST(test_dispatch_size_above_page_e2big)
{
	static char big[8192];

	BOTH(BPF_MAP_FREEZE, big, 4097, -E2BIG);
}
END_TEST

START_TEST(test_dispatch_tail_past_known_fields_e2big)
{
	char buf[512] = { 0 };

	/* Byte 300 is past every bpf_attr we know (and past the kernel's too). */
	buf[300] = 1;
	BOTH(BPF_MAP_FREEZE, buf, sizeof(buf), -E2BIG);
}
END_TEST

START_TEST(test_dispatch_unknown_cmd_einval)
{
	union bpf_attr a = { 0 };

	BOTH(999, &a, sizeof(a), -EINVAL);
	BOTH(-1, &a, sizeof(a), -EINVAL);
}
END_TEST

START_TEST(test_dispatch_check_attr_einval)
{
	union bpf_attr a = { 0 };

	/* MAP_FREEZE's last field is map_fd: anything after it must be zero. */
	a.map_fd = 0;
	((char *)&a)[8] = 1;
	BOTH(BPF_MAP_FREEZE, &a, sizeof(a), -EINVAL);
	/* OBJ_GET_INFO_BY_FD ends at info.info: a byte after it. */
	memset(&a, 0, sizeof(a));
	((char *)&a)[16] = 1;
	BOTH(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a), -EINVAL);
}
END_TEST

START_TEST(test_dispatch_bad_attr_pointer_efault)
{
	BOTH(BPF_PROG_LOAD, (void *)8, 64, -EFAULT);
}
END_TEST

START_TEST(test_dispatch_short_attr_zero_extended)
{
	union bpf_attr a;

	/* 72 bytes: what libbpf 1.1 passes for PROG_LOAD's memcg probe is shorter than the union. */
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	BOTH(BPF_PROG_LOAD, &a, 72, 0);
}
END_TEST

/* ---- PROG_LOAD ---- */

START_TEST(test_prog_load_errnos)
{
	union bpf_attr a;
	struct bpf_insn jmp_out[2] = { { .code = BPF_JMP | BPF_JA, .off = 5 }, { .code = BPF_JMP | BPF_EXIT } };
	struct bpf_insn no_exit[1] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K } };

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 0);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -E2BIG);
	prog_attr(&a, 4242, trivial, 2);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	strcpy(a.prog_name, "bad-name");
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, jmp_out, 2);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, no_exit, 1);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.insns = 16; /* unmapped */
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EFAULT);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.prog_flags = 1u << 30;
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
}
END_TEST

START_TEST(test_prog_load_log_rules)
{
	char log[256];
	union bpf_attr a;

	/* A buffer without a level, a level without a buffer size, unknown level bits. */
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.log_buf = (uintptr_t)log;
	a.log_level = 1;
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.log_level = 1 << 8;
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	BOTH(BPF_PROG_LOAD, &a, sizeof(a), -EINVAL);
}
END_TEST

START_TEST(test_prog_load_unknown_helper_log)
{
	struct bpf_insn call[3] = { { .code = BPF_JMP | BPF_CALL, .imm = 9999 },
				    { .code = BPF_ALU64 | BPF_MOV | BPF_K },
				    { .code = BPF_JMP | BPF_EXIT } };
	char log[4096] = "";
	union bpf_attr a;

	prog_attr(&a, BPF_PROG_TYPE_KPROBE, call, 3);
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	ck_assert_int_eq(ebpf(BPF_PROG_LOAD, &a, sizeof(a)), -EINVAL);
	/* bpftrace's helper probe looks for exactly these words. */
	ck_assert_ptr_nonnull(strstr(log, "invalid func unknown#9999"));
	if (have_kernel()) {
		memset(log, 0, sizeof(log));
		ck_assert_int_eq(kbpf(BPF_PROG_LOAD, &a, sizeof(a)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(log, "invalid func unknown#9999"));
	}
}
END_TEST

START_TEST(test_prog_load_log_says_not_verified)
{
	char log[4096] = "";
	union bpf_attr a;
	long fd;

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	a.log_buf = (uintptr_t)log;
	a.log_size = sizeof(log);
	a.log_level = 1;
	fd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	ck_assert_ptr_nonnull(strstr(log, "full verification is not done yet"));
	close((int)fd);
}
END_TEST

static void prog_info_of(long (*call)(int, void *, unsigned), long fd, struct bpf_prog_info *info)
{
	union bpf_attr a = { 0 };

	memset(info, 0, sizeof(*info));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(*info);
	a.info.info = (uintptr_t)info;
	ck_assert_int_eq(call(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.info.info_len, sizeof(*info));
}

START_TEST(test_prog_info_matches_kernel)
{
	struct bpf_prog_info ei, ki;
	union bpf_attr a;
	long efd, kfd;

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	strcpy(a.prog_name, "check_info");
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	prog_info_of(ebpf, efd, &ei);
	ck_assert_int_eq(ei.type, BPF_PROG_TYPE_SOCKET_FILTER);
	ck_assert_str_eq(ei.name, "check_info");
	ck_assert_int_eq(ei.xlated_prog_len, 16);
	ck_assert_int_eq(ei.gpl_compatible, 1);
	if (have_kernel()) {
		kfd = kbpf(BPF_PROG_LOAD, &a, sizeof(a));
		ck_assert_int_ge(kfd, 0);
		prog_info_of(kbpf, kfd, &ki);
		/* The tag is a hash of the instructions: it must be the kernel's. */
		ck_assert_mem_eq(ei.tag, ki.tag, sizeof(ei.tag));
		ck_assert_str_eq(ei.name, ki.name);
		ck_assert_int_eq(ei.xlated_prog_len, ki.xlated_prog_len);
		close((int)kfd);
	}
	close((int)efd);
}
END_TEST

START_TEST(test_info_len_tail_e2big)
{
	uint8_t info[600] = { 0 };
	union bpf_attr a;
	long efd;

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	info[590] = 1;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)efd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)info;
	ck_assert_int_eq(ebpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), -E2BIG);
	/* Not a bpf fd at all. */
	a.info.bpf_fd = 0;
	ck_assert_int_eq(ebpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), -EINVAL);
	a.info.bpf_fd = 999;
	ck_assert_int_eq(ebpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), -EBADF);
	close((int)efd);
}
END_TEST

/* ---- ids, BTF, links ---- */

START_TEST(test_btf_vmlinux_is_id_1)
{
	union bpf_attr a = { 0 };
	struct bpf_btf_info info = { 0 };
	char name[64] = "";
	long fd;

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
		return;
	a.start_id = 0;
	ck_assert_int_eq(ebpf(BPF_BTF_GET_NEXT_ID, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.next_id, 1);
	memset(&a, 0, sizeof(a));
	a.btf_id = 1;
	fd = ebpf(BPF_BTF_GET_FD_BY_ID, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	memset(&a, 0, sizeof(a));
	info.name = (uintptr_t)name;
	info.name_len = sizeof(name);
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(info);
	a.info.info = (uintptr_t)&info;
	ck_assert_int_eq(ebpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)), 0);
	ck_assert_str_eq(name, "vmlinux");
	ck_assert_int_eq(info.kernel_btf, 1);
	ck_assert_int_eq(info.id, 1);
	close((int)fd);
}
END_TEST

START_TEST(test_get_fd_by_missing_id_enoent)
{
	union bpf_attr a = { 0 };

	a.prog_id = 0x7ffffff0;
	BOTH(BPF_PROG_GET_FD_BY_ID, &a, sizeof(a), -ENOENT);
	memset(&a, 0, sizeof(a));
	a.link_id = 0x7ffffff0;
	BOTH(BPF_LINK_GET_FD_BY_ID, &a, sizeof(a), -ENOENT);
}
END_TEST

START_TEST(test_btf_load_bad_magic_einval)
{
	uint8_t blob[32] = { 0x11, 0x22, 1, 0, 24 };
	union bpf_attr a = { 0 };

	a.btf = (uintptr_t)blob;
	a.btf_size = sizeof(blob);
	BOTH(BPF_BTF_LOAD, &a, sizeof(a), -EINVAL);
}
END_TEST

START_TEST(test_link_create_perf_bad_target_ebadf)
{
	union bpf_attr a;
	long pfd;

	/* libbpf 1.1's perf-link probe: a valid program, target_fd -1: EBADF means "supported". */
	prog_attr(&a, BPF_PROG_TYPE_TRACEPOINT, trivial, 2);
	pfd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(pfd, 0);
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)pfd;
	a.link_create.target_fd = (uint32_t)-1;
	a.link_create.attach_type = BPF_PERF_EVENT;
	ck_assert_int_eq(ebpf(BPF_LINK_CREATE, &a, sizeof(a)), -EBADF);
	close((int)pfd);
	if (have_kernel()) {
		prog_attr(&a, BPF_PROG_TYPE_TRACEPOINT, trivial, 2);
		pfd = kbpf(BPF_PROG_LOAD, &a, sizeof(a));
		ck_assert_int_ge(pfd, 0);
		memset(&a, 0, sizeof(a));
		a.link_create.prog_fd = (uint32_t)pfd;
		a.link_create.target_fd = (uint32_t)-1;
		a.link_create.attach_type = BPF_PERF_EVENT;
		ck_assert_int_eq(kbpf(BPF_LINK_CREATE, &a, sizeof(a)), -EBADF);
		close((int)pfd);
	}
	/* A bad program fd comes first. */
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = 999;
	a.link_create.target_fd = (uint32_t)-1;
	a.link_create.attach_type = BPF_PERF_EVENT;
	BOTH(BPF_LINK_CREATE, &a, sizeof(a), -EBADF);
}
END_TEST

START_TEST(test_prog_freed_after_last_close)
{
	struct bpf_prog_info info;
	union bpf_attr a;
	long fd, fd2;
	uint32_t id;

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	fd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	prog_info_of(ebpf, fd, &info);
	id = info.id;
	/* A dup keeps it alive: the same open file description. */
	fd2 = dup((int)fd);
	close((int)fd);
	emu_session_events(S);
	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	fd = ebpf(BPF_PROG_GET_FD_BY_ID, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	close((int)fd);
	close((int)fd2);
	emu_session_events(S);
	ck_assert_int_eq(ebpf(BPF_PROG_GET_FD_BY_ID, &a, sizeof(a)), -ENOENT);
}
END_TEST

/* ---- TEST_RUN ---- */

START_TEST(test_test_run_rules)
{
	struct bpf_insn ret2[2] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .imm = 2 }, { .code = BPF_JMP | BPF_EXIT } };
	uint8_t pkt[64] = { 0 }, out[64];
	union bpf_attr a;
	long efd, kfd = -1;

	prog_attr(&a, BPF_PROG_TYPE_XDP, ret2, 2);
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	if (have_kernel())
		kfd = kbpf(BPF_PROG_LOAD, &a, sizeof(a));
	/* Too little data: EINVAL. */
	memset(&a, 0, sizeof(a));
	a.test.data_in = (uintptr_t)pkt;
	a.test.data_size_in = 10;
	a.test.prog_fd = (uint32_t)efd;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	if (kfd >= 0) {
		a.test.prog_fd = (uint32_t)kfd;
		ck_assert_int_eq(kbpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	}
	/* A proper run: retval 2, data out, ENOSPC when data_out is too small. */
	memset(&a, 0, sizeof(a));
	a.test.data_in = (uintptr_t)pkt;
	a.test.data_size_in = sizeof(pkt);
	a.test.data_out = (uintptr_t)out;
	a.test.data_size_out = sizeof(out);
	a.test.repeat = 3;
	a.test.prog_fd = (uint32_t)efd;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 2);
	ck_assert_int_eq(a.test.data_size_out, 64);
	a.test.data_size_out = 16;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -ENOSPC);
	ck_assert_int_eq(a.test.data_size_out, 64);
	if (kfd >= 0) {
		a.test.prog_fd = (uint32_t)kfd;
		a.test.data_size_out = 16;
		ck_assert_int_eq(kbpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -ENOSPC);
		ck_assert_int_eq(a.test.data_size_out, 64);
		close((int)kfd);
	}
	/* ctx_size_in without ctx_in. */
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)efd;
	a.test.ctx_size_in = 4;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	close((int)efd);
}
END_TEST

START_TEST(test_test_run_syscall_rejects_repeat)
{
	union bpf_attr a;
	uint8_t ctx[16] = { 0 };
	long efd, kfd = -1;

	prog_attr(&a, BPF_PROG_TYPE_SYSCALL, trivial, 2);
	a.prog_flags = BPF_F_SLEEPABLE;
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	if (have_kernel())
		kfd = kbpf(BPF_PROG_LOAD, &a, sizeof(a));
	memset(&a, 0, sizeof(a));
	a.test.ctx_in = (uintptr_t)ctx;
	a.test.ctx_size_in = sizeof(ctx);
	a.test.repeat = 1;
	a.test.prog_fd = (uint32_t)efd;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	if (kfd >= 0) {
		a.test.prog_fd = (uint32_t)kfd;
		ck_assert_int_eq(kbpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	}
	a.test.repeat = 0;
	a.test.prog_fd = (uint32_t)efd;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 0);
	if (kfd >= 0) {
		a.test.prog_fd = (uint32_t)kfd;
		ck_assert_int_eq(kbpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
		close((int)kfd);
	}
	close((int)efd);
}
END_TEST

START_TEST(test_test_run_crash_is_contained)
{
	/* r0 = *(u64 *)(r1 + 0) where r1 = 8: a wild read. The child dies, we answer EINVAL. */
	struct bpf_insn wild[4] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 8 },
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 0, .src_reg = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	long efd;

	prog_attr(&a, BPF_PROG_TYPE_SYSCALL, wild, 3);
	a.prog_flags = BPF_F_SLEEPABLE;
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)efd;
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), -EINVAL);
	close((int)efd);
}
END_TEST

/* ---- perf_event_open ---- */

static long eperf(struct perf_event_attr *attr, int pid, int cpu, int group, unsigned long flags)
{
	uint64_t args[6] = { (uintptr_t)attr, (uint64_t)pid, (uint64_t)cpu, (uint64_t)group, flags, 0 };
	struct emu_reply r;

	ck_assert_int_eq(emu_syscall(S, &T, SYS_perf_event_open, args, &r), 0);
	if (r.cont)
		return 1000000; /* "continue to the kernel" */
	return (long)emu_reply_apply_local(&r);
}

START_TEST(test_perf_event_open_rules)
{
	struct perf_event_attr pa;
	char path[] = "/bin/true";
	long fd;

	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.size = 32; /* below VER0: E2BIG and the kernel's size written back */
	ck_assert_int_eq(eperf(&pa, -1, 0, -1, 0), -E2BIG);
	ck_assert_int_ge(pa.size, 64);
	/* Hardware events are the kernel's. */
	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_HARDWARE;
	ck_assert_int_eq(eperf(&pa, 0, -1, -1, 0), 1000000);
	/* A uprobe through the PMU: size 0 is VER0; pid -1 and cpu -1 together are EINVAL. */
	memset(&pa, 0, sizeof(pa));
	pa.type = 8;
	{
		FILE *f = fopen("/sys/bus/event_source/devices/uprobe/type", "r");

		if (f) {
			ck_assert_int_eq(fscanf(f, "%u", &pa.type), 1);
			fclose(f);
		}
	}
	pa.config1 = (uintptr_t)path;
	pa.config2 = 0x1000;
	pa.config = 0x600000000ull; /* bcc's garbage ref_ctr_offset is accepted */
	ck_assert_int_eq(eperf(&pa, -1, -1, -1, 0), -EINVAL);
	fd = eperf(&pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl((int)fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close((int)fd);
	pa.config1 = 24; /* a bad path pointer */
	ck_assert_int_eq(eperf(&pa, -1, 0, -1, 0), -EFAULT);
	/* A relative path is recorded against the caller's cwd, as kern_path() resolves it. */
	{
		char rel[] = "sub/prog", want[4200], cwd[4096];
		struct emu_obj *o;
		uint64_t id = 0, args[6] = { 0 };
		struct emu_reply r;

		pa.config1 = (uintptr_t)rel;
		pa.size = sizeof(pa); /* config2 lies past PERF_ATTR_SIZE_VER0 */
		fd = eperf(&pa, 1, -1, -1, 0);
		ck_assert_int_ge(fd, 0);
		args[0] = (uint64_t)fd;
		args[1] = PERF_EVENT_IOC_ID;
		args[2] = (uintptr_t)&id;
		ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
		ck_assert_int_eq(emu_reply_apply_local(&r), 0);
		ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_PERF, (uint32_t)id, &o), 0);
		ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
		snprintf(want, sizeof(want), "%s/sub/prog", cwd);
		ck_assert_str_eq(o->slot->u.perf.path, want);
		ck_assert_int_eq(o->slot->u.perf.pid, 1);
		ck_assert_int_eq(o->slot->u.perf.offset, 0x1000);
		ck_assert_int_eq(o->slot->u.perf.flags & EMU_REG_PERF_RETPROBE, 0);
		close((int)fd);
	}
}
END_TEST

START_TEST(test_perf_buffer_epoll_wakes_on_record)
{
	struct perf_event_attr pa;
	struct perf_event_mmap_page *pg;
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 77 }, got;
	struct emu_reply r;
	struct emu_obj *o;
	uint64_t args[6] = { 0 }, id = 0;
	const char msg[12] = "hello perf!";
	size_t map_sz = 9 * 4096;
	int ep;
	long fd;
	uint8_t *rec;

	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_SOFTWARE;
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pa.sample_type = PERF_SAMPLE_RAW;
	pa.sample_period = 1;
	pa.wakeup_events = 1;
	fd = eperf(&pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	/* The consumer maps a control page and 8 data pages, enables, then epolls (bpftrace's order). */
	pg = mmap(NULL, map_sz, PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd, 0);
	ck_assert_ptr_ne(pg, MAP_FAILED);
	args[0] = (uint64_t)fd;
	args[1] = PERF_EVENT_IOC_ENABLE;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
	ck_assert_int_eq(emu_reply_apply_local(&r), 0);
	ck_assert_int_eq(pg->data_size, 8 * 4096);
	args[1] = PERF_EVENT_IOC_ID;
	args[2] = (uintptr_t)&id;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
	ck_assert_int_eq(emu_reply_apply_local(&r), 0);
	ck_assert_int_gt(id, 0);
	ep = epoll_create1(EPOLL_CLOEXEC);
	args[0] = (uint64_t)ep;
	args[1] = EPOLL_CTL_ADD;
	args[2] = (uint64_t)fd;
	args[3] = (uintptr_t)&ev;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_epoll_ctl, args, &r), 0);
	ck_assert_int_eq(emu_reply_apply_local(&r), 0);
	ck_assert_int_eq(epoll_wait(ep, &got, 1, 0), 0);
	/* A producer writes one record (wakeup_events = 1): the ring waker wakes the epoll set
	 * with the caller's data. The bound is generous; it takes microseconds. */
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_PERF, (uint32_t)id, &o), 0);
	ck_assert_int_eq(emu_perf_ring_output(o, msg, sizeof(msg)), 0);
	ck_assert_int_eq(epoll_wait(ep, &got, 1, 10000), 1);
	ck_assert_int_eq(got.data.u64, 77);
	ck_assert(got.events & EPOLLIN);
	/* PERF_RECORD_SAMPLE, size 8 + 4 + 12 rounded to 8 = 24, raw size 12+... as the kernel pads it. */
	rec = (uint8_t *)pg + 4096;
	ck_assert_int_eq(((struct perf_event_header *)rec)->type, PERF_RECORD_SAMPLE);
	ck_assert_int_eq(((struct perf_event_header *)rec)->size, 24);
	ck_assert_int_eq(*(uint32_t *)(rec + 8), 12);
	ck_assert_mem_eq(rec + 12, msg, sizeof(msg));
	ck_assert_int_eq(pg->data_head, 24);
	/* Consumed: a second record is a second event (edge per wake-up, no stale readiness needed). */
	__atomic_store_n(&pg->data_tail, pg->data_head, __ATOMIC_RELEASE);
	ck_assert_int_eq(emu_perf_ring_output(o, msg, sizeof(msg)), 0);
	ck_assert_int_eq(epoll_wait(ep, &got, 1, 10000), 1);
	ck_assert_int_eq(got.data.u64, 77);
	ck_assert_int_eq(pg->data_head, 48);
	__atomic_store_n(&pg->data_tail, pg->data_head, __ATOMIC_RELEASE);
	/* A non-bpftime fd continues to the kernel. */
	args[2] = 0;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_epoll_ctl, args, &r), 0);
	ck_assert(r.cont);
	close(ep);
	munmap(pg, map_sz);
	close((int)fd);
}
END_TEST

/* A tracepoint perf event, a program attached with LINK_CREATE, and the link's last close detaching it. */
START_TEST(test_tracepoint_link_detaches_on_last_close)
{
	struct perf_event_attr pa;
	union bpf_attr a;
	struct emu_obj *pe;
	char path[128], evdir[400], idtxt[16] = "";
	uint64_t args[6] = { 0 }, id = 0;
	struct emu_reply r;
	long pfd, prog, link;
	FILE *f;

	/* A session whose tracefs tree serves one event, id 4242. */
	emu_session_close(S);
	snprintf(path, sizeof(path), "/tmp/bpftime-check-tracefs-%d", (int)getpid());
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, "=== syscalls/sys_enter_getpid 4242\nname: sys_enter_getpid\nID: 4242\nformat:\n");
	fclose(f);
	setenv("BPFTIME_TRACEFS_DATA", path, 1);
	snprintf(sess_name, sizeof(sess_name), "check-emul-tp-%d", (int)getpid());
	ck_assert_int_eq(emu_session_open(sess_name, &S), 0);
	unlink(path);
	unsetenv("BPFTIME_TRACEFS_DATA");
	snprintf(evdir, sizeof(evdir), "%s/events/syscalls/sys_enter_getpid/id", emu_session_tracefs_dir(S));
	f = fopen(evdir, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(idtxt, sizeof(idtxt), f));
	fclose(f);
	ck_assert_str_eq(idtxt, "4242\n");

	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.size = sizeof(pa);
	pa.config = 4243; /* not served */
	ck_assert_int_eq(eperf(&pa, -1, 0, -1, 0), -ENOENT);
	pa.config = 4242;
	pfd = eperf(&pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	ck_assert_int_ge(pfd, 0);
	args[0] = (uint64_t)pfd;
	args[1] = PERF_EVENT_IOC_ID;
	args[2] = (uintptr_t)&id;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
	ck_assert_int_eq(emu_reply_apply_local(&r), 0);
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_PERF, (uint32_t)id, &pe), 0);
	ck_assert_int_eq(pe->slot->u.perf.tp_id, 4242);

	/* A kprobe program does not fit a tracepoint: EINVAL; a tracepoint program does. */
	prog_attr(&a, BPF_PROG_TYPE_KPROBE, trivial, 2);
	prog = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog;
	a.link_create.target_fd = (uint32_t)pfd;
	a.link_create.attach_type = BPF_PERF_EVENT;
	ck_assert_int_eq(ebpf(BPF_LINK_CREATE, &a, sizeof(a)), -EINVAL);
	close((int)prog);
	prog_attr(&a, BPF_PROG_TYPE_TRACEPOINT, trivial, 2);
	prog = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(prog, 0);
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog;
	a.link_create.target_fd = (uint32_t)pfd;
	a.link_create.attach_type = BPF_PERF_EVENT;
	link = ebpf(BPF_LINK_CREATE, &a, sizeof(a));
	ck_assert_int_ge(link, 0);
	ck_assert_int_ne(pe->slot->u.perf.prog_id, 0);
	ck_assert_int_ne(pe->slot->u.perf.link_id, 0);
	/* PERF_EVENT_IOC_QUERY_BPF: one program, its id. */
	{
		struct {
			uint32_t ids_len, prog_cnt, ids[4];
		} q = { .ids_len = 4 };
		struct bpf_prog_info pi;

		args[1] = PERF_EVENT_IOC_QUERY_BPF;
		args[2] = (uintptr_t)&q;
		ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
		ck_assert_int_eq(emu_reply_apply_local(&r), 0);
		ck_assert_int_eq(q.prog_cnt, 1);
		prog_info_of(ebpf, prog, &pi);
		ck_assert_int_eq(q.ids[0], pi.id);
	}
	/* A second attach: EEXIST, through SET_BPF too. */
	ck_assert_int_eq(ebpf(BPF_LINK_CREATE, &a, sizeof(a)), -EEXIST);
	args[1] = PERF_EVENT_IOC_SET_BPF;
	args[2] = (uint64_t)prog;
	ck_assert_int_eq(emu_syscall(S, &T, SYS_ioctl, args, &r), 0);
	ck_assert_int_eq(emu_reply_apply_local(&r), -EEXIST);
	/* The program fd can go: the link holds the program. */
	close((int)prog);
	emu_session_events(S);
	ck_assert_int_ne(pe->slot->u.perf.prog_id, 0);
	/* Closing the link detaches it (bpf_link_release()). */
	close((int)link);
	emu_session_events(S);
	ck_assert_int_eq(pe->slot->u.perf.prog_id, 0);
	ck_assert_int_eq(pe->slot->u.perf.link_id, 0);
	close((int)pfd);
}
END_TEST

/* ---- map commands (maps/ behind them), compared with the kernel ---- */

static long map_new(long (*call)(int, void *, unsigned), uint32_t type, uint32_t k, uint32_t v, uint32_t n,
		    uint32_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = k;
	a.value_size = v;
	a.max_entries = n;
	a.map_flags = flags;
	return call(BPF_MAP_CREATE, &a, sizeof(a));
}

static long elem(long (*call)(int, void *, unsigned), int cmd, long fd, void *key, void *value, uint64_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uintptr_t)key;
	if (cmd == BPF_MAP_GET_NEXT_KEY)
		a.next_key = (uintptr_t)value;
	else
		a.value = (uintptr_t)value;
	a.flags = flags;
	return call(cmd, &a, sizeof(a));
}

/* The same sequence on bpftime and on the kernel must give the same answers. */
static void map_sequence(long (*call)(int, void *, unsigned), long out[16])
{
	uint32_t k1 = 1, k2 = 2, k9 = 9, next = 0;
	uint64_t v = 42, got = 0;
	long fd, afd;
	int i = 0;

	fd = map_new(call, BPF_MAP_TYPE_HASH, 4, 8, 4, 0);
	ck_assert_int_ge(fd, 0);
	out[i++] = elem(call, BPF_MAP_UPDATE_ELEM, fd, &k1, &v, BPF_ANY);
	out[i++] = elem(call, BPF_MAP_UPDATE_ELEM, fd, &k1, &v, BPF_NOEXIST);   /* EEXIST */
	out[i++] = elem(call, BPF_MAP_UPDATE_ELEM, fd, &k2, &v, BPF_EXIST);     /* ENOENT */
	out[i++] = elem(call, BPF_MAP_UPDATE_ELEM, fd, &k2, &v, 42);            /* EINVAL */
	out[i++] = elem(call, BPF_MAP_LOOKUP_ELEM, fd, &k1, &got, 0);
	out[i++] = (long)got;
	out[i++] = elem(call, BPF_MAP_LOOKUP_ELEM, fd, &k9, &got, 0);           /* ENOENT */
	out[i++] = elem(call, BPF_MAP_GET_NEXT_KEY, fd, &k9, &next, 0);         /* first key */
	out[i++] = next;
	out[i++] = elem(call, BPF_MAP_GET_NEXT_KEY, fd, &k1, &next, 0);         /* ENOENT: last */
	out[i++] = elem(call, BPF_MAP_DELETE_ELEM, fd, &k1, NULL, 0);
	out[i++] = elem(call, BPF_MAP_DELETE_ELEM, fd, &k1, NULL, 0);           /* ENOENT */
	out[i++] = elem(call, BPF_MAP_LOOKUP_ELEM, fd, (void *)8, &got, 0);     /* EFAULT */
	afd = map_new(call, BPF_MAP_TYPE_ARRAY, 4, 8, 2, 0);
	out[i++] = elem(call, BPF_MAP_DELETE_ELEM, afd, &k1, NULL, 0);          /* EINVAL */
	out[i++] = elem(call, BPF_MAP_UPDATE_ELEM, afd, &k2, &v, 0);            /* E2BIG */
	{
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)afd;
		out[i++] = call(BPF_MAP_FREEZE, &a, sizeof(a)) == 0 ? elem(call, BPF_MAP_UPDATE_ELEM, afd, &k1, &v, 0) : -1;
	}
	close((int)fd);
	close((int)afd);
}

START_TEST(test_map_commands_match_kernel)
{
	long e[16], k[16];

	map_sequence(ebpf, e);
	ck_assert_int_eq(e[0], 0);
	ck_assert_int_eq(e[1], -EEXIST);
	ck_assert_int_eq(e[2], -ENOENT);
	ck_assert_int_eq(e[3], -EINVAL);
	ck_assert_int_eq(e[5], 42);
	ck_assert_int_eq(e[6], -ENOENT);
	ck_assert_int_eq(e[8], 1);
	ck_assert_int_eq(e[12], -EFAULT);
	ck_assert_int_eq(e[15], -EPERM); /* frozen */
	if (have_kernel()) {
		map_sequence(kbpf, k);
		for (int i = 0; i < 16; i++)
			ck_assert_msg(e[i] == k[i], "step %d: bpftime %ld, kernel %ld", i, e[i], k[i]);
	}
}
END_TEST

START_TEST(test_map_create_errnos_match_kernel)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 8;
	BOTH(BPF_MAP_CREATE, &a, sizeof(a), -EINVAL); /* max_entries 0 */
	a.max_entries = 4;
	a.map_flags = BPF_F_RDONLY | BPF_F_WRONLY;
	BOTH(BPF_MAP_CREATE, &a, sizeof(a), -EINVAL);
	a.map_flags = 0;
	strcpy(a.map_name, "bad-name");
	BOTH(BPF_MAP_CREATE, &a, sizeof(a), -EINVAL);
	memset(a.map_name, 0, sizeof(a.map_name));
	a.map_type = BPF_MAP_TYPE_PERF_EVENT_ARRAY;
	a.value_size = 8;
	BOTH(BPF_MAP_CREATE, &a, sizeof(a), -EINVAL);
	a.value_size = 4;
	BOTH(BPF_MAP_CREATE, &a, sizeof(a), 0);
}
END_TEST

START_TEST(test_percpu_value_size)
{
	uint32_t k = 0;
	uint64_t vals[64];
	long fd = map_new(ebpf, BPF_MAP_TYPE_PERCPU_ARRAY, 4, 4, 1, 0);
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);

	ck_assert_int_ge(fd, 0);
	memset(vals, 0xff, sizeof(vals));
	ck_assert_int_eq(elem(ebpf, BPF_MAP_LOOKUP_ELEM, fd, &k, vals, 0), 0);
	/* ncpus * round_up(4, 8) bytes, all zero; the next slot untouched. */
	for (long c = 0; c < ncpu; c++)
		ck_assert_int_eq(vals[c], 0);
	ck_assert_int_eq(vals[ncpu], UINT64_MAX);
	close((int)fd);
}
END_TEST

START_TEST(test_perf_event_array_takes_perf_fds)
{
	struct perf_event_attr pa;
	uint32_t k = 0;
	int32_t v;
	long afd, pfd, pfd2;

	afd = map_new(ebpf, BPF_MAP_TYPE_PERF_EVENT_ARRAY, 4, 4, 2, 0);
	ck_assert_int_ge(afd, 0);
	memset(&pa, 0, sizeof(pa));
	pa.type = PERF_TYPE_SOFTWARE;
	pa.config = PERF_COUNT_SW_BPF_OUTPUT;
	pfd = eperf(&pa, -1, 0, -1, PERF_FLAG_FD_CLOEXEC);
	ck_assert_int_ge(pfd, 0);
	v = (int32_t)pfd;
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), 0);
	v = 0; /* stdin is not a perf event */
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), -EBADF);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_LOOKUP_ELEM, afd, &k, &v, 0), -524);
	/* The array holds the event: closing our fd does not free it. */
	pfd2 = dup((int)pfd);
	close((int)pfd);
	close((int)pfd2);
	emu_session_events(S);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_DELETE_ELEM, afd, &k, NULL, 0), 0);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_DELETE_ELEM, afd, &k, NULL, 0), -ENOENT);
	close((int)afd);
}
END_TEST

START_TEST(test_prog_with_map_test_run)
{
	/* r1 = map; r2 = fp-4 (key 0); r0 = lookup; if r0 == 0 exit 0; r0 = *(u64 *)r0; exit */
	uint64_t v = 1234;
	uint32_t k = 0;
	long mfd = map_new(ebpf, BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0), pfd;
	struct bpf_insn insns[] = {
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = 10, .off = -4, .imm = 0 },
		{ .code = BPF_LD | BPF_IMM | BPF_DW, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = (int32_t)mfd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 1, .imm = 0 },
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 0, .src_reg = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	uint8_t ctx[8] = { 0 };

	ck_assert_int_ge(mfd, 0);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, mfd, &k, &v, 0), 0);
	prog_attr(&a, BPF_PROG_TYPE_SYSCALL, insns, 9);
	a.prog_flags = BPF_F_SLEEPABLE;
	pfd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(pfd, 0);
	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)pfd;
	a.test.ctx_in = (uintptr_t)ctx;
	a.test.ctx_size_in = sizeof(ctx);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 1234);
	/* The program holds the map: its id stays valid after our map fd is closed. */
	close((int)mfd);
	emu_session_events(S);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 1234);
	close((int)pfd);
}
END_TEST

START_TEST(test_pin_removal_releases_object)
{
	char upath[64], file[4096];
	struct bpf_prog_info info;
	union bpf_attr a;
	long fd;
	uint32_t id;

	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	fd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	prog_info_of(ebpf, fd, &info);
	id = info.id;
	snprintf(upath, sizeof(upath), "/sys/fs/bpf/pin-%d", (int)getpid());
	memset(&a, 0, sizeof(a));
	a.bpf_fd = (uint32_t)fd;
	a.pathname = (uintptr_t)upath;
	ck_assert_int_eq(ebpf(BPF_OBJ_PIN, &a, sizeof(a)), 0);
	ck_assert_int_eq(ebpf(BPF_OBJ_PIN, &a, sizeof(a)), -EEXIST);
	a.pathname = (uintptr_t) "/tmp/not-bpffs";
	ck_assert_int_eq(ebpf(BPF_OBJ_PIN, &a, sizeof(a)), -EPERM);
	/* The pin keeps the program after the last fd closes. */
	close((int)fd);
	emu_session_events(S);
	memset(&a, 0, sizeof(a));
	a.pathname = (uintptr_t)upath;
	fd = ebpf(BPF_OBJ_GET, &a, sizeof(a));
	ck_assert_int_ge(fd, 0);
	close((int)fd);
	emu_session_events(S);
	/* rm of the pin file releases it. */
	snprintf(file, sizeof(file), "%s/pin-%d", emu_session_bpffs_dir(S), (int)getpid());
	ck_assert_int_eq(unlink(file), 0);
	emu_session_events(S);
	ck_assert_int_eq(ebpf(BPF_OBJ_GET, &a, sizeof(a)), -ENOENT);
	memset(&a, 0, sizeof(a));
	a.prog_id = id;
	ck_assert_int_eq(ebpf(BPF_PROG_GET_FD_BY_ID, &a, sizeof(a)), -ENOENT);
}
END_TEST

static Suite *emul_suite(void)
{
	Suite *s = suite_create("emul");
	TCase *td = tcase_create("dispatch"), *tp = tcase_create("prog_cmds"), *to = tcase_create("obj_cmds"),
	      *tt = tcase_create("test_run"), *te = tcase_create("perf_event");

	tcase_add_checked_fixture(td, setup, teardown);
	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_checked_fixture(to, setup, teardown);
	tcase_add_checked_fixture(tt, setup, teardown);
	tcase_add_checked_fixture(te, setup, teardown);
	tcase_add_test(td, test_dispatch_size_above_page_e2big);
	tcase_add_test(td, test_dispatch_tail_past_known_fields_e2big);
	tcase_add_test(td, test_dispatch_unknown_cmd_einval);
	tcase_add_test(td, test_dispatch_check_attr_einval);
	tcase_add_test(td, test_dispatch_bad_attr_pointer_efault);
	tcase_add_test(td, test_dispatch_short_attr_zero_extended);
	tcase_add_test(tp, test_prog_load_errnos);
	tcase_add_test(tp, test_prog_load_log_rules);
	tcase_add_test(tp, test_prog_load_unknown_helper_log);
	tcase_add_test(tp, test_prog_load_log_says_not_verified);
	tcase_add_test(tp, test_prog_info_matches_kernel);
	tcase_add_test(to, test_info_len_tail_e2big);
	tcase_add_test(to, test_btf_vmlinux_is_id_1);
	tcase_add_test(to, test_get_fd_by_missing_id_enoent);
	tcase_add_test(to, test_btf_load_bad_magic_einval);
	tcase_add_test(to, test_link_create_perf_bad_target_ebadf);
	tcase_add_test(to, test_prog_freed_after_last_close);
	tcase_add_test(to, test_pin_removal_releases_object);
	tcase_add_test(tt, test_test_run_rules);
	tcase_add_test(tt, test_test_run_syscall_rejects_repeat);
	tcase_add_test(tt, test_test_run_crash_is_contained);
	tcase_add_test(te, test_perf_event_open_rules);
	tcase_add_test(te, test_perf_buffer_epoll_wakes_on_record);
	tcase_add_test(te, test_tracepoint_link_detaches_on_last_close);
	{
		TCase *tm = tcase_create("map_cmds");

		tcase_add_checked_fixture(tm, setup, teardown);
		tcase_add_test(tm, test_map_commands_match_kernel);
		tcase_add_test(tm, test_map_create_errnos_match_kernel);
		tcase_add_test(tm, test_percpu_value_size);
		tcase_add_test(tm, test_perf_event_array_takes_perf_fds);
		tcase_add_test(tm, test_prog_with_map_test_run);
		suite_add_tcase(s, tm);
	}
	suite_add_tcase(s, td);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, to);
	suite_add_tcase(s, tt);
	suite_add_tcase(s, te);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(emul_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
