/*
 * ring_wake_bench.c - wake-up latency of a ring consumer: from the moment a
 * BPF program puts a record into a ring (bpf_ktime_get_ns() just before
 * bpf_ringbuf_submit() / bpf_perf_event_output(), stored in the record) to
 * the consumer's callback, run by ring_buffer__poll() / perf_buffer__poll()
 * (epoll_wait inside) or after a plain poll() on the ring fds (bcc's way).
 *
 * The producer is a uprobe program on ring_wake_trigger(), which a second
 * thread calls once every few milliseconds, so the consumer is asleep each
 * time. Run as root it measures the kernel (a kernel uprobe; the kernel
 * wakes the consumer through irq_work); under bpftime-run the emulated rings:
 * the agent runs the program in the producer thread, and the wake-up
 * travels through the ring's futex word to the supervisor's ring waker and
 * the consumer's epoll (emul/ring_wake.c), or straight to the consumer's
 * poll() (hooks/agent_poll.c). bench/ring_wake_bench.sh runs both and prints
 * the ratios.
 *
 * Usage: ring_wake_bench OBJ MODE [N]   MODE: rb-epoll rb-poll pb-epoll pb-poll, or
 * rb-mixed pb-mixed: poll() on the ring fds plus a pipe nobody writes
 * Prints "<MODE> <median ns> <p90 ns> <records> <consumer CPU us per record>";
 * the last figure shows whether the consumer slept or spun while it waited
 * (the producer sleeps 3 ms before each record).
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench/stats.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t lat[4096];
static volatile int got, want;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void record(uint64_t ts)
{
	uint64_t t = now_ns();

	if (got < (int)(sizeof(lat) / sizeof(lat[0])))
		lat[got] = t > ts ? t - ts : 0;
	__atomic_add_fetch(&got, 1, __ATOMIC_RELEASE);
}

static int rb_cb(void *ctx, void *data, size_t sz)
{
	(void)ctx;
	if (sz == sizeof(uint64_t))
		record(*(uint64_t *)data);
	return 0;
}

static void pb_cb(void *ctx, int cpu, void *data, __u32 sz)
{
	(void)ctx;
	(void)cpu;
	if (sz >= sizeof(uint64_t))
		record(*(uint64_t *)data);
}

/* The probed function: a real call the compiler cannot drop, long enough for
 * bpftime's 5-byte jump (a 4-byte body cannot be patched). */
static volatile int trigger_sink;
__attribute__((noinline)) int ring_wake_trigger(int x);
__attribute__((noinline)) int ring_wake_trigger(int x)
{
	trigger_sink = x;
	trigger_sink += x;
	return trigger_sink;
}

static int n_runs;

static void *produce(void *arg)
{
	struct timespec gap = { 0, 3 * 1000 * 1000 };

	(void)arg;
	/* libbpf opens a pid -1 uprobe on CPU 0 (perf_event_open(pid -1, cpu 0)): run there. */
	{
		cpu_set_t cpus;

		CPU_ZERO(&cpus);
		CPU_SET(0, &cpus);
		if (sched_setaffinity(0, sizeof(cpus), &cpus) < 0)
			perror("ring_wake_bench: sched_setaffinity");
	}
	for (int i = 0; i < n_runs; i++) {
		int before = __atomic_load_n(&got, __ATOMIC_ACQUIRE);

		nanosleep(&gap, NULL); /* let the consumer fall asleep */
		ring_wake_trigger(i);
		/* One record at a time: wait until it was consumed (bounded). */
		for (int k = 0; k < 2000 && __atomic_load_n(&got, __ATOMIC_ACQUIRE) == before; k++)
			nanosleep(&(struct timespec){ 0, 500 * 1000 }, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "rb-epoll";
	int n = argc > 3 ? atoi(argv[3]) : 200;
	bool rb = !strncmp(mode, "rb", 2), mixed = strstr(mode, "mixed") != NULL;
	bool use_poll = (strstr(mode, "poll") && !strstr(mode, "epoll")) || mixed;
	int pipefd[2];
	struct bpf_object *obj;
	struct bpf_program *prog;
	struct ring_buffer *r = NULL;
	struct perf_buffer *pbuf = NULL;
	struct bpf_link *link;
	char exe[4096];
	ssize_t exe_len;
	struct pollfd pfds[64];
	int nfds = 0, err;
	pthread_t th;
	uint64_t deadline;
	struct rusage ru0, ru1;
	double cpu_us;

	if (argc < 3 || n <= 0 || n > 4096) {
		fprintf(stderr, "usage: ring_wake_bench OBJ rb-epoll|rb-poll|rb-mixed|pb-epoll|pb-poll|pb-mixed [N<=4096]\n");
		return 2;
	}
	obj = bpf_object__open_file(argv[1], NULL);
	if (!obj || bpf_object__load(obj)) {
		fprintf(stderr, "ring_wake_bench: cannot load %s\n", argv[1]);
		return 1;
	}
	prog = bpf_object__find_program_by_name(obj, rb ? "rb_submit" : "pb_output");
	exe_len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (!prog || exe_len <= 0)
		return 1;
	exe[exe_len] = 0;
	{
		LIBBPF_OPTS(bpf_uprobe_opts, uo, .func_name = "ring_wake_trigger");

		link = bpf_program__attach_uprobe_opts(prog, -1, exe, 0, &uo);
		if (!link) {
			fprintf(stderr, "ring_wake_bench: cannot attach the uprobe: %s\n", strerror(errno));
			return 1;
		}
	}
	if (rb) {
		r = ring_buffer__new(bpf_object__find_map_fd_by_name(obj, "rb"), rb_cb, NULL, NULL);
		if (!r)
			return 1;
		pfds[nfds++] = (struct pollfd){ .fd = bpf_object__find_map_fd_by_name(obj, "rb"), .events = POLLIN };
	} else {
		pbuf = perf_buffer__new(bpf_object__find_map_fd_by_name(obj, "pb"), 8, pb_cb, NULL, NULL, NULL);
		if (!pbuf)
			return 1;
		for (size_t i = 0; i < perf_buffer__buffer_cnt(pbuf) && nfds < 64; i++)
			pfds[nfds++] = (struct pollfd){ .fd = perf_buffer__buffer_fd(pbuf, i), .events = POLLIN };
	}
	if (mixed) {
		/* A pipe nobody writes, in the same poll() set: the set mixes rings and other fds. */
		if (pipe(pipefd))
			return 1;
		pfds[nfds++] = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	}
	want = n;
	getrusage(RUSAGE_THREAD, &ru0);
	n_runs = n;
	if (pthread_create(&th, NULL, produce, NULL))
		return 1;
	deadline = now_ns() + (uint64_t)n * 20 * 1000000ull + 5000000000ull;
	while (__atomic_load_n(&got, __ATOMIC_ACQUIRE) < n && now_ns() < deadline) {
		if (use_poll) {
			err = poll(pfds, (nfds_t)nfds, 1000);
			if (err > 0)
				err = rb ? ring_buffer__consume(r) : perf_buffer__consume(pbuf);
		} else {
			err = rb ? ring_buffer__poll(r, 1000) : perf_buffer__poll(pbuf, 1000);
		}
		if (err < 0 && err != -EINTR) {
			fprintf(stderr, "ring_wake_bench: poll: %s\n", strerror(-err));
			return 1;
		}
	}
	getrusage(RUSAGE_THREAD, &ru1);
	pthread_join(th, NULL);
	cpu_us = (double)(ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec + ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) * 1e6 +
		 (double)(ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec + ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec);
	if (got > n)
		got = n;
	qsort(lat, (size_t)got, sizeof(lat[0]), cmp_u64);
	printf("%s %llu %llu %d %.1f\n", mode, got ? (unsigned long long)lat[got / 2] : 0ull,
	       got ? (unsigned long long)lat[got * 9 / 10] : 0ull, got, got ? cpu_us / got : 0.0);
	bpf_link__destroy(link);
	ring_buffer__free(r);
	perf_buffer__free(pbuf);
	bpf_object__close(obj);
	return got == n ? 0 : 1;
}
