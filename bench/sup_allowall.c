/*
 * sup_allowall.c - run a command under the smallest possible seccomp filter
 * (one instruction: SECCOMP_RET_ALLOW, with SECCOMP_FILTER_FLAG_SPEC_ALLOW as
 * bpftime-run uses). bench/sup_bench.sh uses it as the floor: what any
 * seccomp filter costs a syscall, to which bpftime-run's filter is compared.
 */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sock_filter insn[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { .len = 1, .filter = insn };

	if (argc < 2) {
		fprintf(stderr, "usage: sup_allowall CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog) < 0) {
		perror("sup_allowall: seccomp");
		return 1;
	}
	execv(argv[1], argv + 1);
	perror("sup_allowall: execv");
	return 127;
}
