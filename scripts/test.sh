#!/bin/sh
# One-command test run on a fresh Debian 12 machine: set up (scripts/setup.sh),
# then run every suite through automake's harness (make check), first in the
# normal build, then in an ASan+UBSan build of the unit tests.
# Prints one closing line "N passed, N failed, N skipped".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)

"$top/scripts/setup.sh" --enable-werror || exit 1

status=0
make -C "$top/build" -j"$(nproc)" check || status=1

# Sanitizer build: the unit suites only (e2e tests preload the agent, which
# does not mix with ASan in foreign processes).
mkdir -p "$top/build-san"
if [ ! -f "$top/build-san/Makefile" ]; then
	(cd "$top/build-san" && ../configure --enable-werror --enable-sanitizers --disable-llvm-jit >/dev/null) || exit 1
fi
make -C "$top/build-san" -j"$(nproc)" >/dev/null || exit 1
BPFTIME_UNIT_ONLY=1 make -C "$top/build-san" -j"$(nproc)" check || status=1

for d in build build-san; do
	[ -f "$top/$d/test-suite.log" ] || continue
	grep -E '^(FAIL|ERROR|XPASS):' "$top/$d/test-suite.log" | sed "s|^|$d: |"
done
# Automake prints the totals only on the terminal; recount them from the .trs files.
pass=$(cat "$top"/build/tests/*.trs "$top"/build/tests/*/*.trs "$top"/build-san/tests/*.trs "$top"/build-san/tests/*/*.trs 2>/dev/null | grep -c '^:test-result: PASS')
fail=$(cat "$top"/build/tests/*.trs "$top"/build/tests/*/*.trs "$top"/build-san/tests/*.trs "$top"/build-san/tests/*/*.trs 2>/dev/null | grep -Ec '^:test-result: (FAIL|ERROR|XPASS)')
skip=$(cat "$top"/build/tests/*.trs "$top"/build/tests/*/*.trs "$top"/build-san/tests/*.trs "$top"/build-san/tests/*/*.trs 2>/dev/null | grep -c '^:test-result: SKIP')
echo "$pass passed, $fail failed, $skip skipped"
[ "$fail" -eq 0 ] || status=1
exit $status
