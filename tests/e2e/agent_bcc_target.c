/*
 * agent_bcc_target.c - the traced program of tests/e2e/agent-bcc.sh: calls
 * bcc_probe_me(i) for i = 0..n-1, 20 ms apart, and prints the sum.
 * Built -O0 so the probed function is long enough to patch.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

__attribute__((noinline)) int bcc_probe_me(int x)
{
	return x + 1;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5, s = 0;

	for (int i = 0; i < n; i++) {
		s += bcc_probe_me(i);
		usleep(20000);
	}
	printf("%d\n", s);
	return 0;
}
