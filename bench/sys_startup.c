/*
 * sys_startup.c - time from execve() to main() with and without the syscall
 * rewriting installed by a constructor, as the LD_PRELOADed agent will.
 *
 * The parent takes CLOCK_MONOTONIC, then fork+execs this binary with the
 * start time in argv; the child's main() prints the difference. With
 * SYS_STARTUP_INSTALL=1 in the environment a constructor calls
 * hook_syscalls_install() first, so the difference includes scanning and
 * patching every loaded object. Median of RUNS execs for each, as wall time
 * (noisy on a shared machine) and as the child's CPU time at main()
 * (CLOCK_PROCESS_CPUTIME_ID: fork, exec, ld.so, constructors).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hooks/syscall.h"

#define RUNS 21

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

__attribute__((constructor)) static void maybe_install(void)
{
	const char *e = getenv("SYS_STARTUP_INSTALL");

	if (e && !strcmp(e, "1"))
		hook_syscalls_install();
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t cpu_med;

static uint64_t measure(const char *self, int install)
{
	uint64_t v[RUNS], c[RUNS];
	int r;

	for (r = 0; r < RUNS; r++) {
		int p[2], status;
		char t0s[32];
		pid_t pid;

		if (pipe(p))
			exit(1);
		snprintf(t0s, sizeof(t0s), "%llu", (unsigned long long)now_ns());
		pid = fork();
		if (pid == 0) {
			char fds[16];

			snprintf(fds, sizeof(fds), "%d", p[1]);
			close(p[0]);
			setenv("SYS_STARTUP_INSTALL", install ? "1" : "0", 1);
			execl(self, self, "child", t0s, fds, (char *)NULL);
			_exit(127);
		}
		close(p[1]);
		if (read(p[0], &v[r], sizeof(v[r])) != sizeof(v[r]) ||
		    read(p[0], &c[r], sizeof(c[r])) != sizeof(c[r]))
			v[r] = c[r] = 0;
		close(p[0]);
		waitpid(pid, &status, 0);
	}
	qsort(v, RUNS, sizeof(v[0]), cmp_u64);
	qsort(c, RUNS, sizeof(c[0]), cmp_u64);
	cpu_med = c[RUNS / 2];
	return v[RUNS / 2];
}

int main(int argc, char **argv)
{
	uint64_t plain, hooked, plain_cpu, hooked_cpu;

	if (argc == 4 && !strcmp(argv[1], "child")) {
		uint64_t d[2] = { now_ns() - strtoull(argv[2], NULL, 10), 0 };
		struct timespec ts;

		clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
		d[1] = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		return write(atoi(argv[3]), d, sizeof(d)) == sizeof(d) ? 0 : 1;
	}
	plain = measure("/proc/self/exe", 0);
	plain_cpu = cpu_med;
	hooked = measure("/proc/self/exe", 1);
	hooked_cpu = cpu_med;
	printf("fork+exec to main, median of %d (us)     wall      cpu\n", RUNS);
	printf("%-32s %10.1f %8.1f\n", "without rewriting", plain / 1000.0, plain_cpu / 1000.0);
	printf("%-32s %10.1f %8.1f\n", "with rewriting", hooked / 1000.0, hooked_cpu / 1000.0);
	printf("%-32s %10.1f %8.1f\n", "added by install", (hooked - (double)plain) / 1000.0,
	       (hooked_cpu - (double)plain_cpu) / 1000.0);
	return 0;
}
