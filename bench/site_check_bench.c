/*
 * site_check_bench.c - what the jmp-or-int3 decision (hooks/site_check.c)
 * adds to attach time, on a real binary's probe sites.
 *
 *   site_check_bench FILE OFF...
 *
 * Maps FILE read+exec (private, so patching it touches nothing on disk, and
 * nothing here ever runs its code), then attaches an empty uprobe at each file
 * offset OFF with hook_uprobe_attach_file(), as the agent does for a bpftrace
 * usdt: or uprobe: probe, and detaches it. Pass 1 is cold: the first attach
 * reads FILE's symbol table, each one sweeps a new function. Pass 2 attaches
 * the same sites again: only the cached answers. Prints each site's attach
 * time in both passes (µs, including the maps read, the trampoline and the
 * patch itself) and what it got (jmp or int3). bench/site_check_bench.sh
 * feeds it the USDT probes of python3, a 6.8 MB binary with 9 of them.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks.h"

static void empty_fn(struct pt_regs *regs, void *data)
{
}

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* Attach at @off, note the first patched byte, detach; the attach time or -1. */
static double attach_once(const char *path, const uint8_t *base, uint64_t off, uint8_t *byte)
{
	struct hook_probe *p = NULL;
	double t0 = now_us(), t;
	int err = hook_uprobe_attach_file(path, off, 0, HOOK_UPROBE, empty_fn, NULL, &p);

	t = now_us() - t0;
	if (err) {
		fprintf(stderr, "site_check_bench: attach at %#llx: %s\n", (unsigned long long)off,
			strerror(-err));
		return -1;
	}
	*byte = *(volatile const uint8_t *)(base + off);
	hook_uprobe_detach(p);
	return t;
}

int main(int argc, char **argv)
{
	struct stat st;
	uint8_t *base;
	int fd;

	bt_log_init_from_env(); /* BPFTIME_LOG=debug says why each site got what it got */
	if (argc < 3) {
		fprintf(stderr, "usage: %s FILE OFF...\n", argv[0]);
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		perror(argv[1]);
		return 1;
	}
	base = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	close(fd);
	if (base == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	printf("%-12s %14s %14s  %s\n", "file offset", "cold attach us", "warm attach us", "patch");
	for (int i = 2; i < argc; i++) {
		uint64_t off = strtoull(argv[i], NULL, 0);
		uint8_t b1 = 0, b2 = 0;
		double cold, warm;

		if (off >= (uint64_t)st.st_size) {
			fprintf(stderr, "site_check_bench: %s is beyond the file\n", argv[i]);
			return 2;
		}
		cold = attach_once(argv[1], base, off, &b1);
		warm = attach_once(argv[1], base, off, &b2);
		printf("%#-12llx %14.1f %14.1f  %s\n", (unsigned long long)off, cold, warm,
		       b1 == 0xe9 ? "jmp" : b1 == 0xcc ? "int3" : "?");
	}
	return 0;
}
