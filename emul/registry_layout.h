/*
 * registry_layout.h - the session's shared object registry: a file format.
 *
 * Every bpftime-run of one session (same user, same --session name) maps
 * <session dir>/registry, and so may the in-process agent (hooks/), which
 * reads it to find the links it must wire up: which uprobe (path, file
 * offset, retprobe, pid filter) or tracepoint runs which program, and where
 * that program's instructions are. The file survives the death of any single
 * process; the last bpftime-run of the session removes it.
 *
 * Fixed-width fields only, no pointers, no fds (STYLE.md §5). Offsets are
 * pinned by _Static_assert below.
 *
 * HEADER (EMU_REG_HDR_SZ bytes at offset 0)
 *   OFFSET SIZE DESCRIPTION
 *   0      8    magic EMU_REG_MAGIC
 *   8      4    abi version EMU_REG_VERSION
 *   12     4    header size (4096)
 *   16     4    slot size (512)
 *   20     4    slot count (EMU_REG_SLOT_CNT)
 *   24     24   next_id[6]: last id handed out, per kind (atomic fetch-add)
 *   48     4    generation: incremented (release) after any slot publish,
 *                state change or attach change; readers poll it (acquire)
 *   52     4    reserved, zero
 * SLOTS (slot i at offset EMU_REG_HDR_SZ + i * EMU_REG_SLOT_SZ)
 *   0      4    state: 0 free, 1 being written (claimed by CAS 0->1), 2 live,
 *               3 released. Written with release order, read with acquire.
 *   4      4    kind: enum emu_reg_kind
 *   8      4    id: the kernel-style object id (per kind, starts at 1;
 *               BTF id 1 is the kernel's "vmlinux")
 *   12     4    owner_pid: the bpftime-run that created the object
 *   16     8    st_dev of the object's backing file
 *   24     8    st_ino of the object's backing file
 *   32     16   name, NUL-padded (BPF_OBJ_NAME_LEN)
 *   48     4    type: prog_type, map_type, link type or enum emu_reg_perf_type
 *   52     4    seq: seqlock over the mutable fields (attach, enabled):
 *               odd while a writer updates them
 *   56     4    fd_cnt: open file descriptions handed out and not yet closed
 *               (atomic; the owner decrements on inotify close events)
 *   60     4    ref_cnt: other references: pins, links or perf events using
 *               a program, programs using a map (atomic)
 *   64     448  kind-specific payload (struct emu_reg_prog / _map / _link / _perf / _btf)
 *
 * Program instructions live in <session dir>/obj/bpf-prog-<id> (struct bpf_insn[],
 * insn_cnt entries) with every map reference rewritten: an ld_imm64 whose
 * src_reg is BPF_PSEUDO_MAP_FD or BPF_PSEUDO_MAP_VALUE keeps its src_reg but
 * its imm holds the MAP ID instead of the loader's fd (for MAP_VALUE the
 * second half's imm is still the value offset), as the kernel resolves fds
 * at load time (kernel/bpf/verifier.c, resolve_pseudo_ldimm64()).
 */
#ifndef EMUL_REGISTRY_LAYOUT_H
#define EMUL_REGISTRY_LAYOUT_H

#include <stddef.h>
#include <stdint.h>

#define EMU_REG_MAGIC 0x31474552544650ULL /* "PFTREG1" */
#define EMU_REG_VERSION 1
#define EMU_REG_HDR_SZ 4096
#define EMU_REG_SLOT_SZ 512
#define EMU_REG_SLOT_CNT 4096
#define EMU_REG_FILE_SZ (EMU_REG_HDR_SZ + EMU_REG_SLOT_SZ * EMU_REG_SLOT_CNT)
#define EMU_REG_PATH_MAX 256

enum emu_reg_kind {
	EMU_REG_PROG = 1,
	EMU_REG_MAP = 2,
	EMU_REG_LINK = 3,
	EMU_REG_BTF = 4,
	EMU_REG_PERF = 5, /* a perf event (uprobe, tracepoint, BPF output) */
	EMU_REG_KIND_MAX = 6,
};

enum emu_reg_state {
	EMU_REG_FREE = 0,
	EMU_REG_CLAIMED = 1,
	EMU_REG_LIVE = 2,
	EMU_REG_RELEASED = 3,
};

enum emu_reg_perf_type {
	EMU_REG_PERF_UPROBE = 1,
	EMU_REG_PERF_TRACEPOINT = 2,
	EMU_REG_PERF_BPF_OUTPUT = 3,
	/*
	 * A CPU-clock/task-clock sampling event (bpftrace interval:/profile:):
	 * u.perf.offset holds the period in ns, u.perf.reserved the tgid of the
	 * process that opened it, whose agent runs the program on a timer
	 * (hooks/attach.c), as the kernel runs it from the timer interrupt.
	 */
	EMU_REG_PERF_TIMER = 4,
};

#define EMU_REG_PERF_RETPROBE (1u << 0) /* flags: uretprobe */
#define EMU_REG_PERF_ENABLED (1u << 1)  /* flags: PERF_EVENT_IOC_ENABLE seen (or attr.disabled == 0) */

struct emu_reg_hdr {
	uint64_t magic;
	uint32_t version;
	uint32_t hdr_sz;
	uint32_t slot_sz;
	uint32_t slot_cnt;
	uint32_t next_id[EMU_REG_KIND_MAX]; /* atomic; index by enum emu_reg_kind */
	uint32_t generation;                /* atomic; bumped after every publish or change */
	uint32_t reserved;
};

struct emu_reg_prog {
	uint32_t insn_cnt;             /* instructions in obj/bpf-prog-<id> */
	uint32_t expected_attach_type;
	uint32_t prog_flags;
	uint32_t kern_version;
	uint8_t tag[8];                /* bpf_prog_info.tag (SHA-1 prefix, kernel style) */
	uint64_t load_time_ns;         /* CLOCK_BOOTTIME at load, as bpf_prog_info.load_time */
	uint32_t uid;                  /* created_by_uid */
	uint32_t btf_id;               /* prog BTF, 0 if none */
	uint32_t gpl;                  /* license is GPL-compatible */
	uint32_t map_cnt;              /* used maps (ids below) */
	uint32_t map_ids[64];
	uint32_t func_info_cnt;
	uint32_t line_info_cnt;
};

struct emu_reg_map {
	uint32_t key_size;
	uint32_t value_size;
	uint32_t max_entries;
	uint32_t map_flags;
	uint32_t btf_id;
	uint32_t btf_key_type_id;
	uint32_t btf_value_type_id;
	uint32_t frozen;
	uint64_t map_extra;
	uint32_t owner_fd;   /* the map's memfd is /proc/<owner_pid>/fd/<owner_fd> while the owner lives */
	uint32_t reserved;
};

struct emu_reg_btf {
	uint32_t data_sz;   /* bytes of raw BTF in obj/btf-<id> */
	uint32_t kernel_btf; /* 1 for vmlinux (data is /sys/kernel/btf/vmlinux) */
};

/*
 * Raw tracepoints bpftime has (BPF_LINK_TYPE_RAW_TRACEPOINT links,
 * emul/raw_tp.c): the kernel's "sys_enter"/"sys_exit" (TRACE_EVENT_FN in
 * include/trace/events/syscalls.h), run by the agent at every syscall.
 */
enum emu_reg_raw_tp {
	EMU_REG_RAW_TP_SYS_ENTER = 1,
	EMU_REG_RAW_TP_SYS_EXIT = 2,
};

/*
 * A uprobe_multi link's backing file (<session dir>/obj/bpf-link-<id>),
 * written before the link is published and never changed:
 *   OFFSET            SIZE        DESCRIPTION
 *   0                 8           magic EMU_REG_UMULTI_MAGIC
 *   8                 4           cnt: probes (1..1<<20)
 *   12                4           flags: BPF_F_UPROBE_MULTI_RETURN
 *   16                4           pid: only this process (tgid), 0 for all
 *   20                4           reserved, zero
 *   24                256         path: absolute, symlinks resolved, NUL-terminated
 *   280               8 * cnt     file offsets
 *   280 + 8 * cnt     8 * cnt     USDT semaphore (ref_ctr) offsets, 0 for none
 *   280 + 16 * cnt    8 * cnt     BPF cookies
 */
#define EMU_REG_UMULTI_MAGIC 0x31494c554d505550ULL /* "PUPMULI1" */
struct emu_reg_umulti {
	uint64_t magic;
	uint32_t cnt;
	uint32_t flags;
	int32_t pid;
	uint32_t reserved;
	char path[EMU_REG_PATH_MAX];
};
_Static_assert(sizeof(struct emu_reg_umulti) == 280, "uprobe_multi file header");

/* Fixed after publish: readers need no seqlock. */
struct emu_reg_link {
	uint32_t prog_id;
	uint32_t attach_type; /* enum bpf_attach_type */
	uint32_t perf_id;     /* for perf-event links: the perf event's registry id */
	uint32_t raw_tp;      /* for raw tracepoint links: enum emu_reg_raw_tp; else 0 */
	uint64_t bpf_cookie;
};

struct emu_reg_perf {
	uint32_t flags;           /* EMU_REG_PERF_*; under the slot seqlock */
	int32_t pid;              /* -1: every process */
	int32_t cpu;              /* -1: every cpu */
	uint32_t prog_id;         /* attached program (SET_BPF or a link); 0 none; under seqlock */
	uint32_t link_id;         /* the link that attached it, 0 for SET_BPF */
	uint32_t tp_id;           /* tracepoint id (PERF_TYPE_TRACEPOINT) */
	uint64_t offset;          /* uprobe: file offset of the probe (config2) */
	uint64_t ref_ctr_offset;  /* uprobe: config[63:32], the USDT semaphore's file offset (0: none) */
	uint64_t bpf_cookie;
	uint32_t data_pages;      /* BPF output: ring data pages the backing file holds */
	uint32_t reserved;
	char path[EMU_REG_PATH_MAX]; /* uprobe: binary path as the caller gave it, NUL-terminated */
};

struct emu_reg_slot {
	uint32_t state; /* enum emu_reg_state, atomic */
	uint32_t kind;
	uint32_t id;
	uint32_t owner_pid;
	uint64_t dev;
	uint64_t ino;
	char name[16];
	uint32_t type;
	uint32_t seq;
	uint32_t fd_cnt;
	uint32_t ref_cnt;
	union {
		struct emu_reg_prog prog;
		struct emu_reg_map map;
		struct emu_reg_link link;
		struct emu_reg_perf perf;
		struct emu_reg_btf btf;
		uint8_t raw[448];
	} u;
};

_Static_assert(sizeof(struct emu_reg_hdr) == 56, "registry header");
_Static_assert(offsetof(struct emu_reg_hdr, next_id) == 24, "next_id");
_Static_assert(offsetof(struct emu_reg_hdr, generation) == 48, "generation");
_Static_assert(sizeof(struct emu_reg_slot) == EMU_REG_SLOT_SZ, "slot size");
_Static_assert(offsetof(struct emu_reg_slot, dev) == 16, "dev");
_Static_assert(offsetof(struct emu_reg_slot, name) == 32, "name");
_Static_assert(offsetof(struct emu_reg_slot, type) == 48, "type");
_Static_assert(offsetof(struct emu_reg_slot, seq) == 52, "seq");
_Static_assert(offsetof(struct emu_reg_slot, fd_cnt) == 56, "fd_cnt");
_Static_assert(offsetof(struct emu_reg_slot, u) == 64, "payload");
_Static_assert(sizeof(struct emu_reg_prog) <= 448, "prog payload");
_Static_assert(sizeof(struct emu_reg_perf) <= 448, "perf payload");
_Static_assert(offsetof(struct emu_reg_perf, offset) == 24, "perf offset");
_Static_assert(offsetof(struct emu_reg_perf, path) == 56, "perf path");
_Static_assert(offsetof(struct emu_reg_prog, map_ids) == 48, "prog map ids");
_Static_assert(offsetof(struct emu_reg_map, map_extra) == 32, "map extra");
_Static_assert(offsetof(struct emu_reg_map, owner_fd) == 40, "map owner fd");

#endif /* EMUL_REGISTRY_LAYOUT_H */
