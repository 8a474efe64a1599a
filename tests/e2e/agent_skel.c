/*
 * agent_skel.c - a libbpf 1.1 skeleton loader for the agent e2e test
 * (tests/e2e/agent-skel.sh), run as root on the kernel and unprivileged under
 * bpftime-run, with identical output expected.
 *
 * It sets the .rodata pid filter before load, attaches on_entry/on_return to
 * its own bt_target() by function name (libbpf resolves the file offset from
 * the ELF) and on_getpid to sys_enter_getpid, then THREADS threads each call
 * bt_target(i) for i < CALLS and make GETPIDS getpid syscalls. It reads every
 * ring buffer record (epoll through ring_buffer__poll) and prints the counts,
 * sums and the .bss/.data counters.
 *
 *   agent_skel [CALLS [THREADS [GETPIDS]]]   (defaults 1000 4 3)
 */
#define _GNU_SOURCE
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/agent_skel.skel.h"

struct event {
	unsigned int kind, tid;
	long long val;
};

static long calls = 1000, getpids_per_thread = 3;
static volatile long sink;
static long long recs[2], sums[2];

__attribute__((noinline, optimize("no-omit-frame-pointer"))) long bt_target(long x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < calls; i++)
		sink += bt_target(i);
	for (long i = 0; i < getpids_per_thread; i++)
		sink += syscall(SYS_getpid);
	return NULL;
}

static int on_event(void *ctx, void *data, size_t sz)
{
	const struct event *e = data;

	(void)ctx;
	if (sz != sizeof(*e) || e->kind > 1)
		return 0;
	recs[e->kind]++;
	sums[e->kind] += e->val;
	return 0;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	long threads = 4;
	struct agent_skel *skel;
	struct ring_buffer *rb;
	pthread_t th[16];
	struct timespec t0, t1;

	if (argc > 1)
		calls = atol(argv[1]);
	if (argc > 2)
		threads = atol(argv[2]);
	if (argc > 3)
		getpids_per_thread = atol(argv[3]);
	if (threads < 1 || threads > 16)
		return 2;
	libbpf_set_print(quiet);
	skel = agent_skel__open();
	if (!skel)
		return 1;
	skel->rodata->filter_tgid = (unsigned int)getpid();
	if (agent_skel__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	skel->data->scale = 10;
	uo.func_name = "bt_target";
	uo.retprobe = false;
	skel->links.on_entry = bpf_program__attach_uprobe_opts(skel->progs.on_entry, -1, "/proc/self/exe", 0, &uo);
	uo.retprobe = true;
	skel->links.on_return = bpf_program__attach_uprobe_opts(skel->progs.on_return, -1, "/proc/self/exe", 0, &uo);
	skel->links.on_getpid = bpf_program__attach(skel->progs.on_getpid);
	if (!skel->links.on_entry || !skel->links.on_return || !skel->links.on_getpid) {
		fprintf(stderr, "attach failed\n");
		return 1;
	}
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_event, NULL, NULL);
	if (!rb)
		return 1;
	for (long t = 0; t < threads; t++)
		pthread_create(&th[t], NULL, worker, NULL);
	for (long t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	/* Drain: every record was committed before the threads were joined. */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		ring_buffer__poll(rb, 100);
		if (recs[0] + recs[1] >= 2 * calls * threads)
			break;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (t1.tv_sec - t0.tv_sec > 30)
			break;
	}
	printf("entries=%llu returns=%llu getpids=%llu\n", (unsigned long long)skel->bss->entries,
	       (unsigned long long)skel->bss->returns, (unsigned long long)skel->bss->getpids);
	printf("records: entry=%lld return=%lld\n", recs[0], recs[1]);
	printf("sums: args=%lld rets=%lld\n", sums[0], sums[1]);
	ring_buffer__free(rb);
	agent_skel__destroy(skel);
	return 0;
}
