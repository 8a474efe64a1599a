/*
 * shm_layout.h - the on-file format of one map: what every process of a
 * bpftime session (supervisor, loader, traced processes) sees when it maps a
 * map's memfd. This is a cross-process ABI: fixed-width types only, offsets
 * relative to the start of the file, never pointers, fds or bool.
 *
 * One map = one memfd ("bpf-map:<name>"). The file is laid out as:
 *
 *   OFFSET                  SIZE                 DESCRIPTION
 *   0                       body_sz              the type's body. For ARRAY with
 *                                                BPF_F_MMAPABLE the first
 *                                                page_round(max_entries *
 *                                                round_up(value_size, 8)) bytes
 *                                                are exactly the kernel's mmap
 *                                                layout (kernel/bpf/arraymap.c
 *                                                array_map_mmap), so a client
 *                                                may mmap the fd at offset 0.
 *                                                RINGBUF puts its consumer and
 *                                                producer pages here. Each type
 *                                                documents its body in its file.
 *   body_sz                 MAP_SHM_HDR_SZ       struct map_shm_hdr (below), the
 *                                                last page of the file, found by
 *                                                fstat(): file_sz - HDR_SZ.
 *
 * body_sz is a multiple of the page size, so the header never shares a page
 * with data a client may legitimately map writable.
 *
 * struct map_shm_hdr:
 *
 *   OFFSET  SIZE  FIELD                 DESCRIPTION
 *   0       8     magic                 MAP_SHM_MAGIC
 *   8       4     abi_version           MAP_SHM_ABI_VERSION
 *   12      4     hdr_sz                sizeof(struct map_shm_hdr) of the writer
 *   16      8     file_sz               total file size (body_sz + HDR_SZ)
 *   24      8     body_sz               bytes [0, body_sz) owned by the type
 *   32      4     map_type              enum bpf_map_type
 *   36      4     key_size              bytes, as created
 *   40      4     value_size            bytes, as created (not rounded)
 *   44      4     max_entries           as the kernel reports it (may be rounded)
 *   48      4     map_flags             BPF_F_* as created
 *   52      4     ncpu                  possible CPUs when created (per-CPU strides)
 *   56      4     id                    map id given by the creator (0 = none)
 *   60      4     numa_node             attr numa_node if BPF_F_NUMA_NODE, else ~0
 *   64      16    name                  BPF_OBJ_NAME_LEN, NUL-terminated
 *   80      8     map_extra             attr map_extra
 *   88      4     btf_key_type_id       as created (opaque to maps/)
 *   92      4     btf_value_type_id     as created
 *   96      4     btf_vmlinux_value_type_id
 *   100     4     spin_lock_off         offset of struct bpf_spin_lock in the value, -1 none
 *   104     4     frozen                0/1; set once by BPF_MAP_FREEZE (atomic store-release)
 *   108     4     reserved0             zero
 *   112     128   type_u64[16]          type-private geometry (offsets into the body,
 *                                       counts, seeds), meaning fixed by each type's
 *                                       file; written once at creation
 *   240     ...   zero up to HDR_SZ
 *
 * Every field except frozen is written once by map_create() before the fd is
 * shared and is read-only afterwards. Readers (map_open_fd) validate the
 * header and copy the geometry into their process-local struct map, so a
 * client scribbling on the header later cannot move what the runtime touches.
 */
#ifndef MAPS_SHM_LAYOUT_H
#define MAPS_SHM_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define MAP_SHM_MAGIC 0x4d50414d454d5442ULL /* "BTMEMAPM" little-endian */
#define MAP_SHM_ABI_VERSION 1u
#define MAP_SHM_HDR_SZ 4096u
#define MAP_SHM_NAME_LEN 16u
#define MAP_SHM_TYPE_U64_CNT 16u

struct map_shm_hdr {
	uint64_t magic;
	uint32_t abi_version;
	uint32_t hdr_sz;
	uint64_t file_sz;
	uint64_t body_sz;
	uint32_t map_type;
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	uint32_t ncpu;
	uint32_t id;
	uint32_t numa_node;
	char name[MAP_SHM_NAME_LEN];
	uint64_t map_extra;
	uint32_t btf_key_type_id;
	uint32_t btf_value_type_id;
	uint32_t btf_vmlinux_value_type_id;
	int32_t spin_lock_off;
	uint32_t frozen;
	uint32_t reserved0;
	uint64_t type_u64[MAP_SHM_TYPE_U64_CNT];
};

_Static_assert(offsetof(struct map_shm_hdr, magic) == 0, "layout");
_Static_assert(offsetof(struct map_shm_hdr, abi_version) == 8, "layout");
_Static_assert(offsetof(struct map_shm_hdr, hdr_sz) == 12, "layout");
_Static_assert(offsetof(struct map_shm_hdr, file_sz) == 16, "layout");
_Static_assert(offsetof(struct map_shm_hdr, body_sz) == 24, "layout");
_Static_assert(offsetof(struct map_shm_hdr, map_type) == 32, "layout");
_Static_assert(offsetof(struct map_shm_hdr, key_size) == 36, "layout");
_Static_assert(offsetof(struct map_shm_hdr, value_size) == 40, "layout");
_Static_assert(offsetof(struct map_shm_hdr, max_entries) == 44, "layout");
_Static_assert(offsetof(struct map_shm_hdr, map_flags) == 48, "layout");
_Static_assert(offsetof(struct map_shm_hdr, ncpu) == 52, "layout");
_Static_assert(offsetof(struct map_shm_hdr, id) == 56, "layout");
_Static_assert(offsetof(struct map_shm_hdr, numa_node) == 60, "layout");
_Static_assert(offsetof(struct map_shm_hdr, name) == 64, "layout");
_Static_assert(offsetof(struct map_shm_hdr, map_extra) == 80, "layout");
_Static_assert(offsetof(struct map_shm_hdr, btf_key_type_id) == 88, "layout");
_Static_assert(offsetof(struct map_shm_hdr, btf_value_type_id) == 92, "layout");
_Static_assert(offsetof(struct map_shm_hdr, btf_vmlinux_value_type_id) == 96, "layout");
_Static_assert(offsetof(struct map_shm_hdr, spin_lock_off) == 100, "layout");
_Static_assert(offsetof(struct map_shm_hdr, frozen) == 104, "layout");
_Static_assert(offsetof(struct map_shm_hdr, reserved0) == 108, "layout");
_Static_assert(offsetof(struct map_shm_hdr, type_u64) == 112, "layout");
_Static_assert(sizeof(struct map_shm_hdr) == 240, "layout");
_Static_assert(sizeof(struct map_shm_hdr) <= MAP_SHM_HDR_SZ, "layout");

#endif /* MAPS_SHM_LAYOUT_H */
