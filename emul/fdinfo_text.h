/*
 * fdinfo_text.h - the kernel's procfs view of a bpf object: the text of
 * /proc/<pid>/fdinfo/<fd> after the generic lines, the readlink target of
 * /proc/<pid>/fd/<fd>, and the memlock figure both report.
 *
 * Built from the session registry alone (emul/registry_layout.h), so the
 * in-process agent (hooks/agent_procfs.c) and the supervisor give the same
 * answers, and they agree with BPF_OBJ_GET_INFO_BY_FD (emul/info.c), which
 * reads the same slot fields.
 */
#ifndef EMUL_FDINFO_TEXT_H
#define EMUL_FDINFO_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "emul/registry_layout.h"

/* Sizes of kernel structures the memlock formulas add up (bytes). */
struct emu_kstruct_sizes {
	uint32_t prog;        /* struct bpf_prog: offsetof(.., insns) */
	uint32_t array;       /* struct bpf_array */
	uint32_t htab;        /* struct bpf_htab */
	uint32_t htab_bucket; /* struct bucket (kernel/bpf/hashtab.c) */
	uint32_t htab_elem;   /* struct htab_elem */
	uint32_t ringbuf_map; /* struct bpf_ringbuf_map */
};

/** The sizes of the 6.18 x86-64 reference kernel. */
void emu_kstruct_sizes_default(struct emu_kstruct_sizes *ks);

/**
 * Overwrite in @ks the sizes that vmlinux BTF @btf (@sz bytes, e.g.
 * /sys/kernel/btf/vmlinux) describes; the others are left as they are.
 * Returns how many were found, -EINVAL if @btf is not BTF.
 */
int emu_kstruct_sizes_from_btf(const void *btf, size_t sz, struct emu_kstruct_sizes *ks);

/* The tracepoint name ("sys_enter_openat") of tracefs id @tp_id, or NULL. */
typedef const char *(*emu_tp_name_fn)(uint32_t tp_id);

/* What the text depends on besides the object. */
struct emu_fdinfo_env {
	uint32_t kver;           /* running kernel, KERNEL_VERSION(a, b, c) of uname -r */
	uint32_t cpu_cnt;        /* possible CPUs (num_possible_cpus()) */
	uint64_t elem_cnt;       /* elements now in the map (only read for BPF_F_NO_PREALLOC hashes) */
	emu_tp_name_fn tp_name;  /* names a perf link's tracepoint; NULL: no per-link lines for it */
	const struct emu_kstruct_sizes *ks; /* NULL: emu_kstruct_sizes_default() */
};

/** KERNEL_VERSION(a, b, c) of a uname release string ("6.18.44-fc"); 0 if it does not parse. */
uint32_t emu_kver_parse(const char *release);

/** bpf_prog_info.verified_insns and fdinfo's verified_insns (no verifier yet: 0). */
uint32_t emu_prog_verified_insns(const struct emu_reg_prog *rp);

/** fdinfo "memlock" of a program of @insn_cnt instructions (prog->pages << PAGE_SHIFT); @ks may be NULL. */
uint64_t emu_prog_memlock(uint32_t insn_cnt, const struct emu_kstruct_sizes *ks);

/** fdinfo "memlock" of map @slot (map_mem_usage() of kernel/bpf/arraymap.c, hashtab.c, ringbuf.c; or the pre-6.4 footprint). */
uint64_t emu_map_memlock(const struct emu_reg_slot *slot, const struct emu_fdinfo_env *env);

/** readlink(/proc/self/fd/N) of an object of @kind: "anon_inode:bpf-map", ...; NULL for an unknown kind. */
const char *emu_fdinfo_link_name(uint32_t kind);

/**
 * Write the object-specific fdinfo lines of @slot (after "pos/flags/mnt_id/
 * ino") into @buf, NUL-terminated. @reg is the registry @slot lives in (a
 * link's program tag, a prog array's owner are looked up there).
 * Returns the length written (0 for a perf event: perf_fops has no
 * show_fdinfo), -ENOSPC if @sz is too small, -EINVAL for an unknown kind.
 */
int emu_fdinfo_format(const struct emu_reg_hdr *reg, const struct emu_reg_slot *slot,
		      const struct emu_fdinfo_env *env, char *buf, size_t sz);

#endif /* EMUL_FDINFO_TEXT_H */
