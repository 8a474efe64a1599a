/*
 * types.c - the one table from enum bpf_map_type to struct map_ops, like
 * bpf_map_types[] generated from include/linux/bpf_types.h.
 *
 * A new type is one file maps/<type>.c defining map_<type>_ops, one extern
 * in maps/maps_int.h and one line here. A type absent from the table makes
 * map_create() fail with -EINVAL and a log line naming the type, as the
 * kernel does for a type it was built without.
 */
#include "config.h"

#include "maps/maps_int.h"

static const struct map_ops *const map_types[] = {
	[BPF_MAP_TYPE_ARRAY] = &map_array_ops,
	[BPF_MAP_TYPE_PERCPU_ARRAY] = &map_percpu_array_ops,
	[BPF_MAP_TYPE_HASH] = &map_hash_ops,
	[BPF_MAP_TYPE_PERCPU_HASH] = &map_percpu_hash_ops,
	[BPF_MAP_TYPE_LRU_HASH] = &map_lru_hash_ops,
	[BPF_MAP_TYPE_LRU_PERCPU_HASH] = &map_lru_percpu_hash_ops,
	[BPF_MAP_TYPE_RINGBUF] = &map_ringbuf_ops,
	[BPF_MAP_TYPE_PERF_EVENT_ARRAY] = &map_perf_event_array_ops,
	[BPF_MAP_TYPE_PROG_ARRAY] = &map_prog_array_ops,
	[BPF_MAP_TYPE_QUEUE] = &map_queue_ops,
	[BPF_MAP_TYPE_STACK] = &map_stack_ops,
	[BPF_MAP_TYPE_BLOOM_FILTER] = &map_bloom_filter_ops,
	[BPF_MAP_TYPE_STACK_TRACE] = &map_stack_trace_ops,
	[BPF_MAP_TYPE_ARRAY_OF_MAPS] = &map_array_of_maps_ops,
	[BPF_MAP_TYPE_HASH_OF_MAPS] = &map_hash_of_maps_ops,
	[BPF_MAP_TYPE_LPM_TRIE] = &map_lpm_trie_ops,
};

const struct map_ops *map_ops_find(uint32_t map_type)
{
	if (map_type >= sizeof(map_types) / sizeof(map_types[0]))
		return NULL;
	return map_types[map_type];
}
