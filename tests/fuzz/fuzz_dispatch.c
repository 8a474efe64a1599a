/*
 * fuzz_dispatch.c - hostile input for the syscall dispatcher (emul/dispatch.c
 * and every command behind it): random command, attr bytes, attr size and
 * pointers, bpf() as well as perf_event_open, the perf ioctls and epoll_ctl.
 *
 * Pointers are the interesting part. The fuzz target is a struct emu_target
 * whose "address space" is a 64 KiB arena filled from the input: an address
 * below the arena size is an offset into it, anything else faults. So
 * random small numbers in attr fields reach real data (instructions, keys,
 * paths) and the code behind the first EFAULT gets exercised too; and no
 * write can land in the fuzzer's own memory.
 *
 * Input: u32 selector (syscall and command), u32 attr size, then the arena.
 * The attr is at arena offset 0.
 *
 * Built with --enable-fuzzers (CC=clang) this is a libFuzzer target. Without
 * it, main() replays the files given as arguments, or with none runs a fixed
 * pseudo-random sequence: that mode is part of make check.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "emul/emul.h"
#include "tests/fuzz/replay.h"

#define ARENA_SZ 65536
#define FUZZ_FILE_MAX (64ULL << 20) /* bytes per map file (memfd) */

static uint8_t arena[ARENA_SZ];
static struct emu_session *S;

static int f_read(const struct emu_target *t, uint64_t addr, void *buf, size_t len)
{
	if (!addr || addr >= ARENA_SZ || len > ARENA_SZ - addr)
		return -EFAULT;
	memcpy(buf, arena + addr, len);
	return 0;
}

static int f_write(const struct emu_target *t, uint64_t addr, const void *buf, size_t len)
{
	if (!addr || addr >= ARENA_SZ || len > ARENA_SZ - addr)
		return -EFAULT;
	memcpy(arena + addr, buf, len);
	return 0;
}

static int f_fd_stat(const struct emu_target *t, int tfd, struct stat *st)
{
	/* Only fds 3..255 may name objects: never let a test touch the fuzzer's stdio. */
	if (tfd < 3 || tfd > 255 || fstat(tfd, st) < 0)
		return -EBADF;
	return 0;
}

static int f_fd_get(const struct emu_target *t, int tfd)
{
	int fd = tfd < 3 || tfd > 255 ? -1 : fcntl(tfd, F_DUPFD_CLOEXEC, 0);

	return fd < 0 ? -EBADF : fd;
}

static int f_valid(const struct emu_target *t)
{
	return 0;
}

static const struct emu_target_ops fuzz_ops = {
	.read = f_read, .write = f_write, .fd_stat = f_fd_stat, .fd_get = f_fd_get, .valid = f_valid,
};

static void fuzz_fini(void)
{
	emu_session_close(S); /* the last one out removes the session directory */
	S = NULL;
}

static void fuzz_init(void)
{
	static unsigned int generation;
	char name[64];

	if (S)
		return;
	bt_log_set_level(BT_LOG_ERROR); /* refusals are the point; do not log each one */
	snprintf(name, sizeof(name), "fuzz-dispatch-%d-%u", (int)getpid(), generation);
	if (emu_session_open(name, &S)) {
		fprintf(stderr, "fuzz_dispatch: cannot open a session\n");
		abort();
	}
	if (!generation++) {
		/*
		 * Every map is a memfd that maps/shm.c commits with fallocate();
		 * a random attr asks for many GiB, and shmem fallocate brings in
		 * the OOM killer rather than failing (a 5-minute run was killed
		 * at 24 GB of shmem). Files beyond FUZZ_FILE_MAX fail with EFBIG
		 * instead (RLIMIT_FSIZE; SIGXFSZ ignored so ftruncate returns it).
		 */
		struct rlimit rl = { FUZZ_FILE_MAX, FUZZ_FILE_MAX };

		signal(SIGXFSZ, SIG_IGN);
		setrlimit(RLIMIT_FSIZE, &rl);
		atexit(fuzz_fini); /* libFuzzer ends with exit() */
	}
}

/*
 * Objects can outlive their inputs here: pins are kept as the kernel keeps
 * them, and the "target" is this very process, which also holds the
 * session's own fds. Millions of inputs pile up their maps (a 20-minute run
 * was OOM-killed with 21 GB of map memory), so a fresh session every
 * FUZZ_SESSION_INPUTS inputs frees them all at once.
 */
#define FUZZ_SESSION_INPUTS 256

static void fuzz_recycle(void)
{
	static unsigned int inputs;

	if (++inputs % FUZZ_SESSION_INPUTS)
		return;
	fuzz_fini();
	fuzz_init();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_target t = { .ops = &fuzz_ops, .pid = getpid(), .tid = getpid() };
	struct emu_reply r;
	uint32_t sel, asz;
	uint64_t args[6] = { 0 };
	int nr;

	fuzz_init();
	if (size < 8)
		return 0;
	memcpy(&sel, data, 4);
	memcpy(&asz, data + 4, 4);
	memset(arena, 0, sizeof(arena));
	memcpy(arena + 8, data + 8, size - 8 > ARENA_SZ - 8 ? ARENA_SZ - 8 : size - 8);
	switch (sel % 8) {
	case 0:
		nr = SYS_perf_event_open;
		args[0] = 8;
		args[1] = (uint64_t)(int64_t)(int32_t)(sel >> 8) % 3 - 1;
		args[2] = (sel >> 12) & 1;
		args[3] = (uint64_t)-1;
		args[4] = (sel >> 16) & 8;
		break;
	case 1:
		nr = SYS_ioctl;
		args[0] = 3 + (sel >> 8) % 16;
		args[1] = 0x2400 + ((sel >> 12) % 2);
		args[2] = 8;
		break;
	default:
		nr = SYS_bpf;
		args[0] = (sel >> 8) % 40;
		args[1] = 8; /* attr at arena offset 8 */
		args[2] = asz % 5000;
		break;
	}
	if (emu_syscall(S, &t, nr, args, &r) == 0) {
		if (r.pending) {
			/* A test run: wait for its child and finish it against the arena. */
			struct pollfd pfd = { .fd = r.pending_fd, .events = POLLIN };

			while (poll(&pfd, 1, -1) < 0 && errno == EINTR)
				;
			emu_pending_finish(&t, r.pending, &r);
		}
		if (r.install_fd >= 0)
			close(r.install_fd);
	}
	emu_session_events(S);
	fuzz_recycle();
	return 0;
}

#ifndef BPFTIME_LIBFUZZER
int main(int argc, char **argv)
{
	static uint8_t buf[8 + 512];

	if (argc > 1) {
		for (int i = 1; i < argc; i++) {
			FILE *f = fopen(argv[i], "rb");
			static uint8_t in[ARENA_SZ + 8];
			size_t n;

			if (!f) {
				perror(argv[i]);
				return 1;
			}
			n = fread(in, 1, sizeof(in), f);
			fclose(f);
			LLVMFuzzerTestOneInput(in, n);
		}
	} else {
		/* A fixed pseudo-random sweep: plausible attrs with small numbers (arena pointers,
		 * fds, sizes) mixed with noise. */
		for (int i = 0; i < 20000; i++) {
			uint32_t sel = (uint32_t)fuzz_rng(), asz = (uint32_t)(fuzz_rng() % 200);

			if (i % 64 == 0)
				sel = 5 << 8; /* PROG_LOAD, often */
			memcpy(buf, &sel, 4);
			memcpy(buf + 4, &asz, 4);
			for (size_t k = 8; k < sizeof(buf); k += 4) {
				uint32_t v = (uint32_t)fuzz_rng();

				v = (v & 3) == 0 ? v : (v & 3) == 1 ? v % 64 : (v & 3) == 2 ? v % 600 : 0;
				memcpy(buf + k, &v, 4);
			}
			LLVMFuzzerTestOneInput(buf, sizeof(buf));
		}
		printf("fuzz_dispatch: 20000 inputs, no crash\n");
	}
	return 0;
}
#endif
