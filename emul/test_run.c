/*
 * test_run.c - BPF_PROG_TEST_RUN (net/bpf/test_run.c, kernel/bpf/syscall.c
 * bpf_prog_test_run()).
 *
 * The program runs in the interpreter (jit/), in a CHILD of the supervisor:
 * nothing verified it for memory safety yet, so a wild access must not
 * take the supervisor down. The call is answered when the child is done
 * (emu_reply.pending: the supervisor waits for the child's pidfd in its
 * event loop and calls emu_pending_finish()), so a long run never holds up
 * the other targets. Input and output travel through one shared
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
 *   SOCKET_FILTER, SCHED_CLS/ACT, CGROUP_SKB: test_run_skb.c;
 *   others   ENOTSUPP (524), as for types without a test_run operation.
 */
#define _GNU_SOURCE
#include "emul/emul_int.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "emul/helpers_sup.h"
#include "emul/skb.h"
#include "emul/test_run_int.h"
#include "jit/jit.h"

#define ENOTSUPP_ 524 /* the kernel-internal errno test_run leaks to users */
#define EMU_TEST_RUN_SECS 60 /* DIVERGES: the kernel has no time limit; we stop a runaway child */
#define ETH_HLEN_ 14
#define XDP_MAX_LINEAR (4096 - XDP_HEADROOM - 320) /* page - headroom - skb_shared_info */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void emu_pending_free(struct emu_pending *p)
{
	if (!p)
		return;
	if (p->pidfd >= 0)
		close(p->pidfd);
	if (p->child > 0)
		waitpid(p->child, NULL, WNOHANG); /* reap it unless the subreaper loop did */
	if (p->ra)
		munmap(p->ra, p->area_sz);
	free(p);
}

int emu_test_run_pending_new(uint32_t type, size_t data_cap, bool low4g, const union bpf_attr *a, uint64_t uattr,
			     struct emu_pending **out)
{
	struct emu_pending *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->pidfd = -1;
	p->type = type;
	p->a = *a;
	p->uattr = uattr;
	p->area_sz = sizeof(struct run_area) + data_cap;
	/* XDP programs turn struct xdp_md's 32-bit fields into pointers: keep the packet below 4 GiB. */
	p->ra = mmap(NULL, p->area_sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | (low4g ? MAP_32BIT : 0),
		     -1, 0);
	if (p->ra == MAP_FAILED) {
		p->ra = NULL;
		emu_pending_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

/* Fork the run; on success the reply is pending on the child's pidfd. */
int emu_test_run_start(struct emu_session *s, const struct jit_prog *jp, struct emu_pending *p, uint32_t repeat,
		       uint64_t pid_tgid, struct emu_reply *r)
{
	struct run_area *ra = p->ra;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		uint64_t t0, r0 = 0;
		void *ctx = p->type == BPF_PROG_TYPE_XDP ? (void *)&ra->md : (void *)ra->data;

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
		/* Pairs with the acquire load in emu_pending_finish(). */
		__atomic_store_n(&ra->done, 1, __ATOMIC_RELEASE);
		_exit(0);
	}
	p->child = pid;
	p->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (p->pidfd < 0) {
		int err = -errno;

		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return err;
	}
	r->pending = p;
	r->pending_fd = p->pidfd;
	return 0;
}

int emu_test_run_put_u32(const struct emu_target *t, uint64_t uattr, size_t off, uint32_t v)
{
	return t->ops->write(t, uattr + off, &v, sizeof(v)) ? -EFAULT : 0;
}

/* bpf_test_finish() for XDP: copy what fits, report the real size, ENOSPC if cut. */
static int finish_xdp(const struct emu_target *t, struct emu_pending *p)
{
	const union bpf_attr *a = &p->a;
	struct run_area *ra = p->ra;
	uint32_t out_sz;
	int ret = 0;

	out_sz = ra->md.data_end - ra->md.data;
	if (out_sz > XDP_MAX_LINEAR)
		out_sz = 0;
	if (a->test.data_out) {
		uint32_t n = out_sz;

		if (a->test.data_size_out && n > a->test.data_size_out) {
			n = a->test.data_size_out;
			ret = -ENOSPC;
		}
		if (t->ops->write(t, a->test.data_out, (uint8_t *)(uintptr_t)ra->md.data, n))
			return -EFAULT;
	}
	if (emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.data_size_out), out_sz) ||
	    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.retval), (uint32_t)ra->retval) ||
	    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.duration), (uint32_t)ra->duration_ns))
		return -EFAULT;
	if (a->test.ctx_out) {
		struct xdp_md out = { .data = 0, .data_end = out_sz };
		uint32_t n = MIN((uint32_t)sizeof(out), a->test.ctx_size_out);

		if (t->ops->write(t, a->test.ctx_out, &out, n) ||
		    emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.ctx_size_out), sizeof(out)))
			return -EFAULT;
		if (a->test.ctx_size_out < sizeof(out))
			ret = -ENOSPC;
	}
	return ret;
}

/* SYSCALL programs: the ctx goes back to ctx_in; RAW_TRACEPOINT: only retval. */
static int finish_ctx(const struct emu_target *t, struct emu_pending *p)
{
	if (p->type == BPF_PROG_TYPE_SYSCALL && p->size && t->ops->write(t, p->a.test.ctx_in, p->ra->data, p->size))
		return -EFAULT;
	return emu_test_run_put_u32(t, p->uattr, offsetof(union bpf_attr, test.retval), (uint32_t)p->ra->retval);
}

int emu_pending_finish(const struct emu_target *t, struct emu_pending *p, struct emu_reply *r)
{
	int err;

	r->val = 0;
	r->install_fd = -1;
	r->cont = false;
	r->pending = NULL;
	r->pending_fd = -1;
	if (!__atomic_load_n(&p->ra->done, __ATOMIC_ACQUIRE)) {
		log_warn("PROG_TEST_RUN: program crashed or ran longer than %d s; it was not verified for memory safety\n",
			 EMU_TEST_RUN_SECS);
		err = -EINVAL;
	} else if (p->ra->missing_helper) {
		log_warn("PROG_TEST_RUN: the program called a helper bpftime does not provide in test runs\n");
		err = -ENOTSUPP_;
	} else {
		/* seccomp_unotify(2): the target may be gone; check before writing its memory. */
		err = t->ops->valid(t);
		if (err) {
			emu_pending_free(p);
			return -ENOENT;
		}
		if (p->type == BPF_PROG_TYPE_XDP)
			err = finish_xdp(t, p);
		else if (emu_skb_prog_type(p->type))
			err = emu_test_run_skb_finish(t, p);
		else
			err = finish_ctx(t, p);
	}
	r->val = err;
	emu_pending_free(p);
	return 0;
}

static int test_run_xdp(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, const union bpf_attr *a,
			uint64_t uattr, struct emu_reply *r)
{
	uint32_t size = a->test.data_size_in, repeat = a->test.repeat ? a->test.repeat : 1;
	struct emu_pending *p;
	struct run_area *ra;
	int err;

	if (o->slot->u.prog.expected_attach_type == BPF_XDP_DEVMAP ||
	    o->slot->u.prog.expected_attach_type == BPF_XDP_CPUMAP)
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
	err = emu_test_run_pending_new(BPF_PROG_TYPE_XDP, XDP_MAX_LINEAR, true, a, uattr, &p);
	if (err)
		return err;
	ra = p->ra;
	p->size = size;
	if (t->ops->read(t, a->test.data_in, ra->data, size)) {
		err = -EFAULT;
		goto err_free;
	}
	if (a->test.ctx_in) {
		struct xdp_md in = { 0 };
		uint8_t tail[64] = { 0 };

		if (a->test.ctx_size_in > sizeof(in)) {
			/* bpf_ctx_init(): a larger ctx must be zero past the struct. */
			if (a->test.ctx_size_in > sizeof(in) + sizeof(tail)) {
				err = -E2BIG;
				goto err_free;
			}
			if (t->ops->read(t, a->test.ctx_in + sizeof(in), tail, a->test.ctx_size_in - sizeof(in))) {
				err = -EFAULT;
				goto err_free;
			}
			for (size_t i = 0; i < a->test.ctx_size_in - sizeof(in); i++)
				if (tail[i]) {
					err = -E2BIG;
					goto err_free;
				}
		}
		if (t->ops->read(t, a->test.ctx_in, &in, MIN((size_t)a->test.ctx_size_in, sizeof(in)))) {
			err = -EFAULT;
			goto err_free;
		}
		/* xdp_convert_md_to_buff(): no metadata room, data_end == size, no device. */
		if (in.data_meta || in.data || in.data_end != size || in.ingress_ifindex || in.rx_queue_index ||
		    in.egress_ifindex) {
			err = -EINVAL;
			goto err_free;
		}
	}
	ra->md.data = (uint32_t)(uintptr_t)ra->data;
	ra->md.data_end = (uint32_t)(uintptr_t)(ra->data + size);
	ra->md.data_meta = ra->md.data;
	err = emu_test_run_start(s, ((struct emu_prog_priv *)o->priv)->jp, p, repeat, ((uint64_t)t->pid << 32) | (uint32_t)t->tid, r);
	if (err)
		goto err_free;
	return 0;
err_free:
	emu_pending_free(p);
	return err;
}

/*
 * The common tail of the program types whose only input is ctx_in (SYSCALL,
 * RAW_TRACEPOINT): copy ctx_in into the run area and start one run. The
 * caller has checked the attr against its type's rules and the size against
 * @cap.
 */
static int run_ctx_only(struct emu_session *s, const struct emu_target *t, struct emu_obj *o,
			const union bpf_attr *a, uint64_t uattr, uint32_t type, size_t cap,
			struct emu_reply *r)
{
	uint32_t size = a->test.ctx_size_in;
	struct emu_pending *p;
	int err;

	err = emu_test_run_pending_new(type, cap, false, a, uattr, &p);
	if (err)
		return err;
	p->size = size;
	if (size && t->ops->read(t, a->test.ctx_in, p->ra->data, size)) {
		err = -EFAULT;
		goto err_free;
	}
	err = emu_test_run_start(s, ((struct emu_prog_priv *)o->priv)->jp, p, 1,
			((uint64_t)t->pid << 32) | (uint32_t)t->tid, r);
	if (err)
		goto err_free;
	return 0;
err_free:
	emu_pending_free(p);
	return err;
}

static int test_run_syscall(struct emu_session *s, const struct emu_target *t, struct emu_obj *o,
			    const union bpf_attr *a, uint64_t uattr, struct emu_reply *r)
{
	uint32_t size = a->test.ctx_size_in;

	/* bpf_prog_test_run_syscall() */
	if (a->test.data_in || a->test.data_out || a->test.ctx_out || a->test.duration || a->test.repeat ||
	    a->test.flags)
		return -EINVAL;
	if (size > 65535)
		return -EINVAL;
	return run_ctx_only(s, t, o, a, uattr, BPF_PROG_TYPE_SYSCALL, 65536, r);
}

/* bpf_prog_test_run_raw_tp(): ctx_in is the array of u64 arguments, nothing else. */
static int test_run_raw_tp(struct emu_session *s, const struct emu_target *t, struct emu_obj *o,
			   const union bpf_attr *a, uint64_t uattr, struct emu_reply *r)
{
	uint32_t size = a->test.ctx_size_in;

	if (a->test.data_in || a->test.data_out || a->test.ctx_out || a->test.duration || a->test.repeat ||
	    a->test.batch_size)
		return -EINVAL;
	if (size > 12 * sizeof(uint64_t)) /* MAX_BPF_FUNC_ARGS */
		return -EINVAL;
	if (a->test.flags & ~BPF_F_TEST_RUN_ON_CPU)
		return -EINVAL;
	if (!(a->test.flags & BPF_F_TEST_RUN_ON_CPU) && a->test.cpu)
		return -EINVAL;
	return run_ctx_only(s, t, o, a, uattr, BPF_PROG_TYPE_RAW_TRACEPOINT, 128, r);
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
		return test_run_xdp(s, t, p, a, uattr, r);
	case BPF_PROG_TYPE_SYSCALL:
		return test_run_syscall(s, t, p, a, uattr, r);
	case BPF_PROG_TYPE_RAW_TRACEPOINT:
		return test_run_raw_tp(s, t, p, a, uattr, r);
	case BPF_PROG_TYPE_SOCKET_FILTER:
	case BPF_PROG_TYPE_SCHED_CLS:
	case BPF_PROG_TYPE_SCHED_ACT:
	case BPF_PROG_TYPE_CGROUP_SKB:
		return emu_test_run_skb(s, t, p, a, uattr, r);
	default:
		return -ENOTSUPP_; /* no test_run operation for this type, as in the kernel */
	}
}
