/*
 * agent_usdt_target.c - the traced program of tests/e2e/agent-bpftrace-usdt.sh:
 * a USDT probe guarded by a semaphore (an is-enabled check), as
 * <sys/sdt.h> builds it with _SDT_HAS_SEMAPHORES: the probe's ELF note
 * (.note.stapsdt) records the address of a 16-bit counter in section
 * .probes, and a tracer that attaches increments it (the kernel does that
 * for a uprobe created with ref_ctr_offset, kernel/events/uprobes.c
 * update_ref_ctr()). The program only reaches the probe while it is
 * non-zero.
 *
 *   agent_usdt_target N GO_FILE DONE_FILE
 *
 * Prints "ready <pid>", waits until GO_FILE exists (the test creates it once
 * the tracer has attached), then until the semaphore is non-zero. Then N
 * rounds: if the semaphore is set, count the round and fire tgt:round(i);
 * odd rounds also fire tgt:odd(i) (no is-enabled check); every round calls
 * safe_probe(i), whose probe tgt:safe(i) nothing branches near (its nop is
 * followed by a 7-byte add: bpftime patches it with a jmp, not an int3); then
 * fires tgt:done (unconditionally), which makes the tracer exit. Prints
 * "safe site <byte>" twice: the first byte of safe_probe() before the go file
 * and after the rounds (90, the nop, then what the tracer put there). Prints
 * "enabled <rounds that saw the semaphore set> of <N>". Then waits until
 * DONE_FILE exists (the tracer has exited) and the semaphore is back to 0,
 * and prints "semaphore after detach <value>". Gives up after 60 s at each
 * wait (exit 2, or the value it saw).
 */
#define _SDT_HAS_SEMAPHORES 1
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>
#include <time.h>
#include <unistd.h>

/*
 * The names <sys/sdt.h> expects for provider tgt, probes round, odd and
 * done (_SDT_SEMAPHORE()); with _SDT_HAS_SEMAPHORES every probe has one.
 * odd's and done's are not checked: those probes fire whenever reached.
 */
__extension__ unsigned short tgt_round_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short tgt_done_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short tgt_odd_semaphore __attribute__((unused)) __attribute__((section(".probes")));
__extension__ unsigned short tgt_safe_semaphore __attribute__((unused)) __attribute__((section(".probes")));

static volatile long safe_sum;

/* At -O2: nop (the probe); add %rdi,safe_sum(%rip); ret. No branch into it. */
static __attribute__((noinline)) void safe_probe(long i)
{
	STAP_PROBE1(tgt, safe, i);
	safe_sum += i;
}

static unsigned int safe_site_byte(void)
{
	return *(volatile const unsigned char *)(const void *)safe_probe;
}

static unsigned short sem(void)
{
	return *(volatile unsigned short *)&tgt_round_semaphore;
}

static void nap(void)
{
	struct timespec ts = { 0, 5 * 1000 * 1000 };

	nanosleep(&ts, NULL);
}

int main(int argc, char **argv)
{
	long n, enabled = 0;
	int tries;

	if (argc < 4) {
		fprintf(stderr, "usage: %s N GO_FILE DONE_FILE\n", argv[0]);
		return 1;
	}
	n = atol(argv[1]);
	printf("ready %d\n", (int)getpid());
	printf("safe site %02x\n", safe_site_byte());
	fflush(stdout);
	for (tries = 0; access(argv[2], F_OK) || !sem(); tries++) {
		if (tries > 12000) {
			fprintf(stderr, "no %s or the semaphore stayed 0 (%u) for 60 s\n", argv[2], sem());
			return 2;
		}
		nap();
	}
	for (long i = 0; i < n; i++) {
		if (sem()) {
			enabled++;
			STAP_PROBE1(tgt, round, i);
		}
		/* At -O2 the even rounds branch over this probe's nop, to the
		 * instruction right after it, while the probe is attached. */
		if (i & 1)
			STAP_PROBE1(tgt, odd, i);
		safe_probe(i);
	}
	printf("safe site %02x\n", safe_site_byte());
	STAP_PROBE(tgt, done);
	printf("enabled %ld of %ld\n", enabled, n);
	fflush(stdout);
	for (tries = 0; access(argv[3], F_OK) || sem(); tries++) {
		if (tries > 12000)
			break;
		nap();
	}
	printf("semaphore after detach %u\n", sem());
	return 0;
}
