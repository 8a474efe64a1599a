/*
 * map_cmds.c - the BPF_MAP_* commands (kernel/bpf/syscall.c, map_create(),
 * map_lookup_elem(), ...). The maps themselves live in maps/; until that
 * module is merged, every map command answers EOPNOTSUPP with one log line
 * naming what is missing.
 */
#include "emul/emul_int.h"

#include <errno.h>

#include "common/log.h"

int emu_map_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *attr, uint64_t uattr,
		struct emu_reply *r)
{
	log_warn("bpf(cmd %d): maps are not available in this build (maps/ module missing)\n", cmd);
	return -EOPNOTSUPP;
}

int emu_map_ld_imm64(struct emu_session *s, struct emu_obj *m, const struct bpf_insn insn[2], uint64_t *value)
{
	return -EOPNOTSUPP;
}

void emu_map_release(struct emu_session *s, struct emu_obj *o)
{
}

int emu_map_perf_slot(void *map, uint32_t idx, uint32_t *id)
{
	return -EINVAL;
}

void emu_map_helpers_fill(jit_helper_fn *table, uint32_t cnt)
{
}
