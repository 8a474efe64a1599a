/*
 * tp_ctx.h - build the context a tracepoint program reads, byte for byte as
 * the kernel lays it out for the event (its tracefs format).
 */
#ifndef HOOKS_TP_CTX_H
#define HOOKS_TP_CTX_H

#include <stddef.h>
#include <stdint.h>

#include "hooks/tp_event.h"

/* Largest context of any syscall event: raw_syscalls:sys_enter is 16 + 6 * 8. */
#define TP_CTX_MAX_SZ 64

/**
 * tp_ctx_fill() - write @ev's context for one syscall into @buf.
 * @nr, @args are the syscall number and its six argument registers (enter
 * events); @ret is the return value (exit events); @pid is the thread id the
 * kernel stores in common_pid. Bytes not covered by a field are zeroed.
 * Return: the context size (ev->ctx_sz); -ENOSPC if @buf_sz is smaller;
 * -EINVAL if a field of @ev is not one a syscall event has.
 */
int tp_ctx_fill(const struct tp_event *ev, void *buf, size_t buf_sz, long nr,
		const unsigned long args[6], long ret, int32_t pid);

#endif /* HOOKS_TP_CTX_H */
