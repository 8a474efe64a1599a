/*
 * tp_ctx.c - syscall tracepoint contexts with the kernel's layout.
 *
 * The kernel writes these records in kernel/trace/trace_syscalls.c
 * (perf_syscall_enter()/perf_syscall_exit(): struct syscall_trace_enter
 * {trace_entry; int nr; unsigned long args[];} and syscall_trace_exit
 * {trace_entry; int nr; long ret;}) and, for raw_syscalls, through
 * TRACE_EVENT(sys_enter/sys_exit) in include/trace/events/syscalls.h
 * ({long id; unsigned long args[6];} / {long id; long ret;}). trace_entry is
 * {u16 type; u8 flags; u8 preempt_count; int pid;} (include/linux/trace_events.h).
 *
 * Rather than hard-code those structs we place every value at the offset and
 * size the event's parsed format gives, so the context matches the format a
 * client reads even if a kernel changes it; tests/check_syscalls.c checks the
 * formats themselves against the running kernel.
 *
 * DIVERGES: padding (bytes 12..15 after __syscall_nr) is zeroed; the kernel
 * leaves whatever the perf buffer held there (seen as 0xffffffff on 6.18 by
 * test_ctx_matches_kernel_openat). No field covers it, so no correct program
 * reads it.
 *
 * DIVERGES: common_flags and common_preempt_count are 0. In the kernel they
 * hold irq/preempt state of the CPU, which has no userspace meaning.
 */
#include "config.h"

#include <errno.h>

#include "hooks/tp_ctx.h"

/*
 * tp_ctx_fill() runs on the syscall hit path, where only xmm0-15 are saved
 * (hooks/xstate.h): it must not call libc's string functions, which use
 * AVX-512 registers here. So the copies, the zeroing and the name
 * comparisons below are our own loops, and the loops must not be turned
 * back into memset/memcpy calls by gcc (-ftree-loop-distribute-patterns,
 * on at -O2).
 */
#define TP_NO_LIBC __attribute__((optimize("no-tree-loop-distribute-patterns")))

TP_NO_LIBC static bool name_eq(const char *a, const char *b)
{
	while (*a && *a == *b) {
		a++;
		b++;
	}
	return *a == *b;
}

TP_NO_LIBC static void put(unsigned char *buf, const struct tp_field *f, unsigned long v)
{
	/* Little endian: the low f->sz bytes of v are the value truncated to the field. */
	for (unsigned int i = 0; i < f->sz && i < sizeof(v); i++)
		buf[f->off + i] = (unsigned char)(v >> (8 * i));
}

TP_NO_LIBC int tp_ctx_fill(const struct tp_event *ev, void *buf, size_t buf_sz, long nr,
			   const unsigned long args[6], long ret, int32_t pid)
{
	unsigned char *b = buf;
	unsigned int i, argi = 0;

	if (buf_sz < ev->ctx_sz)
		return -ENOSPC;
	for (i = 0; i < ev->ctx_sz; i++)
		b[i] = 0;
	for (i = 0; i < ev->field_cnt; i++) {
		const struct tp_field *f = &ev->fields[i];
		const char *n = f->name;

		if (f->off + f->sz > ev->ctx_sz)
			return -EINVAL;
		if (name_eq(n, "common_type")) {
			put(b, f, ev->id);
		} else if (name_eq(n, "common_flags") || name_eq(n, "common_preempt_count")) {
			put(b, f, 0);
		} else if (name_eq(n, "common_pid")) {
			put(b, f, (unsigned long)(long)pid);
		} else if (name_eq(n, "__syscall_nr") || name_eq(n, "id")) {
			put(b, f, (unsigned long)nr);
		} else if (name_eq(n, "ret")) {
			put(b, f, (unsigned long)ret);
		} else if (name_eq(n, "args[6]")) {
			if (f->sz != 6 * sizeof(unsigned long))
				return -EINVAL;
			for (unsigned int k = 0; k < 6; k++) {
				struct tp_field a = { .off = (uint16_t)(f->off + 8 * k), .sz = 8 };

				put(b, &a, args[k]);
			}
		} else if (!ev->is_exit && argi < 6 && f->sz == sizeof(unsigned long)) {
			/* sys_enter_<x>: the syscall's parameters in order, one 8-byte slot each. */
			put(b, f, args[argi++]);
		} else {
			return -EINVAL;
		}
	}
	return (int)ev->ctx_sz;
}
