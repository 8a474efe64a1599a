/*
 * test_run.c - BPF_PROG_TEST_RUN (net/bpf/test_run.c). Needs the interpreter
 * from jit/; until it is merged, the command answers EOPNOTSUPP with one log
 * line naming what is missing, after the kernel's argument checks.
 */
#include "emul/emul_int.h"

#include <errno.h>

#include "common/log.h"

int emu_prog_test_run(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, uint64_t uattr,
		      struct emu_reply *r)
{
	struct emu_obj *p;
	int err;

	err = emu_fd_lookup(s, t, (int)a->test.prog_fd, EMU_REG_PROG, &p);
	if (err)
		return err;
	log_warn("PROG_TEST_RUN: no interpreter in this build (jit/ module missing)\n");
	return -EOPNOTSUPP;
}
