#!/bin/sh
# fuzz.sh - build the libFuzzer targets (clang, ASan+UBSan, coverage on the
# code under test) in ./build-fuzz and run each for SECONDS (default 300).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# targets: fuzz_dispatch fuzz_decode fuzz_asm fuzz_site_check fuzz_btf_sizes.
# An empty corpus of fuzz_site_check is seeded with small ELF files built
# here (with and without .symtab) and stripped system libraries; that of
# fuzz_btf_sizes with the .BTF section of a small BPF object (clang -g).
#
# Findings land in build-fuzz/fuzz-<target>/ as crash-*/leak-*/timeout-*
# files; replay one with `build-fuzz/tests/fuzz/<target> FILE`. Only the fuzz
# targets are built: clang does not put the ASan runtime into shared
# objects, so the agent cannot be linked with sanitizers under clang.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_dispatch fuzz_decode fuzz_asm fuzz_site_check fuzz_btf_sizes}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang)" >&2; exit 1; }
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh)
mkdir -p "$top/build-fuzz"
cd "$top/build-fuzz"
[ -f Makefile ] || CC=clang "$top/configure" --enable-fuzzers --enable-sanitizers --disable-llvm-jit >/dev/null
for t in $targets; do
	make -j"$(nproc)" "tests/fuzz/$t" >/dev/null
done

# A seed for fuzz_site_check: u32 site file offset, u8 patch length, u8 flags, then the ELF.
seed_elf() { # FILE SYMBOL OUT
	off=$(nm -D --defined-only "$1" 2>/dev/null; nm --defined-only "$1" 2>/dev/null) || true
	off=$(printf '%s\n' "$off" | awk -v s="$2" '$3 == s { print $1; exit }')
	off=$((0x${off:-0} & 0xffffffff))
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o\\000\\000' $((off & 255)) $((off >> 8 & 255)) \
		$((off >> 16 & 255)) $((off >> 24)))" >"$3"
	cat "$1" >>"$3"
}

seed() { # TARGET
	d="fuzz-$1/corpus"
	[ -z "$(ls "$d")" ] || return 0
	case $1 in
	fuzz_site_check)
		cat >seed.c <<-'EOF'
		#include <stdio.h>
		__attribute__((noinline)) int sw(int x) { switch (x) { case 0: return 3; case 1: return 9;
			case 2: return 27; case 3: return 81; case 4: return 5; default: return x; } }
		__attribute__((noinline)) int loop(int n) { int s = 0; for (int i = 0; i < n; i++) s += sw(i); return s; }
		int main(int argc, char **argv) { if (argc > 3) puts(argv[1]); return loop(argc); }
		EOF
		cc -O2 -o seed.elf seed.c && strip -o seed-stripped.elf seed.elf
		seed_elf seed.elf loop "$d/seed-symtab"
		seed_elf seed-stripped.elf main "$d/seed-stripped"
		for ls in libattr.so.1:attr_get libcap.so.2:cap_get_proc; do
			lib=/lib/x86_64-linux-gnu/${ls%%:*}
			if [ -f "$lib" ]; then seed_elf "$lib" "${ls#*:}" "$d/seed-${ls%%:*}"; fi
		done
		;;
	fuzz_btf_sizes)
		cat >seed-btf.c <<-'EOF'
		struct bpf_prog { int a; long insns[]; };
		struct bpf_array { struct bpf_prog *p; int n; char v[64]; };
		struct bucket { void *h; int lock; };
		struct htab_elem { struct bucket *b; long k; };
		struct bpf_htab { struct bpf_array a; struct bucket *bk; unsigned int n; };
		struct bpf_ringbuf_map { long x[5]; };
		enum e { A, B }; typedef int t; union u { int a; char b; };
		struct all { struct bpf_prog *p; struct bpf_array *a; struct bucket *b; struct htab_elem *h;
			struct bpf_htab *x; struct bpf_ringbuf_map *r; union u *uu; t v; enum e ee; };
		int f(struct all *s) { return s->p->a + s->a->n + s->b->lock + s->x->n + s->uu->a + s->v + s->ee; }
		EOF
		clang -O2 -g -target bpf -c seed-btf.c -o seed-btf.o &&
			llvm-objcopy --dump-section .BTF="$d/seed-btf" seed-btf.o /dev/null || true
		;;
	esac
}

rc=0
for t in $targets; do
	mkdir -p "fuzz-$t/corpus"
	seed "$t"
	echo "fuzz: $t for ${secs}s"
	"./tests/fuzz/$t" -max_total_time="$secs" -artifact_prefix="fuzz-$t/" -print_final_stats=1 \
		-rss_limit_mb=2048 -timeout=20 "fuzz-$t/corpus" >"fuzz-$t/log" 2>&1 || rc=1
	grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov:" "fuzz-$t/log" | tail -3
	ls "fuzz-$t" | grep -E "^(crash|leak|timeout|oom)-" && rc=1 || true
done
exit $rc
