/*
 * hooks.h - the in-process uprobe/uretprobe engine (x86-64): the contract the
 * agent uses.
 *
 * A probe is a C handler called with a kernel-layout `struct pt_regs` each time
 * a thread executes an address (uprobe) or returns from the function that starts
 * there (uretprobe). The engine patches the address with a 5-byte `jmp rel32` to
 * a per-site trampoline (see uprobe.c for the life cycle, text_poke.c for how the
 * patch is written safely while other threads run, reloc.c for the displaced
 * instructions, tramp_x86_64.S for the register save area, dispatch.c for the
 * hit path and shadow.c for return probes).
 *
 * Everything here is safe to call from any thread except from inside a handler.
 * Nothing writes to stdio, exits or raises signals; errors are -errno with one
 * log_debug() line naming the cause. The one signal we own is SIGTRAP: see
 * text_poke.c.
 */
#ifndef HOOKS_HOOKS_H
#define HOOKS_HOOKS_H

#include <stddef.h>
#include <stdint.h>

/*
 * The register frame handed to handlers: exactly the kernel's x86-64
 * `struct pt_regs` (arch/x86/include/asm/ptrace.h, same order as
 * <sys/user.h>'s user_regs_struct), so BPF programs compiled for kprobes/uprobes
 * (libbpf's PT_REGS_PARM1() reads di at 112, bpftrace's retval reads ax at 80)
 * work on it unchanged.
 *
 * For a uprobe, ip is the probed address (the kernel reports the breakpoint
 * address, arch/x86/kernel/uprobes.c). For a uretprobe, ip is the caller's
 * return address and sp the stack pointer after the return, as the kernel sets
 * them in handle_trampoline() (kernel/events/uprobes.c); the function's own
 * address is known to the caller through the probe's data.
 * cs/ss hold the user selectors 0x33/0x2b and orig_ax is -1, as for an int3
 * trap.
 */
struct pt_regs {
	uint64_t r15;
	uint64_t r14;
	uint64_t r13;
	uint64_t r12;
	uint64_t bp;
	uint64_t bx;
	uint64_t r11;
	uint64_t r10;
	uint64_t r9;
	uint64_t r8;
	uint64_t ax;
	uint64_t cx;
	uint64_t dx;
	uint64_t si;
	uint64_t di;
	uint64_t orig_ax;
	uint64_t ip;
	uint64_t cs;
	uint64_t flags;
	uint64_t sp;
	uint64_t ss;
};

_Static_assert(offsetof(struct pt_regs, ax) == 80, "pt_regs.ax");
_Static_assert(offsetof(struct pt_regs, di) == 112, "pt_regs.di");
_Static_assert(offsetof(struct pt_regs, ip) == 128, "pt_regs.ip");
_Static_assert(offsetof(struct pt_regs, sp) == 152, "pt_regs.sp");
_Static_assert(sizeof(struct pt_regs) == 168, "pt_regs size");

/*
 * A handler runs on the probed thread with the thread's signal mask, on its
 * stack (at least 128 bytes below the red zone), with general purpose registers
 * and xmm0-15 saved. It must not call hook_uprobe_detach(). Handlers are not
 * re-entered on one thread: a probe hit while a handler runs on the same thread
 * (a handler calling a probed function, a signal handler hitting one) skips the
 * handlers and counts as missed, as the kernel's bpf_prog_active guard does.
 *
 * A handler may modify regs; on return the engine resumes with them:
 *  - any general purpose register and the arithmetic flags (CF PF AF ZF SF OF,
 *    DF) are reloaded as modified; other flag bits are kept;
 *  - changing ip resumes there instead of at the probed instruction; together
 *    with sp this gives bpf_override_return()-like behaviour (set ax, set ip to
 *    the return address read from *sp, add 8 to sp);
 *  - sp may only grow (release stack): a handler that lowers sp has the change
 *    ignored (logged once);
 *  - for a uretprobe, changing ip returns there instead of to the caller.
 */
typedef void (*hook_handler_fn)(struct pt_regs *regs, void *data);

enum hook_probe_kind {
	HOOK_UPROBE = 0,
	HOOK_URETPROBE = 1,
};

/*
 * Options, size-versioned after libbpf's opts (sz first; a shorter struct gets
 * defaults, a longer one must have zeroed extra bytes).
 */
struct hook_uprobe_opts {
	size_t sz;
	/*
	 * USDT semaphore: address of a 2-byte counter incremented on attach and
	 * decremented on detach (the kernel's ref_ctr_offset, resolved to an
	 * address; see hook_resolve_file_offset()). NULL: none.
	 */
	uint16_t *ref_ctr;
	/*
	 * HOOK_UPROBE_VEC_CLEAN: the handler leaves every vector register alone
	 * until it calls hook_xstate_save() (hooks/xstate.h), so the hit saves
	 * none (general-regs-only code, as the agent's BPF run path). Without
	 * it xmm0-15 are saved around the handler, which may use them freely.
	 */
	uint32_t flags;
};
#define HOOK_UPROBE_VEC_CLEAN 0x1u

struct hook_probe;

/**
 * hook_uprobe_attach() - call @fn(regs, @data) whenever @addr is executed
 * (HOOK_UPROBE) or whenever the function starting at @addr returns
 * (HOOK_URETPROBE; @addr must be where the return address is on top of the
 * stack, i.e. a function's first instruction, as for the kernel).
 *
 * Several probes may share one address; the first one patches it. On success
 * *out holds the probe; release it with hook_uprobe_detach().
 *
 * Return: 0, or
 *  -EINVAL     NULL fn/out/addr, bad kind, bad opts, or bytes that do not decode;
 *  -E2BIG      opts larger than known with non-zero extra bytes;
 *  -EOPNOTSUPP the instruction at @addr cannot be relocated (loop/jrcxz,
 *              int/iret/syscall-like, far transfers, ...); code too short for
 *              a 5-byte jmp (`xor %eax,%eax; ret`) is not refused: it gets an
 *              int3 (hooks/README-hooks.md);
 *  -EBUSY      @addr overlaps another patched site, holds a breakpoint, or a
 *              thread stayed parked inside the bytes to be replaced;
 *  -ERANGE     no trampoline within ±2 GiB could reach every target;
 *  -EACCES/-ENOMEM from mprotect()/mmap(), -EDEADLK when called from a handler.
 */
int hook_uprobe_attach(void *addr, enum hook_probe_kind kind, hook_handler_fn fn, void *data,
		       const struct hook_uprobe_opts *opts, struct hook_probe **out);

/**
 * hook_uprobe_detach() - remove a probe; accepts NULL. When it returns, no thread
 * runs or will run the probe's handler, so its data may be freed. The last probe
 * of a site restores the original bytes exactly. Blocks until handlers that are
 * running leave. Return: 0, or -EDEADLK when called from inside a handler.
 */
int hook_uprobe_detach(struct hook_probe *probe);

/** Hits of @probe's site skipped because a handler was already running on that thread. */
uint64_t hook_probe_missed(const struct hook_probe *probe);

/**
 * hook_resolve_file_offset() - where is file offset @off of @path mapped in this
 * process? The file is matched by device and inode (not by name) against
 * /proc/self/maps, so hard links, symlinks and relative paths all work, for the
 * main executable (PIE or not) and for shared libraries. This is how the kernel's
 * uprobe PMU names a probe site (config1 = path, config2 = offset).
 *
 * Return: 0 with *addr set, or -ENOENT (path missing, or the offset is not mapped
 * in this process), -EINVAL (NULL argument), other -errno from stat/open.
 */
int hook_resolve_file_offset(const char *path, uint64_t off, void **addr);

/**
 * hook_resolve_ref_ctr() - the address of a USDT semaphore named as the uprobe
 * PMU names it: file offset @off of @path (config[63:32]), in a writable,
 * private mapping of that file, as valid_ref_ctr_vma() in
 * kernel/events/uprobes.c requires (a read-only mapping holding the offset
 * does not count: the kernel leaves such a counter alone).
 *
 * Return: 0 with *ctr set, -ENOENT (no such mapping in this process),
 * -EINVAL (NULL argument or an odd offset), other -errno from stat.
 */
int hook_resolve_ref_ctr(const char *path, uint64_t off, uint16_t **ctr);

/**
 * hook_uprobe_attach_file() - hook_uprobe_attach() for a site named as the kernel's
 * uprobe PMU names it: @path, file offset @off, and the USDT semaphore at file
 * offset @ref_ctr_off of the same file (0: none).
 */
int hook_uprobe_attach_file(const char *path, uint64_t off, uint64_t ref_ctr_off,
			    enum hook_probe_kind kind, hook_handler_fn fn, void *data,
			    struct hook_probe **out);

#endif /* HOOKS_HOOKS_H */
