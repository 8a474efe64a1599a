/*
 * rawtp_skel.c - a libbpf 1.1 skeleton loader for the raw tracepoint e2e
 * test (tests/e2e/rawtp-skel.sh), run as root on the kernel and
 * unprivileged under bpftime-run, with identical output expected.
 *
 * libbpf attaches on_enter/on_exit (SEC("raw_tp/sys_enter"/"sys_exit"))
 * with BPF_RAW_TRACEPOINT_OPEN; on_cookie is attached here with a raw bpf()
 * call carrying a 6.10 cookie. THREADS threads each make GETPIDS getpid
 * syscalls and WRITES writes of 1..WRITES bytes to /dev/null (the programs
 * count only threads named "rtworker": under bpftime a traced process also
 * runs the agent's thread), first in this
 * process, then in a target: a child that exec'd `rawtp_skel work` before
 * the links existed and waits on a pipe (so under bpftime its own agent
 * runs the programs). It prints the counters of each phase, the cookie
 * link's info, whether LINK_GET_NEXT_ID lists it and what LINK_DETACH
 * answers, then closes the links and checks that nothing runs any more.
 *
 *   rawtp_skel [THREADS [GETPIDS [WRITES]]]   (defaults 4 100 20)
 *   rawtp_skel work GO_FD NULL_FD THREADS GETPIDS WRITES   (the target)
 */
#define _GNU_SOURCE
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/e2e/rawtp_skel.skel.h"

#define COOKIE 0xc00c1e5eedULL

static long getpids = 100, writes = 20;
static int null_fd = -1;
static volatile long sink;

static long threads = 4;

static void *worker(void *arg)
{
	static const char buf[256];

	(void)arg;
	pthread_setname_np(pthread_self(), "rtworker"); /* what the programs count (rawtp_skel.bpf.c) */
	for (long i = 0; i < getpids; i++)
		sink += syscall(SYS_getpid);
	for (long i = 1; i <= writes; i++)
		sink += syscall(SYS_write, null_fd, buf, (size_t)(i % 256));
	return NULL;
}

/* BPF_RAW_TRACEPOINT_OPEN with the cookie field (Linux 6.10, offset 16). */
static int raw_tp_open_cookie(int prog_fd, const char *name, uint64_t cookie)
{
	struct {
		uint64_t name;
		uint32_t prog_fd, pad;
		uint64_t cookie;
	} a = { (uintptr_t)name, (uint32_t)prog_fd, 0, cookie };
	long fd = syscall(SYS_bpf, BPF_RAW_TRACEPOINT_OPEN, &a, sizeof(a));

	return fd < 0 ? -errno : (int)fd;
}

static uint32_t link_id_of(int fd)
{
	struct bpf_link_info info;
	uint32_t len = sizeof(info);

	memset(&info, 0, sizeof(info));
	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

static int quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

static void run_threads(void)
{
	pthread_t th[16];

	for (long t = 0; t < threads; t++)
		pthread_create(&th[t], NULL, worker, NULL);
	for (long t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
}

/* The target: wait for the go byte, then make the syscalls. */
static int work(char **argv)
{
	int go = atoi(argv[2]);
	char c;

	null_fd = atoi(argv[3]);
	threads = atol(argv[4]);
	getpids = atol(argv[5]);
	writes = atol(argv[6]);
	if (threads < 1 || threads > 16 || read(go, &c, 1) != 1)
		return 2;
	run_threads();
	return 0;
}

/* Fork+exec the target with our /dev/null fd; *go is the write end of its pipe. */
static pid_t target_start(int *go)
{
	char a[6][32], self[4096];
	int p[2];
	ssize_t n;
	pid_t pid;

	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0 || pipe(p))
		return -1;
	self[n] = 0;
	pid = fork();
	if (pid == 0) {
		snprintf(a[0], sizeof(a[0]), "%d", p[0]);
		snprintf(a[1], sizeof(a[1]), "%d", null_fd);
		snprintf(a[2], sizeof(a[2]), "%ld", threads);
		snprintf(a[3], sizeof(a[3]), "%ld", getpids);
		snprintf(a[4], sizeof(a[4]), "%ld", writes);
		close(p[1]);
		fcntl(null_fd, F_SETFD, 0);
		execl(self, self, "work", a[0], a[1], a[2], a[3], a[4], (char *)NULL);
		_exit(127);
	}
	close(p[0]);
	*go = p[1];
	return pid;
}

static void print_counters(const char *when, struct rawtp_skel *skel)
{
	const typeof(*skel->bss) *b = skel->bss;
	unsigned long long pid = (unsigned long long)getpid(); /* before the counters are read */

	printf("%s: enter_getpid=%llu exit_getpid=%llu getpid_ret_sum_is_n_pids=%d\n", when,
	       (unsigned long long)b->enter_getpid, (unsigned long long)b->exit_getpid,
	       b->getpid_ret_sum == b->exit_getpid * pid);
	printf("%s: enter_write=%llu len_sum=%llu exit_write=%llu ret_sum=%llu\n", when,
	       (unsigned long long)b->enter_write, (unsigned long long)b->enter_write_len,
	       (unsigned long long)b->exit_write, (unsigned long long)b->exit_write_ret);
	printf("%s: ctx/regs mismatches enter=%llu exit=%llu\n", when, (unsigned long long)b->enter_bad,
	       (unsigned long long)b->exit_bad);
	printf("%s: cookie_hits=%llu cookie_seen=%#llx\n", when, (unsigned long long)b->cookie_hits,
	       (unsigned long long)b->cookie_seen);
	fprintf(stderr, "%s: getpid by other threads: %llu\n", when, (unsigned long long)b->other_getpid);
}

int main(int argc, char **argv)
{
	struct {
		uint32_t type, id, prog_id, pad0;
		uint64_t tp_name;
		uint32_t tp_name_len, pad1;
		uint64_t cookie;
	} li;
	struct bpf_prog_info pi;
	uint32_t len, next = 0;
	struct rawtp_skel *skel;
	int go = -1, status = 0;
	pid_t child;
	char name[32] = "";
	int cl, err, listed = 0;
	uint32_t ids[3];
	typeof(*skel->bss) before;
	struct timespec t0, t1;

	if (argc == 7 && !strcmp(argv[1], "work"))
		return work(argv);
	if (argc > 1)
		threads = atol(argv[1]);
	if (argc > 2)
		getpids = atol(argv[2]);
	if (argc > 3)
		writes = atol(argv[3]);
	if (threads < 1 || threads > 16)
		return 2;
	libbpf_set_print(quiet);
	skel = rawtp_skel__open();
	if (!skel)
		return 1;
	bpf_program__set_autoattach(skel->progs.on_cookie, false);
	if (rawtp_skel__load(skel)) {
		fprintf(stderr, "load failed\n");
		return 1;
	}
	null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null_fd < 0)
		return 1;
	/* The target exists (and waits) before the links do. */
	child = target_start(&go);
	if (child < 0)
		return 1;
	skel->bss->filter_tgid = (unsigned int)getpid();
	skel->data->null_fd = (unsigned long long)null_fd;
	/* bench/rawtp_bench.sh: no comm check (one prctl() per run under bpftime). */
	if (getenv("RAWTP_BENCH"))
		skel->data->check_comm = 0;
	if (rawtp_skel__attach(skel)) {
		fprintf(stderr, "attach failed\n");
		return 1;
	}
	cl = raw_tp_open_cookie(bpf_program__fd(skel->progs.on_cookie), "sys_enter", COOKIE);
	if (cl < 0) {
		fprintf(stderr, "RAW_TRACEPOINT_OPEN with a cookie: %s\n", strerror(-cl));
		return 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	run_threads();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_counters("attached", skel);
	/* For bench/rawtp_bench.sh (stderr: not compared by the test). */
	{
		long long ns = (t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
		long cnt = threads * (getpids + writes);

		fprintf(stderr, "bench: %ld syscalls in %lld ns, %.1f ns each\n", cnt, ns, cnt ? (double)ns / cnt : 0.0);
	}

	/* The same syscalls in another traced process. */
	memset(skel->bss, 0, sizeof(*skel->bss));
	skel->bss->filter_tgid = (unsigned int)child;
	if (write(go, "g", 1) != 1 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		fprintf(stderr, "the target failed (status %#x)\n", status);
		return 1;
	}
	close(go);
	{
		/* print_counters() compares the getpid sum with our pid: the target's here. */
		const typeof(*skel->bss) *b = skel->bss;

		printf("target: enter_getpid=%llu exit_getpid=%llu getpid_ret_sum_is_n_pids=%d\n",
		       (unsigned long long)b->enter_getpid, (unsigned long long)b->exit_getpid,
		       b->getpid_ret_sum == b->exit_getpid * (unsigned long long)child);
		printf("target: enter_write=%llu len_sum=%llu exit_write=%llu ret_sum=%llu\n",
		       (unsigned long long)b->enter_write, (unsigned long long)b->enter_write_len,
		       (unsigned long long)b->exit_write, (unsigned long long)b->exit_write_ret);
		printf("target: ctx/regs mismatches enter=%llu exit=%llu cookie_hits=%llu\n",
		       (unsigned long long)b->enter_bad, (unsigned long long)b->exit_bad,
		       (unsigned long long)b->cookie_hits);
		fprintf(stderr, "target: getpid by other threads: %llu\n", (unsigned long long)b->other_getpid);
	}
	skel->bss->filter_tgid = (unsigned int)getpid();

	/* The cookie link as OBJ_GET_INFO_BY_FD reports it. */
	memset(&li, 0, sizeof(li));
	li.tp_name = (uintptr_t)name;
	li.tp_name_len = sizeof(name);
	len = sizeof(li);
	err = bpf_obj_get_info_by_fd(cl, &li, &len);
	memset(&pi, 0, sizeof(pi));
	len = sizeof(pi);
	bpf_obj_get_info_by_fd(bpf_program__fd(skel->progs.on_cookie), &pi, &len);
	printf("link info: err=%d type=%u tp_name=%s tp_name_len=%u cookie=%#llx prog_id_matches=%d\n", err, li.type,
	       name, li.tp_name_len, (unsigned long long)li.cookie, li.prog_id == pi.id);
	while (!bpf_link_get_next_id(next, &next))
		if (next == li.id)
			listed = 1;
	printf("LINK_GET_NEXT_ID lists it: %d\n", listed);
	err = bpf_link_detach(cl);
	printf("LINK_DETACH: %s\n", err ? strerror(errno) : "ok");

	/*
	 * Closing the links detaches them: nothing counts any more. Wait until
	 * LINK_GET_FD_BY_ID no longer finds them: at once on the kernel; under
	 * bpftime once bpftime-run has seen the closes, which it does before it
	 * answers a later bpf() call (emul/raw_tp.c, DIVERGES).
	 */
	memcpy(&before, skel->bss, sizeof(before));
	ids[0] = li.id;
	ids[1] = link_id_of(bpf_link__fd(skel->links.on_enter));
	ids[2] = link_id_of(bpf_link__fd(skel->links.on_exit));
	close(cl);
	bpf_link__destroy(skel->links.on_enter);
	skel->links.on_enter = NULL;
	bpf_link__destroy(skel->links.on_exit);
	skel->links.on_exit = NULL;
	for (int i = 0; i < 3; i++) {
		int tries = 0, fd;

		while ((fd = bpf_link_get_fd_by_id(ids[i])) >= 0 && tries++ < 5000) {
			close(fd);
			usleep(1000);
		}
		if (fd >= 0)
			printf("link %d still there after its last close\n", i);
	}
	worker(NULL);
	printf("after the last close: counters unchanged=%d\n", !memcmp(&before, skel->bss, sizeof(before)));
	rawtp_skel__destroy(skel);
	return 0;
}
