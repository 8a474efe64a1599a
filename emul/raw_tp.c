/*
 * raw_tp.c - BPF_RAW_TRACEPOINT_OPEN and the raw tracepoint link it makes
 * (kernel/bpf/syscall.c: bpf_raw_tracepoint_open(), bpf_raw_tp_link_attach(),
 * bpf_raw_tp_link_fill_link_info(); kernel/trace/bpf_trace.c:
 * bpf_get_raw_tracepoint()).
 *
 * bpftime has the two raw tracepoints a traced process can produce on its
 * own: "sys_enter" and "sys_exit" (include/trace/events/syscalls.h). A link
 * is a registry object (kind EMU_REG_LINK, type BPF_LINK_TYPE_RAW_TRACEPOINT)
 * whose payload names the tracepoint, the program and the cookie; every
 * agent of the session runs the program at each syscall entry or exit of
 * its process (hooks/attach.c, hooks/raw_tp.c), as the kernel runs it for
 * every task. The link holds a reference on the program
 * (bpf_link_init() takes the caller's prog reference); the last close of
 * the link fd releases it (lifetime.c -> emu_link_detach()).
 *
 * Order of checks, as bpf_raw_tracepoint_open() does them: CHECK_ATTR
 * (dispatch.c, up to raw_tracepoint.cookie since 6.10), the program fd
 * (EBADF, EINVAL if not a program), the program type (EINVAL unless
 * RAW_TRACEPOINT or RAW_TRACEPOINT_WRITABLE), the name (strncpy_from_user
 * into 128 bytes: EFAULT on a fault, silently cut at 127), then the lookup
 * (ENOENT).
 *
 * DIVERGES: raw tracepoints other than sys_enter/sys_exit (sched_switch,
 * ...) exist in the kernel but not in bpftime: ENOENT plus one log line.
 * BPF_PROG_TYPE_TRACING (tp_btf) programs cannot be loaded (prog_cmds.c says
 * why), so the kernel's "attach point from attach_btf_id" branch and
 * LINK_CREATE(BPF_TRACE_RAW_TP) never reach a program here.
 * DIVERGES: the kernel detaches a link inside close(); bpftime-run learns
 * of the last close from inotify (lifetime.c) and detaches in its event
 * loop, so a few syscalls after close() may still run the program. Once a
 * lookup (LINK_GET_FD_BY_ID) answers ENOENT, every agent has detached it
 * (emu_reg_release() waits for them).
 * DIVERGES: a RAW_TRACEPOINT_WRITABLE program is attached like a read-only
 * one; the kernel refuses it (EINVAL) when the verifier saw it write past
 * the tracepoint's writable size (0 for sys_enter/sys_exit). With no
 * verifier we cannot know that.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <string.h>

#include "common/compat.h"
#include "common/log.h"
#include "common/utils.h"

#define RAW_TP_NAME_MAX 128 /* char buf[128] in bpf_raw_tp_link_attach() */

static const char *const raw_tp_names[] = {
	[EMU_REG_RAW_TP_SYS_ENTER] = "sys_enter",
	[EMU_REG_RAW_TP_SYS_EXIT] = "sys_exit",
};

/* strncpy_from_user(buf, uname, sizeof(buf) - 1) with the terminator forced. */
static int name_copy_in(const struct emu_target *t, uint64_t uname, char buf[RAW_TP_NAME_MAX])
{
	memset(buf, 0, RAW_TP_NAME_MAX);
	for (size_t i = 0; i < RAW_TP_NAME_MAX - 1; i++) {
		int err = t->ops->read(t, uname + i, &buf[i], 1);

		if (err)
			return err == -ENOENT ? err : -EFAULT;
		if (!buf[i])
			break;
	}
	return 0;
}

int emu_raw_tp_open(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	char name[RAW_TP_NAME_MAX];
	struct emu_obj *prog, *link;
	uint32_t tp = 0;
	uint64_t cookie;
	int err;

	memcpy(&cookie, (const char *)a + COMPAT_RAW_TP_ATTR_COOKIE_OFF, sizeof(cookie));
	err = emu_fd_lookup(s, t, (int)a->raw_tracepoint.prog_fd, EMU_REG_PROG, &prog);
	if (err)
		return err;
	switch (prog->slot->type) {
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
	case BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE:
		break;
	default:
		log_info("RAW_TRACEPOINT_OPEN: program type %u cannot attach to a raw tracepoint (EINVAL)\n",
			 prog->slot->type);
		return -EINVAL;
	}
	err = name_copy_in(t, a->raw_tracepoint.name, name);
	if (err)
		return err;
	for (uint32_t i = 1; i < ARRAY_SIZE(raw_tp_names); i++)
		if (!strcmp(name, raw_tp_names[i]))
			tp = i;
	if (!tp) {
		log_info("RAW_TRACEPOINT_OPEN: raw tracepoint '%s' is not one bpftime has (it has sys_enter and "
			 "sys_exit)\n",
			 name);
		return -ENOENT; /* bpf_get_raw_tracepoint() found nothing */
	}
	err = emu_obj_new(s, EMU_REG_LINK, NULL, BPF_LINK_TYPE_RAW_TRACEPOINT, NULL, 0, 0, &link);
	if (err)
		return err;
	emu_obj_get(prog); /* the link's reference (bpf_link_init()) */
	link->slot->u.link.prog_id = prog->id;
	/* bpf_raw_tracepoint_open() passes prog->expected_attach_type as the link's attach type. */
	link->slot->u.link.attach_type = prog->slot->u.prog.expected_attach_type;
	link->slot->u.link.raw_tp = tp;
	link->slot->u.link.bpf_cookie = cookie;
	emu_reg_publish(s, link->slot);
	/* Answer once every agent runs it, so the caller's next syscall is seen (agent_wait.c). */
	emu_agents_wait(s);
	log_debug("RAW_TRACEPOINT_OPEN %s: link %u, prog %u\n", name, link->id, prog->id);
	/* Link fds are always close-on-exec (bpf_link_prime(): anon_inode_getfile(..., O_CLOEXEC)). */
	return emu_obj_reply_fd(s, link, true, r);
}

int emu_raw_tp_link_info(const struct emu_target *t, const struct emu_obj *link, struct bpf_link_info *info)
{
	const struct emu_reg_link *l = &link->slot->u.link;
	uint64_t ubuf = info->raw_tracepoint.tp_name;
	uint32_t ulen = info->raw_tracepoint.tp_name_len;
	const char *name;
	size_t len;

	if (!l->raw_tp || l->raw_tp >= ARRAY_SIZE(raw_tp_names))
		return -EINVAL;
	name = raw_tp_names[l->raw_tp];
	len = strlen(name);
	/* bpf_raw_tp_link_fill_link_info(): a buffer without a length, or a length without a buffer. */
	if (!ulen != !ubuf)
		return -EINVAL;
	info->raw_tracepoint.tp_name_len = (uint32_t)len + 1;
	memcpy((char *)info + COMPAT_RAW_TP_INFO_COOKIE_OFF, &l->bpf_cookie, sizeof(l->bpf_cookie));
	if (!ubuf)
		return 0;
	/* bpf_copy_to_user(): what fits, NUL-terminated, and ENOSPC when cut. */
	if (ulen >= len + 1)
		return t->ops->write(t, ubuf, name, len + 1) ? -EFAULT : 0;
	if (t->ops->write(t, ubuf, name, ulen - 1) || t->ops->write(t, ubuf + ulen - 1, "", 1))
		return -EFAULT;
	return -ENOSPC;
}
