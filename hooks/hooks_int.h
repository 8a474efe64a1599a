/*
 * hooks_int.h - what the hooks/ sources share and nobody else may use: the probe site,
 * the trampoline slot layout (shared with tramp_x86_64.S), the per-thread
 * record and the entry points of each file.
 *
 * Lifetimes. A site (one probed address) is immortal: once created it stays on
 * a push-only list, so the SIGTRAP handler and late-running trampolines can
 * always read it, and re-attaching the same address reuses it. Its trampoline
 * page is immortal too (a rewritten trampoline leaks the old page rather than
 * risk a thread still parked in it). What comes and goes are the handler lists
 * (struct hook_list): immutable arrays published with a release store and freed
 * after a grace period (thread.c).
 */
#ifndef HOOKS_HOOKS_INT_H
#define HOOKS_HOOKS_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "hooks/hooks.h"
#include "hooks/xstate.h"

/*
 * Trampoline slot (one page per site, read+exec), offsets from the page start:
 *
 *   OFFSET SIZE DESCRIPTION
 *   0      8    struct hook_site * of this site (read by hook_tramp_entry)
 *   8      8    address of hook_tramp_entry (target of the stub's indirect call)
 *   16     5    stub: lea -128(%rsp),%rsp    (step over the red zone)
 *   21     6    call *-19(%rip)              (pushes the resume address, 27)
 *   27     8    resume: lea 128(%rsp),%rsp
 *   35     ...  the displaced instructions, relocated, then a jmp back
 *
 * The per-site stub calls the shared save/restore code rather than jumping to
 * it so that the return lands here with a correct return-stack prediction, and
 * so the shared code finds its site at a fixed distance from its return address.
 */
#define HOOK_SLOT_SITE_OFF 0
#define HOOK_SLOT_ENTRY_OFF 8
#define HOOK_SLOT_STUB_OFF 16
#define HOOK_SLOT_RESUME_OFF 27
#define HOOK_SLOT_CODE_OFF 35
#define HOOK_SLOT_SZ 4096
#define HOOK_RELOC_MAX 512 /* bytes of relocated code; far more than 5 displaced instructions need */
#define HOOK_PATCH_MAX 20  /* displaced bytes: 4 bytes + one instruction of at most 15 */
#define HOOK_INSN_MAX 5	   /* displaced instructions: at most one per byte of the jmp */

/*
 * Code that runs on the hit path (trampolines, dispatch, shadow stack, thread
 * registration, the SIGTRAP handler) lives in its own section so attach can
 * refuse a site inside it: probing the engine with itself would recurse
 * without end. The linker provides __start_/__stop_ symbols for it.
 */
#define HOOK_HOT __attribute__((section("bpftime_hooks_text")))
extern const char __start_bpftime_hooks_text[], __stop_bpftime_hooks_text[];

/* Immutable once published; freed only after a grace period. */
struct hook_list {
	uint32_t cnt;
	bool save_xmm; /* some handler may use xmm0-15 (no HOOK_UPROBE_VEC_CLEAN) */
	struct hook_list_ent {
		hook_handler_fn fn;
		void *data;
		struct hook_probe *probe;
	} ent[];
};

struct hook_site {
	uint64_t addr;			 /* probed address */
	struct hook_site *next;		 /* push-only registry; immutable after publish */
	uint8_t *tramp;			 /* slot page; release-published before the patch */
	struct hook_list *entry_list;	 /* acquire-loaded on every hit; NULL: none */
	struct hook_list *ret_list;	 /* idem for return probes */
	uint64_t missed;		 /* relaxed atomic: hits skipped by the recursion guard */
	uint8_t orig[HOOK_PATCH_MAX];	 /* original bytes, at least [0, patch_len) */
	uint32_t patch_len;		 /* displaced bytes: >= 5 (jmp), 1 insn (int3) */
	uint32_t nprobes;		 /* attached probes; under hook_lock */
	bool patched;			 /* the jmp is in place; under hook_lock */
	bool inner;			 /* an instruction boundary inside bytes 1..4 */
	uint8_t insn_cnt;		 /* displaced instructions */
	uint8_t insn_off[HOOK_INSN_MAX]; /* their offsets at the site */
	uint16_t insn_new[HOOK_INSN_MAX];/* their offsets in the copy (from HOOK_SLOT_CODE_OFF) */
};

struct hook_probe {
	struct hook_site *site;
	enum hook_probe_kind kind;
	hook_handler_fn fn;
	void *data;
	uint16_t *ref_ctr;
	uint32_t flags;	/* HOOK_UPROBE_* */
};

/* One record per thread that ever hit a probe; see thread.c. */
struct hook_shadow_ent {
	uint64_t ret;		 /* the caller's real return address */
	uint64_t sp;		 /* address of the return slot at function entry */
	struct hook_site *site;
};

/* One cache line each: ctr is written twice per hit and must not be shared. */
struct __attribute__((aligned(64))) hook_thread {
	uint64_t ctr;			 /* odd while handlers run; owner writes, detach reads */
	uint32_t in_use;		 /* atomic; 0: free for the next new thread */
	uint32_t depth;			 /* shadow stack entries in use; owner only */
	uint32_t cap;			 /* shadow stack capacity; owner only */
	struct hook_shadow_ent *shadow;	 /* mmap()ed, grows with mremap(); owner only */
	struct hook_thread *next;	 /* push-only registry */
};

/* tramp_x86_64.S */
void hook_tramp_entry(void);
void hook_tramp_ret(void);

/* dispatch.c: called from the trampolines. */
int hook_dispatch_entry(struct pt_regs *regs, struct hook_site *site);
uint64_t hook_dispatch_ret(struct pt_regs *regs);

/* thread.c */
extern __thread struct hook_thread *hook_thread_self_tls __attribute__((tls_model("initial-exec")));
extern int hook_thread_need_fence;
int hook_thread_init(void);
struct hook_thread *hook_thread_register(void);
void hook_thread_synchronize(void);

static inline void hook_thread_enter(struct hook_thread *t)
{
	__atomic_store_n(&t->ctr, t->ctr + 1, __ATOMIC_RELAXED);
	/*
	 * Pairs with membarrier() in hook_thread_synchronize(): with it, a
	 * compiler barrier orders this store before the list loads that follow.
	 * Without membarrier we need a real full fence.
	 */
	if (__builtin_expect(hook_thread_need_fence, 0))
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
	else
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

static inline void hook_thread_leave(struct hook_thread *t)
{
	/* Pairs with the acquire load in hook_thread_synchronize(). */
	__atomic_store_n(&t->ctr, t->ctr + 1, __ATOMIC_RELEASE);
}

/* shadow.c; push and pop are inline here because they run on every uretprobe hit. */
int hook_shadow_grow(struct hook_thread *t);

static inline int hook_shadow_push(struct hook_thread *t, struct hook_site *site, struct pt_regs *regs)
{
	uint64_t *slot = (uint64_t *)(uintptr_t)regs->sp;
	int err;

	/* Kernel's RP_CHECK_CALL: a frame is alive only if its slot is above ours. */
	while (t->depth && t->shadow[t->depth - 1].sp <= regs->sp)
		t->depth--;
	if (t->depth == t->cap) {
		hook_xstate_save(); /* mmap/mremap through libc */
		err = hook_shadow_grow(t);
		if (err)
			return err;
	}
	t->shadow[t->depth].ret = *slot;
	t->shadow[t->depth].sp = regs->sp;
	t->shadow[t->depth].site = site;
	t->depth++;
	*slot = (uint64_t)(uintptr_t)hook_tramp_ret;
	return 0;
}

static inline int hook_shadow_pop(struct hook_thread *t, uint64_t sp_after_ret, struct hook_shadow_ent *out)
{
	const uint64_t slot = sp_after_ret - 8;

	/* Deeper entries belong to frames that never returned (longjmp). */
	while (t->depth && t->shadow[t->depth - 1].sp < slot)
		t->depth--;
	if (!t->depth || t->shadow[t->depth - 1].sp != slot)
		return -ENOENT;
	*out = t->shadow[--t->depth];
	return 0;
}

/* reloc.c */
struct hook_reloc {
	uint8_t code[HOOK_RELOC_MAX];
	uint32_t code_len;  /* bytes of code[] in use */
	uint32_t patch_len; /* bytes displaced at the site, >= min_len */
	bool inner;	    /* an instruction boundary lies strictly inside bytes 1..4 */
	uint8_t insn_cnt;
	uint8_t insn_off[HOOK_INSN_MAX];  /* offsets of the displaced instructions */
	uint16_t insn_new[HOOK_INSN_MAX]; /* offsets of their copies in code[] */
};
int hook_reloc_build(const uint8_t *insn, uint32_t avail, uint64_t addr, uint64_t dest,
		     uint32_t min_len, struct hook_reloc *out);

/* tramp_alloc.c */
int hook_tramp_alloc_near(uint64_t addr, uint64_t lo, uint64_t hi, uint8_t **out);

/* maps.c */
struct hook_maps_ent {
	uint64_t start, end, off;
	uint64_t ino;
	unsigned int dev_major, dev_minor;
	int prot; /* PROT_* */
	bool shared; /* 's' in maps: MAP_SHARED */
	char path[1024]; /* as in maps, truncated if longer */
};
typedef int (*hook_maps_fn)(const struct hook_maps_ent *e, void *arg);
int hook_maps_walk(hook_maps_fn fn, void *arg);
int hook_maps_find(uint64_t addr, struct hook_maps_ent *out);

/* site_check.c: true when a branch may land inside the @len bytes a jmp at
 * @site (@e its mapping, @code a copy of its bytes) would cover, when they
 * run past the end of the enclosing function or over another symbol's start,
 * or when we cannot rule these out: patch an int3 instead. */
bool hook_site_check_int3(const struct hook_site *site, const struct hook_maps_ent *e,
			  const uint8_t *code, uint32_t len);
/* Forget every cached file and function (tests/fuzz/fuzz_site_check.c: each input is a
 * new file). Under hook_lock, with no check running. */
void hook_site_check_cache_free(void);

/* text_poke.c */
int hook_text_poke_init(void);
int hook_text_poke_jmp(struct hook_site *site, const uint8_t *jmp5, bool inner);
int hook_text_poke_restore(struct hook_site *site, bool int3);
int hook_text_poke_int3(struct hook_site *site);


/* uprobe.c: the push-only site list, for the SIGTRAP handler. */
struct hook_site *hook_site_registry_head(void);

#endif /* HOOKS_HOOKS_INT_H */
