/*
 * test_run_int.h - what test_run.c shares with the per-type test runs
 * (test_run_skb.c): the run area the child writes, the pending reply, and
 * the fork of one run (emul-private).
 */
#ifndef EMUL_TEST_RUN_INT_H
#define EMUL_TEST_RUN_INT_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emul/emul_int.h"

#define XDP_HEADROOM 256 /* XDP_PACKET_HEADROOM */

struct run_area {
	uint64_t retval;
	uint64_t duration_ns;
	int32_t done;           /* set by the child as its last act: a run that did not end cleanly leaves 0 */
	int32_t missing_helper;
	struct xdp_md md;
	uint8_t pad[XDP_HEADROOM];
	uint8_t data[]; /* packet, or syscall/raw_tp ctx */
};

/* A test run in flight: what finishing it needs. */
struct emu_pending {
	uint32_t type;      /* program type: which outputs to write */
	pid_t child;
	int pidfd;          /* readable when the child has exited */
	struct run_area *ra;
	size_t area_sz;
	union bpf_attr a;   /* the caller's attr, as copied in */
	uint64_t uattr;
	uint32_t size;      /* data or ctx bytes in */
};

struct jit_prog;

/* A pending run with a shared area of sizeof(struct run_area) + @data_cap bytes (below 4 GiB if @low4g). */
int emu_test_run_pending_new(uint32_t type, size_t data_cap, bool low4g, const union bpf_attr *a, uint64_t uattr,
			     struct emu_pending **out);
/* Fork the run of @jp on the area's ctx (&ra->md for XDP, ra->data otherwise), @repeat times (>= 1). */
int emu_test_run_start(struct emu_session *s, const struct jit_prog *jp, struct emu_pending *p, uint32_t repeat,
		       uint64_t pid_tgid, struct emu_reply *r);
/* Write one u32 of the caller's attr (at @off). 0 or -EFAULT. */
int emu_test_run_put_u32(const struct emu_target *t, uint64_t uattr, size_t off, uint32_t v);

/* test_run_skb.c: bpf_prog_test_run_skb(), and its bpf_test_finish()/bpf_ctx_finish(). */
int emu_test_run_skb(struct emu_session *s, const struct emu_target *t, struct emu_obj *o, const union bpf_attr *a,
		     uint64_t uattr, struct emu_reply *r);
int emu_test_run_skb_finish(const struct emu_target *t, struct emu_pending *p);

#endif /* EMUL_TEST_RUN_INT_H */
