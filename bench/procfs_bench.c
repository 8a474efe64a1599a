/*
 * procfs_bench.c - what the agent's procfs interposers (hooks/agent_procfs.c)
 * cost: calls that are not about bpf fds (they must go straight to libc)
 * and the fdinfo of a bpf map fd (answered by the agent under bpftime-run,
 * by the kernel otherwise). Prints "<case> <ns per call>" lines;
 * bench/procfs_bench.sh runs it on the kernel and under bpftime-run.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/bpf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int file_fd, map_fd;

static void case_open(void)
{
	int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);

	if (fd >= 0)
		close(fd);
}

static void case_fopen(void)
{
	FILE *f = fopen("/etc/hostname", "re");

	if (f)
		fclose(f);
}

static void case_readlink_exe(void)
{
	char buf[256];

	if (readlink("/proc/self/exe", buf, sizeof(buf)) < 0)
		abort();
}

static void readlink_fd(int fd)
{
	char path[64], buf[256];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (readlink(path, buf, sizeof(buf)) < 0)
		abort();
}

static void read_fdinfo(int fd)
{
	char path[64], buf[1024];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		abort();
	while (fgets(buf, sizeof(buf), f))
		;
	fclose(f);
}

static void case_readlink_file_fd(void) { readlink_fd(file_fd); }
static void case_fdinfo_file_fd(void) { read_fdinfo(file_fd); }
static void case_readlink_map_fd(void) { readlink_fd(map_fd); }
static void case_fdinfo_map_fd(void) { read_fdinfo(map_fd); }

static void run(const char *name, void (*fn)(void), int n)
{
	double t0 = now_ns();

	for (int i = 0; i < n; i++)
		fn();
	printf("%s %.0f\n", name, (now_ns() - t0) / n);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	union bpf_attr a;

	file_fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
	memset(&a, 0, sizeof(a));
	a.map_type = BPF_MAP_TYPE_HASH;
	a.key_size = 4;
	a.value_size = 8;
	a.max_entries = 64;
	map_fd = (int)syscall(SYS_bpf, BPF_MAP_CREATE, &a, sizeof(a));
	if (file_fd < 0 || map_fd < 0) {
		perror("setup");
		return 1;
	}
	run("open_close", case_open, n);
	run("fopen_fclose", case_fopen, n);
	run("readlink_exe", case_readlink_exe, n);
	run("readlink_file_fd", case_readlink_file_fd, n);
	run("fdinfo_file_fd", case_fdinfo_file_fd, n);
	run("readlink_map_fd", case_readlink_map_fd, n);
	run("fdinfo_map_fd", case_fdinfo_map_fd, n / 4);
	return 0;
}
