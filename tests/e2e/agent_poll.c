/*
 * agent_poll.c - a perf buffer consumer that waits with poll(2), as bcc 0.26
 * does (libbcc's perf_reader_poll()): one PERF_COUNT_SW_BPF_OUTPUT event per
 * CPU, each mapped 1 + 8 pages and enabled, stored in a PERF_EVENT_ARRAY.
 * A raw tracepoint program run with PROG_TEST_RUN from a second thread
 * (BPF_F_TEST_RUN_ON_CPU, so the kernel accepts the explicit ring index)
 * writes the records while the main thread is blocked in poll()/ppoll().
 *
 * Prints one line per check, identical on the kernel and under bpftime;
 * tests/e2e/agent-poll.sh compares them. Exits 1 on a setup failure.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define DATA_PAGES 8
#define MAXCPU 64

static int ncpu, map_fd, prog_fd, rb_fd, rb_prog_fd;
static int pfd[MAXCPU];
static uint8_t *ring[MAXCPU];

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static void die(const char *what)
{
	printf("setup failed: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (int64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
	       (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
}

struct emitter {
	int delay_ms;
	uint64_t value;
	uint32_t cpu;
	int err;
};

static void setup(void)
{
	struct bpf_insn insns[] = {
		/* r2 = ctx[0] (value); *(u64 *)(r10 - 8) = r2; r3 = ctx[1] (ring index) */
		{ BPF_LDX | BPF_MEM | BPF_DW, 2, 1, 0, 0 },
		{ BPF_STX | BPF_MEM | BPF_DW, 10, 2, -8, 0 },
		{ BPF_LDX | BPF_MEM | BPF_DW, 3, 1, 8, 0 },
		/* r2 = map */
		{ BPF_LD | BPF_IMM | BPF_DW, 2, BPF_PSEUDO_MAP_FD, 0, 0 },
		{ 0, 0, 0, 0, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_X, 4, 10, 0, 0 },
		{ BPF_ALU64 | BPF_ADD | BPF_K, 4, 0, 0, -8 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 5, 0, 0, 8 },
		{ BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_perf_event_output },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0 },
		{ BPF_JMP | BPF_EXIT, 0, 0, 0, 0 },
	};
	union bpf_attr a;

	ncpu = (int)sysconf(_SC_NPROCESSORS_CONF);
	if (ncpu > MAXCPU)
		ncpu = MAXCPU;
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_PERF_EVENT_ARRAY;
	a.key_size = 4;
	a.value_size = 4;
	a.max_entries = (uint32_t)ncpu;
	map_fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
	if (map_fd < 0)
		die("BPF_MAP_CREATE");
	for (int c = 0; c < ncpu; c++) {
		struct perf_event_attr pa;
		uint32_t key = (uint32_t)c;

		memset(&pa, 0, sizeof(pa));
		pa.type = PERF_TYPE_SOFTWARE;
		pa.size = sizeof(pa);
		pa.config = PERF_COUNT_SW_BPF_OUTPUT;
		pa.sample_type = PERF_SAMPLE_RAW;
		pa.sample_period = 1;
		pa.wakeup_events = 1;
		pfd[c] = (int)syscall(SYS_perf_event_open, &pa, -1, c, -1, PERF_FLAG_FD_CLOEXEC);
		if (pfd[c] < 0)
			die("perf_event_open");
		ring[c] = mmap(NULL, (1 + DATA_PAGES) * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, pfd[c], 0);
		if (ring[c] == MAP_FAILED)
			die("mmap");
		if (ioctl(pfd[c], PERF_EVENT_IOC_ENABLE, 0) < 0)
			die("PERF_EVENT_IOC_ENABLE");
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)map_fd;
		a.key = (uint64_t)(uintptr_t)&key;
		a.value = (uint64_t)(uintptr_t)&pfd[c];
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a) < 0)
			die("BPF_MAP_UPDATE_ELEM");
	}
	insns[3].imm = map_fd;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uint64_t)(uintptr_t)"GPL";
	prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (prog_fd < 0)
		die("BPF_PROG_LOAD");
}

/* A BPF_MAP_TYPE_RINGBUF and a program writing ctx[0] into it with bpf_ringbuf_output(). */
static void setup_ringbuf(void)
{
	struct bpf_insn insns[] = {
		{ BPF_LDX | BPF_MEM | BPF_DW, 2, 1, 0, 0 },
		{ BPF_STX | BPF_MEM | BPF_DW, 10, 2, -8, 0 },
		{ BPF_LD | BPF_IMM | BPF_DW, 1, BPF_PSEUDO_MAP_FD, 0, 0 },
		{ 0, 0, 0, 0, 0 },
		{ BPF_ALU64 | BPF_MOV | BPF_X, 2, 10, 0, 0 },
		{ BPF_ALU64 | BPF_ADD | BPF_K, 2, 0, 0, -8 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 3, 0, 0, 8 },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 4, 0, 0, 0 },
		{ BPF_JMP | BPF_CALL, 0, 0, 0, BPF_FUNC_ringbuf_output },
		{ BPF_ALU64 | BPF_MOV | BPF_K, 0, 0, 0, 0 },
		{ BPF_JMP | BPF_EXIT, 0, 0, 0, 0 },
	};
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_RINGBUF;
	a.max_entries = 4 * PAGE;
	rb_fd = (int)sys_bpf(BPF_MAP_CREATE, &a);
	if (rb_fd < 0)
		die("BPF_MAP_CREATE(RINGBUF)");
	insns[2].imm = rb_fd;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_RAW_TRACEPOINT;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = sizeof(insns) / sizeof(insns[0]);
	a.license = (uint64_t)(uintptr_t)"GPL";
	rb_prog_fd = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (rb_prog_fd < 0)
		die("BPF_PROG_LOAD(ringbuf)");
}

static int rb_emit(uint64_t value)
{
	uint64_t ctx[1] = { value };
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)rb_prog_fd;
	a.test.ctx_in = (uint64_t)(uintptr_t)ctx;
	a.test.ctx_size_in = sizeof(ctx);
	if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0)
		return -errno;
	return (int)a.test.retval;
}

static void *rb_emit_later(void *arg)
{
	struct emitter *e = arg;
	struct timespec ts = { 0, 100 * 1000000L };

	nanosleep(&ts, NULL);
	e->err = rb_emit(e->value);
	return NULL;
}

static int emit(uint64_t value, uint32_t cpu)
{
	uint64_t ctx[2] = { value, cpu };
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.test.prog_fd = (uint32_t)prog_fd;
	a.test.ctx_in = (uint64_t)(uintptr_t)ctx;
	a.test.ctx_size_in = sizeof(ctx);
	a.test.flags = BPF_F_TEST_RUN_ON_CPU;
	a.test.cpu = cpu;
	if (sys_bpf(BPF_PROG_TEST_RUN, &a) < 0)
		return -errno;
	return (int)a.test.retval;
}

static void *emit_later(void *arg)
{
	struct emitter *e = arg;
	struct timespec ts = { e->delay_ms / 1000, (long)(e->delay_ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
	e->err = emit(e->value, e->cpu);
	return NULL;
}

/* Read every record of ring @c as bcc does and print them. */
static void drain(int c)
{
	struct perf_event_mmap_page *pg = (void *)ring[c];
	uint64_t head = __atomic_load_n(&pg->data_head, __ATOMIC_ACQUIRE), tail = pg->data_tail;
	uint8_t *data = ring[c] + PAGE;

	while (tail < head) {
		struct perf_event_header *h = (void *)(data + (tail & (DATA_PAGES * PAGE - 1)));
		uint32_t raw;
		uint64_t v;

		memcpy(&raw, h + 1, 4);
		memcpy(&v, (uint8_t *)(h + 1) + 4, 8);
		printf("record ring=%d type=%u size=%u raw=%u value=%#llx\n", c, h->type, h->size, raw,
		       (unsigned long long)v);
		tail += h->size;
	}
	__atomic_store_n(&pg->data_tail, tail, __ATOMIC_RELEASE);
}

static void print_ready(const char *what, int r, const struct pollfd *fds, int n)
{
	printf("%s: returned %d ready=", what, r);
	for (int i = 0; i < n; i++)
		if (fds[i].revents)
			printf("[%d:%#x]", i, fds[i].revents);
	printf("\n");
}

int main(void)
{
	struct pollfd fds[MAXCPU + 1];
	int pipefd[2], r, last;
	int64_t t0, c0, el, used;
	pthread_t th;
	struct emitter e;

	setvbuf(stdout, NULL, _IOLBF, 0);
	setup();
	last = ncpu - 1;
	if (pipe(pipefd) < 0)
		die("pipe");
	for (int c = 0; c < ncpu; c++)
		fds[c] = (struct pollfd){ .fd = pfd[c], .events = POLLIN };
	fds[ncpu] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };

	/* 1. Nothing arrives: poll times out after its timeout, without spinning. */
	t0 = now_ms();
	c0 = cpu_ms();
	r = poll(fds, (nfds_t)ncpu + 1, 400);
	el = now_ms() - t0;
	used = cpu_ms() - c0;
	print_ready("idle poll(400)", r, fds, ncpu + 1);
	printf("idle poll waited its timeout: %s\n", el >= 395 ? "yes" : "no");
	printf("idle poll did not spin: %s\n", used * 4 < el ? "yes" : "no");
	if (used * 4 >= el)
		fprintf(stderr, "idle poll: %lld ms CPU over %lld ms\n", (long long)used, (long long)el);

	/* 2. poll(-1) wakes when a record arrives in the last CPU's ring. */
	e = (struct emitter){ 150, 0x1234567890abcdefull, (uint32_t)last, 0 };
	pthread_create(&th, NULL, emit_later, &e);
	t0 = now_ms();
	r = poll(fds, (nfds_t)ncpu + 1, -1);
	el = now_ms() - t0;
	pthread_join(th, NULL);
	printf("emit: %d\n", e.err);
	print_ready("wake poll(-1)", r, fds, ncpu + 1);
	printf("wake poll blocked until the record: %s\n", el >= 100 && el < 5000 ? "yes" : "no");
	drain(last);
	r = poll(fds, (nfds_t)ncpu + 1, 0);
	print_ready("after reading poll(0)", r, fds, ncpu + 1);

	/* 3. Two records on ring 0 before the wait: ready at once, both read. */
	r = emit(1, 0);
	printf("emit: %d %d\n", r, emit(2, 0));
	r = poll(fds, (nfds_t)ncpu + 1, -1);
	print_ready("pending poll(-1)", r, fds, ncpu + 1);
	drain(0);

	/* 4. Another fd of the set becomes ready first. */
	if (write(pipefd[1], "x", 1) != 1)
		die("write");
	r = poll(fds, (nfds_t)ncpu + 1, -1);
	print_ready("pipe poll(-1)", r, fds, ncpu + 1);
	{
		char ch;

		if (read(pipefd[0], &ch, 1) != 1)
			die("read");
	}

	/* 5. ppoll: a timeout, then a wake-up with a signal mask. */
	{
		struct timespec ts = { 0, 200 * 1000000L };
		sigset_t mask;

		sigemptyset(&mask);
		t0 = now_ms();
		r = ppoll(fds, (nfds_t)ncpu + 1, &ts, &mask);
		el = now_ms() - t0;
		print_ready("idle ppoll(200ms)", r, fds, ncpu + 1);
		printf("idle ppoll waited its timeout: %s\n", el >= 195 ? "yes" : "no");
		e = (struct emitter){ 100, 42, 0, 0 };
		pthread_create(&th, NULL, emit_later, &e);
		r = ppoll(fds, (nfds_t)ncpu + 1, NULL, &mask);
		pthread_join(th, NULL);
		printf("emit: %d\n", e.err);
		print_ready("wake ppoll(NULL)", r, fds, ncpu + 1);
		drain(0);
	}

	/* 6. A ringbuf map fd: idle timeout, then poll(-1) wakes on a record, read exactly. */
	setup_ringbuf();
	{
		uint64_t *cons = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, rb_fd, 0);
		uint8_t *prod = mmap(NULL, PAGE + 2 * 4 * PAGE, PROT_READ, MAP_SHARED, rb_fd, PAGE);
		struct pollfd rp[2] = { { .fd = rb_fd, .events = POLLIN }, { .fd = pipefd[0], .events = POLLIN } };

		if (cons == MAP_FAILED || prod == MAP_FAILED)
			die("mmap(RINGBUF)");
		r = poll(rp, 2, 100);
		print_ready("ringbuf idle poll(100)", r, rp, 2);
		e = (struct emitter){ 100, 0xfeedfacecafebeefull, 0, 0 };
		pthread_create(&th, NULL, rb_emit_later, &e);
		r = poll(rp, 2, -1);
		pthread_join(th, NULL);
		printf("ringbuf emit: %d\n", e.err);
		print_ready("ringbuf wake poll(-1)", r, rp, 2);
		{
			uint64_t c = __atomic_load_n(cons, __ATOMIC_ACQUIRE);
			uint64_t p = __atomic_load_n((uint64_t *)prod, __ATOMIC_ACQUIRE);
			uint32_t len;
			uint64_t v;

			memcpy(&len, prod + PAGE + (c & (4 * PAGE - 1)), 4);
			memcpy(&v, prod + PAGE + (c & (4 * PAGE - 1)) + 8, 8);
			printf("ringbuf record: len=%u value=%#llx bytes=%llu\n", len, (unsigned long long)v,
			       (unsigned long long)(p - c));
			__atomic_store_n(cons, p, __ATOMIC_RELEASE);
		}
		r = poll(rp, 2, 0);
		print_ready("ringbuf after reading poll(0)", r, rp, 2);
	}
	return 0;
}
