/* sup_demo.bpf.c - a tiny XDP program for the bpftool end-to-end tests and the demo. */
#include <linux/bpf.h>

#define SEC(name) __attribute__((section(name), used))

/* Return XDP_PASS (2) when the first byte of the packet is even, XDP_DROP (1) otherwise. */
SEC("xdp")
int sup_demo(struct xdp_md *ctx)
{
	unsigned char *data = (unsigned char *)(long)ctx->data;
	unsigned char *end = (unsigned char *)(long)ctx->data_end;

	if (data + 1 > end)
		return XDP_ABORTED;
	return (data[0] & 1) ? XDP_DROP : XDP_PASS;
}

char _license[] SEC("license") = "GPL";
