/*
 * perf_event.c - perf_event_open(2) for the events eBPF clients create
 * (kernel/events/core.c, perf_event_open() and perf_copy_attr();
 * kernel/trace/trace_uprobe.c, create_local_trace_uprobe()).
 *
 * bpftime answers three kinds, everything else continues to the kernel
 * unchanged (SECCOMP_USER_NOTIF_FLAG_CONTINUE):
 *   - the uprobe PMU (type read from /sys/bus/event_source/devices/uprobe/
 *     type): config bit 0 = retprobe, config[63:32] = ref_ctr_offset
 *     (the USDT semaphore's file offset; the agent increments it where a
 *     writable private mapping holds it, hooks/attach.c; bcc sends a
 *     garbage 6 there, which lands in the read-only ELF header), config1 = user pointer to the
 *     binary's path, config2 = file offset; pid -1 with a cpu, or a pid;
 *   - PERF_TYPE_TRACEPOINT with an id from the tracefs files we serve;
 *   - PERF_TYPE_SOFTWARE / PERF_COUNT_SW_BPF_OUTPUT, the perf buffer of
 *     bpf_perf_event_output(): its fd is a file mmapable as the kernel's perf
 *     ring (struct perf_event_mmap_page, then 2^n data pages).
 * Each event is an object (kind EMU_REG_PERF) in the registry, where the
 * agent finds uprobes and tracepoints to hook.
 *
 * attr.size rules (perf_copy_attr()): 0 means PERF_ATTR_SIZE_VER0 (64);
 * below 64 or above a page is E2BIG (the kernel then writes its own size
 * into attr.size); bytes past our struct must be zero (E2BIG).
 */
#include "emul/emul_int.h"

#include <errno.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "common/log.h"
#include "maps/maps_ext.h"
#include "common/utils.h"

#define PERF_ATTR_VER0 64
#define BPF_OUTPUT_DATA_PAGES 1024 /* the backing file holds a header page and 4 MiB of data (sparse) */

static int read_path(const struct emu_target *t, uint64_t uptr, char *buf, size_t max)
{
	for (size_t i = 0; i < max; i++) {
		int err = t->ops->read(t, uptr + i, &buf[i], 1);

		if (err)
			return err == -ENOENT ? err : -EFAULT;
		if (!buf[i])
			return 0;
	}
	return -ENAMETOOLONG;
}

int emu_perf_event_open(struct emu_session *s, const struct emu_target *t, const uint64_t args[6],
			struct emu_reply *r)
{
	struct perf_event_attr attr;
	uint8_t buf[EMU_PAGE_SZ];
	uint32_t head[2], size, kind;
	int32_t pid = (int32_t)args[1], cpu = (int32_t)args[2], group_fd = (int32_t)args[3];
	uint64_t flags = args[4];
	struct emu_reg_perf pe = { 0 };
	struct emu_obj *o;
	int err, ncpu = get_nprocs_conf();

	err = t->ops->read(t, args[0], head, sizeof(head));
	if (err == -ENOENT)
		return err;
	if (err) {
		r->cont = true; /* let the kernel give its own EFAULT */
		return 0;
	}
	if (head[0] == s->uprobe_pmu_type)
		kind = EMU_REG_PERF_UPROBE;
	else if (head[0] == PERF_TYPE_TRACEPOINT)
		kind = EMU_REG_PERF_TRACEPOINT;
	else if (head[0] == PERF_TYPE_SOFTWARE)
		kind = EMU_REG_PERF_BPF_OUTPUT; /* decided below on config */
	else {
		r->cont = true;
		return 0;
	}
	size = head[1] ? head[1] : PERF_ATTR_VER0;
	if (size < PERF_ATTR_VER0 || size > EMU_PAGE_SZ) {
		uint32_t ours = sizeof(attr);

		if (t->ops->write(t, args[0] + 4, &ours, sizeof(ours)))
			return r->val = -EFAULT, 0;
		r->val = -E2BIG;
		return 0;
	}
	err = t->ops->read(t, args[0], buf, size);
	if (err)
		return err == -ENOENT ? err : (r->val = -EFAULT, 0);
	if (t->ops->valid(t))
		return -ENOENT;
	for (size_t i = sizeof(attr); i < size; i++)
		if (buf[i]) {
			r->val = -E2BIG;
			return 0;
		}
	memset(&attr, 0, sizeof(attr));
	memcpy(&attr, buf, MIN((size_t)size, sizeof(attr)));
	if (kind == EMU_REG_PERF_BPF_OUTPUT &&
	    (attr.config == PERF_COUNT_SW_CPU_CLOCK || attr.config == PERF_COUNT_SW_TASK_CLOCK) &&
	    (attr.freq ? attr.sample_freq : attr.sample_period)) {
		/* A sampling timer (bpftrace interval:/profile:): the opener's agent runs it. */
		kind = EMU_REG_PERF_TIMER;
	} else if (kind == EMU_REG_PERF_BPF_OUTPUT && attr.config != PERF_COUNT_SW_BPF_OUTPUT) {
		r->cont = true; /* other software counters: the kernel's business */
		return 0;
	}

	/* perf_event_open()'s own argument checks. */
	if (flags & ~(uint64_t)(PERF_FLAG_FD_NO_GROUP | PERF_FLAG_FD_OUTPUT | PERF_FLAG_PID_CGROUP |
				PERF_FLAG_FD_CLOEXEC))
		return r->val = -EINVAL, 0;
	if (flags & PERF_FLAG_PID_CGROUP) {
		log_info("perf_event_open: cgroup filters are not supported by bpftime\n");
		return r->val = -EINVAL, 0;
	}
	if (pid == -1 && cpu == -1)
		return r->val = -EINVAL, 0;
	if (cpu < -1 || cpu >= ncpu)
		return r->val = -EINVAL, 0;
	if (pid < -1)
		return r->val = -EINVAL, 0;
	if (group_fd != -1) {
		log_info("perf_event_open: event groups are not supported by bpftime for emulated events\n");
		return r->val = -EINVAL, 0;
	}
	/* find_lively_task_by_vpid(0) is the caller; a uprobe filters by its mm
	 * (uprobe_perf_filter()), i.e. the caller's whole process. */
	pe.pid = pid == 0 ? (int32_t)t->pid : pid;
	pe.cpu = cpu;
	if (!attr.disabled)
		pe.flags |= EMU_REG_PERF_ENABLED;

	switch (kind) {
	case EMU_REG_PERF_UPROBE:
		if (attr.config & 1ULL)
			pe.flags |= EMU_REG_PERF_RETPROBE;
		pe.ref_ctr_offset = attr.config >> 32;
		/* uprobe_register() in kernel/events/uprobes.c: a 16-bit counter. */
		if (pe.ref_ctr_offset & 1)
			return r->val = -EINVAL, 0;
		pe.offset = attr.config2;
		if (!attr.config1)
			return r->val = -EINVAL, 0;
		err = read_path(t, attr.config1, pe.path, sizeof(pe.path));
		if (err == -ENOENT)
			return err;
		if (err == -ENAMETOOLONG)
			log_warn("uprobe path longer than %d bytes is not supported by bpftime\n", EMU_REG_PATH_MAX - 1);
		if (err)
			return r->val = err, 0;
		if (pe.path[0] != '/') {
			/* create_local_trace_uprobe() resolves the path against the caller's cwd
			 * (kern_path); record it absolute, as seen in the caller's namespace. */
			char link[64], cwd[EMU_REG_PATH_MAX], rel[EMU_REG_PATH_MAX];
			ssize_t n;

			snprintf(link, sizeof(link), "/proc/%d/cwd", (int)t->tid);
			n = readlink(link, cwd, sizeof(cwd) - 1);
			if (n <= 0)
				return r->val = -ENOENT, 0;
			cwd[n] = 0;
			snprintf(rel, sizeof(rel), "%s", pe.path);
			if ((size_t)snprintf(pe.path, sizeof(pe.path), "%s/%s", cwd, rel) >= sizeof(pe.path))
				return r->val = -ENAMETOOLONG, 0;
		}
		break;
	case EMU_REG_PERF_TRACEPOINT:
		if (!emu_tracefs_id_known(attr.config)) {
			log_info("perf_event_open: tracepoint id %llu is not one bpftime serves\n",
				 (unsigned long long)attr.config);
			return r->val = -ENOENT, 0;
		}
		pe.tp_id = (uint32_t)attr.config;
		break;
	case EMU_REG_PERF_BPF_OUTPUT:
		pe.data_pages = BPF_OUTPUT_DATA_PAGES;
		break;
	case EMU_REG_PERF_TIMER:
		/* cpu-clock counts ns: sample_period is the period; freq mode asks for Hz. */
		pe.offset = attr.freq ? 1000000000ull / attr.sample_freq : attr.sample_period;
		if (!pe.offset)
			pe.offset = 1;
		pe.reserved = (uint32_t)t->pid;
		break;
	}

	{
		/* The perf ring's control page as perf_mmap() leaves it before the first record. */
		struct perf_event_mmap_page pg = { 0 };
		size_t file_sz = 0;

		if (kind == EMU_REG_PERF_BPF_OUTPUT) {
			pg.version = 0;
			pg.compat_version = 0;
			pg.data_offset = EMU_PAGE_SZ;
			pg.data_size = 0; /* set by the producer from the consumer's mapping (DIVERGES) */
			/* The wakeup rule producers apply (maps/maps_ext.h, MAP_PERF_PG_*):
			 * wakeup_events and wakeup_watermark share a union, attr.watermark says which. */
			*(uint32_t *)((uint8_t *)&pg + MAP_PERF_PG_WAKEUP_EVENTS_OFF) =
				attr.watermark ? 0 : attr.wakeup_events;
			*(uint32_t *)((uint8_t *)&pg + MAP_PERF_PG_WATERMARK_OFF) =
				attr.watermark ? attr.wakeup_watermark : 0;
			file_sz = (size_t)(1 + BPF_OUTPUT_DATA_PAGES) * EMU_PAGE_SZ;
		}
		err = emu_obj_new(s, EMU_REG_PERF, NULL, kind, kind == EMU_REG_PERF_BPF_OUTPUT ? &pg : NULL,
				  kind == EMU_REG_PERF_BPF_OUTPUT ? sizeof(pg) : 0, file_sz, &o);
		if (err)
			return r->val = err, 0;
	}
	o->slot->u.perf = pe;
	emu_reg_publish(s, o->slot);
	log_debug("perf_event_open: perf id %u type %u pid %d cpu %d %s+0x%llx\n", o->id, kind, pid, cpu, pe.path,
		  (unsigned long long)pe.offset);
	err = emu_obj_reply_fd(s, o, (flags & PERF_FLAG_FD_CLOEXEC) != 0, r);
	if (err)
		r->val = err;
	return 0;
}
