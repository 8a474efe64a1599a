/*
 * site_check.c - decide, once per site at attach, whether a 5-byte jmp may
 * cover the site's displaced bytes or the site must get a 1-byte int3.
 *
 * A jmp rewrites [site, site + patch_len); any branch that lands strictly
 * inside that range afterwards lands in the middle of our jmp. The kernel
 * never has the problem (its int3 covers one byte, kernel/events/uprobes.c),
 * but its int3 costs a trap per hit; so we look for such branches and use
 * the int3 (text_poke.c, through the SIGTRAP handler) only where one exists
 * or might exist. The hazard is real: the instruction after a USDT probe's
 * 1-byte nop (<sys/sdt.h> _SDT_NOP) is routinely a branch target at -O2
 * (`if (enabled) probe();` branches over the nop), and a loop head can sit
 * one instruction after any func+offset site.
 *
 * The analysis, per function, cached:
 *  1. The enclosing function comes from the mapped file's ELF symbols
 *     (.symtab when present; else .dynsym plus the ranges of the unwind
 *     tables, .eh_frame_hdr's FDEs, which also cover static functions and
 *     foo.cold parts of stripped binaries). The file is the one
 *     /proc/self/maps names for the site, checked by inode; its bytes at the
 *     site must equal the bytes in memory.
 *  2. A linear sweep of the function's bytes, read from the file (so probes
 *     already patched in memory do not show up as branches), with Capstone
 *     collects every direct branch/call target (jmp, jcc, call, loop, jrcxz,
 *     xbegin) and every RIP-relative address of an instruction inside the
 *     function (`lea label(%rip)`: a computed goto or hand-made table).
 *  3. Jumps out of the function into another's middle, or to the start of a
 *     possible split-off part, make us sweep the function they land in too,
 *     for branches back into ours: GCC's hot/cold splitting jumps back from
 *     foo.cold into foo's middle (tail calls to ordinary entries are not
 *     followed). A range
 *     that may itself be such a part (a .symtab name with ".cold", or an
 *     unwind range no symbol starts) is entered from its parent's middle; it
 *     counts as analysed only if it jumps back into some function's middle
 *     (that function, swept by the same rule, is its parent).
 *     The NEIGHBOURS functions on each side of ours are swept for branches
 *     into it as well (hand-written assembly shares code with its neighbours:
 *     glibc's mempcpy jumps to memcpy+3).
 *  4. An indirect jmp through a register or an indexed memory operand (a
 *     jump table, a computed goto) makes every instruction a possible target:
 *     only the function's entry keeps the jmp. `jmp *disp(%rip)` (one fixed
 *     slot: a GOT tail call, -fno-plt) cannot be a table and does not count.
 * Decision: int3 if a target lies in (site, site + patch_len), or the
 * function has an indirect jmp and the site is not its entry. Without a
 * complete analysis (no range covers the site, the code does not decode, the
 * site is not on an instruction boundary of the sweep, a jump out lands in no
 * known function, a possible split-off part with no jump back, the file
 * differs from memory) we stay conservative: int3 unless the site is the
 * start of a known function symbol and its first instruction is not a 1-byte
 * nop (a USDT probe). int3 is always possible (the trampoline exists by then).
 *
 * What no per-function sweep can see: a branch from a function that is not a
 * neighbour into this one's middle that this one never jumps to (a cold part
 * entered from a second function it never jumps back to, far-apart
 * hand-written assembly), and exception landing pads (entered by
 * the unwinder through .gcc_except_table). A probe on such a label that is
 * not a function entry is still at risk (hooks/README-hooks.md).
 *
 * Cost: the first site in a file reads its symbol table and unwind table
 * (python3, 6.8 MB, stripped: ~3 ms for the first attach instead of ~0.2);
 * each new function costs one pread and one sweep (0.1-9 ms for python's
 * probe sites, the most for the interpreter loop's). Everything stays cached for the life of
 * the process (files and functions probed are few), under hook_lock
 * (uprobe.c), like the rest of attach. A file is known by device, inode,
 * size and mtime (an inode number freed by unlink can come back with other
 * contents); uprobe.c asks again whenever it (re)patches a site, since the
 * file mapped at an address can change.
 */
#include "config.h"

#include <capstone/capstone.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/utils.h"
#include "hooks/hooks_int.h"

#define SYMS_MAX_SZ (256ULL << 20)	/* a symbol table beyond this is refused */
#define PHDRS_MAX 1024
#define FUNC_MAX_SZ (4U << 20)		/* a bigger "function" is not swept */
#define EXTRA_MAX 32			/* other functions swept for branches back */
#define NEIGHBOURS 4			/* functions swept on each side of ours */

struct fsym {
	uint64_t start, end;		/* ELF virtual addresses, end exclusive */
	bool part;			/* maybe a part of another function (foo.cold) */
};

struct fload {
	uint64_t vaddr, off, filesz;	/* one PT_LOAD */
};

struct func_info {
	uint64_t start, end;		/* ELF virtual addresses */
	uint64_t *targets;		/* sorted branch targets inside [start, end) */
	uint32_t target_cnt;
	uint8_t *starts;		/* bitmap: instruction starts, by offset */
	bool indirect;			/* jump table or computed goto */
	bool complete;			/* every byte decoded, every jump out followed */
};

struct elf_file {
	struct elf_file *next;
	uint64_t ino;
	unsigned int dev_major, dev_minor;
	int64_t size, mtime_sec, mtime_nsec; /* from stat(path): an inode number can be reused */
	char *path;
	int err;			/* set: the file is unusable (cached) */
	struct fsym *syms;		/* sorted by start */
	uint32_t sym_cnt;
	struct fload *loads;
	uint32_t load_cnt;
	struct func_info *funcs;
	uint32_t func_cnt, func_cap;
};

static struct elf_file *files; /* under hook_lock */

static int pread_all(int fd, void *buf, size_t sz, uint64_t off)
{
	size_t done = 0;

	while (done < sz) {
		ssize_t n = pread(fd, (char *)buf + done, sz - done, (off_t)(off + done));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO; /* short file */
		done += (size_t)n;
	}
	return 0;
}

static int fsym_cmp(const void *a, const void *b)
{
	const struct fsym *x = a, *y = b;

	if (x->start != y->start)
		return x->start < y->start ? -1 : 1;
	return x->end < y->end ? -1 : x->end > y->end;
}

static int vaddr_to_off(const struct elf_file *f, uint64_t vaddr, uint64_t len, uint64_t *off)
{
	for (uint32_t i = 0; i < f->load_cnt; i++) {
		const struct fload *l = &f->loads[i];

		if (vaddr >= l->vaddr && vaddr - l->vaddr <= l->filesz && len <= l->filesz - (vaddr - l->vaddr)) {
			*off = l->off + (vaddr - l->vaddr);
			return 0;
		}
	}
	return -ENOENT;
}

static int sym_push(struct elf_file *f, uint32_t *cap, uint64_t start, uint64_t end, bool part)
{
	if (f->sym_cnt == *cap) {
		uint32_t ncap = *cap ? *cap * 2 : 256;
		struct fsym *ns = realloc(f->syms, ncap * sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		f->syms = ns;
		*cap = ncap;
	}
	f->syms[f->sym_cnt++] = (struct fsym){ start, end, part };
	return 0;
}

/*
 * STT_FUNC/STT_GNU_IFUNC symbols of @tab, sized or not. With the names
 * (@str, .symtab's string table), GCC's split-off parts (foo.cold,
 * foo.cold.N, -freorder-blocks-and-partition) are marked: the hot part
 * branches into their middle.
 */
static int syms_load(struct elf_file *f, uint32_t *cap, int fd, uint64_t file_sz, const Elf64_Shdr *tab,
		     const Elf64_Shdr *str)
{
	_cleanup_free_ Elf64_Sym *sy = NULL;
	_cleanup_free_ char *names = NULL;
	uint64_t n;
	int err;

	if (tab->sh_entsize != sizeof(Elf64_Sym) || tab->sh_size > SYMS_MAX_SZ ||
	    tab->sh_offset > file_sz || tab->sh_size > file_sz - tab->sh_offset)
		return -ENOEXEC;
	n = tab->sh_size / sizeof(Elf64_Sym);
	sy = malloc(n ? n * sizeof(*sy) : 1);
	if (!sy)
		return -ENOMEM;
	err = pread_all(fd, sy, n * sizeof(*sy), tab->sh_offset);
	if (err)
		return err;
	if (str && str->sh_type == SHT_STRTAB && str->sh_size && str->sh_size <= SYMS_MAX_SZ &&
	    str->sh_offset <= file_sz && str->sh_size <= file_sz - str->sh_offset) {
		names = malloc(str->sh_size);
		if (!names)
			return -ENOMEM;
		err = pread_all(fd, names, str->sh_size, str->sh_offset);
		if (err)
			return err;
		names[str->sh_size - 1] = 0;
	}
	for (uint64_t i = 0; i < n && !err; i++) {
		unsigned int type = ELF64_ST_TYPE(sy[i].st_info);
		bool part = false;

		if ((type != STT_FUNC && type != STT_GNU_IFUNC) || sy[i].st_shndx == SHN_UNDEF ||
		    !sy[i].st_value || sy[i].st_value + sy[i].st_size < sy[i].st_value)
			continue;
		if (names && sy[i].st_name < str->sh_size)
			part = strstr(names + sy[i].st_name, ".cold") != NULL;
		err = sym_push(f, cap, sy[i].st_value, sy[i].st_value + sy[i].st_size, part);
	}
	return err;
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * Function ranges of a binary without .symtab (static functions, foo.cold
 * parts), from its unwind tables: the sorted search table of .eh_frame_hdr
 * (PT_GNU_EH_FRAME; LSB "Exception Frame Header") names each FDE, and each
 * FDE holds pc_begin and pc_range. We accept only the table layout GCC and
 * LLVM emit on x86-64 (udata4 count, datarel|sdata4 entries) and read
 * pc_begin as pcrel|sdata4 followed by a 4-byte pc_range; an FDE whose
 * pc_begin disagrees with its table entry (another encoding) is skipped.
 */
static int eh_frame_load(struct elf_file *f, uint32_t *cap, int fd, uint64_t file_sz,
			 const Elf64_Phdr *hp)
{
	_cleanup_free_ uint8_t *hdr = NULL;
	_cleanup_free_ uint8_t *fdes = NULL;
	uint64_t cnt, lo = UINT64_MAX, hi = 0, off;
	int err;

	if (hp->p_offset > file_sz || hp->p_filesz > file_sz - hp->p_offset || hp->p_filesz < 12 ||
	    hp->p_filesz > SYMS_MAX_SZ)
		return -ENOEXEC;
	hdr = malloc(hp->p_filesz);
	if (!hdr)
		return -ENOMEM;
	err = pread_all(fd, hdr, hp->p_filesz, hp->p_offset);
	if (err)
		return err;
	/* version 1; eh_frame_ptr any 4-byte form; fde_count udata4; table datarel|sdata4. */
	if (hdr[0] != 1 || (hdr[1] & 0x0f) != 0x0b || hdr[2] != 0x03 || hdr[3] != 0x3b)
		return -ENOEXEC;
	cnt = get32(hdr + 8);
	if (cnt > (hp->p_filesz - 12) / 8)
		return -ENOEXEC;
	for (uint64_t i = 0; i < cnt; i++) {
		uint64_t fde = hp->p_vaddr + (uint64_t)(int64_t)(int32_t)get32(hdr + 12 + i * 8 + 4);

		/* An FDE whose 16 bytes wrap past 2^64 would make [lo, hi) miss it. */
		if (fde > UINT64_MAX - 16)
			return -ENOEXEC;
		lo = MIN(lo, fde);
		hi = MAX(hi, fde + 16);
	}
	if (!cnt || hi - lo > SYMS_MAX_SZ || vaddr_to_off(f, lo, hi - lo, &off))
		return -ENOEXEC;
	fdes = malloc(hi - lo);
	if (!fdes)
		return -ENOMEM;
	err = pread_all(fd, fdes, hi - lo, off);
	if (err)
		return err;
	for (uint64_t i = 0; i < cnt && !err; i++) {
		uint64_t start = hp->p_vaddr + (uint64_t)(int64_t)(int32_t)get32(hdr + 12 + i * 8);
		uint64_t fde = hp->p_vaddr + (uint64_t)(int64_t)(int32_t)get32(hdr + 12 + i * 8 + 4);
		const uint8_t *p = fdes + (fde - lo);
		uint64_t begin = fde + 8 + (uint64_t)(int64_t)(int32_t)get32(p + 8);
		uint32_t len = get32(p), range = get32(p + 12);

		/* A 64-bit DWARF length (0xffffffff), a CIE, or another encoding: skip. */
		if (len == 0xffffffff || len < 12 || !get32(p + 4) || begin != start || !range)
			continue;
		/* Without a symbol this may be a foo.cold as well as a static function. */
		err = sym_push(f, cap, start, start + range, true);
	}
	return err;
}

/*
 * Read the PT_LOAD headers and the function ranges of an x86-64 ELF file:
 * .symtab, else .dynsym plus the unwind tables' ranges.
 */
static int elf_load(struct elf_file *f, int fd, uint64_t file_sz)
{
	_cleanup_free_ Elf64_Phdr *ph = NULL;
	_cleanup_free_ Elf64_Shdr *sh = NULL;
	const Elf64_Shdr *tab = NULL;
	const Elf64_Phdr *ehp = NULL;
	uint32_t cap = 0;
	Elf64_Ehdr eh;
	int err;

	err = pread_all(fd, &eh, sizeof(eh), 0);
	if (err)
		return err;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > PHDRS_MAX ||
	    (eh.e_shnum && eh.e_shentsize != sizeof(Elf64_Shdr)))
		return -ENOEXEC;
	if (eh.e_phoff > file_sz || (uint64_t)eh.e_phnum * sizeof(*ph) > file_sz - eh.e_phoff ||
	    eh.e_shoff > file_sz || (uint64_t)eh.e_shnum * sizeof(*sh) > file_sz - eh.e_shoff)
		return -ENOEXEC;
	ph = calloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*ph));
	f->loads = calloc(eh.e_phnum ? eh.e_phnum : 1, sizeof(*f->loads));
	sh = calloc(eh.e_shnum ? eh.e_shnum : 1, sizeof(*sh));
	if (!ph || !sh || !f->loads)
		return -ENOMEM;
	err = pread_all(fd, ph, eh.e_phnum * sizeof(*ph), eh.e_phoff);
	if (err)
		return err;
	for (uint32_t i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type == PT_GNU_EH_FRAME)
			ehp = &ph[i];
		if (ph[i].p_type != PT_LOAD || ph[i].p_offset > file_sz ||
		    ph[i].p_filesz > file_sz - ph[i].p_offset)
			continue;
		f->loads[f->load_cnt++] = (struct fload){ ph[i].p_vaddr, ph[i].p_offset, ph[i].p_filesz };
	}
	/* e_shnum 0 with sections beyond SHN_LORESERVE (extended numbering): none used. */
	err = pread_all(fd, sh, eh.e_shnum * sizeof(*sh), eh.e_shoff);
	if (err)
		return err;
	for (uint32_t i = 0; i < eh.e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB)
			tab = &sh[i];
	if (tab)
		err = syms_load(f, &cap, fd, file_sz, tab, tab->sh_link < eh.e_shnum ? &sh[tab->sh_link] : NULL);
	for (uint32_t i = 0; i < eh.e_shnum && !tab && !err; i++)
		if (sh[i].sh_type == SHT_DYNSYM)
			err = syms_load(f, &cap, fd, file_sz, &sh[i], NULL);
	if (!err && !tab && ehp) {
		err = eh_frame_load(f, &cap, fd, file_sz, ehp);
		if (err == -ENOEXEC) {
			log_debug("hooks: %s: an unwind table we do not read\n", f->path);
			err = 0;
		}
	}
	if (err)
		return err;
	if (!f->sym_cnt)
		return -ENOENT;
	qsort(f->syms, f->sym_cnt, sizeof(*f->syms), fsym_cmp);
	/* A symbol starting where an unwind range starts says it is a function's entry. */
	for (uint32_t i = 0, j; i < f->sym_cnt; i = j) {
		bool part = true;

		for (j = i; j < f->sym_cnt && f->syms[j].start == f->syms[i].start; j++)
			part &= f->syms[j].part;
		for (uint32_t k = i; k < j; k++)
			f->syms[k].part = part;
	}
	return 0;
}

static int file_open(const struct elf_file *f, uint64_t *file_sz)
{
	struct stat st;
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	/* The name in maps may be stale (replaced, "(deleted)"): the inode decides. */
	if (fstat(fd, &st) || st.st_ino != f->ino || !S_ISREG(st.st_mode)) {
		close(fd);
		return -ESTALE;
	}
	*file_sz = (uint64_t)st.st_size;
	return fd;
}

static struct elf_file *file_get(const struct hook_maps_ent *e)
{
	struct elf_file *f;
	struct stat st = { 0 };
	uint64_t file_sz;
	int fd;

	/* A deleted file's inode number may come back with other contents. */
	if (stat(e->path, &st))
		memset(&st, 0, sizeof(st));
	for (f = files; f; f = f->next)
		if (f->ino == e->ino && f->dev_major == e->dev_major && f->dev_minor == e->dev_minor &&
		    f->size == (int64_t)st.st_size && f->mtime_sec == (int64_t)st.st_mtim.tv_sec &&
		    f->mtime_nsec == (int64_t)st.st_mtim.tv_nsec)
			return f;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->size = (int64_t)st.st_size;
	f->mtime_sec = (int64_t)st.st_mtim.tv_sec;
	f->mtime_nsec = (int64_t)st.st_mtim.tv_nsec;
	f->ino = e->ino;
	f->dev_major = e->dev_major;
	f->dev_minor = e->dev_minor;
	f->path = strdup(e->path);
	if (!f->path) {
		free(f);
		return NULL;
	}
	fd = file_open(f, &file_sz);
	f->err = fd < 0 ? fd : elf_load(f, fd, file_sz);
	if (fd >= 0)
		close(fd);
	if (f->err)
		log_debug("hooks: no function symbols from %s: %s\n", f->path, strerror(-f->err));
	f->next = files;
	files = f;
	return f;
}

void hook_site_check_cache_free(void)
{
	while (files) {
		struct elf_file *f = files;

		files = f->next;
		for (uint32_t i = 0; i < f->func_cnt; i++) {
			free(f->funcs[i].targets);
			free(f->funcs[i].starts);
		}
		free(f->funcs);
		free(f->loads);
		free(f->syms);
		free(f->path);
		free(f);
	}
}

/* The function symbol containing @vaddr, or NULL. */
static const struct fsym *sym_find(const struct elf_file *f, uint64_t vaddr)
{
	uint32_t lo = 0, hi = f->sym_cnt;

	while (lo < hi) { /* first symbol starting after vaddr */
		uint32_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Walk back over the symbols starting at or before vaddr (aliases, nesting). */
	for (uint32_t i = lo, seen = 0; i-- > 0 && seen < 64; seen++)
		if (vaddr < f->syms[i].end)
			return &f->syms[i];
	return NULL;
}

static bool sym_is_start(const struct elf_file *f, uint64_t vaddr)
{
	const struct fsym *s = sym_find(f, vaddr);

	if (s && s->start == vaddr)
		return !s->part;
	/* Zero-sized symbols (hand-written assembly without .size) count as starts. */
	for (uint32_t i = 0; i < f->sym_cnt && f->syms[i].start <= vaddr; i++)
		if (f->syms[i].start == vaddr && !f->syms[i].part)
			return true;
	return false;
}

static int off_to_vaddr(const struct elf_file *f, uint64_t off, uint64_t *vaddr)
{
	for (uint32_t i = 0; i < f->load_cnt; i++) {
		const struct fload *l = &f->loads[i];

		if (off >= l->off && off - l->off < l->filesz) {
			*vaddr = l->vaddr + (off - l->off);
			return 0;
		}
	}
	return -ENOENT;
}

struct targets {
	uint64_t *v;
	uint32_t cnt, cap;
	int err;
};

static void target_add(struct targets *t, uint64_t v)
{
	if (t->err)
		return;
	if (t->cnt == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 64;
		uint64_t *nv = realloc(t->v, cap * sizeof(*nv));

		if (!nv) {
			t->err = -ENOMEM;
			return;
		}
		t->v = nv;
		t->cap = cap;
	}
	t->v[t->cnt++] = v;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Sweep @sym's bytes (ELF addresses). Targets inside [lo, hi) go to @t;
 * jmp/jcc targets outside [sym->start, sym->end) go to @out (when not NULL);
 * instruction starts go to @starts (when not NULL, indexed from sym->start).
 * Returns 0 when every byte decoded, -EINVAL when one did not.
 */
static int sweep(const struct elf_file *f, int fd, const struct fsym *sym, uint64_t lo, uint64_t hi,
		 struct targets *t, struct targets *out, uint8_t *starts, bool *indirect)
{
	_cleanup_free_ uint8_t *code = NULL;
	uint64_t sz = sym->end - sym->start, off, a = sym->start;
	const uint8_t *p;
	size_t left;
	cs_insn *ci;
	csh h;
	int err;

	if (sz > FUNC_MAX_SZ)
		return -EFBIG;
	err = vaddr_to_off(f, sym->start, sz, &off);
	if (err)
		return err;
	code = malloc(sz ? sz : 1);
	if (!code)
		return -ENOMEM;
	err = pread_all(fd, code, sz, off);
	if (err)
		return err;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	ci = cs_malloc(h);
	if (!ci) {
		cs_close(&h);
		return -ENOMEM;
	}
	p = code;
	left = sz;
	while (left) {
		const cs_x86 *x;
		bool rel = false;

		if (!cs_disasm_iter(h, &p, &left, &a, ci)) {
			err = -EINVAL;
			break;
		}
		x = &ci->detail->x86;
		if (starts)
			starts[(ci->address - sym->start) / 8] |= 1 << ((ci->address - sym->start) % 8);
		for (int i = 0; i < ci->detail->groups_count; i++)
			rel |= ci->detail->groups[i] == X86_GRP_BRANCH_RELATIVE;
		if (rel && x->op_count == 1 && x->operands[0].type == X86_OP_IMM) {
			uint64_t tgt = (uint64_t)x->operands[0].imm;

			if (tgt >= lo && tgt < hi)
				target_add(t, tgt);
			if (out && ci->id != X86_INS_CALL && (tgt < sym->start || tgt >= sym->end))
				target_add(out, tgt);
			continue;
		}
		if (ci->id == X86_INS_JMP && indirect) {
			const cs_x86_op *o = &x->operands[0];

			/* jmp *disp(%rip): one fixed slot, a GOT tail call, not a table. */
			if (!(x->op_count == 1 && o->type == X86_OP_MEM && o->mem.base == X86_REG_RIP &&
			      o->mem.index == X86_REG_INVALID))
				*indirect = true;
		}
		/* lea label(%rip) of code in the range: an address taken, a possible target. */
		for (int i = 0; i < x->op_count; i++) {
			const cs_x86_op *o = &x->operands[i];
			uint64_t tgt;

			if (o->type != X86_OP_MEM || o->mem.base != X86_REG_RIP)
				continue;
			tgt = ci->address + ci->size + (uint64_t)o->mem.disp;
			if (tgt >= lo && tgt < hi)
				target_add(t, tgt);
		}
	}
	cs_free(ci, 1);
	cs_close(&h);
	return err ? err : t->err;
}

/*
 * The @n-th (from 1) function range before (@dir -1) or after (+1) @sym
 * that does not overlap it, or NULL.
 */
static const struct fsym *neighbour(const struct elf_file *f, const struct fsym *sym, int dir, int n)
{
	uint32_t i = (uint32_t)(sym - f->syms);

	while (dir < 0 ? i-- > 0 : ++i < f->sym_cnt) {
		const struct fsym *g = &f->syms[i];

		if (g->start != g->end && (dir < 0 ? g->end <= sym->start : g->start >= sym->end) && !--n)
			return g;
	}
	return NULL;
}

/* Analyse the function @sym of @f (cached). */
static int func_get(struct elf_file *f, const struct fsym *sym, struct func_info **out)
{
	struct targets t = { 0 }, jo = { 0 };
	struct func_info fi = { .start = sym->start, .end = sym->end, .complete = true };
	const struct fsym *swept[EXTRA_MAX];
	uint32_t nswept = 0;
	bool parent = false;
	uint64_t file_sz;
	int fd, err;

	for (uint32_t i = 0; i < f->func_cnt; i++)
		if (f->funcs[i].start == sym->start && f->funcs[i].end == sym->end) {
			*out = &f->funcs[i];
			return 0;
		}
	/*
	 * st_size comes from the file: refuse a huge "function" before sizing
	 * its bitmap by it (a crafted symbol asked for an 8 EiB calloc; one of
	 * 4 GiB would have been granted). sweep() refuses it as well.
	 */
	if (sym->end - sym->start > FUNC_MAX_SZ)
		return -EFBIG;
	if (f->func_cnt == f->func_cap) {
		uint32_t cap = f->func_cap ? f->func_cap * 2 : 16;
		struct func_info *nf = realloc(f->funcs, cap * sizeof(*nf));

		if (!nf)
			return -ENOMEM;
		f->funcs = nf;
		f->func_cap = cap;
	}
	fd = file_open(f, &file_sz);
	if (fd < 0)
		return fd;
	fi.starts = calloc((sym->end - sym->start) / 8 + 1, 1);
	if (!fi.starts) {
		close(fd);
		return -ENOMEM;
	}
	err = sweep(f, fd, sym, sym->start, sym->end, &t, &jo, fi.starts, &fi.indirect);
	if (err == -ENOMEM || err == -EFBIG || err == -EIO)
		goto out_close;
	if (err) {
		log_debug("hooks: function at %#llx of %s does not decode as a whole\n",
			  (unsigned long long)sym->start, f->path);
		fi.complete = false;
		err = 0;
	}
	/* Jumps out: the code they reach may jump back in (GCC's foo.cold). */
	for (uint32_t i = 0; i < jo.cnt && fi.complete; i++) {
		const struct fsym *g = sym_find(f, jo.v[i]);
		bool seen = false;

		if (!g) {
			log_debug("hooks: function at %#llx of %s jumps to %#llx, in no known function\n",
				  (unsigned long long)sym->start, f->path, (unsigned long long)jo.v[i]);
			fi.complete = false;
			break;
		}
		/* Into another function's middle: we are its split-off part (jumping back). */
		parent |= g->start != jo.v[i] && !(g->start == sym->start && g->end == sym->end);
		for (uint32_t k = 0; k < nswept; k++)
			seen |= swept[k] == g;
		/* A tail call to an ordinary function's entry: it has no reason to come back. */
		if (seen || (g->start == sym->start && g->end == sym->end) ||
		    (g->start == jo.v[i] && !g->part))
			continue;
		if (nswept == EXTRA_MAX) {
			fi.complete = false;
			break;
		}
		swept[nswept++] = g;
		err = sweep(f, fd, g, sym->start, sym->end, &t, NULL, NULL, NULL);
		if (err == -ENOMEM)
			goto out_close;
		if (err)
			fi.complete = false;
		err = 0;
	}
	/*
	 * The few functions before and after ours: hand-written assembly shares
	 * code with its neighbours by jumping into their middle (glibc's mempcpy
	 * jumps to memcpy+3, two functions further on). Their own decode failures
	 * are not ours.
	 */
	for (int n = 1; n <= NEIGHBOURS && fi.complete; n++) {
		for (int d = -1; d <= 1; d += 2) {
			const struct fsym *g = neighbour(f, sym, d, n);

			if (g && sweep(f, fd, g, sym->start, sym->end, &t, NULL, NULL, NULL) == -ENOMEM) {
				err = -ENOMEM;
				goto out_close;
			}
		}
	}
	/*
	 * A part of another function is entered from that function's middle: only
	 * the function it jumps back into tells us where. Without such a jump
	 * (a static function in a stripped binary, or a cold part that only
	 * returns or calls abort()) the entries are unknown.
	 */
	if (fi.complete && sym->part && !parent) {
		log_debug("hooks: code at %#llx of %s may be a split-off part of an unknown function\n",
			  (unsigned long long)sym->start, f->path);
		fi.complete = false;
	}
	if (t.cnt)
		qsort(t.v, t.cnt, sizeof(*t.v), u64_cmp);
	fi.targets = steal_ptr(&t.v);
	fi.target_cnt = t.cnt;
	f->funcs[f->func_cnt] = fi;
	*out = &f->funcs[f->func_cnt++];
	fi.starts = NULL;
out_close:
	close(fd);
	free(t.v);
	free(jo.v);
	free(fi.starts);
	return err;
}

/* The first target in (lo, hi), or 0. */
static uint64_t target_inside(const struct func_info *fi, uint64_t lo, uint64_t hi)
{
	uint32_t a = 0, b = fi->target_cnt;

	while (a < b) {
		uint32_t mid = a + (b - a) / 2;

		if (fi->targets[mid] <= lo)
			a = mid + 1;
		else
			b = mid;
	}
	return a < fi->target_cnt && fi->targets[a] < hi ? fi->targets[a] : 0;
}

/* Without a complete analysis: a jmp only at a known function start that is no USDT nop. */
static bool conservative(const struct hook_site *s, const struct elf_file *f, uint64_t vaddr,
			 const uint8_t *code, const char *why)
{
	bool start = f && !f->err && sym_is_start(f, vaddr);
	bool int3 = code[0] == 0x90 || !start;

	log_debug("hooks: %#llx: %s; %s\n", (unsigned long long)s->addr, why,
		  int3 ? "int3" : "jmp (a function's entry)");
	return int3;
}

/*
 * Does [vaddr, vaddr + len) cross the end of the function symbol at @vaddr,
 * or the start of any other symbol (sized or not)? A jmp there would
 * overwrite the next function's first bytes: `xor %eax,%eax; ret` followed
 * directly by another function, or `call *%rax` at the end of a noreturn
 * function (relocation only stops at ret/jmp/ud2/hlt).
 */
static bool sym_crossed(const struct elf_file *f, uint64_t vaddr, uint32_t len)
{
	const struct fsym *sym = sym_find(f, vaddr);
	uint32_t lo = 0, hi = f->sym_cnt;

	if (sym && vaddr + len > sym->end)
		return true;
	while (lo < hi) { /* first symbol starting after vaddr */
		uint32_t mid = lo + (hi - lo) / 2;

		if (f->syms[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < f->sym_cnt && f->syms[lo].start < vaddr + len;
}

bool hook_site_check_int3(const struct hook_site *s, const struct hook_maps_ent *e,
			  const uint8_t *code, uint32_t len)
{
	struct elf_file *f;
	const struct fsym *sym;
	struct func_info *fi = NULL;
	uint64_t foff, vaddr, file_sz, at, hit;
	uint8_t disk[HOOK_PATCH_MAX];
	int fd, err;

	if (e->path[0] != '/' || !e->ino)
		return conservative(s, NULL, 0, code, "not in a mapped file");
	foff = s->addr - e->start + e->off;
	f = file_get(e);
	if (!f)
		return conservative(s, NULL, 0, code, "out of memory");
	if (f->err || off_to_vaddr(f, foff, &vaddr))
		return conservative(s, NULL, 0, code, "no ELF symbols for its file");
	if (sym_crossed(f, vaddr, len)) {
		log_debug("hooks: %#llx: a %u-byte jmp would run past its function's end: int3\n",
			  (unsigned long long)s->addr, len);
		return true;
	}
	/* The bytes in memory must be the file's, or the sweep is of other code. */
	fd = file_open(f, &file_sz);
	if (fd < 0)
		return conservative(s, f, vaddr, code, "its file cannot be reopened");
	err = pread_all(fd, disk, len, foff);
	close(fd);
	if (err || memcmp(disk, code, len))
		return conservative(s, f, vaddr, code, "the file's bytes differ from memory");
	sym = sym_find(f, vaddr);
	if (!sym)
		return conservative(s, f, vaddr, code, "no function symbol covers it");
	err = func_get(f, sym, &fi);
	if (err)
		return conservative(s, f, vaddr, code, "its function could not be analysed");
	if (!fi->complete)
		return conservative(s, f, vaddr, code, "its function's branches are not all known");
	at = vaddr - fi->start;
	if (!(fi->starts[at / 8] & (1 << (at % 8))))
		return conservative(s, f, vaddr, code, "not on an instruction boundary of its function");
	hit = target_inside(fi, vaddr, vaddr + len);
	if (hit) {
		log_debug("hooks: %#llx: a branch targets +%llu, inside the %u patched bytes: int3\n",
			  (unsigned long long)s->addr, (unsigned long long)(hit - vaddr), len);
		return true;
	}
	if (fi->indirect && vaddr != fi->start) {
		log_debug("hooks: %#llx: its function has an indirect jmp (a jump table?): int3\n",
			  (unsigned long long)s->addr);
		return true;
	}
	log_debug("hooks: %#llx: no branch into the %u patched bytes: jmp\n",
		  (unsigned long long)s->addr, len);
	return false;
}
