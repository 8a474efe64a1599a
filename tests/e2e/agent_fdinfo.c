/*
 * agent_fdinfo.c - what a process learns about its bpf fds from procfs, as
 * bpftool's get_fdinfo() and get_fd_type() ask (bpftool 7.1 src/common.c):
 * readlink(/proc/self/fd/N) and the text of /proc/self/fdinfo/N, for a BTF
 * object, maps of several types, programs, a perf event, a perf link, and
 * two fds that are not bpf objects (/dev/null, a pipe).
 *
 * For each fd it prints the link target and the fdinfo text read through
 * fopen()+getline(), then checks that every other way in gives the same
 * bytes: open()+read(), openat(AT_FDCWD)+read(), /proc/<pid>/..., and
 * /proc/thread-self/..., readlinkat(). Run as root against the kernel and
 * unprivileged under bpftime-run; tests/e2e/agent-fdinfo.sh compares the two
 * outputs field by field. Exits 1 when the objects cannot be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static void die(const char *what)
{
	printf("setup failed: %s: %s\n", what, strerror(errno));
	exit(1);
}

/* The uprobe target: its file offset is found through /proc/self/maps. */
__attribute__((noinline)) int fdinfo_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x + 1;
}

static int map_create(const char *name, uint32_t type, uint32_t ksz, uint32_t vsz, uint32_t n, uint32_t flags)
{
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ksz;
	a.value_size = vsz;
	a.max_entries = n;
	a.map_flags = flags;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
	if (fd < 0)
		die(name);
	return fd;
}

static int prog_load(const char *name, uint32_t type, uint32_t insn_cnt)
{
	struct bpf_insn *insns = calloc(insn_cnt, sizeof(*insns));
	union bpf_attr a;
	int fd;

	if (!insns)
		die("calloc");
	/* r0 = i, ..., then exit: nothing the verifier rewrites, so the size is the loaded one. */
	for (uint32_t i = 0; i + 1 < insn_cnt; i++)
		insns[i] = (struct bpf_insn){ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = (int32_t)(i & 1) };
	insns[insn_cnt - 1] = (struct bpf_insn){ .code = BPF_JMP | BPF_EXIT };
	memset(&a, 0, sizeof(a));
	a.prog_type = type;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = insn_cnt;
	a.license = (uint64_t)(uintptr_t)"GPL";
	strncpy(a.prog_name, name, sizeof(a.prog_name) - 1);
	fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0)
		die(name);
	free(insns);
	return fd;
}

/* A program that tail-calls through @parr: loading it makes it the prog array's owner. */
static int tail_prog_load(int parr)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 2, .src_reg = BPF_PSEUDO_MAP_FD, .imm = parr },
		{ 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 3, .imm = 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_tail_call },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uint64_t)(uintptr_t)"GPL";
	strncpy(a.prog_name, "fdi_tail", sizeof(a.prog_name) - 1);
	fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (fd < 0)
		die("tail prog");
	return fd;
}

static int btf_load(void)
{
	struct {
		struct btf_header hdr;
		struct btf_type t;
		uint32_t int_info;
		char str[8];
	} b;
	union bpf_attr a;
	int fd;

	memset(&b, 0, sizeof(b));
	b.hdr.magic = BTF_MAGIC;
	b.hdr.version = BTF_VERSION;
	b.hdr.hdr_len = sizeof(b.hdr);
	b.hdr.type_off = 0;
	b.hdr.type_len = sizeof(b.t) + sizeof(b.int_info);
	b.hdr.str_off = b.hdr.type_len;
	b.hdr.str_len = 5; /* "\0int\0" */
	b.t.name_off = 1;
	b.t.info = BTF_KIND_INT << 24;
	b.t.size = 4;
	b.int_info = BTF_INT_SIGNED << 24 | 32;
	memcpy(b.str, "\0int", 5);
	memset(&a, 0, sizeof(a));
	a.btf = (uint64_t)(uintptr_t)&b;
	a.btf_size = sizeof(b.hdr) + b.hdr.type_len + b.hdr.str_len;
	fd = (int)sys_bpf(BPF_BTF_LOAD, &a);
	if (fd < 0)
		die("btf");
	return fd;
}

static int read_int_file(const char *path, const char *prefix)
{
	char buf[64];
	FILE *f = fopen(path, "r");
	int v = -1;

	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f))
		v = atoi(buf + (prefix ? strlen(prefix) : 0));
	fclose(f);
	return v;
}

/* A uprobe on fdinfo_target() in this executable, as libbpf attaches one. */
static int uprobe_open(void)
{
	struct perf_event_attr pa;
	unsigned long start, off, want = (unsigned long)(uintptr_t)&fdinfo_target;
	static char exe[4096];
	char line[4096], perm[8];
	FILE *m;
	int type, fd;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n < 0)
		die("readlink exe");
	exe[n] = 0;
	type = read_int_file("/sys/bus/event_source/devices/uprobe/type", NULL);
	if (type < 0)
		die("uprobe type");
	m = fopen("/proc/self/maps", "r");
	if (!m)
		die("maps");
	off = 0;
	while (fgets(line, sizeof(line), m)) {
		unsigned long lo, hi, foff;

		if (sscanf(line, "%lx-%lx %7s %lx", &lo, &hi, perm, &foff) == 4 && want >= lo && want < hi) {
			start = lo;
			off = want - start + foff;
			break;
		}
	}
	fclose(m);
	if (!off)
		die("target offset");
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = (uint32_t)type;
	pa.config1 = (uint64_t)(uintptr_t)exe;
	pa.config2 = off;
	fd = (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		die("perf_event_open uprobe");
	return fd;
}

/* The syscalls:sys_enter_getpid tracepoint of this process (tracefs must be mounted). */
static int tracepoint_open(void)
{
	struct perf_event_attr pa;
	int id = read_int_file("/sys/kernel/tracing/events/syscalls/sys_enter_getpid/id", NULL), fd;

	if (id < 0)
		die("tracepoint id (is tracefs mounted?)");
	memset(&pa, 0, sizeof(pa));
	pa.size = sizeof(pa);
	pa.type = PERF_TYPE_TRACEPOINT;
	pa.config = (uint64_t)id;
	fd = (int)syscall(SYS_perf_event_open, &pa, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (fd < 0)
		die("perf_event_open tracepoint");
	return fd;
}

static int link_create(int prog_fd, int perf_fd, uint64_t cookie)
{
	union bpf_attr a;
	int fd;

	memset(&a, 0, sizeof(a));
	a.link_create.prog_fd = (uint32_t)prog_fd;
	a.link_create.target_fd = (uint32_t)perf_fd;
	a.link_create.attach_type = BPF_PERF_EVENT;
	a.link_create.perf_event.bpf_cookie = cookie;
	fd = (int)sys_bpf(BPF_LINK_CREATE, &a);
	if (fd < 0)
		die("link_create");
	return fd;
}

/* The whole file through fopen()+getline(), as bpftool's get_fdinfo(). */
static char *read_fopen(const char *path)
{
	char *line = NULL, *out = NULL;
	size_t line_n = 0, out_n = 0;
	FILE *f = fopen(path, "r"), *o;
	ssize_t n;

	if (!f)
		return NULL;
	o = open_memstream(&out, &out_n);
	while ((n = getline(&line, &line_n, f)) > 0)
		fwrite(line, 1, (size_t)n, o);
	fclose(o);
	free(line);
	fclose(f);
	return out;
}

/* The whole file through read(2) in small pieces (a reader need not use stdio). */
static char *read_fd(int fd)
{
	char *out = NULL, buf[37];
	size_t out_n = 0;
	FILE *o = open_memstream(&out, &out_n);
	ssize_t n;

	if (fd < 0) {
		fclose(o);
		free(out);
		return NULL;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, o);
	fclose(o);
	close(fd);
	return out;
}

static volatile int open_flags = O_RDONLY | O_CLOEXEC;

static const char *same(const char *a, const char *b)
{
	return a && b && !strcmp(a, b) ? "yes" : "no";
}

static void show(const char *label, int fd)
{
	char path[128], alt[128], target[512], t2[512];
	char *txt, *via_open, *via_openat, *via_pid, *via_thread;
	ssize_t n, n2;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, target, sizeof(target) - 1);
	target[n < 0 ? 0 : n] = 0;
	snprintf(alt, sizeof(alt), "/proc/%d/fd/%d", (int)getpid(), fd);
	n2 = readlinkat(AT_FDCWD, alt, t2, sizeof(t2) - 1);
	t2[n2 < 0 ? 0 : n2] = 0;
	printf("== %s\nlink: %s\nreadlinkat same: %s\n", label, n < 0 ? strerror(errno) : target,
	       n == n2 && !strcmp(target, t2) ? "yes" : "no");
	/* readlink() truncates silently and returns the bytes written, as on the kernel. */
	n2 = readlink(path, t2, 5);
	printf("short readlink: %zd %.*s\n", n2, (int)(n2 < 0 ? 0 : n2), t2);

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	txt = read_fopen(path);
	/* Flags the compiler cannot see: with _FORTIFY_SOURCE this is glibc's __open_2. */
	via_open = read_fd(open(path, open_flags));
	via_openat = read_fd(openat(AT_FDCWD, path, O_RDONLY));
	snprintf(alt, sizeof(alt), "/proc/%d/fdinfo/%d", (int)getpid(), fd);
	via_pid = read_fd(open(alt, O_RDONLY));
	snprintf(alt, sizeof(alt), "/proc/thread-self/fdinfo/%d", fd);
	via_thread = read_fd(open(alt, O_RDONLY));
	printf("fdinfo:\n%s", txt ? txt : "(cannot open)\n");
	printf("open+read same: %s\nopenat+read same: %s\n/proc/<pid> same: %s\n/proc/thread-self same: %s\n",
	       same(txt, via_open), same(txt, via_openat), same(txt, via_pid), same(txt, via_thread));
	free(txt);
	free(via_open);
	free(via_openat);
	free(via_pid);
	free(via_thread);
}

static const char *err_name(long r)
{
	if (r >= 0)
		return "ok";
	switch (errno) {
	case EACCES: return "EACCES";
	case ENOTDIR: return "ENOTDIR";
	case EBADF: return "EBADF";
	case EINVAL: return "EINVAL";
	case ENOENT: return "ENOENT";
	case EPERM: return "EPERM";
	default: return strerror(errno);
	}
}

/* What a careless or hostile reader gets: the kernel's errors, and pread/lseek work. */
static void misuse(int map_fd)
{
	char path[64], lpath[64], buf[64];
	FILE *f;
	int fd;
	long r;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", map_fd);
	snprintf(lpath, sizeof(lpath), "/proc/self/fd/%d", map_fd);
	printf("== misuse\n");
	r = open(path, O_WRONLY);
	printf("open O_WRONLY: %s\n", err_name(r));
	r = open(path, O_RDWR);
	printf("open O_RDWR: %s\n", err_name(r));
	r = open(path, O_RDONLY | O_DIRECTORY);
	printf("open O_DIRECTORY: %s\n", err_name(r));
	f = fopen(path, "w");
	printf("fopen w: %s\n", f ? "ok" : err_name(-1));
	r = readlink(lpath, buf, 0);
	printf("readlink size 0: %s\n", err_name(r));
	fd = open(path, O_RDONLY);
	r = write(fd, "x", 1);
	printf("write to fdinfo: %s\n", err_name(r));
	r = pread(fd, buf, 8, 5);
	printf("pread at 5: %ld %.*s\n", r, (int)(r < 0 ? 0 : r), buf);
	r = lseek(fd, 0, SEEK_SET);
	printf("lseek 0: %ld\n", r);
	r = read(fd, buf, 4);
	printf("read after lseek: %ld %.*s\n", r, (int)(r < 0 ? 0 : r), buf);
	close(fd);
	r = open("/proc/self/fdinfo/987654", O_RDONLY);
	printf("fdinfo of a closed fd: %s\n", err_name(r));
	r = readlink("/proc/self/fd/987654", buf, sizeof(buf));
	printf("readlink of a closed fd: %s\n", err_name(r));
}

int main(void)
{
	int btf, arr, arr_mm, hash, hash_np, lru, pcpu_arr, pcpu_hash, rb, parr, frozen;
	int sock, big, kprobe, perf, link, devnull, pipefd[2], parr_owned, tail, tp_prog, tp_perf, tp_link;
	union bpf_attr a;
	uint32_t k = 0;
	uint64_t v = 7;

	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	btf = btf_load();
	arr = map_create("fdi_arr", BPF_MAP_TYPE_ARRAY, 4, 8, 4, 0);
	arr_mm = map_create("fdi_arr_mm", BPF_MAP_TYPE_ARRAY, 4, 12, 100, BPF_F_MMAPABLE);
	hash = map_create("fdi_hash", BPF_MAP_TYPE_HASH, 4, 8, 64, 0);
	hash_np = map_create("fdi_hash_np", BPF_MAP_TYPE_HASH, 4, 8, 64, BPF_F_NO_PREALLOC);
	lru = map_create("fdi_lru", BPF_MAP_TYPE_LRU_HASH, 8, 16, 128, 0);
	pcpu_arr = map_create("fdi_pcpu_arr", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0);
	pcpu_hash = map_create("fdi_pcpu_hash", BPF_MAP_TYPE_PERCPU_HASH, 4, 8, 16, 0);
	rb = map_create("fdi_rb", BPF_MAP_TYPE_RINGBUF, 0, 0, 4096 * 4, 0);
	parr = map_create("fdi_parr", BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 4, 0);
	parr_owned = map_create("fdi_parr_own", BPF_MAP_TYPE_PROG_ARRAY, 4, 4, 8, 0);
	tail = tail_prog_load(parr_owned);
	frozen = map_create("fdi_frozen", BPF_MAP_TYPE_ARRAY, 4, 8, 1, 0);
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)frozen;
	a.key = (uint64_t)(uintptr_t)&k;
	a.value = (uint64_t)(uintptr_t)&v;
	if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0)
		die("update");
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)frozen;
	if (sys_bpf(BPF_MAP_FREEZE, &a) < 0)
		die("freeze");
	sock = prog_load("fdi_sock", BPF_PROG_TYPE_SOCKET_FILTER, 2);
	/* 600 instructions: 4800 bytes plus struct bpf_prog, two pages. */
	big = prog_load("fdi_big", BPF_PROG_TYPE_SOCKET_FILTER, 600);
	kprobe = prog_load("fdi_kprobe", BPF_PROG_TYPE_KPROBE, 2);
	perf = uprobe_open();
	link = link_create(kprobe, perf, 0);
	tp_prog = prog_load("fdi_tp", BPF_PROG_TYPE_TRACEPOINT, 2);
	tp_perf = tracepoint_open();
	tp_link = link_create(tp_prog, tp_perf, 7);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0 || pipe(pipefd) < 0)
		die("devnull/pipe");

	show("btf", btf);
	show("map array", arr);
	show("map array mmapable", arr_mm);
	show("map hash", hash);
	show("map hash no_prealloc", hash_np);
	show("map lru_hash", lru);
	show("map percpu_array", pcpu_arr);
	show("map percpu_hash", pcpu_hash);
	show("map ringbuf", rb);
	show("map prog_array", parr);
	show("map prog_array with owner", parr_owned);
	show("map frozen", frozen);
	show("prog socket_filter", sock);
	show("prog 600 insns", big);
	show("prog kprobe", kprobe);
	show("prog tail call", tail);
	show("perf event", perf);
	show("link", link);
	show("tracepoint link", tp_link);
	show("/dev/null", devnull);
	show("pipe", pipefd[0]);
	misuse(arr);
	printf("target %d\n", fdinfo_target(1));
	return 0;
}
