/*
 * fuzz_btf_sizes.c - hostile BTF for emu_kstruct_sizes_from_btf()
 * (emul/fdinfo_sizes.c), which walks /sys/kernel/btf/vmlinux's type records
 * to learn the kernel's structure sizes. The file is not ours: every offset,
 * length and vlen in it may be wrong, and the walk must stay inside the
 * buffer and end.
 *
 * The input is the BTF blob itself, copied to a buffer of exactly its size
 * (so ASan sees a read one byte past it). Besides not crashing, the result
 * must be -EINVAL or a count of at most one per type record, and only the
 * six known fields may change.
 *
 * Built with --enable-fuzzers (CC=clang) this is a libFuzzer target. Without
 * it, main() replays the files given as arguments, or with none mutates a
 * small BTF blob built here (and, when readable, the running kernel's
 * vmlinux BTF, whose six structures must all be found unmutated), then
 * replays tests/fuzz/corpus/fuzz_btf_sizes/ if it exists: that mode is part
 * of make check.
 */
#include <errno.h>
#include <linux/btf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emul/fdinfo_text.h"
#include "tests/fuzz/replay.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct emu_kstruct_sizes ks, before;
	uint8_t *copy = malloc(size ? size : 1);
	int n;

	if (!copy)
		return 0;
	memcpy(copy, data, size);
	memset(&ks, 0xa5, sizeof(ks));
	before = ks;
	n = emu_kstruct_sizes_from_btf(copy, size, &ks);
	/* A record is at least a struct btf_type: no more finds than that. */
	if (n != -EINVAL && (n < 0 || (size_t)n > size / sizeof(struct btf_type)))
		abort();
	if (n <= 0 && memcmp(&ks, &before, sizeof(ks)))
		abort(); /* nothing found, nothing written */
	free(copy);
	return n;
}

#ifndef BPFTIME_LIBFUZZER
/* btf_type.info: vlen in bits 0-15, kind in bits 24-28 (Documentation/bpf/btf.rst §2.2). */
#define INFO(kind, vlen) ((uint32_t)(kind) << 24 | (uint32_t)(vlen))

static void put32(uint8_t **p, uint32_t v)
{
	memcpy(*p, &v, 4);
	*p += 4;
}

/* INT "int"; STRUCT "bpf_array" (1 member); STRUCT "htab_elem" (0 members); ENUM64 skipped. */
static size_t tiny_btf(uint8_t *b)
{
	static const char str[] = "\0int\0bpf_array\0htab_elem\0x";
	struct btf_header h = { .magic = BTF_MAGIC, .version = 1, .hdr_len = sizeof(h) };
	uint8_t *p = b + sizeof(h), *t0 = p;

	put32(&p, 1), put32(&p, INFO(BTF_KIND_INT, 0)), put32(&p, 4), put32(&p, 32);
	put32(&p, 5), put32(&p, INFO(BTF_KIND_STRUCT, 1)), put32(&p, 328);
	put32(&p, 25), put32(&p, 1), put32(&p, 0);
	put32(&p, 15), put32(&p, INFO(BTF_KIND_STRUCT, 0)), put32(&p, 48);
	put32(&p, 0), put32(&p, INFO(19, 1)), put32(&p, 8);
	put32(&p, 25), put32(&p, 1), put32(&p, 0);
	h.type_off = 0;
	h.type_len = (uint32_t)(p - t0);
	h.str_off = h.type_len;
	h.str_len = sizeof(str);
	memcpy(p, str, sizeof(str));
	memcpy(b, &h, sizeof(h));
	return sizeof(h) + h.type_len + h.str_len;
}

static void mutate_sweep(const uint8_t *orig, size_t sz, int iters, uint32_t hot)
{
	uint8_t *img = malloc(sz);

	if (!img)
		abort();
	for (int it = 0; it < iters; it++) {
		int flips = 1 + (int)(fuzz_rng() % 6);
		size_t len = it % 4 == 3 ? (size_t)(fuzz_rng() % (sz + 1)) : sz; /* truncated sometimes */

		memcpy(img, orig, sz);
		for (int k = 0; k < flips; k++) {
			/* Mostly the header and the first records, where the lengths are. */
			size_t at = fuzz_rng() % 2 ? fuzz_rng() % (hot < sz ? hot : sz) : fuzz_rng() % sz;

			img[at] = fuzz_rng() % 2 ? (uint8_t)fuzz_rng() : img[at] ^ (uint8_t)(1 << (fuzz_rng() % 8));
		}
		LLVMFuzzerTestOneInput(img, len);
	}
	free(img);
}

int main(int argc, char **argv)
{
	if (argc == 1) {
		uint8_t tiny[512];
		size_t tiny_sz = tiny_btf(tiny), vm_sz = 0;
		uint8_t *vm = fuzz_file_read("/sys/kernel/btf/vmlinux", &vm_sz);
		int n = LLVMFuzzerTestOneInput(tiny, tiny_sz);

		if (n != 2) {
			fprintf(stderr, "fuzz_btf_sizes: the tiny BTF gave %d structures, want 2\n", n);
			return 1;
		}
		mutate_sweep(tiny, tiny_sz, 20000, 96);
		if (vm) {
			n = LLVMFuzzerTestOneInput(vm, vm_sz);
			if (n != 6) {
				fprintf(stderr, "fuzz_btf_sizes: vmlinux BTF gave %d structures, want 6\n", n);
				return 1;
			}
			mutate_sweep(vm, vm_sz, 40, 4096);
		}
		printf("fuzz_btf_sizes: 20000 tiny%s mutated, %d regression inputs replayed, no crash\n",
		       vm ? " and 40 vmlinux" : "", fuzz_corpus_replay("fuzz_btf_sizes"));
		free(vm);
		return 0;
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
