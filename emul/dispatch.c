/*
 * dispatch.c - bpf(2) entry: copy in bpf_attr by the kernel's rules and
 * switch on the command, like __sys_bpf() in kernel/bpf/syscall.c.
 *
 * Size rules (bpf_check_uarg_tail_zero() and CHECK_ATTR()):
 *   - size > PAGE_SIZE                      -> E2BIG
 *   - bytes past sizeof(union bpf_attr) that are not zero -> E2BIG
 *   - a shorter attr is zero-extended;
 *   - bytes past the command's last field that are not zero -> EINVAL;
 *   - an unknown command                    -> EINVAL.
 * The attr is read from the target ONCE, up to min(size, PAGE_SIZE), into a
 * local copy; everything after works on that copy, so a workload rewriting
 * its attr memory mid-call cannot make us see two different attrs.
 *
 * DIVERGES: our union bpf_attr is Debian 12's (Linux 6.1 UAPI). Fields newer
 * kernels added (log_true_size, prog_token_fd, ...) count as "past the
 * fields we know" and give E2BIG when non-zero.
 *
 * Nothing is ever forwarded to the kernel. Commands bpftime does not
 * implement get the errno the kernel gives when the feature is absent, plus
 * one log line naming them.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>

#include "common/compat.h"
#include "common/log.h"

#define LAST(cmd, field) [cmd] = offsetofend(union bpf_attr, field)

/* offsetofend(union bpf_attr, <CMD>_LAST_FIELD), from kernel/bpf/syscall.c at 6.1. */
static const uint32_t cmd_last_end[] = {
	LAST(BPF_MAP_CREATE, map_extra),
	LAST(BPF_MAP_LOOKUP_ELEM, flags),
	LAST(BPF_MAP_UPDATE_ELEM, flags),
	LAST(BPF_MAP_DELETE_ELEM, flags),
	LAST(BPF_MAP_GET_NEXT_KEY, next_key),
	LAST(BPF_PROG_LOAD, core_relo_rec_size),
	LAST(BPF_OBJ_PIN, file_flags),
	LAST(BPF_OBJ_GET, file_flags),
	LAST(BPF_PROG_ATTACH, replace_bpf_fd),
	LAST(BPF_PROG_DETACH, attach_type),
	LAST(BPF_PROG_TEST_RUN, test.batch_size),
	LAST(BPF_PROG_GET_NEXT_ID, next_id),
	LAST(BPF_MAP_GET_NEXT_ID, next_id),
	LAST(BPF_PROG_GET_FD_BY_ID, prog_id),
	LAST(BPF_MAP_GET_FD_BY_ID, open_flags),
	LAST(BPF_OBJ_GET_INFO_BY_FD, info.info),
	LAST(BPF_PROG_QUERY, query.prog_cnt),
	/* 6.10 moved the last field to raw_tracepoint.cookie, which 6.1's header lacks (common/compat.h). */
	[BPF_RAW_TRACEPOINT_OPEN] = COMPAT_RAW_TP_ATTR_END,
	LAST(BPF_BTF_LOAD, btf_log_level),
	LAST(BPF_BTF_GET_FD_BY_ID, btf_id),
	LAST(BPF_TASK_FD_QUERY, task_fd_query.probe_addr),
	LAST(BPF_MAP_LOOKUP_AND_DELETE_ELEM, flags),
	LAST(BPF_MAP_FREEZE, map_fd),
	LAST(BPF_BTF_GET_NEXT_ID, next_id),
	LAST(BPF_MAP_LOOKUP_BATCH, batch.flags),
	LAST(BPF_MAP_LOOKUP_AND_DELETE_BATCH, batch.flags),
	LAST(BPF_MAP_UPDATE_BATCH, batch.flags),
	LAST(BPF_MAP_DELETE_BATCH, batch.flags),
	/* 6.6+: link_create.uprobe_multi.pid, past 6.1's header (common/compat.h). */
	[BPF_LINK_CREATE] = COMPAT_LINK_CREATE_END,
	LAST(BPF_LINK_UPDATE, link_update.old_prog_fd),
	LAST(BPF_LINK_GET_FD_BY_ID, link_id),
	LAST(BPF_LINK_GET_NEXT_ID, next_id),
	LAST(BPF_ENABLE_STATS, enable_stats.type),
	LAST(BPF_ITER_CREATE, iter_create.flags),
	LAST(BPF_LINK_DETACH, link_detach.link_fd),
	LAST(BPF_PROG_BIND_MAP, prog_bind_map.flags),
};

static bool tail_zero(const uint8_t *p, size_t from, size_t to)
{
	for (size_t i = from; i < to; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * Copy in and check the attr. On success @attr is the zero-extended copy.
 * Returns 0, -E2BIG, -EFAULT or -ENOENT (target gone).
 */
static int attr_copy_in(const struct emu_target *t, uint64_t uattr, uint32_t size, union bpf_attr *attr)
{
	uint8_t buf[EMU_PAGE_SZ];
	int err;

	/* bpf_check_uarg_tail_zero(): a size above one page is refused outright. */
	if (size > EMU_PAGE_SZ)
		return -E2BIG;
	err = t->ops->read(t, uattr, buf, size);
	if (err)
		return err;
	if (size > EMU_ATTR_SZ && !tail_zero(buf, EMU_ATTR_SZ, size))
		return -E2BIG;
	memset(attr, 0, sizeof(*attr));
	memcpy(attr, buf, size < EMU_ATTR_SZ ? size : EMU_ATTR_SZ);
	return 0;
}

int emu_bpf(struct emu_session *s, const struct emu_target *t, int cmd, uint64_t uattr, uint32_t size,
	    struct emu_reply *r)
{
	union bpf_attr attr;
	int err;

	r->val = 0;
	r->install_fd = -1;
	r->cont = false;
	r->pending = NULL;
	r->pending_fd = -1;
	err = attr_copy_in(t, uattr, size, &attr);
	if (err == -ENOENT)
		return err;
	if (!err && t->ops->valid(t))
		return -ENOENT;
	if (err)
		goto out;
	if (cmd < 0 || (size_t)cmd >= sizeof(cmd_last_end) / sizeof(cmd_last_end[0]) || !cmd_last_end[cmd]) {
		log_info("bpf(cmd %d): unknown command\n", cmd);
		err = -EINVAL;
		goto out;
	}
	/* CHECK_ATTR(): every byte after the command's last field must be zero. */
	if (!tail_zero((const uint8_t *)&attr, cmd_last_end[cmd], EMU_ATTR_SZ)) {
		err = -EINVAL;
		goto out;
	}

	switch (cmd) {
	case BPF_MAP_CREATE:
	case BPF_MAP_LOOKUP_ELEM:
	case BPF_MAP_UPDATE_ELEM:
	case BPF_MAP_DELETE_ELEM:
	case BPF_MAP_GET_NEXT_KEY:
	case BPF_MAP_LOOKUP_AND_DELETE_ELEM:
	case BPF_MAP_FREEZE:
	case BPF_MAP_LOOKUP_BATCH:
	case BPF_MAP_LOOKUP_AND_DELETE_BATCH:
	case BPF_MAP_UPDATE_BATCH:
	case BPF_MAP_DELETE_BATCH:
		err = emu_map_cmd(s, t, cmd, &attr, uattr, r);
		break;
	case BPF_PROG_LOAD:
		err = emu_prog_load(s, t, &attr, r);
		break;
	case BPF_PROG_TEST_RUN:
		err = emu_prog_test_run(s, t, &attr, uattr, r);
		break;
	case BPF_PROG_BIND_MAP:
		err = emu_prog_bind_map(s, t, &attr, r);
		break;
	case BPF_OBJ_PIN:
	case BPF_OBJ_GET:
	case BPF_PROG_GET_NEXT_ID:
	case BPF_MAP_GET_NEXT_ID:
	case BPF_BTF_GET_NEXT_ID:
	case BPF_LINK_GET_NEXT_ID:
	case BPF_PROG_GET_FD_BY_ID:
	case BPF_MAP_GET_FD_BY_ID:
	case BPF_BTF_GET_FD_BY_ID:
	case BPF_LINK_GET_FD_BY_ID:
	case BPF_ENABLE_STATS:
		err = emu_obj_cmd(s, t, cmd, &attr, uattr, r);
		break;
	case BPF_OBJ_GET_INFO_BY_FD:
		err = emu_info_by_fd(s, t, &attr, uattr, r);
		break;
	case BPF_BTF_LOAD:
		err = emu_btf_load(s, t, &attr, r);
		break;
	case BPF_LINK_CREATE:
	case BPF_LINK_UPDATE:
	case BPF_LINK_DETACH:
	case BPF_RAW_TRACEPOINT_OPEN:
	case BPF_PROG_ATTACH:
	case BPF_PROG_DETACH:
	case BPF_PROG_QUERY:
		err = emu_link_cmd(s, t, cmd, &attr, r);
		break;
	case BPF_TASK_FD_QUERY:
	case BPF_ITER_CREATE:
	default:
		log_info("bpf(cmd %d) is not supported by bpftime yet\n", cmd);
		err = -EOPNOTSUPP;
		break;
	}
out:
	if (err == -ENOENT && t->ops->valid(t))
		return -ENOENT;
	if (err)
		r->val = err;
	return 0;
}

int emu_syscall(struct emu_session *s, const struct emu_target *t, int nr, const uint64_t args[6],
		struct emu_reply *r)
{
	r->val = 0;
	r->install_fd = -1;
	r->cont = false;
	r->pending = NULL;
	r->pending_fd = -1;
	switch (nr) {
	case SYS_bpf:
		/* The kernel takes cmd as int and size as unsigned int. */
		return emu_bpf(s, t, (int)args[0], args[1], (uint32_t)args[2], r);
	case SYS_perf_event_open:
		return emu_perf_event_open(s, t, args, r);
	case SYS_ioctl:
		return emu_perf_ioctl(s, t, args, r);
	case SYS_epoll_ctl:
		return emu_epoll_ctl(s, t, args, r);
	case SYS_statfs:
		return emu_statfs(s, t, args, r);
	default:
		r->cont = true;
		return 0;
	}
}
