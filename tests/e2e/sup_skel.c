/*
 * sup_skel.c - a libbpf 1.1 skeleton loader for the end-to-end test: global
 * data through the skeleton's mmap()ed sections, a hash map through bpf(),
 * and a program run with PROG_TEST_RUN whose writes to .bss must be visible
 * through the loader's mapping (the maps are shared memory, coherent with
 * the programs). Prints TAP lines; used by tests/e2e/sup-skel.sh.
 */
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/sup_skel.skel.h"

static int n, fails, records;
static __u64 record_sum;

static int on_record(void *ctx, void *data, size_t sz)
{
	records++;
	if (sz == sizeof(__u64))
		record_sum += *(__u64 *)data;
	return 0;
}

__attribute__((noinline)) int sup_skel_target(int x);
__attribute__((noinline)) int sup_skel_target(int x)
{
	__asm__ volatile("");
	return x + 1;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* A producer that runs the program once, 300 ms after the consumer fell asleep. */
static void *late_producer(void *arg)
{
	LIBBPF_OPTS(bpf_test_run_opts, topts);
	struct timespec d = { 0, 300 * 1000 * 1000 };

	nanosleep(&d, NULL);
	bpf_prog_test_run_opts(*(int *)arg, &topts);
	return NULL;
}

static void check(int cond, const char *what)
{
	n++;
	fails += !cond;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", n, what);
}

int main(void)
{
	LIBBPF_OPTS(bpf_test_run_opts, topts);
	struct ring_buffer *rb = NULL;
	struct sup_skel *skel;
	__u32 key = 1;
	__u64 val = 0;
	int err;

	skel = sup_skel__open();
	check(skel != NULL, "skeleton opens");
	if (!skel)
		return 1;
	skel->rodata->factor = 6;
	err = sup_skel__load(skel);
	check(err == 0, "skeleton loads (maps with BTF, global data, BPF_MAP_FREEZE of .rodata, the program)");
	if (err)
		return 1;
	check(skel->data->input == 7, ".data is mmapped with its initial value");
	/* libbpf's ring buffer: mmap of the consumer and producer pages, epoll_ctl(ADD) on the map fd. */
	rb = ring_buffer__new(bpf_map__fd(skel->maps.events), on_record, NULL, NULL);
	check(rb != NULL && ring_buffer__poll(rb, 0) == 0, "a ring buffer consumer starts, empty");
	skel->data->input = 5;
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.compute), &topts);
	check(err == 0 && topts.retval == 30, "PROG_TEST_RUN returns input * factor (30)");
	check(skel->bss->output == 30 && skel->bss->runs == 1, "the program's .bss writes show in the loader's mapping");
	err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.compute), &topts);
	err = bpf_map_lookup_elem(bpf_map__fd(skel->maps.calls), &key, &val);
	check(err == 0 && val == 2, "the hash map counts both runs through bpf(MAP_LOOKUP_ELEM)");
	check(skel->bss->runs == 2, ".bss counts both runs");
	/* Both runs wrote a record; epoll wakes the consumer (5 s is a bound, not a wait). */
	while (rb && records < 2 && ring_buffer__poll(rb, 5000) > 0)
		;
	check(records == 2 && record_sum == 60, "the ring buffer delivers both records (30 + 30) through epoll");
	/* A consumer asleep in epoll_wait with a long timeout wakes when a record arrives,
	 * not when the timeout ends (the kernel's ringbuf wakes it at once; 2 s is a bound). */
	{
		int prog_fd = bpf_program__fd(skel->progs.compute);
		double t0 = now_s(), dt;
		pthread_t th;

		err = pthread_create(&th, NULL, late_producer, &prog_fd);
		while (!err && rb && records < 3 && now_s() - t0 < 10 && ring_buffer__poll(rb, 10000) >= 0)
			;
		dt = now_s() - t0;
		if (!err)
			pthread_join(th, NULL);
		check(!err && records == 3 && record_sum == 90 && dt < 2.0,
		      "a consumer blocked in epoll_wait (10 s timeout) wakes for a record produced meanwhile, within 2 s");
		if (dt >= 2.0)
			printf("# woke after %.3f s, records %d\n", dt, records);
	}
	ring_buffer__free(rb);
	/* Attach: tracefs id, perf_event_open(TRACEPOINT), the perf-link probe, LINK_CREATE, ENABLE. */
	skel->links.on_getpid = bpf_program__attach(skel->progs.on_getpid);
	check(skel->links.on_getpid != NULL, "the tracepoint program attaches (perf event + BPF_LINK_CREATE)");
	/* A uprobe on a function of this binary, by symbol name (libbpf resolves the file offset). */
	{
		LIBBPF_OPTS(bpf_uprobe_opts, uopts, .func_name = "sup_skel_target");

		skel->links.on_target = bpf_program__attach_uprobe_opts(skel->progs.on_target, 0, "/proc/self/exe", 0,
									 &uopts);
		check(skel->links.on_target != NULL, "the uprobe program attaches to this process by function name");
	}
	sup_skel_target(1);
	sup_skel__destroy(skel);
	printf("1..%d\n", n);
	return fails ? 1 : 0;
}
