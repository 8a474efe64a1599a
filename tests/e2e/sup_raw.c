/*
 * sup_raw.c - a workload issuing raw bpf() system calls (no libbpf, no libc
 * wrapper), built static: under bpftime-run its calls are answered by the
 * supervisor because the seccomp filter sees raw syscalls. It also behaves
 * like a hostile workload: bad pointers, an attr rewritten by another thread
 * while the call is served, and a child killed in the middle of its calls;
 * the supervisor must keep serving and answer each call with the kernel's
 * errno. Prints TAP lines; the harness is tests/e2e/sup-raw.sh.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/bpf.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int n, fails;

static void check(int cond, const char *what)
{
	n++;
	if (!cond)
		fails++;
	printf("%s %d - %s\n", cond ? "ok" : "not ok", n, what);
	fflush(stdout);
}

static long sys_bpf(int cmd, void *attr, unsigned size)
{
	long r = syscall(SYS_bpf, cmd, attr, size);

	return r < 0 ? -errno : r;
}

static struct bpf_insn prog[2] = { { .code = BPF_ALU64 | BPF_MOV | BPF_K, .imm = 7 }, { .code = BPF_JMP | BPF_EXIT } };

static long load(void)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (unsigned long)prog;
	a.insn_cnt = 2;
	a.license = (unsigned long)"GPL";
	return sys_bpf(BPF_PROG_LOAD, &a, sizeof(a));
}

static volatile int stop;
static union bpf_attr shared_attr;

static void *scribbler(void *arg)
{
	unsigned char *p = (unsigned char *)&shared_attr;
	unsigned x = 1;

	while (!stop) {
		x = x * 1103515245 + 12345;
		p[(x >> 8) % 48] ^= (unsigned char)(x >> 16);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	long fd, r;
	int pipefd[2], nread = -1;

	if (argc > 1 && !strcmp(argv[1], "--kernel-eperm")) {
		/* Without bpftime-run, an unprivileged user gets EPERM from the kernel. */
		r = load();
		printf("%ld\n", r);
		return r == -EPERM ? 0 : 1;
	}

	fd = load();
	check(fd >= 0, "raw bpf(PROG_LOAD) from a static binary returns an fd");
	{
		struct bpf_prog_info info;
		union bpf_attr a;

		memset(&info, 0, sizeof(info));
		memset(&a, 0, sizeof(a));
		a.info.bpf_fd = (unsigned)fd;
		a.info.info_len = sizeof(info);
		a.info.info = (unsigned long)&info;
		r = sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a, sizeof(a));
		check(r == 0 && info.type == BPF_PROG_TYPE_SOCKET_FILTER && info.xlated_prog_len == 16,
		      "OBJ_GET_INFO_BY_FD describes it");
	}
	check(sys_bpf(BPF_PROG_LOAD, (void *)16, 128) == -EFAULT, "attr at a bad address: EFAULT");
	{
		void *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		union bpf_attr *a;

		munmap((char *)page + 4096, 4096);
		/* An attr that runs into an unmapped page. */
		a = (union bpf_attr *)((char *)page + 4096 - 64);
		memset(a, 0, 64);
		check(sys_bpf(BPF_PROG_LOAD, a, 128) == -EFAULT, "attr crossing into an unmapped page: EFAULT");
		check(sys_bpf(BPF_PROG_LOAD, a, 64) == -E2BIG, "the same attr within the page: E2BIG (no instructions)");
		munmap(page, 4096);
	}
	{
		union bpf_attr a;

		memset(&a, 0, sizeof(a));
		a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		a.insns = 24; /* bad instruction pointer */
		a.insn_cnt = 2;
		a.license = (unsigned long)"GPL";
		check(sys_bpf(BPF_PROG_LOAD, &a, sizeof(a)) == -EFAULT, "bad instruction pointer: EFAULT");
		a.insns = (unsigned long)prog;
		a.license = 32;
		check(sys_bpf(BPF_PROG_LOAD, &a, sizeof(a)) == -EFAULT, "bad license pointer: EFAULT");
	}
	check(sys_bpf(BPF_PROG_LOAD, prog, 5000) == -E2BIG, "size above a page: E2BIG");

	/* Rewrite the attr from another thread while calls are served: every answer is a
	 * plain errno or an fd, and the supervisor survives. */
	{
		pthread_t th;
		int bad = 0, i;

		memset(&shared_attr, 0, sizeof(shared_attr));
		shared_attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
		shared_attr.insns = (unsigned long)prog;
		shared_attr.insn_cnt = 2;
		shared_attr.license = (unsigned long)"GPL";
		pthread_create(&th, NULL, scribbler, NULL);
		for (i = 0; i < 300; i++) {
			r = sys_bpf(BPF_PROG_LOAD, &shared_attr, sizeof(shared_attr));
			if (r >= 0)
				close((int)r);
			else if (r != -EINVAL && r != -EFAULT && r != -E2BIG && r != -EPERM && r != -EBADF &&
				 r != -EACCES && r != -ENOTSUP && r != -524 && r != -ENOSPC)
				bad++;
		}
		stop = 1;
		pthread_join(th, NULL);
		check(bad == 0, "300 loads of an attr rewritten mid-call: only errnos the kernel uses");
	}

	/* Children killed in the middle of their calls do not stop the supervisor. */
	{
		int i, alive_after = 1;

		for (i = 0; i < 5; i++) {
			pid_t pid = fork();

			if (pid == 0) {
				for (;;) {
					r = load();
					if (r >= 0)
						close((int)r);
				}
			}
			usleep(20000);
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			r = load();
			if (r < 0)
				alive_after = 0;
			else
				close((int)r);
		}
		check(alive_after, "after 5 children were SIGKILLed mid-call, bpf() is still answered");
	}

	/* An unrelated ioctl is not trapped and still works. */
	if (pipe(pipefd) == 0 && write(pipefd[1], "abc", 3) == 3)
		check(ioctl(pipefd[0], FIONREAD, &nread) == 0 && nread == 3, "an unrelated ioctl (FIONREAD) works");
	else
		check(0, "pipe for the ioctl check");
	close((int)fd);
	printf("1..%d\n", n);
	return fails ? 1 : 0;
}
