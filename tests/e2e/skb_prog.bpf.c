/*
 * skb_prog.bpf.c - socket-buffer programs for tests/e2e/skb-bpftool.sh, run
 * with bpftool prog run against the kernel and under bpftime-run.
 *
 * skb_tc (SEC "tc"): counts frames by protocol in an array map, reads
 * __sk_buff fields (len, protocol, pkt_type, ifindex, mark, priority, cb),
 * parses the IPv4 header by direct packet access, decrements the TTL with
 * bpf_l3_csum_replace() keeping the header checksum right, writes results
 * into mark/priority/cb (ctx_out shows them) and returns TC_ACT_SHOT for
 * TTL <= 1 or a UDP datagram to port 9 (discard), TC_ACT_OK otherwise.
 *
 * skb_sock (SEC "socket"): reads the IP protocol byte with
 * bpf_skb_load_bytes() (a socket filter's data starts at the network
 * header), counts, and keeps the whole packet for TCP, 0 bytes otherwise.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

static void count(__u32 k)
{
	__u64 *c = bpf_map_lookup_elem(&counts, &k);

	if (c)
		__sync_fetch_and_add(c, 1);
}

SEC("tc")
int skb_tc(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	__u32 k;

	if ((void *)(eth + 1) > end)
		return TC_ACT_SHOT;
	k = skb->protocol == bpf_htons(ETH_P_IP) ? 0 : skb->protocol == bpf_htons(ETH_P_IPV6) ? 1 : 2;
	count(k);
	skb->cb[0] = k;
	skb->cb[1] = skb->len;
	skb->cb[2] = skb->pkt_type;
	skb->cb[3] = skb->ifindex;
	skb->cb[4] += skb->mark;
	skb->priority = skb->priority * 2 + 1;
	if (k != 0)
		return TC_ACT_OK;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	skb->mark = ip->saddr;
	if (ip->ttl <= 1)
		return TC_ACT_SHOT;
	{
		__u16 old = *(__u16 *)&ip->ttl, new;

		ip->ttl--;
		new = *(__u16 *)&ip->ttl;
		bpf_l3_csum_replace(skb, ETH_HLEN + __builtin_offsetof(struct iphdr, check), old, new, 2);
	}
	/* The checksum helper may move the packet (in the kernel): load the pointers again. */
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	ip = data + ETH_HLEN;
	if ((void *)(ip + 1) > end)
		return TC_ACT_SHOT;
	if (ip->protocol == IPPROTO_UDP && ip->ihl == 5) {
		struct udphdr *udp = (void *)(ip + 1);

		if ((void *)(udp + 1) > end)
			return TC_ACT_SHOT;
		if (udp->dest == bpf_htons(9))
			return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

SEC("socket")
int skb_sock(struct __sk_buff *skb)
{
	__u8 proto = 0;

	if (skb->protocol != bpf_htons(ETH_P_IP)) {
		count(3);
		return 0;
	}
	if (bpf_skb_load_bytes(skb, __builtin_offsetof(struct iphdr, protocol), &proto, 1))
		return 0;
	count(proto == IPPROTO_TCP ? 0 : proto == IPPROTO_UDP ? 1 : 2);
	skb->cb[0] = proto;
	return proto == IPPROTO_TCP ? skb->len : 0;
}

char _license[] SEC("license") = "GPL";
