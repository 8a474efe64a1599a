/*
 * kuprobe.h - the kernel side of the uprobe benchmarks (bench/hook_bench,
 * bench/agent_bench): the same two BPF programs and the same perf_event_open
 * of the uprobe PMU that bcc and bpftrace use (client-traces README §6), so
 * both benchmarks compare bpftime with one kernel baseline.
 */
#ifndef BENCH_KUPROBE_H
#define BENCH_KUPROBE_H

#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <stdint.h>

/** Read "N", or "<prefix>N" (format/retprobe holds "config:0"), from @path. 0 or -errno. */
int kup_read_int(const char *path, const char *prefix, int *out);
/** File offset of code address @fn in the object that maps it. 0 or -ENOENT. */
int kup_file_offset(const void *fn, uint64_t *off);
/** Load 'r0 = 0; exit' as @type. A program fd or -errno. */
int kup_load_empty(enum bpf_prog_type type, const char *name);
/** Load 'lock *(u64 *)lookup(@map_fd, 0) += 1' as @type; @map_fd an ARRAY k4 v8. A program fd or -errno. */
int kup_load_count(enum bpf_prog_type type, const char *name, int map_fd);
/**
 * Fill @attr for a uprobe (or uretprobe when @ret) at @off in @path through
 * the uprobe PMU, sample_period 1. 0, or -ENOENT without the PMU.
 */
int kup_uprobe_attr(const char *path, uint64_t off, bool ret, struct perf_event_attr *attr);
/** perf_event_open(@attr, @pid, @cpu), PERF_EVENT_IOC_SET_BPF(@prog_fd), ENABLE. A perf fd or -errno. */
int kup_perf_attach(struct perf_event_attr *attr, int pid, int cpu, int prog_fd);

#endif /* BENCH_KUPROBE_H */
