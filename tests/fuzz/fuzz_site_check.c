/*
 * fuzz_site_check.c - hostile ELF files for the jmp-or-int3 analysis
 * (hooks/site_check.c). The files a traced program maps are the program's
 * own: their symbol tables, program headers and unwind tables are untrusted
 * input, read by the agent inside that program at attach. The analysis must
 * never crash, read out of bounds or hang on them; when it cannot be sure it
 * answers int3.
 *
 * The engine's own entry point, hook_site_check_int3(), takes a probe site
 * (its address), a copy of its bytes, the patch length and the
 * /proc/self/maps entry of its file. Here the file is a memfd holding the input's image, named by its
 * /proc/self/fd path (site_check.c reopens files by path and checks the
 * inode, as it does for real mappings); the mapping starts at a fixed base at
 * file offset 0. Each input is a new file, so the file cache is dropped after
 * each (hook_site_check_cache_free()).
 *
 * Input: u32 site file offset (taken modulo the image size), u8 patch length
 * selector (5..20), u8 flags (bit 0: the "memory" bytes differ from the
 * file's), then the ELF image.
 *
 * Built with --enable-fuzzers (CC=clang) this is a libFuzzer target. Without
 * it, main() replays the files given as arguments, or with none mutates this
 * very executable (an unstripped ELF with .symtab, .eh_frame_hdr and real
 * code) a few hundred times: byte flips in its headers and tables, .symtab
 * hidden (so .dynsym and the unwind table are read), sites at function
 * entries and in their middle. Before that it runs hand-made images, one
 * per bug the fuzzer found (crafted_run(): our own bytes, since the
 * fuzzer's inputs grew from system libraries), and after it replays
 * tests/fuzz/corpus/fuzz_site_check/ if that exists. That mode is part of
 * make check.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "hooks/hooks_int.h"
#include "tests/fuzz/replay.h"

#define HDR_SZ 6
#define SITE_BASE 0x7f0000000000ULL

static int memfd = -1;

static void fuzz_init(void)
{
	if (memfd >= 0)
		return;
	bt_log_set_level(BT_LOG_ERROR);
	memfd = memfd_create("fuzz-elf", MFD_CLOEXEC);
	if (memfd < 0) {
		perror("fuzz_site_check: memfd_create");
		abort();
	}
}

static bool run_one(const uint8_t *img, size_t sz, uint64_t foff, uint32_t patch_len, bool differ)
{
	struct hook_site s = { 0 };
	struct hook_maps_ent e = { 0 };
	struct stat st;
	bool int3;

	if (ftruncate(memfd, 0) || (sz && pwrite(memfd, img, sz, 0) != (ssize_t)sz) || fstat(memfd, &st)) {
		perror("fuzz_site_check: memfd");
		abort();
	}
	s.addr = SITE_BASE + foff;
	s.patch_len = patch_len;
	for (uint32_t i = 0; i < patch_len; i++)
		s.orig[i] = foff + i < sz ? img[foff + i] : 0xcc;
	if (differ)
		s.orig[patch_len - 1] ^= 0x5a;
	e.start = SITE_BASE;
	e.end = SITE_BASE + ((sz + 4095) & ~4095ULL) + 4096;
	e.off = 0;
	e.ino = st.st_ino;
	e.dev_major = major(st.st_dev);
	e.dev_minor = minor(st.st_dev);
	e.prot = PROT_READ | PROT_EXEC;
	snprintf(e.path, sizeof(e.path), "/proc/self/fd/%d", memfd);
	int3 = hook_site_check_int3(&s, &e, s.orig, patch_len);
	hook_site_check_cache_free();
	return int3;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint32_t foff;
	size_t sz;

	fuzz_init();
	if (size < HDR_SZ + 1)
		return 0;
	memcpy(&foff, data, 4);
	sz = size - HDR_SZ;
	run_one(data + HDR_SZ, sz, foff % sz, 5 + data[4] % (HOOK_PATCH_MAX - 4), data[5] & 1);
	return 0;
}

#ifndef BPFTIME_LIBFUZZER
struct region {
	uint64_t off, sz;
};

/*
 * Hand-made ELF images for the bugs the fuzzer found, one per behaviour
 * (our own bytes, so no third-party binary is stored). Layout: ELF header;
 * program headers at 0x40 (PT_LOAD of the whole file at vaddr 0, and
 * PT_GNU_EH_FRAME when @eh); .eh_frame_hdr at 0x100; code at 0x200;
 * .symtab at 0x300 and its strings at 0x380 when @sym_sz; section headers
 * at 0x400.
 */
#define CRAFT_SZ 0x500

static void craft(uint8_t *img, uint64_t sym_sz, bool eh)
{
	Elf64_Ehdr *h = (Elf64_Ehdr *)img;
	Elf64_Phdr *ph = (Elf64_Phdr *)(img + 0x40);
	Elf64_Shdr *sh = (Elf64_Shdr *)(img + 0x400);
	static const uint8_t code[] = { 0x55, 0x48, 0x89, 0xe5, 0x31, 0xc0, 0x90, 0x90, 0x5d, 0xc3 };

	memset(img, 0, CRAFT_SZ);
	memcpy(h->e_ident, ELFMAG, SELFMAG);
	h->e_ident[EI_CLASS] = ELFCLASS64;
	h->e_ident[EI_DATA] = ELFDATA2LSB;
	h->e_ident[EI_VERSION] = EV_CURRENT;
	h->e_type = ET_DYN;
	h->e_machine = EM_X86_64;
	h->e_version = EV_CURRENT;
	h->e_phoff = 0x40;
	h->e_phentsize = sizeof(Elf64_Phdr);
	h->e_phnum = eh ? 2 : 1;
	h->e_shoff = 0x400;
	h->e_shentsize = sizeof(Elf64_Shdr);
	h->e_shnum = sym_sz ? 3 : 1;
	h->e_ehsize = sizeof(*h);
	ph[0] = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_filesz = CRAFT_SZ,
			      .p_memsz = CRAFT_SZ, .p_align = 0x1000 };
	memcpy(img + 0x200, code, sizeof(code));
	if (sym_sz) {
		Elf64_Sym *sy = (Elf64_Sym *)(img + 0x300);

		sy[1] = (Elf64_Sym){ .st_name = 1, .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
				     .st_shndx = 1, .st_value = 0x200, .st_size = sym_sz };
		memcpy(img + 0x381, "f", 2);
		sh[1] = (Elf64_Shdr){ .sh_type = SHT_SYMTAB, .sh_offset = 0x300, .sh_size = 2 * sizeof(*sy),
				      .sh_link = 2, .sh_entsize = sizeof(*sy) };
		sh[2] = (Elf64_Shdr){ .sh_type = SHT_STRTAB, .sh_offset = 0x380, .sh_size = 3 };
	}
	if (eh) {
		ph[1] = (Elf64_Phdr){ .p_type = PT_GNU_EH_FRAME, .p_flags = PF_R, .p_offset = 0x100,
				      .p_vaddr = 0x100, .p_filesz = 12 + 2 * 8 };
		/* version 1, pcrel|sdata4, udata4 count, datarel|sdata4 table */
		memcpy(img + 0x100, "\x01\x1b\x03\x3b", 4);
	}
}

static void put_s32(uint8_t *p, int32_t v)
{
	memcpy(p, &v, 4);
}

static int crafted_run(void)
{
	static uint8_t img[CRAFT_SZ];

	/*
	 * st_size 2^62: func_get() sized its instruction-start bitmap by it
	 * before any size check (ASan: allocation-size-too-big; a 4 GiB
	 * function would have been a 512 MiB calloc). Inside a function we
	 * cannot sweep, the answer is int3.
	 */
	craft(img, 1ULL << 62, false);
	if (!run_one(img, CRAFT_SZ, 0x204, 5, false)) {
		fprintf(stderr, "fuzz_site_check: huge function: jmp inside an unswept function\n");
		return 1;
	}
	/*
	 * .eh_frame_hdr entries whose FDE addresses wrap around 2^64: one at
	 * 2^64 - 8 (its end, +16, wraps to 8) and one at 0 made the window of
	 * FDEs read [0, 16) while the first entry pointed 8 bytes before it
	 * (ASan: heap-buffer-overflow read in eh_frame_load()).
	 */
	craft(img, 0, true);
	put_s32(img + 0x108, 2);
	put_s32(img + 0x10c, 0x200 - 0x100);
	put_s32(img + 0x110, -0x108);
	put_s32(img + 0x114, 0x200 - 0x100);
	put_s32(img + 0x118, -0x100);
	if (!run_one(img, CRAFT_SZ, 0x204, 5, false)) {
		fprintf(stderr, "fuzz_site_check: wrapping FDEs: jmp without a function range\n");
		return 1;
	}
	return 0;
}

/*
 * The mutation sweep over our own executable. The harness reads the
 * original (trusted) image's headers only to aim the mutations: the ELF and
 * program headers, the section headers, .symtab, .dynsym and
 * .eh_frame_hdr, and function entries as sites.
 */
static int self_sweep(void)
{
	size_t sz = 0;
	uint8_t *orig = fuzz_file_read("/proc/self/exe", &sz), *img;
	struct region reg[8];
	uint64_t funcs[256];
	uint32_t reg_cnt = 0, func_cnt = 0, int3_cnt = 0, jmp_clean = 0, symtab_type_off = 0;
	const Elf64_Ehdr *eh;
	int iters = 300;

	if (!orig || sz < sizeof(Elf64_Ehdr)) {
		fprintf(stderr, "fuzz_site_check: cannot read /proc/self/exe\n");
		return 1;
	}
	eh = (const Elf64_Ehdr *)orig;
	reg[reg_cnt++] = (struct region){ 0, sizeof(*eh) };
	reg[reg_cnt++] = (struct region){ eh->e_phoff, (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) };
	reg[reg_cnt++] = (struct region){ eh->e_shoff, (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) };
	for (uint32_t i = 0; i < eh->e_shnum && eh->e_shoff + (i + 1) * sizeof(Elf64_Shdr) <= sz; i++) {
		const Elf64_Shdr *sh = (const Elf64_Shdr *)(orig + eh->e_shoff) + i;

		if (sh->sh_type == SHT_SYMTAB || sh->sh_type == SHT_DYNSYM)
			reg[reg_cnt++] = (struct region){ sh->sh_offset, sh->sh_size };
		if (sh->sh_type == SHT_SYMTAB) {
			symtab_type_off = (uint32_t)(eh->e_shoff + i * sizeof(Elf64_Shdr) +
						     offsetof(Elf64_Shdr, sh_type));
			/* Function entries as sites: file offset = vaddr - PT_LOAD vaddr + offset. */
			for (uint64_t k = 0; k < sh->sh_size / sizeof(Elf64_Sym) && func_cnt < 256; k++) {
				const Elf64_Sym *sy = (const Elf64_Sym *)(orig + sh->sh_offset) + k;

				if (ELF64_ST_TYPE(sy->st_info) != STT_FUNC || !sy->st_value || k % 7)
					continue;
				for (uint32_t p = 0; p < eh->e_phnum; p++) {
					const Elf64_Phdr *ph = (const Elf64_Phdr *)(orig + eh->e_phoff) + p;

					if (ph->p_type == PT_LOAD && sy->st_value >= ph->p_vaddr &&
					    sy->st_value < ph->p_vaddr + ph->p_filesz)
						funcs[func_cnt++] = sy->st_value - ph->p_vaddr + ph->p_offset;
				}
			}
		}
	}
	for (uint32_t p = 0; p < eh->e_phnum; p++) {
		const Elf64_Phdr *ph = (const Elf64_Phdr *)(orig + eh->e_phoff) + p;

		if (ph->p_type == PT_GNU_EH_FRAME && reg_cnt < 8)
			reg[reg_cnt++] = (struct region){ ph->p_offset, ph->p_filesz };
	}
	if (!func_cnt || !symtab_type_off) {
		fprintf(stderr, "fuzz_site_check: no .symtab functions in /proc/self/exe\n");
		return 1;
	}
	img = malloc(sz);
	if (!img)
		return 1;
	for (int it = 0; it < iters; it++) {
		uint64_t x = fuzz_rng(), foff = funcs[x % func_cnt];
		int flips = it < 20 ? 0 : (int)(fuzz_rng() % 9);

		memcpy(img, orig, sz);
		if (it % 3 == 1) { /* hide .symtab: .dynsym and the unwind table are read */
			uint32_t t = SHT_PROGBITS;

			memcpy(img + symtab_type_off, &t, 4);
		}
		for (int k = 0; k < flips; k++) {
			const struct region *r = &reg[fuzz_rng() % reg_cnt];
			uint64_t at;

			if (!r->sz || r->off >= sz)
				continue;
			at = r->off + fuzz_rng() % (r->sz < sz - r->off ? r->sz : sz - r->off);
			img[at] = (fuzz_rng() & 1) ? (uint8_t)fuzz_rng() : img[at] ^ (uint8_t)(1 << (fuzz_rng() % 8));
		}
		if (it % 5 == 4)
			foff += fuzz_rng() % 64; /* inside the function, maybe not on an instruction */
		if (run_one(img, sz, foff < sz ? foff : 0, 5 + (uint32_t)(x >> 32) % 4, it % 17 == 16))
			int3_cnt++;
		else if (!flips)
			jmp_clean++;
	}
	/* Unmutated images must get a complete analysis for some sites, or the sweep tests nothing. */
	if (!jmp_clean) {
		fprintf(stderr, "fuzz_site_check: no jmp answer for any unmutated image\n");
		return 1;
	}
	printf("fuzz_site_check: %d images, %u int3 answers (%u jmp on unmutated ones), no crash\n", iters,
	       int3_cnt, jmp_clean);
	free(img);
	free(orig);
	return 0;
}

int main(int argc, char **argv)
{
	fuzz_init();
	if (argc == 1) {
		int err = crafted_run() || self_sweep();

		printf("fuzz_site_check: %d regression inputs replayed\n", fuzz_corpus_replay("fuzz_site_check"));
		return err;
	}
	for (int i = 1; i < argc; i++) {
		size_t n = 0;
		uint8_t *in = fuzz_file_read(argv[i], &n);

		if (!in) {
			perror(argv[i]);
			return 1;
		}
		LLVMFuzzerTestOneInput(in, n);
		free(in);
	}
	return 0;
}
#endif
