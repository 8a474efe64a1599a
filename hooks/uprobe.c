/*
 * uprobe.c - the life cycle of probe sites: attach, detach, the site registry
 * and the handler lists the hit path reads. The kernel counterpart is
 * kernel/events/uprobes.c (uprobe_register()/uprobe_unregister(), one uprobe
 * per inode+offset shared by all consumers).
 *
 * One site per probed address, shared by every entry and return probe on it;
 * the first probe builds the trampoline and patches, the last one restores the
 * original bytes. Each change republishes two immutable lists (entry, return)
 * with release stores and frees the old ones after a grace period
 * (thread.c), so when hook_uprobe_detach() returns no thread can still be in
 * the probe's handler. All control-plane work is serialised by one mutex;
 * attach and detach cost a few syscalls (mmap, mprotect, membarrier) and are
 * expected to be rare compared with hits.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/hooks_int.h"

struct site_ctl {
	struct hook_site site;		/* first: the hit path sees only this */
	struct hook_probe **probes;	/* attached probes; under hook_lock */
	uint32_t cap;
	bool int3;			/* patch with int3, not jmp (site_check.c); under hook_lock */
	uint32_t jmp_len;		/* bytes a jmp would displace, 0: no jmp possible; under hook_lock */
};

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static struct hook_site *sites; /* push-only; release store, acquire loads */
static bool inited;

struct hook_site *hook_site_registry_head(void)
{
	/* Pairs with the release store in site_get(). */
	return __atomic_load_n(&sites, __ATOMIC_ACQUIRE);
}

/* fork() waits for an attach/detach in progress, so the child never inherits
 * a held lock or half-patched code. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&hook_lock);
}

static void fork_release(void)
{
	pthread_mutex_unlock(&hook_lock);
}

static int engine_init(void)
{
	static bool atfork_done;
	int err;

	if (inited)
		return 0;
	if (!atfork_done) {
		err = pthread_atfork(fork_prepare, fork_release, fork_release);
		if (err)
			return -err;
		atfork_done = true;
	}
	err = hook_thread_init();
	if (err)
		return err;
	err = hook_text_poke_init();
	if (err)
		return err;
	inited = true;
	return 0;
}

static struct site_ctl *site_get(uint64_t addr)
{
	struct site_ctl *c;

	for (struct hook_site *s = sites; s; s = s->next)
		if (s->addr == addr)
			return (struct site_ctl *)s;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->site.addr = addr;
	c->site.next = sites;
	/* Immortal from here on: the SIGTRAP handler may walk to it. */
	__atomic_store_n(&sites, &c->site, __ATOMIC_RELEASE);
	return c;
}

/* Another active site whose patched bytes overlap [addr, addr + len)? */
static bool site_overlaps(const struct hook_site *self, uint64_t addr, uint32_t len)
{
	for (struct hook_site *s = sites; s; s = s->next) {
		if (s == self || !s->nprobes)
			continue;
		if (s->addr < addr + len && addr < s->addr + s->patch_len) {
			log_debug("hooks: %#llx overlaps the probe site at %#llx\n",
				  (unsigned long long)addr, (unsigned long long)s->addr);
			return true;
		}
	}
	return false;
}

/*
 * jmp or int3 for the code at @s (a copy of @avail bytes in @buf), and the
 * relocated copy that goes with it in @r (to run at @dest). A jmp needs the
 * instructions of 5 bytes, all inside the enclosing function, with no branch
 * landing among them (site_check.c); everything else gets an int3, which
 * displaces only the first instruction: the kernel probes a 3-byte `xor
 * %eax,%eax; ret` or the last bytes of a mapping too. Fails only when even
 * that instruction cannot be relocated (it is an int3 already, a syscall
 * gate, ...).
 */
static int site_plan(struct site_ctl *c, const struct hook_maps_ent *e, const uint8_t *buf,
		     uint32_t avail, uint64_t dest, struct hook_reloc *r)
{
	uint64_t addr = c->site.addr;
	int err;

	err = hook_reloc_build(buf, avail, addr, dest, 5, r);
	c->jmp_len = err ? 0 : r->patch_len;
	/* (-EBUSY: an int3 in bytes 1..4, a debugger's or the int3 padding after
	 * a noreturn `call *%rax`: an int3 of ours at byte 0 leaves it alone.) */
	if (err)
		log_debug("hooks: %#llx: no room for a 5-byte jmp (%s): int3\n",
			  (unsigned long long)addr, strerror(-err));
	c->int3 = !c->jmp_len || hook_site_check_int3(&c->site, e, buf, c->jmp_len);
	if (!c->int3)
		return 0;
	err = hook_reloc_build(buf, avail, addr, dest, 1, r);
	if (err)
		log_debug("hooks: %#llx: its first instruction cannot be relocated either (%s)\n",
			  (unsigned long long)addr, strerror(-err));
	return err;
}

/*
 * Build (or reuse) the trampoline of @s. The page is written read+write, then
 * made read+exec, then published for the SIGTRAP handler.
 */
static int site_build_tramp(struct hook_site *s)
{
	static const uint8_t stub[] = {
		0x48, 0x8d, 0x64, 0x24, 0x80,		    /* lea -128(%rsp),%rsp */
		0xff, 0x15, 0xed, 0xff, 0xff, 0xff,	    /* call *-19(%rip) */
		0x48, 0x8d, 0xa4, 0x24, 0x80, 0, 0, 0,	    /* lea 128(%rsp),%rsp */
	};
	_Static_assert(HOOK_SLOT_STUB_OFF + sizeof(stub) == HOOK_SLOT_CODE_OFF, "slot layout");
	struct site_ctl *c = (struct site_ctl *)s;
	const uint8_t *code = (const uint8_t *)(uintptr_t)s->addr;
	struct hook_maps_ent e;
	struct hook_reloc r;
	uint8_t buf[32];
	uint8_t *page;
	uint32_t avail, seen_len, old_jmp_len;
	bool old_int3;
	void *entry = (void *)hook_tramp_entry;
	int err;

	/* Inside another site's bytes we would decode our own jmp. */
	if (site_overlaps(s, s->addr, 1))
		return -EBUSY;
	err = hook_maps_find(s->addr, &e);
	if (err || !(e.prot & PROT_EXEC)) {
		log_debug("hooks: %#llx is not in executable memory\n",
			  (unsigned long long)s->addr);
		return -EINVAL;
	}
	avail = (uint32_t)MIN(sizeof(buf), e.end - s->addr);
	memcpy(buf, code, avail);
	seen_len = MAX(s->patch_len, c->jmp_len);
	if (s->tramp && seen_len <= avail && !memcmp(buf, s->orig, seen_len)) {
		/* Same code as last time: the trampoline still fits if the file
		 * mapped here (maybe not the same one) gives the same choice. */
		bool int3 = !c->jmp_len || hook_site_check_int3(s, &e, buf, c->jmp_len);

		if (int3 == c->int3) {
			if (!int3 && site_overlaps(s, s->addr, s->patch_len))
				return -EBUSY;
			return 0;
		}
	}

	log_debug("hooks: building the trampoline of %#llx\n", (unsigned long long)s->addr);
	err = hook_tramp_alloc_near(s->addr, s->addr, s->addr + 5, &page);
	if (err)
		return err;
	old_jmp_len = c->jmp_len;
	old_int3 = c->int3;
	err = site_plan(c, &e, buf, avail, (uint64_t)(uintptr_t)page + HOOK_SLOT_CODE_OFF, &r);
	if (err)
		goto err_unmap;
	if (site_overlaps(s, s->addr, r.patch_len)) {
		err = -EBUSY;
		goto err_unmap;
	}
	memcpy(page + HOOK_SLOT_SITE_OFF, &s, sizeof(s));
	memcpy(page + HOOK_SLOT_ENTRY_OFF, &entry, sizeof(entry));
	memcpy(page + HOOK_SLOT_STUB_OFF, stub, sizeof(stub));
	memcpy(page + HOOK_SLOT_CODE_OFF, r.code, r.code_len);
	if (mprotect(page, HOOK_SLOT_SZ, PROT_READ | PROT_EXEC)) {
		err = -errno;
		log_debug("hooks: mprotect r-x trampoline: %s\n", strerror(-err));
		goto err_unmap;
	}
	/*
	 * A previous trampoline of this site (the code changed under us, e.g. a
	 * library was reloaded) is left mapped: a thread may still be parked in
	 * it. One page per such event.
	 */
	memcpy(s->orig, buf, MAX(r.patch_len, c->jmp_len));
	s->patch_len = r.patch_len;
	s->inner = r.inner;
	s->insn_cnt = r.insn_cnt;
	memcpy(s->insn_off, r.insn_off, sizeof(s->insn_off));
	memcpy(s->insn_new, r.insn_new, sizeof(s->insn_new));
	/* Pairs with the acquire load in trap_handler() (text_poke.c). */
	__atomic_store_n(&s->tramp, page, __ATOMIC_RELEASE);
	return 0;

err_unmap:
	/* An older trampoline, if any, stays published with its plan. */
	c->jmp_len = old_jmp_len;
	c->int3 = old_int3;
	munmap(page, HOOK_SLOT_SZ);
	return err;
}

static struct hook_list *list_build(const struct site_ctl *c, enum hook_probe_kind kind, int *err)
{
	struct hook_list *l;
	uint32_t n = 0;

	*err = 0;
	for (uint32_t i = 0; i < c->site.nprobes; i++)
		n += c->probes[i]->kind == kind;
	if (!n)
		return NULL;
	l = malloc(sizeof(*l) + n * sizeof(l->ent[0]));
	if (!l) {
		*err = -ENOMEM;
		return NULL;
	}
	l->cnt = 0;
	l->save_xmm = false;
	for (uint32_t i = 0; i < c->site.nprobes; i++) {
		struct hook_probe *p = c->probes[i];

		if (p->kind != kind)
			continue;
		l->ent[l->cnt].fn = p->fn;
		l->ent[l->cnt].data = p->data;
		l->ent[l->cnt].probe = p;
		l->save_xmm |= !(p->flags & HOOK_UPROBE_VEC_CLEAN);
		l->cnt++;
	}
	return l;
}

/*
 * Publish the lists for the current probe set, wait out readers of the old
 * ones, free them. On -ENOMEM nothing changed.
 */
static int publish(struct site_ctl *c)
{
	struct hook_list *ent, *ret, *old_ent, *old_ret;
	int err;

	ent = list_build(c, HOOK_UPROBE, &err);
	if (err)
		return err;
	ret = list_build(c, HOOK_URETPROBE, &err);
	if (err) {
		free(ent);
		return err;
	}
	/* Pair with the acquire loads in hook_dispatch_entry()/_ret() (dispatch.c). */
	old_ent = __atomic_exchange_n(&c->site.entry_list, ent, __ATOMIC_RELEASE);
	old_ret = __atomic_exchange_n(&c->site.ret_list, ret, __ATOMIC_RELEASE);
	if (!old_ent && !old_ret)
		return 0; /* nothing to wait for: nobody can hold a NULL list */
	hook_thread_synchronize();
	free(old_ent);
	free(old_ret);
	return 0;
}

static bool in_handler(void)
{
	struct hook_thread *t = hook_thread_self_tls;

	return t && (t->ctr & 1);
}

static int ref_ctr_add(uint16_t *ctr, int delta)
{
	struct hook_maps_ent e;
	int err;

	if (!ctr)
		return 0;
	err = hook_maps_find((uint64_t)(uintptr_t)ctr, &e);
	if (err || !(e.prot & PROT_WRITE)) {
		log_debug("hooks: USDT semaphore at %p is not writable memory\n", (void *)ctr);
		return err ? err : -EACCES;
	}
	if ((uintptr_t)ctr & 1)
		return -EINVAL;
	/* Mirrors update_ref_ctr() in kernel/events/uprobes.c. */
	__atomic_fetch_add(ctr, (uint16_t)delta, __ATOMIC_RELAXED);
	return 0;
}

static int opts_check(const struct hook_uprobe_opts *opts, uint16_t **ref_ctr, uint32_t *flags)
{
	*ref_ctr = NULL;
	*flags = 0;
	if (!opts)
		return 0;
	if (opts->sz < sizeof(size_t))
		return -EINVAL;
	if (opts->sz > sizeof(*opts)) {
		const uint8_t *b = (const uint8_t *)opts;

		for (size_t i = sizeof(*opts); i < opts->sz; i++)
			if (b[i])
				return -E2BIG;
	}
	if (opts->sz >= offsetof(struct hook_uprobe_opts, ref_ctr) + sizeof(opts->ref_ctr))
		*ref_ctr = opts->ref_ctr;
	if (opts->sz >= offsetof(struct hook_uprobe_opts, flags) + sizeof(opts->flags))
		*flags = opts->flags;
	if (*flags & ~HOOK_UPROBE_VEC_CLEAN)
		return -EINVAL;
	return 0;
}

int hook_uprobe_attach(void *addr, enum hook_probe_kind kind, hook_handler_fn fn, void *data,
		       const struct hook_uprobe_opts *opts, struct hook_probe **out)
{
	struct site_ctl *c;
	struct hook_probe *p;
	uint16_t *ref_ctr;
	uint32_t flags;
	int err;

	if (!addr || !fn || !out || (kind != HOOK_UPROBE && kind != HOOK_URETPROBE))
		return -EINVAL;
	if ((uintptr_t)addr + HOOK_PATCH_MAX > (uintptr_t)__start_bpftime_hooks_text &&
	    (uintptr_t)addr < (uintptr_t)__stop_bpftime_hooks_text) {
		log_debug("hooks: %p is inside the probe engine's own hit path\n", addr);
		return -EINVAL;
	}
	err = opts_check(opts, &ref_ctr, &flags);
	if (err)
		return err;
	if (in_handler())
		return -EDEADLK;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->kind = kind;
	p->fn = fn;
	p->data = data;
	p->ref_ctr = ref_ctr;
	p->flags = flags;

	pthread_mutex_lock(&hook_lock);
	err = engine_init();
	if (err)
		goto err_unlock;
	c = site_get((uint64_t)(uintptr_t)addr);
	if (!c) {
		err = -ENOMEM;
		goto err_unlock;
	}
	p->site = &c->site;
	if (!c->site.patched) {
		err = site_build_tramp(&c->site);
		if (err)
			goto err_unlock;
	}
	if (c->site.nprobes == c->cap) {
		uint32_t cap = c->cap ? c->cap * 2 : 4;
		struct hook_probe **np = realloc(c->probes, cap * sizeof(*np));

		if (!np) {
			err = -ENOMEM;
			goto err_unlock;
		}
		c->probes = np;
		c->cap = cap;
	}
	err = ref_ctr_add(ref_ctr, 1);
	if (err)
		goto err_unlock;
	c->probes[c->site.nprobes++] = p;
	err = publish(c);
	if (err)
		goto err_remove;
	if (!c->site.patched && c->int3) {
		err = hook_text_poke_int3(&c->site);
		if (err)
			goto err_remove;
		c->site.patched = true;
	} else if (!c->site.patched) {
		uint8_t jmp[5] = { 0xe9 };
		int32_t rel = (int32_t)((int64_t)(uintptr_t)(c->site.tramp + HOOK_SLOT_STUB_OFF) -
					(int64_t)(c->site.addr + 5));

		memcpy(jmp + 1, &rel, 4);
		err = hook_text_poke_jmp(&c->site, jmp, c->site.inner);
		if (err)
			goto err_remove;
		c->site.patched = true;
	}
	pthread_mutex_unlock(&hook_lock);
	*out = p;
	return 0;

err_remove:
	c->site.nprobes--;
	if (publish(c))
		log_warn("hooks: out of memory while undoing an attach at %p\n", addr);
	ref_ctr_add(ref_ctr, -1);
err_unlock:
	pthread_mutex_unlock(&hook_lock);
	free(p);
	return err;
}

int hook_uprobe_detach(struct hook_probe *p)
{
	struct site_ctl *c;
	uint32_t i;
	int err;

	if (!p)
		return 0;
	if (in_handler())
		return -EDEADLK;
	c = (struct site_ctl *)p->site;
	pthread_mutex_lock(&hook_lock);
	for (i = 0; i < c->site.nprobes && c->probes[i] != p; i++)
		;
	if (i == c->site.nprobes) {
		pthread_mutex_unlock(&hook_lock);
		return -ENOENT;
	}
	if (c->site.nprobes == 1) {
		/* Last one: the original bytes go back before the lists go away. */
		err = hook_text_poke_restore(&c->site, c->int3);
		if (err) {
			pthread_mutex_unlock(&hook_lock);
			return err;
		}
		c->site.patched = false;
	}
	c->probes[i] = c->probes[--c->site.nprobes];
	err = publish(c);
	if (err) {
		/* Keep the probe (the site may have been unpatched: the handler just
		 * stops firing) and let the caller retry. */
		c->probes[c->site.nprobes++] = p;
		pthread_mutex_unlock(&hook_lock);
		return err;
	}
	ref_ctr_add(p->ref_ctr, -1);
	pthread_mutex_unlock(&hook_lock);
	free(p);
	return 0;
}

uint64_t hook_probe_missed(const struct hook_probe *p)
{
	return p ? __atomic_load_n(&p->site->missed, __ATOMIC_RELAXED) : 0;
}

int hook_uprobe_attach_file(const char *path, uint64_t off, uint64_t ref_ctr_off,
			    enum hook_probe_kind kind, hook_handler_fn fn, void *data,
			    struct hook_probe **out)
{
	struct hook_uprobe_opts opts = { .sz = sizeof(opts) };
	uint16_t *ctr;
	void *addr;
	int err;

	err = hook_resolve_file_offset(path, off, &addr);
	if (err)
		return err;
	if (ref_ctr_off) {
		err = hook_resolve_ref_ctr(path, ref_ctr_off, &ctr);
		if (err)
			return err;
		opts.ref_ctr = ctr;
	}
	return hook_uprobe_attach(addr, kind, fn, data, &opts, out);
}
