/*
 * kuprobe.c - the kernel side of the uprobe benchmarks (see kuprobe.h).
 * Needs root (CAP_BPF + CAP_PERFMON) for the loads and the PMU; callers
 * print why the kernel column is missing when a call fails.
 */
#include "config.h"

#include <bpf/bpf.h>
#include <errno.h>
#include <link.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench/kuprobe.h"

int kup_read_int(const char *path, const char *prefix, int *out)
{
	FILE *f = fopen(path, "re");
	char buf[64];
	size_t pl = prefix ? strlen(prefix) : 0;
	int ok;

	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) && (!pl || !strncmp(buf, prefix, pl)) &&
	     sscanf(buf + pl, "%d", out) == 1;
	fclose(f);
	return ok ? 0 : -EINVAL;
}

struct phdr_arg {
	uintptr_t addr;
	uint64_t off;
	int found;
};

static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct phdr_arg *a = data;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type == PT_LOAD && a->addr >= start && a->addr < start + ph->p_filesz) {
			a->off = a->addr - start + ph->p_offset;
			a->found = 1;
			return 1;
		}
	}
	return 0;
}

int kup_file_offset(const void *fn, uint64_t *off)
{
	struct phdr_arg a = { .addr = (uintptr_t)fn };

	dl_iterate_phdr(phdr_cb, &a);
	if (!a.found)
		return -ENOENT;
	*off = a.off;
	return 0;
}

int kup_load_empty(enum bpf_prog_type type, const char *name)
{
	static const struct bpf_insn empty[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(type, name, "GPL", empty, 2, NULL);
}

int kup_load_count(enum bpf_prog_type type, const char *name, int map_fd)
{
	struct bpf_insn count[] = {
		/* *(u32 *)(r10 - 4) = 0; r2 = r10 - 4; r1 = map; r0 = lookup(r1, r2) */
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = 10, .off = -4, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD,
		  .imm = map_fd },
		{ 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		/* if r0 == 0 goto out; r1 = 1; lock *(u64 *)(r0 + 0) += r1 */
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 2, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 1, .imm = 1 },
		{ .code = BPF_STX | BPF_ATOMIC | BPF_DW, .dst_reg = 0, .src_reg = 1, .imm = BPF_ADD },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	return bpf_prog_load(type, name, "GPL", count, sizeof(count) / sizeof(count[0]), NULL);
}

int kup_uprobe_attr(const char *path, uint64_t off, bool ret, struct perf_event_attr *attr)
{
	int type, bit = 0;

	if (kup_read_int("/sys/bus/event_source/devices/uprobe/type", NULL, &type))
		return -ENOENT;
	if (kup_read_int("/sys/bus/event_source/devices/uprobe/format/retprobe", "config:", &bit))
		bit = 0;
	memset(attr, 0, sizeof(*attr));
	attr->size = sizeof(*attr);
	attr->type = (uint32_t)type;
	attr->config = ret ? 1ULL << bit : 0;
	attr->config1 = (uint64_t)(uintptr_t)path; /* uprobe_path */
	attr->config2 = off;                        /* probe_offset */
	attr->sample_period = 1;
	return 0;
}

int kup_perf_attach(struct perf_event_attr *attr, int pid, int cpu, int prog_fd)
{
	int fd = (int)syscall(SYS_perf_event_open, attr, pid, cpu, -1, PERF_FLAG_FD_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog_fd) || ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}
