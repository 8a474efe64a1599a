/*
 * ioctl.c - the perf ioctls on bpftime perf-event fds (kernel/events/core.c,
 * _perf_ioctl()): ENABLE, DISABLE, ID, SET_BPF, QUERY_BPF. The seccomp
 * filter only traps these request numbers; an fd that is not a bpftime perf
 * event (a real hardware counter, say) continues to the kernel.
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <string.h>

#include "common/log.h"

static void set_enabled(struct emu_session *s, struct emu_obj *o, bool on)
{
	emu_reg_write_begin(o->slot);
	if (on)
		o->slot->u.perf.flags |= EMU_REG_PERF_ENABLED;
	else
		o->slot->u.perf.flags &= ~EMU_REG_PERF_ENABLED;
	emu_reg_write_end(s, o->slot);
}

int emu_perf_ioctl(struct emu_session *s, const struct emu_target *t, const uint64_t args[6], struct emu_reply *r)
{
	uint32_t req = (uint32_t)args[1];
	struct emu_obj *o, *prog;
	uint64_t id;
	int err;

	err = emu_fd_lookup(s, t, (int)args[0], EMU_REG_PERF, &o);
	if (err) {
		r->cont = true;
		return 0;
	}
	switch (req) {
	case PERF_EVENT_IOC_ENABLE:
	case PERF_EVENT_IOC_DISABLE:
		/* PERF_IOC_FLAG_GROUP in arg would include siblings; we have no groups. */
		set_enabled(s, o, req == PERF_EVENT_IOC_ENABLE);
		/* The consumer has mapped its ring by now (bpftrace, bcc, libbpf do mmap first). */
		if (req == PERF_EVENT_IOC_ENABLE)
			(void)emu_perf_ring_learn_size(s, o, t->tid);
		return 0;
	case PERF_EVENT_IOC_ID:
		id = o->id;
		if (t->ops->write(t, args[2], &id, sizeof(id)))
			r->val = -EFAULT;
		return 0;
	case PERF_EVENT_IOC_SET_BPF:
		err = emu_fd_lookup(s, t, (int)args[2], EMU_REG_PROG, &prog);
		if (!err)
			err = emu_perf_attach(s, o, prog, 0, 0);
		r->val = err;
		return 0;
	case PERF_EVENT_IOC_QUERY_BPF: {
		/* struct perf_event_query_bpf { u32 ids_len; u32 prog_cnt; u32 ids[]; } */
		uint32_t ids_len, cnt, pid_ = o->slot->u.perf.prog_id;

		if (o->slot->type == EMU_REG_PERF_BPF_OUTPUT)
			return r->val = -EINVAL, 0;
		if (t->ops->read(t, args[2], &ids_len, sizeof(ids_len)))
			return r->val = -EFAULT, 0;
		cnt = pid_ ? 1 : 0;
		if (t->ops->write(t, args[2] + 4, &cnt, sizeof(cnt)))
			return r->val = -EFAULT, 0;
		if (cnt && ids_len == 0)
			return 0;
		if (cnt && t->ops->write(t, args[2] + 8, &pid_, sizeof(pid_)))
			return r->val = -EFAULT, 0;
		return 0;
	}
	default:
		r->cont = true;
		return 0;
	}
}
