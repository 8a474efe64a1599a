/*
 * helpers_proc.c - the BPF helpers that need a process: the table programs
 * get when the agent runs them inside a traced process.
 *
 * Semantics follow kernel/trace/bpf_trace.c and kernel/bpf/helpers.c (return
 * values and errnos as there); what "the current task" means is this thread
 * of this process. Memory reads and writes of arbitrary addresses are
 * fault-safe: they go through process_vm_readv/writev on ourselves, split at
 * page boundaries (the syscalls never split one iovec), so a bad address is
 * -EFAULT with the destination zeroed, never a crash.
 *
 * Helpers not in this table are unknown to the agent: a program using one is
 * refused at load in this process with jit's "unknown helper" message and
 * the probe does not fire (logged with BPFTIME_LOG=warn). Missing today:
 * other callback helpers than bpf_loop and bpf_for_each_map_elem, tail calls (no PROG_ARRAY in the supervisor yet), cgroup ids. The map
 * helpers, ring buffer output and get_stackid come from maps/
 * (map_helpers_fill()); get_stackid walks user stacks with our walker.
 *
 * DIVERGES: probe_read_kernel*() read this process' memory: there is no
 * kernel memory to read in user space, and the only "kernel" pointer a
 * program can hold here is get_current_task()'s stand-in.
 * DIVERGES: get_current_task() returns the address of a zero-filled
 * stand-in (AGENT_TASK_STANDIN_SZ bytes), so programs walking task_struct
 * read zeros instead of faulting.
 * DIVERGES: trace_printk() appends to <session dir>/trace_pipe (a regular
 * file; `tail -f` it), one line per call in the kernel's trace_pipe format.
 */
#define _GNU_SOURCE
#include "hooks/agent_int.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks.h"
#include "hooks/xstate.h"
#include "maps/helpers.h"
#include "maps/maps.h"
#include "maps/maps_ext.h"

#define AGENT_TASK_STANDIN_SZ 16384
#define PAGE_SZ 4096ul

typedef uint64_t u64;

static jit_helper_fn table[AGENT_HELPER_MAX];
static pid_t cached_pid;
static unsigned int fork_gen; /* bumped in fork children: invalidates cached tids */
static __thread pid_t cached_tid __attribute__((tls_model("initial-exec")));
static __thread unsigned int cached_tid_gen __attribute__((tls_model("initial-exec")));
static uint32_t real_uid, real_gid;
static uint64_t pidns_dev, pidns_ino;
static int trace_fd = -1;
static const uint8_t task_standin[AGENT_TASK_STANDIN_SZ] __attribute__((aligned(64)));

/* On the vector-clean run path (hooks/xstate.h): cached ids, one syscall at most. */
HOOK_VEC_CLEAN_BEGIN
pid_t agent_pid(void)
{
	pid_t p = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);

	if (!p) {
		p = getpid();
		__atomic_store_n(&cached_pid, p, __ATOMIC_RELAXED);
	}
	return p;
}

pid_t agent_tid(void)
{
	unsigned int g = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);

	if (!cached_tid || cached_tid_gen != g) {
		cached_tid = (pid_t)syscall(SYS_gettid);
		cached_tid_gen = g;
	}
	return cached_tid;
}
HOOK_VEC_CLEAN_END

void agent_ids_after_fork(void)
{
	__atomic_store_n(&cached_pid, 0, __ATOMIC_RELAXED);
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

/* The id outside the user namespace bpftime-run may have put us in (/proc/self/{uid,gid}_map). */
static uint32_t id_outside(const char *map, uint32_t inside)
{
	unsigned long in, out, cnt;
	uint32_t r = inside;
	FILE *f = fopen(map, "re");

	if (!f)
		return inside;
	while (fscanf(f, "%lu %lu %lu", &in, &out, &cnt) == 3)
		if (inside >= in && inside - in < cnt) {
			r = (uint32_t)(out + (inside - in));
			break;
		}
	fclose(f);
	return r;
}

void agent_ids_init(void)
{
	struct stat st;

	real_uid = id_outside("/proc/self/uid_map", (uint32_t)getuid());
	real_gid = id_outside("/proc/self/gid_map", (uint32_t)getgid());
	if (stat("/proc/self/ns/pid", &st) == 0) {
		pidns_dev = st.st_dev;
		pidns_ino = st.st_ino;
	}
}

/* ---- fault-safe memory access ---- */

static int mem_xfer(void *local, uint64_t remote, size_t len, bool write)
{
	while (len) {
		size_t chunk = PAGE_SZ - (remote & (PAGE_SZ - 1));
		struct iovec l, r;
		ssize_t n;

		if (chunk > len)
			chunk = len;
		l.iov_base = local;
		l.iov_len = chunk;
		r.iov_base = (void *)(uintptr_t)remote;
		r.iov_len = chunk;
		n = write ? process_vm_writev(agent_pid(), &l, 1, &r, 1, 0) :
			    process_vm_readv(agent_pid(), &l, 1, &r, 1, 0);
		if (n != (ssize_t)chunk)
			return -EFAULT;
		local = (char *)local + chunk;
		remote += chunk;
		len -= chunk;
	}
	return 0;
}

/* bpf_probe_read*(dst, size, unsafe_ptr): 0 or -EFAULT with dst zeroed (bpf_probe_read_user_common()). */
static u64 h_probe_read(u64 dst, u64 size, u64 src, u64 r4, u64 r5)
{
	const struct agent_run_ctx *rc = agent_run_ctx();

	(void)r4;
	(void)r5;
	if (!size)
		return 0;
	/* Memory the run's own context owns (a raw tracepoint's pt_regs copy, hooks/raw_tp.c)
	 * cannot fault: copy it without the process_vm_readv() round trip. */
	if (rc->safe_sz && src >= (uintptr_t)rc->safe && size <= rc->safe_sz &&
	    src - (uintptr_t)rc->safe <= rc->safe_sz - size) {
		memcpy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, size);
		return 0;
	}
	if (mem_xfer((void *)(uintptr_t)dst, src, size, false)) {
		memset((void *)(uintptr_t)dst, 0, size);
		return (u64)-EFAULT;
	}
	return 0;
}

/*
 * bpf_probe_read*_str(dst, size, unsafe_ptr): the string with its NUL,
 * truncated to size - 1 bytes + NUL; returns the bytes copied including the
 * NUL, or -EFAULT with dst zeroed (strncpy_from_user_nofault()).
 */
static u64 h_probe_read_str(u64 dst, u64 size, u64 src, u64 r4, u64 r5)
{
	char *d = (char *)(uintptr_t)dst;
	size_t done = 0;

	(void)r4;
	(void)r5;
	if (!size)
		return 0;
	while (done < size) {
		size_t chunk = PAGE_SZ - ((src + done) & (PAGE_SZ - 1));
		char *nul;

		if (chunk > size - done)
			chunk = size - done;
		if (mem_xfer(d + done, src + done, chunk, false)) {
			memset(d, 0, size);
			return (u64)-EFAULT;
		}
		nul = memchr(d + done, 0, chunk);
		if (nul)
			return (u64)(nul - d + 1);
		done += chunk;
	}
	d[size - 1] = 0;
	return size;
}

/* bpf_probe_write_user(dst, src, len): 0 or -EFAULT. */
static u64 h_probe_write_user(u64 dst, u64 src, u64 len, u64 r4, u64 r5)
{
	(void)r4;
	(void)r5;
	return mem_xfer((void *)(uintptr_t)src, dst, len, true) ? (u64)-EFAULT : 0;
}

/* ---- identity and time ---- */

HOOK_VEC_CLEAN_BEGIN
static u64 h_get_current_pid_tgid(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return ((u64)(uint32_t)agent_pid() << 32) | (uint32_t)agent_tid();
}
HOOK_VEC_CLEAN_END

static u64 h_get_current_uid_gid(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return ((u64)real_gid << 32) | real_uid;
}

/* bpf_get_current_comm(buf, size): strscpy_pad() of the thread's comm; 0. */
static u64 h_get_current_comm(u64 buf, u64 size, u64 c, u64 d, u64 e)
{
	char comm[17] = "";

	if (!size)
		return (u64)-EINVAL;
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	memset((void *)(uintptr_t)buf, 0, size);
	strncpy((char *)(uintptr_t)buf, comm, size - 1);
	return 0;
}

/* Helpers the run path calls without a save (helper_vector_free() below). The
 * clocks and bpf_get_prandom_u32() are shared with PROG_TEST_RUN: maps/helpers_common.c. */
HOOK_VEC_CLEAN_BEGIN
static u64 h_get_smp_processor_id(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return agent_run_ctx()->cpu;
}

static u64 h_get_numa_node_id(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return 0;
}

HOOK_VEC_CLEAN_END

HOOK_VEC_CLEAN_BEGIN
static u64 h_get_func_ip(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return agent_run_ctx()->func_ip;
}

static u64 h_get_attach_cookie(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return agent_run_ctx()->cookie;
}

static u64 h_get_current_task(u64 a, u64 b, u64 c, u64 d, u64 e)
{
	return (u64)(uintptr_t)task_standin;
}
HOOK_VEC_CLEAN_END

/* bpf_get_ns_current_pid_tgid(dev, ino, nsdata, size) (kernel/bpf/helpers.c). */
static u64 h_get_ns_current_pid_tgid(u64 dev, u64 ino, u64 nsdata, u64 size, u64 e)
{
	struct bpf_pidns_info *ns = (void *)(uintptr_t)nsdata;

	if (size != sizeof(*ns)) {
		memset(ns, 0, size);
		return (u64)-EINVAL;
	}
	/* new_encode_dev(): the kernel compares against the device number as userspace sees it. */
	if (dev != pidns_dev || ino != pidns_ino) {
		memset(ns, 0, size);
		return (u64)-ENOENT;
	}
	ns->pid = (uint32_t)agent_tid();
	ns->tgid = (uint32_t)agent_pid();
	return 0;
}

/* ---- signals ---- */

static u64 h_send_signal(u64 sig, u64 b, u64 c, u64 d, u64 e)
{
	if (!sig || sig > 64)
		return (u64)-EINVAL;
	return kill(agent_pid(), (int)sig) ? (u64)-errno : 0;
}

static u64 h_send_signal_thread(u64 sig, u64 b, u64 c, u64 d, u64 e)
{
	if (!sig || sig > 64)
		return (u64)-EINVAL;
	return syscall(SYS_tgkill, agent_pid(), agent_tid(), (int)sig) ? (u64)-errno : 0;
}

/* ---- strings and formatting ---- */

/* bpf_strncmp(s1, s1_sz, s2) (kernel/bpf/helpers.c): strncmp(s1, s2, s1_sz). */
static u64 h_strncmp(u64 s1, u64 s1_sz, u64 s2, u64 d, u64 e)
{
	int r = strncmp((const char *)(uintptr_t)s1, (const char *)(uintptr_t)s2, s1_sz);

	return (u64)(int64_t)(r < 0 ? -1 : r > 0);
}

/*
 * The kernel's bpf_bprintf_prepare() subset: %d %i %u %x %X %o %c %s %p %%
 * with flags, width, precision and the h/l/ll modifiers; %s strings are read
 * fault-safely ("(efault)" rather than a crash, as bstr_printf does not, but
 * bpf_trace_printk's checks make it print nothing there either).
 * Returns the length of the output (without NUL) or -EINVAL for a format the
 * kernel refuses.
 */
/* The format is built here from a checked subset (see fmt_bpf()): a literal cannot express it. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static int fmt_bpf(char *out, size_t out_sz, const char *fmt, uint32_t fmt_sz, const u64 *args, uint32_t arg_cnt)
{
	size_t len = 0;
	uint32_t ai = 0;

	if (!fmt_sz || memchr(fmt, 0, fmt_sz) == NULL)
		return -EINVAL;
	for (const char *p = fmt; *p;) {
		char spec[32], piece[512];
		size_t sl = 0;
		int lmod = 0, n;

		if (*p != '%') {
			if (len + 1 < out_sz)
				out[len] = *p;
			len++;
			p++;
			continue;
		}
		if (p[1] == '%') {
			if (len + 1 < out_sz)
				out[len] = '%';
			len++;
			p += 2;
			continue;
		}
		spec[sl++] = *p++;
		while (*p && strchr("-+ #0", *p) && sl < 8)
			spec[sl++] = *p++;
		while (*p >= '0' && *p <= '9' && sl < 16)
			spec[sl++] = *p++;
		if (*p == '.') {
			spec[sl++] = *p++;
			while (*p >= '0' && *p <= '9' && sl < 24)
				spec[sl++] = *p++;
		}
		while ((*p == 'l' || *p == 'h') && lmod < 2) {
			if (*p == 'l')
				lmod++;
			p++;
		}
		if (!*p || !strchr("diuxXocsp", *p))
			return -EINVAL;
		if (ai >= arg_cnt)
			return -EINVAL;
		{
			char conv = *p++;
			u64 v = args[ai++];

			if (conv == 's') {
				char s[256];

				spec[sl++] = 's';
				spec[sl] = 0;
				if ((int64_t)h_probe_read_str((u64)(uintptr_t)s, sizeof(s), v, 0, 0) < 0)
					strcpy(s, "(efault)");
				n = snprintf(piece, sizeof(piece), spec, s);
			} else if (conv == 'p') {
				/* %p, %pK, %px: the pointer's hex value (kernel hashes plain %p; we have nothing to hide). */
				while (*p == 'K' || *p == 'x')
					p++;
				n = snprintf(piece, sizeof(piece), "0x%llx", (unsigned long long)v);
			} else if (conv == 'c') {
				spec[sl++] = 'c';
				spec[sl] = 0;
				n = snprintf(piece, sizeof(piece), spec, (int)(char)v);
			} else {
				spec[sl++] = 'l';
				spec[sl++] = 'l';
				spec[sl++] = conv;
				spec[sl] = 0;
				if (conv == 'd' || conv == 'i')
					n = snprintf(piece, sizeof(piece), spec,
						     lmod ? (long long)v : (long long)(int32_t)v);
				else
					n = snprintf(piece, sizeof(piece), spec,
						     lmod ? (unsigned long long)v : (unsigned long long)(uint32_t)v);
			}
		}
		if (n < 0)
			return -EINVAL;
		if ((size_t)n >= sizeof(piece))
			n = sizeof(piece) - 1;
		for (int i = 0; i < n; i++, len++)
			if (len + 1 < out_sz)
				out[len] = piece[i];
	}
	if (out_sz)
		out[len < out_sz ? len : out_sz - 1] = 0;
	return (int)len;
}

#pragma GCC diagnostic pop

void agent_trace_write(const char *text, size_t len)
{
	int fd = __atomic_load_n(&trace_fd, __ATOMIC_ACQUIRE);

	if (fd < 0) {
		char path[4096];

		snprintf(path, sizeof(path), "%s/trace_pipe", agent_sess.dir);
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return;
		int expected = -1;
		if (!__atomic_compare_exchange_n(&trace_fd, &expected, fd, false, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			close(fd);
			fd = expected;
		}
	}
	if (write(fd, text, len) < 0)
		return;
}

/* bpf_trace_printk(fmt, fmt_size, a1, a2, a3): bytes written to the trace buffer. */
static u64 h_trace_printk(u64 fmt, u64 fmt_sz, u64 a1, u64 a2, u64 a3)
{
	u64 args[3] = { a1, a2, a3 };
	char msg[512], line[700], comm[17] = "";
	u64 ts = map_helper_ktime_get_ns(0, 0, 0, 0, 0);
	int n, m;

	n = fmt_bpf(msg, sizeof(msg), (const char *)(uintptr_t)fmt, (uint32_t)fmt_sz, args, 3);
	if (n < 0)
		return (u64)(int64_t)n;
	prctl(PR_GET_NAME, comm, 0, 0, 0);
	/* kernel/trace/trace_output.c: "<comm>-<pid> [cpu] flags timestamp: bpf_trace_printk: msg". */
	m = snprintf(line, sizeof(line), "%16s-%-7d [%03u] ..... %6llu.%06llu: bpf_trace_printk: %s%s", comm,
		     (int)agent_tid(), agent_run_ctx()->cpu, (unsigned long long)(ts / 1000000000ull),
		     (unsigned long long)(ts % 1000000000ull / 1000), msg,
		     n > 0 && msg[(n < (int)sizeof(msg) ? n : (int)sizeof(msg) - 1) - 1] == '\n' ? "" : "\n");
	if (m > 0)
		agent_trace_write(line, (size_t)m < sizeof(line) ? (size_t)m : sizeof(line) - 1);
	return (u64)n;
}

/* bpf_snprintf(str, str_size, fmt, data, data_len): length including the NUL. */
static u64 h_snprintf(u64 str, u64 str_sz, u64 fmt, u64 data, u64 data_len)
{
	int n;

	if (data_len % 8 || data_len / 8 > 12)
		return (u64)-EINVAL;
	n = fmt_bpf((char *)(uintptr_t)str, str_sz, (const char *)(uintptr_t)fmt, 4096,
		    (const u64 *)(uintptr_t)data, (uint32_t)(data_len / 8));
	if (n < 0)
		return (u64)(int64_t)n;
	return (u64)n + 1;
}

/* ---- stacks ---- */

/*
 * bpf_get_stack(ctx, buf, size, flags) for user stacks: walk the frame
 * pointer chain from the probed frame (regs->ip, regs->bp), reading each
 * frame fault-safely. Programs built with frame pointers give full stacks;
 * others stop where the chain breaks, as perf's user unwinder without
 * DWARF does.
 */
/*
 * perf_callchain_user() (arch/x86/events/core.c): the probed ip, then the
 * frame-pointer chain from regs->bp. At a function's entry the callee has
 * not pushed its frame yet, so its caller's address is at *sp: the kernel
 * stores it too (the uprobe entry fixup), and so do we.
 */
static uint32_t stack_walk(const struct pt_regs *regs, uint32_t skip, u64 *out, uint32_t max)
{
	uint32_t n = 0, depth = 0;
	u64 bp = regs->bp, ret;

#define PUSH(v)                                  	do {                                     		if (depth++ >= skip && n < max)  			out[n++] = (v);          	} while (0)
	PUSH(regs->ip);
	if (regs->ip == agent_run_ctx()->func_ip && !mem_xfer(&ret, regs->sp, sizeof(ret), false) && ret)
		PUSH(ret);
	while (n < max && depth < 127) {
		u64 frame[2];

		if (!bp || bp & 7 || mem_xfer(frame, bp, sizeof(frame), false) || !frame[1])
			break;
		PUSH(frame[1]);
		if (frame[0] <= bp)
			break;
		bp = frame[0];
	}
#undef PUSH
	return n;
}

/* bpf_get_stackid()'s walker (maps/ STACK_TRACE maps): user stacks only, as h_get_stack(). */
static int stack_collect(void *ctx, int user, uint64_t *ips, uint32_t max_depth, void *cookie)
{
	const struct pt_regs *regs = agent_run_ctx()->regs;

	(void)ctx;
	(void)cookie;
	if (!user || !regs)
		return 0; /* no kernel stack in user space; tracepoint runs carry no user frame yet */
	return (int)stack_walk(regs, 0, ips, max_depth);
}

static u64 h_get_stack(u64 ctx, u64 buf, u64 size, u64 flags, u64 e)
{
	const struct pt_regs *regs = agent_run_ctx()->regs;
	uint32_t skip = (uint32_t)(flags & BPF_F_SKIP_FIELD_MASK);
	u64 *out = (u64 *)(uintptr_t)buf;
	uint32_t max = (uint32_t)(size / 8), n;

	(void)ctx;
	if (flags & ~(BPF_F_SKIP_FIELD_MASK | BPF_F_USER_STACK | BPF_F_USER_BUILD_ID) || size % 8 ||
	    (flags & BPF_F_USER_BUILD_ID))
		goto clear_inval;
	if (!(flags & BPF_F_USER_STACK) || !regs) {
		/* No kernel stack in user space; tracepoint runs carry no user frame yet. */
		memset(out, 0, size);
		return (u64)-EFAULT;
	}
	n = stack_walk(regs, skip, out, max);
	if (n * 8 < size)
		memset(out + n, 0, size - n * 8);
	return (u64)n * 8;
clear_inval:
	memset(out, 0, size);
	return (u64)-EINVAL;
}

/* ---- output ---- */

/*
 * bpf_perf_event_output(ctx, map, flags, data, size) (kernel/trace/bpf_trace.c):
 * the PERF_EVENT_ARRAY, which the supervisor keeps as an ARRAY of u32 perf
 * event ids (emul/map_cmds.c), names the event of the index in flags or of
 * the current CPU slot.
 */
static u64 h_perf_event_output(u64 ctx, u64 map, u64 flags, u64 data, u64 size)
{
	struct map *m = (struct map *)(uintptr_t)map;
	u64 idx = flags & BPF_F_INDEX_MASK;
	uint32_t key, *id;

	(void)ctx;
	if (flags & ~(u64)BPF_F_INDEX_MASK)
		return (u64)-EINVAL;
	if (idx == BPF_F_CURRENT_CPU)
		idx = agent_run_ctx()->cpu;
	if (map_type(m) != BPF_MAP_TYPE_ARRAY || map_value_size(m) != 4)
		return (u64)-EINVAL;
	if (idx >= map_max_entries(m))
		return (u64)-E2BIG;
	key = (uint32_t)idx;
	id = map_lookup_elem(m, &key);
	if (!id || !*id)
		return (u64)-ENOENT;
	return (u64)(int64_t)agent_perf_output(*id, (const void *)(uintptr_t)data, (uint32_t)size);
}

/*
 * Vector state (hooks/xstate.h). Programs run on a hit path where no vector
 * register has been saved; helpers reach libc's string and stdio functions,
 * which use SSE/AVX2/AVX-512 registers. So the table the loader sees holds,
 * for every helper, a wrapper that saves the vector state first (once per
 * hit) and then calls the helper. Left unwrapped are the helpers below,
 * which touch no vector register: they are built general-regs-only and
 * read a thread-local or the run context, or call clock_gettime() (checked
 * vector-free, hooks/xstate.c; the clocks are maps/helpers_common.c's).
 */
static jit_helper_fn wrapped[AGENT_HELPER_MAX];

HOOK_VEC_CLEAN_BEGIN
#define XW(n)                                                                                      \
	static u64 xw_##n(u64 a, u64 b, u64 c, u64 d, u64 e)                                       \
	{                                                                                          \
		hook_xstate_save();                                                                \
		return table[n](a, b, c, d, e);                                                    \
	}
#define XW10(p) XW(p##0) XW(p##1) XW(p##2) XW(p##3) XW(p##4) XW(p##5) XW(p##6) XW(p##7) XW(p##8) XW(p##9)
XW(0) XW(1) XW(2) XW(3) XW(4) XW(5) XW(6) XW(7) XW(8) XW(9)
XW10(1) XW10(2) XW10(3) XW10(4) XW10(5) XW10(6) XW10(7) XW10(8) XW10(9)
XW10(10) XW10(11) XW10(12) XW10(13) XW10(14) XW10(15) XW10(16) XW10(17) XW10(18) XW10(19)
XW10(20)
XW(210) XW(211)
#undef XW10
#undef XW
HOOK_VEC_CLEAN_END

#define XWP(n) xw_##n,
#define XWP10(p) XWP(p##0) XWP(p##1) XWP(p##2) XWP(p##3) XWP(p##4) XWP(p##5) XWP(p##6) XWP(p##7) \
	XWP(p##8) XWP(p##9)
static const jit_helper_fn wrappers[AGENT_HELPER_MAX] = {
	XWP(0) XWP(1) XWP(2) XWP(3) XWP(4) XWP(5) XWP(6) XWP(7) XWP(8) XWP(9)
	XWP10(1) XWP10(2) XWP10(3) XWP10(4) XWP10(5) XWP10(6) XWP10(7) XWP10(8) XWP10(9)
	XWP10(10) XWP10(11) XWP10(12) XWP10(13) XWP10(14) XWP10(15) XWP10(16) XWP10(17) XWP10(18) XWP10(19)
	XWP10(20)
	XWP(210) XWP(211)
};
#undef XWP10
#undef XWP
_Static_assert(AGENT_HELPER_MAX == 212, "one wrapper per helper id");

static bool helper_vector_free(uint32_t id)
{
	switch (id) {
	case BPF_FUNC_get_current_pid_tgid:
	case BPF_FUNC_ktime_get_ns:
	case BPF_FUNC_ktime_get_boot_ns:
	case BPF_FUNC_ktime_get_coarse_ns:
	case BPF_FUNC_ktime_get_tai_ns:
	case BPF_FUNC_get_smp_processor_id:
	case BPF_FUNC_get_numa_node_id:
	case BPF_FUNC_get_func_ip:
	case BPF_FUNC_get_attach_cookie:
	case BPF_FUNC_get_current_task:
	case BPF_FUNC_get_current_task_btf:
		return true;
	default:
		return false;
	}
}

const jit_helper_fn *agent_helpers(void)
{
	if (!table[BPF_FUNC_probe_read]) {
		map_helpers_fill(table, AGENT_HELPER_MAX);
		table[BPF_FUNC_probe_read] = h_probe_read;
		table[BPF_FUNC_probe_read_user] = h_probe_read;
		table[BPF_FUNC_probe_read_kernel] = h_probe_read;
		table[BPF_FUNC_probe_read_str] = h_probe_read_str;
		table[BPF_FUNC_probe_read_user_str] = h_probe_read_str;
		table[BPF_FUNC_probe_read_kernel_str] = h_probe_read_str;
		table[BPF_FUNC_probe_write_user] = h_probe_write_user;
		table[BPF_FUNC_get_current_pid_tgid] = h_get_current_pid_tgid;
		table[BPF_FUNC_get_current_uid_gid] = h_get_current_uid_gid;
		table[BPF_FUNC_get_current_comm] = h_get_current_comm;
		table[BPF_FUNC_ktime_get_ns] = map_helper_ktime_get_ns;
		table[BPF_FUNC_ktime_get_boot_ns] = map_helper_ktime_get_boot_ns;
		table[BPF_FUNC_ktime_get_coarse_ns] = map_helper_ktime_get_coarse_ns;
		table[BPF_FUNC_ktime_get_tai_ns] = map_helper_ktime_get_tai_ns;
		table[BPF_FUNC_get_smp_processor_id] = h_get_smp_processor_id;
		table[BPF_FUNC_get_numa_node_id] = h_get_numa_node_id;
		table[BPF_FUNC_get_prandom_u32] = map_helper_get_prandom_u32;
		table[BPF_FUNC_trace_printk] = h_trace_printk;
		table[BPF_FUNC_snprintf] = h_snprintf;
		table[BPF_FUNC_get_func_ip] = h_get_func_ip;
		table[BPF_FUNC_get_attach_cookie] = h_get_attach_cookie;
		table[BPF_FUNC_get_stack] = h_get_stack;
		table[BPF_FUNC_send_signal] = h_send_signal;
		table[BPF_FUNC_send_signal_thread] = h_send_signal_thread;
		table[BPF_FUNC_strncmp] = h_strncmp;
		table[BPF_FUNC_get_ns_current_pid_tgid] = h_get_ns_current_pid_tgid;
		table[BPF_FUNC_get_current_task] = h_get_current_task;
		table[BPF_FUNC_get_current_task_btf] = h_get_current_task;
		/* bpftime-run's PERF_EVENT_ARRAY holds its perf event ids: ours, not maps/' perf rings. */
		table[BPF_FUNC_perf_event_output] = h_perf_event_output;
		/* bpf_loop, bpf_for_each_map_elem: callbacks run by jit/. */
		map_helpers_cb_fill(table, AGENT_HELPER_MAX);
		map_stack_set_collector(stack_collect, NULL);
		for (uint32_t i = 0; i < AGENT_HELPER_MAX; i++)
			wrapped[i] = !table[i] ? NULL : helper_vector_free(i) ? table[i] : wrappers[i];
	}
	return wrapped;
}
