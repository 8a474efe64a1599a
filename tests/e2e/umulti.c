/*
 * umulti.c - LINK_CREATE(BPF_TRACE_UPROBE_MULTI) with raw bpf() calls
 * (libbpf 1.1 cannot issue it), for tests/e2e/umulti.sh: run as root on the
 * kernel and unprivileged under bpftime-run, with identical output
 * expected. It prints the errno of each bad attr, then attaches three links
 * to its own um_f1/um_f2 (entry probes with cookies 1 and 2; a return probe
 * with cookie 3; an entry probe with cookie 4 for a forked child's pid
 * only), calls the functions in itself and in the child, and prints per
 * cookie the hit counts (and for the return probe the sum of the return
 * values), the links' info, and that nothing runs after the last close.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define TRACE_UPROBE_MULTI 48 /* BPF_TRACE_UPROBE_MULTI, Linux 6.6 */
#define LINK_TYPE_UPROBE_MULTI 12
#define F_UPROBE_MULTI_RETURN 1
#define FUNC_get_attach_cookie 174

struct lc_attr { /* bpf_attr.link_create with uprobe_multi (Linux 6.6) */
	uint32_t prog_fd, target_fd, attach_type, flags;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t cnt, um_flags, pid, pad;
};

struct um_info { /* bpf_link_info with uprobe_multi (64 bytes) */
	uint32_t type, id, prog_id, pad;
	uint64_t path, offsets, ref_ctr_offsets, cookies;
	uint32_t path_size, count, flags, pid;
};

__attribute__((noinline, optimize("no-omit-frame-pointer"))) long um_f1(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}

__attribute__((noinline, optimize("no-omit-frame-pointer"))) long um_f2(long x)
{
	__asm__ volatile("" ::: "memory");
	return x + 100;
}

static volatile long sink;
static int map_fd;
static pid_t child_pid;

static long sys_bpf(int cmd, void *attr, unsigned int size)
{
	long r = syscall(SYS_bpf, cmd, attr, size);

	return r < 0 ? -errno : r;
}

static const char *err_name(long r)
{
	static char buf[32];

	switch (r) {
	case -EBADF: return "EBADF";
	case -EINVAL: return "EINVAL";
	case -E2BIG: return "E2BIG";
	case -EFAULT: return "EFAULT";
	case -ENOENT: return "ENOENT";
	case -ESRCH: return "ESRCH";
	case -ENOSPC: return "ENOSPC";
	case -ENAMETOOLONG: return "ENAMETOOLONG";
	case -EOPNOTSUPP: return "EOPNOTSUPP";
	}
	if (r >= 0)
		return "ok";
	snprintf(buf, sizeof(buf), "errno %ld", -r);
	return buf;
}

/* The file offset of @fn in our own executable (/proc/self/maps). */
static uint64_t file_offset(void *fn)
{
	uintptr_t a = (uintptr_t)fn, lo, hi;
	unsigned long long off;
	char line[512], perm[8];
	uint64_t r = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx %7s %llx", &lo, &hi, perm, &off) == 4 && a >= lo && a < hi) {
			r = a - lo + off;
			break;
		}
	if (f)
		fclose(f);
	return r;
}

static int prog_load(uint32_t type, uint32_t expected)
{
	struct bpf_insn in[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 6, .src_reg = 1 },
		{ .code = BPF_JMP | BPF_CALL, .imm = FUNC_get_attach_cookie },
		{ .code = BPF_JMP | BPF_JGT | BPF_K, .dst_reg = 0, .off = 12, .imm = 7 },
		{ .code = BPF_STX | BPF_MEM | BPF_W, .dst_reg = 10, .src_reg = 0, .off = -4 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD, .imm = map_fd },
		{ 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 5, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = 0, .src_reg = 1, .off = 0, .imm = BPF_ADD },
		/* ax of pt_regs (offset 80): the return value in a return probe */
		{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 8, .src_reg = 6, .off = 80 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = 0, .src_reg = 8, .off = 8, .imm = BPF_ADD },
		{ .code = BPF_JMP | BPF_JA, .off = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.expected_attach_type = expected;
	a.insns = (uintptr_t)in;
	a.insn_cnt = sizeof(in) / sizeof(in[0]);
	a.license = (uintptr_t) "GPL";
	return (int)sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

static long link_create(struct lc_attr *a)
{
	return sys_bpf(BPF_LINK_CREATE, a, sizeof(*a));
}

static void *idle_thread(void *arg)
{
	int *p = arg;

	__atomic_store_n(&p[0], (int)syscall(SYS_gettid), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&p[1], __ATOMIC_ACQUIRE))
		usleep(1000);
	return NULL;
}

static void print_counts(const char *when)
{
	uint64_t v[2];

	printf("%s:", when);
	for (uint32_t k = 1; k <= 4; k++) {
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		memset(v, 0, sizeof(v));
		a.map_fd = (uint32_t)map_fd;
		a.key = (uintptr_t)&k;
		a.value = (uintptr_t)v;
		sys_bpf(BPF_MAP_LOOKUP_ELEM, &a, sizeof(a));
		if (k == 3)
			printf(" cookie%u=%llu (ret sum %llu)", k, (unsigned long long)v[0], (unsigned long long)v[1]);
		else
			printf(" cookie%u=%llu", k, (unsigned long long)v[0]);
	}
	printf("\n");
}

static void print_info(const char *what, long link, uint32_t count, uint32_t path_size)
{
	uint64_t offs[4] = { 0 }, cookies[4] = { 0 }, refs[4] = { 0 };
	char path[512] = "";
	struct um_info in;
	union bpf_attr a;
	long r;

	memset(&in, 0, sizeof(in));
	in.path = path_size ? (uintptr_t)path : 0;
	in.path_size = path_size;
	in.count = count;
	in.offsets = count ? (uintptr_t)offs : 0;
	in.cookies = count ? (uintptr_t)cookies : 0;
	in.ref_ctr_offsets = count ? (uintptr_t)refs : 0;
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)link;
	a.info.info_len = sizeof(in);
	a.info.info = (uintptr_t)&in;
	r = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
	printf("%s: %s", what, err_name(r));
	if (!r)
		printf(" info_len=%u type=%u count=%u flags=%u pid=%s path=%s path_size=%u cookies=%llu,%llu"
		       " offsets_f1_f2=%d,%d",
		       a.info.info_len, in.type, in.count, in.flags,
		       !in.pid ? "0" : in.pid == (uint32_t)child_pid ? "child" : "other", path, in.path_size,
		       (unsigned long long)cookies[0], (unsigned long long)cookies[1],
		       offs[0] == file_offset((void *)um_f1), offs[1] == file_offset((void *)um_f2));
	printf("\n");
}

static uint32_t link_id(long fd)
{
	struct um_info in;
	union bpf_attr a;

	memset(&in, 0, sizeof(in));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(in);
	a.info.info = (uintptr_t)&in;
	return sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a)) ? 0 : in.id;
}

int main(void)
{
	uint64_t offs[2], cookies[2] = { 1, 2 }, bad_off = (uint64_t)-1, far_off = 1ULL << 40, odd_ref = 1;
	uint64_t cookie3 = 3, cookie4 = 4;
	char self[4096];
	struct lc_attr a, good;
	union bpf_attr ma;
	int prog, tp_prog, kp_prog, idle[2] = { 0, 0 }, go[2], status;
	long la, lb, lc;
	uint32_t ids[3];
	pthread_t th;
	pid_t child;
	ssize_t n;

	setvbuf(stdout, NULL, _IOLBF, 0);
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return 1;
	self[n] = 0;
	offs[0] = file_offset((void *)um_f1);
	offs[1] = file_offset((void *)um_f2);
	memset(&ma, 0, sizeof(ma));
	ma.map_type = BPF_MAP_TYPE_ARRAY;
	ma.key_size = 4;
	ma.value_size = 16;
	ma.max_entries = 8;
	map_fd = (int)sys_bpf(BPF_MAP_CREATE, &ma, sizeof(ma));
	prog = prog_load(BPF_PROG_TYPE_KPROBE, TRACE_UPROBE_MULTI);
	kp_prog = prog_load(BPF_PROG_TYPE_KPROBE, 0);
	tp_prog = prog_load(BPF_PROG_TYPE_TRACEPOINT, 0);
	if (map_fd < 0 || prog < 0 || kp_prog < 0 || tp_prog < 0) {
		fprintf(stderr, "setup failed: map %d prog %d kprobe %d tracepoint %d\n", map_fd, prog, kp_prog, tp_prog);
		return 1;
	}
	pthread_create(&th, NULL, idle_thread, idle);
	while (!__atomic_load_n(&idle[0], __ATOMIC_ACQUIRE))
		usleep(1000);

	memset(&good, 0, sizeof(good));
	good.prog_fd = (uint32_t)prog;
	good.attach_type = TRACE_UPROBE_MULTI;
	good.path = (uintptr_t)self;
	good.offsets = (uintptr_t)offs;
	good.cookies = (uintptr_t)cookies;
	good.cnt = 2;
#define TRY(what, field, value)                           \
	do {                                               \
		long r_;                                   \
		a = good;                                  \
		a.field = value;                           \
		r_ = link_create(&a);                      \
		printf("%s: %s\n", what, err_name(r_));   \
		if (r_ >= 0)                               \
			close((int)r_);                    \
	} while (0)
	TRY("bad prog fd", prog_fd, 999);
	TRY("tracepoint program", prog_fd, (uint32_t)tp_prog);
	TRY("kprobe program not loaded for uprobe_multi", prog_fd, (uint32_t)kp_prog);
	TRY("uprobe_multi program as a perf link", attach_type, BPF_PERF_EVENT);
	TRY("link_create.flags", flags, 1);
	TRY("target_fd (ignored)", target_fd, 5);
	TRY("unknown flag", um_flags, 2);
	TRY("cnt 0", cnt, 0);
	TRY("no path", path, 0);
	TRY("no offsets", offsets, 0);
	TRY("pid -1", pid, (uint32_t)-1);
	TRY("cnt above 1<<20", cnt, (1u << 20) + 1);
	TRY("path pointer faults", path, 8);
	TRY("no such file", path, (uintptr_t) "/nonexistent/um");
	TRY("a directory", path, (uintptr_t) "/tmp");
	TRY("no such pid", pid, 0x3ffffff0);
	TRY("a thread id, not a process", pid, (uint32_t)idle[0]);
	TRY("offsets pointer faults", offsets, 8);
	TRY("negative offset", offsets, (uintptr_t)&bad_off);
	TRY("offset past the end of the file", offsets, (uintptr_t)&far_off);
	TRY("cookies pointer faults", cookies, 8);
	a = good;
	a.cnt = 1;
	a.ref_ctr_offsets = (uintptr_t)&odd_ref;
	printf("odd ref_ctr offset: %s\n", err_name(link_create(&a)));
	__atomic_store_n(&idle[1], 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);

	/* A child that exists before its pid-filtered link, and waits. */
	if (pipe(go))
		return 1;
	child = fork();
	if (child == 0) {
		char c;

		close(go[1]);
		if (read(go[0], &c, 1) != 1)
			_exit(2);
		for (long i = 0; i < 4; i++)
			sink += um_f2(i);
		for (long i = 0; i < 2; i++)
			sink += um_f1(i);
		_exit(0);
	}
	close(go[0]);
	child_pid = child;
	la = link_create(&good);
	a = good;
	a.cnt = 1;
	a.cookies = (uintptr_t)&cookie3;
	a.um_flags = F_UPROBE_MULTI_RETURN;
	lb = link_create(&a);
	a = good;
	a.cnt = 1;
	a.offsets = (uintptr_t)&offs[1];
	a.cookies = (uintptr_t)&cookie4;
	a.pid = (uint32_t)child;
	lc = link_create(&a);
	printf("links: entry %s, return %s, pid %s\n", err_name(la), err_name(lb), err_name(lc));
	if (la < 0 || lb < 0 || lc < 0)
		return 1;
	print_info("info pid link, child alive", lc, 1, 512);
	for (long i = 0; i < 5; i++)
		sink += um_f1(i);
	for (long i = 0; i < 3; i++)
		sink += um_f2(i);
	if (write(go[1], "g", 1) != 1 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status))
		return 1;
	for (long i = 0; i < 2; i++)
		sink += um_f2(i);
	print_counts("attached");

	print_info("info entry link", la, 2, 512);
	print_info("info return link", lb, 1, 512);
	print_info("info pid link, child gone", lc, 1, 512);
	print_info("info, count 1 of 2", la, 1, 512);
	print_info("info, path buffer of 4 bytes", la, 2, 4);
	{
		struct um_info in;
		union bpf_attr ia;

		memset(&in, 0, sizeof(in));
		in.offsets = (uintptr_t)offs;
		memset(&ia, 0, sizeof(ia));
		ia.info.bpf_fd = (uint32_t)la;
		ia.info.info_len = sizeof(in);
		ia.info.info = (uintptr_t)&in;
		printf("info, offsets without count: %s\n", err_name(sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &ia, sizeof(ia))));
	}
	{
		union bpf_attr da;

		memset(&da, 0, sizeof(da));
		da.link_detach.link_fd = (uint32_t)la;
		printf("LINK_DETACH: %s\n", err_name(sys_bpf(BPF_LINK_DETACH, &da, sizeof(da))));
	}

	/* The last close detaches (bpftime: once bpftime-run has seen it; see emul/raw_tp.c). */
	ids[0] = link_id(la);
	ids[1] = link_id(lb);
	ids[2] = link_id(lc);
	close((int)la);
	close((int)lb);
	close((int)lc);
	for (int i = 0; i < 3; i++) {
		union bpf_attr ga;
		long fd;
		int tries = 0;

		for (;;) {
			memset(&ga, 0, sizeof(ga));
			ga.link_id = ids[i];
			fd = sys_bpf(BPF_LINK_GET_FD_BY_ID, &ga, sizeof(ga));
			if (fd < 0 || tries++ > 5000)
				break;
			close((int)fd);
			usleep(1000);
		}
		if (fd >= 0)
			printf("link %d still there after its last close\n", i);
	}
	for (long i = 0; i < 5; i++)
		sink += um_f1(i) + um_f2(i);
	print_counts("closed");
	return 0;
}
