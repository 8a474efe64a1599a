/*
 * skb.h - socket-buffer programs (SOCKET_FILTER, SCHED_CLS, SCHED_ACT,
 * CGROUP_SKB) inside the supervisor (emul-private): PROG_LOAD's check of
 * their __sk_buff accesses and helper calls (skb_check.c), the skb helpers
 * (helpers_skb.c) and the test-run area they share with test_run_skb.c.
 */
#ifndef EMUL_SKB_H
#define EMUL_SKB_H

#include <linux/bpf.h>
#include <stdbool.h>
#include <stdint.h>

#include "jit/jit.h"

#define EMU_SKB_ETH_HLEN 14
/* data_in's limit: PAGE_SIZE - (NET_SKB_PAD + NET_IP_ALIGN) - SKB_DATA_ALIGN(sizeof(struct skb_shared_info)). */
#define EMU_SKB_MAX_DATA (4096 - 64 - 320)
/* BPF_SKB_MAX_LEN (SKB_MAX_ALLOC: 4 pages - skb_shared_info): the longest skb change_tail/head make. */
#define EMU_SKB_MAX_LEN 16064
/*
 * DIVERGES (invisible to programs): the kernel keeps 64 bytes of headroom and
 * reallocates on bpf_skb_change_head(); we keep room for the longest push, so
 * the packet never moves and head[] stays inside the run area.
 */
#define EMU_SKB_HEADROOM EMU_SKB_MAX_LEN

/*
 * One test run's socket buffer, in the run area below 4 GiB (the program
 * turns the 32-bit data/data_end/data_meta fields into pointers). ctx is
 * what r1 points to; the fields after it are the truth the helpers keep
 * ctx.len/data/data_end in line with.
 */
struct emu_skb_area {
	struct __sk_buff ctx;
	uint32_t data_off;   /* skb->data - head[] */
	uint32_t len;        /* skb->len: bytes from data */
	uint32_t mac_off;    /* skb_mac_header() - head[] */
	uint32_t net_off;    /* skb_network_header() - head[] */
	uint8_t head[EMU_SKB_HEADROOM + EMU_SKB_MAX_LEN];
};

/** True for the program types test_run_skb.c and this check handle. */
bool emu_skb_prog_type(uint32_t prog_type);

/**
 * emu_skb_prog_check() - PROG_LOAD's check of a socket-buffer program: every
 * load/store through a register that may hold the context (r1 at entry,
 * followed through moves, stack spills and calls) must be an access the
 * kernel allows for @prog_type (kernel/bpf/verifier.c check_ctx_access(),
 * the *_is_valid_access() of net/core/filter.c) and one bpftime models; every
 * helper call must name a helper the supervisor implements.
 * @log: one line for the verifier log (may be NULL)
 * Returns 0, -EACCES ("invalid bpf_context access off=N size=M", as the
 * kernel), -EINVAL (a field or helper bpftime does not model, with a
 * "bpftime:" line), -ENOMEM.
 */
int emu_skb_prog_check(const struct bpf_insn *insns, uint32_t cnt, uint32_t prog_type,
		       int (*log)(void *cookie, const char *msg), void *log_cookie);

/**
 * emu_skb_ctx_in_check() - convert___skb_to_skb()'s rules for a test run's
 * ctx_in: only mark, priority, ingress_ifindex, ifindex, cb[], tstamp,
 * wire_len (0, or len..65536), gso_segs (<= 65535), gso_size and hwtstamp may
 * be non-zero; @len is the skb's length as the program sees it.
 * Returns 0 or -EINVAL.
 */
int emu_skb_ctx_in_check(const struct __sk_buff *c, uint32_t len);

/** bpf_compute_data_pointers(): ctx.len, data, data_meta, data_end from the area (below 4 GiB). */
void emu_skb_data_pointers(struct emu_skb_area *a);

/** Put the skb helpers into the supervisor's table (@cnt entries). */
void emu_skb_helpers_fill(jit_helper_fn *table, uint32_t cnt);

/**
 * In the test-run child: the area whose ctx the skb helpers accept. A call
 * with any other ctx (another program type calling an skb helper) ends the
 * run as a missing helper.
 */
void emu_skb_helpers_bind(struct emu_skb_area *area);

/**
 * emu_skb_packet_pointer() - jit_env.packet_pointer for LD_ABS/LD_IND: the
 * @size bytes at @off of the packet of @ctx, by bpf_skb_load_helper_*() and
 * bpf_skb_load_helper_convert_offset() (net/core/filter.c): @off >= 0
 * counts from data; SKF_NET_OFF + k from the network header, SKF_LL_OFF + k
 * from the MAC header; the bytes must end by the tail. NULL when out of range (the program ends with 0), and also,
 * after ending the run as a missing helper, when @ctx is not the bound
 * run's ctx. @cookie is unused.
 */
const void *emu_skb_packet_pointer(void *cookie, uint64_t ctx, int32_t off, uint32_t size);

#endif /* EMUL_SKB_H */
