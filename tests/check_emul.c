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

#include "common/compat.h"
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

/*
 * PROG_ARRAY through MAP_UPDATE_ELEM: prog fds become ids, and TEST_RUN
 * tail-calls through them (an empty slot falls through). The errnos are
 * the kernel's (tests/e2e/agent-tail.sh compares them with it).
 */
START_TEST(test_prog_array_tail_call_test_run)
{
	struct bpf_insn target[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 7 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	long afd = map_new(ebpf, BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 2, 0), tfd, efd, sfd;
	struct bpf_insn entry[] = {
		{ .code = BPF_LD | BPF_IMM | BPF_DW, .dst_reg = 2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = (int32_t)afd },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_tail_call },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 1 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	uint8_t ctx[8] = { 0 };
	union bpf_attr a;
	uint32_t k = 0, id;
	int32_t v;

	ck_assert_int_ge(afd, 0);
	prog_attr(&a, BPF_PROG_TYPE_SYSCALL, target, 2);
	a.prog_flags = BPF_F_SLEEPABLE;
	tfd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(tfd, 0);
	prog_attr(&a, BPF_PROG_TYPE_SYSCALL, entry, 6);
	a.prog_flags = BPF_F_SLEEPABLE;
	efd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(efd, 0);
	prog_attr(&a, BPF_PROG_TYPE_SOCKET_FILTER, trivial, 2);
	sfd = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(sfd, 0);

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)efd;
	a.test.ctx_in = (uintptr_t)ctx;
	a.test.ctx_size_in = sizeof(ctx);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 1); /* empty slot: falls through */
	v = (int32_t)tfd;
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), 0);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 7);
	/* The lookup answers the program's id, as prog_fd_array_sys_lookup_elem(). */
	ck_assert_int_eq(elem(ebpf, BPF_MAP_LOOKUP_ELEM, afd, &k, &id, 0), 0);
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_NOEXIST), -EINVAL);
	k = 2;
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), -E2BIG);
	k = 1;
	v = (int32_t)afd; /* a map, not a program */
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), -EINVAL);
	v = 1000; /* not open */
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), -EBADF);
	v = (int32_t)sfd; /* another program type than the one the array holds */
	ck_assert_int_eq(elem(ebpf, BPF_MAP_UPDATE_ELEM, afd, &k, &v, BPF_ANY), -EINVAL);
	ck_assert_int_eq(elem(ebpf, BPF_MAP_DELETE_ELEM, afd, &k, NULL, 0), -ENOENT);
	/* The array holds the target: closing our fd does not free it. */
	close((int)tfd);
	emu_session_events(S);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 7);
	k = 0;
	ck_assert_int_eq(elem(ebpf, BPF_MAP_DELETE_ELEM, afd, &k, NULL, 0), 0);
	ck_assert_int_eq(ebpf(BPF_PROG_TEST_RUN, &a, sizeof(a)), 0);
	ck_assert_int_eq(a.test.retval, 1);
	close((int)sfd);
	close((int)efd);
	close((int)afd);
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

#include "check_emul_skb.inc"

/* ---- raw_tp: BPF_RAW_TRACEPOINT_OPEN (emul/raw_tp.c) ---- */

/* A raw_tracepoint attr with the 6.10 cookie field (offset 16), as a 6.18 kernel reads it. */
struct raw_tp_attr {
	uint64_t name;
	uint32_t prog_fd;
	uint32_t pad;
	uint64_t cookie;
	uint8_t tail[8]; /* must stay zero (CHECK_ATTR) */
};

struct raw_tp_info {
	uint32_t type, id, prog_id, pad0;
	uint64_t tp_name;
	uint32_t tp_name_len, pad1;
	uint64_t cookie;
	uint8_t rest[8];
};

static long raw_tp_open(long (*call)(int, void *, unsigned), long prog, const char *name, uint64_t cookie)
{
	struct raw_tp_attr a = { .name = (uintptr_t)name, .prog_fd = (uint32_t)prog, .cookie = cookie };

	return call(BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a));
}

static long raw_tp_info_of(long (*call)(int, void *, unsigned), long link, struct raw_tp_info *ri, char *buf,
			   uint32_t buf_len)
{
	union bpf_attr a;

	memset(ri, 0, sizeof(*ri));
	ri->tp_name = (uintptr_t)buf;
	ri->tp_name_len = buf_len;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)link;
	a.info.info_len = sizeof(*ri);
	a.info.info = (uintptr_t)ri;
	return call(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
}

/* Every answer of one run, in order; bpftime's and the kernel's must be equal. */
#define RAW_TP_RES_MAX 48
struct raw_tp_res {
	long v[RAW_TP_RES_MAX];
	unsigned int n;
	char name[3][32];
};

static void res_add(struct raw_tp_res *res, long v)
{
	ck_assert_uint_lt(res->n, RAW_TP_RES_MAX);
	res->v[res->n++] = v;
}

/* errno of a call that should fail, or 1 for "an fd" (closed at once). */
static long fd_or_err(long v)
{
	if (v >= 0) {
		close((int)v);
		return 1;
	}
	return v;
}

static void raw_tp_run_all(long (*call)(int, void *, unsigned), struct raw_tp_res *res)
{
	static char long_name[300];
	struct bpf_insn cookie_prog[3] = {
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_get_attach_cookie },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	struct raw_tp_attr ra;
	struct raw_tp_info ri;
	union bpf_attr a;
	long rt, kp, nul, link;
	char buf[32];

	memset(res, 0, sizeof(*res));
	memset(long_name, 'a', sizeof(long_name) - 1);
	prog_attr(&a, BPF_PROG_TYPE_RAW_TRACEPOINT, cookie_prog, 3);
	rt = call(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(rt, 0);
	prog_attr(&a, BPF_PROG_TYPE_KPROBE, trivial, 2);
	kp = call(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(kp, 0);
	nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(nul, 0);

	/* bpf_raw_tracepoint_open(): the program fd, its type, the name, the lookup. */
	res_add(res, raw_tp_open(call, 999, "sys_enter", 0));
	res_add(res, raw_tp_open(call, nul, "sys_enter", 0));
	res_add(res, raw_tp_open(call, kp, "sys_enter", 0));
	res_add(res, raw_tp_open(call, kp, NULL, 0));
	res_add(res, raw_tp_open(call, rt, NULL, 0));
	res_add(res, raw_tp_open(call, rt, (const char *)8, 0));
	res_add(res, raw_tp_open(call, rt, "no_such_tracepoint", 0));
	res_add(res, raw_tp_open(call, rt, "", 0));
	res_add(res, raw_tp_open(call, rt, long_name, 0));
	res_add(res, raw_tp_open(call, rt, "sys_enter_getpid", 0));
	/* CHECK_ATTR: past raw_tracepoint.cookie must be zero; the padding before it is not checked. */
	memset(&ra, 0, sizeof(ra));
	ra.name = (uintptr_t) "sys_enter";
	ra.prog_fd = (uint32_t)rt;
	ra.tail[0] = 1;
	res_add(res, call(BPF_RAW_TRACEPOINT_OPEN, &ra, sizeof(ra)));
	ra.tail[0] = 0;
	ra.pad = 7;
	res_add(res, fd_or_err(call(BPF_RAW_TRACEPOINT_OPEN, &ra, sizeof(ra))));
	/* The 6.1 attr size (no cookie) works. */
	res_add(res, fd_or_err(call(BPF_RAW_TRACEPOINT_OPEN, &ra, 12)));
	res_add(res, fd_or_err(raw_tp_open(call, rt, "sys_exit", 0)));
	/* LINK_CREATE does not take RAW_TRACEPOINT programs (only tp_btf TRACING ones). */
	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)rt;
	a.link_create.attach_type = BPF_TRACE_RAW_TP;
	res_add(res, call(BPF_LINK_CREATE, &a, sizeof(a)));

	/* A link with a cookie: bpf_raw_tp_link_fill_link_info(). */
	link = raw_tp_open(call, rt, "sys_enter", 0x1122334455667788ULL);
	ck_assert_int_ge(link, 0);
	memset(buf, 'x', sizeof(buf));
	res_add(res, raw_tp_info_of(call, link, &ri, buf, sizeof(buf)));
	res_add(res, ri.type);
	res_add(res, ri.tp_name_len);
	res_add(res, (long)(ri.cookie == 0x1122334455667788ULL));
	res_add(res, ri.prog_id != 0);
	snprintf(res->name[0], sizeof(res->name[0]), "%s", buf);
	memset(buf, 'x', sizeof(buf));
	res_add(res, raw_tp_info_of(call, link, &ri, buf, 4)); /* cut: ENOSPC */
	memcpy(res->name[1], buf, 5);
	res->name[1][5] = 0;
	res_add(res, raw_tp_info_of(call, link, &ri, NULL, 0)); /* sizes only */
	res_add(res, ri.tp_name_len);
	res_add(res, raw_tp_info_of(call, link, &ri, NULL, 8)); /* length without buffer */
	res_add(res, raw_tp_info_of(call, link, &ri, buf, 0));  /* buffer without length */
	/* bpf_raw_tp_link_lops has neither .detach nor .update_prog. */
	memset(&a, 0, sizeof(a));
	a.link_detach.link_fd = (uint32_t)link;
	res_add(res, call(BPF_LINK_DETACH, &a, sizeof(a)));
	memset(&a, 0, sizeof(a));
	a.link_update.link_fd = (uint32_t)link;
	a.link_update.new_prog_fd = (uint32_t)rt;
	res_add(res, call(BPF_LINK_UPDATE, &a, sizeof(a)));
	close((int)link);
	close((int)nul);
	close((int)kp);
	close((int)rt);
}

START_TEST(test_raw_tp_open_errnos_match_kernel)
{
	struct raw_tp_res e, k;

	raw_tp_run_all(ebpf, &e);
	/* What bpftime must answer whatever the kernel does. */
	ck_assert_int_eq(e.v[0], -EBADF);
	ck_assert_int_eq(e.v[1], -EINVAL);
	ck_assert_int_eq(e.v[2], -EINVAL);
	ck_assert_int_eq(e.v[4], -EFAULT);
	ck_assert_int_eq(e.v[6], -ENOENT);
	ck_assert_int_eq(e.v[13], 1);
	ck_assert_int_eq(e.v[16], BPF_LINK_TYPE_RAW_TRACEPOINT);
	ck_assert_int_eq(e.v[17], 10);
	ck_assert_int_eq(e.v[18], 1);
	ck_assert_str_eq(e.name[0], "sys_enter");
	ck_assert_str_eq(e.name[1], "sys");
	if (!have_kernel())
		return;
	raw_tp_run_all(kbpf, &k);
	ck_assert_uint_eq(e.n, k.n);
	for (unsigned int i = 0; i < e.n; i++) {
		if (e.v[i] != k.v[i])
			fprintf(stderr, "raw_tp step %u: bpftime %ld, kernel %ld\n", i, e.v[i], k.v[i]);
		ck_assert_int_eq(e.v[i], k.v[i]);
	}
	ck_assert_str_eq(e.name[0], k.name[0]);
	ck_assert_str_eq(e.name[1], k.name[1]);
}
END_TEST

/* The link holds the program; its last close releases both (bpf_link_free()). */
START_TEST(test_raw_tp_link_holds_prog_until_closed)
{
	union bpf_attr a;
	struct emu_obj *lo, *po;
	struct bpf_prog_info pi;
	long prog, link;
	uint32_t next = 0, link_id = 0, prog_id;

	prog_attr(&a, BPF_PROG_TYPE_RAW_TRACEPOINT, trivial, 2);
	prog = ebpf(BPF_PROG_LOAD, &a, sizeof(a));
	ck_assert_int_ge(prog, 0);
	prog_info_of(ebpf, prog, &pi);
	prog_id = pi.id;
	link = raw_tp_open(ebpf, prog, "sys_exit", 5);
	ck_assert_int_ge(link, 0);
	/* LINK_GET_NEXT_ID lists it; its slot says what the agents run. */
	for (;;) {
		memset(&a, 0, sizeof(a));
		a.start_id = next;
		if (ebpf(BPF_LINK_GET_NEXT_ID, &a, sizeof(a)))
			break;
		next = a.next_id;
		ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_LINK, next, &lo), 0);
		if (lo->slot->type == BPF_LINK_TYPE_RAW_TRACEPOINT)
			link_id = next;
	}
	ck_assert_uint_ne(link_id, 0);
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_LINK, link_id, &lo), 0);
	ck_assert_uint_eq(lo->slot->u.link.prog_id, prog_id);
	ck_assert_uint_eq(lo->slot->u.link.raw_tp, EMU_REG_RAW_TP_SYS_EXIT);
	ck_assert_uint_eq(lo->slot->u.link.bpf_cookie, 5);
	close((int)prog);
	emu_session_events(S);
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_PROG, prog_id, &po), 0);
	close((int)link);
	emu_session_events(S);
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_LINK, link_id, &lo), -ENOENT);
	ck_assert_int_eq(emu_obj_by_id(S, EMU_REG_PROG, prog_id, &po), -ENOENT);
}
END_TEST

/* ---- uprobe_multi: LINK_CREATE(BPF_TRACE_UPROBE_MULTI) (emul/uprobe_multi.c) ---- */

struct umulti_attr { /* bpf_attr.link_create with uprobe_multi (Linux 6.6) */
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, um_flags, pid, pad;
};

struct umulti_info { /* bpf_link_info with uprobe_multi: 64 bytes */
	uint32_t type, id, prog_id, pad;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t path_size, count, flags, pid;
};

#define UMULTI_N 1000 /* more than one chunk of emul/uprobe_multi.c's reads */

static long umulti_info_of(long (*call)(int, void *, unsigned), long link, struct umulti_info *in)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)link;
	a.info.info_len = sizeof(*in);
	a.info.info = (uintptr_t)in;
	return call(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
}

/* Every answer of one run, in order; bpftime's and the kernel's must be equal. */
static void umulti_run_all(long (*call)(int, void *, unsigned), struct raw_tp_res *res)
{
	static uint64_t offs[UMULTI_N], cookies[UMULTI_N];
	uint64_t neg = (uint64_t)-1, far = 1ULL << 40, odd = 1, *edge;
	struct umulti_attr a, good;
	struct umulti_info in;
	union bpf_attr pa;
	long prog, kp, tp, link;
	char path[4096], name[64];
	ssize_t n;
	long pg = sysconf(_SC_PAGESIZE);
	char *two; /* three pages, the last one unmapped */

	memset(res, 0, sizeof(*res));
	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	ck_assert_int_gt(n, 0);
	path[n] = 0;
	for (int i = 0; i < UMULTI_N; i++)
		cookies[i] = (uint64_t)i + 7;
	prog_attr(&pa, BPF_PROG_TYPE_KPROBE, trivial, 2);
	pa.expected_attach_type = COMPAT_BPF_TRACE_UPROBE_MULTI;
	prog = call(BPF_PROG_LOAD, &pa, sizeof(pa));
	ck_assert_int_ge(prog, 0);
	prog_attr(&pa, BPF_PROG_TYPE_KPROBE, trivial, 2);
	kp = call(BPF_PROG_LOAD, &pa, sizeof(pa));
	ck_assert_int_ge(kp, 0);
	prog_attr(&pa, BPF_PROG_TYPE_TRACEPOINT, trivial, 2);
	tp = call(BPF_PROG_LOAD, &pa, sizeof(pa));
	ck_assert_int_ge(tp, 0);
	/* Offset 0 (the ELF header) is not in an executable mapping: the kernel plants no int3. */
	memset(&good, 0, sizeof(good));
	good.prog_fd = (uint32_t)prog;
	good.attach_type = COMPAT_BPF_TRACE_UPROBE_MULTI;
	good.path = (uintptr_t)path;
	good.offsets = (uintptr_t)offs;
	good.cookies = (uintptr_t)cookies;
	good.cnt = 2;
#define UM_TRY(field, value)                                              \
	do {                                                              \
		a = good;                                                 \
		a.field = value;                                          \
		res_add(res, fd_or_err(call(BPF_LINK_CREATE, &a, sizeof(a)))); \
	} while (0)
	UM_TRY(prog_fd, (uint32_t)tp);
	UM_TRY(prog_fd, (uint32_t)kp);
	UM_TRY(attach_type, BPF_PERF_EVENT);
	UM_TRY(flags, 1);
	UM_TRY(um_flags, 2);
	UM_TRY(cnt, 0);
	UM_TRY(path, 0);
	UM_TRY(offsets, 0);
	UM_TRY(pid, (uint32_t)-1);
	UM_TRY(cnt, COMPAT_UPROBE_MULTI_CNT_MAX + 1);
	UM_TRY(path, 8);
	UM_TRY(path, (uintptr_t) "/nonexistent/x");
	UM_TRY(path, (uintptr_t) "/tmp");
	UM_TRY(pid, 0x3ffffff0);
	UM_TRY(offsets, 8);
	UM_TRY(offsets, (uintptr_t)&neg);
	UM_TRY(offsets, (uintptr_t)&far);
	UM_TRY(cookies, 8);
	UM_TRY(ref_ctr_offsets, (uintptr_t)&odd);
	UM_TRY(cnt, UMULTI_N);
	/* A fault in the second chunk of offsets comes before a bad offset after it. */
	two = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(two, MAP_FAILED);
	ck_assert_int_eq(munmap(two + 2 * pg, (size_t)pg), 0);
	edge = (uint64_t *)(two + 2 * pg) - 600; /* elements 600.. fault */
	memset(edge, 0, 600 * sizeof(uint64_t));
	edge[550] = (uint64_t)-5;
	a = good;
	a.offsets = (uintptr_t)edge;
	a.cnt = 700;
	res_add(res, call(BPF_LINK_CREATE, &a, sizeof(a))); /* EINVAL: element 550 comes first */
	edge[550] = 0;
	res_add(res, call(BPF_LINK_CREATE, &a, sizeof(a))); /* EFAULT at 600 */
	munmap(two, (size_t)pg * 2);

	/* A link and its info (bpf_uprobe_multi_link_fill_link_info()). */
	a = good;
	a.um_flags = 1;
	link = call(BPF_LINK_CREATE, &a, sizeof(a));
	ck_assert_int_ge(link, 0);
	{
		uint64_t io[4] = { 9, 9, 9, 9 }, ic[4] = { 0 };

		memset(&in, 0, sizeof(in));
		in.path = (uintptr_t)name;
		in.path_size = sizeof(name);
		in.count = 4;
		in.offsets = (uintptr_t)io;
		in.cookies = (uintptr_t)ic;
		memset(name, 0, sizeof(name));
		res_add(res, umulti_info_of(call, link, &in));
		res_add(res, in.type);
		res_add(res, in.count);
		res_add(res, in.flags);
		res_add(res, in.pid);
		res_add(res, in.path_size == strlen(path) + 1);
		res_add(res, (long)(io[0] + io[1] + io[2]));
		res_add(res, (long)(ic[0] * 100 + ic[1] * 10 + ic[2]));
		in.count = 1; /* ENOSPC: fewer slots than probes */
		res_add(res, umulti_info_of(call, link, &in));
		in.count = 0; /* arrays without a count */
		res_add(res, umulti_info_of(call, link, &in));
		memset(&in, 0, sizeof(in));
		in.path = (uintptr_t)name;
		in.path_size = 4; /* d_path() does not fit */
		res_add(res, umulti_info_of(call, link, &in));
		in.path_size = 0; /* a buffer without a size */
		res_add(res, umulti_info_of(call, link, &in));
	}
	close((int)link);
	close((int)tp);
	close((int)kp);
	close((int)prog);
}

START_TEST(test_uprobe_multi_errnos_and_info_match_kernel)
{
	struct raw_tp_res e, k;

	umulti_run_all(ebpf, &e);
	ck_assert_int_eq(e.v[0], -EINVAL);  /* a tracepoint program */
	ck_assert_int_eq(e.v[9], -E2BIG);   /* cnt */
	ck_assert_int_eq(e.v[12], -EBADF);  /* a directory */
	ck_assert_int_eq(e.v[13], -ESRCH);  /* no such pid */
	ck_assert_int_eq(e.v[19], 1);       /* 1000 probes */
	ck_assert_int_eq(e.v[20], -EINVAL); /* the bad offset before the fault */
	ck_assert_int_eq(e.v[21], -EFAULT);
	ck_assert_int_eq(e.v[22], 0);
	ck_assert_int_eq(e.v[23], COMPAT_BPF_LINK_TYPE_UPROBE_MULTI);
	ck_assert_int_eq(e.v[24], 2);
	ck_assert_int_eq(e.v[25], 1);
	ck_assert_int_eq(e.v[29], 7 * 100 + 8 * 10); /* cookies 7, 8; the third slot untouched */
	if (!have_kernel())
		return;
	umulti_run_all(kbpf, &k);
	ck_assert_uint_eq(e.n, k.n);
	for (unsigned int i = 0; i < e.n; i++) {
		if (e.v[i] != k.v[i])
			fprintf(stderr, "uprobe_multi step %u: bpftime %ld, kernel %ld\n", i, e.v[i], k.v[i]);
		ck_assert_int_eq(e.v[i], k.v[i]);
	}
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
		TCase *tr = tcase_create("raw_tp");

		tcase_add_checked_fixture(tr, setup, teardown);
		tcase_add_test(tr, test_raw_tp_open_errnos_match_kernel);
		tcase_add_test(tr, test_raw_tp_link_holds_prog_until_closed);
		tcase_add_test(tr, test_uprobe_multi_errnos_and_info_match_kernel);
		suite_add_tcase(s, tr);
	}
	{
		TCase *tm = tcase_create("map_cmds");

		tcase_add_checked_fixture(tm, setup, teardown);
		tcase_add_test(tm, test_map_commands_match_kernel);
		tcase_add_test(tm, test_map_create_errnos_match_kernel);
		tcase_add_test(tm, test_percpu_value_size);
		tcase_add_test(tm, test_perf_event_array_takes_perf_fds);
		tcase_add_test(tm, test_prog_array_tail_call_test_run);
		tcase_add_test(tm, test_prog_with_map_test_run);
		suite_add_tcase(s, tm);
	}
	suite_add_tcase(s, td);
	suite_add_tcase(s, tp);
	suite_add_tcase(s, to);
	suite_add_tcase(s, tt);
	suite_add_tcase(s, te);
	skb_tcase_add(s);
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
