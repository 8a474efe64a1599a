/*
 * agent_target.c - the traced program of the agent e2e tests.
 *
 *   agent_target CALLS OPENATS GETPIDS [THREADS [SERVE_FILE]]
 *
 * Each of THREADS threads (default 1) calls bt_target(i), bt_tiny() and
 * bt_tiny2(i) CALLS times and
 * bt_greet("bpftime") once; the main thread then makes OPENATS openat() calls
 * on /etc/hostname and GETPIDS raw getpid syscalls. With SERVE_FILE the
 * program instead calls bt_target() every 5 ms until SERVE_FILE exists (a
 * server the tests attach to while it runs), printing "serving" first.
 *
 * Built with frame pointers and without inlining of the probed functions,
 * so each starts with a push %rbp; mov %rsp,%rbp long enough for a jump.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long calls;
static char hostname[] = "/etc/hostname";
static char who[] = "bpftime"; /* in .data, touched before the call: the kernel's
				* uprobe cannot fault in a page, and we want both sides to read it */
static volatile long sink;

__attribute__((noinline)) int bt_target(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 2 + 1;
}

__attribute__((noinline)) int bt_greet(const char *name)
{
	__asm__ volatile("" ::: "memory");
	return name[0];
}

/*
 * Two functions shorter than a 5-byte jmp, the second right after the first
 * (no padding): bt_tiny() = 0 is `xor %eax,%eax; ret` (3 bytes), bt_tiny2(x)
 * = x + 1 is 4 bytes. Written in assembly so that -O0 keeps them tiny.
 */
int bt_tiny(void);
int bt_tiny2(int x);
__asm__(".text\n"
	".globl bt_tiny\n.type bt_tiny, @function\n.p2align 4\n"
	"bt_tiny:\n\txor %eax, %eax\n\tret\n.size bt_tiny, .-bt_tiny\n"
	".globl bt_tiny2\n.type bt_tiny2, @function\n"
	"bt_tiny2:\n\tlea 1(%rdi), %eax\n\tret\n.size bt_tiny2, .-bt_tiny2\n");

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < calls; i++) {
		sink += bt_target((int)i);
		sink += bt_tiny() + bt_tiny2((int)i);
	}
	sink += who[0];
	sink += bt_greet(who);
	return NULL;
}

int main(int argc, char **argv)
{
	long opens = argc > 2 ? atol(argv[2]) : 0, pids = argc > 3 ? atol(argv[3]) : 0;
	long threads = argc > 4 ? atol(argv[4]) : 1;
	pthread_t th[64];

	calls = argc > 1 ? atol(argv[1]) : 5;
	if (argc > 5) {
		struct timespec ts = { 0, 5 * 1000 * 1000 };

		printf("serving\n");
		fflush(stdout);
		for (int i = 0; access(argv[5], F_OK) != 0; i++) {
			sink += bt_target(i);
			nanosleep(&ts, NULL);
		}
		return 0;
	}
	if (threads < 1 || threads > 64)
		return 2;
	for (long t = 0; t < threads; t++)
		if (pthread_create(&th[t], NULL, worker, NULL))
			return 3;
	for (long t = 0; t < threads; t++)
		pthread_join(th[t], NULL);
	sink += hostname[0];
	for (long i = 0; i < opens; i++) {
		int fd = openat(AT_FDCWD, hostname, O_RDONLY);

		if (fd >= 0)
			close(fd);
	}
	for (long i = 0; i < pids; i++)
		sink += syscall(SYS_getpid);
	return 0;
}
