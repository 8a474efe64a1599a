#!/bin/sh
# fuzz.sh - build the libFuzzer targets (clang, ASan+UBSan, coverage on the
# code under test) in ./build-fuzz and run each for SECONDS (default 300).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     targets: fuzz_dispatch fuzz_decode fuzz_asm
#
# Findings land in build-fuzz/fuzz-<target>/ as crash-*/leak-*/timeout-*
# files; replay one with `build-fuzz/tests/fuzz/<target> FILE`. Only the fuzz
# targets are built: clang does not put the ASan runtime into shared
# objects, so the agent cannot be linked with sanitizers under clang.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-300}
[ $# -gt 0 ] && shift
targets=${*:-fuzz_dispatch fuzz_decode fuzz_asm}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang)" >&2; exit 1; }
[ -x "$top/configure" ] || (cd "$top" && ./autogen.sh)
mkdir -p "$top/build-fuzz"
cd "$top/build-fuzz"
[ -f Makefile ] || CC=clang "$top/configure" --enable-fuzzers --enable-sanitizers --disable-llvm-jit >/dev/null
for t in $targets; do
	make -j"$(nproc)" "tests/fuzz/$t" >/dev/null
done
rc=0
for t in $targets; do
	mkdir -p "fuzz-$t/corpus"
	echo "fuzz: $t for ${secs}s"
	"./tests/fuzz/$t" -max_total_time="$secs" -artifact_prefix="fuzz-$t/" -print_final_stats=1 \
		"fuzz-$t/corpus" >"fuzz-$t/log" 2>&1 || rc=1
	grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb|cov:" "fuzz-$t/log" | tail -3
	ls "fuzz-$t" | grep -E "^(crash|leak|timeout|oom)-" && rc=1 || true
done
exit $rc
