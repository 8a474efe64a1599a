/*
 * test_run.c - BPF_PROG_TEST_RUN (net/bpf/test_run.c, kernel/bpf/syscall.c
 * bpf_prog_test_run()).
 *
 * The program runs in the interpreter (jit/), in a CHILD of the supervisor:
 * nothing verified it for memory safety yet, so a wild access must not
 * take the supervisor down. Input and output travel through one shared
 * anonymous mapping placed below 4 GiB (MAP_32BIT), because XDP programs
 * read struct xdp_md's 32-bit data/data_end fields and use them as
 * pointers (the kernel rewrites those loads; we make the values true). A
 * run that crashes, or lasts more than EMU_TEST_RUN_SECS, is refused with
 * EINVAL and a log line; one that calls a helper the supervisor does not
 * provide fails with ENOTSUPP.
 *
 * Per program type, as the kernel:
 *   XDP      data_in required (>= ETH_HLEN), ctx_in optional (struct xdp_md,
 *            data 0, data_end = data_size_in, no ifindex), repeat (0 = 1),
 *            duration = mean ns per run, data_out with ENOSPC when short;
 *   SYSCALL  ctx_in only (<= U16_MAX bytes, copied back after the run);
 *            any data, ctx_out, repeat, duration or flags give EINVAL;
 *   RAW_TRACEPOINT ctx_in = up to 12 u64 arguments; no data, repeat or ctx_out;
 *   others   ENOTSUPP (524), as for types without a test_run operation;
 *            skb programs too (DIVERGES: the kernel has one; bpftime has no
 *            sk_buff model yet).
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "emul/helpers_sup.h"
#include "jit/jit.h"

#define ENOTSUPP_ 524 /* the kernel-internal errno test_run leaks to users */
#define EMU_TEST_RUN_SECS 5
#define ETH_HLEN_ 14
#define XDP_HEADROOM 256
#define XDP_MAX_LINEAR (4096 - XDP_HEADROOM - 320) /* page - headroom - skb_shared_info */

struct run_area {
	uint64_t retval;
	uint64_t duration_ns;
	int32_t err;
	int32_t missing_helper;
	struct xdp_md md;
	uint8_t pad[XDP_HEADROOM];
	uint8_t data[]; /* packet, or syscall ctx */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Run in a child; results land in @ra. Returns 0 or -EINVAL (crash/timeout). */
static int run_isolated(struct emu_session *s, const struct jit_prog *jp, struct run_area *ra, uint32_t type, uint32_t repeat,
			uint64_t pid_tgid)
{
	int status;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		uint64_t t0, r0 = 0;
		void *ctx = type == BPF_PROG_TYPE_XDP ? (void *)&ra->md : (void *)ra->data;

		alarm(EMU_TEST_RUN_SECS);
		emu_helpers_run_begin(pid_tgid, s);
		t0 = now_ns();
		for (uint32_t i = 0; i < repeat; i++) {
			r0 = jit_prog_run(jp, ctx);
			if (emu_helpers_run_missing())
				break;
		}
		ra->duration_ns = (now_ns() - t0) / repeat;
		ra->retval = r0;
		ra->missing_helper = emu_helpers_run_missing();
		_exit(0);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFSIGNALED(status)) {
		log_warn("PROG_TEST_RUN: program %s (signal %d); it was not verified for memory safety\n",
			 WTERMSIG(status) == SIGALRM ? "ran too long" : "crashed", WTERMSIG(status));
		return -EINVAL;
	}
	/* A sanitizer's fault handler ends the child with an exit code instead of the signal. */
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		log_warn("PROG_TEST_RUN: program crashed (exit %d); it was not verified for memory safety\n",
			 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
		return -EINVAL;
	}
	if (ra->missing_helper) {
		log_warn("PROG_TEST_RUN: the program called a helper bpftime does not provide in test runs\n");
		return -ENOTSUPP_;
	}
	return 0;
}

static int put_u32(const struct emu_target *t, uint64_t uattr, size_t off, uint32_t v)
{
	return t->ops->write(t, uattr + off, &v, sizeof(v)) ? -EFAULT : 0;
}

static int test_run_xdp(struct emu_session *s, const struct emu_target *t, struct emu_obj *p, const union bpf_attr *a, uint64_t uattr)
{
	uint32_t size = a->test.data_size_in, repeat = a->test.repeat ? a->test.repeat : 1, out_sz;
	size_t area_sz = sizeof(struct run_area) + XDP_MAX_LINEAR;
	struct run_area *ra;
	int err, ret = 0;

	if (p->slot->u.prog.expected_attach_type == BPF_XDP_DEVMAP ||
	    p->slot->u.prog.expected_attach_type == BPF_XDP_CPUMAP)
		return -EINVAL;
	if (a->test.flags & ~BPF_F_TEST_XDP_LIVE_FRAMES)
		return -EINVAL;
	if (a->test.flags & BPF_F_TEST_XDP_LIVE_FRAMES) {
		log_info("PROG_TEST_RUN: XDP live frames need a network device; bpftime has none\n");
		return -EINVAL;
	}
	if (a->test.cpu)
		return -EINVAL;
	if (size < ETH_HLEN_)
		return -EINVAL;
	if (size > XDP_MAX_LINEAR) {
		log_info("PROG_TEST_RUN: XDP data above %d bytes (fragments) is not supported by bpftime\n",
			 XDP_MAX_LINEAR);
		return -EINVAL;
	}
	ra = mmap(NULL, area_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
	if (ra == MAP_FAILED)
		return -ENOMEM;
	if (t->ops->read(t, a->test.data_in, ra->data, size)) {
		ret = -EFAULT;
		goto out;
	}
	if (a->test.ctx_in) {
		struct xdp_md in = { 0 };
		uint8_t tail[64] = { 0 };

		if (a->test.ctx_size_in > sizeof(in)) {
			/* bpf_ctx_init(): a larger ctx must be zero past the struct. */
			if (a->test.ctx_size_in > sizeof(in) + sizeof(tail) ||
			    t->ops->read(t, a->test.ctx_in + sizeof(in), tail, a->test.ctx_size_in - sizeof(in))) {
				ret = a->test.ctx_size_in > sizeof(in) + sizeof(tail) ? -E2BIG : -EFAULT;
				goto out;
			}
			for (size_t i = 0; i < a->test.ctx_size_in - sizeof(in); i++)
				if (tail[i]) {
					ret = -E2BIG;
					goto out;
				}
		}
		if (t->ops->read(t, a->test.ctx_in, &in, MIN((size_t)a->test.ctx_size_in, sizeof(in)))) {
			ret = -EFAULT;
			goto out;
		}
		/* xdp_convert_md_to_buff(): no metadata room, data_end == size, no device. */
		if (in.data_meta || in.data || in.data_end != size || in.ingress_ifindex || in.rx_queue_index ||
		    in.egress_ifindex) {
			ret = -EINVAL;
			goto out;
		}
	}
	ra->md.data = (uint32_t)(uintptr_t)ra->data;
	ra->md.data_end = (uint32_t)(uintptr_t)(ra->data + size);
	ra->md.data_meta = ra->md.data;
	err = run_isolated(s, ((struct emu_prog_priv *)p->priv)->jp, ra, BPF_PROG_TYPE_XDP, repeat, ((uint64_t)t->pid << 32) | (uint32_t)t->tid);
	if (err) {
		ret = err;
		goto out;
	}
	/* bpf_test_finish(): copy what fits, report the real size, ENOSPC if cut. */
	out_sz = ra->md.data_end - ra->md.data;
	if (out_sz > XDP_MAX_LINEAR)
		out_sz = 0;
	if (a->test.data_out) {
		uint32_t n = out_sz;

		if (a->test.data_size_out && n > a->test.data_size_out) {
			n = a->test.data_size_out;
			ret = -ENOSPC;
		}
		if (t->ops->write(t, a->test.data_out, (uint8_t *)(uintptr_t)ra->md.data, n)) {
			ret = -EFAULT;
			goto out;
		}
	}
	if (put_u32(t, uattr, offsetof(union bpf_attr, test.data_size_out), out_sz) ||
	    put_u32(t, uattr, offsetof(union bpf_attr, test.retval), (uint32_t)ra->retval) ||
	    put_u32(t, uattr, offsetof(union bpf_attr, test.duration), (uint32_t)ra->duration_ns)) {
		ret = -EFAULT;
		goto out;
	}
	if (a->test.ctx_out) {
		struct xdp_md out = { .data = 0, .data_end = out_sz };
		uint32_t n = MIN((uint32_t)sizeof(out), a->test.ctx_size_out);

		if (t->ops->write(t, a->test.ctx_out, &out, n) ||
		    put_u32(t, uattr, offsetof(union bpf_attr, test.ctx_size_out), sizeof(out))) {
			ret = -EFAULT;
			goto out;
		}
		if (a->test.ctx_size_out < sizeof(out))
			ret = -ENOSPC;
	}
out:
	munmap(ra, area_sz);
	return ret;
}

static int test_run_syscall(struct emu_session *s, const struct emu_target *t, struct emu_obj *p, const union bpf_attr *a, uint64_t uattr)
{
	uint32_t size = a->test.ctx_size_in;
	size_t area_sz = sizeof(struct run_area) + 65536;
	struct run_area *ra;
	int err, ret = 0;

	/* bpf_prog_test_run_syscall() */
	if (a->test.data_in || a->test.data_out || a->test.ctx_out || a->test.duration || a->test.repeat ||
	    a->test.flags)
		return -EINVAL;
	if (size > 65535)
		return -EINVAL;
	ra = mmap(NULL, area_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ra == MAP_FAILED)
		return -ENOMEM;
	if (size && t->ops->read(t, a->test.ctx_in, ra->data, size)) {
		ret = -EFAULT;
		goto out;
	}
	err = run_isolated(s, ((struct emu_prog_priv *)p->priv)->jp, ra, BPF_PROG_TYPE_SYSCALL, 1, ((uint64_t)t->pid << 32) | (uint32_t)t->tid);
	if (err) {
		ret = err;
		goto out;
	}
	if (size && t->ops->write(t, a->test.ctx_in, ra->data, size)) {
		ret = -EFAULT;
		goto out;
	}
	if (put_u32(t, uattr, offsetof(union bpf_attr, test.retval), (uint32_t)ra->retval))
		ret = -EFAULT;
out:
	munmap(ra, area_sz);
	return ret;
}

/* bpf_prog_test_run_raw_tp(): ctx_in is the array of u64 arguments, nothing else. */
static int test_run_raw_tp(struct emu_session *s, const struct emu_target *t, struct emu_obj *p, const union bpf_attr *a, uint64_t uattr)
{
	uint32_t size = a->test.ctx_size_in;
	size_t area_sz = sizeof(struct run_area) + 128;
	struct run_area *ra;
	int err, ret = 0;

	if (a->test.data_in || a->test.data_out || a->test.ctx_out || a->test.duration || a->test.repeat ||
	    a->test.batch_size)
		return -EINVAL;
	if (size > 12 * sizeof(uint64_t)) /* MAX_BPF_FUNC_ARGS */
		return -EINVAL;
	if (a->test.flags & ~BPF_F_TEST_RUN_ON_CPU)
		return -EINVAL;
	if (!(a->test.flags & BPF_F_TEST_RUN_ON_CPU) && a->test.cpu)
		return -EINVAL;
	ra = mmap(NULL, area_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (ra == MAP_FAILED)
		return -ENOMEM;
	if (size && t->ops->read(t, a->test.ctx_in, ra->data, size)) {
		ret = -EFAULT;
		goto out;
	}
	err = run_isolated(s, ((struct emu_prog_priv *)p->priv)->jp, ra, BPF_PROG_TYPE_RAW_TRACEPOINT, 1, ((uint64_t)t->pid << 32) | (uint32_t)t->tid);
	if (err) {
		ret = err;
		goto out;
	}
	if (put_u32(t, uattr, offsetof(union bpf_attr, test.retval), (uint32_t)ra->retval))
		ret = -EFAULT;
out:
	munmap(ra, area_sz);
	return ret;
}

int emu_prog_test_run(struct emu_session *s, const struct emu_target *t, union bpf_attr *a, uint64_t uattr,
		      struct emu_reply *r)
{
	struct emu_obj *p;
	int err;

	/* bpf_prog_test_run(): sizes and pointers come in pairs. */
	if ((a->test.ctx_size_in && !a->test.ctx_in) || (!a->test.ctx_size_in && a->test.ctx_in) ||
	    (a->test.ctx_size_out && !a->test.ctx_out) || (!a->test.ctx_size_out && a->test.ctx_out))
		return -EINVAL;
	err = emu_fd_lookup(s, t, (int)a->test.prog_fd, EMU_REG_PROG, &p);
	if (err)
		return err;
	err = emu_prog_ensure_loaded(s, p);
	if (err)
		return err == -ENOMEM ? err : -ENOTSUPP_;
	switch (p->slot->type) {
	case BPF_PROG_TYPE_XDP:
		return test_run_xdp(s, t, p, a, uattr);
	case BPF_PROG_TYPE_SYSCALL:
		return test_run_syscall(s, t, p, a, uattr);
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		return test_run_raw_tp(s, t, p, a, uattr);
	case BPF_PROG_TYPE_SOCKET_FILTER:
	case BPF_PROG_TYPE_SCHED_CLS:
	case BPF_PROG_TYPE_SCHED_ACT:
	case BPF_PROG_TYPE_CGROUP_SKB:
		log_info("PROG_TEST_RUN: socket-buffer programs are not supported by bpftime yet\n");
		return -ENOTSUPP_;
	default:
		return -ENOTSUPP_; /* no test_run operation for this type, as in the kernel */
	}
}
