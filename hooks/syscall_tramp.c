/*
 * syscall_tramp.c - per-site trampolines for rewritten `syscall`
 * instructions, and the patching of the sites.
 *
 * A site (found by hooks/syscall_scan.c) has one of two shapes:
 *  - pre:  "<insn of >= 5 bytes>; syscall". The first 5 bytes of that
 *          instruction become `jmp rel32` to the trampoline; the `syscall`
 *          bytes stay, so code that jumps straight to the `syscall` still
 *          works (unreported). The usual glibc `mov $nr,%eax; syscall`.
 *  - post: "syscall; <insn of >= 3 bytes>" where nothing branches to the
 *          second instruction. Both are replaced by `jmp rel32` + nops; the
 *          trampoline runs the displaced instruction after the syscall.
 *          The usual `xor %eax,%eax; syscall; cmp $-4096,%rax` of read().
 * The trampoline runs the displaced "pre" instruction, then:
 *
 *	movabs $&hook_sys_flags[nr], %r11   ; r11, rcx: clobbered by syscall anyway
 *	testb  $3, (%r11)
 *	jnz    traced
 *	syscall
 *	<displaced "post" instruction>
 *	jmp    back                         ; back = first byte not displaced
 *
 * so an untraced syscall costs one load, one test and two jumps. The traced
 * path moves %rsp below the red zone, calls the enter stub
 * (hooks/syscall_stub.c), restores %rsp, issues the syscall with the
 * original %rsp, then calls the exit stub the same way.
 *
 * Stack discipline, which is what makes vfork, clone and rt_sigreturn work:
 * nothing the trampoline needs after the syscall lives in memory. When the
 * number is a constant of the site (`mov $nr,%eax`, the usual glibc
 * pattern) the exit path gets it as an immediate; so for vfork the child may
 * scribble over the shared stack, for clone the child returns on its new
 * stack, and rt_sigreturn finds its frame at the original %rsp. Sites whose
 * number is only known at run time (glibc's syscall(2)) dispatch the numbers
 * that care about %rsp or the stack (rt_sigreturn, clone, vfork, clone3) to
 * constant blocks; for all other numbers the number is pushed below the red
 * zone across the syscall, which no syscall besides those observes.
 *
 * Patching: trampolines are written into a pool mapped within 1 GiB of the
 * object (so rel32 reaches both ways), then made read+exec. The object's
 * text is made writable around the patch and put back to r-x. Done while
 * the process is single-threaded (the agent's constructor), every site is
 * written with memcpy. With other threads running, a "pre" site is written
 * with one locked 8- or 16-byte compare-and-swap when its 5 bytes fit in one
 * aligned block (patch_atomic(): about 3 in 4 sites), and "post" sites are
 * left alone: a thread blocked in that syscall would return into the middle
 * of the new jmp.
 *
 * DIVERGES: rflags are not preserved across a traced syscall (the kernel
 * preserves them); compilers treat inline-asm syscalls as clobbering flags,
 * and hand-written glibc code does not rely on them.
 */
#include "config.h"

#include <cpuid.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/syscall_int.h"

struct em {
	uint8_t *buf;
	size_t pos;
	uintptr_t at; /* run-time address of buf[0] */
};

static void put1(struct em *e, uint8_t v)
{
	e->buf[e->pos++] = v;
}

static void put4(struct em *e, uint32_t v)
{
	memcpy(e->buf + e->pos, &v, 4);
	e->pos += 4;
}

static void put8(struct em *e, uint64_t v)
{
	memcpy(e->buf + e->pos, &v, 8);
	e->pos += 8;
}

static void bytes(struct em *e, const void *p, size_t n)
{
	memcpy(e->buf + e->pos, p, n);
	e->pos += n;
}

static void movabs_r11(struct em *e, uint64_t v)
{
	put1(e, 0x49); /* REX.W+B */
	put1(e, 0xbb); /* mov $imm64, %r11 */
	put8(e, v);
}

static void lea_rsp(struct em *e, int32_t d)
{
	static const uint8_t op[] = { 0x48, 0x8d, 0xa4, 0x24 }; /* lea d32(%rsp), %rsp: flags untouched */

	bytes(e, op, sizeof(op));
	put4(e, (uint32_t)d);
}

static void call_stub(struct em *e, void (*stub)(void))
{
	static const uint8_t call_r11[] = { 0x41, 0xff, 0xd3 };

	lea_rsp(e, -128); /* System V x86-64 ABI §3.2.2: the 128-byte red zone */
	movabs_r11(e, (uint64_t)(uintptr_t)stub);
	bytes(e, call_r11, sizeof(call_r11));
	lea_rsp(e, 128);
}

static void op_syscall(struct em *e)
{
	put1(e, 0x0f);
	put1(e, 0x05);
}

/* jcc/jmp with a rel32 to be fixed later; returns the offset of the rel32. */
static size_t jcc(struct em *e, uint8_t cc)
{
	put1(e, 0x0f);
	put1(e, cc);
	put4(e, 0);
	return e->pos - 4;
}

#define JZ 0x84
#define JNZ 0x85
#define JAE 0x83

static void fix(struct em *e, size_t rel_off, size_t target)
{
	int32_t rel = (int32_t)((int64_t)target - (int64_t)(rel_off + 4));

	memcpy(e->buf + rel_off, &rel, 4);
}

static void jmp_abs(struct em *e, uintptr_t target)
{
	put1(e, 0xe9);
	put4(e, (uint32_t)(int32_t)((int64_t)target - (int64_t)(e->at + e->pos + 4)));
}

/* Leave the trampoline: the displaced instruction after the syscall, if any, then back. */
static void tail(struct em *e, const struct hook_sys_site *st)
{
	bytes(e, st->post, st->post_len); /* position independent (checked by the scanner) */
	jmp_abs(e, st->back);
}

static void test_flag(struct em *e, uint8_t bits, bool indexed)
{
	put1(e, 0x41);
	put1(e, 0xf6);
	if (indexed) {
		put1(e, 0x04); /* testb $imm8, (%r11,%rcx) */
		put1(e, 0x0b);
	} else {
		put1(e, 0x03); /* testb $imm8, (%r11) */
	}
	put1(e, bits);
}

/* The part after the displaced instruction for a site whose number is @nr. */
static void emit_const(struct em *e, int nr, const struct hook_sys_site *st)
{
	uint64_t flag = (uint64_t)(uintptr_t)&hook_sys_flags[nr];
	size_t to_traced, to_sys, to_after, to_out;

	movabs_r11(e, flag);
	test_flag(e, HOOK_SYS_ENTER | HOOK_SYS_EXIT, false);
	to_traced = jcc(e, JNZ);
	op_syscall(e);
	tail(e, st);

	fix(e, to_traced, e->pos);
	test_flag(e, HOOK_SYS_ENTER, false);
	to_sys = jcc(e, JZ);
	call_stub(e, hook_sys_enter_stub);
	put1(e, 0x4d); /* test %r11, %r11: the stub's skip flag */
	put1(e, 0x85);
	put1(e, 0xdb);
	to_after = jcc(e, JNZ);
	fix(e, to_sys, e->pos);
	op_syscall(e);
	fix(e, to_after, e->pos);
	movabs_r11(e, flag);
	test_flag(e, HOOK_SYS_EXIT, false);
	to_out = jcc(e, JZ);
	put1(e, 0xb9); /* mov $nr, %ecx */
	put4(e, (uint32_t)nr);
	call_stub(e, hook_sys_exit_stub);
	fix(e, to_out, e->pos);
	tail(e, st);
}

/* Numbers whose syscall depends on %rsp or on the stack staying put (see the essay). */
static const int stack_nrs[] = { 15 /* rt_sigreturn */, 56 /* clone */, 58 /* vfork */,
				 435 /* clone3 */ };

static void emit_dynamic(struct em *e, const struct hook_sys_site *st)
{
	uint64_t flags = (uint64_t)(uintptr_t)hook_sys_flags;
	size_t to_plain, to_traced, to_sys, to_exit, to_out1, to_out2, to_special[4];
	unsigned int i;

	put1(e, 0x3d); /* cmp $HOOK_SYS_NR_MAX, %eax: the kernel uses the low 32 bits */
	put4(e, HOOK_SYS_NR_MAX);
	to_plain = jcc(e, JAE);
	put1(e, 0x89); /* mov %eax, %ecx */
	put1(e, 0xc1);
	movabs_r11(e, flags);
	test_flag(e, HOOK_SYS_ENTER | HOOK_SYS_EXIT, true);
	to_traced = jcc(e, JNZ);
	fix(e, to_plain, e->pos);
	op_syscall(e);
	tail(e, st);

	fix(e, to_traced, e->pos);
	for (i = 0; i < 4; i++) {
		put1(e, 0x3d); /* cmp $nr, %eax */
		put4(e, (uint32_t)stack_nrs[i]);
		to_special[i] = jcc(e, JZ);
	}
	test_flag(e, HOOK_SYS_ENTER, true);
	to_sys = jcc(e, JZ);
	call_stub(e, hook_sys_enter_stub);
	put1(e, 0x4d); /* test %r11, %r11 */
	put1(e, 0x85);
	put1(e, 0xdb);
	to_exit = jcc(e, JNZ); /* skipped: rcx = nr, rax = result */
	fix(e, to_sys, e->pos);
	lea_rsp(e, -128);
	put1(e, 0x50); /* push %rax: the number survives the syscall below the red zone */
	op_syscall(e);
	put1(e, 0x59); /* pop %rcx */
	lea_rsp(e, 128);
	fix(e, to_exit, e->pos);
	put1(e, 0x81); /* cmp $HOOK_SYS_NR_MAX, %ecx (the enter handler may have changed it) */
	put1(e, 0xf9);
	put4(e, HOOK_SYS_NR_MAX);
	to_out1 = jcc(e, JAE);
	movabs_r11(e, flags);
	test_flag(e, HOOK_SYS_EXIT, true);
	to_out2 = jcc(e, JZ);
	call_stub(e, hook_sys_exit_stub);
	fix(e, to_out1, e->pos);
	fix(e, to_out2, e->pos);
	tail(e, st);

	for (i = 0; i < 4; i++) {
		fix(e, to_special[i], e->pos);
		emit_const(e, stack_nrs[i], st);
	}
}

size_t hook_sys_tramp_emit(uint8_t *buf, uintptr_t at, const struct hook_sys_site *s)
{
	struct em e = { .buf = buf, .pos = 0, .at = at };

	bytes(&e, s->pre, s->pre_len); /* position independent (checked by the scanner) */
	if (s->nr >= 0 && s->nr < HOOK_SYS_NR_MAX)
		emit_const(&e, s->nr, s);
	else
		emit_dynamic(&e, s);
	return e.pos;
}

static bool in_rel32(uintptr_t from, uintptr_t to)
{
	int64_t d = (int64_t)to - (int64_t)from;

	return d >= INT32_MIN && d <= INT32_MAX;
}

/* Trampoline memory within +-1 GiB of [lo, hi), so every rel32 reaches. */
static void *pool_map_near(uintptr_t lo, uintptr_t hi, size_t sz)
{
	const uintptr_t step = 1ul << 20, span = 1ul << 30;
	uintptr_t d;

	for (d = step; d < span; d += step) {
		uintptr_t cand[2] = { ROUND_UP(hi, (uintptr_t)0x1000) + d, lo > d + sz ? ((lo - d - sz) & ~(uintptr_t)0xfff) : 0 };
		int k;

		for (k = 0; k < 2; k++) {
			void *p;

			if (!cand[k])
				continue;
			p = mmap((void *)cand[k], sz, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (p == MAP_FAILED)
				continue;
			if ((uintptr_t)p != cand[k]) { /* kernel without MAP_FIXED_NOREPLACE */
				munmap(p, sz);
				continue;
			}
			return p;
		}
	}
	return NULL;
}

static bool multi_threaded(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	if (!d)
		return true; /* be conservative */
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n > 1;
}

/*
 * Write the 5-byte jmp at @addr while other threads may be executing there:
 * one locked compare-and-swap of the aligned 8- or 16-byte block that holds
 * all five bytes, so a thread fetches either the old instruction or the new
 * one, never a mix (the bytes after the fifth are never instruction starts).
 * The compare-and-swap retries if something else (the uprobe engine) changed
 * a neighbouring byte meanwhile. Returns false when the five bytes straddle
 * a 16-byte boundary (or the CPU lacks CMPXCHG16B): the site is left alone.
 */
static bool cas16(volatile void *p, uint64_t *olo, uint64_t *ohi, uint64_t nlo, uint64_t nhi)
{
	bool ok;

	__asm__ volatile("lock cmpxchg16b %1"
			 : "=@ccz"(ok), "+m"(*(volatile uint64_t(*)[2])p), "+a"(*olo), "+d"(*ohi)
			 : "b"(nlo), "c"(nhi)
			 : "memory");
	return ok;
}

static bool have_cx16(void)
{
	unsigned int a, b, c, d;

	/* Intel SDM: CPUID.01H:ECX.CMPXCHG16B[bit 13]. */
	return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 13));
}

static bool patch_atomic(uintptr_t addr, const uint8_t jmp[5])
{
	if ((addr & 7) <= 3) {
		uint64_t *w = (uint64_t *)(addr & ~(uintptr_t)7);
		uint64_t old = __atomic_load_n(w, __ATOMIC_RELAXED), v;

		do {
			v = old;
			memcpy((uint8_t *)&v + (addr & 7), jmp, 5);
		} while (!__atomic_compare_exchange_n(w, &old, v, false, __ATOMIC_SEQ_CST,
						      __ATOMIC_RELAXED));
		return true;
	}
	if ((addr & 15) <= 11 && have_cx16()) {
		uint64_t *w = (uint64_t *)(addr & ~(uintptr_t)15);
		uint64_t lo = w[0], hi = w[1];

		for (;;) {
			uint8_t b[16];
			uint64_t nlo, nhi;

			memcpy(b, &lo, 8);
			memcpy(b + 8, &hi, 8);
			memcpy(b + (addr & 15), jmp, 5);
			memcpy(&nlo, b, 8);
			memcpy(&nhi, b + 8, 8);
			if (cas16(w, &lo, &hi, nlo, nhi))
				return true;
		}
	}
	return false;
}

int hook_sys_tramp_patch_object(struct hook_sys_object *obj, unsigned int *patched,
				unsigned int *unreachable)
{
	static uint8_t scratch[HOOK_SYS_TRAMP_MAX];
	long pg = sysconf(_SC_PAGESIZE);
	size_t total = 0, pos = 0, sz;
	uintptr_t plo = UINTPTR_MAX, phi = 0;
	bool threads = multi_threaded();
	uint8_t *pool;
	unsigned int i;

	*patched = 0;
	*unreachable = 0;
	if (!obj->site_cnt)
		return 0;
	for (i = 0; i < obj->site_cnt; i++)
		total += hook_sys_tramp_emit(scratch, 0, &obj->sites[i]);
	sz = ROUND_UP(total, (size_t)pg);
	pool = pool_map_near(obj->lo, obj->hi, sz);
	if (!pool) {
		log_warn("syscall hooks: no trampoline memory within reach of %s; %u sites left as is\n",
			 obj->name, obj->site_cnt);
		*unreachable = obj->site_cnt;
		return 0;
	}
	for (i = 0; i < obj->site_cnt; i++) {
		struct hook_sys_site *s = &obj->sites[i];
		uintptr_t at = (uintptr_t)pool + pos;

		pos += hook_sys_tramp_emit(pool + pos, at, s);
		s->tramp = at;
		if (s->addr < plo)
			plo = s->addr;
		if (s->addr + s->len > phi)
			phi = s->addr + s->len;
		if ((s->addr & ~(uintptr_t)15) + 16 > phi)
			phi = (s->addr & ~(uintptr_t)15) + 16; /* patch_atomic() writes whole blocks */
	}
	if (mprotect(pool, sz, PROT_READ | PROT_EXEC)) {
		int err = -errno;

		munmap(pool, sz);
		return err;
	}

	plo &= ~(uintptr_t)(pg - 1);
	phi = ROUND_UP(phi, (uintptr_t)pg);
	if (mprotect((void *)plo, phi - plo, PROT_READ | PROT_WRITE | PROT_EXEC)) {
		int err = -errno;

		log_warn("syscall hooks: cannot make %s text writable (%s); its syscalls are not traced\n",
			 obj->name, strerror(-err));
		return err;
	}
	for (i = 0; i < obj->site_cnt; i++) {
		struct hook_sys_site *s = &obj->sites[i];
		uint8_t jmp[16];
		int32_t rel;

		if (!in_rel32(s->addr + 5, s->tramp) || !in_rel32(s->tramp, s->back)) {
			(*unreachable)++;
			continue;
		}
		rel = (int32_t)((int64_t)s->tramp - (int64_t)(s->addr + 5));
		memcpy(jmp, (const void *)s->addr, s->len);
		jmp[0] = 0xe9;
		memcpy(jmp + 1, &rel, 4);
		memset(jmp + 5, 0x90, s->len - 5u);
		if (!threads) {
			memcpy((void *)s->addr, jmp, s->len);
		} else if (s->post_len) {
			/* A thread blocked in this syscall would resume at addr + 2,
			 * inside the new jmp: only patch these while single-threaded. */
			s->tramp = 0;
			obj->unsafe++;
			continue;
		} else if (!patch_atomic(s->addr, jmp)) {
			s->tramp = 0;
			obj->unsafe++;
			continue;
		}
		(*patched)++;
	}
	if (mprotect((void *)plo, phi - plo, PROT_READ | PROT_EXEC))
		log_warn("syscall hooks: cannot restore r-x on %s: %s\n", obj->name, strerror(errno));
	return 0;
}
