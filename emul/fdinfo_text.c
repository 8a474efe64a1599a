/*
 * fdinfo_text.c - the text the kernel shows in /proc/<pid>/fdinfo/<fd> for
 * a bpf object, and the memlock figure in it.
 *
 * Mirrors kernel/bpf/syscall.c bpf_prog_show_fdinfo(), bpf_map_show_fdinfo(),
 * bpf_link_show_fdinfo() (+ the perf link's show_fdinfo in
 * kernel/trace/bpf_trace.c) and kernel/bpf/btf.c bpf_btf_show_fdinfo(). The
 * line formats are those of the kernel this project is checked against
 * (6.18, x86-64: see tests/e2e/agent-fdinfo.sh, which compares every line).
 * The generic "pos/flags/mnt_id/ino" lines come from fs/proc/fd.c and are the
 * caller's business (hooks/agent_procfs.c).
 *
 * Every figure comes from the registry slot that BPF_OBJ_GET_INFO_BY_FD
 * (emul/info.c) reads too, so fdinfo and the info struct never disagree:
 * verified_insns is emu_prog_verified_insns() in both, prog_jited is 0 as
 * jited_prog_len is 0, run_time_ns/run_cnt are 0 as bpftime keeps no run
 * statistics (BPF_ENABLE_STATS is refused, emul/obj_cmds.c) - the kernel
 * also shows 0 while stats are off.
 *
 * memlock. Programs: prog->pages << PAGE_SHIFT, where bpf_prog_alloc() sizes
 * the program as round_up(bpf_prog_size(insn_cnt), PAGE_SIZE) (kernel/bpf/
 * core.c). Maps, from 6.4 on: the map type's map_mem_usage() (arraymap.c,
 * hashtab.c, ringbuf.c); before 6.4: bpf_map_memory_footprint() in
 * syscall.c, round_up(max_entries * round_up(key_size + value_size, 8),
 * PAGE_SIZE), with bpf_map_value_size()'s per-CPU and fd-map value sizes.
 * The kernel structure sizes come from the running kernel's vmlinux BTF
 * (emul/fdinfo_sizes.c; the caller passes them in env->ks), with the 6.18
 * x86-64 reference kernel's as defaults. tests/e2e/agent-fdinfo.sh compares
 * every figure with the running kernel's.
 */
#include "emul/fdinfo_text.h"

#include <errno.h>
#include <linux/bpf.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KV(a, b, c) (((uint32_t)(a) << 16) + ((uint32_t)(b) << 8) + (uint32_t)(c))
#define PAGE_SZ 4096ull
#define PAGE_ALIGN(x) (((x) + PAGE_SZ - 1) & ~(PAGE_SZ - 1))
#define RND8(x) (((uint64_t)(x) + 7) & ~7ull)

/* Not in vmlinux BTF as structures of their own. */
#define K_LLIST_NODE_SZ 8       /* sizeof(struct llist_node) */
#define K_HTAB_LOCK_COUNT 8     /* HASHTAB_MAP_LOCK_COUNT: per-CPU int counters counted by htab_map_mem_usage() */
#define K_RINGBUF_META_PAGES 3  /* RINGBUF_NR_META_PAGES: the header page and the two position pages */

/*
 * The 6.18 x86-64 reference kernel's sizes (its vmlinux BTF), used where the
 * running kernel's BTF does not name a structure.
 * DIVERGES: on a kernel without vmlinux BTF, memlock may be off by the
 * difference in these structure sizes.
 */
static const struct emu_kstruct_sizes ref_sizes = {
	.prog = 96, .array = 312, .htab = 832, .htab_bucket = 16, .htab_elem = 48, .ringbuf_map = 304,
};

void emu_kstruct_sizes_default(struct emu_kstruct_sizes *ks)
{
	*ks = ref_sizes;
}

static const struct emu_kstruct_sizes *sizes(const struct emu_kstruct_sizes *ks)
{
	return ks ? ks : &ref_sizes;
}

uint32_t emu_kver_parse(const char *release)
{
	unsigned a = 0, b = 0, c = 0;

	if (!release || sscanf(release, "%u.%u.%u", &a, &b, &c) < 2)
		return 0;
	return KV(a, b, c > 255 ? 255 : c);
}

uint32_t emu_prog_verified_insns(const struct emu_reg_prog *rp)
{
	/* DIVERGES: the kernel counts the instructions its verifier walked; bpftime has no verifier yet. */
	(void)rp;
	return 0;
}

uint64_t emu_prog_memlock(uint32_t insn_cnt, const struct emu_kstruct_sizes *ks)
{
	/*
	 * bpf_prog_size(): max(sizeof(struct bpf_prog), offsetof(.., insns[n])), in whole pages.
	 * DIVERGES: the kernel counts after the verifier's rewrites (bpf_prog_realloc() grows
	 * prog->pages when patching adds instructions); we count the instructions as loaded.
	 */
	return PAGE_ALIGN((uint64_t)sizes(ks)->prog + (uint64_t)insn_cnt * sizeof(struct bpf_insn));
}

static bool is_fd_map(uint32_t type)
{
	return type == BPF_MAP_TYPE_PROG_ARRAY || type == BPF_MAP_TYPE_PERF_EVENT_ARRAY ||
	       type == BPF_MAP_TYPE_CGROUP_ARRAY || type == BPF_MAP_TYPE_ARRAY_OF_MAPS ||
	       type == BPF_MAP_TYPE_HASH_OF_MAPS;
}

static bool is_percpu(uint32_t type)
{
	return type == BPF_MAP_TYPE_PERCPU_ARRAY || type == BPF_MAP_TYPE_PERCPU_HASH ||
	       type == BPF_MAP_TYPE_LRU_PERCPU_HASH || type == BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE;
}

/* syscall.c bpf_map_memory_footprint() (4.x .. 6.3). */
static uint64_t footprint(const struct emu_reg_map *m, uint32_t type, uint32_t cpu_cnt)
{
	uint64_t vsz = m->value_size;

	if (is_percpu(type))
		vsz = RND8(m->value_size) * cpu_cnt;
	else if (is_fd_map(type))
		vsz = sizeof(uint32_t);
	return PAGE_ALIGN((uint64_t)m->max_entries * RND8(m->key_size + vsz));
}

/* arraymap.c array_map_mem_usage(); the fd arrays use it too. */
static uint64_t array_usage(const struct emu_reg_map *m, uint32_t type, uint32_t cpu_cnt,
			    const struct emu_kstruct_sizes *ks)
{
	uint64_t elem = RND8(m->value_size), n = m->max_entries, usage = ks->array;

	if (type == BPF_MAP_TYPE_PERCPU_ARRAY)
		return usage + n * sizeof(void *) + n * elem * cpu_cnt;
	if (m->map_flags & BPF_F_MMAPABLE)
		return PAGE_ALIGN(usage) + PAGE_ALIGN(n * elem);
	return usage + n * elem;
}

static uint64_t roundup_pow2(uint64_t x)
{
	uint64_t r = 1;

	while (r < x)
		r <<= 1;
	return r;
}

/* hashtab.c htab_map_mem_usage(). */
static uint64_t htab_usage(const struct emu_reg_map *m, uint32_t type, const struct emu_fdinfo_env *env)
{
	bool percpu = type == BPF_MAP_TYPE_PERCPU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	bool lru = type == BPF_MAP_TYPE_LRU_HASH || type == BPF_MAP_TYPE_LRU_PERCPU_HASH;
	bool prealloc = !(m->map_flags & BPF_F_NO_PREALLOC);
	const struct emu_kstruct_sizes *ks = sizes(env->ks);
	uint64_t vsz = RND8(m->value_size), cpus = env->cpu_cnt, n;
	/* htab_map_alloc(): a per-CPU element stores a pointer to its per-CPU values. */
	uint64_t elem = ks->htab_elem + RND8(m->key_size) + (percpu ? sizeof(void *) : vsz);
	uint64_t usage = ks->htab + (uint64_t)ks->htab_bucket * roundup_pow2(m->max_entries) +
			 sizeof(int) * cpus * K_HTAB_LOCK_COUNT;

	if (prealloc) {
		n = m->max_entries;
		if (!percpu && !lru)
			n += cpus; /* htab_has_extra_elems(): one spare element per CPU */
		usage += elem * n;
		if (percpu)
			usage += vsz * cpus * n;
		else if (!lru)
			usage += sizeof(void *) * cpus; /* the extra_elems per-CPU pointers */
	} else {
		n = env->elem_cnt;
		usage += (elem + K_LLIST_NODE_SZ) * n;
		if (percpu)
			usage += vsz * cpus * n;
	}
	return usage;
}

/* ringbuf.c ringbuf_map_mem_usage(). */
static uint64_t ringbuf_usage(const struct emu_reg_map *m, const struct emu_kstruct_sizes *ks)
{
	uint64_t data_pages = m->max_entries / PAGE_SZ;

	return ks->ringbuf_map + (K_RINGBUF_META_PAGES + data_pages) * PAGE_SZ +
	       (K_RINGBUF_META_PAGES + 2 * data_pages) * sizeof(void *);
}

uint64_t emu_map_memlock(const struct emu_reg_slot *slot, const struct emu_fdinfo_env *env)
{
	const struct emu_reg_map *m = &slot->u.map;
	uint32_t type = slot->type;

	if (env->kver && env->kver < KV(6, 4, 0))
		return footprint(m, type, env->cpu_cnt);
	switch (type) {
	case BPF_MAP_TYPE_ARRAY:
	case BPF_MAP_TYPE_PERCPU_ARRAY:
	case BPF_MAP_TYPE_PROG_ARRAY:
	case BPF_MAP_TYPE_PERF_EVENT_ARRAY:
	case BPF_MAP_TYPE_CGROUP_ARRAY:
	case BPF_MAP_TYPE_ARRAY_OF_MAPS:
		return array_usage(m, type, env->cpu_cnt, sizes(env->ks));
	case BPF_MAP_TYPE_HASH:
	case BPF_MAP_TYPE_PERCPU_HASH:
	case BPF_MAP_TYPE_LRU_HASH:
	case BPF_MAP_TYPE_LRU_PERCPU_HASH:
	case BPF_MAP_TYPE_HASH_OF_MAPS:
		return htab_usage(m, type, env);
	case BPF_MAP_TYPE_RINGBUF:
		return ringbuf_usage(m, sizes(env->ks));
	default:
		/*
		 * DIVERGES: queue/stack, bloom filter, stack trace and LPM trie have
		 * their own map_mem_usage() in 6.4+; we report the pre-6.4 footprint.
		 */
		return footprint(m, type, env->cpu_cnt);
	}
}

const char *emu_fdinfo_link_name(uint32_t kind)
{
	/* The names given to anon_inode_getfile()/getfd(): bpf_map_new_fd(), bpf_prog_new_fd(),
	 * bpf_link_prime() (an underscore), btf_new_fd(), perf_event_open() ("[perf_event]"). */
	switch (kind) {
	case EMU_REG_PROG:
		return "anon_inode:bpf-prog";
	case EMU_REG_MAP:
		return "anon_inode:bpf-map";
	case EMU_REG_LINK:
		return "anon_inode:bpf_link";
	case EMU_REG_BTF:
		return "anon_inode:btf";
	case EMU_REG_PERF:
		return "anon_inode:[perf_event]";
	default:
		return NULL;
	}
}

/* A bounded appender: @len tracks what would have been written. */
struct text {
	char *buf;
	size_t sz, len;
};

__attribute__((format(printf, 2, 3))) static void put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t->len < t->sz ? t->buf + t->len : NULL, t->len < t->sz ? t->sz - t->len : 0, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

static const struct emu_reg_slot *slot_at(const struct emu_reg_hdr *reg, uint32_t i)
{
	return (const void *)((const uint8_t *)reg + EMU_REG_HDR_SZ + (size_t)i * EMU_REG_SLOT_SZ);
}

static const struct emu_reg_slot *slot_find(const struct emu_reg_hdr *reg, uint32_t kind, uint32_t id)
{
	for (uint32_t i = 0; reg && id && i < EMU_REG_SLOT_CNT; i++) {
		const struct emu_reg_slot *s = slot_at(reg, i);

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == EMU_REG_LIVE && s->kind == kind && s->id == id)
			return s;
	}
	return NULL;
}

static void put_tag(struct text *t, const uint8_t tag[8])
{
	put(t, "prog_tag:\t");
	for (int i = 0; i < 8; i++)
		put(t, "%02x", tag[i]);
	put(t, "\n");
}

static void prog_text(struct text *t, const struct emu_reg_slot *s, const struct emu_fdinfo_env *env)
{
	const struct emu_reg_prog *rp = &s->u.prog;

	put(t, "prog_type:\t%u\nprog_jited:\t%u\n", s->type, 0u);
	put_tag(t, rp->tag);
	put(t, "memlock:\t%llu\nprog_id:\t%u\n", (unsigned long long)emu_prog_memlock(rp->insn_cnt, env->ks), s->id);
	put(t, "run_time_ns:\t%llu\nrun_cnt:\t%llu\nrecursion_misses:\t%llu\n", 0ull, 0ull, 0ull);
	put(t, "verified_insns:\t%u\n", emu_prog_verified_insns(rp));
}

/*
 * A prog array's owner: the type of the first program loaded that uses it
 * (bpf_prog_map_compatible() in kernel/bpf/core.c records it).
 * DIVERGES: the kernel keeps the owner after that program is gone; we find
 * it among the live programs only, and owner_jited is 0 like prog_jited.
 */
static uint32_t prog_array_owner(const struct emu_reg_hdr *reg, uint32_t map_id)
{
	const struct emu_reg_slot *best = NULL;

	for (uint32_t i = 0; reg && i < EMU_REG_SLOT_CNT; i++) {
		const struct emu_reg_slot *s = slot_at(reg, i);
		uint32_t cnt;

		if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != EMU_REG_LIVE || s->kind != EMU_REG_PROG)
			continue;
		cnt = s->u.prog.map_cnt < 64 ? s->u.prog.map_cnt : 64;
		for (uint32_t k = 0; k < cnt; k++)
			if (s->u.prog.map_ids[k] == map_id && (!best || s->id < best->id))
				best = s;
	}
	return best ? best->type : 0;
}

static void map_text(struct text *t, const struct emu_reg_hdr *reg, const struct emu_reg_slot *s,
		     const struct emu_fdinfo_env *env)
{
	const struct emu_reg_map *m = &s->u.map;
	uint32_t owner = s->type == BPF_MAP_TYPE_PROG_ARRAY ? prog_array_owner(reg, s->id) : 0;

	put(t, "map_type:\t%u\nkey_size:\t%u\nvalue_size:\t%u\nmax_entries:\t%u\n", s->type, m->key_size,
	    m->value_size, m->max_entries);
	put(t, "map_flags:\t0x%x\nmap_extra:\t0x%llx\n", m->map_flags, (unsigned long long)m->map_extra);
	put(t, "memlock:\t%llu\nmap_id:\t%u\nfrozen:\t%u\n", (unsigned long long)emu_map_memlock(s, env), s->id,
	    __atomic_load_n(&m->frozen, __ATOMIC_ACQUIRE) ? 1u : 0u);
	if (owner)
		put(t, "owner_prog_type:\t%u\nowner_jited:\t%u\n", owner, 0u);
}

/* bpf_link_type_strs[] of kernel/bpf/syscall.c, by enum bpf_link_type. */
static const char *const link_type_name[] = {
	[1] = "raw_tracepoint", [2] = "tracing", [3] = "cgroup", [4] = "iter", [5] = "netns",
	[6] = "xdp", [7] = "perf", [8] = "kprobe_multi", [9] = "struct_ops", [10] = "netfilter",
	[11] = "tcx", [12] = "uprobe_multi", [13] = "netkit", [14] = "sockmap",
};

static void link_text(struct text *t, const struct emu_reg_hdr *reg, const struct emu_reg_slot *s,
		      const struct emu_fdinfo_env *env)
{
	const struct emu_reg_link *l = &s->u.link;
	const struct emu_reg_slot *prog = slot_find(reg, EMU_REG_PROG, l->prog_id);
	const struct emu_reg_slot *perf;
	const char *tp;
	const char *name = s->type < sizeof(link_type_name) / sizeof(link_type_name[0]) ? link_type_name[s->type] : NULL;

	if (name)
		put(t, "link_type:\t%s\n", name);
	else
		put(t, "link_type:\t<%u>\n", s->type);
	put(t, "link_id:\t%u\n", s->id);
	if (prog) {
		put_tag(t, prog->u.prog.tag);
		put(t, "prog_id:\t%u\n", prog->id);
	}
	if (s->type != BPF_LINK_TYPE_PERF_EVENT || (env->kver && env->kver < KV(6, 17, 0)))
		return;
	/*
	 * The perf link's own lines (bpf_perf_link_show_fdinfo() and its uprobe and
	 * tracepoint variants, kernel/bpf/syscall.c in 6.18; 6.1 has none - we
	 * assume 6.17 brought them).
	 */
	perf = slot_find(reg, EMU_REG_PERF, l->perf_id);
	if (!perf)
		return;
	if (perf->type == EMU_REG_PERF_UPROBE) {
		put(t, "name:\t%.*s\noffset:\t0x%llx\nref_ctr_offset:\t0x%llx\nevent_type:\t%s\n", EMU_REG_PATH_MAX,
		    perf->u.perf.path, (unsigned long long)perf->u.perf.offset,
		    (unsigned long long)perf->u.perf.ref_ctr_offset,
		    perf->u.perf.flags & EMU_REG_PERF_RETPROBE ? "uretprobe" : "uprobe");
	} else if (perf->type == EMU_REG_PERF_TRACEPOINT && env->tp_name && (tp = env->tp_name(perf->u.perf.tp_id))) {
		put(t, "tp_name:\t%s\nevent_type:\ttracepoint\n", tp);
	} else {
		/* DIVERGES: a timer event's link (or an unnamed tracepoint) gets no per-link lines. */
		return;
	}
	put(t, "cookie:\t%llu\n", (unsigned long long)l->bpf_cookie);
}

int emu_fdinfo_format(const struct emu_reg_hdr *reg, const struct emu_reg_slot *slot,
		      const struct emu_fdinfo_env *env, char *buf, size_t sz)
{
	struct text t = { buf, sz, 0 };

	if (!sz)
		return -ENOSPC;
	buf[0] = 0;
	switch (slot->kind) {
	case EMU_REG_PROG:
		prog_text(&t, slot, env);
		break;
	case EMU_REG_MAP:
		map_text(&t, reg, slot, env);
		break;
	case EMU_REG_LINK:
		link_text(&t, reg, slot, env);
		break;
	case EMU_REG_BTF:
		put(&t, "btf_id:\t%u\n", slot->id); /* bpf_btf_show_fdinfo(), kernel/bpf/btf.c */
		break;
	case EMU_REG_PERF:
		break; /* perf_fops has no show_fdinfo: only the generic lines */
	default:
		return -EINVAL;
	}
	if (t.len >= sz)
		return -ENOSPC;
	return (int)t.len;
}
