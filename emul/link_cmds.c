/*
 * link_cmds.c - BPF_LINK_CREATE, LINK_DETACH, LINK_UPDATE,
 * RAW_TRACEPOINT_OPEN and the cgroup-style PROG_ATTACH/DETACH/QUERY
 * (kernel/bpf/syscall.c, link_create(); kernel/trace/bpf_trace.c).
 *
 * Two kinds of links exist in bpftime. A perf-event link ties a program to
 * a perf event (uprobe or tracepoint) that perf_event.c created: attaching
 * writes prog_id and link_id into the perf event's registry slot under its
 * seqlock, which is what the agent (hooks/) watches. A raw tracepoint link
 * (RAW_TRACEPOINT_OPEN, raw_tp.c) or a uprobe_multi link (uprobe_multi.c)
 * is itself what the agent watches. All are objects with their own fd and
 * id.
 *
 * Order of checks mirrors link_create(): the program fd first (EBADF for a
 * bad fd), then the attach type, then the target. libbpf's perf-link probe
 * depends on that: LINK_CREATE(valid prog, target_fd = -1, BPF_PERF_EVENT)
 * must give EBADF. kprobe_multi gives EOPNOTSUPP, as on a kernel without
 * CONFIG_KPROBES (this machine); bpftrace then falls back silently.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <string.h>

#include "common/compat.h"
#include "common/log.h"

/* Can @prog attach to @perf? As perf_event_set_bpf_prog() checks it. */
static int perf_attach_check(struct emu_obj *perf, struct emu_obj *prog)
{
	struct emu_reg_perf *pe = &perf->slot->u.perf;
	uint32_t ptype = prog->slot->type;

	switch (perf->slot->type) {
	case EMU_REG_PERF_UPROBE:
		if (ptype != BPF_PROG_TYPE_KPROBE)
			return -EINVAL;
		break;
	case EMU_REG_PERF_TRACEPOINT:
		if (ptype != BPF_PROG_TYPE_TRACEPOINT)
			return -EINVAL;
		break;
	case EMU_REG_PERF_TIMER:
		/* Sampling timers run BPF_PROG_TYPE_PERF_EVENT programs (the opener's agent). */
		if (ptype != BPF_PROG_TYPE_PERF_EVENT)
			return -EINVAL;
		break;
	default:
		/* A software event takes only BPF_PROG_TYPE_PERF_EVENT, which bpftime cannot run. */
		return -EINVAL;
	}
	if (__atomic_load_n(&pe->prog_id, __ATOMIC_ACQUIRE))
		return -EEXIST;
	return 0;
}

/* Attach: the perf event holds a reference on the program from now on. */
int emu_perf_attach(struct emu_session *s, struct emu_obj *perf, struct emu_obj *prog, uint32_t link_id,
		    uint64_t cookie)
{
	struct emu_reg_perf *pe = &perf->slot->u.perf;
	int err = perf_attach_check(perf, prog);

	if (err)
		return err;
	emu_obj_get(prog);
	emu_reg_write_begin(perf->slot);
	pe->prog_id = prog->id;
	pe->link_id = link_id;
	pe->bpf_cookie = cookie;
	emu_reg_write_end(s, perf->slot);
	return 0;
}

static int link_create(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, struct emu_reply *r)
{
	struct emu_obj *prog, *perf, *link;
	int err;

	err = emu_fd_lookup(s, t, (int)a->link_create.prog_fd, EMU_REG_PROG, &prog);
	if (err)
		return err;
	/* bpf_prog_attach_check_attach_type(): a program loaded for uprobe_multi attaches no other way. */
	if (prog->slot->type == BPF_PROG_TYPE_KPROBE &&
	    prog->slot->u.prog.expected_attach_type == COMPAT_BPF_TRACE_UPROBE_MULTI &&
	    a->link_create.attach_type != COMPAT_BPF_TRACE_UPROBE_MULTI)
		return -EINVAL;
	switch (a->link_create.attach_type) {
	case BPF_PERF_EVENT:
		break;
	case BPF_TRACE_KPROBE_MULTI:
		log_info("LINK_CREATE kprobe_multi: no kprobes in bpftime (EOPNOTSUPP, as without CONFIG_KPROBES)\n");
		return -EOPNOTSUPP;
	case COMPAT_BPF_TRACE_UPROBE_MULTI:
		if (prog->slot->type != BPF_PROG_TYPE_KPROBE)
			return -EINVAL;
		return emu_uprobe_multi_attach(s, t, a, prog, r);
	default:
		log_info("LINK_CREATE attach type %u is not supported by bpftime\n", a->link_create.attach_type);
		return -EINVAL;
	}
	if (a->link_create.flags)
		return -EINVAL;
	err = emu_fd_lookup(s, t, (int)a->link_create.target_fd, EMU_REG_PERF, &perf);
	if (err)
		return err == -EINVAL ? -EBADF : err; /* perf_event_get(): not a perf file is EBADF */
	err = perf_attach_check(perf, prog);
	if (err)
		return err;
	err = emu_obj_new(s, EMU_REG_LINK, NULL, BPF_LINK_TYPE_PERF_EVENT, NULL, 0, 0, &link);
	if (err)
		return err;
	/* The link holds the perf event (bpf_perf_link.perf_file) and, through it, the program. */
	emu_perf_attach(s, perf, prog, link->id, a->link_create.perf_event.bpf_cookie);
	emu_obj_get(perf);
	link->slot->u.link.prog_id = prog->id;
	link->slot->u.link.attach_type = BPF_PERF_EVENT;
	link->slot->u.link.perf_id = perf->id;
	link->slot->u.link.bpf_cookie = a->link_create.perf_event.bpf_cookie;
	emu_reg_publish(s, link->slot);
	return emu_obj_reply_fd(s, link, true, r);
}

void emu_link_detach(struct emu_session *s, struct emu_obj *link)
{
	struct emu_obj *perf;
	uint32_t perf_id = link->slot->u.link.perf_id;

	if (link->slot->type == BPF_LINK_TYPE_RAW_TRACEPOINT || link->slot->type == COMPAT_BPF_LINK_TYPE_UPROBE_MULTI) {
		struct emu_obj *prog;
		uint32_t prog_id = link->slot->u.link.prog_id;

		/* bpf_raw_tp_link_release() / bpf_uprobe_multi_link_release() unregister the probes;
		 * bpf_link_free() drops the program. The slot is already released, so the agents
		 * have stopped running it. */
		link->slot->u.link.prog_id = 0;
		if (prog_id && !emu_obj_by_id(s, EMU_REG_PROG, prog_id, &prog))
			emu_obj_put(s, prog);
		return;
	}
	if (!perf_id)
		return;
	link->slot->u.link.perf_id = 0;
	if (emu_obj_by_id(s, EMU_REG_PERF, perf_id, &perf))
		return;
	if (perf->slot->u.perf.link_id == link->id) {
		struct emu_obj *prog;
		uint32_t prog_id = perf->slot->u.perf.prog_id;

		emu_reg_write_begin(perf->slot);
		perf->slot->u.perf.prog_id = 0;
		perf->slot->u.perf.link_id = 0;
		emu_reg_write_end(s, perf->slot);
		if (!emu_obj_by_id(s, EMU_REG_PROG, prog_id, &prog))
			emu_obj_put(s, prog);
	}
	emu_obj_put(s, perf);
}

int emu_link_cmd(struct emu_session *s, const struct emu_target *t, int cmd, union bpf_attr *a,
		 struct emu_reply *r)
{
	struct emu_obj *link;
	int err;

	switch (cmd) {
	case BPF_LINK_CREATE:
		return link_create(s, t, a, r);
	case BPF_LINK_DETACH:
		err = emu_fd_lookup(s, t, (int)a->link_detach.link_fd, EMU_REG_LINK, &link);
		if (err)
			return err;
		/* Neither bpf_perf_link_lops nor bpf_raw_tp_link_lops has .detach: link_detach()
		 * answers EOPNOTSUPP. */
		return -EOPNOTSUPP;
	case BPF_LINK_UPDATE:
		err = emu_fd_lookup(s, t, (int)a->link_update.link_fd, EMU_REG_LINK, &link);
		if (err)
			return err;
		/* Perf-event links have no update_prog operation: link_update() gives EINVAL. */
		return -EINVAL;
	case BPF_RAW_TRACEPOINT_OPEN:
		return emu_raw_tp_open(s, t, a, r);
	default:
		/* PROG_ATTACH/DETACH/QUERY attach to cgroups, sockets and devices, none of which bpftime has. */
		log_info("bpf(cmd %d): cgroup/socket attachment is not supported by bpftime\n", cmd);
		return -EINVAL;
	}
}
