/*
 * check_hooks.c - the "hooks" suite: the in-process uprobe/uretprobe engine.
 *
 * One TCase per file of hooks/: "reloc" (each kind of first instruction runs
 * correctly from the trampoline, or is refused with the right errno),
 * "uprobe" (attach/detach life cycle, shared sites, exact counts across
 * threads, attach/detach while threads hammer the function, semaphores),
 * "dispatch" (what handlers see in pt_regs and what they may change),
 * "shadow" (uretprobes: recursion, threads, longjmp), "maps" (file offset
 * resolution in the executable and in libc). The probe targets are assembly
 * (tests/hooks_targets.S) so their first instructions are known.
 */
#include "config.h"

#include <bpf/bpf.h>
#include <check.h>
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <linux/perf_event.h>
#include <stdbool.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks.h"
#include "hooks/xstate.h"
#include "tests/hooks_targets.h"

struct counter {
	uint64_t hits;
	struct pt_regs last;
};

static void count_fn(struct pt_regs *regs, void *data)
{
	struct counter *c = data;

	__atomic_fetch_add(&c->hits, 1, __ATOMIC_RELAXED);
	c->last = *regs;
}

static void count_only_fn(struct pt_regs *regs, void *data)
{
	__atomic_fetch_add((uint64_t *)data, 1, __ATOMIC_RELAXED);
}

static struct hook_probe *attach_ok(void *addr, enum hook_probe_kind kind, hook_handler_fn fn,
				    void *data)
{
	struct hook_probe *p = NULL;
	int err = hook_uprobe_attach(addr, kind, fn, data, NULL, &p);

	ck_assert_msg(err == 0, "attach at %p: %d (%s)", addr, err, strerror(-err));
	return p;
}

/* File offsets from the ELF program headers (not from /proc/self/maps). */
struct phdr_arg {
	uintptr_t addr;
	uint64_t off;
	char path[4096];
	int found;
};

/* File offset of @addr from the ELF program headers (not from /proc/self/maps). */
static int phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct phdr_arg *a = data;

	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr;

		if (ph->p_type != PT_LOAD || a->addr < start || a->addr >= start + ph->p_filesz)
			continue;
		a->off = a->addr - start + ph->p_offset;
		strncpy(a->path, info->dlpi_name[0] ? info->dlpi_name : "/proc/self/exe",
			sizeof(a->path) - 1);
		a->found = 1;
		return 1;
	}
	return 0;
}

static struct phdr_arg file_off_of(const void *addr)
{
	struct phdr_arg a = { .addr = (uintptr_t)addr };

	dl_iterate_phdr(phdr_cb, &a);
	ck_assert_int_eq(a.found, 1);
	return a;
}

/* ---------------------------------------------------------------- reloc -- */

/* Attach to @fn (+@off), call it through @call, check the result and one hit. */
struct reloc_case {
	const char *name;
	void *fn;
	unsigned int off;
	long (*call)(long);
	long arg, want;
};

static long call_push(long a) { return t_push(a, 4); }
static long call_endbr(long a) { return t_endbr(a); }
static long call_nop5(long a) { return t_nop5(a); }
static long call_mov(long a) { return t_mov(a); }
static long call_riprel(long a) { return t_riprel(a); }
static long call_jcc(long a) { return t_jcc(a); }
static long call_tail(long a) { return t_tail(a); }
static long call_call(long a) { return t_call(a); }
static long call_redzone(long a) { return t_redzone(a); }
static long call_ovf(long a) { return t_ovf(a, 1); }
static long call_ripcmp(long a) { return t_ripcmp(); }
static long call_riplea(long a)
{
	long r = t_riplea(a);

	return t_data2 == a ? r : -1;
}

static const struct reloc_case reloc_cases[] = {
	{ "push %rbp", (void *)t_push, 0, call_push, 3, 7 },
	{ "push at +1 (mov %rsp,%rbp)", (void *)t_push, 1, call_push, 3, 7 },
	{ "endbr64", (void *)t_endbr, 0, call_endbr, 9, 10 },
	{ "nop5", (void *)t_nop5, 0, call_nop5, 9, 11 },
	{ "mov", (void *)t_mov, 0, call_mov, 9, 12 },
	{ "rip-relative load", (void *)t_riprel, 0, call_riprel, 5, 1005 },
	{ "rip-relative lea", (void *)t_riplea, 0, call_riplea, 21, 42 },
	{ "rip-relative cmp with imm32", (void *)t_ripcmp, 0, call_ripcmp, 0, 1 },
	{ "jcc taken", (void *)t_jcc, 0, call_jcc, 0, 42 },
	{ "jcc not taken", (void *)t_jcc, 0, call_jcc, 5, 6 },
	{ "tail jmp rel32", (void *)t_tail, 0, call_tail, 1, 3 },
	{ "call rel32", (void *)t_call, 0, call_call, 1, 12 },
	{ "red zone live at +5", (void *)t_redzone, 5, call_redzone, 10, 15 },
	{ "ZF live at jz (+3)", (void *)t_jcc, 3, call_jcc, 0, 42 },
	{ "ZF live at jz (+3), not taken", (void *)t_jcc, 3, call_jcc, 7, 8 },
	{ "OF live at jo (+6)", (void *)t_ovf, 6, call_ovf, INT64_MAX, 1 },
	{ "OF live at jo (+6), not taken", (void *)t_ovf, 6, call_ovf, 5, 0 },
};

START_TEST(test_reloc_first_insn_runs_correctly)
{
	const struct reloc_case *rc = &reloc_cases[_i];
	struct counter c = { 0 };
	uint8_t *addr = (uint8_t *)rc->fn + rc->off;
	struct hook_probe *p = attach_ok(addr, HOOK_UPROBE, count_fn, &c);

	ck_assert_msg(rc->call(rc->arg) == rc->want, "%s: wrong result", rc->name);
	ck_assert_msg(c.hits == 1, "%s: %lu hits", rc->name, (unsigned long)c.hits);
	ck_assert_uint_eq(c.last.ip, (uintptr_t)addr);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_msg(rc->call(rc->arg) == rc->want, "%s: wrong result after detach", rc->name);
	ck_assert_uint_eq(c.hits, 1);
}
END_TEST

struct refuse_case {
	void *fn;
	int err;
};

static const struct refuse_case refuse_cases[] = {
	{ (void *)t_loop, -EOPNOTSUPP }, /* loop rel8 */
};

START_TEST(test_reloc_refused_leaves_code_intact)
{
	const struct refuse_case *rc = &refuse_cases[_i];
	uint8_t before[16], after[16];
	struct counter c = { 0 };
	struct hook_probe *p = (void *)1;

	memcpy(before, rc->fn, sizeof(before));
	ck_assert_int_eq(hook_uprobe_attach(rc->fn, HOOK_UPROBE, count_fn, &c, NULL, &p), rc->err);
	ck_assert_ptr_eq(p, (void *)1);
	memcpy(after, rc->fn, sizeof(after));
	ck_assert_int_eq(memcmp(before, after, sizeof(before)), 0);
}
END_TEST

/*
 * Every function libc exports, probed at once, under a real workload: the
 * relocation meets the prologues a distribution compiler actually emits
 * (endbr64, stack protector loads through %fs, RIP-relative loads, jumps
 * in the first bytes), and the engine keeps working while malloc, memcpy
 * and the signal functions it uses itself are probed. Symbols come from
 * libc's .dynsym, read from the file with <elf.h>.
 */
static int dynsym_funcs(const char *path, uint64_t **offs, int *cnt)
{
	FILE *f = fopen(path, "rb");
	Elf64_Ehdr eh;
	Elf64_Shdr *sh = NULL;
	int n = 0, cap = 0, ret = -1;

	*offs = NULL;
	if (!f || fread(&eh, sizeof(eh), 1, f) != 1)
		goto out;
	sh = calloc(eh.e_shnum, sizeof(*sh));
	if (!sh || fseek(f, (long)eh.e_shoff, SEEK_SET) ||
	    fread(sh, sizeof(*sh), eh.e_shnum, f) != eh.e_shnum)
		goto out;
	for (int i = 0; i < eh.e_shnum; i++) {
		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		for (uint64_t k = 0; k < sh[i].sh_size / sizeof(Elf64_Sym); k++) {
			Elf64_Sym sym;

			if (fseek(f, (long)(sh[i].sh_offset + k * sizeof(sym)), SEEK_SET) ||
			    fread(&sym, sizeof(sym), 1, f) != 1)
				goto out;
			if (ELF64_ST_TYPE(sym.st_info) != STT_FUNC &&
			    ELF64_ST_TYPE(sym.st_info) != STT_GNU_IFUNC)
				continue;
			if (!sym.st_value || sym.st_shndx == SHN_UNDEF)
				continue;
			if (n == cap) {
				uint64_t *nv = realloc(*offs, (cap = cap ? 2 * cap : 1024) * sizeof(**offs));

				if (!nv)
					goto out;
				*offs = nv;
			}
			(*offs)[n++] = sym.st_value; /* a virtual address, relative to the load base */
		}
	}
	ret = 0;
out:
	free(sh);
	if (f)
		fclose(f);
	*cnt = n;
	return ret;
}

static int qsort_cmp(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

static void *libc_worker(void *arg)
{
	char buf[128];

	for (int i = 0; i < 500; i++) {
		char *p = malloc(64 + i);

		snprintf(buf, sizeof(buf), "%d %s %.2f", i, "x", i * 1.5);
		strcpy(p, buf);
		free(strdup(p));
		free(p);
	}
	return NULL;
}

START_TEST(test_reloc_every_libc_function_at_once)
{
	void *getpid_addr = dlsym(RTLD_DEFAULT, "getpid");
	struct phdr_arg libc;
	uint64_t *offs, hits = 0;
	struct hook_probe **ps;
	int cnt = 0, attached = 0, refused = 0, arr[500];
	uint8_t *before;
	pthread_t th[4];
	Dl_info dli;

	libc = file_off_of(getpid_addr);
	ck_assert_int_eq(dynsym_funcs(libc.path, &offs, &cnt), 0);
	(void)libc.off;
	ck_assert_int_gt(cnt, 1000);
	ps = calloc((size_t)cnt, sizeof(*ps));
	before = calloc((size_t)cnt, 16);
	ck_assert_ptr_nonnull(ps);
	ck_assert_ptr_nonnull(before);
	ck_assert_int_ne(dladdr(getpid_addr, &dli), 0);
	/* dli_fbase is libc's load base (its first PT_LOAD has vaddr 0). */
#define LIBC_AT(o) ((uint8_t *)dli.dli_fbase + (o))
	for (int i = 0; i < cnt; i++)
		memcpy(before + 16 * i, LIBC_AT(offs[i]), 16);
	for (int i = 0; i < cnt; i++) {
		void *addr = LIBC_AT(offs[i]);
		int err;

		err = hook_uprobe_attach(addr, HOOK_UPROBE, count_only_fn, &hits, NULL, &ps[i]);
		if (!err)
			attached++;
		else if (err == -EBUSY) /* aliases of one address */
			refused++, ps[i] = NULL;
		else
			ck_abort_msg("libc function at %#lx: %d", (unsigned long)offs[i], err);
	}
	/* Nearly everything is relocatable; functions shorter than a jmp get an int3. */
	ck_assert_int_gt(attached, cnt * 9 / 10);
	for (int i = 0; i < 500; i++)
		arr[i] = rand();
	qsort(arr, 500, sizeof(arr[0]), qsort_cmp);
	for (int i = 1; i < 500; i++)
		ck_assert_int_le(arr[i - 1], arr[i]);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, libc_worker, NULL), 0);
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	ck_assert_uint_gt(hits, 4 * 500);
	for (int i = cnt - 1; i >= 0; i--)
		ck_assert_int_eq(hook_uprobe_detach(ps[i]), 0);
	for (int i = 0; i < cnt; i++)
		ck_assert_msg(!memcmp(before + 16 * i, LIBC_AT(offs[i]), 16),
			      "libc bytes at %#lx not restored", (unsigned long)offs[i]);
#undef LIBC_AT
	free(before);
	free(ps);
	free(offs);
}
END_TEST

/* --------------------------------------------------------------- uprobe -- */

START_TEST(test_uprobe_detach_restores_bytes_and_reattach_works)
{
	void *fns[] = { (void *)t_push, (void *)t_nop5, (void *)t_mov, (void *)t_endbr };

	for (size_t f = 0; f < sizeof(fns) / sizeof(fns[0]); f++) {
		uint8_t orig[16];
		struct counter c = { 0 };

		memcpy(orig, fns[f], sizeof(orig));
		for (int round = 0; round < 3; round++) {
			struct hook_probe *p = attach_ok(fns[f], HOOK_UPROBE, count_fn, &c);

			ck_assert_uint_eq(((uint8_t *)fns[f])[0], 0xe9);
			ck_assert_int_eq(hook_uprobe_detach(p), 0);
			ck_assert_int_eq(memcmp(orig, fns[f], sizeof(orig)), 0);
		}
	}
	ck_assert_int_eq(hook_uprobe_detach(NULL), 0);
}
END_TEST

START_TEST(test_uprobe_shared_site_entry_and_return)
{
	uint64_t a = 0, b = 0, r = 0;
	struct hook_probe *pa = attach_ok((void *)t_push, HOOK_UPROBE, count_only_fn, &a);
	struct hook_probe *pr = attach_ok((void *)t_push, HOOK_URETPROBE, count_only_fn, &r);
	struct hook_probe *pb = attach_ok((void *)t_push, HOOK_UPROBE, count_only_fn, &b);

	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(t_push(i, 1), i + 1);
	ck_assert_uint_eq(a, 1000);
	ck_assert_uint_eq(b, 1000);
	ck_assert_uint_eq(r, 1000);
	ck_assert_int_eq(hook_uprobe_detach(pa), 0);
	for (int i = 0; i < 10; i++)
		t_push(i, 1);
	ck_assert_uint_eq(a, 1000);
	ck_assert_uint_eq(b, 1010);
	ck_assert_uint_eq(r, 1010);
	ck_assert_int_eq(hook_uprobe_detach(pb), 0);
	ck_assert_int_eq(hook_uprobe_detach(pr), 0);
	ck_assert_uint_eq(((uint8_t *)t_push)[0], 0x55); /* push %rbp is back */
}
END_TEST

START_TEST(test_uprobe_bad_args_einval)
{
	struct hook_probe *p = NULL;
	struct {
		struct hook_uprobe_opts o;
		uint64_t extra;
	} big = { { .sz = sizeof(big) }, 1 };
	struct hook_uprobe_opts tiny = { .sz = 1 };

	ck_assert_int_eq(hook_uprobe_attach(NULL, HOOK_UPROBE, count_only_fn, NULL, NULL, &p), -EINVAL);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_push, HOOK_UPROBE, NULL, NULL, NULL, &p), -EINVAL);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_push, 7, count_only_fn, NULL, NULL, &p), -EINVAL);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_push, HOOK_UPROBE, count_only_fn, NULL, &big.o, &p),
			 -E2BIG);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_push, HOOK_UPROBE, count_only_fn, NULL, &tiny, &p),
			 -EINVAL);
	uint64_t n = 0;

	/* The control plane may be probed (only the hit path is refused). */
	ck_assert_int_eq(hook_uprobe_attach((void *)hook_uprobe_detach, HOOK_UPROBE, count_only_fn,
					    &n, NULL, &p), 0);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_uint_eq(n, 1);
	p = NULL;
	/* Data is not code. */
	ck_assert_int_eq(hook_uprobe_attach(&t_data, HOOK_UPROBE, count_only_fn, NULL, NULL, &p), -EINVAL);
	ck_assert_ptr_null(p);
}
END_TEST

static void *nop5_thread(void *arg)
{
	return (void *)t_nop5(1);
}

START_TEST(test_uprobe_engine_own_code_and_libc_mmap)
{
	extern int hook_dispatch_entry(struct pt_regs *regs, void *site);
	void *mmap_addr = dlsym(RTLD_DEFAULT, "mmap");
	uint64_t n = 0, m = 0;
	struct hook_probe *p = NULL, *q;
	pthread_t th;
	void *ret;

	ck_assert_int_eq(hook_uprobe_attach((void *)hook_dispatch_entry, HOOK_UPROBE, count_only_fn,
					    &n, NULL, &p), -EINVAL);
	ck_assert_ptr_null(p);
	/* A probe on mmap(), which a new thread's first hit uses to register. */
	ck_assert_ptr_nonnull(mmap_addr);
	p = attach_ok(mmap_addr, HOOK_UPROBE, count_only_fn, &m);
	q = attach_ok((void *)t_nop5, HOOK_URETPROBE, count_only_fn, &n);
	ck_assert_int_eq(pthread_create(&th, NULL, nop5_thread, NULL), 0);
	pthread_join(th, &ret);
	ck_assert_int_eq((long)ret, 3);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
}
END_TEST

START_TEST(test_uprobe_overlapping_site_ebusy)
{
	uint64_t n = 0;
	struct hook_probe *p = attach_ok((void *)t_push, HOOK_UPROBE, count_only_fn, &n), *q = NULL;

	ck_assert_int_eq(hook_uprobe_attach((uint8_t *)t_push + 1, HOOK_UPROBE, count_only_fn, &n,
					    NULL, &q),
			 -EBUSY);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* Once the first site is gone the inner one is fine. */
	q = attach_ok((uint8_t *)t_push + 1, HOOK_UPROBE, count_only_fn, &n);
	ck_assert_int_eq(t_push(1, 1), 2);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
}
END_TEST

/*
 * A 1-byte nop site (a USDT probe) is patched with an int3, never a jmp:
 * the instruction after the nop is a branch target, and a 5-byte jmp would
 * cover it. Odd arguments branch there while the probe is attached.
 */
START_TEST(test_uprobe_nop1_site_gets_int3)
{
	uint8_t before[5], during[5], after[5];
	struct hook_probe *p;
	uint64_t hits = 0;

	/* Through volatile reads: the compiler takes the const array for immutable. */
#define SITE_READ(buf)                                                          \
	for (int i_ = 0; i_ < 5; i_++)                                          \
		(buf)[i_] = ((volatile const unsigned char *)t_usdt_site)[i_]
	SITE_READ(before);
	ck_assert_int_eq(before[0], 0x90);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_usdt_site, HOOK_UPROBE, count_only_fn, &hits, NULL, &p), 0);
	SITE_READ(during);
	ck_assert_int_eq(during[0], 0xcc);
	ck_assert_int_eq(memcmp(during + 1, before + 1, 4), 0);
	for (long i = 0; i < 100; i++)
		ck_assert_int_eq(t_usdt(i), i + 8);
	ck_assert_uint_eq(hits, 50);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	SITE_READ(after);
#undef SITE_READ
	ck_assert_int_eq(memcmp(after, before, 5), 0);
	for (long i = 0; i < 10; i++)
		ck_assert_int_eq(t_usdt(i), i + 8);
	ck_assert_uint_eq(hits, 50);
}
END_TEST

/*
 * site_check.c: a jmp where nothing branches into the bytes it covers, an
 * int3 where something does or may (a jump table). Each case calls the
 * function over a range of arguments while attached: a wrong jmp would send
 * a branch into the middle of it (a crash or a wrong result).
 */
static const struct site_case {
	const char *what;
	const void *site;
	long (*fn)(long);
	long lo, hi;	 /* arguments [lo, hi) */
	uint8_t patched; /* first byte while attached: 0xe9 jmp, 0xcc int3 */
	uint64_t hits;
} site_cases[] = {
	{ "USDT nop, the next byte a branch target", t_usdt_site, t_usdt, 0, 100, 0xcc, 50 },
	{ "USDT nop, a branch to the end of the range", t_usdt_jmp_site, t_usdt_jmp, 0, 100, 0xe9, 50 },
	{ "func+2, a loop head inside the range", t_inner_site, t_inner, 1, 101, 0xcc, 100 },
	{ "entry, a loop back to entry+2", (const void *)t_entryloop, t_entryloop, 1, 101, 0xcc, 100 },
	{ "func+6 in a function with a jump table", t_switch_site, t_switch, -2, 98, 0xcc, 3 },
	{ "entry of a function with a jump table", (const void *)t_switch, t_switch, -2, 98, 0xe9, 100 },
	{ "foo.cold whose parent branches into it", t_split_cold_site, t_split, 0, 100, 0xcc, 50 },
	{ "foo.cold entered at its start only", t_split2_cold_site, t_split2, 0, 100, 0xe9, 50 },
	{ "foo.cold with no jump back to its parent", t_split3_cold_site, t_split3, 0, 100, 0xcc, 50 },
	{ "entry its neighbour jumps to entry+3", (const void *)t_nb, t_nb_pre, 0, 100, 0xcc, 0 },
};

static uint8_t code_byte(const void *p, int i)
{
	/* Through a volatile read: the compiler takes the code for immutable. */
	return ((volatile const uint8_t *)p)[i];
}

START_TEST(test_site_check_jmp_or_int3)
{
	const struct site_case *c = &site_cases[_i];
	long want[128];
	uint8_t before[8];
	struct hook_probe *p;
	uint64_t hits = 0;

	ck_assert_int_le(c->hi - c->lo, 128);
	for (int i = 0; i < 8; i++)
		before[i] = code_byte(c->site, i);
	for (long a = c->lo; a < c->hi; a++)
		want[a - c->lo] = c->fn(a);
	p = attach_ok((void *)c->site, HOOK_UPROBE, count_only_fn, &hits);
	ck_assert_msg(code_byte(c->site, 0) == c->patched, "%s: byte %#x, want %#x", c->what,
		      code_byte(c->site, 0), c->patched);
	for (long a = c->lo; a < c->hi; a++)
		ck_assert_int_eq(c->fn(a), want[a - c->lo]);
	ck_assert_uint_eq(hits, c->hits);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(code_byte(c->site, i), before[i]);
}
END_TEST

/*
 * Code in no file (a copy of t_push and t_usdt_jmp in anonymous memory): no
 * symbols, so no analysis; both get an int3, also t_push's entry, which a
 * file's symbol would have named a function start.
 */
START_TEST(test_site_check_anonymous_code_gets_int3)
{
	uint8_t *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long (*push)(long, long) = (long (*)(long, long))(void *)page;
	long (*usdt)(long) = (long (*)(long))(void *)(page + 64);
	struct hook_probe *p, *q;
	uint64_t hits = 0;

	ck_assert_ptr_ne(page, MAP_FAILED);
	memcpy(page, (const void *)t_push, 16);
	memcpy(page + 64, (const void *)t_usdt_jmp, 32);
	ck_assert_int_eq(mprotect(page, 4096, PROT_READ | PROT_EXEC), 0);
	p = attach_ok(page, HOOK_UPROBE, count_only_fn, &hits);
	q = attach_ok(page + 64 + (t_usdt_jmp_site - (const unsigned char *)t_usdt_jmp), HOOK_UPROBE,
		      count_only_fn, &hits);
	ck_assert_uint_eq(code_byte(page, 0), 0xcc);
	ck_assert_uint_eq(code_byte(page, 64 + (t_usdt_jmp_site - (const unsigned char *)t_usdt_jmp)), 0xcc);
	ck_assert_int_eq(push(2, 3), 5);
	ck_assert_int_eq(usdt(2), 10);
	ck_assert_int_eq(usdt(3), 8);
	ck_assert_uint_eq(hits, 2);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_uint_eq(code_byte(page, 0), 0x55);
}
END_TEST

/*
 * Functions shorter than a jmp get an int3 (the kernel probes them too), and
 * a jmp never covers the next function's first bytes: t_tiny (3 bytes) and
 * t_fall (4 bytes, falls through) are followed directly by another function.
 * Exact hits on both neighbours; uretprobes see the return values; detaching
 * the int3 site leaves its neighbour's jmp alone.
 */
START_TEST(test_site_check_short_functions_get_int3)
{
	struct counter rt = { 0 }, rf = { 0 };
	uint64_t tiny = 0, next = 0, fall = 0, fnext = 0, sh = 0, j8 = 0;
	uint8_t tiny_before[16], fall_before[16];
	struct hook_probe *p[8];

	for (int i = 0; i < 16; i++) {
		tiny_before[i] = code_byte((const void *)t_tiny, i);
		fall_before[i] = code_byte((const void *)t_fall, i);
	}
	p[0] = attach_ok((void *)t_tiny, HOOK_UPROBE, count_only_fn, &tiny);
	p[1] = attach_ok((void *)t_tiny_next, HOOK_UPROBE, count_only_fn, &next);
	p[2] = attach_ok((void *)t_tiny, HOOK_URETPROBE, count_fn, &rt);
	ck_assert_uint_eq(code_byte((const void *)t_tiny, 0), 0xcc);
	ck_assert_uint_eq(code_byte((const void *)t_tiny_next, 0), 0xe9);
	for (long x = 0; x < 10; x++) {
		ck_assert_int_eq(t_tiny(), 0);
		ck_assert_int_eq(t_tiny_next(x), x + 1);
	}
	ck_assert_uint_eq(tiny, 10);
	ck_assert_uint_eq(next, 10);
	ck_assert_uint_eq(rt.hits, 10);
	ck_assert_uint_eq(rt.last.ax, 0);
	ck_assert_int_eq(hook_uprobe_detach(p[0]), 0);
	ck_assert_int_eq(hook_uprobe_detach(p[2]), 0);
	/* Only t_tiny's first byte went back: t_tiny_next keeps its jmp. */
	ck_assert_uint_eq(code_byte((const void *)t_tiny, 0), tiny_before[0]);
	ck_assert_uint_eq(code_byte((const void *)t_tiny_next, 0), 0xe9);
	ck_assert_int_eq(t_tiny(), 0);
	ck_assert_int_eq(t_tiny_next(41), 42);
	ck_assert_uint_eq(next, 11);
	ck_assert_int_eq(hook_uprobe_detach(p[1]), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(code_byte((const void *)t_tiny, i), tiny_before[i]);

	p[3] = attach_ok((void *)t_fall, HOOK_UPROBE, count_only_fn, &fall);
	p[5] = attach_ok((void *)t_fall, HOOK_URETPROBE, count_fn, &rf);
	ck_assert_uint_eq(code_byte((const void *)t_fall, 0), 0xcc);
	/* A jmp at t_fall would have put its last byte here. */
	ck_assert_uint_eq(code_byte((const void *)t_fall_next, 0), fall_before[4]);
	ck_assert_int_eq(t_fall_next(1), 2);
	p[4] = attach_ok((void *)t_fall_next, HOOK_UPROBE, count_only_fn, &fnext);
	ck_assert_uint_eq(code_byte((const void *)t_fall_next, 0), 0xcc);
	for (long x = 0; x < 10; x++) {
		ck_assert_int_eq(t_fall(x), 4 * x + 1);
		ck_assert_int_eq(t_fall_next(x), x + 1);
	}
	ck_assert_uint_eq(fall, 10);
	ck_assert_uint_eq(fnext, 20); /* t_fall runs into it: a hit each time, as in the kernel */
	ck_assert_uint_eq(rf.hits, 10);
	ck_assert_uint_eq(rf.last.ax, 37);
	for (int i = 3; i < 6; i++)
		ck_assert_int_eq(hook_uprobe_detach(p[i]), 0);
	for (int i = 0; i < 16; i++)
		ck_assert_uint_eq(code_byte((const void *)t_fall, i), fall_before[i]);

	/* t_jmp8 (a 2-byte jmp to t_short) and t_short: both hit on each call. */
	p[6] = attach_ok((void *)t_short, HOOK_UPROBE, count_only_fn, &sh);
	p[7] = attach_ok((void *)t_jmp8, HOOK_UPROBE, count_only_fn, &j8);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(t_jmp8(), 0);
	ck_assert_uint_eq(sh, 5);
	ck_assert_uint_eq(j8, 5);
	ck_assert_int_eq(hook_uprobe_detach(p[6]), 0);
	ck_assert_int_eq(hook_uprobe_detach(p[7]), 0);
	ck_assert_int_eq(t_jmp8(), 0);
	ck_assert_uint_eq(sh + j8, 10);
}
END_TEST

/*
 * A 3-byte function in the last bytes of a mapping: no jmp fits, the int3
 * must not need the (unmapped) next page, neither to patch nor to restore.
 */
START_TEST(test_site_check_function_at_mapping_end_gets_int3)
{
	static const uint8_t xor_ret[] = { 0x31, 0xc0, 0xc3 }; /* xor %eax,%eax; ret */
	uint8_t *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint8_t *site;
	struct counter r = { 0 };
	struct hook_probe *p, *q;
	uint64_t hits = 0;
	long (*fn)(void);

	ck_assert_ptr_ne(page, MAP_FAILED);
	ck_assert_int_eq(munmap(page + 4096, 4096), 0);
	site = page + 4096 - sizeof(xor_ret);
	fn = (long (*)(void))(void *)site;
	memset(page, 0x90, 4096);
	memcpy(site, xor_ret, sizeof(xor_ret));
	ck_assert_int_eq(mprotect(page, 4096, PROT_READ | PROT_EXEC), 0);
	p = attach_ok(site, HOOK_UPROBE, count_only_fn, &hits);
	q = attach_ok(site, HOOK_URETPROBE, count_fn, &r);
	ck_assert_uint_eq(code_byte(site, 0), 0xcc);
	ck_assert_int_eq(fn(), 0);
	ck_assert_int_eq(fn(), 0);
	ck_assert_uint_eq(hits, 2);
	ck_assert_uint_eq(r.hits, 2);
	ck_assert_uint_eq(r.last.ax, 0);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(memcmp(site, xor_ret, sizeof(xor_ret)), 0);
	ck_assert_int_eq(fn(), 0);
	ck_assert_uint_eq(hits, 2);
	munmap(page, 4096);
}
END_TEST

/*
 * Code in a file that is not a whole ELF file (hostile or truncated): the
 * first page of our own executable (a valid ELF header whose section headers
 * lie beyond the end), then t_usdt_jmp's code; and the same code in a file
 * of zeros. Neither gives symbols: conservative int3, nothing crashes.
 */
START_TEST(test_site_check_bad_elf_file_gets_int3)
{
	const size_t site_off = (size_t)(t_usdt_jmp_site - (const unsigned char *)t_usdt_jmp);
	static char zeros[4096];
	uint8_t head[4096];
	char path[] = "site_check_XXXXXX";
	int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);

	ck_assert_int_ge(exe, 0);
	ck_assert_int_eq(pread(exe, head, sizeof(head), 0), (ssize_t)sizeof(head));
	close(exe);
	for (int round = 0; round < 2; round++) {
		int fd = mkstemp(path);
		struct hook_probe *p;
		uint64_t hits = 0;
		uint8_t *map;
		long (*fn)(long);

		ck_assert_int_ge(fd, 0);
		ck_assert_int_eq(write(fd, round ? zeros : (const char *)head, 4096), 4096);
		ck_assert_int_eq(write(fd, (const void *)t_usdt_jmp, 32), 32);
		map = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
		close(fd);
		ck_assert_ptr_ne(map, MAP_FAILED);
		fn = (long (*)(long))(void *)(map + 4096);
		p = attach_ok(map + 4096 + site_off, HOOK_UPROBE, count_only_fn, &hits);
		ck_assert_uint_eq(code_byte(map, 4096 + (int)site_off), 0xcc);
		ck_assert_int_eq(fn(2), 10);
		ck_assert_int_eq(fn(3), 8);
		ck_assert_uint_eq(hits, 1);
		ck_assert_int_eq(hook_uprobe_detach(p), 0);
		munmap(map, 8192);
		unlink(path);
		memcpy(path + sizeof(path) - 7, "XXXXXX", 6);
	}
}
END_TEST

START_TEST(test_uprobe_usdt_semaphore_counts_attachments)
{
	struct hook_uprobe_opts o = { .sz = sizeof(o), .ref_ctr = &t_sema };
	struct hook_probe *p, *q;
	uint64_t n = 0;

	ck_assert_int_eq(t_sema, 0);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_nop5, HOOK_UPROBE, count_only_fn, &n, &o, &p), 0);
	ck_assert_int_eq(t_sema, 1);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_nop5, HOOK_URETPROBE, count_only_fn, &n, &o, &q), 0);
	ck_assert_int_eq(t_sema, 2);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(t_sema, 1);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(t_sema, 0);
	/* A semaphore in read-only memory is refused and nothing is attached. */
	o.ref_ctr = (uint16_t *)(void *)t_push;
	p = NULL;
	ck_assert_int_eq(hook_uprobe_attach((void *)t_nop5, HOOK_UPROBE, count_only_fn, &n, &o, &p),
			 -EACCES);
	ck_assert_ptr_null(p);
	ck_assert_uint_eq(((uint8_t *)t_nop5)[0], 0x0f);
}
END_TEST

#define NTHREADS 8

struct hammer {
	pthread_t th;
	int sleepy;
	int phase_seen;
	uint64_t counted;
	int bad;
};

static int hammer_phase;	/* 0: warm up, 1: count, 2: stop */
static uint64_t hammer_hits;
static __thread int hammer_counting;

static void hammer_fn(struct pt_regs *regs, void *data)
{
	if (hammer_counting)
		__atomic_fetch_add(&hammer_hits, 1, __ATOMIC_RELAXED);
}

#define HAMMER_CALLS 20000

static void *hammer_main(void *arg)
{
	struct hammer *h = arg;
	long i = 0;

	while (__atomic_load_n(&hammer_phase, __ATOMIC_ACQUIRE) == 0) {
		if (t_push(i, 1) != i + 1 || t_nop5(i) != i + 2)
			h->bad++;
		/* Half the threads also sleep now and then: blocked threads that
		 * wake during a patch take another path in text_poke.c. */
		if (h->sleepy && i % 512 == 0)
			usleep(50);
		i++;
	}
	hammer_counting = 1;
	for (int k = 0; k < HAMMER_CALLS; k++)
		if (t_push(k, 2) != k + 2)
			h->bad++;
	hammer_counting = 0;
	h->counted = HAMMER_CALLS;
	while (__atomic_load_n(&hammer_phase, __ATOMIC_ACQUIRE) != 2) {
		if (t_push(i, 1) != i + 1 || t_nop5(i) != i + 2)
			h->bad++;
		i++;
	}
	return NULL;
}

START_TEST(test_uprobe_attach_detach_while_threads_hammer)
{
	struct hammer h[NTHREADS] = { 0 };
	struct hook_probe *p, *q;
	uint64_t n = 0;

	hammer_phase = 0;
	hammer_hits = 0;
	for (int i = 0; i < NTHREADS; i++) {
		h[i].sleepy = i & 1;
		ck_assert_int_eq(pthread_create(&h[i].th, NULL, hammer_main, &h[i]), 0);
	}
	/* Patch and unpatch both kinds of site under fire. */
	for (int round = 0; round < 10; round++) {
		p = attach_ok((void *)t_push, HOOK_UPROBE, count_only_fn, &n);
		q = attach_ok((void *)t_nop5, HOOK_UPROBE, count_only_fn, &n);
		usleep(1000);
		ck_assert_int_eq(hook_uprobe_detach(p), 0);
		ck_assert_int_eq(hook_uprobe_detach(q), 0);
	}
	p = attach_ok((void *)t_push, HOOK_UPROBE, hammer_fn, NULL);
	__atomic_store_n(&hammer_phase, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < NTHREADS; i++)
		while (!__atomic_load_n(&h[i].counted, __ATOMIC_ACQUIRE))
			usleep(1000);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	__atomic_store_n(&hammer_phase, 2, __ATOMIC_RELEASE);
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(h[i].th, NULL);
		ck_assert_int_eq(h[i].bad, 0);
	}
	ck_assert_uint_eq(hammer_hits, (uint64_t)NTHREADS * HAMMER_CALLS);
}
END_TEST

struct counting_thread {
	pthread_t th;
	long iters;
	int bad;
};

static void *push_many(void *arg)
{
	struct counting_thread *c = arg;

	for (long i = 0; i < c->iters; i++)
		if (t_push(i, 3) != i + 3)
			c->bad++;
	return NULL;
}

START_TEST(test_uprobe_exact_counts_8_threads)
{
	struct counting_thread ct[NTHREADS];
	uint64_t e = 0, r = 0;
	struct hook_probe *p = attach_ok((void *)t_push, HOOK_UPROBE, count_only_fn, &e);
	struct hook_probe *q = attach_ok((void *)t_push, HOOK_URETPROBE, count_only_fn, &r);

	for (int i = 0; i < NTHREADS; i++) {
		ct[i].iters = 50000;
		ct[i].bad = 0;
		ck_assert_int_eq(pthread_create(&ct[i].th, NULL, push_many, &ct[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(ct[i].th, NULL);
		ck_assert_int_eq(ct[i].bad, 0);
	}
	ck_assert_uint_eq(e, NTHREADS * 50000ULL);
	ck_assert_uint_eq(r, NTHREADS * 50000ULL);
	ck_assert_uint_eq(hook_probe_missed(p), 0);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
}
END_TEST

/* ------------------------------------------------------------- dispatch -- */

START_TEST(test_dispatch_args_sp_and_uretprobe_regs)
{
	struct counter e = { 0 }, r = { 0 };
	struct hook_probe *p = attach_ok((void *)t_push, HOOK_UPROBE, count_fn, &e);
	struct hook_probe *q = attach_ok((void *)t_push, HOOK_URETPROBE, count_fn, &r);
	uint64_t ret_addr;

	ck_assert_int_eq(t_push(40, 2), 42);
	ck_assert_uint_eq(e.last.di, 40);
	ck_assert_uint_eq(e.last.si, 2);
	ck_assert_uint_eq(e.last.ip, (uintptr_t)t_push);
	ck_assert_uint_eq(e.last.sp % 16, 8); /* SysV: rsp + 8 is 16-aligned at entry */
	ck_assert_uint_eq(e.last.cs, 0x33);
	ck_assert_uint_eq(e.last.ss, 0x2b);
	ck_assert_uint_eq(e.last.orig_ax, (uint64_t)-1);
	/* Like the kernel: uretprobe ip is the caller's return address, sp is after the ret. */
	ck_assert_uint_eq(r.last.ax, 42);
	ck_assert_uint_eq(r.last.sp, e.last.sp + 8);
	ret_addr = r.last.ip;
	ck_assert_uint_ne(ret_addr, 0);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	/* Without the return probe, the entry handler sees the real return address on the stack. */
	ck_assert_int_eq(t_push(40, 2), 42);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
}
END_TEST

static uint64_t seen_ret_addr;

static void peek_ret_fn(struct pt_regs *regs, void *data)
{
	seen_ret_addr = *(uint64_t *)(uintptr_t)regs->sp;
}

START_TEST(test_dispatch_uretprobe_ip_is_return_address)
{
	struct counter r = { 0 };
	uint64_t want = 0;

	/* Same call site twice: first an entry probe reads the return address
	 * from the stack, then a return probe must report it as ip. */
	for (int round = 0; round < 2; round++) {
		struct hook_probe *p =
			round ? attach_ok((void *)t_push, HOOK_URETPROBE, count_fn, &r)
			      : attach_ok((void *)t_push, HOOK_UPROBE, peek_ret_fn, NULL);

		ck_assert_int_eq(t_push(1, 2), 3);
		ck_assert_int_eq(hook_uprobe_detach(p), 0);
		if (!round)
			want = seen_ret_addr;
	}
	ck_assert_uint_ne(want, 0);
	ck_assert_uint_eq(r.last.ip, want);
}
END_TEST

static void override_fn(struct pt_regs *regs, void *data)
{
	/* bpf_override_return(): return 77 without running the function. */
	regs->ax = 77;
	regs->ip = *(uint64_t *)(uintptr_t)regs->sp;
	regs->sp += 8;
}

static void set_arg_fn(struct pt_regs *regs, void *data)
{
	regs->di = 100;
}

START_TEST(test_dispatch_handler_may_override_return_and_args)
{
	struct hook_probe *p = attach_ok((void *)t_push, HOOK_UPROBE, override_fn, NULL);
	struct hook_probe *q;

	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(t_push(1, 2), 77);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(t_push(1, 2), 3);
	q = attach_ok((void *)t_nop5, HOOK_UPROBE, set_arg_fn, NULL);
	ck_assert_int_eq(t_nop5(1), 102);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(t_nop5(1), 3);
}
END_TEST

static void set_zf_fn(struct pt_regs *regs, void *data)
{
	regs->flags |= 0x40; /* ZF: the jz that follows is taken */
}

START_TEST(test_dispatch_handler_may_change_flags)
{
	struct hook_probe *p = attach_ok((uint8_t *)t_jcc + 3, HOOK_UPROBE, set_zf_fn, NULL);

	ck_assert_int_eq(t_jcc(5), 42);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(t_jcc(5), 6);
}
END_TEST

static int slow_entered, slow_release;

static void slow_fn(struct pt_regs *regs, void *data)
{
	__atomic_store_n(&slow_entered, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&slow_release, __ATOMIC_ACQUIRE))
		usleep(100);
}

static void *call_mov_thread(void *arg)
{
	return (void *)t_mov(1);
}

struct detach_arg {
	struct hook_probe *p;
	int done;
	int err;
};

static void *detach_thread(void *arg)
{
	struct detach_arg *d = arg;

	d->err = hook_uprobe_detach(d->p);
	__atomic_store_n(&d->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

START_TEST(test_dispatch_detach_waits_for_running_handler)
{
	struct detach_arg d = { 0 };
	pthread_t caller, detacher;
	void *ret;

	d.p = attach_ok((void *)t_mov, HOOK_UPROBE, slow_fn, NULL);
	ck_assert_int_eq(pthread_create(&caller, NULL, call_mov_thread, NULL), 0);
	while (!__atomic_load_n(&slow_entered, __ATOMIC_ACQUIRE))
		usleep(100);
	ck_assert_int_eq(pthread_create(&detacher, NULL, detach_thread, &d), 0);
	usleep(50 * 1000);
	/* The handler is still running: detach must not have returned. */
	ck_assert_int_eq(__atomic_load_n(&d.done, __ATOMIC_ACQUIRE), 0);
	__atomic_store_n(&slow_release, 1, __ATOMIC_RELEASE);
	pthread_join(detacher, NULL);
	pthread_join(caller, &ret);
	ck_assert_int_eq(d.err, 0);
	ck_assert_int_eq((long)ret, 4);
	ck_assert_uint_eq(((uint8_t *)t_mov)[0], 0x48);
}
END_TEST

START_TEST(test_dispatch_probes_work_in_forked_child)
{
	uint64_t n = 0;
	struct hook_probe *p = attach_ok((void *)t_nop5, HOOK_UPROBE, count_only_fn, &n);
	int status = 0;
	pid_t pid;

	ck_assert_int_eq(t_nop5(1), 3);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* The child inherits the patch and its own copy of the counter. */
		int ok = t_nop5(1) == 3 && n == 2 && hook_uprobe_detach(p) == 0 &&
			 ((uint8_t *)t_nop5)[0] == 0x0f && t_nop5(1) == 3 && n == 2;

		_exit(ok ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	ck_assert_int_eq(t_nop5(1), 3);
	ck_assert_uint_eq(n, 2);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
}
END_TEST

static void clobber_fp_fn(struct pt_regs *regs, void *data)
{
	volatile double x = (double)regs->di;
	char buf[512];

	memset(buf, 0x5a, sizeof(buf));
	__asm__ volatile("" : : "r"(buf) : "memory");
	x = x * 3.5 + 1.25;
	*(volatile double *)data = x;
}

START_TEST(test_dispatch_preserves_xmm)
{
	volatile double sink;
	struct hook_probe *p = attach_ok((uint8_t *)t_fadd + 1, HOOK_UPROBE, clobber_fp_fn,
					 (void *)&sink);

	/* At +1 both arguments are live in xmm0/xmm1. */
	ck_assert(t_fadd(1.5, 2.25) == 3.75);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* On return the sum is live in xmm0. */
	p = attach_ok((void *)t_fadd, HOOK_URETPROBE, clobber_fp_fn, (void *)&sink);
	ck_assert(t_fadd(1.5, 2.25) == 3.75);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
}
END_TEST

/*
 * Vector registers across a probed call (hooks/xstate.c). vec_call() loads
 * known values into zmm0-31 and k1-k7 (or ymm0-15 / xmm0-15 on smaller
 * CPUs), calls t_vec, a function whose entry is a 5-byte nop, and stores
 * what it finds. The handlers either use only xmm0-15 (allowed without any
 * save) or do what a BPF helper does in the agent: hook_xstate_save(), then
 * glibc's AVX-512 string functions and snprintf, then every vector and
 * opmask register set to all ones.
 */
__asm__(".text\n"
	".p2align 4\n"
	".globl t_vec\n"
	".type t_vec, @function\n"
	"t_vec:\n"
	".byte 0x0f, 0x1f, 0x44, 0x00, 0x00\n"
	"ret\n"
	".size t_vec, .-t_vec\n");
void t_vec(void);

uint8_t vec_pat[32][64] __attribute__((aligned(64)));
uint8_t vec_out[32][64] __attribute__((aligned(64)));
uint64_t vec_kpat[8], vec_kout[8];

#define VEC16(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11) M(12) M(13) M(14) M(15)
#define VEC32(M) VEC16(M) M(16) M(17) M(18) M(19) M(20) M(21) M(22) M(23) M(24) M(25) M(26) M(27) \
	M(28) M(29) M(30) M(31)
#define K17(M) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define VEC_CLOBBERS                                                                              \
	"rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "memory", "cc", "xmm0", "xmm1", \
	"xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12",  \
	"xmm13", "xmm14", "xmm15"

enum vec_width { VEC_XMM, VEC_YMM, VEC_ZMM };

static enum vec_width vec_width(void)
{
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw"))
		return VEC_ZMM;
	return __builtin_cpu_supports("avx") ? VEC_YMM : VEC_XMM;
}

static __attribute__((noinline)) void vec_call(enum vec_width w)
{
#define LZ(n) "vmovdqu64 vec_pat+" #n "*64(%%rip), %%zmm" #n "\n"
#define SZ(n) "vmovdqu64 %%zmm" #n ", vec_out+" #n "*64(%%rip)\n"
#define LY(n) "vmovdqu vec_pat+" #n "*64(%%rip), %%ymm" #n "\n"
#define SY(n) "vmovdqu %%ymm" #n ", vec_out+" #n "*64(%%rip)\n"
#define LX(n) "movdqu vec_pat+" #n "*64(%%rip), %%xmm" #n "\n"
#define SX(n) "movdqu %%xmm" #n ", vec_out+" #n "*64(%%rip)\n"
#define LK(n) "kmovq vec_kpat+" #n "*8(%%rip), %%k" #n "\n"
#define SK(n) "kmovq %%k" #n ", vec_kout+" #n "*8(%%rip)\n"
	if (w == VEC_ZMM)
		__asm__ volatile(VEC32(LZ) K17(LK) "call t_vec\n" VEC32(SZ) K17(SK) "vzeroupper\n" ::: VEC_CLOBBERS);
	else if (w == VEC_YMM)
		__asm__ volatile(VEC16(LY) "call t_vec\n" VEC16(SY) "vzeroupper\n" ::: VEC_CLOBBERS);
	else
		__asm__ volatile(VEC16(LX) "call t_vec\n" VEC16(SX) ::: VEC_CLOBBERS);
}

/* Bytes of register n that width @w compares; return probes only zmm0/zmm1. */
static void vec_check(enum vec_width w, int nregs)
{
	size_t sz = w == VEC_ZMM ? 64 : w == VEC_YMM ? 32 : 16;

	for (int i = 0; i < nregs; i++)
		ck_assert_msg(!memcmp(vec_out[i], vec_pat[i], sz), "vector register %d changed", i);
	if (w == VEC_ZMM && nregs > 2)
		ck_assert_int_eq(memcmp(vec_kout + 1, vec_kpat + 1, 7 * sizeof(vec_kout[0])), 0);
}

static void vec_fill(int round)
{
	for (int i = 0; i < 32 * 64; i++)
		vec_pat[i / 64][i % 64] = (uint8_t)(i * 13 + 5 + round);
	if (round == 1) /* upper halves of zmm0-15 zero: their initial state */
		for (int i = 0; i < 16; i++)
			memset(vec_pat[i] + 16, 0, 48);
	for (int i = 1; i < 8; i++)
		vec_kpat[i] = 0xfedcba9876543210ull ^ (uint64_t)(i * 0x1111 + round);
	memset(vec_out, 0, sizeof(vec_out));
	memset(vec_kout, 0, sizeof(vec_kout));
}

static void xmm_only_fn(struct pt_regs *regs, void *data)
{
#define WX(n) "pcmpeqd %%xmm" #n ", %%xmm" #n "\n"
	__asm__ volatile(VEC16(WX) ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
			 "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	(*(int *)data)++;
}

static void helper_like_fn(struct pt_regs *regs, void *data)
{
	static char big[8192], small[256];
	volatile size_t n = sizeof(big);

	hook_xstate_save();
	memset(big, 0x3c, n - 1); /* big[8191] stays NUL for strlen and %s */
	memcpy(big + 3, big + 4096, n / 2 - 3);
	snprintf(small, sizeof(small), "%s %zu %d", big + 8100, strlen(big), regs ? 1 : 0);
	if (vec_width() == VEC_ZMM)
		__asm__ volatile(
#define WZ(n) "vpternlogd $0xff, %%zmm" #n ", %%zmm" #n ", %%zmm" #n "\n"
			VEC32(WZ)
#define WK(n) "kxnorq %%k" #n ", %%k" #n ", %%k" #n "\n"
			WK(0) K17(WK)
			::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
			"xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	else if (vec_width() == VEC_YMM)
		__asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0\n"
#define WY(n) "vmovdqa %%ymm0, %%ymm" #n "\n"
				 WY(1) WY(2) WY(3) WY(4) WY(5) WY(6) WY(7) WY(8) WY(9) WY(10) WY(11) WY(12)
				 WY(13) WY(14) WY(15)
				 ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
				 "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
	(*(int *)data)++;
}

/* A handler attached HOOK_UPROBE_VEC_CLEAN, as the agent's: no vector
 * register until hook_xstate_save(), then anything. */
HOOK_VEC_CLEAN_BEGIN
static void clean_fn(struct pt_regs *regs, void *data)
{
	hook_xstate_save();
	helper_like_fn(regs, data);
}

static void clean_counting_fn(struct pt_regs *regs, void *data)
{
	(*(int *)data)++;
}
HOOK_VEC_CLEAN_END

START_TEST(test_dispatch_preserves_vector_state)
{
	struct hook_uprobe_opts clean = { .sz = sizeof(clean), .flags = HOOK_UPROBE_VEC_CLEAN };
	enum vec_width w = vec_width();
	struct hook_probe *p;
	int hits = 0;

	/* Entry probe, a handler using only xmm0-15 and no save. */
	p = attach_ok((void *)t_vec, HOOK_UPROBE, xmm_only_fn, &hits);
	vec_fill(0);
	vec_call(VEC_XMM);
	vec_check(VEC_XMM, 16);
	ck_assert_int_eq(hits, 1);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* Entry probe, a helper-like handler: every register survives, with the
	 * upper halves in use and in their initial state. */
	p = attach_ok((void *)t_vec, HOOK_UPROBE, helper_like_fn, &hits);
	for (int round = 0; round < 2; round++) {
		vec_fill(round);
		vec_call(w);
		vec_check(w, w == VEC_ZMM ? 32 : 16);
	}
	ck_assert_int_eq(hits, 3);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* Return probe: the return registers zmm0/zmm1 survive (SysV: the others
	 * are the caller's to save). */
	p = attach_ok((void *)t_vec, HOOK_URETPROBE, helper_like_fn, &hits);
	vec_fill(0);
	vec_call(w);
	vec_check(w, 2);
	ck_assert_int_eq(hits, 4);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* Vector-clean handlers: the hit saves nothing unless the handler asks. */
	ck_assert_int_eq(hook_uprobe_attach((void *)t_vec, HOOK_UPROBE, clean_counting_fn, &hits, &clean, &p), 0);
	vec_fill(0);
	vec_call(w);
	vec_check(w, w == VEC_ZMM ? 32 : 16);
	ck_assert_int_eq(hits, 5);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(hook_uprobe_attach((void *)t_vec, HOOK_UPROBE, clean_fn, &hits, &clean, &p), 0);
	for (int round = 0; round < 2; round++) {
		vec_fill(round);
		vec_call(w);
		vec_check(w, w == VEC_ZMM ? 32 : 16);
	}
	ck_assert_int_eq(hits, 7);
	/* A clean and a plain handler on one site: xmm0-15 saved for the plain one. */
	{
		struct hook_probe *q = attach_ok((void *)t_vec, HOOK_UPROBE, xmm_only_fn, &hits);

		vec_fill(0);
		vec_call(w);
		vec_check(w, w == VEC_ZMM ? 32 : 16);
		ck_assert_int_eq(hits, 9);
		ck_assert_int_eq(hook_uprobe_detach(q), 0);
	}
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	/* Unknown flags. */
	clean.flags = 0x2;
	ck_assert_int_eq(hook_uprobe_attach((void *)t_vec, HOOK_UPROBE, clean_fn, &hits, &clean, &p), -EINVAL);
}
END_TEST

static uint64_t nested_inner;

static void nested_fn(struct pt_regs *regs, void *data)
{
	/* A handler calling a probed function: the inner hit is skipped. */
	ck_assert_int_eq(t_nop5(1), 3);
	__atomic_fetch_add((uint64_t *)data, 1, __ATOMIC_RELAXED);
}

static void deadlock_fn(struct pt_regs *regs, void *data)
{
	*(int *)data = hook_uprobe_detach((struct hook_probe *)(uintptr_t)regs->di);
}

START_TEST(test_dispatch_no_reentry_and_no_detach_from_handler)
{
	uint64_t outer = 0;
	int err = 0;
	struct hook_probe *p = attach_ok((void *)t_nop5, HOOK_UPROBE, nested_fn, &outer);
	struct hook_probe *q;

	ck_assert_int_eq(t_nop5(5), 7);
	ck_assert_uint_eq(outer, 1); /* the nested call ran, its probe did not */
	ck_assert_uint_eq(hook_probe_missed(p), 1);
	(void)nested_inner;
	ck_assert_int_eq(hook_uprobe_detach(p), 0);

	q = attach_ok((void *)t_mov, HOOK_UPROBE, deadlock_fn, &err);
	t_mov((long)(uintptr_t)q);
	ck_assert_int_eq(err, -EDEADLK);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
}
END_TEST

/* --------------------------------------------------------------- shadow -- */

static long fib_ref(long n)
{
	long a = 0, b = 1;

	while (n--) {
		long t = a + b;

		a = b;
		b = t;
	}
	return a;
}

static long fib_args[64];
static int fib_depth;
static uint64_t fib_entries, fib_returns, fib_bad;

static void fib_entry_fn(struct pt_regs *regs, void *data)
{
	fib_args[fib_depth++] = (long)regs->di;
	fib_entries++;
}

static void fib_ret_fn(struct pt_regs *regs, void *data)
{
	long n = fib_args[--fib_depth];

	if ((long)regs->ax != fib_ref(n))
		fib_bad++;
	fib_returns++;
}

START_TEST(test_shadow_recursive_fib_exact)
{
	struct hook_probe *p = attach_ok((void *)t_fib, HOOK_UPROBE, fib_entry_fn, NULL);
	struct hook_probe *q = attach_ok((void *)t_fib, HOOK_URETPROBE, fib_ret_fn, NULL);
	const uint64_t calls = 2 * (uint64_t)fib_ref(16) - 1; /* calls made by fib(15) */

	ck_assert_int_eq(t_fib(15), 610);
	ck_assert_uint_eq(fib_entries, calls);
	ck_assert_uint_eq(fib_returns, calls);
	ck_assert_uint_eq(fib_bad, 0);
	ck_assert_int_eq(fib_depth, 0);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_int_eq(t_fib(15), 610);
}
END_TEST

static void *fib_many(void *arg)
{
	struct counting_thread *c = arg;

	for (long i = 0; i < c->iters; i++)
		if (t_fib(10) != 55)
			c->bad++;
	return NULL;
}

START_TEST(test_shadow_threads_exact)
{
	struct counting_thread ct[NTHREADS];
	uint64_t r = 0;
	struct hook_probe *q = attach_ok((void *)t_fib, HOOK_URETPROBE, count_only_fn, &r);
	const uint64_t calls = 2 * (uint64_t)fib_ref(11) - 1;

	for (int i = 0; i < NTHREADS; i++) {
		ct[i].iters = 300;
		ct[i].bad = 0;
		ck_assert_int_eq(pthread_create(&ct[i].th, NULL, fib_many, &ct[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++) {
		pthread_join(ct[i].th, NULL);
		ck_assert_int_eq(ct[i].bad, 0);
	}
	ck_assert_uint_eq(r, NTHREADS * 300 * calls);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
}
END_TEST

static jmp_buf jb;

static long jump_out(long arg)
{
	longjmp(jb, 1);
}

static long plus_one(long arg)
{
	return arg + 1;
}

START_TEST(test_shadow_longjmp_out_of_probed_frame)
{
	uint64_t r = 0;
	struct hook_probe *q = attach_ok((void *)t_invoke, HOOK_URETPROBE, count_only_fn, &r);
	volatile int jumped = 0;

	for (int i = 0; i < 1000; i++) {
		if (!setjmp(jb))
			t_invoke(jump_out, 0);
		else
			jumped++;
		ck_assert_int_eq(t_invoke(plus_one, i), i + 1);
	}
	ck_assert_int_eq(jumped, 1000);
	ck_assert_uint_eq(r, 1000);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
}
END_TEST

/* ----------------------------------------------------------------- maps -- */

START_TEST(test_maps_resolve_exe_and_libc)
{
	struct phdr_arg exe = file_off_of((void *)t_push);
	void *getpid_addr = dlsym(RTLD_DEFAULT, "getpid");
	struct phdr_arg libc;
	void *addr = NULL;

	ck_assert_int_eq(hook_resolve_file_offset(exe.path, exe.off, &addr), 0);
	ck_assert_ptr_eq(addr, (void *)t_push);
	ck_assert_ptr_nonnull(getpid_addr);
	libc = file_off_of(getpid_addr);
	ck_assert_int_eq(hook_resolve_file_offset(libc.path, libc.off, &addr), 0);
	ck_assert_ptr_eq(addr, getpid_addr);
}
END_TEST

START_TEST(test_maps_resolve_errors)
{
	void *addr = (void *)1;

	ck_assert_int_eq(hook_resolve_file_offset("/nonexistent/bin", 0, &addr), -ENOENT);
	ck_assert_int_eq(hook_resolve_file_offset("/proc/self/exe", 1ULL << 40, &addr), -ENOENT);
	/* A file that is not mapped at all. */
	ck_assert_int_eq(hook_resolve_file_offset("/etc/hostname", 0, &addr), -ENOENT);
	ck_assert_int_eq(hook_resolve_file_offset(NULL, 0, &addr), -EINVAL);
	ck_assert_ptr_eq(addr, (void *)1);
}
END_TEST

START_TEST(test_maps_attach_file_libc_and_semaphore)
{
	void *getpid_addr = dlsym(RTLD_DEFAULT, "getpid");
	struct phdr_arg libc = file_off_of(getpid_addr);
	struct phdr_arg exe = file_off_of((void *)t_nop5);
	struct phdr_arg sema = file_off_of(&t_sema);
	struct hook_probe *p, *q;
	uint64_t n = 0, m = 0;
	pid_t pid = getpid();

	ck_assert_int_eq(hook_uprobe_attach_file(libc.path, libc.off, 0, HOOK_UPROBE, count_only_fn,
						 &n, &p), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(getpid(), pid);
	ck_assert_uint_eq(n, 100);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_str_eq(exe.path, sema.path);
	ck_assert_int_eq(hook_uprobe_attach_file(exe.path, exe.off, sema.off, HOOK_UPROBE,
						 count_only_fn, &m, &q), 0);
	ck_assert_int_eq(t_sema, 1);
	ck_assert_int_eq(t_nop5(1), 3);
	ck_assert_uint_eq(m, 1);
	ck_assert_int_eq(hook_uprobe_detach(q), 0);
	ck_assert_int_eq(t_sema, 0);
}
END_TEST

/*
 * A semaphore counts only in a writable private mapping of the file
 * (valid_ref_ctr_vma() in kernel/events/uprobes.c): the same offset space
 * also names read-only bytes (bcc's garbage ref_ctr_offset of 6 is the ELF
 * header), which must be left alone.
 */
START_TEST(test_maps_resolve_ref_ctr_writable_only)
{
	struct phdr_arg sema = file_off_of(&t_sema);
	struct phdr_arg code = file_off_of((void *)t_push);
	uint16_t *ctr = (uint16_t *)1;

	ck_assert_int_eq(hook_resolve_ref_ctr(sema.path, sema.off, &ctr), 0);
	ck_assert_ptr_eq(ctr, &t_sema);
	ctr = (uint16_t *)1;
	ck_assert_int_eq(hook_resolve_ref_ctr(sema.path, 6, &ctr), -ENOENT);
	ck_assert_int_eq(hook_resolve_ref_ctr(code.path, code.off & ~1ULL, &ctr), -ENOENT);
	ck_assert_int_eq(hook_resolve_ref_ctr(sema.path, sema.off + 1, &ctr), -EINVAL);
	ck_assert_int_eq(hook_resolve_ref_ctr("/nonexistent/bin", 8, &ctr), -ENOENT);
	ck_assert_int_eq(hook_resolve_ref_ctr(NULL, 8, &ctr), -EINVAL);
	ck_assert_ptr_eq(ctr, (uint16_t *)1);
}
END_TEST

/* --------------------------------------------------------------- kernel -- */

/*
 * The same probes through the kernel's uprobe PMU with a BPF program that
 * copies ip, sp, ax and di out of its pt_regs: what our handlers see must be
 * what a BPF program sees under the kernel, at the same call site. Root only
 * (the TCase is added when we are root, as in CI).
 */
static int kernel_regs_map = -1;

static int kernel_regs_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 6, .src_reg = 1 },
		{ .code = BPF_ST | BPF_MEM | BPF_W, .dst_reg = 10, .off = -4, .imm = 0 },
		{ .code = BPF_ALU64 | BPF_MOV | BPF_X, .dst_reg = 2, .src_reg = 10 },
		{ .code = BPF_ALU64 | BPF_ADD | BPF_K, .dst_reg = 2, .imm = -4 },
		{ .code = BPF_LD | BPF_DW | BPF_IMM, .dst_reg = 1, .src_reg = BPF_PSEUDO_MAP_FD },
		{ 0 },
		{ .code = BPF_JMP | BPF_CALL, .imm = BPF_FUNC_map_lookup_elem },
		{ .code = BPF_JMP | BPF_JEQ | BPF_K, .dst_reg = 0, .off = 8, .imm = 0 },
#define COPY(from, to)                                                                       \
	{ .code = BPF_LDX | BPF_MEM | BPF_DW, .dst_reg = 1, .src_reg = 6, .off = (from) },    \
	{ .code = BPF_STX | BPF_MEM | BPF_DW, .dst_reg = 0, .src_reg = 1, .off = (to) }
		COPY(128, 0), COPY(152, 8), COPY(80, 16), COPY(112, 24),
#undef COPY
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};

	kernel_regs_map = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hk_regs", 4, 32, 1, NULL);
	ck_assert_int_ge(kernel_regs_map, 0);
	insns[4].imm = kernel_regs_map;
	return bpf_prog_load(BPF_PROG_TYPE_KPROBE, "hk_regs", "GPL", insns,
			     sizeof(insns) / sizeof(insns[0]), NULL);
}

static int kernel_uprobe_open(void *fn, bool ret, int prog)
{
	struct phdr_arg a = file_off_of(fn);
	struct perf_event_attr attr;
	char path[4096];
	int type = 0, bit = 0, fd;
	ssize_t n;
	FILE *f;

	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	ck_assert_int_gt(n, 0);
	path[n] = 0;
	f = fopen("/sys/bus/event_source/devices/uprobe/type", "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "%d", &type), 1);
	fclose(f);
	f = fopen("/sys/bus/event_source/devices/uprobe/format/retprobe", "re");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(fscanf(f, "config:%d", &bit), 1);
	fclose(f);
	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = (uint32_t)type;
	attr.config = ret ? 1ULL << bit : 0;
	attr.config1 = (uint64_t)(uintptr_t)path;
	attr.config2 = a.off;
	attr.sample_period = 1;
	fd = (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
	ck_assert_msg(fd >= 0, "perf_event_open uprobe: %s", strerror(errno));
	ck_assert_int_eq(ioctl(fd, PERF_EVENT_IOC_SET_BPF, prog), 0);
	ck_assert_int_eq(ioctl(fd, PERF_EVENT_IOC_ENABLE, 0), 0);
	return fd;
}

static void copy_regs_fn(struct pt_regs *regs, void *data)
{
	uint64_t *v = data;

	v[0] = regs->ip;
	v[1] = regs->sp;
	v[2] = regs->ax;
	v[3] = regs->di;
}

static __attribute__((noinline)) long same_call_site(void)
{
	long r = t_push(40, 2);

	__asm__ volatile("" : : : "memory"); /* keep the call (no tail call) */
	return r;
}

START_TEST(test_kernel_same_regs_as_kernel_uprobe)
{
	const bool ret = _i == 1;
	int prog = kernel_regs_prog();
	uint64_t kern[4] = { 0 }, ours[4] = { 0 };
	uint32_t key = 0;
	struct hook_probe *p;
	int fd;

	ck_assert_int_ge(prog, 0);
	fd = kernel_uprobe_open((void *)t_push, ret, prog);
	ck_assert_int_eq(same_call_site(), 42);
	close(fd);
	ck_assert_int_eq(bpf_map_lookup_elem(kernel_regs_map, &key, kern), 0);
	ck_assert_uint_ne(kern[0], 0);
	p = attach_ok((void *)t_push, ret ? HOOK_URETPROBE : HOOK_UPROBE, copy_regs_fn, ours);
	ck_assert_int_eq(same_call_site(), 42);
	ck_assert_int_eq(hook_uprobe_detach(p), 0);
	ck_assert_uint_eq(ours[0], kern[0]); /* ip: the probed address, or the return address */
	ck_assert_uint_eq(ours[1], kern[1]); /* sp */
	if (ret)
		ck_assert_uint_eq(ours[2], kern[2]); /* ax: the return value */
	else
		ck_assert_uint_eq(ours[3], kern[3]); /* di: the first argument */
	close(prog);
	close(kernel_regs_map);
}
END_TEST

/* Root with the uprobe PMU and bpf(): the "kernel" TCase can run. */
static bool kernel_uprobes_usable(void)
{
	int fd;

	if (geteuid() != 0) {
		printf("hooks: not root: the kernel comparison TCase is not run\n");
		return false;
	}
	if (access("/sys/bus/event_source/devices/uprobe/type", R_OK)) {
		printf("hooks: no uprobe PMU: the kernel comparison TCase is not run\n");
		return false;
	}
	fd = bpf_map_create(BPF_MAP_TYPE_ARRAY, "hk_probe", 4, 8, 1, NULL);
	if (fd < 0) {
		printf("hooks: bpf() refused (%s): the kernel comparison TCase is not run\n",
		       strerror(-fd));
		return false;
	}
	close(fd);
	return true;
}

int main(void)
{
	Suite *s = suite_create("hooks");
	TCase *tc;
	SRunner *sr;
	int failed;

	bt_log_init_from_env();
#ifdef HOOKS_TEST_NOPIE
	/* Really non-PIE: the executable sits at its link address. */
	if ((uintptr_t)t_push >= 0x10000000) {
		fprintf(stderr, "check_hooks_nopie: t_push at %p: not a non-PIE build\n",
			(void *)t_push);
		return EXIT_FAILURE;
	}
	/* The libc sweep and the kernel comparison run in the PIE build only. */
	(void)test_reloc_every_libc_function_at_once;
	(void)kernel_uprobes_usable;
	(void)test_kernel_same_regs_as_kernel_uprobe;
#endif
	tc = tcase_create("reloc");
	tcase_add_loop_test(tc, test_reloc_first_insn_runs_correctly, 0,
			    sizeof(reloc_cases) / sizeof(reloc_cases[0]));
	tcase_add_loop_test(tc, test_reloc_refused_leaves_code_intact, 0,
			    sizeof(refuse_cases) / sizeof(refuse_cases[0]));
#ifndef HOOKS_TEST_NOPIE
	tcase_add_test(tc, test_reloc_every_libc_function_at_once);
#endif
	suite_add_tcase(s, tc);

	tc = tcase_create("uprobe");
	tcase_add_test(tc, test_uprobe_detach_restores_bytes_and_reattach_works);
	tcase_add_test(tc, test_uprobe_shared_site_entry_and_return);
	tcase_add_test(tc, test_uprobe_bad_args_einval);
	tcase_add_test(tc, test_uprobe_overlapping_site_ebusy);
	tcase_add_test(tc, test_uprobe_engine_own_code_and_libc_mmap);
	tcase_add_test(tc, test_uprobe_usdt_semaphore_counts_attachments);
	tcase_add_test(tc, test_uprobe_nop1_site_gets_int3);
	tcase_add_test(tc, test_uprobe_exact_counts_8_threads);
	tcase_add_test(tc, test_uprobe_attach_detach_while_threads_hammer);
	suite_add_tcase(s, tc);

	tc = tcase_create("site_check");
	tcase_add_loop_test(tc, test_site_check_jmp_or_int3, 0,
			    sizeof(site_cases) / sizeof(site_cases[0]));
	tcase_add_test(tc, test_site_check_anonymous_code_gets_int3);
	tcase_add_test(tc, test_site_check_short_functions_get_int3);
	tcase_add_test(tc, test_site_check_function_at_mapping_end_gets_int3);
	tcase_add_test(tc, test_site_check_bad_elf_file_gets_int3);
	suite_add_tcase(s, tc);

	tc = tcase_create("dispatch");
	tcase_add_test(tc, test_dispatch_args_sp_and_uretprobe_regs);
	tcase_add_test(tc, test_dispatch_uretprobe_ip_is_return_address);
	tcase_add_test(tc, test_dispatch_handler_may_override_return_and_args);
	tcase_add_test(tc, test_dispatch_preserves_xmm);
	tcase_add_test(tc, test_dispatch_preserves_vector_state);
	tcase_add_test(tc, test_dispatch_handler_may_change_flags);
	tcase_add_test(tc, test_dispatch_detach_waits_for_running_handler);
	tcase_add_test(tc, test_dispatch_probes_work_in_forked_child);
	tcase_add_test(tc, test_dispatch_no_reentry_and_no_detach_from_handler);
	suite_add_tcase(s, tc);

	tc = tcase_create("shadow");
	tcase_add_test(tc, test_shadow_recursive_fib_exact);
	tcase_add_test(tc, test_shadow_threads_exact);
	tcase_add_test(tc, test_shadow_longjmp_out_of_probed_frame);
	suite_add_tcase(s, tc);

	tc = tcase_create("maps");
	tcase_add_test(tc, test_maps_resolve_exe_and_libc);
	tcase_add_test(tc, test_maps_resolve_errors);
	tcase_add_test(tc, test_maps_attach_file_libc_and_semaphore);
	tcase_add_test(tc, test_maps_resolve_ref_ctr_writable_only);
	suite_add_tcase(s, tc);

#ifndef HOOKS_TEST_NOPIE
	if (kernel_uprobes_usable()) {
		tc = tcase_create("kernel");
		tcase_add_loop_test(tc, test_kernel_same_regs_as_kernel_uprobe, 0, 2);
		suite_add_tcase(s, tc);
	}
#endif

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
