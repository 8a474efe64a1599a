/*
 * cpu.c - CPU numbering for per-CPU maps.
 *
 * The syscall-side value of a per-CPU map is round_up(value_size, 8) times
 * num_possible_cpus() (kernel/bpf/syscall.c bpf_map_value_size()), and
 * libbpf sizes its buffers from /sys/devices/system/cpu/possible
 * (libbpf_num_possible_cpus()), so we read the same file: a cpulist such as
 * "0-3" or "0,2-5", whose highest CPU + 1 is the count (the kernel's
 * nr_cpu_ids; holes still get a slot). The fast path for the current CPU is
 * map_cpu_fast() in maps_int.h.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "maps/maps_int.h"

int map_cpu_parse_list(const char *s)
{
	long highest = -1;

	while (*s && *s != '\n') {
		char *end;
		long a = strtol(s, &end, 10), b;

		if (end == s || a < 0)
			return -EINVAL;
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			b = strtol(s, &end, 10);
			if (end == s || b < a)
				return -EINVAL;
			s = end;
		}
		if (b > 65535)
			return -EINVAL;
		if (b > highest)
			highest = b;
		if (*s == ',')
			s++;
		else if (*s && *s != '\n')
			return -EINVAL;
	}
	return highest < 0 ? -EINVAL : (int)(highest + 1);
}

int64_t map_cpu_rseq_off = INT64_MIN;

/* Runs before main() and before the agent's constructor uses any map. */
__attribute__((constructor)) static void cpu_rseq_init(void)
{
	if (__rseq_size >= 8)
		map_cpu_rseq_off = (int64_t)__rseq_offset;
}

static uint32_t possible_cached;

uint32_t map_cpu_possible(void)
{
	uint32_t n = __atomic_load_n(&possible_cached, __ATOMIC_RELAXED);
	char buf[256];
	ssize_t len;
	int fd, r;

	if (n)
		return n;
	fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		len = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (len > 0) {
			buf[len] = 0;
			r = map_cpu_parse_list(buf);
			if (r > 0)
				n = (uint32_t)r;
		}
	}
	if (!n) {
		long c = sysconf(_SC_NPROCESSORS_CONF);

		n = c > 0 ? (uint32_t)c : 1;
	}
	__atomic_store_n(&possible_cached, n, __ATOMIC_RELAXED);
	return n;
}

uint32_t map_possible_cpus(void)
{
	return map_cpu_possible();
}

uint32_t map_cpu_current_slow(void)
{
	int c = sched_getcpu();

	return c < 0 ? 0 : (uint32_t)c;
}

uint32_t map_cpu_slow(uint32_t ncpu)
{
	int64_t off = map_cpu_rseq_off;

	if (off != INT64_MIN) {
		const struct rseq *rs =
			(const struct rseq *)((const char *)__builtin_thread_pointer() + off);
		uint32_t c = __atomic_load_n(&rs->cpu_id, __ATOMIC_RELAXED);

		if ((int32_t)c >= 0)
			return c % ncpu;
	}
	return map_cpu_current_slow() % ncpu;
}

uint32_t map_current_cpu(void)
{
	return map_cpu_fast(map_cpu_possible());
}
