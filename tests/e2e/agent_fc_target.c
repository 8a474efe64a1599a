/*
 * agent_fc_target.c - the traced program of tests/e2e/agent-bcc-funccount.sh.
 *
 *   agent_fc_target N GO_FILE [WAIT_FUNCS]
 *
 * Prints "ready <pid>", waits until GO_FILE exists (the test creates it once
 * funccount says it is tracing), then until the first byte of each function
 * named in WAIT_FUNCS ("abc": fc_probe_a, _b, _c) differs from what it was
 * at startup: a kernel uprobe writes an int3 there, bpftime a jmp, so a
 * changed byte means the probe is in place in this process. Then it calls
 * fc_probe_a N times, fc_probe_b 2N times, fc_probe_c 3N times and
 * fc_other N times, prints the sum and exits. Gives up (exit 2) after 60 s.
 *
 * Why both conditions: the kernel inserts the breakpoint at perf_event_open,
 * before the program is attached (SET_BPF), so the changed byte alone is
 * not enough there; bpftime's attach reply waits at most 200 ms for the
 * agents, so the marker alone is not enough under load.
 *
 * Built -O0 with frame pointers: each function starts with push %rbp; mov,
 * long enough for bpftime's 5-byte jump.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile long sink;

__attribute__((noinline)) int fc_probe_a(int x)
{
	return x + 1;
}

__attribute__((noinline)) int fc_probe_b(int x)
{
	return x + 2;
}

__attribute__((noinline)) int fc_probe_c(int x)
{
	return x + 3;
}

__attribute__((noinline)) int fc_other(int x)
{
	return x + 4;
}

static int (*const funcs[3])(int) = { fc_probe_a, fc_probe_b, fc_probe_c };

static unsigned char first_byte(int (*f)(int))
{
	return *(volatile const unsigned char *)(const void *)f;
}

static void nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	unsigned char orig[3];
	const char *wait = argc > 3 ? argv[3] : "";
	int n, tries;

	if (argc < 3) {
		fprintf(stderr, "usage: %s N GO_FILE [WAIT_FUNCS]\n", argv[0]);
		return 1;
	}
	n = atoi(argv[1]);
	for (int i = 0; i < 3; i++)
		orig[i] = first_byte(funcs[i]);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	for (tries = 0; access(argv[2], F_OK); tries++) {
		if (tries > 12000) {
			fprintf(stderr, "no %s after 60 s\n", argv[2]);
			return 2;
		}
		nap();
	}
	for (int i = 0; i < 3; i++) {
		if (!strchr(wait, 'a' + i))
			continue;
		for (tries = 0; first_byte(funcs[i]) == orig[i]; tries++) {
			if (tries > 12000) {
				fprintf(stderr, "fc_probe_%c was not probed after 60 s\n", 'a' + i);
				return 2;
			}
			nap();
		}
	}
	for (int i = 0; i < n; i++) {
		sink += fc_probe_a(i);
		sink += fc_probe_b(i) + fc_probe_b(i);
		sink += fc_probe_c(i) + fc_probe_c(i) + fc_probe_c(i);
		sink += fc_other(i);
	}
	printf("%ld\n", sink);
	return 0;
}
